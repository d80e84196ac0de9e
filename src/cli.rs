//! The command line, as clap derive types. No other module imports clap: `config` turns these
//! into plain settings once, so the core never sees a flag.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Args, FromArgMatches, Parser, Subcommand, ValueEnum};

use crate::mock::{OPTIONS, OptionKind};

/// Korean news into English: bilingual summaries of a batch, full translations of one article.
#[derive(Debug, Parser)]
#[command(name = "ko2en", version, about, long_about = None, arg_required_else_help = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Config file [env: KO2EN_CONFIG; default: $XDG_CONFIG_HOME/ko2en/config.toml].
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Profile of the config file to use [env: KO2EN_PROFILE].
    #[arg(short = 'p', long, global = true, value_name = "NAME")]
    pub profile: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Summarize every article in Korean and English; one JSONL record per article, input order.
    #[command(
        after_help = "Examples:\n  ko2en summarize articles/ -o summaries.jsonl\n  ko2en -p deepseek summarize batch.jsonl.gz --rpm 500"
    )]
    Summarize(SummarizeArgs),
    /// Translate articles in full, each with its bilingual summary: one as Markdown, a batch as
    /// one record per article (or a report: --format html|md|csv, or by -o's extension).
    #[command(
        after_help = "Examples:\n  ko2en translate article.txt > article.md\n  ko2en translate articles/ -o report.html\n  curl -s URL | ko2en translate - --json"
    )]
    Translate(TranslateArgs),
    /// Show what would be sent: each article cleaned (JSONL: id, title, text, removed lines
    /// with the reason for each, byline metadata). Sends nothing.
    #[command(
        after_help = "Examples:\n  ko2en clean fixtures/alibaba-cloud-korea.txt\n  ko2en clean articles/ | jq -r .text"
    )]
    Clean(CleanArgs),
    /// Run the built-in OpenAI-compatible mock endpoint; prints its base URL first.
    ///
    /// Fault rates are shares of requests, 0 to 1, drawn from --seed, each request's body and
    /// its attempt number: runs are reproducible and retries can succeed. A request can also
    /// force a fault with a marker in its content, e.g. [[mock:fail=503]], [[mock:drop]] or
    /// [[mock:truncate:once]] (docs/mock.md lists them all).
    MockServer(MockServerArgs),
    /// Inspect or clear the answer cache.
    Cache(CacheCommandArgs),
    /// Large jobs through a batch engine of your own (vLLM's run_batch, a Ray Data or Spark
    /// job): the requests a run still needs written as batch JSONL, and the results read back.
    #[command(
        after_help = "A round:\n  ko2en batch export --task translate archive.jsonl -m Qwen/Qwen2.5-7B-Instruct --base-url http://gpu:8000/v1 -o requests.jsonl\n  python -m vllm.entrypoints.openai.run_batch -i requests.jsonl -o results.jsonl --model Qwen/Qwen2.5-7B-Instruct\n  ko2en batch ingest results.jsonl\nthen export again (long articles take several rounds) until nothing is left, and run the\nsame `ko2en translate` to write the output from the cache."
    )]
    Batch(BatchCommandArgs),
    /// Show the settings a run would use and where each came from, or write an example config.
    Config(ConfigCommandArgs),
    /// Send one tiny request and print what works: URL, key, model, structured output, the
    /// limits the server announces, latency.
    #[command(after_help = "Examples:\n  ko2en check\n  ko2en -p deepseek check")]
    Check(CheckArgs),
    /// Render a results file (the JSONL of summarize or translate) in another format: a report
    /// remade, or made from an older run. Sends nothing.
    #[command(
        after_help = "Examples:\n  ko2en report results.jsonl -o report.html\n  ko2en report results.jsonl --format csv > results.csv"
    )]
    Report(ReportArgs),
    /// Score translations against references: chrF++ and BLEU (sacreBLEU's definitions) over
    /// the corpus and per article, with what the checks found, tokens and time. Given articles
    /// carrying en_reference, translates them first (answers cached as by translate); given
    /// results, scores them. Two runs side by side: another model, another profile, or results.
    #[command(
        after_help = "Examples:\n  ko2en eval refs.jsonl -m gpt-4o-mini --compare-model gpt-4.1-mini\n  ko2en eval refs.jsonl -p local --compare-profile openai --fail-under 50\n  ko2en eval a.jsonl --compare b.jsonl"
    )]
    Eval(EvalArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(
        after_help = "Examples:\n  ko2en completions bash > ~/.local/share/bash-completion/completions/ko2en\n  ko2en completions zsh > ~/.zfunc/_ko2en"
    )]
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff).
    #[command(after_help = "Example:\n  ko2en man > ~/.local/share/man/man1/ko2en.1")]
    Man,
}

