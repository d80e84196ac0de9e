//! The writer thread: bytes in, written by one blocking thread, never on the async runtime,
//! and blind to the format they are in. A file destination is written as `FILE.partial` and
//! renamed only when complete, so a crash never leaves a truncated file under the name the
//! user asked for. A closed stdout pipe (`ko2en … | head`) ends the run quietly.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use super::Destination;

/// How writing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct WriteOutcome {
    /// Chunks of bytes written (records, for JSONL).
    pub(crate) written: u64,
    /// The reader of stdout went away; not an error.
    pub(crate) pipe_closed: bool,
}

/// The writer thread's handle.
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<io::Result<WriteOutcome>>>,
}

/// `FILE.partial`, beside FILE.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

impl Writer {
    /// Open the destination now, so that an unwritable path fails before anything is paid for.
    /// `head` (a format's header, possibly empty) is written first.
    pub(crate) fn create(destination: Destination, head: Vec<u8>) -> io::Result<Writer> {
        let (sink, finalize): (Box<dyn Write + Send>, Option<(PathBuf, PathBuf)>) = match destination {
            Destination::Stdout => (Box::new(io::stdout()), None),
            Destination::File(path) => {
                let partial = partial_path(&path);
                let file = fs::File::create(&partial).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot create {}: {e}", partial.display()))
                })?;
                (Box::new(file), Some((partial, path)))
            }
        };
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
        let thread = std::thread::Builder::new().name("ko2en-writer".into()).spawn(move || {
            let mut sink = io::BufWriter::new(sink);
            let mut outcome = WriteOutcome::default();
            let mut head = (!head.is_empty()).then_some(head);
            while let Some(bytes) = head.take().or_else(|| rx.blocking_recv()) {
                // Each record goes out whole and flushed, so the partial file (or a pipe's
                // reader) only ever sees complete lines.
                match sink.write_all(&bytes).and_then(|_| sink.flush()) {
                    Ok(()) => outcome.written += 1,
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        outcome.pipe_closed = true;
                        return Ok(outcome);
                    }
                    Err(e) => return Err(e),
                }
            }
            match sink.flush() {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => outcome.pipe_closed = true,
                other => other?,
            }
            if let Some((partial, path)) = finalize {
                let file = sink.into_inner().map_err(|e| e.into_error())?;
                drop(file);
                fs::File::open(&partial).and_then(|f| f.sync_all())?;
                fs::rename(&partial, &path).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot move {} to {}: {e}", partial.display(), path.display()),
                    )
                })?;
            }
            Ok(outcome)
        })?;
        Ok(Writer { tx: Some(tx), thread: Some(thread) })
    }

    /// Queue bytes for writing. False when the writer has stopped (closed pipe or I/O error:
    /// `finish` says which), so the caller can stop producing.
    pub(crate) async fn write(&self, bytes: Vec<u8>) -> bool {
        match &self.tx {
            Some(tx) => tx.send(bytes).await.is_ok(),
            None => false,
        }
    }

    /// Flush, close and (for a file) move into place.
    pub(crate) async fn finish(mut self) -> io::Result<WriteOutcome> {
        drop(self.tx.take());
        let thread = self.thread.take().expect("finish is called once");
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(io::Error::other)?
            .map_err(|_| io::Error::other("the writer thread panicked"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_file_appears_only_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let writer = Writer::create(Destination::File(path.clone()), Vec::new()).unwrap();
        assert!(writer.write(b"{}\n".to_vec()).await);
        assert!(partial_path(&path).exists() && !path.exists());
        let outcome = writer.finish().await.unwrap();
        assert_eq!(outcome.written, 1);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{}\n");
        assert!(!partial_path(&path).exists());
    }
}
