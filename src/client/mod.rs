//! The OpenAI-compatible chat-completions client, which owns the wire: a typed `ChatRequest`
//! goes in and becomes JSON only here (`wire`, with the providers' rules), answers are parsed
//! leniently, errors classified, and every header read once (`header`). One `send` is one
//! attempt; whether to try again is `RetryState`'s decision (`retry`), pacing the limiter's.

mod batches;
mod endpoint;
mod error;
mod forms;
mod header;
pub(crate) mod provider;
mod retry;
mod settings;
mod stream;
mod transport;
mod wire;

use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use async_openai::error::OpenAIError;
use serde_json::Value;

pub(crate) use batches::{BatchInfo, batch_url};
pub(crate) use error::ClientError;
use error::{error_chain, first_line};
pub(crate) use header::Dialect;
pub(crate) use retry::{Decision, RetryPolicy, RetryState};
pub(crate) use settings::{ApiKey, EndpointSettings, Protocol, ResponseFormat, Route};
pub(crate) use wire::WireRequest;

use crate::limiter::ServerState;
use crate::prompt::Messages;
use crate::sizing::AnswerKind;
use async_openai::config::Config;
use endpoint::Endpoint;
use header::ResponseMeta;

use forms::{Forms, encode_field, encode_format};
use wire::parse_completion;

/// A reply shape: its name and strict JSON schema.
#[derive(Debug, Clone)]
pub(crate) struct ReplySchema {
    pub(crate) name: &'static str,
    pub(crate) schema: Value,
}

/// One chat request, before it becomes JSON.
#[derive(Debug, Clone)]
pub(crate) struct ChatRequest<'a> {
    pub(crate) messages: &'a Messages,
    pub(crate) schema: &'a ReplySchema,
    /// The completion budget the request may need at most: the budget of its cache key, and
    /// the ceiling of the budget sized for it (see `sizing`).
    pub(crate) max_tokens: u32,
    /// What it asks for, and over how many tokens of the article, for sizing its budget.
    pub(crate) kind: AnswerKind,
    pub(crate) input_tokens: u32,
}

/// The answer a chat completion holds (a batch result's `response.body`), read as a live
/// answer is: content, usage, and the same refusals (cut at its budget, empty, refused).
pub(crate) fn answer_of(completion: &Value) -> Result<ChatResponse, ClientError> {
    parse_completion(completion, 0)
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChatResponse {
    pub(crate) content: String,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    /// Of the prompt tokens, those the provider served from its prompt cache (billed at the
    /// cached-input price).
    pub(crate) cached_tokens: u64,
}

/// The outcome of one attempt: the answer or error, and what the response headers said about
/// the server's limits.
#[derive(Debug)]
pub(crate) struct Attempt {
    pub(crate) result: Result<ChatResponse, ClientError>,
    pub(crate) server: Option<ServerState>,
}

impl Attempt {
    /// The tokens the server counted against its TPM budget for this attempt, to settle the
    /// limiter's grant with; None to keep the estimate charged.
    ///
    /// An answer is counted the way OpenAI-style servers count it: their own prompt count plus
    /// the whole completion budget asked for, used or not (refunding unused completion tokens
    /// would overdraw them). A rate-limited request was not counted at all. Other failures keep
    /// their charge, to stay on the safe side.
    pub(crate) fn charged(&self, request: &WireRequest) -> Option<u32> {
        match &self.result {
            Ok(response) => Some(
                u32::try_from(response.prompt_tokens)
                    .unwrap_or(u32::MAX)
                    .saturating_add(request.max_tokens()),
            ),
            Err(ClientError::Status { status: 429, .. }) => Some(0),
            Err(_) => None,
        }
    }
}

/// The endpoint, as the engine sees it.
#[derive(Clone)]
pub(crate) struct Client {
    inner: async_openai::Client<Endpoint>,
    /// For whole answers; shared by the routes of a run.
    http: reqwest::Client,
    /// For streamed answers: no overall timeout of its own (the silence is timed instead).
    streaming: reqwest::Client,
    endpoint: Endpoint,
    model: String,
    /// The forms this endpoint takes, learned from its refusals (see [`Client::adapt`]).
    forms: Arc<Forms>,
    /// Pieces of streamed answers received so far, over every route: progress's count of
    /// tokens as they arrive.
    received: Arc<AtomicU64>,
    dialect: Dialect,
    chat_url: String,
    /// The provider's advice for a refused URL, model or key.
    hint: Option<&'static str>,
    temperature: Option<f32>,
    timeout: Duration,
    base_url: String,
    /// Kept only to scrub it from any error text a server echoes back.
    api_key: Option<ApiKey>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base_url", &self.base_url).field("model", &self.model).finish()
    }
}

