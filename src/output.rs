//! Writing results. Records render to bytes (so each format can be checked exactly) and are
//! written by one blocking thread, never on the async runtime. A file destination is written
//! as `FILE.partial` and renamed only when complete, so a crash never leaves a truncated file
//! under the name the user asked for. A closed stdout pipe (`ko2en … | head`) ends the run
//! quietly.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tokio::sync::mpsc;

use crate::record::Record;

/// One JSONL line.
pub fn render_jsonl(record: &Record) -> Vec<u8> {
    let mut line = serde_json::to_vec(record).expect("a record always serializes");
    line.push(b'\n');
    line
}

/// A translated article as readable Markdown: English headline, translation, then the
/// summaries in both languages.
pub fn render_markdown(record: &Record) -> String {
    let mut out = String::new();
    let title = record.title_en.as_deref().or(record.title_ko.as_deref()).unwrap_or(&record.id);
    out.push_str(&format!("# {title}\n\n"));
    if let Some(ko) = record.title_ko.as_deref().filter(|ko| Some(*ko) != record.title_en.as_deref()) {
        out.push_str(&format!("*{ko}*\n\n"));
    }
    if let Some(byline) = byline_line(record) {
        out.push_str(&format!("{byline}\n\n"));
    }
    if let Some(error) = &record.error {
        out.push_str(&format!("> **Error ({}):** {}\n\n", error.kind, error.message));
    }
    if let Some(translation) = &record.translation_en {
        out.push_str("## Translation\n\n");
        for paragraph in translation.split('\n').map(str::trim).filter(|p| !p.is_empty()) {
            out.push_str(paragraph);
            out.push_str("\n\n");
        }
    }
    if let Some(summary) = &record.summary_en {
        out.push_str(&format!("## Summary (English)\n\n{summary}\n\n"));
    }
    if !record.key_points_en.is_empty() {
        out.push_str("## Key points\n\n");
        for point in &record.key_points_en {
            out.push_str(&format!("- {point}\n"));
        }
        out.push('\n');
    }
    if let Some(summary) = &record.summary_ko {
        out.push_str(&format!("## 요약 (Korean)\n\n{summary}\n\n"));
    }
    if !record.warnings.is_empty() {
        out.push_str("## Warnings\n\n");
        for w in &record.warnings {
            out.push_str(&format!("- {}: {}\n", w.kind, w.message));
        }
        out.push('\n');
    }
    out.push_str(&format!(
        "---\n*{} · {} prompt + {} completion tokens in {} request{} · source: {}*\n",
        record.model,
        record.usage.prompt_tokens,
        record.usage.completion_tokens,
        record.usage.requests,
        if record.usage.requests == 1 { "" } else { "s" },
        record.source
    ));
    out
}

/// Where output goes.
#[derive(Debug, Clone)]
pub enum Destination {
    Stdout,
    File(PathBuf),
}

/// How writing ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriteOutcome {
    /// Chunks of bytes written (records, for JSONL).
    pub written: u64,
    /// The reader of stdout went away; not an error.
    pub pipe_closed: bool,
}

/// The writer thread's handle.
pub struct Writer {
    tx: Option<mpsc::Sender<Vec<u8>>>,
    thread: Option<std::thread::JoinHandle<io::Result<WriteOutcome>>>,
}

/// `FILE.partial`, beside FILE.
pub fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    path.with_file_name(name)
}

impl Writer {
    /// Open the destination now, so that an unwritable path fails before anything is paid for.
    pub fn create(destination: Destination) -> io::Result<Writer> {
        let (sink, finalize): (Box<dyn Write + Send>, Option<(PathBuf, PathBuf)>) = match destination {
            Destination::Stdout => (Box::new(io::stdout()), None),
            Destination::File(path) => {
                let partial = partial_path(&path);
                let file = fs::File::create(&partial).map_err(|e| {
                    io::Error::new(e.kind(), format!("cannot create {}: {e}", partial.display()))
                })?;
                (Box::new(file), Some((partial, path)))
            }
        };
        let (tx, mut rx) = mpsc::channel::<Vec<u8>>(64);
        let thread = std::thread::Builder::new().name("ko2en-writer".into()).spawn(move || {
            let mut sink = io::BufWriter::new(sink);
            let mut outcome = WriteOutcome::default();
            while let Some(bytes) = rx.blocking_recv() {
                // Each record goes out whole and flushed, so the partial file (or a pipe's
                // reader) only ever sees complete lines.
                match sink.write_all(&bytes).and_then(|_| sink.flush()) {
                    Ok(()) => outcome.written += 1,
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                        outcome.pipe_closed = true;
                        return Ok(outcome);
                    }
                    Err(e) => return Err(e),
                }
            }
            match sink.flush() {
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => outcome.pipe_closed = true,
                other => other?,
            }
            if let Some((partial, path)) = finalize {
                let file = sink.into_inner().map_err(|e| e.into_error())?;
                drop(file);
                fs::File::open(&partial).and_then(|f| f.sync_all())?;
                fs::rename(&partial, &path).map_err(|e| {
                    io::Error::new(
                        e.kind(),
                        format!("cannot move {} to {}: {e}", partial.display(), path.display()),
                    )
                })?;
            }
            Ok(outcome)
        })?;
        Ok(Writer { tx: Some(tx), thread: Some(thread) })
    }

    /// Queue bytes for writing. False when the writer has stopped (closed pipe or I/O error:
    /// `finish` says which), so the caller can stop producing.
    pub async fn write(&self, bytes: Vec<u8>) -> bool {
        match &self.tx {
            Some(tx) => tx.send(bytes).await.is_ok(),
            None => false,
        }
    }

    /// Flush, close and (for a file) move into place.
    pub async fn finish(mut self) -> io::Result<WriteOutcome> {
        drop(self.tx.take());
        let thread = self.thread.take().expect("finish is called once");
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(io::Error::other)?
            .map_err(|_| io::Error::other("the writer thread panicked"))?
    }
}

