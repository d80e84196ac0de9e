//! Throughput of `chunk::split` over the shared corpus: 20 passes at 400 tokens.
//! Run: cargo bench --bench chunk
use std::time::Instant;

use ko2en::chunk::{Encoding, TokenCounter, split};

fn main() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ko-news.jsonl");
    let data = std::fs::read_to_string(path).expect("corpus ko-news.jsonl");
    let texts: Vec<String> = data
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["text"].as_str().unwrap().to_string()
        })
        .collect();
    let counter = TokenCounter::new(Encoding::O200kBase);
    counter.count("warm up the tokenizer singleton");
    // Baseline: one plain tokenizer pass, to see how many passes `split` costs.
    let t0 = Instant::now();
    let tokens: usize = texts.iter().map(|t| counter.count(t)).sum();
    let count_secs = t0.elapsed().as_secs_f64();
    let bytes: usize = texts.iter().map(|t| t.len()).sum();
    let passes = 20;
    let start = Instant::now();
    let mut chunks = 0;
    for _ in 0..passes {
        for t in &texts {
            chunks += split(t, 400, counter).len();
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let articles = (texts.len() * passes) as f64;
    println!(
        "{} articles x {passes} passes at 400 tokens: {:.0} articles/s, {:.2} MB/s, {:.1} chunks/article, {:.2} s",
        texts.len(),
        articles / secs,
        (bytes * passes) as f64 / secs / 1e6,
        chunks as f64 / articles,
        secs
    );
    println!(
        "baseline: one count() pass over the corpus: {:.2} MB/s ({tokens} tokens)",
        bytes as f64 / count_secs / 1e6
    );
}
