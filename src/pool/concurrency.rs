//! How many requests the pool allows in flight, and how that number moves: pinned by the
//! user, grown into the budget a server announces, or, on a server that announces none, led
//! by its latency (a gradient limiter, as Netflix's concurrency-limits: grow while answers
//! come as fast as the best round's, shrink as they slow down, halve on a timeout, 429 or
//! 503). Slots are semaphore permits; lowering the number below the permits in use leaves a
//! debt that returning slots pay.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::lane::Lane;
use super::{Pool, PoolSettings};
use crate::client::{Attempt, ClientError};
use crate::limiter::Budget;

impl PoolSettings {
    /// The most requests the pool ever allows in flight by itself.
    pub(crate) const MAX_CONCURRENCY: usize = 256;
    /// Where a run against a server on this machine or the LAN starts when told no limits: such
    /// servers (llama.cpp, Ollama, LM Studio) often run one to four requests at once and queue
    /// the rest, and a queued request's wait counts against its timeout. Two requests rarely
    /// queue, so the first round measures the server unloaded (see `Gradient`); the latency
    /// gradient doubles it each round while the server has room.
    pub(crate) const LOCAL_START: usize = 2;

    /// Requests in flight to start with when `--concurrency` is not given: what keeps a known
    /// budget busy, or a few for a local server told no limits.
    pub(crate) fn starting_concurrency(budget: Budget, local: bool) -> usize {
        if local && budget.rpm.is_none() && budget.tpm.is_none() {
            PoolSettings::LOCAL_START
        } else {
            PoolSettings::default_concurrency(budget)
        }
    }

    /// Requests in flight when `--concurrency` is not given.
    ///
    /// The limiter paces sending, so concurrency only has to be high enough that slow answers
    /// do not leave budget idle: by Little's law, requests per second times seconds per
    /// request. A known budget is kept busy up to 20 s a request (a long summary on a loaded
    /// API); with no budget (often a local server, which queues what it cannot run) 16 is
    /// enough. Counted requests cost about 3,000 tokens (a 6,000-token chunk's summary is
    /// rarer than a short article's), which turns a TPM budget into requests.
    pub(crate) fn default_concurrency(budget: Budget) -> usize {
        const FLOOR: usize = 16;
        const CEILING: usize = PoolSettings::MAX_CONCURRENCY;
        const SECONDS_PER_REQUEST: u64 = 20;
        const TOKENS_PER_REQUEST: u64 = 3_000;
        let by_rpm = budget.rpm.map(|rpm| u64::from(rpm.get()));
        let by_tpm = budget.tpm.map(|tpm| u64::from(tpm.get()) / TOKENS_PER_REQUEST);
        let per_minute = match (by_rpm, by_tpm) {
            (Some(r), Some(t)) => r.min(t),
            (Some(r), None) => r,
            (None, Some(t)) => t,
            (None, None) => return FLOOR,
        };
        let needed = (per_minute * SECONDS_PER_REQUEST).div_ceil(60);
        usize::try_from(needed).unwrap_or(CEILING).clamp(FLOOR, CEILING)
    }
}

impl Pool {
    /// Requests allowed in flight at once, over every lane.
    pub(crate) fn concurrency(&self) -> usize {
        self.stats.concurrency.load(Ordering::Acquire) as usize
    }

    /// After `attempt` on `lane`, which took `took` and was sent when `sent_with` requests were
    /// allowed in flight there, unless the concurrency is pinned: on a server that announced
    /// limits, keep them busy ([`Pool::grow_into`]); on one that announced none, follow its
    /// latency ([`Pool::follow_latency`]).
    pub(super) fn after_attempt(&self, lane: &Lane, attempt: &Attempt, took: Duration, sent_with: usize) {
        if self.pinned {
            return;
        }
        let budget = lane.limiter.budget();
        if budget == Budget::default() {
            let overloaded = matches!(
                attempt.result,
                Err(ClientError::Timeout(_) | ClientError::Status { status: 429 | 503, .. })
            );
            // Seconds per token, a little fixed cost counted so that short answers do not
            // look slow.
            let sample = attempt
                .result
                .as_ref()
                .ok()
                .map(|r| took.as_secs_f64() / (r.completion_tokens as f64 + 32.0));
            self.follow_latency(lane, overloaded, sample, sent_with);
        } else {
            self.grow_into(lane, budget, "for the budget the server announced");
        }
    }

    /// Keep `budget` busy: a run told no limits starts small and learns the real ones from the
    /// first answers' headers (or from an earlier run's, see `recall_limits`); from then on it
    /// allows as many as a run told those limits would have (Little's law at 20 s a request,
    /// [`PoolSettings::default_concurrency`]). The limiter, not the slots, holds requests to
    /// the budget.
    pub(super) fn grow_into(&self, lane: &Lane, budget: Budget, why: &str) {
        let target = PoolSettings::default_concurrency(budget);
        if target > lane.concurrency() {
            self.set_concurrency(lane, target, why);
        }
    }

