//! The scheduler every LLM call goes through: bounded concurrency, then the client, with
//! ko2en's own retry policy (exponential backoff with jitter, the server's Retry-After honoured,
//! a larger budget for truncated answers, no retry for what can never succeed) and a run-wide
//! stop when the key or the quota is bad, so that nothing more is sent.
//!
//! The cache comes first: an answer already bought is never bought again, and a new one is
//! committed to the cache before the caller sees it. Identical calls in flight at the same time
//! (duplicate wire copy in a batch) are sent once and share the answer.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};

use crate::cache::{Answer, Cache, Key, call_key};
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

/// What a call in flight will produce; followers of the same key wait on it.
type Outcome = Option<Result<Answer, CallError>>;

/// What the pool did in a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Requests that reached the endpoint, failed attempts included.
    pub requests_sent: u64,
    /// Tokens billed for them.
    pub paid: Usage,
    /// Calls answered from the cache.
    pub from_cache: u64,
    /// Calls that waited for an identical call in flight instead of sending their own.
    pub shared: u64,
}

/// Shared by every article of a run.
pub struct Pool {
    client: Client,
    permits: Arc<Semaphore>,
    retry: RetryPolicy,
    stopped: Mutex<Option<String>>,
    cache: Option<Cache>,
    /// The endpoint as the cache knows it: its base URL, or `mock` for the built-in mock
    /// (whose port changes every run while its answers do not).
    endpoint_id: String,
    in_flight: Mutex<HashMap<Key, watch::Receiver<Outcome>>>,
    requests_sent: AtomicU64,
    paid: Mutex<Usage>,
    from_cache: AtomicU64,
    shared: AtomicU64,
}

impl Pool {
    pub fn new(client: Client, concurrency: usize, retry: RetryPolicy) -> Pool {
        let endpoint_id = client.base_url().to_string();
        Pool {
            client,
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            retry,
            stopped: Mutex::new(None),
            cache: None,
            endpoint_id,
            in_flight: Mutex::new(HashMap::new()),
            requests_sent: AtomicU64::new(0),
            paid: Mutex::new(Usage::default()),
            from_cache: AtomicU64::new(0),
            shared: AtomicU64::new(0),
        }
    }

    /// Look answers up in `cache` and store new ones there; `endpoint_id` names the endpoint
    /// in cache keys.
    pub fn with_cache(mut self, cache: Option<Cache>, endpoint_id: &str) -> Pool {
        self.cache = cache;
        self.endpoint_id = endpoint_id.to_string();
        self
    }

    pub fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// The endpoint's identity in cache keys.
    pub fn endpoint_id(&self) -> &str {
        &self.endpoint_id
    }

