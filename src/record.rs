//! The output record (one JSON line per article) and the reply shapes the model is asked for.
//! The reply types are the single source of their JSON schemas: `strict_schema` derives the
//! schema sent as `response_format` from the Rust types, so the two cannot drift apart.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::input::SourceRef;
use crate::input::clean::ArticleMetadata;

/// One article's result. Field names are stable: the README documents them. Read back by
/// `ko2en report`, which renders a results file again; what an older file lacks is empty.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Record {
    pub(crate) id: String,
    pub(crate) source: SourceRef,
    #[serde(default)]
    pub(crate) title_ko: Option<String>,
    /// What the model's answers decide, in the record's place for them.
    #[serde(flatten)]
    pub(crate) answers: Answers,
    /// The Korean text that was translated (cleaned), beside `translation_en`, so that a
    /// report can show the two side by side. Only `ko2en translate` fills this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) text_ko: Option<String>,
    #[serde(default)]
    pub(crate) model: String,
    #[serde(default)]
    pub(crate) usage: Usage,
    /// What the checks found in the accepted answers (kind + one sentence naming the figure,
    /// term or field); `--strict` turns a non-empty list into an error.
    #[serde(default)]
    pub(crate) warnings: Vec<Warning>,
    #[serde(default)]
    pub(crate) error: Option<RecordError>,
    /// Facts the cleaner took out of the body: `{"reporters": [{"name", "email"}],
    /// "photo_credits": [..], "copyright": ".." | null}`. Empty with `--no-clean`.
    #[serde(default)]
    pub(crate) byline: ArticleMetadata,
    /// The id of the earlier article in the batch this one is identical to (cleaned headline
    /// and body), whose results it shares without being sent again; null otherwise.
    #[serde(default)]
    pub(crate) duplicate_of: Option<String>,
    /// A JSONL input line's own extra fields, untouched.
    #[serde(default)]
    pub(crate) meta: serde_json::Map<String, serde_json::Value>,
}

impl Record {
    /// The records of a results file (`reader`, called `file` in messages) with their line
    /// numbers, blank lines skipped; a line that cannot be read or is not a record is an error
    /// naming it.
    pub(crate) fn read_all(
        reader: impl std::io::BufRead,
        file: &str,
    ) -> impl Iterator<Item = Result<(usize, Record), String>> {
        reader.lines().enumerate().filter_map(move |(i, line)| match line {
            Err(e) => Some(Err(format!("cannot read {file}: {e}"))),
            Ok(line) if line.trim().is_empty() => None,
            Ok(line) => Some(Record::from_line(&line, i + 1, file).map(|record| (i + 1, record))),
        })
    }

    /// A results file's `line` (`number` of `file`) as a record, or one sentence saying what
    /// it is instead: most often an input article, given where results were expected.
    fn from_line(line: &str, number: usize, file: &str) -> Result<Record, String> {
        serde_json::from_str(line).map_err(|e| {
            let value: Option<serde_json::Value> = serde_json::from_str(line).ok();
            let article = value.as_ref().is_some_and(|v| v.get("text").is_some() && v.get("usage").is_none());
            if article {
                format!(
                    "{file} holds articles, not results (line {number} has a text and no usage): \
                     translate or summarize them first (ko2en translate {file} -o results.jsonl), then give the results"
                )
            } else {
                format!(
                    "line {number} of {file} is not a ko2en record ({e}); give the JSONL that summarize or translate wrote"
                )
            }
        })
    }

    /// A record with no results yet.
    pub(crate) fn new(id: String, source: SourceRef, model: &str) -> Self {
        Record {
            id,
            source,
            title_ko: None,
            answers: Answers::default(),
            text_ko: None,
            model: model.to_string(),
            usage: Usage::default(),
            warnings: Vec::new(),
            error: None,
            byline: ArticleMetadata::default(),
            duplicate_of: None,
            meta: Default::default(),
        }
    }

