//! Which fault, if any, the mock inflicts on one request. Two ways to ask for one:
//!
//! - Rates (`--fail-rate 0.1`…): each fault kind draws a number in [0, 1) from a hash of the
//!   seed, the request body and the request's attempt number, and happens when the draw is
//!   below its rate. The same seed and the same requests give the same faults run after run,
//!   while a retry (same body, next attempt) draws afresh and can succeed, as with a real API.
//! - Markers in the request's content force one fault on that request, for precise tests:
//!   `[[mock:fail=503]]`, `[[mock:drop]]`, `[[mock:garbage]]`, `[[mock:truncate]]`,
//!   `[[mock:hang]]`, `[[mock:hangul]]`, `[[mock:prose]]`, `[[mock:status=400]]`. Adding `:once`
//!   (`[[mock:fail=503:once]]`) limits it to the first attempt, so that the retry succeeds.
//!
//! The attempt number of a request is how many times the mock has already seen its exact body.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use regex::Regex;
use sha2::{Digest, Sha256};

use super::MockOptions;

/// A fault to inflict on one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    /// A server error: 500 or 503 with OpenAI's error body, 502 with a proxy's HTML page.
    Fail(u16),
    /// Close the connection without answering.
    Drop,
    /// A 200 whose body is not JSON.
    Garbage,
    /// A 200 cut short: `finish_reason: "length"` and half the content.
    Truncate,
    /// MockAnswer only after `hang` (longer than any sane client timeout).
    Hang,
    /// A 200 with Korean left in an English field.
    Hangul,
    /// A 200 whose answer is prose, not the JSON asked for (a model ignoring `json_object`).
    Prose,
    /// Any status with OpenAI's error body (a marker only): 400, 404, 422…
    Status(u16),
}

impl Fault {
    /// The fault's name in the request log.
    pub(crate) fn name(self) -> String {
        match self {
            Fault::Fail(status) => format!("fail={status}"),
            Fault::Drop => "drop".into(),
            Fault::Garbage => "garbage".into(),
            Fault::Truncate => "truncate".into(),
            Fault::Hang => "hang".into(),
            Fault::Hangul => "hangul".into(),
            Fault::Prose => "prose".into(),
            Fault::Status(status) => format!("status={status}"),
        }
    }
}

/// How many times each request body has been seen, keyed by its SHA-256.
#[derive(Debug, Default)]
pub(crate) struct Attempts(Mutex<HashMap<[u8; 32], u64>>);

impl Attempts {
    /// The attempt number of a request with this body hash (0 for the first), counting it.
    pub(crate) fn next(&self, body_hash: [u8; 32]) -> u64 {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let count = seen.entry(body_hash).or_insert(0);
        *count += 1;
        *count - 1
    }
}

/// What makes two requests "the same request" for attempt counting: the prompt (the first two
/// `messages`, system and user), not the whole body — a client that retries a truncated answer
/// with a larger `max_tokens`, another temperature, a reminder after the first messages or a
/// repair of the answer is still asking the same thing. Bodies that are not JSON chat requests
/// fall back to the whole body.
pub(crate) fn conversation_hash(body: &[u8]) -> [u8; 32] {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(value) if value.get("messages").is_some_and(serde_json::Value::is_array) => {
            let messages = value["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
            let prompt = &messages[..messages.len().min(2)];
            Sha256::digest(serde_json::Value::from(prompt.to_vec()).to_string()).into()
        }
        _ => body_hash(body),
    }
}

/// The SHA-256 of a request body: names the request in the log and seeds its draws.
pub(crate) fn body_hash(body: &[u8]) -> [u8; 32] {
    Sha256::digest(body).into()
}

/// The fault for one request: a marker in its body wins; otherwise each kind draws against its
/// rate, in a fixed order so that the outcome depends only on seed, body and attempt.
pub(crate) fn choose(options: &MockOptions, body: &[u8], hash: [u8; 32], attempt: u64) -> Option<Fault> {
    if let Some(marker) = marker(&String::from_utf8_lossy(body)) {
        return (!marker.once || attempt == 0).then_some(marker.fault);
    }
    let draw = |kind: &str| draw(options.seed, hash, attempt, kind);
    let kinds = [
        (options.drop_rate, "drop", Fault::Drop),
        (options.hang_rate, "hang", Fault::Hang),
        (options.fail_rate, "fail", Fault::Fail(0)),
        (options.garbage_rate, "garbage", Fault::Garbage),
        (options.truncate_rate, "truncate", Fault::Truncate),
        (options.hangul_rate, "hangul", Fault::Hangul),
    ];
    let (_, _, fault) = kinds.into_iter().find(|(rate, kind, _)| *rate > 0.0 && draw(kind) < *rate)?;
    Some(match fault {
        Fault::Fail(_) => Fault::Fail([500, 502, 503][(draw("status") * 3.0) as usize % 3]),
        other => other,
    })
}

