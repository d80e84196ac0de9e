//! Completion budgets sized to the answers seen, on the real binary against a real HTTP server
//! on 127.0.0.1 that records every request: what budget each request asked for, that cache
//! keys do not depend on it, that a warm cache starts sized, and that an answer cut at a sized
//! budget is bought again at the fixed one, never accepted cut.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{ARTICLE, Ko2en, REPLY, Seen, completion, serve_by_request};
use serde_json::json;

/// A JSONL batch of `n` distinct short articles, named `name`.
fn batch(dir: &Path, name: &str, n: usize) -> std::path::PathBuf {
    let path = dir.join(name);
    let (title, body) = ARTICLE.split_once('\n').unwrap();
    let lines: Vec<String> = (0..n)
        .map(|i| {
            json!({"id": format!("{name}-{i}"), "title": title, "text": format!("{body} {name} 기사 번호는 {i}번이다.")})
                .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// The completion budget a request asked for.
fn budget(request: &Seen) -> u64 {
    request.body["max_tokens"].as_u64().expect("a max_tokens field")
}

fn budgets(seen: &Arc<Mutex<Vec<Seen>>>) -> Vec<u64> {
    seen.lock().unwrap().iter().map(budget).collect()
}

fn summarize(url: &str, cache: &Path, input: &Path, extra: &[&str]) -> common::Run {
    Ko2en::new(["summarize", "--base-url", url, "--concurrency", "1"])
        .args(extra)
        .env("OPENAI_API_KEY", "k")
        .arg("--cache")
        .arg_path(cache)
        .arg_path(input)
        .run()
}

#[test]
fn budgets_are_sized_from_the_answers_seen_the_cache_keys_stay_and_a_warm_cache_starts_sized() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.sqlite");
    // Every answer is 50 completion tokens (the usage `completion` reports).
    let (url, _, seen) = serve_by_request(|_, _| ("200 OK", vec![], completion(REPLY)));
    let first = batch(dir.path(), "first.jsonl", 30);
    let run = summarize(&url, &cache, &first, &[]);
    run.assert_code(0);
    let sent = budgets(&seen);
    assert_eq!(sent.len(), 30);
    assert!(sent[..20].iter().all(|&b| b == 1_500), "the fixed budget until 20 answers are known: {sent:?}");
    assert!(sent[20..].iter().all(|&b| b == 192), "then sized (50 tokens: the floor): {sent:?}");
    let stderr = run.stderr();
    // 30 answers of 50 tokens against 20 x 1,500 + 10 x 192 reserved: 5%.
    assert!(stderr.contains("completion budgets: 5% of 31,920 reserved tokens used"), "{stderr}");

    // The same batch again: every answer is in the cache, whatever budget bought it.
    seen.lock().unwrap().clear();
    summarize(&url, &cache, &first, &[]).assert_code(0);
    assert_eq!(budgets(&seen).len(), 0);

    // A new batch on the same cache starts sized: the answers' sizes were kept.
    let second = batch(dir.path(), "second.jsonl", 3);
    summarize(&url, &cache, &second, &[]).assert_code(0);
    assert_eq!(budgets(&seen), [192, 192, 192]);

    // --completion-budget fixed: as before sizing; a number pins every budget.
    seen.lock().unwrap().clear();
    summarize(&url, &cache, &batch(dir.path(), "third.jsonl", 2), &["--completion-budget", "fixed"])
        .assert_code(0);
    summarize(&url, &cache, &batch(dir.path(), "fourth.jsonl", 2), &["--completion-budget", "700"])
        .assert_code(0);
    assert_eq!(budgets(&seen), [1_500, 1_500, 700, 700]);
}

#[test]
fn an_answer_cut_at_a_sized_budget_is_bought_again_at_the_fixed_one_and_never_accepted_cut() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache.sqlite");
    // Short answers while learning, then a long one that a sized budget cannot hold: the
    // server cuts it, as a model does, and says so.
    let (url, _, seen) = serve_by_request(|n, request| {
        if n < 20 || budget(request) >= 1_500 {
            ("200 OK", vec![], completion(REPLY))
        } else {
            let cut = json!({
                "id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "{\"title_en\":\"Seoul"},
                             "finish_reason": "length"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": budget(request), "total_tokens": 300},
            });
            ("200 OK", vec![], cut.to_string())
        }
    });
    let run = summarize(&url, &cache, &batch(dir.path(), "b.jsonl", 23), &[]);
    run.assert_code(0);
    let records = run.records();
    assert!(
        records.iter().all(|r| r["error"].is_null() && r["title_en"] == "Seoul announces a new export plan")
    );
    let mut sent = budgets(&seen).split_off(20);
    sent.sort_unstable();
    assert_eq!(
        sent,
        [192, 192, 192, 1_500, 1_500, 1_500],
        "each cut answer bought once more, at the fixed budget"
    );
    assert!(run.stderr().contains("3 truncated"), "{}", run.stderr());
}

#[test]
fn a_passage_whose_english_does_not_fit_its_budget_is_translated_in_halves_not_fed_a_bigger_one() {
    // A model that finds far more to say than a long passage holds: its English is cut at the
    // passage's budget (twice its Korean). The budget is never doubled past what the passage
    // can need; the passage is translated in halves, each with its own budget, and joined.
    let dir = tempfile::tempdir().unwrap();
    let subjects =
        ["서울시는", "정부는", "업계는", "연구진은", "시민들은", "전문가들은", "기업들은", "학교들은"];
    let verbs = [
        "새로운 계획을 발표했다.",
        "수출 확대를 기대한다.",
        "지원을 약속했다.",
        "변화를 환영했다.",
        "우려를 표명했다.",
        "협력을 강조했다.",
        "투자를 늘리기로 했다.",
        "결과를 공개했다.",
    ];
    let sentences: Vec<String> =
        subjects.iter().flat_map(|s| verbs.iter().map(move |v| format!("{s} 올해 {v}"))).collect();
    let article = dir.path().join("long.txt");
    std::fs::write(&article, format!("긴 기사의 제목\n\n{}\n", sentences.join(" "))).unwrap();
    let (url, _, seen) = serve_by_request(|_, request| {
        let body = request.body.to_string();
        if !body.contains("translation_en") {
            return ("200 OK", vec![], completion(REPLY));
        }
        let budget = budget(request);
        if budget > 1_000 {
            let cut = json!({
                "id": "x", "object": "chat.completion", "created": 0, "model": "m",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": "{\"translation_en\":\"The city"},
                             "finish_reason": "length"}],
                "usage": {"prompt_tokens": 100, "completion_tokens": budget, "total_tokens": 100 + budget},
            });
            return ("200 OK", vec![], cut.to_string());
        }
        // Sentences that differ, as a translation's do (one sentence over and over is a runaway).
        let english = (0..budget / 20)
            .map(|i| format!("The officials announced plan {i} this year."))
            .collect::<Vec<_>>()
            .join(" ");
        ("200 OK", vec![], completion(&json!({ "translation_en": english }).to_string()))
    });
    let run = Ko2en::new(["translate", "--json", "--no-cache", "--base-url", &url, "--concurrency", "1"])
        .env("OPENAI_API_KEY", "k")
        .arg_path(&article)
        .run();
    run.assert_code(0);
    let record: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert!(record["error"].is_null(), "{record}");
    let translations: Vec<u64> = seen
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.body.to_string().contains("translation_en"))
        .map(budget)
        .collect();
    assert_eq!(translations.len(), 3, "the whole passage once, then its two halves: {translations:?}");
    assert!(translations[0] > 1_000 && translations[1..].iter().all(|&b| b <= 1_000), "{translations:?}");
    let english = record["translation_en"].as_str().unwrap();
    assert!(english.matches("The officials announced").count() > 40, "both halves joined: {english}");
}
