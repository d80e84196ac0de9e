//! How close a batch comes to the time an endpoint's limits allow, and what it costs in memory
//! and CPU. Not a timed test: it prints numbers for the closing note of the engine issue.
//!
//! Run: `cargo bench --bench engine` (release build; takes about 6 minutes). `KO2EN_BENCH_BIG`
//! sets the large batch of the memory run (default 100000 articles); `KO2EN_BENCH_ONLY=memory`
//! runs only the memory part, `KO2EN_BENCH_ONLY=budgets` only the completion-budget part,
//! `KO2EN_BENCH_ONLY=unconfigured` only the told-nothing run against the told one,
//! `KO2EN_BENCH_ONLY=windows` only the runs against servers counting windows,
//! `KO2EN_BENCH_ONLY=headerless` only the runs against a local server announcing no limits,
//! `KO2EN_BENCH_ONLY=routes` only the runs over one, two and three servers,
//! `KO2EN_BENCH_ONLY=dryrun` only `--dry-run` over 10,000 articles (`KO2EN_BENCH_DRY` sets how
//! many), `KO2EN_BENCH_ONLY=export` only `batch export` of the big batch.
//!
//! Scenarios, each a batch of the 250 corpus articles (tests/data/ko-news.jsonl, see its
//! README for licences) summarized through `ko2en mock-server` in its own process:
//! - the settings match the server's limits (RPM-bound, then TPM-bound): target within 5% of
//!   the floor, no 429;
//! - the server allows 20% less than the settings say: target within 15%, nothing lost;
//! - TPM-bound with answers of varied length, fixed completion budgets against sized ones;
//! - told no limits against told the server's, on a slow server (4 s an answer, 1,200 RPM);
//! - servers counting a fixed or a sliding window instead of a bucket (150 RPM), told the limits
//!   and told nothing: target within 10% of the floor, no 429 after the first window;
//! - 1,000 articles through a local server that announces no limits and runs 32 requests at
//!   once, queueing the rest (its answers slow down as it saturates): told nothing, against a
//!   sweep of fixed
//!   `--concurrency`: target within 10% of the best fixed one, no request timed out in its queue;
//! - 600 articles over one, two and three such servers (8 slots each) at once, told nothing:
//!   target 1.8x and 2.6x faster with two and three than with one; then three with one killed
//!   a third of the way through: target nothing lost.
//!
//! The floor: the mock starts with a full minute of budget, so a batch needs
//! max(requests / RPM, token cost / TPM) − 1 minute, plus one request's latency; token cost is
//! what the server counts, prompt tokens plus the completion budget (1,500 for a summary).
//! Then ko2en's peak RSS and CPU time for 1,000 and for the big batch, against the mock in its
//! own process.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_ko2en");
const SUMMARY_BUDGET: u64 = 1_500;

struct Limits {
    rpm: u64,
    tpm: u64,
}

fn corpus() -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ko-news.jsonl");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).expect("corpus JSON"))
        .collect()
}

/// `n` distinct articles: the corpus repeated, each copy's text marked so none is a duplicate.
fn write_batch(path: &Path, n: usize) {
    let corpus = corpus();
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    for i in 0..n {
        let mut article = corpus[i % corpus.len()].clone();
        let copy = i / corpus.len();
        article["id"] = format!("{}-{copy}", article["id"].as_str().unwrap()).into();
        if copy > 0 {
            let text = format!("{} (사본 {copy})", article["text"].as_str().unwrap());
            article["text"] = text.into();
        }
        writeln!(out, "{article}").unwrap();
    }
}

