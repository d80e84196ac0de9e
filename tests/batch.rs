//! Large jobs through a batch engine of the user's own, through the real binary: rounds of
//! `batch export` answered by an engine (here the built-in mock, driven as vLLM's `run_batch`
//! drives a model: each line's body posted, the answer written with its `custom_id`), read back
//! by `batch ingest`, until nothing is left; then the live command writes, sending nothing, the
//! very output a live run writes.

mod common;

use std::path::Path;
use std::time::Duration;

use common::Ko2en;
use serde_json::{Value, json};

/// The engine: every request of `requests` answered by the mock, written as vLLM's run_batch
/// writes results; the requests whose `custom_id` is in `fail` get an error line instead.
fn engine(requests: &Path, results: &Path, fail: &[&str]) -> usize {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        ko2en::client::install_crypto_provider();
        let server = ko2en::mock::MockServer::start("127.0.0.1:0".parse().unwrap(), Default::default()).await.unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let mut out = String::new();
        let text = std::fs::read_to_string(requests).unwrap();
        for line in text.lines() {
            let request: Value = serde_json::from_str(line).unwrap();
            assert_eq!((request["method"].as_str(), request["url"].as_str()), (Some("POST"), Some("/v1/chat/completions")));
            let id = request["custom_id"].as_str().unwrap();
            let result = if fail.contains(&id) {
                json!({"id": "vllm-x", "custom_id": id, "response": null, "error": {"code": "server_error", "message": "boom"}})
            } else {
                let url = format!("{}/chat/completions", server.base_url());
                let body: Value = http.post(url).json(&request["body"]).send().await.unwrap().json().await.unwrap();
                json!({"id": "vllm-x", "custom_id": id, "response": {"status_code": 200, "request_id": "r", "body": body}, "error": null})
            };
            out.push_str(&format!("{result}\n"));
        }
        std::fs::write(results, out).unwrap();
        text.lines().count()
    })
}

#[test]
fn a_job_in_rounds_through_an_engine_writes_what_a_live_run_writes() {
    let dir = tempfile::tempdir().unwrap();
    let batch = common::corpus(dir.path(), 6);
    let cache = dir.path().join("cache.sqlite");
    let requests = dir.path().join("requests.jsonl");
    let results = dir.path().join("results.jsonl");
    let export = || {
        Ko2en::new(["batch", "export", "--task", "translate", "--mock", "-m", "gpt-4o-mini", "-o"])
            .arg_path(&requests)
            .arg("--cache")
            .arg_path(&cache)
            .arg_path(&batch)
            .run()
    };
    let ingest = || Ko2en::new(["batch", "ingest", "--cache"]).arg_path(&cache).arg_path(&results).run();
    let mut rounds = Vec::new();
    let mut failed: Option<String> = None;
    loop {
        std::fs::remove_file(&requests).ok();
        let round = export();
        round.assert_code(0);
        if let Some(id) = failed.as_deref().filter(|_| rounds.len() == 1) {
            let asked = std::fs::read_to_string(&requests).unwrap();
            assert!(asked.contains(id), "the request the engine failed is asked again");
        }
        if round.stdout().starts_with("nothing left to send") {
            assert!(round.stdout().contains("6 articles done from the cache"), "{}", round.stdout());
            break;
        }
        assert!(rounds.len() < 6, "a job of long articles ends in a few rounds: {rounds:?}");
        // The engine fails one request of the first round: it is asked again in the next.
        let lines = std::fs::read_to_string(&requests).unwrap();
        let first_id: String =
            serde_json::from_str::<Value>(lines.lines().next().unwrap()).unwrap()["custom_id"]
                .as_str()
                .unwrap()
                .into();
        let fail: Vec<&str> = if rounds.is_empty() { vec![first_id.as_str()] } else { vec![] };
        let answered = engine(&requests, &results, &fail);
        rounds.push(answered);
        let read = ingest();
        read.assert_code(0);
        if rounds.len() == 1 {
            assert!(read.stdout().contains("1 not usable (1 server_error)"), "{}", read.stdout());
            failed = Some(first_id);
            // Ingesting the same results again adds nothing.
            let again = ingest();
            assert!(
                again.stdout().contains("stored 0 answers")
                    && again.stdout().contains("already in the cache"),
                "{}",
                again.stdout()
            );
        }
    }
    assert!(rounds.len() >= 2, "long articles take more than one round: {rounds:?}");

    // The live command now sends nothing and writes what a live run on a fresh cache writes.
    let log = dir.path().join("mock.log");
    let out = dir.path().join("out.jsonl");
    let served = Ko2en::new(["translate", "--mock", "-m", "gpt-4o-mini", "--mock-opt"])
        .arg(format!("log={}", log.display()))
        .arg("--cache")
        .arg_path(&cache)
        .arg("-o")
        .arg_path(&out)
        .arg_path(&batch)
        .run();
    served.assert_code(0);
    assert_eq!(std::fs::read_to_string(&log).unwrap_or_default().lines().count(), 0, "nothing sent");
    let live_out = dir.path().join("live.jsonl");
    let live = Ko2en::new(["translate", "--mock", "-m", "gpt-4o-mini", "-o"])
        .arg_path(&live_out)
        .arg_path(&batch)
        .run();
    live.assert_code(0);
    let (batched, live) = (common::jsonl(&out), common::jsonl(&live_out));
    assert_eq!(batched.len(), 6);
    assert_eq!(batched, live, "the same records, costs and all");
}

