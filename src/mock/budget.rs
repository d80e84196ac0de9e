//! The mock's rate limits: a requests-per-minute and a tokens-per-minute budget, each counted
//! the way one kind of server counts it (`--limiter`): a token bucket that starts full (a whole
//! minute's worth, as a fresh OpenAI key does) and refills continuously; a fixed window that
//! opens with the first request and forgets everything 60 s later (LiteLLM's proxy and most
//! Redis counters); or a sliding window holding every request of the last 60 s. Each reports
//! its reset as the time until it is full again. It also renders the `x-ratelimit-*` header values OpenAI sends, so
//! that a client's limiter can be tested against the same signals it will see in production.
//!
//! Time is passed in (`tokio::time::Instant`), so the arithmetic is tested without waiting and
//! the server honours tokio's paused clock.

use std::collections::VecDeque;
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use super::options::{HeaderDialect, LimiterKind};

/// The span every per-minute budget counts over.
const MINUTE: Duration = Duration::from_secs(60);

/// One per-minute budget.
#[derive(Debug, Clone)]
struct MockBucket {
    /// The budget per minute, which is also the bucket's size.
    limit: u64,
    level: f64,
    updated: Instant,
}

impl MockBucket {
    fn full(limit: u64, now: Instant) -> MockBucket {
        MockBucket { limit, level: limit as f64, updated: now }
    }

    fn per_second(&self) -> f64 {
        self.limit as f64 / 60.0
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated).as_secs_f64();
        self.level = (self.level + elapsed * self.per_second()).min(self.limit as f64);
        self.updated = now;
    }

    /// How long until `amount` is available (zero if it is now).
    fn wait_for(&self, amount: u64) -> Duration {
        let missing = amount as f64 - self.level;
        if missing <= 0.0 { Duration::ZERO } else { Duration::from_secs_f64(missing / self.per_second()) }
    }

    /// How long until the bucket is full again: OpenAI's "reset".
    fn reset_after(&self) -> Duration {
        self.wait_for(self.limit)
    }
}

/// A per-minute budget as a server of `kind` counts it.
#[derive(Debug, Clone)]
enum Meter {
    Bucket(MockBucket),
    /// Everything admitted since the window opened, forgotten when it closes (`ends`); the next
    /// request opens a new one.
    Fixed {
        limit: u64,
        used: u64,
        ends: Option<Instant>,
    },
    /// What was admitted in the last minute, oldest first.
    Sliding {
        limit: u64,
        log: VecDeque<(Instant, u64)>,
    },
}

impl Meter {
    fn new(kind: LimiterKind, limit: u64, now: Instant) -> Meter {
        match kind {
            LimiterKind::Bucket => Meter::Bucket(MockBucket::full(limit, now)),
            LimiterKind::FixedWindow => Meter::Fixed { limit, used: 0, ends: None },
            LimiterKind::SlidingWindow => Meter::Sliding { limit, log: VecDeque::new() },
        }
    }

    fn limit(&self) -> u64 {
        match self {
            Meter::Bucket(b) => b.limit,
            Meter::Fixed { limit, .. } | Meter::Sliding { limit, .. } => *limit,
        }
    }

    /// Forget what no longer counts at `now`.
    fn update(&mut self, now: Instant) {
        match self {
            Meter::Bucket(b) => b.refill(now),
            Meter::Fixed { used, ends, .. } => {
                if ends.is_some_and(|end| end <= now) {
                    (*used, *ends) = (0, None);
                }
            }
            Meter::Sliding { log, .. } => {
                while log.front().is_some_and(|&(at, _)| at + MINUTE <= now) {
                    log.pop_front();
                }
            }
        }
    }

    fn used(&self) -> u64 {
        match self {
            Meter::Bucket(b) => b.limit - b.level.max(0.0) as u64,
            Meter::Fixed { used, .. } => *used,
            Meter::Sliding { log, .. } => log.iter().map(|&(_, n)| n).sum(),
        }
    }

