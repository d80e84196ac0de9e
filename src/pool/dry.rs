//! `--dry-run`: the run as it would go, every answer the cache lacks imagined instead of
//! bought. The pipeline does all it would do (reading, cleaning, chunking, prompts, the name
//! list before passages, the combination after parts), so the requests counted are the ones a
//! real run sends and their prompt tokens are counted exactly as the limiter counts them. An
//! imagined answer is the built-in mock's (valid for every request ko2en makes, and on the
//! mock the very answer it will give, so that a combination's prompt is exact there too); its
//! length is not trusted: completion tokens are estimated from the answers already seen (the
//! cache's, when there are enough), else from typical lengths, and bounded by the budgets the
//! requests would ask for. Nothing imagined reaches the cache.

use std::sync::atomic::{AtomicU64, Ordering};

use super::Pool;
use crate::cache::{Key, StoredAnswer};
use crate::client::WireRequest;
use crate::limiter::Budget;
use crate::record::Usage;
use crate::sizing::AnswerKind;

/// How answers are imagined.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Dry {
    /// The mock's `answer-scale`, when the run's endpoint is the mock: its answers, exactly.
    pub(crate) answer_scale: Option<f64>,
    /// Whether the run's endpoint is the mock: then an imagined answer is the very one the run
    /// will get, and it is checked as that one will be (a repair it needs is one the run
    /// sends). Elsewhere it stands for a real model's answer, and passes: a repair of the
    /// mock's text would be a request no real run sends.
    pub(crate) exact: bool,
}

/// What a dry run counted so far.
#[derive(Debug, Default)]
pub(super) struct Counts {
    /// The requests imagined lately: one asked again (the same part of two copies of an
    /// article) is one a real run gets from its cache. Bounded, as the cache's own look back
    /// is not: a repeat further back than [`REMEMBERED`] requests is counted again.
    imagined: std::sync::Mutex<Recent>,
    requests: AtomicU64,
    prompt_tokens: AtomicU64,
    /// Completion tokens expected (the median of answers seen), and at most (the budgets).
    expected: AtomicU64,
    most: AtomicU64,
    /// Requests the run asked again after imagining them once.
    again: AtomicU64,
}

/// Requests a dry run remembers having imagined (32 bytes each).
const REMEMBERED: usize = 1 << 18;

/// The keys imagined (or written to a batch file) lately, the oldest forgotten first.
#[derive(Debug, Default)]
pub(super) struct Recent {
    keys: std::collections::HashSet<Key>,
    order: std::collections::VecDeque<Key>,
}

impl Recent {
    /// Whether `key` was imagined already; remembered from now on.
    pub(super) fn seen(&mut self, key: Key) -> bool {
        if !self.keys.insert(key) {
            return true;
        }
        self.order.push_back(key);
        if self.order.len() > REMEMBERED
            && let Some(old) = self.order.pop_front()
        {
            self.keys.remove(&old);
        }
        false
    }
}

/// What a dry run found the run would send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct DryRun {
    pub(crate) requests: u64,
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_expected: u64,
    pub(crate) completion_most: u64,
    /// Answers the cache already had, or the run asked for twice: not counted above.
    pub(crate) from_cache: u64,
    /// The limits the run would be paced by, over its routes (None: none known).
    pub(crate) rpm: Option<u64>,
    pub(crate) tpm: Option<u64>,
}

/// Typical answer lengths in tokens, for a kind no answer was seen of yet: a bilingual summary
/// (headline, Korean and English summaries, key points) or a combination of summaries, a list
/// of names; a passage's English, per token of its Korean.
fn typical(kind: AnswerKind, input_tokens: u32) -> u64 {
    match kind {
        AnswerKind::Summary | AnswerKind::Combine => 450,
        AnswerKind::Names => 120,
        AnswerKind::Translation => (f64::from(input_tokens) * 0.9).ceil() as u64 + 40,
    }
}

impl DryRun {
    /// Minutes the limits imply for the run (the slower of requests and tokens), when known.
    pub(crate) fn minutes(&self) -> Option<f64> {
        let by_requests = self.rpm.map(|rpm| self.requests as f64 / rpm as f64);
        // A server counts a request's prompt and its whole completion budget.
        let by_tokens = self.tpm.map(|tpm| (self.prompt_tokens + self.completion_most) as f64 / tpm as f64);
        match (by_requests, by_tokens) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        }
    }
}

impl Pool {
    /// Whether answers are imagined (`--dry-run`).
    pub(crate) fn is_dry(&self) -> bool {
        self.dry.is_some()
    }