    /// Take `first`'s results (answers, warnings, error) for this record of an identical
    /// article, which keeps its own id, source, headline, byline and meta. Its usage stays
    /// zero: nothing was sent for it.
    pub(crate) fn share_results_of(&mut self, first: &Record) {
        self.answers = first.answers.clone();
        self.model = first.model.clone();
        self.warnings = first.warnings.clone();
        self.error = first.error.clone();
    }

    /// The heading a reader sees (the English headline, else the Korean one, else the id),
    /// and the Korean headline to show under it: none when it is the heading itself.
    pub(crate) fn headlines(&self) -> (&str, Option<&str>) {
        let (ko, en) = (self.title_ko.as_deref(), self.answers.title_en.as_deref());
        let heading = en.or(ko).unwrap_or(&self.id);
        (heading, ko.filter(|ko| en.is_some_and(|en| en != *ko)))
    }

    pub(crate) fn failed(&self) -> bool {
        self.error.is_some()
    }
}

/// The fields of a record that the model's answers decide: the one list of them, shared by
/// the record, the article cache and the record of a duplicate.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Answers {
    pub(crate) title_en: Option<String>,
    pub(crate) summary_ko: Option<String>,
    pub(crate) summary_en: Option<String>,
    #[serde(default)]
    pub(crate) key_points_en: Vec<String>,
    /// Only `ko2en translate` fills this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) translation_en: Option<String>,
}

/// Tokens and requests an article cost, and what they cost in USD at the model's list price
/// (see `price`; null when the model has no price). Set on the finished record, never stored
/// in the cache: a rerun prices the same tokens the same way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Usage {
    pub(crate) prompt_tokens: u64,
    pub(crate) completion_tokens: u64,
    pub(crate) requests: u64,
    #[serde(default)]
    pub(crate) cost: Option<f64>,
}

impl Usage {
    pub(crate) fn new(prompt_tokens: u64, completion_tokens: u64, requests: u64) -> Usage {
        Usage { prompt_tokens, completion_tokens, requests, cost: None }
    }

    /// The tokens to bill (every prompt token at the input price: which of them a provider
    /// served from its prompt cache is not kept per answer).
    pub(crate) fn tokens(&self) -> crate::price::Tokens {
        crate::price::Tokens { prompt: self.prompt_tokens, cached: 0, completion: self.completion_tokens }
    }
}

impl std::ops::AddAssign for Usage {
    fn add_assign(&mut self, other: Usage) {
        self.prompt_tokens += other.prompt_tokens;
        self.completion_tokens += other.completion_tokens;
        self.requests += other.requests;
        self.cost = match (self.cost, other.cost) {
            (Some(a), Some(b)) => Some(a + b),
            (a, b) => a.or(b),
        };
    }
}

/// Something the checks found that did not stop the article.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Warning {
    pub(crate) kind: String,
    pub(crate) message: String,
}

/// Why an article has no result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RecordError {
    pub(crate) kind: String,
    pub(crate) message: String,
}

/// What the model returns for a summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SummaryReply {
    /// The headline in English.
    pub(crate) title_en: String,
    /// A faithful summary in Korean, 3 to 5 sentences.
    pub(crate) summary_ko: String,
    /// The same summary in English.
    pub(crate) summary_en: String,
    /// 3 to 5 short key points in English.
    #[schemars(length(min = 3, max = 5))]
    pub(crate) key_points_en: Vec<String>,
}

/// What the model returns for one translated passage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TranslationReply {
    /// The complete English translation of the passage.
    pub(crate) translation_en: String,
}

/// What the model returns when asked for an article's names (see `terms::extract_names`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NamesReply {
    /// Every person, organization, place and event named in the article, each once.
    pub(crate) names: Vec<NameReply>,
}

/// One name of an article and its English rendering.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NameReply {
    /// The name exactly as written in the Korean article.
    pub(crate) name_ko: String,
    /// Its English rendering.
    pub(crate) name_en: String,
}

