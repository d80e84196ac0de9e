//! Clumsy and hostile situations on the user's side, on the real binary: output paths that
//! name what the run reads, devices, links, two runs on one output, a full disk, signals, a
//! closed stdout, a key where its variable's name belongs, a key echoed by a server, pages that
//! would crash a parser, directory loops and named pipes. Nothing is lost, destroyed or leaked.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{ARTICLE, Ko2en, REPLY, completion, serve};
use ko2en::mock::{MockOptions, MockServer};
use serde_json::Value;

/// `n` distinct short articles as a JSONL batch in `dir`.
fn batch(dir: &Path, n: usize) -> PathBuf {
    let path = dir.join("batch.jsonl");
    let lines: Vec<String> = (0..n)
        .map(|i| {
            serde_json::json!({"id": format!("a{i}"), "title": format!("정부 발표 {i}"),
                "text": format!("정부가 {i}번째 계획을 발표했다. 계획은 내년에 시작된다.")})
            .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

fn records_of(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("a torn line ({e}): {l:?}")))
        .collect()
}

/// `ko2en ARGS…` run with every file it writes limited to `blocks` of 512 bytes: a stand-in
/// for a full disk that needs no privileges (writes past it fail with EFBIG; SIGXFSZ is
/// ignored, and the shell passes that on).
fn with_file_size_limit(blocks: u32, args: &[&str]) -> std::process::Output {
    let quoted: Vec<String> = args.iter().map(|a| format!("'{a}'")).collect();
    let script = format!(
        "trap '' XFSZ; ulimit -f {blocks}; exec '{}' {}",
        env!("CARGO_BIN_EXE_ko2en"),
        quoted.join(" ")
    );
    Command::new("sh").arg("-c").arg(script).env("OPENAI_API_KEY", "sk-test").output().unwrap()
}

/// Wait for runs started together; each must succeed.
fn wait_for_success(runs: Vec<std::process::Child>) -> Vec<std::process::Output> {
    runs.into_iter()
        .map(|run| {
            let output = run.wait_with_output().unwrap();
            assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
            output
        })
        .collect()
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a valid, NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0, "mkfifo {}", path.display());
}

// ---- Files the user did not ask to lose --------------------------------------------------

#[test]
fn an_output_that_is_an_input_or_the_cache_is_refused_before_anything_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 2);
    let before = std::fs::read(&input).unwrap();
    let run = Ko2en::new(["summarize", "--mock"]).arg_path(&input).arg("-o").arg_path(&input).run();
    run.assert_code(2);
    assert!(run.stderr().contains("is the input") && run.stderr().lines().count() == 1, "{}", run.stderr());
    assert_eq!(std::fs::read(&input).unwrap(), before, "the input was touched");

    // The same file by another path (a symlink to it) is the same input.
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&input, &link).unwrap();
    Ko2en::new(["summarize", "--mock"]).arg_path(&input).arg("-o").arg_path(&link).run().assert_code(2);

    let cache = dir.path().join("c.sqlite");
    Ko2en::new(["summarize", "--mock", "--cache"]).arg_path(&cache).arg_path(&input).run().assert_code(0);
    let cached = std::fs::read(&cache).unwrap();
    let run = Ko2en::new(["summarize", "--mock", "--cache"])
        .arg_path(&cache)
        .arg_path(&input)
        .arg("-o")
        .arg_path(&cache)
        .run();
    run.assert_code(2);
    assert!(run.stderr().contains("is the cache"), "{}", run.stderr());
    assert_eq!(std::fs::read(&cache).unwrap(), cached);

    // An article file inside an input directory would be read as an article next time.
    let run = Ko2en::new(["summarize", "--mock"])
        .arg_path(dir.path())
        .arg("-o")
        .arg_path(&dir.path().join("out.jsonl"))
        .run();
    run.assert_code(2);
    assert!(run.stderr().contains("inside the input directory"), "{}", run.stderr());
}

