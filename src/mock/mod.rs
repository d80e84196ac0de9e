//! The built-in OpenAI-compatible mock endpoint: a real HTTP server (axum) on 127.0.0.1, for
//! trying ko2en without a key, rehearsing a batch before paying for it, and testing. It serves
//! `POST /v1/chat/completions` and `GET /v1/models` in OpenAI's wire format, with `usage`
//! counted by tiktoken and replies that are deterministic functions of the request.

pub mod reply;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// The model name the mock reports when a request names none.
pub const MOCK_MODEL: &str = "ko2en-mock";

/// How the mock behaves. (Rate limits and faults are added by the mock's own issue.)
#[derive(Debug, Clone, Default)]
pub struct MockOptions {}

struct Shared {
    #[allow(dead_code)]
    options: MockOptions,
    /// Chat requests received, whatever their outcome: tests count exactly what was sent.
    requests: AtomicU64,
}

/// A running mock server. Dropping it shuts the server down.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl MockServer {
    /// Bind `addr` (port 0 picks a free port) and serve in the background.
    pub async fn start(addr: SocketAddr, options: MockOptions) -> std::io::Result<MockServer> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared { options, requests: AtomicU64::new(0) });
        let app = router(Arc::clone(&shared));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Ok(MockServer { addr, shared, shutdown: Some(tx), task: Some(task) })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Chat-completion requests received so far.
    pub fn requests_received(&self) -> u64 {
        self.shared.requests.load(Ordering::Relaxed)
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
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/models", get(models))
        .with_state(shared)
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

async fn chat_completions(State(shared): State<Arc<Shared>>, body: axum::body::Bytes) -> Response {
    shared.requests.fetch_add(1, Ordering::Relaxed);
    let request: Value = match serde_json::from_slice(&body) {
        Ok(v @ Value::Object(_)) => v,
        Ok(_) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                "the body must be a JSON object",
            );
        }
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                None,
                &format!("invalid JSON body: {e}"),
            );
        }
    };
    let Some(messages) = request.get("messages").and_then(Value::as_array).filter(|m| !m.is_empty()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            None,
            "'messages' must be a non-empty array",
        );
    };
    let model = request.get("model").and_then(Value::as_str).unwrap_or(MOCK_MODEL).to_string();
    let max_tokens = request
        .get("max_completion_tokens")
        .or_else(|| request.get("max_tokens"))
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    let prompt_tokens = prompt_tokens(messages);
    let mut content = reply::content_for(&request);
    let mut completion_tokens = count_tokens(&content);
    let mut finish_reason = "stop";
    // Like a real model, an answer longer than its budget is cut and says so.
    if let Some(max) = max_tokens.filter(|&m| completion_tokens > m) {
        content = cut_to_tokens(&content, max);
        completion_tokens = max;
        finish_reason = "length";
    }
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Json(json!({
        "id": format!("chatcmpl-mock-{created}"),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": content, "refusal": null},
            "logprobs": null,
            "finish_reason": finish_reason,
        }],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }))
    .into_response()
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

fn count_tokens(text: &str) -> usize {
    tiktoken_rs::o200k_base_singleton().encode_ordinary(text).len()
}

fn cut_to_tokens(text: &str, max: usize) -> String {
    let bpe = tiktoken_rs::o200k_base_singleton();
    let tokens = bpe.encode_ordinary(text);
    let cut = &tokens[..max.min(tokens.len())];
    // A cut may split a multi-byte character; keep what decodes.
    (0..=cut.len().min(4)).find_map(|back| bpe.decode(&cut[..cut.len() - back]).ok()).unwrap_or_default()
}
