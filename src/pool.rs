//! The scheduler every LLM call goes through: bounded concurrency, then the client, with
//! ko2en's own retry policy (exponential backoff with jitter, the server's Retry-After honoured,
//! a larger budget for truncated answers, no retry for what can never succeed) and a run-wide
//! stop when the key or the quota is bad, so that nothing more is sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Semaphore;

use crate::client::{ChatRequest, Client, ClientError, Recovery};
use crate::record::Usage;

/// How often and how patiently a request is retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff; doubled each retry, with full jitter.
    pub base_delay: Duration,
    /// Longest single backoff.
    pub max_delay: Duration,
    /// Largest completion budget a truncated answer may be retried with.
    pub max_completion_tokens: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_completion_tokens: 16_384,
        }
    }
}

impl RetryPolicy {
    /// Backoff before attempt `attempt + 1` (attempt counts from 1): the server's hint when it
    /// gave one, else exponential with full jitter so that many failed requests do not return
    /// in lockstep.
    pub fn delay(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        if let Some(hint) = hint {
            return hint.min(self.max_delay);
        }
        let ceiling =
            self.base_delay.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(self.max_delay);
        ceiling.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// Why a call failed in the end.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    #[error("{error} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
    Failed { error: ClientError, attempts: u32 },
    #[error("not sent: the run was stopped ({0})")]
    Stopped(String),
}

impl CallError {
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Failed { error, .. } => error.kind(),
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

/// Shared by every article of a run.
pub struct Pool {
    client: Client,
    permits: Arc<Semaphore>,
    retry: RetryPolicy,
    stopped: Mutex<Option<String>>,
}

impl Pool {
    pub fn new(client: Client, concurrency: usize, retry: RetryPolicy) -> Pool {
        Pool {
            client,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            retry,
            stopped: Mutex::new(None),
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Why the run was stopped, if it was.
    pub fn stop_reason(&self) -> Option<String> {
        self.stopped.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn stop(&self, reason: String) {
        let mut stopped = self.stopped.lock().unwrap_or_else(|e| e.into_inner());
        stopped.get_or_insert(reason);
    }

    /// Send `request` until it yields a `T` or the policy gives up. Usage of failed attempts
    /// that the server billed is counted too.
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
            let outcome = {
                let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
                self.client.send(&body).await
            };
            usage.requests += 1;
            let error = match outcome.result {
                Ok(response) => {
                    usage.prompt_tokens += response.prompt_tokens;
                    usage.completion_tokens += response.completion_tokens;
                    match parse_reply::<T>(&response.content) {
                        Ok(reply) => return Ok(Completion { reply, usage }),
                        Err(e) => e,
                    }
                }
                Err(e) => e,
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
                    let larger = (current.saturating_mul(2)).min(self.retry.max_completion_tokens);
                    for field in ["max_tokens", "max_completion_tokens"] {
                        if body.get(field).is_some() {
                            body[field] = Value::from(larger);
                        }
                    }
                }
                Recovery::Retry => tokio::time::sleep(self.retry.delay(attempt, error.retry_after())).await,
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

    #[test]
    fn backoff_grows_is_capped_and_follows_the_servers_hint() {
        let policy = RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            ..Default::default()
        };
        for attempt in 1..10 {
            let d = policy.delay(attempt, None);
            let ceiling = Duration::from_secs(1 << (attempt - 1).min(3));
            assert!(d <= ceiling && d >= ceiling / 2, "attempt {attempt}: {d:?}");
        }
        assert_eq!(policy.delay(1, Some(Duration::from_millis(1500))), Duration::from_millis(1500));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(600))), Duration::from_secs(8));
    }
}
