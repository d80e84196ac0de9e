//! The writer thread: bytes in, written by one blocking thread, never on the async runtime,
//! and blind to the format they are in.
//!
//! A file destination is written as `FILE.partial` and renamed only when the run says it is
//! complete (every input article has a record), so the name the user asked for never holds a
//! truncated or partial result. The partial file is locked while it is written: a second run
//! given the same `-o` is refused instead of sharing it. A write that fails (a full disk) is
//! cut back to the last complete record. A destination that is not a regular file (a device,
//! a FIFO, `/dev/stdout`) is written through and never replaced; a symlink is followed, so
//! the file it points to is what gets replaced, not the link. A closed stdout pipe
//! (`ko2en … | head`) ends the run quietly.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;

use super::Destination;

/// How writing ended.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct WriteOutcome {
    /// Chunks of bytes written (records, for JSONL).
    pub(crate) written: u64,
    /// The reader of stdout went away; not an error.
    pub(crate) pipe_closed: bool,
    /// The run was not complete: what was written stays here, not under the final name.
    pub(crate) kept_partial: Option<PathBuf>,
}

/// The writer thread's handle.
pub(crate) struct Writer {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<io::Result<WriteOutcome>>>,
    /// Set by [`Writer::finish`]: rename the partial file into place.
    complete: Arc<AtomicBool>,
}

/// `FILE.partial`, beside FILE.
pub(crate) fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

/// Where the bytes go.
enum Sink {
    Stdout(io::Stdout),
    /// A device, FIFO or socket: written through, never replaced.
    Through(File),
    /// A regular file, written as its locked `.partial` and renamed when complete.
    Partial {
        file: File,
        partial: PathBuf,
        target: PathBuf,
        committed: u64,
    },
}

/// The file a path names once symlinks are followed (the link's target, even when that does
/// not exist yet), so that the link itself is never replaced.
fn follow_links(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..40 {
        match fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                let target = fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(path),
        }
    }
    Err(io::Error::other(format!("{}: too many levels of symbolic links", path.display())))
}

impl Sink {
    fn open(destination: Destination) -> io::Result<Sink> {
        let path = match destination {
            Destination::Stdout => return Ok(Sink::Stdout(io::stdout())),
            Destination::File(path) => path,
        };
        // The kind of file the path leads to, links followed: `/dev/stdout` leads through
        // /proc's links to a pipe or a terminal, which are written through.
        let target = match fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => {
                return Err(io::Error::other(format!(
                    "{} is a directory; name a file with -o",
                    path.display()
                )));
            }
            Ok(meta) if !meta.is_file() => {
                let file = OpenOptions::new().write(true).open(&path).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot write to {}: {e}", path.display()))
                })?;
                return Ok(Sink::Through(file));
            }
            Ok(_) => path.canonicalize()?,
            // Not there yet, or a link to a file not there yet: the link's target is created.
            Err(_) => follow_links(&path)?,
        };
        let partial = partial_path(&target);
        // Not truncated before the lock is held: the file may be another run's work.
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&partial)
            .map_err(|e| io::Error::new(e.kind(), format!("cannot create {}: {e}", partial.display())))?;
        if let Err(e) = file.try_lock() {
            return Err(match e {
                fs::TryLockError::WouldBlock => io::Error::other(format!(
                    "another ko2en run is writing {} (it holds {}); wait for it to finish or choose another -o",
                    path.display(),
                    partial.display()
                )),
                fs::TryLockError::Error(e) => e,
            });
        }
        file.set_len(0)?;
        Ok(Sink::Partial { file, partial, target, committed: 0 })
    }

    /// Write one chunk whole. A file that fails part-way (a full disk) is cut back to the end
    /// of the last chunk, so it only ever holds complete records.
    fn write_chunk(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Sink::Stdout(out) => {
                let mut out = out.lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
            Sink::Through(file) => file.write_all(bytes),
            Sink::Partial { file, committed, .. } => match file.write_all(bytes) {
                Ok(()) => {
                    *committed += bytes.len() as u64;
                    Ok(())
                }
                Err(e) => {
                    let _ = file.set_len(*committed);
                    Err(e)
                }
            },
        }
    }

    /// Flush and close; a partial file is synced and renamed when `complete`, else kept.
    fn close(self, complete: bool, outcome: &mut WriteOutcome) -> io::Result<()> {
        match self {
            Sink::Stdout(out) => out.lock().flush(),
            Sink::Through(file) => file.sync_all().or(Ok(())),
            Sink::Partial { file, partial, target, .. } => {
                if !complete {
                    outcome.kept_partial = Some(partial);
                    return Ok(());
                }
                file.sync_all()?;
                // Renamed while still locked: no other run can take the partial file meanwhile.
                fs::rename(&partial, &target).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot move {} to {}: {e}", partial.display(), target.display()),
                    )
                })
            }
        }
    }
}

