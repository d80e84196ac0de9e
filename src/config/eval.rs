//! `ko2en eval`'s settings: what is scored (a results file as it is, or a translation run made
//! first from articles with references), what beside it, and the bar for `--fail-under`.
//!
//! A run made by eval is the `translate` the same command line would make; a second one
//! (`--compare-model`, `--compare-profile`) is that command with one thing changed, so that the
//! two differ by what the user is choosing between and nothing else.

use std::io::BufRead;
use std::path::{Path, PathBuf};

use super::layers::Layers;
use super::{BatchSettings, ConfigError, resolve_job};
use crate::cli;
use crate::output::Format;

/// The field of an article's JSONL line that holds its reference English.
const REFERENCE: &str = "en_reference";

/// What `ko2en eval` was asked.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    pub(crate) scored: Scored,
    /// A second run, scored beside the first.
    pub(crate) compare: Option<Scored>,
    /// The corpus chrF++ below which the command fails (exit 1).
    pub(crate) fail_under: Option<f64>,
}

/// One run's translations to score.
#[derive(Debug, Clone)]
pub(crate) enum Scored {
    /// The results file of an earlier `translate`.
    Results(PathBuf),
    /// Articles to translate first; the output is the results file when `-o` gave one, else a
    /// scratch file the scoring reads and removes.
    Run(Box<BatchSettings>),
}

impl EvalSettings {
    /// The runs it makes.
    pub(crate) fn runs(&self) -> impl Iterator<Item = &BatchSettings> {
        [Some(&self.scored), self.compare.as_ref()].into_iter().flatten().filter_map(|s| match s {
            Scored::Run(run) => Some(&**run),
            Scored::Results(_) => None,
        })
    }
}

