//! `ko2en batch`: a job run in rounds through a batch engine. `export` runs the job with every
//! request the cache lacks written to a batch file instead of sent (see `pool::defer`): the
//! articles whose answers are all in the cache are done, the others wait for this round's
//! answers, and the next round asks what those answers make possible (a long article's
//! combination after its parts, passages after the names, a repair after a failed check).
//! `ingest` reads the engine's results into the answer cache, through the same reading as a
//! live answer. When a round has nothing left to ask, the live command with the same flags
//! writes the output from the cache, sending nothing: the same output as a live run.

use std::io::BufRead;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use futures::StreamExt;

use super::{Job, Outcome, say, start};
use crate::cache::{Cache, Key, StoredAnswer};
use crate::config::{BatchSettings, ExportSettings, IngestSettings};
use crate::numbers::thousands;
use crate::pipeline::Mode;
use crate::pool::{CallError, Defer, Round};
use crate::record::Usage;

/// What one round of a job came to.
pub(super) struct RoundOutcome {
    pub(super) round: Round,
    /// Articles done from the cache, waiting for this round's answers, failed for good.
    pub(super) done: u64,
    pub(super) waiting: u64,
    pub(super) failed: u64,
    /// The pipeline it ran through: its client and cache, for what comes next.
    pub(super) pipeline: Arc<crate::pipeline::Pipeline>,
    /// Interrupted by a signal: the round's files are not to be used.
    pub(super) interrupted: bool,
}

/// Run `batch` as a round: every request the cache lacks written to `file` (and its numbered
/// siblings), nothing sent.
pub(super) async fn round(batch: &BatchSettings, translate: bool, file: &Path) -> Result<RoundOutcome> {
    let mode = if translate { Mode::Translate } else { Mode::Summarize };
    let Job { pipeline, reporter, shutdown, records, mock: _mock } = start(
        batch,
        mode,
        Some(Defer::to(file, crate::client::batch_url(&batch.endpoint.protocol.url_shape))),
        false,
    )
    .await?;
    let deferred = CallError::Deferred.kind();
    let (done, waiting, failed) = records
        .fold((0u64, 0u64, 0u64), |(done, waiting, failed), record| async move {
            match &record.error {
                None => (done + 1, waiting, failed),
                Some(e) if e.kind == deferred => (done, waiting + 1, failed),
                Some(_) => (done, waiting, failed + 1),
            }
        })
        .await;
    reporter.finish();
    let round =
        pipeline.pool().finish_round().expect("a round defers").context("cannot write the batch file")?;
    Ok(RoundOutcome { round, done, waiting, failed, pipeline, interrupted: shutdown.why().is_some() })
}

/// `N articles`.
pub(super) fn articles(n: u64) -> String {
    format!("{} article{}", thousands(n), if n == 1 { "" } else { "s" })
}

/// One round: its requests in the batch file, and what to do next on stdout.
pub(super) async fn export(settings: ExportSettings) -> Result<Outcome> {
    let ExportSettings { batch, translate, file } = settings;
    let outcome = round(&batch, translate, &file).await?;
    if outcome.interrupted {
        return Ok(Outcome::Interrupted);
    }
    let RoundOutcome { round, done, waiting, failed, .. } = outcome;
    let task = if translate { "translate" } else { "summarize" };
    if round.requests == 0 {
        say!(
            "nothing left to send: {} done from the cache{}. Run `ko2en {task}` with the same inputs and flags to write the output; it sends nothing",
            articles(done),
            if failed > 0 {
                format!(", {} that cannot be done (unreadable, too long…)", articles(failed))
            } else {
                String::new()
            }
        );
        return Ok(Outcome::Success);
    }
    let files: Vec<String> = round.files.iter().map(|f| f.display().to_string()).collect();
    say!(
        "{} request{} for {} written to {}; {} done from the cache{}",
        thousands(round.requests),
        if round.requests == 1 { "" } else { "s" },
        articles(waiting),
        files.join(", "),
        articles(done),
        if failed > 0 { format!(", {} that cannot be done", articles(failed)) } else { String::new() }
    );
    say!(
        "next: answer {} with your batch engine (custom_id is the cache key), `ko2en batch ingest RESULTS.jsonl`, then export again",
        if files.len() == 1 { "it" } else { "them" }
    );
    Ok(Outcome::Success)
}

/// What the lines of a results file came to.
#[derive(Debug, Default)]
pub(super) struct Ingested {
    pub(super) stored: u64,
    /// Answers the cache had already (a file ingested twice adds nothing).
    pub(super) known: u64,
    /// Requests the engine did not answer usably, by reason: asked again in the next round.
    failed: std::collections::BTreeMap<String, u64>,
    /// Lines that are not results of ko2en's requests.
    foreign: u64,
}

