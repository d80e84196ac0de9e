//! The batch engine through the real binary and the real mock: each retry class, the run-wide
//! stop on a bad key or an exhausted quota, 429 pacing, record order, and Ctrl-C. The mock's
//! request log counts exactly what was sent.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{Ko2en, fixture, mock_server};
use serde_json::{Value, json};

/// A JSONL batch: one article per text, ids a0, a1, ….
fn batch(dir: &Path, texts: &[String]) -> std::path::PathBuf {
    let path = dir.join("batch.jsonl");
    let lines: Vec<String> = texts
        .iter()
        .enumerate()
        .map(|(i, text)| {
            json!({"id": format!("a{i}"), "title": format!("기사 {i}"), "text": text}).to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn article(marker: &str) -> String {
    format!("정부는 올해 수출이 3.5% 늘었다고 밝혔다. 업계는 투자를 확대할 계획이다 {marker}.")
}

fn log(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a log line"))
        .collect()
}

/// Runs `summarize --mock` on one article with `marker` in it; returns its record and the log.
fn run_with_marker(marker: &str, extra: &[&str]) -> (Value, Vec<Value>, i32) {
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), &[article(marker)]);
    let log_path = dir.path().join("mock.log");
    let mut args = vec!["summarize".to_string(), "--mock".into(), "--quiet".into()];
    args.extend(["--mock-opt".into(), format!("log={}", log_path.display())]);
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(input.display().to_string());
    let run = Ko2en::new(&args).run();
    let record = run.records().pop().expect("one record");
    (record, log(&log_path), run.code())
}

/// A model that answers prose where JSON was asked for answers it again: a retry that says what
/// was wrong, one without `response_format`, then the article fails with the reason, not six
/// identical attempts.
#[test]
fn a_model_answering_prose_gets_one_reminder_and_then_fails_fast() {
    let (record, log, code) = run_with_marker("[[mock:prose]]", &[]);
    assert_eq!(code, 1, "{record}");
    assert_eq!(record["error"]["kind"], "invalid_reply", "{record}");
    assert_eq!(record["usage"]["requests"], 3, "{record}");
    assert_eq!(log.len(), 3);
    let bodies: std::collections::BTreeSet<&str> =
        log.iter().filter_map(|l| l["body_sha256"].as_str()).collect();
    assert_eq!(bodies.len(), 3, "each attempt changes something");
    // What changed: a colder second attempt (with its reminder), a third without the format.
    let sent: Vec<(Value, Value)> =
        log.iter().map(|l| (l["temperature"].clone(), l["response_format"].clone())).collect();
    assert_eq!(
        sent,
        [(json!(null), json!("json_schema")), (json!(0.2), json!("json_schema")), (json!(0.2), json!(null))]
    );
    assert!(record["error"]["message"].as_str().unwrap().contains("after 3 attempts"), "{record}");
}

/// A server that takes only its default temperature (OpenAI's reasoning models) refuses the
/// colder attempt once; the run learns it, says so, and the article's retries go on without.
#[test]
fn a_server_refusing_a_lower_temperature_is_told_once_and_still_gets_the_other_changes() {
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), &[article("[[mock:prose]]"), article("[[mock:prose]] 둘째")]);
    let log_path = dir.path().join("mock.log");
    let mock_log = format!("log={}", log_path.display());
    let flags =
        ["--mock-opt", "default-temperature-only=true", "--mock-opt", &mock_log, "--concurrency", "1"];
    let mut args = vec!["summarize", "--mock"];
    args.extend(flags);
    let input = input.display().to_string();
    args.push(&input);
    let run = Ko2en::new(&args).run();
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let records = run.records();
    assert!(records.iter().all(|r| r["error"]["kind"] == "invalid_reply"), "{records:?}");
    let notices = run.stderr().matches("takes only its default temperature").count();
    assert_eq!(notices, 1, "{}", run.stderr());
    let log = log(&log_path);
    let refused = log.iter().filter(|l| l["faults"] == json!(["temperature_refused"])).count();
    assert_eq!(refused, 1, "{log:?}");
    // Once refused, no request asks for a temperature again; each article still got its
    // reminder and its attempt without the format (3 at least, the first's refused one on top).
    let at = log.iter().position(|l| l["faults"] == json!(["temperature_refused"])).unwrap();
    assert!(log[at + 1..].iter().all(|l| l["temperature"].is_null()), "{log:?}");
    let unformatted = log.iter().filter(|l| l["response_format"].is_null()).count();
    assert_eq!(unformatted, 2, "{log:?}");
}

