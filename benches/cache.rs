//! What the cache buys on a 10,000-article batch: the release binary with its in-process mock
//! (`--mock`), run cold with a cache, cold with `--no-cache`, and warm (the same batch again).
//! A benchmark, not a test: it prints wall times and articles per second.
//!
//!     cargo build --release && cargo bench --bench cache [-- ARTICLES]
//!
//! The batch repeats tests/data/ko-news.jsonl with distinct ids and slightly varied text
//! (" (사본 N)" appended to title and text), so that every article is distinct.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn main() {
    let articles: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(10_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let binary = std::env::var_os("KO2EN_BIN").map(PathBuf::from).unwrap_or_else(|| {
        let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or(root.join("target"));
        target.join("release").join("ko2en")
    });
    if !binary.is_file() {
        eprintln!("{} is missing: run `cargo build --release` first", binary.display());
        std::process::exit(2);
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let input = dir.path().join("batch.jsonl");
    write_batch(&root.join("tests/data/ko-news.jsonl"), &input, articles);
    let cache = dir.path().join("cache.sqlite");
    println!("{articles} articles, {} (--mock, default concurrency)", binary.display());

    let runs: [(&str, Vec<&str>, &str); 3] = [
        ("cold, with cache", vec!["--cache", cache.to_str().unwrap()], "cold.jsonl"),
        ("cold, --no-cache", vec!["--no-cache"], "nocache.jsonl"),
        ("warm rerun", vec!["--cache", cache.to_str().unwrap()], "warm.jsonl"),
    ];
    for (name, args, out) in &runs {
        let out = dir.path().join(out);
        let elapsed = run(&binary, &input, args, &out);
        println!(
            "{name:<18} {:>8.2} s  {:>9.0} articles/s",
            elapsed.as_secs_f64(),
            articles as f64 / elapsed.as_secs_f64()
        );
    }
    let cold = std::fs::read(dir.path().join("cold.jsonl")).expect("cold output");
    let warm = std::fs::read(dir.path().join("warm.jsonl")).expect("warm output");
    assert!(cold == warm, "the warm rerun's output differs from the cold run's");
    let size = std::fs::metadata(&cache).map(|m| m.len()).unwrap_or(0);
    println!("warm output identical to cold; cache file {:.1} MiB", size as f64 / (1024.0 * 1024.0));
}

/// `articles` lines built from the corpus, each distinct.
fn write_batch(corpus: &Path, out: &Path, articles: usize) {
    let text = std::fs::read_to_string(corpus).expect("the corpus");
    let lines: Vec<serde_json::Value> =
        text.lines().map(|l| serde_json::from_str(l).expect("JSONL")).collect();
    let mut batch = String::new();
    for n in 0..articles {
        let copy = n / lines.len() + 1;
        let mut article = lines[n % lines.len()].clone();
        article["id"] = format!("{}-{copy}", article["id"].as_str().unwrap_or("a")).into();
        for field in ["title", "text"] {
            if let Some(value) = article[field].as_str() {
                article[field] = format!("{value} (사본 {copy})").into();
            }
        }
        batch.push_str(&article.to_string());
        batch.push('\n');
    }
    std::fs::write(out, batch).expect("the batch file");
}

fn run(binary: &Path, input: &Path, args: &[&str], out: &Path) -> Duration {
    let started = Instant::now();
    let status = Command::new(binary)
        .arg("summarize")
        .arg(input)
        .args(["--mock", "--quiet", "--output"])
        .arg(out)
        .args(args)
        .stdin(Stdio::null())
        .status()
        .expect("ko2en runs");
    let elapsed = started.elapsed();
    assert!(status.success(), "ko2en failed: {status}");
    elapsed
}
