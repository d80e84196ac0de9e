//! OpenAI's files and batches endpoints, as the mock plays them: `POST /v1/files` (multipart,
//! purpose `batch`), `GET /v1/files/{id}/content`, `POST /v1/batches`, `GET /v1/batches/{id}`,
//! `POST /v1/batches/{id}/cancel`; under `--azure`, Azure's classic API's, the same under
//! `/openai` with an `api-version`. A batch is answered line by line through the mock's own chat
//! completions (markers, faults and the request log included) once `batch-delay-ms` has passed
//! since it was created, at the first look after that: the output file holds the answers, the
//! error file the requests that failed (a status other than 200), and with
//! `batch-expire-after N` only the first N are answered and the rest expire, as a batch past its
//! 24-hour window does.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::MockShared;
use super::answer::bad_request;

/// The files and batches the mock holds.
#[derive(Debug, Default)]
pub(super) struct Store {
    inner: Mutex<Inner>,
}

impl Store {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[derive(Debug, Default)]
struct Inner {
    files: HashMap<String, Vec<u8>>,
    batches: HashMap<String, Batch>,
    next: u64,
}

#[derive(Debug, Clone)]
struct Batch {
    id: String,
    input_file_id: String,
    created: SystemTime,
    status: &'static str,
    output_file_id: Option<String>,
    error_file_id: Option<String>,
    counts: (u64, u64, u64),
}

impl Batch {
    fn to_json(&self) -> Value {
        let created = self.created.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs();
        json!({
            "id": self.id, "object": "batch", "endpoint": "/v1/chat/completions",
            "input_file_id": self.input_file_id, "completion_window": "24h", "status": self.status,
            "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
            "created_at": created, "errors": null,
            "request_counts": {"total": self.counts.0, "completed": self.counts.1, "failed": self.counts.2},
        })
    }
}

/// OpenAI's paths, and Azure's classic ones (the resource's, with an api-version), each
/// answered only when the mock plays that API (see [`elsewhere`]).
pub(super) fn routes(shared: Arc<MockShared>) -> Router<Arc<MockShared>> {
    use axum::routing::{get, post};
    let mut router = Router::new();
    for base in ["/v1", "/openai"] {
        router = router
            .route(&format!("{base}/files"), post(upload))
            .route(&format!("{base}/files/{{id}}/content"), get(content))
            .route(&format!("{base}/batches"), post(create))
            .route(&format!("{base}/batches/{{id}}"), get(retrieve))
            .route(&format!("{base}/batches/{{id}}/cancel"), post(cancel));
    }
    router.route_layer(axum::middleware::from_fn_with_state(shared, elsewhere))
}

/// A path of the API the mock is not playing (OpenAI's under `--azure`, Azure's without it,
/// or Azure's without an api-version) is not found, as on the real services.
async fn elsewhere(
    State(shared): State<Arc<MockShared>>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let uri = request.uri();
    let azure_path = uri.path().starts_with("/openai/");
    if azure_path != shared.options.azure || (azure_path && !super::versioned(uri.query().unwrap_or(""))) {
        return not_found("resource");
    }
    next.run(request).await
}

fn not_found(what: &str) -> Response {
    super::answer::error(StatusCode::NOT_FOUND, "invalid_request_error", None, &format!("No such {what}"))
}

/// `multipart/form-data` with a `purpose` and a `file`, as OpenAI's SDKs send it.
async fn upload(
    State(shared): State<Arc<MockShared>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let boundary = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("boundary=").nth(1))
        .map(|b| b.trim_matches('"').to_string());
    let Some(boundary) = boundary else { return bad_request("expected multipart/form-data") };
    let parts = multipart(&body, &boundary);
    let purpose = parts
        .iter()
        .find(|(name, _)| name == "purpose")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    if purpose.as_deref() != Some("batch") {
        return bad_request("purpose must be batch");
    }
    let Some((_, file)) = parts.into_iter().find(|(name, _)| name == "file") else {
        return bad_request("no file part");
    };
    let bytes = file.len();
    let mut inner = shared.batches.lock();
    inner.next += 1;
    let id = format!("file-mock{}", inner.next);
    inner.files.insert(id.clone(), file);
    Json(json!({"id": id, "object": "file", "bytes": bytes, "purpose": "batch", "filename": "batch.jsonl"}))
        .into_response()
}

/// The named parts of a multipart body: name and bytes.
fn multipart(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    for section in split(body, delimiter.as_bytes()).into_iter().skip(1) {
        let Some(end) = find(section, b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&section[..end]);
        let Some(name) = head.split("name=\"").nth(1).and_then(|r| r.split('"').next()) else { continue };
        let mut content = &section[end + 4..];
        content = content.strip_suffix(b"\r\n").unwrap_or(content);
        parts.push((name.to_string(), content.to_vec()));
    }
    parts
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn split<'a>(mut body: &'a [u8], delimiter: &[u8]) -> Vec<&'a [u8]> {
    let mut pieces = Vec::new();
    while let Some(at) = find(body, delimiter) {
        pieces.push(&body[..at]);
        body = &body[at + delimiter.len()..];
    }
    pieces
}

async fn content(State(shared): State<Arc<MockShared>>, Path(id): Path<String>) -> Response {
    let inner = shared.batches.lock();
    match inner.files.get(&id) {
        Some(bytes) => ([(header::CONTENT_TYPE, "application/jsonl")], bytes.clone()).into_response(),
        None => not_found("file"),
    }
}

