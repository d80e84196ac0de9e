//! The client's own settings: how requests are shaped and authenticated. `config` resolves
//! them from flags and the environment; nothing else builds them.

use std::fmt;
use std::time::Duration;

use super::header::Dialect;
use super::provider::{Auth, BudgetField, UrlShape};

/// The API key. It has no `Serialize` and its `Debug` prints nothing of it, so it cannot leak
/// into logs, records or the cache by accident.
#[derive(Clone)]
pub(crate) struct ApiKey(String);

impl ApiKey {
    pub(crate) fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The only way to read the key: for the Authorization header, and to scrub it from text a
    /// server echoed.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

/// How the model is asked to shape its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ResponseFormat {
    /// `response_format: json_schema`, strict: the server guarantees the shape.
    JsonSchema,
    /// `response_format: json_object`: any JSON; the schema is given in the prompt.
    JsonObject,
    /// No `response_format`: for servers without structured outputs; JSON is asked in the prompt.
    Text,
}

impl ResponseFormat {
    /// The name kept in the cache's record of what an endpoint takes.
    pub(crate) fn name(self) -> &'static str {
        match self {
            ResponseFormat::JsonSchema => "json_schema",
            ResponseFormat::JsonObject => "json_object",
            ResponseFormat::Text => "text",
        }
    }

    pub(crate) fn parse(name: &str) -> Option<ResponseFormat> {
        [ResponseFormat::JsonSchema, ResponseFormat::JsonObject, ResponseFormat::Text]
            .into_iter()
            .find(|f| f.name() == name)
    }
}

/// One place requests may go: a base URL (…/v1) and the key it takes. A run has one or
/// several (three servers of one model, or one API with two keys of separate quotas), each
/// a lane of the pool with its own limits and concurrency.
#[derive(Debug, Clone)]
pub(crate) struct Route {
    pub(crate) base_url: String,
    /// None for a server that needs no key (the built-in mock, a local server).
    pub(crate) api_key: Option<ApiKey>,
}

/// How requests to the endpoint are made, the same for every route of a run. Where they go
/// (the routes, or the built-in mock's address) is the run's choice, given to
/// [`super::Client::new`] beside these.
#[derive(Debug, Clone)]
pub(crate) struct EndpointSettings {
    /// Model name sent with every request, and part of every cache key.
    pub(crate) model: String,
    /// How answers are constrained.
    pub(crate) response_format: ResponseFormat,
    /// Sampling temperature, sent only when set.
    pub(crate) temperature: Option<f32>,
    /// Per-request timeout: of silence when answers are streamed (see `client::stream`), of
    /// the whole request otherwise.
    pub(crate) timeout: Duration,
    /// Whether answers are asked for as a stream (until the server refuses one).
    pub(crate) stream: bool,
    /// How this provider differs from OpenAI on the wire.
    pub(crate) protocol: Protocol,
    /// What to check first when the endpoint refuses the URL, the model or the key (the
    /// provider's own advice), for the message that stops a misconfigured run.
    pub(crate) hint: Option<&'static str>,
}

/// The provider's dialect of the protocol: how the key travels, where the path goes, which
/// field carries the budget, how rate-limit headers read. OpenAI's by default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Protocol {
    pub(crate) auth: Auth,
    pub(crate) url_shape: UrlShape,
    pub(crate) budget_field: BudgetField,
    pub(crate) dialect: Dialect,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            auth: Auth::Bearer,
            url_shape: UrlShape::OpenAi,
            budget_field: BudgetField::ByModel,
            dialect: Dialect::Standard,
        }
    }
}
