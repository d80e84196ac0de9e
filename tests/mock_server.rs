//! The mock endpoint through real HTTP on 127.0.0.1: every behaviour a later test may script
//! (limits, faults, account states, streaming, the request log), checked with reqwest for
//! statuses and headers and with async-openai's typed client for OpenAI's wire format.

use std::path::Path;
use std::time::{Duration, Instant};

use ko2en::mock::{MockOptions, MockServer};
use serde_json::{Value, json};

async fn start(options: MockOptions) -> MockServer {
    MockServer::start("127.0.0.1:0".parse().unwrap(), options).await.expect("the mock starts")
}

fn http() -> reqwest::Client {
    ko2en::client::install_crypto_provider();
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

/// A chat request whose user message is `text`.
fn request(text: &str) -> Value {
    json!({"model": "gpt-4o-mini", "max_tokens": 200, "messages": [
        {"role": "system", "content": "Translate the passage."},
        {"role": "user", "content": text}]})
}

async fn post(server: &MockServer, body: &Value) -> reqwest::Response {
    post_with(&http(), server, body).await.expect("an HTTP response")
}

async fn post_with(
    client: &reqwest::Client,
    server: &MockServer,
    body: &Value,
) -> Result<reqwest::Response, reqwest::Error> {
    client.post(format!("{}/chat/completions", server.base_url())).json(body).send().await
}

fn header(response: &reqwest::Response, name: &str) -> String {
    response.headers().get(name).unwrap_or_else(|| panic!("no {name} header")).to_str().unwrap().to_string()
}

/// The log's lines, once there are `count` of them (the writer thread may lag a moment).
async fn log_lines(path: &Path, count: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= count || Instant::now() > deadline {
            return text.lines().map(|l| serde_json::from_str(l).expect("a JSON line")).collect();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn every_answer_carries_openai_rate_limit_headers() {
    let server = start(MockOptions { rpm: Some(60), tpm: Some(100_000), ..MockOptions::default() }).await;
    let response = post(&server, &request("안녕하세요")).await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "x-ratelimit-limit-requests"), "60");
    assert_eq!(header(&response, "x-ratelimit-remaining-requests"), "59");
    assert_eq!(header(&response, "x-ratelimit-limit-tokens"), "100000");
    let remaining: u64 = header(&response, "x-ratelimit-remaining-tokens").parse().unwrap();
    assert!(remaining <= 100_000 - 200, "the max_tokens are charged: {remaining}");
    // One request at 60 per minute comes back in a second, less the moments since it was taken.
    let reset = header(&response, "x-ratelimit-reset-requests");
    let reset_ms = reset.strip_suffix("ms").map(|ms| ms.parse::<u64>().unwrap());
    assert!(reset == "1s" || reset_ms.is_some_and(|ms| ms > 500), "{reset}");
    assert!(header(&response, "x-ratelimit-reset-tokens").ends_with('s'));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["object"], "chat.completion");
    assert_eq!(body["choices"][0]["finish_reason"], "stop");
    assert!(body["usage"]["prompt_tokens"].as_u64().unwrap() > 0);
}

