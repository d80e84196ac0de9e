//! Client-side pacing for OpenAI-compatible endpoints with requests-per-minute
//! (RPM) and tokens-per-minute (TPM) limits.
//!
//! # Model
//! Both budgets are GCRA token buckets that start full (a burst of a whole
//! minute of budget, like OpenAI and the mock server) and refill continuously at
//! `limit / 60` per second.
//!
//! * **Requests** are admitted by a [`governor`] `RateLimiter` built with
//!   `Quota::per_minute(rpm)` on a [`TokioClock`], so it follows tokio's
//!   (pausable) clock. Governor cannot *peek* ("when would one cell fit?") or
//!   tell how much burst is left without charging, which the scheduler needs to
//!   plan overtaking and to tighten to the server's `remaining_requests`. So a
//!   small exact mirror ([`Bucket`], same GCRA arithmetic) is charged in
//!   lock-step with governor and used for planning; governor stays the
//!   authority at admission time (if it disagrees, its `earliest_possible` is
//!   used as the wake-up time).
//! * **Tokens** use our own exact [`Bucket`] only: governor has no way to give
//!   cells back, and `Grant::settle` must refund unused completion budget (and
//!   charge over-use), and `observe` must be able to consume budget down to the
//!   server's `remaining_tokens`. The bucket keeps GCRA's "theoretical arrival
//!   time" in integer units scaled by the rate, so all times are exact (no
//!   float drift; "6000 tokens then 100 more waits exactly 1 s" holds).
//!
//! # Waiting: no polling
//! Each waiter computes the exact instant it could be admitted and sleeps with
//! `tokio::time::sleep_until`, racing a `Notify` that is fired whenever the
//! state changes in a way that can make someone earlier (grant, refund,
//! cancellation, server observation). There is no periodic tick.
//!
//! # Fairness policy (no head-of-line blocking, no starvation)
//! Waiters are queued FIFO. The **head** is granted as soon as it fits. A
//! **later** waiter `W` may overtake the head `H` only if
//! 1. `W` fits right now, and
//! 2. after charging `W`, `H`'s projected ready time is still
//!    `<= max(H.deadline, H.ready_now)`, where
//!    `H.deadline = H.arrival + refill(H)` and `refill(H)` is the time the
//!    buckets need to refill `H`'s tokens (and one request) from empty.
//!
//! So small requests flow around a big one while it has slack, and once the
//! head's projected time would pass its deadline, the head effectively reserves
//! the budget: from then on only overtakers that do not delay it at all pass.
//! **Bound:** a request is granted no later than
//! `max(arrival + refill(tokens), its ready time when it became head)`,
//! plus any delay caused by external events (server tightening / retry-after
//! via `observe`, over-charges via `settle`). Only the head is protected;
//! a waiter further back is protected once it becomes head, so its bound is
//! the sum of the bounds of those ahead of it.
//!
//! # Server feedback
//! `observe` only ever tightens: a server `limit_*` below ours (or where we
//! have none) becomes our rate; local budget is consumed down to the server's
//! `remaining_*` and refills from there; `retry_after` holds all grants until
//! that instant. Holds do not consume budget, so when a hold ends sending
//! resumes at the full rate (no fixed 15 s stall). `reset_*` is not used as a
//! hold: OpenAI's reset is the time until the bucket is *full* again.
//!
//! # Buckets and windows
//! Not every server counts a bucket: LiteLLM's proxy and most Redis-backed
//! limiters count a fixed 60 s window, others a sliding one, and a bucket's
//! pace (a burst, then an even refill) meets a 429 on the first request past
//! the burst, each costing up to a minute's `retry-after`. `inference` tells
//! them apart from the answers: a reset far longer than a bucket needs to
//! refill what is spent means a window, two such ends measured apart that
//! agree a fixed one, and a 429 the bucket did not expect (under a known
//! limit) a window too. From then on both budgets are counted as windows
//! (`meter`): each grant counts for a minute, or, in a fixed window whose end
//! the server announced, until that end.
//!
//! # Cancel safety
//! Budget is charged only inside the lock in the same poll that returns the
//! `Grant`; a waiter dropped earlier just removes itself from the queue (drop
//! guard) and wakes the others.
//!
//! # Known limitations
//! * tokio's timer has 1 ms resolution: a wake-up can be up to 1 ms late. This
//!   does not waste budget unless the bucket is full at that moment (GCRA keeps
//!   the theoretical schedule), so batch totals still hit the floor exactly.
//! * A provider whose `limit_*` headers are per day rather than per minute
//!   is taken as per minute; that only matters when it is below the settings.
//! * Every state change wakes all waiters to re-plan (O(waiters) per event);
//!   fine for a worker pool of tens, not meant for 10^5 concurrent waiters.
//! * A `Grant` dropped without `settle` keeps its full charge.
//!
//! # Layout
//! `bucket` holds the GCRA arithmetic and the clock, `meter` a budget counted as a bucket or as
//! a window, `inference` what the server's answers tell of how it counts, and this file the
//! scheduler: the queue, its fairness policy, the server's feedback and [`Grant`]. The headers behind a [`ServerState`] are parsed
//! by the client (`client::header`).