impl Writer {
    /// Open the destination now, so that an unwritable path (or one another run is writing)
    /// fails before anything is paid for. `head` (a format's header, possibly empty) is
    /// written first.
    pub(crate) fn create(destination: Destination, head: Vec<u8>) -> io::Result<Writer> {
        let mut sink = Sink::open(destination)?;
        let complete = Arc::new(AtomicBool::new(false));
        let finished = Arc::clone(&complete);
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
        let thread = std::thread::Builder::new().name("ko2en-writer".into()).spawn(move || {
            let mut outcome = WriteOutcome::default();
            let mut head = (!head.is_empty()).then_some(head);
            while let Some(bytes) = head.take().or_else(|| rx.blocking_recv()) {
                match sink.write_chunk(&bytes) {
                    Ok(()) => outcome.written += 1,
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        outcome.pipe_closed = true;
                        return Ok(outcome);
                    }
                    Err(e) => {
                        // What was written stays, complete, in the partial file.
                        let _ = sink.close(false, &mut outcome);
                        return Err(e);
                    }
                }
            }
            match sink.close(finished.load(Ordering::Acquire), &mut outcome) {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => outcome.pipe_closed = true,
                other => other?,
            }
            Ok(outcome)
        })?;
        Ok(Writer { tx: Some(tx), thread: Some(thread), complete })
    }

    /// Queue bytes for writing. False when the writer has stopped (closed pipe or I/O error:
    /// `finish` says which), so the caller can stop producing.
    pub(crate) async fn write(&self, bytes: Vec<u8>) -> bool {
        match &self.tx {
            Some(tx) => tx.send(bytes).await.is_ok(),
            None => false,
        }
    }

    /// Flush and close. A file is moved into place only when `complete` (every article has
    /// its record); otherwise it stays as `FILE.partial`, which the outcome names.
    pub(crate) async fn finish(mut self, complete: bool) -> io::Result<WriteOutcome> {
        self.complete.store(complete, Ordering::Release);
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
        let outcome = writer.finish(true).await.unwrap();
        assert_eq!(outcome.written, 1);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{}\n");
        assert!(!partial_path(&path).exists());
    }

    #[tokio::test]
    async fn an_incomplete_run_keeps_its_partial_file_and_the_destination_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        fs::write(&path, "earlier results\n").unwrap();
        let writer = Writer::create(Destination::File(path.clone()), Vec::new()).unwrap();
        assert!(writer.write(b"{}\n".to_vec()).await);
        let outcome = writer.finish(false).await.unwrap();
        assert_eq!(outcome.kept_partial, Some(partial_path(&path)));
        assert_eq!(fs::read_to_string(&path).unwrap(), "earlier results\n");
        assert_eq!(fs::read_to_string(partial_path(&path)).unwrap(), "{}\n");
    }

    #[tokio::test]
    async fn a_second_writer_of_the_same_file_is_refused_while_the_first_writes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let first = Writer::create(Destination::File(path.clone()), Vec::new()).unwrap();
        let Err(second) = Writer::create(Destination::File(path.clone()), Vec::new()) else {
            panic!("a second writer of the same file was allowed")
        };
        assert!(second.to_string().contains("another ko2en run is writing"), "{second}");
        first.finish(true).await.unwrap();
        let again = Writer::create(Destination::File(path.clone()), Vec::new()).unwrap();
        again.finish(true).await.unwrap();
    }
}
