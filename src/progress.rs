//! Progress as the core reports it (a trait), and its terminal rendering with indicatif at the
//! edge. Bars are hidden when stderr is not a terminal or with `--quiet`.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::record::Record;

/// What the run tells whoever watches it.
pub trait Reporter: Send + Sync {
    /// An article's record is final.
    fn article_done(&self, record: &Record);
    /// The run is over.
    fn finish(&self);
}

/// Says nothing.
pub struct Silent;

impl Reporter for Silent {
    fn article_done(&self, _: &Record) {}
    fn finish(&self) {}
}

/// A spinner with counts on a terminal's stderr.
pub struct TerminalReporter {
    bar: ProgressBar,
}

impl TerminalReporter {
    /// A reporter for stderr: indicatif when it is a terminal, nothing otherwise.
    pub fn stderr(quiet: bool) -> Box<dyn Reporter> {
        if quiet || !std::io::stderr().is_terminal() {
            return Box::new(Silent);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {pos} articles · {msg} · {elapsed}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(120));
        Box::new(TerminalReporter { bar })
    }
}

impl Reporter for TerminalReporter {
    fn article_done(&self, record: &Record) {
        self.bar.inc(1);
        if record.failed() {
            self.bar.set_message(format!("last failed: {}", record.id));
        } else {
            self.bar.set_message(format!("last: {}", record.id));
        }
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
