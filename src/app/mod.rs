//! Running a command: build the heavy things once from settings (mock server, HTTP client,
//! cache, templates, writer), stream the articles through the pipeline in input order, and
//! report — including how many requests were really sent and how many answers the cache gave.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::{Context, Result};
use futures::{Stream, StreamExt};
use std::io::Write as _;

use crate::cache::{self, Cache};
use crate::chunk::{Encoding, TokenCounter};
use crate::client::{Client, EndpointSettings, Route};
use crate::config::{
    BatchSettings, CacheAction, CacheCommandSettings, CleanSettings, MockServerSettings, RunSettings,
    Settings, Target,
};
use crate::input::clean::{ArticleMetadata, Removed};
use crate::input::{SourceRef, check_inputs, count_articles, prepare, spawn_reader};
use crate::mock::MockServer;
use crate::output::{Destination, Output, Writer};
use crate::pipeline::{ArticleSettings, Mode, Pipeline};
use crate::pool::Pool;
use crate::progress::{Progress, RunSummary, stderr_reporter};
use crate::prompt::Prompts;
use crate::record::{Record, Warning};
use crate::shutdown::{Shutdown, Why};

/// `println!` that drops the line when nobody reads stdout any more, instead of panicking.
macro_rules! say {
    ($($arg:tt)*) => { say(format_args!($($arg)*)) };
}

mod batch;
mod batch_api;
mod dry;
mod eval;
mod setup;
mod window;

use window::Window;

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every article done.
    Success,
    /// Some articles failed; their records say why.
    SomeFailed,
    /// The endpoint refused the key or the quota: nothing more could be sent.
    Stopped,
    /// Ctrl-C: the articles in flight were finished and written, no others started.
    Interrupted,
    /// `--max-cost` reached: as interrupted, at the spending cap.
    Capped,
}

/// Send log lines to stderr for a run of `settings`: ko2en's own only (errors only under
/// `-q`), unless `filter` (`KO2EN_LOG`) asks for more, and never the key.
pub fn init_logging(settings: &Settings, filter: Option<String>) {
    crate::logging::init(settings.quiet(), &settings.api_keys(), filter);
}

/// What resolving the settings found worth saying (a key file others can read, a base URL
/// that was corrected): before the run, unless -q.
fn tell(run: &RunSettings) {
    if !run.quiet {
        for notice in &run.notices {
            eprintln!("ko2en: {notice}");
        }
    }
}

/// Run one resolved command.
pub async fn run(settings: Settings) -> Result<Outcome> {
    match settings {
        Settings::Summarize(s) if s.run.dry_run => dry::dry_run(s, Mode::Summarize).await,
        Settings::Translate(s) if s.run.dry_run => dry::dry_run(s, Mode::Translate).await,
        Settings::Summarize(s) => batch(s, Mode::Summarize).await,
        Settings::Translate(s) => batch(s, Mode::Translate).await,
        Settings::Clean(s) => clean(s).await,
        Settings::MockServer(s) => mock_server(s).await,
        Settings::Cache(s) => cache_command(s).await,
        Settings::ConfigShow(s) => setup::config_show(&s),
        Settings::Check(s) => setup::check_endpoint(s).await,
        Settings::Report(s) => report(s).await,
        Settings::Eval(s) => eval::eval(s).await,
        Settings::BatchExport(s) => batch::export(s).await,
        Settings::BatchIngest(s) => batch::ingest(s).await,
        Settings::BatchSubmit(s) => batch_api::submit(s).await,
        Settings::BatchCollect(s) => batch_api::collect(s).await,
        Settings::BatchStatus(s) => batch_api::status(s).await,
        Settings::BatchCancel(s) => batch_api::cancel(s).await,
        Settings::ConfigInit(path) => setup::config_init(&path),
    }
}

