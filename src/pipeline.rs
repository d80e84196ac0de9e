//! What happens to one article: prepared (cleaned, headline found), summarized in Korean and
//! English, and — for `translate` — translated in full; the outcome is always a record, with
//! the error in it when something failed, so that one bad article never stops a batch.
//! An article already done with the same settings is one cache lookup: its results are reused
//! and its identity (id, source, meta) comes from the current input.

use serde::{Deserialize, Serialize};

use crate::cache::{ArticleSettings, Key, article_key};
use crate::client::{ChatRequest, ReplySchema};
use crate::input::{Article, InputError, Loaded, SourceRef, clean};
use crate::pool::{CallError, Pool};
use crate::prompt::{Messages, Prompts, SummaryInput, TranslationInput};
use crate::record::{Record, RecordError, SummaryReply, TranslationReply, Usage, Warning, strict_schema};

/// Completion budget of a summary: two summaries and a few key points fit well within it.
const SUMMARY_MAX_TOKENS: u32 = 1_500;

/// What a run produces for each article.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Bilingual summary.
    Summarize,
    /// Bilingual summary and full translation.
    Translate,
}

/// An article ready for the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub id: String,
    pub source: SourceRef,
    pub title: String,
    pub text: String,
    pub meta: serde_json::Map<String, serde_json::Value>,
}

/// Clean the page (furniture, promos, bylines, trailing headlines: see `input::clean`) and find
/// the headline: the source's own title, or the first line that survives cleaning.
pub fn prepare(article: Article) -> Result<Prepared, InputError> {
    let cleaned = clean::clean(article.title.as_deref(), &article.text);
    if cleaned.text.trim().is_empty() {
        return Err(InputError::Empty { location: article.source.to_string() });
    }
    Ok(Prepared {
        id: article.id,
        source: article.source,
        title: cleaned.title,
        text: cleaned.text,
        meta: article.meta,
    })
}

/// The part of a record that the model's answers decide, which is what the article cache keeps.
/// The rest (id, source, meta, Korean headline, model) comes from the current input and settings.
#[derive(Debug, Serialize, Deserialize)]
struct CachedResult {
    title_en: Option<String>,
    summary_ko: Option<String>,
    summary_en: Option<String>,
    key_points_en: Vec<String>,
    translation_en: Option<String>,
    warnings: Vec<Warning>,
    usage: Usage,
}

impl CachedResult {
    fn of(record: &Record) -> CachedResult {
        CachedResult {
            title_en: record.title_en.clone(),
            summary_ko: record.summary_ko.clone(),
            summary_en: record.summary_en.clone(),
            key_points_en: record.key_points_en.clone(),
            translation_en: record.translation_en.clone(),
            warnings: record.warnings.clone(),
            usage: record.usage,
        }
    }

    fn fill(self, record: &mut Record) {
        record.title_en = self.title_en;
        record.summary_ko = self.summary_ko;
        record.summary_en = self.summary_en;
        record.key_points_en = self.key_points_en;
        record.translation_en = self.translation_en;
        record.warnings = self.warnings;
        record.usage = self.usage;
    }
}

/// Everything a run shares to turn articles into records.
pub struct Pipeline {
    pool: Pool,
    prompts: Prompts,
    mode: Mode,
    summary_schema: ReplySchema,
    translation_schema: ReplySchema,
    /// The request bodies with no article in them (model, response format, schemas,
    /// parameters): part of every article's cache key.
    request_shape: serde_json::Value,
    /// The hash of the prompt templates: part of every article's cache key.
    prompts_fingerprint: String,
}

impl Pipeline {
    pub fn new(pool: Pool, prompts: Prompts, mode: Mode) -> Pipeline {
        let summary_schema = ReplySchema { name: "article_summary", schema: strict_schema::<SummaryReply>() };
        let translation_schema =
            ReplySchema { name: "passage_translation", schema: strict_schema::<TranslationReply>() };
        let empty = Messages { system: String::new(), user: String::new() };
        let shape = |schema: &ReplySchema, max_tokens: u32| {
            pool.client().body(&ChatRequest { messages: &empty, schema, max_tokens })
        };
        let request_shape =
            serde_json::json!([shape(&summary_schema, SUMMARY_MAX_TOKENS), shape(&translation_schema, 0),]);
        let prompts_fingerprint = prompts.fingerprint();
        Pipeline {
            pool,
            prompts,
            mode,
            summary_schema,
            translation_schema,
            request_shape,
            prompts_fingerprint,
        }
    }

