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
//!   The HTTP-date form of `Retry-After` is not parsed.
//! * Every state change wakes all waiters to re-plan (O(waiters) per event);
//!   fine for a worker pool of tens, not meant for 10^5 concurrent waiters.
//! * A `Grant` dropped without `settle` keeps its full charge.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::Notify;
use tokio::time::Instant;

/// Nanoseconds per minute: one budget unit (token or request) is worth this
/// many "scaled" time units in [`Bucket`].
const UNIT: i128 = 60_000_000_000;

/// No limit at all by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Budget {
    /// requests per minute, None = unlimited
    pub rpm: Option<NonZeroU32>,
    /// tokens per minute, None = unlimited
    pub tpm: Option<NonZeroU32>,
}

/// What a response's headers said. Build it with [`ServerState::from_headers`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerState {
    pub limit_requests: Option<u32>,
    pub remaining_requests: Option<u32>,
    pub reset_requests: Option<Duration>,
    pub limit_tokens: Option<u32>,
    pub remaining_tokens: Option<u32>,
    pub reset_tokens: Option<Duration>,
    pub retry_after: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    #[error(
        "this request needs {needed} tokens but the whole tokens-per-minute budget is {budget}; it can never be sent as is"
    )]
    TooLarge { needed: u32, budget: u32 },
}

#[derive(Debug, Clone, Default)]
pub struct LimiterStats {
    pub requests: u64,
    pub tokens_charged: u64,
    pub tokens_refunded: u64,
    pub waited: Duration,
    pub server_tightened: u64,
}

/// Parse OpenAI's reset durations: "1s", "6m0s", "1.5s", "120ms", "2h3m",
/// also "us"/"µs"/"ns" and a bare number (seconds, as in `Retry-After`).
pub fn parse_reset(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<f64>() {
        return Duration::try_from_secs_f64(secs).ok();
    }
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
        if num_len == 0 {
            return None;
        }
        let value: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit() || c == '.').unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += value * scale;
    }
    Duration::try_from_secs_f64(total).ok()
}

fn parse_count(s: &str) -> Option<u32> {
    let s = s.trim();
    s.parse::<u32>().ok().or_else(|| {
        // Some proxies send "149984.0"; negative or absurd values are ignored.
        let f: f64 = s.parse().ok()?;
        (f.is_finite() && f >= 0.0).then(|| f.min(u32::MAX as f64) as u32)
    })
}

impl ServerState {
    /// Parse all rate-limit headers by (lower-case) name. `get` should look
    /// headers up case-insensitively, as HTTP header maps do.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> ServerState {
        let count = |name: &str| get(name).and_then(parse_count);
        let dur = |name: &str| get(name).and_then(parse_reset);
        // retry-after-ms is more precise than Retry-After (whole seconds; an
        // HTTP-date form is not parsed and yields None).
        let retry_after = get("retry-after-ms")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
            .or_else(|| {
                get("retry-after")
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
            });
        ServerState {
            limit_requests: count("x-ratelimit-limit-requests"),
            remaining_requests: count("x-ratelimit-remaining-requests"),
            reset_requests: dur("x-ratelimit-reset-requests"),
            limit_tokens: count("x-ratelimit-limit-tokens"),
            remaining_tokens: count("x-ratelimit-remaining-tokens"),
            reset_tokens: dur("x-ratelimit-reset-tokens"),
            retry_after,
        }
    }
}

/// governor clock that follows tokio's clock, so paused-time tests (and
/// `tokio::time::advance`) drive governor too. Its instants are durations
/// since the limiter's origin, which governor supports out of the box.
#[derive(Debug, Clone)]
pub struct TokioClock {
    origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }
}

type Gov = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>;

/// Exact GCRA bucket of capacity `cap` units refilling `cap` units per minute.
///
/// Time is nanoseconds since the limiter's origin; internally it is scaled by
/// `cap` so one unit costs exactly `UNIT` scaled time, integer-only. `tat`
/// (theoretical arrival time) is when the bucket would be full again; the
/// bucket's used level at `now` is `tat - now` (scaled), at most `cap * UNIT`
/// except after an over-charge (debt).
#[derive(Debug, Clone)]
struct Bucket {
    cap: i128,
    /// Units kept in reserve below the server's capacity, at the same refill rate: our schedule
    /// and the server's drift apart by the spread of request latencies (the first request also
    /// pays for connecting), and a reserve of `slack / rate` seconds absorbs that drift, so
    /// that settings matching the server meet no 429. It costs `slack` units of the first burst.
    slack: i128,
    tat: i128,
}

