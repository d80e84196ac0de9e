//! Resolving the command line and the environment, once, into each part's own settings:
//! `EndpointSettings` for the client, `PoolSettings` for the scheduler, `ChunkLimits`,
//! `CacheSettings`, `ArticleSettings`, `OutputSettings`, `MockOptions`. This is the one
//! module that knows them all; the parts never import it. Validation happens here, so that the
//! heavy things (HTTP client, mock server) are only built from settings known to be sound.
//!
//! Precedence, for every setting that has several sources: flag > environment variable >
//! default. The environment comes in through one door, the lookup given to
//! `Settings::resolve`, so tests are hermetic. The built-in mock's options, from two sources
//! (`mock-server`'s flags, `--mock-opt`), are resolved in `mock`.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::cache::CacheSettings;
use crate::chunk::{ChunkLimits, Encoding};
use crate::cli::{self, Cli, Command};
use crate::client::{ApiKey, EndpointSettings, ResponseFormat, RetryPolicy};
use crate::glossary::Glossary;
use crate::input::ReadSettings;
use crate::limiter::Budget;
use crate::mock::MockOptions;
use crate::output::{Destination, Format, OutputSettings};
use crate::pipeline::ArticleSettings;
use crate::pool::PoolSettings;

mod mock;

use mock::{resolve_mock_opts, resolve_mock_server};

/// The model used when neither `--model` nor `KO2EN_MODEL` names one: cheap, fast, good at Korean.
pub(crate) const DEFAULT_MODEL: &str = "gpt-4o-mini";
/// OpenAI's API, the default endpoint.
pub(crate) const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";

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

/// Where a run's requests go: a URL, or the built-in mock, started for the run (a run mode,
/// not a property of an endpoint).
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// An OpenAI-compatible API at this base URL (…/v1, without a trailing slash).
    Url(String),
    /// The built-in mock, in-process on 127.0.0.1, behaving as these options say.
    Mock(MockOptions),
}

impl Target {
    /// The endpoint as the cache knows it: the mock's port changes every run while its
    /// answers do not, so it is one endpoint to the cache.
    pub(crate) fn cache_id(&self) -> String {
        match self {
            Target::Url(url) => url.clone(),
            Target::Mock(_) => "mock".to_string(),
        }
    }
}

/// How a batch runs and where its output goes.
#[derive(Debug, Clone)]
pub(crate) struct RunSettings {
    /// Where records go, and in what format.
    pub(crate) output: OutputSettings,
    /// Directory of user prompt templates overriding the built-in ones.
    pub(crate) prompts_dir: Option<PathBuf>,
    /// Concurrency, budgets and retries.
    pub(crate) pool: PoolSettings,
    /// How articles are cut into requests.
    pub(crate) chunk_limits: ChunkLimits,
    /// Tokenizer for counting; None picks one by model.
    pub(crate) encoding: Option<Encoding>,
    /// No progress on stderr.
    pub(crate) quiet: bool,
    /// The answer cache.
    pub(crate) cache: CacheSettings,
}

/// `ko2en summarize`.
#[derive(Debug, Clone)]
pub struct SummarizeSettings {
    pub(crate) inputs: Vec<PathBuf>,
    pub(crate) target: Target,
    pub(crate) endpoint: EndpointSettings,
    pub(crate) run: RunSettings,
    /// Cleaning, glossary and strictness for every article.
    pub(crate) article: ArticleSettings,
    /// How inputs are decoded.
    pub(crate) read: ReadSettings,
}

/// `ko2en clean`.
#[derive(Debug, Clone)]
pub struct CleanSettings {
    /// Files, directories, JSONL batches or `-`, as for `summarize`.
    pub(crate) inputs: Vec<PathBuf>,
    /// Where the cleaned articles go.
    pub(crate) output: Destination,
    /// How inputs are decoded.
    pub(crate) read: ReadSettings,
}