/// Read results files into the cache: each answer under its request's key (`custom_id`),
/// read as a live answer is (one cut at its budget, empty or refused is not kept).
pub(super) async fn ingest(settings: IngestSettings) -> Result<Outcome> {
    let path = settings.cache.clone();
    let cache = tokio::task::spawn_blocking(move || Cache::open(&path, false)).await??;
    let mut total = Ingested::default();
    for results in &settings.results {
        ingest_file(&cache, results, &mut total).await?;
    }
    cache.finish(0).await?;
    say!("{}", total.render());
    say!(
        "next: export again for the next round; when nothing is left, the same `ko2en summarize` or `translate` writes the output"
    );
    Ok(if total.stored == 0 && total.known == 0 && total.failed() == 0 {
        Outcome::SomeFailed
    } else {
        Outcome::Success
    })
}

impl Ingested {
    pub(super) fn failed(&self) -> u64 {
        self.failed.values().sum()
    }

    pub(super) fn render(&self) -> String {
        let mut line =
            format!("stored {} answer{}", thousands(self.stored), if self.stored == 1 { "" } else { "s" });
        if self.known > 0 {
            line.push_str(&format!(", {} already in the cache", thousands(self.known)));
        }
        if self.failed() > 0 {
            let reasons: Vec<String> =
                self.failed.iter().map(|(why, n)| format!("{} {why}", thousands(*n))).collect();
            line.push_str(&format!(
                ", {} not usable ({}): asked again in the next round",
                thousands(self.failed()),
                reasons.join(", ")
            ));
        }
        if self.foreign > 0 {
            line.push_str(&format!(", {} lines not ko2en's skipped", thousands(self.foreign)));
        }
        line
    }
}

/// Read one results file into `cache`, counting into `total`.
pub(super) async fn ingest_file(cache: &Cache, results: &Path, total: &mut Ingested) -> Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Result<(Key, serde_json::Value), String>>(256);
    let file = results.to_path_buf();
    // Reading and parsing is blocking work: on its own thread, results handed over.
    let reader = tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        let lines = std::io::BufReader::new(std::fs::File::open(&file)?).lines();
        for line in lines {
            let line = line?;
            if line.trim().is_empty() {
                continue;
            }
            if tx.blocking_send(result_of(&line)).is_err() {
                break;
            }
        }
        Ok(())
    });
    while let Some(result) = rx.recv().await {
        let (key, response) = match result {
            Ok(parsed) => parsed,
            Err(reason) if reason.is_empty() => {
                total.foreign += 1;
                continue;
            }
            Err(reason) => {
                *total.failed.entry(reason).or_default() += 1;
                continue;
            }
        };
        if cache.lookup(key).await.is_some() {
            total.known += 1;
            continue;
        }
        match crate::client::answer_of(&response) {
            Ok(answer) => {
                let usage = Usage::new(answer.prompt_tokens, answer.completion_tokens, 1);
                cache.store_answer(key, &StoredAnswer { content: answer.content, usage }).await?;
                total.stored += 1;
            }
            Err(e) => *total.failed.entry(e.kind().to_string()).or_default() += 1,
        }
    }
    reader.await?.with_context(|| format!("cannot read {}", results.display()))
}

/// A results line as a key and its chat completion, else why not: the empty string for a line
/// that is not a result of a ko2en request, a reason for a request the engine failed.
fn result_of(line: &str) -> Result<(Key, serde_json::Value), String> {
    let value: serde_json::Value = serde_json::from_str(line).map_err(|_| String::new())?;
    let key =
        value.get("custom_id").and_then(|c| c.as_str()).and_then(Key::from_hex).ok_or_else(String::new)?;
    if let Some(error) = value.get("error").filter(|e| !e.is_null()) {
        let code = error.get("code").and_then(|c| c.as_str()).unwrap_or("error");
        return Err(code.to_string());
    }
    let response = value.get("response").ok_or_else(|| "no_response".to_string())?;
    let status = response.get("status_code").and_then(|s| s.as_u64()).unwrap_or(200);
    if status != 200 {
        return Err(format!("http_{status}"));
    }
    let body = response.get("body").cloned().ok_or_else(|| "no_response".to_string())?;
    Ok((key, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_lines_are_read_as_openai_and_vllm_write_them() {
        let key = "ab".repeat(32);
        let ok = format!(
            r#"{{"id":"vllm-1","custom_id":"{key}","response":{{"status_code":200,"request_id":"r","body":{{"choices":[]}}}},"error":null}}"#
        );
        assert_eq!(result_of(&ok).map(|(k, _)| k.hex()), Ok(key.clone()));
        let failed = format!(
            r#"{{"custom_id":"{key}","response":null,"error":{{"code":"batch_expired","message":"…"}}}}"#
        );
        assert_eq!(result_of(&failed).unwrap_err(), "batch_expired");
        let refused =
            format!(r#"{{"custom_id":"{key}","response":{{"status_code":400,"body":{{}}}},"error":null}}"#);
        assert_eq!(result_of(&refused).unwrap_err(), "http_400");
        assert_eq!(result_of(r#"{"custom_id":"request-1","response":{}}"#).unwrap_err(), "", "not ko2en's");
        assert_eq!(result_of("not json").unwrap_err(), "");
    }
}
