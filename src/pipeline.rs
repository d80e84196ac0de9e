//! What happens to one article: prepared (cleaned, headline found), summarized in Korean and
//! English, and — for `translate` — translated in full; the outcome is always a record, with
//! the error in it when something failed, so that one bad article never stops a batch.

use crate::chunk;
use crate::client::{ChatRequest, ReplySchema};
use crate::input::{Article, InputError, Loaded, SourceRef, clean};
use crate::pool::{CallError, Pool};
use crate::prompt::{CombineInput, PartSummary, Prompts, SummaryInput, TranslationInput};
use crate::record::{Record, RecordError, SummaryReply, TranslationReply, Usage, strict_schema};

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

/// How articles are cut for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkLimits {
    /// Largest piece of an article summarized in one request.
    pub summary_tokens: usize,
    /// Largest passage translated in one request (its English must fit the completion budget).
    pub translation_tokens: usize,
}

impl Default for ChunkLimits {
    fn default() -> Self {
        // Most news articles fit one summary request; a translated passage's English takes up
        // to about twice its Korean tokens, and shorter passages keep models from skipping text.
        ChunkLimits { summary_tokens: 6_000, translation_tokens: 1_500 }
    }
}

/// Everything a run shares to turn articles into records.
pub struct Pipeline {
    pool: Pool,
    prompts: Prompts,
    mode: Mode,
    limits: ChunkLimits,
    summary_schema: ReplySchema,
    translation_schema: ReplySchema,
}

impl Pipeline {
    pub fn new(pool: Pool, prompts: Prompts, mode: Mode, limits: ChunkLimits) -> Pipeline {
        Pipeline {
            pool,
            prompts,
            mode,
            limits,
            summary_schema: ReplySchema { name: "article_summary", schema: strict_schema::<SummaryReply>() },
            translation_schema: ReplySchema {
                name: "passage_translation",
                schema: strict_schema::<TranslationReply>(),
            },
        }
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
        record.title_ko = Some(prepared.title.clone()).filter(|t| !t.is_empty());
        record.meta = prepared.meta.clone();
        let (summary, translation) = match self.mode {
            Mode::Summarize => (self.summarize(&prepared).await, None),
            Mode::Translate => {
                let (s, t) = tokio::join!(self.summarize(&prepared), self.translate(&prepared));
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
        record
    }

    fn schema_text(&self, schema: &ReplySchema) -> Option<String> {
        self.pool.client().schema_in_prompt().then(|| schema.schema.to_string())
    }

    /// An article that fits is one request. A longer one is summarized part by part (map,
    /// concurrently) and the part summaries are combined into one (reduce).
    async fn summarize(&self, article: &Prepared) -> Result<(SummaryReply, Usage), CallError> {
        let schema = self.schema_text(&self.summary_schema);
        let chunks = chunk::split(&article.text, self.limits.summary_tokens, self.pool.counter());
        let part_count = chunks.len();
        let parts = chunks.iter().enumerate().map(|(i, chunk)| {
            let input = SummaryInput {
                title: Some(article.title.as_str()).filter(|t| !t.is_empty()),
                text: &chunk.text,
                part: i + 1,
                part_count,
                glossary: &[],
            };
            let messages = self.prompts.summary(&input, schema.as_deref());
            async move {
                let messages = messages.map_err(|e| CallError::Stopped(e.to_string()))?;
                let request = ChatRequest {
                    messages: &messages,
                    schema: &self.summary_schema,
                    max_tokens: SUMMARY_MAX_TOKENS,
                };
                self.pool.complete::<SummaryReply>(&request).await
            }
        });
        let mut usage = Usage::default();
        let mut replies = Vec::with_capacity(part_count);
        for done in futures::future::join_all(parts).await {
            let done = done?;
            usage += done.usage;
            replies.push(done.reply);
        }
        if replies.len() == 1 {
            return Ok((replies.pop().expect("one reply"), usage));
        }
        let summaries: Vec<PartSummary<'_>> = replies
            .iter()
            .map(|r| PartSummary { summary_ko: &r.summary_ko, summary_en: &r.summary_en })
            .collect();
        let input = CombineInput {
            title: Some(article.title.as_str()).filter(|t| !t.is_empty()),
            parts: &summaries,
            glossary: &[],
        };
        let messages =
            self.prompts.combine(&input, schema.as_deref()).map_err(|e| CallError::Stopped(e.to_string()))?;
        let request =
            ChatRequest { messages: &messages, schema: &self.summary_schema, max_tokens: SUMMARY_MAX_TOKENS };
        let done = self.pool.complete::<SummaryReply>(&request).await?;
        usage += done.usage;
        Ok((done.reply, usage))
    }

    /// Passages are translated concurrently, each with the last sentences of the one before as
    /// context (not to be translated), and stitched back in order with the source's own breaks.
    async fn translate(&self, article: &Prepared) -> Result<(String, Usage), CallError> {
        let schema = self.schema_text(&self.translation_schema);
        let chunks = chunk::split(&article.text, self.limits.translation_tokens, self.pool.counter());
        let passages = chunks.iter().enumerate().map(|(i, passage)| {
            let context = i.checked_sub(1).map(|prev| chunk::tail_sentences(&chunks[prev].text, 2));
            let input = TranslationInput {
                title: Some(article.title.as_str()).filter(|t| !t.is_empty()),
                text: &passage.text,
                context,
                glossary: &[],
            };
            let messages = self.prompts.translation(&input, schema.as_deref());
            let max_tokens = translation_budget(passage.tokens as u32);
            async move {
                let messages = messages.map_err(|e| CallError::Stopped(e.to_string()))?;
                let request =
                    ChatRequest { messages: &messages, schema: &self.translation_schema, max_tokens };
                self.pool.complete::<TranslationReply>(&request).await
            }
        });
        let mut usage = Usage::default();
        let mut english = String::new();
        for (passage, done) in chunks.iter().zip(futures::future::join_all(passages).await) {
            let done = done?;
            usage += done.usage;
            if !english.is_empty() {
                english.push_str(if passage.joiner.is_empty() { " " } else { passage.joiner });
            }
            english.push_str(done.reply.translation_en.trim());
        }
        Ok((english, usage))
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
