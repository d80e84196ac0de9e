//! Plain settings, resolved once from the command line and the environment. Everything
//! downstream takes these structs; validation happens here so that the heavy things (HTTP
//! client, mock server) are only built from settings already known to be sound.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{self, Cli, Command};

/// The model used when neither `--model` nor `KO2EN_MODEL` names one: cheap, fast, good at Korean.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// OpenAI's API, the default endpoint.
pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

/// A configuration problem: the run never starts, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no API key: set {var} (export {var}=sk-...), name another variable with --api-key-env, or use --mock to try ko2en without a key"
    )]
    MissingKey { var: String },
    #[error("{0}")]
    Invalid(String),
}

/// The API key. It has no `Serialize` and its `Debug` prints nothing of it, so it cannot leak
/// into logs, records or the cache by accident.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }
    /// The only way to read the key: for the Authorization header.
    pub fn expose(&self) -> &str {
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
pub enum ResponseFormat {
    /// `response_format: json_schema`, strict: the server guarantees the shape.
    JsonSchema,
    /// `response_format: json_object`: any JSON; the schema is given in the prompt.
    JsonObject,
    /// No `response_format`: for servers without structured outputs; JSON is asked in the prompt.
    Text,
}

/// Where requests go.
#[derive(Debug, Clone)]
pub struct EndpointSettings {
    /// Base URL, without a trailing slash (…/v1). Replaced by the mock's address with `mock`.
    pub base_url: String,
    /// None only with `mock`.
    pub api_key: Option<ApiKey>,
    /// Model name sent with every request, and part of every cache key.
    pub model: String,
    /// Start the built-in mock in-process and send everything there.
    pub mock: bool,
    /// How answers are constrained.
    pub response_format: ResponseFormat,
    /// Sampling temperature, sent only when set.
    pub temperature: Option<f32>,
    /// Per-request timeout.
    pub timeout: Duration,
}

/// How a batch runs and where its output goes.
#[derive(Debug, Clone)]
pub struct RunSettings {
    /// Output file (written via FILE.partial), or None for stdout.
    pub output: Option<PathBuf>,
    /// Directory of user prompt templates overriding the built-in ones.
    pub prompts_dir: Option<PathBuf>,
    /// Articles in flight at once.
    pub concurrency: usize,
    /// No progress on stderr.
    pub quiet: bool,
    /// The answer cache.
    pub cache: CacheSettings,
}

/// Where answers already paid for are kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheSettings {
    /// The SQLite file, or None for no cache (`--no-cache`).
    pub path: Option<PathBuf>,
    /// Look nothing up, but store every new answer (`--refresh`).
    pub refresh: bool,
}

/// `ko2en summarize`.
#[derive(Debug, Clone)]
pub struct SummarizeSettings {
    pub inputs: Vec<PathBuf>,
    pub endpoint: EndpointSettings,
    pub run: RunSettings,
}

/// `ko2en translate`.
#[derive(Debug, Clone)]
pub struct TranslateSettings {
    pub input: PathBuf,
    /// Print the record as JSON instead of Markdown.
    pub json: bool,
    pub endpoint: EndpointSettings,
    pub run: RunSettings,
}

/// `ko2en cache …`.
#[derive(Debug, Clone)]
pub struct CacheCommandSettings {
    /// What to do with the cache.
    pub action: cli::CacheAction,
    /// The cache file.
    pub path: PathBuf,
}

/// `ko2en mock-server`.
#[derive(Debug, Clone)]
pub struct MockServerSettings {
    pub addr: SocketAddr,
}

/// One resolved command.
#[derive(Debug, Clone)]
pub enum Settings {
    Summarize(SummarizeSettings),
    Translate(TranslateSettings),
    MockServer(MockServerSettings),
    Cache(CacheCommandSettings),
}

impl Settings {
    /// Resolve the parsed command line against the environment (`env` is injected so tests
    /// need not mutate the process environment).
    pub fn resolve(cli: Cli, env: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        Ok(match cli.command {
            Command::Summarize(args) => Settings::Summarize(SummarizeSettings {
                inputs: args.inputs,
                endpoint: resolve_endpoint(args.endpoint, &env)?,
                run: resolve_run(args.run, &env)?,
            }),
            Command::Translate(args) => Settings::Translate(TranslateSettings {
                input: args.file,
                json: args.json,
                endpoint: resolve_endpoint(args.endpoint, &env)?,
                run: resolve_run(args.run, &env)?,
            }),
            Command::MockServer(args) => Settings::MockServer(MockServerSettings { addr: args.addr }),
            Command::Cache(args) => Settings::Cache(CacheCommandSettings {
                action: args.action,
                path: match args.cache {
                    Some(path) => path,
                    None => default_cache_path(&env)?,
                },
            }),
        })
    }
}

