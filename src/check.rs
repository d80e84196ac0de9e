//! Checks applied to every LLM answer before ko2en accepts it.
//!
//! This module owns the rules for what a translation or summary must not get wrong:
//! numbers (every figure in a Korean source must survive translation; a summary must not
//! change or invent figures), glossary names, leftover Hangul in English fields, and
//! suspiciously short answers. Figures are compared by normalised value, so Korean forms
//! ("1,350억 원", "26세", "3.5퍼센트") match English ones ("135 billion won", "26-year-old",
//! "3.5 percent"). All parsing is panic-free on arbitrary input and works on NFKC text
//! (full-width digits and symbols fold to ASCII).

use unicode_normalization::UnicodeNormalization;

use crate::glossary::{Term, is_hangul};

/// A problem found in an LLM answer.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Finding {
    /// An English field still has Hangul outside a quoted original name.
    HangulInEnglish { field: String, excerpt: String },
    /// A figure in the Korean source is not recognisable in the English.
    MissingNumber { figure: String },
    /// A figure appears in the English that the Korean source does not support.
    UnsupportedNumber { figure: String },
    /// A glossary term occurs in the source but its English rendering is absent from the output.
    MissingTerm { ko: String, en: String },
    /// Answer empty or suspiciously short for its input.
    TooShort { field: String, chars: usize, expected_at_least: usize },
}

