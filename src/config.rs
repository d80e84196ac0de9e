//! Plain settings, resolved once from the command line and the environment. Everything
//! downstream takes these structs; validation happens here so that the heavy things (HTTP
//! client, mock server) are only built from settings already known to be sound.

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

fn resolve_mock_server(args: cli::MockServerArgs) -> Result<MockServerSettings, ConfigError> {
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
fn resolve_mock_opts(pairs: &[String]) -> Result<MockOptions, ConfigError> {
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
    fn a_small_token_budget_shrinks_the_chunks_to_fit() {
        let limits = chunk_limits(None, NonZeroU32::new(4_000)).unwrap();
        assert_eq!(limits, ChunkLimits { summary_tokens: 1_500, translation_tokens: 900 });
        assert_eq!(chunk_limits(None, None).unwrap(), ChunkLimits::default());
        assert!(chunk_limits(None, NonZeroU32::new(1_000)).is_err());
    }

    #[test]
    fn mock_opts_become_the_same_options_as_mock_server_flags() {
        let Settings::Summarize(s) = resolve(
            &[
                "summarize",
                "x",
                "--mock",
                "--mock-opt",
                "rpm=60",
                "--mock-opt",
                "fail-rate=0.1",
                "--mock-opt",
                "hang-s=5",
            ],
            &[],
        )
        .unwrap() else {
            panic!("summarize expected")
        };
        let Settings::MockServer(server) =
            resolve(&["mock-server", "--rpm", "60", "--fail-rate", "0.1", "--hang-s", "5"], &[]).unwrap()
        else {
            panic!("mock-server expected")
        };
        assert_eq!(s.endpoint.mock_options, server.options);
        assert_eq!(server.options.rpm, Some(60));
        assert_eq!(server.options.hang, Duration::from_secs(5));
    }

    #[test]
    fn bad_mock_opts_say_what_is_wrong() {
        let message = |args: &[&str]| resolve(args, &[]).unwrap_err().to_string();
        assert!(
            message(&["summarize", "x", "--mock", "--mock-opt", "rmp=60"]).contains("unknown key \"rmp\"")
        );
        assert!(message(&["summarize", "x", "--mock", "--mock-opt", "rpm"]).contains("KEY=VALUE"));
        assert!(message(&["summarize", "x", "--mock", "--mock-opt", "rpm=lots"]).contains("whole number"));
        assert!(
            message(&["summarize", "x", "--mock", "--mock-opt", "drop-rate=2"]).contains("between 0 and 1")
        );
        assert!(message(&["summarize", "x", "--mock-opt", "rpm=1"]).contains("only applies with --mock"));
        assert!(message(&["mock-server", "--tpm", "0"]).contains("at least 1"));
    }

    #[test]
    fn a_broken_glossary_is_a_configuration_error_naming_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.tsv");
        std::fs::write(&path, "박정호\tPark Jung-ho\n삼성전자\n").unwrap();
        let err =
            resolve(&["summarize", "x", "--mock", "--glossary", path.to_str().unwrap()], &[]).unwrap_err();
        assert!(err.to_string().contains("g.tsv:2:"), "{err}");
        std::fs::write(&path, "박정호\tPark Jung-ho\n").unwrap();
        let Settings::Summarize(s) =
            resolve(&["summarize", "x", "--mock", "--glossary", path.to_str().unwrap(), "--no-clean"], &[])
                .unwrap()
        else {
            panic!("summarize expected")
        };
        assert_eq!((s.article.glossary.len(), s.article.clean, s.article.strict), (1, false, false));
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
    fn default_concurrency_keeps_a_known_budget_busy_within_bounds() {
        let budget = |rpm: Option<u32>, tpm: Option<u32>| Budget {
            rpm: rpm.and_then(NonZeroU32::new),
            tpm: tpm.and_then(NonZeroU32::new),
        };
        assert_eq!(default_concurrency(budget(None, None)), 16);
        assert_eq!(default_concurrency(budget(Some(30), None)), 16, "never below the floor");
        assert_eq!(default_concurrency(budget(Some(300), None)), 100, "300/min at 20 s each");
        assert_eq!(default_concurrency(budget(Some(5_000), None)), 256, "capped");
        assert_eq!(default_concurrency(budget(Some(5_000), Some(900_000))), 100, "TPM binds: 300/min");
        let run = |args: &[&str]| match resolve(args, &[]).unwrap() {
            Settings::Summarize(s) => s.run.concurrency,
            _ => unreachable!(),
        };
        assert_eq!(run(&["summarize", "x", "--mock", "--rpm", "600"]), 200);
        assert_eq!(
            run(&["summarize", "x", "--mock", "--rpm", "600", "--concurrency", "8"]),
            8,
            "the flag wins"
        );
    }

    #[test]
    fn zero_concurrency_is_a_configuration_error() {
        let err = resolve(&["summarize", "x", "--mock", "--concurrency", "0"], &[]).unwrap_err();
        assert!(err.to_string().contains("--concurrency"));
    }
}