/// What `completions` and `man` print: generated from the definitions above, so they never
/// disagree with `--help`.
pub fn generated(command: &Command) -> Option<Vec<u8>> {
    use clap::CommandFactory;
    let mut out = Vec::new();
    match command {
        Command::Completions { shell } => {
            clap_complete::generate(*shell, &mut Cli::command(), "ko2en", &mut out);
        }
        Command::Man => clap_mangen::Man::new(Cli::command()).render(&mut out).ok()?,
        _ => return None,
    }
    Some(out)
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Articles whose JSONL lines carry en_reference, translated with the settings below and
    /// scored; or the results of an earlier `ko2en translate` over such articles, scored as
    /// they are (the settings are then unused).
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    /// Another run's results on the same articles, scored beside these.
    #[arg(long, value_name = "RESULTS", conflicts_with_all = ["compare_profile", "compare_model"])]
    pub compare: Option<PathBuf>,
    /// Translate the articles a second time with this profile of the config file (its model,
    /// endpoint, prompts…; the flags given still apply) and score both side by side.
    #[arg(long, value_name = "NAME")]
    pub compare_profile: Option<String>,
    /// Translate the articles a second time with this model and score both side by side.
    #[arg(long, value_name = "MODEL")]
    pub compare_model: Option<String>,
    /// Fail (exit 1) when the corpus chrF++ is below this.
    #[arg(long, value_name = "CHRF")]
    pub fail_under: Option<f64>,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub article: ArticleArgs,
}

#[derive(Debug, Args)]
pub struct BatchCommandArgs {
    #[command(subcommand)]
    pub action: BatchAction,
}

#[derive(Debug, Subcommand)]
pub enum BatchAction {
    /// Write the requests the run still needs (one round: answers in the cache are skipped) as
    /// batch JSONL to -o FILE, split at 50,000 requests or 200 MB; sends nothing.
    Export(Box<BatchExportArgs>),
    /// Read batch results (JSONL lines with custom_id and response, as vLLM's run_batch and
    /// OpenAI's batches write them) into the answer cache.
    Ingest(BatchIngestArgs),
    /// Send the requests the run still needs through the provider's batch API (files and
    /// batches endpoints: OpenAI, Azure OpenAI v1, LiteLLM), at batch prices; one round.
    Submit(Box<BatchExportArgs>),
    /// The batches of this endpoint and model not collected yet, as the provider has them.
    Status(BatchJobsArgs),
    /// Read finished batches into the cache, then submit the next round (or, with
    /// --finish-live, send what remains live); when nothing remains, write the output exactly
    /// as the live command would.
    Collect(Box<BatchCollectArgs>),
    /// Cancel the batches of this endpoint and model not collected yet.
    Cancel(BatchJobsArgs),
}

#[derive(Debug, Args)]
pub struct BatchCollectArgs {
    /// Send what remains live instead of submitting another round.
    #[arg(long)]
    pub finish_live: bool,
    #[command(flatten)]
    pub job: BatchExportArgs,
}

#[derive(Debug, Args)]
pub struct BatchJobsArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// The job a batch round is a round of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TaskArg {
    Summarize,
    Translate,
}

#[derive(Debug, Args)]
pub struct BatchExportArgs {
    /// The command the rounds stand for.
    #[arg(long, value_enum, default_value = "summarize")]
    pub task: TaskArg,
    /// Articles, as for summarize.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub article: ArticleArgs,
}

