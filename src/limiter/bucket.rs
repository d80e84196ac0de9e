//! The exact GCRA arithmetic behind both budgets ([`Bucket`]) and the governor clock that
//! follows tokio's pausable time ([`TokioClock`]).

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use tokio::time::Instant;

/// Nanoseconds per minute: one budget unit (token or request) is worth this
/// many "scaled" time units in [`Bucket`].
pub(super) const UNIT: i128 = 60_000_000_000;

/// governor clock that follows tokio's clock, so paused-time tests (and
/// `tokio::time::advance`) drive governor too. Its instants are durations
/// since the limiter's origin, which governor supports out of the box.
#[derive(Debug, Clone)]
pub(crate) struct TokioClock {
    pub(super) origin: Instant,
}

impl Clock for TokioClock {
    type Instant = Duration;
    fn now(&self) -> Duration {
        Instant::now().saturating_duration_since(self.origin)
    }
}

/// Exact GCRA bucket of capacity `cap` units refilling `cap` units per minute.
///
/// Time is nanoseconds since the limiter's origin; internally it is scaled by
/// `cap` so one unit costs exactly `UNIT` scaled time, integer-only. `tat`
/// (theoretical arrival time) is when the bucket would be full again; the
/// bucket's used level at `now` is `tat - now` (scaled), at most `cap * UNIT`
/// except after an over-charge (debt).
#[derive(Debug, Clone)]
pub(super) struct Bucket {
    pub(super) cap: i128,
    /// Units kept in reserve below the server's capacity, at the same refill rate: our schedule
    /// and the server's drift apart by the spread of request latencies (the first request also
    /// pays for connecting), and a reserve of `slack / rate` seconds absorbs that drift, so
    /// that settings matching the server meet no 429. It costs `slack` units of the first burst.
    pub(super) slack: i128,
    pub(super) tat: i128,
}

impl Bucket {
    /// A full bucket of `cap` units, keeping `reserve_permille` of it (at least one unit when
    /// any) in reserve.
    pub(super) fn new(cap: NonZeroU32, reserve_permille: u32) -> Self {
        let cap = cap.get() as i128;
        let slack = if reserve_permille == 0 { 0 } else { (cap * reserve_permille as i128 / 1000).max(1) };
        Bucket { cap, slack: slack.min(cap - 1), tat: 0 }
    }
    pub(super) fn level(&self, now: i128) -> i128 {
        (self.tat - now * self.cap).max(0)
    }
    /// Earliest time (ns) at which `n` units fit; may be in the past.
    pub(super) fn ready_at(&self, n: u32) -> i128 {
        let x = self.tat + (n as i128 + self.slack - self.cap) * UNIT;
        x.div_euclid(self.cap) + i128::from(x.rem_euclid(self.cap) != 0)
    }
    pub(super) fn charge(&mut self, n: u32, now: i128) {
        self.tat = self.tat.max(now * self.cap) + n as i128 * UNIT;
    }
    /// Give back up to `n` units (never beyond full). Returns units credited.
    pub(super) fn refund(&mut self, n: u32, now: i128) -> u64 {
        let credit = (n as i128 * UNIT).min(self.level(now));
        self.tat = self.tat.max(now * self.cap) - credit;
        (credit / UNIT) as u64
    }
    pub(super) fn available(&self, now: i128) -> u32 {
        (((self.cap - self.slack) * UNIT - self.level(now)).max(0) / UNIT) as u32
    }
    /// Consume down so that at most `remaining` units were available at `at` (the reserve
    /// included: `available` then reports `remaining - slack`), refilling since. A server's
    /// count is as of when it measured it, which may be a while before it reaches us.
    pub(super) fn tighten(&mut self, remaining: u32, at: i128) -> bool {
        let target = at * self.cap + (self.cap - remaining as i128).max(0) * UNIT;
        if self.tat < target {
            self.tat = target;
            true
        } else {
            false
        }
    }
    /// Time to refill `n` units from empty, in ns.
    pub(super) fn refill_ns(&self, n: u32) -> i128 {
        let x = n as i128 * UNIT;
        x / self.cap + i128::from(x % self.cap != 0)
    }
}