#[test]
fn retryable_failures_are_retried_once_and_the_article_succeeds() {
    for marker in [
        "[[mock:fail=500:once]]",
        "[[mock:fail=502:once]]",
        "[[mock:fail=503:once]]",
        "[[mock:status=408:once]]",
        "[[mock:status=409:once]]",
        "[[mock:drop:once]]",
        "[[mock:garbage:once]]",
    ] {
        let (record, log, code) = run_with_marker(marker, &[]);
        assert_eq!(code, 0, "{marker}: {record}");
        assert!(record["error"].is_null(), "{marker}: {record}");
        assert_eq!(record["usage"]["requests"], 2, "{marker}: one failure, one success: {record}");
        assert_eq!(log.len(), 2, "{marker}: exactly two requests reached the mock");
    }
}

#[test]
fn a_truncated_answer_is_retried_with_a_larger_budget_never_accepted() {
    let (record, log, code) = run_with_marker("[[mock:truncate:once]]", &[]);
    assert_eq!(code, 0, "{record}");
    assert_eq!(log.len(), 2);
    assert_eq!(log[0]["faults"], json!(["truncate"]));
    assert!(record["summary_en"].as_str().unwrap().starts_with("[mock]"));
}

#[test]
fn an_answer_that_runs_away_fails_fast_instead_of_being_fed_ever_larger_budgets() {
    // Cut at every budget, as a small model repeating one bullet is: twice at the fixed
    // budget (what a summary can need; never more; the second told it ran away), then the
    // article fails with its reason.
    let (record, log, code) = run_with_marker("[[mock:truncate]]", &[]);
    assert_eq!(code, 1, "{record}");
    assert_eq!(log.len(), 2, "two attempts, not six");
    assert_ne!(log[0]["body_sha256"], log[1]["body_sha256"], "not the same request again");
    assert_eq!(record["error"]["kind"], "truncated", "{record}");
    assert_eq!((log[0]["max_tokens"].as_u64(), log[1]["max_tokens"].as_u64()), (Some(1_500), Some(1_500)));
}

#[test]
fn a_streamed_answer_is_timed_by_its_silence_not_its_length() {
    // A slow model: 20 ms a token, so a summary takes about 3 s, three times the timeout.
    // Streamed, a chunk comes every 80 ms and the answer is never silent for a second; asked
    // whole, every attempt is cut at 1 s and paid for nothing.
    let slow = ["--timeout", "1", "--max-attempts", "2", "--mock-opt", "ms-per-token=20"];
    let (record, log, code) = run_with_marker("", &slow);
    assert_eq!(code, 0, "{record}");
    assert_eq!((log.len(), log[0]["stream"].as_bool()), (1, Some(true)), "{log:?}");
    let mut whole = slow.to_vec();
    whole.push("--no-stream");
    let (record, log, code) = run_with_marker("", &whole);
    assert_eq!(code, 1, "{record}");
    assert_eq!(record["error"]["kind"], "timeout", "{record}");
    assert_eq!(log.len(), 2);
}

#[test]
fn a_hung_request_times_out_and_is_retried() {
    let (record, log, code) = run_with_marker("[[mock:hang:once]]", &["--timeout", "1"]);
    assert_eq!(code, 0, "{record}");
    assert_eq!(record["usage"]["requests"], 2, "{record}");
    assert_eq!(log.iter().filter(|l| l["faults"] == json!(["hang"])).count(), 1);
}

#[test]
fn a_client_error_is_not_retried_and_fails_only_its_article() {
    let (record, log, code) = run_with_marker("[[mock:status=400]]", &[]);
    assert_eq!(code, 1);
    assert_eq!(record["error"]["kind"], "http_error", "{record}");
    assert_eq!(log.len(), 1, "a 400 can never succeed: sent once");
    assert_eq!(record["usage"]["requests"], 1, "{record}");
}

#[test]
fn a_persistent_failure_gives_up_after_max_attempts() {
    let (record, log, code) = run_with_marker("[[mock:fail=503]]", &["--max-attempts", "3"]);
    assert_eq!(code, 1);
    assert_eq!(record["error"]["kind"], "server_error");
    assert!(record["error"]["message"].as_str().unwrap().contains("after 3 attempts"), "{record}");
    assert_eq!(log.len(), 3);
    assert_eq!(record["usage"]["requests"], 3, "a failed article still says what it cost: {record}");
}

