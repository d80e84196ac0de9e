//! JSONL: one record per line, the fields in the order the README documents.

use super::Exporter;
use crate::record::Record;

/// One line per record, no header or footer.
pub(super) struct Jsonl;

impl Exporter for Jsonl {
    fn record(&mut self, record: &Record) -> Vec<u8> {
        let mut line = serde_json::to_vec(record).expect("a record always serializes");
        line.push(b'\n');
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::SourceRef;

    #[test]
    fn jsonl_is_one_line_per_record() {
        let mut record = Record::new("a1".into(), SourceRef { path: "a.txt".into(), line: None }, "m");
        record.answers.translation_en = Some("First.\nSecond.".into());
        let bytes = Jsonl.record(&record);
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
        assert!(bytes.ends_with(b"\n"));
        let back: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(back["translation_en"], "First.\nSecond.");
    }
}
