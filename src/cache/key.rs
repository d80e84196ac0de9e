//! Cache keys. A key is the SHA-256 of everything that changes an answer and nothing else, so
//! that a hit is always an answer the same request would have bought, and a changed prompt,
//! model, endpoint, schema or parameter always misses. The API key is never an input: it is
//! not in the request body, and keys are computed from the body alone.

use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Bumped whenever what ko2en stores, or how it builds requests and records from answers,
/// changes in a way that makes an old entry wrong. It is hashed into every key, so old entries
/// simply stop matching (they are never misread).
pub(crate) const KEY_VERSION: u32 = 1;

/// A 32-byte key, shown in hex.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct Key(pub(crate) [u8; 32]);

impl Key {
    pub(crate) fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The key `hex` shows (a batch file's `custom_id`), if it is one.
    pub(crate) fn from_hex(text: &str) -> Option<Key> {
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut bytes).ok()?;
        Some(Key(bytes))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({})", &self.hex()[..16])
    }
}

/// Hash length-prefixed parts, so that no two different part lists can collide by
/// concatenation ("ab" + "c" vs "a" + "bc").
fn hash_parts<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Key {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    Key(hasher.finalize().into())
}

/// The key of one LLM call: ko2en's key version, the endpoint's identity (its base URL, or
/// `mock` for the built-in mock, whose port changes every run) and the exact JSON body sent —
/// which holds the model, the fully rendered messages, the response format and its schema, the
/// completion budget and the sampling parameters.
pub(crate) fn call_key(endpoint: &str, body: &Value) -> Key {
    let body = canonical_json(body);
    hash_parts([b"call".as_slice(), &KEY_VERSION.to_le_bytes(), endpoint.as_bytes(), body.as_bytes()])
}

/// What, besides the article itself, decides an article's record: every setting that shapes
/// a request or the record built from the answers.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ArticleIdentity<'a> {
    /// `summarize` or `translate`.
    pub(crate) mode: &'a str,
    pub(crate) endpoint: &'a str,
    pub(crate) model: &'a str,
    /// The request body with no article in it: response format, schemas, parameters.
    pub(crate) request_shape: &'a Value,
    /// The hash of every prompt template's source, as loaded (built-in or the user's).
    pub(crate) prompts: &'a str,
    /// The glossary terms given to the model, in order.
    pub(crate) glossary: &'a [(String, String)],
}

/// The key of an article's whole record: the cleaned headline and text, and the settings.
pub(crate) fn article_key(settings: &ArticleIdentity<'_>, title: &str, text: &str) -> Key {
    let settings = canonical_json(&serde_json::to_value(settings).expect("settings are JSON"));
    hash_parts([
        b"article".as_slice(),
        &KEY_VERSION.to_le_bytes(),
        settings.as_bytes(),
        title.as_bytes(),
        text.as_bytes(),
    ])
}

/// The hash of named texts (prompt templates), for `ArticleIdentity::prompts`.
pub(crate) fn texts_fingerprint<'a>(texts: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    let mut parts: Vec<(&str, &str)> = texts.into_iter().collect();
    parts.sort();
    hash_parts(parts.iter().flat_map(|(name, text)| [name.as_bytes(), text.as_bytes()])).hex()
}