async fn create(State(shared): State<Arc<MockShared>>, Json(request): Json<Value>) -> Response {
    let Some(input) = request.get("input_file_id").and_then(Value::as_str) else {
        return bad_request("input_file_id is required");
    };
    let operation = if shared.options.azure { "/chat/completions" } else { "/v1/chat/completions" };
    if request.get("endpoint").and_then(Value::as_str) != Some(operation) {
        return bad_request(&format!("endpoint must be {operation}"));
    }
    let mut inner = shared.batches.lock();
    let Some(file) = inner.files.get(input) else { return not_found("file") };
    let total = file.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() as u64;
    inner.next += 1;
    let batch = Batch {
        id: format!("batch_mock{}", inner.next),
        input_file_id: input.to_string(),
        created: SystemTime::now(),
        status: "validating",
        output_file_id: None,
        error_file_id: None,
        counts: (total, 0, 0),
    };
    inner.batches.insert(batch.id.clone(), batch.clone());
    Json(batch.to_json()).into_response()
}

async fn retrieve(State(shared): State<Arc<MockShared>>, Path(id): Path<String>) -> Response {
    let (batch, input) = {
        let inner = shared.batches.lock();
        let Some(batch) = inner.batches.get(&id).cloned() else { return not_found("batch") };
        let input = inner.files.get(&batch.input_file_id).cloned().unwrap_or_default();
        (batch, input)
    };
    let due = batch.created + Duration::from_millis(shared.options.batch_delay_ms);
    if batch.status != "validating" || SystemTime::now() < due {
        let mut shown = batch;
        if shown.status == "validating" {
            shown.status = "in_progress";
        }
        return Json(shown.to_json()).into_response();
    }
    // This look answers it; another meanwhile sees it finalizing.
    {
        let mut inner = shared.batches.lock();
        match inner.batches.get_mut(&id) {
            Some(b) if b.status == "validating" => b.status = "finalizing",
            Some(b) => return Json(b.to_json()).into_response(),
            None => return not_found("batch"),
        }
    }
    let done = run(&shared, &input).await;
    let mut inner = shared.batches.lock();
    let finished = {
        let mut file = |lines: &[String]| {
            (!lines.is_empty()).then(|| {
                inner.next += 1;
                let id = format!("file-mock{}", inner.next);
                inner.files.insert(
                    id.clone(),
                    lines.iter().map(|l| format!("{l}\n")).collect::<String>().into_bytes(),
                );
                id
            })
        };
        let output = file(&done.output);
        let errors = file(&done.errors);
        (output, errors)
    };
    let Some(batch) = inner.batches.get_mut(&id) else { return not_found("batch") };
    if batch.status == "finalizing" {
        batch.status = if done.expired { "expired" } else { "completed" };
        batch.output_file_id = finished.0;
        batch.error_file_id = finished.1;
        batch.counts.1 = done.output.len() as u64;
        batch.counts.2 = done.errors.len() as u64;
    }
    Json(batch.to_json()).into_response()
}

async fn cancel(State(shared): State<Arc<MockShared>>, Path(id): Path<String>) -> Response {
    let mut inner = shared.batches.lock();
    let Some(batch) = inner.batches.get_mut(&id) else { return not_found("batch") };
    if batch.status == "validating" {
        batch.status = "cancelled";
    }
    Json(batch.to_json()).into_response()
}

/// What a batch came to: its output and error lines, and whether it expired.
struct Done {
    output: Vec<String>,
    errors: Vec<String>,
    expired: bool,
}

/// Every line of `input` answered through the mock's chat completions.
async fn run(shared: &Arc<MockShared>, input: &[u8]) -> Done {
    let mut done = Done { output: Vec::new(), errors: Vec::new(), expired: false };
    // The batch runs as the account that created it: its lines carry the key.
    let mut headers = HeaderMap::new();
    if let Some(key) = &shared.options.require_key {
        let (name, value) = if shared.options.azure {
            (header::HeaderName::from_static("api-key"), key.clone())
        } else {
            (header::AUTHORIZATION, format!("Bearer {key}"))
        };
        if let Ok(value) = value.parse() {
            headers.insert(name, value);
        }
    }
    let text = String::from_utf8_lossy(input);
    for (n, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
        let request: Value = serde_json::from_str(line).unwrap_or(Value::Null);
        let custom_id = request.get("custom_id").cloned().unwrap_or(Value::Null);
        if shared.options.batch_expire_after.is_some_and(|after| n as u64 >= after) {
            done.expired = true;
            done.errors.push(
                json!({"id": format!("batch_req_{n}"), "custom_id": custom_id, "response": null,
                       "error": {"code": "batch_expired", "message": "This request could not be executed before the completion window expired."}})
                .to_string(),
            );
            continue;
        }
        let body = request.get("body").map(Value::to_string).unwrap_or_default();
        let response = super::chat_completions(
            State(Arc::clone(shared)),
            headers.clone(),
            axum::body::Bytes::from(body),
        )
        .await;
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap_or_default();
        let body: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let result = json!({"id": format!("batch_req_{n}"), "custom_id": custom_id,
                            "response": {"status_code": status, "request_id": format!("req_{n}"), "body": body},
                            "error": null})
        .to_string();
        if status == 200 { done.output.push(result) } else { done.errors.push(result) }
    }
    done
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_multipart_body_is_read_by_part() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--XyZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"b.jsonl\"\r\nContent-Type: application/jsonl\r\n\r\n{\"a\":1}\n{\"b\":2}\n\r\n--XyZ--\r\n";
        let parts = multipart(body, "XyZ");
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0], ("purpose".to_string(), b"batch".to_vec()));
        assert_eq!(parts[1].1, b"{\"a\":1}\n{\"b\":2}\n");
    }
}
