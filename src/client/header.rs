//! Every response header ko2en reads, parsed once, here: the rate-limit figures the limiter
//! paces by and the server's wait hint (`retry-after-ms`, `retry-after`) the retry state obeys.
//!
//! A header is whatever a server or a proxy in front of it chose to send, so no value may
//! panic or stall a run: numbers that are not finite, negative or absurd are ignored, an
//! HTTP-date is read relative to the clock, and every wait is clamped to [`LONGEST_HINT`].

use std::time::{Duration, SystemTime};

use crate::limiter::ServerState;

/// The longest wait a server's hint is obeyed for. A per-minute limiter never needs more; a
/// larger figure (an hourly window, `1e300`, a date far ahead) is waited out a minute at a
/// time, each retry asking the server again, instead of stalling the run indefinitely.
pub(crate) const LONGEST_HINT: Duration = Duration::from_secs(60);

/// How a server's rate-limit headers are read, beyond their names (see [`RATE_LIMIT_HEADERS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Every figure is per minute, as OpenAI's are.
    Standard,
    /// The request figures count a day, not a minute (Groq's `x-ratelimit-limit-requests` is
    /// requests per day): they are ignored, the token figures (per minute) kept.
    RequestsPerDay,
}

/// One figure of a server's rate-limit state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figure {
    LimitRequests,
    RemainingRequests,
    ResetRequests,
    LimitTokens,
    RemainingTokens,
    ResetTokens,
}

use Figure::*;

/// Every rate-limit header ko2en reads, and the figure it gives. Where several give the same
/// figure (a LiteLLM proxy's per-key limit beside its provider's, passed through), the
/// tightest wins: that is the one that answers 429 first.
const RATE_LIMIT_HEADERS: &[(&str, Figure)] = &[
    // OpenAI: https://platform.openai.com/docs/guides/rate-limits#rate-limits-in-headers
    // (resets as Go durations: "1s", "6m0s", "20ms"). Azure OpenAI sends the remaining
    // figures, often without limit or reset, sometimes -1 (ignored as not a count). Groq
    // sends the same names, its request figures per day (see `Dialect::RequestsPerDay`).
    ("x-ratelimit-limit-requests", LimitRequests),
    ("x-ratelimit-remaining-requests", RemainingRequests),
    ("x-ratelimit-reset-requests", ResetRequests),
    ("x-ratelimit-limit-tokens", LimitTokens),
    ("x-ratelimit-remaining-tokens", RemainingTokens),
    ("x-ratelimit-reset-tokens", ResetTokens),
    // LiteLLM's proxy, per virtual key (per minute, no reset):
    // https://docs.litellm.ai/docs/proxy/rate_limit_tiers
    ("x-ratelimit-api_key-limit-requests", LimitRequests),
    ("x-ratelimit-api_key-remaining-requests", RemainingRequests),
    ("x-ratelimit-api_key-limit-tokens", LimitTokens),
    ("x-ratelimit-api_key-remaining-tokens", RemainingTokens),
    // The key's own limits, the only figures LiteLLM sends on its streamed answers and its
    // 429s (x-ratelimit-api_key-* come with whole answers only; captured from 1.108.7 by
    // scripts/litellm-proxy.sh).
    ("x-litellm-key-rpm-limit", LimitRequests),
    ("x-litellm-key-tpm-limit", LimitTokens),
    // … and per team, when the key belongs to one with its own limits.
    ("x-ratelimit-team-limit-requests", LimitRequests),
    ("x-ratelimit-team-remaining-requests", RemainingRequests),
    ("x-ratelimit-team-limit-tokens", LimitTokens),
    ("x-ratelimit-team-remaining-tokens", RemainingTokens),
    // LiteLLM passes its provider's headers through with this prefix:
    // https://docs.litellm.ai/docs/proxy/response_headers
    ("llm_provider-x-ratelimit-limit-requests", LimitRequests),
    ("llm_provider-x-ratelimit-remaining-requests", RemainingRequests),
    ("llm_provider-x-ratelimit-reset-requests", ResetRequests),
    ("llm_provider-x-ratelimit-limit-tokens", LimitTokens),
    ("llm_provider-x-ratelimit-remaining-tokens", RemainingTokens),
    ("llm_provider-x-ratelimit-reset-tokens", ResetTokens),
    // Mistral (a real capture: github.com/mistralai/client-ts/issues/169).
    ("x-ratelimit-limit-req-minute", LimitRequests),
    ("x-ratelimit-remaining-req-minute", RemainingRequests),
    ("x-ratelimit-limit-tokens-minute", LimitTokens),
    ("x-ratelimit-remaining-tokens-minute", RemainingTokens),
    // Azure on a token 429, hyphenated, in seconds (github.com/openai/openai-python/issues/937).
    ("x-rate-limit-reset-tokens", ResetTokens),
    // Anthropic: https://docs.anthropic.com/en/api/rate-limits#response-headers (resets as
    // RFC 3339 times; the tokens figures are the most restrictive of input and output).
    ("anthropic-ratelimit-requests-limit", LimitRequests),
    ("anthropic-ratelimit-requests-remaining", RemainingRequests),
    ("anthropic-ratelimit-requests-reset", ResetRequests),
    ("anthropic-ratelimit-tokens-limit", LimitTokens),
    ("anthropic-ratelimit-tokens-remaining", RemainingTokens),
    ("anthropic-ratelimit-tokens-reset", ResetTokens),
];