/// The endpoint of a run, a client per route: the real ones, or a mock started for it (kept
/// alive by the guard).
async fn connect(target: &Target, endpoint: &EndpointSettings) -> Result<(Vec<Client>, Option<MockServer>)> {
    let (routes, mock) = match target {
        Target::Routes(routes) => (routes.clone(), None),
        Target::Mock(options) => {
            let addr = "127.0.0.1:0".parse().expect("a valid address");
            let mock = MockServer::start(addr, (**options).clone())
                .await
                .context("cannot start the mock endpoint")?;
            (vec![Route { base_url: mock.base_url(), api_key: None }], Some(mock))
        }
    };
    let first = Client::new(&routes[0], endpoint)?;
    let mut clients = vec![first.clone()];
    clients.extend(routes[1..].iter().map(|route| first.route(route)));
    Ok((clients, mock))
}

/// Everything a run shares to turn articles into records, built once from the settings.
async fn pipeline(
    clients: Vec<Client>,
    target: &Target,
    run: &RunSettings,
    article: ArticleSettings,
    mode: Mode,
    defer: Option<crate::pool::Defer>,
) -> Result<Pipeline> {
    let prompts = Prompts::load(run.prompts_dir.as_deref())?;
    let cache = match run.cache.path.clone() {
        Some(path) => {
            let refresh = run.cache.refresh;
            Some(tokio::task::spawn_blocking(move || Cache::open(&path, refresh)).await??)
        }
        None => None,
    };
    let counter = TokenCounter::new(run.encoding.unwrap_or_else(|| Encoding::for_model(clients[0].model())));
    let mut pool = Pool::new(clients, run.pool.clone(), counter, cache, target.cache_id());
    if let Some(defer) = defer {
        pool = pool.deferring(defer);
    }
    // Before any prompt is built: whether the schema goes in the prompt depends on the form.
    pool.recall_forms().await;
    pool.recall_sizes().await;
    pool.recall_limits().await;
    Ok(Pipeline::new(pool, prompts, mode, run.chunk_limits, article))
}

/// Between articles, progress shows the tokens arriving: a tick a second until aborted.
fn tick(reporter: &Arc<dyn Progress>, pipeline: &Arc<Pipeline>) -> tokio::task::JoinHandle<()> {
    let (reporter, pipeline) = (Arc::clone(reporter), Arc::clone(pipeline));
    tokio::spawn(async move {
        let mut every = tokio::time::interval(std::time::Duration::from_secs(1));
        loop {
            every.tick().await;
            reporter.tick(pipeline.pool().stats());
        }
    })
}

/// Record the run's cache statistics and close the cache; a failure here loses nothing (every
/// answer was committed when it arrived), so it is only a warning.
async fn finish_cache(pipeline: &Pipeline) -> Option<cache::RunStats> {
    pipeline.pool().remember_limits().await;
    let cache = pipeline.pool().cache()?.clone();
    match cache.finish(pipeline.pool().stats().sent.load(Ordering::Relaxed)).await {
        Ok(stats) => Some(stats),
        Err(e) => {
            eprintln!("ko2en: warning: {e}");
            None
        }
    }
}

/// A run whose inputs cannot hold an article stops here, before anything is paid for.
async fn check(inputs: &[std::path::PathBuf]) -> Result<()> {
    let inputs = inputs.to_vec();
    tokio::task::spawn_blocking(move || check_inputs(&inputs)).await?.map_err(anyhow::Error::msg)
}

/// A job under way: its articles flowing through the pipeline as records, in input order.
pub(super) struct Job {
    pub(super) pipeline: Arc<Pipeline>,
    pub(super) reporter: Arc<dyn Progress>,
    pub(super) shutdown: Shutdown,
    pub(super) records: futures::stream::BoxStream<'static, Record>,
    /// The mock started for it, alive as long as the job.
    pub(super) mock: Option<MockServer>,
}