#[test]
fn a_fifo_destination_is_written_through_and_stays_a_fifo() {
    use std::os::unix::fs::FileTypeExt;
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 3);
    let fifo = dir.path().join("out.fifo");
    mkfifo(&fifo);
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read_to_string(fifo).unwrap())
    };
    Ko2en::new(["summarize", "--mock", "--quiet"])
        .arg_path(&input)
        .arg("-o")
        .arg_path(&fifo)
        .run()
        .assert_code(0);
    assert_eq!(records_of(&reader.join().unwrap()).len(), 3);
    assert!(std::fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO was replaced");
    assert!(!dir.path().join("out.fifo.partial").exists());
}

#[test]
fn dev_stdout_is_written_through() {
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 2);
    let run = Ko2en::new(["summarize", "--mock", "--quiet", "-o", "/dev/stdout"]).arg_path(&input).run();
    run.assert_code(0);
    assert_eq!(run.records().len(), 2);
}

#[test]
fn a_symlinked_destination_keeps_its_link_and_its_target_gets_the_output() {
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 2);
    let results = dir.path().join("results");
    std::fs::create_dir(&results).unwrap();
    let target = results.join("summaries.jsonl");
    std::fs::write(&target, "old\n").unwrap();
    let link = dir.path().join("latest.jsonl");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    Ko2en::new(["summarize", "--mock", "--quiet"])
        .arg_path(&input)
        .arg("-o")
        .arg_path(&link)
        .run()
        .assert_code(0);
    assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link was replaced");
    assert_eq!(records_of(&std::fs::read_to_string(&target).unwrap()).len(), 2);
}

#[test]
fn dash_o_dash_is_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 2);
    let run = Ko2en::new(["summarize", "--mock", "--quiet", "-o", "-"])
        .arg_path(&input)
        .current_dir(dir.path())
        .run();
    run.assert_code(0);
    assert_eq!(run.records().len(), 2);
    assert!(!dir.path().join("-").exists() && !dir.path().join("-.partial").exists());
}

#[test]
fn an_output_another_live_run_is_writing_is_refused_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 2);
    let out = dir.path().join("out.jsonl");
    // Another run holds the partial file, as a live ko2en does.
    let held = std::fs::File::create(dir.path().join("out.jsonl.partial")).unwrap();
    held.try_lock().unwrap();
    let run = Ko2en::new(["summarize", "--mock"]).arg_path(&input).arg("-o").arg_path(&out).run();
    run.assert_code(2);
    assert!(run.stderr().contains("another ko2en run is writing"), "{}", run.stderr());
    drop(held);
    Ko2en::new(["summarize", "--mock", "--quiet"])
        .arg_path(&input)
        .arg("-o")
        .arg_path(&out)
        .run()
        .assert_code(0);
    assert_eq!(records_of(&std::fs::read_to_string(&out).unwrap()).len(), 2);
}

#[test]
fn a_full_disk_leaves_only_whole_records_in_the_partial_file() {
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 40);
    let out = dir.path().join("out.jsonl");
    // 4 blocks hold a few records, not all 40.
    let (input, out_path) = (input.display().to_string(), out.display().to_string());
    let args =
        ["summarize", "--mock", "--quiet", "--no-cache", "--concurrency", "4", &input, "-o", &out_path];
    let output = with_file_size_limit(4, &args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("cannot write the output"), "{stderr}");
    assert!(!out.exists(), "an incomplete output was given the final name");
    let partial = std::fs::read_to_string(dir.path().join("out.jsonl.partial")).unwrap();
    assert!(partial.is_empty() || partial.ends_with('\n'), "a torn last line");
    let records = records_of(&partial);
    assert!(records.len() < 40, "the limit did not bite: {} records", records.len());
}

// ---- The cache across processes ---------------------------------------------------------

#[test]
fn runs_started_together_on_a_new_cache_all_succeed() {
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 3);
    let cache = dir.path().join("new.sqlite");
    let runs: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_ko2en"))
                .args(["summarize", "--mock", "--quiet", "--cache"])
                .arg(&cache)
                .arg(&input)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    wait_for_success(runs);
}

