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

/// The headers worth keeping: rate-limit state and wait hints.
pub(super) fn is_kept(name: &str) -> bool {
    name.starts_with("x-ratelimit-") || name == "retry-after" || name == "retry-after-ms"
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

    /// The figures of OpenAI's `x-ratelimit-*` headers and the wait hint, as of `now`.
    pub(crate) fn server_state(&self, now: SystemTime) -> ServerState {
        let count = |name: &str| self.header(name).and_then(parse_count);
        let reset = |name: &str| self.header(name).and_then(parse_reset);
        ServerState {
            limit_requests: count("x-ratelimit-limit-requests"),
            remaining_requests: count("x-ratelimit-remaining-requests"),
            reset_requests: reset("x-ratelimit-reset-requests"),
            limit_tokens: count("x-ratelimit-limit-tokens"),
            remaining_tokens: count("x-ratelimit-remaining-tokens"),
            reset_tokens: reset("x-ratelimit-reset-tokens"),
            retry_after: retry_hint(|name| self.header(name), now),
        }
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

/// OpenAI's reset durations: "1s", "6m0s", "1.5s", "120ms", "2h3m", also "us"/"µs"/"ns" and a
/// bare number of seconds.
pub(crate) fn parse_reset(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Some(secs) = seconds(s) {
        return Duration::try_from_secs_f64(secs).ok();
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

    fn hint(headers: &[(&str, &str)]) -> Option<Duration> {
        meta(headers).server_state(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000)).retry_after
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
        .server_state(SystemTime::now());
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
        assert_eq!(parse_reset("1s"), Some(ms(1000)));
        assert_eq!(parse_reset("6m0s"), Some(ms(360_000)));
        assert_eq!(parse_reset("1.5s"), Some(ms(1500)));
        assert_eq!(parse_reset("120ms"), Some(ms(120)));
        assert_eq!(parse_reset("2h3m"), Some(ms(7_380_000)));
        assert_eq!(parse_reset(" 20 "), Some(ms(20_000)));
        for bad in ["", "abc", "5x", "s", "inf", "-3"] {
            assert_eq!(parse_reset(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn counts_tolerate_floats_and_refuse_nonsense() {
        assert_eq!(parse_count("149984.0"), Some(149_984));
        assert_eq!(parse_count("-1"), None);
        assert_eq!(parse_count("inf"), None);
    }
}