#[derive(Debug, Args)]
pub struct BatchIngestArgs {
    /// Results files: a JSON object a line with custom_id and response.body (or error).
    #[arg(required = true, value_name = "RESULTS")]
    pub results: Vec<PathBuf>,
    #[command(flatten)]
    pub cache: CacheArgs,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The results: a JSONL file of records, or - for stdin.
    #[arg(value_name = "RESULTS")]
    pub input: PathBuf,
    /// Write the report here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// html, md, csv or jsonl [default: by -o's extension, else md].
    #[arg(long, value_name = "FORMAT")]
    pub format: Option<FormatArg>,
    /// CSV without the byte-order mark that Excel needs to read Korean correctly.
    #[arg(long)]
    pub csv_no_bom: bool,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub endpoint: EndpointArgs,
}

#[derive(Debug, Args)]
pub struct ConfigCommandArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Print the resolved settings and where each came from (the key redacted).
    #[command(after_help = "Examples:\n  ko2en config show\n  ko2en -p deepseek config show")]
    Show(Box<ConfigShowArgs>),
    /// Write a commented example config file (never over an existing one).
    Init {
        /// Where to write it [default: the config file's default location].
        #[arg(value_name = "FILE")]
        path: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct ConfigShowArgs {
    /// List the provider presets instead.
    #[arg(long)]
    pub providers: bool,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub article: ArticleArgs,
}

#[derive(Debug, Args)]
pub struct CleanArgs {
    /// Articles: .txt/.md/.html files, .jsonl files (id, title, text), directories, or - for stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// Write output here instead of stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Read every input in this encoding (euc-kr, cp949, utf-16le…) instead of detecting it.
    #[arg(long, value_name = "NAME")]
    pub input_encoding: Option<String>,
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
    #[command(flatten)]
    pub article: ArticleArgs,
}

#[derive(Debug, Args)]
pub struct TranslateArgs {
    /// Articles, as for summarize: .txt/.md/.html files, .jsonl files, directories, or - for stdin.
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,
    /// The JSON record (--format jsonl) instead of Markdown.
    #[arg(long, conflicts_with = "format")]
    pub json: bool,
    #[command(flatten)]
    pub endpoint: EndpointArgs,
    #[command(flatten)]
    pub run: RunArgs,
    #[command(flatten)]
    pub article: ArticleArgs,
}

/// How articles are prepared and answers judged.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Input")]
pub struct ArticleArgs {
    /// Send the text as read (only Unicode/whitespace-normalised): no removal of page
    /// furniture, promos, bylines or trailing headlines. See `ko2en clean` for what is removed.
    #[arg(long)]
    pub no_clean: bool,
    /// Fixed Korean -> English renderings (names, organisations): a TSV or CSV file with two
    /// columns, Korean then English. Terms found in an article are put in its prompts and checked.
    #[arg(long, value_name = "FILE")]
    pub glossary: Option<PathBuf>,
    /// Fail an article (exit 1) when any check of its answers still fails after the repair retry.
    #[arg(long)]
    pub strict: bool,
    /// Read every input in this encoding (euc-kr, cp949, utf-16le…) instead of detecting it
    /// [default: UTF-8, UTF-16 by its BOM, a charset the page declares, else EUC-KR/CP949].
    #[arg(long, value_name = "NAME")]
    pub input_encoding: Option<String>,
    /// Send articles that are not in Korean too (by default they get a `not_korean` error
    /// record and are not sent).
    #[arg(long)]
    pub allow_non_korean: bool,
    /// Longest article sent, in tokens; a longer one gets a `too_long` error record, unpaid
    /// [default: 30000].
    #[arg(long, value_name = "TOKENS")]
    pub max_article_tokens: Option<usize>,
}

/// Where requests go and how they are shaped.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Endpoint")]
pub struct EndpointArgs {
    /// A provider preset: its URL, key variable, key header, budget field and structured output
    /// (openai, azure, azure-v1, gemini, anthropic, deepseek, openrouter, groq, mistral,
    /// upstage, dashscope, dashscope-cn, clova, ollama, vllm, llamacpp, lmstudio, litellm)
    /// [env: KO2EN_PROVIDER; default: by the base URL's host, else openai].
    #[arg(long, value_name = "NAME")]
    pub provider: Option<String>,
    /// Base URL of an OpenAI-compatible API (…/v1) [env: KO2EN_BASE_URL, or OPENAI_BASE_URL
    /// for openai; default: the provider's]. Several (repeated, or separated by commas) serving
    /// the same model share the run: each with its own limits and concurrency, work going to
    /// whichever has room, and one that fails handing its work to the others.
    #[arg(long, value_name = "URL")]
    pub base_url: Vec<String>,
    /// Name of the environment variable that holds the API key (the key itself is never a flag)
    /// [default: the provider's, e.g. OPENAI_API_KEY]. Several, separated by commas: one per
    /// base URL, or, with one URL, one route per key (keys with separate quotas).
    #[arg(long, value_name = "NAME")]
    pub api_key_env: Option<String>,
    /// Model name sent to the endpoint; on Azure, the deployment's name [env: KO2EN_MODEL;
    /// default: the provider's, e.g. gpt-4o-mini, or ko2en-mock with --mock].
    #[arg(short = 'm', long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Azure's api-version, for the classic deployments URL [default: 2024-10-21].
    #[arg(long, value_name = "VERSION")]
    pub api_version: Option<String>,
    /// The field that carries the completion budget: max_tokens, max_completion_tokens, or
    /// auto (by model name) [default: the provider's].
    #[arg(long, value_name = "FIELD")]
    pub token_param: Option<String>,
    /// Start the built-in mock endpoint in-process on 127.0.0.1 and use it; no key needed.
    #[arg(long)]
    pub mock: bool,
    /// Tune the --mock endpoint, repeatable: the mock-server flags without dashes, e.g.
    /// --mock-opt rpm=60 --mock-opt fail-rate=0.1 (see `ko2en mock-server --help`).
    #[arg(long, value_name = "KEY=VALUE")]
    pub mock_opt: Vec<String>,
    /// How answers are constrained: strict JSON schema, any JSON object, or plain text
    /// [default: the strongest the provider enforces].
    #[arg(long, value_enum)]
    pub response_format: Option<ResponseFormatArg>,
    /// Sampling temperature; omitted from requests unless given (some models accept only their default).
    #[arg(long)]
    pub temperature: Option<f32>,
    /// Seconds before one request is abandoned (and retried) [default: 120]: of silence, while
    /// the answer streams (a request never runs past ten times this), or of the whole request
    /// with --no-stream.
    #[arg(long, value_name = "SECONDS")]
    pub timeout: Option<u64>,
    /// Ask for whole answers instead of streamed ones (a server that refuses streaming is
    /// switched to whole answers by itself).
    #[arg(long)]
    pub no_stream: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResponseFormatArg {
    JsonSchema,
    JsonObject,
    Text,
}

/// How the batch runs and where it goes.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Limits")]
pub struct RunArgs {
    /// Write output here instead of stdout (written to FILE.partial, renamed when complete).
    #[arg(short, long, value_name = "FILE", help_heading = "Output")]
    pub output: Option<PathBuf>,
    /// jsonl (a record per line), md (a Markdown digest), html (a report to read, in one
    /// self-contained file) or csv (a row per article, for spreadsheets) [default: by -o's
    /// extension, else jsonl; md for `translate` of one article].
    #[arg(long, value_name = "FORMAT", help_heading = "Output")]
    pub format: Option<FormatArg>,
    /// CSV without the byte-order mark that Excel needs to read Korean correctly.
    #[arg(long, help_heading = "Output")]
    pub csv_no_bom: bool,
    /// Read prompt templates from this directory; files missing there fall back to the built-in ones.
    #[arg(long, value_name = "DIR", help_heading = "Input")]
    pub prompts: Option<PathBuf>,
    /// Requests in flight at once [default: 16, or with --rpm/--tpm enough to keep that budget
    /// busy at 20 s a request, up to 256].
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// The endpoint's requests-per-minute limit; requests are paced to stay within it.
    #[arg(long, value_name = "N")]
    pub rpm: Option<u32>,
    /// The endpoint's tokens-per-minute limit (prompt tokens + completion budget per request).
    #[arg(long, value_name = "N")]
    pub tpm: Option<u32>,
    /// Largest piece of an article sent in one request, in tokens
    /// [default: 6000 for summaries, 1500 for translated passages].
    #[arg(long, value_name = "TOKENS")]
    pub max_chunk_tokens: Option<usize>,
    /// Completion budget of each request: auto (sized from the answers seen, the fixed budget
    /// until enough are known), fixed (1500 for a summary, twice the passage for a
    /// translation), or a number of tokens for every request [default: auto].
    #[arg(long, value_name = "auto|fixed|N")]
    pub completion_budget: Option<String>,
    /// Tokenizer used to count tokens: o200k_base or cl100k_base [default: by model].
    #[arg(long, value_name = "NAME")]
    pub encoding: Option<String>,
    /// Attempts per request, the first included, before the article is recorded as failed
    /// [default: 6].
    #[arg(long, value_name = "N")]
    pub max_attempts: Option<u32>,
    /// No progress output on stderr: errors only.
    #[arg(short, long, help_heading = "Output")]
    pub quiet: bool,
    /// Spend at most this many US dollars (at the model's price: see `ko2en config show`): no
    /// request starts that could take the run past it; reaching it stops the run as Ctrl-C
    /// does (exit 4), and the same command with a higher cap continues from the cache.
    #[arg(long, value_name = "USD")]
    pub max_cost: Option<f64>,
    /// Read, clean and chunk everything and count what the run would send (requests, prompt
    /// tokens exactly, completion tokens estimated, cost, time at the limits), skipping what
    /// the cache holds. Sends nothing, writes nothing.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// What `--format` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FormatArg {
    Jsonl,
    #[value(alias = "markdown")]
    Md,
    Html,
    Csv,
}

/// Where answers already paid for are kept.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Cache")]
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
    pub action: CacheActionArg,
    /// The cache file [default: $XDG_CACHE_HOME/ko2en/cache.sqlite, else ~/.cache/ko2en/cache.sqlite].
    #[arg(long, value_name = "PATH", global = true)]
    pub cache: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Subcommand)]