/// Install the ring crypto provider for rustls once per process (reqwest is built without one,
/// so that the much slower-to-build aws-lc is not needed).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    /// Build the HTTP client of the run, for its first route (see [`Client::route`] for the
    /// others).
    pub(crate) fn new(route: &Route, endpoint: &EndpointSettings) -> Result<Client, ClientError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(endpoint.timeout)
            .connect_timeout(endpoint.timeout.min(Duration::from_secs(30)))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("ko2en/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Connection(format!("cannot build the HTTP client: {e}")))?;
        // The silence between bytes is timed by `stream::exchange` itself.
        let streaming = reqwest::Client::builder()
            .connect_timeout(endpoint.timeout.min(Duration::from_secs(30)))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("ko2en/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Connection(format!("cannot build the HTTP client: {e}")))?;
        let protocol = &endpoint.protocol;
        let config = Endpoint::new(
            &route.base_url,
            &endpoint.model,
            protocol.url_shape.clone(),
            protocol.auth,
            route.api_key.as_ref().map(ApiKey::expose),
        );
        let chat_url = config.chat_url();
        let inner = async_openai::Client::with_config(config.clone())
            .with_http_service(transport::HeaderCapture::new(http.clone()));
        Ok(Client {
            inner,
            http,
            streaming,
            endpoint: config,
            model: endpoint.model.clone(),
            forms: Arc::new(Forms {
                response_format: AtomicU8::new(encode_format(endpoint.response_format)),
                budget_field: AtomicU8::new(encode_field(protocol.budget_field)),
                stream: AtomicBool::new(endpoint.stream),
                bounds: AtomicBool::new(true),
                // Reasoning models take only their default temperature.
                cooling: AtomicBool::new(!wire::is_reasoning(&endpoint.model)),
            }),
            received: Arc::default(),
            dialect: protocol.dialect,
            chat_url,
            hint: endpoint.hint,
            temperature: endpoint.temperature,
            timeout: endpoint.timeout,
            base_url: route.base_url.clone(),
            api_key: route.api_key.clone(),
        })
    }

    /// The same endpoint at another route: its own URL and key, the HTTP clients and the
    /// forms learned shared (the routes serve one model, so a form one refuses, all do, and
    /// every request is prepared once whichever route it takes).
    pub(crate) fn route(&self, route: &Route) -> Client {
        let endpoint = self.endpoint.at(&route.base_url, route.api_key.as_ref().map(ApiKey::expose));
        Client {
            inner: async_openai::Client::with_config(endpoint.clone())
                .with_http_service(transport::HeaderCapture::new(self.http.clone())),
            chat_url: endpoint.chat_url(),
            endpoint,
            base_url: route.base_url.clone(),
            api_key: route.api_key.clone(),
            ..self.clone()
        }
    }

    /// The count of streamed answer pieces (tokens) received, shared by every route.
    pub(crate) fn received(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.received)
    }

    /// The base URL of this route.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    pub(crate) fn model(&self) -> &str {
        &self.model
    }

    /// Where chat completions are posted.
    pub(crate) fn chat_url(&self) -> &str {
        &self.chat_url
    }

    /// One sentence for a run stopped because `error` showed the endpoint cannot work as set
    /// up: what answered what, and what to check.
    pub(crate) fn misconfigured(&self, error: &ClientError) -> String {
        let (url, model) = (&self.chat_url, &self.model);
        let check = match error {
            ClientError::Status { status: 401 | 403, .. } => {
                format!("is the API key right for this endpoint, and allowed to use model {model}?")
            }
            ClientError::Status { status: 404 | 405, .. } => {
                format!(
                    "does the base URL end in /v1 (or the provider's own path), and does model {model} exist there?"
                )
            }
            ClientError::Status { .. } => format!("is {model} a model this endpoint serves (--model)?"),
            ClientError::WebPage(_) => {
                "that URL is not an OpenAI-compatible API; does the base URL end in /v1?".into()
            }
            _ => "is the host name right, and is the server running?".into(),
        };
        let hint = self.hint.map(|h| format!(" ({h})")).unwrap_or_default();
        let error = error.to_string();
        format!("{url} with model {model}: {}. Check: {check}{hint}", error.trim_end_matches('.'))
    }

    /// `request` as it will go on the wire.
    pub(crate) fn prepare(&self, request: &ChatRequest<'_>) -> WireRequest {
        let form = wire::Form {
            budget_field: self.budget_field(),
            response_format: self.response_format(),
            temperature: self.temperature,
            bounds: self.forms.bounds.load(Ordering::Acquire),
            cooling: self.forms.cooling.load(Ordering::Acquire),
        };
        WireRequest::new(&self.model, request, form)
    }

    /// How long one attempt may take.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Send one request, once. What the response's headers say of the server's limits goes to
    /// `on_headers` once, as soon as it is known: when the headers arrive for a streamed
    /// answer (a limiter and a concurrency learning from them need not wait for the whole
    /// answer), at the end for a whole one. It is also in the attempt.
    pub(crate) async fn send(
        &self,
        request: &WireRequest,
        on_headers: &(dyn Fn(&ServerState) + Sync),
    ) -> Attempt {
        if self.forms.stream.load(Ordering::Acquire) {
            return self.send_streamed(request, on_headers).await;
        }
        let slot: transport::MetaSlot = Arc::new(Mutex::new(None));
        let chat = self.inner.chat();
        let call = chat.create_byot::<&Value, Value>(request.body());
        let result = transport::META_SLOT.scope(slot.clone(), call).await;
        let meta = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        let server = meta.as_ref().map(|m| m.server_state(SystemTime::now(), self.dialect));
        if let Some(server) = &server {
            on_headers(server);
        }
        let result = match result {
            Ok(value) => parse_completion(&value, request.max_tokens()),
            Err(e) => Err(self.classify(e, meta.as_ref(), server.as_ref())),
        };
        Attempt { result: result.map_err(|e| self.scrub(e)), server }
    }

    /// Send one request as a stream (see `stream`): the body sent is the request's with
    /// `stream` and `stream_options.include_usage` added, so that cache keys, which hash the
    /// request, do not depend on how the answer travels.
    async fn send_streamed(
        &self,
        request: &WireRequest,
        on_headers: &(dyn Fn(&ServerState) + Sync),
    ) -> Attempt {
        let body = stream::Streamed::new(request.body());
        let http = self
            .streaming
            .post(self.endpoint.url("/chat/completions"))
            .query(&self.endpoint.query())
            .headers(self.endpoint.headers())
            .json(&body);
        let cap = self.timeout.saturating_mul(STREAM_CAP);
        let dialect = self.dialect;
        let headers = |meta: &ResponseMeta| on_headers(&meta.server_state(SystemTime::now(), dialect));
        let exchange = stream::exchange(http, self.timeout, cap, &self.received, &headers).await;
        let server = exchange.meta.as_ref().map(|m| m.server_state(SystemTime::now(), self.dialect));
        let retry_after = server.as_ref().and_then(|s| s.retry_after);
        let result = match exchange.outcome {
            Ok(value) => parse_completion(&value, request.max_tokens()),
            Err(stream::Failure::Status { status, body }) => {
                Err(ClientError::from_status(status, &body, retry_after))
            }
            Err(stream::Failure::Timeout(after)) => Err(ClientError::Timeout(after)),
            Err(stream::Failure::Connection(message)) => Err(ClientError::Connection(message)),
            Err(stream::Failure::Body(content)) => Err(ClientError::not_an_answer(&content, "not an answer")),
        };
        Attempt { result: result.map_err(|e| self.scrub(e)), server }
    }

    fn classify(
        &self,
        error: OpenAIError,
        meta: Option<&ResponseMeta>,
        server: Option<&ServerState>,
    ) -> ClientError {
        let retry_after = server.and_then(|s| s.retry_after);
        match error {
            OpenAIError::ApiError(api) => ClientError::Status {
                status: api.status_code.as_u16(),
                code: api.api_error.code.clone().or(api.api_error.r#type.clone()),
                message: first_line(&api.api_error.message),
                retry_after,
            },
            OpenAIError::Reqwest(e) if e.is_timeout() => ClientError::Timeout(self.timeout),
            OpenAIError::Reqwest(e) => ClientError::Connection(error_chain(&e)),
            OpenAIError::JSONDeserialize(e, content) => match meta.map(|m| m.status) {
                // A non-JSON error body (a proxy's HTML page) is still an HTTP error.
                Some(status) if status >= 400 => {
                    ClientError::Status { status, code: None, message: first_line(&content), retry_after }
                }
                _ => ClientError::not_an_answer(&content, &e.to_string()),
            },
            other => ClientError::Connection(error_chain(&other)),
        }
    }

    /// Remove the API key, and anything shaped like one, from error text a server echoed.
    fn scrub(&self, error: ClientError) -> ClientError {
        let key: Vec<&str> = self.api_key.as_ref().map(ApiKey::expose).into_iter().collect();
        let clean = |text: String| crate::redact::redact(&text, &key);
        match error {
            ClientError::Status { status, code, message, retry_after } => {
                ClientError::Status { status, code, message: clean(message), retry_after }
            }
            ClientError::Connection(m) => ClientError::Connection(clean(m)),
            ClientError::Body(m) => ClientError::Body(clean(m)),
            ClientError::WebPage(m) => ClientError::WebPage(clean(m)),
            other => other,
        }
    }
}

