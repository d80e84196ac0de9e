//! Several routes in one run, through the real binary and mock servers in their own
//! processes: work spread over every route, keys paired with their URLs and kept secret, a
//! route that cannot work left out, one killed mid-run handing its work over with nothing
//! lost, and answers cached whichever route brought them.

mod common;

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use common::{Ko2en, mock_server};
use serde_json::{Value, json};

/// A mock server in its own process, killed when the test ends however it ends.
struct Server {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Server {
    fn start(dir: &Path, name: &str, flags: &[&str]) -> Server {
        let log = dir.join(format!("{name}.log"));
        let (child, url) = mock_server(flags, &log);
        Server { child, url, log }
    }

    /// The requests it received.
    fn requests(&self) -> usize {
        std::fs::read_to_string(&self.log).map(|t| t.lines().count()).unwrap_or(0)
    }

    fn kill(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A JSONL batch of `n` distinct articles.
fn batch(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("batch.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| {
            let text = format!("정부는 올해 수출이 {i}% 늘었다고 밝혔다. 업계는 투자를 확대할 계획이다.");
            json!({"id": format!("a{i}"), "title": format!("기사 {i}"), "text": text}).to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn all_ok(records: &[Value], n: usize) {
    assert_eq!(records.len(), n, "a record per article");
    for record in records {
        assert!(record["error"].is_null(), "{record}");
    }
}

/// A port nothing listens on: bound, then released.
fn closed_port_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}/v1")
}

#[test]
fn work_goes_to_every_route_with_its_own_key_and_no_key_is_shown() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start(dir.path(), "a", &["--latency-ms", "100", "--require-key", "sk-route-a-000000"]);
    let b = Server::start(dir.path(), "b", &["--latency-ms", "100", "--require-key", "sk-route-b-000000"]);
    let input = batch(dir.path(), 24);
    let urls = format!("{},{}", a.url, b.url);
    let run =
        Ko2en::new(["summarize", "--concurrency", "2", "--base-url", &urls, "--api-key-env", "KEY_A,KEY_B"])
            .env("KEY_A", "sk-route-a-000000")
            .env("KEY_B", "sk-route-b-000000")
            .arg_path(&input)
            .run();
    run.assert_code(0);
    all_ok(&run.records(), 24);
    // Two slots on each route: neither route did nearly all of it.
    let (on_a, on_b) = (a.requests(), b.requests());
    assert_eq!(on_a + on_b, 24, "one request per article, none refused");
    assert!(on_a >= 6 && on_b >= 6, "work went to both routes: {on_a} and {on_b}");
    let all = format!("{}{}", run.stdout(), run.stderr());
    assert!(!all.contains("sk-route-a") && !all.contains("sk-route-b"), "a key leaked: {all}");
    // The closing summary says what each route did.
    assert!(run.stderr().contains(&a.url) && run.stderr().contains(&b.url), "{}", run.stderr());
}

#[test]
fn a_route_that_cannot_work_is_left_out_and_the_others_finish_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let good = Server::start(dir.path(), "good", &["--latency-ms", "50"]);
    let refusing = Server::start(dir.path(), "refusing", &["--require-key", "sk-another-key-000000"]);
    let nowhere = closed_port_url();
    let input = batch(dir.path(), 12);
    let run = Ko2en::new(["summarize", "--concurrency", "2"])
        .args(&["--base-url", &refusing.url, "--base-url", &nowhere, "--base-url", &good.url])
        .env("OPENAI_API_KEY", "sk-mine-0000000000")
        .arg_path(&input)
        .run();
    run.assert_code(0);
    all_ok(&run.records(), 12);
    let stderr = run.stderr();
    assert!(
        stderr.contains("left out") && stderr.contains(&refusing.url) && stderr.contains(&nowhere),
        "{stderr}"
    );
    // Each bad route cost what was sent to it before its first refusal came back: its slots.
    assert!(refusing.requests() <= 2, "{} requests sent to a route refusing the key", refusing.requests());
    assert!(!stderr.contains("sk-mine"), "the key leaked: {stderr}");
}

#[test]
fn when_no_route_can_work_the_run_stops_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start(dir.path(), "a", &["--require-key", "sk-another-key-000000"]);
    let input = batch(dir.path(), 6);
    let run = Ko2en::new(["summarize", "--concurrency", "1"])
        .args(&["--base-url", &format!("{},{}", a.url, closed_port_url())])
        .env("OPENAI_API_KEY", "sk-mine-0000000000")
        .arg_path(&input)
        .run();
    run.assert_code(2);
    assert!(run.stderr().contains("401"), "{}", run.stderr());
    assert!(a.requests() <= 2, "{} requests after the key was refused", a.requests());
}

#[test]
fn a_route_killed_mid_run_hands_its_work_to_the_other_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = Server::start(dir.path(), "a", &["--latency-ms", "300"]);
    let b = Server::start(dir.path(), "b", &["--latency-ms", "300"]);
    let input = batch(dir.path(), 40);
    let urls = format!("{},{}", a.url, b.url);
    let run = {
        let args = ["summarize", "--concurrency", "3", "--base-url", &urls];
        let command = Ko2en::new(args).env("OPENAI_API_KEY", "sk-mine-0000000000").arg_path(&input);
        std::thread::spawn(move || command.run())
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while a.requests() < 6 {
        assert!(Instant::now() < deadline, "route a never got work");
        std::thread::sleep(Duration::from_millis(10));
    }
    a.kill();
    let run = run.join().unwrap();
    run.assert_code(0);
    all_ok(&run.records(), 40);
    assert!(run.stderr().contains("is not answering"), "{}", run.stderr());
    assert!(b.requests() >= 40 - a.requests(), "b did the rest");
}

#[test]
fn answers_are_cached_whichever_route_brought_them() {
    let dir = tempfile::tempdir().unwrap();
    let a = Server::start(dir.path(), "a", &["--latency-ms", "50"]);
    let b = Server::start(dir.path(), "b", &["--latency-ms", "50"]);
    let input = batch(dir.path(), 10);
    let cache = dir.path().join("cache.sqlite");
    let cache = cache.to_str().unwrap();
    let both = format!("{},{}", a.url, b.url);
    Ko2en::new(["summarize", "--concurrency", "1", "--cache", cache, "--base-url", &both])
        .env("OPENAI_API_KEY", "sk-mine-0000000000")
        .arg_path(&input)
        .run()
        .assert_code(0);
    assert!(b.requests() > 0, "b answered some");
    let before = a.requests();
    // The first route alone: every answer, b's included, is the cache's.
    let again = Ko2en::new(["summarize", "--cache", cache, "--base-url", &a.url])
        .env("OPENAI_API_KEY", "sk-mine-0000000000")
        .arg_path(&input)
        .run();
    again.assert_code(0);
    all_ok(&again.records(), 10);
    assert_eq!(a.requests(), before, "nothing bought again");
}
