//! The OpenAI-compatible chat-completions client: one shared HTTP client, requests built as
//! plain JSON (so any compatible server gets exactly the fields it needs), answers parsed
//! leniently, errors classified by what the caller can do about them. One `send` is one
//! attempt; retrying and pacing belong to the engine.

mod error;
mod header;
mod retry;
pub mod transport;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use serde_json::{Value, json};

pub use error::{ClientError, Recovery};
pub(crate) use header::ResponseMeta;
pub use retry::RetryPolicy;

use crate::config::{ApiKey, EndpointSettings, ResponseFormat};
use crate::prompt::Messages;

/// A reply shape: its name and strict JSON schema.
#[derive(Debug, Clone)]
pub struct ReplySchema {
    pub name: &'static str,
    pub schema: Value,
}

/// One chat request, before it becomes JSON.
#[derive(Debug, Clone)]
pub struct ChatRequest<'a> {
    pub messages: &'a Messages,
    pub schema: &'a ReplySchema,
    /// The completion budget.
    pub max_tokens: u32,
}

/// A successful answer.
#[derive(Debug, Clone, PartialEq)]
pub struct ChatResponse {
    pub content: String,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

/// The outcome of one attempt: the answer or error, and what the response headers said.
#[derive(Debug)]
pub struct Attempt {
    pub result: Result<ChatResponse, ClientError>,
    pub meta: Option<ResponseMeta>,
    pub elapsed: Duration,
}

/// The endpoint, as the engine sees it.
#[derive(Clone)]
pub struct Client {
    inner: async_openai::Client<OpenAIConfig>,
    model: String,
    response_format: ResponseFormat,
    temperature: Option<f32>,
    timeout: Duration,
    base_url: String,
    /// Kept only to scrub it from any error text a server echoes back.
    api_key: Option<ApiKey>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("base_url", &self.base_url).field("model", &self.model).finish()
    }
}

/// Install the ring crypto provider for rustls once per process (reqwest is built without one,
/// so that the much slower-to-build aws-lc is not needed).
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

