//! What can go wrong with one request. What to do about it is `retry`'s decision.

use std::time::Duration;

use serde_json::Value;

use super::wire::truncate;

/// One failed request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum ClientError {
    /// The server answered with an error status.
    #[error("the endpoint answered HTTP {status}{}: {message}", code.as_ref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Status { status: u16, code: Option<String>, message: String, retry_after: Option<Duration> },
    /// No answer within `--timeout`.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed or was dropped before an answer.
    #[error("connection failed: {0}")]
    Connection(String),
    /// A 200 whose body is not a chat completion.
    #[error("the endpoint's answer is not a valid chat completion: {0}")]
    Body(String),
    /// A 200 whose body is an HTML page: a website, not an API, answered.
    #[error("the endpoint answered with a web page, not JSON: {0}")]
    WebPage(String),
    /// The answer was cut at the completion budget (`finish_reason: "length"`).
    #[error("the answer was cut off at the {max_tokens}-token completion budget")]
    Truncated { max_tokens: u32 },
    /// The model declined, or gave no content.
    #[error("the model gave no usable answer: {0}")]
    NoContent(String),
    /// The content does not fit the reply schema.
    #[error("the answer does not match the expected JSON shape: {0}")]
    InvalidReply(String),
}

impl ClientError {
    /// A short stable name for records, logs and the retry statistics.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            ClientError::Status { status: 429, code, .. }
                if code.as_deref() == Some("insufficient_quota") =>
            {
                "insufficient_quota"
            }
            ClientError::Status { status: 429, .. } => "rate_limited",
            ClientError::Status { status: 401, .. } => "unauthorized",
            ClientError::Status { status: 403, .. } => "forbidden",
            ClientError::Status { status: 500..=599, .. } => "server_error",
            ClientError::Status { .. } => "http_error",
            ClientError::Timeout(_) => "timeout",
            ClientError::Connection(_) => "connection",
            ClientError::Body(_) => "invalid_body",
            ClientError::WebPage(_) => "web_page",
            ClientError::Truncated { .. } => "truncated",
            ClientError::NoContent(_) => "no_content",
            ClientError::InvalidReply(_) => "invalid_reply",
        }
    }

    /// The server's own wait hint, when it gave one.
    pub(crate) fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether this error, on an endpoint that has not answered yet, says the run's settings
    /// cannot work (wrong URL, model or key, no server there) rather than that this request
    /// failed: then no other request can fare better, and the run stops after the first wave.
    pub(crate) fn misconfiguration(&self) -> bool {
        match self {
            ClientError::Status { status: 401 | 403 | 404 | 405, .. } => true,
            // Only a 400 that says the model is unknown: "This model's maximum context length
            // is …" names the model too, and is about one article.
            ClientError::Status { status: 400 | 422, code, message, .. } => {
                let text = format!("{} {message}", code.as_deref().unwrap_or("")).to_ascii_lowercase();
                text.contains("model")
                    && [
                        "invalid model",
                        "model not found",
                        "model_not_found",
                        "invalid_model",
                        "unknown model",
                        "no such model",
                        "not a valid model",
                        "does not exist",
                        "not found",
                    ]
                    .iter()
                    .any(|words| text.contains(words))
            }
            ClientError::Connection(message) => {
                let m = message.to_ascii_lowercase();
                [
                    "dns error",
                    "failed to lookup",
                    "connection refused",
                    "no such host",
                    "name or service not known",
                ]
                .iter()
                .any(|needle| m.contains(needle))
            }
            // A web page, not an API: a base URL without /v1, or a site's address.
            ClientError::WebPage(_) => true,
            _ => false,
        }
    }

    #[cfg(test)]
    fn status(status: u16, code: Option<&str>, message: &str) -> ClientError {
        ClientError::Status {
            status,
            code: code.map(str::to_string),
            message: message.into(),
            retry_after: None,
        }
    }

    /// Whether the endpoint answered at all (however badly): its URL, key and model work.
    pub(crate) fn endpoint_answered(&self) -> bool {
        matches!(
            self,
            ClientError::Truncated { .. } | ClientError::NoContent(_) | ClientError::InvalidReply(_)
        )
    }
}

