//! Plain settings, resolved once from the command line and the environment. Everything
//! downstream takes these structs; validation happens here so that the heavy things (HTTP
//! client, mock server) are only built from settings already known to be sound. The built-in
//! mock's options, from two sources, are resolved in `mock`.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use std::num::NonZeroU32;

use crate::chunk::Encoding;
use crate::cli::{self, Cli, Command};
use crate::glossary::Glossary;
use crate::limiter::Budget;
use crate::mock::MockOptions;
use crate::pipeline::ChunkLimits;

mod mock;

use mock::{resolve_mock_opts, resolve_mock_server};

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
    /// How that mock behaves (from `--mock-opt`); unused without `mock`.
    pub mock_options: MockOptions,
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
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Requests- and tokens-per-minute budgets.
    pub budget: Budget,
    /// How articles are cut into requests.
    pub chunk_limits: ChunkLimits,
    /// Tokenizer for counting; None picks one by model.
    pub encoding: Option<Encoding>,
    /// Attempts per request, the first included.
    pub max_attempts: u32,
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

/// How articles are prepared and their answers judged.
#[derive(Debug, Clone)]
pub struct ArticleSettings {
    /// Remove page furniture before sending (`--no-clean` turns it off).
    pub clean: bool,
    /// The user's Korean -> English terms (empty without `--glossary`), loaded and validated once.
    pub glossary: Arc<Glossary>,
    /// Warnings fail the article (`--strict`).
    pub strict: bool,
}

impl Default for ArticleSettings {
    fn default() -> Self {
        ArticleSettings { clean: true, glossary: Arc::new(Glossary::default()), strict: false }
    }
}

/// `ko2en summarize`.
#[derive(Debug, Clone)]
pub struct SummarizeSettings {
    pub inputs: Vec<PathBuf>,
    pub endpoint: EndpointSettings,
    pub run: RunSettings,
    /// Cleaning, glossary and strictness for every article.
    pub article: ArticleSettings,
}

/// `ko2en clean`.
#[derive(Debug, Clone)]
pub struct CleanSettings {
    /// Files, directories, JSONL batches or `-`, as for `summarize`.
    pub inputs: Vec<PathBuf>,
    /// Output file, or None for stdout.
    pub output: Option<PathBuf>,
}

/// `ko2en translate`.
#[derive(Debug, Clone)]
pub struct TranslateSettings {
    pub input: PathBuf,
    /// Print the record as JSON instead of Markdown.
    pub json: bool,
    pub endpoint: EndpointSettings,
    pub run: RunSettings,
    /// Cleaning, glossary and strictness for every article.
    pub article: ArticleSettings,
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
    /// Where to listen; port 0 picks a free one.
    pub addr: SocketAddr,
    /// What the mock does to its clients.
    pub options: MockOptions,
}

/// One resolved command.
#[derive(Debug, Clone)]
pub enum Settings {
    Summarize(SummarizeSettings),
    Translate(TranslateSettings),
    Clean(CleanSettings),
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
                article: resolve_article(args.article)?,
            }),
            Command::Translate(args) => Settings::Translate(TranslateSettings {
                input: args.file,
                json: args.json,
                endpoint: resolve_endpoint(args.endpoint, &env)?,
                run: resolve_run(args.run, &env)?,
                article: resolve_article(args.article)?,
            }),
            Command::Clean(args) => {
                Settings::Clean(CleanSettings { inputs: args.inputs, output: args.output })
            }
            Command::MockServer(args) => Settings::MockServer(resolve_mock_server(args)?),
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
    if !args.mock_opt.is_empty() && !args.mock {
        return Err(ConfigError::Invalid("--mock-opt only applies with --mock".into()));
    }
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
    let mock_options = resolve_mock_opts(&args.mock_opt)?;
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
        mock_options,
        response_format: match args.response_format {
            cli::ResponseFormatArg::JsonSchema => ResponseFormat::JsonSchema,
            cli::ResponseFormatArg::JsonObject => ResponseFormat::JsonObject,
            cli::ResponseFormatArg::Text => ResponseFormat::Text,
        },
        temperature: args.temperature,
        timeout: Duration::from_secs(args.timeout),
    })
}

