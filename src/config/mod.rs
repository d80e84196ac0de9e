//! Resolving the command line and the environment, once, into each part's own settings:
//! `EndpointSettings` for the client, `PoolSettings` for the scheduler, `ChunkLimits`,
//! `CacheSettings`, `ArticleSettings`, `OutputSettings`, `MockOptions`. This is the one
//! module that knows them all; the parts never import it. Validation happens here, so that the
//! heavy things (HTTP client, mock server) are only built from settings known to be sound.
//!
//! Precedence, for every setting that has several sources, is written once in `layers`: flag >
//! environment variable > profile > the config file's top level (`file`) > provider preset >
//! default. The environment comes in through one door, the lookup given to
//! `Settings::resolve`, so tests are hermetic. The endpoint (provider, URL, key, model) is
//! resolved in `endpoint`; the built-in mock's options, from two sources (`mock-server`'s
//! flags, `--mock-opt`), in `mock`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cache::CacheSettings;
use crate::chunk::{ChunkLimits, Encoding};
use crate::cli::{self, Cli, Command};

use crate::client::{ApiKey, EndpointSettings, Route};
use crate::glossary::Glossary;
use crate::input::ReadSettings;
use crate::mock::MockOptions;
use crate::output::{Destination, Format, OutputSettings};
use crate::pipeline::ArticleSettings;
use crate::pool::PoolSettings;

mod batch;
mod endpoint;
mod eval;
mod file;
mod layers;
mod mock;
mod output;
mod run;

pub use batch::{ExportSettings, IngestSettings, JobSettings, JobsSettings};
#[cfg(test)]
use endpoint::DEFAULT_MODEL;
use endpoint::{is_local, resolve_endpoint};
pub use eval::EvalSettings;
pub(crate) use eval::Scored;
pub(crate) use file::EXAMPLE as EXAMPLE_CONFIG;
use layers::Layers;
pub(crate) use layers::{Origin, Shown};
use mock::{resolve_mock_opts, resolve_mock_server};
use output::{check_output, destination, is_one_article, resolve_format, source_date_epoch};
#[cfg(test)]
use run::chunk_limits;
pub(crate) use run::default_cache_path;
use run::{price_of, resolve_cache, resolve_run};

/// A configuration problem: the run never starts, exit code 2.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "no API key: set {var} (export {var}=...), name another variable with --api-key-env (or api_key_env in a profile), or use --mock to try ko2en without a key"
    )]
    MissingKey { var: String },
    #[error("{0}")]
    Invalid(String),
}

/// Where a run's requests go: routes to an API, or the built-in mock, started for the run (a
/// run mode, not a property of an endpoint).
#[derive(Debug, Clone)]
pub(crate) enum Target {
    /// One or more routes (base URL and key) to an OpenAI-compatible API serving one model.
    /// Never empty.
    Routes(Vec<Route>),
    /// The built-in mock, in-process on 127.0.0.1, behaving as these options say.
    Mock(Box<MockOptions>),
}

impl Target {
    /// The endpoint as the cache knows it: the mock's port changes every run while its
    /// answers do not, so it is one endpoint to the cache; several routes serve one model, so
    /// their answers are the first's, whichever route brought them.
    pub(crate) fn cache_id(&self) -> String {
        match self {
            Target::Routes(routes) => routes[0].base_url.clone(),
            Target::Mock(_) => "mock".to_string(),
        }
    }
}

/// How a batch runs and where its output goes.
#[derive(Debug, Clone)]
pub(crate) struct RunSettings {
    /// `--dry-run`: count what the run would send, send nothing, write nothing.
    pub(crate) dry_run: bool,
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
    /// What the user should hear before the run starts (printed unless -q).
    pub(crate) notices: Vec<String>,
}

