//! Completion budgets sized to the answers seen, not to the worst case.
//!
//! A server counts a request against its tokens-per-minute limit as its prompt plus the whole
//! completion budget asked for (OpenAI's rate-limit guide: "set the max_tokens value as close to
//! your expected response size as possible"), and so does ko2en's limiter. A fixed, generous
//! budget makes a TPM-bound run wait for tokens that never come: a bilingual summary is a few
//! hundred tokens against 1,500 reserved.
//!
//! So each kind of request gets a budget from the answers already seen for that kind: a high
//! percentile of their length (of their length per input token, for translations, which grow
//! with their passage), times a margin, between a floor and the fixed budget it replaces (the
//! ceiling). Until enough answers are known the ceiling is used, as before. The samples come
//! from the cache (a warm cache starts a run right) and from the run itself.
//!
//! Safety: an answer cut at its budget is never accepted; its retry asks for the ceiling at
//! once (`WireRequest::enlarge`). A run that sees more than [`WIDEN_SHARE`] of its sized
//! requests truncated widens its margin for the rest of the run.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// What a request asks for: the kinds whose answers differ in length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AnswerKind {
    /// A summary of a whole article or of one of its parts.
    Summary,
    /// The summary combined from the parts' summaries.
    Combine,
    /// The names of an article, extracted before its passages are translated.
    Names,
    /// One translated passage: grows with the passage.
    Translation,
}

impl AnswerKind {
    const ALL: [AnswerKind; 4] =
        [AnswerKind::Summary, AnswerKind::Combine, AnswerKind::Names, AnswerKind::Translation];

