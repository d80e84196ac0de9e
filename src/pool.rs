//! The scheduler every LLM call goes through: budget first (the RPM/TPM limiter, charged with
//! the request's prompt tokens plus its completion budget, settled with the prompt tokens the
//! server counted), then a concurrency slot, then the client — with ko2en's retry policy around it:
//! backoff with jitter or the server's Retry-After for what may succeed later, a larger budget
//! for truncated answers, nothing for what never can, and a run-wide stop when the key or the
//! quota is bad, so that nothing more is sent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::chunk::TokenCounter;
use crate::client::{ChatRequest, Client, ClientError, Recovery, RetryPolicy};
use crate::limiter::{Budget, LimitError, Limiter, ServerState};
use crate::record::Usage;

/// Why a call failed in the end.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("{error} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
    Failed { error: ClientError, attempts: u32 },
    #[error("{0}")]
    TooLarge(LimitError),
    #[error("not sent: the run was stopped ({0})")]
    Stopped(String),
}

impl CallError {
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Failed { error, .. } => error.kind(),
            CallError::TooLarge(_) => "too_large",
            CallError::Stopped(_) => "stopped",
        }
    }
}

/// A parsed answer and what it cost.
#[derive(Debug, Clone)]
pub struct Completion<T> {
    pub reply: T,
    pub usage: Usage,
}

/// Counters of a run, for progress and the closing summary.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// HTTP requests sent (attempts, retries included).
    pub sent: AtomicU64,
    /// Requests on the wire right now.
    pub in_flight: AtomicU64,
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    /// Retries, by the kind of error that caused them.
    retries: Mutex<BTreeMap<&'static str, u64>>,
}

impl PoolStats {
    pub fn retries(&self) -> BTreeMap<&'static str, u64> {
        self.retries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn total_retries(&self) -> u64 {
        self.retries().values().sum()
    }

    fn count_retry(&self, kind: &'static str) {
        *self.retries.lock().unwrap_or_else(|e| e.into_inner()).entry(kind).or_default() += 1;
    }
}

/// Shared by every article of a run.
pub struct Pool {
    client: Client,
    limiter: Limiter,
    budget: Budget,
    permits: Arc<Semaphore>,
    retry: RetryPolicy,
    counter: TokenCounter,
    stats: PoolStats,
    stopped: Mutex<Option<String>>,
}

