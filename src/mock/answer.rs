//! The answer to one chat request, decided in the order a real API decides it: the key, the
//! quota, the request's shape, the rate limits; then the fault, the latency and the content.
//! Also OpenAI's error bodies and the token arithmetic (tiktoken's o200k, as gpt-4o counts).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::budget::{self, Verdict};
use super::fault::{self, Fault};
use super::log::Trace;
use super::{DropConnection, MOCK_MODEL, MockShared, reply};

/// What `answer` decided: a response to send now, or a completion to stream.
pub(crate) enum MockAnswer {
    Now(Response),
    Stream { completion: MockCompletion, include_usage: bool },
}

/// OpenAI's error body.
pub(super) fn error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (status, Json(body)).into_response()
}

pub(super) fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", None, message)
}

/// A finished answer, before it is sent whole or streamed.
pub(crate) struct MockCompletion {
    pub(crate) id: String,
    pub(crate) created: u64,
    pub(crate) model: String,
    pub(crate) content: String,
    pub(crate) finish_reason: &'static str,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
}

impl MockCompletion {
    pub(crate) fn usage(&self) -> Value {
        json!({
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        })
    }

    fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": null,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": self.content, "refusal": null},
                "logprobs": null,
                "finish_reason": self.finish_reason,
            }],
            "usage": self.usage(),
        })
    }
}

/// The mock's decision for one request, in the order a real API makes it: key, quota,
/// request shape, rate limits; then the fault, the latency and the answer. `rate_limits`
/// receives the budgets' state (for the rate-limit headers) as it stood when the request was
/// admitted or refused, which is when an API's limiter measures them (not after the answer's latency).
pub(crate) async fn answer(
    shared: &MockShared,
    headers: &HeaderMap,
    body: &[u8],
    hash: [u8; 32],
    trace: &mut Trace,
    rate_limits: &mut Vec<(budget::Limit, budget::LimitState)>,
) -> MockAnswer {
    let options = &shared.options;
    if let Some(key) = &options.require_key {
        // Azure takes the key in its own header; everyone else as a bearer token.
        let sent = if options.azure {
            headers.get("api-key").and_then(|v| v.to_str().ok()).unwrap_or_default()
        } else {
            headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .unwrap_or_default()
        };
        if sent != key {
            trace.entry.faults.push("invalid_api_key".into());
            return MockAnswer::Now(error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            ));
        }
    }
    if options.quota_exhausted {
        trace.entry.faults.push("insufficient_quota".into());
        return MockAnswer::Now(error(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            Some("insufficient_quota"),
            "You exceeded your current quota, please check your plan and billing details.",
        ));
    }
    let request: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return MockAnswer::Now(bad_request("the body must be a JSON object")),
        Err(e) => return MockAnswer::Now(bad_request(&format!("invalid JSON body: {e}"))),
    };
    trace.entry.temperature = request.get("temperature").and_then(Value::as_f64);
    trace.entry.response_format =
        request.pointer("/response_format/type").and_then(Value::as_str).map(str::to_string);
    let Some(messages) = request.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        return MockAnswer::Now(bad_request("'messages' must be a non-empty array"));
    };
    let model = request.get("model").and_then(Value::as_str).unwrap_or(MOCK_MODEL).to_string();
    if !options.models.is_empty() && !options.models.contains(&model) {
        trace.entry.faults.push("model_not_found".into());
        return MockAnswer::Now(error(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            Some("model_not_found"),
            &format!("The model `{model}` does not exist or you do not have access to it."),
        ));
    }
    if options.no_json_schema && request["response_format"]["type"] == "json_schema" {
        trace.entry.faults.push("json_schema_refused".into());
        return MockAnswer::Now(bad_request("This model does not support response format `json_schema`"));
    }
    if options.no_max_tokens && request.get("max_tokens").is_some() {
        trace.entry.faults.push("max_tokens_refused".into());
        return MockAnswer::Now(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("unsupported_parameter"),
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        ));
    }
    if options.default_temperature_only
        && let Some(t) = request.get("temperature").and_then(Value::as_f64).filter(|t| *t != 1.0)
    {
        trace.entry.faults.push("temperature_refused".into());
        return MockAnswer::Now(error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            Some("unsupported_value"),
            &format!(
                "Unsupported value: 'temperature' does not support {t} with this model. Only the default (1) value is supported."
            ),
        ));
    }
    let max_tokens = request
        .get("max_completion_tokens")
        .or_else(|| request.get("max_tokens"))
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    let prompt_tokens = prompt_tokens(messages);
    let mut content = reply::content_for(&request, options.answer_scale.map(|p| p as f64 / 100.0));
    trace.entry.prompt_tokens = prompt_tokens as u64;
    trace.entry.stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);

    // OpenAI charges a request its prompt plus the most it may answer; without a maximum, the
    // mock knows its answer and charges that.
    let cost = prompt_tokens + max_tokens.unwrap_or_else(|| count_tokens(&content));
    let verdict = {
        let mut budget = shared.budget.lock().unwrap_or_else(|e| e.into_inner());
        let now = tokio::time::Instant::now();
        let verdict = budget.admit(cost as u64, now);
        *rate_limits = budget.states(now);
        verdict
    };
    match verdict {
        Verdict::Admitted => {}
        Verdict::TooLarge { per_minute, requested } => {
            trace.entry.faults.push("request_too_large".into());
            return MockAnswer::Now(rate_limited(
                budget::Limit::Tokens,
                &format!(
                    "Request too large for {model} on tokens per min (TPM): Limit {per_minute}, Requested {requested}. The input or output tokens must be reduced in order to run successfully."
                ),
                None,
            ));
        }
        Verdict::Limited { limit, per_minute, used, requested, wait } => {
            trace.entry.faults.push("rate_limit".into());
            let message = format!(
                "Rate limit reached for {model} on {}: Limit {per_minute}, Used {used}, Requested {requested}. Please try again in {}.",
                limit.describe(),
                budget::go_duration(wait),
            );
            return MockAnswer::Now(rate_limited(limit, &message, Some(wait)));
        }
    }

    let fault = fault::choose(options, body, hash, trace.entry.attempt);
    if let Some(fault) = fault {
        trace.entry.faults.push(fault.name());
    }
    if !options.latency.is_zero() {
        tokio::time::sleep(options.latency).await;
    }
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mut finish_reason = "stop";
    match fault {
        Some(Fault::Drop) => {
            let mut response = StatusCode::OK.into_response();
            response.extensions_mut().insert(DropConnection);
            return MockAnswer::Now(response);
        }
        Some(Fault::Fail(502)) => {
            // What a reverse proxy in front of the API sends, not OpenAI's JSON.
            let page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
            return MockAnswer::Now(
                (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "text/html")], page).into_response(),
            );
        }
        Some(Fault::Fail(503)) => {
            return MockAnswer::Now(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                None,
                "The engine is currently overloaded, please try again later.",
            ));
        }
        Some(Fault::Fail(status) | Fault::Status(status)) => {
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let kind = if status.is_client_error() { "invalid_request_error" } else { "server_error" };
            let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
                "The server had an error while processing your request. Sorry about that!".to_string()
            } else {
                format!("The mock answered {status} because it was asked to.")
            };
            return MockAnswer::Now(error(status, kind, None, &message));
        }
        Some(Fault::Hang) => tokio::time::sleep(options.hang).await,
        Some(Fault::Hangul) => content = reply::leak_hangul(&content),
        Some(Fault::Prose) => {
            content =
                "[mock] Here is a summary of the article: exports rose, and the ministry expects more.".into()
        }
        Some(Fault::Truncate) => {
            content = cut_to_tokens(&content, (count_tokens(&content) / 2).max(1));
            finish_reason = "length";
        }
        Some(Fault::Garbage) | None => {}
    }
    let mut completion_tokens = count_tokens(&content);
    // Like a real model, an answer longer than its budget is cut and says so.
    if let Some(max) = max_tokens.filter(|&m| completion_tokens > m) {
        content = cut_to_tokens(&content, max);
        completion_tokens = max;
        finish_reason = "length";
    }
    trace.entry.completion_tokens = completion_tokens as u64;
    trace.entry.max_tokens = max_tokens.map(|m| m as u64);
    trace.entry.truncated = finish_reason == "length";
    let completion = MockCompletion {
        id: format!("chatcmpl-mock-{}", &trace.entry.body_sha256[..16]),
        created,
        model,
        content,
        finish_reason,
        prompt_tokens: prompt_tokens as u64,
        completion_tokens: completion_tokens as u64,
    };
    if fault == Some(Fault::Garbage) {
        // A body cut off mid-way, as from a proxy that gave up: a 200 that is not JSON.
        let text = completion.to_json().to_string();
        let cut: String = text.chars().take(text.chars().count() / 2).collect();
        return MockAnswer::Now(
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], cut).into_response(),
        );
    }
    if trace.entry.stream {
        let include_usage =
            request.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
        return MockAnswer::Stream { completion, include_usage };
    }
    if !options.per_token.is_zero() {
        tokio::time::sleep(options.per_token * completion.completion_tokens as u32).await;
    }
    MockAnswer::Now(Json(completion.to_json()).into_response())
}