/// "Reporter: 김호성 <a@b.kr> · Photos: 뉴스비전e · © 뉴스비전e": the facts cleaning kept out of
/// the text, so that the translation still credits its sources. None when there are none.
fn byline_line(record: &Record) -> Option<String> {
    let byline = &record.byline;
    let mut parts = Vec::new();
    let reporters: Vec<String> = byline
        .reporters
        .iter()
        .filter_map(|r| match (&r.name, &r.email) {
            (Some(name), Some(email)) => Some(format!("{name} <{email}>")),
            (Some(name), None) => Some(name.clone()),
            (None, Some(email)) => Some(format!("<{email}>")),
            (None, None) => None,
        })
        .collect();
    if !reporters.is_empty() {
        parts.push(format!(
            "Reporter{}: {}",
            if reporters.len() == 1 { "" } else { "s" },
            reporters.join(", ")
        ));
    }
    if !byline.photo_credits.is_empty() {
        parts.push(format!("Photos: {}", byline.photo_credits.join(", ")));
    }
    if let Some(holder) = &byline.copyright {
        parts.push(format!("© {holder}"));
    }
    (!parts.is_empty()).then(|| format!("*{}*", parts.join(" · ")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::SourceRef;
    use crate::record::Warning;

    fn record() -> Record {
        let mut r = Record::new("a1".into(), SourceRef { path: "a.txt".into(), line: None }, "m");
        r.title_ko = Some("제목".into());
        r.title_en = Some("Title".into());
        r.summary_en = Some("Summary.".into());
        r.summary_ko = Some("요약.".into());
        r.key_points_en = vec!["One.".into()];
        r.translation_en = Some("First.\nSecond.".into());
        r.warnings = vec![Warning { kind: "missing_number".into(), message: "1억 is missing".into() }];
        r
    }

    #[test]
    fn jsonl_is_one_line_per_record() {
        let bytes = render_jsonl(&record());
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(bytes.ends_with(b"\n"));
        let back: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back["translation_en"], "First.\nSecond.");
    }

    #[test]
    fn markdown_shows_headline_translation_then_summaries() {
        let md = render_markdown(&record());
        let order = [
            "# Title",
            "*제목*",
            "## Translation",
            "First.\n\nSecond.",
            "## Summary (English)",
            "- One.",
            "## 요약",
            "## Warnings",
        ];
        let mut at = 0;
        for part in order {
            let found =
                md[at..].find(part).unwrap_or_else(|| panic!("{part:?} missing or out of order in:\n{md}"));
            at += found;
        }
    }

    #[test]
    fn markdown_credits_the_reporters_photos_and_copyright_cleaning_kept() {
        let mut r = record();
        assert!(!render_markdown(&r).contains("Reporter"));
        r.byline.reporters.push(crate::input::clean::Reporter {
            name: Some("김호성".into()),
            email: Some("a@b.kr".into()),
        });
        r.byline.photo_credits.push("SKT 제공".into());
        r.byline.copyright = Some("뉴스비전e".into());
        let md = render_markdown(&r);
        assert!(md.contains("*Reporter: 김호성 <a@b.kr> · Photos: SKT 제공 · © 뉴스비전e*"), "{md}");
    }

    #[tokio::test]
    async fn a_file_appears_only_when_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.jsonl");
        let writer = Writer::create(Destination::File(path.clone())).unwrap();
        assert!(writer.write(b"{}\n".to_vec()).await);
        assert!(partial_path(&path).exists() && !path.exists());
        let outcome = writer.finish().await.unwrap();
        assert_eq!(outcome.written, 1);
        assert_eq!(fs::read_to_string(&path).unwrap(), "{}\n");
        assert!(!partial_path(&path).exists());
    }
}
