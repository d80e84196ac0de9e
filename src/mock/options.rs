//! The mock's options, defined once. [`OPTIONS`] is the one list: `mock-server`'s flags are
//! built from it (in `cli`), `--mock-opt KEY=VALUE` is parsed by it (in `config`), and a test
//! checks that `docs/mock.md` documents every entry. [`MockOptions`] is the typed result.

use std::path::PathBuf;
use std::time::Duration;

/// How the mock behaves. The default is a fast, well-behaved endpoint without limits.
#[derive(Debug, Clone, PartialEq)]
pub struct MockOptions {
    /// Wait before the first byte of every answer the "model" works on. Refusals for the key,
    /// the quota or the rate limits come at once, as from a real API's gateway.
    pub latency: Duration,
    /// Wait per completion token, before a plain answer or between a stream's chunks.
    pub per_token: Duration,
    /// Requests per minute; over it, 429 `rate_limit_exceeded`. None: unlimited.
    pub rpm: Option<u64>,
    /// Tokens per minute (prompt tokens plus the request's `max_tokens`). None: unlimited.
    pub tpm: Option<u64>,
    /// Requests served at once; more wait for a slot. None: unlimited.
    pub max_concurrency: Option<usize>,
    /// Seeds the fault draws: the same seed and requests give the same faults.
    pub seed: u64,
    /// Share of requests answered 500, 502 (an HTML proxy page) or 503.
    pub fail_rate: f64,
    /// Share of requests whose connection is closed without an answer.
    pub drop_rate: f64,
    /// Share of requests answered 200 with a body that is not JSON.
    pub garbage_rate: f64,
    /// Share of requests answered with half the content and `finish_reason: "length"`.
    pub truncate_rate: f64,
    /// Share of requests answered only after `hang`.
    pub hang_rate: f64,
    /// How long a hanging request waits: longer than the client's timeout by default.
    pub hang: Duration,
    /// Share of requests with Korean left in an English field.
    pub hangul_rate: f64,
    /// Accept only this bearer key; anything else gets 401 `invalid_api_key`.
    pub require_key: Option<String>,
    /// Answer every request 429 `insufficient_quota`, which a client must not retry.
    pub quota_exhausted: bool,
    /// Write one JSON line per request to this file.
    pub log: Option<PathBuf>,
    /// Answers of varied, seeded length around this percentage of the usual (summary fields;
    /// translations follow their passage). None: every answer the usual length.
    pub answer_scale: Option<u64>,
    /// The models served; any other gets 404 `model_not_found`. Empty: every name is served.
    pub models: Vec<String>,
    /// Refuse `response_format: json_schema` with a 400, as servers without structured
    /// outputs do (in Groq's words).
    pub no_json_schema: bool,
    /// Refuse `max_tokens` with a 400, as OpenAI's reasoning models do.
    pub no_max_tokens: bool,
    /// Refuse a temperature other than 1 with a 400, as OpenAI's reasoning models do.
    pub default_temperature_only: bool,
    /// A batch is answered at the first look this long after it was created.
    pub batch_delay_ms: u64,
    /// A batch answers this many requests, and the rest expire.
    pub batch_expire_after: Option<u64>,
    /// The dialect the rate-limit headers are sent in.
    pub headers: HeaderDialect,
    /// How the RPM and TPM budgets count: a bucket, a fixed window or a sliding window.
    pub limiter: LimiterKind,
    /// Play Azure OpenAI's classic API: `/openai/deployments/{deployment}/chat/completions`
    /// with an `api-version` query, the key in an `api-key` header.
    pub azure: bool,
}

/// Whose names and forms the mock's rate-limit headers take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderDialect {
    /// `x-ratelimit-{limit,remaining,reset}-{requests,tokens}`, resets as Go durations.
    #[default]
    OpenAi,
    /// LiteLLM's proxy per key: `x-ratelimit-api_key-{limit,remaining}-{requests,tokens}`, no reset.
    LiteLlm,
    /// `anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset}`, resets in RFC 3339.
    Anthropic,
    /// Azure OpenAI: the remaining figures only.
    Azure,
    /// No rate-limit headers at all.
    None,
}

/// How a server counts a per-minute budget.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimiterKind {
    /// A token bucket refilling continuously (OpenAI, Anthropic, Azure).
    #[default]
    Bucket,
    /// A window opened by the first request, forgetting everything 60 s later (LiteLLM's proxy).
    FixedWindow,
    /// Every request of the last 60 s counts.
    SlidingWindow,
}

