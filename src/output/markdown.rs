//! Markdown: an article as a reader wants it, English headline first, its errors and
//! warnings before the text they qualify, then the translation (each Korean paragraph quoted,
//! its English after it), then the summaries in both languages. A batch is a digest: one such
//! section per article, in input order, a rule between them.

use super::Exporter;
use super::pairs::{align, split};
use crate::numbers::thousands;
use crate::record::Record;

/// One section per record.
#[derive(Default)]
pub(super) struct Markdown {
    written: usize,
}

impl Exporter for Markdown {
    fn record(&mut self, record: &Record) -> Vec<u8> {
        let rule = if self.written > 0 { "\n***\n\n" } else { "" };
        self.written += 1;
        format!("{rule}{}", render(record)).into_bytes()
    }
}

/// `text` with `<` escaped, so that a renderer shows a tag from a page or a model as text
/// instead of running it (CommonMark's backslash escape reads as the character itself).
fn esc(text: &str) -> String {
    text.replace('<', "\\<")
}

fn render(record: &Record) -> String {
    let answers = &record.answers;
    let mut out = String::new();
    let (heading, korean) = record.headlines();
    out.push_str(&format!("# {}\n\n", esc(heading)));
    if let Some(ko) = korean {
        out.push_str(&format!("*{}*\n\n", esc(ko)));
    }
    if let Some(byline) = byline_parts(record) {
        out.push_str(&format!("*{}*\n\n", esc(&byline)));
    }
    if let Some(error) = &record.error {
        out.push_str(&format!("> **Error ({}):** {}\n\n", error.kind, esc(&error.message)));
    }
    if !record.warnings.is_empty() {
        out.push_str("> **Warnings**\n>\n");
        for w in &record.warnings {
            out.push_str(&format!("> - {}: {}\n", w.kind, esc(&w.message)));
        }
        out.push('\n');
    }
    if let Some(translation) = &answers.translation_en {
        out.push_str("## Translation\n\n");
        let korean = record.text_ko.as_deref().unwrap_or("");
        for (ko, en) in align(&split(korean), &split(translation)) {
            for paragraph in ko {
                out.push_str(&format!("> {}\n\n", esc(paragraph)));
            }
            for paragraph in en {
                out.push_str(&format!("{}\n\n", esc(paragraph)));
            }
        }
    }
    if let Some(summary) = &answers.summary_en {
        out.push_str(&format!("## Summary (English)\n\n{}\n\n", esc(summary)));
    }
    if !answers.key_points_en.is_empty() {
        out.push_str("## Key points\n\n");
        for point in &answers.key_points_en {
            out.push_str(&format!("- {}\n", esc(point)));
        }
        out.push('\n');
    }
    if let Some(summary) = &answers.summary_ko {
        out.push_str(&format!("## 요약 (Korean)\n\n{}\n\n", esc(summary)));
    }
    out.push_str(&format!(
        "---\n*{} · {} prompt + {} completion tokens in {} request{} · source: {}*\n",
        esc(&record.model),
        thousands(record.usage.prompt_tokens),
        thousands(record.usage.completion_tokens),
        record.usage.requests,
        if record.usage.requests == 1 { "" } else { "s" },
        esc(&record.source.to_string())
    ));
    out
}

/// "Reporter: 김호성 <a@b.kr> · Photos: 뉴스비전e · © 뉴스비전e": the facts cleaning kept out of
/// the text, so that the translation still credits its sources. None when there are none.
pub(super) fn byline_parts(record: &Record) -> Option<String> {
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
    (!parts.is_empty()).then(|| parts.join(" · "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::SourceRef;
    use crate::record::Warning;

    fn record() -> Record {
        let mut r = Record::new("a1".into(), SourceRef { path: "a.txt".into(), line: None }, "m");
        r.title_ko = Some("제목".into());
        r.answers.title_en = Some("Title".into());
        r.answers.summary_en = Some("Summary.".into());
        r.answers.summary_ko = Some("요약.".into());
        r.answers.key_points_en = vec!["One.".into()];
        r.answers.translation_en = Some("First.\nSecond.".into());
        r.text_ko = Some("첫째.\n둘째.".into());
        r.warnings = vec![Warning { kind: "missing_number".into(), message: "1억 is missing".into() }];
        r
    }

    #[test]
    fn markdown_shows_headline_warnings_the_bilingual_translation_then_summaries() {
        let md = render(&record());
        let order = [
            "# Title",
            "*제목*",
            "> **Warnings**",
            "## Translation",
            "> 첫째.\n\nFirst.\n\n> 둘째.\n\nSecond.",
            "## Summary (English)",
            "- One.",
            "## 요약",
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
        assert!(!render(&r).contains("Reporter"));
        r.byline.reporters.push(crate::input::clean::Reporter {
            name: Some("김호성".into()),
            email: Some("a@b.kr".into()),
        });
        r.byline.photo_credits.push("SKT 제공".into());
        r.byline.copyright = Some("뉴스비전e".into());
        let md = render(&r);
        assert!(md.contains("*Reporter: 김호성 \\<a@b.kr> · Photos: SKT 제공 · © 뉴스비전e*"), "{md}");
    }
}