/// The mock's request log, a JSON value a line.
fn log_lines(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Run `command` (ko2en) to its end, stop `mock`, and insist that the run succeeded: its wall time.
fn run_to_success(command: Command, mut mock: std::process::Child) -> f64 {
    let (output, _, _, _, wall) = timed(command);
    mock.kill().ok();
    mock.wait().ok();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    wall
}

/// `/usr/bin/time -f` fields: peak RSS (KiB), user s, system s.
fn timed(mut command: Command) -> (std::process::Output, u64, f64, f64, f64) {
    let times = std::env::temp_dir().join(format!("ko2en-bench-time-{}", std::process::id()));
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.arg("-o").arg(&times).arg("-f").arg("%M %U %S");
    wrapped.arg(command.get_program()).args(command.get_args());
    for (key, value) in command.get_envs() {
        match value {
            Some(v) => wrapped.env(key, v),
            None => wrapped.env_remove(key),
        };
    }
    command = wrapped;
    let started = Instant::now();
    let output = command.output().expect("ko2en runs under /usr/bin/time");
    let wall = started.elapsed().as_secs_f64();
    let text = std::fs::read_to_string(&times).unwrap_or_default();
    let fields: Vec<&str> = text.split_whitespace().collect();
    let parse = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(f64::NAN);
    (output, parse(0) as u64, parse(1), parse(2), wall)
}

fn start_mock(server: &Limits, latency_ms: u64, log: &Path) -> (std::process::Child, String) {
    start_mock_with(server, latency_ms, log, &[])
}

fn start_mock_with(
    server: &Limits,
    latency_ms: u64,
    log: &Path,
    flags: &[&str],
) -> (std::process::Child, String) {
    let mut child = Command::new(BIN)
        .args(["mock-server", "--rpm", &server.rpm.to_string(), "--tpm", &server.tpm.to_string()])
        .args(flags)
        .args(["--latency-ms", &latency_ms.to_string(), "--log"])
        .arg(log)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the mock server starts");
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).unwrap();
    (child, url.trim().to_string())
}

fn scenario(name: &str, batch: &Path, dir: &Path, server: Limits, settings: Limits, latency_ms: u64) {
    let log = dir.join(format!("{}.log", name.replace(' ', "-")));
    let (mut mock, url) = start_mock(&server, latency_ms, &log);
    let mut command = Command::new(BIN);
    command
        .args(["summarize", "--quiet", "--no-cache", "--concurrency", "64", "--base-url", &url])
        .args(["--rpm", &settings.rpm.to_string(), "--tpm", &settings.tpm.to_string(), "-o"])
        .arg(dir.join("out.jsonl"))
        .arg(batch)
        .env("OPENAI_API_KEY", "bench");
    let (output, rss_kib, user, sys, wall) = timed(command);
    mock.kill().ok();
    mock.wait().ok();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let lines = log_lines(&log);
    let ok: Vec<&serde_json::Value> = lines.iter().filter(|l| l["status"] == 200).collect();
    let limited = lines.iter().filter(|l| l["faults"].to_string().contains("rate_limit")).count();
    // What the server charged: the prompt and the budget each request asked for.
    let cost: u64 = ok
        .iter()
        .map(|l| l["prompt_tokens"].as_u64().unwrap() + l["max_tokens"].as_u64().unwrap_or(SUMMARY_BUDGET))
        .sum();
    let minutes = (ok.len() as f64 / server.rpm as f64).max(cost as f64 / server.tpm as f64) - 1.0;
    let floor = minutes.max(0.0) * 60.0 + latency_ms as f64 / 1000.0;
    let records = std::fs::read_to_string(dir.join("out.jsonl")).unwrap().lines().count();
    println!(
        "{name:<34} {records:>4} ok  {:>4} req  {limited:>3} x429  floor {floor:>6.1} s  wall {wall:>6.1} s  \
         {:+5.1}%  cpu {:.1} s ({:.1}% of wall)  rss {:.0} MiB",
        lines.len(),
        100.0 * (wall - floor) / floor,
        user + sys,
        100.0 * (user + sys) / wall,
        rss_kib as f64 / 1024.0,
    );
}

