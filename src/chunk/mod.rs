//! Token-budgeted chunking of Korean news text.
//!
//! This module owns everything between "an article's text" and "pieces that fit an LLM
//! request": token counting (tiktoken BPE singletons, never rebuilt per call), Korean sentence
//! segmentation, and splitting an article into balanced chunks of at most N tokens.
//!
//! Why it exists: a long article must be translated in several requests, and where we cut
//! matters. Cutting inside a sentence ruins the translation of both halves, and a greedy
//! split leaves a tiny tail chunk that is translated with almost no context. So cuts go to
//! paragraph boundaries first, sentence boundaries next, and only inside a sentence that
//! alone exceeds the budget; and chunk sizes are balanced.
//!
//! Cost model: each sentence is tokenized once (together with the whitespace before it, which
//! makes the sum of parts match the count of the joined text almost exactly); the partition is
//! computed on those sums; each final chunk is then counted exactly once and re-split in the
//! rare case the estimate was too low. That is about two tokenizer passes over the text, O(n).
//!
//! Reconstruction contract: every `Chunk::text` is a verbatim slice of the input with no
//! leading or trailing whitespace. Between two consecutive chunks the source holds only
//! whitespace (possibly none, for a cut inside an over-long word); `Chunk::joiner` records it
//! as `"\n"` if it contained a newline, `" "` if it was other whitespace, `""` if it was empty
//! (and `""` for the first chunk). Hence `join(&split(t, ..)) == t.trim()` with each
//! inter-chunk whitespace run replaced by its joiner.
//!
//! Layout: `token` counts tokens, `sentence` segments paragraphs into sentences, and this
//! file partitions the sentences into balanced chunks.

mod sentence;
#[cfg(test)]
mod tests;
mod token;

use sentence::sentence_ranges;
#[cfg(test)]
use sentence::sentences;
pub(crate) use sentence::tail_sentences;
pub use token::{Encoding, TokenCounter};

/// How articles are cut for the model: the chunk module's own settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkLimits {
    /// Largest piece of an article summarized in one request.
    pub(crate) summary_tokens: usize,
    /// Largest passage translated in one request (its English must fit the completion budget).
    pub(crate) translation_tokens: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        // Most news articles fit one summary request; a translated passage's English takes up
        // to about twice its Korean tokens, and shorter passages keep models from skipping text.
        ChunkLimits { summary_tokens: 6_000, translation_tokens: 1_500 }
    }
}

/// One piece of an article; see the module doc for the reconstruction contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Verbatim slice of the input, never starting or ending with whitespace.
    pub text: String,
    /// Exact token count of `text` under the counter used for splitting.
    pub tokens: usize,
    /// What stood between the previous chunk and this one in the source: "" (first chunk, or a
    /// cut inside an over-long word), "\n" (whitespace containing a newline) or " " (other
    /// whitespace).
    pub joiner: &'static str,
}

/// Concatenates `joiner + text` of every chunk: the input, trimmed, with each whitespace run
/// at a cut replaced by the cut's joiner.
#[cfg(test)]
pub(crate) fn join(chunks: &[Chunk]) -> String {
    let mut s = String::with_capacity(chunks.iter().map(|c| c.text.len() + 1).sum());
    for c in chunks {
        s.push_str(c.joiner);
        s.push_str(&c.text);
    }
    s
}

/// Kind of boundary before a unit, best cut first. Only the first two occur unless a
/// sentence alone exceeds the budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Break {
    Para,
    Sentence,
    Clause,
    Space,
    Char,
}

impl Break {
    /// Cost of cutting here, on the scale of the squared relative deviation from the ideal
    /// chunk size used by `partition`: a sentence cut must bring a chunk ~22% closer to the
    /// ideal size to beat a paragraph cut (0.22^2 ~ 0.05).
    fn penalty(self) -> f64 {
        match self {
            Break::Para => 0.0,
            Break::Sentence => 0.05,
            Break::Clause => 0.1,
            Break::Space => 0.15,
            Break::Char => 0.5,
        }
    }
}

