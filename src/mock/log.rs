//! The mock's request log (`--log FILE`): one JSON line per request, so that a test or a
//! rehearsal can count exactly what was sent and what the mock did to it:
//!
//! ```json
//! {"seq":0,"arrived_unix_ms":…,"started_unix_ms":…,"finished_unix_ms":…,"status":200,"prompt_tokens":412,
//!  "completion_tokens":96,"max_tokens":1500,"truncated":false,"body_sha256":"…","attempt":0,"stream":false,
//!  "temperature":null,"response_format":"json_schema","faults":[]}
//! ```
//!
//! `status` is null when no response was sent (a dropped connection, or a client that gave up
//! first). Lines are written by a thread of their own and flushed one by one, so the async
//! runtime never waits on the disk and a reader sees each line whole.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Sender, SyncSender, channel, sync_channel};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;

/// What the writer thread is asked to do.
#[derive(Debug)]
enum Message {
    Line(String),
    /// MockAnswer once every line sent before has been written.
    Flush(SyncSender<()>),
}

/// The writer: a channel to the thread that owns the file. The thread ends when the last
/// sender is dropped, that is when the server is gone.
#[derive(Debug)]
pub(crate) struct RequestLog {
    messages: Sender<Message>,
}

impl RequestLog {
    /// Create (truncate) the file and start its writer thread.
    pub(crate) fn create(path: &Path) -> std::io::Result<RequestLog> {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        let (messages, receiver) = channel::<Message>();
        std::thread::Builder::new().name("ko2en-mock-log".into()).spawn(move || {
            for message in receiver {
                match message {
                    // A full disk must not take the server down; the log is a by-product.
                    Message::Line(line) => {
                        let _ = file.write_all(line.as_bytes()).and_then(|()| file.flush());
                    }
                    Message::Flush(done) => {
                        let _ = done.send(());
                    }
                }
            }
        })?;
        Ok(RequestLog { messages })
    }

    /// Wait (a few seconds at most) until every line logged so far is on disk. For the end of a
    /// run: the process may exit right after, taking the writer thread with it.
    pub(crate) fn flush(&self) {
        let (done, wait) = sync_channel(1);
        if self.messages.send(Message::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(Duration::from_secs(5));
        }
    }
}

/// One line of the log.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct Entry {
    /// Arrival order, from 0.
    pub(crate) seq: u64,
    pub(crate) arrived_unix_ms: u64,
    /// When a server slot was free (later than arrival under `max_concurrency`).
    pub(crate) started_unix_ms: u64,
    pub(crate) finished_unix_ms: u64,
    /// The HTTP status sent, or None if no response was.
    pub(crate) status: Option<u16>,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    /// The completion budget the request asked for (`max_completion_tokens` or `max_tokens`),
    /// which the tokens-per-minute budget charges; None when it asked for none.
    pub(crate) max_tokens: Option<u64>,
    /// Whether the answer was cut at that budget (`finish_reason: "length"`).
    pub(crate) truncated: bool,
    /// SHA-256 of the request body, hex: equal bodies are the same request retried.
    pub(crate) body_sha256: String,
    /// How many times the same body had been seen before this one.
    pub(crate) attempt: u64,
    pub(crate) stream: bool,
    /// The temperature asked for, if any.
    pub(crate) temperature: Option<f64>,
    /// The `response_format` type asked for (`json_schema`, `json_object`, `text`), if any.
    pub(crate) response_format: Option<String>,
    /// What the mock did on purpose: "fail=503", "drop", "rate_limit", "quota"…
    pub(crate) faults: Vec<String>,
}

/// A request in flight. It writes its entry when dropped, so a request whose client went away
/// (and whose handler was cancelled) is logged too, with the status it never got.
#[derive(Debug)]
pub(crate) struct Trace {
    pub(crate) entry: Entry,
    log: Option<Arc<RequestLog>>,
}

impl Trace {
    pub(crate) fn new(log: Option<Arc<RequestLog>>, seq: u64) -> Trace {
        let now = unix_ms();
        Trace { entry: Entry { seq, arrived_unix_ms: now, started_unix_ms: now, ..Entry::default() }, log }
    }

    /// The request got its server slot now.
    pub(crate) fn started(&mut self) {
        self.entry.started_unix_ms = unix_ms();
    }
}

impl Drop for Trace {
    fn drop(&mut self) {
        let Some(log) = &self.log else { return };
        self.entry.finished_unix_ms = unix_ms();
        if let Ok(mut line) = serde_json::to_string(&self.entry) {
            line.push('\n');
            let _ = log.messages.send(Message::Line(line));
        }
    }
}

pub(crate) fn unix_ms() -> u64 {
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
        log.flush();
        let lines = std::fs::read_to_string(&path).unwrap();
        let seqs: Vec<u64> = lines
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"].as_u64().unwrap())
            .collect();
        assert_eq!(seqs, [0, 1, 2]);
    }
}