/// A run told no limits against one told the server's, on a slow server with generous limits
/// (1,200 RPM, 2,000,000 TPM): how much the told run gains from knowing. Two servers: one
/// silent for 4 s and then answering whole (the case), and one streaming as real APIs
/// do (its headers after 0.5 s, then 20 ms a token), whose limits a run told nothing learns
/// from the first headers rather than the first whole answers. Told nothing twice on one
/// cache: the first run learns the limits, the second (`--refresh`: every answer bought again)
/// starts from the limits the first remembered. The mock listens on the same port each time,
/// so that the cache sees one endpoint.
fn unconfigured(batch: &Path, dir: &Path) {
    let server = Limits { rpm: 1_200, tpm: 2_000_000 };
    for (shape, latency_ms, per_token_ms) in
        [("4 s answers", 4_000, "0"), ("streamed 0.5 s + 20 ms/token", 500, "20")]
    {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let addr = format!("127.0.0.1:{port}");
        let cache = dir.join(format!("unconfigured-{latency_ms}.sqlite"));
        let mut walls = Vec::new();
        // Three of each, the median kept: one article's repair (a second request after the
        // first answer) landing at the end of the run moves its wall by a whole latency.
        for (label, told, flags) in [
            ("told nothing", false, &["--cache"][..]),
            ("told nothing, limits remembered", false, &["--refresh", "--cache"][..]),
            ("told the limits", true, &["--no-cache"][..]),
        ] {
            let mut tries = Vec::new();
            for attempt in 0..3 {
                let log = dir.join(format!("unconfigured-{latency_ms}-{}-{attempt}.log", walls.len()));
                let mock_flags = ["--addr", &addr, "--ms-per-token", per_token_ms];
                let (mock, url) = start_mock_with(&server, latency_ms, &log, &mock_flags);
                let mut command = Command::new(BIN);
                command.args(["summarize", "--quiet", "--base-url", &url]).args(flags);
                if flags.contains(&"--cache") {
                    // Told nothing on a cold cache each time; remembered from the run before.
                    if !flags.contains(&"--refresh") {
                        std::fs::remove_file(&cache).ok();
                    }
                    command.arg(&cache);
                }
                command.arg("-o").arg(dir.join("out.jsonl"));
                if told {
                    command.args(["--rpm", &server.rpm.to_string(), "--tpm", &server.tpm.to_string()]);
                }
                command.arg(batch).env("OPENAI_API_KEY", "bench");
                let wall = run_to_success(command, mock);
                let lines = std::fs::read_to_string(&log).unwrap();
                let limited = lines.lines().filter(|l| l.contains("rate_limit")).count();
                tries.push((wall, lines.lines().count(), limited));
            }
            tries.sort_by(|a, b| a.0.total_cmp(&b.0));
            let (wall, requests, limited) = tries[1];
            println!(
                "{shape}, 1200 RPM, {label:<32}  {requests:>4} req  {limited:>3} x429  wall {wall:>6.1} s (median of {:.1}, {:.1}, {:.1})",
                tries[0].0, tries[1].0, tries[2].0
            );
            walls.push(wall);
        }
        println!(
            "{shape}: told nothing {:.2}x the time of told the limits; with the limits remembered: {:.2}x",
            walls[0] / walls[2],
            walls[1] / walls[2]
        );
    }
}

