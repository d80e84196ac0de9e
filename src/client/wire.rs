//! The wire format of OpenAI's chat completions, and the rules of the providers that speak it:
//! the JSON body of a request (the only place ko2en builds one), which field carries the
//! completion budget, how a budget grows after a truncated answer, and how an answer is read.

use serde_json::{Value, json};

use super::error::ClientError;
use super::provider::BudgetField;
use super::settings::ResponseFormat;
use super::{ChatRequest, ChatResponse};
use crate::chunk::TokenCounter;
use crate::sizing::AnswerKind;

/// Tokens of chat framing per message, and once per request, as OpenAI counts them.
const TOKENS_PER_MESSAGE: usize = 4;
const TOKENS_PER_REQUEST: u32 = 3;

/// A request as it goes on the wire. Its body is deterministic, so it keys the cache; the
/// completion budget can only change through [`WireRequest::enlarge`].
#[derive(Debug, Clone)]
pub(crate) struct WireRequest {
    body: Value,
    /// The field that carries the completion budget for this model.
    budget_field: &'static str,
    max_tokens: u32,
    /// The budget the request may need at most (its fixed budget): a sized budget that proves
    /// too small is retried with it at once.
    ceiling: u32,
    /// The form it was built in, to tell whether a server's refusal is news.
    pub(super) response_format: ResponseFormat,
    /// Whether its strict schema carries the length bounds (see [`unbounded`]).
    pub(super) bounded: bool,
    /// What it asks for, over how much of the article: for sizing its budget.
    pub(crate) kind: AnswerKind,
    pub(crate) input_tokens: u32,
    /// Whether it was already sent again at its ceiling after an answer cut there.
    again_at_ceiling: bool,
    /// Whether it was sent again with a reminder after an answer that was not the JSON asked
    /// for (see [`WireRequest::insist`]).
    insisted: bool,
    /// Whether its `response_format` was taken off after that failed again (see
    /// [`WireRequest::fall_back`]).
    fell_back: bool,
    /// Whether a retry may lower its temperature (the run has not seen the server refuse a
    /// temperature other than its default), and whether one did.
    cooling: bool,
    pub(super) cooled: bool,
}

/// How a run sends its requests at the moment one is prepared (see `forms`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Form {
    pub(crate) budget_field: BudgetField,
    pub(crate) response_format: ResponseFormat,
    /// The user's sampling temperature, sent only when set.
    pub(crate) temperature: Option<f32>,
    /// Whether a strict schema carries its length bounds (see [`unbounded`]).
    pub(crate) bounds: bool,
    /// Whether a retry may lower the temperature (see [`WireRequest::insist`]).
    pub(crate) cooling: bool,
}

#[cfg(test)]
impl Form {
    /// A strict schema with its bounds, the budget field by model, no temperature.
    pub(crate) fn strict() -> Form {
        Form {
            budget_field: BudgetField::ByModel,
            response_format: ResponseFormat::JsonSchema,
            temperature: None,
            bounds: true,
            cooling: true,
        }
    }
}

/// The temperature a retry after a reply that was not the JSON asked for is sampled at: the
/// likeliest tokens are the well-formed ones. (Not after a runaway: a model repeating itself
/// loops more readily the colder it samples.)
const COOL: f64 = 0.2;

/// The length keywords of JSON Schema, which some strict-mode servers refuse (the checks
/// still hold answers to the bounds: see `check`).
const BOUNDS: [&str; 4] = ["minItems", "maxItems", "minLength", "maxLength"];

/// `schema` without its length bounds, for a server that refuses them in a strict schema.
fn unbounded(schema: &Value) -> Value {
    match schema {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !BOUNDS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), unbounded(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(unbounded).collect()),
        other => other.clone(),
    }
}