#[tokio::test]
async fn requests_over_the_rpm_get_429_with_openai_body_and_wait_hints() {
    let server = start(MockOptions { rpm: Some(2), ..MockOptions::default() }).await;
    for _ in 0..2 {
        assert_eq!(post(&server, &request("가")).await.status(), 200);
    }
    let response = post(&server, &request("가")).await;
    assert_eq!(response.status(), 429);
    assert_eq!(header(&response, "x-ratelimit-remaining-requests"), "0");
    // Two per minute refill one every 30 s.
    assert_eq!(header(&response, "retry-after"), "30");
    let ms: u64 = header(&response, "retry-after-ms").parse().unwrap();
    assert!((29_000..=30_000).contains(&ms), "{ms}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert_eq!(body["error"]["type"], "requests");
    assert!(body["error"]["message"].as_str().unwrap().contains("requests per min (RPM): Limit 2"));
}

#[tokio::test]
async fn the_token_budget_refills_continuously() {
    // 6000 tokens per minute are 100 per second; each request costs its prompt plus 2000.
    let server = start(MockOptions { tpm: Some(6000), ..MockOptions::default() }).await;
    let mut body = request("가");
    body["max_tokens"] = json!(2000);
    assert_eq!(post(&server, &body).await.status(), 200);
    assert_eq!(post(&server, &body).await.status(), 200);
    let refused = post(&server, &body).await;
    assert_eq!(refused.status(), 429);
    let wait: u64 = header(&refused, "retry-after-ms").parse().unwrap();
    assert!(wait < 60_000, "a partial refill suffices: {wait} ms");
    let message = refused.json::<Value>().await.unwrap()["error"]["message"].as_str().unwrap().to_string();
    assert!(message.contains("tokens per min (TPM)"), "{message}");
    // The bucket only fills as time passes, so after the hinted wait the request fits.
    tokio::time::sleep(Duration::from_millis(wait)).await;
    assert_eq!(post(&server, &body).await.status(), 200);
}

#[tokio::test]
async fn a_request_larger_than_the_whole_tpm_is_too_large_for_good() {
    let server = start(MockOptions { tpm: Some(100), ..MockOptions::default() }).await;
    let response = post(&server, &request("가")).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_none(), "waiting does not help");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limit_exceeded");
    assert!(body["error"]["message"].as_str().unwrap().starts_with("Request too large"));
}

async fn statuses(options: MockOptions, bodies: &[Value]) -> Vec<u16> {
    let server = start(options).await;
    let client = http();
    let mut out = Vec::new();
    for body in bodies {
        out.push(post_with(&client, &server, body).await.unwrap().status().as_u16());
    }
    out
}

#[tokio::test]
async fn faults_are_the_same_for_the_same_seed_and_retries_draw_afresh() {
    let bodies: Vec<Value> = (0..30).map(|i| request(&format!("기사 {i}"))).collect();
    let options = MockOptions { fail_rate: 0.5, seed: 42, ..MockOptions::default() };
    let first = statuses(options.clone(), &bodies).await;
    assert_eq!(first, statuses(options.clone(), &bodies).await);
    assert!(first.iter().all(|s| [200, 500, 502, 503].contains(s)), "{first:?}");
    assert!(first.contains(&200) && first.iter().any(|&s| s != 200), "{first:?}");
    let other_seed = statuses(MockOptions { seed: 43, ..options.clone() }, &bodies).await;
    assert_ne!(first, other_seed);

    // Sending a failed body again is its next attempt, which draws again: retries get through.
    let server = start(options).await;
    let client = http();
    for body in &bodies {
        let mut attempts = 1;
        while post_with(&client, &server, body).await.unwrap().status() != 200 {
            attempts += 1;
            assert!(attempts < 30, "a retry should succeed at a 50% fail rate");
        }
    }
}

