//! The real binary against a hand-written HTTP server that answers what real servers and the
//! proxies in front of them sometimes send, beyond what the built-in mock does.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::Ko2en;

const REPLY: &str = r#"{"title_en":"Seoul announces a new export plan","summary_ko":"정부가 새 수출 계획을 발표했다. 계획은 내년에 시작된다.","summary_en":"The government announced a new export plan. The plan starts next year.","key_points_en":["A new export plan was announced.","It starts next year."]}"#;

/// A server on 127.0.0.1 whose `n`th answer (counted from 0) is `answer(n)`: the status line
/// and headers, before a JSON body. Returns its base URL and its request counter.
fn serve(
    answer: impl Fn(usize) -> (&'static str, Vec<(&'static str, &'static str)>, String) + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        // A thread per connection: the client may open several, and keeps them alive.
        for stream in listener.incoming().flatten() {
            let (seen, answer) = (Arc::clone(&seen), Arc::clone(&answer));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                while let Some(()) = read_request(&mut reader) {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    let (status, headers, body) = answer(n);
                    let mut response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                        body.len()
                    );
                    for (name, value) in headers {
                        response.push_str(&format!("{name}: {value}\r\n"));
                    }
                    response.push_str("\r\n");
                    response.push_str(&body);
                    if (&stream).write_all(response.as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, count)
}

/// Read one request (headers and a content-length body); None when the client hung up.
fn read_request(reader: &mut BufReader<&TcpStream>) -> Option<()> {
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()
}

fn completion(content: &str) -> String {
    serde_json::json!({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    })
    .to_string()
}

const ARTICLE: &str = "정부, 새 수출 계획 발표\n정부가 새 수출 계획을 발표했다. 계획은 내년에 시작된다.\n";

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
