//! A job through the provider's batch API: `submit` runs a round (see `batch::round`) and sends
//! its files as batches, recorded in the cache so that `status`, `collect` and `cancel` work
//! from any later shell; `collect` reads ended batches into the cache through the same reading
//! as `ingest`, then submits the next round, or sends what remains live (`--finish-live`), or,
//! with nothing left, runs the live command, which then sends nothing and writes exactly the
//! output a live run writes. A batch not collected yet keeps another round from being submitted:
//! the same requests would be paid for twice. What `collect` says goes to stderr, since the
//! output it ends with may go to stdout.

use anyhow::{Context, Result};

use super::batch::{Ingested, articles, ingest_file, round};
use super::{Outcome, batch, connect, say};

/// What `collect` says of the job goes to stderr: the output it ends with may be on stdout.
macro_rules! note {
    ($($arg:tt)*) => { eprintln!("ko2en: {}", format_args!($($arg)*)) };
}
use crate::cache::{BatchJob, Cache};
use crate::client::{BatchInfo, Client};
use crate::config::{JobSettings, JobsSettings};
use crate::numbers::thousands;
use crate::pipeline::Mode;

/// One round's files sent as batches.
pub(super) async fn submit(settings: JobSettings) -> Result<Outcome> {
    // Before the round is even made: it would be the open round's requests again.
    let path = settings.batch.run.cache.path.clone().expect("a batch job has a cache");
    let cache = tokio::task::spawn_blocking(move || Cache::open(&path, false)).await??;
    let endpoint = settings.batch.target.cache_id();
    if let Some(open) = cache.open_batches(&endpoint, &settings.batch.endpoint.model).await?.first() {
        anyhow::bail!(
            "round {} of this job ({}, {}) is not collected yet: `ko2en batch collect` with the same inputs and flags reads it, `ko2en batch cancel` drops it",
            open.round,
            open.id,
            open.status
        );
    }
    cache.finish(0).await?;
    let scratch = tempfile::Builder::new().prefix("ko2en-batch-").tempdir()?;
    let outcome = round(&settings.batch, settings.translate, &scratch.path().join("requests.jsonl")).await?;
    if outcome.interrupted {
        return Ok(Outcome::Interrupted);
    }
    let pool = outcome.pipeline.pool();
    let cache = pool.cache().expect("a batch job has a cache").clone();
    let client = pool.client().clone();
    if outcome.round.requests == 0 {
        say!(
            "nothing left to send: {} done from the cache. `ko2en batch collect` (or the live command) with the same inputs and flags writes the output",
            articles(outcome.done)
        );
        return Ok(Outcome::Success);
    }
    let number = cache.last_round(&endpoint, client.model()).await? + 1;
    send_round(&cache, &client, &endpoint, number, &outcome.round.files, false).await?;
    say!(
        "round {number}: {} request{} for {} sent as {} batch{}; {} done from the cache",
        thousands(outcome.round.requests),
        if outcome.round.requests == 1 { "" } else { "s" },
        articles(outcome.waiting),
        outcome.round.files.len(),
        if outcome.round.files.len() == 1 { "" } else { "es" },
        articles(outcome.done)
    );
    say!(
        "next: `ko2en batch status` to follow, `ko2en batch collect` with the same inputs and flags once it has ended"
    );
    Ok(Outcome::Success)
}

/// Upload each file and create its batch, recording each as it is made (and saying so on
/// stderr when `quiet_stdout`: the output may be going there).
async fn send_round(
    cache: &Cache,
    client: &Client,
    endpoint: &str,
    round: u32,
    files: &[std::path::PathBuf],
    quiet_stdout: bool,
) -> Result<()> {
    for file in files {
        let requests = std::fs::read_to_string(file)?.lines().count() as u64;
        let uploaded = client
            .upload_batch_file(file)
            .await
            .with_context(|| format!("cannot upload {}", file.display()))?;
        let batch = client.create_batch(&uploaded).await.context("cannot create the batch")?;
        let job = BatchJob {
            id: batch.id.clone(),
            endpoint: endpoint.to_string(),
            model: client.model().to_string(),
            round,
            requests,
            status: batch.status.clone(),
            collected: false,
        };
        cache.store_batch(&job).await?;
        let line = format!("  {} · {} requests · {}", batch.id, thousands(requests), batch.status);
        if quiet_stdout {
            eprintln!("ko2en: {line}");
        } else {
            say!("{line}");
        }
    }
    Ok(())
}

