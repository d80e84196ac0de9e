//! Writing results: one exporter per format, behind [`Exporter`], and one format-blind writer
//! thread (`writer`). An exporter renders to bytes, so every format is checked byte for byte;
//! its `start` and `end` give formats with a header or a footer (HTML, CSV) their place.
//!
//! Adding a format is one file here and one [`Format`] variant.

mod csv;
mod html;
mod jsonl;
mod markdown;
mod pairs;
mod writer;

use std::io;
use std::path::PathBuf;

pub(crate) use writer::{WriteOutcome, Writer};

use crate::record::Record;

/// Renders records in one format. Stateful, so a footer can sum up what it saw.
pub(crate) trait Exporter: Send {
    /// Bytes before the first record.
    fn start(&mut self) -> Vec<u8> {
        Vec::new()
    }
    /// One record.
    fn record(&mut self, record: &Record) -> Vec<u8>;
    /// Bytes after the last record.
    fn end(&mut self) -> Vec<u8> {
        Vec::new()
    }
}

/// The formats records can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// One JSON record per line.
    Jsonl,
    /// A readable document per record: a digest of the batch.
    Markdown,
    /// One self-contained report to read.
    Html,
    /// A row per record, for spreadsheets; `bom`: a UTF-8 byte-order mark first (for Excel).
    Csv { bom: bool },
}

impl Format {
    fn exporter(self, settings: &OutputSettings) -> Box<dyn Exporter> {
        match self {
            Format::Jsonl => Box::new(jsonl::Jsonl),
            Format::Markdown => Box::new(markdown::Markdown::default()),
            Format::Html => Box::new(html::Html::new(settings.source_date_epoch)),
            Format::Csv { bom } => Box::new(csv::Csv { bom }),
        }
    }
}

/// Where output goes.
#[derive(Debug, Clone)]
pub(crate) enum Destination {
    Stdout,
    File(PathBuf),
}

/// Where records go and in what format: the output's own settings.
#[derive(Debug, Clone)]
pub(crate) struct OutputSettings {
    pub(crate) destination: Destination,
    pub(crate) format: Format,
    /// `SOURCE_DATE_EPOCH`: the time a report says it was made, for reproducible output.
    pub(crate) source_date_epoch: Option<u64>,
}

/// Records on their way out: an exporter in front of the writer thread.
pub(crate) struct Output {
    exporter: Box<dyn Exporter>,
    writer: Writer,
}

impl Output {
    /// Open the destination now, so that an unwritable path fails before anything is paid for.
    pub(crate) fn create(settings: &OutputSettings) -> io::Result<Output> {
        let mut exporter = settings.format.exporter(settings);
        let writer = Writer::create(settings.destination.clone(), exporter.start())?;
        Ok(Output { exporter, writer })
    }

    /// Queue one record. False when the writer has stopped (closed pipe or I/O error: `finish`
    /// says which), so the caller can stop producing.
    pub(crate) async fn write(&mut self, record: &Record) -> bool {
        let bytes = self.exporter.record(record);
        self.writer.write(bytes).await
    }

    /// Write the format's end, flush and close. A file is moved into place only when
    /// `complete` (every input article has its record); otherwise it stays `FILE.partial`.
    pub(crate) async fn finish(mut self, complete: bool) -> io::Result<WriteOutcome> {
        let end = self.exporter.end();
        if !end.is_empty() {
            self.writer.write(end).await;
        }
        self.writer.finish(complete).await
    }
}