/// Smallest piece the partitioner moves around: a sentence, or a word / char run of an
/// over-long sentence.
#[derive(Debug, Clone, Copy)]
struct Unit {
    /// Start of the whitespace before the unit (== `start` when there is none).
    gap: usize,
    start: usize,
    end: usize,
    brk: Break,
    /// Estimated tokens this unit adds to a chunk: counted with the neighbouring whitespace
    /// as described at `build_units`; `max` for a sentence that fits only without it.
    cost: usize,
}

/// Split `text` (paragraphs separated by "\n", possibly blank lines) into balanced chunks of at
/// most `max_tokens` tokens each, as counted by `counter` on each chunk's text. Cuts prefer
/// paragraph boundaries, then sentence boundaries; a sentence is cut only if it alone exceeds
/// `max_tokens` (then at clause punctuation/spaces, last resort at char boundaries). If k
/// chunks are needed, k chunks of similar size are produced. Empty/blank text gives no chunks;
/// a text that fits gives one. `max_tokens == 0` is treated as 1. A chunk can exceed the
/// limit only when a single character does (limits below ~4 tokens).
pub fn split(text: &str, max_tokens: usize, counter: TokenCounter) -> Vec<Chunk> {
    let max = max_tokens.max(1);
    let body = text.trim();
    if body.is_empty() {
        return Vec::new();
    }
    // Short texts usually fit (tokens <= bytes, and Korean is ~0.2 tokens/byte): one count
    // settles them without segmenting.
    if body.len() <= 4 * max {
        let tokens = counter.count_again(body);
        if tokens <= max {
            return vec![Chunk { text: body.to_string(), tokens, joiner: "" }];
        }
    }
    let units = build_units(text, max, counter);
    // The estimate can exceed the exact count by a few tokens; near the limit, ask the exact
    // count before splitting a text that fits.
    let estimate: usize = units.iter().map(|u| u.cost).sum();
    if body.len() > 4 * max && estimate <= max + max / 16 + 4 {
        let tokens = counter.count_again(body);
        if tokens <= max {
            return vec![Chunk { text: body.to_string(), tokens, joiner: "" }];
        }
    }
    // The partition sees estimates: a chunk's first unit was counted with the space before it
    // (" данные" can be one token where "данные" is two). If a chunk comes out over the limit,
    // redo the whole partition with the budget lowered by the overshoot, which keeps the
    // chunks balanced; after a few rounds fall back to re-splitting only the offending chunks.
    let mut budget = max;
    for _ in 0..3 {
        let starts = partition(&units, budget);
        let mut chunks = Vec::with_capacity(starts.len());
        let mut over = 0;
        for (i, &a) in starts.iter().enumerate() {
            let e = starts.get(i + 1).copied().unwrap_or(units.len());
            let slice = &text[units[a].start..units[e - 1].end];
            let tokens = counter.count(slice);
            over = over.max(tokens.saturating_sub(max));
            chunks.push(Chunk { text: slice.to_string(), tokens, joiner: joiner(text, &units[a], i == 0) });
        }
        if over == 0 {
            return chunks;
        }
        budget = budget.saturating_sub(over).max(1);
    }
    let mut out = Vec::new();
    emit(text, &units, budget, max, counter, &mut out);
    out
}

/// The separator class of the whitespace before unit `u` (see `Chunk::joiner`).
fn joiner(text: &str, u: &Unit, first: bool) -> &'static str {
    let gap = &text[u.gap..u.start];
    if first || gap.is_empty() {
        ""
    } else if gap.contains('\n') {
        "\n"
    } else {
        " "
    }
}

/// Partitions `units` with `budget`, counts each chunk exactly, and re-partitions any chunk
/// whose exact count exceeds `max` (the sum of parts is an estimate) with a smaller budget.
fn emit(text: &str, units: &[Unit], budget: usize, max: usize, counter: TokenCounter, out: &mut Vec<Chunk>) {
    let starts = partition(units, budget);
    for (i, &a) in starts.iter().enumerate() {
        let e = starts.get(i + 1).copied().unwrap_or(units.len());
        let (s, t) = (units[a].start, units[e - 1].end);
        let slice = &text[s..t];
        let tokens = counter.count(slice);
        if tokens > max && e - a == 1 {
            // A unit fitted together with its leading whitespace (" 단어" can be cheaper than
            // "단어"), but alone at a chunk start it does not: it exceeds the limit on its own,
            // so splitting it finer is allowed.
            let u = units[a];
            let mut sub = Vec::new();
            push_sentence(text, u.start, u.start, u.end, u.brk, tokens, max, counter, &mut sub);
            if sub.len() > 1 {
                sub[0].gap = u.gap;
                emit(text, &sub, max, max, counter, out);
                continue;
            }
        }
        if tokens <= max || e - a == 1 {
            let joiner = joiner(text, &units[a], out.is_empty());
            out.push(Chunk { text: slice.to_string(), tokens, joiner });
        } else {
            let smaller = budget.saturating_sub(tokens - max).max(1);
            emit(text, &units[a..e], smaller, max, counter, out);
        }
    }
}