#[tokio::test]
async fn markers_force_each_fault_on_one_request() {
    let server = start(MockOptions::default()).await;
    let client = http();

    let response = post(&server, &request("[[mock:fail=503]] 기사")).await;
    assert_eq!(response.status(), 503);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["type"], "server_error");

    let response = post(&server, &request("[[mock:fail=502]] 기사")).await;
    assert_eq!(response.status(), 502);
    assert!(header(&response, "content-type").starts_with("text/html"));
    assert!(response.text().await.unwrap().contains("502 Bad Gateway"));

    let response = post(&server, &request("[[mock:status=400]] 기사")).await;
    assert_eq!(response.status(), 400);
    assert_eq!(response.json::<Value>().await.unwrap()["error"]["type"], "invalid_request_error");

    let response = post(&server, &request("[[mock:garbage]] 기사")).await;
    assert_eq!(response.status(), 200);
    assert!(serde_json::from_str::<Value>(&response.text().await.unwrap()).is_err());

    let response = post(&server, &request("[[mock:truncate]] 기사")).await;
    assert_eq!(response.json::<Value>().await.unwrap()["choices"][0]["finish_reason"], "length");

    let response = post(&server, &request("[[mock:hangul]] 기사")).await;
    let body: Value = response.json().await.unwrap();
    let content = body["choices"][0]["message"]["content"].as_str().unwrap();
    assert!(content.chars().any(ko2en::mock::reply::is_hangul), "{content}");

    let dropped = post_with(&client, &server, &request("[[mock:drop]] 기사")).await;
    let error = dropped.expect_err("a dropped connection is no response");
    assert!(!error.is_status() && !error.is_timeout(), "{error:?}");

    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    let hung = post_with(&impatient, &server, &request("[[mock:hang]] 기사")).await;
    assert!(hung.expect_err("the hang outlasts the client").is_timeout());

    // `:once` fails the first attempt only, so a retry of the same body succeeds.
    let once = request("[[mock:fail=503:once]] 기사");
    assert_eq!(post(&server, &once).await.status(), 503);
    assert_eq!(post(&server, &once).await.status(), 200);
}

#[tokio::test]
async fn rates_inflict_drops_and_hangs_too() {
    let drop_all = start(MockOptions { drop_rate: 1.0, ..MockOptions::default() }).await;
    assert!(post_with(&http(), &drop_all, &request("가")).await.is_err());
    let hang_all =
        start(MockOptions { hang_rate: 1.0, hang: Duration::from_secs(600), ..MockOptions::default() }).await;
    let impatient = reqwest::Client::builder().timeout(Duration::from_millis(300)).build().unwrap();
    assert!(post_with(&impatient, &hang_all, &request("가")).await.unwrap_err().is_timeout());
    // A short hang answers in the end.
    let brief =
        start(MockOptions { hang_rate: 1.0, hang: Duration::from_millis(50), ..MockOptions::default() })
            .await;
    assert_eq!(post(&brief, &request("가")).await.status(), 200);
}

#[tokio::test]
async fn a_wrong_key_gets_401_and_an_exhausted_quota_429_insufficient_quota() {
    let server = start(MockOptions { require_key: Some("sk-mock".into()), ..MockOptions::default() }).await;
    let url = format!("{}/chat/completions", server.base_url());
    let wrong = http().post(&url).bearer_auth("sk-other").json(&request("가")).send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    assert_eq!(wrong.json::<Value>().await.unwrap()["error"]["code"], "invalid_api_key");
    let right = http().post(&url).bearer_auth("sk-mock").json(&request("가")).send().await.unwrap();
    assert_eq!(right.status(), 200);

    let broke = start(MockOptions { quota_exhausted: true, ..MockOptions::default() }).await;
    let response = post(&broke, &request("가")).await;
    assert_eq!(response.status(), 429);
    assert!(response.headers().get("retry-after").is_none());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "insufficient_quota");
    assert_eq!(body["error"]["type"], "insufficient_quota");
}

#[tokio::test]
async fn latency_and_token_pacing_delay_the_answer() {
    let server = start(MockOptions {
        latency: Duration::from_millis(200),
        per_token: Duration::from_millis(2),
        ..MockOptions::default()
    })
    .await;
    let started = Instant::now();
    let body: Value = post(&server, &request(&"가".repeat(100))).await.json().await.unwrap();
    let completion_tokens = body["usage"]["completion_tokens"].as_u64().unwrap();
    // Lower bounds only: a loaded machine may be slower, never faster.
    assert!(started.elapsed() >= Duration::from_millis(200 + 2 * completion_tokens));
}