impl Bucket {
    /// A full bucket of `cap` units, keeping `reserve_permille` of it (at least one unit when
    /// any) in reserve.
    fn new(cap: NonZeroU32, reserve_permille: u32) -> Self {
        let cap = cap.get() as i128;
        let slack = if reserve_permille == 0 { 0 } else { (cap * reserve_permille as i128 / 1000).max(1) };
        Bucket { cap, slack: slack.min(cap - 1), tat: 0 }
    }
    fn level(&self, now: i128) -> i128 {
        (self.tat - now * self.cap).max(0)
    }
    /// Earliest time (ns) at which `n` units fit; may be in the past.
    fn ready_at(&self, n: u32) -> i128 {
        let x = self.tat + (n as i128 + self.slack - self.cap) * UNIT;
        x.div_euclid(self.cap) + i128::from(x.rem_euclid(self.cap) != 0)
    }
    fn charge(&mut self, n: u32, now: i128) {
        self.tat = self.tat.max(now * self.cap) + n as i128 * UNIT;
    }
    /// Give back up to `n` units (never beyond full). Returns units credited.
    fn refund(&mut self, n: u32, now: i128) -> u64 {
        let credit = (n as i128 * UNIT).min(self.level(now));
        self.tat = self.tat.max(now * self.cap) - credit;
        (credit / UNIT) as u64
    }
    fn available(&self, now: i128) -> u32 {
        (((self.cap - self.slack) * UNIT - self.level(now)).max(0) / UNIT) as u32
    }
    /// Consume down so that at most `remaining` units are available now (the reserve
    /// included: `available` then reports `remaining - slack`).
    fn tighten(&mut self, remaining: u32, now: i128) -> bool {
        let target = (self.cap - remaining as i128).max(0) * UNIT;
        if self.level(now) < target {
            self.tat = now * self.cap + target;
            true
        } else {
            false
        }
    }
    /// Time to refill `n` units from empty, in ns.
    fn refill_ns(&self, n: u32) -> i128 {
        let x = n as i128 * UNIT;
        x / self.cap + i128::from(x % self.cap != 0)
    }
}

struct Waiter {
    tokens: u32,
    arrived: i128,
}

struct Inner {
    tokens: Option<Bucket>,
    /// Planning mirror of `gov` (see module doc).
    reqs: Option<Bucket>,
    gov: Option<Gov>,
    /// Share of each budget kept in reserve, in thousandths (see `Bucket::slack`).
    reserve_permille: u32,
    /// Not-before instants (ns since origin) from the server.
    hold_all: i128,
    queue: BTreeMap<u64, Waiter>,
    next_id: u64,
    stats: LimiterStats,
}

enum Decision {
    Granted,
    /// Sleep until this instant (ns since origin), or until notified.
    At(i128),
    /// Protected head blocks us; only a state change can help.
    Blocked,
}

impl Inner {
    fn ready(&self, tokens: u32, tb: Option<&Bucket>, rb: Option<&Bucket>) -> i128 {
        let mut r = self.hold_all;
        if let Some(b) = tb {
            r = r.max(b.ready_at(tokens));
        }
        if let Some(b) = rb {
            r = r.max(b.ready_at(1));
        }
        r
    }

    fn decide(&mut self, id: u64, now: i128, origin: Instant) -> Decision {
        let me = self.queue[&id].tokens;
        let r_me = self.ready(me, self.tokens.as_ref(), self.reqs.as_ref());
        if r_me > now {
            return Decision::At(r_me);
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
                return Decision::Blocked;
            }
        }
        if let Some(gov) = &self.gov
            && let Err(not_until) = gov.check()
        {
            // Governor is the authority on requests; trust its wake-up time.
            let at = origin + not_until.earliest_possible();
            return Decision::At(at.saturating_duration_since(origin).as_nanos() as i128);
        }
        if let Some(b) = self.reqs.as_mut() {
            b.charge(1, now);
        }
        if let Some(b) = self.tokens.as_mut() {
            b.charge(me, now);
        }
        self.queue.remove(&id);
        self.stats.requests += 1;
        self.stats.tokens_charged += me as u64;
        Decision::Granted
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
pub struct Limiter {
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
    pub fn new(budget: Budget) -> Limiter {
        Limiter::with_reserve(budget, 0)
    }

