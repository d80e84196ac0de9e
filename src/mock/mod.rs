//! The built-in OpenAI-compatible mock endpoint: a real HTTP server on 127.0.0.1, for trying
//! ko2en without a key, rehearsing a batch before paying for it, and testing. It serves
//! `POST /v1/chat/completions` (plain and streamed) and `GET /v1/models` in OpenAI's wire
//! format, with `usage` counted by tiktoken and replies that are deterministic functions of the
//! request. On purpose and reproducibly, it also does what real endpoints do to their clients:
//! latency, rate limits with OpenAI's headers, server errors, dropped connections, hangs,
//! truncated and non-JSON answers, bad keys and exhausted quotas ([`MockOptions`]).
//!
//! Each concern has its module: [`reply`] what the mock says, [`budget`] the RPM/TPM limits,
//! [`fault`] which fault a request gets, [`log`] the request log, [`stream`] SSE answers. This
//! file owns the options, the server and the order in which a request meets them: slot, key,
//! quota, budget, fault, latency, answer.

pub mod budget;
pub mod fault;
pub mod log;
pub mod reply;
pub mod stream;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};

use budget::{Budget, Verdict};
use fault::{Attempts, Fault};
use log::{RequestLog, Trace};

/// The model name the mock reports when a request names none.
pub const MOCK_MODEL: &str = "ko2en-mock";

/// How the mock behaves. The default is a fast, well-behaved endpoint without limits.
#[derive(Debug, Clone, PartialEq)]
pub struct MockOptions {
    /// Wait before the first byte of every answer.
    pub latency: Duration,
    /// Wait per completion token, before a plain answer or between a stream's chunks.
    pub per_token: Duration,
    /// Requests per minute; over it, 429 `rate_limit_exceeded`. None: unlimited.
    pub rpm: Option<u64>,
    /// Tokens per minute (prompt tokens plus the request's `max_tokens`). None: unlimited.
    pub tpm: Option<u64>,
    /// Requests served at once; more wait for a slot. None: unlimited.
    pub max_concurrency: Option<usize>,
    /// Seeds the fault draws: the same seed and requests give the same faults.
    pub seed: u64,
    /// Share of requests answered 500, 502 (an HTML proxy page) or 503.
    pub fail_rate: f64,
    /// Share of requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// Share of requests answered 200 with a body that is not JSON.
    pub garbage_rate: f64,
    /// Share of requests answered with half the content and `finish_reason: "length"`.
    pub truncate_rate: f64,
    /// Share of requests answered only after `hang`.
    pub hang_rate: f64,
    /// How long a hanging request waits: longer than the client's timeout by default.
    pub hang: Duration,
    /// Share of requests with Korean left in an English field.
    pub hangul_rate: f64,
    /// Accept only this bearer key; anything else gets 401 `invalid_api_key`.
    pub require_key: Option<String>,
    /// Answer every request 429 `insufficient_quota`, which a client must not retry.
    pub quota_exhausted: bool,
    /// Write one JSON line per request to this file.
    pub log: Option<PathBuf>,
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            latency: Duration::ZERO,
            per_token: Duration::ZERO,
            rpm: None,
            tpm: None,
            max_concurrency: None,
            seed: 0,
            fail_rate: 0.0,
            drop_rate: 0.0,
            garbage_rate: 0.0,
            truncate_rate: 0.0,
            hang_rate: 0.0,
            hang: Duration::from_secs(600),
            hangul_rate: 0.0,
            require_key: None,
            quota_exhausted: false,
            log: None,
        }
    }
}

struct Shared {
    options: MockOptions,
    budget: Mutex<Budget>,
    slots: Option<Arc<Semaphore>>,
    attempts: Attempts,
    log: Option<Arc<RequestLog>>,
    seq: AtomicU64,
}

/// Marks a response that must not be sent: the connection is closed instead.
#[derive(Debug, Clone, Copy)]
struct DropConnection;

/// The error that makes hyper close a connection without answering.
#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped on purpose")
    }
}

impl std::error::Error for Dropped {}