/// The headers worth keeping: rate-limit state and wait hints.
pub(super) fn is_kept(name: &str) -> bool {
    name == "retry-after" || name == "retry-after-ms" || RATE_LIMIT_HEADERS.iter().any(|(n, _)| *n == name)
}

/// What the last response of one request said, beyond its body.
#[derive(Debug, Clone, Default)]
pub(crate) struct ResponseMeta {
    pub(crate) status: u16,
    /// Lower-cased header names and their values (rate-limit and retry-after headers only).
    pub(crate) headers: Vec<(String, String)>,
}

impl ResponseMeta {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The rate-limit figures of every dialect in [`RATE_LIMIT_HEADERS`] and the wait hint, as
    /// of `now`.
    pub(crate) fn server_state(&self, now: SystemTime, dialect: Dialect) -> ServerState {
        let mut state = ServerState {
            retry_after: retry_hint(|name| self.header(name), now),
            rate_limited: self.status == 429,
            ..Default::default()
        };
        let tighter = |slot: &mut Option<u32>, value: Option<u32>| {
            if let Some(v) = value {
                *slot = Some(slot.map_or(v, |old| old.min(v)));
            }
        };
        for (name, value) in &self.headers {
            let Some(&(_, figure)) = RATE_LIMIT_HEADERS.iter().find(|(n, _)| n == name) else { continue };
            let per_day = dialect == Dialect::RequestsPerDay;
            match figure {
                LimitRequests | RemainingRequests | ResetRequests if per_day => {}
                LimitRequests => tighter(&mut state.limit_requests, parse_count(value)),
                RemainingRequests => tighter(&mut state.remaining_requests, parse_count(value)),
                LimitTokens => tighter(&mut state.limit_tokens, parse_count(value)),
                RemainingTokens => tighter(&mut state.remaining_tokens, parse_count(value)),
                ResetRequests => state.reset_requests = state.reset_requests.or(parse_reset(value, now)),
                ResetTokens => state.reset_tokens = state.reset_tokens.or(parse_reset(value, now)),
            }
        }
        state
    }
}

/// The server's wait hint: `retry-after-ms` (OpenAI's, finer) before `retry-after` (seconds,
/// or an HTTP-date). A value that cannot be a wait is ignored; a long one is clamped.
fn retry_hint<'a>(get: impl Fn(&str) -> Option<&'a str>, now: SystemTime) -> Option<Duration> {
    let millis = get("retry-after-ms").and_then(seconds).map(|ms| ms / 1000.0);
    let wait = match millis {
        Some(secs) => Some(secs),
        None => get("retry-after").and_then(|value| {
            seconds(value).or_else(|| {
                // RFC 9110 allows an HTTP-date; a date already past means "now".
                let at = httpdate::parse_http_date(value.trim()).ok()?;
                Some(at.duration_since(now).map_or(0.0, |d| d.as_secs_f64()))
            })
        }),
    }?;
    Some(Duration::from_secs_f64(wait.min(LONGEST_HINT.as_secs_f64())))
}

/// A non-negative, finite number of seconds (or milliseconds), else None. `inf`, `NaN` and
/// negative figures are not waits; Rust's float parser accepts the first two, so they are
/// refused here.
fn seconds(value: &str) -> Option<f64> {
    value.trim().parse::<f64>().ok().filter(|v| v.is_finite() && *v >= 0.0)
}

