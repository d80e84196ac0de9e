//! Reading articles: `.txt`/`.md` files (first non-empty line is the headline), `.html` pages,
//! `.jsonl` batches (`id`, `title`, `text`; other fields carried in `meta`), directories
//! (recursively, sorted) and stdin. Articles are produced one at a time on a blocking thread
//! and handed over through a bounded channel, so a batch of any size is never held in memory
//! and file I/O never blocks the async runtime. Each is then prepared for the model (`prepare`:
//! cleaned by [`clean`], headline found).

pub(crate) mod clean;
mod decode;
pub(crate) mod html;
mod json;
mod load;
mod prepare;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use decode::ReadSettings;
pub(crate) use decode::encoding_for_label;
pub(crate) use load::{check_inputs, count_articles, is_article_file, spawn_reader};
pub(crate) use prepare::{Prepared, prepare};

/// Where an article came from: a path (or `-` for stdin) and, for JSONL, its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceRef {
    pub(crate) path: PathBuf,
    /// 1-based line of a JSONL file.
    pub(crate) line: Option<usize>,
}

impl fmt::Display for SourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path =
            if self.path == Path::new("-") { "<stdin>".into() } else { self.path.display().to_string() };
        match self.line {
            Some(line) => write!(f, "{path}:{line}"),
            None => f.write_str(&path),
        }
    }
}

impl Serialize for SourceRef {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The form it is written in: `path`, `path:line`, `<stdin>` or `<stdin>:line`.
impl<'de> serde::Deserialize<'de> for SourceRef {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let (path, line) = match text.rsplit_once(':') {
            Some((path, line))
                if !path.is_empty() && line.bytes().all(|b| b.is_ascii_digit()) && !line.is_empty() =>
            {
                (path, line.parse().ok())
            }
            _ => (text.as_str(), None),
        };
        let path = if path == "<stdin>" { PathBuf::from("-") } else { PathBuf::from(path) };
        Ok(SourceRef { path, line })
    }
}

/// One article as read, before cleaning.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Article {
    pub(crate) id: String,
    pub(crate) source: SourceRef,
    /// The headline, when the source names one (JSONL `title`, HTML `og:title`). A plain text
    /// file's headline is found by cleaning (its first surviving line).
    pub(crate) title: Option<String>,
    /// The body as read.
    pub(crate) text: String,
    /// Fields of a JSONL line other than `id`, `title` and `text`, untouched.
    pub(crate) meta: serde_json::Map<String, serde_json::Value>,
}

/// Why one article could not be read. It becomes that article's error record; the batch goes on.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum InputError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error(
        "{path} is not text in any encoding tried ({tried}; invalid byte at offset {offset}); convert it to \
         UTF-8, or name its encoding with --input-encoding"
    )]
    NotText { path: String, offset: usize, tried: String },
    #[error("{path} looks like a binary file, not an article")]
    Binary { path: String },
    #[error("{location} is empty: there is no article to summarize")]
    Empty { location: String },
    #[error(
        "{location}: not a valid JSON article line ({message}); expected {{\"id\": ..., \"title\": ..., \"text\": ...}}"
    )]
    BadJsonLine { location: String, message: String },
    #[error("{location}: cannot extract an article from this HTML page ({message})")]
    Html { location: String, message: String },
}

impl InputError {
    /// Stable machine-readable kind for the record's `error.kind`.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            InputError::Io { .. } => "io",
            InputError::NotText { .. } => "not_utf8",
            InputError::Binary { .. } => "binary",
            InputError::Empty { .. } => "empty",
            InputError::BadJsonLine { .. } => "bad_json_line",
            InputError::Html { .. } => "html",
        }
    }
}

/// An item of the input stream, in input order: the article, or why the thing at `source`
/// could not be read.
#[derive(Debug)]
pub(crate) struct Loaded {
    /// A fallback id for error records (file stem, or stem:line).
    pub(crate) id: String,
    pub(crate) source: SourceRef,
    pub(crate) article: Result<Article, InputError>,
}
