//! What the mock says: deterministic functions of the request. A `json_schema` request gets an
//! instance valid against its schema; string fields ending in `_ko` get Korean, all other text is
//! English without Hangul; every generated text starts with `[mock]` so nobody mistakes it for
//! a real translation.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

const ENGLISH_WORDS: &[&str] = &[
    "the",
    "ministry",
    "said",
    "on",
    "Monday",
    "that",
    "exports",
    "rose",
    "while",
    "officials",
    "expect",
    "further",
    "growth",
    "in",
    "the",
    "technology",
    "sector",
    "and",
    "companies",
    "plan",
    "new",
    "investment",
    "across",
    "Asia",
    "according",
    "to",
    "industry",
    "sources",
];

const KOREAN_SENTENCES: &[&str] = &[
    "정부는 관련 산업의 성장을 지원하겠다고 밝혔다.",
    "업계는 해외 시장 확대에 기대를 걸고 있다.",
    "전문가들은 협력이 더욱 긴밀해질 것으로 내다봤다.",
    "회사 측은 구체적인 계획을 곧 발표할 예정이다.",
];

/// A deterministic stream of choices seeded by the request.
pub(crate) struct Generator {
    state: u64,
    /// Characters of Korean per paragraph of the request's source text: sizes "translation"
    /// fields, one English paragraph per Korean one, so that a rehearsal shows the real shape.
    source_paragraphs: Vec<usize>,
    /// The figures of the request's last user message, in English form.
    figures: Vec<String>,
    /// How much longer than usual this answer's summary fields are (see `--answer-scale`).
    scale: f64,
}

impl Generator {
    pub(crate) fn new(request: &Value) -> Generator {
        let digest =
            Sha256::digest(request.get("messages").map(|m| m.to_string()).unwrap_or_default().as_bytes());
        let state = u64::from_le_bytes(digest[..8].try_into().expect("8 bytes"));
        let user = last_user_text(request);
        Generator {
            state: state | 1,
            source_paragraphs: source_paragraphs(&user),
            figures: english_figures_of(&user),
            scale: 1.0,
        }
    }

    /// Answers of varied length: this request's factor is drawn from a log-normal spread around
    /// `median` (σ = 0.3: a 99th percentile about twice the median, as real summaries go),
    /// seeded by the request like everything else the mock says.
    pub(crate) fn with_scale(mut self, median: f64) -> Generator {
        // Box–Muller from two uniform draws of the request's own stream.
        let u1 = (self.next() % 1_000_000 + 1) as f64 / 1_000_001.0;
        let u2 = (self.next() % 1_000_000) as f64 / 1_000_000.0;
        let normal = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
        self.scale = median * (0.3 * normal).exp();
        self
    }

    fn scaled(&self, n: usize) -> usize {
        ((n as f64) * self.scale).round().max(1.0) as usize
    }

    fn next(&mut self) -> usize {
        // xorshift64: deterministic and dependency-free.
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        (self.state >> 11) as usize
    }

    /// English text of roughly `words` words.
    pub(crate) fn english(&mut self, words: usize) -> String {
        let mut out = String::from("[mock]");
        for i in 0..words.max(3) {
            out.push(' ');
            out.push_str(ENGLISH_WORDS[self.next() % ENGLISH_WORDS.len()]);
            if i % 12 == 11 {
                out.push('.');
            }
        }
        out.push('.');
        out
    }

    /// Korean text of `sentences` sentences.
    pub(crate) fn korean(&mut self, sentences: usize) -> String {
        let mut out = String::from("[mock]");
        for _ in 0..sentences.max(1) {
            out.push(' ');
            out.push_str(KOREAN_SENTENCES[self.next() % KOREAN_SENTENCES.len()]);
        }
        out
    }

    /// English sized like a translation of the request's Korean (about one word per 2.5
    /// syllables), with one paragraph per Korean paragraph, separated by "\n", ending with the
    /// request's figures in English, so that a mock translation keeps its numbers as a real one
    /// must and figure checks stay quiet on mock runs.
    pub(crate) fn english_translation(&mut self) -> String {
        let paragraphs = self.source_paragraphs.clone();
        let mut text = if paragraphs.is_empty() {
            self.english(0)
        } else {
            paragraphs.iter().map(|chars| self.english(chars * 2 / 5)).collect::<Vec<_>>().join("\n")
        };
        for figure in &self.figures {
            text.push(' ');
            text.push_str(figure);
        }
        text
    }

