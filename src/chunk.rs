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

use std::ops::Range;

use tiktoken_rs::CoreBPE;

/// Which BPE encoding counts tokens. o200k_base is the default: Korean costs ~0.64 tokens/char
/// there against ~1.03 in cl100k_base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    #[default]
    O200kBase,
    Cl100kBase,
}

impl Encoding {
    /// Best guess for a model name: gpt-4o*/gpt-4.1*/gpt-5*/o1*/o3*/o4* -> O200kBase;
    /// gpt-4*/gpt-3.5* -> Cl100kBase; anything else (llama, qwen, solar...) -> O200kBase as a
    /// reasonable estimate (their tokenizers are closer to o200k's Korean efficiency).
    pub fn for_model(model: &str) -> Encoding {
        // Accept provider-qualified names such as "openai/gpt-4o" or "azure:gpt-4".
        let m = model.trim().to_ascii_lowercase();
        let m = m.rsplit(['/', ':']).next().unwrap_or("");
        const O200K: [&str; 9] =
            ["gpt-4o", "chatgpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "gpt-oss", "o1", "o3", "o4"];
        const CL100K: [&str; 4] = ["gpt-4", "gpt-3.5", "gpt-35", "text-embedding-"];
        if O200K.iter().any(|p| m.starts_with(p)) {
            Encoding::O200kBase
        } else if CL100K.iter().any(|p| m.starts_with(p)) {
            Encoding::Cl100kBase
        } else {
            Encoding::O200kBase
        }
    }

    /// The tiktoken name, e.g. "o200k_base".
    pub fn name(self) -> &'static str {
        match self {
            Encoding::O200kBase => "o200k_base",
            Encoding::Cl100kBase => "cl100k_base",
        }
    }

    /// Parses "o200k_base"/"cl100k_base" (case-insensitive, "-" for "_", "_base" optional).
    pub fn parse(s: &str) -> Option<Encoding> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        match s.strip_suffix("_base").unwrap_or(&s) {
            "o200k" => Some(Encoding::O200kBase),
            "cl100k" => Some(Encoding::Cl100kBase),
            _ => None,
        }
    }

    fn bpe(self) -> &'static CoreBPE {
        match self {
            Encoding::O200kBase => tiktoken_rs::o200k_base_singleton(),
            Encoding::Cl100kBase => tiktoken_rs::cl100k_base_singleton(),
        }
    }
}

/// Counts tokens with the process-wide tiktoken singleton (loading costs ~0.3 s, so a
/// `CoreBPE` is never built per call). Cheap to copy.
#[derive(Debug, Clone, Copy)]
pub struct TokenCounter {
    encoding: Encoding,
}

impl TokenCounter {
    pub fn new(encoding: Encoding) -> Self {
        TokenCounter { encoding }
    }

    /// Number of tokens of `text`. Special-token strings like "<|endoftext|>" are counted as
    /// ordinary text, because article text is data, never control tokens.
    pub fn count(&self, text: &str) -> usize {
        if text.is_empty() {
            return 0;
        }
        self.encoding.bpe().encode_ordinary(text).len()
    }