#[test]
fn an_exhausted_quota_stops_the_run_and_nothing_else_is_sent() {
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = (0..20).map(|i| article(&format!("({i})"))).collect();
    let input = batch(dir.path(), &texts);
    let log_path = dir.path().join("mock.log");
    let run = Ko2en::new(["summarize", "--mock", "--concurrency", "1", "--mock-opt", "quota-exhausted=true"])
        .arg("--mock-opt")
        .arg(format!("log={}", log_path.display()))
        .arg_path(&input)
        .run();
    run.assert_code(2);
    assert!(run.stderr().contains("insufficient_quota"), "{}", run.stderr());
    assert_eq!(log(&log_path).len(), 1, "insufficient_quota is never retried and stops everything");
}

#[test]
fn a_rejected_key_stops_the_run_with_a_clear_message_and_the_key_stays_secret() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("mock.log");
    let (mut server, url) = mock_server(&["--require-key", "sk-right-key-000000"], &log_path);
    let texts: Vec<String> = (0..10).map(|i| article(&format!("({i})"))).collect();
    let input = batch(dir.path(), &texts);
    let run = Ko2en::new(["summarize", "--concurrency", "1", "--base-url", &url])
        .env("OPENAI_API_KEY", "sk-wrong-key-123456789")
        .arg_path(&input)
        .run();
    server.kill().ok();
    server.wait().ok();
    run.assert_code(2);
    let all = format!("{}{}", run.stdout(), run.stderr());
    assert!(all.contains("401"), "{all}");
    assert!(!all.contains("sk-wrong-key-123456789"), "the key leaked: {all}");
    assert_eq!(log(&log_path).len(), 1, "nothing is sent after a 401");
}

/// 66 articles through a mock that allows 60 requests a minute (a burst of 60, then one a
/// second, announced in x-ratelimit-limit-requests), with ko2en's own `settings`; the run's
/// records must all come through, and the mock's log is returned.
fn past_a_60_rpm_server(settings: &[&str]) -> Vec<Value> {
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = (0..66).map(|i| article(&format!("({i})"))).collect();
    let input = batch(dir.path(), &texts);
    let log_path = dir.path().join("mock.log");
    let run = Ko2en::new(["summarize", "--mock", "--quiet", "--concurrency", "8"])
        .args(settings)
        .arg("--mock-opt")
        .arg("rpm=60")
        .arg("--mock-opt")
        .arg(format!("log={}", log_path.display()))
        .arg_path(&input)
        .run();
    run.assert_code(0);
    assert_eq!(run.records().len(), 66);
    log(&log_path)
}

fn refused(log: &[Value]) -> usize {
    log.iter().filter(|l| l["status"] != 200).count()
}

#[test]
fn an_unconfigured_run_learns_the_servers_limit_from_its_headers_and_meets_no_429() {
    // Told nothing, ko2en would send requests 61+ at once and meet 429s; having read the
    // server's limit from its headers, it paces them to the server's refill.
    let log = past_a_60_rpm_server(&[]);
    assert_eq!((log.len(), refused(&log)), (66, 0), "one request per article, none refused");
}

#[test]
fn a_server_stricter_than_the_settings_is_paced_to_its_own_limit() {
    // Told 600 RPM, ko2en meets a server that allows 60: the server's announced limit wins.
    let log = past_a_60_rpm_server(&["--rpm", "600"]);
    assert_eq!(refused(&log), 0);
}

#[test]
fn settings_that_match_the_server_meet_no_429() {
    let log = past_a_60_rpm_server(&["--rpm", "60"]);
    assert_eq!((log.len(), refused(&log)), (66, 0));
}

/// The most requests the mock had in flight at once, from its log.
fn most_in_flight(log: &[Value]) -> usize {
    let mut events: Vec<(u64, i32)> = log
        .iter()
        .flat_map(|l| {
            [(l["arrived_unix_ms"].as_u64().unwrap(), 1), (l["finished_unix_ms"].as_u64().unwrap(), -1)]
        })
        .collect();
    // An end before a start at the same millisecond: touching requests did not overlap.
    events.sort_unstable_by_key(|&(at, delta)| (at, delta));
    let (mut now, mut most) = (0i32, 0i32);
    for (_, delta) in events {
        now += delta;
        most = most.max(now);
    }
    most as usize
}