fn resolve_article(args: cli::ArticleArgs) -> Result<ArticleSettings, ConfigError> {
    // A glossary error names file and line, so the user can fix it before anything is sent.
    let glossary = match &args.glossary {
        Some(path) => Glossary::load(path).map_err(|e| ConfigError::Invalid(format!("--glossary: {e}")))?,
        None => Glossary::default(),
    };
    Ok(ArticleSettings { clean: !args.no_clean, glossary: Arc::new(glossary), strict: args.strict })
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
    if args.concurrency == Some(0) {
        return Err(ConfigError::Invalid("--concurrency must be at least 1".into()));
    }
    if args.max_attempts == 0 {
        return Err(ConfigError::Invalid("--max-attempts must be at least 1".into()));
    }
    let positive = |flag: &str, value: Option<u32>| match value {
        None => Ok(None),
        Some(v) => NonZeroU32::new(v).map(Some).ok_or_else(|| {
            ConfigError::Invalid(format!("{flag} must be at least 1 (leave it out for no limit)"))
        }),
    };
    let budget = Budget { rpm: positive("--rpm", args.rpm)?, tpm: positive("--tpm", args.tpm)? };
    let encoding = match args.encoding.as_deref() {
        None => None,
        Some(name) => Some(Encoding::parse(name).ok_or_else(|| {
            ConfigError::Invalid(format!("--encoding {name:?} is not known; use o200k_base or cl100k_base"))
        })?),
    };
    let chunk_limits = chunk_limits(args.max_chunk_tokens, budget.tpm)?;
    if let Some(dir) = &args.prompts
        && !dir.is_dir()
    {
        return Err(ConfigError::Invalid(format!("--prompts {} is not a directory", dir.display())));
    }
    Ok(RunSettings {
        output: args.output,
        prompts_dir: args.prompts,
        concurrency: args.concurrency.unwrap_or_else(|| default_concurrency(budget)),
        budget,
        chunk_limits,
        encoding,
        max_attempts: args.max_attempts,
        quiet: args.quiet,
        cache: resolve_cache(args.cache, env)?,
    })
}

/// Requests in flight when `--concurrency` is not given.
///
/// The limiter paces sending, so concurrency only has to be high enough that slow answers do
/// not leave budget idle: by Little's law, requests per second times seconds per request. A
/// known budget is kept busy up to 20 s a request (a long summary on a loaded API); with no
/// budget (often a local server, which queues what it cannot run) 16 is enough. Counted
/// requests cost about 3,000 tokens (a 6,000-token chunk's summary is rarer than a short
/// article's), which turns a TPM budget into requests.
pub fn default_concurrency(budget: Budget) -> usize {
    const FLOOR: usize = 16;
    const CEILING: usize = 256;
    const SECONDS_PER_REQUEST: u64 = 20;
    const TOKENS_PER_REQUEST: u64 = 3_000;
    let by_rpm = budget.rpm.map(|rpm| u64::from(rpm.get()));
    let by_tpm = budget.tpm.map(|tpm| u64::from(tpm.get()) / TOKENS_PER_REQUEST);
    let per_minute = match (by_rpm, by_tpm) {
        (Some(r), Some(t)) => r.min(t),
        (Some(r), None) => r,
        (None, Some(t)) => t,
        (None, None) => return FLOOR,
    };
    let needed = (per_minute * SECONDS_PER_REQUEST).div_ceil(60);
    usize::try_from(needed).unwrap_or(CEILING).clamp(FLOOR, CEILING)
}

/// Chunk sizes: the flag for both kinds of request, else the defaults — shrunk when a small
/// tokens-per-minute budget could never hold a request of the default size.
fn chunk_limits(flag: Option<usize>, tpm: Option<NonZeroU32>) -> Result<ChunkLimits, ConfigError> {
    let defaults = ChunkLimits::default();
    let mut limits = match flag {
        Some(0) => return Err(ConfigError::Invalid("--max-chunk-tokens must be at least 1".into())),
        Some(n) => ChunkLimits { summary_tokens: n, translation_tokens: n },
        None => defaults,
    };
    if let Some(tpm) = tpm {
        // A request costs its chunk, the instructions (under 1,000 tokens) and its completion
        // budget: 1,500 for a summary, about twice the chunk for a translation.
        let tpm = tpm.get() as usize;
        let summary_fit = tpm.saturating_sub(2_500);
        let translation_fit = tpm.saturating_sub(1_300) / 3;
        if summary_fit < 100 || translation_fit < 100 {
            return Err(ConfigError::Invalid(format!(
                "--tpm {tpm} is too small to send one request; at least 3,000 tokens per minute are needed"
            )));
        }
        limits.summary_tokens = limits.summary_tokens.min(summary_fit);
        limits.translation_tokens = limits.translation_tokens.min(translation_fit);
    }
    Ok(limits)
}

#[cfg(test)]
mod tests;
