//! Glossary of fixed Korean -> English renderings (names, organisations, titles).
//!
//! This module owns loading a user-supplied TSV/CSV glossary (with precise, line-numbered
//! errors so the user knows what to fix) and finding which terms occur in a Korean source
//! text. Names are what a translation must not get wrong, so the glossary is both a prompt
//! aid (terms found are passed to the LLM) and a check (see `check::missing_terms`).
//! Matching uses one Aho-Corasick automaton (leftmost-longest), so thousands of terms cost
//! a single pass over the text and overlapping terms resolve to the longest one.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use aho_corasick::{AhoCorasick, MatchKind};

/// One glossary entry: the Korean form as it appears in sources and its fixed English rendering.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Term {
    pub(crate) ko: String,
    pub(crate) en: String,
}

/// A loaded glossary; construct with [`Glossary::load`] or [`Glossary::parse`].
#[derive(Debug, Clone, Default)]
pub(crate) struct Glossary {
    terms: Vec<Term>,
    /// `None` when the glossary is empty (an automaton needs at least one pattern to be useful).
    matcher: Option<AhoCorasick>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum GlossaryError {
    #[error("cannot read glossary {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Parse { path: PathBuf, line: usize, message: String },
}

pub fn is_hangul(c: char) -> bool {
    matches!(c,
        '\u{AC00}'..='\u{D7A3}'   // syllables
        | '\u{1100}'..='\u{11FF}' // jamo
        | '\u{3130}'..='\u{318F}' // compatibility jamo
        | '\u{A960}'..='\u{A97F}' // jamo extended-A
        | '\u{D7B0}'..='\u{D7FF}' // jamo extended-B
        | '\u{FFA0}'..='\u{FFDC}' // half-width jamo
    )
}

/// Split one CSV line: comma-separated fields, each optionally double-quoted (`""` is a literal
/// quote inside a quoted field); fields are whitespace-trimmed.
fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut it = line.chars().peekable();
    loop {
        while it.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
            it.next();
        }
        let mut f = String::new();
        if it.peek() == Some(&'"') {
            it.next();
            loop {
                match it.next() {
                    None => {
                        return Err(
                            "unterminated double quote: close the quoted field with '\"' on the same line"
                                .into(),
                        );
                    }
                    Some('"') if it.peek() == Some(&'"') => {
                        it.next();
                        f.push('"');
                    }
                    Some('"') => break,
                    Some(c) => f.push(c),
                }
            }
            while it.peek().is_some_and(|c| *c == ' ' || *c == '\t') {
                it.next();
            }
            match it.next() {
                None => {
                    fields.push(f);
                    return Ok(fields);
                }
                Some(',') => fields.push(f),
                Some(c) => {
                    return Err(format!(
                        "unexpected {c:?} after a closing quote: a quoted field must be followed by a comma or the end of the line"
                    ));
                }
            }
        } else {
            loop {
                match it.next() {
                    None => {
                        fields.push(f.trim().to_string());
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => f.push(c),
                }
            }
            fields.push(f.trim().to_string());
        }
    }
}