impl LimiterKind {
    fn parse(name: &str) -> Option<LimiterKind> {
        Some(match name {
            "bucket" => LimiterKind::Bucket,
            "fixed-window" => LimiterKind::FixedWindow,
            "sliding-window" => LimiterKind::SlidingWindow,
            _ => return None,
        })
    }
}

impl HeaderDialect {
    fn parse(name: &str) -> Option<HeaderDialect> {
        Some(match name {
            "openai" => HeaderDialect::OpenAi,
            "litellm" => HeaderDialect::LiteLlm,
            "anthropic" => HeaderDialect::Anthropic,
            "azure" => HeaderDialect::Azure,
            "none" => HeaderDialect::None,
            _ => return None,
        })
    }
}

impl Default for MockOptions {
    fn default() -> Self {
        MockOptions {
            latency: Duration::ZERO,
            per_token: Duration::ZERO,
            rpm: None,
            tpm: None,
            max_concurrency: None,
            seed: 0,
            fail_rate: 0.0,
            drop_rate: 0.0,
            garbage_rate: 0.0,
            truncate_rate: 0.0,
            hang_rate: 0.0,
            hang: Duration::from_secs(600),
            hangul_rate: 0.0,
            require_key: None,
            quota_exhausted: false,
            log: None,
            answer_scale: None,
            models: Vec::new(),
            no_json_schema: false,
            no_max_tokens: false,
            default_temperature_only: false,
            batch_delay_ms: 0,
            batch_expire_after: None,
            headers: HeaderDialect::OpenAi,
            limiter: LimiterKind::Bucket,
            azure: false,
        }
    }
}

/// What one option takes, for its parser, its help and its error message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OptionKind {
    /// A whole number (milliseconds, seconds, a count or a limit).
    Number,
    /// A share of requests, 0 to 1.
    Rate,
    /// Any text.
    Text,
    /// A switch: a flag without a value, or `true`/`false` after `--mock-opt KEY=`.
    Switch,
}

impl OptionKind {
    /// What the option takes, as an error message says it.
    pub(crate) fn what(self) -> &'static str {
        match self {
            OptionKind::Number => "a whole number",
            OptionKind::Rate => "a rate between 0 and 1",
            OptionKind::Text => "a value",
            OptionKind::Switch => "true or false",
        }
    }
}

/// One option: its name (the flag without dashes, the `--mock-opt` key), what it takes, its
/// help, the default shown there, and how it sets [`MockOptions`].
pub(crate) struct OptionDef {
    pub(crate) key: &'static str,
    pub(crate) kind: OptionKind,
    pub(crate) value_name: &'static str,
    pub(crate) help: &'static str,
    /// As shown in `--help`; a test checks it is [`MockOptions::default`]'s value.
    pub(crate) default: Option<&'static str>,
    set: fn(&mut MockOptions, &str) -> Result<(), ()>,
}

fn number<T: std::str::FromStr>(value: &str) -> Result<T, ()> {
    value.parse().map_err(drop)
}

fn rate(value: &str) -> Result<f64, ()> {
    value.parse::<f64>().map_err(drop)
}

fn switch(value: &str) -> Result<bool, ()> {
    value.parse().map_err(drop)
}