    /// On a server that announces no limits (a local vLLM, llama.cpp, Ollama or LM Studio
    /// queues what it cannot run; so do some gateways): a timeout, a 429 or a 503 means more
    /// is in flight than it can serve, and the concurrency halves, down to the requests still
    /// on the wire that fit. Otherwise the answer's seconds per token goes to the [`Gradient`],
    /// which says when to grow (a slow start, then one a round) and when to come down (as
    /// answers slow down in the server's queue). Answers to requests sent under another
    /// concurrency say nothing of this one's queue once the slow start is over.
    fn follow_latency(&self, lane: &Lane, overloaded: bool, sample: Option<f64>, sent_with: usize) {
        let now = lane.concurrency();
        if overloaded {
            let in_flight = lane.in_flight.load(Ordering::Relaxed) as usize;
            let target = (now / 2).min(in_flight.max(1)).max(1);
            lane.gradient.lock().unwrap_or_else(|e| e.into_inner()).round.clear();
            if target < now {
                self.set_concurrency(lane, target, "the server is overloaded");
            }
            return;
        }
        let Some(sample) = sample else { return };
        let target = {
            let mut gradient = lane.gradient.lock().unwrap_or_else(|e| e.into_inner());
            match gradient.add(sample, sent_with, now) {
                Some(target) => target,
                None => return,
            }
        };
        if target != now {
            let why = if target > now { "the server keeps up" } else { "the server's answers slow down" };
            self.set_concurrency(lane, target, why);
        }
    }

    /// Allow `target` requests in flight on `lane`: permits added, or forgotten (now, or as
    /// they come back when more are in use). The run's count follows.
    fn set_concurrency(&self, lane: &Lane, target: usize, why: &str) {
        let mut now = lane.concurrency();
        loop {
            if now == target {
                return;
            }
            let swapped = lane.concurrency.compare_exchange(
                now as u64,
                target as u64,
                Ordering::AcqRel,
                Ordering::Acquire,
            );
            match swapped {
                Ok(_) => break,
                Err(current) => now = current as usize,
            }
        }
        if target > now {
            self.stats.concurrency.fetch_add((target - now) as u64, Ordering::AcqRel);
            // A debt from an earlier back-off is cancelled before permits are added.
            let mut grow = target - now;
            while grow > 0 {
                let debt = lane.debt.load(Ordering::Acquire);
                if debt == 0 {
                    break;
                }
                let paid = debt.min(grow);
                if lane.debt.compare_exchange(debt, debt - paid, Ordering::AcqRel, Ordering::Acquire).is_ok()
                {
                    grow -= paid;
                }
            }
            lane.permits.add_permits(grow);
        } else {
            self.stats.concurrency.fetch_sub((now - target) as u64, Ordering::AcqRel);
            let excess = now - target;
            let forgotten = lane.permits.forget_permits(excess);
            lane.debt.fetch_add(excess - forgotten, Ordering::AcqRel);
        }
        tracing::debug!(route = lane.client.base_url(), "concurrency {now} -> {target}: {why}");
    }
}

/// A concurrency slot on a lane. Given back when dropped, unless the lane's concurrency was
/// lowered while it was in use: then it pays that debt and is gone.
pub(super) struct Slot<'p> {
    permit: Option<tokio::sync::SemaphorePermit<'p>>,
    lane: &'p Lane,
}

impl<'p> Slot<'p> {
    pub(super) fn new(permit: tokio::sync::SemaphorePermit<'p>, lane: &'p Lane) -> Slot<'p> {
        lane.held.fetch_add(1, Ordering::AcqRel);
        Slot { permit: Some(permit), lane }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else { return };
        self.lane.held.fetch_sub(1, Ordering::AcqRel);
        if self.lane.debt.fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1)).is_ok() {
            permit.forget();
        }
    }
}

/// The latency of the answers of a server that announces no limits (see [`Pool::back_off`]),
/// in seconds per token, so that long and short answers compare.
///
/// First a slow start, as TCP's: every answer as quick as the quickest so far adds a request
/// in flight, which doubles the concurrency once per trip through the server. The first
/// answer much slower than the quickest waited in a queue: the concurrency, by then about
/// twice what the server runs at once, comes down to what the server ran (in flight when that
/// request was sent, over how much slower it was), at most by half. From then on it moves round by round: a
/// round's median against the quickest round's is the gradient (at most 1), which scales the
/// concurrency before one request is added back. A queue delays most requests of a round,
/// while the spread of answer sizes moves its median little; only requests sent under the
/// round's concurrency count, so that a round measures the queue it makes. The concurrency
/// saws just above the number of requests the server runs at once: the knee where more in
/// flight stops raising throughput.
#[derive(Debug, Default)]
pub(super) struct Gradient {
    /// The quickest answer of the slow start.
    quickest: Option<f64>,
    /// A queue was seen: the slow start is over.
    queued: bool,
    /// This round's answers (in the slow start, those that did not queue).
    round: Vec<f64>,
    /// The quickest round's median. It does not drift: a local server that became slower
    /// because others use it too is left more of itself.
    best: Option<f64>,
}

