//! Where a command's output goes and in what format: `-o` (never over what the run reads),
//! `--format` or the file's extension, and the date a report states. Part of `config`.

use std::path::{Path, PathBuf};

use super::ConfigError;
use super::layers::Layers;
use crate::cli;
use crate::output::{Destination, Format};

/// Whether `input` holds one article: a file that is not a JSONL batch, or stdin (which holds
/// one unless it is JSONL, known only once read).
pub(super) fn is_one_article(input: &Path) -> bool {
    if input == Path::new("-") {
        return true;
    }
    let name = input.to_string_lossy().to_ascii_lowercase();
    !input.is_dir() && !name.ends_with(".jsonl") && !name.ends_with(".jsonl.gz") && !name.ends_with(".json")
}

/// The output's format: `--format`, else the extension of `-o`'s file, else the command's
/// `default`.
pub(super) fn resolve_format(
    flag: Option<cli::FormatArg>,
    csv_no_bom: bool,
    output: Option<&Path>,
    default: Format,
) -> Result<Format, ConfigError> {
    let csv = Format::Csv { bom: !csv_no_bom };
    let by_flag = flag.map(|f| match f {
        cli::FormatArg::Jsonl => Format::Jsonl,
        cli::FormatArg::Md => Format::Markdown,
        cli::FormatArg::Html => Format::Html,
        cli::FormatArg::Csv => csv,
    });
    let extension = output.and_then(|p| p.extension()).map(|e| e.to_string_lossy().to_ascii_lowercase());
    let by_extension = extension.as_deref().and_then(|e| match e {
        "jsonl" | "json" | "ndjson" => Some(Format::Jsonl),
        "md" | "markdown" => Some(Format::Markdown),
        "html" | "htm" => Some(Format::Html),
        "csv" => Some(csv),
        _ => None,
    });
    let format = by_flag.or(by_extension).unwrap_or(default);
    if csv_no_bom && !matches!(format, Format::Csv { .. }) {
        return Err(ConfigError::Invalid(
            "--csv-no-bom only applies to CSV output (--format csv, or -o FILE.csv)".into(),
        ));
    }
    Ok(format)
}

/// `SOURCE_DATE_EPOCH` (reproducible-builds.org): the time reports say they were made.
pub(super) fn source_date_epoch(layers: &Layers) -> Option<u64> {
    (layers.env)("SOURCE_DATE_EPOCH").and_then(|v| v.trim().parse().ok())
}

/// `-o FILE`, or stdout without it or with `-o -`.
pub(super) fn destination(path: Option<PathBuf>) -> Destination {
    match path {
        Some(path) if path != Path::new("-") => Destination::File(path),
        _ => Destination::Stdout,
    }
}

/// The path a file would have once symlinks and `..` are resolved, whether or not it exists
/// yet (then its directory is resolved). None when not even the directory exists.
fn resolved(path: &Path) -> Option<PathBuf> {
    if let Ok(path) = path.canonicalize() {
        return Some(path);
    }
    let name = path.file_name()?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.canonicalize().ok()?,
        _ => std::env::current_dir().ok()?,
    };
    Some(dir.join(name))
}

/// `-o` must not name what the run reads: an input, an article file inside an input
/// directory, or the cache. The run would destroy it, so it is refused before anything starts.
pub(super) fn check_output(
    output: &Destination,
    inputs: &[PathBuf],
    cache: Option<&Path>,
) -> Result<(), ConfigError> {
    let Destination::File(path) = output else { return Ok(()) };
    let Some(out) = resolved(path) else { return Ok(()) }; // the writer reports a missing directory
    let refuse = |what: String| {
        Err(ConfigError::Invalid(format!(
            "-o {} is {what}: the run would overwrite what it reads; write the output to another file",
            path.display()
        )))
    };
    for input in inputs.iter().filter(|i| *i != Path::new("-")) {
        let Some(read) = resolved(input) else { continue };
        if read == out {
            return refuse(format!("the input {}", input.display()));
        }
        if read.is_dir() && out.starts_with(&read) && crate::input::is_article_file(&out) {
            return refuse(format!("an article file inside the input directory {}", input.display()));
        }
    }
    if let Some(cache) = cache.and_then(resolved) {
        let names = ["", "-wal", "-shm", "-journal"].map(|suffix| {
            let mut name = cache.as_os_str().to_owned();
            name.push(suffix);
            PathBuf::from(name)
        });
        if names.contains(&out) {
            return refuse(format!("the cache {}", cache.display()));
        }
    }
    Ok(())
}