    /// How long after `now` until `amount` fits (zero if it does now).
    fn wait_for(&self, amount: u64, now: Instant) -> Duration {
        let over = (self.used() + amount).saturating_sub(self.limit());
        match self {
            Meter::Bucket(b) => b.wait_for(amount),
            _ if over == 0 => Duration::ZERO,
            Meter::Fixed { ends, .. } => {
                ends.map_or(Duration::ZERO, |end| end.saturating_duration_since(now))
            }
            Meter::Sliding { log, .. } => {
                // The moment enough of the oldest entries have left the window.
                let mut freed = 0;
                for &(at, n) in log {
                    freed += n;
                    if freed >= over {
                        return (at + MINUTE).saturating_duration_since(now);
                    }
                }
                MINUTE
            }
        }
    }

    fn take(&mut self, amount: u64, now: Instant) {
        match self {
            Meter::Bucket(b) => b.level -= amount as f64,
            Meter::Fixed { used, ends, .. } => {
                *used += amount;
                ends.get_or_insert(now + MINUTE);
            }
            Meter::Sliding { log, .. } => log.push_back((now, amount)),
        }
    }

    /// The headers' figures: the reset is the time until the budget is whole again.
    fn state(&self, now: Instant) -> LimitState {
        let limit = self.limit();
        let remaining = limit.saturating_sub(self.used());
        let reset = match self {
            Meter::Bucket(b) => b.reset_after(),
            Meter::Fixed { ends, .. } => {
                ends.map_or(Duration::ZERO, |end| end.saturating_duration_since(now))
            }
            Meter::Sliding { log, .. } => {
                log.back().map_or(Duration::ZERO, |&(at, _)| (at + MINUTE).saturating_duration_since(now))
            }
        };
        LimitState { limit, remaining, reset }
    }
}

/// Which budget a refusal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Limit {
    Requests,
    Tokens,
}

impl Limit {
    /// OpenAI's wording in error messages.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Limit::Requests => "requests per min (RPM)",
            Limit::Tokens => "tokens per min (TPM)",
        }
    }

    /// OpenAI's error `type` for this limit.
    pub(crate) fn kind(self) -> &'static str {
        match self {
            Limit::Requests => "requests",
            Limit::Tokens => "tokens",
        }
    }
}

/// What the budget decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// Admitted; its cost has been taken.
    Admitted,
    /// Over a budget for now; `wait` is how long until it would fit.
    Limited { limit: Limit, per_minute: u64, used: u64, requested: u64, wait: Duration },
    /// Larger than the whole tokens-per-minute budget: it can never be admitted.
    TooLarge { per_minute: u64, requested: u64 },
}

/// One budget's state as the `x-ratelimit-*` headers report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LimitState {
    pub(crate) limit: u64,
    pub(crate) remaining: u64,
    pub(crate) reset: Duration,
}

/// Both budgets; `None` where no limit is set.
#[derive(Debug)]
pub(crate) struct MockBudget {
    requests: Option<Meter>,
    tokens: Option<Meter>,
}

impl MockBudget {
    pub(crate) fn new(rpm: Option<u64>, tpm: Option<u64>, kind: LimiterKind, now: Instant) -> MockBudget {
        MockBudget {
            requests: rpm.map(|l| Meter::new(kind, l, now)),
            tokens: tpm.map(|l| Meter::new(kind, l, now)),
        }
    }