/// A 429 `rate_limit_exceeded`, with OpenAI's wait hints when waiting helps.
fn rate_limited(limit: budget::Limit, message: &str, wait: Option<Duration>) -> Response {
    let mut response =
        error(StatusCode::TOO_MANY_REQUESTS, limit.kind(), Some("rate_limit_exceeded"), message);
    if let Some(wait) = wait {
        let headers = response.headers_mut();
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        // Rounded up, so that waiting exactly this long is enough.
        headers
            .insert("retry-after-ms", HeaderValue::from(wait.as_nanos().div_ceil(1_000_000).max(1) as u64));
    }
    response
}

/// Tokens of a message list as OpenAI counts them: each message's content plus a few tokens of
/// framing per message and for the reply's priming.
pub(crate) fn prompt_tokens(messages: &[Value]) -> usize {
    let content: usize = messages
        .iter()
        .map(|m| m.get("content").and_then(Value::as_str).map(count_tokens).unwrap_or(0) + 4)
        .sum();
    content + 3
}

pub(crate) fn count_tokens(text: &str) -> usize {
    crate::chunk::TokenCounter::new(crate::chunk::Encoding::O200kBase).count(text)
}

fn cut_to_tokens(text: &str, max: usize) -> String {
    let bpe = tiktoken_rs::o200k_base_singleton();
    let tokens = bpe.encode_ordinary(text);
    let cut = &tokens[..max.min(tokens.len())];
    // A cut may split a multi-byte character; keep what decodes.
    (0..=cut.len().min(4)).find_map(|back| bpe.decode(&cut[..cut.len() - back]).ok()).unwrap_or_default()
}
