//! How often and how patiently a failed request is tried again.

use std::time::Duration;

/// The retry policy. Which errors are retried at all is `ClientError::recovery`'s decision.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub max_attempts: u32,
    /// First backoff; doubled each retry, with jitter.
    pub base_delay: Duration,
    /// Longest single backoff.
    pub max_delay: Duration,
    /// Largest completion budget a truncated answer may be retried with.
    pub max_completion_tokens: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
            max_completion_tokens: 16_384,
        }
    }
}

impl RetryPolicy {
    /// Backoff before the attempt after `attempt` (counted from 1): the server's hint when it
    /// gave one, else exponential with jitter (between half and all of the ceiling) so that
    /// many failed requests do not come back in lockstep.
    pub fn delay(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        if let Some(hint) = hint {
            return hint.min(self.max_delay);
        }
        let ceiling =
            self.base_delay.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(self.max_delay);
        ceiling.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_is_capped_and_follows_the_servers_hint() {
        let policy = RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            ..Default::default()
        };
        for attempt in 1..10 {
            let d = policy.delay(attempt, None);
            let ceiling = Duration::from_secs(1 << (attempt - 1).min(3));
            assert!(d <= ceiling && d >= ceiling / 2, "attempt {attempt}: {d:?}");
        }
        assert_eq!(policy.delay(1, Some(Duration::from_millis(1500))), Duration::from_millis(1500));
        assert_eq!(policy.delay(1, Some(Duration::from_secs(600))), Duration::from_secs(8));
    }
}