impl WireRequest {
    pub(super) fn new(model: &str, request: &ChatRequest<'_>, form: Form) -> WireRequest {
        let Form { budget_field, response_format, temperature, bounds, cooling } = form;
        // A server that does not enforce the schema must read it: the templates put it in the
        // prompt when the run starts that way; a request whose form changed since (a server
        // that refused `json_schema`) gets it here.
        let mut system = request.messages.system.clone();
        if response_format != ResponseFormat::JsonSchema {
            let schema_text = request.schema.schema.to_string();
            if !system.contains(&schema_text) && !request.messages.user.contains(&schema_text) {
                system.push_str("\n\nReply with one JSON object that matches this JSON schema:\n");
                system.push_str(&schema_text);
            }
        }
        let mut messages = vec![
            json!({"role": "system", "content": system}),
            json!({"role": "user", "content": request.messages.user}),
        ];
        messages.extend(
            request.messages.history.iter().map(|t| json!({"role": t.role.as_str(), "content": t.content})),
        );
        let mut body = json!({ "model": model, "messages": messages });
        let budget_field = field_name(budget_field, model);
        body[budget_field] = json!(request.max_tokens);
        if let Some(t) = temperature {
            body["temperature"] = json!(t);
        }
        match response_format {
            ResponseFormat::JsonSchema => {
                let schema =
                    if bounds { request.schema.schema.clone() } else { unbounded(&request.schema.schema) };
                body["response_format"] = json!({
                    "type": "json_schema",
                    "json_schema": {"name": request.schema.name, "strict": true, "schema": schema},
                });
            }
            ResponseFormat::JsonObject => body["response_format"] = json!({"type": "json_object"}),
            ResponseFormat::Text => {}
        }
        WireRequest {
            body,
            budget_field,
            max_tokens: request.max_tokens,
            ceiling: request.max_tokens,
            response_format,
            bounded: bounds,
            kind: request.kind,
            input_tokens: request.input_tokens,
            again_at_ceiling: false,
            insisted: false,
            fell_back: false,
            cooling,
            cooled: false,
        }
    }

    /// The exact JSON sent.
    pub(crate) fn body(&self) -> &Value {
        &self.body
    }

    /// The field the budget travels in.
    pub(super) fn budget_field(&self) -> &'static str {
        self.budget_field
    }

    /// The completion budget asked for.
    pub(crate) fn max_tokens(&self) -> u32 {
        self.max_tokens
    }

    /// Prompt tokens as the server will count them: each message's content by `counter`, plus
    /// the chat framing. Tokenizing is not free: count once per request, not per attempt.
    pub(crate) fn prompt_estimate(&self, counter: &TokenCounter) -> u32 {
        let messages = self.body["messages"].as_array().map(Vec::as_slice).unwrap_or_default();
        let tokens: usize = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let content = m["content"].as_str().unwrap_or_default();
                // The system prompt is the same for every request of a kind: counted once.
                let count = if i == 0 { counter.count_again(content) } else { counter.count(content) };
                count + TOKENS_PER_MESSAGE
            })
            .sum();
        u32::try_from(tokens).unwrap_or(u32::MAX).saturating_add(TOKENS_PER_REQUEST)
    }

    /// Send `budget` instead of the request's fixed budget (see `sizing`); the body the cache
    /// keys on stays the one with the fixed budget, taken before.
    pub(crate) fn size_to(&mut self, budget: u32) {
        self.max_tokens = budget.min(self.ceiling).max(1);
        self.body[self.budget_field] = json!(self.max_tokens);
    }

    /// Its fixed budget: the most it may need.
    pub(crate) fn ceiling(&self) -> u32 {
        self.ceiling
    }

    /// Whether its budget was sized below its fixed one.
    pub(crate) fn is_sized(&self) -> bool {
        self.max_tokens < self.ceiling
    }

    /// After an answer cut at the budget: a sized budget goes straight to the request's fixed
    /// one, its ceiling, which is all it can need (a summary's schema bounds it; a passage's
    /// English takes at most about twice its Korean). An answer cut at the ceiling is a model
    /// running away (repeating itself), and a bigger budget would only buy a longer runaway and
    /// a timeout: a summary is sent once more at the same budget with a last message saying it
    /// ran away (not the identical request: a model at a low temperature loops again on it), a
    /// passage not at all (the pipeline translates it in halves instead). False when there is
    /// nothing left to try, so the request fails fast with its reason.
    pub(super) fn enlarge(&mut self) -> bool {
        if self.max_tokens < self.ceiling {
            self.max_tokens = self.ceiling;
            self.body[self.budget_field] = json!(self.max_tokens);
            return true;
        }
        if self.kind == AnswerKind::Translation || self.again_at_ceiling {
            return false;
        }
        self.again_at_ceiling = true;
        self.remind(&format!(
            "Your reply ran past {} tokens without ending, repeating itself. Reply again with only \
             the JSON object described above, saying each thing once and briefly.",
            self.max_tokens
        ));
        true
    }
}