/// Servers that count a window (the mock's `--limiter`), 150 RPM, 300 ms an answer: told the
/// limits and told nothing, with resets in the headers (OpenAI's names) and without (LiteLLM's).
/// A window's floor is whole windows: ⌈requests / RPM⌉ − 1 minutes, plus one latency.
fn windows(batch: &Path, dir: &Path) {
    let server = Limits { rpm: 150, tpm: 2_000_000 };
    let runs = [
        ("fixed-window", "openai", true),
        ("fixed-window", "openai", false),
        ("fixed-window", "litellm", false),
        ("sliding-window", "openai", true),
        ("sliding-window", "openai", false),
    ];
    for (kind, headers, told) in runs {
        let log = dir.join(format!("windows-{kind}-{headers}-{told}.log"));
        let (mock, url) = start_mock_with(&server, 300, &log, &["--limiter", kind, "--headers", headers]);
        let mut command = Command::new(BIN);
        command
            .args(["summarize", "--quiet", "--no-cache", "--base-url", &url, "-o"])
            .arg(dir.join("out.jsonl"));
        if told {
            command.args(["--rpm", &server.rpm.to_string(), "--tpm", &server.tpm.to_string()]);
        }
        command.arg(batch).env("OPENAI_API_KEY", "bench");
        let wall = run_to_success(command, mock);
        let lines = log_lines(&log);
        let ok = lines.iter().filter(|l| l["status"] == 200).count();
        let first = lines.iter().filter_map(|l| l["arrived_unix_ms"].as_u64()).min().unwrap_or(0);
        let limited: Vec<u64> = lines
            .iter()
            .filter(|l| l["faults"].to_string().contains("rate_limit"))
            .filter_map(|l| l["arrived_unix_ms"].as_u64())
            .collect();
        let late = limited.iter().filter(|&&at| at > first + 60_000).count();
        let floor = (ok as f64 / server.rpm as f64).ceil().max(1.0) * 60.0 - 60.0 + 0.3;
        let label = format!("{kind}, {headers} headers, {}", if told { "told" } else { "told nothing" });
        println!(
            "{label:<42} {ok:>4} ok  {:>3} x429 ({late} after the first window)  floor {floor:>6.1} s  wall {wall:>6.1} s  {:+5.1}%",
            limited.len(),
            100.0 * (wall - floor) / floor,
        );
    }
}

/// 1,000 articles through a local server (127.0.0.1) with 32 slots, no limits and no rate-limit headers, answering in
/// 500 ms plus 10 ms a token, where a request past the slots waits in its queue; ko2en's
/// timeout is 8 s, so that a request queued behind three rounds of others is cancelled. Told
/// nothing (it adapts from its latency) against each fixed `--concurrency` of a sweep.
fn headerless(dir: &Path) {
    // Large enough that finding the knee (a slow start from 2) is a small part of the run.
    let batch = dir.join("batch-headerless.jsonl");
    write_batch(&batch, 1_000);
    let unlimited = Limits { rpm: 100_000_000, tpm: 4_000_000_000 };
    let mut runs: Vec<(String, f64)> = Vec::new();
    for fixed in [None, Some(16), Some(32), Some(64), Some(128)] {
        let label = fixed.map_or("told nothing".to_string(), |c| format!("--concurrency {c}"));
        let log = dir.join(format!("headerless-{label}.log").replace(' ', "-"));
        let flags = ["--max-concurrency", "32", "--ms-per-token", "10", "--headers", "none"];
        let (mut mock, url) = start_mock_with(&unlimited, 500, &log, &flags);
        let mut command = Command::new(BIN);
        command
            .args(["summarize", "--quiet", "--no-cache", "--timeout", "8", "--base-url", &url, "-o"])
            .arg(dir.join("out.jsonl"));
        if let Some(c) = fixed {
            command.args(["--concurrency", &c.to_string()]);
        }
        command.arg(&batch).env("OPENAI_API_KEY", "bench");
        let (output, _, _, _, wall) = timed(command);
        mock.kill().ok();
        mock.wait().ok();
        let lines = log_lines(&log);
        let records = std::fs::read_to_string(dir.join("out.jsonl")).unwrap_or_default();
        let ok = records
            .lines()
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|r| r["error"].is_null()))
            .count();
        let cancelled = lines.iter().filter(|l| l["status"].is_null()).count();
        let waited: u64 = lines
            .iter()
            .filter_map(|l| Some(l["started_unix_ms"].as_u64()? - l["arrived_unix_ms"].as_u64()?))
            .sum();
        println!(
            "no headers, 32 slots, {label:<18} exit {}  {ok:>4} ok  {:>4} req  {cancelled:>3} cancelled in the queue  wall {wall:>6.1} s  avg queue wait {:>5.0} ms",
            output.status.code().unwrap_or(-1),
            lines.len(),
            waited as f64 / lines.len().max(1) as f64,
        );
        runs.push((label, wall));
    }
    let adaptive = runs[0].1;
    let (best_label, best) =
        runs[1..].iter().min_by(|a, b| a.1.total_cmp(&b.1)).map(|(l, w)| (l.clone(), *w)).unwrap();
    println!("told nothing: {:.2}x the time of the best fixed one ({best_label})", adaptive / best);
}