/// `ko2en summarize` and `ko2en translate`: a batch of articles through the endpoint.
#[derive(Debug, Clone)]
pub struct BatchSettings {
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

/// `ko2en config show`: what a run would use, and where each value came from.
#[derive(Debug, Clone)]
pub struct ConfigShowSettings {
    pub(crate) file: Option<PathBuf>,
    pub(crate) profile: Option<String>,
    pub(crate) shown: Vec<Shown>,
    pub(crate) notices: Vec<String>,
    /// List the presets instead.
    pub(crate) providers: bool,
}

/// `ko2en check`: one tiny request to the endpoint a run would use.
#[derive(Debug, Clone)]
pub struct CheckSettings {
    pub(crate) target: Target,
    pub(crate) endpoint: EndpointSettings,
    pub(crate) notices: Vec<String>,
}

/// `ko2en report`: a results file rendered again.
#[derive(Debug, Clone)]
pub struct ReportSettings {
    pub(crate) input: PathBuf,
    pub(crate) output: OutputSettings,
}

/// One resolved command.
#[derive(Debug, Clone)]
pub enum Settings {
    Check(CheckSettings),
    Report(ReportSettings),
    Eval(EvalSettings),
    BatchExport(ExportSettings),
    BatchIngest(IngestSettings),
    BatchSubmit(JobSettings),
    BatchCollect(JobSettings),
    BatchStatus(JobsSettings),
    BatchCancel(JobsSettings),
    Summarize(BatchSettings),
    Translate(BatchSettings),
    Clean(CleanSettings),
    MockServer(MockServerSettings),
    Cache(CacheCommandSettings),
    ConfigShow(ConfigShowSettings),
    /// `ko2en config init`: write the example here.
    ConfigInit(PathBuf),
}

impl Settings {
    /// Resolve the parsed command line against the environment: `env` looks a variable up
    /// (injected, so that tests need not touch the process environment). This is the only
    /// place ko2en reads its environment.
    pub fn resolve(cli: Cli, env: impl Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
        let env: &dyn Fn(&str) -> Option<String> = &env;
        let layers = || Layers::load(cli.config.clone(), cli.profile.clone(), env);
        Ok(match cli.command {
            Command::Summarize(args) => {
                let layers = layers()?;
                let (target, endpoint, run, article, read) =
                    resolve_job(args.endpoint, args.run, args.article, Format::Jsonl, &args.inputs, &layers)?;
                Settings::Summarize(BatchSettings {
                    inputs: args.inputs,
                    target,
                    endpoint,
                    run,
                    article,
                    read,
                })
            }
            Command::Translate(args) => {
                let layers = layers()?;
                // One article reads best as a document; a batch is records (or a report).
                let one = matches!(&args.inputs[..], [input] if is_one_article(input));
                let default = if one { Format::Markdown } else { Format::Jsonl };
                let mut run_args = args.run;
                if args.json {
                    run_args.format = Some(cli::FormatArg::Jsonl);
                }
                let (target, endpoint, run, article, read) =
                    resolve_job(args.endpoint, run_args, args.article, default, &args.inputs, &layers)?;
                Settings::Translate(BatchSettings {
                    inputs: args.inputs,
                    target,
                    endpoint,
                    run,
                    article,
                    read,
                })
            }
            Command::Config(cli::ConfigCommandArgs { action: cli::ConfigAction::Init { path } }) => {
                let path = match path.or(cli.config) {
                    Some(path) => path,
                    None => file::default_path(&env).ok_or_else(|| {
                        ConfigError::Invalid(
                            "cannot find a config directory (no home directory): name the file".into(),
                        )
                    })?,
                };
                Settings::ConfigInit(path)
            }
            Command::Config(cli::ConfigCommandArgs { action: cli::ConfigAction::Show(args) }) => {
                let layers = layers()?;
                let args = *args;
                if !args.providers {
                    resolve_job(args.endpoint, args.run, args.article, Format::Jsonl, &[], &layers)?;
                }
                let file = layers.file.path.clone();
                let profile = layers.profile.as_ref().map(|(name, _)| name.clone());
                let (shown, notices) = layers.into_shown();
                Settings::ConfigShow(ConfigShowSettings {
                    file,
                    profile,
                    shown,
                    notices,
                    providers: args.providers,
                })
            }
            Command::Clean(args) => {
                let output = destination(args.output);
                check_output(&output, &args.inputs, None)?;
                let read = resolve_read(args.input_encoding.as_deref())?;
                Settings::Clean(CleanSettings { inputs: args.inputs, output, read })
            }
            Command::MockServer(args) => Settings::MockServer(resolve_mock_server(args)?),
            Command::Eval(args) => Settings::Eval(eval::resolve_eval(args, cli.config, cli.profile, env)?),
            Command::Report(args) => {
                let format =
                    resolve_format(args.format, args.csv_no_bom, args.output.as_deref(), Format::Markdown)?;
                let source_date_epoch = source_date_epoch(&layers()?);
                let output =
                    OutputSettings { destination: destination(args.output), format, source_date_epoch };
                check_output(&output.destination, std::slice::from_ref(&args.input), None)?;
                Settings::Report(ReportSettings { input: args.input, output })
            }
            Command::Check(args) => {
                let layers = layers()?;
                let (target, endpoint) = resolve_endpoint(args.endpoint, &layers)?;
                let notices = layers.notices.borrow().clone();
                Settings::Check(CheckSettings { target, endpoint, notices })
            }
            Command::Completions { .. } | Command::Man => {
                return Err(ConfigError::Invalid(
                    "completions and man are printed by the binary itself".into(),
                ));
            }
            Command::Batch(cli::BatchCommandArgs { action: cli::BatchAction::Export(args) }) => {
                Settings::BatchExport(batch::resolve_export(*args, &layers()?)?)
            }
            Command::Batch(cli::BatchCommandArgs { action: cli::BatchAction::Ingest(args) }) => {
                Settings::BatchIngest(batch::resolve_ingest(args, &layers()?)?)
            }
            Command::Batch(cli::BatchCommandArgs { action: cli::BatchAction::Submit(args) }) => {
                Settings::BatchSubmit(batch::resolve_job_settings(*args, false, &layers()?)?)
            }
            Command::Batch(cli::BatchCommandArgs { action: cli::BatchAction::Collect(args) }) => {
                let args = *args;
                Settings::BatchCollect(batch::resolve_job_settings(args.job, args.finish_live, &layers()?)?)
            }
            Command::Batch(cli::BatchCommandArgs { action: cli::BatchAction::Status(args) }) => {
                Settings::BatchStatus(batch::resolve_jobs(args, &layers()?)?)
            }
            Command::Batch(cli::BatchCommandArgs { action: cli::BatchAction::Cancel(args) }) => {
                Settings::BatchCancel(batch::resolve_jobs(args, &layers()?)?)
            }
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
            Settings::Eval(s) => s.runs().next().is_some_and(|r| r.run.quiet),
            Settings::BatchExport(s) => s.batch.run.quiet,
            Settings::BatchSubmit(s) | Settings::BatchCollect(s) => s.batch.run.quiet,
            _ => false,
        }
    }

    /// The keys the run sends, to be kept out of everything it prints.
    pub(crate) fn api_keys(&self) -> Vec<&str> {
        let targets = match self {
            Settings::Summarize(s) => vec![&s.target],
            Settings::Translate(s) => vec![&s.target],
            Settings::Check(s) => vec![&s.target],
            Settings::Eval(s) => s.runs().map(|r| &r.target).collect(),
            Settings::BatchExport(s) => vec![&s.batch.target],
            Settings::BatchSubmit(s) | Settings::BatchCollect(s) => vec![&s.batch.target],
            Settings::BatchStatus(s) | Settings::BatchCancel(s) => vec![&s.target],
            _ => return Vec::new(),
        };
        targets
            .into_iter()
            .flat_map(|target| match target {
                Target::Routes(routes) => {
                    routes.iter().filter_map(|r| r.api_key.as_ref().map(ApiKey::expose)).collect()
                }
                Target::Mock(_) => Vec::new(),
            })
            .collect()
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
    Ok(ReadSettings { encoding, only_with: None })
}

/// Everything a job resolves to: where it goes, how it asks, how it runs, how articles are
/// prepared and read.
type Job = (Target, EndpointSettings, RunSettings, ArticleSettings, ReadSettings);

/// The settings every command that sends requests shares, checked against its `inputs`.
fn resolve_job(
    endpoint: cli::EndpointArgs,
    run: cli::RunArgs,
    article: cli::ArticleArgs,
    format: Format,
    inputs: &[PathBuf],
    layers: &Layers,
) -> Result<Job, ConfigError> {
    let (target, endpoint) = resolve_endpoint(endpoint, layers)?;
    let local = matches!(&target, Target::Routes(routes) if routes.iter().all(|r| is_local(&r.base_url)));
    let mut run = resolve_run(run, format, local, layers)?;
    run.pool.price = price_of(&endpoint.model, layers, run.pool.max_cost)?;
    if run.dry_run {
        let (answer_scale, exact) = match &target {
            Target::Mock(options) => (options.answer_scale.map(|p| p as f64 / 100.0), true),
            Target::Routes(_) => (None, false),
        };
        run.pool.dry = Some(crate::pool::Dry { answer_scale, exact });
    }
    check_output(&run.output.destination, inputs, run.cache.path.as_deref())?;
    let input_encoding = layers.pick_text(article.input_encoding.clone(), None, |p| p.input_encoding.clone());
    let read = resolve_read(input_encoding.map(|(v, _)| v).as_deref())?;
    let article = resolve_article(article, layers)?;
    run.notices.extend(layers.notices.borrow().iter().cloned());
    Ok((target, endpoint, run, article, read))
}

fn resolve_article(args: cli::ArticleArgs, layers: &Layers) -> Result<ArticleSettings, ConfigError> {
    // A glossary error names file and line, so the user can fix it before anything is sent.
    let glossary = match layers.pick(args.glossary, |p| p.glossary.clone()).map(|g| layers.path(g)) {
        Some(path) => Glossary::load(&path).map_err(|e| ConfigError::Invalid(format!("--glossary: {e}")))?,
        None => Glossary::default(),
    };
    let max_article_tokens =
        layers.pick(args.max_article_tokens, |p| p.max_article_tokens).unwrap_or((30_000, Origin::Default));
    if max_article_tokens.0 == 0 {
        return Err(ConfigError::Invalid("--max-article-tokens must be at least 1".into()));
    }
    layers.show("max article tokens", max_article_tokens.0, max_article_tokens.1);
    Ok(ArticleSettings {
        clean: !layers.switch("no clean", args.no_clean, |p| p.no_clean),
        glossary: Arc::new(glossary),
        strict: layers.switch("strict", args.strict, |p| p.strict),
        allow_non_korean: layers.switch("allow non-korean", args.allow_non_korean, |p| p.allow_non_korean),
        max_article_tokens: max_article_tokens.0,
    })
}

#[cfg(test)]
mod tests;