/// Returns the index of the first unit of each chunk.
///
/// k is the minimum number of chunks (greedy packing is optimal for contiguous pieces). A cut
/// before unit e is usable in a k-chunk partition only if pre[e] + need[e] == k (minimum
/// chunks for the prefix and for the suffix), which also fixes which chunk it ends. Among
/// those partitions a DP minimises sum over chunks of ((size - T) / T)^2 + boundary penalty,
/// T = total / k: squared deviation punishes one tiny tail far more than spreading the slack,
/// and the penalty steers cuts to paragraph ends. O(n * w), w = units per chunk window.
fn partition(units: &[Unit], budget: usize) -> Vec<usize> {
    let n = units.len();
    let mut prefix = Vec::with_capacity(n + 1);
    prefix.push(0usize);
    for u in units {
        prefix.push(prefix.last().unwrap() + u.cost);
    }
    let fits = |a: usize, e: usize| e == a + 1 || prefix[e] - prefix[a] <= budget;
    // need[i]: minimum chunks for units[i..]; far[i]: end of the greedy chunk from i.
    let mut far = vec![0usize; n];
    let mut j = 0;
    for (i, f) in far.iter_mut().enumerate() {
        j = j.max(i + 1);
        while j < n && fits(i, j + 1) {
            j += 1;
        }
        *f = j;
    }
    let mut need = vec![0usize; n + 1];
    for i in (0..n).rev() {
        need[i] = 1 + need[far[i]];
    }
    let k = need[0];
    if k <= 1 {
        return vec![0];
    }
    // pre[e]: minimum chunks for units[..e], by the mirrored greedy.
    let mut pre = vec![0usize; n + 1];
    let mut a = 0;
    for e in 1..=n {
        while !fits(a, e) {
            a += 1;
        }
        pre[e] = 1 + pre[a];
    }
    let valid = |e: usize| pre[e] + need[e] == k;
    let ideal = (prefix[n] as f64 / k as f64).max(1.0);
    let mut dp = vec![f64::INFINITY; n + 1];
    let mut back = vec![0usize; n + 1];
    dp[0] = 0.0;
    for e in 1..=n {
        if !valid(e) {
            continue;
        }
        let penalty = if e < n { units[e].brk.penalty() } else { 0.0 };
        let mut a = e - 1;
        loop {
            if valid(a) && pre[a] + 1 == pre[e] && dp[a].is_finite() {
                let dev = (prefix[e] - prefix[a]) as f64 / ideal - 1.0;
                let cost = dp[a] + dev * dev + penalty;
                if cost < dp[e] {
                    dp[e] = cost;
                    back[e] = a;
                }
            }
            if a == 0 || !fits(a - 1, e) {
                break;
            }
            a -= 1;
        }
    }
    let mut starts = Vec::with_capacity(k);
    let mut e = n;
    while e > 0 {
        e = back[e];
        starts.push(e);
    }
    starts.reverse();
    starts
}