#[test]
fn two_runs_on_one_cache_never_buy_the_same_answer_twice() {
    let runtime = runtime();
    let mock = slow_mock(&runtime);
    let dir = tempfile::tempdir().unwrap();
    let all = std::fs::read_to_string(batch(dir.path(), 30)).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    // Two batches that share ten articles, started together on one new cache.
    let first = dir.path().join("first.jsonl");
    let second = dir.path().join("second.jsonl");
    std::fs::write(&first, lines[..20].join("\n")).unwrap();
    std::fs::write(&second, lines[10..].join("\n")).unwrap();
    let cache = dir.path().join("shared.sqlite");
    let runs: Vec<_> = [&first, &second]
        .into_iter()
        .map(|input| {
            Command::new(env!("CARGO_BIN_EXE_ko2en"))
                .args([
                    "summarize",
                    "--quiet",
                    "--concurrency",
                    "8",
                    "--base-url",
                    &mock.base_url(),
                    "--cache",
                ])
                .arg(&cache)
                .arg(input)
                .env("OPENAI_API_KEY", "sk-test")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for output in wait_for_success(runs) {
        assert_eq!(records_of(&String::from_utf8_lossy(&output.stdout)).len(), 20);
    }
    assert_eq!(mock.requests_received(), 30, "an answer was bought by both runs");
}

#[test]
fn answers_bought_while_the_cache_cannot_be_written_are_not_bought_again() {
    let runtime = runtime();
    let mock =
        runtime.block_on(MockServer::start("127.0.0.1:0".parse().unwrap(), MockOptions::default())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 60);
    let cache = dir.path().join("c.sqlite");
    // The cache's files stop growing at 48 KiB.
    let (url, cache_path, input_path) =
        (mock.base_url(), cache.display().to_string(), input.display().to_string());
    let args = [
        "summarize",
        "--quiet",
        "--concurrency",
        "8",
        "--base-url",
        &url,
        "--cache",
        &cache_path,
        &input_path,
    ];
    let limited = with_file_size_limit(96, &args);
    let stderr = String::from_utf8_lossy(&limited.stderr);
    assert_eq!(limited.status.code(), Some(2), "the limit did not bite: {stderr}");
    assert!(stderr.contains("which the next run reads"), "{stderr}");
    let bought = mock.requests_received();
    assert!(bought < 60, "{bought}");
    let rerun = Ko2en::new(["summarize", "--quiet", "--base-url", &mock.base_url(), "--cache"])
        .arg_path(&cache)
        .arg_path(&input)
        .env("OPENAI_API_KEY", "sk-test")
        .run();
    rerun.assert_code(0);
    assert_eq!(rerun.records().len(), 60);
    assert_eq!(mock.requests_received(), 60, "answers bought by the first run were bought again");
    assert!(!dir.path().join("c.sqlite-spill.jsonl").exists(), "the spilled answers were not taken in");
}

// ---- Signals and stopping ---------------------------------------------------------------

/// A slow mock in this process, so that the test can count what reaches it.
fn slow_mock(runtime: &tokio::runtime::Runtime) -> MockServer {
    let options = MockOptions { latency: Duration::from_millis(400), ..MockOptions::default() };
    runtime.block_on(MockServer::start("127.0.0.1:0".parse().unwrap(), options)).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap()
}

fn wait_for_records(path: &Path, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::fs::read_to_string(path).map(|t| t.lines().count()).unwrap_or(0) < n {
        assert!(Instant::now() < deadline, "no record was written");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_sighup_and_sigint_stop_new_requests_keep_the_partial_file_and_say_how_to_resume() {
    let runtime = runtime();
    let mock = slow_mock(&runtime);
    for signal in ["TERM", "HUP", "INT"] {
        let dir = tempfile::tempdir().unwrap();
        let input = batch(dir.path(), 60);
        let out = dir.path().join("out.jsonl");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ko2en"))
            .args(["summarize", "--no-cache", "--concurrency", "3", "--base-url", &mock.base_url()])
            .arg(&input)
            .arg("-o")
            .arg(&out)
            .env("OPENAI_API_KEY", "sk-test")
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_records(&dir.path().join("out.jsonl.partial"), 2);
        assert!(
            Command::new("kill")
                .args([&format!("-{signal}"), &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        // Whatever was on its way has arrived a moment after the signal (a slow CI machine
        // included); nothing more may.
        std::thread::sleep(Duration::from_millis(400));
        let at_signal = mock.requests_received();
        let mut stderr = String::new();
        child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
        let code = child.wait().unwrap().code();
        assert_eq!(code, Some(130), "SIG{signal}: {stderr}");
        assert_eq!(mock.requests_received(), at_signal, "SIG{signal}: requests started after the signal");
        assert!(!out.exists(), "SIG{signal}: an unfinished output got the final name");
        let records = records_of(&std::fs::read_to_string(dir.path().join("out.jsonl.partial")).unwrap());
        assert!(records.len() >= 2 && records.len() < 60, "SIG{signal}: {} records", records.len());
        assert!(stderr.contains("Run the same command again"), "SIG{signal}: {stderr}");
    }
}

#[test]
fn a_refused_key_keeps_the_partial_file_and_the_refused_articles_say_so_and_what_they_cost() {
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 30);
    let out = dir.path().join("out.jsonl");
    let run =
        Ko2en::new(["summarize", "--mock", "--concurrency", "4", "--mock-opt", "require-key=sk-right-0000"])
            .arg_path(&input)
            .arg("-o")
            .arg_path(&out)
            .env("OPENAI_API_KEY", "sk-wrong-1111")
            .run();
    run.assert_code(2);
    assert!(!out.exists(), "a stopped run's output got the final name");
    let records = records_of(&std::fs::read_to_string(dir.path().join("out.jsonl.partial")).unwrap());
    // The articles in flight when the key was refused have records; no article starts after.
    assert!(!records.is_empty() && records.len() < 300, "{} records", records.len());
    let kinds: Vec<(&str, u64)> = records
        .iter()
        .map(|r| (r["error"]["kind"].as_str().unwrap(), r["usage"]["requests"].as_u64().unwrap()))
        .collect();
    assert!(kinds.contains(&("unauthorized", 1)), "{kinds:?}");
    for (kind, requests) in &kinds {
        match *kind {
            "unauthorized" => assert_eq!(*requests, 1),
            "stopped" => assert_eq!(*requests, 0, "a record that says 'not sent' cost nothing"),
            other => panic!("unexpected error kind {other}"),
        }
    }
}

#[test]
fn a_closed_stdout_stops_the_run_within_the_requests_in_flight() {
    let runtime = runtime();
    // The second article hangs for a while, so the next record is a long way off: the run
    // must notice the reader leaving by itself, not at that record's write.
    let options = MockOptions {
        latency: Duration::from_millis(1000),
        hang: Duration::from_secs(3),
        ..MockOptions::default()
    };
    let mock = runtime.block_on(MockServer::start("127.0.0.1:0".parse().unwrap(), options)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 80);
    let text = std::fs::read_to_string(&input).unwrap().replacen("1번째", "1번째 [[mock:hang]]", 1);
    std::fs::write(&input, text).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ko2en"))
        .args(["summarize", "--quiet", "--no-cache", "--concurrency", "2", "--base-url", &mock.base_url()])
        .arg(&input)
        .env("OPENAI_API_KEY", "sk-test")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap(); // then `head -n 1` leaves
    let closed_at = mock.requests_received();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(0), "a reader leaving is not a failure");
    let after = mock.requests_received() - closed_at;
    // Two slots, each freed once a second: at most one new request each while the leaving
    // was noticed (within a quarter of a second, or a little more on a loaded machine).
    assert!(after <= 2, "{after} requests were sent after the reader left");
}

#[test]
fn the_mock_server_with_nobody_reading_its_stdout_does_not_panic() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ko2en"))
        .args(["mock-server", "--addr", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // `ko2en mock-server | true`
    std::thread::sleep(Duration::from_millis(500));
    assert!(child.try_wait().unwrap().is_none(), "the server died");
    child.kill().unwrap();
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
}

// ---- The key and stderr -----------------------------------------------------------------

#[test]
fn a_key_echoed_by_a_server_never_reaches_stderr_whatever_its_shape_or_the_log_level() {
    for key in ["sk-proj-ECHOED-0123456789abcdef", "0123456789abcdef0123456789abcdef"] {
        let echoed = format!(
            "<html><body>upstream error; request headers: Authorization: Bearer {key}; api-key: {key}</body></html>"
        );
        let (url, _) = serve(move |n| match n {
            0 => ("500 Internal Server Error", vec![], echoed.clone()),
            1 => ("200 OK", vec![], format!("not json at all, but your key is {key}")),
            _ => ("200 OK", vec![], completion(REPLY)),
        });
        for extra in [vec![], vec!["-q"]] {
            for log in [None, Some("debug")] {
                let mut ko2en = Ko2en::new(["summarize", "--no-cache", "--base-url", &url, "-"])
                    .args(&extra)
                    .env("OPENAI_API_KEY", key)
                    .stdin(ARTICLE);
                if let Some(level) = log {
                    ko2en = ko2en.env("KO2EN_LOG", level);
                }
                let run = ko2en.run();
                let all = format!("{}{}", run.stdout(), run.stderr());
                assert!(!all.contains(key), "the key leaked (log {log:?}, {extra:?}):\n{all}");
                if log.is_none() {
                    assert!(
                        !run.stderr().contains("async_openai") && !run.stderr().contains("<html>"),
                        "{}",
                        run.stderr()
                    );
                }
            }
        }
    }
}

#[test]
fn a_key_given_where_its_variables_name_belongs_is_refused_without_being_printed() {
    let secret = "sk-live-abcdefghijklmnop0123456789";
    let run = Ko2en::new(["summarize", "--mock", "--api-key-env", secret, "x.txt"]).run();
    run.assert_code(2);
    assert!(!run.stderr().contains(secret) && !run.stderr().contains("abcdefghij"), "{}", run.stderr());
    assert!(run.stderr().contains("name of the environment variable"), "{}", run.stderr());
}

// ---- Inputs that crash or never end -----------------------------------------------------

#[test]
fn a_page_nested_32000_deep_is_an_html_error_record_and_the_batch_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let deep = format!(
        "<html><body>{}정부가 발표했다.{}</body></html>",
        "<div>".repeat(32_000),
        "</div>".repeat(32_000)
    );
    std::fs::write(dir.path().join("a-deep.html"), deep).unwrap();
    std::fs::write(dir.path().join("b-fine.txt"), ARTICLE).unwrap();
    let run = Ko2en::new(["summarize", "--mock", "--quiet"]).arg_path(dir.path()).run();
    run.assert_code(1);
    let records = run.records();
    assert_eq!(records.len(), 2);
    assert_eq!(records[0]["error"]["kind"], "html", "{}", records[0]);
    assert_eq!(records[1]["error"], Value::Null);
}

#[test]
fn a_directory_that_links_back_to_itself_is_walked_once_and_each_file_read_once() {
    let dir = tempfile::tempdir().unwrap();
    let articles = dir.path().join("articles");
    std::fs::create_dir(&articles).unwrap();
    std::fs::write(articles.join("one.txt"), ARTICLE).unwrap();
    std::fs::write(articles.join("two.txt"), ARTICLE.replace("정부", "국회")).unwrap();
    std::os::unix::fs::symlink(&articles, articles.join("loop")).unwrap();
    std::os::unix::fs::symlink(&articles, articles.join("again")).unwrap();
    std::os::unix::fs::symlink(articles.join("one.txt"), articles.join("same.txt")).unwrap();
    let run = Ko2en::new(["summarize", "--mock", "--quiet"]).arg_path(&articles).run();
    run.assert_code(0);
    assert_eq!(run.records().len(), 2, "{}", run.stdout());
}

#[test]
fn a_jsonl_named_pipe_is_read_whole_with_progress_on() {
    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read(batch(dir.path(), 25)).unwrap();
    let pipe = dir.path().join("feed.jsonl");
    mkfifo(&pipe);
    let writer = {
        let pipe = pipe.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            // Each opening of the pipe gets the batch, as `<(zcat …)` would give it only once.
            let _ =
                std::fs::OpenOptions::new().write(true).open(&pipe).and_then(|mut f| f.write_all(&source));
        })
    };
    let run = Ko2en::new(["summarize", "--mock"]).arg_path(&pipe).run();
    writer.join().unwrap();
    run.assert_code(0);
    assert_eq!(run.records().len(), 25);
}
