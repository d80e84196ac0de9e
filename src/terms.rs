//! One rendering per name across an article.
//!
//! A long article is translated in chunks, and a name that each chunk renders on its own can
//! come out three ways in one text. The cure is to decide the terms once per article: every
//! chunk's prompt gets the same glossary list (the terms of the whole article, not of the
//! chunk), and after translation the chunks are compared, so a term rendered as the glossary
//! says in one chunk and otherwise in another is reported.
//!
//! Names the glossary does not cover can be fixed per article too: [`extract_names`] asks the
//! model once (a cheap request) for the article's names and their English renderings, and
//! [`article_glossary`] merges them under the user's glossary into the list every chunk gets.
//! Worth its request only when an article has more than one chunk.

use crate::client::{ChatRequest, ReplySchema};
use crate::glossary::{Glossary, Term, is_hangul};
use crate::pool::{CallError, Pool};
use crate::prompt::{NamesInput, Prompts};
use crate::record::{NamesReply, Usage, Warning, strict_schema};
use crate::sizing::AnswerKind;

/// The warning kind of a glossary term rendered in some chunks and not in others.
pub(crate) const INCONSISTENT_TERM: &str = "inconsistent_term";

/// The glossary terms of the whole article (headline and body), in order of first
/// occurrence: the list every chunk's prompt gets, so that all chunks share it.
pub(crate) fn article_terms<'g>(glossary: &'g Glossary, title: &str, text: &str) -> Vec<&'g Term> {
    if glossary.is_empty() {
        return Vec::new();
    }
    glossary.terms_in(&format!("{title}\n{text}"))
}

/// Terms rendered as the glossary says in some chunks but not in others. `chunks` are
/// (Korean, English) pairs in article order; a chunk counts only when its Korean contains the
/// term. A term missing from every chunk that has it is a `missing_term` warning of each
/// chunk's own check, not an inconsistency, and is not reported here.
pub(crate) fn inconsistent_terms(terms: &[&Term], chunks: &[(&str, &str)]) -> Vec<Warning> {
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

/// Completion budget of a name list: a long article names a few dozen people and organisations.
const NAMES_MAX_TOKENS: u32 = 1_500;

/// Ask the model for the names in the article (`title`, `text`) with their English renderings,
/// the user's `glossary` terms given as fixed. Only names that really occur in the article and
/// are not covered by the glossary are returned (see [`accept_names`]).
pub(crate) async fn extract_names(
    pool: &Pool,
    prompts: &Prompts,
    title: &str,
    text: &str,
    glossary: &[&Term],
) -> Result<(Vec<Term>, Usage), CallError> {
    let schema = ReplySchema { name: "article_names", schema: strict_schema::<NamesReply>() };
    let schema_text = pool.client().schema_in_prompt().then(|| schema.schema.to_string());
    let input = NamesInput { title: Some(title), text, glossary };
    let messages =
        prompts.names(&input, schema_text.as_deref()).map_err(|e| CallError::Stopped(e.to_string()))?;
    let request = ChatRequest {
        messages: &messages,
        schema: &schema,
        max_tokens: NAMES_MAX_TOKENS,
        kind: AnswerKind::Names,
        input_tokens: 0,
    };
    let done = pool.complete::<NamesReply>(&request).await?;
    Ok((accept_names(done.reply, title, text, glossary), done.usage))
}

/// The extracted names worth fixing: the Korean occurs in the article (the model may invent
/// or inflect), the English is non-empty and free of Hangul, and no glossary term overlaps
/// it (the user's rendering wins, also over a longer name containing it). Each name once.
pub(crate) fn accept_names(reply: NamesReply, title: &str, text: &str, glossary: &[&Term]) -> Vec<Term> {
    let mut accepted: Vec<Term> = Vec::new();
    for name in reply.names {
        let (ko, en) = (name.name_ko.trim(), name.name_en.trim());
        let occurs = !ko.is_empty() && (title.contains(ko) || text.contains(ko));
        let usable = !en.is_empty() && !en.chars().any(is_hangul);
        let overlaps = |other: &str| other.contains(ko) || ko.contains(other);
        if occurs
            && usable
            && !glossary.iter().any(|t| overlaps(&t.ko))
            && !accepted.iter().any(|t| t.ko == ko)
        {
            accepted.push(Term { ko: ko.to_string(), en: en.to_string() });
        }
    }
    accepted
}

/// The article-level term list for every chunk: the user's glossary terms first, then the
/// extracted names.
pub(crate) fn article_glossary(glossary: &[&Term], names: Vec<Term>) -> Vec<Term> {
    glossary.iter().map(|t| (*t).clone()).chain(names).collect()
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
    fn only_names_in_the_article_and_outside_the_glossary_are_accepted() {
        use crate::record::NameReply;
        let name = |ko: &str, en: &str| NameReply { name_ko: ko.into(), name_en: en.into() };
        let reply = NamesReply {
            names: vec![
                name("마윈", "Jack Ma"),
                name("반기문", "Ban Ki-moon"),
                name("박정호 사장", "President Park Jung-ho"),
                name("알리바바", "Alibaba"),
                name("알리바바", "Alibaba Group"),
                name("손정의", "Masayoshi Son"),
                name("구테흐스", "구테흐스"),
                name("", "Nobody"),
            ],
        };
        let park = Term { ko: "박정호".into(), en: "Park Jung-ho".into() };
        let text = "마윈 회장과 반기문 전 총장, 알리바바, 박정호 사장, 구테흐스 총장.";
        let names = accept_names(reply, "방한", text, &[&park]);
        let got: Vec<(&str, &str)> = names.iter().map(|t| (t.ko.as_str(), t.en.as_str())).collect();
        assert_eq!(got, [("마윈", "Jack Ma"), ("반기문", "Ban Ki-moon"), ("알리바바", "Alibaba")]);
        let all = article_glossary(&[&park], names);
        assert_eq!(all[0], park);
        assert_eq!(all.len(), 4);
    }

    #[tokio::test]
    async fn names_are_asked_for_in_one_request() {
        let (server, pool) = crate::pool::mock_pool(crate::client::ResponseFormat::JsonObject, 1, None).await;
        let prompts = Prompts::load(None).unwrap();
        let (names, usage) = extract_names(&pool, &prompts, "제목", "마윈 회장이 왔다.", &[]).await.unwrap();
        assert_eq!((usage.requests, server.requests_received()), (1, 1));
        // The mock's names are canned sentences that do not occur in the article.
        assert!(names.is_empty(), "{names:?}");
    }

    #[test]
    fn a_term_missing_everywhere_is_not_an_inconsistency() {
        let g = glossary();
        let terms = article_terms(&g, "", "박정호");
        let chunks = [("박정호.", "Park Jeong-ho."), ("박정호.", "Park Jeong-ho.")];
        assert!(inconsistent_terms(&terms, &chunks).is_empty());
    }
}
