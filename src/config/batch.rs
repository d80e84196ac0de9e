//! `ko2en batch`'s settings: a round's export (the job it is a round of, and the batch file)
//! and the ingestion of results (which files, which cache).

use std::path::PathBuf;

use super::layers::Layers;
use super::{BatchSettings, ConfigError, resolve_cache, resolve_job};
use crate::cli;
use crate::output::Format;

/// `ko2en batch export`: the run of `batch`, its requests written to `file`.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    pub(crate) batch: BatchSettings,
    /// Whether the job is `translate` (else `summarize`).
    pub(crate) translate: bool,
    pub(crate) file: PathBuf,
}

/// `ko2en batch submit` and `collect`: the job, sent through the provider's batch API.
#[derive(Debug, Clone)]
pub struct JobSettings {
    pub(crate) batch: BatchSettings,
    pub(crate) translate: bool,
    /// `collect --finish-live`: what remains goes live instead of into another round.
    pub(crate) finish_live: bool,
}

/// `ko2en batch status` and `cancel`: the endpoint's open batches.
#[derive(Debug, Clone)]
pub struct JobsSettings {
    pub(crate) target: super::Target,
    pub(crate) endpoint: crate::client::EndpointSettings,
    pub(crate) cache: PathBuf,
}

/// `ko2en batch ingest`.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub(crate) results: Vec<PathBuf>,
    pub(crate) cache: PathBuf,
}

pub(super) fn resolve_export(
    args: cli::BatchExportArgs,
    layers: &Layers,
) -> Result<ExportSettings, ConfigError> {
    let Some(file) = args.run.output.clone() else {
        return Err(ConfigError::Invalid(
            "batch export writes the round's requests to a file: give -o FILE.jsonl".into(),
        ));
    };
    if args.run.dry_run {
        return Err(ConfigError::Invalid("batch export sends nothing already: leave out --dry-run".into()));
    }
    if args.run.format.is_some_and(|f| f != cli::FormatArg::Jsonl) {
        return Err(ConfigError::Invalid("a batch file is JSONL: leave out --format".into()));
    }
    // The requests file is JSONL whatever its name; -o is checked against the inputs as any
    // output is.
    let run = cli::RunArgs { format: Some(cli::FormatArg::Jsonl), ..args.run };
    let (target, endpoint, run, article, read) =
        resolve_job(args.endpoint, run, args.article, Format::Jsonl, &args.inputs, layers)?;
    if run.cache.path.is_none() {
        return Err(ConfigError::Invalid(
            "batch rounds meet in the answer cache: leave out --no-cache".into(),
        ));
    }
    Ok(ExportSettings {
        batch: BatchSettings { inputs: args.inputs, target, endpoint, run, article, read },
        translate: args.task == cli::TaskArg::Translate,
        file,
    })
}

pub(super) fn resolve_ingest(
    args: cli::BatchIngestArgs,
    layers: &Layers,
) -> Result<IngestSettings, ConfigError> {
    for path in &args.results {
        if !path.is_file() {
            return Err(ConfigError::Invalid(format!(
                "{} is not a file: give the results the batch engine wrote",
                path.display()
            )));
        }
    }
    let Some(cache) = resolve_cache(args.cache, layers)?.path else {
        return Err(ConfigError::Invalid("ingest stores answers in the cache: leave out --no-cache".into()));
    };
    Ok(IngestSettings { results: args.results, cache })
}

pub(super) fn resolve_job_settings(
    args: cli::BatchExportArgs,
    finish_live: bool,
    layers: &Layers,
) -> Result<JobSettings, ConfigError> {
    if args.endpoint.mock {
        return Err(ConfigError::Invalid(
            "--mock lives as long as one command, and a batch outlives it: run `ko2en mock-server` and give its URL with --base-url".into(),
        ));
    }
    if args.run.dry_run {
        return Err(ConfigError::Invalid("leave out --dry-run: `ko2en summarize --dry-run` says what a job would cost, batch prices included".into()));
    }
    let (target, endpoint, run, article, read) =
        resolve_job(args.endpoint, args.run, args.article, Format::Jsonl, &args.inputs, layers)?;
    if run.cache.path.is_none() {
        return Err(ConfigError::Invalid(
            "batch rounds meet in the answer cache: leave out --no-cache".into(),
        ));
    }
    Ok(JobSettings {
        batch: BatchSettings { inputs: args.inputs, target, endpoint, run, article, read },
        translate: args.task == cli::TaskArg::Translate,
        finish_live,
    })
}

pub(super) fn resolve_jobs(args: cli::BatchJobsArgs, layers: &Layers) -> Result<JobsSettings, ConfigError> {
    if args.endpoint.mock {
        return Err(ConfigError::Invalid(
            "--mock lives as long as one command, and a batch outlives it: run `ko2en mock-server` and give its URL with --base-url".into(),
        ));
    }
    let (target, endpoint) = super::resolve_endpoint(args.endpoint, layers)?;
    let Some(cache) = resolve_cache(args.cache, layers)?.path else {
        return Err(ConfigError::Invalid(
            "a job's batches are recorded in the cache: leave out --no-cache".into(),
        ));
    };
    Ok(JobsSettings { target, endpoint, cache })
}