impl Client {
    /// Build the one HTTP client of the run. `base_url` overrides the settings' (for `--mock`).
    pub fn new(endpoint: &EndpointSettings, base_url: &str) -> Result<Client, ClientError> {
        install_crypto_provider();
        let http = reqwest::Client::builder()
            .timeout(endpoint.timeout)
            .connect_timeout(endpoint.timeout.min(Duration::from_secs(30)))
            .pool_idle_timeout(Duration::from_secs(90))
            .user_agent(concat!("ko2en/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Connection(format!("cannot build the HTTP client: {e}")))?;
        let mut config = OpenAIConfig::new().with_api_base(base_url);
        // The mock needs no key, but async-openai always sends the header; an empty one is harmless.
        config = config.with_api_key(endpoint.api_key.as_ref().map(ApiKey::expose).unwrap_or(""));
        let inner =
            async_openai::Client::with_config(config).with_http_service(transport::HeaderCapture::new(http));
        Ok(Client {
            inner,
            model: endpoint.model.clone(),
            response_format: endpoint.response_format,
            temperature: endpoint.temperature,
            timeout: endpoint.timeout,
            base_url: base_url.to_string(),
            api_key: endpoint.api_key.clone(),
        })
    }

    pub fn model(&self) -> &str {
        &self.model
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The exact JSON body sent for `request`. Deterministic, so it can key the cache.
    pub fn body(&self, request: &ChatRequest<'_>) -> Value {
        let mut messages = vec![
            json!({"role": "system", "content": request.messages.system}),
            json!({"role": "user", "content": request.messages.user}),
        ];
        messages.extend(
            request.messages.history.iter().map(|t| json!({"role": t.role.as_str(), "content": t.content})),
        );
        let mut body = json!({ "model": self.model, "messages": messages });
        // Reasoning models (o1, o3, gpt-5…) reject `max_tokens`; most other compatible servers
        // only know `max_tokens`.
        let budget_field =
            if uses_max_completion_tokens(&self.model) { "max_completion_tokens" } else { "max_tokens" };
        body[budget_field] = json!(request.max_tokens);
        if let Some(t) = self.temperature {
            body["temperature"] = json!(t);
        }
        match self.response_format {
            ResponseFormat::JsonSchema => {
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {"name": request.schema.name, "strict": true, "schema": request.schema.schema},
                });
            }
            ResponseFormat::JsonObject => body["response_format"] = json!({"type": "json_object"}),
            ResponseFormat::Text => {}
        }
        body
    }

    /// Whether the prompt itself must carry the schema (the server does not enforce it).
    pub fn schema_in_prompt(&self) -> bool {
        self.response_format != ResponseFormat::JsonSchema
    }

    /// The budget a request was sent with, read back from its body.
    pub fn max_tokens_of(body: &Value) -> u32 {
        body.get("max_completion_tokens")
            .or_else(|| body.get("max_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32
    }

    /// Send one request, once.
    pub async fn send(&self, body: &Value) -> Attempt {
        let started = Instant::now();
        let slot: transport::MetaSlot = Arc::new(Mutex::new(None));
        let chat = self.inner.chat();
        let call = chat.create_byot::<&Value, Value>(body);
        let result = transport::META_SLOT.scope(slot.clone(), call).await;
        let meta = slot.lock().unwrap_or_else(|e| e.into_inner()).take();
        let result = match result {
            Ok(value) => parse_completion(&value, Self::max_tokens_of(body)),
            Err(e) => Err(self.classify(e, meta.as_ref())),
        };
        Attempt { result: result.map_err(|e| self.scrub(e)), meta, elapsed: started.elapsed() }
    }

    fn classify(&self, error: OpenAIError, meta: Option<&ResponseMeta>) -> ClientError {
        match error {
            OpenAIError::ApiError(api) => ClientError::Status {
                status: api.status_code.as_u16(),
                code: api.api_error.code.clone().or(api.api_error.r#type.clone()),
                message: first_line(&api.api_error.message),
                retry_after: meta.and_then(|m| m.server_state(SystemTime::now()).retry_after),
            },
            OpenAIError::Reqwest(e) if e.is_timeout() => ClientError::Timeout(self.timeout),
            OpenAIError::Reqwest(e) => ClientError::Connection(error_chain(&e)),
            OpenAIError::JSONDeserialize(e, content) => match meta.map(|m| m.status) {
                // A non-JSON error body (a proxy's HTML page) is still an HTTP error.
                Some(status) if status >= 400 => ClientError::Status {
                    status,
                    code: None,
                    message: first_line(&content),
                    retry_after: meta.and_then(|m| m.server_state(SystemTime::now()).retry_after),
                },
                _ => ClientError::Body(format!("{e}; body starts {:?}", truncate(&content, 80))),
            },
            other => ClientError::Connection(error_chain(&other)),
        }
    }

    /// Remove the API key, and anything shaped like one, from error text a server echoed.
    fn scrub(&self, error: ClientError) -> ClientError {
        let clean = |text: String| crate::redact::redact(&text, self.api_key.as_ref().map(ApiKey::expose));
        match error {
            ClientError::Status { status, code, message, retry_after } => {
                ClientError::Status { status, code, message: clean(message), retry_after }
            }
            ClientError::Connection(m) => ClientError::Connection(clean(m)),
            ClientError::Body(m) => ClientError::Body(clean(m)),
            other => other,
        }
    }
}

fn uses_max_completion_tokens(model: &str) -> bool {
    let m = model.rsplit('/').next().unwrap_or(model);
    m.starts_with("o1") || m.starts_with("o3") || m.starts_with("o4") || m.starts_with("gpt-5")
}

/// Pull content, finish reason and usage out of a chat completion, tolerating the small
/// differences between compatible servers.
fn parse_completion(value: &Value, max_tokens: u32) -> Result<ChatResponse, ClientError> {
    let choice = value
        .get("choices")
        .and_then(|c| c.get(0))
        .ok_or_else(|| ClientError::Body("the answer has no choices".into()))?;
    let message =
        choice.get("message").ok_or_else(|| ClientError::Body("the choice has no message".into()))?;
    if choice.get("finish_reason").and_then(Value::as_str) == Some("length") {
        return Err(ClientError::Truncated { max_tokens });
    }
    if let Some(refusal) = message.get("refusal").and_then(Value::as_str).filter(|r| !r.is_empty()) {
        return Err(ClientError::NoContent(format!("refused: {}", truncate(refusal, 200))));
    }
    let content = message.get("content").and_then(Value::as_str).unwrap_or_default();
    if content.trim().is_empty() {
        return Err(ClientError::NoContent("empty content".into()));
    }
    let usage = value.get("usage");
    let tokens = |field: &str| usage.and_then(|u| u.get(field)).and_then(Value::as_u64).unwrap_or(0);
    Ok(ChatResponse {
        content: content.to_string(),
        prompt_tokens: tokens("prompt_tokens"),
        completion_tokens: tokens("completion_tokens"),
    })
}

fn first_line(text: &str) -> String {
    truncate(text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or(""), 300)
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_length_finish_is_never_accepted() {
        let v = json!({"choices":[{"message":{"content":"half"},"finish_reason":"length"}]});
        assert_eq!(parse_completion(&v, 50), Err(ClientError::Truncated { max_tokens: 50 }));
    }

    #[test]
    fn usage_and_content_are_read() {
        let v = json!({"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}],
                       "usage":{"prompt_tokens":12,"completion_tokens":3}});
        let r = parse_completion(&v, 50).unwrap();
        assert_eq!((r.content.as_str(), r.prompt_tokens, r.completion_tokens), ("ok", 12, 3));
    }

    #[test]
    fn empty_content_and_refusals_are_errors() {
        let empty = json!({"choices":[{"message":{"content":""},"finish_reason":"stop"}]});
        assert!(matches!(parse_completion(&empty, 5), Err(ClientError::NoContent(_))));
        let refusal = json!({"choices":[{"message":{"content":null,"refusal":"no"},"finish_reason":"stop"}]});
        assert!(matches!(parse_completion(&refusal, 5), Err(ClientError::NoContent(_))));
    }

    #[test]
    fn reasoning_models_get_max_completion_tokens() {
        assert!(uses_max_completion_tokens("o3-mini"));
        assert!(uses_max_completion_tokens("openai/gpt-5"));
        assert!(!uses_max_completion_tokens("gpt-4o-mini"));
        assert!(!uses_max_completion_tokens("qwen2.5:7b"));
    }

    #[test]
    fn a_repair_history_follows_the_first_messages_and_a_first_request_has_none() {
        let endpoint = EndpointSettings {
            base_url: "http://127.0.0.1:1/v1".into(),
            api_key: None,
            model: "m".into(),
            mock: true,
            mock_options: Default::default(),
            response_format: ResponseFormat::Text,
            temperature: None,
            timeout: Duration::from_secs(1),
        };
        let client = Client::new(&endpoint, &endpoint.base_url).unwrap();
        let schema = ReplySchema { name: "x", schema: json!({}) };
        let mut messages = Messages::new("s".into(), "u".into());
        let first = client.body(&ChatRequest { messages: &messages, schema: &schema, max_tokens: 10 });
        assert_eq!(first["messages"].as_array().unwrap().len(), 2);
        messages
            .history
            .push(crate::prompt::Turn { role: crate::prompt::Role::Assistant, content: "a".into() });
        messages.history.push(crate::prompt::Turn { role: crate::prompt::Role::User, content: "fix".into() });
        let repair = client.body(&ChatRequest { messages: &messages, schema: &schema, max_tokens: 10 });
        let roles: Vec<&str> =
            repair["messages"].as_array().unwrap().iter().map(|m| m["role"].as_str().unwrap()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(repair["messages"][3]["content"], "fix");
    }
}
