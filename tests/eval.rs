//! `ko2en eval` through the real binary: the corpus scores of a results file equal
//! sacreBLEU's own (computed with sacrebleu 2.6.0, `scripts/sacrebleu-check.py`), two runs
//! side by side (results files, or two models translating articles in one command),
//! `--fail-under` as an exit code, and what cannot be scored refused before anything is sent.

mod common;

use common::Ko2en;
use serde_json::json;

fn results(dir: &std::path::Path, name: &str, translations: &[(&str, &str)]) -> std::path::PathBuf {
    let lines: Vec<String> = translations
        .iter()
        .enumerate()
        .map(|(i, (hypothesis, reference))| {
            json!({
                "id": format!("a{i}"), "source": "refs.jsonl", "title_ko": "제목", "title_en": "Title",
                "summary_ko": "요약.", "summary_en": "Summary.", "key_points_en": ["a", "b", "c"],
                "translation_en": hypothesis, "text_ko": "본문.", "model": "m",
                "usage": {"prompt_tokens": 100, "completion_tokens": 50, "requests": 2},
                "warnings": [], "error": null,
                "byline": {"reporters": [], "photo_credits": [], "copyright": null},
                "duplicate_of": null, "meta": {"en_reference": reference},
            })
            .to_string()
        })
        .collect();
    let path = dir.join(name);
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

const PAIRS: [(&str, &str); 2] = [
    (
        "Exports grew 3.5% this year, the government said, driven by chips.",
        "The government said exports rose 3.5% this year, led by semiconductors.",
    ),
    ("Chip exports hit a record.", "Semiconductor exports reached a record high."),
];

#[test]
fn a_run_is_scored_as_sacrebleu_scores_it_and_compared_with_another() {
    let dir = tempfile::tempdir().unwrap();
    let a = results(dir.path(), "a.jsonl", &PAIRS);
    let run = Ko2en::new(["eval"]).arg_path(&a).run();
    run.assert_code(0);
    // sacreBLEU: chrF++ 44.6452, BLEU 26.0425 for this corpus.
    assert!(run.stdout().contains("chrF++ 44.6 · BLEU 26.0"), "{}", run.stdout());
    assert!(run.stdout().contains("2 articles with a reference (0 failed)"), "{}", run.stdout());

    let perfect: Vec<(&str, &str)> = PAIRS.iter().map(|(_, r)| (*r, *r)).collect();
    let b = results(dir.path(), "b.jsonl", &perfect);
    let compared = Ko2en::new(["eval", "--compare"]).arg_path(&b).arg_path(&a).run();
    compared.assert_code(0);
    let out = compared.stdout();
    assert!(out.contains("chrF++                         44.6      100.0     +55.4"), "{out}");

    let failing = Ko2en::new(["eval", "--fail-under", "50"]).arg_path(&a).run();
    failing.assert_code(1);
    assert!(failing.stderr().contains("chrF++ 44.6 is under --fail-under 50"), "{}", failing.stderr());
}

#[test]
fn results_without_translations_or_references_are_refused_with_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let summaries = dir.path().join("s.jsonl");
    let record = json!({"id": "a", "source": "x", "title_ko": null, "title_en": "T", "summary_ko": "요약",
        "summary_en": "S", "key_points_en": [], "model": "m", "usage": {"prompt_tokens": 1, "completion_tokens": 1, "requests": 1},
        "warnings": [], "error": null, "byline": {"reporters": [], "photo_credits": [], "copyright": null},
        "duplicate_of": null, "meta": {}});
    std::fs::write(&summaries, format!("{record}\n")).unwrap();
    let run = Ko2en::new(["eval"]).arg_path(&summaries).run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(run.stderr().contains("no translated article with a reference"), "{}", run.stderr());
}