impl WireRequest {
    /// After an answer that was not the JSON asked for (`why`): the same request would get
    /// the same answer from a model at a low temperature, so the next attempt says what went
    /// wrong, in a last user message, and is sampled colder (the likeliest tokens are the
    /// well-formed ones) unless the server takes only its default temperature. Once; false
    /// when it was already said (then resending is blind, and the request fails with its
    /// reason).
    pub(super) fn insist(&mut self, why: &str) -> bool {
        if self.insisted {
            return false;
        }
        self.insisted = true;
        self.remind(&format!(
            "Your reply could not be used ({why}). Reply with only the JSON object described above, \
             every field filled in, nothing before or after it."
        ));
        let warmer = self.body.get("temperature").and_then(Value::as_f64).is_none_or(|t| t > COOL);
        if self.cooling && warmer {
            self.body["temperature"] = json!(COOL);
            self.cooled = true;
        }
        true
    }

    /// A last user message saying what was wrong with the reply before.
    fn remind(&mut self, text: &str) {
        if let Some(messages) = self.body["messages"].as_array_mut() {
            messages.push(json!({"role": "user", "content": text}));
        }
    }

    /// After the reminder failed the same way: the server's handling of `response_format` may
    /// be what breaks the answer (a grammar some local servers get wrong), so this request
    /// goes once more without it, the schema written into the system prompt instead. False
    /// when there is none to take off, or it was taken off already.
    pub(super) fn fall_back(&mut self) -> bool {
        if self.fell_back {
            return false;
        }
        let Some(format) = self.body.as_object_mut().and_then(|b| b.shift_remove("response_format")) else {
            return false;
        };
        self.fell_back = true;
        if let Some(schema) = format.pointer("/json_schema/schema")
            && let Some(system) = self.body.pointer_mut("/messages/0/content")
            && let Some(text) = system.as_str()
        {
            *system = json!(format!(
                "{text}\n\nReply with one JSON object that matches this JSON schema:\n{schema}"
            ));
        }
        true
    }
}

/// The name of the field that carries the budget, for `model`.
pub(super) fn field_name(field: BudgetField, model: &str) -> &'static str {
    match field {
        BudgetField::ByModel => by_model(model),
        BudgetField::MaxTokens => "max_tokens",
        BudgetField::MaxCompletionTokens => "max_completion_tokens",
    }
}

/// Reasoning models (o1, o3, o4, gpt-5…) reject `max_tokens`; most other compatible servers
/// only know `max_tokens`.
fn by_model(model: &str) -> &'static str {
    if is_reasoning(model) { "max_completion_tokens" } else { "max_tokens" }
}

/// OpenAI's reasoning models, which take neither `max_tokens` nor a temperature other than 1.
pub(super) fn is_reasoning(model: &str) -> bool {
    let m = model.rsplit('/').next().unwrap_or(model);
    ["o1", "o3", "o4", "gpt-5"].iter().any(|prefix| m.starts_with(prefix))
}

/// Pull content, finish reason and usage out of a chat completion, tolerating the small
/// differences between compatible servers.
pub(super) fn parse_completion(value: &Value, max_tokens: u32) -> Result<ChatResponse, ClientError> {
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
        // OpenAI's (and Gemini's, vLLM's) place, else DeepSeek's.
        cached_tokens: usage
            .and_then(|u| u.pointer("/prompt_tokens_details/cached_tokens"))
            .and_then(Value::as_u64)
            .unwrap_or_else(|| tokens("prompt_cache_hit_tokens")),
    })
}