/// 600 articles over one, two and three local servers in their own processes, each with 8
/// slots and no rate-limit headers (500 ms plus 2 ms a token an answer, the rest queued), told
/// nothing: how the routes add up. Then three, one killed when a third of the batch is done:
/// what was lost (target: nothing) and what it cost.
fn routes(dir: &Path) {
    let batch = dir.join("batch-routes.jsonl");
    write_batch(&batch, 600);
    let unlimited = Limits { rpm: 100_000_000, tpm: 4_000_000_000 };
    let flags = ["--max-concurrency", "8", "--ms-per-token", "2", "--headers", "none"];
    let mut walls = Vec::new();
    for (servers, kill) in [(1, false), (2, false), (3, false), (3, true)] {
        let mut mocks = Vec::new();
        let mut urls = Vec::new();
        let mut logs = Vec::new();
        for i in 0..servers {
            let log = dir.join(format!("routes-{servers}-{kill}-{i}.log"));
            let (mock, url) = start_mock_with(&unlimited, 500, &log, &flags);
            mocks.push(mock);
            urls.push(url);
            logs.push(log);
        }
        let out = dir.join("out.jsonl");
        let mut command = Command::new(BIN);
        command
            .args(["summarize", "--quiet", "--no-cache", "--base-url", &urls.join(","), "-o"])
            .arg(&out)
            .arg(&batch)
            .env("OPENAI_API_KEY", "bench");
        let started = Instant::now();
        let run = command.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("ko2en runs");
        if kill {
            let count = |log: &Path| std::fs::read_to_string(log).map_or(0, |t| t.lines().count());
            while logs.iter().map(|l| count(l)).sum::<usize>() < 200 {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            mocks[0].kill().ok();
            mocks[0].wait().ok();
        }
        let output = run.wait_with_output().unwrap();
        let wall = started.elapsed().as_secs_f64();
        for mock in &mut mocks {
            mock.kill().ok();
            mock.wait().ok();
        }
        let records = std::fs::read_to_string(&out).unwrap_or_default();
        let ok = records
            .lines()
            .filter(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|r| r["error"].is_null()))
            .count();
        let per_server: Vec<usize> = logs.iter().map(|l| log_lines(l).len()).collect();
        let label =
            if kill { format!("{servers} servers, one killed") } else { format!("{servers} server(s)") };
        println!(
            "8 slots each, {label:<22} exit {}  {ok:>4} of 600 ok  requests {per_server:?}  wall {wall:>6.1} s",
            output.status.code().unwrap_or(-1),
        );
        if !output.status.success() {
            println!("{}", String::from_utf8_lossy(&output.stderr));
        }
        walls.push(wall);
    }
    println!(
        "two servers: {:.2}x faster than one, three: {:.2}x; three with one killed: {:.2}x",
        walls[0] / walls[1],
        walls[0] / walls[2],
        walls[0] / walls[3]
    );
}