    pub fn encoding(&self) -> Encoding {
        self.encoding
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
pub fn join(chunks: &[Chunk]) -> String {
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
        let tokens = counter.count(body);
        if tokens <= max {
            return vec![Chunk { text: body.to_string(), tokens, joiner: "" }];
        }
    }
    let units = build_units(text, max, counter);
    // The estimate can exceed the exact count by a few tokens; near the limit, ask the exact
    // count before splitting a text that fits.
    let estimate: usize = units.iter().map(|u| u.cost).sum();
    if body.len() > 4 * max && estimate <= max + max / 16 + 4 {
        let tokens = counter.count(body);
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

/// Korean (and mixed) sentence segmentation. A sentence ends after ".", "?", "!", "…", "。"
/// (and full-width "？", "！"), runs of them ("?!", "..."), any closing quotes/brackets right
/// after them and Wikipedia-style citation markers like "[1]", when followed by whitespace or
/// the end. No split inside numbers (3.5%), after abbreviations (U.S., No. 1, Mr.), before a
/// lowercase Latin word, in "2023. 1. 5."-style dates, inside quotes/brackets that close
/// within the paragraph, or inside e-mails/URLs (no whitespace follows their dots). Returns
/// trimmed slices of the input; the input is those slices plus the whitespace between them.
pub fn sentences(paragraph: &str) -> Vec<&str> {
    sentence_ranges(paragraph).into_iter().map(|r| &paragraph[r]).collect()
}

/// The last `n` sentences of `text` (all lines), as one slice of `text` without trailing
/// whitespace; the whole trimmed text if it has fewer, "" for n == 0.
pub fn tail_sentences(text: &str, n: usize) -> &str {
    let end = text.trim_end().len();
    if n == 0 || end == 0 {
        return "";
    }
    let mut remaining = n;
    let mut line_end = end;
    // Walk lines backwards so only the needed tail is segmented.
    loop {
        let line_start = text[..line_end].rfind('\n').map_or(0, |i| i + 1);
        let ranges = sentence_ranges(&text[line_start..line_end]);
        if ranges.len() >= remaining {
            return &text[line_start + ranges[ranges.len() - remaining].start..end];
        }
        remaining -= ranges.len();
        if line_start == 0 {
            return text[..end].trim_start();
        }
        line_end = line_start - 1;
    }
}

fn is_terminal(c: char) -> bool {
    matches!(c, '.' | '?' | '!' | '…' | '。' | '？' | '！' | '‥')
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | ')' | ']' | '}' | '」' | '』' | '》' | '〉' | '】' | '）' | '］')
}

/// Opening bracket for a closing one; symmetric quotes map to themselves.
fn opener_of(c: char) -> Option<char> {
    Some(match c {
        ')' => '(',
        ']' => '[',
        '}' => '{',
        '”' => '“',
        '’' => '‘',
        '」' => '「',
        '』' => '『',
        '》' => '《',
        '〉' => '〈',
        '】' => '【',
        '）' => '（',
        '］' => '［',
        '"' => '"',
        '\'' => '\'',
        _ => return None,
    })
}

fn is_opener(c: char) -> bool {
    matches!(c, '(' | '[' | '{' | '“' | '‘' | '「' | '『' | '《' | '〈' | '【' | '（' | '［')
}

/// depth[g] > 0 iff the gap before char g lies inside a quote/bracket pair that is closed
/// within the paragraph. Unmatched openers are ignored so that a stray quote cannot glue a
/// whole paragraph into one sentence.
fn enclosure_depth(chars: &[(usize, char)]) -> Vec<i32> {
    let n = chars.len();
    let mut diff = vec![0i32; n + 2];
    let mut stack: Vec<(char, usize)> = Vec::new();
    for (i, &(_, c)) in chars.iter().enumerate() {
        if c == '\'' {
            // An apostrophe between Latin letters (don't) is not a quote.
            let prev = i.checked_sub(1).map(|p| chars[p].1);
            let next = chars.get(i + 1).map(|x| x.1);
            if prev.is_some_and(|p| p.is_ascii_alphabetic()) && next.is_some_and(|x| x.is_ascii_alphabetic())
            {
                continue;
            }
        }
        let symmetric = c == '"' || c == '\'';
        if let Some(open) = opener_of(c) {
            if let Some(p) = stack.iter().rposition(|&(o, _)| o == open) {
                let (_, oi) = stack[p];
                stack.truncate(p);
                diff[oi + 1] += 1;
                diff[i + 1] -= 1;
                continue;
            }
            if !symmetric {
                continue;
            }
        }
        if symmetric || is_opener(c) {
            stack.push((c, i));
        }
    }
    let mut depth = Vec::with_capacity(n + 1);
    let mut d = 0;
    for v in diff.iter().take(n + 1) {
        d += v;
        depth.push(d);
    }
    depth
}

const ABBREVIATIONS: [&str; 24] = [
    "mr", "mrs", "ms", "dr", "prof", "st", "no", "nos", "jr", "sr", "vs", "inc", "co", "corp", "ltd", "gen",
    "gov", "sen", "rep", "lt", "col", "vol", "fig", "approx",
];

/// Whether a single "." at chars[i] followed by whitespace is not a sentence end.
fn is_non_final_period(chars: &[(usize, char)], i: usize, paragraph: &str) -> bool {
    let next = chars[i + 1..].iter().map(|x| x.1).find(|c| !c.is_whitespace());
    let prev = i.checked_sub(1).map(|p| chars[p].1);
    // English continues in lowercase after an abbreviation ("approx. five").
    if next.is_some_and(|c| c.is_ascii_lowercase()) {
        return true;
    }
    // Korean dates and numbered items: "2023. 1. 5."
    if prev.is_some_and(|c| c.is_ascii_digit()) && next.is_some_and(|c| c.is_ascii_digit()) {
        return true;
    }
    let mut w = i;
    while w > 0 && !chars[w - 1].1.is_whitespace() && !is_opener(chars[w - 1].1) {
        w -= 1;
    }
    let word = &paragraph[chars[w].0..chars[i].0];
    // "2023. 1. 5." style dates: a number after another "number." word.
    if !word.is_empty() && word.len() <= 4 && word.bytes().all(|b| b.is_ascii_digit()) {
        let before = paragraph[..chars[w].0].trim_end();
        let prev_word = before.rsplit(char::is_whitespace).next().unwrap_or("");
        if let Some(num) = prev_word.strip_suffix('.')
            && !num.is_empty()
            && num.len() <= 4
            && num.bytes().all(|b| b.is_ascii_digit())
        {
            return true;
        }
    }
    if word.is_empty() || !word.chars().all(|c| c.is_ascii_alphabetic() || c == '.') {
        return false;
    }
    if ABBREVIATIONS.contains(&word.to_ascii_lowercase().as_str()) {
        return true;
    }
    let parts: Vec<&str> = word.split('.').collect();
    if parts.iter().all(|p| p.len() == 1) {
        // "U.S." always; a lone capital only as an initial before another name ("J. K.").
        return parts.len() > 1
            || (word.chars().all(|c| c.is_ascii_uppercase())
                && next.is_some_and(|c| c.is_ascii_uppercase()));
    }
    false
}

fn sentence_ranges(p: &str) -> Vec<Range<usize>> {
    let chars: Vec<(usize, char)> = p.char_indices().collect();
    let n = chars.len();
    let byte_at = |i: usize| if i < n { chars[i].0 } else { p.len() };
    let mut depth: Option<Vec<i32>> = None;
    let mut out = Vec::new();
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < n {
        let c = chars[i].1;
        if start.is_none() {
            if c.is_whitespace() {
                i += 1;
                continue;
            }
            start = Some(i);
        }
        if !is_terminal(c) {
            i += 1;
            continue;
        }
        let mut j = i;
        while j < n && is_terminal(chars[j].1) {
            j += 1;
        }
        let run = j - i;
        loop {
            while j < n && is_closer(chars[j].1) {
                j += 1;
            }
            // Citation markers "[12]" belong to the sentence they follow.
            if j < n && chars[j].1 == '[' {
                let mut k = j + 1;
                while k < n && chars[k].1.is_ascii_digit() {
                    k += 1;
                }
                if k > j + 1 && k < n && chars[k].1 == ']' {
                    j = k + 1;
                    continue;
                }
            }
            break;
        }
        let at_boundary = j == n || chars[j].1.is_whitespace();
        if at_boundary {
            // Computed lazily: most paragraphs have no candidate inside quotes to check.
            let d = depth.get_or_insert_with(|| enclosure_depth(&chars));
            let abbreviation =
                run == 1 && c == '.' && j == i + 1 && j < n && is_non_final_period(&chars, i, p);
            if d[j] <= 0 && !abbreviation {
                out.push(byte_at(start.take().unwrap())..byte_at(j));
            }
        }
        i = j;
    }
    if let Some(s) = start {
        out.push(byte_at(s)..p.trim_end().len());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o200k() -> TokenCounter {
        TokenCounter::new(Encoding::O200kBase)
    }

    /// (id, text) of every article of tests/data/ko-news.jsonl (see its README for licences).
    fn corpus() -> Option<Vec<(String, String)>> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/ko-news.jsonl");
        let data = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let mut out = Vec::new();
        for line in data.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            out.push((v["id"].as_str().unwrap().to_string(), v["text"].as_str().unwrap().to_string()));
        }
        Some(out)
    }

    /// Checks the reconstruction contract and returns each chunk's byte range in `text`.
    fn locate(text: &str, chunks: &[Chunk]) -> Vec<Range<usize>> {
        let mut pos = 0;
        let mut ranges = Vec::new();
        for (i, c) in chunks.iter().enumerate() {
            assert!(!c.text.is_empty());
            assert_eq!(c.text, c.text.trim(), "chunk has outer whitespace");
            let rest = &text[pos..];
            let gap_len = rest.len() - rest.trim_start().len();
            let gap = &rest[..gap_len];
            assert!(rest[gap_len..].starts_with(&c.text), "lost or reordered text at chunk {i}");
            let expected = if i == 0 {
                ""
            } else if gap.contains('\n') {
                "\n"
            } else if gap.is_empty() {
                ""
            } else {
                " "
            };
            assert_eq!(c.joiner, expected, "joiner of chunk {i}");
            let s = pos + gap_len;
            ranges.push(s..s + c.text.len());
            pos = s + c.text.len();
        }
        assert!(text[pos..].trim().is_empty(), "text lost at the end");
        // And the documented identity, stated independently.
        let mut normalized = String::new();
        let mut prev = 0;
        for (r, c) in ranges.iter().zip(chunks) {
            if prev > 0 {
                normalized.push_str(c.joiner);
            }
            normalized.push_str(&text[r.clone()]);
            prev = r.end;
        }
        assert_eq!(join(chunks), normalized);
        assert!(join(chunks).len() <= text.trim().len());
        ranges
    }

    /// Byte ranges of all sentences of `text` (every line).
    fn all_sentences(text: &str) -> Vec<Range<usize>> {
        let mut out = Vec::new();
        let mut off = 0;
        for line in text.split('\n') {
            out.extend(sentence_ranges(line).into_iter().map(|r| off + r.start..off + r.end));
            off += line.len() + 1;
        }
        out
    }

    #[test]
    fn corpus_properties() {
        let Some(articles) = corpus() else { return };
        let counter = o200k();
        let mut worst = (1.0f64, String::new());
        let mut multi = 0;
        let mut below_half = 0;
        let mut min_pair = (f64::INFINITY, String::new());
        let mut per_limit = std::collections::BTreeMap::new();
        for &max in &[30usize, 100, 400, 2000] {
            for (id, text) in &articles {
                let chunks = split(text, max, counter);
                assert!(!chunks.is_empty(), "{id}");
                let ranges = locate(text, &chunks);
                for c in &chunks {
                    assert_eq!(c.tokens, counter.count(&c.text), "{id}");
                    assert!(c.tokens <= max, "{id} max={max}: chunk of {} tokens", c.tokens);
                }
                let total = counter.count(text.trim());
                if total <= max {
                    assert_eq!(chunks.len(), 1, "{id}: fitting text split");
                }
                // No cut inside a sentence that fits on its own.
                let sents = all_sentences(text);
                for r in ranges.iter().skip(1) {
                    let cut = r.start;
                    for s in &sents {
                        if s.start < cut && cut < s.end {
                            let t = counter.count(&text[s.clone()]);
                            assert!(t > max, "{id} max={max}: cut inside a {t}-token sentence");
                        }
                    }
                }
                // Minimal count: never more chunks than greedy packing of whole text would
                // need plus one (the estimate may force one extra in rare cases).
                // Minimal count: no two neighbours would fit together (else k-1 chunks would
                // do). The partition works on estimates, so allow a token of slack.
                for w in chunks.windows(2) {
                    let both = counter.count(&format!("{}{}{}", w[0].text, w[1].joiner, w[1].text));
                    let slack = max / 10 + 2;
                    assert!(
                        both + slack > max,
                        "{id} max={max}: neighbours {} + {} = {both} fit in one",
                        w[0].tokens,
                        w[1].tokens
                    );
                    let r = both as f64 / max as f64;
                    if r < min_pair.0 {
                        min_pair = (r, format!("{id} max={max} both={both}"));
                    }
                }
                if chunks.len() > 1 {
                    multi += 1;
                    *per_limit.entry(max).or_insert((0, 0, 0)) = {
                        let e = per_limit.get(&max).copied().unwrap_or((0, 0, 0));
                        let mn = chunks.iter().map(|c| c.tokens).min().unwrap() as f64;
                        let mx = chunks.iter().map(|c| c.tokens).max().unwrap() as f64;
                        (e.0 + 1, e.1 + usize::from(mn / mx < 0.3), e.2 + usize::from(mn / mx < 0.5))
                    };
                    let mn = chunks.iter().map(|c| c.tokens).min().unwrap() as f64;
                    let mx = chunks.iter().map(|c| c.tokens).max().unwrap() as f64;
                    let ratio = mn / mx;
                    if ratio < 0.5 {
                        below_half += 1;
                    }
                    if ratio < worst.0 {
                        worst = (
                            ratio,
                            format!(
                                "{id} max={max} sizes={:?}",
                                chunks.iter().map(|c| c.tokens).collect::<Vec<_>>()
                            ),
                        );
                    }
                }
            }
        }
        eprintln!("multi-chunk splits: {multi}, ratio<0.5: {below_half}, worst: {worst:?}");
        eprintln!("tightest neighbour pair (joined tokens / max): {min_pair:?}");
        eprintln!("per limit (splits, ratio<0.3, ratio<0.5): {per_limit:?}");
        // Balance (min/max chunk tokens). With sentence-sized units a short paragraph between
        // two near-limit sentences is unavoidable at small limits (e.g. [16, 89, 60, 80, 86] at
        // 100, where 16 + the next 89-token sentence > 100), so: at realistic limits always
        // >= 0.3, and overall rarely below it. Measured: 5 of 695 splits below 0.3, all at 30/100.
        for (&max, &(splits, below_03, _)) in &per_limit {
            if max >= 400 {
                assert_eq!(below_03, 0, "max={max}");
            }
            assert!(below_03 * 20 <= splits, "max={max}: {below_03} of {splits} below 0.3");
        }
    }

    #[test]
    fn empty_and_fitting() {
        let c = o200k();
        assert!(split("", 10, c).is_empty());
        assert!(split("  \n\n ", 10, c).is_empty());
        let one = split("\n 오늘은 맑다. 내일은 비가 온다.\n", 100, c);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].text, "오늘은 맑다. 내일은 비가 온다.");
        assert_eq!(one[0].joiner, "");
    }

    #[test]
    fn odd_inputs_do_not_panic() {
        let c = o200k();
        for text in
            ["가.\r\n나.\r\n\r\n다.", "...!!!???", "한국어😀이모지😀문장😀입니다.", "a\u{3000}b\u{a0}c. 끝."]
        {
            for max in [0usize, 1, 2, 3, 5, 50] {
                let chunks = split(text, max, c);
                locate(text, &chunks);
                if max >= 4 {
                    assert!(chunks.iter().all(|ch| ch.tokens <= max), "{text:?} {max}");
                }
            }
        }
        let crlf = split("가.\r\n나.", 1, c);
        assert!(crlf.iter().all(|ch| !ch.text.ends_with('\r')));
    }

    #[test]
    fn balanced_not_greedy() {
        // Ten equal paragraphs that need 2 chunks: greedy would give 9+1 at a limit of 9
        // paragraphs; we expect 5+5.
        let para = "정부는 오늘 새로운 경제 정책을 발표했다.";
        let t = o200k().count(para) + 1;
        let text = [para; 10].join("\n");
        let chunks = split(&text, 9 * t, o200k());
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].text.lines().count(), 5);
        assert_eq!(chunks[1].joiner, "\n");
        locate(&text, &chunks);
    }

    #[test]
    fn prefers_paragraph_cut() {
        let a = "첫째 문단의 첫 문장이다. 첫째 문단의 둘째 문장이다.";
        let b = "둘째 문단의 첫 문장이다. 둘째 문단의 둘째 문장이다. 셋째 문장이다.";
        let text = format!("{a}\n\n{b}");
        let chunks = split(&text, o200k().count(b) + 2, o200k());
        assert_eq!(chunks.len(), 2);
        assert_eq!(chunks[0].text, a);
        assert_eq!(chunks[1].text, b);
        assert_eq!(chunks[1].joiner, "\n");
    }

    #[test]
    fn long_sentence_and_long_word() {
        let c = o200k();
        let sentence = "그는 이날 기자회견에서, 지난해 발생한 사고의 원인과 책임 소재, 그리고 재발 방지 대책에 대해 상세히 설명하며 유가족에게 거듭 사과했다.";
        let chunks = split(sentence, 12, c);
        assert!(chunks.len() > 1);
        assert!(chunks.iter().all(|ch| ch.tokens <= 12));
        assert!(chunks.iter().skip(1).all(|ch| ch.joiner == " "));
        locate(sentence, &chunks);
        let word = "https://example.com/".to_string() + &"abcdefghij".repeat(30);
        let text = format!("주소는 {word} 이다.");
        let chunks = split(&text, 10, c);
        assert!(chunks.iter().all(|ch| ch.tokens <= 10));
        assert!(chunks.iter().any(|ch| ch.joiner.is_empty() && !std::ptr::eq(ch, &chunks[0])));
        locate(&text, &chunks);
    }

    #[test]
    fn sentences_korean_endings_quotes_brackets() {
        let p = "그는 \"괜찮다.\" 라고 했다. 정말 그럴까? 그렇죠. 그녀는 '좋아요.' 그리고 웃었다.” 끝이다.) 다음 문장!";
        assert_eq!(
            sentences(p),
            vec![
                "그는 \"괜찮다.\"",
                "라고 했다.",
                "정말 그럴까?",
                "그렇죠.",
                "그녀는 '좋아요.'",
                "그리고 웃었다.”",
                "끝이다.)",
                "다음 문장!"
            ]
        );
        assert_eq!(sentences("“가자.” 그가 말했다."), vec!["“가자.”", "그가 말했다."]);
        assert_eq!(sentences("놀랍다?! 정말이다…"), vec!["놀랍다?!", "정말이다…"]);
        assert_eq!(
            sentences("발표했다.[1] 이어서 말했다.[2][3]"),
            vec!["발표했다.[1]", "이어서 말했다.[2][3]"]
        );
        assert_eq!(sentences("끝났다。 다음이다。"), vec!["끝났다。", "다음이다。"]);
    }

    #[test]
    fn sentences_numbers_abbreviations_urls() {
        assert_eq!(
            sentences("성장률은 3.5%로 1.2배 늘었다. 좋다."),
            vec!["성장률은 3.5%로 1.2배 늘었다.", "좋다."]
        );
        assert_eq!(
            sentences("U.S. 정부는 No. 1 기업을 지원한다. Mr. Kim이 말했다."),
            vec!["U.S. 정부는 No. 1 기업을 지원한다.", "Mr. Kim이 말했다."]
        );
        assert_eq!(sentences("J. K. Rowling이 왔다."), vec!["J. K. Rowling이 왔다."]);
        assert_eq!(sentences("2023. 1. 5. 발표했다."), vec!["2023. 1. 5. 발표했다."]);
        assert_eq!(sentences("그는 1. 그녀는 2. 끝."), vec!["그는 1.", "그녀는 2.", "끝."]);
        assert_eq!(
            sentences("문의는 kim.minsu@news.co.kr 또는 https://www.example.co.kr/a.html 로. 감사하다."),
            vec!["문의는 kim.minsu@news.co.kr 또는 https://www.example.co.kr/a.html 로.", "감사하다."]
        );
        assert_eq!(sentences("it's approx. five. Next one."), vec!["it's approx. five.", "Next one."]);
    }

    #[test]
    fn sentences_ellipsis_inside_quotes_and_no_final_punct() {
        assert_eq!(
            sentences("그는 \"글쎄… 잘 모르겠다. 생각해 보자\"고 말했다. 끝."),
            vec!["그는 \"글쎄… 잘 모르겠다. 생각해 보자\"고 말했다.", "끝."]
        );
        assert_eq!(sentences("그는 “글쎄... 모르겠다”고 했다"), vec!["그는 “글쎄... 모르겠다”고 했다"]);
        // Unclosed quote does not glue the rest together.
        assert_eq!(sentences("그는 \"시작했다. 끝났다."), vec!["그는 \"시작했다.", "끝났다."]);
        assert_eq!(sentences("  제목 없는 줄  "), vec!["제목 없는 줄"]);
        assert!(sentences("   ").is_empty());
        // No text lost: slices plus whitespace give back the paragraph.
        let p = " 가. 나?  다!\t라 ";
        let ss = sentences(p);
        let mut rebuilt = String::new();
        let mut pos = 0;
        for s in ss {
            let off = s.as_ptr() as usize - p.as_ptr() as usize;
            assert!(p[pos..off].trim().is_empty());
            rebuilt.push_str(&p[pos..off]);
            rebuilt.push_str(s);
            pos = off + s.len();
        }
        rebuilt.push_str(&p[pos..]);
        assert_eq!(rebuilt, p);
    }

    #[test]
    fn tail() {
        let t = "하나다. 둘이다.\n셋이다. 넷이다.\n";
        assert_eq!(tail_sentences(t, 0), "");
        assert_eq!(tail_sentences(t, 1), "넷이다.");
        assert_eq!(tail_sentences(t, 2), "셋이다. 넷이다.");
        assert_eq!(tail_sentences(t, 3), "둘이다.\n셋이다. 넷이다.");
        assert_eq!(tail_sentences(t, 9), "하나다. 둘이다.\n셋이다. 넷이다.");
        assert_eq!(tail_sentences("\n\n", 2), "");
    }

    #[test]
    fn encodings() {
        use Encoding::*;
        for (m, e) in [
            ("gpt-4o", O200kBase),
            ("gpt-4o-mini", O200kBase),
            ("gpt-4.1-nano", O200kBase),
            ("gpt-5", O200kBase),
            ("o1-preview", O200kBase),
            ("o3-mini", O200kBase),
            ("o4-mini", O200kBase),
            ("openai/gpt-4o", O200kBase),
            ("GPT-4-turbo", Cl100kBase),
            ("gpt-4", Cl100kBase),
            ("gpt-3.5-turbo", Cl100kBase),
            ("llama3.1:8b", O200kBase),
            ("qwen2.5", O200kBase),
            ("solar-pro", O200kBase),
            ("", O200kBase),
        ] {
            assert_eq!(Encoding::for_model(m), e, "{m}");
        }
        assert_eq!(Encoding::default(), O200kBase);
        for e in [O200kBase, Cl100kBase] {
            assert_eq!(Encoding::parse(e.name()), Some(e));
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(json, format!("\"{}\"", e.name()));
            assert_eq!(serde_json::from_str::<Encoding>(&json).unwrap(), e);
        }
        assert_eq!(Encoding::parse("CL100K"), Some(Cl100kBase));
        assert_eq!(Encoding::parse("p50k_base"), None);
        assert_eq!(TokenCounter::new(Cl100kBase).encoding(), Cl100kBase);
    }

    #[test]
    fn o200k_cheaper_than_cl100k_for_korean() {
        let text = match corpus() {
            Some(a) => a.into_iter().map(|(_, t)| t).collect::<Vec<_>>().join("\n"),
            None => {
                "정부는 오늘 새로운 경제 정책을 발표했다. 전문가들은 효과가 클 것으로 내다봤다.".repeat(20)
            }
        };
        let o = TokenCounter::new(Encoding::O200kBase).count(&text);
        let cl = TokenCounter::new(Encoding::Cl100kBase).count(&text);
        let chars = text.chars().count() as f64;
        eprintln!("o200k {:.3} tok/char, cl100k {:.3} tok/char", o as f64 / chars, cl as f64 / chars);
        assert!((o as f64) < 0.8 * cl as f64, "o200k {o} vs cl100k {cl}");
    }

    #[test]
    fn cl100k_split_respects_limit() {
        let Some(articles) = corpus() else { return };
        let c = TokenCounter::new(Encoding::Cl100kBase);
        for (id, text) in articles.iter().take(40) {
            let chunks = split(text, 300, c);
            locate(text, &chunks);
            assert!(chunks.iter().all(|ch| ch.tokens <= 300), "{id}");
        }
    }
}