    /// Admit a request costing one request and `tokens` tokens, or say why not. A refused
    /// request takes nothing from either budget, as with OpenAI.
    pub(crate) fn admit(&mut self, tokens: u64, now: Instant) -> Verdict {
        for meter in self.requests.iter_mut().chain(self.tokens.iter_mut()) {
            meter.update(now);
        }
        if let Some(meter) = &self.tokens
            && tokens > meter.limit()
        {
            return Verdict::TooLarge { per_minute: meter.limit(), requested: tokens };
        }
        for (limit, meter, amount) in
            [(Limit::Requests, &self.requests, 1), (Limit::Tokens, &self.tokens, tokens)]
        {
            if let Some(meter) = meter {
                let wait = meter.wait_for(amount, now);
                if !wait.is_zero() {
                    return Verdict::Limited {
                        limit,
                        per_minute: meter.limit(),
                        used: meter.used(),
                        requested: amount,
                        wait,
                    };
                }
            }
        }
        if let Some(meter) = &mut self.requests {
            meter.take(1, now);
        }
        if let Some(meter) = &mut self.tokens {
            meter.take(tokens, now);
        }
        Verdict::Admitted
    }

    /// Each budget that is set, as its rate-limit headers report it.
    pub(crate) fn states(&mut self, now: Instant) -> Vec<(Limit, LimitState)> {
        let mut out = Vec::new();
        for (limit, meter) in [(Limit::Requests, &mut self.requests), (Limit::Tokens, &mut self.tokens)] {
            let Some(meter) = meter else { continue };
            meter.update(now);
            out.push((limit, meter.state(now)));
        }
        out
    }

    /// The six `x-ratelimit-*` headers OpenAI sends, for the budgets that are set.
    #[cfg(test)]
    pub(crate) fn headers(&mut self, now: Instant) -> Vec<(&'static str, String)> {
        render(&self.states(now), HeaderDialect::OpenAi, SystemTime::now())
    }
}

/// The names a dialect gives one budget's limit, remaining and reset figures (None: not sent).
fn names(dialect: HeaderDialect, limit: Limit) -> [Option<&'static str>; 3] {
    use HeaderDialect as D;
    match (dialect, limit) {
        (D::OpenAi, Limit::Requests) => [
            Some("x-ratelimit-limit-requests"),
            Some("x-ratelimit-remaining-requests"),
            Some("x-ratelimit-reset-requests"),
        ],
        (D::OpenAi, Limit::Tokens) => [
            Some("x-ratelimit-limit-tokens"),
            Some("x-ratelimit-remaining-tokens"),
            Some("x-ratelimit-reset-tokens"),
        ],
        (D::LiteLlm, Limit::Requests) => {
            [Some("x-ratelimit-api_key-limit-requests"), Some("x-ratelimit-api_key-remaining-requests"), None]
        }
        (D::LiteLlm, Limit::Tokens) => {
            [Some("x-ratelimit-api_key-limit-tokens"), Some("x-ratelimit-api_key-remaining-tokens"), None]
        }
        (D::Anthropic, Limit::Requests) => [
            Some("anthropic-ratelimit-requests-limit"),
            Some("anthropic-ratelimit-requests-remaining"),
            Some("anthropic-ratelimit-requests-reset"),
        ],
        (D::Anthropic, Limit::Tokens) => [
            Some("anthropic-ratelimit-tokens-limit"),
            Some("anthropic-ratelimit-tokens-remaining"),
            Some("anthropic-ratelimit-tokens-reset"),
        ],
        (D::Azure, Limit::Requests) => [None, Some("x-ratelimit-remaining-requests"), None],
        (D::Azure, Limit::Tokens) => [None, Some("x-ratelimit-remaining-tokens"), None],
        (D::None, _) => [None, None, None],
    }
}

/// The rate-limit headers of `states` in `dialect`'s names and forms, as of `now`: resets as
/// Go durations, or (Anthropic's) the RFC 3339 time the bucket is full again.
pub(crate) fn render(
    states: &[(Limit, LimitState)],
    dialect: HeaderDialect,
    now: SystemTime,
) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    for &(limit, state) in states {
        let [limit_name, remaining_name, reset_name] = names(dialect, limit);
        let reset = if dialect == HeaderDialect::Anthropic {
            rfc3339(now + state.reset)
        } else {
            go_duration(state.reset)
        };
        let figures = [
            (limit_name, state.limit.to_string()),
            (remaining_name, state.remaining.to_string()),
            (reset_name, reset),
        ];
        out.extend(figures.into_iter().filter_map(|(name, value)| Some((name?, value))));
    }
    out
}