impl Finding {
    /// One readable sentence naming the figure/term/field.
    pub fn message(&self) -> String {
        match self {
            Finding::HangulInEnglish { field, excerpt } => {
                format!("The English {field} still contains untranslated Korean: \"{excerpt}\".")
            }
            Finding::MissingNumber { figure } => {
                format!("The figure \"{figure}\" from the Korean source does not appear in the English.")
            }
            Finding::UnsupportedNumber { figure } => format!(
                "The figure \"{figure}\" in the English is not supported by any figure in the Korean source."
            ),
            Finding::MissingTerm { ko, en } => {
                format!("The glossary term \"{ko}\" should be rendered as \"{en}\", but \"{en}\" is absent.")
            }
            Finding::TooShort { field, chars, expected_at_least } => format!(
                "The {field} is suspiciously short: {chars} characters, expected at least {expected_at_least}."
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Hangul leftovers

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

// ---------------------------------------------------------------------------------------------
// Figures

/// A numeric quantity parsed from text, normalised so Korean and English forms compare.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Figure {
    /// The figure as written (after NFKC normalisation, e.g. full-width digits become ASCII).
    pub text: String,
    pub value: f64,
    pub kind: FigureKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FigureKind {
    Plain,
    Percent,
    Year,
    Money,
}

/// Internal figure with matching metadata.
#[derive(Debug, Clone)]
struct Fig {
    fig: Figure,
    /// Only a matching aid (month names, "decade", time components): never reported itself.
    alt: bool,
    /// A bare number word one..ten: ignored in the summary direction.
    small_word: bool,
}

fn same_value(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= 1e-9 * a.abs().max(b.abs())
}

fn nfkc_chars(s: &str) -> Vec<char> {
    s.nfkc().collect()
}

/// Scan an Arabic number at `i`: digits, optional `,ddd` groups, optional `.d+` fraction.
/// Returns (value, end, has_fraction, had_commas).
fn scan_number(c: &[char], i: usize) -> Option<(f64, usize, bool, bool)> {
    if i >= c.len() || !c[i].is_ascii_digit() {
        return None;
    }
    let mut s = String::new();
    let mut j = i;
    while j < c.len() && c[j].is_ascii_digit() {
        s.push(c[j]);
        j += 1;
    }
    let mut commas = false;
    while j + 3 < c.len()
        && c[j] == ','
        && c[j + 1..j + 4].iter().all(|d| d.is_ascii_digit())
        && !(j + 4 < c.len() && c[j + 4].is_ascii_digit())
    {
        s.extend(&c[j + 1..j + 4]);
        j += 4;
        commas = true;
    }
    let mut frac = false;
    if j + 1 < c.len() && c[j] == '.' && c[j + 1].is_ascii_digit() {
        s.push('.');
        j += 1;
        while j < c.len() && c[j].is_ascii_digit() {
            s.push(c[j]);
            j += 1;
        }
        frac = true;
    }
    s.parse::<f64>().ok().map(|v| (v, j, frac, commas))
}

fn starts_with_at(c: &[char], i: usize, w: &str) -> bool {
    w.chars().enumerate().all(|(o, ch)| c.get(i + o) == Some(&ch))
}

fn small_unit_ko(ch: char) -> Option<f64> {
    match ch {
        '천' => Some(1e3),
        '백' => Some(1e2),
        _ => None,
    }
}

fn big_unit_ko(ch: char) -> Option<f64> {
    match ch {
        '만' => Some(1e4),
        '억' => Some(1e8),
        '조' => Some(1e12),
        _ => None,
    }
}

/// Parse one Korean group at `i`: one or more parts "N[천|백]" with decreasing small units
/// ("4천 2백", "3천 500"), then an optional big unit 만/억/조 (a single space is allowed before
/// units, as in "22 억 5 천만"). Returns (value, end, big multiplier, has fraction, had small unit).
fn ko_group(c: &[char], i: usize) -> Option<(f64, usize, Option<f64>, bool, bool)> {
    let sp = |k: usize| if c.get(k) == Some(&' ') { k + 1 } else { k };
    let (mut v, mut j, frac, _) = scan_number(c, i)?;
    let mut had_small = false;
    if let Some(m) = c.get(sp(j)).and_then(|&x| small_unit_ko(x)) {
        v *= m;
        j = sp(j) + 1;
        had_small = true;
        let mut last_small = m;
        // Further parts, each smaller than the previous small unit.
        loop {
            let k = sp(j);
            let Some((v2, e2, false, _)) = scan_number(c, k) else {
                break;
            };
            let (m2, e2b) = match c.get(sp(e2)).and_then(|&x| small_unit_ko(x)) {
                Some(m2) => (m2, sp(e2) + 1),
                None => (1.0, e2),
            };
            if m2 >= last_small || v2 * m2 >= last_small {
                break;
            }
            v += v2 * m2;
            j = e2b;
            last_small = m2;
            if m2 == 1.0 {
                break;
            }
        }
    }
    let mut big = None;
    if let Some(m) = c.get(sp(j)).and_then(|&x| big_unit_ko(x)) {
        v *= m;
        j = sp(j) + 1;
        big = Some(m);
    } else if let Some((m, len)) = latin_scale_after(c, j, i > 0 && "$€£₩¥".contains(c[i - 1])) {
        v *= m;
        j += len;
        big = Some(m);
    }
    Some((v, j, big, frac, had_small))
}

/// English scale abbreviations inside Korean text: "$36bn", "€3.1billion", "$5m".
fn latin_scale_after(c: &[char], j: usize, money: bool) -> Option<(f64, usize)> {
    let mut k = j;
    while k < c.len() && c[k].is_ascii_alphabetic() {
        k += 1;
    }
    if k == j {
        return None;
    }
    let w: String = c[j..k].iter().collect::<String>().to_ascii_lowercase();
    scale_value(&w, money).filter(|m| *m >= 1e3).map(|m| (m, k - j))
}

const KO_CURRENCIES: [&str; 8] = ["원", "달러", "파운드", "유로", "엔", "위안", "페소", "루블"];
const KO_MERGE_COUNTERS: [&str; 12] =
    ["원", "달러", "파운드", "유로", "명", "개", "마리", "건", "곳", "톤", "대", "가구"];

fn korean_figs(text: &str) -> Vec<Fig> {
    let c = nfkc_chars(text);
    let n = c.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        if !c[i].is_ascii_digit() {
            i += 1;
            continue;
        }
        let start = i;
        let Some((v0, mut j, big0, _, _)) = ko_group(&c, i) else {
            i += 1;
            continue;
        };
        let mut total = v0;
        let mut any_big = big0.is_some();
        if let Some(mut last) = big0 {
            // Compound "1조 2,000억", "1억 2500만", "3만 5000명".
            loop {
                let mut k = j;
                if k < n && c[k] == ' ' {
                    k += 1;
                }
                let Some((v, e, big, frac, small)) = ko_group(&c, k) else {
                    break;
                };
                match big {
                    Some(m) if m < last => {
                        total += v;
                        last = m;
                        j = e;
                    }
                    None if !frac && v < last => {
                        let mut q = e;
                        if q < n && c[q] == ' ' {
                            q += 1;
                        }
                        if small || KO_MERGE_COUNTERS.iter().any(|w| starts_with_at(&c, q, w)) {
                            total += v;
                            j = e;
                        }
                        break;
                    }
                    _ => break,
                }
            }
        } else if j + 1 < n && matches!(c[j], '~' | '〜' | '∼') && c[j + 1].is_ascii_digit() {
            // Range "2~3만 명": the first bound takes the unit of the second.
            if let Some((_, _, Some(m), _, _)) = ko_group(&c, j + 1) {
                total *= m;
                any_big = true;
            }
        }
        let mut text_end = j;
        let mut kind = FigureKind::Plain;
        let mut k = j;
        if k < n && c[k] == ' ' {
            k += 1;
        }
        if k < n && c[k] == '%' {
            kind = FigureKind::Percent;
            text_end = k + 1;
        } else if starts_with_at(&c, k, "퍼센트") || starts_with_at(&c, k, "프로") {
            kind = FigureKind::Percent;
        } else if !any_big && j - start == 4 && c.get(j) == Some(&'년') && (1000.0..3000.0).contains(&total)
        {
            kind = FigureKind::Year;
            text_end = j + 1;
        } else if let Some(w) = KO_CURRENCIES.iter().find(|w| starts_with_at(&c, k, w)) {
            kind = FigureKind::Money;
            text_end = k + w.chars().count();
        } else if (start > 0 && matches!(c[start - 1], '$' | '₩' | '£' | '€' | '¥'))
            || (k < n && matches!(c[k], '$' | '₩' | '£' | '€' | '¥'))
        {
            kind = FigureKind::Money;
        }
        let tstart = if kind == FigureKind::Money && start > 0 && "$₩£€¥".contains(c[start - 1]) {
            start - 1
        } else {
            start
        };
        out.push(Fig {
            fig: Figure { text: c[tstart..text_end].iter().collect(), value: total, kind },
            alt: false,
            small_word: false,
        });
        // "오후 7시" also matches English "19:00".
        if c.get(j) == Some(&'시')
            && (1.0..12.0).contains(&total)
            && start >= 3
            && c[start - 3..start] == ['오', '후', ' ']
        {
            out.push(Fig {
                fig: Figure {
                    text: c[start..j].iter().collect(),
                    value: total + 12.0,
                    kind: FigureKind::Plain,
                },
                alt: true,
                small_word: false,
            });
        }
        i = j.max(start + 1);
    }
    out
}

/// Korean figures: Arabic numerals (commas, decimals, full-width digits) with large-unit
/// suffixes 만/억/조 (and 천/백 inside a group), compounds ("1조 2,000억"), ranges ("2~3년" gives
/// 2 and 3, "2~3만" gives 20,000 and 30,000), years ("2023년"), percentages ("3.5%",
/// "3.5퍼센트") and money ("1억 달러", "1,350억 원"). Counters (세, 개, 일, 위, 회, 배…) need no
/// special handling: their number is a plain figure. Sino-Korean numeral words are not parsed.
pub fn korean_figures(text: &str) -> Vec<Figure> {
    korean_figs(text).into_iter().filter(|f| !f.alt).map(|f| f.fig).collect()
}

#[derive(Debug, Clone)]
enum Tok {
    Num { v: f64, s: usize, e: usize, frac: bool, commas: bool },
    Word { w: String, s: usize, e: usize },
    Sym { ch: char, s: usize },
}

impl Tok {
    fn start(&self) -> usize {
        match self {
            Tok::Num { s, .. } | Tok::Word { s, .. } | Tok::Sym { s, .. } => *s,
        }
    }
    fn end(&self) -> usize {
        match self {
            Tok::Num { e, .. } | Tok::Word { e, .. } => *e,
            Tok::Sym { s, .. } => s + 1,
        }
    }
    fn word(&self) -> Option<&str> {
        match self {
            Tok::Word { w, .. } => Some(w),
            _ => None,
        }
    }
}

fn tokenize_en(c: &[char]) -> Vec<Tok> {
    let mut toks = Vec::new();
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        if ch.is_ascii_digit()
            && let Some((v, e, frac, commas)) = scan_number(c, i)
        {
            toks.push(Tok::Num { v, s: i, e, frac, commas });
            i = e;
            continue;
        }
        if ch.is_alphabetic() {
            let s = i;
            while i < c.len() && c[i].is_alphabetic() && !c[i].is_ascii_digit() {
                i += 1;
            }
            toks.push(Tok::Word { w: c[s..i].iter().collect::<String>().to_lowercase(), s, e: i });
            continue;
        }
        if "$£€₩¥%".contains(ch) {
            toks.push(Tok::Sym { ch, s: i });
        }
        i += 1;
    }
    toks
}

fn word_value(w: &str) -> Option<f64> {
    const UNITS: [&str; 20] = [
        "zero",
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
        "eight",
        "nine",
        "ten",
        "eleven",
        "twelve",
        "thirteen",
        "fourteen",
        "fifteen",
        "sixteen",
        "seventeen",
        "eighteen",
        "nineteen",
    ];
    const TENS: [&str; 8] = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"];
    const ORD: [&str; 12] = [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth",
        "eleventh", "twelfth",
    ];
    if let Some(p) = UNITS.iter().position(|u| *u == w) {
        return (p > 0).then_some(p as f64);
    }
    if let Some(p) = TENS.iter().position(|u| *u == w) {
        return Some(20.0 + 10.0 * p as f64);
    }
    if let Some(p) = ORD.iter().position(|u| *u == w) {
        return Some(p as f64 + 1.0);
    }
    if w == "dozen" {
        return Some(12.0);
    }
    None
}

fn scale_value(w: &str, money: bool) -> Option<f64> {
    match w {
        "hundred" => Some(1e2),
        "thousand" => Some(1e3),
        "million" | "mn" | "mln" => Some(1e6),
        "billion" | "bn" | "bln" => Some(1e9),
        "trillion" | "tn" | "trn" => Some(1e12),
        "m" if money => Some(1e6),
        "b" if money => Some(1e9),
        "k" if money => Some(1e3),
        _ => None,
    }
}

/// Month names (case-sensitive, capitalised) and their usual abbreviations ("Sept.", "Jan").
fn month_value(orig: &str) -> Option<f64> {
    const M: [(&str, &str); 12] = [
        ("January", "Jan"),
        ("February", "Feb"),
        ("March", "Mar"),
        ("April", "Apr"),
        ("May", "May"),
        ("June", "Jun"),
        ("July", "Jul"),
        ("August", "Aug"),
        ("September", "Sep"),
        ("October", "Oct"),
        ("November", "Nov"),
        ("December", "Dec"),
    ];
    M.iter()
        .position(|(full, abbr)| orig == *full || orig == *abbr || (orig == "Sept" && *abbr == "Sep"))
        .map(|p| p as f64 + 1.0)
}

const EN_CURRENCIES: [&str; 12] =
    ["won", "dollar", "dollars", "pound", "pounds", "euro", "euros", "yen", "yuan", "usd", "krw", "gbp"];

fn english_figs(text: &str) -> Vec<Fig> {
    let c = nfkc_chars(text);
    let toks = tokenize_en(&c);
    let mut out = Vec::new();
    let gap_ok = |a: &Tok, b: &Tok| -> bool {
        // Tokens separated only by spaces / a hyphen.
        let (e, s) = (a.end(), b.start());
        s >= e && s - e <= 2 && c[e..s].iter().all(|&x| x == ' ' || x == '-' || x == '\u{a0}')
    };
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        // Money prefix symbol directly before (optionally a space).
        let cur_sym = i > 0
            && matches!(toks[i - 1], Tok::Sym { ch, .. } if "$£€₩¥".contains(ch))
            && gap_ok(&toks[i - 1], t);
        let (mut value, mut j, from_words) = match t {
            Tok::Num { v, frac, e, s, .. } => {
                // Time "7.55am" / "4.40 am": hour and minute.
                if *frac
                    && e - s >= 4
                    && c[e - 3] == '.'
                    && let Some(Tok::Word { w, .. }) = toks.get(i + 1)
                    && (w == "am" || w == "pm" || w == "a" || w == "p")
                    && gap_ok(t, &toks[i + 1])
                {
                    let h = v.trunc();
                    let m = ((v - h) * 100.0).round();
                    for (val, txt) in
                        [(h, c[*s..e - 3].iter().collect::<String>()), (m, c[e - 2..*e].iter().collect())]
                    {
                        out.push(Fig {
                            fig: Figure { text: txt, value: val, kind: FigureKind::Plain },
                            alt: false,
                            small_word: false,
                        });
                    }
                    i += 2;
                    continue;
                }
                // 24-hour "19:30" also matches Korean "오후 7시"; "7 p.m." matches "19시".
                let next_w = toks.get(i + 1).filter(|n| gap_ok(t, n)).and_then(|n| n.word());
                let colon = c.get(*e) == Some(&':');
                let alt_hour = if colon && (13.0..24.0).contains(v) {
                    Some(v - 12.0)
                } else if !frac && (1.0..12.0).contains(v) && matches!(next_w, Some("pm" | "p")) {
                    Some(v + 12.0)
                } else {
                    None
                };
                if let Some(h) = alt_hour {
                    out.push(Fig {
                        fig: Figure { text: c[*s..*e].iter().collect(), value: h, kind: FigureKind::Plain },
                        alt: true,
                        small_word: false,
                    });
                }
                (*v, i + 1, false)
            }
            Tok::Word { w, s, e } => {
                let orig: String = c[*s..*e].iter().collect();
                if let Some(m) = month_value(&orig) {
                    out.push(Fig {
                        fig: Figure { text: orig, value: m, kind: FigureKind::Plain },
                        alt: true,
                        small_word: false,
                    });
                    i += 1;
                    continue;
                }
                let next_w = toks.get(i + 1).filter(|n| gap_ok(t, n)).and_then(|n| n.word());
                let alt = match w.as_str() {
                    // "a year", "an hour": Korean writes 1년, 1시간.
                    "a" | "an" | "single"
                        if next_w.is_some_and(|n| {
                            matches!(
                                n,
                                "year"
                                    | "month"
                                    | "week"
                                    | "day"
                                    | "hour"
                                    | "minute"
                                    | "night"
                                    | "decade"
                                    | "century"
                                    | "game"
                                    | "point"
                                    | "goal"
                            )
                        }) =>
                    {
                        Some(1.0)
                    }
                    "decade" | "decades" => Some(10.0),
                    "duo" | "pair" | "couple" | "both" => Some(2.0),
                    "trio" => Some(3.0),
                    // Korean "10대" (teens).
                    x if x.starts_with("teen") => Some(10.0),
                    "half" => Some(0.5),
                    "twice" | "double" | "doubled" => Some(2.0),
                    "century" => Some(100.0),
                    _ => None,
                };
                if let Some(a) = alt {
                    out.push(Fig {
                        fig: Figure { text: orig, value: a, kind: FigureKind::Plain },
                        alt: true,
                        small_word: false,
                    });
                    i += 1;
                    continue;
                }
                let next_scale = toks
                    .get(i + 1)
                    .filter(|n| gap_ok(t, n))
                    .and_then(|n| n.word())
                    .and_then(|w| scale_value(w, false).or((w == "dozen").then_some(12.0)));
                if (w == "a" || w == "an") && next_scale.is_some() {
                    (1.0, i + 1, true)
                } else if let Some(mut v) = word_value(w) {
                    let mut j = i + 1;
                    // "twenty-five"
                    if (20.0..100.0).contains(&v)
                        && v % 10.0 == 0.0
                        && let Some(u) = toks
                            .get(j)
                            .filter(|n| gap_ok(&toks[j - 1], n))
                            .and_then(|n| n.word())
                            .and_then(word_value)
                            .filter(|u| *u < 10.0)
                    {
                        v += u;
                        j += 1;
                    }
                    (v, j, true)
                } else {
                    i += 1;
                    continue;
                }
            }
            Tok::Sym { .. } => {
                i += 1;
                continue;
            }
        };
        let start = if cur_sym { toks[i - 1].start() } else { t.start() };
        let mut money = cur_sym;
        let mut scaled = false;
        // Scale words: "100 million", "£2.8bn", "a dozen", "two hundred thousand".
        while let Some(nt) = toks.get(j).filter(|n| gap_ok(&toks[j - 1], n)) {
            let Some(w) = nt.word() else { break };
            let m = scale_value(w, money).or((w == "dozen").then_some(12.0));
            let Some(m) = m else { break };
            value *= m;
            scaled = true;
            j += 1;
        }
        let mut end = toks[j - 1].end();
        let mut kind = FigureKind::Plain;
        if let Some(nt) = toks.get(j) {
            let close = nt.start() >= end && nt.start() - end <= 1;
            match nt {
                Tok::Sym { ch: '%', .. } if close => {
                    kind = FigureKind::Percent;
                    end = nt.end();
                }
                Tok::Word { w, .. } if gap_ok(&toks[j - 1], nt) => {
                    if w == "percent" || w == "pct" || w == "percentage" {
                        kind = FigureKind::Percent;
                        end = nt.end();
                    } else if w == "per" && toks.get(j + 1).and_then(|x| x.word()) == Some("cent") {
                        kind = FigureKind::Percent;
                        end = toks[j + 1].end();
                    } else if EN_CURRENCIES.contains(&w.as_str()) {
                        money = true;
                        end = nt.end();
                    }
                }
                _ => {}
            }
        }
        if kind == FigureKind::Plain {
            if money {
                kind = FigureKind::Money;
            } else if !scaled
                && !from_words
                && matches!(t, Tok::Num { frac: false, commas: false, s, e, .. } if e - s == 4)
                && (1000.0..3000.0).contains(&value)
            {
                kind = FigureKind::Year;
            }
        }
        out.push(Fig {
            fig: Figure { text: c[start..end].iter().collect(), value, kind },
            // ":00" minutes ("7:00 p.m." for Korean "오후 7시") are only a matching aid.
            alt: value == 0.0 && start > 0 && c[start - 1] == ':',
            small_word: from_words && !scaled && value <= 10.0,
        });
        i = j;
    }
    out
}

/// English figures: digits with commas/decimals, scale words and abbreviations ("100 million",
/// "$100 million", "£2.8bn", "£125m"), currencies ("135 billion won"), "3.5%", "3.5 percent",
/// "40 per cent", years ("2023"), "26-year-old", number words (one..nineteen, tens,
/// "twenty-five", "a dozen", "a million"), ordinals ("first".."twelfth", "1st", "89th"), times
/// ("7.55am" gives 7 and 55).
pub fn english_figures(text: &str) -> Vec<Figure> {
    english_figs(text).into_iter().filter(|f| !f.alt).map(|f| f.fig).collect()
}

fn dedup_by_value(figs: Vec<Figure>) -> Vec<Figure> {
    let mut seen: Vec<f64> = Vec::new();
    let mut out = Vec::new();
    for f in figs {
        if !seen.iter().any(|v| same_value(*v, f.value)) {
            seen.push(f.value);
            out.push(f);
        }
    }
    out
}

/// Figures of the Korean with no equal value (relative tolerance 1e-9) among the English
/// figures (translation direction: every figure must survive). Kinds are not compared, only
/// values ("2023년" matches "2023", "3.5%" matches "3.5 percent"). Month names, "decade",
/// "half", "twice" count as values on the English side here. Each missing value is reported once.
pub fn missing_figures(korean: &str, english: &str) -> Vec<Figure> {
    let en: Vec<f64> = english_figs(english).iter().map(|f| f.fig.value).collect();
    let missing = korean_figs(korean)
        .into_iter()
        .filter(|k| !k.alt)
        .filter(|k| !en.iter().any(|v| same_value(*v, k.fig.value)))
        .map(|k| k.fig)
        .collect();
    dedup_by_value(missing)
}

/// Figures in the English that no Korean figure supports (summary direction: a summary may
/// omit numbers but must not change or invent them). Bare number words one..ten are ignored,
/// as are month names and other word-only hints; digits and scaled words are checked.
pub fn unsupported_figures(korean: &str, english: &str) -> Vec<Figure> {
    let kvals: Vec<f64> = korean_figs(korean).iter().map(|f| f.fig.value).collect();
    let bad = english_figs(english)
        .into_iter()
        .filter(|f| !f.alt && !f.small_word)
        .filter(|f| !kvals.iter().any(|v| same_value(*v, f.fig.value)))
        .map(|f| f.fig)
        .collect();
    dedup_by_value(bad)
}

// ---------------------------------------------------------------------------------------------
// Length and glossary

/// Minimum English/Korean character ratio for a translation. Measured on the 123 NTREX
/// documents of the shared corpus (professional translations): whole documents have English
/// 1.41x-2.5x the Korean characters (median 1.88); single sentences of 20+ Korean chars have a
/// median of 1.91, 1st percentile 1.05, minimum 0.5. 0.8 therefore never fires on real
/// documents and only on ~0.3% of single sentences, while catching truncated or
/// "summarised instead of translated" answers.
const MIN_EN_KO_RATIO: f64 = 0.8;
const MIN_EXPECTED_CHARS: usize = 20;

/// `Some(expected_at_least)` if `english` has fewer than `max(20, korean_chars * 0.8)`
/// characters (whitespace-trimmed), else `None`. Empty Korean input expects nothing.
pub fn too_short_translation(korean: &str, english: &str) -> Option<usize> {
    let kn = korean.trim().chars().count();
    if kn == 0 {
        return None;
    }
    let expected = MIN_EXPECTED_CHARS.max((kn as f64 * MIN_EN_KO_RATIO).ceil() as usize);
    let en = english.trim().chars().count();
    (en < expected).then_some(expected)
}

fn fold(s: &str) -> Vec<char> {
    let mut out = Vec::new();
    let mut space = true;
    for ch in s.nfkc().flat_map(char::to_lowercase) {
        let ch = match ch {
            '’' | '‘' => '\'',
            '“' | '”' => '"',
            '‐' | '‑' | '–' => '-',
            x => x,
        };
        if ch.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
        } else {
            out.push(ch);
            space = false;
        }
    }
    if out.last() == Some(&' ') {
        out.pop();
    }
    out
}

