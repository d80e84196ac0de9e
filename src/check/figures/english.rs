//! English figure parsing: digits, scale words and abbreviations, currencies, number words,
//! ordinals, months and times, as in "135 billion won" or "twenty-five".

use super::{Fig, Figure, FigureKind, nfkc_chars, scan_number};

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

/// A fraction's denominator word: "thirds" 3, "quarter" 4, "fifths" 5 … "tenths" 10.
fn denominator_value(w: &str) -> Option<f64> {
    const NAMES: [&str; 9] =
        ["half", "third", "quarter", "fifth", "sixth", "seventh", "eighth", "ninth", "tenth"];
    let singular = w.strip_suffix('s').unwrap_or(w);
    let singular = if w == "halves" { "half" } else { singular };
    if singular == "fourth" {
        return Some(4.0);
    }
    NAMES.iter().position(|n| *n == singular).map(|p| p as f64 + 2.0)
}

pub(super) fn scale_value(w: &str, money: bool) -> Option<f64> {
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

pub(super) fn english_figs(text: &str) -> Vec<Fig> {
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
                            parts: None,
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
                        parts: None,
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
                        parts: None,
                    });
                    i += 1;
                    continue;
                }
                let next_w = toks.get(i + 1).filter(|n| gap_ok(t, n)).and_then(|n| n.word());
                // "two-thirds", "a quarter", "one fifth": the fraction, as a matching aid (the
                // numerator is still read as the number it is).
                let numerator = if matches!(w.as_str(), "a" | "an") { Some(1.0) } else { word_value(w) };
                if let Some(num) = numerator
                    && let Some(den) = next_w.and_then(denominator_value)
                    && num < den
                {
                    out.push(Fig {
                        fig: Figure { text: orig.clone(), value: num / den, kind: FigureKind::Plain },
                        alt: true,
                        small_word: false,
                        parts: None,
                    });
                }
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
                        parts: None,
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
            parts: None,
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