impl Pool {
    pub fn new(
        client: Client,
        concurrency: usize,
        budget: Budget,
        retry: RetryPolicy,
        counter: TokenCounter,
    ) -> Pool {
        Pool {
            client,
            // 2% in reserve: see `Limiter::with_reserve`.
            limiter: Limiter::with_reserve(budget, 20),
            budget,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            retry,
            counter,
            stats: PoolStats::default(),
            stopped: Mutex::new(None),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn counter(&self) -> TokenCounter {
        self.counter
    }

    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }

    pub fn budget(&self) -> Budget {
        self.budget
    }

    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// Why the run was stopped, if it was.
    pub fn stop_reason(&self) -> Option<String> {
        self.stopped.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn stop(&self, reason: String) {
        self.stopped.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(reason);
    }

    /// Tokens a request will be charged before it is sent: its messages as counted by the
    /// run's encoding, the per-message framing, and its completion budget.
    fn cost(&self, body: &Value) -> u32 {
        let prompt: usize = body["messages"]
            .as_array()
            .map(|messages| {
                messages
                    .iter()
                    .map(|m| m["content"].as_str().map(|c| self.counter.count(c)).unwrap_or(0) + 4)
                    .sum()
            })
            .unwrap_or(0);
        (prompt as u32 + 3).saturating_add(Client::max_tokens_of(body))
    }

    /// Send `request` until it yields a `T` or the policy gives up. Tokens of failed attempts
    /// that the server billed count too.
    pub async fn complete<T: DeserializeOwned>(
        &self,
        request: &ChatRequest<'_>,
    ) -> Result<Completion<T>, CallError> {
        let mut body = self.client.body(request);
        let mut usage = Usage::default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(reason) = self.stop_reason() {
                return Err(CallError::Stopped(reason));
            }
            let grant = self.limiter.acquire(self.cost(&body)).await.map_err(CallError::TooLarge)?;
            let outcome = {
                let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
                // Checked again at the last moment: the waits for budget and for a slot may
                // have been long, and a 401 or exhausted quota means nothing else may go out.
                if let Some(reason) = self.stop_reason() {
                    grant.settle(0);
                    return Err(CallError::Stopped(reason));
                }
                self.stats.sent.fetch_add(1, Ordering::Relaxed);
                self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
                let outcome = self.client.send(&body).await;
                self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
                outcome
            };
            if let Some(meta) = &outcome.meta {
                self.limiter.observe(&ServerState::from_headers(|name| meta.header(name)));
            }
            usage.requests += 1;
            let error = match outcome.result {
                Ok(response) => {
                    // Reconciled the way OpenAI-style servers count a request against the TPM
                    // budget: their own prompt count plus the whole completion budget asked
                    // for, used or not. Refunding unused completion tokens would overdraw them.
                    let charged = response.prompt_tokens.saturating_add(Client::max_tokens_of(&body) as u64);
                    grant.settle(charged.min(u32::MAX as u64) as u32);
                    usage.prompt_tokens += response.prompt_tokens;
                    usage.completion_tokens += response.completion_tokens;
                    self.stats.prompt_tokens.fetch_add(response.prompt_tokens, Ordering::Relaxed);
                    self.stats.completion_tokens.fetch_add(response.completion_tokens, Ordering::Relaxed);
                    match parse_reply::<T>(&response.content) {
                        Ok(reply) => return Ok(Completion { reply, usage }),
                        Err(e) => e,
                    }
                }
                Err(e) => {
                    // A rate-limited request was not counted by the server: give its tokens
                    // back. Other failures keep their charge, to stay on the safe side.
                    if matches!(e, ClientError::Status { status: 429, .. }) {
                        grant.settle(0);
                    } else {
                        drop(grant);
                    }
                    e
                }
            };
            tracing::debug!(attempt, kind = error.kind(), "request failed: {error}");
            match error.recovery() {
                Recovery::StopRun => {
                    self.stop(error.to_string());
                    return Err(CallError::Failed { error, attempts: attempt });
                }
                Recovery::GiveUp => return Err(CallError::Failed { error, attempts: attempt }),
                _ if attempt >= self.retry.max_attempts => {
                    return Err(CallError::Failed { error, attempts: attempt });
                }
                Recovery::RetryLarger => {
                    let current = Client::max_tokens_of(&body);
                    if current >= self.retry.max_completion_tokens {
                        return Err(CallError::Failed { error, attempts: attempt });
                    }
                    let larger = current.saturating_mul(2).min(self.retry.max_completion_tokens);
                    for field in ["max_tokens", "max_completion_tokens"] {
                        if body.get(field).is_some() {
                            body[field] = Value::from(larger);
                        }
                    }
                    self.stats.count_retry(error.kind());
                }
                Recovery::Retry => {
                    self.stats.count_retry(error.kind());
                    // A 429's pacing is the limiter's job (it has seen the headers); the
                    // request itself waits for the server's hint or a backoff.
                    tokio::time::sleep(self.retry.delay(attempt, error.retry_after())).await;
                }
            }
        }
    }
}

/// Parse the model's JSON, tolerating a code fence around it (models without structured
/// outputs often add one).
pub fn parse_reply<T: DeserializeOwned>(content: &str) -> Result<T, ClientError> {
    let trimmed = content.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(unfenced.trim()).map_err(|e| ClientError::InvalidReply(e.to_string()))
}

/// A pool talking to a fresh in-process mock (the server must outlive the pool's use).
#[cfg(test)]
pub(crate) async fn mock_pool(
    response_format: crate::config::ResponseFormat,
    concurrency: usize,
) -> (crate::mock::MockServer, Pool) {
    let server =
        crate::mock::MockServer::start("127.0.0.1:0".parse().expect("an address"), Default::default())
            .await
            .expect("the mock starts");
    let endpoint = crate::config::EndpointSettings {
        base_url: server.base_url(),
        api_key: None,
        model: "m".into(),
        mock: true,
        mock_options: Default::default(),
        response_format,
        temperature: None,
        timeout: std::time::Duration::from_secs(10),
    };
    let client = Client::new(&endpoint, &server.base_url()).expect("a client");
    let counter = TokenCounter::new(crate::chunk::Encoding::O200kBase);
    let pool = Pool::new(client, concurrency, Budget::default(), RetryPolicy::default(), counter);
    (server, pool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::TranslationReply;

    #[test]
    fn fenced_json_is_accepted_and_broken_json_is_an_invalid_reply() {
        let fenced = "```json\n{\"translation_en\": \"Hello\"}\n```";
        assert_eq!(parse_reply::<TranslationReply>(fenced).unwrap().translation_en, "Hello");
        assert!(matches!(
            parse_reply::<TranslationReply>("{\"translation_en\": "),
            Err(ClientError::InvalidReply(_))
        ));
    }
}