/// `ko2en translate`.
#[derive(Debug, Clone)]
pub struct TranslateSettings {
    pub(crate) input: PathBuf,
    pub(crate) target: Target,
    pub(crate) endpoint: EndpointSettings,
    pub(crate) run: RunSettings,
    /// Cleaning, glossary and strictness for every article.
    pub(crate) article: ArticleSettings,
    /// How inputs are decoded.
    pub(crate) read: ReadSettings,
}

/// What `ko2en cache` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CacheAction {
    Stats,
    Clear,
    Path,
}

/// `ko2en cache …`.
#[derive(Debug, Clone)]
pub struct CacheCommandSettings {
    pub(crate) action: CacheAction,
    /// The cache file.
    pub(crate) path: PathBuf,
}

/// `ko2en mock-server`.
#[derive(Debug, Clone)]
pub struct MockServerSettings {
    /// Where to listen; port 0 picks a free one.
    pub(crate) addr: SocketAddr,
    /// What the mock does to its clients.
    pub(crate) options: MockOptions,
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
    /// Resolve the parsed command line against the environment: `env` looks a variable up
    /// (injected, so that tests need not touch the process environment). This is the only
    /// place ko2en reads its environment.
    pub fn resolve(cli: Cli, env: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        Ok(match cli.command {
            Command::Summarize(args) => {
                let read = resolve_read(args.article.input_encoding.as_deref())?;
                let job =
                    resolve_job(args.endpoint, args.run, args.article, Format::Jsonl, &args.inputs, &env)?;
                let (target, endpoint, run, article) = job;
                Settings::Summarize(SummarizeSettings {
                    inputs: args.inputs,
                    target,
                    endpoint,
                    run,
                    article,
                    read,
                })
            }
            Command::Translate(args) => {
                let format = if args.json { Format::Jsonl } else { Format::Markdown };
                let inputs = std::slice::from_ref(&args.file);
                let read = resolve_read(args.article.input_encoding.as_deref())?;
                let (target, endpoint, run, article) =
                    resolve_job(args.endpoint, args.run, args.article, format, inputs, &env)?;
                Settings::Translate(TranslateSettings {
                    input: args.file,
                    target,
                    endpoint,
                    run,
                    article,
                    read,
                })
            }
            Command::Clean(args) => {
                let output = destination(args.output);
                check_output(&output, &args.inputs, None)?;
                let read = resolve_read(args.input_encoding.as_deref())?;
                Settings::Clean(CleanSettings { inputs: args.inputs, output, read })
            }
            Command::MockServer(args) => Settings::MockServer(resolve_mock_server(args)?),
            Command::Cache(args) => Settings::Cache(CacheCommandSettings {
                action: match args.action {
                    cli::CacheActionArg::Stats => CacheAction::Stats,
                    cli::CacheActionArg::Clear => CacheAction::Clear,
                    cli::CacheActionArg::Path => CacheAction::Path,
                },
                path: match args.cache {
                    Some(path) => path,
                    None => default_cache_path(&env)?,
                },
            }),
        })
    }
}

impl Settings {
    /// No progress or warnings on stderr, only errors (`-q`).
    pub(crate) fn quiet(&self) -> bool {
        match self {
            Settings::Summarize(s) => s.run.quiet,
            Settings::Translate(s) => s.run.quiet,
            _ => false,
        }
    }

    /// The key the run sends, to be kept out of everything it prints.
    pub(crate) fn api_key(&self) -> Option<&str> {
        let endpoint = match self {
            Settings::Summarize(s) => &s.endpoint,
            Settings::Translate(s) => &s.endpoint,
            _ => return None,
        };
        endpoint.api_key.as_ref().map(ApiKey::expose)
    }
}

/// `--input-encoding`, by any label a browser knows.
fn resolve_read(label: Option<&str>) -> Result<ReadSettings, ConfigError> {
    let encoding = match label {
        None => None,
        Some(label) => Some(crate::input::encoding_for_label(label).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "--input-encoding {label:?} is not an encoding ko2en knows; try euc-kr, cp949, utf-8 or utf-16le"
            ))
        })?),
    };
    Ok(ReadSettings { encoding })
}