/// A TPM-bound batch whose answers vary in length as real ones do (the mock's
/// `--answer-scale 200`: log-normal around twice its usual summary), once with the fixed
/// budgets and once sized: wall time, completion tokens reserved against used, truncations.
fn budgets(batch: &Path, dir: &Path) {
    let server = Limits { rpm: 10_000, tpm: 300_000 };
    let mut walls = Vec::new();
    for rule in ["fixed", "auto"] {
        let log = dir.join(format!("budgets-{rule}.log"));
        let (mock, url) = start_mock_with(&server, 300, &log, &["--answer-scale", "200"]);
        let mut command = Command::new(BIN);
        command
            .args(["summarize", "--quiet", "--no-cache", "--concurrency", "64", "--base-url", &url])
            .args(["--rpm", &server.rpm.to_string(), "--tpm", &server.tpm.to_string()])
            .args(["--completion-budget", rule, "-o"])
            .arg(dir.join("out.jsonl"))
            .arg(batch)
            .env("OPENAI_API_KEY", "bench");
        let wall = run_to_success(command, mock);
        let lines = log_lines(&log);
        let sum = |field: &str| lines.iter().filter_map(|l| l[field].as_u64()).sum::<u64>();
        let truncated = lines.iter().filter(|l| l["truncated"] == true).count();
        let limited = lines.iter().filter(|l| l["faults"].to_string().contains("rate_limit")).count();
        println!(
            "tpm-bound, {rule:<5} budgets  {:>4} req  {limited:>3} x429  wall {wall:>6.1} s  completion reserved {:>7}  used {:>7} ({:.0}%)  truncated {truncated} ({:.1}% of requests)",
            lines.len(),
            sum("max_tokens"),
            sum("completion_tokens"),
            100.0 * sum("completion_tokens") as f64 / sum("max_tokens") as f64,
            100.0 * truncated as f64 / lines.len() as f64,
        );
        walls.push(wall);
    }
    println!("sized budgets: {:.2}x faster than fixed", walls[0] / walls[1]);
}

/// ko2en's own peak RSS and CPU for `n` articles, against a mock in its own process (so that
/// the mock's bookkeeping is not counted) with no limits and no latency.
fn memory(dir: &Path, n: usize) {
    let batch = dir.join(format!("batch-{n}.jsonl"));
    write_batch(&batch, n);
    let (mut mock, url) =
        start_mock(&Limits { rpm: 100_000_000, tpm: 4_000_000_000 }, 0, &dir.join("memory.log"));
    let mut command = Command::new(BIN);
    command
        .args(["summarize", "--quiet", "--no-cache", "--base-url", &url, "-o", "/dev/null"])
        .arg(&batch)
        .env("OPENAI_API_KEY", "bench");
    let (output, rss_kib, user, sys, wall) = timed(command);
    mock.kill().ok();
    mock.wait().ok();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    println!(
        "memory: {n:>6} articles  peak rss {:>6.1} MiB  wall {wall:>6.1} s  cpu {:>6.1} s  {:>6.0} articles/s",
        rss_kib as f64 / 1024.0,
        user + sys,
        n as f64 / wall
    );
}

/// `--dry-run` over `n` articles, summarized and translated: what it counts, in how long and
/// how much memory (the cost issue's target: 10,000 articles in 10 s at most). No mock: the
/// endpoint is OpenAI's, which a dry run never reaches.
fn dry_run(dir: &Path, n: usize) {
    let batch = dir.join(format!("dry-{n}.jsonl"));
    write_batch(&batch, n);
    for mode in ["summarize", "translate"] {
        let mut command = Command::new(BIN);
        command
            .args([mode, "--quiet", "--dry-run", "-m", "gpt-4o-mini", "--rpm", "5000", "--tpm", "4000000"])
            .arg("--cache")
            .arg(dir.join("dry-cache.sqlite"))
            .arg(&batch)
            .env("OPENAI_API_KEY", "bench");
        let (output, rss_kib, user, sys, wall) = timed(command);
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        println!(
            "dry run: {mode:<9} {n:>6} articles  wall {wall:>5.1} s  cpu {:>5.1} s  peak rss {:>6.1} MiB",
            user + sys,
            rss_kib as f64 / 1024.0
        );
        for line in String::from_utf8_lossy(&output.stdout).lines().skip(1) {
            println!("    {line}");
        }
    }
}

