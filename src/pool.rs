//! The scheduler every LLM call goes through. The cache comes first: an answer already bought
//! is never bought again, and identical calls in flight at the same time (duplicate wire copy
//! in a batch) are sent once and share the answer. A call that must be sent takes a concurrency
//! slot, then its budget from the RPM/TPM limiter (its prompt tokens plus its completion budget,
//! settled with the prompt tokens the server counted), then goes to the client; a new
//! answer is committed to the cache before the slot is released or the caller sees it.
//!
//! Around each call, ko2en's retry policy: backoff with jitter or the server's Retry-After for
//! what may succeed later, a larger budget for truncated answers, nothing for what never can,
//! and a run-wide stop when the key or the quota is bad, so that nothing more is sent.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::{Semaphore, watch};

use crate::cache::{Answer, Cache, Key, call_key};
use crate::chunk::TokenCounter;
use crate::client::{ChatRequest, Client, ClientError, Recovery, RetryPolicy};
use crate::limiter::{Budget, LimitError, Limiter};
use crate::record::Usage;

/// Why a call failed in the end.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CallError {
    /// `usage` is what the failed call (and, once [`CallError::with_usage`] added them, the
    /// article's other calls) cost: failed attempts are billed too.
    #[error("{error} (after {attempts} attempt{})", if *attempts == 1 { "" } else { "s" })]
    Failed { error: ClientError, attempts: u32, usage: Usage },
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

    /// What was spent before the failure (nothing for a call never sent).
    pub fn usage(&self) -> Usage {
        match self {
            CallError::Failed { usage, .. } => *usage,
            _ => Usage::default(),
        }
    }

    /// The same failure, also carrying `spent` on the article's other calls, so that the
    /// record of a failed article still says what it cost.
    pub fn with_usage(self, spent: Usage) -> CallError {
        match self {
            CallError::Failed { error, attempts, mut usage } => {
                usage += spent;
                CallError::Failed { error, attempts, usage }
            }
            other => other,
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

/// Counters of a run, for progress and the closing summary.
#[derive(Debug, Default)]
pub struct PoolStats {
    /// HTTP requests sent (attempts, retries included).
    pub sent: AtomicU64,
    /// Requests on the wire right now.
    pub in_flight: AtomicU64,
    /// Tokens billed in this run.
    pub prompt_tokens: AtomicU64,
    pub completion_tokens: AtomicU64,
    /// Calls answered from the cache.
    pub from_cache: AtomicU64,
    /// Calls that waited for an identical call in flight instead of sending their own.
    pub shared: AtomicU64,
    /// Requests that found every concurrency slot taken and waited for one.
    pub slot_waits: AtomicU64,
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
    permits: Arc<Semaphore>,
    concurrency: usize,
    retry: RetryPolicy,
    counter: TokenCounter,
    stats: PoolStats,
    stopped: Mutex<Option<String>>,
    cache: Option<Cache>,
    /// The endpoint as the cache knows it: its base URL, or `mock` for the built-in mock
    /// (whose port changes every run while its answers do not).
    endpoint_id: String,
    in_flight: Mutex<HashMap<Key, watch::Receiver<Outcome>>>,
}

impl Pool {
    pub fn new(
        client: Client,
        concurrency: usize,
        budget: Budget,
        retry: RetryPolicy,
        counter: TokenCounter,
    ) -> Pool {
        let endpoint_id = client.base_url().to_string();
        Pool {
            client,
            // 2% in reserve: see `Limiter::with_reserve`.
            limiter: Limiter::with_reserve(budget, 20),
            permits: Arc::new(Semaphore::new(concurrency.max(1))),
            concurrency: concurrency.max(1),
            retry,
            counter,
            stats: PoolStats::default(),
            stopped: Mutex::new(None),
            cache: None,
            endpoint_id,
            in_flight: Mutex::new(HashMap::new()),
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

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn counter(&self) -> TokenCounter {
        self.counter
    }

    pub fn stats(&self) -> &PoolStats {
        &self.stats
    }

    /// Requests allowed in flight at once.
    pub fn concurrency(&self) -> usize {
        self.concurrency
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
        let reply = parse_reply::<T>(&answer.content).map_err(|error| CallError::Failed {
            error,
            attempts: answer.usage.requests as u32,
            usage: answer.usage,
        })?;
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
                        self.stats.shared.fetch_add(1, Ordering::Relaxed);
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
            self.stats.from_cache.fetch_add(1, Ordering::Relaxed);
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

    /// Send `body` until its answer passes `valid` or the policy gives up. Tokens of failed
    /// attempts that the server billed count too.
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
            // The slot first, then the budget: a grant is charged just before its request goes
            // out, so that no grant waits for a slot under limits that may meanwhile turn out
            // stricter (a server's headers can lower them), and the server counts what we do.
            let permit = match self.permits.try_acquire() {
                Ok(permit) => permit,
                Err(_) => {
                    self.stats.slot_waits.fetch_add(1, Ordering::Relaxed);
                    self.permits.acquire().await.expect("the semaphore is never closed")
                }
            };
            let grant = self.limiter.acquire(self.cost(&body)).await.map_err(CallError::TooLarge)?;
            // Checked again at the last moment: the waits for a slot and for budget may have
            // been long, and after a 401 or an exhausted quota nothing else may go out.
            if let Some(reason) = self.stop_reason() {
                grant.settle(0);
                return Err(CallError::Stopped(reason));
            }
            self.stats.sent.fetch_add(1, Ordering::Relaxed);
            self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
            let outcome = self.client.send(&body).await;
            self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
            if let Some(meta) = &outcome.meta {
                grant.observe(&meta.server_state(std::time::SystemTime::now()));
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
                    match valid(&response.content) {
                        Ok(()) => {
                            let answer = Answer { content: response.content, usage };
                            // The slot is held until the answer is committed, so that at most
                            // `concurrency` answers are ever paid for but not yet on disk.
                            self.commit(key, &answer).await;
                            drop(permit);
                            return Ok(answer);
                        }
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
            drop(permit); // not held through a backoff
            tracing::debug!(attempt, kind = error.kind(), "request failed: {error}");
            match error.recovery() {
                Recovery::StopRun => {
                    self.stop(error.to_string());
                    return Err(CallError::Failed { error, attempts: attempt, usage });
                }
                Recovery::GiveUp => return Err(CallError::Failed { error, attempts: attempt, usage }),
                _ if attempt >= self.retry.max_attempts => {
                    return Err(CallError::Failed { error, attempts: attempt, usage });
                }
                Recovery::RetryLarger => {
                    let current = Client::max_tokens_of(&body);
                    if current >= self.retry.max_completion_tokens {
                        return Err(CallError::Failed { error, attempts: attempt, usage });
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

/// A pool talking to a fresh in-process mock (the server must outlive the pool's use), with
/// `cache` if given.
#[cfg(test)]
pub(crate) async fn mock_pool(
    response_format: crate::config::ResponseFormat,
    concurrency: usize,
    cache: Option<Cache>,
) -> (crate::mock::MockServer, Pool) {
    let server =
        crate::mock::MockServer::start("127.0.0.1:0".parse().expect("an address"), Default::default())
            .await
            .expect("the mock starts");
    let endpoint = crate::config::EndpointSettings {
        base_url: server.base_url(),
        api_key: None,
        model: crate::mock::MOCK_MODEL.into(),
        mock: true,
        mock_options: Default::default(),
        response_format,
        temperature: None,
        timeout: std::time::Duration::from_secs(30),
    };
    let client = Client::new(&endpoint, &server.base_url()).expect("a client");
    let counter = TokenCounter::new(crate::chunk::Encoding::O200kBase);
    let pool = Pool::new(client, concurrency, Budget::default(), RetryPolicy::default(), counter)
        .with_cache(cache, "mock");
    (server, pool)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ResponseFormat;
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
        let (mock, pool) = mock_pool(ResponseFormat::JsonSchema, 5, None).await;
        let (messages, schema) = translation_request();
        let request = ChatRequest { messages: &messages, schema: &schema, max_tokens: 512 };
        let calls = (0..5).map(|_| pool.complete::<TranslationReply>(&request));
        let answers = futures::future::join_all(calls).await;
        assert!(answers.iter().all(|a| a.is_ok()), "{answers:?}");
        assert_eq!(mock.requests_received(), 1);
        let stats = pool.stats();
        assert_eq!((stats.sent.load(Ordering::Relaxed), stats.shared.load(Ordering::Relaxed)), (1, 4));
        // Every copy reports what the one answer cost.
        let usages: Vec<Usage> = answers.iter().map(|a| a.as_ref().unwrap().usage).collect();
        assert!(usages.windows(2).all(|w| w[0] == w[1]) && usages[0].requests == 1);
    }

    #[tokio::test]
    async fn an_answer_is_in_the_cache_before_the_caller_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::open(&dir.path().join("c.sqlite"), false).unwrap();
        let (mock, pool) = mock_pool(ResponseFormat::JsonSchema, 5, Some(cache.clone())).await;
        let (messages, schema) = translation_request();
        let request = ChatRequest { messages: &messages, schema: &schema, max_tokens: 512 };
        let first = pool.complete::<TranslationReply>(&request).await.unwrap();
        let key = call_key("mock", &pool.client().body(&request));
        assert_eq!(cache.answer(key).await.map(|a| a.usage), Some(first.usage));
        let again = pool.complete::<TranslationReply>(&request).await.unwrap();
        assert_eq!(again.reply, first.reply);
        assert_eq!((mock.requests_received(), pool.stats().from_cache.load(Ordering::Relaxed)), (1, 1));
    }
}