#[test]
fn told_no_concurrency_a_run_grows_into_the_budget_the_server_announces_and_a_pinned_one_does_not() {
    // 96 articles through a server that allows 600 requests a minute and answers in 400 ms:
    // 16 in flight would take six waves; once the first answers announce the limit, a run
    // told nothing allows as many as a run told --rpm 600 would.
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = (0..96).map(|i| article(&format!("({i})"))).collect();
    let input = batch(dir.path(), &texts);
    let run = |extra: &[&str]| {
        let log_path = dir.path().join("mock.log");
        let run = Ko2en::new(["summarize", "--mock", "--quiet", "--no-cache"])
            .args(extra)
            .args(&["--mock-opt", "rpm=600", "--mock-opt", "latency-ms=400"])
            .arg("--mock-opt")
            .arg(format!("log={}", log_path.display()))
            .arg_path(&input)
            .run();
        run.assert_code(0);
        log(&log_path)
    };
    let grown = run(&[]);
    assert_eq!(refused(&grown), 0);
    assert!(most_in_flight(&grown) > 16, "grew past 16: {}", most_in_flight(&grown));
    let pinned = run(&["--concurrency", "16"]);
    assert!(most_in_flight(&pinned) <= 16, "pinned: {}", most_in_flight(&pinned));
}

#[test]
fn the_limits_a_server_announced_are_remembered_so_the_next_run_starts_with_the_concurrency_they_need() {
    // Told nothing, a first run spends its first trip through a slow server with 16 requests
    // in flight, learning the limits from their answers; the cache remembers them, and the next
    // run on the same endpoint sends its whole first wave at once, as a run told them would.
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = (0..48).map(|i| article(&format!("({i})"))).collect();
    let input = batch(dir.path(), &texts);
    let cache = dir.path().join("cache.sqlite");
    let run = |extra: &[&str]| {
        let log_path = dir.path().join("mock.log");
        Ko2en::new(["summarize", "--mock", "--quiet", "--cache"])
            .arg(&cache)
            .args(extra)
            .args(&["--mock-opt", "rpm=600", "--mock-opt", "latency-ms=400"])
            .arg("--mock-opt")
            .arg(format!("log={}", log_path.display()))
            .arg_path(&input)
            .run()
            .assert_code(0);
        log(&log_path)
    };
    // Whether the 17th request went out before any of the first 16 was answered.
    let seventeenth_in_first_wave = |log: &[Value]| {
        let first_answer = log[..16].iter().map(|l| l["finished_unix_ms"].as_u64().unwrap()).min().unwrap();
        log[16]["arrived_unix_ms"].as_u64().unwrap() < first_answer
    };
    let first = run(&[]);
    assert!(!seventeenth_in_first_wave(&first), "a first run starts with 16 in flight");
    // --refresh buys every answer again, with what the cache knows of the endpoint.
    let second = run(&["--refresh"]);
    assert!(seventeenth_in_first_wave(&second), "the next run starts with what 600 RPM needs");
    let pinned = run(&["--refresh", "--concurrency", "16"]);
    assert!(!seventeenth_in_first_wave(&pinned), "a pinned concurrency stays pinned");
}

#[test]
fn a_server_that_queues_what_it_cannot_run_is_backed_off_from_instead_of_timed_out_against() {
    // A local server with two slots (llama.cpp's, say) that announces no limits: 16 requests
    // in flight wait in its queue, and the wait counts against their timeout. Told nothing,
    // ko2en halves its concurrency on the timeouts and pays for fewer answers it never gets.
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = (0..24).map(|i| article(&format!("({i})"))).collect();
    let input = batch(dir.path(), &texts);
    let run = |extra: &[&str]| {
        let log_path = dir.path().join("mock.log");
        let run = Ko2en::new([
            "summarize",
            "--mock",
            "--quiet",
            "--no-cache",
            "--timeout",
            "2",
            "--max-attempts",
            "4",
        ])
        .args(extra)
        .args(&["--mock-opt", "max-concurrency=2", "--mock-opt", "latency-ms=450"])
        .arg("--mock-opt")
        .arg(format!("log={}", log_path.display()))
        .arg_path(&input)
        .run();
        let log = log(&log_path);
        (run.code(), log.iter().filter(|l| l["status"].is_null()).count())
    };
    let (adaptive_code, adaptive_timeouts) = run(&[]);
    let (_, pinned_timeouts) = run(&["--concurrency", "16"]);
    assert_eq!(adaptive_code, 0);
    assert!(
        adaptive_timeouts < pinned_timeouts,
        "backing off wastes fewer requests: {adaptive_timeouts} timed out against {pinned_timeouts} pinned"
    );
}

