//! The built-in mock's options, from `mock-server`'s flags or from `--mock-opt KEY=VALUE`
//! pairs: the same keys (the mock's one list, `mock::OPTIONS`), parsed and checked the same way.

use super::{ConfigError, MockServerSettings};
use crate::cli;
use crate::mock::{self, MockOptions, OPTIONS, OptionError};

pub(super) fn resolve_mock_server(args: cli::MockServerArgs) -> Result<MockServerSettings, ConfigError> {
    let mut options = MockOptions::default();
    for (key, value) in &args.options.0 {
        set(&mut options, key, value, |what| format!("--{key} takes {what}, got {value:?}"))?;
    }
    mock::validate(&options).map_err(ConfigError::Invalid)?;
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
        let (key, value) = (key.trim(), value.trim());
        set(&mut options, key, value, |what| format!("--mock-opt {key} takes {what}, got {value:?}"))?;
    }
    mock::validate(&options).map_err(ConfigError::Invalid)?;
    Ok(options)
}

fn set(
    options: &mut MockOptions,
    key: &str,
    value: &str,
    bad_value: impl Fn(&str) -> String,
) -> Result<(), ConfigError> {
    mock::set_option(options, key, value).map_err(|e| match e {
        OptionError::BadValue(what) => ConfigError::Invalid(bad_value(what)),
        OptionError::UnknownKey => {
            let keys: Vec<&str> = OPTIONS.iter().map(|d| d.key).collect();
            ConfigError::Invalid(format!("--mock-opt: unknown key {key:?}; the keys are {}", keys.join(", ")))
        }
    })
}
