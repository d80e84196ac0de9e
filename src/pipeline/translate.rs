//! Full translations: an article's passages translated concurrently with the terms they
//! share, and a passage whose English does not fit its budget, or whose problems outlast the
//! repair, translated in halves.

use super::{Pipeline, headline, settle_all};
use crate::chunk;
use crate::client::{ChatRequest, ClientError};
use crate::glossary::Term;
use crate::input::Prepared;
use crate::pool::CallError;
use crate::prompt::TranslationInput;
use crate::record::{TranslationReply, Usage, Warning};
use crate::sizing::AnswerKind;
use crate::terms;
use crate::verify::{self, Checked};

impl Pipeline {
    /// Translate one passage, checked against its own Korean. A passage whose English does not
    /// fit the budget it can need (cut there: the model found far more to say than the Korean
    /// holds, or looped) is translated in halves instead, each with its own budget, and the
    /// halves joined as the source joined them; `halvings` times at most, so that a model that
    /// loops on any input still fails fast. A passage whose repair kept a problem of the first
    /// answer's kind is translated in halves too, once.
    fn translate_passage<'a>(
        &'a self,
        passage: Passage<'a>,
        glossary: &'a [&'a Term],
        schema: Option<&'a str>,
        halvings: u8,
    ) -> futures::future::BoxFuture<'a, Result<Checked<TranslationReply>, CallError>> {
        Box::pin(async move {
            let input = TranslationInput {
                title: passage.title,
                text: passage.text,
                context: passage.context,
                glossary,
            };
            let messages =
                self.prompts.translation(&input, schema).map_err(|e| CallError::Stopped(e.to_string()))?;
            let terms = self.article.glossary.terms_in(passage.text);
            let request = ChatRequest {
                messages: &messages,
                schema: &self.translation_schema,
                max_tokens: translation_budget(passage.tokens as u32),
                kind: AnswerKind::Translation,
                input_tokens: passage.tokens as u32,
            };
            let outcome =
                verify::complete_checked(&self.pool, &self.prompts, &request, |reply: &TranslationReply| {
                    verify::translation_findings(passage.text, &terms, &reply.translation_en)
                })
                .await;
            let cut = matches!(&outcome, Err(CallError::Failed { error: ClientError::Truncated { .. }, .. }));
            let big = passage.tokens >= 2 * MIN_HALF_TOKENS;
            if cut && halvings > 0 && big {
                tracing::debug!(
                    "a passage of {} tokens was cut at its budget: translated in parts",
                    passage.tokens
                );
                return match self.translate_in_parts(passage, glossary, schema, halvings - 1).await {
                    None => outcome,
                    Some(parts) => {
                        let spent = outcome.err().map(|e| e.usage()).unwrap_or_default();
                        match parts {
                            Ok(parts) => Ok(paid(parts, spent)),
                            Err(e) => Err(e.with_usage(spent)),
                        }
                    }
                };
            }
            // A problem the repair left as it was: a third request alike would be blind, but a
            // shorter passage is one a small model keeps faithful. Once, from the whole passage;
            // the parts are kept only when they have fewer problems (the whole reads better).
            match outcome {
                Ok(whole) if whole.stubborn && halvings == HALVINGS && big => {
                    tracing::debug!(
                        "a passage of {} tokens kept its problems after the repair: translated in parts",
                        passage.tokens
                    );
                    match self.translate_in_parts(passage, glossary, schema, 0).await {
                        Some(parts) => better(whole, parts),
                        None => Ok(whole),
                    }
                }
                other => other,
            }
        })
    }

    /// `passage` translated in balanced parts (each well under three fifths, so that sentence
    /// ends leave two), each with the end of the one before as context, joined as the source
    /// joined them. None when it does not split (one long sentence).
    async fn translate_in_parts(
        &self,
        passage: Passage<'_>,
        glossary: &[&Term],
        schema: Option<&str>,
        halvings: u8,
    ) -> Option<Result<Checked<TranslationReply>, CallError>> {
        let halves = self.split(passage.text, (passage.tokens * 3).div_ceil(5)).await;
        if halves.len() < 2 {
            return None;
        }
        let parts = halves.iter().enumerate().map(|(i, half)| {
            let context = match i.checked_sub(1) {
                Some(prev) => Some(chunk::tail_sentences(&halves[prev].text, 2)),
                None => passage.context,
            };
            let part = Passage { title: passage.title, text: &half.text, tokens: half.tokens, context };
            self.translate_passage(part, glossary, schema, halvings)
        });
        let (done, spent) = match settle_all(futures::future::join_all(parts).await) {
            Ok(settled) => settled,
            Err(e) => return Some(Err(e)),
        };
        let mut joined = Checked::new(TranslationReply { translation_en: String::new() }, spent, Vec::new());
        for (half, done) in halves.iter().zip(done) {
            joined.findings.extend(done.findings);
            if !joined.reply.translation_en.is_empty() {
                joined.reply.translation_en.push_str(if half.joiner.is_empty() { " " } else { half.joiner });
            }
            joined.reply.translation_en.push_str(done.reply.translation_en.trim());
        }
        Some(Ok(joined))
    }

    /// Passages are translated concurrently, each with the last sentences of the one before as
    /// context (not to be translated), and stitched back in order with the source's own breaks.
    /// Every passage gets the same term list — the glossary's terms of the whole article and,
    /// when there is more than one passage, the article's names extracted once — so that a name
    /// is rendered the same way throughout; each passage is checked against its own Korean.
    pub(super) async fn translate(
        &self,
        article: &Prepared,
    ) -> Result<(Checked<String>, Vec<Warning>), CallError> {
        let glossary_terms = self.terms_of(article);
        let schema = self.schema_text(&self.translation_schema);
        let chunks = self.split(&article.text, self.limits.translation_tokens).await;
        let mut usage = Usage::default();
        let names = if chunks.len() > 1 {
            match terms::extract_names(
                &self.pool,
                &self.prompts,
                &article.title,
                &article.text,
                &glossary_terms,
            )
            .await
            {
                Ok((names, cost)) => {
                    usage += cost;
                    names
                }
                // A batch round answers the names first: the passages' prompts carry them.
                Err(CallError::Deferred) => return Err(CallError::Deferred),
                // Names only help consistency; a failed extraction must not fail the article.
                Err(e) => {
                    tracing::debug!("name extraction failed for {}: {e}", article.id);
                    Vec::new()
                }
            }
        } else {
            Vec::new()
        };
        let shared_terms = terms::article_glossary(&glossary_terms, names);
        let shared: Vec<&crate::glossary::Term> = shared_terms.iter().collect();
        let title = headline(article);
        let passages = chunks.iter().enumerate().map(|(i, passage)| {
            let context = i.checked_sub(1).map(|prev| chunk::tail_sentences(&chunks[prev].text, 2));
            let passage = Passage { title, text: &passage.text, tokens: passage.tokens, context };
            self.translate_passage(passage, &shared, schema.as_deref(), HALVINGS)
        });
        let mut english = String::new();
        let mut findings = Vec::new();
        let mut pairs = Vec::with_capacity(chunks.len());
        let (done, spent) =
            settle_all(futures::future::join_all(passages).await).map_err(|e| e.with_usage(usage))?;
        usage += spent;
        for (passage, done) in chunks.iter().zip(done) {
            findings.extend(done.findings);
            if !english.is_empty() {
                english.push_str(if passage.joiner.is_empty() { " " } else { passage.joiner });
            }
            english.push_str(done.reply.translation_en.trim());
            pairs.push((passage.text.as_str(), done.reply.translation_en));
        }
        let pair_refs: Vec<(&str, &str)> = pairs.iter().map(|(ko, en)| (*ko, en.as_str())).collect();
        let inconsistent = terms::inconsistent_terms(&shared, &pair_refs);
        Ok((Checked::new(english, usage, findings), inconsistent))
    }
}

