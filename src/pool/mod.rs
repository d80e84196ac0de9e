//! The scheduler every LLM call goes through. The cache comes first: an answer already bought
//! is never bought again, and identical calls in flight at the same time (duplicate wire copy
//! in a batch) are sent once and share the answer. A call that must be sent takes a concurrency
//! slot, then its budget from the RPM/TPM limiter (its prompt tokens plus its completion budget,
//! settled with the prompt tokens the server counted), then goes to the client; a new
//! answer is committed to the cache before the slot is released or the caller sees it.
//!
//! Each attempt reads as five steps: slot, budget, send, settle, decide. Whether and when to
//! try again is the client's [`RetryState`]; the pool only carries the decision out, and on
//! a run-wide stop (a refused key, an exhausted quota) sends nothing more. How many slots
//! there are, and how that number moves, is `concurrency`'s; what earlier runs on the same
//! cache taught about the endpoint (its forms, its answers' sizes, its limits) is `recall`'s.
//! A run over several routes has a lane per route, each with its own limiter and slots;
//! which lane a request takes, and how a failing one hands its work over, is `lane`'s.

mod claim;
mod concurrency;
mod defer;
mod dry;
mod error;
mod lane;
mod recall;
mod spend;
mod stats;

use claim::{CLAIM_MARGIN, CLAIM_POLL, Claim, InFlight};
pub(crate) use defer::{Defer, Round};
pub(crate) use dry::{Dry, DryRun};
pub(crate) use error::{CallError, Completion};
pub(crate) use stats::PoolStats;

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::de::DeserializeOwned;
use tokio::sync::watch;

use crate::cache::{Cache, Key, StoredAnswer, call_key};
use crate::chunk::TokenCounter;
use crate::client::{
    Attempt, ChatRequest, Client, ClientError, Decision, RetryPolicy, RetryState, WireRequest,
};
use crate::limiter::{Budget, LimiterStats};
use crate::price::Price;
use crate::record::Usage;
use crate::sizing::{BudgetRule, Sizing};

/// What a call in flight will produce; followers of the same key wait on it.
type Settled = Option<Result<StoredAnswer, CallError>>;

/// How the scheduler runs.
#[derive(Debug, Clone)]
pub(crate) struct PoolSettings {
    /// Requests in flight at once, to start with.
    pub(crate) concurrency: usize,
    /// Whether the user set `concurrency` (then it never changes); otherwise it grows to keep
    /// busy the budget the server's headers announce, or follows its latency (see
    /// [`Pool::after_attempt`]).
    pub(crate) pinned: bool,
    /// Requests- and tokens-per-minute budgets.
    pub(crate) budget: Budget,
    /// How patiently a failed request is tried again.
    pub(crate) retry: RetryPolicy,
    /// How completion budgets are chosen.
    pub(crate) budgets: BudgetRule,
    /// The model's price, when known: what the run spends (see `spend`).
    pub(crate) price: Option<Price>,
    /// The most the run may spend, in USD (`--max-cost`; needs a price).
    pub(crate) max_cost: Option<f64>,
    /// `--dry-run`: answers are imagined, not bought (see `dry`).
    pub(crate) dry: Option<Dry>,
}

/// Shared by every article of a run.
pub(crate) struct Pool {
    /// A lane per route, the first the one the cache keys name. Never empty.
    lanes: Vec<lane::Lane>,
    pinned: bool,
    /// Whether the settings gave limits (otherwise the server's are learned, and remembered).
    told: bool,
    retry: RetryPolicy,
    counter: TokenCounter,
    stats: PoolStats,
    /// Completion budgets from the answers seen.
    sizing: Sizing,
    /// What the run spent, and its cap.
    spend: spend::Spend,
    /// Under `--dry-run`: how answers are imagined, and what was counted.
    dry: Option<(Dry, dry::Counts)>,
    /// In a batch round: where requests go instead of the endpoint.
    defer: Option<Defer>,
    stopped: Mutex<Option<String>>,
    /// Set by a signal: no request starts any more; those on the wire finish.
    interrupted: AtomicBool,
    cache: Option<Cache>,
    /// The endpoint as the cache knows it (see [`Pool::new`]).
    endpoint_id: String,
    in_flight: Mutex<HashMap<Key, watch::Receiver<Settled>>>,
}

