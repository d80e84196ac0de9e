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
    let _ = std::fs::remove_file(&log); // a run that never starts the mock leaves none
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

#[test]
fn a_page_flattened_to_one_line_is_cleaned_like_the_page_it_came_from() {
    let dir = tempfile::tempdir().unwrap();
    let clean = |path: &Path| -> Value {
        let run = Ko2en::new(["clean"]).arg_path(path).run();
        run.assert_code(0);
        serde_json::from_str(run.stdout().lines().next().unwrap()).unwrap()
    };
    let words = |v: &Value| v.as_str().unwrap().split_whitespace().collect::<Vec<_>>().join(" ");
    for name in ["alibaba-cloud-korea.txt", "k-it-smart-city-exports.txt"] {
        let page = std::fs::read_to_string(common::fixture(name)).unwrap();
        let flat: Vec<&str> = page.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let flat_path = dir.path().join(name);
        std::fs::write(&flat_path, flat.join(" ")).unwrap();
        let (original, flattened) = (clean(&common::fixture(name)), clean(&flat_path));
        assert_eq!(flattened["title"], original["title"], "{name}");
        assert_eq!(words(&flattened["text"]), words(&original["text"]), "{name}");
        assert_eq!(flattened["byline"], original["byline"], "{name}");
        // The furniture is still reported, not silently dropped.
        assert!(
            flattened["removed"].as_array().unwrap().iter().any(|r| r["reason"] == "copyright"),
            "{name}"
        );
    }
}

/// `n` article objects.
fn objects(n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            serde_json::json!({"id": format!("j{i}"), "title": format!("정부 발표 {i}"),
                "text": format!("정부가 {i}번째 계획을 발표했다. 계획은 내년에 시작된다."), "url": format!("http://x/{i}")})
        })
        .collect()
}

fn jsonl(items: &[Value]) -> String {
    items.iter().map(|v| v.to_string() + "\n").collect()
}

#[test]
fn json_shapes_are_told_by_content_whatever_the_files_name() {
    let dir = tempfile::tempdir().unwrap();
    let items = objects(6);
    // A JSON array, pretty-printed, named .json; JSONL named .json; one pretty object.
    std::fs::write(dir.path().join("a-array.json"), serde_json::to_string_pretty(&items[..2]).unwrap())
        .unwrap();
    std::fs::write(dir.path().join("b-lines.json"), jsonl(&items[2..4])).unwrap();
    std::fs::write(dir.path().join("c-one.json"), serde_json::to_string_pretty(&items[4]).unwrap()).unwrap();
    std::fs::write(dir.path().join("d-lines.txt"), jsonl(&items[5..])).unwrap();
    let (run, sent) = summarize(dir.path(), &[dir.path()], &[]);
    run.assert_code(0);
    let records = run.records();
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["j0", "j1", "j2", "j3", "j4", "j5"]);
    assert_eq!(records[0]["meta"]["url"], "http://x/0");
    assert_eq!(records[1]["source"], format!("{}:2", dir.path().join("a-array.json").display()));
    assert_eq!(sent, 6);
}

#[test]
fn gzipped_batches_are_read_as_they_decompress_in_folders_and_by_name() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let items = objects(5);
    let gz = |text: String| {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text.as_bytes()).unwrap();
        encoder.finish().unwrap()
    };
    let folder = dir.path().join("archive");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("2019.jsonl.gz"), gz(jsonl(&items[..3]))).unwrap();
    std::fs::write(folder.join("2020.json.gz"), gz(serde_json::to_string(&items[3..]).unwrap())).unwrap();
    let (run, sent) = summarize(dir.path(), &[&folder], &[]);
    run.assert_code(0);
    let ids: Vec<String> = run.records().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect();
    assert_eq!(ids, ["j0", "j1", "j2", "j3", "j4"]);
    assert_eq!(sent, 5);
    // A compressed file whose name says nothing: the magic number does.
    let anonymous = dir.path().join("download");
    std::fs::write(&anonymous, gz(jsonl(&items[..2]))).unwrap();
    let (run, _) = summarize(dir.path(), &[&anonymous], &[]);
    run.assert_code(0);
    assert_eq!(run.records().len(), 2);
}

#[test]
fn a_batch_through_a_process_substitution_or_stdin_is_a_batch() {
    let dir = tempfile::tempdir().unwrap();
    let batch = dir.path().join("batch.jsonl");
    std::fs::write(&batch, jsonl(&objects(3))).unwrap();
    let script = format!(
        "exec '{}' summarize --mock --quiet --no-cache <(cat '{}')",
        env!("CARGO_BIN_EXE_ko2en"),
        batch.display()
    );
    let output = std::process::Command::new("bash").arg("-c").arg(script).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).lines().count(), 3);

    let array = serde_json::to_string(&objects(4)).unwrap();
    let run = Ko2en::new(["summarize", "--mock", "--quiet", "-"]).stdin(array).run();
    run.assert_code(0);
    assert_eq!(run.records().len(), 4);
}