impl Gradient {
    /// How much slower than the quickest an answer of the slow start may be before it counts
    /// as queued: answers of different sizes do not take exactly the same time per token.
    const SLOW_START_TOLERANCE: f64 = 1.5;
    /// How much slower than the best round a round's median may be before it counts as queued.
    const TOLERANCE: f64 = 1.1;

    /// Add the answer to a request sent when `sent_with` were allowed in flight; the
    /// concurrency to allow now, if it changes.
    pub(super) fn add(&mut self, sample: f64, sent_with: usize, concurrency: usize) -> Option<usize> {
        if !sample.is_finite() || sample <= 0.0 {
            return None;
        }
        if !self.queued {
            let quickest = self.quickest.map_or(sample, |q| q.min(sample));
            self.quickest = Some(quickest);
            if sample <= Self::SLOW_START_TOLERANCE * quickest {
                // The answers that did not queue: their median is the best round's to start
                // with (a round right after the slow start may well queue).
                if self.round.len() < 512 {
                    self.round.push(sample);
                }
                return Some((concurrency + 1).min(PoolSettings::MAX_CONCURRENCY));
            }
            if !self.round.is_empty() {
                let middle = self.round.len() / 2;
                self.best = Some(*self.round.select_nth_unstable_by(middle, f64::total_cmp).1);
                self.round.clear();
            }
            // It waited behind others: the server runs about as many requests at once as were
            // in flight when it was sent, over how much slower it was (less for a short answer,
            // whose wait weighs more per token: never below half, as TCP's halving).
            self.queued = true;
            let runs = (sent_with as f64 * quickest / sample).round() as usize;
            return Some(runs.max(concurrency / 2).clamp(1, concurrency));
        }
        if sent_with != concurrency {
            return None;
        }
        self.round.push(sample);
        if self.round.len() < concurrency.max(8) {
            return None;
        }
        let middle = self.round.len() / 2;
        let median = *self.round.select_nth_unstable_by(middle, f64::total_cmp).1;
        self.round.clear();
        let best = self.best.map_or(median, |best| best.min(median));
        self.best = Some(best);
        let gradient = (Self::TOLERANCE * best / median).clamp(0.5, 1.0);
        let target = (concurrency as f64 * gradient).floor() as usize + 1;
        Some(target.clamp(1, PoolSettings::MAX_CONCURRENCY))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server with `slots` slots, one answer at a time: each request is served in 0.01 s per
    /// token, ±10% by its size, after its wait for a slot (FIFO, so all of a trip wait alike).
    /// Returns the concurrency after each trip through the server.
    fn settle(slots: usize, start: usize, trips: usize) -> Vec<usize> {
        let mut gradient = Gradient::default();
        let mut concurrency = start;
        let mut seen = Vec::new();
        let mut k = 0usize;
        for trip in 0..trips {
            // One trip: as many answers as the server finishes per service time, to requests
            // sent under the concurrency the trip started with.
            let sent_with = concurrency;
            for _ in 0..slots.min(sent_with) {
                k += 1;
                // In flight beyond the slots wait their turn; the first trip starts empty.
                let waits = if trip == 0 { 0.0 } else { (sent_with as f64 / slots as f64 - 1.0).max(0.0) };
                let noise = 0.9 + 0.2 * ((k * 7 % 11) as f64 / 10.0);
                if let Some(next) = gradient.add(0.01 * noise * (1.0 + waits), sent_with, concurrency) {
                    concurrency = next;
                }
            }
            seen.push(concurrency);
        }
        seen
    }

    #[test]
    fn it_grows_while_the_server_keeps_up_and_settles_at_its_slots() {
        let seen = settle(32, PoolSettings::LOCAL_START, 40);
        assert_eq!(seen[..4], [4, 8, 16, 32], "a slow start doubles each trip: {seen:?}");
        assert!(seen[10..].iter().all(|c| (30..=40).contains(c)), "settles near the 32 slots: {seen:?}");
    }

    #[test]
    fn against_two_slots_it_comes_down_to_a_short_queue() {
        let seen = settle(2, PoolSettings::LOCAL_START, 40);
        assert!(seen[3..].iter().all(|&c| c <= 3), "a queue of one at most on 2 slots: {seen:?}");
    }

    #[test]
    fn without_a_queue_it_grows_to_the_ceiling() {
        let seen = settle(10_000, 16, 10);
        assert_eq!(seen[..3], [32, 64, 128], "{seen:?}");
        assert_eq!(*seen.last().unwrap(), PoolSettings::MAX_CONCURRENCY, "{seen:?}");
    }
}
