//! The walking skeleton, end to end: the real binary against the built-in mock.

mod common;

use common::{Ko2en, fixture, has_hangul};
use serde_json::Value;
use std::io::Write;

/// Every record has the documented fields, with the documented types.
fn assert_record_shape(record: &Value) {
    let obj = record.as_object().expect("a record is an object");
    for (field, ok) in [
        ("id", record["id"].is_string()),
        ("source", record["source"].is_string()),
        ("title_ko", record["title_ko"].is_string() || record["title_ko"].is_null()),
        ("title_en", record["title_en"].is_string() || record["title_en"].is_null()),
        ("summary_ko", record["summary_ko"].is_string() || record["summary_ko"].is_null()),
        ("summary_en", record["summary_en"].is_string() || record["summary_en"].is_null()),
        ("key_points_en", record["key_points_en"].is_array()),
        ("model", record["model"].is_string()),
        (
            "usage",
            record["usage"]["prompt_tokens"].is_u64()
                && record["usage"]["completion_tokens"].is_u64()
                && record["usage"]["requests"].is_u64(),
        ),
        ("warnings", record["warnings"].is_array()),
        (
            "error",
            record["error"].is_null()
                || (record["error"]["kind"].is_string() && record["error"]["message"].is_string()),
        ),
        ("meta", record["meta"].is_object()),
    ] {
        assert!(obj.contains_key(field) && ok, "field {field} missing or mistyped in {record}");
    }
}

fn assert_summarized(record: &Value) {
    assert_record_shape(record);
    assert!(record["error"].is_null(), "{record}");
    assert!(has_hangul(record["summary_ko"].as_str().unwrap()), "Korean summary expected: {record}");
    let english = record["summary_en"].as_str().unwrap();
    assert!(!english.is_empty() && !has_hangul(english), "English summary expected: {record}");
    assert!(!record["key_points_en"].as_array().unwrap().is_empty());
    assert!(record["usage"]["requests"].as_u64().unwrap() >= 1);
}

#[test]
fn summarize_the_fixtures_directory_gives_one_record_per_seed_in_order() {
    let run = Ko2en::new(["summarize", "--mock", "--quiet"]).arg_path(&fixture("")).run();
    run.assert_code(0);
    let records = run.records();
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(&ids[..2], ["alibaba-cloud-korea", "k-it-smart-city-exports"]);
    assert_eq!(ids.len(), 2 + 5, "the seeds, then the five articles of sample-batch.jsonl");
    records.iter().for_each(assert_summarized);
    assert!(records[0]["title_ko"].as_str().unwrap().contains("마윈 회장의 방한"), "{}", records[0]);
}

#[test]
fn summarize_one_seed_file() {
    let run = Ko2en::new(["summarize", "--mock"]).arg_path(&fixture("k-it-smart-city-exports.txt")).run();
    run.assert_code(0);
    let records = run.records();
    assert_eq!(records.len(), 1);
    assert_summarized(&records[0]);
    assert!(records[0]["source"].as_str().unwrap().ends_with("k-it-smart-city-exports.txt"));
}

#[test]
fn a_jsonl_batch_keeps_order_ids_and_extra_fields() {
    let run = Ko2en::new(["summarize", "--mock", "--concurrency", "3"])
        .arg_path(&fixture("sample-batch.jsonl"))
        .run();
    run.assert_code(0);
    let records = run.records();
    let expected: Vec<String> = std::fs::read_to_string(fixture("sample-batch.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["id"].as_str().unwrap().to_string())
        .collect();
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, expected);
    for record in &records {
        assert_summarized(record);
        assert!(record["meta"]["license"].is_string(), "the licence travels in meta: {record}");
        assert!(record["meta"].get("url").is_some() && record["meta"].get("date").is_some(), "{record}");
        assert!(record["source"].as_str().unwrap().contains("sample-batch.jsonl:"));
    }
}

#[test]
fn stdin_takes_a_plain_article_or_a_jsonl_batch() {
    let page = std::fs::read_to_string(fixture("alibaba-cloud-korea.txt")).unwrap();
    let run = Ko2en::new(["summarize", "--mock", "-"]).stdin(page).run();
    run.assert_code(0);
    let records = run.records();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["id"], "stdin");
    assert_eq!(records[0]["source"], "<stdin>");
    assert_summarized(&records[0]);

    let batch = "{\"id\":\"a\",\"title\":\"제목\",\"text\":\"정부가 새 계획을 발표했다.\"}\n{\"id\":\"b\",\"text\":\"기업들이 투자를 늘렸다.\"}\n";
    let run = Ko2en::new(["summarize", "--mock", "-"]).stdin(batch).run();
    run.assert_code(0);
    let ids: Vec<String> = run.records().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["a", "b"]);

    // A headline in braces is not JSON: still one article.
    let run = Ko2en::new(["summarize", "--mock", "-"])
        .stdin("{단독} 정부, 새 계획 발표\n정부가 새 계획을 발표했다.\n")
        .run();
    run.assert_code(0);
    let records = run.records();
    assert_eq!((records.len(), records[0]["id"].as_str()), (1, Some("stdin")));
}

