//! The forms of the request a run sends (response format, budget field, streaming, a strict
//! schema's length bounds, a retry's lower temperature), shared by every request and every
//! route, and how they step down when a server refuses one (`Client::adapt`): once, with one
//! notice, for the rest of the run.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use super::provider::BudgetField;
use super::settings::ResponseFormat;
use super::wire::{self, WireRequest};
use super::{Client, ClientError};

impl Client {
    /// Whether the prompt itself must carry the schema (the server does not enforce it).
    pub(crate) fn schema_in_prompt(&self) -> bool {
        self.response_format() != ResponseFormat::JsonSchema
    }

    /// How answers are constrained now.
    pub(crate) fn response_format(&self) -> ResponseFormat {
        decode_format(self.forms.response_format.load(Ordering::Acquire))
    }

    pub(super) fn budget_field(&self) -> BudgetField {
        decode_field(self.forms.budget_field.load(Ordering::Acquire))
    }

    /// The forms as learned: `(response format, budget field)`, to remember for the next run.
    pub(crate) fn forms(&self) -> (ResponseFormat, BudgetField) {
        (self.response_format(), self.budget_field())
    }

    /// Start from forms an earlier run learned this endpoint takes.
    pub(crate) fn assume(&self, response_format: ResponseFormat, budget_field: BudgetField) {
        self.forms.response_format.store(encode_format(response_format), Ordering::Release);
        self.forms.budget_field.store(encode_field(budget_field), Ordering::Release);
    }

    /// After `error` on `request`: when the server refused the request's form (a
    /// `response_format` or `json_schema` it does not support, a budget field it rejects),
    /// switch the rest of the run to the next form and say what changed, once. Some(None)
    /// when another request already made the switch; None when the error is not about form.
    pub(crate) fn adapt(&self, error: &ClientError, request: &WireRequest) -> Option<Option<String>> {
        let ClientError::Status { status: 400 | 422, code, message, .. } = error else { return None };
        let text = format!("{} {}", code.as_deref().unwrap_or(""), message).to_ascii_lowercase();
        let refused = [
            "not support",
            "unsupported",
            "not allowed",
            "invalid",
            "unknown",
            "unrecognized",
            "not permitted",
            "extra",
            "unavailable",
        ]
        .iter()
        .any(|w| text.contains(w));
        if !refused {
            return None;
        }
        // `stream` or `stream_options` refused: whole answers from now on (the request itself
        // carries no trace of streaming, so it is sent again as it is).
        if text.contains("stream") {
            let changed =
                self.forms.stream.compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire).is_ok();
            return Some(changed.then(|| {
                format!(
                    "{} does not take streamed requests: asking for whole answers for the rest of the run",
                    self.chat_url
                )
            }));
        }
        // A strict schema's length bounds refused (older OpenAI snapshots, some gateways): the
        // schema without them from now on; the checks still hold answers to them. Before the
        // step down below, whose words ("response_format", "json_schema") such a refusal uses.
        let bound_refused =
            ["minitems", "maxitems", "minlength", "maxlength"].iter().any(|k| text.contains(k));
        if bound_refused && request.response_format == ResponseFormat::JsonSchema && request.bounded {
            let changed =
                self.forms.bounds.compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire).is_ok();
            return Some(changed.then(|| {
                format!(
                    "{} does not take length bounds in a strict schema: sending it without them for the rest of the run (answers are still checked against them)",
                    self.chat_url
                )
            }));
        }
        // A temperature other than the default refused (OpenAI's reasoning models, Kimi): a
        // retry after a malformed reply keeps the request's own from now on.
        if text.contains("temperature") && request.cooled {
            let changed =
                self.forms.cooling.compare_exchange(true, false, Ordering::AcqRel, Ordering::Acquire).is_ok();
            return Some(changed.then(|| {
                format!(
                    "{} takes only its default temperature: retries after a malformed reply keep it for the rest of the run",
                    self.chat_url
                )
            }));
        }
        let field = request.budget_field();
        // "Invalid max_tokens" is about the value (too large), not the field: only words that
        // refuse the parameter itself switch it.
        let field_refused =
            ["not support", "unsupported", "unrecognized", "unknown", "not permitted", "not allowed"]
                .iter()
                .any(|w| text.contains(w));
        if text.contains(field) && field_refused {
            let next =
                if field == "max_tokens" { BudgetField::MaxCompletionTokens } else { BudgetField::MaxTokens };
            let now = self.budget_field();
            if wire::field_name(now, &self.model) != field {
                return Some(None); // another request made the switch
            }
            let changed = self.switch(&self.forms.budget_field, encode_field(now), encode_field(next));
            return Some(changed.then(|| {
                let next_name = wire::field_name(next, &self.model);
                format!(
                    "{} does not take {field}: sending {next_name} for the rest of the run",
                    self.chat_url
                )
            }));
        }
        let next = match request.response_format {
            ResponseFormat::JsonSchema
                if text.contains("json_schema") || text.contains("response_format") =>
            {
                ResponseFormat::JsonObject
            }
            ResponseFormat::JsonObject
                if text.contains("json_object") || text.contains("response_format") =>
            {
                ResponseFormat::Text
            }
            _ => return None,
        };
        if self.response_format() != request.response_format {
            return Some(None); // another request made the switch
        }
        let changed = self.switch(
            &self.forms.response_format,
            encode_format(request.response_format),
            encode_format(next),
        );
        Some(changed.then(|| {
            format!(
                "{} does not take response_format {:?}: asking for {:?} for the rest of the run (the schema goes in the prompt)",
                self.chat_url, request.response_format, next
            )
        }))
    }

    /// Whether `request` was prepared in a form the run has since given up (it waited for a
    /// slot while another request learned the server's refusal): then it is prepared again
    /// rather than sent to be refused.
    pub(crate) fn is_stale(&self, request: &WireRequest) -> bool {
        let bounded = request.response_format == ResponseFormat::JsonSchema && request.bounded;
        (bounded && !self.forms.bounds.load(Ordering::Acquire))
            || (request.cooled && !self.forms.cooling.load(Ordering::Acquire))
            || request.response_format != self.response_format()
            || request.budget_field() != wire::field_name(self.budget_field(), &self.model)
    }

    /// Move `slot` from `from` to `to`; true when this call did.
    fn switch(&self, slot: &AtomicU8, from: u8, to: u8) -> bool {
        slot.compare_exchange(from, to, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }
}

