//! OpenAI's files and batches endpoints, as OpenAI, Azure OpenAI (its v1 API as OpenAI's, its
//! classic API under the resource's `/openai` with an `api-version`) and LiteLLM's proxy serve
//! them: a batch file uploaded (`POST /files`, purpose `batch`), a batch created over it
//! (`POST /batches`, a 24-hour window), looked at (`GET /batches/{id}`), cancelled
//! (`POST /batches/{id}/cancel`), and its output and error files downloaded
//! (`GET /files/{id}/content`) to disk as they stream. Errors read and scrubbed as a chat
//! request's are.

use std::path::Path;

use async_openai::config::Config as _;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::provider::UrlShape;
use super::{Client, ClientError};

/// The operation a batch runs, as its file's lines (`url`) and the batch (`endpoint`) name it:
/// OpenAI's path, or Azure's classic API's, which names it without the version.
pub(crate) fn batch_url(shape: &UrlShape) -> &'static str {
    match shape {
        UrlShape::OpenAi => "/v1/chat/completions",
        UrlShape::AzureDeployment { .. } => "/chat/completions",
    }
}

/// A provider batch as it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchInfo {
    pub(crate) id: String,
    /// validating, in_progress, finalizing, completed, failed, expired, cancelling, cancelled.
    pub(crate) status: String,
    pub(crate) output_file_id: Option<String>,
    pub(crate) error_file_id: Option<String>,
    /// Requests in all, answered, failed.
    pub(crate) counts: (u64, u64, u64),
}

impl BatchInfo {
    /// Whether the batch will change no more: its files are final.
    pub(crate) fn ended(&self) -> bool {
        matches!(self.status.as_str(), "completed" | "failed" | "expired" | "cancelled")
    }

    fn from_json(value: &Value) -> Result<BatchInfo, ClientError> {
        let text = |field: &str| value.get(field).and_then(Value::as_str).map(str::to_string);
        let count = |field: &str| {
            value.pointer(&format!("/request_counts/{field}")).and_then(Value::as_u64).unwrap_or(0)
        };
        Ok(BatchInfo {
            id: text("id").ok_or_else(|| ClientError::Body("the batch has no id".into()))?,
            status: text("status").unwrap_or_else(|| "unknown".into()),
            output_file_id: text("output_file_id"),
            error_file_id: text("error_file_id"),
            counts: (count("total"), count("completed"), count("failed")),
        })
    }
}

impl Client {
    /// Upload the batch file at `path`; its file id.
    pub(crate) async fn upload_batch_file(&self, path: &Path) -> Result<String, ClientError> {
        // A batch file is at most 200 MB (see `pool::defer`): read whole.
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| ClientError::Connection(format!("{}: {e}", path.display())))?;
        let boundary = format!("ko2en-{:016x}", fastrand::u64(..));
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "batch.jsonl".into());
        let mut body = format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"purpose\"\r\n\r\nbatch\r\n--{boundary}\r\n\
             Content-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: application/jsonl\r\n\r\n"
        )
        .into_bytes();
        body.extend_from_slice(&bytes);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let request = self
            .streaming
            .post(self.endpoint.service_url("/files"))
            .query(&self.endpoint.query())
            .headers(self.endpoint.headers())
            .header(reqwest::header::CONTENT_TYPE, format!("multipart/form-data; boundary={boundary}"))
            .body(body);
        let value = self.call(request).await?;
        value
            .get("id")
            .and_then(Value::as_str)
            .map(str::to_string)
            .ok_or_else(|| ClientError::Body("the file has no id".into()))
    }

    /// Create a batch of chat completions over the uploaded file `file_id`.
    pub(crate) async fn create_batch(&self, file_id: &str) -> Result<BatchInfo, ClientError> {
        let body = json!({"input_file_id": file_id, "endpoint": batch_url(self.endpoint.shape()), "completion_window": "24h",
                          "metadata": {"made_by": "ko2en"}});
        let request = self.json_post("/batches").json(&body);
        BatchInfo::from_json(&self.call(request).await?)
    }

    /// The batch `id` as it stands.
    pub(crate) async fn batch(&self, id: &str) -> Result<BatchInfo, ClientError> {
        let request = self
            .streaming
            .get(self.endpoint.service_url(&format!("/batches/{id}")))
            .query(&self.endpoint.query())
            .headers(self.endpoint.headers());
        BatchInfo::from_json(&self.call(request).await?)
    }

    /// Ask the provider to cancel batch `id`.
    pub(crate) async fn cancel_batch(&self, id: &str) -> Result<BatchInfo, ClientError> {
        BatchInfo::from_json(&self.call(self.json_post(&format!("/batches/{id}/cancel"))).await?)
    }

    /// Download file `id` to `to`, chunk by chunk as it arrives.
    pub(crate) async fn download(&self, id: &str, to: &Path) -> Result<(), ClientError> {
        let request = self
            .streaming
            .get(self.endpoint.service_url(&format!("/files/{id}/content")))
            .query(&self.endpoint.query())
            .headers(self.endpoint.headers());
        let mut response =
            request.send().await.map_err(|e| self.scrub(ClientError::Connection(e.to_string())))?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = response.text().await.unwrap_or_default();
            return Err(self.scrub(ClientError::from_status(status, &body, None)));
        }
        let io = |e: std::io::Error| ClientError::Connection(format!("{}: {e}", to.display()));
        let mut file = tokio::fs::File::create(to).await.map_err(io)?;
        while let Some(chunk) =
            response.chunk().await.map_err(|e| self.scrub(ClientError::Body(e.to_string())))?
        {
            file.write_all(&chunk).await.map_err(io)?;
        }
        file.flush().await.map_err(io)
    }

    fn json_post(&self, path: &str) -> reqwest::RequestBuilder {
        self.streaming
            .post(self.endpoint.service_url(path))
            .query(&self.endpoint.query())
            .headers(self.endpoint.headers())
    }

    /// Send `request`; its JSON answer, or the error as a chat request's would be.
    async fn call(&self, request: reqwest::RequestBuilder) -> Result<Value, ClientError> {
        let response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.scrub(ClientError::Connection(e.to_string())))?;
        let status = response.status().as_u16();
        let body = response.text().await.map_err(|e| self.scrub(ClientError::Body(e.to_string())))?;
        if !(200..300).contains(&status) {
            return Err(self.scrub(ClientError::from_status(status, &body, None)));
        }
        serde_json::from_str(&body).map_err(|_| self.scrub(ClientError::not_an_answer(&body, "not JSON")))
    }
}
