//! The real binary against a hand-written HTTP server that answers what real servers and the
//! proxies in front of them sometimes send, beyond what the built-in mock does.

mod common;

use std::sync::atomic::Ordering;

use common::{ARTICLE, Ko2en, REPLY, completion, serve};

#[test]
fn a_retry_after_that_is_not_a_finite_wait_is_ignored_not_a_crash() {
    // (A huge finite hint is clamped to a minute: see the unit tests of `client::header`.)
    for hint in ["inf", "-inf", "NaN", "-5"] {
        let (url, requests) = serve(move |n| match n {
            0 => (
                "429 Too Many Requests",
                vec![("retry-after", hint)],
                r#"{"error":{"message":"slow down","type":"requests","code":"rate_limit_exceeded"}}"#.into(),
            ),
            _ => ("200 OK", vec![], completion(REPLY)),
        });
        let run = Ko2en::new(["summarize", "--quiet", "--no-cache", "--base-url", &url, "-"])
            .env("OPENAI_API_KEY", "sk-test")
            .stdin(ARTICLE)
            .run();
        run.assert_code(0);
        let records = run.records();
        assert_eq!(records.len(), 1, "retry-after: {hint}");
        assert_eq!(records[0]["error"], serde_json::Value::Null, "retry-after: {hint}");
        assert!(requests.load(Ordering::SeqCst) >= 2, "retry-after: {hint}: the 429 was retried");
    }
}