/// Sentences of every line become units; over-long sentences are broken into words and
/// over-long words into char runs, so that every unit fits the budget on its own.
///
/// A sentence is counted with the whitespace before it if that has no newline, and with the
/// whitespace after it if that has one: this matches how the BPE pre-tokenizer groups text
/// (" 다음" is one piece, and so is ".\n"), so the sum of unit costs is very close to the count
/// of the joined text.
fn build_units(text: &str, max: usize, counter: TokenCounter) -> Vec<Unit> {
    let mut sents = Vec::new();
    let mut line_start = 0;
    for line in text.split('\n') {
        sents.extend(sentence_ranges(line).into_iter().map(|r| line_start + r.start..line_start + r.end));
        line_start += line.len() + 1;
    }
    let mut units = Vec::with_capacity(sents.len());
    let mut prev_end = 0;
    for (i, r) in sents.iter().enumerate() {
        let para = text[prev_end..r.start].contains('\n');
        let brk = if para { Break::Para } else { Break::Sentence };
        let from = if para { r.start } else { prev_end };
        let to = match sents.get(i + 1) {
            Some(next) if text[r.end..next.start].contains('\n') => next.start,
            _ => r.end,
        };
        let cost = counter.count(&text[from..to]);
        push_sentence(text, prev_end, r.start, r.end, brk, cost, max, counter, &mut units);
        prev_end = r.end;
    }
    units
}

/// Pushes a sentence with estimated `cost` as one unit, or as words/char runs if it alone
/// exceeds `max`.
#[allow(clippy::too_many_arguments)]
fn push_sentence(
    text: &str,
    gap: usize,
    start: usize,
    end: usize,
    brk: Break,
    cost: usize,
    max: usize,
    counter: TokenCounter,
    units: &mut Vec<Unit>,
) {
    if cost <= max {
        units.push(Unit { gap, start, end, brk, cost });
        return;
    }
    // The surrounding whitespace may be what tips it over; the rule is about the sentence alone.
    if counter.count(&text[start..end]) <= max {
        units.push(Unit { gap, start, end, brk, cost: max });
        return;
    }
    let s = &text[start..end];
    let mut wgap = gap;
    let mut wbrk = brk;
    let mut pos = 0;
    for word in s.split(char::is_whitespace).filter(|w| !w.is_empty()) {
        let ws = start + pos + s[pos..].find(word).unwrap();
        let we = ws + word.len();
        pos = we - start;
        // The first word's leading whitespace may hold a newline, which is not counted.
        let from = if wbrk == Break::Para { ws } else { wgap };
        let cost = counter.count(&text[from..we]);
        if cost <= max {
            units.push(Unit { gap: wgap, start: ws, end: we, brk: wbrk, cost });
        } else {
            push_char_runs(text, wgap, ws, we, wbrk, max, counter, units);
        }
        wgap = we;
        // Clause punctuation makes a better cut than a bare space.
        wbrk = if word.ends_with([',', ';', ':', '，', '、', '；', '：']) {
            Break::Clause
        } else {
            Break::Space
        };
    }
}

/// Last resort for a word longer than the budget (URLs, runs without spaces): the longest
/// char-boundary prefixes that fit, found by exponential + binary search so that the cost is
/// O(len log len) even for huge runs.
#[allow(clippy::too_many_arguments)]
fn push_char_runs(
    text: &str,
    gap: usize,
    start: usize,
    end: usize,
    brk: Break,
    max: usize,
    counter: TokenCounter,
    units: &mut Vec<Unit>,
) {
    let mut bounds: Vec<usize> = text[start..end].char_indices().map(|(i, _)| start + i).collect();
    bounds.push(end);
    let last = bounds.len() - 1;
    let mut idx = 0;
    let mut first = true;
    while idx < last {
        let from = if first && brk != Break::Para { gap } else { bounds[idx] };
        let fits = |j: usize| counter.count(&text[from..bounds[j]]) <= max;
        // Largest j in (idx, last] with fits(j); at least idx + 1 even if one char is too big.
        let mut lo = idx + 1;
        let mut step = 1;
        let mut hi;
        loop {
            let probe = (idx + step * 2).min(last);
            if probe <= lo {
                hi = lo;
                break;
            }
            if fits(probe) {
                lo = probe;
                if probe == last {
                    hi = last;
                    break;
                }
                step *= 2;
            } else {
                hi = probe - 1;
                break;
            }
        }
        while lo < hi {
            let mid = (lo + hi).div_ceil(2);
            if fits(mid) {
                lo = mid;
            } else {
                hi = mid - 1;
            }
        }
        let cost = counter.count(&text[from..bounds[lo]]).min(max);
        units.push(Unit {
            gap: if first { gap } else { bounds[idx] },
            start: bounds[idx],
            end: bounds[lo],
            brk: if first { brk } else { Break::Char },
            cost,
        });
        first = false;
        idx = lo;
    }
}
