//! Running a command: build the heavy things once from settings (mock server, HTTP client,
//! cache, templates, writer), stream the articles through the pipeline in input order, and
//! report — including how many requests were really sent and how many answers the cache gave.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use futures::StreamExt;

use crate::cache::{self, Cache};
use crate::cli::CacheAction;
use crate::client::Client;
use crate::config::{
    CacheCommandSettings, EndpointSettings, MockServerSettings, RunSettings, Settings, SummarizeSettings,
    TranslateSettings,
};
use crate::input::spawn_reader;
use crate::mock::{MockOptions, MockServer};
use crate::output::{Destination, Writer, render_jsonl, render_markdown};
use crate::pipeline::{Mode, Pipeline};
use crate::pool::{Pool, RetryPolicy};
use crate::progress::TerminalReporter;
use crate::prompt::Prompts;

/// How a run ended, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Every article done.
    Success,
    /// Some articles failed; their records say why.
    SomeFailed,
    /// The endpoint refused the key or the quota: nothing more could be sent.
    Stopped,
}

/// Run one resolved command.
pub async fn run(settings: Settings) -> Result<Outcome> {
    match settings {
        Settings::Summarize(s) => summarize(s).await,
        Settings::Translate(s) => translate(s).await,
        Settings::MockServer(s) => mock_server(s).await,
        Settings::Cache(s) => cache_command(s).await,
    }
}

/// The endpoint of a run: the real one, or a mock started for it (kept alive by the guard).
async fn connect(endpoint: &EndpointSettings) -> Result<(Client, Option<MockServer>)> {
    let mock = if endpoint.mock {
        let addr = "127.0.0.1:0".parse().expect("a valid address");
        Some(
            MockServer::start(addr, MockOptions::default())
                .await
                .context("cannot start the mock endpoint")?,
        )
    } else {
        None
    };
    let base_url = mock.as_ref().map(MockServer::base_url).unwrap_or_else(|| endpoint.base_url.clone());
    let client = Client::new(endpoint, &base_url)?;
    Ok((client, mock))
}

async fn pipeline(
    client: Client,
    endpoint: &EndpointSettings,
    run: &RunSettings,
    mode: Mode,
) -> Result<Pipeline> {
    let prompts = Prompts::load(run.prompts_dir.as_deref())?;
    let cache = match run.cache.path.clone() {
        Some(path) => {
            let refresh = run.cache.refresh;
            Some(tokio::task::spawn_blocking(move || Cache::open(&path, refresh)).await??)
        }
        None => None,
    };
    // The mock's port changes every run, its answers do not: it is one endpoint to the cache.
    let endpoint_id = if endpoint.mock { "mock".to_string() } else { client.base_url().to_string() };
    let pool = Pool::new(client, run.concurrency, RetryPolicy::default()).with_cache(cache, &endpoint_id);
    Ok(Pipeline::new(pool, prompts, mode))
}

/// Record the run's cache statistics and close the cache; a failure here loses nothing (every
/// answer was committed when it arrived), so it is only a warning.
async fn finish_cache(pipeline: &Pipeline) -> Option<cache::RunStats> {
    let cache = pipeline.pool().cache()?.clone();
    match cache.finish(pipeline.pool().stats().requests_sent).await {
        Ok(stats) => Some(stats),
        Err(e) => {
            eprintln!("ko2en: warning: {e}");
            None
        }
    }
}

fn destination(run: &RunSettings) -> Destination {
    run.output.clone().map(Destination::File).unwrap_or(Destination::Stdout)
}