/// How many times its silence a streamed request may take in all.
const STREAM_CAP: u32 = 10;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::Messages;

    fn client(format: ResponseFormat) -> Client {
        client_of("m", format)
    }

    fn client_of(model: &str, format: ResponseFormat) -> Client {
        let endpoint = EndpointSettings {
            model: model.into(),
            response_format: format,
            temperature: None,
            timeout: Duration::from_secs(5),
            stream: true,
            protocol: Protocol::default(),
            hint: None,
        };
        Client::new(&Route { base_url: "http://127.0.0.1:9/v1".into(), api_key: None }, &endpoint).unwrap()
    }

    fn refusal(message: &str) -> ClientError {
        ClientError::Status { status: 400, code: None, message: message.into(), retry_after: None }
    }

    fn wire(client: &Client) -> WireRequest {
        let messages = Messages::new("s".into(), "u".into());
        let schema = ReplySchema { name: "x", schema: serde_json::json!({"type": "object"}) };
        client.prepare(&ChatRequest {
            messages: &messages,
            schema: &schema,
            max_tokens: 10,
            kind: AnswerKind::Summary,
            input_tokens: 0,
        })
    }

    /// Refusals in the words servers use (Groq, DeepSeek, vLLM, OpenAI), each stepping the form
    /// down once; a refusal about something else is not a form's.
    #[test]
    fn a_refused_stream_switches_the_run_to_whole_answers_once() {
        let client = client(ResponseFormat::JsonSchema);
        let request = wire(&client);
        let refused = refusal("Unrecognized request argument supplied: stream_options");
        let notice = client.adapt(&refused, &request).expect("about the form").expect("the switch");
        assert!(notice.contains("whole answers"), "{notice}");
        assert!(!client.forms.stream.load(Ordering::Acquire));
        assert_eq!(client.adapt(&refused, &request), Some(None), "said once");
        assert_eq!(client.response_format(), ResponseFormat::JsonSchema, "nothing else changes");
    }

    /// OpenAI's words for a strict schema keyword it does not take.
    #[test]
    fn refused_length_bounds_leave_the_schema_without_them_and_keep_its_form() {
        let c = client(ResponseFormat::JsonSchema);
        let messages = Messages::new("s".into(), "u".into());
        let schema = ReplySchema {
            name: "summary",
            schema: serde_json::json!({"type": "object", "properties": {"points": {"type": "array", "minItems": 3, "maxItems": 5}}}),
        };
        let request = ChatRequest {
            messages: &messages,
            schema: &schema,
            max_tokens: 10,
            kind: AnswerKind::Summary,
            input_tokens: 0,
        };
        let bounded = c.prepare(&request);
        let points = |w: &WireRequest| {
            w.body()["response_format"]["json_schema"]["schema"]["properties"]["points"].clone()
        };
        assert_eq!(points(&bounded)["minItems"], 3);
        let refused = refusal(
            "Invalid schema for response_format 'summary': In context=('properties', 'points'), 'minItems' is not permitted.",
        );
        let notice = c.adapt(&refused, &bounded).expect("about the form").expect("the switch");
        assert!(notice.contains("length bounds"), "{notice}");
        assert_eq!(c.response_format(), ResponseFormat::JsonSchema, "still a strict schema");
        assert!(c.is_stale(&bounded), "a request prepared with the bounds is prepared again");
        let unbounded = c.prepare(&request);
        assert_eq!(points(&unbounded), serde_json::json!({"type": "array"}));
        assert!(!c.is_stale(&unbounded));
    }

    /// OpenAI's words to a reasoning model's request with a temperature (Kimi's are alike).
    #[test]
    fn a_refused_lower_temperature_is_not_tried_again() {
        let c = client(ResponseFormat::JsonSchema);
        let plain = wire(&c);
        let refused = ClientError::Status {
            status: 400,
            code: Some("unsupported_value".into()),
            message: "Unsupported value: 'temperature' does not support 0.2 with this model. Only the default (1) value is supported.".into(),
            retry_after: None,
        };
        assert_eq!(c.adapt(&refused, &plain), None, "the user's own temperature is the user's to fix");
        let mut cooled = wire(&c);
        cooled.insist("x");
        assert!(cooled.cooled);
        let notice = c.adapt(&refused, &cooled).expect("about the form").expect("the switch");
        assert!(notice.contains("default temperature"), "{notice}");
        assert!(c.is_stale(&cooled));
        let mut again = wire(&c);
        again.insist("x");
        assert!(again.body().get("temperature").is_none() && !again.cooled);
        assert_eq!(c.adapt(&refused, &cooled), Some(None), "said once");
        let mut first = wire(&client_of("o3-mini", ResponseFormat::JsonSchema));
        first.insist("x");
        assert!(!first.cooled, "a reasoning model is known to take only its default");
    }

    #[test]
    fn refused_forms_step_down_once_each() {
        let c = client(ResponseFormat::JsonSchema);
        let first = wire(&c);
        let groq = refusal("This model does not support response format `json_schema`");
        assert!(c.adapt(&groq, &first).unwrap().is_some());
        assert_eq!(c.response_format(), ResponseFormat::JsonObject);
        assert_eq!(c.adapt(&groq, &first), Some(None), "a second refusal of the old form changes nothing");
        assert!(c.is_stale(&first) && !c.is_stale(&wire(&c)));
        let deepseek = refusal("This response_format type is unavailable now");
        assert!(c.adapt(&deepseek, &wire(&c)).unwrap().is_some());
        assert_eq!(c.response_format(), ResponseFormat::Text);
        // The schema the server no longer enforces is in the prompt.
        assert!(wire(&c).body()["messages"][0]["content"].as_str().unwrap().contains("\"type\":\"object\""));

        let openai = refusal(
            "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
        );
        assert!(c.adapt(&openai, &wire(&c)).unwrap().is_some());
        assert!(wire(&c).body().get("max_completion_tokens").is_some());

        assert_eq!(c.adapt(&refusal("Invalid model name passed in model=m"), &wire(&c)), None);
        assert_eq!(c.adapt(&refusal("context length exceeded"), &wire(&c)), None);
        let too_large = refusal("Invalid 'max_completion_tokens': integer above maximum value.");
        assert_eq!(c.adapt(&too_large, &wire(&c)), None, "a value refused, not the field");
    }
}
