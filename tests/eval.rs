//! `ko2en eval` through the real binary: the corpus scores of a results file equal
//! sacreBLEU's own (computed with sacrebleu 2.6.0, `scripts/sacrebleu-check.py`), two runs
//! side by side, `--fail-under` as an exit code, and a file that cannot be scored refused.

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
    assert!(out.contains("chrF++             44.6      100.0    +55.4"), "{out}");

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
fn an_input_given_where_results_are_expected_is_named_with_the_command_that_makes_results() {
    let dir = tempfile::tempdir().unwrap();
    let refs = dir.path().join("refs.jsonl");
    let line = json!({"id": "a", "title": "제목", "text": "본문이다.", "en_reference": "The body."});
    std::fs::write(&refs, format!("{line}\n")).unwrap();
    for command in ["eval", "report"] {
        let run = Ko2en::new([command]).arg_path(&refs).run();
        assert_eq!(run.code(), 2, "{}", run.stderr());
        assert!(
            run.stderr().contains("holds articles, not results") && run.stderr().contains("ko2en translate"),
            "{}",
            run.stderr()
        );
    }
}
