//! `ko2en eval`: translations scored against references. Runs asked for are made first (the
//! same batch as `translate`, answers cached as there), then every results file is scored off
//! the async runtime and the scores printed, two runs side by side.

use std::time::Instant;

use anyhow::Result;

use super::{Outcome, batch, say};
use crate::config::{EvalSettings, Scored};
use crate::eval::RunScores;
use crate::output::{Destination, Format};
use crate::pipeline::Mode;

/// The scores on stdout; below `--fail-under`, exit 1. A run that stopped (a wrong key, a
/// signal) is not scored: its scores would mislead.
pub(super) async fn eval(settings: EvalSettings) -> Result<Outcome> {
    // Results of runs made here without -o: scored, then removed with the directory.
    let scratch = tempfile::Builder::new().prefix("ko2en-eval-").tempdir()?;
    let mut scored = Vec::new();
    let mut kept = None;
    let mut dry = false;
    for (i, what) in [Some(settings.scored), settings.compare].into_iter().flatten().enumerate() {
        match what {
            Scored::Results(path) => scored.push((path, None)),
            // Counted, not made: nothing to score.
            Scored::Run(run) if run.run.dry_run => {
                if let stopped @ (Outcome::Interrupted | Outcome::Stopped) =
                    Box::pin(super::dry::dry_run(*run, Mode::Translate)).await?
                {
                    return Ok(stopped);
                }
                dry = true;
            }
            Scored::Run(mut run) => {
                let path = match &run.run.output.destination {
                    Destination::File(path) => {
                        kept = Some(path.clone());
                        path.clone()
                    }
                    Destination::Stdout => scratch.path().join(format!("run-{}.jsonl", i + 1)),
                };
                run.run.output.destination = Destination::File(path.clone());
                run.run.output.format = Format::Jsonl;
                let run_input = run.inputs[0].clone();
                let started = Instant::now();
                match Box::pin(batch(*run, Mode::Translate)).await? {
                    Outcome::Success | Outcome::SomeFailed => {}
                    stopped => return Ok(stopped),
                }
                scored.push((path, Some((run_input, started.elapsed()))));
            }
        }
    }
    if dry {
        return Ok(Outcome::Success);
    }
    let runs = tokio::task::spawn_blocking(move || {
        scored
            .iter()
            .map(|(path, made)| {
                let scores = RunScores::read(path)?;
                Ok(match made {
                    Some((input, took)) => scores.made(input, *took),
                    None => scores,
                })
            })
            .collect::<Result<Vec<_>, String>>()
    })
    .await?
    .map_err(anyhow::Error::msg)?;
    for (i, run) in runs.iter().enumerate() {
        if runs.len() > 1 {
            say!("{}", if i == 0 { "A:" } else { "B:" });
        }
        say!("{}", run.render().trim_end());
    }
    if let [a, b] = &runs[..] {
        say!("{}", a.compare(b).trim_end());
    }
    if let Some(path) = kept {
        say!("results of A kept in {}", path.display());
    }
    if let Some(floor) = settings.fail_under
        && runs[0].chrf() < floor
    {
        eprintln!("ko2en: chrF++ {:.1} is under --fail-under {floor}", runs[0].chrf());
        return Ok(Outcome::SomeFailed);
    }
    Ok(Outcome::Success)
}