/// Every option of the mock, in the order `--help` shows them.
pub(crate) const OPTIONS: &[OptionDef] = &[
    OptionDef {
        key: "latency-ms",
        kind: OptionKind::Number,
        value_name: "MS",
        help: "Milliseconds before the first byte of every answer",
        default: Some("0"),
        set: |o, v| {
            o.latency = Duration::from_millis(number(v)?);
            Ok(())
        },
    },
    OptionDef {
        key: "ms-per-token",
        kind: OptionKind::Number,
        value_name: "MS",
        help: "Milliseconds per completion token (streamed answers are paced the same way)",
        default: Some("0"),
        set: |o, v| {
            o.per_token = Duration::from_millis(number(v)?);
            Ok(())
        },
    },
    OptionDef {
        key: "rpm",
        kind: OptionKind::Number,
        value_name: "N",
        help: "Requests per minute; more get 429 rate_limit_exceeded",
        default: None,
        set: |o, v| {
            o.rpm = Some(number(v)?);
            Ok(())
        },
    },
    OptionDef {
        key: "tpm",
        kind: OptionKind::Number,
        value_name: "N",
        help: "Tokens per minute (prompt tokens plus max_tokens); more get 429 rate_limit_exceeded",
        default: None,
        set: |o, v| {
            o.tpm = Some(number(v)?);
            Ok(())
        },
    },
    OptionDef {
        key: "max-concurrency",
        kind: OptionKind::Number,
        value_name: "N",
        help: "Requests served at once; more wait",
        default: None,
        set: |o, v| {
            o.max_concurrency = Some(number(v)?);
            Ok(())
        },
    },
    OptionDef {
        key: "seed",
        kind: OptionKind::Number,
        value_name: "N",
        help: "Seed of the fault draws",
        default: Some("0"),
        set: |o, v| {
            o.seed = number(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "fail-rate",
        kind: OptionKind::Rate,
        value_name: "RATE",
        help: "Share of requests answered 500, 502 (HTML, like a proxy) or 503",
        default: Some("0"),
        set: |o, v| {
            o.fail_rate = rate(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "drop-rate",
        kind: OptionKind::Rate,
        value_name: "RATE",
        help: "Share of requests whose connection is closed without an answer",
        default: Some("0"),
        set: |o, v| {
            o.drop_rate = rate(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "garbage-rate",
        kind: OptionKind::Rate,
        value_name: "RATE",
        help: "Share of requests answered 200 with a body that is not JSON",
        default: Some("0"),
        set: |o, v| {
            o.garbage_rate = rate(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "truncate-rate",
        kind: OptionKind::Rate,
        value_name: "RATE",
        help: "Share of requests cut short (finish_reason \"length\")",
        default: Some("0"),
        set: |o, v| {
            o.truncate_rate = rate(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "hang-rate",
        kind: OptionKind::Rate,
        value_name: "RATE",
        help: "Share of requests answered only after --hang-s",
        default: Some("0"),
        set: |o, v| {
            o.hang_rate = rate(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "hang-s",
        kind: OptionKind::Number,
        value_name: "SECONDS",
        help: "Seconds a hanging request waits (longer than the client's timeout)",
        default: Some("600"),
        set: |o, v| {
            o.hang = Duration::from_secs(number(v)?);
            Ok(())
        },
    },
    OptionDef {
        key: "hangul-rate",
        kind: OptionKind::Rate,
        value_name: "RATE",
        help: "Share of requests with Korean left in an English field",
        default: Some("0"),
        set: |o, v| {
            o.hangul_rate = rate(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "require-key",
        kind: OptionKind::Text,
        value_name: "KEY",
        help: "Accept only this bearer key (401 invalid_api_key otherwise)",
        default: None,
        set: |o, v| {
            o.require_key = Some(v.to_string());
            Ok(())
        },
    },
    OptionDef {
        key: "quota-exhausted",
        kind: OptionKind::Switch,
        value_name: "BOOL",
        help: "Answer everything 429 insufficient_quota, which must not be retried",
        default: None,
        set: |o, v| {
            o.quota_exhausted = switch(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "answer-scale",
        kind: OptionKind::Number,
        value_name: "PERCENT",
        help: "Summaries of varied, seeded length (log-normal) around PERCENT of the usual length",
        default: None,
        set: |o, v| {
            o.answer_scale = Some(number(v)?);
            Ok(())
        },
    },
    OptionDef {
        key: "batch-delay-ms",
        kind: OptionKind::Number,
        value_name: "MS",
        help: "A batch (POST /v1/batches) is answered at the first look this long after its creation",
        default: Some("0"),
        set: |o, v| {
            o.batch_delay_ms = number(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "batch-expire-after",
        kind: OptionKind::Number,
        value_name: "N",
        help: "A batch answers its first N requests and the rest expire (batch_expired)",
        default: None,
        set: |o, v| {
            o.batch_expire_after = Some(number(v)?);
            Ok(())
        },
    },
    OptionDef {
        key: "models",
        kind: OptionKind::Text,
        value_name: "A,B",
        help: "Serve only these models; any other gets 404 model_not_found",
        default: None,
        set: |o, v| {
            o.models = v.split(',').map(str::trim).filter(|m| !m.is_empty()).map(String::from).collect();
            Ok(())
        },
    },
    OptionDef {
        key: "no-json-schema",
        kind: OptionKind::Switch,
        value_name: "",
        help: "Refuse response_format json_schema with a 400, like a server without structured outputs",
        default: None,
        set: |o, v| {
            o.no_json_schema = switch(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "no-max-tokens",
        kind: OptionKind::Switch,
        value_name: "",
        help: "Refuse max_tokens with a 400 (unsupported_parameter), like a reasoning model",
        default: None,
        set: |o, v| {
            o.no_max_tokens = switch(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "default-temperature-only",
        kind: OptionKind::Switch,
        value_name: "",
        help: "Refuse a temperature other than 1 with a 400 (unsupported_value), like a reasoning model",
        default: None,
        set: |o, v| {
            o.default_temperature_only = switch(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "headers",
        kind: OptionKind::Text,
        value_name: "DIALECT",
        help: "Rate-limit headers as openai, litellm, anthropic, azure or none send them",
        default: Some("openai"),
        set: |o, v| {
            o.headers = HeaderDialect::parse(v).ok_or(())?;
            Ok(())
        },
    },
    OptionDef {
        key: "limiter",
        kind: OptionKind::Text,
        value_name: "KIND",
        help: "How the RPM and TPM budgets count: bucket, fixed-window (LiteLLM's) or sliding-window",
        default: Some("bucket"),
        set: |o, v| {
            o.limiter = LimiterKind::parse(v).ok_or(())?;
            Ok(())
        },
    },
    OptionDef {
        key: "azure",
        kind: OptionKind::Switch,
        value_name: "",
        help: "Play Azure's classic API: /openai/deployments/NAME/chat/completions?api-version=…, key in api-key",
        default: None,
        set: |o, v| {
            o.azure = switch(v)?;
            Ok(())
        },
    },
    OptionDef {
        key: "log",
        kind: OptionKind::Text,
        value_name: "FILE",
        help: "Write one JSON line per request to FILE (replacing it)",
        default: None,
        set: |o, v| {
            o.log = Some(PathBuf::from(v));
            Ok(())
        },
    },
];

/// Why an option's value was refused; the caller says where it came from (a flag, or
/// `--mock-opt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum OptionError {
    UnknownKey,
    BadValue(&'static str),
}

/// Set the option named `key` from `value`, as `mock-server --KEY VALUE` or `--mock-opt
/// KEY=VALUE` does.
pub(crate) fn set_option(options: &mut MockOptions, key: &str, value: &str) -> Result<(), OptionError> {
    let def = OPTIONS.iter().find(|d| d.key == key).ok_or(OptionError::UnknownKey)?;
    (def.set)(options, value.trim()).map_err(|()| OptionError::BadValue(def.kind.what()))
}

/// The checks no single value can make: rates within 0 and 1, limits of at least 1.
pub(crate) fn validate(options: &MockOptions) -> Result<(), String> {
    let rates = [
        ("fail-rate", options.fail_rate),
        ("drop-rate", options.drop_rate),
        ("garbage-rate", options.garbage_rate),
        ("truncate-rate", options.truncate_rate),
        ("hang-rate", options.hang_rate),
        ("hangul-rate", options.hangul_rate),
    ];
    if let Some((name, rate)) = rates.iter().find(|(_, rate)| !(0.0..=1.0).contains(rate)) {
        return Err(format!("mock {name} must be between 0 and 1, got {rate}"));
    }
    for (name, limit) in [("rpm", options.rpm), ("tpm", options.tpm)] {
        if limit == Some(0) {
            return Err(format!("mock {name} must be at least 1 (leave it out for no limit)"));
        }
    }
    if options.max_concurrency == Some(0) {
        return Err("mock max-concurrency must be at least 1".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_shown_in_help_are_the_real_defaults() {
        for def in OPTIONS {
            if let Some(default) = def.default {
                let mut options = MockOptions::default();
                set_option(&mut options, def.key, default).unwrap();
                assert_eq!(options, MockOptions::default(), "{}", def.key);
            }
        }
    }

    #[test]
    fn every_option_sets_something_and_keys_are_unique() {
        for (i, def) in OPTIONS.iter().enumerate() {
            assert!(OPTIONS[..i].iter().all(|d| d.key != def.key), "{} twice", def.key);
            let value = match def.kind {
                OptionKind::Number => "7",
                OptionKind::Rate => "0.5",
                // The text options that take a name from a list.
                OptionKind::Text if def.key == "headers" => "litellm",
                OptionKind::Text if def.key == "limiter" => "fixed-window",
                OptionKind::Text => "x",
                OptionKind::Switch => "true",
            };
            let mut options = MockOptions::default();
            set_option(&mut options, def.key, value).unwrap();
            assert_ne!(options, MockOptions::default(), "{} changed nothing", def.key);
        }
    }

    #[test]
    fn bad_values_name_what_the_option_takes() {
        let mut options = MockOptions::default();
        assert_eq!(set_option(&mut options, "rpm", "lots"), Err(OptionError::BadValue("a whole number")));
        assert_eq!(set_option(&mut options, "rmp", "1"), Err(OptionError::UnknownKey));
        assert_eq!(
            set_option(&mut options, "quota-exhausted", "maybe"),
            Err(OptionError::BadValue("true or false"))
        );
    }

    #[test]
    fn the_docs_describe_every_option() {
        let docs = include_str!("../../docs/mock.md");
        for def in OPTIONS {
            let flag = format!("`--{}", def.key);
            assert!(docs.contains(&flag), "docs/mock.md does not document {flag}`");
        }
    }
}