#[test]
fn report_given_articles_names_the_command_that_makes_results() {
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.jsonl");
    let line = json!({"id": "a", "title": "제목", "text": "본문이다.", "en_reference": "The body."});
    std::fs::write(&refs, format!("{line}\n")).unwrap();
    let run = Ko2en::new(["report"]).arg_path(&refs).run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains("holds articles, not results") && run.stderr().contains("ko2en translate"),
        "{}",
        run.stderr()
    );
}

/// Articles with references, two models, one command: both runs made (only the articles that
/// can be scored are sent), scored, and set side by side; -o keeps the first run's results.
#[test]
fn articles_with_references_are_translated_and_two_models_scored_in_one_command() {
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.jsonl");
    let lines = [
        json!({"id": "r1", "title": "수출 증가", "text": "정부는 올해 수출이 3.5% 늘었다고 밝혔다.", "en_reference": "The government said exports rose 3.5% this year."}),
        json!({"id": "plain", "title": "기사", "text": "참고 번역이 없는 기사다."}),
        json!({"id": "r2", "title": "반도체", "text": "반도체 수출이 사상 최대를 기록했다.", "en_reference": "Semiconductor exports hit a record high."}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&refs, text).unwrap();
    let log = dir.path().join("mock.log");
    let kept = dir.path().join("a.jsonl");
    let run = Ko2en::new(["eval", "--mock", "--compare-model", "other-model", "--mock-opt"])
        .arg(format!("log={}", log.display()))
        .arg("-o")
        .arg_path(&kept)
        .arg_path(&refs)
        .run();
    run.assert_code(0);
    let out = run.stdout();
    assert!(out.contains("model ko2en-mock · 2 articles with a reference (0 failed)"), "{out}");
    assert!(out.contains("model other-model · 2 articles with a reference (0 failed)"), "{out}");
    assert!(out.contains("B - A") && out.contains("tokens in") && out.contains("seconds"), "{out}");
    // Each run starts its own mock, which writes the log afresh: the second run's requests,
    // a summary and a translation for each of the 2 articles with a reference.
    let sent = std::fs::read_to_string(&log).unwrap().lines().count();
    assert_eq!(sent, 2 * 2, "the article without a reference is not sent: {sent}");
    let records: Vec<serde_json::Value> =
        std::fs::read_to_string(&kept).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["r1", "r2"]);
    assert!(records.iter().all(|r| r["model"] == "ko2en-mock" && r["translation_en"].is_string()));
}

#[test]
fn an_eval_that_could_score_nothing_or_compares_a_run_with_itself_is_refused_before_sending() {
    let dir = tempfile::tempdir().unwrap();
    let bare = dir.path().join("bare.jsonl");
    std::fs::write(&bare, format!("{}\n", json!({"id": "a", "title": "제목", "text": "본문이다."}))).unwrap();
    let run = Ko2en::new(["eval", "--mock"]).arg_path(&bare).run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains("no article of") && run.stderr().contains("en_reference"),
        "{}",
        run.stderr()
    );

    let refs = dir.path().join("refs.jsonl");
    let line = json!({"id": "a", "title": "제목", "text": "본문이다.", "en_reference": "The body."});
    std::fs::write(&refs, format!("{line}\n")).unwrap();
    let same = Ko2en::new(["eval", "--mock", "--compare-model", "ko2en-mock"]).arg_path(&refs).run();
    assert_eq!(same.code(), 2, "{}", same.stderr());
    assert!(same.stderr().contains("same endpoint with model ko2en-mock"), "{}", same.stderr());
    let html =
        Ko2en::new(["eval", "--mock", "-o"]).arg_path(&dir.path().join("a.html")).arg_path(&refs).run();
    assert_eq!(html.code(), 2, "{}", html.stderr());
    assert!(html.stderr().contains("JSONL"), "{}", html.stderr());

    let results = results(dir.path(), "r.jsonl", &PAIRS);
    let run = Ko2en::new(["eval", "--compare-model", "x"]).arg_path(&results).run();
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(run.stderr().contains("holds results"), "{}", run.stderr());
}