/// `time` as RFC 3339 in UTC, to the second ("2026-12-04T15:00:30Z").
fn rfc3339(time: SystemTime) -> String {
    let secs = time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil date from days since the epoch (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rest / 3600, rest / 60 % 60, rest % 60)
}

/// A duration the way OpenAI writes it in reset headers (Go's `Duration.String` at millisecond
/// precision): "120ms", "1s", "1.5s", "6m0s", "1h2m3s".
pub(crate) fn go_duration(duration: Duration) -> String {
    let ms = duration.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let (hours, minutes, millis) = (ms / 3_600_000, ms / 60_000 % 60, ms % 60_000);
    let seconds = if millis % 1000 == 0 {
        format!("{}s", millis / 1000)
    } else {
        format!("{}.{:03}", millis / 1000, millis % 1000).trim_end_matches('0').to_string() + "s"
    };
    match (hours, minutes) {
        (0, 0) => seconds,
        (0, m) => format!("{m}m{seconds}"),
        (h, m) => format!("{h}h{m}m{seconds}"),
    }
}

#[cfg(test)]
mod dialect_tests {
    use super::*;

    #[test]
    fn each_dialect_names_the_same_figures_its_own_way() {
        let state = LimitState { limit: 60, remaining: 59, reset: Duration::from_secs(1) };
        let states = [(Limit::Requests, state)];
        let openai = vec![
            ("x-ratelimit-limit-requests", "60".to_string()),
            ("x-ratelimit-remaining-requests", "59".to_string()),
            ("x-ratelimit-reset-requests", "1s".to_string()),
        ];
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(render(&states, HeaderDialect::OpenAi, now), openai);
        assert_eq!(
            render(&states, HeaderDialect::LiteLlm, now),
            [
                ("x-ratelimit-api_key-limit-requests", "60".to_string()),
                ("x-ratelimit-api_key-remaining-requests", "59".to_string())
            ]
        );
        let anthropic = render(&states, HeaderDialect::Anthropic, now);
        assert!(
            anthropic.contains(&("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:21Z".to_string())),
            "{anthropic:?}"
        );
        assert_eq!(
            render(&states, HeaderDialect::Azure, now),
            [("x-ratelimit-remaining-requests", "59".to_string())]
        );
        assert!(render(&states, HeaderDialect::None, now).is_empty());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_written_like_openai_writes_them() {
        assert_eq!(go_duration(Duration::from_millis(120)), "120ms");
        assert_eq!(go_duration(Duration::from_secs(1)), "1s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_secs(360)), "6m0s");
        assert_eq!(go_duration(Duration::from_secs(3723)), "1h2m3s");
        assert_eq!(go_duration(Duration::ZERO), "0ms");
    }

    #[test]
    fn the_budget_starts_full_and_refuses_the_request_over_it() {
        let start = Instant::now();
        let mut budget = MockBudget::new(Some(3), None, LimiterKind::Bucket, start);
        for _ in 0..3 {
            assert_eq!(budget.admit(10, start), Verdict::Admitted);
        }
        let Verdict::Limited { limit, wait, used, .. } = budget.admit(10, start) else { panic!("limited") };
        assert_eq!((limit, used), (Limit::Requests, 3));
        // 3 per minute refill one request every 20 s.
        assert_eq!(wait, Duration::from_secs(20));
    }

    #[test]
    fn the_budget_refills_continuously() {
        let start = Instant::now();
        let mut budget = MockBudget::new(None, Some(6000), LimiterKind::Bucket, start);
        assert_eq!(budget.admit(6000, start), Verdict::Admitted);
        assert!(matches!(budget.admit(100, start), Verdict::Limited { limit: Limit::Tokens, .. }));
        // 6000 per minute is 100 per second.
        let Verdict::Limited { wait, .. } = budget.admit(100, start + Duration::from_millis(990)) else {
            panic!("still limited 10 ms early")
        };
        assert!(wait > Duration::from_millis(9) && wait < Duration::from_millis(11), "{wait:?}");
        assert_eq!(budget.admit(100, start + Duration::from_secs(1)), Verdict::Admitted);
    }

    #[test]
    fn a_refused_request_takes_nothing_and_one_too_large_is_told_so() {
        let start = Instant::now();
        let mut budget = MockBudget::new(Some(10), Some(1000), LimiterKind::Bucket, start);
        assert_eq!(budget.admit(1001, start), Verdict::TooLarge { per_minute: 1000, requested: 1001 });
        assert_eq!(budget.admit(900, start), Verdict::Admitted);
        assert!(matches!(budget.admit(200, start), Verdict::Limited { limit: Limit::Tokens, .. }));
        let headers = budget.headers(start);
        assert!(headers.contains(&("x-ratelimit-remaining-requests", "9".into())), "{headers:?}");
        assert!(headers.contains(&("x-ratelimit-remaining-tokens", "100".into())), "{headers:?}");
        // 900 tokens at 1000 per minute take 54 s to come back; one request at 10/min, 6 s.
        assert!(headers.contains(&("x-ratelimit-reset-tokens", "54s".into())), "{headers:?}");
        assert!(headers.contains(&("x-ratelimit-reset-requests", "6s".into())), "{headers:?}");
    }

    #[test]
    fn a_fixed_window_opens_with_its_first_request_and_forgets_all_when_it_closes() {
        let start = Instant::now();
        let mut budget = MockBudget::new(Some(2), None, LimiterKind::FixedWindow, start);
        assert_eq!(budget.admit(0, start + Duration::from_secs(5)), Verdict::Admitted);
        assert_eq!(budget.admit(0, start + Duration::from_secs(30)), Verdict::Admitted);
        // A bucket would have refilled one request by now; the window does not until 65 s.
        let Verdict::Limited { wait, .. } = budget.admit(0, start + Duration::from_secs(50)) else {
            panic!("the window is spent")
        };
        assert_eq!(wait, Duration::from_secs(15));
        let headers =
            render(&budget.states(start + Duration::from_secs(50)), HeaderDialect::OpenAi, SystemTime::now());
        assert!(headers.contains(&("x-ratelimit-remaining-requests", "0".into())), "{headers:?}");
        assert!(headers.contains(&("x-ratelimit-reset-requests", "15s".into())), "{headers:?}");
        assert_eq!(budget.admit(0, start + Duration::from_secs(65)), Verdict::Admitted);
        assert_eq!(budget.admit(0, start + Duration::from_secs(66)), Verdict::Admitted);
        assert!(matches!(budget.admit(0, start + Duration::from_secs(124)), Verdict::Limited { .. }));
    }

    #[test]
    fn a_sliding_window_frees_each_request_a_minute_after_it() {
        let start = Instant::now();
        let mut budget = MockBudget::new(None, Some(100), LimiterKind::SlidingWindow, start);
        assert_eq!(budget.admit(60, start), Verdict::Admitted);
        assert_eq!(budget.admit(40, start + Duration::from_secs(20)), Verdict::Admitted);
        let Verdict::Limited { wait, used, .. } = budget.admit(50, start + Duration::from_secs(30)) else {
            panic!("full")
        };
        // The first 60 tokens leave at 60 s; that frees enough for 50.
        assert_eq!((wait, used), (Duration::from_secs(30), 100));
        let state = budget.states(start + Duration::from_secs(30));
        // Whole again when the newest entry leaves, at 80 s.
        assert_eq!(state[0].1, LimitState { limit: 100, remaining: 0, reset: Duration::from_secs(50) });
        assert_eq!(budget.admit(50, start + Duration::from_secs(60)), Verdict::Admitted);
        assert!(matches!(budget.admit(20, start + Duration::from_secs(61)), Verdict::Limited { .. }));
    }
}