/// Start `settings`' articles through the pipeline in `mode` (its requests written to `defer`
/// in a batch round), with progress on stderr and the signals that end a run early heard
/// (and, when the output is stdout, its reader leaving).
pub(super) async fn start(
    settings: &BatchSettings,
    mode: Mode,
    defer: Option<crate::pool::Defer>,
    stdout_matters: bool,
) -> Result<Job> {
    let quiet = settings.run.quiet;
    tell(&settings.run);
    check(&settings.inputs).await?;
    let (clients, mock) = connect(&settings.target, &settings.endpoint).await?;
    let routes = clients.len();
    let pipeline = Arc::new(
        pipeline(clients, &settings.target, &settings.run, settings.article.clone(), mode, defer).await?,
    );
    let reporter: Arc<dyn Progress> = Arc::from(stderr_reporter(quiet));
    if !quiet {
        count_in_background(settings.inputs.clone(), settings.read.only_with, Arc::clone(&reporter));
    }
    let shutdown = Shutdown::listen(quiet, stdout_matters);
    halt_on(shutdown.clone(), Arc::clone(&pipeline));
    let records = window::records_in_order(
        Arc::clone(&pipeline),
        settings.inputs.clone(),
        settings.read,
        Window::new(&settings.run.pool, routes),
        shutdown.clone(),
        Arc::clone(&reporter),
    )
    .boxed();
    Ok(Job { pipeline, reporter, shutdown, records, mock })
}

/// `summarize` or `translate` (`mode`): every article of the inputs through the pipeline, the
/// records written in input order, and a closing summary.
async fn batch(settings: BatchSettings, mode: Mode) -> Result<Outcome> {
    let started = Instant::now();
    let quiet = settings.run.quiet;
    let to_stdout = matches!(settings.run.output.destination, Destination::Stdout);
    let Job { pipeline, reporter, shutdown, records, mock: _mock } =
        start(&settings, mode, None, to_stdout).await?;
    let mut output = Output::create(&settings.run.output)?;
    let ticker = tick(&reporter, &pipeline);
    let mut summary = write_all(records, &mut output).await;
    ticker.abort();
    reporter.finish();
    summary.output = match &settings.run.output.destination {
        Destination::File(path) => path.display().to_string(),
        Destination::Stdout => "the output".to_string(),
    };
    summary.interrupted = matches!(shutdown.why(), Some(Why::Signal(_)));
    // The final name means "every input article has a record".
    let complete = shutdown.why().is_none() && pipeline.pool().stop_reason().is_none() && !summary.cut_short;
    let written = output.finish(complete).await.context("cannot write the output")?;
    let cached = finish_cache(&pipeline).await;
    summary.add_run_facts(&pipeline, cached, started);
    if !quiet {
        // Records keep what each answer cost when it was bought (so a rerun's output is
        // identical); this summary says what this run actually paid.
        eprintln!("{}", summary.render(crate::progress::stderr_width()));
        if let Some(hint) = summary.hint() {
            eprintln!("{hint}");
        }
    }
    if let Some(partial) = &written.kept_partial {
        eprintln!(
            "ko2en: the run did not finish: the {} records written so far are in {}. Run the same \
             command again to finish it: every answer already bought comes from the cache",
            summary.ok + summary.failed,
            partial.display()
        );
    }
    if pipeline.pool().capped() {
        // The reason was written when the cap refused a request; the requests then on the
        // wire were paid for after.
        let spent = pipeline.pool().stats().spent().map(crate::price::dollars).unwrap_or_default();
        eprintln!(
            "ko2en: stopped at {} ({spent} in all, with the requests that were on the wire). Run the same \
             command with a higher --max-cost to go on: every answer already bought comes from the cache",
            pipeline.pool().stop_reason().unwrap_or_default()
        );
        return Ok(Outcome::Capped);
    }
    if let Some(reason) = pipeline.pool().stop_reason() {
        eprintln!("ko2en: stopped, nothing more was sent: {reason}");
        return Ok(Outcome::Stopped);
    }
    match shutdown.why() {
        Some(Why::Signal(_)) => return Ok(Outcome::Interrupted),
        Some(Why::ReaderGone) => return Ok(Outcome::Success),
        None if written.pipe_closed => return Ok(Outcome::Success),
        None => {}
    }
    Ok(if summary.failed > 0 { Outcome::SomeFailed } else { Outcome::Success })
}

