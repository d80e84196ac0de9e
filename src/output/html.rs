//! HTML: one self-contained report to read (inline CSS, no script, nothing fetched), which
//! works offline and as an e-mail attachment.
//!
//! Each article is written as it comes, so a batch of any size streams through: its headlines
//! in both languages, byline and link, its errors and warnings *above* the text they qualify,
//! the Korean and English summaries side by side, and for a translation the Korean source and
//! the English paragraph by paragraph. The run's facts and the index of articles can only be
//! known at the end: they are written last and shown first (the page is a flex column and the
//! index takes `order: -1`). Narrow screens stack the columns; printing gives an article a page.
//!
//! Every string from an article or a model is escaped, and only http(s) URLs become links.

use std::collections::BTreeSet;

use super::Exporter;
use super::pairs::{align, split};
use crate::eval::metrics::Stats;
use crate::numbers::thousands as group;
use crate::record::Record;

/// The report's state: what the index and the facts at the top need.
pub(super) struct Html {
    /// When the report was made, as an HTTP date (UTC).
    made: String,
    index: Vec<Entry>,
    models: BTreeSet<String>,
    prompt_tokens: u64,
    completion_tokens: u64,
    /// The translations scored against their references (`meta.en_reference`), summed, and
    /// how many.
    scored: Stats,
    references: usize,
}

/// One line of the index.
struct Entry {
    /// The link's text (see `Record::headlines`).
    heading: String,
    /// The Korean headline beside an English one; alone, it is the heading.
    korean: String,
    failed: bool,
    warnings: usize,
}

impl Html {
    /// A report made now, or at `SOURCE_DATE_EPOCH` when set (reproducible-builds.org's
    /// variable: the same records then give the same bytes).
    pub(super) fn new(source_date_epoch: Option<u64>) -> Html {
        let made = match source_date_epoch {
            Some(seconds) => std::time::UNIX_EPOCH + std::time::Duration::from_secs(seconds),
            None => std::time::SystemTime::now(),
        };
        Html::made_at(httpdate::fmt_http_date(made))
    }

    fn made_at(made: String) -> Html {
        Html {
            made,
            index: Vec::new(),
            models: BTreeSet::new(),
            prompt_tokens: 0,
            completion_tokens: 0,
            scored: Stats::default(),
            references: 0,
        }
    }
}

impl Exporter for Html {
    fn start(&mut self) -> Vec<u8> {
        format!(
            "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"generator\" content=\"ko2en {}\">\n<title>ko2en report</title>\n\
             <style>{STYLE}</style>\n</head>\n<body>\n<main>\n",
            env!("CARGO_PKG_VERSION")
        )
        .into_bytes()
    }

    fn record(&mut self, record: &Record) -> Vec<u8> {
        let n = self.index.len() + 1;
        let korean = record.answers.title_en.as_ref().and(record.title_ko.clone()).unwrap_or_default();
        self.index.push(Entry {
            heading: record.headlines().0.to_string(),
            korean,
            failed: record.failed(),
            warnings: record.warnings.len(),
        });
        self.models.insert(record.model.clone());
        self.prompt_tokens += record.usage.prompt_tokens;
        self.completion_tokens += record.usage.completion_tokens;
        let score = score(record);
        if let Some(stats) = &score {
            self.scored.add(stats);
            self.references += 1;
        }
        article(n, record, score.as_ref()).into_bytes()
    }