#[test]
fn a_local_server_without_limits_is_grown_into_until_a_queue_forms_and_no_further() {
    // A server on 127.0.0.1 that runs 8 requests at once, queues the rest and announces no
    // limits (llama.cpp's with 8 slots). Told nothing, ko2en starts with 2 in flight, doubles
    // while answers come as fast, and stays near the 8 slots once a queue forms.
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("mock.log");
    let flags = ["--max-concurrency", "8", "--latency-ms", "50", "--ms-per-token", "2", "--headers", "none"];
    let (mut server, url) = mock_server(&flags, &log_path);
    let texts: Vec<String> = (0..160).map(|i| article(&format!("({i})"))).collect();
    let input = batch(dir.path(), &texts);
    let run = Ko2en::new(["summarize", "--quiet", "--no-cache", "--base-url", &url])
        .env("OPENAI_API_KEY", "sk-local")
        .arg_path(&input)
        .run();
    server.kill().ok();
    server.wait().ok();
    run.assert_code(0);
    let log = log(&log_path);
    let first_answer = log[..2].iter().map(|l| l["finished_unix_ms"].as_u64().unwrap()).min().unwrap();
    assert!(log[2]["arrived_unix_ms"].as_u64().unwrap() >= first_answer, "2 at once to start with");
    let most = most_in_flight(&log);
    assert!(most > 8, "grew past its start to find the slots: {most}");
    // A slow start overshoots by what it sends before the first queued answer comes back.
    assert!(most <= 24, "no flood of queued requests: {most}");
    // Queueing, over the run: the time requests waited for a slot against the time served.
    let total = |from: &str, to: &str| -> u64 {
        log.iter().map(|l| l[to].as_u64().unwrap() - l[from].as_u64().unwrap()).sum()
    };
    let (waited, served) =
        (total("arrived_unix_ms", "started_unix_ms"), total("started_unix_ms", "finished_unix_ms"));
    assert!(
        waited * 2 < served,
        "requests mostly served, not queued: {waited} ms waiting, {served} ms served"
    );
}

#[test]
fn records_come_out_in_input_order_whatever_finishes_first() {
    // Long articles take longer (the mock paces per completion token), so with concurrency
    // they finish out of order.
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> =
        (0..12).map(|i| if i % 3 == 0 { article("").repeat(20) } else { article("") }).collect();
    let input = batch(dir.path(), &texts);
    let run =
        Ko2en::new(["summarize", "--mock", "--quiet", "--concurrency", "6", "--mock-opt", "ms-per-token=2"])
            .arg_path(&input)
            .run();
    run.assert_code(0);
    let ids: Vec<String> = run.records().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    let expected: Vec<String> = (0..12).map(|i| format!("a{i}")).collect();
    assert_eq!(ids, expected);
}

#[test]
fn a_long_article_is_summarized_in_parts_then_combined() {
    let text = std::fs::read_to_string(fixture("alibaba-cloud-korea.txt")).unwrap();
    let run = Ko2en::new(["summarize", "--mock", "--quiet", "--max-chunk-tokens", "300"])
        .arg_path(&fixture("alibaba-cloud-korea.txt"))
        .run();
    run.assert_code(0);
    let record = &run.records()[0];
    let requests = record["usage"]["requests"].as_u64().unwrap();
    assert!(requests >= 4, "several parts and one combine for {} chars: {record}", text.len());
}

#[test]
fn a_translation_is_stitched_from_passages_in_order() {
    let run = Ko2en::new(["translate", "--mock", "--json", "--max-chunk-tokens", "200"])
        .arg_path(&fixture("k-it-smart-city-exports.txt"))
        .run();
    run.assert_code(0);
    let record = &run.records()[0];
    let translation = record["translation_en"].as_str().unwrap();
    // One English paragraph per Korean paragraph (the mock keeps the count), joined by the
    // source's own breaks.
    assert!(translation.split('\n').count() >= 8, "{translation}");
    assert!(record["usage"]["requests"].as_u64().unwrap() >= 5, "{record}");
}