/// `ko2en report`: the records of a results file through an exporter, in their order. A
/// line that is not a record stops it, naming the line: a report missing articles silently
/// would mislead.
async fn report(settings: crate::config::ReportSettings) -> Result<Outcome> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<Record, String>>(64);
    let input = settings.input.clone();
    // Reading is blocking work: on its own thread, records handed over as they are parsed.
    let reader = tokio::task::spawn_blocking(move || {
        let stdin = input == std::path::Path::new("-");
        let name = if stdin { "stdin".to_string() } else { input.display().to_string() };
        let file: Box<dyn std::io::Read> = if stdin {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(&input).map_err(|e| format!("cannot read {name}: {e}"))?)
        };
        for record in Record::read_all(std::io::BufReader::new(file), &name) {
            let record = record.map(|(_, record)| record);
            let stop = record.is_err();
            if tx.blocking_send(record).is_err() || stop {
                break;
            }
        }
        Ok(())
    });
    let mut output = Output::create(&settings.output)?;
    let mut written = 0u64;
    let mut failure = None;
    while let Some(record) = rx.recv().await {
        match record {
            Ok(record) => {
                if !output.write(&record).await {
                    break;
                }
                written += 1;
            }
            Err(e) => failure = Some(e),
        }
    }
    let failure = failure.or(reader.await?.err());
    output.finish(failure.is_none()).await.context("cannot write the report")?;
    if let Some(e) = failure {
        anyhow::bail!(e);
    }
    if written == 0 {
        anyhow::bail!("{} holds no record", settings.input.display());
    }
    Ok(Outcome::Success)
}

/// When the run is told to stop, the pool starts no request any more.
fn halt_on(shutdown: Shutdown, pipeline: Arc<Pipeline>) {
    tokio::spawn(async move {
        shutdown.wait().await;
        pipeline.pool().interrupt();
    });
}

/// The total is only for progress: with --quiet nobody sees it, so the inputs are not read an
/// extra time for it.
fn count_in_background(
    inputs: Vec<std::path::PathBuf>,
    only_with: Option<&'static str>,
    reporter: Arc<dyn Progress>,
) {
    tokio::task::spawn_blocking(move || {
        if let Some(total) = count_articles(&inputs, only_with) {
            reporter.set_total(total);
        }
    });
}

/// Write records as they come, until they end or the output fails; the articles counted, ok
/// and failed, and whether writing stopped before the records ended.
async fn write_all(records: impl Stream<Item = Record>, output: &mut Output) -> RunSummary {
    let mut records = std::pin::pin!(records);
    let mut summary = RunSummary::default();
    // The ids seen, as 64-bit hashes: 8 bytes an article, however long the ids.
    let mut ids = std::collections::HashSet::new();
    while let Some(mut record) = records.next().await {
        if !ids.insert(id_hash(&record.id)) {
            record.warnings.push(Warning {
                kind: "duplicate_id".into(),
                message: format!(
                    "an earlier article of this batch has the id {:?} too: the id no longer tells their records apart",
                    record.id
                ),
            });
        }
        summary.count(&record);
        if !output.write(&record).await {
            summary.cut_short = true;
            break;
        }
    }
    summary
}

fn id_hash(id: &str) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    id.hash(&mut hasher);
    hasher.finish()
}

impl RunSummary {
    /// What the pool, the limiter and the cache saw of the run.
    fn add_run_facts(&mut self, pipeline: &Pipeline, cached: Option<cache::RunStats>, started: Instant) {
        let pool = pipeline.pool();
        let stats = pool.stats();
        self.sent = stats.sent.load(Ordering::Relaxed);
        self.prompt_tokens = stats.prompt_tokens.load(Ordering::Relaxed);
        self.completion_tokens = stats.completion_tokens.load(Ordering::Relaxed);
        self.spent = stats.spent();
        self.reserved_completion = stats.reserved_completion.load(Ordering::Relaxed);
        self.retries = stats.retries().into_iter().collect();
        self.answers_from_cache = stats.from_cache.load(Ordering::Relaxed);
        self.articles_from_cache = cached.map(|c| c.articles_hit);
        let limiter = pool.limiter_stats();
        self.budget_tokens = limiter.tokens_charged.saturating_sub(limiter.tokens_refunded);
        // The limits as paced at the end (the settings, or what the servers' headers taught),
        // over every route.
        self.budget = Some(pool.budget());
        self.counted = limiter.model;
        self.concurrency = pool.concurrency();
        self.routes = pool.routes();
        self.slot_waits = stats.slot_waits.load(Ordering::Relaxed);
        self.elapsed = started.elapsed();
    }
}