/// A running mock server. Dropping it shuts the server down.
pub struct MockServer {
    addr: SocketAddr,
    log: Option<Arc<RequestLog>>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MockServer {
    /// Bind `addr` (port 0 picks a free port) and serve in the background.
    pub async fn start(addr: SocketAddr, options: MockOptions) -> std::io::Result<MockServer> {
        let log = options.log.as_deref().map(RequestLog::create).transpose()?.map(Arc::new);
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            log: log.clone(),
            budget: Mutex::new(Budget::new(options.rpm, options.tpm, tokio::time::Instant::now())),
            slots: options.max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
            attempts: Attempts::default(),
            seq: AtomicU64::new(0),
            options,
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat_completions))
            .route("/v1/models", get(models))
            .with_state(shared);
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, rx));
        Ok(MockServer { addr, log, shutdown: Some(tx), task: Some(task) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL to give an OpenAI client: `http://127.0.0.1:PORT/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Serve until the process is stopped.
    pub async fn wait(mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        // Requests already answered are on disk when the server is gone; the process may end next.
        if let Some(log) = &self.log {
            log.flush();
        }
    }
}

/// The accept loop. Our own rather than `axum::serve`, because dropping a connection without
/// an answer needs the connection: a response marked [`DropConnection`] becomes a service
/// error, on which hyper closes the socket without writing anything. Connections live in a
/// `JoinSet`, so shutting down also ends hanging requests.
async fn serve(listener: tokio::net::TcpListener, app: Router, mut shutdown: oneshot::Receiver<()>) {
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (socket, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                // Out of file descriptors and the like: try again rather than die.
                Err(_) => continue,
            },
            _ = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let app = app.clone();
        connections.spawn(async move {
            let service =
                hyper::service::service_fn(move |request: axum::http::Request<hyper::body::Incoming>| {
                    let mut app = app.clone();
                    async move {
                        let response = tower::Service::call(&mut app, request.map(Body::new))
                            .await
                            .unwrap_or_else(|never| match never {});
                        if response.extensions().get::<DropConnection>().is_some() {
                            return Err(Dropped);
                        }
                        Ok(response)
                    }
                });
            let io = hyper_util::rt::TokioIo::new(socket);
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
        });
    }
}

async fn models() -> Json<Value> {
    Json(json!({
        "object": "list",
        "data": [{"id": MOCK_MODEL, "object": "model", "created": 0, "owned_by": "ko2en"}],
    }))
}

/// OpenAI's error body.
fn error(status: StatusCode, kind: &str, code: Option<&str>, message: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": code}});
    (status, Json(body)).into_response()
}

fn bad_request(message: &str) -> Response {
    error(StatusCode::BAD_REQUEST, "invalid_request_error", None, message)
}

/// A finished answer, before it is sent whole or streamed.
pub struct Completion {
    pub id: String,
    pub created: u64,
    pub model: String,
    pub content: String,
    pub finish_reason: &'static str,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

impl Completion {
    fn usage(&self) -> Value {
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

/// One request's bookkeeping, alive until its answer is fully sent: the server slot it holds
/// and the log entry written when it ends.
struct Exchange {
    // Declared first so it is dropped first: the entry's finish time precedes the slot's release.
    trace: Trace,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// What `answer` decided: a response to send now, or a completion to stream.
enum Answer {
    Now(Response),
    Stream { completion: Completion, include_usage: bool },
}

async fn chat_completions(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut trace = Trace::new(shared.log.clone(), shared.seq.fetch_add(1, Ordering::Relaxed));
    // Excess requests wait here, as on a server with a fixed number of workers.
    let slot = match &shared.slots {
        Some(slots) => Some(Arc::clone(slots).acquire_owned().await.expect("the semaphore is never closed")),
        None => None,
    };
    trace.started();
    let hash = fault::body_hash(&body);
    trace.entry.body_sha256 = hex::encode(hash);
    trace.entry.attempt = shared.attempts.next(hash);
    let mut exchange = Exchange { trace, _slot: slot };
    let answer = answer(&shared, &headers, &body, hash, &mut exchange.trace).await;
    let mut response = match answer {
        Answer::Now(response) => {
            let dropped = response.extensions().get::<DropConnection>().is_some();
            exchange.trace.entry.status = (!dropped).then(|| response.status().as_u16());
            response
        }
        Answer::Stream { completion, include_usage } => {
            exchange.trace.entry.status = Some(200);
            let body = stream::body(&completion, include_usage, shared.options.per_token, exchange);
            let mut response = Response::new(body);
            response
                .headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
            response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
            response
        }
    };
    // OpenAI sends the rate-limit state on every response.
    let now = tokio::time::Instant::now();
    for (name, value) in shared.budget.lock().unwrap_or_else(|e| e.into_inner()).headers(now) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The mock's decision for one request, in the order a real API makes it: key, quota,
/// request shape, rate limits; then the fault, the latency and the answer.
async fn answer(
    shared: &Shared,
    headers: &HeaderMap,
    body: &[u8],
    hash: [u8; 32],
    trace: &mut Trace,
) -> Answer {
    let options = &shared.options;
    if let Some(key) = &options.require_key {
        let sent = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or_default();
        if sent != key {
            trace.entry.faults.push("invalid_api_key".into());
            return Answer::Now(error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                Some("invalid_api_key"),
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
            ));
        }
    }
    if options.quota_exhausted {
        trace.entry.faults.push("insufficient_quota".into());
        return Answer::Now(error(
            StatusCode::TOO_MANY_REQUESTS,
            "insufficient_quota",
            Some("insufficient_quota"),
            "You exceeded your current quota, please check your plan and billing details.",
        ));
    }
    let request: Value = match serde_json::from_slice(body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => return Answer::Now(bad_request("the body must be a JSON object")),
        Err(e) => return Answer::Now(bad_request(&format!("invalid JSON body: {e}"))),
    };
    let Some(messages) = request.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        return Answer::Now(bad_request("'messages' must be a non-empty array"));
    };
    let model = request.get("model").and_then(Value::as_str).unwrap_or(MOCK_MODEL).to_string();
    let max_tokens = request
        .get("max_completion_tokens")
        .or_else(|| request.get("max_tokens"))
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    let prompt_tokens = prompt_tokens(messages);
    let mut content = reply::content_for(&request);
    trace.entry.prompt_tokens = prompt_tokens as u64;
    trace.entry.stream = request.get("stream").and_then(Value::as_bool).unwrap_or(false);

    // OpenAI charges a request its prompt plus the most it may answer; without a maximum, the
    // mock knows its answer and charges that.
    let cost = prompt_tokens + max_tokens.unwrap_or_else(|| count_tokens(&content));
    let verdict = shared
        .budget
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .admit(cost as u64, tokio::time::Instant::now());
    match verdict {
        Verdict::Admitted => {}
        Verdict::TooLarge { per_minute, requested } => {
            trace.entry.faults.push("request_too_large".into());
            return Answer::Now(rate_limited(
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
            return Answer::Now(rate_limited(limit, &message, Some(wait)));
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
            return Answer::Now(response);
        }
        Some(Fault::Fail(502)) => {
            // What a reverse proxy in front of the API sends, not OpenAI's JSON.
            let page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";
            return Answer::Now(
                (StatusCode::BAD_GATEWAY, [(header::CONTENT_TYPE, "text/html")], page).into_response(),
            );
        }
        Some(Fault::Fail(503)) => {
            return Answer::Now(error(
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
            return Answer::Now(error(status, kind, None, &message));
        }
        Some(Fault::Hang) => tokio::time::sleep(options.hang).await,
        Some(Fault::Hangul) => content = reply::leak_hangul(&content),
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
    let completion = Completion {
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
        return Answer::Now(
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], cut).into_response(),
        );
    }
    if trace.entry.stream {
        let include_usage =
            request.pointer("/stream_options/include_usage").and_then(Value::as_bool).unwrap_or(false);
        return Answer::Stream { completion, include_usage };
    }
    if !options.per_token.is_zero() {
        tokio::time::sleep(options.per_token * completion.completion_tokens as u32).await;
    }
    Answer::Now(Json(completion.to_json()).into_response())
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
pub fn prompt_tokens(messages: &[Value]) -> usize {
    let content: usize = messages
        .iter()
        .map(|m| m.get("content").and_then(Value::as_str).map(count_tokens).unwrap_or(0) + 4)
        .sum();
    content + 3
}

pub(crate) fn count_tokens(text: &str) -> usize {
    tiktoken_rs::o200k_base_singleton().encode_ordinary(text).len()
}

fn cut_to_tokens(text: &str, max: usize) -> String {
    let bpe = tiktoken_rs::o200k_base_singleton();
    let tokens = bpe.encode_ordinary(text);
    let cut = &tokens[..max.min(tokens.len())];
    // A cut may split a multi-byte character; keep what decodes.
    (0..=cut.len().min(4)).find_map(|back| bpe.decode(&cut[..cut.len() - back]).ok()).unwrap_or_default()
}