#[tokio::test]
async fn max_concurrency_makes_excess_requests_wait_their_turn() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let server = start(MockOptions {
        max_concurrency: Some(1),
        latency: Duration::from_millis(100),
        log: Some(log.clone()),
        ..MockOptions::default()
    })
    .await;
    let bodies: Vec<Value> = (0..3).map(|i| request(&format!("기사 {i}"))).collect();
    let requests = bodies.iter().map(|body| post(&server, body));
    for response in futures::future::join_all(requests).await {
        assert_eq!(response.status(), 200);
    }
    let mut lines = log_lines(&log, 3).await;
    lines.sort_by_key(|l| l["started_unix_ms"].as_u64());
    for pair in lines.windows(2) {
        assert!(pair[1]["started_unix_ms"].as_u64() >= pair[0]["finished_unix_ms"].as_u64(), "{pair:?}");
    }
}

#[tokio::test]
async fn a_stream_sends_chunks_then_usage_then_done() {
    let server = start(MockOptions::default()).await;
    let plain: Value = post(&server, &request("첫째 문단.\n둘째 문단.")).await.json().await.unwrap();
    let mut body = request("첫째 문단.\n둘째 문단.");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let response = post(&server, &body).await;
    assert_eq!(response.status(), 200);
    assert!(header(&response, "content-type").starts_with("text/event-stream"));
    let text = response.text().await.unwrap();
    let data: Vec<&str> = text.lines().filter_map(|l| l.strip_prefix("data: ")).collect();
    assert_eq!(data.last(), Some(&"[DONE]"));
    let chunks: Vec<Value> =
        data[..data.len() - 1].iter().map(|d| serde_json::from_str(d).unwrap()).collect();
    assert!(chunks.iter().all(|c| c["object"] == "chat.completion.chunk"));
    let content: String =
        chunks.iter().filter_map(|c| c["choices"][0]["delta"]["content"].as_str()).collect();
    assert_eq!(content, plain["choices"][0]["message"]["content"].as_str().unwrap());
    assert_eq!(content.split('\n').count(), 2, "one paragraph per Korean paragraph");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["choices"], json!([]));
    assert_eq!(usage["usage"], plain["usage"]);
    let finish = &chunks[chunks.len() - 2];
    assert_eq!(finish["choices"][0]["finish_reason"], "stop");
}

#[tokio::test]
async fn the_log_has_one_line_per_request_with_what_was_done_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("requests.jsonl");
    let server = start(MockOptions { rpm: Some(3), log: Some(log.clone()), ..MockOptions::default() }).await;
    let once = request("[[mock:fail=503:once]] 기사");
    assert_eq!(post(&server, &once).await.status(), 503);
    assert_eq!(post(&server, &once).await.status(), 200);
    assert!(post_with(&http(), &server, &request("[[mock:drop]] 기사")).await.is_err());
    assert_eq!(post(&server, &request("가")).await.status(), 429);
    let lines = log_lines(&log, 4).await;
    assert_eq!(lines.len(), 4, "{lines:?}");
    let status: Vec<Value> = lines.iter().map(|l| l["status"].clone()).collect();
    assert_eq!(status, [json!(503), json!(200), Value::Null, json!(429)]);
    assert_eq!(lines[0]["faults"], json!(["fail=503"]));
    assert_eq!(lines[1]["faults"], json!([]));
    assert_eq!(lines[2]["faults"], json!(["drop"]));
    assert_eq!(lines[3]["faults"], json!(["rate_limit"]));
    assert_eq!(lines[0]["body_sha256"], lines[1]["body_sha256"]);
    assert_eq!((lines[0]["attempt"].as_u64(), lines[1]["attempt"].as_u64()), (Some(0), Some(1)));
    assert!(lines[1]["completion_tokens"].as_u64().unwrap() > 0);
    assert!(lines.iter().all(|l| l["prompt_tokens"].as_u64().unwrap() > 0));
    assert!(lines.iter().all(|l| l["finished_unix_ms"].as_u64() >= l["arrived_unix_ms"].as_u64()));
}

