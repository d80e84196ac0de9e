//! A batch round (`ko2en batch export`): the run as it would go, every request the cache lacks
//! written to a batch file instead of sent, and the article left waiting for its answer.
//! A line is OpenAI's batch input (`custom_id`, `method`, `url`, `body`), which vLLM's
//! `run_batch`, Azure's and LiteLLM's batch APIs take too; `custom_id` is the request's cache
//! key, so that an answer coming back is stored where the run will look for it. The body is the
//! request as it would go live, at its fixed completion budget, without streaming. Files are
//! split where OpenAI's limits are (50,000 requests, 200 MB); lines are written by a thread of
//! their own, so the async runtime never waits on the disk.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;

use super::Pool;
use super::dry::Recent;
use crate::cache::Key;
use crate::client::WireRequest;

/// Requests a batch file holds at most, and its size at most (OpenAI's limits).
pub(crate) const MAX_REQUESTS: usize = 50_000;
pub(crate) const MAX_BYTES: u64 = 200 * 1024 * 1024;

/// Where a round's requests go.
pub(crate) struct Defer {
    /// The operation each line names (see `client::batch_url`).
    url: &'static str,
    lines: Mutex<Option<mpsc::Sender<String>>>,
    writer: Mutex<Option<std::thread::JoinHandle<std::io::Result<Vec<PathBuf>>>>>,
    /// Requests written, and those the round asked twice (written once).
    requests: AtomicU64,
    recent: Mutex<Recent>,
}

impl std::fmt::Debug for Defer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Defer").field("requests", &self.requests).finish_non_exhaustive()
    }
}

/// What a round wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Round {
    pub(crate) requests: u64,
    pub(crate) files: Vec<PathBuf>,
}

impl Defer {
    /// Write the round's requests to `path` (and `path` with `-2`, `-3`… before its extension,
    /// past a file's limits), each line naming the operation `url`. The files are created at
    /// the first request.
    pub(crate) fn to(path: &Path, url: &'static str) -> Defer {
        let (tx, rx) = mpsc::channel::<String>();
        let path = path.to_path_buf();
        let writer = std::thread::Builder::new()
            .name("ko2en-batch-writer".into())
            .spawn(move || write_files(&path, rx))
            .expect("spawning the batch writer");
        Defer {
            url,
            lines: Mutex::new(Some(tx)),
            writer: Mutex::new(Some(writer)),
            requests: AtomicU64::new(0),
            recent: Mutex::default(),
        }
    }

    /// Close the files: what the round wrote, or why it could not.
    pub(crate) fn finish(&self) -> std::io::Result<Round> {
        drop(self.lines.lock().unwrap_or_else(|e| e.into_inner()).take());
        let files = match self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            Some(writer) => {
                writer.join().unwrap_or_else(|_| Err(std::io::Error::other("the batch writer died")))?
            }
            None => Vec::new(),
        };
        Ok(Round { requests: self.requests.load(Ordering::Relaxed), files })
    }
}

/// One request as a line of a batch file.
pub(crate) fn line(key: Key, url: &str, body: &serde_json::Value) -> String {
    serde_json::json!({"custom_id": key.hex(), "method": "POST", "url": url, "body": body}).to_string()
}

fn write_files(path: &Path, lines: mpsc::Receiver<String>) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut out: Option<std::io::BufWriter<std::fs::File>> = None;
    let (mut count, mut bytes) = (0usize, 0u64);
    for line in lines {
        let size = line.len() as u64 + 1;
        if out.is_none() || count == MAX_REQUESTS || bytes + size > MAX_BYTES {
            if let Some(mut full) = out.take() {
                full.flush()?;
            }
            let name = numbered(path, files.len() + 1);
            out = Some(std::io::BufWriter::new(std::fs::File::create(&name)?));
            files.push(name);
            (count, bytes) = (0, 0);
        }
        let file = out.as_mut().expect("opened above");
        file.write_all(line.as_bytes())?;
        file.write_all(b"\n")?;
        (count, bytes) = (count + 1, bytes + size);
    }
    if let Some(mut last) = out {
        last.flush()?;
    }
    Ok(files)
}

/// `requests.jsonl`, then `requests-2.jsonl`, `requests-3.jsonl`…
pub(crate) fn numbered(path: &Path, n: usize) -> PathBuf {
    if n == 1 {
        return path.to_path_buf();
    }
    let stem = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}

impl Pool {
    /// Whether requests go to a batch file (`ko2en batch export`).
    pub(crate) fn is_deferring(&self) -> bool {
        self.defer.is_some()
    }

    /// What the round wrote, once its articles are all done.
    pub(crate) fn finish_round(&self) -> Option<std::io::Result<Round>> {
        self.defer.as_ref().map(Defer::finish)
    }

    /// Write `wire` (under `key`) to the batch file, once however often the round asks it.
    pub(super) fn defer_request(&self, key: Key, wire: &WireRequest) {
        let Some(defer) = &self.defer else { return };
        if defer.recent.lock().unwrap_or_else(|e| e.into_inner()).seen(key) {
            return;
        }
        defer.requests.fetch_add(1, Ordering::Relaxed);
        if let Some(lines) = defer.lines.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            // A writer that failed says so at `finish`.
            let _ = lines.send(line(key, defer.url, wire.body()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_are_numbered_before_their_extension() {
        assert_eq!(numbered(Path::new("/d/requests.jsonl"), 1), Path::new("/d/requests.jsonl"));
        assert_eq!(numbered(Path::new("/d/requests.jsonl"), 3), Path::new("/d/requests-3.jsonl"));
        assert_eq!(numbered(Path::new("out"), 2), Path::new("out-2"));
    }

    #[test]
    fn a_file_is_split_at_the_request_limit() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = mpsc::channel();
        for i in 0..MAX_REQUESTS + 3 {
            tx.send(format!("{{\"n\":{i}}}")).unwrap();
        }
        drop(tx);
        let files = write_files(&dir.path().join("r.jsonl"), rx).unwrap();
        let lines: Vec<usize> =
            files.iter().map(|f| std::fs::read_to_string(f).unwrap().lines().count()).collect();
        assert_eq!(lines, [MAX_REQUESTS, 3]);
        assert!(files[1].ends_with("r-2.jsonl"));
    }
}
