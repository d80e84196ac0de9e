//! What happens to one article: prepared (cleaned, headline found), summarized in Korean and
//! English, and — for `translate` — translated in full; the outcome is always a record, with
//! the error in it when something failed, so that one bad article never stops a batch.
//! An article already done with the same settings is one cache lookup: its results are reused
//! and its identity (id, source, meta) comes from the current input.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::cache::{ArticleIdentity, Key, article_key};
use crate::chunk;
use crate::chunk::ChunkLimits;
use crate::client::{ChatRequest, ReplySchema};
use crate::glossary::{Glossary, Term};
use crate::input::{Loaded, Prepared, prepare};
use crate::pool::{CallError, Pool};
use crate::prompt::{CombineInput, Messages, PartSummary, Prompts, SummaryInput};
use crate::record::{
    Answers, Record, RecordError, SummaryReply, TranslationReply, Usage, Warning, strict_schema,
};
use crate::sizing::AnswerKind;
use crate::verify::{self, Checked};

mod translate;

/// Completion budget of a summary: two summaries and a few key points fit well within it.
const SUMMARY_MAX_TOKENS: u32 = 1_500;

/// What a run produces for each article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Bilingual summary.
    Summarize,
    /// Bilingual summary and full translation.
    Translate,
}

/// What the article cache keeps of a record: what the model's answers decide. The rest (id,
/// source, meta, Korean headline, byline, model) comes from the current input.
#[derive(Debug, Serialize, Deserialize)]
struct CachedResult {
    #[serde(flatten)]
    answers: Answers,
    warnings: Vec<Warning>,
    usage: Usage,
}

impl CachedResult {
    fn of(record: &Record) -> CachedResult {
        CachedResult {
            answers: record.answers.clone(),
            warnings: record.warnings.clone(),
            usage: record.usage,
        }
    }

    fn fill(self, record: &mut Record) {
        record.answers = self.answers;
        record.warnings = self.warnings;
        record.usage = self.usage;
    }
}

/// How articles are prepared and their answers judged: the pipeline's own settings.
#[derive(Debug, Clone)]
pub(crate) struct ArticleSettings {
    /// Remove page furniture before sending (`--no-clean` turns it off).
    pub(crate) clean: bool,
    /// The user's Korean -> English terms (empty without `--glossary`), loaded and validated once.
    pub(crate) glossary: Arc<Glossary>,
    /// Warnings fail the article (`--strict`).
    pub(crate) strict: bool,
    /// Send articles that are not in Korean too (`--allow-non-korean`).
    pub(crate) allow_non_korean: bool,
    /// Longest article sent, in tokens (`--max-article-tokens`): longer is a mistake, not news.
    pub(crate) max_article_tokens: usize,
}

/// Less of its letters in Korean than this, and an article is not Korean news.
const KOREAN_FLOOR: f64 = 0.3;

/// Everything a run shares to turn articles into records.
pub(crate) struct Pipeline {
    pool: Pool,
    prompts: Prompts,
    mode: Mode,
    limits: ChunkLimits,
    summary_schema: ReplySchema,
    translation_schema: ReplySchema,
    article: ArticleSettings,
    /// The request bodies with no article in them (model, response format, schemas,
    /// parameters) and the chunk limits: part of every article's cache key.
    request_shape: serde_json::Value,
    /// The hash of the prompt templates: part of every article's cache key.
    prompts_fingerprint: String,
}

impl Pipeline {
    pub(crate) fn new(
        pool: Pool,
        prompts: Prompts,
        mode: Mode,
        limits: ChunkLimits,
        article: ArticleSettings,
    ) -> Pipeline {
        let summary_schema = ReplySchema { name: "article_summary", schema: strict_schema::<SummaryReply>() };
        let translation_schema =
            ReplySchema { name: "passage_translation", schema: strict_schema::<TranslationReply>() };
        let empty = Messages::new(String::new(), String::new());
        let shape = |schema: &ReplySchema, max_tokens: u32| {
            pool.client()
                .prepare(&ChatRequest {
                    messages: &empty,
                    schema,
                    max_tokens,
                    kind: AnswerKind::Summary,
                    input_tokens: 0,
                })
                .body()
                .clone()
        };
        let request_shape = serde_json::json!([
            shape(&summary_schema, SUMMARY_MAX_TOKENS),
            shape(&translation_schema, 0),
            {"summary_tokens": limits.summary_tokens, "translation_tokens": limits.translation_tokens,
             "encoding": pool.counter().encoding().name()},
        ]);
        let prompts_fingerprint = prompts.fingerprint();
        Pipeline {
            pool,
            prompts,
            mode,
            limits,
            summary_schema,
            translation_schema,
            article,
            request_shape,
            prompts_fingerprint,
        }
    }

