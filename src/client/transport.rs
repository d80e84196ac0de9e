//! The HTTP layer under async-openai: a plain reqwest service (so async-openai's own retry is
//! off and the retry policy stays ko2en's) wrapped in a tower service that records each
//! response's status and rate-limit headers for the request that caused it. async-openai does
//! not expose response headers; the limiter needs them.

use std::sync::{Arc, Mutex};

use async_openai::error::OpenAIError;
use async_openai::middleware::{HttpRequestFactory, ReqwestService};
use futures::future::BoxFuture;

use super::header::{ResponseMeta, is_kept};

/// A slot the caller owns for the duration of one request.
pub(crate) type MetaSlot = Arc<Mutex<Option<ResponseMeta>>>;

tokio::task_local! {
    /// Set around each request by the client, read by `HeaderCapture` in the same task.
    pub(crate) static META_SLOT: MetaSlot;
}

/// Records response metadata into the task's `META_SLOT`, if one is set.
#[derive(Clone)]
pub(crate) struct HeaderCapture {
    inner: ReqwestService,
}

impl HeaderCapture {
    pub(crate) fn new(client: reqwest::Client) -> Self {
        Self { inner: ReqwestService::new(client) }
    }
}

impl tower::Service<HttpRequestFactory> for HeaderCapture {
    type Response = reqwest::Response;
    type Error = OpenAIError;
    type Future = BoxFuture<'static, Result<reqwest::Response, OpenAIError>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        tower::Service::poll_ready(&mut self.inner, cx)
    }

    fn call(&mut self, request: HttpRequestFactory) -> Self::Future {
        let slot = META_SLOT.try_with(Arc::clone).ok();
        let future = tower::Service::call(&mut self.inner, request);
        Box::pin(async move {
            let response = future.await?;
            if let Some(slot) = slot {
                let headers = response
                    .headers()
                    .iter()
                    .filter(|(name, _)| is_kept(name.as_str()))
                    .filter_map(|(name, value)| {
                        Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
                    })
                    .collect();
                let meta = ResponseMeta { status: response.status().as_u16(), headers };
                *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(meta);
            }
            Ok(response)
        })
    }
}
