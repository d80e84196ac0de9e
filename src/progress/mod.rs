//! Progress as the core reports it (a trait), rendered at the edge: an indicatif bar when stderr
//! is a terminal, a plain line every half minute when it is not (logs, CI), nothing with
//! `--quiet`. Also the one summary printed when a run ends.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::pool::PoolStats;
use crate::record::Record;

/// What the run tells whoever watches it.
pub(crate) trait Progress: Send + Sync {
    /// How many articles the run has, once known.
    fn set_total(&self, total: u64);
    /// An article's record is final; `stats` is the pool's state now.
    fn article_done(&self, record: &Record, stats: &PoolStats);
    /// About a second went by: a chance to show the tokens arriving while no article
    /// finishes (a long translation from a slow local model).
    fn tick(&self, _stats: &PoolStats) {}
    /// The run is over.
    fn finish(&self);
}

/// Streamed tokens per second, measured between updates at least a second apart.
#[derive(Debug)]
struct Rate {
    at: Instant,
    count: u64,
    per_second: Option<f64>,
}

impl Rate {
    fn new() -> Rate {
        Rate { at: Instant::now(), count: 0, per_second: None }
    }

    /// The rate since the last update, now that `count` pieces have arrived in all; the last
    /// one measured when the update comes too soon; None while nothing streams.
    fn update(&mut self, count: u64) -> Option<f64> {
        let elapsed = self.at.elapsed().as_secs_f64();
        if elapsed >= 1.0 {
            self.per_second = Some(count.saturating_sub(self.count) as f64 / elapsed);
            (self.at, self.count) = (Instant::now(), count);
        }
        self.per_second.filter(|_| count > 0)
    }
}

/// Says nothing.
pub(crate) struct Silent;

impl Progress for Silent {
    fn set_total(&self, _: u64) {}
    fn article_done(&self, _: &Record, _: &PoolStats) {}
    fn finish(&self) {}
}

/// The columns of the terminal stderr is, when it is one: the closing summary wraps there.
pub(crate) fn stderr_width() -> Option<usize> {
    if !std::io::stderr().is_terminal() {
        return None;
    }
    #[cfg(unix)]
    {
        // SAFETY: TIOCGWINSZ only writes the winsize it is given; fd 2 is open for the whole
        // life of the process.
        let mut size: libc::winsize = unsafe { std::mem::zeroed() };
        let ok = unsafe { libc::ioctl(2, libc::TIOCGWINSZ, &mut size) } == 0;
        (ok && size.ws_col > 0).then_some(usize::from(size.ws_col))
    }
    #[cfg(not(unix))]
    None
}

/// The reporter for stderr: a bar on a terminal, periodic lines elsewhere, nothing when quiet.
pub(crate) fn stderr_reporter(quiet: bool) -> Box<dyn Progress> {
    if quiet {
        Box::new(Silent)
    } else if std::io::stderr().is_terminal() {
        Box::new(BarReporter::new())
    } else {
        Box::new(LineReporter::new(Duration::from_secs(30)))
    }
}

/// The pool's state in a line; `rate`, streamed tokens a second, when answers stream.
fn status(stats: &PoolStats, rate: Option<f64>) -> String {
    let rate = rate.map(|r| format!(", {r:.0}/s arriving")).unwrap_or_default();
    let spent = stats.spent().map(|s| format!(" · {}", crate::price::dollars(s))).unwrap_or_default();
    format!(
        "{}/{} in flight · tokens {} in, {} out{rate}{spent} · {} {}",
        stats.in_flight.load(Ordering::Relaxed),
        stats.concurrency.load(Ordering::Relaxed),
        crate::numbers::thousands(stats.prompt_tokens.load(Ordering::Relaxed)),
        crate::numbers::thousands(stats.completion_tokens.load(Ordering::Relaxed)),
        stats.total_retries(),
        if stats.total_retries() == 1 { "retry" } else { "retries" }
    )
}

/// An indicatif bar: articles done of total, requests in flight, tokens, retries, ETA.
pub(crate) struct BarReporter {
    bar: ProgressBar,
    failed: std::sync::atomic::AtomicU64,
    rate: Mutex<Rate>,
}

impl BarReporter {
    fn new() -> Self {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos}{len} articles {wide_msg} {elapsed} (eta {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner())
                .with_key("len", |state: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
                    if let Some(len) = state.len() {
                        let _ = write!(w, "/{len}");
                    }
                }),
        );
        bar.enable_steady_tick(Duration::from_millis(200));
        BarReporter { bar, failed: Default::default(), rate: Mutex::new(Rate::new()) }
    }

    fn show(&self, stats: &PoolStats) {
        let rate = self
            .rate
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .update(stats.streamed.load(Ordering::Relaxed));
        let failed = self.failed.load(Ordering::Relaxed);
        let failed = if failed > 0 { format!(" · {failed} failed") } else { String::new() };
        self.bar.set_message(format!("· {}{failed}", status(stats, rate)));
    }
}

impl Progress for BarReporter {
    fn set_total(&self, total: u64) {
        self.bar.set_length(total);
    }

    fn article_done(&self, record: &Record, stats: &PoolStats) {
        if record.failed() {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        self.bar.inc(1);
        self.show(stats);
    }

    fn tick(&self, stats: &PoolStats) {
        self.show(stats);
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

/// One plain line every `every`, for logs.
pub(crate) struct LineReporter {
    every: Duration,
    state: Mutex<LineState>,
}

struct LineState {
    done: u64,
    failed: u64,
    total: Option<u64>,
    last: Instant,
    rate: Rate,
}

impl LineReporter {
    fn new(every: Duration) -> Self {
        LineReporter {
            every,
            state: Mutex::new(LineState {
                done: 0,
                failed: 0,
                total: None,
                last: Instant::now(),
                rate: Rate::new(),
            }),
        }
    }
}

impl LineReporter {
    /// A line, when `every` has passed since the last (the rate is over that time).
    fn maybe_print(&self, state: &mut LineState, stats: &PoolStats) {
        if state.last.elapsed() < self.every {
            return;
        }
        state.last = Instant::now();
        let rate = state.rate.update(stats.streamed.load(Ordering::Relaxed));
        let total = state.total.map(|t| format!("/{t}")).unwrap_or_default();
        eprintln!("ko2en: {}{total} articles, {} failed · {}", state.done, state.failed, status(stats, rate));
    }
}

impl Progress for LineReporter {
    fn set_total(&self, total: u64) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).total = Some(total);
    }

    fn article_done(&self, record: &Record, stats: &PoolStats) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.done += 1;
        state.failed += u64::from(record.failed());
        self.maybe_print(&mut state, stats);
    }

    fn tick(&self, stats: &PoolStats) {
        self.maybe_print(&mut self.state.lock().unwrap_or_else(|e| e.into_inner()), stats);
    }

    fn finish(&self) {}
}

mod summary;

pub(crate) use summary::RunSummary;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_the_tokens_arrived_since_the_last_update_and_absent_while_nothing_streams() {
        let mut rate = Rate { at: Instant::now() - Duration::from_secs(2), count: 100, per_second: None };
        let measured = rate.update(300).expect("two seconds passed");
        assert!((95.0..=100.0).contains(&measured), "200 tokens in 2 s: {measured}");
        assert_eq!(rate.update(400), Some(measured), "too soon: the last measure");
        assert_eq!(Rate::new().update(0), None, "nothing streamed yet");
        let stats = PoolStats::default();
        assert!(status(&stats, Some(measured)).contains("/s arriving"));
        assert!(!status(&stats, None).contains("/s"));
    }
}