mod bucket;
mod inference;
#[cfg(test)]
mod inference_tests;
mod meter;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::time::Instant;

use bucket::Bucket;
pub(crate) use bucket::TokioClock;
pub(crate) use meter::Model;
use meter::{MARGIN, Meter, PERIOD, adopted};

/// What a response's headers said about the server's limits (parsed by the client, which
/// owns every header).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ServerState {
    pub(crate) limit_requests: Option<u32>,
    pub(crate) remaining_requests: Option<u32>,
    pub(crate) reset_requests: Option<Duration>,
    pub(crate) limit_tokens: Option<u32>,
    pub(crate) remaining_tokens: Option<u32>,
    pub(crate) reset_tokens: Option<Duration>,
    pub(crate) retry_after: Option<Duration>,
    /// The response was a 429 for a rate limit.
    pub(crate) rate_limited: bool,
}

/// No limit at all by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Budget {
    /// requests per minute, None = unlimited
    pub(crate) rpm: Option<NonZeroU32>,
    /// tokens per minute, None = unlimited
    pub(crate) tpm: Option<NonZeroU32>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum LimitError {
    #[error(
        "this request needs {needed} tokens but the whole tokens-per-minute budget is {budget}; it can never be sent as is"
    )]
    TooLarge { needed: u32, budget: u32 },
}

#[derive(Debug, Clone, Default)]
pub(crate) struct LimiterStats {
    pub(crate) requests: u64,
    pub(crate) tokens_charged: u64,
    pub(crate) tokens_refunded: u64,
    pub(crate) waited: Duration,
    pub(crate) server_tightened: u64,
    /// How the server counts its budgets, as far as its answers told.
    pub(crate) model: Option<Model>,
}

type Gov = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

struct Waiter {
    tokens: u32,
    arrived: i128,
}

struct Inner {
    tokens: Option<Meter>,
    /// Planning mirror of `gov` (see module doc).
    reqs: Option<Meter>,
    gov: Option<Gov>,
    /// Share of each budget kept in reserve, in thousandths (see `Bucket::slack`).
    reserve_permille: u32,
    /// Not-before instants (ns since origin) from the server.
    hold_all: i128,
    /// Grants not yet settled or dropped (by sequence number: their tokens and when they were
    /// issued): requests on their way, which a server's `remaining_*` may not count yet.
    open: BTreeMap<u64, (u32, i128)>,
    next_grant: u64,
    queue: BTreeMap<u64, Waiter>,
    next_id: u64,
    stats: LimiterStats,
    /// How the server counts (see `meter`), and since when a limit was known: a 429 for a
    /// request granted before then says nothing about the model.
    model: Model,
    known_since: Option<i128>,
    /// Grants of the last window (ns, tokens): the record a window is built from when the
    /// server turns out to count one.
    recent: VecDeque<(i128, u32)>,
    /// The last end of a window a server announced, and when it was measured: two measured
    /// apart that agree make a fixed window.
    window_end: Option<(i128, i128)>,
}

enum Plan {
    /// Granted, with the grant's sequence number.
    Granted(u64),
    /// Sleep until this instant (ns since origin), or until notified.
    At(i128),
    /// Protected head blocks us; only a state change can help.
    Blocked,
}

impl Inner {
    fn ready(&self, tokens: u32, tb: Option<&Meter>, rb: Option<&Meter>) -> i128 {
        let mut r = self.hold_all;
        if let Some(b) = tb {
            r = r.max(b.ready_at(tokens));
        }
        if let Some(b) = rb {
            r = r.max(b.ready_at(1));
        }
        r
    }