    /// Plain-text reply for requests that ask for no JSON.
    pub(crate) fn plain(&mut self) -> String {
        self.english_translation()
    }

    /// An instance of `schema` (resolving `$ref`s against `root`).
    pub(crate) fn instance(&mut self, schema: &Value, root: &Value, field: &str) -> Value {
        if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
            let target = reference.strip_prefix("#/").map(|p| p.split('/').fold(root, |v, k| &v[k]));
            return match target {
                Some(t) if !t.is_null() => self.instance(t, root, field),
                _ => Value::Null,
            };
        }
        if let Some(first) = schema.get("enum").and_then(|e| e.get(0)) {
            return first.clone();
        }
        if let Some(c) = schema.get("const") {
            return c.clone();
        }
        for key in ["anyOf", "oneOf", "allOf"] {
            if let Some(options) = schema.get(key).and_then(Value::as_array) {
                let pick = options.iter().find(|o| o.get("type") != Some(&json!("null"))).or(options.first());
                return pick.map(|o| self.instance(o, root, field)).unwrap_or(Value::Null);
            }
        }
        let kind = match schema.get("type") {
            Some(Value::String(t)) => t.as_str(),
            Some(Value::Array(types)) => {
                types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null")
            }
            _ if schema.get("properties").is_some() => "object",
            _ => "string",
        };
        match kind {
            "object" => {
                let mut out = Map::new();
                if let Some(props) = schema.get("properties").and_then(Value::as_object) {
                    for (name, sub) in props {
                        out.insert(name.clone(), self.instance(sub, root, name));
                    }
                }
                Value::Object(out)
            }
            "array" => {
                let items = schema.get("items").cloned().unwrap_or(json!({"type": "string"}));
                let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(3) as usize;
                let max =
                    schema.get("maxItems").and_then(Value::as_u64).map(|m| m as usize).unwrap_or(usize::MAX);
                let n = min.clamp(1, max.max(1)).max(if max >= 3 { 3 } else { 1 }).min(max);
                Value::Array((0..n).map(|_| self.instance(&items, root, field)).collect())
            }
            "integer" => json!(schema.get("minimum").and_then(Value::as_i64).unwrap_or(1)),
            "number" => json!(schema.get("minimum").and_then(Value::as_f64).unwrap_or(1.0)),
            "boolean" => json!(true),
            "null" => Value::Null,
            _ => Value::String(self.string_for(field)),
        }
    }

    fn string_for(&mut self, field: &str) -> String {
        if field.ends_with("_ko") {
            let n = self.scaled(3);
            self.korean(n)
        } else if field.contains("translation") {
            self.english_translation()
        } else if field.contains("title") {
            self.english(6)
        } else if field.contains("point") {
            let n = self.scaled(8);
            self.english(n)
        } else {
            let n = self.scaled(40);
            self.english(n)
        }
    }
}

/// The reply content for a request: JSON for structured requests, text otherwise.
pub(crate) fn content_for(request: &Value, scale: Option<f64>) -> String {
    let mut generator = Generator::new(request);
    if let Some(median) = scale {
        generator = generator.with_scale(median);
    }
    let format = request.get("response_format");
    let format_type = format.and_then(|f| f.get("type")).and_then(Value::as_str);
    if format_type == Some("json_schema") {
        let schema = format.and_then(|f| f.pointer("/json_schema/schema")).cloned().unwrap_or(json!({}));
        return generator.instance(&schema, &schema, "").to_string();
    }
    // Without an enforced schema, a prompt that embeds one still gets a matching object.
    if let Some(schema) = embedded_schema(request) {
        return generator.instance(&schema, &schema, "").to_string();
    }
    if format_type == Some("json_object") {
        return json!({ "text": generator.english(20) }).to_string();
    }
    generator.plain()
}

/// A JSON schema written into a system message after the words "JSON schema".
fn embedded_schema(request: &Value) -> Option<Value> {
    let messages = request.get("messages")?.as_array()?;
    messages.iter().filter_map(|m| m.get("content")?.as_str()).find_map(|text| {
        let start = text.find("JSON schema")?;
        let brace = start + text[start..].find('{')?;
        let mut stream = serde_json::Deserializer::from_str(&text[brace..]).into_iter::<Value>();
        stream.next()?.ok().filter(|v| v.get("properties").is_some())
    })
}

