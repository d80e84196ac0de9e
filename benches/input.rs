//! What reading costs when inputs come as they do from the field: a gzipped JSONL batch
//! against the same batch plain (peak RSS must not grow: it is decompressed as it is read), and
//! the corpus in EUC-KR against the same corpus in UTF-8 (the cost of decoding CP949). Runs
//! `ko2en clean`, which reads, decodes and cleans and sends nothing. A benchmark, not a test.
//!
//!     cargo bench --bench input            # 100,000 articles; KO2EN_BENCH_INPUT=N for another size

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

const BIN: &str = env!("CARGO_BIN_EXE_ko2en");
/// Copies of the corpus in each encoding: enough files for the times to mean something.
const COPIES: usize = 40;

/// Peak RSS (MiB), CPU seconds and wall seconds of `ko2en clean INPUT`.
fn clean(input: &Path) -> (f64, f64, f64) {
    let times = std::env::temp_dir().join(format!("ko2en-bench-input-{}", std::process::id()));
    let started = Instant::now();
    let status = Command::new("/usr/bin/time")
        .arg("-o")
        .arg(&times)
        .args(["-f", "%M %U %S", BIN, "clean"])
        .arg(input)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("ko2en runs under /usr/bin/time");
    let wall = started.elapsed().as_secs_f64();
    assert!(status.success() || status.code() == Some(1), "ko2en clean failed on {}", input.display());
    // The last line: a run that exits 1 (an article it could not read) gets a line before it.
    let text = std::fs::read_to_string(&times).unwrap_or_default();
    let fields: Vec<f64> =
        text.lines().last().unwrap_or("").split_whitespace().filter_map(|f| f.parse().ok()).collect();
    (fields[0] / 1024.0, fields[1] + fields[2], wall)
}

fn main() {
    let n: usize = std::env::var("KO2EN_BENCH_INPUT").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let corpus: Vec<serde_json::Value> = std::fs::read_to_string(root.join("tests/data/ko-news.jsonl"))
        .expect("the corpus")
        .lines()
        .map(|l| serde_json::from_str(l).expect("corpus JSON"))
        .collect();
    let dir = tempfile::tempdir().expect("a temp dir");

    let plain = dir.path().join("batch.jsonl");
    let gz = dir.path().join("batch.jsonl.gz");
    {
        let mut out = std::io::BufWriter::new(std::fs::File::create(&plain).unwrap());
        let mut zipped = flate2::write::GzEncoder::new(
            std::io::BufWriter::new(std::fs::File::create(&gz).unwrap()),
            flate2::Compression::default(),
        );
        for i in 0..n {
            let mut article = corpus[i % corpus.len()].clone();
            article["id"] = format!("{}-{i}", article["id"].as_str().unwrap()).into();
            let line = format!("{article}\n");
            out.write_all(line.as_bytes()).unwrap();
            zipped.write_all(line.as_bytes()).unwrap();
        }
        zipped.finish().unwrap().flush().unwrap();
    }
    println!("ko2en input benchmark · `ko2en clean` · {n} articles");
    for (name, path) in [("jsonl, plain", &plain), ("jsonl, gzipped", &gz)] {
        let (rss, cpu, wall) = clean(path);
        let size = std::fs::metadata(path).unwrap().len() as f64 / (1024.0 * 1024.0);
        println!("{name:<22} {size:>7.1} MiB  peak rss {rss:>6.1} MiB  cpu {cpu:>6.2} s  wall {wall:>6.2} s");
    }

    // The corpus as text files, once in UTF-8 and once in EUC-KR (what CP949 can encode of it),
    // repeated to a size worth timing.
    let (utf8, euc_kr) = (dir.path().join("utf8"), dir.path().join("euc-kr"));
    std::fs::create_dir(&utf8).unwrap();
    std::fs::create_dir(&euc_kr).unwrap();
    for copy in 0..COPIES {
        for (i, article) in corpus.iter().enumerate() {
            let text = format!(
                "{}\n{}\n",
                article["title"].as_str().unwrap_or(""),
                article["text"].as_str().unwrap()
            );
            let (encoded, _, _) = encoding_rs::EUC_KR.encode(&text);
            let legacy = encoding_rs::EUC_KR.decode_without_bom_handling(&encoded).0.into_owned();
            let name = format!("{copy}-{i}.txt");
            std::fs::write(utf8.join(&name), legacy.as_bytes()).unwrap();
            std::fs::write(euc_kr.join(&name), &encoded).unwrap();
        }
    }
    let files = corpus.len() * COPIES;
    let (_, cpu_utf8, wall_utf8) = clean(&utf8);
    let (_, cpu_euc, wall_euc) = clean(&euc_kr);
    println!("text, UTF-8 ({files} files)   cpu {cpu_utf8:>6.2} s  wall {wall_utf8:>6.2} s");
    println!(
        "text, EUC-KR ({files} files)  cpu {cpu_euc:>6.2} s  wall {wall_euc:>6.2} s  ({:.2}x UTF-8's CPU)",
        cpu_euc / cpu_utf8
    );
}