impl Glossary {
    /// Load a glossary file. `.tsv` / `.csv` extension decides the format; otherwise a tab
    /// anywhere in the file means TSV. See [`Glossary::parse`] for the format.
    pub(crate) fn load(path: &Path) -> Result<Glossary, GlossaryError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| GlossaryError::Io { path: path.to_path_buf(), source })?;
        let ext = path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase());
        let tsv = match ext.as_deref() {
            Some("tsv") => true,
            Some("csv") => false,
            _ => text.contains('\t'),
        };
        Self::parse(&text, tsv, &path.to_string_lossy())
    }

    /// Parse glossary text: two columns (Korean, English); an optional header row (detected
    /// because its first cell has no Hangul); lines starting with `#` and blank lines are
    /// ignored; CSV fields may be double-quoted (`"Samsung Electronics Co., Ltd."`). TSV has no
    /// quoting. `origin` names the source in error messages. A Korean key defined twice is an
    /// error naming both lines.
    pub(crate) fn parse(text: &str, tsv: bool, origin: &str) -> Result<Glossary, GlossaryError> {
        let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
        let perr = |line: usize, message: String| GlossaryError::Parse {
            path: PathBuf::from(origin),
            line,
            message,
        };
        let sep = if tsv { "a tab" } else { "a comma" };
        let mut terms: Vec<Term> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut first = true;
        for (idx, raw) in text.lines().enumerate() {
            let line = idx + 1;
            let trimmed = raw.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let rec: Vec<String> = if tsv {
                raw.split('\t').map(|f| f.trim().to_string()).collect()
            } else {
                split_csv_line(raw).map_err(|m| perr(line, m))?
            };
            let rec: Vec<&str> = rec.iter().map(String::as_str).collect();
            if first {
                first = false;
                if !rec[0].chars().any(is_hangul) && !rec.get(1).is_some_and(|e| e.chars().any(is_hangul)) {
                    continue; // header row
                }
            }
            // Tolerate trailing empty columns (e.g. "박정호,Park Jung-ho,").
            let mut n = rec.len();
            while n > 2 && rec.get(n - 1) == Some(&"") {
                n -= 1;
            }
            if n != 2 {
                return Err(perr(
                    line,
                    format!(
                        "expected 2 columns (Korean, English) separated by {sep}, found {n}{}",
                        if !tsv && n > 2 {
                            "; put an English rendering containing commas in double quotes"
                        } else {
                            ""
                        }
                    ),
                ));
            }
            let ko = rec[0].to_string();
            let en = rec[1].to_string();
            if ko.is_empty() {
                return Err(perr(line, "the Korean column (first) is empty".into()));
            }
            if en.is_empty() {
                return Err(perr(line, format!("the English column (second) is empty for {ko:?}")));
            }
            if !ko.chars().any(is_hangul) && en.chars().any(is_hangul) {
                return Err(perr(
                    line,
                    format!(
                        "the first column must be Korean, but {ko:?} has no Hangul and {en:?} has (are the columns swapped?)"
                    ),
                ));
            }
            if let Some(prev) = seen.get(&ko) {
                return Err(perr(
                    line,
                    format!(
                        "{ko:?} is already defined on line {prev}; keep only one of lines {prev} and {line}"
                    ),
                ));
            }
            seen.insert(ko.clone(), line);
            terms.push(Term { ko, en });
        }
        let matcher = if terms.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::LeftmostLongest)
                    .build(terms.iter().map(|t| t.ko.as_str()))
                    .map_err(|e| perr(0, format!("cannot build matcher: {e}")))?,
            )
        };
        Ok(Glossary { terms, matcher })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.terms.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.terms.is_empty()
    }

    /// All terms, in file order.
    #[cfg(test)]
    pub(crate) fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// Terms whose Korean occurs in `text`, each once, in order of first occurrence; where
    /// terms overlap the longest (leftmost) wins, so "SK텔레콤" does not also yield "SK".
    pub(crate) fn terms_in(&self, text: &str) -> Vec<&Term> {
        let Some(m) = &self.matcher else {
            return Vec::new();
        };
        let mut seen = vec![false; self.terms.len()];
        let mut out = Vec::new();
        for hit in m.find_iter(text) {
            let i = hit.pattern().as_usize();
            if !seen[i] {
                seen[i] = true;
                out.push(&self.terms[i]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_with_header_comments_quotes() {
        let g = Glossary::parse(
            "korean,english\n# comment\n\n삼성전자,\"Samsung Electronics Co., Ltd.\"\n박정호, Park Jung-ho \n",
            false,
            "g.csv",
        )
        .unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(g.terms()[0].en, "Samsung Electronics Co., Ltd.");
        assert_eq!(g.terms()[1].en, "Park Jung-ho");
    }

    #[test]
    fn tsv_without_header() {
        let g = Glossary::parse("SK텔레콤\tSK Telecom\n\nSK\tSK Group\n", true, "g.tsv").unwrap();
        assert_eq!(g.len(), 2);
    }

    #[test]
    fn duplicate_names_both_lines() {
        let e =
            Glossary::parse("ko,en\n삼성\tSamsung\n# c\n삼성\tSamsung Group\n", true, "g.tsv").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("g.tsv:4"), "{msg}");
        assert!(msg.contains("line 2") && msg.contains("4"), "{msg}");
        match e {
            GlossaryError::Parse { line, .. } => assert_eq!(line, 4),
            _ => panic!(),
        }
    }

    #[test]
    fn column_errors_have_line_numbers() {
        let e = Glossary::parse("삼성,Samsung\n엘지,LG,Electronics\n", false, "x.csv").unwrap_err();
        let m = e.to_string();
        assert!(m.starts_with("x.csv:2:") && m.contains("found 3") && m.contains("double quotes"), "{m}");
        let e = Glossary::parse("삼성\tSamsung\n\n엘지\n", true, "x.tsv").unwrap_err();
        assert!(e.to_string().starts_with("x.tsv:3:"), "{e}");
        let e = Glossary::parse("삼성,Samsung\n엘지,\"LG\n", false, "x.csv").unwrap_err();
        assert!(e.to_string().starts_with("x.csv:2:") && e.to_string().contains("unterminated"), "{e}");
        let e = Glossary::parse("삼성,\"Sam\"sung\n", false, "x.csv").unwrap_err();
        assert!(e.to_string().starts_with("x.csv:1:"), "{e}");
        let e = Glossary::parse("삼성\t\n", true, "x.tsv").unwrap_err();
        assert!(e.to_string().contains("English column"), "{e}");
        let e = Glossary::parse("삼성,Samsung\nLG,엘지\n", false, "x.csv").unwrap_err();
        assert!(e.to_string().contains("x.csv:2") && e.to_string().contains("swapped"), "{e}");
    }

    #[test]
    fn load_sniffs_and_reports_io() {
        let dir = std::env::temp_dir().join(format!("ko2en-gloss-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("g.txt");
        std::fs::write(&p, "한국은행\tBank of Korea\n").unwrap();
        let g = Glossary::load(&p).unwrap();
        assert_eq!(g.terms()[0].en, "Bank of Korea");
        let p2 = dir.join("g2.csv");
        std::fs::write(&p2, "한국은행,\"Bank of Korea, BOK\"\n").unwrap();
        assert_eq!(Glossary::load(&p2).unwrap().terms()[0].en, "Bank of Korea, BOK");
        let e = Glossary::load(&dir.join("missing.tsv")).unwrap_err();
        assert!(matches!(e, GlossaryError::Io { .. }));
        assert!(e.to_string().contains("missing.tsv"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn longest_match_and_order() {
        let g = Glossary::parse(
            // First row "SK\tSK Group" would be taken for a header (no Hangul), so it comes second.
            "SK텔레콤\tSK Telecom\nSK\tSK Group\n유영상\tRyu Young-sang\n",
            true,
            "g",
        )
        .unwrap();
        let t: Vec<_> =
            g.terms_in("유영상 SK텔레콤 대표는 SK텔레콤이 … 유영상").iter().map(|t| t.en.as_str()).collect();
        assert_eq!(t, ["Ryu Young-sang", "SK Telecom"]);
        let t: Vec<_> = g.terms_in("SK그룹과 SK텔레콤").iter().map(|t| t.en.as_str()).collect();
        assert_eq!(t, ["SK Group", "SK Telecom"]);
        assert!(Glossary::default().terms_in("SK").is_empty());
    }

    #[test]
    fn many_terms_fast() {
        let mut s = String::new();
        for i in 0..5000 {
            s.push_str(&format!("용어{i}\tterm {i}\n"));
        }
        let g = Glossary::parse(&s, true, "big").unwrap();
        let text = "용어4999 그리고 용어12 ".repeat(2000);
        let t = g.terms_in(&text);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].en, "term 4999");
    }
}