    /// The name kept in the cache beside each answer's size.
    pub(crate) fn name(self) -> &'static str {
        match self {
            AnswerKind::Summary => "summary",
            AnswerKind::Combine => "combine",
            AnswerKind::Names => "names",
            AnswerKind::Translation => "translation",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<AnswerKind> {
        AnswerKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Whether the answer grows with the input (then samples are tokens per input token).
    fn scales(self) -> bool {
        self == AnswerKind::Translation
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How budgets are chosen (`--completion-budget`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum BudgetRule {
    /// Sized from the answers seen (the default).
    #[default]
    Sized,
    /// The fixed budgets, as before sizing existed.
    Fixed,
    /// This many tokens for every request.
    Pinned(u32),
}

/// Answers of a kind needed before its budgets are sized.
const MIN_SAMPLES: usize = 20;
/// Samples kept per kind: the recent answers, as the model and the articles are now.
const MAX_SAMPLES: usize = 2_000;
/// The percentile of the answers' lengths a budget covers.
const PERCENTILE: f64 = 0.99;
/// The margin over that percentile, and the wider one after too many truncations.
const MARGIN: f64 = 1.25;
const WIDE_MARGIN: f64 = 1.75;
/// Tokens added to every sized budget: the JSON around the text, and rounding.
const SLACK: f64 = 48.0;
/// No sized budget is smaller.
const FLOOR: u32 = 192;
/// The share of truncated sized requests past which the margin widens (after [`WIDEN_AFTER`]).
pub(crate) const WIDEN_SHARE: f64 = 0.01;
const WIDEN_AFTER: u64 = 50;

/// The answers seen of one kind, and their percentile once computed (until the next answer).
#[derive(Debug, Default)]
struct Samples {
    values: VecDeque<f64>,
    quantile: Option<f64>,
}

impl Samples {
    /// The [`PERCENTILE`] of the values: a selection, not a sort, and once per new answer
    /// rather than once per request.
    fn quantile(&mut self) -> f64 {
        *self.quantile.get_or_insert_with(|| {
            let mut values: Vec<f64> = self.values.iter().copied().collect();
            let rank = ((values.len() - 1) as f64 * PERCENTILE).ceil() as usize;
            *values.select_nth_unstable_by(rank, f64::total_cmp).1
        })
    }
}

/// The run's budgets: samples per kind and what sizing saved.
#[derive(Debug, Default)]
pub(crate) struct Sizing {
    rule: BudgetRule,
    samples: Mutex<[Samples; 4]>,
    /// Requests sent with a sized budget below their ceiling, and those of them cut short.
    sized: AtomicU64,
    truncated: AtomicU64,
}

impl Sizing {
    pub(crate) fn new(rule: BudgetRule) -> Sizing {
        Sizing { rule, ..Sizing::default() }
    }

    /// The completion budget for a request of `kind` over `input_tokens` whose fixed budget is
    /// `ceiling`.
    pub(crate) fn budget(&self, kind: AnswerKind, ceiling: u32, input_tokens: u32) -> u32 {
        match self.rule {
            BudgetRule::Fixed => return ceiling,
            BudgetRule::Pinned(n) => return n,
            BudgetRule::Sized => {}
        }
        let quantile = {
            let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
            let seen = &mut samples[kind.index()];
            if seen.values.len() < MIN_SAMPLES {
                return ceiling;
            }
            seen.quantile()
        };
        let expected = if kind.scales() { quantile * f64::from(input_tokens.max(1)) } else { quantile };
        let margin = if self.widened() { WIDE_MARGIN } else { MARGIN };
        let budget = (expected * margin + SLACK).ceil();
        (budget.min(f64::from(u32::MAX)) as u32).clamp(FLOOR.min(ceiling), ceiling)
    }

    /// The length an answer of `kind` over `input_tokens` usually has: the median of the
    /// answers seen (per input token, for translations), once enough are known.
    pub(crate) fn expected(&self, kind: AnswerKind, input_tokens: u32) -> Option<u64> {
        let median = {
            let samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
            let seen = &samples[kind.index()];
            if seen.values.len() < MIN_SAMPLES {
                return None;
            }
            let mut values: Vec<f64> = seen.values.iter().copied().collect();
            let middle = values.len() / 2;
            *values.select_nth_unstable_by(middle, f64::total_cmp).1
        };
        let scaled = if kind.scales() { median * f64::from(input_tokens.max(1)) } else { median };
        Some(scaled.ceil() as u64)
    }

    /// An answer of `kind` over `input_tokens` took `completion_tokens`.
    pub(crate) fn observe(&self, kind: AnswerKind, input_tokens: u32, completion_tokens: u64) {
        if completion_tokens == 0 {
            return; // a server that reports no usage says nothing about length
        }
        let value = if kind.scales() {
            completion_tokens as f64 / f64::from(input_tokens.max(1))
        } else {
            completion_tokens as f64
        };
        let mut samples = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let seen = &mut samples[kind.index()];
        if seen.values.len() == MAX_SAMPLES {
            seen.values.pop_front();
        }
        seen.values.push_back(value);
        seen.quantile = None;
    }

    /// A request was sent with a budget below its ceiling; `truncated` when its answer was cut.
    pub(crate) fn count(&self, truncated: bool) {
        self.sized.fetch_add(1, Ordering::Relaxed);
        if truncated {
            self.truncated.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Whether truncations have been frequent enough to widen the margin.
    fn widened(&self) -> bool {
        let sized = self.sized.load(Ordering::Relaxed);
        sized >= WIDEN_AFTER && self.truncated.load(Ordering::Relaxed) as f64 > WIDEN_SHARE * sized as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fed(kind: AnswerKind, values: impl IntoIterator<Item = (u32, u64)>) -> Sizing {
        let sizing = Sizing::new(BudgetRule::Sized);
        for (input, completion) in values {
            sizing.observe(kind, input, completion);
        }
        sizing
    }

    #[test]
    fn the_ceiling_until_enough_answers_are_known() {
        let sizing = fed(AnswerKind::Summary, (0..MIN_SAMPLES as u64 - 1).map(|_| (0, 150)));
        assert_eq!(sizing.budget(AnswerKind::Summary, 1_500, 0), 1_500);
        sizing.observe(AnswerKind::Summary, 0, 150);
        assert_eq!(sizing.budget(AnswerKind::Summary, 1_500, 0), (150.0 * MARGIN + SLACK).ceil() as u32);
        assert_eq!(sizing.budget(AnswerKind::Combine, 1_500, 0), 1_500, "kinds are apart");
    }

    #[test]
    fn a_high_percentile_covers_the_long_tail_within_floor_and_ceiling() {
        // 98 answers of 200 tokens and two of 900: the 99th percentile is 900.
        let values = (0..98).map(|_| (0, 200)).chain([(0, 900), (0, 900)]);
        let sizing = fed(AnswerKind::Summary, values);
        assert_eq!(sizing.budget(AnswerKind::Summary, 1_500, 0), 1_173);
        assert_eq!(sizing.budget(AnswerKind::Summary, 1_000, 0), 1_000, "never above the ceiling");
        let short = fed(AnswerKind::Names, (0..40).map(|_| (0, 10)));
        assert_eq!(short.budget(AnswerKind::Names, 800, 0), FLOOR, "never below the floor");
    }

    #[test]
    fn translations_scale_with_their_passage() {
        let sizing = fed(AnswerKind::Translation, (0..40).map(|_| (500, 750)));
        let small = sizing.budget(AnswerKind::Translation, 16_384, 100);
        let large = sizing.budget(AnswerKind::Translation, 16_384, 1_000);
        assert_eq!((small, large), (236, 1_923));
    }

    #[test]
    fn frequent_truncations_widen_the_margin_and_rules_override_sizing() {
        let sizing = fed(AnswerKind::Summary, (0..40).map(|_| (0, 400)));
        let before = sizing.budget(AnswerKind::Summary, 1_500, 0);
        for i in 0..100 {
            sizing.count(i < 2);
        }
        let after = sizing.budget(AnswerKind::Summary, 1_500, 0);
        assert!(after > before, "{before} then {after}");
        assert_eq!(Sizing::new(BudgetRule::Fixed).budget(AnswerKind::Summary, 1_500, 0), 1_500);
        assert_eq!(Sizing::new(BudgetRule::Pinned(300)).budget(AnswerKind::Translation, 9_000, 5_000), 300);
    }
}