pub(super) fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::ReplySchema;
    use crate::prompt::{Messages, Role, Turn};

    fn wire(model: &str, messages: &Messages, max_tokens: u32) -> WireRequest {
        let schema = ReplySchema { name: "x", schema: json!({}) };
        let request =
            ChatRequest { messages, schema: &schema, max_tokens, kind: AnswerKind::Summary, input_tokens: 0 };
        WireRequest::new(model, &request, Form::strict())
    }

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
        assert_eq!(
            (r.content.as_str(), r.prompt_tokens, r.completion_tokens, r.cached_tokens),
            ("ok", 12, 3, 0)
        );
        let openai = json!({"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":2000,"completion_tokens":3,"prompt_tokens_details":{"cached_tokens":1024}}});
        assert_eq!(parse_completion(&openai, 50).unwrap().cached_tokens, 1024);
        let deepseek = json!({"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}],
            "usage":{"prompt_tokens":2000,"completion_tokens":3,"prompt_cache_hit_tokens":640,"prompt_cache_miss_tokens":1360}});
        assert_eq!(parse_completion(&deepseek, 50).unwrap().cached_tokens, 640);
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
        assert_eq!(by_model("o3-mini"), "max_completion_tokens");
        assert_eq!(by_model("openai/gpt-5"), "max_completion_tokens");
        assert_eq!(by_model("gpt-4o-mini"), "max_tokens");
        assert_eq!(by_model("qwen2.5:7b"), "max_tokens");
    }

    #[test]
    fn a_budget_never_grows_past_what_its_request_can_need() {
        let messages = Messages::new("s".into(), "u".into());
        let mut request = wire("o3-mini", &messages, 1_000);
        assert!(request.enlarge(), "a summary cut at its ceiling is sent once more");
        assert_eq!((request.max_tokens(), &request.body()["max_completion_tokens"]), (1_000, &json!(1_000)));
        let told = request.body()["messages"][2]["content"].as_str().unwrap();
        assert!(told.starts_with("Your reply ran past 1000 tokens"), "not the same request again: {told}");
        assert!(request.body().get("temperature").is_none(), "a runaway is not sampled colder");
        assert!(!request.enlarge(), "a runaway is not fed a bigger budget, nor sent a third time");
        assert!(request.body().get("max_tokens").is_none());
        let schema = ReplySchema { name: "x", schema: json!({}) };
        let passage = ChatRequest {
            messages: &messages,
            schema: &schema,
            max_tokens: 2_000,
            kind: AnswerKind::Translation,
            input_tokens: 800,
        };
        let mut passage = WireRequest::new("m", &passage, Form::strict());
        assert!(!passage.enlarge(), "a passage cut at its ceiling is halved by the pipeline instead");
    }

    #[test]
    fn a_sized_budget_that_proves_short_goes_straight_to_the_fixed_one() {
        let messages = Messages::new("s".into(), "u".into());
        let mut request = wire("gpt-4o-mini", &messages, 1_500);
        request.size_to(300);
        assert!(request.is_sized());
        assert_eq!(request.body()["max_tokens"], json!(300));
        assert!(request.enlarge());
        assert_eq!((request.max_tokens(), request.is_sized()), (1_500, false));
        assert!(request.enlarge());
        assert_eq!(request.max_tokens(), 1_500, "never past the fixed budget");
        assert!(!request.enlarge());
    }

    #[test]
    fn a_repair_history_follows_the_first_messages_and_a_first_request_has_none() {
        let mut messages = Messages::new("s".into(), "u".into());
        let first = wire("m", &messages, 10);
        assert_eq!(first.body()["messages"].as_array().unwrap().len(), 2);
        messages.history.push(Turn { role: Role::Assistant, content: "a".into() });
        messages.history.push(Turn { role: Role::User, content: "fix".into() });
        let repair = wire("m", &messages, 10);
        let roles: Vec<&str> = repair.body()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(repair.body()["messages"][3]["content"], "fix");
    }

    #[test]
    fn the_prompt_estimate_counts_every_message_and_the_framing() {
        let counter = TokenCounter::new(crate::chunk::Encoding::O200kBase);
        let messages = Messages::new("You translate.".into(), "정부가 새 계획을 발표했다.".into());
        let expected =
            counter.count("You translate.") + counter.count("정부가 새 계획을 발표했다.") + 2 * 4 + 3;
        assert_eq!(wire("m", &messages, 10).prompt_estimate(&counter) as usize, expected);
    }
}
