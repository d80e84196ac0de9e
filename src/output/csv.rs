//! CSV: one row per article, for spreadsheets. RFC 4180 (CRLF between rows, a field quoted
//! when it holds a comma, a quote or a line break, its quotes doubled), UTF-8 with a
//! byte-order mark by default, without which Excel reads Korean as mojibake.
//!
//! A text cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return gets a `'` in
//! front: spreadsheets run such a cell as a formula, and headlines and answers come from the
//! web and from a model (OWASP's advice on CSV injection). Numbers are written as numbers.

use super::Exporter;
use crate::record::Record;

/// The columns, in order: the header row.
const COLUMNS: [&str; 18] = [
    "id",
    "source",
    "url",
    "title_ko",
    "title_en",
    "summary_ko",
    "summary_en",
    "key_points_en",
    "translation_en",
    "warnings",
    "warning_kinds",
    "error_kind",
    "error_message",
    "duplicate_of",
    "model",
    "prompt_tokens",
    "completion_tokens",
    "requests",
];

/// A header row, then a row per record.
pub(super) struct Csv {
    /// Whether the file starts with a UTF-8 byte-order mark.
    pub(super) bom: bool,
}

impl Exporter for Csv {
    fn start(&mut self) -> Vec<u8> {
        let mut out = if self.bom { "\u{feff}".to_string() } else { String::new() };
        row(&mut out, COLUMNS.iter().map(|c| Cell::Text(c)));
        out.into_bytes()
    }

    fn record(&mut self, record: &Record) -> Vec<u8> {
        let answers = &record.answers;
        fn text(v: &Option<String>) -> Cell<'_> {
            Cell::Text(v.as_deref().unwrap_or(""))
        }
        let url = record.meta.get("url").and_then(|u| u.as_str()).unwrap_or("");
        // Each kind once, in the order first met (the warnings of one kind need not be adjacent).
        let mut kinds: Vec<&str> = Vec::new();
        for warning in &record.warnings {
            if !kinds.contains(&warning.kind.as_str()) {
                kinds.push(&warning.kind);
            }
        }
        let key_points = answers.key_points_en.join("\n");
        let kinds = kinds.join("; ");
        let source = record.source.to_string();
        let error = record.error.as_ref();
        let mut out = String::new();
        row(
            &mut out,
            [
                Cell::Text(&record.id),
                Cell::Text(&source),
                Cell::Text(url),
                text(&record.title_ko),
                text(&answers.title_en),
                text(&answers.summary_ko),
                text(&answers.summary_en),
                Cell::Text(&key_points),
                text(&answers.translation_en),
                Cell::Number(record.warnings.len() as u64),
                Cell::Text(&kinds),
                Cell::Text(error.map_or("", |e| e.kind.as_str())),
                Cell::Text(error.map_or("", |e| e.message.as_str())),
                text(&record.duplicate_of),
                Cell::Text(&record.model),
                Cell::Number(record.usage.prompt_tokens),
                Cell::Number(record.usage.completion_tokens),
                Cell::Number(record.usage.requests),
            ],
        );
        out.into_bytes()
    }
}

enum Cell<'a> {
    Text(&'a str),
    Number(u64),
}

/// One row, CRLF-terminated.
fn row<'a>(out: &mut String, cells: impl IntoIterator<Item = Cell<'a>>) {
    for (i, cell) in cells.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match cell {
            Cell::Number(n) => out.push_str(&n.to_string()),
            Cell::Text(text) => field(out, text),
        }
    }
    out.push_str("\r\n");
}

/// One text field, defused and quoted as needed.
fn field(out: &mut String, text: &str) {
    let defused = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let quoted = defused && text.starts_with(['\t', '\r']) || text.contains([',', '"', '\n', '\r']);
    if quoted {
        out.push('"');
    }
    if defused {
        out.push('\'');
    }
    if quoted {
        out.push_str(&text.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::SourceRef;
    use crate::record::{RecordError, Warning};

    fn record() -> Record {
        let mut r = Record::new("a1".into(), SourceRef { path: "batch.jsonl".into(), line: Some(2) }, "m");
        r.title_ko = Some("반도체 수출, \"역대 최대\"".into());
        r.answers.title_en = Some("Chip exports hit a \"record\"".into());
        r.answers.summary_ko = Some("수출이 늘었다.".into());
        r.answers.summary_en = Some("Exports rose.".into());
        r.answers.key_points_en = vec!["Up 3.5%.".into(), "=HYPERLINK(\"x\")".into()];
        r.warnings = vec![
            Warning { kind: "missing_number".into(), message: "3.5% is missing".into() },
            Warning { kind: "missing_number".into(), message: "1억 is missing".into() },
        ];
        r.meta.insert("url".into(), "https://news.example/1".into());
        r.usage.prompt_tokens = 1200;
        r.usage.completion_tokens = 300;
        r.usage.requests = 1;
        r
    }

    #[test]
    fn a_row_per_record_under_a_header_byte_for_byte() {
        let mut csv = Csv { bom: true };
        let mut bytes = csv.start();
        bytes.extend(csv.record(&record()));
        let mut failed = Record::new("a2".into(), SourceRef { path: "b.txt".into(), line: None }, "m");
        failed.error = Some(RecordError { kind: "timeout".into(), message: "no answer, in 120 s".into() });
        bytes.extend(csv.record(&failed));
        let text = String::from_utf8(bytes).unwrap();
        let expected = "\u{feff}id,source,url,title_ko,title_en,summary_ko,summary_en,key_points_en,translation_en,warnings,warning_kinds,error_kind,error_message,duplicate_of,model,prompt_tokens,completion_tokens,requests\r\n\
            a1,batch.jsonl:2,https://news.example/1,\"반도체 수출, \"\"역대 최대\"\"\",\"Chip exports hit a \"\"record\"\"\",수출이 늘었다.,Exports rose.,\"Up 3.5%.\n=HYPERLINK(\"\"x\"\")\",,2,missing_number,,,,m,1200,300,1\r\n\
            a2,b.txt,,,,,,,,0,,timeout,\"no answer, in 120 s\",,m,0,0,0\r\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_cell_a_spreadsheet_would_run_as_a_formula_is_defused() {
        let mut out = String::new();
        for text in ["=1+1", "+82 2", "-3% drop", "@SUM(A1)", "\tx", "plain, text", "평범한 제목"] {
            field(&mut out, text);
            out.push('|');
        }
        assert_eq!(out, "'=1+1|'+82 2|'-3% drop|'@SUM(A1)|\"'\tx\"|\"plain, text\"|평범한 제목|");
        let mut csv = Csv { bom: false };
        assert!(csv.start().starts_with(b"id,"), "no byte-order mark with --csv-no-bom");
    }
}
