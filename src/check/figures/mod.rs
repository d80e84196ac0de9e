//! Figures: numbers parsed from Korean ("1,350억 원", "2~3만 명", "3.5퍼센트") and English
//! ("135 billion won", "twenty-five", "7.55am") into comparable values, and the two checks
//! built on them (figures lost in a translation, figures a summary does not support).
//!
//! This file holds the shared figure types and the two checks; `korean` and `english` parse
//! each language.

mod english;
mod korean;

use unicode_normalization::UnicodeNormalization;

use english::english_figs;
pub use english::english_figures;
use korean::korean_figs;
pub use korean::korean_figures;

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
    /// A Korean fraction's denominator and numerator ("3분의 2"): the translation keeps it when
    /// it keeps either the fraction ("two-thirds") or both numbers ("two in three", "2/3").
    parts: Option<(f64, f64)>,
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
    let has = |value: f64| en.iter().any(|v| same_value(*v, value));
    let missing = korean_figs(korean)
        .into_iter()
        .filter(|k| !k.alt)
        .filter(|k| !has(k.fig.value) && !k.parts.is_some_and(|(den, num)| has(den) && has(num)))
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