/// How many times a passage cut at its budget is halved before it fails (see
/// `Pipeline::translate_passage`), and the smallest half worth sending.
const HALVINGS: u8 = 2;
const MIN_HALF_TOKENS: usize = 64;

/// A passage to translate: its text and size, the article's title, and the end of the passage
/// before it, for continuity.
#[derive(Clone, Copy)]
struct Passage<'a> {
    title: Option<&'a str>,
    text: &'a str,
    tokens: usize,
    context: Option<&'a str>,
}

/// Completion budget for translating `source_tokens` of Korean: English of the same content
/// takes up to about twice as many o200k tokens, plus the JSON around it.
fn translation_budget(source_tokens: u32) -> u32 {
    (source_tokens.saturating_mul(2) + 256).clamp(512, 16_384)
}

/// The translation of a passage whole and in parts: the parts when they have fewer problems,
/// else the whole (it reads better, and on a tie the parts bought nothing); both paid for.
fn better(
    whole: Checked<TranslationReply>,
    parts: Result<Checked<TranslationReply>, CallError>,
) -> Result<Checked<TranslationReply>, CallError> {
    Ok(match parts {
        // A batch round answers the parts later: the choice waits for them.
        Err(CallError::Deferred) => return Err(CallError::Deferred),
        Ok(mut parts) if parts.findings.len() < whole.findings.len() => {
            parts.usage += whole.usage;
            parts
        }
        Ok(parts) => paid(whole, parts.usage),
        Err(e) => paid(whole, e.usage()),
    })
}

fn paid(mut kept: Checked<TranslationReply>, also: Usage) -> Checked<TranslationReply> {
    kept.usage += also;
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::Finding;

    fn translation(text: &str, requests: u64, problems: usize) -> Checked<TranslationReply> {
        let usage = Usage::new(100 * requests, 10 * requests, requests);
        let findings = (0..problems).map(|i| Finding::NoHangul { field: format!("field {i}") }).collect();
        Checked::new(TranslationReply { translation_en: text.into() }, usage, findings)
    }

    #[test]
    fn parts_replace_the_whole_only_with_fewer_problems_and_both_are_paid_for() {
        let kept = better(translation("whole", 2, 2), Ok(translation("parts", 4, 1))).unwrap();
        assert_eq!((kept.reply.translation_en.as_str(), kept.findings.len()), ("parts", 1));
        assert_eq!(kept.usage.requests, 6);
        let tie = better(translation("whole", 2, 1), Ok(translation("parts", 3, 1))).unwrap();
        assert_eq!((tie.reply.translation_en.as_str(), tie.usage.requests), ("whole", 5));
        let timeout = crate::client::ClientError::Timeout(std::time::Duration::from_secs(1));
        let failed = CallError::Failed { error: timeout, attempts: 2, usage: translation("", 2, 0).usage };
        let kept = better(translation("whole", 2, 1), Err(failed)).unwrap();
        assert_eq!((kept.reply.translation_en.as_str(), kept.usage.requests), ("whole", 4));
        let later = better(translation("whole", 2, 1), Err(CallError::Deferred));
        assert!(matches!(later, Err(CallError::Deferred)), "a batch round waits for the parts");
    }
}
