//! The closing summary of a batch: what became of the articles (with warnings, failed, which
//! ones), what the run sent and spent, how much of the budget it used, and advice when the
//! concurrency rather than the budget set the pace. Wrapped at the terminal's width between
//! its facts, never inside a number.

use std::time::Duration;

use crate::limiter::Budget;
use crate::numbers::thousands;

/// The closing summary of a batch.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunSummary {
    pub(crate) ok: u64,
    /// Of the articles ok, those whose answers the checks warned about.
    pub(crate) warned: u64,
    pub(crate) failed: u64,
    /// The first failed articles: id and error kind.
    pub(crate) failures: Vec<(String, String)>,
    /// Where the records went, to say where the other failures are.
    pub(crate) output: String,
    /// The run was stopped by a signal before every article was done.
    pub(crate) interrupted: bool,
    pub(crate) sent: u64,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    /// USD spent, when the model has a price.
    pub(crate) spent: Option<f64>,
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
    /// The failed articles named in the summary; the others are in the output.
    pub(crate) const NAMED_FAILURES: usize = 10;

    /// Count `record` (its failure named, among the first).
    pub(crate) fn count(&mut self, record: &crate::record::Record) {
        match &record.error {
            Some(error) => {
                self.failed += 1;
                if self.failures.len() < Self::NAMED_FAILURES {
                    self.failures.push((record.id.clone(), error.kind.clone()));
                }
            }
            None => {
                self.ok += 1;
                self.warned += u64::from(!record.warnings.is_empty());
            }
        }
    }

    /// A few lines for stderr: the articles, then the run's facts wrapped at `width` (between
    /// facts, never inside one; one line when there is no terminal), the failed articles, and
    /// a line per route when there were several.
    pub(crate) fn render(&self, width: Option<usize>) -> String {
        let plural =
            |n: u64, one: &str, many: &str| format!("{} {}", thousands(n), if n == 1 { one } else { many });
        let articles = self.ok + self.failed;
        let mut head =
            format!("ko2en: {}: {} ok", plural(articles, "article", "articles"), thousands(self.ok));
        if self.warned > 0 {
            head.push_str(&format!(" ({} with warnings)", thousands(self.warned)));
        }
        head.push_str(&format!(", {} failed", thousands(self.failed)));
        if self.interrupted {
            head.push_str(" · interrupted");
        }
        let mut facts = Vec::new();
        let mut sent = format!("{} sent", plural(self.sent, "request", "requests"));
        let retries: u64 = self.retries.iter().map(|(_, n)| n).sum();
        if retries > 0 {
            let causes: Vec<String> =
                self.retries.iter().map(|(kind, n)| format!("{} {kind}", thousands(*n))).collect();
            sent.push_str(&format!(" ({}: {})", plural(retries, "retry", "retries"), causes.join(", ")));
        }
        facts.push(sent);
        if let Some(articles) = self.articles_from_cache {
            let answers = self.answers_from_cache;
            facts.push(format!(
                "from cache: {} and {} more answer{}",
                plural(articles, "article", "articles"),
                thousands(answers),
                if answers == 1 { "" } else { "s" }
            ));
        }
        facts.push(format!(
            "{} tokens in, {} out",
            thousands(self.prompt_tokens),
            thousands(self.completion_tokens)
        ));
        if let Some(spent) = self.spent {
            facts.push(format!("spent {}", crate::price::dollars(spent)));
        }
        facts.push(format!("{:.1} s", self.elapsed.as_secs_f64()));
        if self.reserved_completion > 0 {
            facts.push(format!(
                "completion budgets: {:.0}% of {} reserved tokens used",
                100.0 * self.completion_tokens as f64 / self.reserved_completion as f64,
                thousands(self.reserved_completion)
            ));
        }
        let (rpm_share, tpm_share) = self.budget_shares();
        let shares: Vec<String> = [(rpm_share, "RPM"), (tpm_share, "TPM")]
            .into_iter()
            .filter_map(|(share, name)| share.map(|s| format!("{:.0}% of {name}", 100.0 * s)))
            .collect();
        if !shares.is_empty() {
            let mut used = format!("budget used: {}", shares.join(", "));
            if let Some(model) = self.counted {
                used.push_str(&format!(" (the server counts a {}; paced by it)", model.name()));
            }
            facts.push(used);
        }
        let mut out = head;
        out.push('\n');
        out.push_str(&wrap("ko2en:   ", &facts, width));
        if !self.failures.is_empty() {
            let named: Vec<String> =
                self.failures.iter().map(|(id, kind)| format!("{id} ({kind})")).collect();
            let mut line = vec![format!("failed: {}", named.join(", "))];
            let rest = self.failed.saturating_sub(self.failures.len() as u64);
            if rest > 0 {
                line.push(format!("and {} more, each with its error in {}", thousands(rest), self.output));
            } else {
                line.push(format!("each with its error in {}", self.output));
            }
            out.push('\n');
            out.push_str(&wrap("ko2en:   ", &line, width));
        }
        for route in &self.routes {
            out.push_str(&format!(
                "\nko2en:   {}: {} sent, {} failed, concurrency {} at the end",
                route.base_url,
                plural(route.sent, "request", "requests"),
                thousands(route.failed),
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

/// `parts` joined by " · " into lines that each start with `prefix` and fit `width` (a part
/// longer than a line gets one to itself); one line without a width.
fn wrap(prefix: &str, parts: &[String], width: Option<usize>) -> String {
    let width = width.unwrap_or(usize::MAX);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::from(prefix);
    for part in parts {
        let fresh = line.len() == prefix.len();
        let added = if fresh { part.chars().count() } else { 3 + part.chars().count() };
        if !fresh && line.chars().count() + added > width {
            lines.push(std::mem::replace(&mut line, String::from(prefix)));
        }
        if line.len() > prefix.len() {
            line.push_str(" · ");
        }
        line.push_str(part);
    }
    lines.push(line);
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

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
            ..RunSummary::default()
        };
        let text = summary.render(None);
        assert!(text.contains("10 articles: 9 ok, 1 failed"), "{text}");
        assert!(text.contains("(2 retries: 1 rate_limited, 1 server_error)"), "{text}");
        assert!(text.contains("from cache: 3 articles and 2 more answers"), "{text}");
        assert!(text.contains("budget used: 100% of RPM (the server counts a fixed window"), "{text}");
    }

    fn record(id: &str, error: Option<&str>, warnings: usize) -> crate::record::Record {
        let source = crate::input::SourceRef { path: "b.jsonl".into(), line: None };
        let mut r = crate::record::Record::new(id.into(), source, "m");
        r.error = error.map(|kind| crate::record::RecordError { kind: kind.into(), message: "x".into() });
        r.warnings = (0..warnings)
            .map(|_| crate::record::Warning { kind: "missing_number".into(), message: "x".into() })
            .collect();
        r
    }

    #[test]
    fn it_counts_warnings_names_the_first_failures_and_says_where_the_rest_are() {
        let mut summary =
            RunSummary { output: "out.jsonl".into(), interrupted: true, ..RunSummary::default() };
        for i in 0..1_200 {
            summary.count(&record(&format!("ok{i}"), None, usize::from(i % 100 == 0)));
        }
        for i in 0..12 {
            summary.count(&record(&format!("bad{i}"), Some("timeout"), 0));
        }
        summary.sent = 1_234_567;
        let text = summary.render(None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "ko2en: 1,212 articles: 1,200 ok (12 with warnings), 12 failed · interrupted");
        assert!(lines[1].starts_with("ko2en:   1,234,567 requests sent · "), "{text}");
        assert_eq!(
            lines[2],
            "ko2en:   failed: bad0 (timeout), bad1 (timeout), bad2 (timeout), bad3 (timeout), bad4 (timeout), \
             bad5 (timeout), bad6 (timeout), bad7 (timeout), bad8 (timeout), bad9 (timeout) · and 2 more, each \
             with its error in out.jsonl"
        );
    }

    #[test]
    fn it_wraps_at_the_width_between_facts_never_inside_one() {
        let summary = RunSummary {
            ok: 30,
            sent: 31,
            prompt_tokens: 123_456,
            completion_tokens: 7_890,
            reserved_completion: 45_000,
            elapsed: Duration::from_secs(75),
            ..RunSummary::default()
        };
        let text = summary.render(Some(60));
        for line in text.lines() {
            assert!(line.chars().count() <= 60 || !line.contains(" · "), "{line:?} is too long: {text}");
            assert!(line.starts_with("ko2en: "), "{text}");
        }
        assert!(text.contains("123,456 tokens in, 7,890 out"), "numbers stay whole: {text}");
        assert_eq!(summary.render(None).lines().count(), 2, "one line of facts without a terminal");
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