impl ClientError {
    /// An HTTP error status and its body, read the way servers write errors: OpenAI's
    /// `{"error": {"message", "code" or "type"}}`, or a bare `message` or `detail`, or any text.
    pub(super) fn from_status(status: u16, body: &str, retry_after: Option<Duration>) -> ClientError {
        let json: Option<Value> = serde_json::from_str(body).ok();
        let error = json.as_ref().map(|v| v.get("error").unwrap_or(v));
        let text = |field: &str| error.and_then(|e| e.get(field)).and_then(Value::as_str).map(str::to_string);
        let code = error.and_then(|e| e.get("code")).and_then(|c| match c {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        });
        let message = text("message").or_else(|| text("detail")).unwrap_or_else(|| body.to_string());
        ClientError::Status {
            status,
            code: code.or_else(|| text("type")),
            message: first_line(&message),
            retry_after,
        }
    }

    /// A successful status whose body is not a chat completion (`why` it is not): a web page
    /// where the API should be (a website answered), or anything else.
    pub(super) fn not_an_answer(content: &str, why: &str) -> ClientError {
        let trimmed = content.trim_start();
        if trimmed.starts_with('<') {
            ClientError::WebPage(format!("it starts {:?}", truncate(trimmed, 60)))
        } else {
            ClientError::Body(format!("{why}; body starts {:?}", truncate(content, 80)))
        }
    }
}

/// The first line of a server's message, for an error that fits on a line.
pub(super) fn first_line(text: &str) -> String {
    truncate(text.lines().map(str::trim).find(|l| !l.is_empty()).unwrap_or(""), 300)
}

/// An error and its sources, each said once.
pub(super) fn error_chain(e: &dyn std::error::Error) -> String {
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

    /// Real refusals: those that say the run cannot work, and those about one request only.
    #[test]
    fn only_what_says_the_settings_cannot_work_is_a_misconfiguration() {
        let cannot_work = [
            ClientError::status(
                400,
                Some("400"),
                "Invalid model name passed in model=gpt-4o-mini. Call `/v1/models` to view available models for your key.",
            ),
            ClientError::status(
                404,
                Some("model_not_found"),
                "The model `gpt-5-mini` does not exist or you do not have access to it.",
            ),
            ClientError::status(400, None, "model 'qwen2.5:14b' not found, try pulling it first"),
            ClientError::status(401, Some("invalid_api_key"), "Incorrect API key provided"),
            ClientError::Connection("dns error: failed to lookup address information".into()),
            ClientError::WebPage("it starts \"<html>\"".into()),
        ];
        for error in &cannot_work {
            assert!(error.misconfiguration(), "{error}");
        }
        let one_request = [
            ClientError::status(
                400,
                Some("context_length_exceeded"),
                "This model's maximum context length is 128000 tokens. However, your messages resulted in 130512 tokens.",
            ),
            ClientError::status(400, None, "Invalid 'max_tokens': integer below minimum value."),
            ClientError::status(500, None, "The server had an error while processing your request."),
            ClientError::Timeout(std::time::Duration::from_secs(1)),
            ClientError::Connection("connection reset by peer".into()),
        ];
        for error in &one_request {
            assert!(!error.misconfiguration(), "{error}");
        }
    }

    #[test]
    fn error_bodies_are_read_the_ways_servers_write_them() {
        let openai = r#"{"error":{"message":"Rate limit reached\nsecond line","type":"requests","code":"rate_limit_exceeded"}}"#;
        let ClientError::Status { status, code, message, .. } = ClientError::from_status(429, openai, None)
        else {
            panic!()
        };
        assert_eq!(
            (status, code.as_deref(), message.as_str()),
            (429, Some("rate_limit_exceeded"), "Rate limit reached")
        );
        let vllm = r#"{"object":"error","message":"The model `x` does not exist.","type":"NotFoundError","code":404}"#;
        let ClientError::Status { code, message, .. } = ClientError::from_status(404, vllm, None) else {
            panic!()
        };
        assert_eq!((code.as_deref(), message.as_str()), (Some("404"), "The model `x` does not exist."));
        let fastapi = r#"{"detail":"Not Found"}"#;
        let ClientError::Status { message, .. } = ClientError::from_status(404, fastapi, None) else {
            panic!()
        };
        assert_eq!(message, "Not Found");
        let ClientError::Status { message, .. } =
            ClientError::from_status(502, "<html>\n<h1>Bad Gateway</h1>", None)
        else {
            panic!()
        };
        assert_eq!(message, "<html>");
    }
}
