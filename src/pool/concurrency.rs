//! How many requests the pool allows in flight, and how that number moves: pinned by the
//! user, grown into the budget a server announces, or, on a server that announces none,
//! backed off from on overload (additive increase, multiplicative decrease). Slots are
//! semaphore permits; lowering the number below the permits in use leaves a debt that
//! returning slots pay.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::{Pool, PoolSettings};
use crate::limiter::Budget;

impl PoolSettings {
    /// The most requests the pool ever allows in flight by itself.
    pub(crate) const MAX_CONCURRENCY: usize = 256;

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
    /// Requests allowed in flight at once.
    pub(crate) fn concurrency(&self) -> usize {
        self.concurrency.load(Ordering::Acquire)
    }

    /// Keep the budget the server announced busy: a run told no limits starts at 16 requests
    /// in flight and learns the real ones from the first answers' headers; from then on it
    /// allows as many as a run told those limits would have (Little's law at 20 s a request,
    /// [`PoolSettings::default_concurrency`]). The limiter, not the slots, holds requests to
    /// the budget. A server that announces no limits is [`Pool::back_off`]'s.
    pub(super) fn follow_budget(&self) {
        let budget = self.limiter.budget();
        if self.pinned || (budget.rpm.is_none() && budget.tpm.is_none()) {
            return;
        }
        let target = PoolSettings::default_concurrency(budget);
        if target > self.concurrency() {
            self.set_concurrency(target, "for the budget the server announced");
        }
    }

    /// After an attempt, on a server that announces no limits (a local vLLM, llama.cpp, Ollama
    /// or LM Studio queues what it cannot run): a timeout, a 429 or a 503 means more is in
    /// flight than it can serve, so the concurrency halves, down to the requests still on the
    /// wire that fit (a queued request's wait counts against its timeout and is paid for
    /// nothing). Answers without such a signal add one back per round of answers, up to where
    /// the run started: additive increase, multiplicative decrease.
    pub(super) fn back_off(&self, overloaded: bool) {
        let budget = self.limiter.budget();
        if self.pinned || budget.rpm.is_some() || budget.tpm.is_some() {
            return;
        }
        let now = self.concurrency();
        if overloaded {
            let in_flight = self.stats.in_flight.load(Ordering::Relaxed) as usize;
            let target = (now / 2).min(in_flight.max(1)).max(1);
            if target < now {
                self.set_concurrency(target, "the server is overloaded");
            }
        } else if now < self.initial_concurrency
            && self.since_change.fetch_add(1, Ordering::AcqRel) + 1 >= now as u64
        {
            self.set_concurrency(now + 1, "the server keeps up");
        }
    }

    /// Allow `target` requests in flight: permits added, or forgotten (now, or as they come
    /// back when more are in use).
    fn set_concurrency(&self, target: usize, why: &str) {
        let mut now = self.concurrency();
        loop {
            if now == target {
                return;
            }
            match self.concurrency.compare_exchange(now, target, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => break,
                Err(current) => now = current,
            }
        }
        self.since_change.store(0, Ordering::Release);
        if target > now {
            // A debt from an earlier back-off is cancelled before permits are added.
            let mut grow = target - now;
            while grow > 0 {
                let debt = self.debt.load(Ordering::Acquire);
                if debt == 0 {
                    break;
                }
                let paid = debt.min(grow);
                if self.debt.compare_exchange(debt, debt - paid, Ordering::AcqRel, Ordering::Acquire).is_ok()
                {
                    grow -= paid;
                }
            }
            self.permits.add_permits(grow);
        } else {
            let excess = now - target;
            let forgotten = self.permits.forget_permits(excess);
            self.debt.fetch_add(excess - forgotten, Ordering::AcqRel);
        }
        self.stats.concurrency.store(target as u64, Ordering::Relaxed);
        tracing::debug!("concurrency {now} -> {target}: {why}");
    }

    /// A concurrency slot, counting the requests that had to wait for one.
    pub(super) async fn slot(&self) -> Slot<'_> {
        let permit = match self.permits.try_acquire() {
            Ok(permit) => permit,
            Err(_) => {
                self.stats.slot_waits.fetch_add(1, Ordering::Relaxed);
                self.permits.acquire().await.expect("the semaphore is never closed")
            }
        };
        Slot { permit: Some(permit), debt: &self.debt }
    }
}

/// A concurrency slot. Given back when dropped, unless the concurrency was lowered while it
/// was in use: then it pays that debt and is gone.
pub(super) struct Slot<'p> {
    permit: Option<tokio::sync::SemaphorePermit<'p>>,
    debt: &'p AtomicUsize,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else { return };
        if self.debt.fetch_update(Ordering::AcqRel, Ordering::Acquire, |d| d.checked_sub(1)).is_ok() {
            permit.forget();
        }
    }
}
