//! Who is buying an answer now: this run's claim on a request in the cache (so that another
//! run on the same cache waits for it instead of paying twice), and a leader's entry in the
//! pool's in-flight map (so that identical calls of this run share one request). Both are
//! given up however their holder ends: done, failed or cancelled.

use std::time::Duration;

use super::Pool;
use crate::cache::{Cache, Key};

/// How long a claim outlives its request's timeout: the margin for retries' backoff. A run
/// that dies holding a claim delays others by at most the timeout plus this.
pub(super) const CLAIM_MARGIN: Duration = Duration::from_secs(60);
/// How often a run waiting for another's answer looks again.
pub(super) const CLAIM_POLL: Duration = Duration::from_millis(500);

/// This run's claim on a request (see `Cache::claim`): given up when the request fails, or
/// when the leader is cancelled, so that another run need not wait for the lease to end. An
/// answer ends it in the same transaction that stores the answer.
pub(super) struct Claim {
    pub(super) cache: Cache,
    pub(super) key: Key,
    pub(super) settled: bool,
}

impl Claim {
    pub(super) async fn settle(mut self, answered: bool) {
        self.settled = true;
        if !answered {
            self.cache.release(self.key).await;
        }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if !self.settled
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            let (cache, key) = (self.cache.clone(), self.key);
            runtime.spawn(async move { cache.release(key).await });
        }
    }
}

/// Removes a leader's in-flight entry however the leader ends (done or cancelled).
pub(super) struct InFlight<'a> {
    pub(super) pool: &'a Pool,
    pub(super) key: Key,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.pool.in_flight.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.key);
    }
}