#[test]
fn a_jsonl_batch_on_stdin_is_answered_line_by_line_while_stdin_is_still_open() {
    // Stdin is streamed, not read whole: the first record comes out before the batch ends,
    // which is also what keeps memory flat for a batch piped in of any length.
    let mut live = Ko2en::new(["summarize", "--mock", "--quiet", "-"]).spawn();
    let mut stdin = live.child.stdin.take().unwrap();
    let stdout = live.child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            if tx.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    let id_of = |line: String| serde_json::from_str::<serde_json::Value>(&line).unwrap()["id"].clone();
    let wait = std::time::Duration::from_secs(60);

    stdin.write_all("\n{\"id\":\"a\",\"text\":\"정부가 새 계획을 발표했다.\"}\n".as_bytes()).unwrap();
    stdin.flush().unwrap();
    let first = rx.recv_timeout(wait).expect("the first record is written while stdin is still open");
    assert_eq!(id_of(first), "a");

    stdin.write_all("{\"id\":\"b\",\"text\":\"기업들이 투자를 늘렸다.\"}\n".as_bytes()).unwrap();
    drop(stdin);
    let second = rx.recv_timeout(wait).expect("the second record");
    assert_eq!(id_of(second), "b");
    assert!(live.child.wait().unwrap().success());
}

#[test]
fn an_empty_file_gets_an_error_record_and_exit_1_while_the_others_are_written() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a-empty.txt"), "").unwrap();
    std::fs::copy(fixture("alibaba-cloud-korea.txt"), dir.path().join("b-seed.txt")).unwrap();
    let run = Ko2en::new(["summarize", "--mock"]).arg_path(dir.path()).run();
    run.assert_code(1);
    let records = run.records();
    assert_eq!(records.len(), 2);
    assert_record_shape(&records[0]);
    assert_eq!(records[0]["id"], "a-empty");
    assert_eq!(records[0]["error"]["kind"], "empty");
    assert!(records[0]["error"]["message"].as_str().unwrap().contains("empty"));
    assert_summarized(&records[1]);
}

#[test]
fn output_goes_to_a_file_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out.jsonl");
    let run = Ko2en::new(["summarize", "--mock", "-o"])
        .arg_path(&out)
        .arg_path(&fixture("alibaba-cloud-korea.txt"))
        .run();
    run.assert_code(0);
    assert!(run.stdout().is_empty());
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(!dir.path().join("out.jsonl.partial").exists());
}

#[test]
fn translate_prints_markdown_with_headline_translation_and_both_summaries() {
    let run = Ko2en::new(["translate", "--mock"]).arg_path(&fixture("alibaba-cloud-korea.txt")).run();
    run.assert_code(0);
    let md = run.stdout();
    assert!(md.starts_with("# [mock]"), "{md}");
    let translation = md.find("## Translation").expect("a translation section");
    let english = md.find("## Summary (English)").expect("an English summary");
    let korean = md.find("## 요약 (Korean)").expect("a Korean summary");
    assert!(translation < english && english < korean, "{md}");
}

#[test]
fn translate_json_prints_the_record_with_the_translation() {
    let run =
        Ko2en::new(["translate", "--mock", "--json"]).arg_path(&fixture("k-it-smart-city-exports.txt")).run();
    run.assert_code(0);
    let records = run.records();
    assert_eq!(records.len(), 1);
    assert_summarized(&records[0]);
    let translation = records[0]["translation_en"].as_str().expect("translation_en");
    assert!(translation.len() > 500 && !has_hangul(translation));
}

#[test]
fn a_missing_key_without_mock_is_a_one_sentence_usage_error() {
    let run = Ko2en::new(["summarize"]).arg_path(&fixture("alibaba-cloud-korea.txt")).run();
    run.assert_code(2);
    let stderr = run.stderr();
    assert!(stderr.contains("OPENAI_API_KEY") && stderr.contains("--mock"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(run.stdout().is_empty());
}

#[test]
fn the_mock_server_command_prints_its_url_and_serves_a_real_client() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ko2en"))
        .args(["mock-server", "--addr", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let base_url = line.trim().to_string();
    assert!(base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/v1"), "{base_url}");
    let run = Ko2en::new(["summarize", "--base-url", &base_url, "--model", "test-model"])
        .env("OPENAI_API_KEY", "sk-test-not-a-real-key-123456")
        .arg_path(&fixture("k-it-smart-city-exports.txt"))
        .run();
    child.kill().ok();
    child.wait().ok();
    run.assert_code(0);
    let records = run.records();
    assert_summarized(&records[0]);
    assert_eq!(records[0]["model"], "test-model");
    let everything = format!("{}{}", run.stdout(), run.stderr());
    assert!(!everything.contains("sk-test-not-a-real-key"), "the key leaked: {everything}");
}

#[test]
fn an_unreachable_endpoint_stops_the_run_after_its_first_attempt_saying_what_to_check() {
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    let run =
        Ko2en::new(["summarize", "--base-url", "http://127.0.0.1:9/v1", "--max-attempts", "2", "--no-cache"])
            .env("OPENAI_API_KEY", "sk-test")
            .arg_path(&fixture("alibaba-cloud-korea.txt"))
            .run();
    run.assert_code(2);
    let records = run.records();
    assert_eq!(records[0]["error"]["kind"], "connection");
    assert!(records[0]["error"]["message"].as_str().unwrap().contains("1 attempt"), "{}", records[0]);
    assert!(run.stderr().contains("is the host name right"), "{}", run.stderr());
}