pub enum CacheActionArg {
    /// Entries, size on disk, and the last run's hits and misses.
    Stats,
    /// Delete the cache file (even a damaged one).
    Clear,
    /// Print where the cache file is.
    Path,
}

/// The mock endpoint and what it does to its clients.
#[derive(Debug, Args)]
pub struct MockServerArgs {
    /// Address to listen on; port 0 picks a free one.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub addr: SocketAddr,
    #[command(flatten)]
    pub options: MockOptionArgs,
}

/// The mock's options as flags, built from its one list of options (`mock::OPTIONS`): the
/// `(key, value)` pairs given, in the list's order, for `config` to parse like `--mock-opt`.
#[derive(Debug, Clone, Default)]
pub struct MockOptionArgs(pub Vec<(&'static str, String)>);

impl FromArgMatches for MockOptionArgs {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let mut args = MockOptionArgs::default();
        args.update_from_arg_matches(matches)?;
        Ok(args)
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        for def in OPTIONS {
            if def.kind == OptionKind::Switch {
                if matches.get_flag(def.key) {
                    self.0.push((def.key, "true".into()));
                }
            } else if let Some(value) = matches.get_one::<String>(def.key) {
                self.0.push((def.key, value.clone()));
            }
        }
        Ok(())
    }
}

impl Args for MockOptionArgs {
    fn augment_args(command: clap::Command) -> clap::Command {
        OPTIONS.iter().fold(command, |command, def| {
            let help = match def.default {
                Some(default) => format!("{} [default: {default}]", def.help),
                None => def.help.to_string(),
            };
            let arg = Arg::new(def.key).long(def.key).help(help);
            let arg = match def.kind {
                OptionKind::Switch => arg.action(ArgAction::SetTrue),
                _ => arg.value_name(def.value_name).action(ArgAction::Set),
            };
            command.arg(arg)
        })
    }

    fn augment_args_for_update(command: clap::Command) -> clap::Command {
        Self::augment_args(command)
    }
}
