//! Inputs as they come from the field, on the real binary: Korean legacy encodings, UTF-16,
//! and mistakes that must stop a run before anything is paid for. Each test counts what reached
//! the mock (its `--log`).

mod common;

use std::path::Path;

use common::{ARTICLE, Ko2en};
use encoding_rs::EUC_KR;
use serde_json::Value;

/// Requests the mock logged (none when it never started or was never asked).
fn requests(log: &Path) -> usize {
    std::fs::read_to_string(log).map(|t| t.lines().count()).unwrap_or(0)
}

/// `ko2en summarize --mock --quiet INPUT… [ARGS…]` with a request log; the run and the log.
fn summarize(dir: &Path, inputs: &[&Path], args: &[&str]) -> (common::Run, usize) {
    let log = dir.join("mock.log");
    let mut ko2en = Ko2en::new(["summarize", "--mock", "--quiet", "--no-cache"])
        .arg("--mock-opt")
        .arg(format!("log={}", log.display()))
        .args(args);
    for input in inputs {
        ko2en = ko2en.arg_path(input);
    }
    let run = ko2en.run();
    (run, requests(&log))
}

fn euc_kr(text: &str) -> Vec<u8> {
    EUC_KR.encode(text).0.into_owned()
}

#[test]
fn an_euc_kr_page_that_declares_its_charset_is_read_like_utf8() {
    let dir = tempfile::tempdir().unwrap();
    let (title, body) = ARTICLE.split_once('\n').unwrap();
    let page = format!(
        "<html><head><meta http-equiv=\"Content-Type\" content=\"text/html; charset=euc-kr\">\
         <title>{title}</title></head><body><article><p>{body}</p></article></body></html>"
    );
    let path = dir.path().join("page.html");
    std::fs::write(&path, euc_kr(&page)).unwrap();
    let (run, sent) = summarize(dir.path(), &[&path], &[]);
    run.assert_code(0);
    let record = &run.records()[0];
    assert_eq!(record["title_ko"], title, "{record}");
    assert_eq!(sent, 1);
}

#[test]
fn euc_kr_text_without_a_declaration_and_utf16_with_a_bom_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("a-legacy.txt");
    std::fs::write(&legacy, euc_kr(ARTICLE)).unwrap();
    let mut le = vec![0xFF, 0xFE];
    le.extend(ARTICLE.encode_utf16().flat_map(u16::to_le_bytes));
    let mut be = vec![0xFE, 0xFF];
    be.extend(ARTICLE.replace("정부", "국회").encode_utf16().flat_map(u16::to_be_bytes));
    std::fs::write(dir.path().join("b-utf16le.txt"), le).unwrap();
    std::fs::write(dir.path().join("c-utf16be.txt"), be).unwrap();
    let (run, sent) = summarize(dir.path(), &[dir.path()], &[]);
    run.assert_code(0);
    let records = run.records();
    let titles: Vec<&str> = records.iter().map(|r| r["title_ko"].as_str().unwrap()).collect();
    assert_eq!(titles, ["정부, 새 수출 계획 발표", "정부, 새 수출 계획 발표", "국회, 새 수출 계획 발표"]);
    // The first two are the same article: sent once, the copy marked.
    assert_eq!(records[1]["duplicate_of"], "a-legacy");
    assert_eq!(sent, 2);
}

#[test]
fn text_in_no_known_encoding_is_an_error_record_naming_what_was_tried_unless_forced() {
    let dir = tempfile::tempdir().unwrap();
    let latin1 = dir.path().join("latin1.txt");
    std::fs::write(&latin1, b"Caf\xe9 news\nUn caf\xe9 a ouvert ses portes.\n").unwrap();
    let (run, sent) = summarize(dir.path(), &[&latin1], &[]);
    run.assert_code(1);
    let error = &run.records()[0]["error"];
    assert_eq!(error["kind"], "not_utf8");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("EUC-KR/CP949") && message.contains("--input-encoding"), "{message}");
    assert_eq!(sent, 0);

    // UTF-16 without its byte-order mark looks binary; named, it reads.
    let bare = dir.path().join("bare-utf16.txt");
    std::fs::write(&bare, ARTICLE.encode_utf16().flat_map(u16::to_le_bytes).collect::<Vec<u8>>()).unwrap();
    let (run, _) = summarize(dir.path(), &[&bare], &[]);
    run.assert_code(1);
    assert_eq!(run.records()[0]["error"]["kind"], "binary");
    let (run, _) = summarize(dir.path(), &[&bare], &["--input-encoding", "utf-16le"]);
    run.assert_code(0);
    assert_eq!(run.records()[0]["title_ko"], "정부, 새 수출 계획 발표");
}

#[test]
fn a_mistyped_path_or_a_folder_without_articles_stops_the_run_before_anything_is_paid() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.txt");
    std::fs::write(&real, ARTICLE).unwrap();
    let (run, sent) = summarize(dir.path(), &[&real, &dir.path().join("typo.txt")], &[]);
    run.assert_code(2);
    assert!(run.stderr().contains("typo.txt does not exist"), "{}", run.stderr());
    assert_eq!((run.stdout(), sent), (String::new(), 0));

    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    std::fs::write(empty.join("report.pdf"), b"%PDF-1.4").unwrap();
    for command in [&["summarize", "--mock"][..], &["clean"][..]] {
        let run = Ko2en::new(command).arg_path(&empty).run();
        run.assert_code(2);
        assert!(
            run.stderr().contains("holds no articles") && run.stderr().contains(".jsonl"),
            "{}",
            run.stderr()
        );
    }
    let run = Ko2en::new(["translate", "--mock"]).arg_path(&dir.path().join("typo.txt")).run();
    run.assert_code(2);
}

#[test]
fn clean_reads_legacy_encodings_too() {
    let dir = tempfile::tempdir().unwrap();
    let legacy = dir.path().join("legacy.txt");
    std::fs::write(&legacy, euc_kr(ARTICLE)).unwrap();
    let run = Ko2en::new(["clean"]).arg_path(&legacy).run();
    run.assert_code(0);
    let line: Value = serde_json::from_str(run.stdout().lines().next().unwrap()).unwrap();
    assert_eq!(line["title"], "정부, 새 수출 계획 발표");
}