/// Read the ended batches; then the next round, what remains live, or the output.
pub(super) async fn collect(settings: JobSettings) -> Result<Outcome> {
    let scratch = tempfile::Builder::new().prefix("ko2en-collect-").tempdir()?;
    let path = settings.batch.run.cache.path.clone().expect("a batch job has a cache");
    let cache = tokio::task::spawn_blocking(move || Cache::open(&path, false)).await??;
    let (clients, _mock) = connect(&settings.batch.target, &settings.batch.endpoint).await?;
    let client = &clients[0];
    let endpoint = settings.batch.target.cache_id();
    let mut pending = 0;
    let mut read = Ingested::default();
    for mut job in cache.open_batches(&endpoint, client.model()).await? {
        let info = client.batch(&job.id).await.with_context(|| format!("cannot look at batch {}", job.id))?;
        job.status = info.status.clone();
        if !info.ended() {
            pending += 1;
            note!("round {} · {}", job.round, describe(&info));
            cache.store_batch(&job).await?;
            continue;
        }
        for (n, file) in [&info.output_file_id, &info.error_file_id].into_iter().flatten().enumerate() {
            let to = scratch.path().join(format!("{}-{n}.jsonl", job.id));
            client
                .download(file, &to)
                .await
                .with_context(|| format!("cannot download the results of {}", job.id))?;
            ingest_file(&cache, &to, &mut read).await?;
        }
        job.collected = true;
        cache.store_batch(&job).await?;
        note!("round {} · {} · collected", job.round, describe(&info));
    }
    if read.stored + read.known + read.failed() > 0 {
        note!("{}", read.render());
    }
    cache.finish(0).await?;
    if pending > 0 {
        note!("next: collect again once {} ended", if pending == 1 { "it has" } else { "they have" });
        return Ok(Outcome::Success);
    }
    // A round none of whose answers could be used says something is wrong with the job (a
    // refused key, an unknown model): another round alike would fail alike.
    if read.stored == 0 && read.failed() > 0 && !settings.finish_live {
        note!(
            "no answer of the round could be used: check the key and the model, then collect again to submit another round (or --finish-live to send what remains live)"
        );
        return Ok(Outcome::SomeFailed);
    }
    let mode = if settings.translate { Mode::Translate } else { Mode::Summarize };
    if settings.finish_live {
        note!("what remains goes live now");
        return batch(settings.batch, mode).await;
    }
    let outcome = round(&settings.batch, settings.translate, &scratch.path().join("requests.jsonl")).await?;
    if outcome.interrupted {
        return Ok(Outcome::Interrupted);
    }
    if outcome.round.requests == 0 {
        // Every answer is in the cache: the live command sends nothing and writes the output,
        // its records priced as the batches were billed.
        let mut job = settings.batch;
        if let Some(price) = job.run.pool.price
            && let (Some(input), Some(output)) = (price.batch_input, price.batch_output)
        {
            job.run.pool.price = Some(crate::price::Price { input, output, cached_input: None, ..price });
        }
        return batch(job, mode).await;
    }
    let pool = outcome.pipeline.pool();
    let cache = pool.cache().expect("a batch job has a cache").clone();
    let number = cache.last_round(&endpoint, client.model()).await? + 1;
    send_round(&cache, pool.client(), &endpoint, number, &outcome.round.files, true).await?;
    note!(
        "round {number}: {} request{} for {} sent ({} done); collect again once it has ended",
        thousands(outcome.round.requests),
        if outcome.round.requests == 1 { "" } else { "s" },
        articles(outcome.waiting),
        articles(outcome.done)
    );
    Ok(Outcome::Success)
}

/// The open batches as the provider has them.
pub(super) async fn status(settings: JobsSettings) -> Result<Outcome> {
    each_open(settings, |client, id| async move { client.batch(&id).await }).await
}

/// Ask the provider to cancel every open batch (a cancelled batch's answers are still collected).
pub(super) async fn cancel(settings: JobsSettings) -> Result<Outcome> {
    each_open(settings, |client, id| async move { client.cancel_batch(&id).await }).await
}

async fn each_open<F, Fut>(settings: JobsSettings, act: F) -> Result<Outcome>
where
    F: Fn(Client, String) -> Fut,
    Fut: std::future::Future<Output = Result<BatchInfo, crate::client::ClientError>>,
{
    let path = settings.cache.clone();
    let cache = tokio::task::spawn_blocking(move || Cache::open(&path, false)).await??;
    let (clients, _mock) = connect(&settings.target, &settings.endpoint).await?;
    let endpoint = settings.target.cache_id();
    let jobs = cache.open_batches(&endpoint, clients[0].model()).await?;
    if jobs.is_empty() {
        say!("no batch of {} at {endpoint} waits to be collected", clients[0].model());
    }
    for mut job in jobs {
        let info =
            act(clients[0].clone(), job.id.clone()).await.with_context(|| format!("batch {}", job.id))?;
        say!("round {} · {}", job.round, describe(&info));
        job.status = info.status;
        cache.store_batch(&job).await?;
    }
    cache.finish(0).await?;
    Ok(Outcome::Success)
}

fn describe(info: &BatchInfo) -> String {
    let (total, done, failed) = info.counts;
    let mut text =
        format!("{} · {} · {} of {} answered", info.id, info.status, thousands(done), thousands(total));
    if failed > 0 {
        text.push_str(&format!(", {} failed", thousands(failed)));
    }
    text
}
