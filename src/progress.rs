//! Progress as the core reports it (a trait), rendered at the edge: an indicatif bar when stderr
//! is a terminal, a plain line every half minute when it is not (logs, CI), nothing with
//! `--quiet`. Also the one summary printed when a run ends.

use std::io::IsTerminal;
use std::sync::Mutex;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::limiter::Budget;
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
    format!(
        "{}/{} in flight · tokens {} in, {} out{rate} · {} retries",
        stats.in_flight.load(Ordering::Relaxed),
        stats.concurrency.load(Ordering::Relaxed),
        stats.prompt_tokens.load(Ordering::Relaxed),
        stats.completion_tokens.load(Ordering::Relaxed),
        stats.total_retries()
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

/// The closing summary of a batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunSummary {
    pub(crate) ok: u64,
    pub(crate) failed: u64,
    pub(crate) sent: u64,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    /// Tokens counted against the TPM budget (prompt plus completion budget per request).
    pub(crate) budget_tokens: u64,
    /// Completion tokens the requests' budgets reserved (over every attempt).
    pub(crate) reserved_completion: u64,
    pub(crate) retries: Vec<(&'static str, u64)>,
    /// Calls answered from the cache.
    pub(crate) answers_from_cache: u64,
    /// Articles whose whole record came from the cache; None without a cache.
    pub(crate) articles_from_cache: Option<u64>,
    pub(crate) elapsed: Duration,
    pub(crate) budget: Option<Budget>,
    /// How the server turned out to count its limits, when not as a bucket.
    pub(crate) counted: Option<crate::limiter::Model>,
    /// Requests allowed in flight, and how many requests waited for one of those slots.
    pub(crate) concurrency: usize,
    pub(crate) slot_waits: u64,
    /// What each route did, when the run had several.
    pub(crate) routes: Vec<crate::pool::RouteFacts>,
    /// Writing stopped before every record was written: the output failed.
    pub(crate) cut_short: bool,
}

impl RunSummary {
    /// One paragraph for stderr.
    pub(crate) fn render(&self) -> String {
        let articles = self.ok + self.failed;
        let mut out = format!(
            "ko2en: {articles} article{}: {} ok, {} failed · {} request{} sent",
            if articles == 1 { "" } else { "s" },
            self.ok,
            self.failed,
            self.sent,
            if self.sent == 1 { "" } else { "s" },
        );
        if let Some(articles) = self.articles_from_cache {
            out.push_str(&format!(
                " · from cache: {articles} article{}, {} more answer{}",
                if articles == 1 { "" } else { "s" },
                self.answers_from_cache,
                if self.answers_from_cache == 1 { "" } else { "s" }
            ));
        }
        let retries: u64 = self.retries.iter().map(|(_, n)| n).sum();
        if retries > 0 {
            let causes: Vec<String> = self.retries.iter().map(|(kind, n)| format!("{n} {kind}")).collect();
            out.push_str(&format!(" ({retries} retries: {})", causes.join(", ")));
        }
        out.push_str(&format!(
            " · {} tokens in, {} out · {:.1} s",
            self.prompt_tokens,
            self.completion_tokens,
            self.elapsed.as_secs_f64()
        ));
        if self.reserved_completion > 0 {
            out.push_str(&format!(
                " · completion budgets: {:.0}% of {} reserved tokens used",
                100.0 * self.completion_tokens as f64 / self.reserved_completion as f64,
                self.reserved_completion
            ));
        }
        let (rpm_share, tpm_share) = self.budget_shares();
        let shares: Vec<String> = [(rpm_share, "RPM"), (tpm_share, "TPM")]
            .into_iter()
            .filter_map(|(share, name)| share.map(|s| format!("{:.0}% of {name}", 100.0 * s)))
            .collect();
        if !shares.is_empty() {
            out.push_str(&format!(" · budget used: {}", shares.join(", ")));
            if let Some(model) = self.counted {
                out.push_str(&format!(" (the server counts a {}; paced by it)", model.name()));
            }
        }
        for route in &self.routes {
            out.push_str(&format!(
                "\nko2en:   {}: {} request{} sent, {} failed, concurrency {} at the end",
                route.base_url,
                route.sent,
                if route.sent == 1 { "" } else { "s" },
                route.failed,
                route.concurrency
            ));
            if let Some(why) = &route.closed {
                out.push_str(&format!(" · left out: {why}"));
            }
        }
        out
    }

    /// The shares of the RPM and TPM budgets used, where they are known: against what the
    /// limits allowed in this time, a full minute's burst plus the refill.
    fn budget_shares(&self) -> (Option<f64>, Option<f64>) {
        let Some(budget) = self.budget else { return (None, None) };
        let minutes = 1.0 + self.elapsed.as_secs_f64() / 60.0;
        let share = |used: u64, limit: std::num::NonZeroU32| used as f64 / (limit.get() as f64 * minutes);
        (budget.rpm.map(|r| share(self.sent, r)), budget.tpm.map(|t| share(self.budget_tokens, t)))
    }

    /// Advice when the concurrency, not the budget, set the pace of a run of a minute or more:
    /// most requests waited for a slot while less than half of every known budget was used. Requests waiting on a slot
    /// while budget sits idle is time lost for nothing, since the limiter paces sending anyway.
    pub(crate) fn hint(&self) -> Option<String> {
        let (rpm_share, tpm_share) = self.budget_shares();
        let shares: Vec<f64> = [rpm_share, tpm_share].into_iter().flatten().collect();
        let idle = !shares.is_empty() && shares.iter().all(|s| *s < 0.5);
        // A run of seconds needs no advice; the batches this is for take minutes.
        let crowded =
            self.elapsed >= Duration::from_secs(60) && self.sent >= 20 && self.slot_waits * 2 > self.sent;
        if !(idle && crowded) {
            return None;
        }
        let used = shares.iter().cloned().fold(0.0, f64::max);
        Some(format!(
            "ko2en: hint: most requests waited for one of the {} request slots while {:.0}% of the budget was used; \
             a higher --concurrency (try {}) would finish sooner",
            self.concurrency,
            100.0 * used,
            (self.concurrency * 2)
                .max(crate::pool::PoolSettings::default_concurrency(self.budget.unwrap_or_default()))
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

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

    #[test]
    fn the_summary_names_retries_by_cause_and_the_budget_share() {
        let summary = RunSummary {
            ok: 9,
            failed: 1,
            sent: 12,
            prompt_tokens: 1000,
            completion_tokens: 200,
            budget_tokens: 3000,
            reserved_completion: 0,
            retries: vec![("rate_limited", 1), ("server_error", 1)],
            answers_from_cache: 2,
            articles_from_cache: Some(3),
            elapsed: Duration::from_secs(60),
            budget: Some(Budget { rpm: NonZeroU32::new(6), tpm: None }),
            counted: Some(crate::limiter::Model::FixedWindow),
            concurrency: 16,
            slot_waits: 0,
            routes: Vec::new(),
            cut_short: false,
        };
        let text = summary.render();
        assert!(text.contains("10 articles: 9 ok, 1 failed"), "{text}");
        assert!(text.contains("(2 retries: 1 rate_limited, 1 server_error)"), "{text}");
        assert!(text.contains("from cache: 3 articles, 2 more answers"), "{text}");
        assert!(text.contains("budget used: 100% of RPM (the server counts a fixed window"), "{text}");
    }

    #[test]
    fn a_hint_comes_only_when_slots_not_budget_set_the_pace() {
        let crowded = RunSummary {
            sent: 100,
            elapsed: Duration::from_secs(60),
            budget: Some(Budget { rpm: NonZeroU32::new(600), tpm: None }),
            concurrency: 16,
            slot_waits: 80,
            ..RunSummary::default()
        };
        let hint = crowded.hint().expect("8% of the budget used, 80 of 100 requests waited for a slot");
        assert!(hint.contains("16 request slots") && hint.contains("8% of the budget"), "{hint}");
        assert!(hint.contains("--concurrency (try 200)"), "{hint}");
        assert_eq!(RunSummary { slot_waits: 10, ..crowded.clone() }.hint(), None, "slots were free");
        assert_eq!(
            RunSummary { sent: 1_100, slot_waits: 1_000, ..crowded.clone() }.hint(),
            None,
            "budget busy"
        );
        assert_eq!(
            RunSummary { budget: Some(Budget::default()), ..crowded.clone() }.hint(),
            None,
            "no budget"
        );
        assert_eq!(RunSummary { budget: None, ..crowded.clone() }.hint(), None, "no budget");
        assert_eq!(RunSummary { elapsed: Duration::from_secs(5), ..crowded }.hint(), None, "a short run");
    }
}