#[test]
fn an_export_needs_a_file_and_a_cache_and_says_when_nothing_is_left() {
    let dir = tempfile::tempdir().unwrap();
    let no_file = Ko2en::new(["batch", "export", "--mock"]).arg_path(&common::fixture("")).run();
    assert_eq!(no_file.code(), 2);
    assert!(no_file.stderr().contains("-o FILE.jsonl"), "{}", no_file.stderr());
    let no_cache = Ko2en::new(["batch", "export", "--mock", "--no-cache", "-o"])
        .arg_path(&dir.path().join("r.jsonl"))
        .arg_path(&common::fixture(""))
        .run();
    assert_eq!(no_cache.code(), 2);
    assert!(no_cache.stderr().contains("--no-cache"), "{}", no_cache.stderr());
    let foreign = dir.path().join("foreign.jsonl");
    std::fs::write(&foreign, "{\"custom_id\":\"request-1\",\"response\":{}}\n").unwrap();
    let read = Ko2en::new(["batch", "ingest", "--cache"])
        .arg_path(&dir.path().join("c.sqlite"))
        .arg_path(&foreign)
        .run();
    assert_eq!(read.code(), 1, "nothing of ko2en's in it: {}", read.stdout());
    assert!(read.stdout().contains("1 lines not ko2en's skipped"), "{}", read.stdout());
}