    /// The cache key of `article`'s record with this pipeline's settings.
    fn article_key(&self, article: &Prepared) -> Key {
        let glossary: Vec<(String, String)> =
            self.terms_of(article).into_iter().map(|t| (t.ko.clone(), t.en.clone())).collect();
        let identity = ArticleIdentity {
            mode: match self.mode {
                Mode::Summarize => "summarize",
                Mode::Translate => "translate",
            },
            endpoint: self.pool.endpoint_id(),
            model: self.pool.client().model(),
            request_shape: &self.request_shape,
            prompts: &self.prompts_fingerprint,
            glossary: &glossary,
        };
        article_key(&identity, &article.title, &article.text)
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The article prepared for the model, or the error record of one that cannot be.
    pub(crate) fn admit(&self, loaded: Loaded) -> Result<Prepared, Box<Record>> {
        let refused = |kind: &str, message: String| {
            let mut record =
                Record::new(loaded.id.clone(), loaded.source.clone(), self.pool.client().model());
            record.error = Some(RecordError { kind: kind.to_string(), message });
            Box::new(record)
        };
        let prepared = loaded
            .article
            .and_then(|a| prepare(a, self.article.clean))
            .map_err(|e| refused(e.kind(), e.to_string()))?;
        // What would be paid for by mistake is refused here, before any request.
        let share = crate::check::korean_share(&[&prepared.title, &prepared.text]);
        if !self.article.allow_non_korean && share < KOREAN_FLOOR {
            return Err(refused(
                "not_korean",
                format!(
                    "{} is not in Korean (only {:.0}% of its letters are Korean); it was not sent. \
                     Pass --allow-non-korean to send it anyway",
                    prepared.source,
                    share * 100.0
                ),
            ));
        }
        let limit = self.article.max_article_tokens;
        // A token is at least a byte: only a text longer than the limit in bytes is counted.
        if prepared.text.len() > limit {
            let tokens = self.pool.counter().count(&prepared.text);
            if tokens > limit {
                return Err(refused(
                    "too_long",
                    format!(
                        "{} is {tokens} tokens long, more than any news article (--max-article-tokens \
                         {limit}); it was not sent. Raise --max-article-tokens to send it",
                        prepared.source
                    ),
                ));
            }
        }
        Ok(prepared)
    }

    /// The record of an article whose work panicked: a bug, reported as that article's error
    /// so that the batch goes on.
    pub(crate) fn crashed(&self, id: String, source: crate::input::SourceRef) -> Record {
        let mut record = Record::new(id, source, self.pool.client().model());
        record.error = Some(RecordError {
            kind: "internal".into(),
            message: "ko2en failed on this article (a bug; please report it); the rest of the batch went on"
                .into(),
        });
        record
    }

    /// The record of `prepared` before any answer: what is known from the input alone.
    pub(crate) fn start_record(&self, prepared: &Prepared) -> Record {
        let mut record =
            Record::new(prepared.id.clone(), prepared.source.clone(), self.pool.client().model());
        record.title_ko = Some(prepared.title.clone()).filter(|t| !t.is_empty());
        record.meta = prepared.meta.clone();
        record.byline = prepared.byline.clone();
        if self.mode == Mode::Translate {
            record.text_ko = Some(prepared.text.clone());
        }
        record
    }

    /// A prepared article in, its record out: from the article cache when this article was
    /// done before with the same settings, else answered (and then cached, when complete).
    /// `record` with what its tokens cost at the model's price (null without one).
    pub(crate) fn priced(&self, mut record: Record) -> Record {
        record.usage.cost = self.pool.price().map(|price| price.cost(record.usage.tokens()));
        record
    }

    pub(crate) async fn process_prepared(&self, prepared: Prepared) -> Record {
        let mut record = self.start_record(&prepared);
        let cached = match self.pool.cache() {
            Some(cache) => {
                let key = self.article_key(&prepared);
                match cache.article(key).await.map(|json| serde_json::from_str::<CachedResult>(&json)) {
                    Some(Ok(result)) => {
                        result.fill(&mut record);
                        verify::enforce_strict(&mut record, self.article.strict);
                        return record;
                    }
                    Some(Err(e)) => {
                        tracing::warn!("a cached record of {} is unreadable ({e}); redoing it", record.id)
                    }
                    None => {}
                }
                Some((cache, key))
            }
            None => None,
        };
        self.answer(&prepared, &mut record).await;
        // Only a complete record is final: one with an error is retried on the next run; an
        // imagined one (--dry-run) never is.
        if let Some((cache, key)) = cached
            && !record.failed()
            && !self.pool.is_dry()
        {
            let result = serde_json::to_string(&CachedResult::of(&record)).expect("a result is JSON");
            if let Err(e) = cache.store_article(key, result).await {
                tracing::warn!("{e}");
            }
        }
        verify::enforce_strict(&mut record, self.article.strict);
        record
    }

    /// Fill `record` with the model's answers for `prepared`.
    async fn answer(&self, prepared: &Prepared, record: &mut Record) {
        let (summary, translation) = match self.mode {
            Mode::Summarize => (self.summarize(prepared).await, None),
            Mode::Translate => {
                let (s, t) = tokio::join!(self.summarize(prepared), self.translate(prepared));
                (s, Some(t))
            }
        };
        let mut first_error: Option<CallError> = None;
        match summary {
            Ok(Checked { reply, usage, findings, .. }) => {
                record.usage += usage;
                record.warnings.extend(findings.iter().map(verify::warning));
                record.answers.title_en = Some(reply.title_en);
                record.answers.summary_ko = Some(reply.summary_ko);
                record.answers.summary_en = Some(reply.summary_en);
                record.answers.key_points_en = reply.key_points_en;
            }
            Err(e) => {
                record.usage += e.usage();
                first_error = Some(e);
            }
        }
        match translation {
            Some(Ok((Checked { reply, usage, findings, .. }, inconsistent))) => {
                record.usage += usage;
                record.warnings.extend(findings.iter().map(verify::warning));
                record.warnings.extend(inconsistent);
                record.answers.translation_en = Some(reply);
            }
            Some(Err(e)) => {
                record.usage += e.usage();
                first_error.get_or_insert(e);
            }
            None => {}
        }
        if let Some(e) = first_error {
            record.error = Some(RecordError { kind: e.kind().to_string(), message: e.to_string() });
        }
    }

    /// The glossary terms of the whole article: every request about it gets the same list.
    fn terms_of<'a>(&'a self, article: &Prepared) -> Vec<&'a Term> {
        crate::terms::article_terms(&self.article.glossary, &article.title, &article.text)
    }

    /// Split `text` into chunks of at most `max_tokens` on the blocking pool: tokenizing a long
    /// article is CPU work that must not hold up the runtime's other tasks.
    async fn split(&self, text: &str, max_tokens: usize) -> Vec<chunk::Chunk> {
        let (text, counter) = (text.to_string(), self.pool.counter());
        match tokio::task::spawn_blocking(move || chunk::split(&text, max_tokens, counter)).await {
            Ok(chunks) => chunks,
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            // Cancelled: the runtime is shutting down and this article will not be written.
            Err(_) => Vec::new(),
        }
    }

    fn schema_text(&self, schema: &ReplySchema) -> Option<String> {
        self.pool.client().schema_in_prompt().then(|| schema.schema.to_string())
    }

    /// An article that fits is one request. A longer one is summarized part by part (map,
    /// concurrently) and the part summaries are combined into one (reduce). Every answer is
    /// checked against the Korean it summarizes, with one repair when the checks find problems.
    async fn summarize(&self, article: &Prepared) -> Result<Checked<SummaryReply>, CallError> {
        let terms = self.terms_of(article);
        let title = headline(article);
        let schema = self.schema_text(&self.summary_schema);
        let chunks = self.split(&article.text, self.limits.summary_tokens).await;
        let part_count = chunks.len();
        let parts = chunks.iter().enumerate().map(|(i, part)| {
            let part_terms = self.article.glossary.terms_in(&part.text);
            let input = SummaryInput { title, text: &part.text, part: i + 1, part_count, glossary: &terms };
            let messages = self.prompts.summary(&input, schema.as_deref());
            async move {
                let messages = messages.map_err(|e| CallError::Stopped(e.to_string()))?;
                let request = ChatRequest {
                    messages: &messages,
                    schema: &self.summary_schema,
                    max_tokens: SUMMARY_MAX_TOKENS,
                    kind: AnswerKind::Summary,
                    input_tokens: part.tokens as u32,
                };
                verify::complete_checked(&self.pool, &self.prompts, &request, |reply: &SummaryReply| {
                    verify::summary_findings(&article.title, &part.text, &part_terms, reply)
                })
                .await
            }
        });
        let mut usage = Usage::default();
        let (mut replies, spent) = settle_all(futures::future::join_all(parts).await)?;
        usage += spent;
        if replies.len() == 1 {
            let mut only = replies.pop().expect("one reply");
            only.usage = usage;
            return Ok(only);
        }
        // Findings of the parts are not carried over: the combined summary is checked afresh
        // against the whole article.
        let summaries: Vec<PartSummary<'_>> = replies
            .iter()
            .map(|r| PartSummary { summary_ko: &r.reply.summary_ko, summary_en: &r.reply.summary_en })
            .collect();
        let input = CombineInput { title, parts: &summaries, glossary: &terms };
        let messages =
            self.prompts.combine(&input, schema.as_deref()).map_err(|e| CallError::Stopped(e.to_string()))?;
        let request = ChatRequest {
            messages: &messages,
            schema: &self.summary_schema,
            max_tokens: SUMMARY_MAX_TOKENS,
            kind: AnswerKind::Combine,
            input_tokens: 0,
        };
        let mut combined =
            verify::complete_checked(&self.pool, &self.prompts, &request, |reply: &SummaryReply| {
                verify::summary_findings(&article.title, &article.text, &terms, reply)
            })
            .await
            .map_err(|e| e.with_usage(usage))?;
        usage += combined.usage;
        combined.usage = usage;
        Ok(combined)
    }
}

