//! Reports through the real binary: each format byte for byte on fixed records (`ko2en report`
//! on tests/golden/report/records.jsonl), the HTML parsed as a browser would (structure,
//! Korean beside English, links, and `<script>` canaries in a headline, a body and an answer
//! shown as text), and the commands a newsroom runs: a translated batch to an HTML report, a
//! summarized batch to a CSV a spreadsheet opens.

mod common;

use std::path::{Path, PathBuf};

use common::Ko2en;
use scraper::{Html, Selector};

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/report").join(name)
}

/// `ko2en report` of the golden records in `format`, made at a fixed time.
fn report(format: &str) -> Vec<u8> {
    let run = Ko2en::new(["report", "--format", format])
        .arg_path(&golden("records.jsonl"))
        .env("SOURCE_DATE_EPOCH", "1796342400")
        .run();
    run.assert_code(0);
    run.0.stdout
}

fn select(selector: &str) -> Selector {
    Selector::parse(selector).unwrap()
}

#[test]
fn each_format_renders_the_golden_records_byte_for_byte() {
    for (format, expected) in [("md", "expected.md"), ("html", "expected.html"), ("csv", "expected.csv")] {
        let expected = std::fs::read(golden(expected)).unwrap();
        let got = report(format);
        assert!(
            got == expected,
            "{format} differs from tests/golden/report/{format}:\n{}",
            String::from_utf8_lossy(&got)
        );
    }
    assert_eq!(report("jsonl"), std::fs::read(golden("records.jsonl")).unwrap(), "JSONL round-trips");
}

#[test]
fn the_html_report_parses_shows_every_canary_as_text_and_pairs_korean_with_english() {
    let html = Html::parse_document(&String::from_utf8(report("html")).unwrap());
    assert_eq!(html.select(&select("script")).count(), 0, "no script element, whatever the records held");
    let text: String = html.root_element().text().collect();
    for canary in ["alert('title')", "alert('answer')", "alert('body')", "alert('translation')"] {
        assert!(text.contains(&format!("<script>{canary}</script>")), "{canary} is not shown as text");
    }
    // Only web links: the javascript: URL is not one.
    let hrefs: Vec<&str> = html.select(&select("a")).filter_map(|a| a.value().attr("href")).collect();
    assert!(hrefs.iter().all(|h| h.starts_with('#') || h.starts_with("https://")), "{hrefs:?}");
    // Every index entry leads to its article, in order.
    let articles: Vec<&str> = html.select(&select("article")).filter_map(|a| a.value().id()).collect();
    assert_eq!(articles, ["a1", "a2", "a3"]);
    let index: Vec<&str> =
        html.select(&select("#top table a")).filter_map(|a| a.value().attr("href")).collect();
    assert_eq!(index, ["#a1", "#a2", "#a3"]);
    // The translation: each row a Korean paragraph and its English, side by side.
    let rows: Vec<(String, String)> = html
        .select(&select("article#a2 .translation .pair"))
        .map(|pair| {
            let side = |lang: &str| {
                let selector = select(&format!("div[lang={lang}]"));
                pair.select(&selector).flat_map(|d| d.text()).collect::<String>()
            };
            (side("ko"), side("en"))
        })
        .collect();
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows[0].0.contains("첫 번째") && rows[0].1.contains("first"), "{rows:?}");
    assert!(rows[1].0.contains("두 번째") && rows[1].1.contains("second"), "{rows:?}");
    // Warnings and errors come before the text they qualify.
    let warned = html.select(&select("article#a2")).next().unwrap().html();
    assert!(warned.find("class=\"warnings\"").unwrap() < warned.find("class=\"summary\"").unwrap());
    assert!(html.select(&select("article#a3 .error")).next().is_some(), "the failed article shows its error");
}

#[test]
fn a_translated_batch_becomes_a_report_and_a_summarized_one_a_spreadsheet() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let out = dir.path().join("report.html");
    Ko2en::new(["translate", "--mock", "-o"]).arg_path(&out).arg_path(&fixtures).run().assert_code(0);
    let html = Html::parse_document(&std::fs::read_to_string(&out).unwrap());
    assert_eq!(html.select(&select("article")).count(), 7, "one article per fixture");
    for article in html.select(&select("article")) {
        let pairs = article.select(&select(".translation .pair")).count();
        assert!(pairs > 1, "{:?} has {pairs} rows of Korean beside English", article.value().id());
        for pair in article.select(&select(".translation .pair")) {
            let ko = pair.select(&select("div[lang=ko] p")).count();
            let en = pair.select(&select("div[lang=en] p")).count();
            assert!(ko == 1 && en >= 1, "a Korean paragraph and its English: {ko}, {en}");
        }
    }

    let csv = dir.path().join("out.csv");
    Ko2en::new(["summarize", "--mock", "-o"]).arg_path(&csv).arg_path(&fixtures).run().assert_code(0);
    let bytes = std::fs::read(&csv).unwrap();
    assert!(bytes.starts_with("\u{feff}id,source,".as_bytes()), "a byte-order mark, then the header");
    let text = String::from_utf8(bytes).unwrap();
    assert!(text.contains("마윈 회장의 방한과 알리바바의 클라우드"), "Korean intact");
    // Rows are CRLF-terminated; line breaks inside quoted cells are bare LF.
    assert_eq!(text.matches("\r\n").count(), 8, "a header and a row per article");
}

#[test]
fn a_results_file_with_a_line_that_is_not_a_record_is_refused_by_line() {
    let dir = tempfile::tempdir().unwrap();
    let results = dir.path().join("results.jsonl");
    let good = std::fs::read_to_string(golden("records.jsonl")).unwrap();
    std::fs::write(&results, format!("{}not json\n", good.lines().next().unwrap().to_string() + "\n"))
        .unwrap();
    let out = dir.path().join("r.html");
    let run = Ko2en::new(["report", "-o"]).arg_path(&out).arg_path(&results).run();
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr().contains("line 2 of") && run.stderr().contains("not a ko2en record"),
        "{}",
        run.stderr()
    );
    assert!(!out.exists(), "no report missing articles under the name asked for");
}