/// One line of `ko2en clean`: what would be sent for an article, and what was taken out.
#[derive(Debug, serde::Serialize)]
struct CleanedLine<'a> {
    id: &'a str,
    source: &'a SourceRef,
    title: &'a str,
    text: &'a str,
    removed: &'a [Removed],
    byline: &'a ArticleMetadata,
}

/// An article `ko2en clean` could not prepare.
#[derive(Debug, serde::Serialize)]
struct CleanError<'a> {
    id: &'a str,
    source: &'a SourceRef,
    error: &'a crate::record::RecordError,
}

async fn clean(settings: CleanSettings) -> Result<Outcome> {
    check(&settings.inputs).await?;
    let writer = Writer::create(settings.output.clone(), Vec::new())?;
    let mut reader = spawn_reader(settings.inputs.clone(), 16, settings.read);
    let mut failed = 0u64;
    while let Some(loaded) = reader.recv().await {
        let (id, source) = (loaded.id.clone(), loaded.source.clone());
        let line = match loaded.article.and_then(|a| prepare(a, true)) {
            Ok(p) => serde_json::to_vec(&CleanedLine {
                id: &p.id,
                source: &p.source,
                title: &p.title,
                text: &p.text,
                removed: &p.removed,
                byline: &p.byline,
            }),
            Err(e) => {
                failed += 1;
                let error = crate::record::RecordError { kind: e.kind().to_string(), message: e.to_string() };
                eprintln!("ko2en: {id}: {}", error.message);
                serde_json::to_vec(&CleanError { id: &id, source: &source, error: &error })
            }
        };
        let mut bytes = line.context("cannot render a cleaned article")?;
        bytes.push(b'\n');
        if !writer.write(bytes).await {
            break;
        }
    }
    let outcome = writer.finish(true).await.context("cannot write the output")?;
    Ok(if failed > 0 && !outcome.pipe_closed { Outcome::SomeFailed } else { Outcome::Success })
}

async fn mock_server(settings: MockServerSettings) -> Result<Outcome> {
    let server = MockServer::start(settings.addr, settings.options)
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    // The base URL comes first on stdout so scripts and tests can read it; a reader that has
    // already gone (`| true`) is no reason to fail.
    say!("{}", server.base_url());
    tokio::select! {
        _ = server.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(Outcome::Success)
}

async fn cache_command(settings: CacheCommandSettings) -> Result<Outcome> {
    let path = settings.path;
    match settings.action {
        CacheAction::Path => say!("{}", path.display()),
        CacheAction::Clear => {
            let target = path.clone();
            if tokio::task::spawn_blocking(move || cache::clear(&target)).await?? {
                say!("ko2en: cleared the cache {}", path.display());
            } else {
                say!("ko2en: there is no cache at {}", path.display());
            }
        }
        CacheAction::Stats => {
            let target = path.clone();
            match tokio::task::spawn_blocking(move || cache::summary(&target)).await?? {
                None => say!("cache: {} (none yet)", path.display()),
                Some(s) => {
                    say!("cache: {}", path.display());
                    say!("entries: {} answers, {} article records", s.answers, s.articles);
                    say!("size on disk: {:.1} MiB", s.bytes_on_disk as f64 / (1024.0 * 1024.0));
                    match s.last_run {
                        Some(r) => say!(
                            "last run: {} requests sent; answers {} hit, {} missed; articles {} hit, {} missed",
                            r.requests_sent,
                            r.answers_hit,
                            r.answers_missed,
                            r.articles_hit,
                            r.articles_missed
                        ),
                        None => say!("last run: none recorded"),
                    }
                }
            }
        }
    }
    Ok(Outcome::Success)
}

/// One line on stdout. A closed stdout (`ko2en cache stats | true`) is not an error worth a
/// panic: the line is dropped.
fn say(line: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