    /// A limiter that keeps `reserve_permille` thousandths of each budget (at least one unit)
    /// unused, so that the drift between our clock and the server's never meets a 429.
    pub fn with_reserve(budget: Budget, reserve_permille: u32) -> Limiter {
        let origin = Instant::now();
        let gov = budget
            .rpm
            .map(|rpm| RateLimiter::direct_with_clock(Quota::per_minute(rpm), TokioClock { origin }));
        Limiter {
            shared: Arc::new(Shared {
                inner: Mutex::new(Inner {
                    tokens: budget.tpm.map(|cap| Bucket::new(cap, reserve_permille)),
                    reqs: budget.rpm.map(|cap| Bucket::new(cap, reserve_permille)),
                    reserve_permille,
                    gov,
                    hold_all: 0,
                    queue: BTreeMap::new(),
                    next_id: 0,
                    stats: LimiterStats::default(),
                }),
                notify: Notify::new(),
                origin,
                tpm: budget.tpm,
            }),
        }
    }

    /// Wait until one request costing `tokens` may be sent, then charge it.
    pub async fn acquire(&self, tokens: u32) -> Result<Grant, LimitError> {
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
                if let Decision::Granted = d {
                    inner.stats.waited += start.elapsed();
                }
                d
            };
            match decision {
                Decision::Granted => {
                    guard.done = true;
                    // Budget moved: the next head / overtakers must re-plan.
                    shared.notify.notify_waiters();
                    return Ok(Grant { shared: self.shared.clone(), tokens });
                }
                Decision::At(ns) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(shared.instant(ns)) => {}
                        _ = &mut notified => {}
                    }
                }
                Decision::Blocked => notified.await,
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
    pub fn observe(&self, state: &ServerState) {
        let shared = &*self.shared;
        let now = shared.now_ns();
        let dur_ns = |d: Duration| d.as_nanos().min(i64::MAX as u128) as i128;
        let mut inner = shared.lock();
        let mut tightened = false;
        if let Some(limit) = state.limit_tokens.and_then(NonZeroU32::new)
            && inner.tokens.as_ref().is_none_or(|b| (limit.get() as i128) < b.cap)
        {
            // Carry over what is in use, in units, into the smaller bucket.
            let used = inner.tokens.as_ref().map_or(0, |b| b.level(now) / UNIT);
            let mut bucket = Bucket::new(limit, inner.reserve_permille);
            bucket.tat = now * bucket.cap + used.min(bucket.cap) * UNIT;
            inner.tokens = Some(bucket);
            tightened = true;
        }
        if let Some(limit) = state.limit_requests.and_then(NonZeroU32::new)
            && inner.reqs.as_ref().is_none_or(|b| (limit.get() as i128) < b.cap)
        {
            // Re-rate both the planning mirror and governor; the new budget starts as full as
            // the server says (`remaining_requests` below), else full.
            inner.reqs = Some(Bucket::new(limit, inner.reserve_permille));
            inner.gov = Some(RateLimiter::direct_with_clock(
                Quota::per_minute(limit),
                TokioClock { origin: shared.origin },
            ));
            tightened = true;
        }
        if let Some(rem) = state.remaining_tokens
            && let Some(b) = inner.tokens.as_mut()
        {
            tightened |= b.tighten(rem, now);
        }
        if let Some(rem) = state.remaining_requests
            && let Some(b) = inner.reqs.as_ref()
        {
            let ours = b.available(now);
            if rem < ours {
                // Consume the difference in governor as well, so the
                // authority and the mirror stay in lock-step.
                if let (Some(gov), Some(n)) = (&inner.gov, NonZeroU32::new(ours - rem)) {
                    let _ = gov.check_n(n);
                }
                if let Some(b) = inner.reqs.as_mut() {
                    tightened |= b.tighten(rem, now);
                }
            }
        }
        if let Some(ra) = state.retry_after {
            inner.hold_all = inner.hold_all.max(now + dur_ns(ra));
            tightened = true;
        }
        if tightened {
            inner.stats.server_tightened += 1;
            drop(inner);
            // Stricter state never makes a sleeper earlier, but it can change
            // who may overtake whom; re-planning is cheap.
            shared.notify.notify_waiters();
        }
    }

