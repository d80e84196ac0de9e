//! chrF++ and BLEU as sacreBLEU 2.x defines them, so that scores compare with published
//! ones: chrF++ is `CHRF(word_order=2)` (character 1- to 6-grams without whitespace, word 1-
//! and 2-grams with punctuation split off a word's ends, β = 2, precision and recall averaged
//! over the orders that occur); BLEU is `BLEU()` (the `13a` tokenizer, 1- to 4-grams, `exp`
//! smoothing, the brevity penalty), corpus-level from summed statistics, and per sentence
//! with the effective order as `sentence_bleu` does. Checked against sacreBLEU's own numbers
//! in the tests (values computed with sacrebleu 2.6.0).

use std::collections::HashMap;
use std::sync::LazyLock;

use regex::Regex;

/// Match statistics of one hypothesis against its reference, summable over a corpus.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Stats {
    /// chrF++: per order (6 character, then 2 word), hypothesis n-grams, reference n-grams,
    /// matches.
    chrf: [[u64; 3]; CHRF_ORDERS],
    /// BLEU: per order, matches and hypothesis n-grams; then the lengths.
    correct: [u64; 4],
    total: [u64; 4],
    hyp_len: u64,
    ref_len: u64,
}

const CHAR_ORDER: usize = 6;
const WORD_ORDER: usize = 2;
const CHRF_ORDERS: usize = CHAR_ORDER + WORD_ORDER;
const BETA: f64 = 2.0;

impl Stats {
    /// The statistics of `hypothesis` against `reference`.
    pub(crate) fn of(hypothesis: &str, reference: &str) -> Stats {
        let mut stats = Stats::default();
        let (hyp_chars, ref_chars): (String, String) =
            (hypothesis.split_whitespace().collect(), reference.split_whitespace().collect());
        let (hyp_words, ref_words) = (chrf_words(hypothesis), chrf_words(reference));
        for n in 1..=CHAR_ORDER {
            stats.chrf[n - 1] = matches(&char_ngrams(&hyp_chars, n), &char_ngrams(&ref_chars, n));
        }
        for n in 1..=WORD_ORDER {
            stats.chrf[CHAR_ORDER + n - 1] =
                matches(&word_ngrams(&hyp_words, n), &word_ngrams(&ref_words, n));
        }
        let (hyp_tokens, ref_tokens) = (tokenize_13a(hypothesis), tokenize_13a(reference));
        let hyp_tokens: Vec<&str> = hyp_tokens.split_whitespace().collect();
        let ref_tokens: Vec<&str> = ref_tokens.split_whitespace().collect();
        for n in 1..=4 {
            let [hyp, _, correct] = matches(&word_ngrams(&hyp_tokens, n), &word_ngrams(&ref_tokens, n));
            stats.correct[n - 1] = correct;
            stats.total[n - 1] = hyp;
        }
        stats.hyp_len = hyp_tokens.len() as u64;
        stats.ref_len = ref_tokens.len() as u64;
        stats
    }

    /// Add `other`'s statistics: a corpus's are its sentences' summed.
    pub(crate) fn add(&mut self, other: &Stats) {
        for (mine, theirs) in self.chrf.iter_mut().zip(&other.chrf) {
            for (a, b) in mine.iter_mut().zip(theirs) {
                *a += b;
            }
        }
        for n in 0..4 {
            self.correct[n] += other.correct[n];
            self.total[n] += other.total[n];
        }
        self.hyp_len += other.hyp_len;
        self.ref_len += other.ref_len;
    }

    /// chrF++, 0 to 100.
    pub(crate) fn chrf(&self) -> f64 {
        const EPS: f64 = 1e-16;
        let factor = BETA * BETA;
        let (mut precision, mut recall, mut effective) = (0.0, 0.0, 0);
        for [hyp, reference, matched] in self.chrf {
            precision += if hyp > 0 { matched as f64 / hyp as f64 } else { EPS };
            recall += if reference > 0 { matched as f64 / reference as f64 } else { EPS };
            effective += usize::from(hyp > 0 && reference > 0);
        }
        if effective == 0 {
            return 0.0;
        }
        let (precision, recall) = (precision / effective as f64, recall / effective as f64);
        if precision + recall == 0.0 {
            return 0.0;
        }
        100.0 * (1.0 + factor) * precision * recall / (factor * precision + recall)
    }

    /// Corpus BLEU (all four orders), 0 to 100.
    pub(crate) fn bleu(&self) -> f64 {
        self.bleu_with(false)
    }

    /// Sentence BLEU: the orders the sentence has, as `sentence_bleu` counts them.
    pub(crate) fn sentence_bleu(&self) -> f64 {
        self.bleu_with(true)
    }

    fn bleu_with(&self, effective_order: bool) -> f64 {
        let mut precisions = [0.0f64; 4];
        let mut smooth = 1.0;
        let mut order = 4;
        for (n, precision) in precisions.iter_mut().enumerate() {
            let (correct, total) = (self.correct[n], self.total[n]);
            if total == 0 {
                break;
            }
            if effective_order {
                order = n + 1;
            }
            *precision = if correct == 0 {
                smooth *= 2.0;
                100.0 / (smooth * total as f64)
            } else {
                100.0 * correct as f64 / total as f64
            };
        }
        let penalty = match (self.hyp_len, self.ref_len) {
            (0, _) => 0.0,
            (hyp, reference) if hyp < reference => (1.0 - reference as f64 / hyp as f64).exp(),
            _ => 1.0,
        };
        let log = |p: f64| if p == 0.0 { -9_999_999_999.0 } else { p.ln() };
        penalty * (precisions[..order].iter().map(|&p| log(p)).sum::<f64>() / order as f64).exp()
    }
}