    fn decide(&mut self, id: u64, now: i128, origin: Instant) -> Plan {
        let me = self.queue[&id].tokens;
        let r_me = self.ready(me, self.tokens.as_ref(), self.reqs.as_ref());
        if r_me > now {
            return Plan::At(r_me);
        }
        let (&head_id, head) = self.queue.first_key_value().expect("we are queued");
        if head_id != id {
            let r_head = self.ready(head.tokens, self.tokens.as_ref(), self.reqs.as_ref());
            let refill = self
                .tokens
                .as_ref()
                .map_or(0, |b| b.refill_ns(head.tokens))
                .max(self.reqs.as_ref().map_or(0, |b| b.refill_ns(1)));
            let allowed_until = (head.arrived + refill).max(r_head);
            let mut tb = self.tokens.clone();
            let mut rb = self.reqs.clone();
            if let Some(b) = tb.as_mut() {
                b.charge(me, now);
            }
            if let Some(b) = rb.as_mut() {
                b.charge(1, now);
            }
            if self.ready(head.tokens, tb.as_ref(), rb.as_ref()) > allowed_until {
                return Plan::Blocked;
            }
        }
        if let Some(gov) = &self.gov
            && let Err(not_until) = gov.check()
        {
            // Governor is the authority on requests; trust its wake-up time.
            let at = origin + not_until.earliest_possible();
            return Plan::At(at.saturating_duration_since(origin).as_nanos() as i128);
        }
        if let Some(b) = self.reqs.as_mut() {
            b.charge(1, now);
        }
        if let Some(b) = self.tokens.as_mut() {
            b.charge(me, now);
        }
        self.queue.remove(&id);
        if self.model == Model::Bucket {
            while self.recent.front().is_some_and(|&(at, _)| at + PERIOD + MARGIN <= now) {
                self.recent.pop_front();
            }
            self.recent.push_back((now, me));
        }
        self.stats.requests += 1;
        self.stats.tokens_charged += me as u64;
        self.next_grant += 1;
        self.open.insert(self.next_grant, (me, now));
        Plan::Granted(self.next_grant)
    }
}

struct Shared {
    inner: Mutex<Inner>,
    notify: Notify,
    origin: Instant,
    tpm: Option<NonZeroU32>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the arithmetic state
        // half-updated in a dangerous way; keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn now_ns(&self) -> i128 {
        Instant::now().saturating_duration_since(self.origin).as_nanos() as i128
    }
    fn instant(&self, ns: i128) -> Instant {
        self.origin + Duration::from_nanos(ns.max(0).min(u64::MAX as i128) as u64)
    }
}

/// Shared as `Arc<Limiter>` by the worker pool.
pub(crate) struct Limiter {
    shared: Arc<Shared>,
}

/// Removes a waiter that is dropped before being granted (cancel safety).
struct WaitGuard<'a> {
    shared: &'a Shared,
    id: u64,
    done: bool,
}

impl Drop for WaitGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.shared.lock().queue.remove(&self.id);
            // The head may have changed: let the others re-plan.
            self.shared.notify.notify_waiters();
        }
    }
}

impl Limiter {
    /// A limiter that grants exactly the budget (the arithmetic the tests pin).
    #[cfg(test)]
    pub(crate) fn new(budget: Budget) -> Limiter {
        Limiter::with_reserve(budget, 0)
    }