/// What one route of a run did, for the closing summary.
#[derive(Debug, Clone)]
pub(crate) struct RouteFacts {
    pub(crate) base_url: String,
    pub(crate) sent: u64,
    pub(crate) failed: u64,
    pub(crate) concurrency: usize,
    /// Why it was left out of the run, if it was.
    pub(crate) closed: Option<String>,
}

impl Pool {
    /// A pool sending through `clients` (one per route, the first the one cache keys name),
    /// looking answers up in `cache` and storing new ones there. `endpoint_id` names the
    /// endpoint in cache keys: the first route's base URL, or `mock` for the built-in mock
    /// (whose port changes every run while its answers do not).
    pub(crate) fn new(
        clients: Vec<Client>,
        settings: PoolSettings,
        counter: TokenCounter,
        cache: Option<Cache>,
        endpoint_id: String,
    ) -> Pool {
        assert!(!clients.is_empty(), "a pool needs a route");
        // A route's remembered limits are its own: its URL, and which of the URL's keys it
        // is when one URL is listed with several (never the key itself).
        let mut lanes: Vec<lane::Lane> = Vec::new();
        for client in clients {
            let id = if lanes.is_empty() { endpoint_id.clone() } else { client.base_url().to_string() };
            let twins = lanes.iter().filter(|l| l.client.base_url() == client.base_url()).count();
            let id = if twins > 0 { format!("{id}#{}", twins + 1) } else { id };
            lanes.push(lane::Lane::new(client, &settings, id));
        }
        let stats = PoolStats::new(lanes[0].client.received(), settings.price);
        stats.concurrency.store((settings.concurrency.max(1) * lanes.len()) as u64, Ordering::Relaxed);
        Pool {
            lanes,
            pinned: settings.pinned,
            told: settings.budget != Budget::default(),
            retry: settings.retry,
            counter,
            stats,
            sizing: Sizing::new(settings.budgets),
            spend: spend::Spend::new(settings.price, settings.max_cost),
            dry: settings.dry.map(|dry| (dry, dry::Counts::default())),
            defer: None,
            stopped: Mutex::new(None),
            interrupted: AtomicBool::new(false),
            cache,
            endpoint_id,
            in_flight: Mutex::new(HashMap::new()),
        }
    }

    /// Send nothing: write every request the cache lacks to `defer` (a batch round).
    pub(crate) fn deferring(mut self, defer: Defer) -> Pool {
        self.defer = Some(defer);
        self
    }

    pub(crate) fn cache(&self) -> Option<&Cache> {
        self.cache.as_ref()
    }

    /// The endpoint's identity in cache keys.
    pub(crate) fn endpoint_id(&self) -> &str {
        &self.endpoint_id
    }

    /// The first route's client: the forms, model and prompts every route shares.
    pub(crate) fn client(&self) -> &Client {
        &self.lanes[0].client
    }

    pub(crate) fn counter(&self) -> TokenCounter {
        self.counter
    }

    pub(crate) fn stats(&self) -> &PoolStats {
        &self.stats
    }

    /// What the limiters saw, over every route: counts added up, the first route's model.
    pub(crate) fn limiter_stats(&self) -> LimiterStats {
        let mut total = self.lanes[0].limiter.stats();
        for lane in &self.lanes[1..] {
            let stats = lane.limiter.stats();
            total.tokens_charged += stats.tokens_charged;
            total.tokens_refunded += stats.tokens_refunded;
            total.model = total.model.or(stats.model);
        }
        total
    }

    /// What each route did, when the run had several.
    pub(crate) fn routes(&self) -> Vec<RouteFacts> {
        if self.lanes.len() < 2 {
            return Vec::new();
        }
        self.lanes
            .iter()
            .map(|lane| RouteFacts {
                base_url: lane.client.base_url().to_string(),
                sent: lane.sent.load(Ordering::Relaxed),
                failed: lane.failed.load(Ordering::Relaxed),
                concurrency: lane.concurrency(),
                closed: lane.closed(),
            })
            .collect()
    }

    /// The model's price, when known.
    pub(crate) fn price(&self) -> Option<Price> {
        self.stats.price
    }

    /// Whether the run stopped at its spending cap (`--max-cost`).
    pub(crate) fn capped(&self) -> bool {
        self.spend.capped()
    }

