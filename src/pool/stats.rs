//! A run's counters, for progress, the closing summary and the spending cap.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::price::{Price, Tokens};

/// Counters of a run, for progress and the closing summary.
#[derive(Debug, Default)]
pub(crate) struct PoolStats {
    /// HTTP requests sent (attempts, retries included).
    pub(crate) sent: AtomicU64,
    /// Requests on the wire right now.
    pub(crate) in_flight: AtomicU64,
    /// Tokens billed in this run.
    pub(crate) prompt_tokens: AtomicU64,
    pub(crate) completion_tokens: AtomicU64,
    /// Calls answered from the cache.
    pub(crate) from_cache: AtomicU64,
    /// Calls that waited for an identical call in flight instead of sending their own.
    pub(crate) shared: AtomicU64,
    /// Requests that found every concurrency slot taken and waited for one.
    pub(crate) slot_waits: AtomicU64,
    /// Requests allowed in flight now: pinned, or moved by `concurrency` (growing with the
    /// budget a server announces, or following its latency).
    pub(crate) concurrency: AtomicU64,
    /// Completion tokens asked for, over every attempt sent: what the budgets reserved.
    pub(crate) reserved_completion: AtomicU64,
    /// Pieces (tokens) of streamed answers received so far, finished or not: the client's
    /// count, for progress while long answers are being written.
    pub(crate) streamed: std::sync::Arc<AtomicU64>,
    /// Of the prompt tokens billed, those the provider served from its prompt cache.
    pub(crate) cached_tokens: AtomicU64,
    /// The model's price, when known: what the tokens billed cost.
    pub(crate) price: Option<Price>,
    /// Retries, by the kind of error that caused them.
    retries: Mutex<BTreeMap<&'static str, u64>>,
}

impl PoolStats {
    /// Counters at zero, for a run whose streamed pieces `streamed` counts, priced at `price`.
    pub(super) fn new(streamed: std::sync::Arc<AtomicU64>, price: Option<Price>) -> PoolStats {
        PoolStats { streamed, price, ..PoolStats::default() }
    }

    pub(crate) fn retries(&self) -> BTreeMap<&'static str, u64> {
        self.retries.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn total_retries(&self) -> u64 {
        self.retries().values().sum()
    }

    /// USD spent so far: the price of the tokens billed, when the model has one.
    pub(crate) fn spent(&self) -> Option<f64> {
        let tokens = Tokens {
            prompt: self.prompt_tokens.load(Ordering::Relaxed),
            cached: self.cached_tokens.load(Ordering::Relaxed),
            completion: self.completion_tokens.load(Ordering::Relaxed),
        };
        self.price.map(|price| price.cost(tokens))
    }

    pub(super) fn count_retry(&self, kind: &'static str) {
        *self.retries.lock().unwrap_or_else(|e| e.into_inner()).entry(kind).or_default() += 1;
    }
}