#[cfg(unix)]
#[test]
fn ctrl_c_finishes_what_is_in_flight_keeps_it_in_the_partial_file_and_exits_130() {
    use std::io::{BufRead, BufReader};
    let dir = tempfile::tempdir().unwrap();
    let texts: Vec<String> = (0..40).map(|i| article(&format!("({i})"))).collect();
    let input = batch(dir.path(), &texts);
    let out = dir.path().join("out.jsonl");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ko2en"))
        .args([
            "summarize",
            "--mock",
            "--no-cache",
            "--concurrency",
            "2",
            "--mock-opt",
            "latency-ms=300",
            "-o",
        ])
        .arg(&out)
        .arg(&input)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until some records are written, then interrupt.
    let partial = dir.path().join("out.jsonl.partial");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(&partial).map(|t| t.lines().count()).unwrap_or(0) < 2 {
        assert!(std::time::Instant::now() < deadline, "no record was written");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let stderr: Vec<String> =
        BufReader::new(child.stderr.take().unwrap()).lines().map_while(Result::ok).collect();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(130), "{stderr:?}");
    assert!(stderr.iter().any(|l| l.contains("interrupted")), "{stderr:?}");
    // Not every article has a record: the final name is not given, the partial file keeps
    // what was done, and the same command resumes from the cache.
    assert!(!out.exists(), "an interrupted run's output got the final name");
    assert!(stderr.iter().any(|l| l.contains("Run the same command again")), "{stderr:?}");
    let text = std::fs::read_to_string(&partial).expect("what was done is in the partial file");
    let ids: Vec<String> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).expect("whole JSON lines")["id"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(ids.len() >= 2 && ids.len() < 40, "{} records", ids.len());
    let expected: Vec<String> = (0..ids.len()).map(|i| format!("a{i}")).collect();
    assert_eq!(ids, expected, "a prefix of the batch, in order");
}

/// A passage whose repair leaves Hangul in the English as the first answer did is translated
/// in halves once (a third request alike would be blind): the half without the fault comes
/// back clean, the other is repaired once, and nothing is halved again.
#[test]
fn a_passage_whose_problem_outlasts_the_repair_is_translated_in_halves_once() {
    let dir = tempfile::tempdir().unwrap();
    let sentences: Vec<String> = (0..24)
        .map(|i| {
            let marker = if i == 3 { " [[mock:hangul]]" } else { "" };
            format!(
                "정부는 {i}월 수출이 {}.5% 늘었다고 밝혔으며 업계는 투자를 확대할 계획이다{marker}.",
                i + 1
            )
        })
        .collect();
    let input = batch(dir.path(), &[sentences.join(" ")]);
    let log_path = dir.path().join("mock.log");
    let mock_log = format!("log={}", log_path.display());
    let input = input.display().to_string();
    let run = Ko2en::new(["translate", "--mock", "--quiet", "--mock-opt", &mock_log, &input]).run();
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let record = run.records().pop().unwrap();
    let log = log(&log_path);
    let leaked = |l: &&Value| l["faults"] == json!(["hangul"]);
    // The summary: first answer and repair, both with the fault. The translation: the whole
    // passage and its repair, then two halves, the faulty one repaired once more.
    assert_eq!(log.iter().filter(leaked).count(), 2 + 2 + 2, "{log:?}");
    assert_eq!(log.len(), 2 + 2 + 3, "{log:?}");
    assert_eq!(record["usage"]["requests"], 7, "{record}");
    // Translation requests are those with a translation's budget (a summary's is 1,500):
    // two for the whole passage, three with the smaller budgets of its halves.
    let mut budgets: Vec<u64> =
        log.iter().map(|l| l["max_tokens"].as_u64().unwrap()).filter(|&b| b != 1_500).collect();
    budgets.sort_unstable();
    assert_eq!(budgets.len(), 5, "{budgets:?}");
    assert!(
        budgets[2] < budgets[3] && budgets[3] == budgets[4],
        "three halves' budgets, then the whole's two: {budgets:?}"
    );
    // On a tie (one problem each way) the whole passage's English is kept.
    let warnings = record["warnings"].as_array().unwrap();
    assert!(warnings.iter().any(|w| w["kind"] == "hangul_in_english"), "{record}");
    assert!(record["translation_en"].as_str().is_some_and(|t| !t.is_empty()), "{record}");
}
