//! Korean (and mixed) sentence segmentation: where a sentence ends, and the last few
//! sentences of a text for the context of the next chunk.

use std::ops::Range;

/// Korean (and mixed) sentence segmentation. A sentence ends after ".", "?", "!", "…", "。"
/// (and full-width "？", "！"), runs of them ("?!", "..."), any closing quotes/brackets right
/// after them and Wikipedia-style citation markers like "[1]", when followed by whitespace or
/// the end. No split inside numbers (3.5%), after abbreviations (U.S., No. 1, Mr.), before a
/// lowercase Latin word, in "2023. 1. 5."-style dates, inside quotes/brackets that close
/// within the paragraph, or inside e-mails/URLs (no whitespace follows their dots). Returns
/// trimmed slices of the input; the input is those slices plus the whitespace between them.
#[cfg(test)]
pub(crate) fn sentences(paragraph: &str) -> Vec<&str> {
    sentence_ranges(paragraph).into_iter().map(|r| &paragraph[r]).collect()
}

/// The last `n` sentences of `text` (all lines), as one slice of `text` without trailing
/// whitespace; the whole trimmed text if it has fewer, "" for n == 0.
pub(crate) fn tail_sentences(text: &str, n: usize) -> &str {
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

pub(super) fn sentence_ranges(p: &str) -> Vec<Range<usize>> {
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
