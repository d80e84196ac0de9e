//! The mock's request log (`--log FILE`): one JSON line per request, so that a test or a
//! rehearsal can count exactly what was sent and what the mock did to it:
//!
//! ```json
//! {"seq":0,"arrived_unix_ms":…,"finished_unix_ms":…,"status":200,"prompt_tokens":412,
//!  "completion_tokens":96,"body_sha256":"…","attempt":0,"stream":false,"faults":[]}
//! ```
//!
//! `status` is null when no response was sent (a dropped connection, or a client that gave up
//! first). Lines are written by a thread of their own and flushed one by one, so the async
//! runtime never waits on the disk and a reader sees each line whole.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Sender, channel};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// The writer: a channel to the thread that owns the file. The thread ends when the last
/// sender is dropped, that is when the server is gone.
#[derive(Debug)]
pub struct RequestLog {
    lines: Sender<String>,
}

impl RequestLog {
    /// Create (truncate) the file and start its writer thread.
    pub fn create(path: &Path) -> std::io::Result<RequestLog> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let (lines, receiver) = channel::<String>();
        std::thread::Builder::new().name("ko2en-mock-log".into()).spawn(move || {
            for line in receiver {
                // A full disk must not take the server down; the log is a by-product.
                let _ = file.write_all(line.as_bytes()).and_then(|()| file.flush());
            }
        })?;
        Ok(RequestLog { lines })
    }
}

/// One line of the log.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Entry {
    /// Arrival order, from 0.
    pub seq: u64,
    pub arrived_unix_ms: u64,
    pub finished_unix_ms: u64,
    /// The HTTP status sent, or None if no response was.
    pub status: Option<u16>,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    /// SHA-256 of the request body, hex: equal bodies are the same request retried.
    pub body_sha256: String,
    /// How many times the same body had been seen before this one.
    pub attempt: u64,
    pub stream: bool,
    /// What the mock did on purpose: "fail=503", "drop", "rate_limit", "quota"…
    pub faults: Vec<String>,
}

/// A request in flight. It writes its entry when dropped, so a request whose client went away
/// (and whose handler was cancelled) is logged too, with the status it never got.
#[derive(Debug)]
pub struct Trace {
    pub entry: Entry,
    log: Option<Arc<RequestLog>>,
}

impl Trace {
    pub fn new(log: Option<Arc<RequestLog>>, seq: u64) -> Trace {
        Trace { entry: Entry { seq, arrived_unix_ms: unix_ms(), ..Entry::default() }, log }
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        let Some(log) = &self.log else { return };
        self.entry.finished_unix_ms = unix_ms();
        if let Ok(mut line) = serde_json::to_string(&self.entry) {
            line.push('\n');
            let _ = log.lines.send(line);
        }
    }
}

fn unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_trace_becomes_one_flushed_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let log = Arc::new(RequestLog::create(&path).unwrap());
        for seq in 0..3 {
            let mut trace = Trace::new(Some(Arc::clone(&log)), seq);
            trace.entry.status = Some(200);
        }
        // Dropping the last sender ends the thread after it has written everything queued.
        drop(log);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let lines = loop {
            let text = std::fs::read_to_string(&path).unwrap();
            if text.lines().count() == 3 || std::time::Instant::now() > deadline {
                break text;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let seqs: Vec<u64> = lines
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [0, 1, 2]);
    }
}
