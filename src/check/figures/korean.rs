//! Korean figure parsing: Arabic numerals with 만/억/조 units, compounds, ranges, years,
//! percentages and money, as in "1,350억 원" or "2~3만 명".

use super::english::scale_value;
use super::{Fig, Figure, FigureKind, nfkc_chars, scan_number};

fn starts_with_at(c: &[char], i: usize, w: &str) -> bool {
    w.chars().enumerate().all(|(o, ch)| c.get(i + o) == Some(&ch))
}

/// `k`, or past the single space at `k`: Korean writes "22 억" as well as "22억".
fn skip_space(c: &[char], k: usize) -> usize {
    if c.get(k) == Some(&' ') { k + 1 } else { k }
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
    let sp = |k: usize| skip_space(c, k);
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

pub(super) fn korean_figs(text: &str) -> Vec<Fig> {
    let c = nfkc_chars(text);
    let n = c.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let start = i;
        if !c[i].is_ascii_digit() {
            // A number in words ("삼십 명", "천만 원"): a figure as good as "30명".
            if let Some((value, end)) = numeral_word(&c, i) {
                let (kind, text_end) =
                    match KO_CURRENCIES.iter().find(|w| starts_with_at(&c, skip_space(&c, end), w)) {
                        Some(w) => (FigureKind::Money, skip_space(&c, end) + w.chars().count()),
                        None => (FigureKind::Plain, end),
                    };
                out.push(Fig {
                    fig: Figure { text: c[start..text_end].iter().collect(), value, kind },
                    alt: false,
                    small_word: false,
                    parts: None,
                });
                i = end;
            } else {
                i += 1;
            }
            continue;
        }
        let Some((v0, mut j, big0, _, _)) = ko_group(&c, i) else {
            i += 1;
            continue;
        };
        let mut total = v0;
        let mut any_big = big0.is_some();
        if let Some(mut last) = big0 {
            // Compound "1조 2,000억", "1억 2500만", "3만 5000명".
            while let Some((v, e, big, frac, small)) = ko_group(&c, skip_space(&c, j)) {
                match big {
                    Some(m) if m < last => {
                        total += v;
                        last = m;
                        j = e;
                    }
                    None if !frac && v < last => {
                        let q = skip_space(&c, e);
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
        let k = skip_space(&c, j);
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
        // "3분의 2" (two-thirds): the fraction is the figure; its two numbers only support
        // an English "two in three" or "2/3".
        if kind == FigureKind::Plain
            && !any_big
            && total > 0.0
            && let Some((numerator, end)) = fraction_numerator(&c, j)
        {
            for value in [total, numerator] {
                out.push(Fig {
                    fig: Figure { text: value.to_string(), value, kind: FigureKind::Plain },
                    alt: true,
                    small_word: false,
                    parts: None,
                });
            }
            out.push(Fig {
                fig: Figure {
                    text: c[start..end].iter().collect(),
                    value: numerator / total,
                    kind: FigureKind::Plain,
                },
                alt: false,
                small_word: false,
                parts: Some((total, numerator)),
            });
            i = end;
            continue;
        }
        out.push(Fig {
            fig: Figure { text: c[tstart..text_end].iter().collect(), value: total, kind },
            alt: false,
            small_word: false,
            parts: None,
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
                parts: None,
            });
        }
        i = j.max(start + 1);
    }
    out
}

/// What may follow a number written in words: counters and currencies. Without one, words
/// like 이천 (Icheon), 천만에 or 구조 (rescue) would be read as numbers.
const WORD_NUMBER_COUNTERS: [&str; 17] = [
    "명", "개", "원", "달러", "유로", "엔", "위안", "년", "세", "곳", "건", "대", "마리", "톤", "배", "가구",
    "여",
];

fn sino_digit(ch: char) -> Option<f64> {
    Some(match ch {
        '일' => 1.0,
        '이' => 2.0,
        '삼' => 3.0,
        '사' => 4.0,
        '오' => 5.0,
        '육' | '륙' => 6.0,
        '칠' => 7.0,
        '팔' => 8.0,
        '구' => 9.0,
        _ => return None,
    })
}

fn small_unit_word(ch: char) -> Option<f64> {
    match ch {
        '십' => Some(10.0),
        _ => small_unit_ko(ch),
    }
}

/// A Sino-Korean number in words at `i` ("삼십", "오백", "삼천오백만", "천억"): its value and
/// where it ends. To keep ordinary words out, it must start a word, end in a unit (a bare
/// "구" or "오" is too common a syllable), put 만/억/조 only after 십/백/천 ("오만" is also
/// arrogance and Oman, "구조" is rescue), and be followed by a counter or a currency.
fn numeral_word(c: &[char], i: usize) -> Option<(f64, usize)> {
    if i > 0 && crate::glossary::is_hangul(c[i - 1]) {
        return None;
    }
    let (mut total, mut section, mut digit) = (0.0, 0.0, None::<f64>);
    let (mut last_small, mut last_big) = (f64::INFINITY, f64::INFINITY);
    let mut previous_was_small = false;
    let mut j = i;
    while let Some(&ch) = c.get(j) {
        if let Some(d) = sino_digit(ch) {
            if digit.is_some() {
                return None; // "이삼" is a colloquial range, not a number
            }
            digit = Some(d);
            previous_was_small = false;
        } else if let Some(unit) = small_unit_word(ch) {
            if unit >= last_small {
                return None;
            }
            section += digit.take().unwrap_or(1.0) * unit;
            last_small = unit;
            previous_was_small = true;
        } else if let Some(unit) = big_unit_ko(ch) {
            if !previous_was_small || unit >= last_big {
                return None;
            }
            total += (section + digit.take().unwrap_or(0.0)) * unit;
            (section, last_small, last_big) = (0.0, f64::INFINITY, unit);
            previous_was_small = false;
        } else {
            break;
        }
        j += 1;
    }
    if j - i < 2 || digit.is_some() {
        return None;
    }
    let after = skip_space(c, j);
    WORD_NUMBER_COUNTERS.iter().any(|w| starts_with_at(c, after, w)).then_some((total + section, j))
}

/// After a denominator ending at `j`, "분의 M": the numerator M and where it ends.
fn fraction_numerator(c: &[char], j: usize) -> Option<(f64, usize)> {
    let k = skip_space(c, j);
    if !starts_with_at(c, k, "분의") {
        return None;
    }
    let (numerator, end, _, _) = scan_number(c, skip_space(c, k + 2))?;
    Some((numerator, end))
}

/// Korean figures: Arabic numerals (commas, decimals, full-width digits) with large-unit
/// suffixes 만/억/조 (and 천/백 inside a group), compounds ("1조 2,000억"), ranges ("2~3년" gives
/// 2 and 3, "2~3만" gives 20,000 and 30,000), years ("2023년"), percentages ("3.5%",
/// "3.5퍼센트") and money ("1억 달러", "1,350억 원"). Counters (세, 개, 일, 위, 회, 배…) need no
/// special handling: their number is a plain figure. Fractions ("3분의 2") are one figure.
/// Sino-Korean numbers in words ("삼십 명", "천만 원") count when a counter or currency follows.
pub fn korean_figures(text: &str) -> Vec<Figure> {
    korean_figs(text).into_iter().filter(|f| !f.alt).map(|f| f.fig).collect()
}
