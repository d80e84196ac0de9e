//! The spending cap (`--max-cost`). What a run spent is the price of what the server billed
//! (its usage: prompt tokens, the cached ones at their price, and completion tokens).
//! A request about to go out reserves the most it could add (its prompt estimate at the input
//! price, its whole completion budget at the output price), so that no request starts that
//! could take the run past the cap however many are in flight; the reservation gives way to
//! the bill when the answer comes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::price::{Price, Tokens, dollars};

/// The cap, and what the attempts on the wire could still cost. What was spent is not kept
/// here: it is the price of the tokens billed, which the run's stats count (`PoolStats::spent`).
#[derive(Debug)]
pub(super) struct Spend {
    price: Option<Price>,
    cap: Option<f64>,
    /// USD reserved by the attempts on the wire.
    reserved: Mutex<f64>,
    /// Whether a request was held back by the cap: the run ends as interrupted.
    capped: AtomicBool,
}

/// One attempt's reservation; given back when dropped, whatever became of the attempt (its
/// bill is in the stats by then).
#[must_use]
pub(super) struct Reservation<'s> {
    spend: &'s Spend,
    amount: f64,
}

impl Spend {
    pub(super) fn new(price: Option<Price>, cap: Option<f64>) -> Spend {
        Spend { price, cap, reserved: Mutex::new(0.0), capped: AtomicBool::new(false) }
    }

    /// Whether the cap held a request back.
    pub(super) fn capped(&self) -> bool {
        self.capped.load(Ordering::Acquire)
    }

    /// Reserve the most an attempt could cost, `prompt` tokens and a completion budget of
    /// `completion`, with `spent` USD billed so far. The reason the cap refuses it, when it
    /// would take the run past the cap.
    pub(super) fn reserve(
        &self,
        spent: f64,
        prompt: u32,
        completion: u32,
    ) -> Result<Reservation<'_>, String> {
        let (Some(price), Some(cap)) = (self.price, self.cap) else {
            return Ok(Reservation { spend: self, amount: 0.0 });
        };
        let most =
            price.cost(Tokens { prompt: u64::from(prompt), cached: 0, completion: u64::from(completion) });
        let mut reserved = self.lock();
        if spent + *reserved + most > cap {
            self.capped.store(true, Ordering::Release);
            return Err(format!(
                "the spending cap: {} spent of --max-cost {}, and the next request could cost up to {}",
                dollars(spent),
                dollars(cap),
                dollars(most)
            ));
        }
        *reserved += most;
        Ok(Reservation { spend: self, amount: most })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, f64> {
        self.reserved.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.amount > 0.0 {
            let mut reserved = self.spend.lock();
            *reserved = (*reserved - self.amount).max(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price() -> Price {
        Price { input: 1.0, cached_input: Some(0.5), output: 2.0, batch_input: None, batch_output: None }
    }

    #[test]
    fn no_request_starts_that_could_pass_the_cap_counting_those_in_flight() {
        // $1 in and $2 out a million: a request of 100k prompt tokens and a 200k budget could
        // cost $0.50; the cap is $1.
        let spend = Spend::new(Some(price()), Some(1.0));
        let first = spend.reserve(0.0, 100_000, 200_000).unwrap();
        let second = spend.reserve(0.0, 100_000, 200_000).unwrap();
        let refused = spend.reserve(0.0, 1, 1).err().expect("$1.00 reserved already");
        assert!(refused.contains("--max-cost $1.00"), "{refused}");
        assert!(spend.capped());
        // The first answer used little of its budget (60k × $1 + 40k × $0.50 + 10k × $2, a
        // million each: $0.10): the room comes back.
        let spent = price().cost(Tokens { prompt: 100_000, cached: 40_000, completion: 10_000 });
        assert!((spent - 0.10).abs() < 1e-9);
        drop(first);
        assert!(spend.reserve(spent, 100_000, 150_000).is_ok(), "0.10 + 0.50 reserved + 0.40 fits");
        drop(second);
    }

    #[test]
    fn without_a_price_or_a_cap_nothing_is_refused() {
        assert!(Spend::new(None, Some(1.0)).reserve(0.0, u32::MAX, u32::MAX).is_ok());
        assert!(Spend::new(Some(price()), None).reserve(1e9, u32::MAX, u32::MAX).is_ok());
    }
}