fn resolve_endpoint(
    args: cli::EndpointArgs,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<EndpointSettings, ConfigError> {
    let api_key =
        env(&args.api_key_env).filter(|key| !key.trim().is_empty()).map(|key| ApiKey::new(key.trim()));
    if api_key.is_none() && !args.mock {
        return Err(ConfigError::MissingKey { var: args.api_key_env });
    }
    let base_url =
        args.base_url.filter(|url| !url.trim().is_empty()).unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
    if !(args.mock || base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(ConfigError::Invalid(format!(
            "--base-url must start with http:// or https://, got {base_url:?}"
        )));
    }
    if let Some(t) = args.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(ConfigError::Invalid(format!("--temperature must be between 0 and 2, got {t}")));
    }
    if args.timeout == 0 {
        return Err(ConfigError::Invalid("--timeout must be at least 1 second".into()));
    }
    Ok(EndpointSettings {
        base_url: base_url.trim_end_matches('/').to_string(),
        api_key,
        // Under --mock with no model named, records say plainly that the mock answered.
        model: args
            .model
            .filter(|m| !m.trim().is_empty())
            .unwrap_or_else(|| if args.mock { crate::mock::MOCK_MODEL } else { DEFAULT_MODEL }.to_string()),
        mock: args.mock,
        response_format: match args.response_format {
            cli::ResponseFormatArg::JsonSchema => ResponseFormat::JsonSchema,
            cli::ResponseFormatArg::JsonObject => ResponseFormat::JsonObject,
            cli::ResponseFormatArg::Text => ResponseFormat::Text,
        },
        temperature: args.temperature,
        timeout: Duration::from_secs(args.timeout),
    })
}

/// `$XDG_CACHE_HOME/ko2en/cache.sqlite` when that variable holds an absolute path, else the
/// platform's cache directory (`~/.cache` on Linux).
pub fn default_cache_path(env: &impl Fn(&str) -> Option<String>) -> Result<PathBuf, ConfigError> {
    let xdg = env("XDG_CACHE_HOME").map(PathBuf::from).filter(|p| p.is_absolute());
    let base = xdg
        .or_else(dirs::cache_dir)
        .or_else(|| dirs::home_dir().map(|home| home.join(".cache")))
        .ok_or_else(|| {
            ConfigError::Invalid(
                "cannot find a cache directory (no home directory): pass --cache PATH or --no-cache".into(),
            )
        })?;
    Ok(base.join("ko2en").join("cache.sqlite"))
}

fn resolve_cache(
    args: cli::CacheArgs,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<CacheSettings, ConfigError> {
    let path = match (args.no_cache, args.cache) {
        (true, _) => None,
        (false, Some(path)) => Some(path),
        (false, None) => Some(default_cache_path(env)?),
    };
    Ok(CacheSettings { path, refresh: args.refresh })
}

fn resolve_run(
    args: cli::RunArgs,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<RunSettings, ConfigError> {
    if args.concurrency == 0 {
        return Err(ConfigError::Invalid("--concurrency must be at least 1".into()));
    }
    if let Some(dir) = &args.prompts
        && !dir.is_dir()
    {
        return Err(ConfigError::Invalid(format!("--prompts {} is not a directory", dir.display())));
    }
    Ok(RunSettings {
        output: args.output,
        prompts_dir: args.prompts,
        concurrency: args.concurrency,
        quiet: args.quiet,
        cache: resolve_cache(args.cache, env)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn resolve(args: &[&str], vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let cli = Cli::try_parse_from(std::iter::once("ko2en").chain(args.iter().copied())).unwrap();
        let vars: Vec<(String, String)> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::resolve(cli, |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    #[test]
    fn a_missing_key_says_which_variable_to_set() {
        let err = resolve(&["summarize", "x.txt"], &[]).unwrap_err();
        assert!(matches!(err, ConfigError::MissingKey { .. }));
        assert!(err.to_string().contains("OPENAI_API_KEY"));
    }

    #[test]
    fn the_key_comes_from_the_named_variable_and_never_prints() {
        let settings =
            resolve(&["summarize", "x.txt", "--api-key-env", "MY_KEY"], &[("MY_KEY", "sk-secret")]).unwrap();
        let Settings::Summarize(s) = settings else { panic!("summarize expected") };
        assert_eq!(s.endpoint.api_key.as_ref().unwrap().expose(), "sk-secret");
        assert!(!format!("{s:?}").contains("sk-secret"));
    }

    #[test]
    fn mock_needs_no_key_and_the_model_has_a_default() {
        let Settings::Summarize(s) = resolve(&["summarize", "x.txt", "--mock"], &[]).unwrap() else {
            panic!("summarize expected")
        };
        assert!(s.endpoint.api_key.is_none());
        assert_eq!(s.endpoint.model, crate::mock::MOCK_MODEL);
        let Settings::Summarize(s) = resolve(&["summarize", "x.txt"], &[("OPENAI_API_KEY", "k")]).unwrap()
        else {
            panic!("summarize expected")
        };
        assert_eq!(s.endpoint.model, DEFAULT_MODEL);
    }

    #[test]
    fn the_cache_lives_in_xdg_cache_home_unless_named_or_refused() {
        let run = |args: &[&str], vars: &[(&str, &str)]| match resolve(args, vars).unwrap() {
            Settings::Summarize(s) => s.run.cache,
            _ => panic!("summarize expected"),
        };
        let default = run(&["summarize", "x", "--mock"], &[("XDG_CACHE_HOME", "/tmp/xdg")]);
        assert_eq!(default.path, Some(PathBuf::from("/tmp/xdg/ko2en/cache.sqlite")));
        let named = run(&["summarize", "x", "--mock", "--cache", "c.sqlite", "--refresh"], &[]);
        assert_eq!(named, CacheSettings { path: Some("c.sqlite".into()), refresh: true });
        assert_eq!(run(&["summarize", "x", "--mock", "--no-cache"], &[]).path, None);
    }

    #[test]
    fn zero_concurrency_is_a_configuration_error() {
        let err = resolve(&["summarize", "x", "--mock", "--concurrency", "0"], &[]).unwrap_err();
        assert!(err.to_string().contains("--concurrency"));
    }
}