    /// Why the run was stopped, if it was.
    pub(crate) fn stop_reason(&self) -> Option<String> {
        self.stopped.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// After a signal: no request starts from now on; those on the wire finish and are kept.
    pub(crate) fn interrupt(&self) {
        self.interrupted.store(true, Ordering::Release);
    }

    /// Why no request may start now: the run was stopped, or interrupted.
    fn halted(&self) -> Option<String> {
        self.stop_reason()
            .or_else(|| self.interrupted.load(Ordering::Acquire).then(|| "interrupted".to_string()))
    }

    fn stop(&self, reason: String) {
        self.stopped.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(reason);
    }

    /// The answer to `request` as a `T`: from the cache, from an identical call already in
    /// flight, or sent (and retried) until it parses or the policy gives up.
    pub(crate) async fn complete<T: DeserializeOwned>(
        &self,
        request: &ChatRequest<'_>,
    ) -> Result<Completion<T>, CallError> {
        let valid = |content: &str| parse_reply::<T>(content).map(drop);
        // A form can change at most three times (two response formats down, one budget field
        // over); each pass prepares the request in the run's current form.
        let mut passes = 0;
        let answer = loop {
            let wire = self.client().prepare(request);
            // The key is the request with its fixed budget: the answer does not depend on the
            // budget (one cut short is never accepted), and keys stay those of earlier runs.
            let key = call_key(&self.endpoint_id, wire.body());
            match self.answer(key, wire, &valid).await {
                Err(CallError::Reshaped) if passes < 3 => passes += 1,
                Err(CallError::Reshaped) => {
                    return Err(CallError::Stopped("the endpoint refused every form of the request".into()));
                }
                other => break other?,
            }
        };
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
        wire: WireRequest,
        valid: &(dyn Fn(&str) -> Result<(), ClientError> + Sync),
    ) -> Result<StoredAnswer, CallError> {
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
                    let outcome = self.lead(key, wire, valid).await;
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
        wire: WireRequest,
        valid: &(dyn Fn(&str) -> Result<(), ClientError> + Sync),
    ) -> Result<StoredAnswer, CallError> {
        // A dry run or a batch round buys nothing, nor claims: the cache is only looked in, and
        // what it lacks is imagined, or written to the batch file for a later round.
        if self.is_dry() || self.is_deferring() {
            if let Some(cache) = &self.cache
                && let Some(hit) = cache.lookup(key).await.filter(|hit| valid(&hit.content).is_ok())
            {
                cache.count_answer(true);
                self.stats.from_cache.fetch_add(1, Ordering::Relaxed);
                return Ok(hit);
            }
            if let Some(imagined) = self.imagine(key, &wire) {
                return Ok(imagined);
            }
            self.defer_request(key, &wire);
            return Err(CallError::Deferred);
        }
        let Some(cache) = &self.cache else { return self.send_until_valid(key, wire, valid).await };
        // Another run on the same cache may be buying this very answer: wait for it instead
        // of paying twice. Its claim ends with its answer, its failure, or its lease.
        let lease = self.client().timeout() + CLAIM_MARGIN;
        let from_cache = |hit: StoredAnswer| {
            cache.count_answer(true);
            self.stats.from_cache.fetch_add(1, Ordering::Relaxed);
            Ok(hit)
        };
        loop {
            // A cached answer that no longer parses (a reply type changed) is bought again.
            if let Some(hit) = cache.lookup(key).await.filter(|hit| valid(&hit.content).is_ok()) {
                return from_cache(hit);
            }
            if cache.claim(key, lease).await {
                // The run that held the claim may have stored its answer between the look and
                // the claim (storing it ends the claim): look once more before paying.
                if let Some(hit) = cache.lookup(key).await.filter(|hit| valid(&hit.content).is_ok()) {
                    cache.release(key).await;
                    return from_cache(hit);
                }
                cache.count_answer(false);
                break;
            }
            if let Some(reason) = self.halted() {
                return Err(CallError::Stopped(reason));
            }
            tokio::time::sleep(CLAIM_POLL).await;
        }
        let claim = Claim { cache: cache.clone(), key, settled: false };
        let outcome = self.send_until_valid(key, wire, valid).await;
        claim.settle(outcome.is_ok()).await;
        outcome
    }

    /// Commit a new answer to the cache before anyone uses it: a crash from here on loses
    /// nothing that was paid for.
    async fn commit(&self, key: Key, answer: &StoredAnswer) {
        let Some(cache) = &self.cache else { return };
        if let Err(e) = cache.store_answer(key, answer).await {
            self.stop(format!(
                "{e}. Nothing more is sent until the cache can be written: free space or fix the \
                 cache and rerun; every answer already bought is reused"
            ));
        }
    }

    /// Send `wire` until its answer passes `valid` or the retry state gives up. Tokens of
    /// failed attempts that the server billed count too.
    async fn send_until_valid(
        &self,
        key: Key,
        mut wire: WireRequest,
        valid: &(dyn Fn(&str) -> Result<(), ClientError> + Sync),
    ) -> Result<StoredAnswer, CallError> {
        let prompt_tokens = wire.prompt_estimate(&self.counter);
        let mut retry = RetryState::new(&self.retry);
        let mut usage = Usage::default();
        loop {
            if let Some(reason) = self.halted() {
                return Err(CallError::Stopped(reason));
            }
            // A retry renews this run's claim, whose lease covers one attempt.
            if retry.attempts() > 0
                && let Some(cache) = &self.cache
            {
                cache.claim(key, self.client().timeout() + CLAIM_MARGIN).await;
            }
            // Slot, on the lane with room. Then budget: a grant is charged just before its
            // request goes out, so that no grant waits for a slot under limits that may
            // meanwhile turn out stricter (a server's headers can lower them), and the server
            // counts what we do.
            let (lane, permit) = self.slot().await;
            // The budget is sized when the request is about to go, from every answer seen by
            // then (a request may have waited long for its slot).
            if retry.attempts() == 0 {
                wire.size_to(self.sizing.budget(wire.kind, wire.ceiling(), wire.input_tokens));
            }
            let cost = prompt_tokens.saturating_add(wire.max_tokens());
            let grant = lane.limiter.acquire(cost).await.map_err(CallError::TooLarge)?;
            // Checked again at the last moment: the waits for a slot and for budget may have
            // been long, and after a 401, an exhausted quota or a signal nothing else may go out.
            if let Some(reason) = self.halted() {
                grant.settle(0);
                return Err(CallError::Stopped(reason));
            }
            if lane.client.is_stale(&wire) {
                grant.settle(0);
                return Err(CallError::Reshaped);
            }
            // And the spending cap: the most this attempt could cost must fit, beside what was
            // spent and what the attempts on the wire could still cost.
            let spent = self.stats.spent().unwrap_or_default();
            let reservation = match self.spend.reserve(spent, prompt_tokens, wire.max_tokens()) {
                Ok(reservation) => reservation,
                Err(why) => {
                    grant.settle(0);
                    self.stop(why.clone());
                    return Err(CallError::Stopped(why));
                }
            };
            // Send.
            let (sent_at, sent_with) = (tokio::time::Instant::now(), lane.concurrency());
            // Settle what the server says of its limits as soon as it says it: a streamed
            // answer's headers come seconds before its end, and a run told nothing grows into
            // the limits they announce from then on, not a whole answer later.
            let on_headers = |server: &crate::limiter::ServerState| {
                grant.observe(server);
                let budget = lane.limiter.budget();
                if !self.pinned && budget != Budget::default() {
                    self.grow_into(lane, budget, "for the budget the server announced");
                }
            };
            let attempt = self.send(lane, &wire, &on_headers).await;
            let took = sent_at.elapsed();
            usage.requests += 1;
            self.stats.reserved_completion.fetch_add(u64::from(wire.max_tokens()), Ordering::Relaxed);
            if wire.is_sized() {
                self.sizing.count(matches!(attempt.result, Err(ClientError::Truncated { .. })));
            }
            let answer_tokens = attempt.result.as_ref().map_or(0, |r| r.completion_tokens);
            // Settle: the limiter learned what the server said (above), now what it counted;
            // the lane whether its route is there.
            self.after_attempt(lane, &attempt, took, sent_with);
            match attempt.charged(&wire) {
                Some(tokens) => grant.settle(tokens),
                None => drop(grant),
            }
            if attempt.result.as_ref().map_or_else(ClientError::endpoint_answered, |_| true) {
                lane.answered.store(true, Ordering::Release);
            }
            // A route that never answered and cannot work is closed below, not paused.
            let hopeless = !lane.answered.load(Ordering::Acquire)
                && attempt.result.as_ref().err().is_some_and(ClientError::misconfiguration);
            let others_open = self.lanes.len() > 1 && self.others_open(lane);
            if !hopeless && let Some(notice) = lane.after(attempt.result.as_ref().map(drop), others_open) {
                tracing::warn!("{notice}");
            }
            let accepted = self.accept(attempt, valid, &mut usage);
            drop(reservation);
            let error = match accepted {
                Ok(content) => {
                    self.sizing.observe(wire.kind, wire.input_tokens, answer_tokens);
                    if let Some(cache) = &self.cache {
                        let model = self.client().model();
                        cache.store_size(model, wire.kind.name(), wire.input_tokens, answer_tokens);
                    }
                    let answer = StoredAnswer { content, usage };
                    // The slot is held until the answer is committed, so that at most
                    // `concurrency` answers are ever paid for but not yet on disk.
                    self.commit(key, &answer).await;
                    drop(permit);
                    return Ok(answer);
                }
                Err(error) => error,
            };
            lane.failed.fetch_add(1, Ordering::Relaxed);
            drop(permit); // not held through a backoff
            // Decide. Before a route ever answered, an error that says it cannot work closes
            // it, and the request goes to another; on the last route it ends the run: the
            // requests already out are the only ones spent on it.
            tracing::debug!(attempt = retry.attempts() + 1, kind = error.kind(), "request failed: {error}");
            if let Some(notice) = lane.client.adapt(&error, &wire) {
                if let Some(notice) = notice {
                    tracing::warn!("{notice}");
                    self.remember_forms().await;
                }
                return Err(CallError::Reshaped);
            }
            if !lane.answered.load(Ordering::Acquire) && error.misconfiguration() {
                let why = lane.client.misconfigured(&error);
                if self.close_lane(lane, &why) {
                    continue;
                }
                self.stop(why);
                return Err(CallError::Failed { error, attempts: retry.attempts() + 1, usage });
            }
            match retry.decide(&error, &mut wire) {
                Decision::Retry(wait) => {
                    self.stats.count_retry(error.kind());
                    // A route that just went out of the rotation is not waited for: another
                    // takes the request now.
                    let moved =
                        lane.open(tokio::time::Instant::now()) == lane::Open::Down && self.others_open(lane);
                    if !moved {
                        tokio::time::sleep(wait).await;
                    }
                }
                Decision::GiveUp => {
                    return Err(CallError::Failed { error, attempts: retry.attempts(), usage });
                }
                Decision::StopRun => {
                    let why = match error {
                        ClientError::Status { status: 401 | 403, .. } => lane.client.misconfigured(&error),
                        _ => format!("{}: {error}", lane.client.base_url()),
                    };
                    // A refused key or an exhausted quota is that route's: others go on.
                    if self.close_lane(lane, &why) {
                        continue;
                    }
                    self.stop(match error {
                        ClientError::Status { status: 401 | 403, .. } => why,
                        _ => error.to_string(),
                    });
                    return Err(CallError::Failed { error, attempts: retry.attempts(), usage });
                }
            }
        }
    }

    /// One attempt on `lane`'s route, counted while it is on the wire.
    async fn send(
        &self,
        lane: &lane::Lane,
        wire: &WireRequest,
        on_headers: &(dyn Fn(&crate::limiter::ServerState) + Sync),
    ) -> Attempt {
        self.stats.sent.fetch_add(1, Ordering::Relaxed);
        lane.sent.fetch_add(1, Ordering::Relaxed);
        self.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        lane.in_flight.fetch_add(1, Ordering::Relaxed);
        let attempt = lane.client.send(wire, on_headers).await;
        lane.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
        attempt
    }

    /// The content of an answer that passes `valid`, with what it cost added to `usage` (an
    /// answer is billed whether or not it is valid).
    fn accept(
        &self,
        attempt: Attempt,
        valid: &(dyn Fn(&str) -> Result<(), ClientError> + Sync),
        usage: &mut Usage,
    ) -> Result<String, ClientError> {
        let response = attempt.result?;
        usage.prompt_tokens += response.prompt_tokens;
        usage.completion_tokens += response.completion_tokens;
        self.stats.prompt_tokens.fetch_add(response.prompt_tokens, Ordering::Relaxed);
        self.stats.completion_tokens.fetch_add(response.completion_tokens, Ordering::Relaxed);
        self.stats.cached_tokens.fetch_add(response.cached_tokens, Ordering::Relaxed);
        valid(&response.content)?;
        Ok(response.content)
    }
}

/// Parse the model's JSON, tolerating a code fence around it (models without structured
/// outputs often add one).
pub(crate) fn parse_reply<T: DeserializeOwned>(content: &str) -> Result<T, ClientError> {
    let trimmed = content.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|rest| rest.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(unfenced.trim()).map_err(|e| ClientError::InvalidReply(e.to_string()))
}

#[cfg(test)]
mod tests;
#[cfg(test)]
pub(crate) use tests::mock_pool;