/// The forms a run sends, shared by every request and changed only by [`Client::adapt`] or
/// [`Client::assume`].
#[derive(Debug)]
pub(super) struct Forms {
    pub(super) response_format: AtomicU8,
    pub(super) budget_field: AtomicU8,
    /// Whether answers are asked for as a stream.
    pub(super) stream: AtomicBool,
    /// Whether a strict schema carries its length bounds (`minItems`…), until a server
    /// refuses them.
    pub(super) bounds: AtomicBool,
    /// Whether a retry may lower the temperature, until a server refuses one (see
    /// `WireRequest::insist`).
    pub(super) cooling: AtomicBool,
}

pub(super) fn encode_format(f: ResponseFormat) -> u8 {
    match f {
        ResponseFormat::JsonSchema => 0,
        ResponseFormat::JsonObject => 1,
        ResponseFormat::Text => 2,
    }
}

fn decode_format(n: u8) -> ResponseFormat {
    match n {
        0 => ResponseFormat::JsonSchema,
        1 => ResponseFormat::JsonObject,
        _ => ResponseFormat::Text,
    }
}

pub(super) fn encode_field(f: BudgetField) -> u8 {
    match f {
        BudgetField::ByModel => 0,
        BudgetField::MaxTokens => 1,
        BudgetField::MaxCompletionTokens => 2,
    }
}

fn decode_field(n: u8) -> BudgetField {
    match n {
        1 => BudgetField::MaxTokens,
        2 => BudgetField::MaxCompletionTokens,
        _ => BudgetField::ByModel,
    }
}