    pub fn stats(&self) -> PoolStats {
        PoolStats {
            requests_sent: self.requests_sent.load(Ordering::Relaxed),
            paid: *self.paid.lock().unwrap_or_else(|e| e.into_inner()),
            from_cache: self.from_cache.load(Ordering::Relaxed),
            shared: self.shared.load(Ordering::Relaxed),
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

    /// The answer to `request` as a `T`: from the cache, from an identical call already in
    /// flight, or sent (and retried) until it parses or the policy gives up.
    pub async fn complete<T: DeserializeOwned>(
        &self,
        request: &ChatRequest<'_>,
    ) -> Result<Completion<T>, CallError> {
        let body = self.client.body(request);
        let key = call_key(&self.endpoint_id, &body);
        let valid = |content: &str| parse_reply::<T>(content).map(drop);
        let answer = self.answer(key, body, &valid).await?;
        let reply = parse_reply::<T>(&answer.content)
            .map_err(|error| CallError::Failed { error, attempts: answer.usage.requests as u32 })?;
        Ok(Completion { reply, usage: answer.usage })
    }

    /// One answer per key at a time: the first caller leads (cache, then endpoint); callers
    /// with the same key meanwhile wait for its outcome. A leader that is cancelled hands the
    /// lead to a waiting caller.
    async fn answer(
        &self,
        key: Key,
        body: Value,
        valid: &(dyn Fn(&str) -> Result<(), ClientError> + Sync),
    ) -> Result<Answer, CallError> {
        loop {
            let lead = {
                let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
                match in_flight.get(&key) {
                    Some(rx) => Err(rx.clone()),
                    None => {
                        let (tx, rx) = watch::channel(None);
                        in_flight.insert(key, rx);
                        Ok(tx)
                    }
                }
            };
            match lead {
                Ok(tx) => {
                    let _entry = InFlight { pool: self, key };
                    let outcome = self.lead(key, body, valid).await;
                    tx.send_replace(Some(outcome.clone()));
                    return outcome;
                }
                Err(mut rx) => {
                    if let Ok(outcome) = rx.wait_for(Option::is_some).await {
                        self.shared.fetch_add(1, Ordering::Relaxed);
                        return outcome.clone().expect("waited for Some");
                    }
                }
            }
        }
    }

    async fn lead(
        &self,
        key: Key,
        body: Value,
        valid: &(dyn Fn(&str) -> Result<(), ClientError> + Sync),
    ) -> Result<Answer, CallError> {
        // A cached answer that no longer parses (a reply type changed) is bought again.
        if let Some(cache) = &self.cache
            && let Some(hit) = cache.answer(key).await.filter(|hit| valid(&hit.content).is_ok())
        {
            self.from_cache.fetch_add(1, Ordering::Relaxed);
            return Ok(hit);
        }
        self.send_until_valid(key, body, valid).await
    }

    /// Commit a new answer to the cache before anyone uses it: a crash from here on loses
    /// nothing that was paid for.
    async fn commit(&self, key: Key, answer: &Answer) {
        let Some(cache) = &self.cache else { return };
        if let Err(e) = cache.store_answer(key, answer).await {
            self.stop(format!(
                "{e}; nothing more is sent, so that no answer is bought and then lost. \
                 Free space or fix the cache and rerun: every answer already cached is reused"
            ));
        }
    }

    /// Send `body` until its answer passes `valid` or the policy gives up. Usage of failed
    /// attempts that the server billed is counted too.
    async fn send_until_valid(
        &self,
        key: Key,
        mut body: Value,
        valid: &(dyn Fn(&str) -> Result<(), ClientError> + Sync),
    ) -> Result<Answer, CallError> {
        let mut usage = Usage::default();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if let Some(reason) = self.stop_reason() {
                return Err(CallError::Stopped(reason));
            }
            let permit = self.permits.acquire().await.expect("the semaphore is never closed");
            let outcome = self.client.send(&body).await;
            usage.requests += 1;
            self.requests_sent.fetch_add(1, Ordering::Relaxed);
            let error = match outcome.result {
                Ok(response) => {
                    usage.prompt_tokens += response.prompt_tokens;
                    usage.completion_tokens += response.completion_tokens;
                    *self.paid.lock().unwrap_or_else(|e| e.into_inner()) += Usage {
                        prompt_tokens: response.prompt_tokens,
                        completion_tokens: response.completion_tokens,
                        requests: 0,
                    };
                    match valid(&response.content) {
                        Ok(()) => {
                            let answer = Answer { content: response.content, usage };
                            // The permit is held until the answer is committed, so that at most
                            // `concurrency` answers are ever paid for but not yet on disk.
                            self.commit(key, &answer).await;
                            drop(permit);
                            return Ok(answer);
                        }
                        Err(e) => e,
                    }
                }
                Err(e) => e,
            };
            drop(permit); // not held through a backoff
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

/// Removes a leader's in-flight entry however the leader ends (done or cancelled).
struct InFlight<'a> {
    pool: &'a Pool,
    key: Key,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.pool.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
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

    async fn mock_pool(cache: Option<Cache>) -> (crate::mock::MockServer, Pool) {
        use crate::config::{EndpointSettings, ResponseFormat};
        let mock =
            crate::mock::MockServer::start("127.0.0.1:0".parse().unwrap(), Default::default()).await.unwrap();
        let endpoint = EndpointSettings {
            base_url: mock.base_url(),
            api_key: None,
            model: crate::mock::MOCK_MODEL.into(),
            mock: true,
            response_format: ResponseFormat::JsonSchema,
            temperature: None,
            timeout: Duration::from_secs(30),
        };
        let client = Client::new(&endpoint, &mock.base_url()).unwrap();
        let pool = Pool::new(client, 5, RetryPolicy::default()).with_cache(cache, "mock");
        (mock, pool)
    }

    fn translation_request() -> (crate::prompt::Messages, crate::client::ReplySchema) {
        let messages = crate::prompt::Prompts::load(None)
            .unwrap()
            .translation(
                &crate::prompt::TranslationInput {
                    title: None,
                    text: "정부가 새 계획을 발표했다.",
                    context: None,
                    glossary: &[],
                },
                None,
            )
            .unwrap();
        let schema = crate::client::ReplySchema {
            name: "passage_translation",
            schema: crate::record::strict_schema::<TranslationReply>(),
        };
        (messages, schema)
    }

    #[tokio::test]
    async fn identical_calls_in_flight_are_sent_once() {
        let (mock, pool) = mock_pool(None).await;
        let (messages, schema) = translation_request();
        let request = ChatRequest { messages: &messages, schema: &schema, max_tokens: 512 };
        let calls = (0..5).map(|_| pool.complete::<TranslationReply>(&request));
        let answers = futures::future::join_all(calls).await;
        assert!(answers.iter().all(|a| a.is_ok()), "{answers:?}");
        assert_eq!(mock.requests_received(), 1);
        assert_eq!((pool.stats().requests_sent, pool.stats().shared), (1, 4));
        // Every copy reports what the one answer cost.
        let usages: Vec<Usage> = answers.iter().map(|a| a.as_ref().unwrap().usage).collect();
        assert!(usages.windows(2).all(|w| w[0] == w[1]) && usages[0].requests == 1);
    }

    #[tokio::test]
    async fn an_answer_is_in_the_cache_before_the_caller_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.sqlite"), false).unwrap();
        let (mock, pool) = mock_pool(Some(cache.clone())).await;
        let (messages, schema) = translation_request();
        let request = ChatRequest { messages: &messages, schema: &schema, max_tokens: 512 };
        let first = pool.complete::<TranslationReply>(&request).await.unwrap();
        let key = call_key("mock", &pool.client().body(&request));
        assert_eq!(cache.answer(key).await.map(|a| a.usage), Some(first.usage));
        let again = pool.complete::<TranslationReply>(&request).await.unwrap();
        assert_eq!(again.reply, first.reply);
        assert_eq!((mock.requests_received(), pool.stats().from_cache), (1, 1));
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
