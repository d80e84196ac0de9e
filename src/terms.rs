//! One rendering per name across an article.
//!
//! A long article is translated in chunks, and a name that each chunk renders on its own can
//! come out three ways in one text. The cure is to decide the terms once per article: every
//! chunk's prompt gets the same glossary list (the terms of the whole article, not of the
//! chunk), and after translation the chunks are compared, so a term rendered as the glossary
//! says in one chunk and otherwise in another is reported.

use crate::glossary::{Glossary, Term};
use crate::record::Warning;

/// The warning kind of a glossary term rendered in some chunks and not in others.
pub const INCONSISTENT_TERM: &str = "inconsistent_term";

/// The glossary terms of the whole article (headline and body), in order of first
/// occurrence: the list every chunk's prompt gets, so that all chunks share it.
pub fn article_terms<'g>(glossary: &'g Glossary, title: &str, text: &str) -> Vec<&'g Term> {
    if glossary.is_empty() {
        return Vec::new();
    }
    glossary.terms_in(&format!("{title}\n{text}"))
}

/// Terms rendered as the glossary says in some chunks but not in others. `chunks` are
/// (Korean, English) pairs in article order; a chunk counts only when its Korean contains the
/// term. A term missing from every chunk that has it is a `missing_term` warning of each
/// chunk's own check, not an inconsistency, and is not reported here.
pub fn inconsistent_terms(terms: &[&Term], chunks: &[(&str, &str)]) -> Vec<Warning> {
    let mut warnings = Vec::new();
    for term in terms {
        let (mut kept, mut lost) = (Vec::new(), Vec::new());
        for (i, (korean, english)) in chunks.iter().enumerate() {
            if !korean.contains(term.ko.as_str()) {
                continue;
            }
            if crate::check::missing_terms(&[term], english).is_empty() {
                kept.push(i + 1);
            } else {
                lost.push(i + 1);
            }
        }
        if !kept.is_empty() && !lost.is_empty() {
            warnings.push(Warning {
                kind: INCONSISTENT_TERM.into(),
                message: format!(
                    "The glossary term \"{}\" is rendered as \"{}\" in part{} {} but differently in part{} {}.",
                    term.ko,
                    term.en,
                    plural(kept.len()),
                    list(&kept),
                    plural(lost.len()),
                    list(&lost)
                ),
            });
        }
    }
    warnings
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn list(parts: &[usize]) -> String {
    parts.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn glossary() -> Glossary {
        Glossary::parse("박정호\tPark Jung-ho\nSK텔레콤\tSK Telecom\n마윈\tJack Ma\n", true, "g.tsv").unwrap()
    }

    #[test]
    fn every_chunk_gets_the_terms_of_the_whole_article() {
        let g = glossary();
        let terms = article_terms(&g, "마윈 회장 방한", "SK텔레콤 박정호 사장이 맞았다.");
        let ko: Vec<&str> = terms.iter().map(|t| t.ko.as_str()).collect();
        assert_eq!(ko, ["마윈", "SK텔레콤", "박정호"]);
        assert!(article_terms(&Glossary::default(), "마윈", "박정호").is_empty());
    }

    #[test]
    fn a_term_rendered_differently_in_one_chunk_is_reported_with_its_parts() {
        let g = glossary();
        let terms = article_terms(&g, "", "박정호 SK텔레콤");
        let chunks = [
            ("박정호 사장이 말했다.", "President Park Jung-ho said."),
            ("다른 이야기.", "Another story."),
            ("박정호 사장은 SK텔레콤을 이끈다.", "President Park Jeong-ho leads SK Telecom."),
        ];
        let warnings = inconsistent_terms(&terms, &chunks);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].kind, INCONSISTENT_TERM);
        assert!(warnings[0].message.contains("part 1 but differently in part 3"), "{}", warnings[0].message);
    }

    #[test]
    fn a_term_missing_everywhere_is_not_an_inconsistency() {
        let g = glossary();
        let terms = article_terms(&g, "", "박정호");
        let chunks = [("박정호.", "Park Jeong-ho."), ("박정호.", "Park Jeong-ho.")];
        assert!(inconsistent_terms(&terms, &chunks).is_empty());
    }
}
