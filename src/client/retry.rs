//! Whether, when and how a failed request is tried again: the whole answer to "how is a 429
//! retried?" is in this file.
//!
//! [`RetryState`] follows one request through its attempts. Given each failure, it answers
//! [`Decision::Retry`] after a wait (the server's hint, parsed in `header`, else exponential
//! backoff with jitter), [`Decision::GiveUp`] for what can never succeed or after the last
//! attempt, or [`Decision::StopRun`] when nothing else can succeed either (a refused key, an
//! exhausted quota). A truncated answer is retried at once with a larger completion budget
//! (the provider's rule, in `wire`), or with word that it ran away; a reply that is not the JSON
//! asked for is retried at once, first with a reminder of what was wrong at a lower
//! temperature, then without `response_format`, and then given up: a model that answers prose
//! answers it again (six identical attempts an article, before, against such a server).
//!
//! Two things happen around a decision, elsewhere by necessity: the limiter learns the
//! server's limits and its hint from every response (so other requests hold too), and a
//! rate-limited attempt's tokens are given back to it ([`super::Attempt::charged`]).

use std::time::Duration;

use super::error::ClientError;
use super::wire::WireRequest;

/// How patient retrying is. Which errors are retried at all is [`RetryState::decide`]'s rule.
#[derive(Debug, Clone)]
pub(crate) struct RetryPolicy {
    /// Attempts in all, the first included.
    pub(crate) max_attempts: u32,
    /// First backoff; doubled each retry, with jitter.
    pub(crate) base_delay: Duration,
    /// Longest single backoff.
    pub(crate) max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Backoff before the attempt after `attempt` (counted from 1): the server's hint when it
    /// gave one, else exponential with jitter (between half and all of the ceiling) so that
    /// many failed requests do not come back in lockstep.
    fn delay(&self, attempt: u32, hint: Option<Duration>) -> Duration {
        if let Some(hint) = hint {
            return hint.min(self.max_delay);
        }
        let ceiling =
            self.base_delay.saturating_mul(1 << attempt.saturating_sub(1).min(16)).min(self.max_delay);
        ceiling.mul_f64(0.5 + fastrand::f64() * 0.5)
    }
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Send the (possibly enlarged) request again after this wait.
    Retry(Duration),
    /// This request can never succeed as is: record the failure, go on with other articles.
    GiveUp,
    /// Nothing else can succeed either (bad key, no quota): stop the run.
    StopRun,
}

/// One request's attempts so far.
#[derive(Debug)]
pub(crate) struct RetryState<'p> {
    policy: &'p RetryPolicy,
    attempts: u32,
}

impl<'p> RetryState<'p> {
    pub(crate) fn new(policy: &'p RetryPolicy) -> Self {
        RetryState { policy, attempts: 0 }
    }