/// The job through a provider's batch API (the mock-server's files and batches endpoints, in a
/// process of its own as a provider is): submitted, looked at, collected while still running,
/// collected round after round (each batch expiring after 5 answers, so that the expired
/// requests are asked again), until collect writes the output a live run writes, batch-priced.
#[test]
fn a_job_through_a_batch_api_ends_with_the_live_runs_output() {
    let dir = tempfile::tempdir().unwrap();
    let batch = common::corpus(dir.path(), 4);
    // A planted check failure: the first answer of this article leaves Korean in its English,
    // so its repair is a round of its own.
    let planted = json!({"id": "planted", "title": "수출", "text": "정부는 올해 수출이 3.5% 늘었다고 밝혔다. [[mock:hangul:once]]"});
    let mut lines = std::fs::read_to_string(&batch).unwrap();
    lines.push_str(&format!("{planted}\n"));
    std::fs::write(&batch, lines).unwrap();
    let cache = dir.path().join("cache.sqlite");
    let log = dir.path().join("provider.log");
    let (provider, url) =
        common::mock_server(&["--batch-delay-ms", "1500", "--batch-expire-after", "5"], &log);
    let provider = Killed(provider);
    let out = dir.path().join("out.jsonl");
    let job = |command: &str| {
        let job = command == "collect" || command == "submit";
        let mut args = vec!["batch", command, "-m", "gpt-4o-mini", "--base-url", url.as_str()];
        if job {
            args.extend(["--task", "translate", "-o", out.to_str().unwrap()]);
        }
        let mut run = Ko2en::new(args).env("OPENAI_API_KEY", "sk-test").arg("--cache").arg_path(&cache);
        if job {
            run = run.arg_path(&batch);
        }
        run.run()
    };
    let submitted = job("submit");
    submitted.assert_code(0);
    assert!(submitted.stdout().contains("\nround 1: "), "{}", submitted.stdout());
    let again = job("submit");
    assert_eq!(again.code(), 2, "an open round is never submitted twice: {}", again.stdout());
    assert!(again.stderr().contains("not collected yet"), "{}", again.stderr());
    let status = job("status");
    status.assert_code(0);
    assert!(
        status.stdout().contains("round 1 · batch_mock") && status.stdout().contains("in_progress"),
        "{}",
        status.stdout()
    );
    let early = job("collect");
    early.assert_code(0);
    assert!(early.stderr().contains("collect again"), "{}", early.stderr());
    let mut collects = 0;
    while !out.exists() {
        collects += 1;
        assert!(collects < 40, "the job ends");
        std::thread::sleep(std::time::Duration::from_millis(1_600));
        let collected = job("collect");
        collected.assert_code(0);
    }
    assert!(collects >= 3, "five answers a batch: several rounds ({collects})");
    let nothing = job("status");
    assert!(nothing.stdout().contains("waits to be collected"), "{}", nothing.stdout());
    drop(provider);

    let live_out = dir.path().join("live.jsonl");
    let live = Ko2en::new(["translate", "--mock", "-m", "gpt-4o-mini", "-o"])
        .arg_path(&live_out)
        .arg_path(&batch)
        .run();
    live.assert_code(0);
    let (mut batched, mut live) = (common::jsonl(&out), common::jsonl(&live_out));
    assert_eq!(batched.len(), 5);
    let repaired = batched.iter().find(|r| r["id"] == "planted").unwrap();
    assert!(repaired["usage"]["requests"].as_u64().unwrap() > 2, "its repair was sent: {repaired}");
    assert!(repaired["warnings"].as_array().unwrap().is_empty(), "and it worked: {repaired}");
    // gpt-4o-mini's batch price is half its list price.
    for (b, l) in batched.iter_mut().zip(live.iter_mut()) {
        let (bc, lc) = (b["usage"]["cost"].as_f64().unwrap(), l["usage"]["cost"].as_f64().unwrap());
        assert!((bc * 2.0 - lc).abs() < 1e-12, "{bc} vs {lc}");
        b["usage"]["cost"] = Value::Null;
        l["usage"]["cost"] = Value::Null;
    }
    assert_eq!(batched, live, "the same records but for their cost");
}

/// A child process killed when dropped, so that a failed test leaves no server behind.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// Azure's classic API: files and batches under the resource's `/openai` with an api-version,
/// the operation named `/chat/completions`, the key in an `api-key` header.
#[test]
fn a_job_through_azures_classic_batch_api() {
    let dir = tempfile::tempdir().unwrap();
    let batch = common::corpus(dir.path(), 2);
    let cache = dir.path().join("cache.sqlite");
    let (provider, url) = common::mock_server(
        &["--azure", "--require-key", "az-key", "--models", "my-batch-deployment"],
        &dir.path().join("provider.log"),
    );
    let _provider = Killed(provider);
    let resource = url.trim_end_matches("/v1").to_string();
    let out = dir.path().join("out.jsonl");
    let step = |command: &str| {
        Ko2en::new([
            "batch",
            command,
            "--provider",
            "azure",
            "--base-url",
            &resource,
            "-m",
            "my-batch-deployment",
        ])
        .env("AZURE_OPENAI_API_KEY", "az-key")
        .args(&["--cache", cache.to_str().unwrap(), "-o", out.to_str().unwrap()])
        .arg_path(&batch)
        .run()
    };
    let submitted = step("submit");
    submitted.assert_code(0);
    assert!(submitted.stdout().contains("round 1: "), "{}", submitted.stdout());
    for _ in 0..10 {
        if out.exists() {
            break;
        }
        step("collect").assert_code(0);
    }
    let records = common::jsonl(&out);
    assert_eq!(records.len(), 2);
    assert!(
        records.iter().all(|r| r["error"].is_null() && r["model"] == "my-batch-deployment"),
        "{records:?}"
    );
}