/// `batch export` of `n` articles (one round of a summarize job): wall time and peak RSS, which
/// must stay flat however large the job (requests stream to the files).
fn export(dir: &Path, n: usize) {
    let batch = dir.join(format!("export-{n}.jsonl"));
    write_batch(&batch, n);
    let requests = dir.join("requests.jsonl");
    let mut command = Command::new(BIN);
    command
        .args(["batch", "export", "--quiet", "-m", "gpt-4o-mini", "-o"])
        .arg(&requests)
        .arg("--cache")
        .arg(dir.join("export-cache.sqlite"))
        .arg(&batch)
        .env("OPENAI_API_KEY", "bench");
    let (output, rss_kib, user, sys, wall) = timed(command);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let files: Vec<PathBuf> = (1..)
        .map(|i| if i == 1 { requests.clone() } else { dir.join(format!("requests-{i}.jsonl")) })
        .take_while(|p| p.exists())
        .collect();
    let bytes: u64 = files.iter().map(|f| std::fs::metadata(f).map_or(0, |m| m.len())).sum();
    println!(
        "batch export: {n:>6} articles  wall {wall:>6.1} s  cpu {:>6.1} s  peak rss {:>6.1} MiB  {} files, {:.0} MB",
        user + sys,
        rss_kib as f64 / 1024.0,
        files.len(),
        bytes as f64 / 1e6
    );
    println!("    {}", String::from_utf8_lossy(&output.stdout).lines().next().unwrap_or_default());
}

fn main() {
    // `cargo bench` passes --bench; nothing else is taken.
    let dir: PathBuf = tempfile::tempdir().expect("a temp dir").keep();
    let batch = dir.join("batch.jsonl");
    write_batch(&batch, 250);
    let only = std::env::var("KO2EN_BENCH_ONLY").ok();
    let only_memory = only.as_deref().is_some_and(|v| {
        ["memory", "budgets", "unconfigured", "windows", "headerless", "routes", "dryrun", "export"]
            .contains(&v)
    });
    if !only_memory {
        println!("ko2en engine benchmark · 250 articles, 300 ms latency, concurrency 64 · {}", dir.display());
        scenario(
            "rpm-bound, settings = server",
            &batch,
            &dir,
            Limits { rpm: 120, tpm: 2_000_000 },
            Limits { rpm: 120, tpm: 2_000_000 },
            300,
        );
        scenario(
            "tpm-bound, settings = server",
            &batch,
            &dir,
            Limits { rpm: 10_000, tpm: 300_000 },
            Limits { rpm: 10_000, tpm: 300_000 },
            300,
        );
        scenario(
            "server 20% stricter than settings",
            &batch,
            &dir,
            Limits { rpm: 96, tpm: 2_000_000 },
            Limits { rpm: 120, tpm: 2_000_000 },
            300,
        );
    }
    if !only_memory || only.as_deref() == Some("budgets") {
        budgets(&batch, &dir);
    }
    if !only_memory || only.as_deref() == Some("unconfigured") {
        unconfigured(&batch, &dir);
    }
    if !only_memory || only.as_deref() == Some("headerless") {
        headerless(&dir);
    }
    if !only_memory || only.as_deref() == Some("routes") {
        routes(&dir);
    }
    if !only_memory || only.as_deref() == Some("windows") {
        windows(&batch, &dir);
    }
    if only.is_none() || only.as_deref() == Some("dryrun") {
        let n = std::env::var("KO2EN_BENCH_DRY").ok().and_then(|v| v.parse().ok()).unwrap_or(10_000);
        dry_run(&dir, n);
    }
    let big = std::env::var("KO2EN_BENCH_BIG").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    if only.is_none() || only.as_deref() == Some("memory") {
        memory(&dir, 1_000);
        memory(&dir, big);
    }
    if only.is_none() || only.as_deref() == Some("export") {
        export(&dir, 1_000);
        export(&dir, big);
    }
    std::fs::remove_dir_all(&dir).ok();
}
