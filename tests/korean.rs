//! Korean input done right, through the real binary: cleaning shown and switched off, HTML
//! pages, glossary terms in the prompt and checked in the answer, `--strict`, duplicates, and
//! unreadable inputs as per-article errors. Everything runs against the in-process mock
//! (`--mock`) or, where the request itself must be inspected, a tiny recording endpoint.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

const ALIBABA: &str = "fixtures/alibaba-cloud-korea.txt";
const HTML_PAGE: &str = "tests/data/smart-factory-page.html";

fn ko2en(args: &[&str]) -> Output {
    // A cache of its own, so that runs share no answers and leave the user's cache alone.
    let cache_home = tempfile::tempdir().expect("a temp dir");
    std::process::Command::new(env!("CARGO_BIN_EXE_ko2en"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("XDG_CACHE_HOME", cache_home.path())
        .env_remove("OPENAI_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("KO2EN_MODEL")
        .output()
        .expect("the binary runs")
}

fn lines(output: &Output) -> Vec<Value> {
    String::from_utf8(output.stdout.clone())
        .expect("UTF-8 output")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn kinds(record: &Value) -> Vec<&str> {
    record["warnings"].as_array().unwrap().iter().map(|w| w["kind"].as_str().unwrap()).collect()
}

#[test]
fn clean_shows_what_would_be_sent_with_reasons_and_byline() {
    let out = ko2en(&["clean", ALIBABA]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = lines(&out);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["id"], "alibaba-cloud-korea");
    assert!(r["title"].as_str().unwrap().starts_with("[이슈 분석] 마윈 회장의 방한"), "{}", r["title"]);
    let text = r["text"].as_str().unwrap();
    assert!(text.starts_with("알리바바그룹의 마윈(馬雲) 회장의 한국행보가"), "{text}");
    for noise in ["상단여백", "무단 전재", "<사진", "김호성 기자"] {
        assert!(!text.contains(noise), "{noise} left in the text");
    }
    let removed = r["removed"].as_array().unwrap();
    assert!(removed.iter().all(|x| x["line"].is_string() && x["reason"].is_string()));
    let reasons: Vec<&str> = removed.iter().map(|x| x["reason"].as_str().unwrap()).collect();
    for reason in ["page_furniture", "photo_placeholder", "byline", "copyright", "title"] {
        assert!(reasons.contains(&reason), "no {reason} in {reasons:?}");
    }
    assert_eq!(r["byline"]["reporters"][0], json!({"name": "김호성", "email": "newsvision-e@hanmail.net"}));
    assert_eq!(r["byline"]["copyright"], "뉴스비전e");
    assert!(r["byline"]["photo_credits"].as_array().unwrap().contains(&json!("SKT 제공")));
}

#[test]
fn a_summary_record_carries_the_byline_and_no_duplicate_mark() {
    let out = ko2en(&["summarize", "--mock", "-q", ALIBABA]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &lines(&out)[0];
    assert_eq!(r["byline"]["reporters"][0]["name"], "김호성");
    assert_eq!(r["duplicate_of"], Value::Null);
    assert_eq!(kinds(r), Vec::<&str>::new(), "a mock run has nothing to warn about");
}

#[test]
fn no_clean_sends_the_page_as_read_with_its_first_line_as_headline() {
    let out = ko2en(&["summarize", "--mock", "-q", "--no-clean", ALIBABA]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &lines(&out)[0];
    assert_eq!(r["title_ko"], "상단여백");
    assert_eq!(r["byline"], json!({"reporters": [], "photo_credits": [], "copyright": null}));
}

#[test]
fn an_html_page_is_extracted_then_cleaned() {
    let out = ko2en(&["clean", HTML_PAGE]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &lines(&out)[0];
    assert_eq!(r["title"], "중소기업 스마트공장 솔루션, 해외 수출 1억 달러 돌파");
    let text = r["text"].as_str().unwrap();
    assert!(text.starts_with("국내 중소기업이 개발한 스마트공장"), "{text}");
    assert!(text.contains("450억 원"));
    for noise in ["로그인", "관련기사", "무단 전재", "사진=", "seoyeon.lee", "개인정보처리방침"]
    {
        assert!(!text.contains(noise), "{noise} left in {text}");
    }
    assert_eq!(
        r["byline"]["reporters"][0],
        json!({"name": "이서연", "email": "seoyeon.lee@hanbit-econ.example"})
    );
    assert_eq!(r["byline"]["copyright"], "한빛경제");

    let out = ko2en(&["translate", "--mock", "--json", "-q", HTML_PAGE]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = &lines(&out)[0];
    assert_eq!(r["title_ko"], "중소기업 스마트공장 솔루션, 해외 수출 1억 달러 돌파");
    assert_eq!(kinds(r), Vec::<&str>::new(), "the mock keeps the figures: {}", r["warnings"]);
}

fn glossary(dir: &Path) -> PathBuf {
    write(
        dir,
        "names.tsv",
        "korean\tenglish\n박정호\tPark Jung-ho\nSK텔레콤\tSK Telecom\n현대자동차\tHyundai Motor\n".as_bytes(),
    )
}

#[test]
fn a_glossary_term_the_mock_does_not_render_is_a_missing_term_warning() {
    let dir = tempfile::tempdir().unwrap();
    let g = glossary(dir.path());
    let out = ko2en(&["translate", "--mock", "--json", "-q", "--glossary", g.to_str().unwrap(), ALIBABA]);
    assert!(out.status.success(), "warnings alone do not fail: {}", stderr(&out));
    let r = &lines(&out)[0];
    assert_eq!(kinds(r), ["missing_term", "missing_term"], "{}", r["warnings"]);
    let messages = r["warnings"].to_string();
    assert!(messages.contains("Park Jung-ho") && messages.contains("SK Telecom"), "{messages}");
    assert!(!messages.contains("Hyundai"), "a term absent from the article is not demanded");
    // Summary, translation, and one repair of the translation; the problem outlasting the
    // repair, the passage in halves once, each half answered and repaired once: never more.
    assert_eq!(r["usage"]["requests"], 3 + 4, "{}", r["usage"]);
    assert_eq!(r["error"], Value::Null);
}

#[test]
fn strict_makes_a_warning_a_failure_with_exit_1() {
    let dir = tempfile::tempdir().unwrap();
    let g = glossary(dir.path());
    let out = ko2en(&[
        "translate",
        "--mock",
        "--json",
        "-q",
        "--strict",
        "--glossary",
        g.to_str().unwrap(),
        ALIBABA,
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let r = &lines(&out)[0];
    assert_eq!(r["error"]["kind"], "check_failed");
    assert!(r["error"]["message"].as_str().unwrap().contains("Park Jung-ho"), "{}", r["error"]);
    assert!(r["translation_en"].is_string(), "the answer is kept for inspection");
}

#[test]
fn a_broken_glossary_stops_the_run_with_exit_2_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let g = write(dir.path(), "bad.csv", "박정호,Park Jung-ho\n삼성전자\n".as_bytes());
    let out = ko2en(&["summarize", "--mock", "-q", "--glossary", g.to_str().unwrap(), ALIBABA]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("bad.csv:2:"), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
}

#[test]
fn an_article_twice_in_a_batch_is_sent_once_and_the_copy_names_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let page = std::fs::read_to_string(ALIBABA).unwrap();
    let first = write(dir.path(), "a.txt", page.as_bytes());
    // The same article under different page furniture is still the same article.
    let copy = write(dir.path(), "b.txt", format!("로그인\n{page}\n댓글 0\n").as_bytes());
    let other = write(dir.path(), "c.txt", "다른 기사 제목입니다\n전혀 다른 본문입니다.".as_bytes());
    let paths = [first, copy, other].map(|p| p.to_str().unwrap().to_string());
    let out = ko2en(&["summarize", "--mock", "-q", &paths[0], &paths[1], &paths[2]]);
    assert!(out.status.success(), "{}", stderr(&out));
    let records = lines(&out);
    let ids: Vec<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["a", "b", "c"], "input order is kept");
    assert_eq!(records[0]["duplicate_of"], Value::Null);
    assert_eq!(records[1]["duplicate_of"], "a");
    assert_eq!(records[2]["duplicate_of"], Value::Null);
    assert_eq!(records[1]["summary_en"], records[0]["summary_en"]);
    assert_eq!(records[1]["usage"]["requests"], 0, "the copy was not sent");
    assert_eq!(records[0]["usage"]["requests"], 1);
}

#[test]
fn unreadable_and_empty_articles_are_error_records_and_the_good_one_is_still_written() {
    let dir = tempfile::tempdir().unwrap();
    let binary = write(dir.path(), "a-binary.txt", &[0x89, b'P', b'N', b'G', 0, 0, 0, 13, 0, 1, 2]);
    let latin1 = write(dir.path(), "b-latin1.txt", b"caf\xe9 \xe0 la carte\n");
    let furniture = write(dir.path(), "c-furniture.txt", "상단여백\n로그인\nBack to Top\n".as_bytes());
    let good = dir.path().join("d-good.txt");
    std::fs::copy(ALIBABA, &good).unwrap();
    let paths = [binary, latin1, furniture, good].map(|p| p.to_str().unwrap().to_string());
    for command in [vec!["summarize", "--mock", "-q"], vec!["clean"]] {
        let args: Vec<&str> = command.iter().copied().chain(paths.iter().map(String::as_str)).collect();
        let out = ko2en(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let records = lines(&out);
        let errors: Vec<&Value> = records.iter().map(|r| &r["error"]["kind"]).collect();
        assert_eq!(errors, [&json!("binary"), &json!("not_utf8"), &json!("empty"), &Value::Null], "{args:?}");
        for r in &records[..3] {
            let message = r["error"]["message"].as_str().unwrap();
            assert!(message.contains(r["source"].as_str().unwrap()), "{message}");
        }
    }
}

/// A recording endpoint: answers every chat request with a fixed reply of the requested
/// shape and keeps the request bodies, so tests can see exactly what was sent.
struct Recorder {
    url: String,
    bodies: Arc<Mutex<Vec<Value>>>,
}

impl Recorder {
    fn start(summary: Value, translation: Value) -> Recorder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&bodies);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':')
                        && name.eq_ignore_ascii_case("content-length")
                    {
                        length = value.trim().parse().unwrap();
                    }
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let body: Value = serde_json::from_slice(&body).unwrap();
                let name = body.pointer("/response_format/json_schema/name").and_then(Value::as_str);
                let reply = if name == Some("passage_translation") { &translation } else { &summary };
                seen.lock().unwrap().push(body);
                let response = json!({
                    "choices": [{"message": {"role": "assistant", "content": reply.to_string()}, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 10},
                })
                .to_string();
                let _ = write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{response}",
                    response.len()
                );
            }
        });
        Recorder { url, bodies }
    }

    fn bodies(&self) -> Vec<Value> {
        self.bodies.lock().unwrap().clone()
    }
}

#[test]
fn glossary_terms_go_into_the_prompt_and_a_miss_is_repaired_once_with_a_different_request() {
    let dir = tempfile::tempdir().unwrap();
    let g = glossary(dir.path());
    let article = write(
        dir.path(),
        "park.txt",
        "박정호 사장, 새 전략 발표\n박정호 SK텔레콤 사장이 새 전략을 발표했다.".as_bytes(),
    );
    let summary = json!({
        "title_en": "CEO unveils new strategy",
        "summary_ko": "박정호 사장이 새 전략을 발표했다.",
        "summary_en": "The chief executive of SK Telecom unveiled a new strategy.",
        "key_points_en": ["A new strategy was unveiled.", "SK Telecom's chief presented it.", "It starts this year."],
    });
    let recorder = Recorder::start(summary, json!({"translation_en": "unused"}));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ko2en"))
        .args([
            "summarize",
            "-q",
            "--no-cache",
            "--base-url",
            &recorder.url,
            "--glossary",
            g.to_str().unwrap(),
        ])
        .arg(&article)
        .env("OPENAI_API_KEY", "sk-test")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let bodies = recorder.bodies();
    assert_eq!(bodies.len(), 2, "one request and one repair");
    let system = bodies[0]["messages"][0]["content"].as_str().unwrap();
    assert!(system.contains("박정호 → Park Jung-ho") && system.contains("SK텔레콤 → SK Telecom"), "{system}");
    assert!(!system.contains("Hyundai"), "only the article's terms are in its prompt");
    let repair = bodies[1]["messages"].as_array().unwrap();
    let roles: Vec<&str> = repair.iter().map(|m| m["role"].as_str().unwrap()).collect();
    assert_eq!(roles, ["system", "user", "assistant", "user"]);
    assert_eq!(
        repair[..2],
        bodies[0]["messages"].as_array().unwrap()[..],
        "the original messages come first"
    );
    let ask = repair[3]["content"].as_str().unwrap();
    assert!(ask.contains("Park Jung-ho") && ask.contains("same JSON shape"), "{ask}");
    let r = &lines(&out)[0];
    // The headline has the name and the English headline lacks it; the summary's miss of the
    // same term is not reported twice.
    assert_eq!(kinds(r), ["missing_term"], "{}", r["warnings"]);
    assert_eq!(r["usage"]["requests"], 2);
}