#[test]
fn articles_not_in_korean_are_refused_unpaid_unless_allowed_and_mixed_news_stays_korean() {
    let dir = tempfile::tempdir().unwrap();
    let english = dir.path().join("a-english.txt");
    std::fs::write(
        &english,
        "Seoul unveils export plan\nThe government announced a new export plan on Monday.\n",
    )
    .unwrap();
    let japanese = dir.path().join("b-japanese.txt");
    std::fs::write(&japanese, "政府、新たな輸出計画を発表\n政府は月曜日、新しい輸出計画を発表した。\n")
        .unwrap();
    let mixed = dir.path().join("c-mixed.txt");
    std::fs::write(
        &mixed,
        "삼성전자, AI 반도체 HBM3E 양산\n삼성전자가 NVIDIA와 Google에 HBM3E memory를 공급한다고 밝혔다. \
         업계는 AI data center 수요가 계속 늘 것으로 본다.\n",
    )
    .unwrap();
    let (run, sent) = summarize(dir.path(), &[&english, &japanese, &mixed], &[]);
    run.assert_code(1);
    let records = run.records();
    let kinds: Vec<&Value> = records.iter().map(|r| &r["error"]["kind"]).collect();
    assert_eq!(kinds, [&Value::from("not_korean"), &Value::from("not_korean"), &Value::Null]);
    assert!(records[0]["error"]["message"].as_str().unwrap().contains("--allow-non-korean"));
    assert_eq!(sent, 1);
    let (run, sent) = summarize(dir.path(), &[&english], &["--allow-non-korean"]);
    run.assert_code(0);
    assert_eq!(sent, 1);
}

#[test]
fn an_article_longer_than_any_news_is_refused_unpaid_and_tiny_chunks_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let huge = dir.path().join("huge.txt");
    let body = "정부가 새 수출 계획을 발표했다. 계획은 내년에 시작된다. ".repeat(3_000);
    std::fs::write(&huge, format!("정부, 새 수출 계획 발표\n{body}\n")).unwrap();
    let (run, sent) = summarize(dir.path(), &[&huge], &[]);
    run.assert_code(1);
    let error = &run.records()[0]["error"];
    assert_eq!(error["kind"], "too_long");
    assert!(error["message"].as_str().unwrap().contains("--max-article-tokens"), "{error}");
    assert_eq!(sent, 0);
    let (run, sent) = summarize(dir.path(), &[&huge], &["--max-article-tokens", "100000"]);
    run.assert_code(0);
    assert!(sent > 1, "a long article is sent in parts once allowed");

    let (run, sent) = summarize(dir.path(), &[&huge], &["--max-chunk-tokens", "1"]);
    run.assert_code(2);
    assert!(run.stderr().contains("--max-chunk-tokens must be at least"), "{}", run.stderr());
    assert_eq!(sent, 0);
}

#[test]
fn two_different_articles_with_one_id_warn_on_the_later_record() {
    let dir = tempfile::tempdir().unwrap();
    let mut items = objects(3);
    items[2]["id"] = "j0".into();
    let batch = dir.path().join("batch.jsonl");
    std::fs::write(&batch, jsonl(&items)).unwrap();
    let (run, _) = summarize(dir.path(), &[&batch], &[]);
    run.assert_code(0);
    let records = run.records();
    let warned: Vec<bool> = records
        .iter()
        .map(|r| r["warnings"].as_array().unwrap().iter().any(|w| w["kind"] == "duplicate_id"))
        .collect();
    assert_eq!(warned, [false, false, true]);
}

#[test]
fn a_template_that_never_renders_the_article_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let prompts = dir.path().join("prompts");
    std::fs::create_dir(&prompts).unwrap();
    std::fs::write(prompts.join("summarize.user.j2"), "Summarize the article about {{ title }}.\n").unwrap();
    let article = dir.path().join("a.txt");
    std::fs::write(&article, ARTICLE).unwrap();
    let (run, sent) = summarize(dir.path(), &[&article], &["--prompts", prompts.to_str().unwrap()]);
    run.assert_code(2);
    assert!(
        run.stderr().contains("summarize.user.j2") && run.stderr().contains("{{ text }}"),
        "{}",
        run.stderr()
    );
    assert_eq!(sent, 0);
    // A template that does use the text is taken.
    std::fs::write(prompts.join("summarize.user.j2"), "Summarize:\n{{ text }}\n").unwrap();
    let (run, _) = summarize(dir.path(), &[&article], &["--prompts", prompts.to_str().unwrap()]);
    run.assert_code(0);
}