/// Hangul characters of each paragraph (a line with Korean in it) of the source. The article is
/// what is between `<passage>` or `<article>` tags when the prompt has them, so that a headline
/// or instructions around it do not count as paragraphs.
fn source_paragraphs(user: &str) -> Vec<usize> {
    let inner = ["passage", "article"]
        .iter()
        .find_map(|tag| {
            let start = user.rfind(&format!("<{tag}>"))? + tag.len() + 2;
            let end = start + user[start..].find(&format!("</{tag}>"))?;
            Some(&user[start..end])
        })
        .unwrap_or(user);
    inner
        .lines()
        .map(|line| line.chars().filter(|c| is_hangul(*c)).count())
        .filter(|&chars| chars > 0)
        .collect()
}

/// The reply with Korean left inside its first English text: the fault a careless model makes,
/// for testing the check that catches it. JSON replies get it in their first string field not
/// ending in `_ko`; text replies get it appended.
pub(crate) fn leak_hangul(content: &str) -> String {
    const LEFTOVER: &str = " 정부는 관련 산업의 성장을 지원하겠다고 밝혔다.";
    fn first_english(value: &mut Value) -> Option<&mut String> {
        match value {
            Value::Object(map) => map.iter_mut().find_map(|(key, v)| {
                if key.ends_with("_ko") {
                    None
                } else if let Value::String(s) = v {
                    Some(s)
                } else {
                    first_english(v)
                }
            }),
            Value::Array(items) => items.iter_mut().find_map(first_english),
            _ => None,
        }
    }
    if let Ok(mut value) = serde_json::from_str::<Value>(content)
        && let Some(text) = first_english(&mut value)
    {
        text.push_str(LEFTOVER);
        return value.to_string();
    }
    format!("{content}{LEFTOVER}")
}