    pub fn stats(&self) -> LimiterStats {
        self.shared.lock().stats.clone()
    }
}

/// Proof that budget was charged. Dropping it without `settle` keeps the
/// full charge (the conservative choice). After a 429 the request used no
/// tokens server-side: `settle(0)` gives them back.
#[must_use = "settle the grant with the usage the server reported"]
pub struct Grant {
    shared: Arc<Shared>,
    tokens: u32,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant").field("tokens", &self.tokens).finish()
    }
}

impl Grant {
    pub fn tokens(&self) -> u32 {
        self.tokens
    }

    /// Reconcile with the server-reported usage (prompt + completion).
    pub fn settle(self, actual_tokens: u32) {
        let shared = &*self.shared;
        let now = shared.now_ns();
        let mut inner = shared.lock();
        if actual_tokens < self.tokens {
            let credited = inner.tokens.as_mut().map_or(0, |b| b.refund(self.tokens - actual_tokens, now));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::time::{sleep, timeout};

    fn limiter(rpm: Option<u32>, tpm: Option<u32>) -> Arc<Limiter> {
        Arc::new(Limiter::new(Budget {
            rpm: rpm.and_then(NonZeroU32::new),
            tpm: tpm.and_then(NonZeroU32::new),
        }))
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Spawn `acquire(tokens)` (keeping the charge) and report when it was granted.
    fn spawn_at(l: &Arc<Limiter>, tokens: u32, t0: Instant) -> tokio::task::JoinHandle<Duration> {
        let l = l.clone();
        tokio::spawn(async move {
            let g = l.acquire(tokens).await.unwrap();
            let at = t0.elapsed();
            std::mem::forget(g); // keep charge, nothing to settle
            at
        })
    }

    async fn let_spawned_run() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[test]
    fn is_send_sync() {
        fn ss<T: Send + Sync>() {}
        ss::<Limiter>();
        ss::<Grant>();
        fn send<T: Send>(_: &T) {}
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        let _e = rt.enter();
        let l = limiter(Some(1), None);
        send(&l.acquire(1));
    }

    #[tokio::test(start_paused = true)]
    async fn rpm_burst_then_exactly_one_second() {
        let l = limiter(Some(60), None);
        let t0 = Instant::now();
        for _ in 0..60 {
            let _ = l.acquire(1).await.unwrap();
        }
        assert_eq!(t0.elapsed(), Duration::ZERO);
        let _ = l.acquire(1).await.unwrap();
        assert_eq!(t0.elapsed(), ms(1000));
        let s = l.stats();
        assert_eq!(s.requests, 61);
        assert_eq!(s.waited, ms(1000));
    }

    #[tokio::test(start_paused = true)]
    async fn tpm_burst_then_refill_rate() {
        let l = limiter(None, Some(6000));
        let t0 = Instant::now();
        let _ = l.acquire(6000).await.unwrap();
        assert_eq!(t0.elapsed(), Duration::ZERO);
        let _ = l.acquire(100).await.unwrap();
        assert_eq!(t0.elapsed(), ms(1000));
        assert_eq!(l.stats().tokens_charged, 6100);
    }

    #[tokio::test(start_paused = true)]
    async fn too_large_is_immediate() {
        let l = limiter(Some(10), Some(6000));
        let t0 = Instant::now();
        let e = l.acquire(6001).await.unwrap_err();
        assert_eq!(e, LimitError::TooLarge { needed: 6001, budget: 6000 });
        assert_eq!(t0.elapsed(), Duration::ZERO);
        assert_eq!(l.stats().requests, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn settle_refund_lets_waiter_go_earlier() {
        let l = limiter(None, Some(6000));
        let t0 = Instant::now();
        std::mem::forget(l.acquire(5000).await.unwrap());
        let g = l.acquire(1000).await.unwrap();
        // Bucket empty: 600 tokens would need 6 s of refill.
        let w = spawn_at(&l, 600, t0);
        sleep(ms(1000)).await;
        g.settle(400); // 600 back, plus 100 refilled during the second
        assert_eq!(w.await.unwrap(), ms(1000));
        let s = l.stats();
        assert_eq!(s.tokens_refunded, 600);
        assert_eq!(s.tokens_charged, 6600);
    }

    #[tokio::test(start_paused = true)]
    async fn settle_overcharge_delays_next() {
        let l = limiter(None, Some(6000));
        let t0 = Instant::now();
        l.acquire(6000).await.unwrap().settle(6100); // 100 into debt
        let _ = l.acquire(100).await.unwrap();
        assert_eq!(t0.elapsed(), ms(2000));
        assert_eq!(l.stats().tokens_charged, 6200);
    }

    #[tokio::test(start_paused = true)]
    async fn observe_tokens_exhausted_refills_at_the_rate_not_at_the_full_reset() {
        // OpenAI's reset is when the bucket is full again (here 60 s); 100 tokens refill in
        // 1 s at 6000/min, and waiting for the full reset would idle the budget.
        let l = limiter(None, Some(6000));
        let t0 = Instant::now();
        l.observe(&ServerState {
            remaining_tokens: Some(0),
            reset_tokens: Some(ms(60_000)),
            ..Default::default()
        });
        let _ = l.acquire(100).await.unwrap();
        assert_eq!(t0.elapsed(), ms(1_000));
        assert_eq!(l.stats().server_tightened, 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_reserve_keeps_a_margin_below_the_burst_and_then_paces_at_the_full_rate() {
        let l = Limiter::with_reserve(
            Budget { rpm: NonZeroU32::new(100), tpm: None },
            20, // 2%: two requests
        );
        let t0 = Instant::now();
        for _ in 0..98 {
            let _ = l.acquire(1).await.unwrap();
        }
        assert_eq!(t0.elapsed(), Duration::ZERO, "the burst less the reserve goes at once");
        let _ = l.acquire(1).await.unwrap();
        assert_eq!(t0.elapsed(), ms(600), "then one request each 0.6 s, the full rate");
        let _ = l.acquire(1).await.unwrap();
        assert_eq!(t0.elapsed(), ms(1_200));
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_limit_below_the_settings_or_without_settings_becomes_the_rate() {
        // No settings at all: the server says 60 RPM with 0 left, so the next request waits
        // the 1 s one request takes to refill.
        let l = limiter(None, None);
        let t0 = Instant::now();
        l.observe(&ServerState {
            limit_requests: Some(60),
            remaining_requests: Some(0),
            ..Default::default()
        });
        let _ = l.acquire(1).await.unwrap();
        assert_eq!(t0.elapsed(), ms(1_000));
        // Settings looser than the server (6000 TPM against its 600): the server's rate wins.
        let l = limiter(None, Some(6000));
        let t0 = Instant::now();
        l.observe(&ServerState { limit_tokens: Some(600), remaining_tokens: Some(0), ..Default::default() });
        let _ = l.acquire(100).await.unwrap();
        assert_eq!(t0.elapsed(), ms(10_000));
        // A looser server limit changes nothing.
        let l = limiter(Some(60), None);
        l.observe(&ServerState { limit_requests: Some(6000), ..Default::default() });
        let t0 = Instant::now();
        for _ in 0..61 {
            let _ = l.acquire(1).await.unwrap();
        }
        assert_eq!(t0.elapsed(), ms(1_000));
    }

    #[tokio::test(start_paused = true)]
    async fn observe_tightens_to_remaining_then_refills_at_our_rate() {
        let l = limiter(None, Some(6000));
        let t0 = Instant::now();
        l.observe(&ServerState { remaining_tokens: Some(50), ..Default::default() });
        let _ = l.acquire(100).await.unwrap();
        assert_eq!(t0.elapsed(), ms(500));
    }

    #[tokio::test(start_paused = true)]
    async fn observe_never_loosens() {
        let l = limiter(None, Some(6000));
        let t0 = Instant::now();
        let _ = l.acquire(6000).await.unwrap();
        l.observe(&ServerState {
            remaining_tokens: Some(1_000_000),
            limit_tokens: Some(1_000_000),
            ..Default::default()
        });
        let _ = l.acquire(100).await.unwrap();
        assert_eq!(t0.elapsed(), ms(1000));
        assert_eq!(l.stats().server_tightened, 0);
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_pauses_then_full_rate_resumes() {
        let l = limiter(Some(60), None);
        let t0 = Instant::now();
        for _ in 0..60 {
            let _ = l.acquire(1).await.unwrap();
        }
        l.observe(&ServerState { retry_after: Some(ms(2000)), ..Default::default() });
        let mut at = vec![];
        for _ in 0..4 {
            let _ = l.acquire(1).await.unwrap();
            at.push(t0.elapsed());
        }
        // Nothing before 2 s; the 2 requests refilled meanwhile go at once,
        // then one per second: the configured rate, no 15 s stall.
        assert_eq!(at, vec![ms(2000), ms(2000), ms(3000), ms(4000)]);
    }

    #[tokio::test(start_paused = true)]
    async fn observe_requests_tightens_governor_and_refills() {
        let l = limiter(Some(60), None);
        let t0 = Instant::now();
        l.observe(&ServerState { remaining_requests: Some(3), ..Default::default() });
        for _ in 0..3 {
            let _ = l.acquire(1).await.unwrap();
        }
        assert_eq!(t0.elapsed(), Duration::ZERO);
        let _ = l.acquire(1).await.unwrap();
        assert_eq!(t0.elapsed(), ms(1000));
        l.observe(&ServerState {
            remaining_requests: Some(0),
            reset_requests: Some(ms(60_000)),
            ..Default::default()
        });
        let _ = l.acquire(1).await.unwrap();
        assert_eq!(t0.elapsed(), ms(2000), "one request refills in 1 s at 60 RPM");
    }

    #[tokio::test(start_paused = true)]
    async fn small_overtakes_big_when_big_has_slack() {
        let l = limiter(None, Some(6000));
        let t0 = Instant::now();
        std::mem::forget(l.acquire(3000).await.unwrap());
        // Big: 3000 available, needs 2000 more -> ready at 20 s; deadline 50 s.
        let big = spawn_at(&l, 5000, t0);
        let_spawned_run().await;
        let small = spawn_at(&l, 50, t0);
        assert_eq!(small.await.unwrap(), Duration::ZERO); // not blocked behind big
        assert_eq!(big.await.unwrap(), ms(20_500)); // delayed by 0.5 s, within its bound
    }

    #[tokio::test(start_paused = true)]
    async fn no_overtaking_past_the_heads_ready_time() {
        let l = limiter(None, Some(6000));
        let t0 = Instant::now();
        std::mem::forget(l.acquire(6000).await.unwrap());
        // Drained: big is ready at 50 s == its deadline, so no slack.
        let big = spawn_at(&l, 5000, t0);
        let_spawned_run().await;
        let small = spawn_at(&l, 50, t0);
        assert_eq!(big.await.unwrap(), ms(50_000));
        assert_eq!(small.await.unwrap(), ms(50_500));
    }

    #[tokio::test(start_paused = true)]
    async fn stream_of_small_does_not_starve_big() {
        let l = limiter(None, Some(6000));
        let t0 = Instant::now();
        std::mem::forget(l.acquire(3000).await.unwrap());
        let big = spawn_at(&l, 5000, t0);
        let_spawned_run().await;
        // 200 tokens/s of small requests arriving: twice the refill rate,
        // enough to starve the big one forever without protection.
        let mut smalls = vec![];
        for _ in 0..240 {
            smalls.push(spawn_at(&l, 100, t0));
            sleep(ms(500)).await;
        }
        let big_at = big.await.unwrap();
        // Bound: arrival + refill(5000 tokens) = 50 s.
        assert_eq!(big_at, ms(50_000));
        let mut before = 0;
        for s in smalls {
            if s.await.unwrap() < big_at {
                before += 1;
            }
        }
        // 30 small ones used the big one's slack (20 s natural -> 50 s bound).
        assert_eq!(before, 30);
    }

    #[tokio::test(start_paused = true)]
    async fn cancelled_waiter_does_not_block_or_leak() {
        let l = limiter(None, Some(6000));
        let t0 = Instant::now();
        std::mem::forget(l.acquire(6000).await.unwrap());
        let l2 = l.clone();
        let a = tokio::spawn(async move { timeout(ms(1000), l2.acquire(5000)).await.is_err() });
        let_spawned_run().await;
        let b = spawn_at(&l, 100, t0); // blocked behind protected head `a`
        assert!(a.await.unwrap(), "a timed out (dropped mid-wait)");
        assert_eq!(b.await.unwrap(), ms(1000)); // head gone: b goes at once
        assert!(l.shared.lock().queue.is_empty());
        // Nothing was charged for `a`: a full minute's worth needs exactly 60 s more.
        let _ = l.acquire(6000).await.unwrap();
        assert_eq!(t0.elapsed(), ms(61_000));
        let s = l.stats();
        assert_eq!((s.requests, s.tokens_charged), (3, 12_100));
    }

    /// Drive `costs` through `workers` concurrent tasks; return the last grant time.
    async fn run_batch(l: Arc<Limiter>, costs: Arc<Vec<u32>>, workers: usize) -> Duration {
        let t0 = Instant::now();
        let next = Arc::new(AtomicUsize::new(0));
        let mut handles = vec![];
        for _ in 0..workers {
            let (l, costs, next) = (l.clone(), costs.clone(), next.clone());
            handles.push(tokio::spawn(async move {
                let mut last = Duration::ZERO;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&c) = costs.get(i) else { break last };
                    let g = l.acquire(c).await.unwrap();
                    last = t0.elapsed();
                    g.settle(c);
                }
            }));
        }
        let mut last = Duration::ZERO;
        for h in handles {
            last = last.max(h.await.unwrap());
        }
        last
    }

    fn floor(n: usize, sum: u64, rpm: u32, tpm: u32) -> f64 {
        let req = (n as f64 - rpm as f64) / rpm as f64;
        let tok = (sum as f64 - tpm as f64) / tpm as f64;
        req.max(tok).max(0.0) * 60.0
    }

    #[tokio::test(start_paused = true)]
    async fn throughput_token_bound_hits_floor() {
        let mut x: u64 = 12345;
        let costs: Vec<u32> = (0..400)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                100 + ((x >> 33) % 2901) as u32
            })
            .collect();
        let sum: u64 = costs.iter().map(|&c| c as u64).sum();
        let (rpm, tpm) = (500, 100_000);
        let took = run_batch(limiter(Some(rpm), Some(tpm)), Arc::new(costs), 16).await;
        let want = floor(400, sum, rpm, tpm);
        assert!(want > 60.0);
        let got = took.as_secs_f64();
        assert!((got - want).abs() <= want * 0.01, "got {got}, floor {want}");
    }

    #[tokio::test(start_paused = true)]
    async fn throughput_request_bound_hits_floor() {
        let costs = vec![500u32; 1000];
        let (rpm, tpm) = (200, 1_000_000);
        let took = run_batch(limiter(Some(rpm), Some(tpm)), Arc::new(costs), 16).await;
        let want = floor(1000, 500_000, rpm, tpm);
        let got = took.as_secs_f64();
        assert!((got - want).abs() <= want * 0.01, "got {got}, floor {want}");
    }

    #[test]
    fn parse_reset_formats() {
        assert_eq!(parse_reset("1s"), Some(ms(1000)));
        assert_eq!(parse_reset("6m0s"), Some(ms(360_000)));
        assert_eq!(parse_reset("1.5s"), Some(ms(1500)));
        assert_eq!(parse_reset("120ms"), Some(ms(120)));
        assert_eq!(parse_reset("2h3m"), Some(ms(7_380_000)));
        assert_eq!(parse_reset(" 20 "), Some(ms(20_000)));
        assert_eq!(parse_reset(""), None);
        assert_eq!(parse_reset("abc"), None);
        assert_eq!(parse_reset("5x"), None);
        assert_eq!(parse_reset("s"), None);
    }

    #[test]
    fn from_headers_parses_all() {
        let h = std::collections::HashMap::from([
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-reset-requests", "120ms"),
            ("x-ratelimit-limit-tokens", "30000"),
            ("x-ratelimit-remaining-tokens", "29000"),
            ("x-ratelimit-reset-tokens", "2s"),
            ("retry-after", "3"),
        ]);
        let s = ServerState::from_headers(|k| h.get(k).copied());
        assert_eq!(
            s,
            ServerState {
                limit_requests: Some(500),
                remaining_requests: Some(499),
                reset_requests: Some(ms(120)),
                limit_tokens: Some(30000),
                remaining_tokens: Some(29000),
                reset_tokens: Some(ms(2000)),
                retry_after: Some(ms(3000)),
            }
        );
        let h2 = std::collections::HashMap::from([("retry-after", "3"), ("retry-after-ms", "1500")]);
        let s2 = ServerState::from_headers(|k| h2.get(k).copied());
        assert_eq!(s2.retry_after, Some(ms(1500)));
        assert_eq!(s2.remaining_tokens, None);
    }
}