/// `[hypothesis n-grams, reference n-grams, clipped matches]`.
fn matches<K: std::hash::Hash + Eq>(hyp: &HashMap<K, u64>, reference: &HashMap<K, u64>) -> [u64; 3] {
    let hyp_count = hyp.values().sum();
    let ref_count = reference.values().sum();
    let matched = hyp.iter().map(|(gram, n)| (*n).min(reference.get(gram).copied().unwrap_or(0))).sum();
    [hyp_count, ref_count, matched]
}

fn char_ngrams(text: &str, n: usize) -> HashMap<&str, u64> {
    let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let mut grams = HashMap::new();
    for w in bounds.windows(n + 1) {
        *grams.entry(&text[w[0]..w[n]]).or_default() += 1;
    }
    grams
}

fn word_ngrams<'a>(words: &[&'a str], n: usize) -> HashMap<Vec<&'a str>, u64> {
    let mut grams = HashMap::new();
    for w in words.windows(n) {
        *grams.entry(w.to_vec()).or_default() += 1;
    }
    grams
}

/// chrF's words: split at whitespace, one punctuation mark split off a word's end (else its
/// start), as sacreBLEU's `_remove_punctuation` does.
fn chrf_words(text: &str) -> Vec<&str> {
    const PUNCTUATION: &str = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    let mut words = Vec::new();
    for w in text.split_whitespace() {
        let first = w.chars().next().expect("a word has a character");
        let last = w.chars().next_back().expect("a word has a character");
        if w.chars().count() == 1 {
            words.push(w);
        } else if PUNCTUATION.contains(last) {
            words.extend([&w[..w.len() - last.len_utf8()], &w[w.len() - last.len_utf8()..]]);
        } else if PUNCTUATION.contains(first) {
            words.extend([&w[..first.len_utf8()], &w[first.len_utf8()..]]);
        } else {
            words.push(w);
        }
    }
    words
}

/// The `13a` tokenizer (mteval-v13a), as sacreBLEU's `TokenizerV13a`.
fn tokenize_13a(line: &str) -> String {
    static RULES: LazyLock<[(Regex, &str); 4]> = LazyLock::new(|| {
        [
            (Regex::new(r"([\{-~\[-` -&\(-\+:-@/])").expect("a regex"), " $1 "),
            (Regex::new(r"([^0-9])([\.,])").expect("a regex"), "$1 $2 "),
            (Regex::new(r"([\.,])([^0-9])").expect("a regex"), " $1 $2"),
            (Regex::new(r"([0-9])(-)").expect("a regex"), "$1 $2 "),
        ]
    });
    let mut line = line.replace("<skipped>", "").replace("-\n", "").replace('\n', " ");
    if line.contains('&') {
        line = line.replace("&quot;", "\"").replace("&amp;", "&").replace("&lt;", "<").replace("&gt;", ">");
    }
    let mut line = format!(" {line} ");
    for (rule, replacement) in RULES.iter() {
        line = rule.replace_all(&line, *replacement).into_owned();
    }
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str = "The government said exports rose 3.5% this year, led by semiconductors.";
    const HYPOTHESIS: &str = "Exports grew 3.5% this year, the government said, driven by chips.";

    #[test]
    fn the_13a_tokenizer_splits_punctuation_but_not_numbers() {
        assert_eq!(
            tokenize_13a("It rose 3.5%, to 1,350 won (a record)."),
            "It rose 3.5 % , to 1,350 won ( a record ) ."
        );
        assert_eq!(tokenize_13a("A &amp; B - 2020-21"), "A & B - 2020 - 21");
    }

    /// The numbers sacreBLEU 2.6.0 gives for the same pairs (`scripts/sacrebleu-check.py`).
    #[test]
    fn scores_match_sacrebleu() {
        let stats = Stats::of(HYPOTHESIS, REFERENCE);
        let close = |a: f64, b: f64| (a - b).abs() < 0.01;
        assert!(close(stats.chrf(), CHRF_PAIR), "chrF++ {}", stats.chrf());
        assert!(close(stats.sentence_bleu(), SENTENCE_BLEU_PAIR), "sentence BLEU {}", stats.sentence_bleu());
        let mut corpus = stats.clone();
        corpus.add(&Stats::of("Chip exports hit a record.", "Semiconductor exports reached a record high."));
        assert!(close(corpus.chrf(), CHRF_CORPUS), "corpus chrF++ {}", corpus.chrf());
        assert!(close(corpus.bleu(), BLEU_CORPUS), "corpus BLEU {}", corpus.bleu());
        assert_eq!(Stats::of(REFERENCE, REFERENCE).chrf(), 100.0);
        assert!(close(Stats::of(REFERENCE, REFERENCE).bleu(), 100.0));
        assert_eq!(Stats::of("", REFERENCE).bleu(), 0.0);
    }

    const CHRF_PAIR: f64 = 51.5298;
    const SENTENCE_BLEU_PAIR: f64 = 30.1304;
    const CHRF_CORPUS: f64 = 44.6452;
    const BLEU_CORPUS: f64 = 26.0425;
}