fn contains_word(hay: &[char], needle: &[char]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if needle.len() > hay.len() {
        return false;
    }
    (0..=hay.len() - needle.len()).any(|i| {
        hay[i..i + needle.len()] == *needle
            && (i == 0 || !hay[i - 1].is_alphanumeric() || !needle[0].is_alphanumeric())
            && (i + needle.len() == hay.len()
                || !hay[i + needle.len()].is_alphanumeric()
                || !needle[needle.len() - 1].is_alphanumeric())
    })
}

/// Glossary terms (already found in the Korean, e.g. by `Glossary::terms_in`) whose English
/// rendering does not occur in `english` (case-insensitive, whitespace-folded, curly quotes
/// folded, at word boundaries so "SK" is not found inside "risk").
pub fn missing_terms<'g>(terms: &[&'g Term], english: &str) -> Vec<&'g Term> {
    let hay = fold(english);
    terms.iter().filter(|t| !contains_word(&hay, &fold(&t.en))).copied().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vals(f: &[Figure]) -> Vec<f64> {
        f.iter().map(|f| f.value).collect()
    }

    #[test]
    fn korean_forms() {
        let f = korean_figures("약 1억 달러(약 1,350억 원)");
        assert_eq!(vals(&f), [1e8, 1.35e11]);
        assert_eq!(f[0].kind, FigureKind::Money);
        assert_eq!(f[1].text, "1,350억 원");
        assert_eq!(vals(&korean_figures("1조 2,000억 원")), [1.2e12]);
        assert_eq!(vals(&korean_figures("1억 2500만 파운드")), [1.25e8]);
        assert_eq!(vals(&korean_figures("1억 4천 2백만 명")), [1.42e8]);
        assert_eq!(vals(&korean_figures("7만 6천 헥타르")), [76000.0]);
        assert_eq!(vals(&korean_figures("22 억 5 천만 명")), [2.25e9]);
        assert_eq!(vals(&korean_figures("2~3만 명")), [2e4, 3e4]);
        assert_eq!(vals(&korean_figures("2~3년")), [2.0, 3.0]);
        assert_eq!(vals(&korean_figures("26세, 5개, 1.5배, 제1회, 1위")), [26.0, 5.0, 1.5, 1.0, 1.0]);
        let f = korean_figures("2018년 2월 8일");
        assert_eq!(vals(&f), [2018.0, 2.0, 8.0]);
        assert_eq!(f[0].kind, FigureKind::Year);
        let f = korean_figures("3.5% 그리고 3.5퍼센트");
        assert!(f.iter().all(|f| f.kind == FigureKind::Percent && f.value == 3.5));
        assert_eq!(vals(&korean_figures("１２３억")), [1.23e10]);
        assert_eq!(vals(&korean_figures("5G 서비스")), [5.0]);
        assert_eq!(vals(&korean_figures("31억€($36bn)")), [3.1e9, 3.6e10]);
        // Sino-Korean words are not figures.
        assert!(korean_figures("일요일에 일을 했다. 삼성").is_empty());
    }

    #[test]
    fn english_forms() {
        let f = english_figures("about $100 million (about 135 billion won)");
        assert_eq!(vals(&f), [1e8, 1.35e11]);
        assert!(f.iter().all(|f| f.kind == FigureKind::Money));
        assert_eq!(f[0].text, "$100 million");
        assert_eq!(vals(&english_figures("1.35 trillion, 1,350 and 3.5%")), [1.35e12, 1350.0, 3.5]);
        let f = english_figures("3.5 percent, 40 per cent, in 2023");
        assert_eq!(f[0].kind, FigureKind::Percent);
        assert_eq!(f[1].kind, FigureKind::Percent);
        assert_eq!(f[2].kind, FigureKind::Year);
        assert_eq!(vals(&english_figures("a 26-year-old")), [26.0]);
        assert_eq!(vals(&english_figures("£2.8bn, £125m, £11million")), [2.8e9, 1.25e8, 1.1e7]);
        assert_eq!(
            vals(&english_figures("two to three years, twenty-five, a dozen")),
            [2.0, 3.0, 25.0, 12.0]
        );
        assert_eq!(vals(&english_figures("first, 2nd, 89th")), [1.0, 2.0, 89.0]);
        assert_eq!(vals(&english_figures("at 7.55am and 4.40 am")), [7.0, 55.0, 4.0, 40.0]);
        assert_eq!(vals(&english_figures("a million people, 5G")), [1e6, 5.0]);
    }

    #[test]
    fn translation_pairs_match() {
        let cases = [
            ("약 1억 달러(약 1,350억 원)", "about $100 million (about 135 billion won)"),
            ("26세의 선수", "the 26-year-old player"),
            ("2~3년 걸린다", "it takes two to three years"),
            ("3.5% 올랐다", "rose 3.5 percent"),
            ("2018년 2월 8일", "on February 8, 2018"),
            ("1.5배", "1.5 times"),
            ("오후 7시 30분", "at 19:30"),
            ("10대 소년", "a teenage boy"),
            ("1년 동안", "for a year"),
            ("38만명", "380,000 people"),
        ];
        for (k, e) in cases {
            assert!(missing_figures(k, e).is_empty(), "{k} / {e}: {:?}", missing_figures(k, e));
        }
    }

    #[test]
    fn changed_number_is_caught() {
        let m = missing_figures("약 1억 달러를 투자했다", "invested about $10 million");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].value, 1e8);
        assert_eq!(m[0].text, "1억 달러");
        let m = missing_figures("3.5% 올랐다", "rose 35 percent");
        assert_eq!(vals(&m), [3.5]);
    }

    #[test]
    fn summary_direction() {
        let ko = "삼성전자는 2023년 매출 258조 원을 기록했고 직원 26만 명이다.";
        assert!(unsupported_figures(ko, "Samsung posted 258 trillion won in 2023.").is_empty());
        // Omission is fine, small number words are ignored, changed numbers are not.
        assert!(unsupported_figures(ko, "Samsung, one of two giants, grew.").is_empty());
        let u = unsupported_figures(ko, "Samsung posted 285 trillion won with 26,000 staff.");
        assert_eq!(vals(&u), [2.85e14, 26000.0]);
        assert_eq!(u[0].kind, FigureKind::Money);
        assert!(!unsupported_figures(ko, "It has eleven units.").is_empty());
        assert!(unsupported_figures("오후 7시 30분에 도착", "arrived at 19:30").is_empty());
        assert!(unsupported_figures("오후 7시에 도착", "arrived at 7:00 p.m.").is_empty());
        assert!(unsupported_figures("2023년 5월 3일", "on May 3, 2023").is_empty());
    }

    #[test]
    fn hangul_checks() {
        assert!(hangul_outside_quotes("CEO Park Jung-ho (박정호) said").is_empty());
        assert!(hangul_outside_quotes("the app \"알리인\" launched").is_empty());
        assert!(hangul_outside_quotes("the show “나 혼자 산다” returned").is_empty());
        assert!(hangul_outside_quotes("박정호 (Park Jung-ho) said").is_empty());
        let f = hangul_outside_quotes("The company 발표했다 that profits rose.");
        assert_eq!(f.len(), 1);
        assert!(f[0].contains("발표했다"), "{f:?}");
        // Parentheses not after a romanized form, and long quoted Korean, are flagged.
        assert_eq!(hangul_outside_quotes("He said (그는 말했다).").len(), 0);
        assert_eq!(hangul_outside_quotes("(그는 말했다) he said").len(), 1);
        let long = format!("He said \"{}\".", "가나다라마바사아자차 ".repeat(5));
        assert_eq!(hangul_outside_quotes(&long).len(), 1);
        assert_eq!(hangul_outside_quotes("삼성 and 엘지").len(), 2);
    }

    #[test]
    fn lengths() {
        assert_eq!(too_short_translation("가".repeat(100).as_str(), "short"), Some(80));
        assert_eq!(too_short_translation("짧다", ""), Some(20));
        assert_eq!(too_short_translation("", ""), None);
        assert_eq!(too_short_translation("가".repeat(100).as_str(), &"a".repeat(80)), None);
    }

    #[test]
    fn terms_and_messages() {
        let g = crate::glossary::Glossary::parse(
            "SK텔레콤\tSK Telecom\n박정호\tPark Jung-ho\nSK\tSK Group\n",
            true,
            "g",
        )
        .unwrap();
        let terms = g.terms_in("SK텔레콤 박정호 대표");
        let m = missing_terms(&terms, "sk  telecom CEO said the risk…");
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].en, "Park Jung-ho");
        let sk = g.terms_in("SK");
        assert_eq!(missing_terms(&sk, "The risk grew").len(), 1);
        let f = Finding::MissingTerm { ko: "박정호".into(), en: "Park Jung-ho".into() };
        assert!(f.message().contains("Park Jung-ho"));
        let f = Finding::MissingNumber { figure: "1억 달러".into() };
        assert!(f.message().contains("1억 달러"));
        let f = Finding::TooShort { field: "body".into(), chars: 3, expected_at_least: 20 };
        assert!(f.message().contains("body"));
        let j = serde_json::to_string(&f).unwrap();
        assert_eq!(j, r#"{"kind":"too_short","field":"body","chars":3,"expected_at_least":20}"#);
        let j = serde_json::to_string(&korean_figures("3.5%")[0]).unwrap();
        assert_eq!(j, r#"{"text":"3.5%","value":3.5,"kind":"percent"}"#);
    }
}