pub(super) fn resolve_eval(
    args: cli::EvalArgs,
    config: Option<PathBuf>,
    profile: Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<EvalSettings, ConfigError> {
    if let Some(floor) = args.fail_under
        && !(0.0..=100.0).contains(&floor)
    {
        return Err(ConfigError::Invalid(format!("--fail-under is a chrF++ score, 0 to 100, not {floor}")));
    }
    for path in std::iter::once(&args.input).chain(&args.compare) {
        if !path.is_file() {
            return Err(ConfigError::Invalid(format!(
                "{} is not a file: give articles whose JSONL lines carry en_reference, or the results `ko2en translate` wrote for them",
                path.display()
            )));
        }
    }
    let compare = args.compare.map(Scored::Results);
    if !holds_articles(&args.input)? {
        if args.compare_model.is_some() || args.compare_profile.is_some() {
            return Err(ConfigError::Invalid(format!(
                "{} holds results: --compare-model and --compare-profile translate articles, so give the articles with en_reference (or compare two results files with --compare)",
                args.input.display()
            )));
        }
        if args.run.output.is_some() {
            return Err(ConfigError::Invalid(format!(
                "{} holds results already: -o keeps the results of a run eval makes from articles",
                args.input.display()
            )));
        }
        return Ok(EvalSettings {
            scored: Scored::Results(args.input),
            compare,
            fail_under: args.fail_under,
        });
    }
    let inputs = std::slice::from_ref(&args.input);
    let run = |endpoint: cli::EndpointArgs, run: cli::RunArgs, profile: Option<String>| {
        let layers = Layers::load(config.clone(), profile, env)?;
        let (target, endpoint, run, article, mut read) =
            resolve_job(endpoint, run, args.article.clone(), Format::Jsonl, inputs, &layers)?;
        // Only what can be scored is translated.
        read.only_with = Some(REFERENCE);
        Ok::<_, ConfigError>(Box::new(BatchSettings {
            inputs: inputs.to_vec(),
            target,
            endpoint,
            run,
            article,
            read,
        }))
    };
    let first = run(args.endpoint.clone(), args.run.clone(), profile.clone())?;
    if first.run.output.format != Format::Jsonl {
        return Err(ConfigError::Invalid(
            "eval keeps a run's results as JSONL (`ko2en report` makes a report of them): give -o FILE.jsonl"
                .into(),
        ));
    }
    let compare = if args.compare_model.is_some() || args.compare_profile.is_some() {
        let mut endpoint = args.endpoint;
        if let Some(model) = args.compare_model {
            endpoint.model = Some(model);
        }
        // -o keeps the first run's results; the second's are scored and let go (its answers
        // are in the cache: `translate` with its settings writes them without sending).
        let second =
            run(endpoint, cli::RunArgs { output: None, ..args.run }, args.compare_profile.or(profile))?;
        if second.endpoint.model == first.endpoint.model
            && second.target.cache_id() == first.target.cache_id()
        {
            return Err(ConfigError::Invalid(format!(
                "both runs would send to the same endpoint with model {}: --compare-model or --compare-profile must change one",
                first.endpoint.model
            )));
        }
        Some(Scored::Run(second))
    } else {
        compare
    };
    Ok(EvalSettings { scored: Scored::Run(first), compare, fail_under: args.fail_under })
}

/// Whether `path` holds articles (a first line with a text, and no usage as a record has)
/// rather than results;
/// articles must carry a reference somewhere, or a run would be paid for and nothing scored.
fn holds_articles(path: &Path) -> Result<bool, ConfigError> {
    let unreadable = |e: std::io::Error| ConfigError::Invalid(format!("cannot read {}: {e}", path.display()));
    let file = std::fs::File::open(path).map_err(unreadable)?;
    let mut lines = std::io::BufReader::new(file).lines();
    let first = loop {
        match lines.next() {
            None => {
                return Err(ConfigError::Invalid(format!("{} is empty: nothing to score", path.display())));
            }
            Some(line) => {
                let line = line.map_err(unreadable)?;
                if !line.trim().is_empty() {
                    break line;
                }
            }
        }
    };
    let value: Option<serde_json::Value> = serde_json::from_str(&first).ok();
    let article = value.is_some_and(|v| v.get("text").is_some() && v.get("usage").is_none());
    if !article {
        return Ok(false);
    }
    // A reference on the first line, or on any other: read until one is found.
    let referenced = |line: &str| {
        serde_json::from_str::<serde_json::Value>(line)
            .ok()
            .is_some_and(|v| v.get("en_reference").and_then(serde_json::Value::as_str).is_some())
    };
    if referenced(&first) {
        return Ok(true);
    }
    for line in lines {
        let line = line.map_err(unreadable)?;
        if line.contains("en_reference") && referenced(&line) {
            return Ok(true);
        }
    }
    Err(ConfigError::Invalid(format!(
        "no article of {} carries en_reference, so nothing could be scored: add the reference English to each JSONL line (the README says how to bring FLORES-200 or NTREX)",
        path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_are_told_from_results_and_need_a_reference() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path
        };
        let late = write("late.jsonl", "\n{\"text\":\"가\"}\n{\"text\":\"나\",\"en_reference\":\"B\"}\n");
        assert!(holds_articles(&late).unwrap(), "a reference on a later line is enough");
        let results = write("results.jsonl", "{\"id\":\"a\",\"source\":\"x:1\",\"usage\":{}}\n");
        assert!(!holds_articles(&results).unwrap());
        // A corpus line naming where it comes from is still an article.
        let corpus = write("corpus.jsonl", "{\"text\":\"가\",\"source\":\"NTREX\",\"en_reference\":\"A\"}\n");
        assert!(holds_articles(&corpus).unwrap());
        assert!(!holds_articles(&results).unwrap());
        let bare = write("bare.jsonl", "{\"text\":\"가\"}\n{\"text\":\"나\",\"note\":\"en_reference\"}\n");
        let error = holds_articles(&bare).unwrap_err().to_string();
        assert!(error.contains("no article of") && error.contains("en_reference"), "{error}");
        let empty = write("empty.jsonl", "\n\n");
        assert!(holds_articles(&empty).unwrap_err().to_string().contains("is empty"));
    }
}
