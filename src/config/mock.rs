//! The built-in mock's options: from `mock-server`'s flags or from `--mock-opt KEY=VALUE`
//! pairs, which name the same options, checked the same way.

use std::path::PathBuf;
use std::time::Duration;

use super::{ConfigError, MockServerSettings};
use crate::cli;
use crate::mock::MockOptions;

pub(super) fn resolve_mock_server(args: cli::MockServerArgs) -> Result<MockServerSettings, ConfigError> {
    let options = MockOptions {
        latency: Duration::from_millis(args.latency_ms),
        per_token: Duration::from_millis(args.ms_per_token),
        rpm: args.rpm,
        tpm: args.tpm,
        max_concurrency: args.max_concurrency,
        seed: args.seed,
        fail_rate: args.fail_rate,
        drop_rate: args.drop_rate,
        garbage_rate: args.garbage_rate,
        truncate_rate: args.truncate_rate,
        hang_rate: args.hang_rate,
        hang: Duration::from_secs(args.hang_s),
        hangul_rate: args.hangul_rate,
        require_key: args.require_key,
        quota_exhausted: args.quota_exhausted,
        log: args.log,
    };
    validate_mock(&options)?;
    Ok(MockServerSettings { addr: args.addr, options })
}

/// `--mock-opt KEY=VALUE` pairs: the keys are the `mock-server` flags without their dashes.
pub(super) fn resolve_mock_opts(pairs: &[String]) -> Result<MockOptions, ConfigError> {
    let mut options = MockOptions::default();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(ConfigError::Invalid(format!(
                "--mock-opt takes KEY=VALUE (e.g. --mock-opt rpm=60), got {pair:?}"
            )));
        };
        set_mock_option(&mut options, key.trim(), value.trim())?;
    }
    validate_mock(&options)?;
    Ok(options)
}

/// The keys `--mock-opt` accepts, for its error message.
const MOCK_KEYS: &str = "latency-ms, ms-per-token, rpm, tpm, max-concurrency, seed, fail-rate, drop-rate, \
garbage-rate, truncate-rate, hang-rate, hang-s, hangul-rate, require-key, quota-exhausted, log";

fn set_mock_option(options: &mut MockOptions, key: &str, value: &str) -> Result<(), ConfigError> {
    fn parse<T: std::str::FromStr>(key: &str, value: &str, what: &str) -> Result<T, ConfigError> {
        value
            .parse()
            .map_err(|_| ConfigError::Invalid(format!("--mock-opt {key} takes {what}, got {value:?}")))
    }
    let number = "a whole number";
    let rate = "a rate between 0 and 1";
    match key {
        "latency-ms" => options.latency = Duration::from_millis(parse(key, value, number)?),
        "ms-per-token" => options.per_token = Duration::from_millis(parse(key, value, number)?),
        "rpm" => options.rpm = Some(parse(key, value, number)?),
        "tpm" => options.tpm = Some(parse(key, value, number)?),
        "max-concurrency" => options.max_concurrency = Some(parse(key, value, number)?),
        "seed" => options.seed = parse(key, value, number)?,
        "fail-rate" => options.fail_rate = parse(key, value, rate)?,
        "drop-rate" => options.drop_rate = parse(key, value, rate)?,
        "garbage-rate" => options.garbage_rate = parse(key, value, rate)?,
        "truncate-rate" => options.truncate_rate = parse(key, value, rate)?,
        "hang-rate" => options.hang_rate = parse(key, value, rate)?,
        "hang-s" => options.hang = Duration::from_secs(parse(key, value, number)?),
        "hangul-rate" => options.hangul_rate = parse(key, value, rate)?,
        "require-key" => options.require_key = Some(value.to_string()),
        "quota-exhausted" => options.quota_exhausted = parse(key, value, "true or false")?,
        "log" => options.log = Some(PathBuf::from(value)),
        _ => {
            return Err(ConfigError::Invalid(format!(
                "--mock-opt: unknown key {key:?}; the keys are {MOCK_KEYS}"
            )));
        }
    }
    Ok(())
}

fn validate_mock(options: &MockOptions) -> Result<(), ConfigError> {
    let rates = [
        ("fail-rate", options.fail_rate),
        ("drop-rate", options.drop_rate),
        ("garbage-rate", options.garbage_rate),
        ("truncate-rate", options.truncate_rate),
        ("hang-rate", options.hang_rate),
        ("hangul-rate", options.hangul_rate),
    ];
    if let Some((name, rate)) = rates.iter().find(|(_, rate)| !(0.0..=1.0).contains(rate)) {
        return Err(ConfigError::Invalid(format!("mock {name} must be between 0 and 1, got {rate}")));
    }
    for (name, limit) in [("rpm", options.rpm), ("tpm", options.tpm)] {
        if limit == Some(0) {
            return Err(ConfigError::Invalid(format!(
                "mock {name} must be at least 1 (leave it out for no limit)"
            )));
        }
    }
    if options.max_concurrency == Some(0) {
        return Err(ConfigError::Invalid("mock max-concurrency must be at least 1".into()));
    }
    Ok(())
}
