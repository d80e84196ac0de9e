//! Hangul left in English: which Korean in an English answer is an allowed original form (a
//! quoted or parenthesised name) and which is untranslated text.

use crate::glossary::is_hangul;

/// The share of an article's letters that are Korean, weighting a Latin letter a quarter (a
/// syllable block carries a few letters' worth), so that Korean news full of English names and
/// terms still counts as Korean while English, Japanese or Chinese text does not. Reads at most
/// the first 4,096 characters of each part: enough to judge, and the same cost for any length.
pub(crate) fn korean_share(parts: &[&str]) -> f64 {
    let (mut korean, mut other) = (0.0, 0.0);
    for c in parts.iter().flat_map(|part| part.chars().take(4_096)) {
        // Hangul first: a range test, where `is_alphabetic` walks a Unicode table.
        if is_hangul(c) {
            korean += 1.0;
        } else if c.is_ascii() {
            if c.is_ascii_alphabetic() {
                other += 0.25;
            }
        } else if c.is_alphabetic() {
            other += 1.0;
        }
    }
    if korean + other == 0.0 { 0.0 } else { korean / (korean + other) }
}

/// Maximum length (chars) of a quoted / parenthesised Korean original that is accepted as a
/// name rather than untranslated text.
const MAX_QUOTED_ORIGINAL: usize = 40;

fn is_latin_alnum(c: char) -> bool {
    c.is_ascii_alphanumeric() || (c.is_alphabetic() && (c as u32) < 0x250)
}

/// Hangul in `english` that is not an allowed original form. Allowed: short Hangul inside
/// quotes (`"알리인"`, `“…”`, `‘…’`, `「…」`, `『…』`, `《…》`); short Hangul in parentheses right
/// after a romanized form (`Park Jung-ho (박정호)`); a short Hangul name right before a
/// parenthesised romanization (`박정호 (Park Jung-ho)`). Returns an excerpt (~30 chars around)
/// per offending run.
pub fn hangul_outside_quotes(english: &str) -> Vec<String> {
    let c: Vec<char> = english.chars().collect();
    let n = c.len();
    let mut allowed = vec![false; n];
    let has_h = |a: usize, b: usize| c[a..b].iter().any(|&x| is_hangul(x));
    // Quotes.
    let pairs = [('"', '"'), ('“', '”'), ('‘', '’'), ('「', '」'), ('『', '』'), ('《', '》'), ('〈', '〉')];
    let mut i = 0;
    while i < n {
        if let Some(&(_, close)) = pairs.iter().find(|p| p.0 == c[i])
            && let Some(off) = c[i + 1..].iter().position(|&x| x == close)
        {
            let j = i + 1 + off;
            if has_h(i + 1, j) && j - i - 1 <= MAX_QUOTED_ORIGINAL {
                allowed[i..=j].iter_mut().for_each(|a| *a = true);
            }
            i = j + 1;
            continue;
        }
        // Straight single quotes, not apostrophes: 'x…x' bounded by non-letters.
        if c[i] == '\''
            && (i == 0 || !c[i - 1].is_alphanumeric())
            && let Some(off) = (i + 1..n)
                .position(|k| c[k] == '\'' && (k + 1 == n || !c[k + 1].is_alphanumeric()) && k > i + 1)
        {
            let j = i + 1 + off;
            if has_h(i + 1, j) && j - i - 1 <= MAX_QUOTED_ORIGINAL {
                allowed[i..=j].iter_mut().for_each(|a| *a = true);
            }
            i = j + 1;
            continue;
        }
        i += 1;
    }
    // Parentheses after a romanized form.
    for i in 0..n {
        if c[i] != '(' && c[i] != '（' {
            continue;
        }
        let Some(off) = c[i + 1..].iter().position(|&x| x == ')' || x == '）') else {
            continue;
        };
        let j = i + 1 + off;
        if !has_h(i + 1, j) || j - i - 1 > MAX_QUOTED_ORIGINAL {
            continue;
        }
        let prev = c[..i].iter().rev().find(|x| !x.is_whitespace());
        if prev.is_some_and(|&p| is_latin_alnum(p) || "\"'”’.)".contains(p)) {
            allowed[i..=j].iter_mut().for_each(|a| *a = true);
        }
    }
    // Runs of Hangul (allowing inner spaces).
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if !is_hangul(c[i]) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i + 1;
        let mut k = end;
        while k < n {
            if is_hangul(c[k]) {
                end = k + 1;
                k += 1;
            } else if c[k].is_whitespace() && k + 1 < n {
                k += 1;
            } else {
                break;
            }
        }
        i = end;
        if (start..end).all(|k| allowed[k] || !is_hangul(c[k])) {
            continue;
        }
        // Korean name followed by a parenthesised romanization: `박정호 (Park Jung-ho)`.
        let mut k = end;
        while k < n && c[k] == ' ' {
            k += 1;
        }
        if end - start <= 20 && k + 1 < n && (c[k] == '(' || c[k] == '（') && c[k + 1].is_ascii_alphabetic()
        {
            continue;
        }
        let a = start.saturating_sub(15);
        let b = (end + 15).min(n);
        out.push(c[a..b].iter().collect::<String>().trim().to_string());
    }
    out
}