/// A uniform number in [0, 1) from the seed, the body, the attempt and the fault kind.
fn draw(seed: u64, hash: [u8; 32], attempt: u64, kind: &str) -> f64 {
    let mut hasher = Sha256::new();
    hasher.update(seed.to_le_bytes());
    hasher.update(hash);
    hasher.update(attempt.to_le_bytes());
    hasher.update(kind.as_bytes());
    let digest = hasher.finalize();
    let bits = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
    // The top 53 bits make an exact f64 in [0, 1).
    (bits >> 11) as f64 / (1u64 << 53) as f64
}

/// A fault forced by a marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Marker {
    fault: Fault,
    once: bool,
}

static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\[\[mock:(fail|drop|garbage|truncate|hang|hangul|prose|status)(?:=(\d{3}))?(:once)?\]\]")
        .expect("a valid regex")
});

/// The first marker in the text, if any. `fail` without a status means 500; `status` without
/// one is ignored.
fn marker(text: &str) -> Option<Marker> {
    let captures = MARKER.captures(text)?;
    let status = captures.get(2).and_then(|s| s.as_str().parse::<u16>().ok());
    let fault = match &captures[1] {
        "fail" => Fault::Fail(status.unwrap_or(500)),
        "drop" => Fault::Drop,
        "garbage" => Fault::Garbage,
        "truncate" => Fault::Truncate,
        "hang" => Fault::Hang,
        "hangul" => Fault::Hangul,
        "prose" => Fault::Prose,
        _ => Fault::Status(status?),
    };
    Some(Marker { fault, once: captures.get(3).is_some() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(fail_rate: f64, seed: u64) -> MockOptions {
        MockOptions { fail_rate, seed, ..MockOptions::default() }
    }

    fn faults(options: &MockOptions, attempt: u64) -> Vec<Option<Fault>> {
        (0..200)
            .map(|i| {
                let body = format!("{{\"n\":{i}}}");
                choose(options, body.as_bytes(), body_hash(body.as_bytes()), attempt)
            })
            .collect()
    }

    #[test]
    fn draws_are_deterministic_for_a_seed_and_follow_the_rate() {
        let a = faults(&options(0.25, 7), 0);
        assert_eq!(a, faults(&options(0.25, 7), 0));
        assert_ne!(a, faults(&options(0.25, 8), 0), "another seed, other faults");
        let failed = a.iter().filter(|f| f.is_some()).count();
        assert!((25..=75).contains(&failed), "{failed} of 200 at 25%");
        assert!(a.iter().flatten().all(|f| matches!(f, Fault::Fail(500 | 502 | 503))));
        assert!(faults(&options(0.0, 7), 0).iter().all(Option::is_none));
        assert!(faults(&options(1.0, 7), 0).iter().all(Option::is_some));
    }

    #[test]
    fn a_retry_draws_afresh() {
        assert_ne!(faults(&options(0.5, 1), 0), faults(&options(0.5, 1), 1));
    }

    #[test]
    fn markers_force_a_fault_and_once_spares_the_retry() {
        let forced = |text: &str, attempt| choose(&options(0.0, 0), text.as_bytes(), [0; 32], attempt);
        assert_eq!(forced("x [[mock:fail=503]] y", 0), Some(Fault::Fail(503)));
        assert_eq!(forced("[[mock:fail]]", 3), Some(Fault::Fail(500)));
        assert_eq!(forced("[[mock:status=400]]", 0), Some(Fault::Status(400)));
        assert_eq!(forced("[[mock:drop]]", 0), Some(Fault::Drop));
        assert_eq!(forced("[[mock:hangul]]", 0), Some(Fault::Hangul));
        assert_eq!(forced("[[mock:truncate:once]]", 0), Some(Fault::Truncate));
        assert_eq!(forced("[[mock:truncate:once]]", 1), None);
        assert_eq!(forced("[[mock:status]]", 0), None);
    }

    #[test]
    fn a_retry_with_another_budget_is_the_same_attempt_series() {
        let first = br#"{"max_tokens":100,"messages":[{"role":"user","content":"x"}]}"#;
        let larger = br#"{"max_tokens":200,"messages":[{"role":"user","content":"x"}]}"#;
        let other = br#"{"max_tokens":100,"messages":[{"role":"user","content":"y"}]}"#;
        assert_eq!(conversation_hash(first), conversation_hash(larger));
        assert_ne!(conversation_hash(first), conversation_hash(other));
    }

    #[test]
    fn attempts_count_identical_bodies() {
        let attempts = Attempts::default();
        assert_eq!(attempts.next([1; 32]), 0);
        assert_eq!(attempts.next([1; 32]), 1);
        assert_eq!(attempts.next([2; 32]), 0);
    }
}