    fn end(&mut self) -> Vec<u8> {
        let total = self.index.len();
        let failed = self.index.iter().filter(|e| e.failed).count();
        let warned = self.index.iter().filter(|e| !e.failed && e.warnings > 0).count();
        let mut out =
            String::from("</main>\n<header id=\"top\">\n<h1>ko2en report</h1>\n<p class=\"facts\">");
        let models: Vec<&str> = self.models.iter().map(String::as_str).collect();
        out.push_str(&format!(
            "{} · {} article{} · <span class=\"ok\">{} ok</span>",
            esc(&self.made),
            group(total as u64),
            if total == 1 { "" } else { "s" },
            group((total - failed - warned) as u64),
        ));
        if warned > 0 {
            out.push_str(&format!(" · <span class=\"warned\">{} with warnings</span>", group(warned as u64)));
        }
        if failed > 0 {
            out.push_str(&format!(" · <span class=\"failed\">{} failed</span>", group(failed as u64)));
        }
        out.push_str(&format!(
            " · model {} · {} tokens in, {} out",
            esc(&models.join(", ")),
            group(self.prompt_tokens),
            group(self.completion_tokens)
        ));
        if self.references > 0 {
            out.push_str(&format!(
                " · against {} reference{}: chrF++ {:.1}, BLEU {:.1}",
                group(self.references as u64),
                if self.references == 1 { "" } else { "s" },
                self.scored.chrf(),
                self.scored.bleu()
            ));
        }
        out.push_str("</p>\n");
        out.push_str("<nav aria-label=\"articles\">\n<table class=\"index\">\n<thead><tr><th>#</th><th>Headline</th><th lang=\"ko\">제목</th><th>Status</th></tr></thead>\n<tbody>\n");
        for (i, entry) in self.index.iter().enumerate() {
            let n = i + 1;
            out.push_str(&format!(
                "<tr><td>{n}</td><td><a href=\"#a{n}\">{}</a></td><td lang=\"ko\">{}</td><td>{}</td></tr>\n",
                esc(&entry.heading),
                esc(&entry.korean),
                status(entry.failed, entry.warnings)
            ));
        }
        out.push_str("</tbody>\n</table>\n</nav>\n</header>\n</body>\n</html>\n");
        out.into_bytes()
    }
}

/// An article's status, as the index shows it.
fn status(failed: bool, warnings: usize) -> String {
    match (failed, warnings) {
        (true, _) => "<span class=\"failed\">failed</span>".into(),
        (false, 0) => "<span class=\"ok\">ok</span>".into(),
        (false, 1) => "<span class=\"warned\">1 warning</span>".into(),
        (false, n) => format!("<span class=\"warned\">{n} warnings</span>"),
    }
}

/// A translation's match statistics against the reference its input line carried.
fn score(record: &Record) -> Option<Stats> {
    let reference = record.meta.get("en_reference")?.as_str()?;
    Some(Stats::of(record.answers.translation_en.as_deref()?, reference))
}

/// One article's section; `score`, its translation against a reference, when there is one.
fn article(n: usize, record: &Record, score: Option<&Stats>) -> String {
    let answers = &record.answers;
    let class = if record.failed() {
        " failed"
    } else if record.warnings.is_empty() {
        ""
    } else {
        " warned"
    };
    let mut out = format!("<article id=\"a{n}\" class=\"article{class}\">\n<header>\n");
    out.push_str(&format!(
        "<p class=\"meta\"><a href=\"#top\">#{n}</a> · {} · {}</p>\n",
        esc(&record.id),
        esc(&record.source.to_string())
    ));
    let (heading, korean) = record.headlines();
    out.push_str(&format!("<h2>{}</h2>\n", esc(heading)));
    if let Some(ko) = korean {
        out.push_str(&format!("<p class=\"title-ko\" lang=\"ko\">{}</p>\n", esc(ko)));
    }
    if let Some(byline) = super::markdown::byline_parts(record) {
        out.push_str(&format!("<p class=\"byline\" lang=\"ko\">{}</p>\n", esc(&byline)));
    }
    if let Some(url) = record.meta.get("url").and_then(|u| u.as_str()).filter(|u| is_web_link(u)) {
        out.push_str(&format!("<p class=\"link\"><a href=\"{0}\">{0}</a></p>\n", esc(url)));
    }
    out.push_str("</header>\n");
    if let Some(error) = &record.error {
        out.push_str(&format!(
            "<div class=\"error\" role=\"alert\"><strong>Failed ({})</strong> {}</div>\n",
            esc(&error.kind),
            esc(&error.message)
        ));
    }
    if !record.warnings.is_empty() {
        out.push_str("<ul class=\"warnings\">\n");
        for warning in &record.warnings {
            out.push_str(&format!("<li><b>{}</b> {}</li>\n", esc(&warning.kind), esc(&warning.message)));
        }
        out.push_str("</ul>\n");
    }
    if answers.summary_en.is_some() || answers.summary_ko.is_some() {
        out.push_str("<section class=\"summary\">\n<div class=\"pair\">\n<div lang=\"ko\">\n<h3>요약</h3>\n");
        out.push_str(&paragraphs(answers.summary_ko.as_deref().unwrap_or("")));
        out.push_str("</div>\n<div lang=\"en\">\n<h3>Summary</h3>\n");
        out.push_str(&paragraphs(answers.summary_en.as_deref().unwrap_or("")));
        if !answers.key_points_en.is_empty() {
            out.push_str("<ul class=\"points\">\n");
            for point in &answers.key_points_en {
                out.push_str(&format!("<li>{}</li>\n", esc(point)));
            }
            out.push_str("</ul>\n");
        }
        out.push_str("</div>\n</div>\n</section>\n");
    }
    if let Some(english) = &answers.translation_en {
        out.push_str("<section class=\"translation\">\n<h3>Translation</h3>\n");
        let korean = record.text_ko.as_deref().unwrap_or("");
        for (ko, en) in align(&split(korean), &split(english)) {
            out.push_str("<div class=\"pair\">\n<div lang=\"ko\">\n");
            out.push_str(&paragraphs(&ko.join("\n")));
            out.push_str("</div>\n<div lang=\"en\">\n");
            out.push_str(&paragraphs(&en.join("\n")));
            out.push_str("</div>\n</div>\n");
        }
        out.push_str("</section>\n");
    }
    let mut footer = format!(
        "{} · {} prompt + {} completion tokens in {} request{}",
        esc(&record.model),
        group(record.usage.prompt_tokens),
        group(record.usage.completion_tokens),
        record.usage.requests,
        if record.usage.requests == 1 { "" } else { "s" }
    );
    if let Some(first) = &record.duplicate_of {
        footer.push_str(&format!(" · the same article as {}", esc(first)));
    }
    if let Some(stats) = score {
        footer.push_str(&format!(
            " · against the reference: chrF++ {:.1}, BLEU {:.1}",
            stats.chrf(),
            stats.sentence_bleu()
        ));
    }
    out.push_str(&format!("<footer>{footer}</footer>\n</article>\n"));
    out
}