/// The settings every command that sends requests shares, checked against its `inputs`.
fn resolve_job(
    endpoint: cli::EndpointArgs,
    run: cli::RunArgs,
    article: cli::ArticleArgs,
    format: Format,
    inputs: &[PathBuf],
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(Target, EndpointSettings, RunSettings, ArticleSettings), ConfigError> {
    let (target, endpoint) = resolve_endpoint(endpoint, env)?;
    let run = resolve_run(run, format, env)?;
    check_output(&run.output.destination, inputs, run.cache.path.as_deref())?;
    Ok((target, endpoint, run, resolve_article(article)?))
}

/// A flag's value, else the environment variable's; blank counts as absent.
fn flag_or_env(flag: Option<String>, var: &str, env: &impl Fn(&str) -> Option<String>) -> Option<String> {
    flag.or_else(|| env(var)).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

fn resolve_endpoint(
    args: cli::EndpointArgs,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<(Target, EndpointSettings), ConfigError> {
    if !args.mock_opt.is_empty() && !args.mock {
        return Err(ConfigError::Invalid("--mock-opt only applies with --mock".into()));
    }
    if !is_variable_name(&args.api_key_env) {
        // Most likely the key itself, pasted where its variable's name belongs: never echoed.
        return Err(ConfigError::Invalid(
            "--api-key-env takes the name of the environment variable that holds the key (like \
             OPENAI_API_KEY), not the key itself; the value given is not shown. Put the key in a \
             variable and name that variable"
                .into(),
        ));
    }
    let api_key =
        env(&args.api_key_env).filter(|key| !key.trim().is_empty()).map(|key| ApiKey::new(key.trim()));
    if api_key.is_none() && !args.mock {
        return Err(ConfigError::MissingKey { var: args.api_key_env });
    }
    let target = if args.mock {
        Target::Mock(resolve_mock_opts(&args.mock_opt)?)
    } else {
        let base_url = flag_or_env(args.base_url, "OPENAI_BASE_URL", env)
            .unwrap_or_else(|| DEFAULT_BASE_URL.to_string());
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "--base-url must start with http:// or https://, got {base_url:?}"
            )));
        }
        Target::Url(base_url.trim_end_matches('/').to_string())
    };
    if let Some(t) = args.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(ConfigError::Invalid(format!("--temperature must be between 0 and 2, got {t}")));
    }
    if args.timeout == 0 {
        return Err(ConfigError::Invalid("--timeout must be at least 1 second".into()));
    }
    // Under --mock with no model named, records say plainly that the mock answered.
    let default_model = if args.mock { crate::mock::MOCK_MODEL } else { DEFAULT_MODEL };
    let endpoint = EndpointSettings {
        api_key,
        model: flag_or_env(args.model, "KO2EN_MODEL", env).unwrap_or_else(|| default_model.to_string()),
        response_format: match args.response_format {
            cli::ResponseFormatArg::JsonSchema => ResponseFormat::JsonSchema,
            cli::ResponseFormatArg::JsonObject => ResponseFormat::JsonObject,
            cli::ResponseFormatArg::Text => ResponseFormat::Text,
        },
        temperature: args.temperature,
        timeout: Duration::from_secs(args.timeout),
    };
    Ok((target, endpoint))
}

/// `-o FILE`, or stdout without it or with `-o -`.
/// An environment variable's name as shells write one (letters, digits, `_`; not a digit
/// first), and not shaped like a key (`sk-…` is not a name anyway).
fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 64
}

/// `-o FILE`, or stdout without it or with `-o -`.
fn destination(path: Option<PathBuf>) -> Destination {
    match path {
        Some(path) if path != Path::new("-") => Destination::File(path),
        _ => Destination::Stdout,
    }
}