    /// A limiter that keeps `reserve_permille` thousandths of each budget (at least one unit)
    /// unused, so that the drift between our clock and the server's never meets a 429.
    pub(crate) fn with_reserve(budget: Budget, reserve_permille: u32) -> Limiter {
        let origin = Instant::now();
        let gov = budget
            .rpm
            .map(|rpm| RateLimiter::direct_with_clock(Quota::per_minute(rpm), TokioClock { origin }));
        Limiter {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    tokens: budget.tpm.map(|cap| Meter::Bucket(Bucket::new(cap, reserve_permille))),
                    reqs: budget.rpm.map(|cap| Meter::Bucket(Bucket::new(cap, reserve_permille))),
                    reserve_permille,
                    gov,
                    hold_all: 0,
                    open: BTreeMap::new(),
                    next_grant: 0,
                    queue: BTreeMap::new(),
                    next_id: 0,
                    stats: LimiterStats::default(),
                    model: Model::Bucket,
                    known_since: (budget.rpm.is_some() || budget.tpm.is_some()).then_some(0),
                    recent: VecDeque::new(),
                    window_end: None,
                }),
                notify: Notify::new(),
                origin,
                tpm: budget.tpm,
            }),
        }
    }

    /// Wait until one request costing `tokens` may be sent, then charge it.
    pub(crate) async fn acquire(&self, tokens: u32) -> Result<Grant, LimitError> {
        if let Some(tpm) = self.shared.tpm
            && tokens > tpm.get()
        {
            return Err(LimitError::TooLarge { needed: tokens, budget: tpm.get() });
        }
        let shared = &*self.shared;
        let start = Instant::now();
        let id = {
            let mut inner = shared.lock();
            let id = inner.next_id;
            inner.next_id += 1;
            inner.queue.insert(id, Waiter { tokens, arrived: shared.now_ns() });
            id
        };
        let mut guard = WaitGuard { shared, id, done: false };
        loop {
            // Register for notifications *before* looking at the state so a
            // change between the check and the wait is not missed.
            let notified = shared.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let decision = {
                let mut inner = shared.lock();
                let d = inner.decide(id, shared.now_ns(), shared.origin);
                if let Plan::Granted(_) = d {
                    inner.stats.waited += start.elapsed();
                }
                d
            };
            match decision {
                Plan::Granted(seq) => {
                    guard.done = true;
                    // Budget moved: the next head / overtakers must re-plan.
                    shared.notify.notify_waiters();
                    return Ok(Grant { shared: self.shared.clone(), tokens, seq });
                }
                Plan::At(ns) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(shared.instant(ns)) => {}
                        _ = &mut notified => {}
                    }
                }
                Plan::Blocked => notified.await,
            }
        }
    }

    /// Feed back what the server reported (any response). Only tightens:
    /// - a `limit_*` lower than ours (or any, where we were given none) becomes our rate, so
    ///   that a server stricter than the settings, or settings left out, still get paced
    ///   instead of collecting 429s;
    /// - our budget is consumed down to the server's `remaining_*`; it then refills at the
    ///   rate, which is what OpenAI-style buckets do. (Their `reset_*` is the time until the
    ///   bucket is full again, not until the next request fits: holding until it would idle
    ///   most of a minute.)
    /// - `retry_after` holds all grants until that instant.
    ///
    /// Without the grant whose answer this is (see [`Grant::observe`]), the figures are taken
    /// as measured now.
    #[cfg(test)]
    pub(crate) fn observe(&self, state: &ServerState) {
        observe_after(&self.shared, None, state);
    }

    /// Requests waiting for budget: a route whose budget is spent for now.
    pub(crate) fn queued(&self) -> usize {
        self.shared.lock().queue.len()
    }

    pub(crate) fn stats(&self) -> LimiterStats {
        self.shared.lock().stats.clone()
    }

    /// The limits paced to now: the settings, or the server's where it advertised stricter
    /// ones or none were set.
    pub(crate) fn budget(&self) -> Budget {
        let inner = self.shared.lock();
        let cap =
            |b: Option<&Meter>| b.and_then(|b| NonZeroU32::new(u32::try_from(b.cap()).unwrap_or(u32::MAX)));
        Budget { rpm: cap(inner.reqs.as_ref()), tpm: cap(inner.tokens.as_ref()) }
    }
}

