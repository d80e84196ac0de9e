//! Reading articles: `.txt`/`.md` files (first non-empty line is the headline), `.html` pages,
//! `.jsonl` batches (`id`, `title`, `text`; other fields carried in `meta`), directories
//! (recursively, sorted) and stdin. Articles are produced one at a time on a blocking thread
//! and handed over through a bounded channel, so a batch of any size is never held in memory
//! and file I/O never blocks the async runtime. Each is then prepared for the model (`prepare`:
//! cleaned by [`clean`], headline found).

pub mod clean;
pub mod html;
mod load;
mod prepare;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

pub use load::{count_articles, expand_inputs, spawn_reader};
pub use prepare::{Prepared, prepare};

/// Where an article came from: a path (or `-` for stdin) and, for JSONL, its line number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    pub path: PathBuf,
    /// 1-based line of a JSONL file.
    pub line: Option<usize>,
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

/// One article as read, before cleaning.
#[derive(Debug, Clone, PartialEq)]
pub struct Article {
    pub id: String,
    pub source: SourceRef,
    /// The headline, when the source names one (JSONL `title`, HTML `og:title`). A plain text
    /// file's headline is found by cleaning (its first surviving line).
    pub title: Option<String>,
    /// The body as read.
    pub text: String,
    /// Fields of a JSONL line other than `id`, `title` and `text`, untouched.
    pub meta: serde_json::Map<String, serde_json::Value>,
}

/// Why one article could not be read. It becomes that article's error record; the batch goes on.
#[derive(Debug, Clone, thiserror::Error)]
pub enum InputError {
    #[error("cannot read {path}: {message}")]
    Io { path: String, message: String },
    #[error("{path} is not UTF-8 text (invalid byte at offset {offset}); convert it to UTF-8 first")]
    NotUtf8 { path: String, offset: usize },
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
    pub fn kind(&self) -> &'static str {
        match self {
            InputError::Io { .. } => "io",
            InputError::NotUtf8 { .. } => "not_utf8",
            InputError::Binary { .. } => "binary",
            InputError::Empty { .. } => "empty",
            InputError::BadJsonLine { .. } => "bad_json_line",
            InputError::Html { .. } => "html",
        }
    }
}

/// An item of the input stream: the article, or why the thing at `source` could not be read.
#[derive(Debug)]
pub struct Loaded {
    /// Position in the batch (0-based), which fixes the output order.
    pub index: usize,
    /// A fallback id for error records (file stem, or stem:line).
    pub id: String,
    pub source: SourceRef,
    pub article: Result<Article, InputError>,
}