    /// Whether answers are imagined and stand for a real model's, so that checking them (and
    /// counting the repairs they would need) would be counting fiction.
    pub(crate) fn unchecked(&self) -> bool {
        self.dry.as_ref().is_some_and(|(dry, _)| !dry.exact)
    }

    /// What the dry run counted, under `--dry-run`.
    pub(crate) fn dry_run(&self) -> Option<DryRun> {
        let (_, counts) = self.dry.as_ref()?;
        let sum = |limit: fn(&Budget) -> Option<std::num::NonZeroU32>| {
            let limits: Vec<u64> = self
                .lanes
                .iter()
                .filter_map(|l| limit(&l.limiter.budget()).map(|n| u64::from(n.get())))
                .collect();
            (limits.len() == self.lanes.len()).then(|| limits.iter().sum())
        };
        Some(DryRun {
            requests: counts.requests.load(Ordering::Relaxed),
            prompt_tokens: counts.prompt_tokens.load(Ordering::Relaxed),
            completion_expected: counts.expected.load(Ordering::Relaxed),
            completion_most: counts.most.load(Ordering::Relaxed),
            // Asked twice at once, the second waits for the first's answer instead.
            from_cache: counts.again.load(Ordering::Relaxed)
                + self.stats.from_cache.load(Ordering::Relaxed)
                + self.stats.shared.load(Ordering::Relaxed),
            rpm: sum(|b| b.rpm),
            tpm: sum(|b| b.tpm),
        })
    }

    /// Count `wire` (under `key`) as sent, unless the run asked it already, and imagine its
    /// answer (see the module's comment). None when the run is not dry.
    pub(super) fn imagine(&self, key: Key, wire: &WireRequest) -> Option<StoredAnswer> {
        let (dry, counts) = self.dry.as_ref()?;
        let again = counts.imagined.lock().unwrap_or_else(|e| e.into_inner()).seen(key);
        let prompt = wire.prompt_estimate(&self.counter);
        // The budget it would be sent with (see `WireRequest::size_to`).
        let budget = self.sizing.budget(wire.kind, wire.ceiling(), wire.input_tokens);
        let most = u64::from(budget.min(wire.ceiling()).max(1));
        let expected = self
            .sizing
            .expected(wire.kind, wire.input_tokens)
            .unwrap_or_else(|| typical(wire.kind, wire.input_tokens))
            .min(most);
        if again {
            counts.again.fetch_add(1, Ordering::Relaxed);
        } else {
            counts.requests.fetch_add(1, Ordering::Relaxed);
            counts.prompt_tokens.fetch_add(u64::from(prompt), Ordering::Relaxed);
            counts.expected.fetch_add(expected, Ordering::Relaxed);
            counts.most.fetch_add(most, Ordering::Relaxed);
        }
        let content = crate::mock::reply::content_for(wire.body(), dry.answer_scale);
        Some(StoredAnswer { content, usage: Usage::new(u64::from(prompt), expected, 1) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_time_is_the_slower_of_the_two_limits() {
        let run = DryRun {
            requests: 1_000,
            prompt_tokens: 900_000,
            completion_most: 600_000,
            rpm: Some(500),
            tpm: Some(200_000),
            ..DryRun::default()
        };
        assert_eq!(run.minutes(), Some(7.5), "1.5M tokens at 200k a minute, not 1,000 at 500");
        assert_eq!(DryRun { tpm: None, ..run }.minutes(), Some(2.0));
        assert_eq!(DryRun { rpm: None, tpm: None, ..run }.minutes(), None);
    }

    #[test]
    fn a_request_asked_again_is_not_counted_twice_until_forgotten() {
        let mut recent = Recent::default();
        let key = |n: usize| {
            let mut bytes = [0u8; 32];
            bytes[..8].copy_from_slice(&(n as u64).to_le_bytes());
            Key(bytes)
        };
        assert!(!recent.seen(key(0)));
        assert!(recent.seen(key(0)));
        for n in 1..=REMEMBERED {
            assert!(!recent.seen(key(n)));
        }
        assert!(!recent.seen(key(0)), "forgotten after {REMEMBERED} others");
        assert!(recent.keys.len() <= REMEMBERED + 1);
    }

    #[test]
    fn a_passage_is_expected_to_grow_with_its_korean() {
        assert_eq!(typical(AnswerKind::Translation, 1_000), 940);
        assert_eq!(typical(AnswerKind::Summary, 5_000), 450);
    }
}