    /// The cache key of `article`'s record with this pipeline's settings.
    fn article_key(&self, article: &Prepared) -> Key {
        let settings = ArticleSettings {
            mode: match self.mode {
                Mode::Summarize => "summarize",
                Mode::Translate => "translate",
            },
            endpoint: self.pool.endpoint_id(),
            model: self.pool.client().model(),
            request_shape: &self.request_shape,
            prompts: &self.prompts_fingerprint,
            // No glossary reaches the prompts yet; when one does, its terms go here.
            glossary: &[],
        };
        article_key(&settings, &article.title, &article.text)
    }

    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// One article in, one record out.
    pub async fn process(&self, loaded: Loaded) -> Record {
        let model = self.pool.client().model().to_string();
        let mut record = Record::new(loaded.id, loaded.source, &model);
        let prepared = match loaded.article.and_then(prepare) {
            Ok(p) => p,
            Err(e) => {
                record.error = Some(RecordError { kind: e.kind().to_string(), message: e.to_string() });
                return record;
            }
        };
        record.id = prepared.id.clone();
        record.title_ko = Some(prepared.title.clone());
        record.meta = prepared.meta.clone();
        let cached = match self.pool.cache() {
            Some(cache) => {
                let key = self.article_key(&prepared);
                match cache.article(key).await.map(|json| serde_json::from_str::<CachedResult>(&json)) {
                    Some(Ok(result)) => {
                        result.fill(&mut record);
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
        // Only a complete record is final: one with an error is retried on the next run.
        if let Some((cache, key)) = cached
            && !record.failed()
        {
            let result = serde_json::to_string(&CachedResult::of(&record)).expect("a result is JSON");
            if let Err(e) = cache.store_article(key, result).await {
                tracing::warn!("{e}");
            }
        }
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
            Ok((reply, usage)) => {
                record.usage += usage;
                record.title_en = Some(reply.title_en);
                record.summary_ko = Some(reply.summary_ko);
                record.summary_en = Some(reply.summary_en);
                record.key_points_en = reply.key_points_en;
            }
            Err(e) => first_error = Some(e),
        }
        match translation {
            Some(Ok((text, usage))) => {
                record.usage += usage;
                record.translation_en = Some(text);
            }
            Some(Err(e)) => {
                first_error.get_or_insert(e);
            }
            None => {}
        }
        if let Some(e) = first_error {
            record.error = Some(RecordError { kind: e.kind().to_string(), message: e.to_string() });
        }
    }

    fn schema_text(&self, schema: &ReplySchema) -> Option<String> {
        self.pool.client().schema_in_prompt().then(|| schema.schema.to_string())
    }

    async fn summarize(&self, article: &Prepared) -> Result<(SummaryReply, Usage), CallError> {
        let input = SummaryInput {
            title: Some(&article.title),
            text: &article.text,
            part: 1,
            part_count: 1,
            glossary: &[],
        };
        let messages = self
            .prompts
            .summary(&input, self.schema_text(&self.summary_schema).as_deref())
            .map_err(|e| CallError::Stopped(e.to_string()))?;
        let request =
            ChatRequest { messages: &messages, schema: &self.summary_schema, max_tokens: SUMMARY_MAX_TOKENS };
        let done = self.pool.complete::<SummaryReply>(&request).await?;
        Ok((done.reply, done.usage))
    }

    async fn translate(&self, article: &Prepared) -> Result<(String, Usage), CallError> {
        let input = TranslationInput {
            title: Some(&article.title),
            text: &article.text,
            context: None,
            glossary: &[],
        };
        let messages = self
            .prompts
            .translation(&input, self.schema_text(&self.translation_schema).as_deref())
            .map_err(|e| CallError::Stopped(e.to_string()))?;
        let source_tokens = tiktoken_rs::o200k_base_singleton().encode_ordinary(&article.text).len() as u32;
        let request = ChatRequest {
            messages: &messages,
            schema: &self.translation_schema,
            max_tokens: translation_budget(source_tokens),
        };
        let done = self.pool.complete::<TranslationReply>(&request).await?;
        Ok((done.reply.translation_en, done.usage))
    }
}

/// Completion budget for translating `source_tokens` of Korean: English of the same content
/// takes up to about twice as many o200k tokens, plus the JSON around it.
pub fn translation_budget(source_tokens: u32) -> u32 {
    (source_tokens.saturating_mul(2) + 256).clamp(512, 16_384)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn article(title: Option<&str>, text: &str) -> Article {
        Article {
            id: "a".into(),
            source: SourceRef { path: "a.txt".into(), line: None },
            title: title.map(str::to_string),
            text: text.into(),
            meta: Default::default(),
        }
    }

    #[test]
    fn a_text_file_has_its_headline_on_the_first_non_empty_line() {
        let p =
            prepare(article(None, "\n\n  정부, 새 수출 계획 발표  \r\n\n첫 문단입니다.\n둘째 문단입니다.\n"))
                .unwrap();
        assert_eq!(p.title, "정부, 새 수출 계획 발표");
        assert_eq!(p.text, "첫 문단입니다.\n둘째 문단입니다.");
    }

    #[test]
    fn the_seed_page_is_cleaned_before_anything_is_sent() {
        let page = include_str!("../fixtures/alibaba-cloud-korea.txt");
        let p = prepare(article(None, page)).unwrap();
        assert!(p.title.starts_with("[이슈 분석] 마윈 회장의 방한"), "{}", p.title);
        for noise in ["상단여백", "Back to Top", "기사 댓글", "무단 전재", "<사진"] {
            assert!(!p.text.contains(noise), "{noise} left in the body");
        }
        assert!(p.text.contains("SK텔레콤 을지로 본사를 방문해"));
    }

    #[test]
    fn a_given_title_keeps_the_whole_text_as_body() {
        let p = prepare(article(Some("제목"), "첫 문단입니다.")).unwrap();
        assert_eq!((p.title.as_str(), p.text.as_str()), ("제목", "첫 문단입니다."));
    }

    #[test]
    fn an_article_without_a_body_is_an_empty_error() {
        assert!(matches!(prepare(article(None, "  \n\n")), Err(InputError::Empty { .. })));
        assert!(matches!(prepare(article(None, "제목만 있다")), Err(InputError::Empty { .. })));
    }
}