/// The JSON schema of `T` in the form OpenAI's strict structured outputs accept: every
/// property required, no additional properties, no `$schema`/`title` noise.
pub(crate) fn strict_schema<T: JsonSchema>() -> serde_json::Value {
    let mut schema = serde_json::to_value(schemars::schema_for!(T)).expect("a schema is JSON");
    if let Some(obj) = schema.as_object_mut() {
        // Shifted out, not swapped: the keys keep their order.
        obj.shift_remove("$schema");
        obj.shift_remove("title");
    }
    make_strict(&mut schema);
    schema
}

fn make_strict(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(obj) => {
            if obj.get("type").and_then(|t| t.as_str()) == Some("object")
                && let Some(props) = obj.get("properties").and_then(|p| p.as_object())
            {
                let names: Vec<serde_json::Value> =
                    props.keys().map(|k| serde_json::Value::String(k.clone())).collect();
                obj.insert("required".into(), serde_json::Value::Array(names));
                obj.insert("additionalProperties".into(), serde_json::Value::Bool(false));
            }
            obj.values_mut().for_each(make_strict);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(make_strict),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_schema_is_strict_and_names_every_field() {
        let schema = strict_schema::<SummaryReply>();
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false);
        let required: Vec<&str> =
            schema["required"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
        for field in ["title_en", "summary_ko", "summary_en", "key_points_en"] {
            assert!(required.contains(&field), "{field} missing from {required:?}");
        }
        assert_eq!(schema["properties"]["key_points_en"]["type"], "array");
        assert!(schema.get("$schema").is_none());
    }

    /// Constrained decoders write the fields in the schema's order: the headline, the
    /// summaries, then the key points drawn from them; and the prompt's 3 to 5 key points are
    /// a bound the decoder keeps.
    #[test]
    fn the_summary_schema_sent_keeps_the_declared_order_and_bounds_the_key_points() {
        let schema = strict_schema::<SummaryReply>();
        let expected = concat!(
            r#"{"description":"What the model returns for a summary.","type":"object","properties":{"#,
            r#""title_en":{"description":"The headline in English.","type":"string"},"#,
            r#""summary_ko":{"description":"A faithful summary in Korean, 3 to 5 sentences.","type":"string"},"#,
            r#""summary_en":{"description":"The same summary in English.","type":"string"},"#,
            r#""key_points_en":{"description":"3 to 5 short key points in English.","type":"array","items":{"type":"string"},"minItems":3,"maxItems":5}},"#,
            r#""additionalProperties":false,"required":["title_en","summary_ko","summary_en","key_points_en"]}"#
        );
        assert_eq!(schema.to_string(), expected);
    }

    #[test]
    fn a_reply_with_an_unknown_or_missing_field_is_rejected() {
        let ok = r#"{"title_en":"t","summary_ko":"요약","summary_en":"s","key_points_en":["a"]}"#;
        assert!(serde_json::from_str::<SummaryReply>(ok).is_ok());
        let extra = r#"{"title_en":"t","summary_ko":"요약","summary_en":"s","key_points_en":[],"x":1}"#;
        assert!(serde_json::from_str::<SummaryReply>(extra).is_err());
        let missing = r#"{"title_en":"t","summary_ko":"요약","key_points_en":[]}"#;
        assert!(serde_json::from_str::<SummaryReply>(missing).is_err());
    }

    #[test]
    fn the_record_serializes_with_its_documented_field_names() {
        let source = SourceRef { path: "a.txt".into(), line: Some(3) };
        let record = Record::new("a".into(), source, "m");
        let json = serde_json::to_value(&record).unwrap();
        let mut keys: Vec<&str> = json.as_object().unwrap().keys().map(String::as_str).collect();
        let mut expected = [
            "id",
            "source",
            "title_ko",
            "title_en",
            "summary_ko",
            "summary_en",
            "key_points_en",
            "model",
            "usage",
            "warnings",
            "error",
            "byline",
            "duplicate_of",
            "meta",
        ];
        keys.sort();
        expected.sort();
        assert_eq!(keys, expected);
        assert_eq!(json["source"], "a.txt:3");
    }
}
