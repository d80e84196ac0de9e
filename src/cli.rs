//! The command line, as clap derive types. No other module imports clap: `config` turns these
//! into plain settings once, so the core never sees a flag.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Korean news into English: bilingual summaries of a batch, full translations of one article.
#[derive(Debug, Parser)]
#[command(name = "ko2en", version, about, long_about = None, arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarize every article in Korean and English; one JSONL record per article, input order.
    Summarize(SummarizeArgs),
    /// Translate one article in full, with its bilingual summary (Markdown, or --json).
    Translate(TranslateArgs),
    /// Run the built-in OpenAI-compatible mock endpoint; prints its base URL first.
    MockServer(MockServerArgs),
    /// Inspect or clear the answer cache.
    Cache(CacheCommandArgs),
}

#[derive(Debug, Args)]
pub struct SummarizeArgs {
    /// Articles: .txt/.md/.html files, .jsonl files (id, title, text), directories, or - for stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// The article to translate (.txt/.md/.html, or - for stdin).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Print the JSON record instead of Markdown.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

/// Where requests go and how they are shaped.
#[derive(Debug, Args)]
pub struct EndpointArgs {
    /// Base URL of an OpenAI-compatible API (…/v1).
    #[arg(long, env = "OPENAI_BASE_URL", value_name = "URL")]
    pub base_url: Option<String>,
    /// Name of the environment variable that holds the API key (the key itself is never a flag).
    #[arg(long, default_value = "OPENAI_API_KEY", value_name = "NAME")]
    pub api_key_env: String,
    /// Model name sent to the endpoint.
    #[arg(long, env = "KO2EN_MODEL", value_name = "MODEL")]
    pub model: Option<String>,
    /// Start the built-in mock endpoint in-process on 127.0.0.1 and use it; no key needed.
    #[arg(long)]
    pub mock: bool,
    /// How answers are constrained: strict JSON schema, any JSON object, or plain text.
    #[arg(long, value_enum, default_value_t = ResponseFormatArg::JsonSchema)]
    pub response_format: ResponseFormatArg,
    /// Sampling temperature; omitted from requests unless given (some models accept only their default).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Seconds before one request is abandoned (and retried).
    #[arg(long, default_value_t = 120, value_name = "SECONDS")]
    pub timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResponseFormatArg {
    JsonSchema,
    JsonObject,
    Text,
}

/// How the batch runs and where it goes.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Write output here instead of stdout (written to FILE.partial, renamed when complete).
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read prompt templates from this directory; files missing there fall back to the built-in ones.
    #[arg(long, value_name = "DIR")]
    pub prompts: Option<PathBuf>,
    /// Articles processed at once.
    #[arg(long, default_value_t = 8, value_name = "N")]
    pub concurrency: usize,
    /// No progress output on stderr.
    #[arg(short, long)]
    pub quiet: bool,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Where answers already paid for are kept.
#[derive(Debug, Args)]
pub struct CacheArgs {
    /// The cache file [default: $XDG_CACHE_HOME/ko2en/cache.sqlite, else ~/.cache/ko2en/cache.sqlite].
    #[arg(long, value_name = "PATH", conflicts_with = "no_cache")]
    pub cache: Option<PathBuf>,
    /// Use no cache: every answer is bought, none is kept.
    #[arg(long)]
    pub no_cache: bool,
    /// Ignore cached answers (buy them again) but store the new ones.
    #[arg(long, conflicts_with = "no_cache")]
    pub refresh: bool,
}

#[derive(Debug, Args)]
pub struct CacheCommandArgs {
    #[command(subcommand)]
    pub action: CacheAction,
    /// The cache file [default: $XDG_CACHE_HOME/ko2en/cache.sqlite, else ~/.cache/ko2en/cache.sqlite].
    #[arg(long, value_name = "PATH", global = true)]
    pub cache: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum CacheAction {
    /// Entries, size on disk, and the last run's hits and misses.
    Stats,
    /// Delete the cache file (even a damaged one).
    Clear,
    /// Print where the cache file is.
    Path,
}

#[derive(Debug, Args)]
pub struct MockServerArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
}