/// [`Limiter::observe`] for a response to the request of grant `after`: a server measures its
/// `remaining_*` when that request arrives, about when it was granted, so its figures are
/// applied as of then.
fn observe_after(shared: &Shared, after: Option<u64>, state: &ServerState) {
    let now = shared.now_ns();
    let dur_ns = |d: Duration| d.as_nanos().min(i64::MAX as u128) as i128;
    let mut inner = shared.lock();
    let mut tightened = false;
    // Requests on their way (grants still open), for a bucket built from a server's figures.
    let (open_requests, open_tokens) =
        inner.open.values().fold((0u64, 0u64), |(n, t), (tokens, _)| (n + 1, t + *tokens as u64));
    // The server measured when the answered request arrived, about when it was granted; its
    // figures are applied as of then, so that the refill since is not thrown away.
    let measured = after.and_then(|seq| inner.open.get(&seq)).map_or(now, |(_, issued)| *issued);
    if let Some(bucket) = adopted(
        inner.tokens.as_ref(),
        state.limit_tokens,
        state.remaining_tokens,
        open_tokens,
        inner.reserve_permille,
        measured,
        now,
    ) {
        inner.tokens = Some(bucket);
        inner.known_since.get_or_insert(now);
        tightened = true;
    }
    if let Some(meter) = adopted(
        inner.reqs.as_ref(),
        state.limit_requests,
        state.remaining_requests,
        open_requests,
        inner.reserve_permille,
        measured,
        now,
    ) {
        // Governor, the authority on a bucket's requests, starts from the same state as its
        // mirror. It cannot count a window: then the window is the authority.
        inner.gov = match &meter {
            Meter::Bucket(bucket) => {
                let limit = NonZeroU32::new(bucket.cap as u32).expect("a limit of at least 1");
                let gov = RateLimiter::direct_with_clock(
                    Quota::per_minute(limit),
                    TokioClock { origin: shared.origin },
                );
                let in_use = limit.get().saturating_sub(bucket.available(now) + bucket.slack as u32);
                if let Some(n) = NonZeroU32::new(in_use) {
                    let _ = gov.check_n(n);
                }
                Some(gov)
            }
            Meter::Window(_) => None,
        };
        inner.reqs = Some(meter);
        inner.known_since.get_or_insert(now);
        tightened = true;
    }
    // What the server had left when it measured. Our bucket holds every grant, including those
    // the server had not seen yet, so its figure only tightens ours when it counted more than
    // we did (a stricter server, or other clients on the same key). Subtracting the grants
    // issued after the answered one would count twice those that reached the server first:
    // concurrent requests arrive in any order.
    if let Some(rem) = state.remaining_tokens
        && let Some(b) = inner.tokens.as_mut()
    {
        tightened |= b.tighten(rem, measured);
    }
    if let Some(rem) = state.remaining_requests
        && let Some(b) = inner.reqs.as_mut()
    {
        let before = b.available(now);
        if b.tighten(rem, measured) {
            tightened = true;
            // Consume the difference in governor as well, so the authority and the mirror
            // stay in lock-step.
            let after = b.available(now);
            if let (Some(gov), Some(n)) = (&inner.gov, NonZeroU32::new(before.saturating_sub(after))) {
                let _ = gov.check_n(n);
            }
        }
    }
    if let Some(ra) = state.retry_after {
        inner.hold_all = inner.hold_all.max(now + dur_ns(ra));
        tightened = true;
    }
    tightened |= inner.infer(state, measured, now);
    // A refused request was not counted: a window gives it back (a bucket's GCRA cannot say
    // which of its cells was this one, and refills it soon anyway).
    if state.rate_limited
        && after.is_some()
        && let Some(Meter::Window(w)) = inner.reqs.as_mut()
    {
        w.refund(1, measured);
    }
    if tightened {
        inner.stats.server_tightened += 1;
        drop(inner);
        // Stricter state never makes a sleeper earlier, but it can change
        // who may overtake whom; re-planning is cheap.
        shared.notify.notify_waiters();
    }
}

/// Proof that budget was charged. Dropping it without `settle` keeps the
/// full charge (the conservative choice). After a 429 the request used no
/// tokens server-side: `settle(0)` gives them back.
#[must_use = "settle the grant with the usage the server reported"]
pub(crate) struct Grant {
    shared: Arc<Shared>,
    tokens: u32,
    /// Issue order: tells which grants went out after this one.
    seq: u64,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant").field("tokens", &self.tokens).finish()
    }
}

impl Drop for Grant {
    /// Settled or not, the grant is no longer on its way.
    fn drop(&mut self) {
        self.shared.lock().open.remove(&self.seq);
    }
}

impl Grant {
    /// [`Limiter::observe`] for the response to this grant's request, whose figures the server
    /// measured when the request arrived.
    pub(crate) fn observe(&self, state: &ServerState) {
        observe_after(&self.shared, Some(self.seq), state);
    }

    /// Reconcile with the server-reported usage (prompt + completion).
    pub(crate) fn settle(self, actual_tokens: u32) {
        let shared = &*self.shared;
        let now = shared.now_ns();
        let mut inner = shared.lock();
        if actual_tokens < self.tokens {
            let issued = inner.open.get(&self.seq).map_or(now, |&(_, issued)| issued);
            let credited =
                inner.tokens.as_mut().map_or(0, |m| m.refund(self.tokens - actual_tokens, issued, now));
            inner.stats.tokens_refunded += credited;
            drop(inner);
            if credited > 0 {
                shared.notify.notify_waiters();
            }
        } else if actual_tokens > self.tokens {
            let extra = actual_tokens - self.tokens;
            // May push the bucket into debt: later grants wait for it.
            if let Some(b) = inner.tokens.as_mut() {
                b.charge(extra, now);
            }
            inner.stats.tokens_charged += extra as u64;
        }
    }
}
