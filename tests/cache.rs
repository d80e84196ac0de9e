//! The cache's promises, checked on the real binary against the in-process mock with a real
//! SQLite file: a finished batch reruns for free and prints the same bytes; a batch killed
//! with SIGKILL loses no answer it received; a changed prompt or model misses while an
//! unchanged one hits; duplicate articles are sent once; the API key is never stored.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use ko2en::mock::MockServer;

const KEY: &str = "sk-test-ko2en-SECRET-0123456789";

/// The first `n` articles of the shared corpus, as a JSONL file in `dir`.
fn articles(dir: &Path, n: usize) -> PathBuf {
    let corpus =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ko-news.jsonl"))
            .unwrap();
    let lines: Vec<&str> = corpus.lines().take(n).collect();
    assert_eq!(lines.len(), n);
    let path = dir.join("in.jsonl");
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

async fn start_mock() -> MockServer {
    MockServer::start("127.0.0.1:0".parse().unwrap(), Default::default()).await.unwrap()
}

/// `ko2en summarize INPUT --base-url MOCK ARGS… --cache CACHE`, as a command not yet started.
fn summarize(mock: &MockServer, input: &Path, cache: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_ko2en"));
    command
        .arg("summarize")
        .arg(input)
        .args(["--base-url", &mock.base_url(), "--quiet"])
        .args(args)
        .env("OPENAI_API_KEY", KEY)
        .env_remove("KO2EN_MODEL")
        .env_remove("OPENAI_BASE_URL")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    // --cache and --no-cache together are refused; a test names one of them.
    if !args.contains(&"--no-cache") {
        command.arg("--cache").arg(cache);
    }
    command
}

/// Run to the end; return the output and how many requests reached the mock meanwhile.
async fn run(mock: &MockServer, mut command: tokio::process::Command) -> (Output, u64) {
    let before = mock.requests_received();
    let output = command.output().await.unwrap();
    (output, mock.requests_received() - before)
}

fn assert_success(output: &Output) {
    assert!(output.status.success(), "ko2en failed: {}", String::from_utf8_lossy(&output.stderr));
}

/// Parse JSONL output, checking every line is a whole JSON record.
fn records(bytes: &[u8]) -> Vec<serde_json::Value> {
    let text = std::str::from_utf8(bytes).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'), "the last line is cut: {text:?}");
    text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rerun_of_a_finished_batch_sends_nothing_and_prints_the_same_bytes() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let input = articles(dir.path(), 10);
    let cache = dir.path().join("c.sqlite");
    let (first, sent) = run(&mock, summarize(&mock, &input, &cache, &[])).await;
    assert_success(&first);
    assert_eq!(sent, 10);
    let (second, sent) = run(&mock, summarize(&mock, &input, &cache, &[])).await;
    assert_success(&second);
    assert_eq!(sent, 0, "the rerun reached the endpoint");
    assert_eq!(String::from_utf8(second.stdout).unwrap(), String::from_utf8(first.stdout).unwrap());

    let stats = std::process::Command::new(env!("CARGO_BIN_EXE_ko2en"))
        .args(["cache", "stats", "--cache"])
        .arg(&cache)
        .output()
        .unwrap();
    let stats = String::from_utf8(stats.stdout).unwrap();
    assert!(stats.contains("10 answers, 10 article records"), "{stats}");
    assert!(stats.contains("0 requests sent") && stats.contains("articles 10 hit"), "{stats}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_is_never_stored() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let input = articles(dir.path(), 3);
    let cache_dir = dir.path().join("cache");
    let (output, _) = run(&mock, summarize(&mock, &input, &cache_dir.join("c.sqlite"), &[])).await;
    assert_success(&output);
    let files: Vec<PathBuf> = std::fs::read_dir(&cache_dir).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(!files.is_empty());
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        assert!(!bytes.windows(KEY.len()).any(|w| w == KEY.as_bytes()), "the key is in {}", file.display());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_killed_at_any_point_keeps_every_answer_it_received() {
    const TOTAL: u64 = 40;
    const CONCURRENCY: u64 = 2;
    let mock = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let input = articles(dir.path(), TOTAL as usize);
    let (reference, _) = run(
        &mock,
        summarize(&mock, &input, &dir.path().join("unused.sqlite"), &["--no-cache", "--concurrency", "2"]),
    )
    .await;
    assert_success(&reference);

    for kill_after in [3, 12, 25] {
        let cache = dir.path().join(format!("c{kill_after}.sqlite"));
        let out = dir.path().join(format!("out{kill_after}.jsonl"));
        let args = ["--concurrency", "2", "--output", out.to_str().unwrap()];
        let before = mock.requests_received();
        let mut child = summarize(&mock, &input, &cache, &args).spawn().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while mock.requests_received() - before < kill_after {
            assert!(child.try_wait().unwrap().is_none(), "ko2en ended before {kill_after} requests");
            assert!(Instant::now() < deadline, "no progress");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        child.start_kill().unwrap(); // SIGKILL: nothing gets to clean up.
        let status = child.wait().await.unwrap();
        assert!(!status.success(), "ko2en finished before it was killed at {kill_after}");
        let sent_before_kill = mock.requests_received() - before;
        assert!(!out.exists(), "a killed run left {}", out.display());
        let partial = dir.path().join(format!("out{kill_after}.jsonl.partial"));
        assert!(partial.exists());
        records(&std::fs::read(&partial).unwrap_or_default()[..]);

        let (rerun, sent_on_rerun) = run(&mock, summarize(&mock, &input, &cache, &args)).await;
        assert_success(&rerun);
        eprintln!(
            "killed after {kill_after}: {sent_before_kill} requests before the kill, {sent_on_rerun} on rerun"
        );
        assert!(sent_on_rerun < TOTAL, "killed at {kill_after}: the rerun sent everything again");
        assert!(
            sent_before_kill + sent_on_rerun <= TOTAL + CONCURRENCY,
            "killed at {kill_after}: {sent_before_kill} before + {sent_on_rerun} after: answers were lost"
        );
        let written = std::fs::read(&out).unwrap();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for record in records(&written) {
            *seen.entry(record["id"].as_str().unwrap().to_string()).or_default() += 1;
        }
        assert_eq!(seen.len() as u64, TOTAL);
        assert!(seen.values().all(|&n| n == 1));
        assert_eq!(written, reference.stdout, "killed at {kill_after}: the resumed output differs");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_prompt_or_model_misses_and_an_unchanged_one_hits() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let input = articles(dir.path(), 3);
    let cache = dir.path().join("c.sqlite");
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("prompts/summarize.system.j2");
    let same = dir.path().join("same");
    let edited = dir.path().join("edited");
    for d in [&same, &edited] {
        std::fs::create_dir(d).unwrap();
    }
    std::fs::copy(&builtin, same.join("summarize.system.j2")).unwrap();
    let text = std::fs::read_to_string(&builtin).unwrap();
    std::fs::write(edited.join("summarize.system.j2"), text + "\nKeep every summary under 60 words.\n")
        .unwrap();
    let (same, edited) = (same.to_str().unwrap(), edited.to_str().unwrap());

    let steps: [(&str, &[&str], u64); 8] = [
        ("first run", &[], 3),
        ("unchanged", &[], 0),
        ("an identical copy of the templates", &["--prompts", same], 0),
        ("an edited template", &["--prompts", edited], 3),
        ("the edited template again", &["--prompts", edited], 0),
        ("another model", &["--model", "other-model"], 3),
        ("--refresh", &["--refresh"], 3),
        ("no cache", &["--no-cache"], 3),
    ];
    for (what, args, expected) in steps {
        let (output, sent) = run(&mock, summarize(&mock, &input, &cache, args)).await;
        assert_success(&output);
        assert_eq!(sent, expected, "{what}");
    }
    // What --refresh bought was stored: the next plain run is free.
    let (_, sent) = run(&mock, summarize(&mock, &input, &cache, &[])).await;
    assert_eq!(sent, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_glossary_misses_for_the_articles_it_touches_and_an_unchanged_one_hits() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    // Of the first three corpus articles, only the first names 하르케 (Wikinews, CC BY 2.5).
    let input = articles(dir.path(), 3);
    let cache = dir.path().join("c.sqlite");
    let glossary = |name: &str, english: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("하르케\t{english}\n")).unwrap();
        path.to_str().unwrap().to_string()
    };
    let (a, b) = (glossary("a.tsv", "Dani Jarque"), glossary("b.tsv", "Daniel Jarque"));
    let sent = |args: Vec<String>| {
        let mock = &mock;
        let (input, cache) = (&input, &cache);
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let (output, sent) = run(mock, summarize(mock, input, cache, &args)).await;
            assert_success(&output);
            sent
        }
    };
    let first = sent(vec!["--glossary".into(), a.clone()]).await;
    assert!(first >= 3, "every article is sent once at least: {first}");
    assert_eq!(sent(vec!["--glossary".into(), a.clone()]).await, 0, "an unchanged glossary hits");
    let changed = sent(vec!["--glossary".into(), b]).await;
    assert!(changed > 0 && changed < first, "only the article naming the term misses: {changed} of {first}");
    assert_eq!(sent(vec!["--glossary".into(), a]).await, 0, "the first glossary's answers are still there");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_articles_in_a_batch_are_sent_once() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let corpus = std::fs::read_to_string(articles(dir.path(), 1)).unwrap();
    let mut article: serde_json::Value = serde_json::from_str(corpus.trim()).unwrap();
    let mut lines = String::new();
    for copy in 1..=5 {
        article["id"] = format!("wire-{copy}").into();
        lines.push_str(&format!("{article}\n"));
    }
    let input = dir.path().join("dupes.jsonl");
    std::fs::write(&input, lines).unwrap();
    let (output, sent) =
        run(&mock, summarize(&mock, &input, &dir.path().join("c.sqlite"), &["--concurrency", "5"])).await;
    assert_success(&output);
    assert_eq!(sent, 1);
    let records = records(&output.stdout);
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["wire-1", "wire-2", "wire-3", "wire-4", "wire-5"]);
    assert!(records.iter().all(|r| r["summary_en"] == records[0]["summary_en"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_that_is_not_a_cache_stops_the_run_before_anything_is_sent_and_is_never_deleted() {
    let mock = start_mock().await;
    let dir = tempfile::tempdir().unwrap();
    let input = articles(dir.path(), 2);
    let cache = dir.path().join("c.sqlite");
    let notes = "not a database, but someone's notes".repeat(200);
    std::fs::write(&cache, &notes).unwrap();
    let (output, sent) = run(&mock, summarize(&mock, &input, &cache, &[])).await;
    assert_eq!((output.status.code(), sent), (Some(2), 0));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Choose another --cache path") && !stderr.contains("cache clear"), "{stderr}");

    for victim in [&cache, &input] {
        let before = std::fs::read(victim).unwrap();
        let clear = std::process::Command::new(env!("CARGO_BIN_EXE_ko2en"))
            .args(["cache", "clear", "--cache"])
            .arg(victim)
            .output()
            .unwrap();
        assert_eq!(clear.status.code(), Some(2), "{}", String::from_utf8_lossy(&clear.stderr));
        assert!(String::from_utf8_lossy(&clear.stderr).contains("not a ko2en cache"));
        assert_eq!(std::fs::read(victim).unwrap(), before, "cache clear touched {}", victim.display());
    }
    let elsewhere = dir.path().join("new.sqlite");
    let (output, sent) = run(&mock, summarize(&mock, &input, &elsewhere, &[])).await;
    assert_success(&output);
    assert_eq!(sent, 2);
}