/// The parts' answers and what they cost, or the first failure carrying what all the parts
/// cost (the failed ones' billed attempts included).
fn settle_all<T>(results: Vec<Result<Checked<T>, CallError>>) -> Result<(Vec<Checked<T>>, Usage), CallError> {
    let mut spent = Usage::default();
    let mut answers = Vec::with_capacity(results.len());
    let mut failure: Option<CallError> = None;
    for result in results {
        match result {
            Ok(done) => {
                spent += done.usage;
                answers.push(done);
            }
            Err(e) if failure.is_none() => failure = Some(e),
            Err(e) => spent += e.usage(),
        }
    }
    match failure {
        Some(e) => Err(e.with_usage(spent)),
        None => Ok((answers, spent)),
    }
}

/// The headline for prompts: none when the source had none (a JSONL line without a title).
fn headline(article: &Prepared) -> Option<&str> {
    Some(article.title.as_str()).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_part_carries_what_every_part_of_the_article_cost() {
        let cost = |requests| Usage::new(10 * requests, requests, requests);
        let ok = |requests| Ok(Checked::new((), cost(requests), Vec::new()));
        let failed = |requests| {
            Err(CallError::Failed {
                error: crate::client::ClientError::Timeout(std::time::Duration::from_secs(1)),
                attempts: requests as u32,
                usage: cost(requests),
            })
        };
        let (answers, spent) = settle_all(vec![ok(1), ok(2)]).unwrap();
        assert_eq!((answers.len(), spent), (2, cost(3)));
        let error = settle_all(vec![ok(1), failed(3), ok(2), failed(2)]).unwrap_err();
        assert_eq!(error.usage(), cost(8));
    }
}