mod typed_client {
    //! The mock as another OpenAI client sees it: async-openai's typed requests and responses
    //! must parse every success and every OpenAI-shaped error the mock returns.

    use super::*;
    use async_openai::config::OpenAIConfig;
    use async_openai::error::OpenAIError;
    use async_openai::types::chat::{
        ChatCompletionRequestUserMessage, ChatCompletionStreamOptions, CreateChatCompletionRequest,
        CreateChatCompletionRequestArgs, FinishReason,
    };
    use futures::StreamExt;

    fn client(server: &MockServer, key: &str) -> async_openai::Client<OpenAIConfig> {
        ko2en::client::install_crypto_provider();
        let config = OpenAIConfig::new().with_api_base(server.base_url()).with_api_key(key);
        // The default executor retries 429 and 5xx itself; the raw errors are what is tested.
        async_openai::Client::with_config(config)
            .with_http_service(async_openai::middleware::ReqwestService::new(reqwest::Client::new()))
    }

    fn typed(text: &str) -> CreateChatCompletionRequest {
        CreateChatCompletionRequestArgs::default()
            .model("gpt-4o-mini")
            .max_completion_tokens(300u32)
            .messages(vec![ChatCompletionRequestUserMessage::from(text).into()])
            .build()
            .unwrap()
    }

    async fn api_error(server: &MockServer, key: &str, text: &str) -> (u16, Option<String>) {
        match client(server, key).chat().create(typed(text)).await {
            Err(OpenAIError::ApiError(e)) => (e.status_code.as_u16(), e.api_error.code),
            other => panic!("an API error expected, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn successes_and_truncations_parse() {
        let server = start(MockOptions::default()).await;
        let reply = client(&server, "k").chat().create(typed("기사 본문")).await.unwrap();
        assert_eq!(reply.choices[0].finish_reason, Some(FinishReason::Stop));
        assert!(reply.choices[0].message.content.as_deref().unwrap().starts_with("[mock]"));
        assert!(reply.usage.unwrap().total_tokens > 0);
        let cut = client(&server, "k").chat().create(typed("[[mock:truncate]] 기사")).await.unwrap();
        assert_eq!(cut.choices[0].finish_reason, Some(FinishReason::Length));
        let leaked = client(&server, "k").chat().create(typed("[[mock:hangul]] 기사")).await.unwrap();
        assert!(leaked.choices[0].message.content.is_some());
    }

    #[tokio::test]
    async fn a_stream_parses_to_the_end_with_its_usage() {
        let server =
            start(MockOptions { per_token: Duration::from_millis(1), ..MockOptions::default() }).await;
        let mut request = typed(&"가나다라 ".repeat(40));
        request.stream = Some(true);
        request.stream_options =
            Some(ChatCompletionStreamOptions { include_usage: Some(true), include_obfuscation: None });
        let mut stream = client(&server, "k").chat().create_stream(request).await.unwrap();
        let (mut content, mut usage, mut finish) = (String::new(), None, None);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.expect("every chunk parses");
            if let Some(choice) = chunk.choices.first() {
                content.push_str(choice.delta.content.as_deref().unwrap_or_default());
                finish = finish.or(choice.finish_reason);
            }
            usage = usage.or(chunk.usage);
        }
        assert!(content.starts_with("[mock]"));
        assert_eq!(finish, Some(FinishReason::Stop));
        assert!(usage.expect("a usage chunk").completion_tokens > 0);

        // Faults reach streams too: a truncated one ends with finish_reason "length".
        let mut request = typed("[[mock:truncate]] 기사 본문");
        request.stream = Some(true);
        let stream = client(&server, "k").chat().create_stream(request).await.unwrap();
        let chunks: Vec<_> = stream.collect().await;
        assert!(chunks.iter().all(Result::is_ok), "{chunks:?}");
        let finish = chunks.iter().rev().find_map(|c| c.as_ref().ok()?.choices.first()?.finish_reason);
        assert_eq!(finish, Some(FinishReason::Length));
    }

    #[tokio::test]
    async fn every_openai_error_body_parses() {
        let limited = start(MockOptions { rpm: Some(1), ..MockOptions::default() }).await;
        assert!(client(&limited, "k").chat().create(typed("가")).await.is_ok());
        assert_eq!(api_error(&limited, "k", "가").await, (429, Some("rate_limit_exceeded".into())));
        let small = start(MockOptions { tpm: Some(10), ..MockOptions::default() }).await;
        assert_eq!(api_error(&small, "k", "가").await, (429, Some("rate_limit_exceeded".into())));
        let locked =
            start(MockOptions { require_key: Some("sk-mock".into()), ..MockOptions::default() }).await;
        assert_eq!(api_error(&locked, "sk-wrong", "가").await, (401, Some("invalid_api_key".into())));
        let broke = start(MockOptions { quota_exhausted: true, ..MockOptions::default() }).await;
        assert_eq!(api_error(&broke, "k", "가").await, (429, Some("insufficient_quota".into())));
        let plain = start(MockOptions::default()).await;
        assert_eq!(api_error(&plain, "k", "[[mock:fail=500]]").await, (500, None));
        assert_eq!(api_error(&plain, "k", "[[mock:fail=503]]").await, (503, None));
        assert_eq!(api_error(&plain, "k", "[[mock:status=400]]").await, (400, None));
        // A proxy's HTML page keeps its status; a garbage 200 is not JSON, and the client says so.
        let (status, code) = api_error(&plain, "k", "[[mock:fail=502]]").await;
        assert_eq!((status, code), (502, None));
        let error = client(&plain, "k").chat().create(typed("[[mock:garbage]]")).await.unwrap_err();
        assert!(matches!(error, OpenAIError::JSONDeserialize(..)), "{error:?}");
    }
}

mod binary {
    //! The real binary: `ko2en mock-server` with its flags, and `--mock-opt` under `--mock`.