    /// Attempts that failed so far (each decided once).
    pub(crate) fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The decision after `error` on the latest attempt of `request`, which is enlarged here
    /// when the answer was cut at its budget.
    pub(crate) fn decide(&mut self, error: &ClientError, request: &mut WireRequest) -> Decision {
        self.attempts += 1;
        let retry = match error {
            ClientError::Status { status, code, .. } => match (*status, code.as_deref()) {
                (401 | 403, _) | (429, Some("insufficient_quota")) => return Decision::StopRun,
                (408 | 409 | 429 | 500..=599, _) => true,
                _ => false,
            },
            // A network or server hiccup may pass.
            ClientError::Timeout(_)
            | ClientError::Connection(_)
            | ClientError::Body(_)
            | ClientError::WebPage(_) => true,
            // A reply that is not the JSON asked for comes back alike from a model at a low
            // temperature, so each attempt changes something: the next says what was wrong and
            // samples colder, the one after goes without `response_format` (the schema in the
            // prompt). After that, resending would be blind, and the request fails with its
            // reason.
            ClientError::InvalidReply(why) | ClientError::NoContent(why) => {
                if self.attempts < self.policy.max_attempts && (request.insist(why) || request.fall_back()) {
                    return Decision::Retry(Duration::ZERO);
                }
                false
            }
            ClientError::Truncated { .. } => {
                if self.attempts < self.policy.max_attempts && request.enlarge() {
                    return Decision::Retry(Duration::ZERO);
                }
                false
            }
        };
        if !retry || self.attempts >= self.policy.max_attempts {
            return Decision::GiveUp;
        }
        // The limiter paces a 429's neighbours (it saw the same headers); this request itself
        // waits for the server's hint or a backoff.
        Decision::Retry(self.policy.delay(self.attempts, error.retry_after()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::settings::ResponseFormat;
    use crate::client::wire::Form;
    use crate::client::{ChatRequest, ReplySchema};
    use crate::prompt::Messages;
    use crate::sizing::AnswerKind;

    fn request(max_tokens: u32) -> WireRequest {
        let messages = Messages::new("s".into(), "u".into());
        let schema = ReplySchema { name: "x", schema: serde_json::json!({}) };
        let form = Form { response_format: ResponseFormat::Text, ..Form::strict() };
        WireRequest::new(
            "m",
            &ChatRequest {
                messages: &messages,
                schema: &schema,
                max_tokens,
                kind: AnswerKind::Summary,
                input_tokens: 0,
            },
            form,
        )
    }

    fn object_schema() -> ReplySchema {
        ReplySchema { name: "x", schema: serde_json::json!({"type": "object"}) }
    }

    fn summary<'a>(messages: &'a Messages, schema: &'a ReplySchema) -> ChatRequest<'a> {
        ChatRequest { messages, schema, max_tokens: 100, kind: AnswerKind::Summary, input_tokens: 0 }
    }

    fn status(status: u16, code: Option<&str>) -> ClientError {
        ClientError::Status {
            status,
            code: code.map(str::to_string),
            message: String::new(),
            retry_after: None,
        }
    }

    fn first_decision(error: &ClientError) -> Decision {
        RetryState::new(&RetryPolicy::default()).decide(error, &mut request(100))
    }

    #[test]
    fn each_error_class_gets_the_right_decision() {
        let retried = |e: &ClientError| matches!(first_decision(e), Decision::Retry(_));
        assert!(retried(&status(429, Some("rate_limit_exceeded"))));
        assert_eq!(first_decision(&status(429, Some("insufficient_quota"))), Decision::StopRun);
        assert_eq!(first_decision(&status(401, None)), Decision::StopRun);
        assert_eq!(first_decision(&status(403, None)), Decision::StopRun);
        for s in [408, 409, 500, 502, 503] {
            assert!(retried(&status(s, None)), "{s}");
        }
        for s in [400, 404, 413, 422] {
            assert_eq!(first_decision(&status(s, None)), Decision::GiveUp, "{s}");
        }
        assert!(retried(&ClientError::Timeout(Duration::from_secs(1))));
        assert!(retried(&ClientError::InvalidReply("x".into())));
    }

    #[test]
    fn a_429_waits_for_the_servers_hint_capped_by_the_policy() {
        let policy = RetryPolicy { max_delay: Duration::from_secs(8), ..Default::default() };
        let hinted = |secs| ClientError::Status {
            status: 429,
            code: None,
            message: String::new(),
            retry_after: Some(Duration::from_secs_f64(secs)),
        };
        let mut state = RetryState::new(&policy);
        assert_eq!(
            state.decide(&hinted(1.5), &mut request(100)),
            Decision::Retry(Duration::from_millis(1500))
        );
        assert_eq!(state.decide(&hinted(600.0), &mut request(100)), Decision::Retry(Duration::from_secs(8)));
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            base_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(8),
            max_attempts: 20,
        };
        let mut state = RetryState::new(&policy);
        for attempt in 1..10 {
            let Decision::Retry(d) = state.decide(&status(503, None), &mut request(100)) else {
                panic!("a 503 is retried")
            };
            let ceiling = Duration::from_secs(1 << (attempt - 1).min(3));
            assert!(d <= ceiling && d >= ceiling / 2, "attempt {attempt}: {d:?}");
        }
    }

    #[test]
    fn the_last_attempt_gives_up() {
        let policy = RetryPolicy { max_attempts: 3, base_delay: Duration::ZERO, ..Default::default() };
        let mut state = RetryState::new(&policy);
        let error = status(500, None);
        assert!(matches!(state.decide(&error, &mut request(100)), Decision::Retry(_)));
        assert!(matches!(state.decide(&error, &mut request(100)), Decision::Retry(_)));
        assert_eq!(state.decide(&error, &mut request(100)), Decision::GiveUp);
        assert_eq!(state.attempts(), 3);
    }

    #[test]
    fn a_truncated_answer_is_retried_at_once_with_the_same_budget_then_given_up() {
        let policy = RetryPolicy::default();
        let mut state = RetryState::new(&policy);
        let mut wire = request(100);
        let cut = ClientError::Truncated { max_tokens: 100 };
        assert_eq!(state.decide(&cut, &mut wire), Decision::Retry(Duration::ZERO));
        assert_eq!(wire.max_tokens(), 100);
        assert_eq!(wire.body()["messages"].as_array().unwrap().len(), 3, "with word that it ran away");
        // Cut again at what it can need: a runaway, failed fast rather than fed.
        assert_eq!(state.decide(&cut, &mut wire), Decision::GiveUp);
        assert_eq!(state.attempts(), 2);
    }

    #[test]
    fn a_reply_that_is_not_the_json_asked_for_is_retried_once_with_a_reminder_then_given_up() {
        let policy = RetryPolicy::default();
        let mut state = RetryState::new(&policy);
        let (messages, schema) = (Messages::new("s".into(), "u".into()), object_schema());
        let chat = summary(&messages, &schema);
        let form = Form { temperature: Some(0.7), ..Form::strict() };
        let mut wire = WireRequest::new("m", &chat, form);
        let prose = ClientError::InvalidReply("expected value at line 1 column 1".into());
        assert_eq!(state.decide(&prose, &mut wire), Decision::Retry(Duration::ZERO), "at once");
        let messages = wire.body()["messages"].as_array().unwrap();
        let reminder = messages.last().unwrap()["content"].as_str().unwrap();
        assert!(reminder.contains("could not be used (expected value at line 1 column 1)"), "{reminder}");
        assert_eq!(wire.body()["temperature"], 0.2, "sampled colder than the user's 0.7");
        // The same failure again: this request's form is the one thing left to change.
        assert_eq!(state.decide(&prose, &mut wire), Decision::Retry(Duration::ZERO));
        assert!(wire.body().get("response_format").is_none());
        let system = wire.body()["messages"][0]["content"].as_str().unwrap();
        assert!(system.ends_with("matches this JSON schema:\n{\"type\":\"object\"}"), "{system}");
        assert_eq!(wire.body()["messages"].as_array().unwrap().len(), 3, "system, user, the reminder");
        // And again: resending would be blind.
        assert_eq!(state.decide(&prose, &mut wire), Decision::GiveUp);
    }

    #[test]
    fn a_reminder_is_not_sampled_warmer_nor_colder_than_the_server_takes() {
        let (messages, schema) = (Messages::new("s".into(), "u".into()), object_schema());
        let chat = summary(&messages, &schema);
        let prose = ClientError::InvalidReply("x".into());
        let policy = RetryPolicy::default();
        let temperature_after_reminder = |form: Form| {
            let mut wire = WireRequest::new("m", &chat, form);
            assert_eq!(RetryState::new(&policy).decide(&prose, &mut wire), Decision::Retry(Duration::ZERO));
            (wire.body().get("temperature").cloned(), wire.cooled)
        };
        let unset = temperature_after_reminder(Form::strict());
        assert_eq!(unset, (Some(serde_json::json!(0.2)), true), "the server's default is warmer");
        let cold = temperature_after_reminder(Form { temperature: Some(0.0), ..Form::strict() });
        assert_eq!(cold, (Some(serde_json::json!(0.0)), false), "already colder: left as the user set it");
        let fixed = temperature_after_reminder(Form { cooling: false, ..Form::strict() });
        assert_eq!(fixed, (None, false), "a server that takes only its default");
    }

    #[test]
    fn a_sized_budget_cut_short_gets_the_fixed_one_first() {
        let policy = RetryPolicy::default();
        let mut state = RetryState::new(&policy);
        let mut wire = request(1_000);
        wire.size_to(200);
        let cut = ClientError::Truncated { max_tokens: 200 };
        assert_eq!(state.decide(&cut, &mut wire), Decision::Retry(Duration::ZERO));
        assert_eq!(wire.max_tokens(), 1_000);
        assert_eq!(state.decide(&cut, &mut wire), Decision::Retry(Duration::ZERO));
        assert_eq!(wire.max_tokens(), 1_000);
        assert_eq!(state.decide(&cut, &mut wire), Decision::GiveUp);
    }
}
