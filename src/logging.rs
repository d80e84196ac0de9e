//! ko2en's own log lines on stderr, and nobody else's unless asked: third-party libraries
//! (the HTTP stack, TLS) log request and response details that are noise to a user and may
//! carry what a server echoed, the key included. By default only ko2en's warnings show (its
//! errors alone with `-q`); `KO2EN_LOG` (a `tracing` filter) opens more. Every line, whoever
//! wrote it, passes through redaction on its way out.

use std::io::{self, Write};
use std::sync::Arc;

use tracing_subscriber::fmt::MakeWriter;

use crate::redact::redact;

/// Install the logger: errors only when `quiet`, `keys` kept out of every line, `filter` the
/// value of `KO2EN_LOG` when set.
pub(crate) fn init(quiet: bool, keys: &[&str], filter: Option<String>) {
    let default = if quiet { "ko2en=error" } else { "ko2en=warn" };
    let filter = filter
        .and_then(|f| tracing_subscriber::EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| tracing_subscriber::EnvFilter::new(default));
    let writer = Redacting { keys: keys.iter().map(|k| Arc::from(*k)).collect() };
    let _ = tracing_subscriber::fmt().with_writer(writer).with_env_filter(filter).try_init();
}

/// Hands each log event a buffer; the event is redacted and written whole when it is done.
struct Redacting {
    keys: Arc<[Arc<str>]>,
}

impl<'a> MakeWriter<'a> for Redacting {
    type Writer = Event;

    fn make_writer(&'a self) -> Event {
        Event { buffer: Vec::new(), keys: self.keys.clone() }
    }
}

/// One log event on its way to stderr.
struct Event {
    buffer: Vec<u8>,
    keys: Arc<[Arc<str>]>,
}

impl Write for Event {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for Event {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.buffer);
        let keys: Vec<&str> = self.keys.iter().map(|k| &**k).collect();
        let clean = redact(&text, &keys);
        let _ = io::stderr().lock().write_all(clean.as_bytes());
    }
}