async fn summarize(settings: SummarizeSettings) -> Result<Outcome> {
    let started = Instant::now();
    let (client, _mock) = connect(&settings.endpoint).await?;
    let pipeline = Arc::new(pipeline(client, &settings.endpoint, &settings.run, Mode::Summarize).await?);
    let writer = Writer::create(destination(&settings.run))?;
    let reporter = TerminalReporter::stderr(settings.run.quiet);
    // A window of articles in flight, a few times the request concurrency so that a slow
    // article does not idle the others; `buffered` yields in input order.
    let window = settings.run.concurrency * 4;
    let reader = spawn_reader(settings.inputs.clone(), window);
    let records = futures::stream::unfold(reader, |mut rx| async move { rx.recv().await.map(|l| (l, rx)) })
        .map(|loaded| {
            let pipeline = Arc::clone(&pipeline);
            async move { tokio::spawn(async move { pipeline.process(loaded).await }).await }
        })
        .buffered(window);
    let mut records = std::pin::pin!(records);
    let (mut ok, mut failed) = (0u64, 0u64);
    while let Some(record) = records.next().await {
        let record = record.context("an article's task panicked")?;
        reporter.article_done(&record);
        if record.failed() {
            failed += 1
        } else {
            ok += 1
        }
        if !writer.write(render_jsonl(&record)).await || pipeline.pool().stop_reason().is_some() {
            break;
        }
    }
    reporter.finish();
    let outcome = writer.finish().await.context("cannot write the output")?;
    let cached = finish_cache(&pipeline).await;
    if !settings.run.quiet {
        // Records keep what each answer cost when it was bought (so a rerun's output is
        // identical); this line says what this run actually paid.
        let pool = pipeline.pool().stats();
        let from_cache = match cached {
            Some(c) => format!(
                " · from cache: {} article{}, {} more answer{}",
                c.articles_hit,
                if c.articles_hit == 1 { "" } else { "s" },
                pool.from_cache,
                if pool.from_cache == 1 { "" } else { "s" }
            ),
            None => String::new(),
        };
        eprintln!(
            "ko2en: {} article{}: {ok} ok, {failed} failed · {} requests sent{from_cache} · {} tokens in, {} out · {:.1} s",
            ok + failed,
            if ok + failed == 1 { "" } else { "s" },
            pool.requests_sent,
            pool.paid.prompt_tokens,
            pool.paid.completion_tokens,
            started.elapsed().as_secs_f64()
        );
    }
    if let Some(reason) = pipeline.pool().stop_reason() {
        eprintln!("ko2en: stopped, nothing more was sent: {reason}");
        return Ok(Outcome::Stopped);
    }
    if outcome.pipe_closed {
        return Ok(Outcome::Success);
    }
    Ok(if failed > 0 { Outcome::SomeFailed } else { Outcome::Success })
}

async fn translate(settings: TranslateSettings) -> Result<Outcome> {
    let (client, _mock) = connect(&settings.endpoint).await?;
    let pipeline = pipeline(client, &settings.endpoint, &settings.run, Mode::Translate).await?;
    let mut reader = spawn_reader(vec![settings.input.clone()], 2);
    let Some(loaded) = reader.recv().await else {
        bail!("{} holds no article", settings.input.display());
    };
    if reader.recv().await.is_some() {
        bail!(
            "translate takes one article, but {} holds several; use `ko2en summarize` for batches",
            settings.input.display()
        );
    }
    let writer = Writer::create(destination(&settings.run))?;
    let record = pipeline.process(loaded).await;
    let bytes = if settings.json { render_jsonl(&record) } else { render_markdown(&record).into_bytes() };
    writer.write(bytes).await;
    writer.finish().await.context("cannot write the output")?;
    finish_cache(&pipeline).await;
    if let Some(error) = &record.error {
        eprintln!("ko2en: {} failed: {}", record.id, error.message);
    }
    Ok(match (pipeline.pool().stop_reason(), record.failed()) {
        (Some(_), _) => Outcome::Stopped,
        (None, true) => Outcome::SomeFailed,
        (None, false) => Outcome::Success,
    })
}

async fn mock_server(settings: MockServerSettings) -> Result<Outcome> {
    let server = MockServer::start(settings.addr, MockOptions::default())
        .await
        .with_context(|| format!("cannot listen on {}", settings.addr))?;
    // The base URL comes first on stdout so scripts and tests can read it.
    println!("{}", server.base_url());
    use std::io::Write;
    std::io::stdout().flush().ok();
    tokio::select! {
        _ = server.wait() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    Ok(Outcome::Success)
}

async fn cache_command(settings: CacheCommandSettings) -> Result<Outcome> {
    let path = settings.path;
    match settings.action {
        CacheAction::Path => println!("{}", path.display()),
        CacheAction::Clear => {
            let target = path.clone();
            if tokio::task::spawn_blocking(move || cache::clear(&target)).await?? {
                println!("ko2en: cleared the cache {}", path.display());
            } else {
                println!("ko2en: there is no cache at {}", path.display());
            }
        }
        CacheAction::Stats => {
            let target = path.clone();
            match tokio::task::spawn_blocking(move || cache::summary(&target)).await?? {
                None => println!("cache: {} (none yet)", path.display()),
                Some(s) => {
                    println!("cache: {}", path.display());
                    println!("entries: {} answers, {} article records", s.answers, s.articles);
                    println!("size on disk: {:.1} MiB", s.bytes_on_disk as f64 / (1024.0 * 1024.0));
                    match s.last_run {
                        Some(r) => println!(
                            "last run: {} requests sent; answers {} hit, {} missed; articles {} hit, {} missed",
                            r.requests_sent,
                            r.answers_hit,
                            r.answers_missed,
                            r.articles_hit,
                            r.articles_missed
                        ),
                        None => println!("last run: none recorded"),
                    }
                }
            }
        }
    }
    Ok(Outcome::Success)
}
