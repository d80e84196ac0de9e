//! What can go wrong with one request, and what the caller should do about it.

use std::time::Duration;

/// One failed request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ClientError {
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

/// What to do after an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// Try the same request again after a backoff (or the server's Retry-After).
    Retry,
    /// Try again with a larger completion budget.
    RetryLarger,
    /// This request can never succeed as is; record the failure and go on with other articles.
    GiveUp,
    /// Nothing else can succeed either (bad key, no quota): stop the run.
    StopRun,
}

impl ClientError {
    pub fn recovery(&self) -> Recovery {
        match self {
            ClientError::Status { status, code, .. } => match (*status, code.as_deref()) {
                (401 | 403, _) => Recovery::StopRun,
                (429, Some("insufficient_quota")) => Recovery::StopRun,
                (408 | 409 | 429, _) => Recovery::Retry,
                (500..=599, _) => Recovery::Retry,
                _ => Recovery::GiveUp,
            },
            ClientError::Timeout(_) | ClientError::Connection(_) | ClientError::Body(_) => Recovery::Retry,
            ClientError::InvalidReply(_) | ClientError::NoContent(_) => Recovery::Retry,
            ClientError::Truncated { .. } => Recovery::RetryLarger,
        }
    }

    /// A short stable name for records, logs and the retry statistics.
    pub fn kind(&self) -> &'static str {
        match self {
            ClientError::Status { status: 429, code, .. }
                if code.as_deref() == Some("insufficient_quota") =>
            {
                "insufficient_quota"
            }
            ClientError::Status { status: 429, .. } => "rate_limited",
            ClientError::Status { status: 401 | 403, .. } => "unauthorized",
            ClientError::Status { status: 500..=599, .. } => "server_error",
            ClientError::Status { .. } => "http_error",
            ClientError::Timeout(_) => "timeout",
            ClientError::Connection(_) => "connection",
            ClientError::Body(_) => "invalid_body",
            ClientError::Truncated { .. } => "truncated",
            ClientError::NoContent(_) => "no_content",
            ClientError::InvalidReply(_) => "invalid_reply",
        }
    }

    /// The server's own wait hint, when it gave one.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16, code: Option<&str>) -> ClientError {
        ClientError::Status {
            status,
            code: code.map(str::to_string),
            message: String::new(),
            retry_after: None,
        }
    }

    #[test]
    fn each_error_class_gets_the_right_recovery() {
        assert_eq!(status(429, Some("rate_limit_exceeded")).recovery(), Recovery::Retry);
        assert_eq!(status(429, Some("insufficient_quota")).recovery(), Recovery::StopRun);
        assert_eq!(status(401, None).recovery(), Recovery::StopRun);
        assert_eq!(status(403, None).recovery(), Recovery::StopRun);
        for s in [408, 409, 500, 502, 503] {
            assert_eq!(status(s, None).recovery(), Recovery::Retry, "{s}");
        }
        for s in [400, 404, 413, 422] {
            assert_eq!(status(s, None).recovery(), Recovery::GiveUp, "{s}");
        }
        assert_eq!(ClientError::Timeout(Duration::from_secs(1)).recovery(), Recovery::Retry);
        assert_eq!(ClientError::Truncated { max_tokens: 10 }.recovery(), Recovery::RetryLarger);
    }
}
