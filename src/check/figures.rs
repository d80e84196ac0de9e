//! Figures: numbers parsed from Korean ("1,350억 원", "2~3만 명", "3.5퍼센트") and English
//! ("135 billion won", "twenty-five", "7.55am") into comparable values, and the two checks
//! built on them (figures lost in a translation, figures a summary does not support).

use unicode_normalization::UnicodeNormalization;

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
