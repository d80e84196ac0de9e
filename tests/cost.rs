//! What a run costs, through the real binary and the real mock: each record priced at the
//! model's list price, the spend in the closing summary, `--dry-run` counting exactly what a
//! real run then sends (requests and prompt tokens, maps and combinations and name lists
//! included), and `--max-cost` stopping a run before it could overspend, resumed by a higher
//! cap from the cache.

mod common;

use common::Ko2en;
use serde_json::Value;

/// gpt-4o-mini's built-in price, USD per million tokens: input, output.
const PRICE: (f64, f64) = (0.15, 0.60);

#[test]
fn each_record_is_priced_and_the_summary_says_what_the_run_spent() {
    let run = Ko2en::new(["summarize", "--mock", "-m", "gpt-4o-mini"]).arg_path(&common::fixture("")).run();
    run.assert_code(0);
    let records = run.records();
    assert!(!records.is_empty());
    let mut total = 0.0;
    for r in &records {
        let usage = &r["usage"];
        let expected = (usage["prompt_tokens"].as_f64().unwrap() * PRICE.0
            + usage["completion_tokens"].as_f64().unwrap() * PRICE.1)
            / 1e6;
        let cost = usage["cost"].as_f64().expect("a priced model's record has a cost");
        assert!((cost - expected).abs() < 1e-12, "{usage}");
        total += cost;
    }
    let spent = format!("spent ${total:.4}");
    assert!(run.stderr().contains(&spent), "{spent} in {}", run.stderr());

    let unknown =
        Ko2en::new(["summarize", "--mock", "-m", "my-local-model"]).arg_path(&common::fixture("")).run();
    unknown.assert_code(0);
    assert!(unknown.records().iter().all(|r| r["usage"]["cost"].is_null()), "null when unknown");
    assert!(!unknown.stderr().contains("spent $"), "{}", unknown.stderr());
}

#[test]
fn a_dry_run_counts_exactly_the_requests_and_prompt_tokens_a_real_run_then_sends() {
    let dir = tempfile::tempdir().unwrap();
    let batch = common::corpus(dir.path(), 12);
    let cache = dir.path().join("cache.sqlite");
    let mock_log = dir.path().join("mock.log");
    let out = dir.path().join("out.jsonl");
    let base = |extra: &[&str]| {
        Ko2en::new(["translate", "--mock", "-m", "gpt-4o-mini", "-o"])
            .arg_path(&out)
            .arg("--cache")
            .arg_path(&cache)
            .args(extra)
            .arg_path(&batch)
    };
    let dry = base(&["--dry-run"]).run();
    dry.assert_code(0);
    let report = dry.stdout();
    assert!(!out.exists(), "a dry run writes nothing");
    assert!(!common::jsonl(&mock_log).iter().any(|_| true), "nor sends anything");
    let number = |label: &str| -> u64 {
        let line =
            report.lines().find(|l| l.starts_with(label)).unwrap_or_else(|| panic!("{label} in {report}"));
        line[label.len()..].split_whitespace().next().unwrap().replace(',', "").parse().unwrap()
    };
    let (requests, prompt) = (number("requests"), number("prompt"));
    assert!(report.contains("cost         $"), "{report}");

    let log_opt = format!("log={}", mock_log.display());
    let real = base(&["--mock-opt", &log_opt]).run();
    real.assert_code(0);
    let sent = common::jsonl(&mock_log);
    let sent_prompt: u64 = sent.iter().map(|l| l["prompt_tokens"].as_u64().unwrap()).sum();
    assert_eq!((requests, prompt), (sent.len() as u64, sent_prompt), "{report}");
    assert!(sent.len() > 2 * 12, "long articles, so parts, combinations and name lists: {}", sent.len());

    // Everything is in the cache now: nothing would be sent.
    std::fs::remove_file(&out).unwrap();
    let again = base(&["--dry-run"]).run();
    again.assert_code(0);
    assert!(again.stdout().contains("12 of them whole from the cache"), "{}", again.stdout());
    assert_eq!(
        again.stdout().lines().find(|l| l.starts_with("requests")).unwrap().split_whitespace().nth(1),
        Some("0")
    );
}

#[test]
fn max_cost_stops_before_the_cap_and_a_higher_cap_goes_on_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let batch = common::corpus(dir.path(), 16);
    let cache = dir.path().join("cache.sqlite");
    let out = dir.path().join("out.jsonl");
    let run = |cap: &str, log_name: &str| {
        Ko2en::new([
            "summarize",
            "--mock",
            "-m",
            "gpt-4o-mini",
            "--concurrency",
            "2",
            "--max-cost",
            cap,
            "--cache",
        ])
        .arg_path(&cache)
        .arg("--mock-opt")
        .arg(format!("log={}", dir.path().join(log_name).display()))
        .arg("-o")
        .arg_path(&out)
        .arg_path(&batch)
        .run()
    };
    let cap = 0.004;
    let capped = run("0.004", "first.log");
    assert_eq!(capped.code(), 4, "{}", capped.stderr());
    assert!(capped.stderr().contains("stopped at the spending cap"), "{}", capped.stderr());
    assert!(capped.stderr().contains("higher --max-cost"), "{}", capped.stderr());
    let partial = dir.path().join("out.jsonl.partial");
    assert!(partial.exists() && !out.exists(), "the output stays partial");
    let first = common::jsonl(&dir.path().join("first.log"));
    let spent: f64 = first
        .iter()
        .map(|l| {
            (l["prompt_tokens"].as_f64().unwrap() * PRICE.0
                + l["completion_tokens"].as_f64().unwrap() * PRICE.1)
                / 1e6
        })
        .sum();
    assert!(spent <= cap && !first.is_empty(), "spent ${spent} of ${cap}");

    let finished = run("10", "second.log");
    finished.assert_code(0);
    assert_eq!(finished.records().len(), 0, "written to -o, not stdout");
    let records: Vec<Value> =
        std::fs::read_to_string(&out).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(records.len(), 16);
    assert!(records.iter().all(|r| r["error"].is_null()), "every article done");
    // What the first run bought is not bought again: together, the two runs sent what one
    // uncapped run sends.
    let second = common::jsonl(&dir.path().join("second.log"));
    let whole = Ko2en::new(["summarize", "--mock", "-m", "gpt-4o-mini", "--mock-opt"])
        .arg(format!("log={}", dir.path().join("whole.log").display()))
        .arg_path(&batch)
        .run();
    whole.assert_code(0);
    assert_eq!(first.len() + second.len(), common::jsonl(&dir.path().join("whole.log")).len());
}

#[test]
fn a_cap_without_a_price_is_refused_before_anything_is_sent() {
    let run = Ko2en::new(["summarize", "--mock", "-m", "my-local-model", "--max-cost", "5"])
        .arg_path(&common::fixture(""))
        .run();
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("[prices.\"my-local-model\"]"), "{}", run.stderr());
}