/// The path a file would have once symlinks and `..` are resolved, whether or not it exists
/// yet (then its directory is resolved). None when not even the directory exists.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(path) = path.canonicalize() {
        return Some(path);
    }
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?,
    };
    Some(dir.join(name))
}

/// `-o` must not name what the run reads: an input, an article file inside an input
/// directory, or the cache. The run would destroy it, so it is refused before anything starts.
fn check_output(output: &Destination, inputs: &[PathBuf], cache: Option<&Path>) -> Result<(), ConfigError> {
    let Destination::File(path) = output else { return Ok(()) };
    let Some(out) = resolved(path) else { return Ok(()) }; // the writer reports a missing directory
    let refuse = |what: String| {
        Err(ConfigError::Invalid(format!(
            "-o {} is {what}: the run would overwrite what it reads; write the output to another file",
            path.display()
        )))
    };
    for input in inputs.iter().filter(|i| *i != Path::new("-")) {
        let Some(read) = resolved(input) else { continue };
        if read == out {
            return refuse(format!("the input {}", input.display()));
        }
        if read.is_dir() && out.starts_with(&read) && crate::input::is_article_file(&out) {
            return refuse(format!("an article file inside the input directory {}", input.display()));
        }
    }
    if let Some(cache) = cache.and_then(resolved) {
        let names = ["", "-wal", "-shm", "-journal"].map(|suffix| {
            let mut name = cache.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        });
        if names.contains(&out) {
            return refuse(format!("the cache {}", cache.display()));
        }
    }
    Ok(())
}

fn resolve_article(args: cli::ArticleArgs) -> Result<ArticleSettings, ConfigError> {
    // A glossary error names file and line, so the user can fix it before anything is sent.
    let glossary = match &args.glossary {
        Some(path) => Glossary::load(path).map_err(|e| ConfigError::Invalid(format!("--glossary: {e}")))?,
        None => Glossary::default(),
    };
    if args.max_article_tokens == 0 {
        return Err(ConfigError::Invalid("--max-article-tokens must be at least 1".into()));
    }
    Ok(ArticleSettings {
        clean: !args.no_clean,
        glossary: Arc::new(glossary),
        strict: args.strict,
        allow_non_korean: args.allow_non_korean,
        max_article_tokens: args.max_article_tokens,
    })
}

/// `$XDG_CACHE_HOME/ko2en/cache.sqlite` when that variable holds an absolute path, else the
/// platform's cache directory (`~/.cache` on Linux).
pub(crate) fn default_cache_path(env: &impl Fn(&str) -> Option<String>) -> Result<PathBuf, ConfigError> {
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
    format: Format,
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
        output: OutputSettings { destination: destination(args.output), format },
        prompts_dir: args.prompts,
        pool: PoolSettings {
            concurrency: args.concurrency.unwrap_or_else(|| PoolSettings::default_concurrency(budget)),
            budget,
            retry: RetryPolicy { max_attempts: args.max_attempts, ..RetryPolicy::default() },
        },
        chunk_limits,
        encoding,
        quiet: args.quiet,
        cache: resolve_cache(args.cache, env)?,
    })
}

/// The smallest `--max-chunk-tokens`: each request also carries several hundred tokens of
/// instructions.
const MIN_CHUNK_TOKENS: usize = 200;

/// Chunk sizes: the flag for both kinds of request, else the defaults — shrunk when a small
/// tokens-per-minute budget could never hold a request of the default size.
fn chunk_limits(flag: Option<usize>, tpm: Option<NonZeroU32>) -> Result<ChunkLimits, ConfigError> {
    let defaults = ChunkLimits::default();
    let mut limits = match flag {
        Some(n) if n < MIN_CHUNK_TOKENS => {
            return Err(ConfigError::Invalid(format!(
                "--max-chunk-tokens must be at least {MIN_CHUNK_TOKENS}: smaller pieces spend more on \
                 instructions than on the article, and multiply the requests"
            )));
        }
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