/// JSON with object keys sorted at every level, whatever map order serde_json was built with,
/// so that equal values always hash the same.
pub(crate) fn canonical_json(value: &Value) -> String {
    fn sorted(value: &Value) -> Value {
        match value {
            Value::Object(map) => {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), sorted(v))).collect())
            }
            Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{ApiKey, ChatRequest, Client, EndpointSettings, ReplySchema, ResponseFormat, Route};
    use crate::prompt::Messages;
    use crate::sizing::AnswerKind;
    use serde_json::json;
    use std::time::Duration;

    /// The endpoint's settings and the key its route sends.
    fn endpoint(model: &str, key: &str, temperature: Option<f32>) -> (EndpointSettings, ApiKey) {
        let settings = EndpointSettings {
            model: model.into(),
            response_format: ResponseFormat::JsonSchema,
            temperature,
            timeout: Duration::from_secs(30),
            stream: true,
            protocol: Default::default(),
            hint: None,
        };
        (settings, ApiKey::new(key))
    }

    fn key_of(
        (endpoint, key): &(EndpointSettings, ApiKey),
        base_url: &str,
        user: &str,
        schema: Value,
        max_tokens: u32,
    ) -> Key {
        let route = Route { base_url: base_url.into(), api_key: Some(key.clone()) };
        let client = Client::new(&route, endpoint).unwrap();
        let messages = Messages::new("You translate.".into(), user.into());
        let schema = ReplySchema { name: "reply", schema };
        let wire = client.prepare(&ChatRequest {
            messages: &messages,
            schema: &schema,
            max_tokens,
            kind: AnswerKind::Summary,
            input_tokens: 0,
        });
        call_key(base_url, wire.body())
    }

    #[test]
    fn the_same_request_always_has_the_same_key() {
        let e = endpoint("gpt-4o-mini", "sk-one", Some(0.2));
        let a = key_of(&e, "https://a/v1", "기사", json!({"type": "object"}), 100);
        let b = key_of(&e, "https://a/v1", "기사", json!({"type": "object"}), 100);
        assert_eq!(a, b);
        // Pinned: a key that changes by accident would silently empty every user's cache.
        let body = json!({"model": "m", "messages": [{"role": "user", "content": "x"}]});
        assert_eq!(call_key("https://a/v1", &body).hex().len(), 64);
        assert_eq!(call_key("https://a/v1", &body), call_key("https://a/v1", &body.clone()));
    }

    #[test]
    fn everything_that_changes_the_answer_changes_the_key() {
        let e = endpoint("gpt-4o-mini", "sk-one", Some(0.2));
        let base = key_of(&e, "https://a/v1", "기사", json!({"type": "object"}), 100);
        let changed = [
            key_of(
                &endpoint("gpt-4o", "sk-one", Some(0.2)),
                "https://a/v1",
                "기사",
                json!({"type": "object"}),
                100,
            ),
            key_of(&e, "https://b/v1", "기사", json!({"type": "object"}), 100),
            key_of(&e, "https://a/v1", "기사!", json!({"type": "object"}), 100),
            key_of(&e, "https://a/v1", "기사", json!({"type": "array"}), 100),
            key_of(
                &endpoint("gpt-4o-mini", "sk-one", Some(0.3)),
                "https://a/v1",
                "기사",
                json!({"type": "object"}),
                100,
            ),
            key_of(
                &endpoint("gpt-4o-mini", "sk-one", None),
                "https://a/v1",
                "기사",
                json!({"type": "object"}),
                100,
            ),
            key_of(&e, "https://a/v1", "기사", json!({"type": "object"}), 101),
        ];
        for (i, key) in changed.iter().enumerate() {
            assert_ne!(*key, base, "change {i} kept the key");
        }
    }

    #[test]
    fn the_api_key_has_no_influence() {
        let one = key_of(&endpoint("m", "sk-one", None), "https://a/v1", "기사", json!({}), 100);
        let two = key_of(&endpoint("m", "sk-two", None), "https://a/v1", "기사", json!({}), 100);
        assert_eq!(one, two);
    }

    #[test]
    fn key_order_in_json_objects_does_not_matter() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"d": 2, "c": 3}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a": {"c": 3, "d": 2}, "b": 1}"#).unwrap();
        assert_eq!(canonical_json(&a), canonical_json(&b));
        assert_eq!(call_key("e", &a), call_key("e", &b));
    }

    #[test]
    fn article_keys_follow_text_title_and_every_setting() {
        let shape = json!({"model": "m"});
        let glossary = vec![("박정호".to_string(), "Park Jung-ho".to_string())];
        let s = ArticleIdentity {
            mode: "summarize",
            endpoint: "https://a/v1",
            model: "m",
            request_shape: &shape,
            prompts: "p1",
            glossary: &[],
        };
        let base = article_key(&s, "제목", "본문");
        assert_eq!(base, article_key(&s, "제목", "본문"));
        let other_shape = json!({"model": "m", "temperature": 0.5});
        for changed in [
            ArticleIdentity { mode: "translate", ..s.clone() },
            ArticleIdentity { endpoint: "https://b/v1", ..s.clone() },
            ArticleIdentity { model: "n", ..s.clone() },
            ArticleIdentity { request_shape: &other_shape, ..s.clone() },
            ArticleIdentity { prompts: "p2", ..s.clone() },
            ArticleIdentity { glossary: &glossary, ..s.clone() },
        ] {
            assert_ne!(article_key(&changed, "제목", "본문"), base, "{changed:?}");
        }
        assert_ne!(article_key(&s, "제목2", "본문"), base);
        assert_ne!(article_key(&s, "제목", "본문2"), base);
        assert_ne!(article_key(&s, "제목본", "문"), article_key(&s, "제목", "본문"));
    }
}
