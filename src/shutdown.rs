//! Stopping a run early, in one path (mini-redis's shape: shutdown is a signal, not an exit).
//! Whatever ends a run early — SIGINT (Ctrl-C), SIGTERM (`timeout`, systemd, `docker stop`,
//! CI cancellation), SIGHUP (a closed terminal), or the reader of stdout going away
//! (`ko2en … | head`) — raises the same [`Shutdown`]: no new article and no new request
//! starts, the requests on the wire finish and are kept, and the output stays `FILE.partial`.
//! A second signal aborts at once (exit 130).

use std::sync::Arc;

use tokio::sync::watch;

/// Why a run is ending early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Why {
    /// A signal: the user (or a supervisor) wants the run to end.
    Signal(&'static str),
    /// Nobody reads stdout any more: the run has nowhere to write, and that is no failure.
    ReaderGone,
}

/// A one-way flag, raised once, that futures can wait on.
#[derive(Clone, Default)]
pub(crate) struct Shutdown(Arc<watch::Sender<Option<Why>>>);

impl Shutdown {
    /// Listen for the signals that end a run (and, when `stdout_matters`, for the reader of a
    /// piped stdout leaving). `quiet` keeps the first signal's notice off stderr.
    pub(crate) fn listen(quiet: bool, stdout_matters: bool) -> Shutdown {
        let shutdown = Shutdown::default();
        let raised = shutdown.clone();
        tokio::spawn(async move {
            let Some(name) = next_signal().await else { return };
            if !quiet {
                eprintln!(
                    "\nko2en: {name}: finishing the requests in flight, starting no others (again to abort)"
                );
            }
            raised.raise(Why::Signal(name));
            if next_signal().await.is_some() {
                eprintln!("ko2en: aborted");
                std::process::exit(130);
            }
        });
        if stdout_matters {
            watch_stdout(shutdown.clone());
        }
        shutdown
    }

    pub(crate) fn raise(&self, why: Why) {
        // The first reason stands.
        self.0.send_if_modified(|now| {
            let first = now.is_none();
            if first {
                *now = Some(why);
            }
            first
        });
    }

    pub(crate) fn why(&self) -> Option<Why> {
        *self.0.borrow()
    }

    pub(crate) async fn wait(self) -> Why {
        let mut rx = self.0.subscribe();
        let why = rx.wait_for(Option::is_some).await.map(|why| *why);
        why.ok().flatten().unwrap_or(Why::Signal("closed"))
    }
}

/// The next SIGINT, SIGTERM or SIGHUP, by name; None when signals cannot be listened to.
#[cfg(unix)]
async fn next_signal() -> Option<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let (mut term, mut hup) = (signal(SignalKind::terminate()).ok()?, signal(SignalKind::hangup()).ok()?);
    tokio::select! {
        r = tokio::signal::ctrl_c() => r.ok().map(|()| "interrupted"),
        r = term.recv() => r.map(|()| "terminated (SIGTERM)"),
        r = hup.recv() => r.map(|()| "hung up (SIGHUP)"),
    }
}

#[cfg(not(unix))]
async fn next_signal() -> Option<&'static str> {
    tokio::signal::ctrl_c().await.ok().map(|()| "interrupted")
}

/// When stdout is a pipe, notice its reader leaving within a quarter of a second, rather than
/// at the next write, which may be many paid requests later. A pipe whose reader is gone
/// polls as an error.
#[cfg(unix)]
fn watch_stdout(shutdown: Shutdown) {
    use std::os::fd::AsRawFd;
    let fd = std::io::stdout().as_raw_fd();
    // SAFETY: fstat on an open descriptor with a zeroed, correctly sized buffer.
    let is_pipe = unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        libc::fstat(fd, &mut stat) == 0 && (stat.st_mode & libc::S_IFMT) == libc::S_IFIFO
    };
    if !is_pipe {
        return;
    }
    // A watcher that cannot start only means the leaving is noticed at the next write, as before.
    let _ = std::thread::Builder::new().name("ko2en-stdout-watch".into()).spawn(move || {
        loop {
            let mut poll = libc::pollfd { fd, events: 0, revents: 0 };
            // SAFETY: one valid pollfd, for the duration of the call.
            let ready = unsafe { libc::poll(&mut poll, 1, 250) };
            if ready > 0 && poll.revents & (libc::POLLERR | libc::POLLHUP) != 0 {
                shutdown.raise(Why::ReaderGone);
                return;
            }
            if ready < 0 || shutdown.why().is_some() {
                return;
            }
        }
    });
}

#[cfg(not(unix))]
fn watch_stdout(_: Shutdown) {}