fn last_user_text(request: &Value) -> String {
    request
        .get("messages")
        .and_then(Value::as_array)
        .and_then(|m| m.iter().rev().find(|m| m.get("role").and_then(Value::as_str) == Some("user")))
        .and_then(|m| m.get("content"))
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

/// The Korean figures of `text` as English a figure check recognises: "1억 달러" becomes
/// "100 million", "1,350억 원" "135 billion", "3.5%" "3.5".
fn english_figures_of(text: &str) -> Vec<String> {
    let mut seen: Vec<f64> = Vec::new();
    let mut out = Vec::new();
    for figure in crate::check::korean_figures(text) {
        if seen.contains(&figure.value) {
            continue;
        }
        seen.push(figure.value);
        let v = figure.value;
        let scaled = [(1e12, "trillion"), (1e9, "billion"), (1e6, "million")]
            .into_iter()
            .find(|(scale, _)| v >= *scale && ((v / scale) * 1000.0).fract() == 0.0);
        out.push(match scaled {
            Some((scale, word)) => format!("{} {word}", v / scale),
            None => format!("{v}"),
        });
    }
    out
}

pub use crate::glossary::is_hangul;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{SummaryReply, TranslationReply, strict_schema};

    fn request_with_schema(schema: Value, user: &str) -> Value {
        json!({"model": "m", "messages": [{"role": "user", "content": user}],
               "response_format": {"type": "json_schema", "json_schema": {"name": "x", "strict": true, "schema": schema}}})
    }

    #[test]
    fn a_schema_request_gets_a_valid_instance_with_korean_only_in_ko_fields() {
        let request =
            request_with_schema(strict_schema::<SummaryReply>(), "<article>기사 본문입니다.</article>");
        let reply: SummaryReply = serde_json::from_str(&content_for(&request, None)).unwrap();
        assert!(reply.summary_ko.starts_with("[mock]") && reply.summary_ko.chars().any(is_hangul));
        for english in [&reply.title_en, &reply.summary_en].into_iter().chain(&reply.key_points_en) {
            assert!(english.starts_with("[mock]"), "{english}");
            assert!(!english.chars().any(is_hangul), "{english}");
        }
    }

    #[test]
    fn replies_are_deterministic_and_depend_on_the_request() {
        let a = request_with_schema(strict_schema::<SummaryReply>(), "가");
        let b = request_with_schema(strict_schema::<SummaryReply>(), "나");
        assert_eq!(content_for(&a, None), content_for(&a, None));
        // Varied lengths are as deterministic: the same request, the same answer.
        assert_eq!(content_for(&a, Some(2.0)), content_for(&a, Some(2.0)));
        assert_ne!(content_for(&a, None), content_for(&b, None));
    }

    #[test]
    fn a_translation_is_sized_by_its_source() {
        let short = request_with_schema(strict_schema::<TranslationReply>(), &"가".repeat(50));
        let long = request_with_schema(strict_schema::<TranslationReply>(), &"가".repeat(2000));
        let len = |r: &Value| {
            serde_json::from_str::<TranslationReply>(&content_for(r, None)).unwrap().translation_en.len()
        };
        assert!(len(&long) > 10 * len(&short), "{} vs {}", len(&long), len(&short));
    }

    #[test]
    fn a_translation_keeps_the_source_paragraph_count() {
        let passage = "<passage>\n첫째 문단입니다.\n\n둘째 문단입니다.\n셋째 문단입니다.\n</passage>";
        let request = request_with_schema(strict_schema::<TranslationReply>(), passage);
        let reply: TranslationReply = serde_json::from_str(&content_for(&request, None)).unwrap();
        assert_eq!(reply.translation_en.split('\n').count(), 3, "{}", reply.translation_en);
        let headline = format!("Headline of the article: 제목\n{passage}");
        let request = request_with_schema(strict_schema::<TranslationReply>(), &headline);
        let reply: TranslationReply = serde_json::from_str(&content_for(&request, None)).unwrap();
        assert_eq!(reply.translation_en.split('\n').count(), 3, "the headline is no paragraph");
    }

    #[test]
    fn leaked_hangul_lands_in_an_english_field() {
        let request = request_with_schema(strict_schema::<SummaryReply>(), "기사");
        let reply: SummaryReply = serde_json::from_str(&leak_hangul(&content_for(&request, None))).unwrap();
        let english = [&reply.title_en, &reply.summary_en].into_iter().chain(&reply.key_points_en);
        assert!(english.into_iter().any(|text| text.chars().any(is_hangul)));
        assert!(leak_hangul("[mock] plain").chars().any(is_hangul));
    }

    #[test]
    fn a_translation_keeps_the_requests_figures_in_english() {
        let korean = "<passage>약 1억 달러(약 1,350억 원)를 투자해 2023년까지 3.5% 성장한다.</passage>";
        let request = request_with_schema(strict_schema::<TranslationReply>(), korean);
        let english =
            serde_json::from_str::<TranslationReply>(&content_for(&request, None)).unwrap().translation_en;
        assert!(english.contains("100 million") && english.contains("135 billion"), "{english}");
        assert_eq!(crate::check::missing_figures(korean, &english), vec![], "{english}");
    }

    #[test]
    fn any_schema_is_answered_including_refs_enums_and_nested_arrays() {
        let schema = json!({
            "type": "object",
            "properties": {
                "kind": {"enum": ["a", "b"]},
                "count": {"type": "integer"},
                "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
                "maybe": {"anyOf": [{"type": "null"}, {"type": "boolean"}]}
            },
            "$defs": {"Item": {"type": "object", "properties": {"name_ko": {"type": "string"}}}}
        });
        let value: Value =
            serde_json::from_str(&content_for(&request_with_schema(schema, "x"), None)).unwrap();
        assert_eq!(value["kind"], "a");
        assert_eq!(value["count"], 1);
        assert_eq!(value["maybe"], true);
        assert!(value["items"][0]["name_ko"].as_str().unwrap().chars().any(is_hangul));
    }

    #[test]
    fn a_schema_in_the_prompt_is_followed_without_response_format() {
        let schema = strict_schema::<TranslationReply>();
        let request = json!({"messages": [
            {"role": "system", "content": format!("MockAnswer valid against this JSON schema:\n{schema}")},
            {"role": "user", "content": "안녕하세요"}]});
        assert!(serde_json::from_str::<TranslationReply>(&content_for(&request, None)).is_ok());
        let plain = json!({"messages": [{"role": "user", "content": "안녕하세요"}]});
        assert!(content_for(&plain, None).starts_with("[mock]"));
    }
}