/// `text`'s paragraphs as `<p>` elements.
fn paragraphs(text: &str) -> String {
    split(text).iter().map(|p| format!("<p>{}</p>\n", esc(p))).collect()
}

/// Whether `url` may be a link: the web, not `javascript:` or `data:`.
fn is_web_link(url: &str) -> bool {
    let lower = url.trim_start().to_ascii_lowercase();
    lower.starts_with("https://") || lower.starts_with("http://")
}

/// `text` safe in HTML text and in a quoted attribute.
fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The report's look: readable on a laptop and a phone, printable an article a page.
const STYLE: &str = "
:root{color-scheme:light dark;--fg:#1d1d1f;--muted:#5f6368;--bg:#fff;--panel:#f6f7f9;--line:#d9dce1;--ok:#1e7b34;--warn:#8a5a00;--warnbg:#fff6e0;--bad:#b3261e;--badbg:#fdecea;--link:#0b57d0}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--muted:#9aa0a6;--bg:#17181a;--panel:#202124;--line:#3c4043;--ok:#81c995;--warn:#fdd663;--warnbg:#3a3000;--bad:#f28b82;--badbg:#3c1f1f;--link:#8ab4f8}}
*{box-sizing:border-box}
body{margin:0;display:flex;flex-direction:column;background:var(--bg);color:var(--fg);font:16px/1.6 system-ui,-apple-system,'Segoe UI','Noto Sans KR','Apple SD Gothic Neo','Malgun Gothic',sans-serif}
#top{order:-1;padding:1.5rem max(1rem,calc((100% - 72rem)/2)) 1rem;border-bottom:1px solid var(--line);background:var(--panel)}
main{padding:0 max(1rem,calc((100% - 72rem)/2)) 3rem}
h1{margin:0 0 .25rem;font-size:1.5rem}
.facts{margin:0 0 1rem;color:var(--muted)}
a{color:var(--link)}
.index{width:100%;border-collapse:collapse;font-size:.95rem}
.index th,.index td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid var(--line);vertical-align:top}
.index td:first-child{color:var(--muted);width:3rem}
[lang=ko]{word-break:keep-all}
.ok{color:var(--ok)}.warned{color:var(--warn)}.failed{color:var(--bad)}
.article{padding:2rem 0;border-bottom:1px solid var(--line)}
.article h2{margin:.25rem 0;font-size:1.35rem;line-height:1.35}
.meta,.byline,.link,footer{color:var(--muted);font-size:.9rem;margin:.25rem 0}
.link a{word-break:break-all}
.title-ko{margin:.25rem 0;font-size:1.1rem}
.error{margin:1rem 0;padding:.75rem 1rem;border-left:4px solid var(--bad);background:var(--badbg)}
.warnings{margin:1rem 0;padding:.75rem 1rem .75rem 2rem;border-left:4px solid var(--warn);background:var(--warnbg)}
h3{margin:1.25rem 0 .5rem;font-size:1rem;text-transform:uppercase;letter-spacing:.04em;color:var(--muted)}
.pair{display:grid;grid-template-columns:1fr 1fr;gap:2rem;border-top:1px solid var(--line)}
.pair>div>p{margin:.6rem 0}
.translation .pair{border-top:none}
.translation .pair>div{padding:.1rem 0}
.points{padding-left:1.2rem}
footer{margin-top:1rem}
@media (max-width:720px){.pair{grid-template-columns:1fr;gap:0}.pair>[lang=ko]{color:var(--muted)}.index th:nth-child(3),.index td:nth-child(3){display:none}}
@media print{#top{order:0}body{display:block}.article{break-before:page;border:none}a{color:inherit}}
";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::SourceRef;
    use crate::record::{RecordError, Warning};

    #[test]
    fn everything_from_an_article_or_a_model_is_escaped_and_only_web_links_link() {
        let mut r = Record::new("<id>".into(), SourceRef { path: "a.txt".into(), line: None }, "m");
        r.title_ko = Some("<script>alert(1)</script>".into());
        r.answers.title_en = Some("Title \"quoted\" & <b>bold</b>".into());
        r.meta.insert("url".into(), "javascript:alert(1)".into());
        let html = article(1, &r, None);
        assert!(!html.contains("<script>") && html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("Title &quot;quoted&quot; &amp; &lt;b&gt;bold&lt;/b&gt;"), "{html}");
        assert!(!html.contains("javascript:"), "{html}");
        r.meta.insert("url".into(), "https://news.example/a?b=1&c=2".into());
        assert!(article(1, &r, None).contains("<a href=\"https://news.example/a?b=1&amp;c=2\">"));
    }

    #[test]
    fn a_translation_with_a_reference_is_scored_in_its_footer_and_in_the_facts() {
        let mut html = Html::made_at("Fri, 04 Dec 2026 21:00:00 GMT".into());
        let mut r = Record::new("a1".into(), SourceRef { path: "refs.jsonl".into(), line: Some(1) }, "m");
        let reference = "The government said exports rose 3.5% this year, led by semiconductors.";
        r.answers.translation_en =
            Some("Exports grew 3.5% this year, the government said, driven by chips.".into());
        r.meta.insert("en_reference".into(), reference.into());
        let body = String::from_utf8(html.record(&r)).unwrap();
        // sacreBLEU: chrF++ 51.5298, sentence BLEU 30.1304 for this pair.
        assert!(body.contains("against the reference: chrF++ 51.5, BLEU 30.1"), "{body}");
        let end = String::from_utf8(html.end()).unwrap();
        assert!(end.contains("against 1 reference: chrF++ 51.5"), "{end}");
    }

    #[test]
    fn the_facts_and_the_index_come_last_and_count_every_status() {
        let mut html = Html::made_at("Fri, 04 Dec 2026 21:00:00 GMT".into());
        let source = SourceRef { path: "b.jsonl".into(), line: Some(1) };
        let mut ok = Record::new("a1".into(), source.clone(), "gpt-4o-mini");
        ok.answers.title_en = Some("Exports rise".into());
        ok.usage.prompt_tokens = 12_345;
        let mut warned = ok.clone();
        warned.id = "a2".into();
        warned.warnings.push(Warning { kind: "missing_number".into(), message: "3.5%".into() });
        let mut failed = Record::new("a3".into(), source, "gpt-4o-mini");
        failed.error = Some(RecordError { kind: "timeout".into(), message: "no answer".into() });
        let mut out = html.start();
        for r in [&ok, &warned, &failed] {
            out.extend(html.record(r));
        }
        out.extend(html.end());
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("3 articles · <span class=\"ok\">1 ok</span> · <span class=\"warned\">1 with warnings</span> · <span class=\"failed\">1 failed</span> · model gpt-4o-mini · 24,690 tokens in, 0 out"), "{text}");
        assert!(text.contains("<a href=\"#a2\">Exports rise</a></td><td lang=\"ko\"></td><td><span class=\"warned\">1 warning</span>"), "{text}");
        assert!(
            text.find("id=\"a3\"").unwrap() < text.find("id=\"top\"").unwrap(),
            "the index is written last"
        );
        assert!(text.ends_with("</html>\n"));
    }
}