    use super::*;
    use tokio::io::AsyncBufReadExt;

    #[tokio::test]
    async fn mock_server_prints_its_url_first_and_applies_its_flags() {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_ko2en"))
            .args(["mock-server", "--addr", "127.0.0.1:0", "--rpm", "1", "--seed", "7"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary runs");
        let stdout = child.stdout.take().unwrap();
        let base_url = tokio::io::BufReader::new(stdout).lines().next_line().await.unwrap().unwrap();
        assert!(base_url.starts_with("http://127.0.0.1:") && base_url.ends_with("/v1"), "{base_url}");
        let client = http();
        let url = format!("{base_url}/chat/completions");
        let first = client.post(&url).json(&request("가")).send().await.unwrap();
        assert_eq!(first.status(), 200);
        let second = client.post(&url).json(&request("가")).send().await.unwrap();
        assert_eq!(second.status(), 429);
        assert_eq!(header(&second, "x-ratelimit-limit-requests"), "1");
        child.kill().await.unwrap();
    }

    #[tokio::test]
    async fn mock_opts_reach_the_in_process_mock() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/alibaba-cloud-korea.txt");
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_ko2en"))
            .args([
                "summarize",
                fixture,
                "--mock",
                "--quiet",
                "--no-cache",
                "--mock-opt",
                "seed=3",
                "--mock-opt",
            ])
            .arg(format!("log={}", log.display()))
            .env_remove("OPENAI_API_KEY")
            .output()
            .await
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let lines = log_lines(&log, 1).await;
        assert!(!lines.is_empty() && lines.iter().all(|l| l["status"] == 200), "{lines:?}");

        let bad = tokio::process::Command::new(env!("CARGO_BIN_EXE_ko2en"))
            .args(["summarize", fixture, "--mock", "--mock-opt", "rpm=many"])
            .output()
            .await
            .unwrap();
        assert_eq!(bad.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&bad.stderr).contains("--mock-opt rpm takes a whole number"));
    }
}