/// A reset, in any of the forms servers send: a Go duration ("1s", "6m0s", "20ms" — twenty
/// milliseconds, not minutes), a bare number of seconds, an epoch timestamp (seconds or
/// milliseconds: a number too large to be a wait within a day), or an RFC 3339 time.
pub(crate) fn parse_reset(s: &str, now: SystemTime) -> Option<Duration> {
    let s = s.trim();
    if let Some(secs) = seconds(s) {
        let until = |at: f64| {
            let now = now.duration_since(SystemTime::UNIX_EPOCH).ok()?.as_secs_f64();
            Some(Duration::from_secs_f64((at - now).max(0.0)))
        };
        return match secs {
            s if s >= 1e12 => until(s / 1000.0),
            s if s >= 1e9 => until(s),
            s => Duration::try_from_secs_f64(s).ok(),
        };
    }
    if let Some(at) = parse_rfc3339(s) {
        return Some(at.duration_since(now).unwrap_or(Duration::ZERO));
    }
    parse_go_duration(s)
}

/// Go's duration notation, as OpenAI writes resets: "1s", "6m0s", "1.5s", "120ms", "2h3m",
/// also "us"/"µs"/"ns".
fn parse_go_duration(s: &str) -> Option<Duration> {
    if s.is_empty() {
        return None;
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

/// An RFC 3339 time ("2024-05-01T12:00:30Z", "2024-05-01T21:00:30.5+09:00").
fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |range: std::ops::Range<usize>| s.get(range)?.parse::<i64>().ok();
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut fraction = 0.0;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let digits = after_dot.find(|c: char| !c.is_ascii_digit()).unwrap_or(after_dot.len());
        fraction = format!("0.{}", &after_dot[..digits]).parse().ok()?;
        rest = &after_dot[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(&rest[..1], "+" | "-") && &rest[3..4] == ":" => {
            let minutes = rest[1..3].parse::<i64>().ok()? * 60 + rest[4..6].parse::<i64>().ok()?;
            if rest.starts_with('-') { -minutes * 60 } else { minutes * 60 }
        }
        _ => return None,
    };
    // Days from the civil date (Howard Hinnant's algorithm), then seconds since the epoch.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_secs_f64(fraction))
}

fn parse_count(s: &str) -> Option<u32> {
    let s = s.trim();
    s.parse::<u32>().ok().or_else(|| {
        // Some proxies send "149984.0"; negative or absurd values are ignored.
        let f: f64 = s.parse().ok()?;
        (f.is_finite() && f >= 0.0).then(|| f.min(u32::MAX as f64) as u32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn meta(headers: &[(&str, &str)]) -> ResponseMeta {
        ResponseMeta {
            status: 429,
            headers: headers.iter().map(|(n, v)| (n.to_string(), v.to_string())).collect(),
        }
    }

    /// 2023-11-14T22:13:20Z.
    fn clock() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)
    }

    fn state(headers: &[(&str, &str)], dialect: Dialect) -> ServerState {
        meta(headers).server_state(clock(), dialect)
    }

    fn hint(headers: &[(&str, &str)]) -> Option<Duration> {
        meta(headers).server_state(clock(), Dialect::Standard).retry_after
    }

    #[test]
    fn openai_rate_limit_headers_are_all_read() {
        let state = meta(&[
            ("x-ratelimit-limit-requests", "500"),
            ("x-ratelimit-remaining-requests", "499"),
            ("x-ratelimit-reset-requests", "120ms"),
            ("x-ratelimit-limit-tokens", "30000"),
            ("x-ratelimit-remaining-tokens", "29000"),
            ("x-ratelimit-reset-tokens", "2s"),
            ("retry-after", "3"),
        ])
        .server_state(SystemTime::now(), Dialect::Standard);
        assert_eq!(
            state,
            ServerState {
                limit_requests: Some(500),
                remaining_requests: Some(499),
                reset_requests: Some(ms(120)),
                limit_tokens: Some(30000),
                remaining_tokens: Some(29000),
                reset_tokens: Some(ms(2000)),
                retry_after: Some(ms(3000)),
                rate_limited: true,
            }
        );
    }

    #[test]
    fn milliseconds_win_over_seconds() {
        assert_eq!(hint(&[("retry-after", "3"), ("retry-after-ms", "1500")]), Some(ms(1500)));
        assert_eq!(hint(&[("retry-after", "1.5")]), Some(ms(1500)));
    }

    #[test]
    fn an_infinite_hint_is_ignored_not_a_panic() {
        assert_eq!(hint(&[("retry-after", "inf")]), None);
        assert_eq!(hint(&[("retry-after", "Infinity")]), None);
        assert_eq!(hint(&[("retry-after-ms", "inf")]), None);
    }

    #[test]
    fn a_nan_hint_is_ignored() {
        assert_eq!(hint(&[("retry-after", "NaN")]), None);
        assert_eq!(hint(&[("retry-after-ms", "nan")]), None);
    }

    #[test]
    fn a_negative_hint_is_ignored() {
        assert_eq!(hint(&[("retry-after", "-5")]), None);
        assert_eq!(hint(&[("retry-after-ms", "-1")]), None);
    }

    #[test]
    fn a_huge_hint_is_clamped() {
        assert_eq!(hint(&[("retry-after", "1e300")]), Some(LONGEST_HINT));
        assert_eq!(hint(&[("retry-after", "86400")]), Some(LONGEST_HINT));
        assert_eq!(hint(&[("retry-after-ms", "1e20")]), Some(LONGEST_HINT));
    }

    #[test]
    fn an_http_date_is_a_wait_from_now_clamped_and_never_negative() {
        // The clock of `hint` is 2023-11-14T22:13:20Z.
        assert_eq!(hint(&[("retry-after", "Tue, 14 Nov 2023 22:13:50 GMT")]), Some(ms(30_000)));
        assert_eq!(hint(&[("retry-after", "Tue, 14 Nov 2023 22:00:00 GMT")]), Some(Duration::ZERO));
        assert_eq!(hint(&[("retry-after", "Fri, 31 Dec 9999 23:59:59 GMT")]), Some(LONGEST_HINT));
    }

    #[test]
    fn a_hint_that_is_not_a_number_or_date_is_ignored() {
        assert_eq!(hint(&[("retry-after", "soon")]), None);
        assert_eq!(hint(&[("retry-after", "")]), None);
        assert_eq!(hint(&[]), None);
    }

    #[test]
    fn reset_durations_in_go_notation() {
        let reset = |s| parse_reset(s, clock());
        assert_eq!(reset("1s"), Some(ms(1000)));
        assert_eq!(reset("6m0s"), Some(ms(360_000)));
        assert_eq!(reset("1.5s"), Some(ms(1500)));
        assert_eq!(reset("20ms"), Some(ms(20)), "milliseconds, not minutes");
        assert_eq!(reset("2h3m"), Some(ms(7_380_000)));
        assert_eq!(reset("2m59.56s"), Some(ms(179_560)));
        assert_eq!(reset(" 20 "), Some(ms(20_000)));
        for bad in ["", "abc", "5x", "s", "inf", "-3"] {
            assert_eq!(reset(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn resets_as_epoch_timestamps_and_rfc3339_times_are_waits_from_now() {
        let reset = |s| parse_reset(s, clock());
        assert_eq!(reset("1700000030"), Some(ms(30_000)), "epoch seconds");
        assert_eq!(reset("1700000001500"), Some(ms(1_500)), "epoch milliseconds");
        assert_eq!(reset("1600000000"), Some(Duration::ZERO), "already past");
        assert_eq!(reset("2023-11-14T22:13:50Z"), Some(ms(30_000)));
        assert_eq!(reset("2023-11-15T07:13:50.5+09:00"), Some(ms(30_500)));
        assert_eq!(reset("2023-11-14T22:00:00Z"), Some(Duration::ZERO));
        for bad in ["2023-13-14T22:13:50Z", "2023-11-14T22:13:50", "2023-11-14"] {
            assert_eq!(reset(bad), None, "{bad:?}");
        }
    }

    /// One row per real header sample, with where it came from.
    #[test]
    fn every_dialect_in_the_field() {
        // OpenAI's documented example (platform.openai.com/docs/guides/rate-limits).
        let openai = state(
            &[
                ("x-ratelimit-limit-requests", "60"),
                ("x-ratelimit-limit-tokens", "150000"),
                ("x-ratelimit-remaining-requests", "59"),
                ("x-ratelimit-remaining-tokens", "149984"),
                ("x-ratelimit-reset-requests", "1s"),
                ("x-ratelimit-reset-tokens", "6m0s"),
            ],
            Dialect::Standard,
        );
        assert_eq!((openai.limit_requests, openai.remaining_tokens), (Some(60), Some(149_984)));
        assert_eq!(openai.reset_tokens, Some(ms(360_000)));

        // LiteLLM's proxy with a virtual key's rpm/tpm limits, its provider's passed through.
        let litellm = state(
            &[
                ("x-ratelimit-api_key-limit-requests", "10"),
                ("x-ratelimit-api_key-remaining-requests", "9"),
                ("x-ratelimit-api_key-limit-tokens", "100000"),
                ("x-ratelimit-api_key-remaining-tokens", "99000"),
                ("llm_provider-x-ratelimit-limit-requests", "5000"),
                ("llm_provider-x-ratelimit-remaining-requests", "4999"),
                ("llm_provider-x-ratelimit-reset-requests", "12ms"),
            ],
            Dialect::Standard,
        );
        assert_eq!(
            (litellm.limit_requests, litellm.remaining_requests, litellm.limit_tokens),
            (Some(10), Some(9), Some(100_000)),
            "the key's limit is the tighter one"
        );
        assert_eq!(litellm.reset_requests, Some(ms(12)));
        // Its streamed answers and 429s carry only the key's own limit (captured from 1.108.7
        // by scripts/litellm-proxy.sh); a limit the key does not have is left out or "None".
        let litellm_stream = state(
            &[("x-litellm-key-rpm-limit", "20"), ("x-litellm-key-tpm-limit", "None"), ("retry-after", "60")],
            Dialect::Standard,
        );
        assert_eq!((litellm_stream.limit_requests, litellm_stream.limit_tokens), (Some(20), None));

        // Azure OpenAI: remaining figures only (github.com/Azure/azure-rest-api-specs/issues/26884),
        // or -1 where a figure does not apply (github.com/openai/openai-dotnet/issues/838).
        let azure = state(
            &[
                ("x-ratelimit-remaining-requests", "-1"),
                ("x-ratelimit-remaining-tokens", "79936"),
                ("x-ratelimit-limit-tokens", "-1"),
            ],
            Dialect::Standard,
        );
        assert_eq!(
            azure,
            ServerState { remaining_tokens: Some(79_936), rate_limited: true, ..Default::default() }
        );

        // Groq (console.groq.com/docs/rate-limits): requests per day, tokens per minute.
        let groq_headers = [
            ("x-ratelimit-limit-requests", "14400"),
            ("x-ratelimit-limit-tokens", "18000"),
            ("x-ratelimit-remaining-requests", "14370"),
            ("x-ratelimit-remaining-tokens", "17997"),
            ("x-ratelimit-reset-requests", "2m59.56s"),
            ("x-ratelimit-reset-tokens", "7.66s"),
            ("retry-after", "2"),
        ];
        let groq = state(&groq_headers, Dialect::RequestsPerDay);
        assert_eq!((groq.limit_requests, groq.remaining_requests, groq.reset_requests), (None, None, None));
        assert_eq!((groq.limit_tokens, groq.reset_tokens), (Some(18_000), Some(ms(7_660))));
        assert_eq!(groq.retry_after, Some(ms(2_000)));

        // Mistral (github.com/mistralai/client-ts/issues/169): per-minute names of its own.
        let mistral = state(
            &[
                ("x-ratelimit-limit-tokens-minute", "5000000"),
                ("x-ratelimit-remaining-tokens-minute", "4999911"),
                ("x-ratelimit-tokens-query-cost", "52"),
                ("x-ratelimit-limit-req-minute", "720"),
                ("x-ratelimit-remaining-req-minute", "717"),
            ],
            Dialect::Standard,
        );
        assert_eq!(
            (
                mistral.limit_requests,
                mistral.remaining_requests,
                mistral.limit_tokens,
                mistral.remaining_tokens
            ),
            (Some(720), Some(717), Some(5_000_000), Some(4_999_911))
        );

        // Azure on a token 429 (github.com/openai/openai-python/issues/937).
        let azure_429 = state(&[("x-rate-limit-reset-tokens", "55")], Dialect::Standard);
        assert_eq!(azure_429.reset_tokens, Some(ms(55_000)));

        // Anthropic (docs.anthropic.com/en/api/rate-limits): RFC 3339 resets.
        let anthropic = state(
            &[
                ("anthropic-ratelimit-requests-limit", "50"),
                ("anthropic-ratelimit-requests-remaining", "49"),
                ("anthropic-ratelimit-requests-reset", "2023-11-14T22:13:21Z"),
                ("anthropic-ratelimit-tokens-limit", "40000"),
                ("anthropic-ratelimit-tokens-remaining", "39000"),
                ("anthropic-ratelimit-tokens-reset", "2023-11-14T22:13:50Z"),
                ("retry-after", "30"),
            ],
            Dialect::Standard,
        );
        assert_eq!(
            anthropic,
            ServerState {
                limit_requests: Some(50),
                remaining_requests: Some(49),
                reset_requests: Some(ms(1_000)),
                limit_tokens: Some(40_000),
                remaining_tokens: Some(39_000),
                reset_tokens: Some(ms(30_000)),
                retry_after: Some(ms(30_000)),
                rate_limited: true,
            }
        );
    }

    #[test]
    fn counts_tolerate_floats_and_refuse_nonsense() {
        assert_eq!(parse_count("149984.0"), Some(149_984));
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("inf"), None);
    }
}
