//! The built-in OpenAI-compatible mock endpoint: a real HTTP server on 127.0.0.1, for trying
//! ko2en without a key, rehearsing a batch before paying for it, and testing. It serves
//! `POST /v1/chat/completions` (plain and streamed) and `GET /v1/models` in OpenAI's wire
//! format, with `usage` counted by tiktoken and replies that are deterministic functions of the
//! request. On purpose and reproducibly, it also does what real endpoints do to their clients:
//! latency, rate limits with OpenAI's headers, server errors, dropped connections, hangs,
//! truncated and non-JSON answers, bad keys and exhausted quotas ([`MockOptions`]).
//!
//! Each concern has its module: `answer` decides one request's answer (key, quota, request
//! shape, budget, fault, latency, content), [`reply`] writes the content, `budget` keeps the
//! RPM/TPM limits, `fault` picks a request's fault, `log` writes the request log and `stream`
//! sends SSE answers, `options` defines every option once. This file owns the server: its
//! accept loop, its slots and the bookkeeping that spans a whole exchange.

mod answer;
mod batches;
mod budget;
mod fault;
mod log;
mod options;
pub mod reply;
mod stream;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot};

use answer::{MockAnswer, answer};
use budget::MockBudget;
use fault::Attempts;
use log::{RequestLog, Trace};

pub use options::MockOptions;
pub(crate) use options::{OPTIONS, OptionError, OptionKind, set_option, validate};

/// The model name the mock reports when a request names none.
pub(crate) const MOCK_MODEL: &str = "ko2en-mock";

struct MockShared {
    options: MockOptions,
    budget: Mutex<MockBudget>,
    slots: Option<Arc<Semaphore>>,
    attempts: Attempts,
    log: Option<Arc<RequestLog>>,
    /// Chat requests received so far (their arrival order): tests count exactly what was sent.
    seq: AtomicU64,
    /// Uploaded files and batches.
    batches: batches::Store,
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
    shared: Arc<MockShared>,
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
        let shared = Arc::new(MockShared {
            log: log.clone(),
            budget: Mutex::new(MockBudget::new(
                options.rpm,
                options.tpm,
                options.limiter,
                tokio::time::Instant::now(),
            )),
            slots: options.max_concurrency.map(|n| Arc::new(Semaphore::new(n))),
            attempts: Attempts::default(),
            seq: AtomicU64::new(0),
            batches: batches::Store::default(),
            options,
        });
        let app = batches::routes(Arc::clone(&shared))
            .route("/v1/chat/completions", post(openai_chat_completions))
            .route("/openai/deployments/{deployment}/chat/completions", post(azure_chat_completions))
            .route("/v1/models", get(models))
            .with_state(Arc::clone(&shared));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, rx));
        Ok(MockServer { addr, shared, log, shutdown: Some(tx), task: Some(task) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Chat-completion requests received so far, whatever their outcome.
    pub fn requests_received(&self) -> u64 {
        self.shared.seq.load(Ordering::Relaxed)
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
                // Out of file descriptors and the like: pause, then try again rather than die.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
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

/// One request's bookkeeping, alive until its answer is fully sent: the server slot it holds
/// and the log entry written when it ends.
struct Exchange {
    // Declared first so it is dropped first: the entry's finish time precedes the slot's release.
    trace: Trace,
    _slot: Option<tokio::sync::OwnedSemaphorePermit>,
}

/// OpenAI's route; with `--azure` it does not exist, as on Azure's classic API.
async fn openai_chat_completions(
    State(shared): State<Arc<MockShared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if shared.options.azure {
        return azure_not_found("Resource not found");
    }
    chat_completions(State(shared), headers, body).await
}

/// Whether a query names an `api-version`, as every request of Azure's classic API must.
fn versioned(query: &str) -> bool {
    query.split('&').any(|p| p.starts_with("api-version=") && p.len() > 12)
}

/// Azure's 404, with its own error body.
fn azure_not_found(message: &str) -> Response {
    let body = json!({"error": {"code": "404", "message": message}});
    (axum::http::StatusCode::NOT_FOUND, Json(body)).into_response()
}

/// Azure's classic route (with `--azure`): the deployment names the model, and a request
/// without `api-version` is refused as Azure refuses it. Without `--azure`, the route does not
/// exist, as on OpenAI.
async fn azure_chat_completions(
    State(shared): State<Arc<MockShared>>,
    axum::extract::Path(deployment): axum::extract::Path<String>,
    axum::extract::RawQuery(query): axum::extract::RawQuery,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !shared.options.azure {
        return azure_not_found("Resource not found");
    }
    if !versioned(query.as_deref().unwrap_or("")) {
        return azure_not_found("Resource not found: the api-version query parameter is required");
    }
    // The deployment is the model: the body's `model`, if any, is ignored, as on Azure.
    let body = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Object(mut request)) => {
            request.insert("model".into(), Value::String(deployment));
            axum::body::Bytes::from(Value::Object(request).to_string())
        }
        _ => body,
    };
    chat_completions(State(shared), headers, body).await
}

async fn chat_completions(
    State(shared): State<Arc<MockShared>>,
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
    trace.entry.attempt = shared.attempts.next(fault::conversation_hash(&body));
    let mut exchange = Exchange { trace, _slot: slot };
    let mut rate_limits = Vec::new();
    let answer = answer(&shared, &headers, &body, hash, &mut exchange.trace, &mut rate_limits).await;
    let mut response = match answer {
        MockAnswer::Now(response) => {
            let dropped = response.extensions().get::<DropConnection>().is_some();
            exchange.trace.entry.status = (!dropped).then(|| response.status().as_u16());
            response
        }
        MockAnswer::Stream { completion, include_usage } => {
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
    // OpenAI sends the rate-limit state on every response: as measured when the request was
    // admitted, or now for a request refused before it reached the limiter.
    if rate_limits.is_empty() {
        let now = tokio::time::Instant::now();
        rate_limits = shared.budget.lock().unwrap_or_else(|e| e.into_inner()).states(now);
    }
    let wall = std::time::SystemTime::now();
    for (name, value) in budget::render(&rate_limits, shared.options.headers, wall) {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}
