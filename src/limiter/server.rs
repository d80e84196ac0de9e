//! What the server said about its limits: the `x-ratelimit-*` and `Retry-After` headers
//! parsed into a [`ServerState`].

use std::time::Duration;

/// What a response's headers said. Build it with [`ServerState::from_headers`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerState {
    pub limit_requests: Option<u32>,
    pub remaining_requests: Option<u32>,
    pub reset_requests: Option<Duration>,
    pub limit_tokens: Option<u32>,
    pub remaining_tokens: Option<u32>,
    pub reset_tokens: Option<Duration>,
    pub retry_after: Option<Duration>,
}

/// Parse OpenAI's reset durations: "1s", "6m0s", "1.5s", "120ms", "2h3m",
/// also "us"/"µs"/"ns" and a bare number (seconds, as in `Retry-After`).
pub fn parse_reset(s: &str) -> Option<Duration> {
    let s = s.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(secs) = s.parse::<f64>() {
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

impl ServerState {
    /// Parse all rate-limit headers by (lower-case) name. `get` should look
    /// headers up case-insensitively, as HTTP header maps do.
    pub fn from_headers<'a>(get: impl Fn(&str) -> Option<&'a str>) -> ServerState {
        let count = |name: &str| get(name).and_then(parse_count);
        let dur = |name: &str| get(name).and_then(parse_reset);
        // retry-after-ms is more precise than Retry-After (whole seconds; an
        // HTTP-date form is not parsed and yields None).
        let retry_after = get("retry-after-ms")
            .and_then(|v| v.trim().parse::<f64>().ok())
            .and_then(|ms| Duration::try_from_secs_f64(ms / 1000.0).ok())
            .or_else(|| {
                get("retry-after")
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
            });
        ServerState {
            limit_requests: count("x-ratelimit-limit-requests"),
            remaining_requests: count("x-ratelimit-remaining-requests"),
            reset_requests: dur("x-ratelimit-reset-requests"),
            limit_tokens: count("x-ratelimit-limit-tokens"),
            remaining_tokens: count("x-ratelimit-remaining-tokens"),
            reset_tokens: dur("x-ratelimit-reset-tokens"),
            retry_after,
        }
    }
}
