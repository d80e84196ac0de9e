//! What the run spends, and its cap (`--max-cost`). Spend is the price of what the server
//! billed (its usage: prompt tokens, the cached ones at their price, and completion tokens).
//! A request about to go out reserves the most it could add (its prompt estimate at the input
//! price, its whole completion budget at the output price), so that no request starts that
//! could take the run past the cap however many are in flight; the reservation gives way to
//! the bill when the answer comes.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::client::ChatResponse;
use crate::price::{Price, Tokens, dollars};

#[derive(Debug)]
pub(super) struct Spend {
    price: Option<Price>,
    cap: Option<f64>,
    state: Mutex<State>,
    /// Whether a request was held back by the cap: the run ends as interrupted.
    capped: AtomicBool,
}

#[derive(Debug, Default, Clone, Copy)]
struct State {
    /// USD billed so far in this run.
    spent: f64,
    /// USD reserved by the attempts on the wire.
    reserved: f64,
}

/// One attempt's reservation; given back when dropped, whatever became of the attempt.
#[must_use]
pub(super) struct Reservation<'s> {
    spend: &'s Spend,
    amount: f64,
}

impl Spend {
    pub(super) fn new(price: Option<Price>, cap: Option<f64>) -> Spend {
        Spend { price, cap, state: Mutex::default(), capped: AtomicBool::new(false) }
    }

    pub(super) fn price(&self) -> Option<Price> {
        self.price
    }

    /// USD billed so far, when the model has a price.
    pub(super) fn spent(&self) -> Option<f64> {
        self.price.map(|_| self.lock().spent)
    }

    /// Whether the cap held a request back.
    pub(super) fn capped(&self) -> bool {
        self.capped.load(Ordering::Acquire)
    }

    /// Reserve the most an attempt could cost: `prompt` tokens and a completion budget of
    /// `completion`. The reason the cap refuses it, when it would take the run past the cap.
    pub(super) fn reserve(&self, prompt: u32, completion: u32) -> Result<Reservation<'_>, String> {
        let (Some(price), cap) = (self.price, self.cap) else {
            return Ok(Reservation { spend: self, amount: 0.0 });
        };
        let most =
            price.cost(Tokens { prompt: u64::from(prompt), cached: 0, completion: u64::from(completion) });
        let mut state = self.lock();
        if let Some(cap) = cap
            && state.spent + state.reserved + most > cap
        {
            self.capped.store(true, Ordering::Release);
            return Err(format!(
                "the spending cap: {} spent of --max-cost {}, and the next request could cost up to {}",
                dollars(state.spent),
                dollars(cap),
                dollars(most)
            ));
        }
        state.reserved += most;
        Ok(Reservation { spend: self, amount: most })
    }

    /// What the server billed for an answer (valid or not).
    pub(super) fn bill(&self, response: &ChatResponse) {
        let Some(price) = self.price else { return };
        let tokens = Tokens {
            prompt: response.prompt_tokens,
            cached: response.cached_tokens,
            completion: response.completion_tokens,
        };
        self.lock().spent += price.cost(tokens);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        if self.amount > 0.0 {
            let mut state = self.spend.lock();
            state.reserved = (state.reserved - self.amount).max(0.0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn price() -> Price {
        Price { input: 1.0, cached_input: Some(0.5), output: 2.0, batch_input: None, batch_output: None }
    }

    fn answer(prompt: u64, cached: u64, completion: u64) -> ChatResponse {
        ChatResponse {
            content: String::new(),
            prompt_tokens: prompt,
            completion_tokens: completion,
            cached_tokens: cached,
        }
    }

    #[test]
    fn no_request_starts_that_could_pass_the_cap_counting_those_in_flight() {
        // $1 in and $2 out a million: a request of 100k prompt tokens and a 200k budget could
        // cost $0.50; the cap is $1.
        let spend = Spend::new(Some(price()), Some(1.0));
        let first = spend.reserve(100_000, 200_000).unwrap();
        let second = spend.reserve(100_000, 200_000).unwrap();
        let refused = spend.reserve(1, 1).err().expect("$1.00 reserved already");
        assert!(refused.contains("--max-cost $1.00"), "{refused}");
        assert!(spend.capped());
        // The first answer used little of its budget: the room comes back.
        spend.bill(&answer(100_000, 40_000, 10_000));
        drop(first);
        // 60k × $1 + 40k × $0.50 + 10k × $2, a million each: $0.10.
        assert!((spend.spent().unwrap() - 0.10).abs() < 1e-9);
        assert!(spend.reserve(100_000, 150_000).is_ok(), "0.10 + 0.50 reserved + 0.40 fits");
        drop(second);
    }

    #[test]
    fn without_a_price_nothing_is_counted_nor_refused() {
        let spend = Spend::new(None, None);
        assert!(spend.reserve(u32::MAX, u32::MAX).is_ok());
        spend.bill(&answer(10, 0, 10));
        assert_eq!(spend.spent(), None);
    }
}
