//! Every provider set up once, on the real binary against a real HTTP server on 127.0.0.1:
//! what each preset puts on the wire (URL shape, key header, budget field, response format),
//! profiles from a config file, and a misconfigured endpoint stopping the run after the first
//! wave with one sentence saying what to check.

mod common;

use std::path::Path;
use std::sync::atomic::Ordering;

use common::{ARTICLE, Ko2en, REPLY, Seen, completion, serve_and_record, serve_by_request};
use serde_json::json;

/// A JSONL batch of `n` distinct short articles.
fn batch(dir: &Path, n: usize) -> std::path::PathBuf {
    let path = dir.join("batch.jsonl");
    let (title, body) = ARTICLE.split_once('\n').unwrap();
    let lines: Vec<String> = (0..n)
        .map(|i| {
            json!({"id": format!("a{i}"), "title": title, "text": format!("{body} 기사 번호는 {i}번이다.")})
                .to_string()
        })
        .collect();
    std::fs::write(&path, lines.join("\n")).unwrap();
    path
}

/// A server that answers every request with a good summary; its requests kept.
fn good_server() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) {
    let (url, _, seen) = serve_and_record(|_| ("200 OK", vec![], completion(REPLY)));
    (url, seen)
}

fn first(seen: &std::sync::Arc<std::sync::Mutex<Vec<Seen>>>) -> Seen {
    seen.lock().unwrap().first().cloned().expect("a request reached the server")
}

#[test]
fn azure_classic_sends_the_deployment_in_the_path_the_version_in_the_query_and_an_api_key_header() {
    let dir = tempfile::tempdir().unwrap();
    let (url, seen) = good_server();
    let resource = url.trim_end_matches("/v1");
    let run = Ko2en::new([
        "summarize",
        "--provider",
        "azure",
        "--base-url",
        resource,
        "-m",
        "my-gpt",
        "--no-cache",
        "-q",
    ])
    .env("AZURE_OPENAI_API_KEY", "az-secret")
    .arg_path(&batch(dir.path(), 1))
    .run();
    run.assert_code(0);
    let request = first(&seen);
    assert_eq!(
        request.line,
        "POST /openai/deployments/my-gpt/chat/completions?api-version=2024-10-21 HTTP/1.1"
    );
    assert_eq!(request.header("api-key"), Some("az-secret"));
    assert_eq!(request.header("authorization"), None);
    assert!(request.body.get("max_completion_tokens").is_some(), "{}", request.body);
    assert!(!run.stdout().contains("az-secret") && !run.stderr().contains("az-secret"));
}

#[test]
fn a_pasted_azure_url_gives_its_deployment_and_version() {
    let dir = tempfile::tempdir().unwrap();
    let (url, seen) = good_server();
    let pasted = format!(
        "{}/openai/deployments/dep-1/chat/completions?api-version=2025-01-01-preview",
        url.trim_end_matches("/v1")
    );
    let run = Ko2en::new(["summarize", "--base-url", &pasted, "--no-cache", "-q"])
        .env("AZURE_OPENAI_API_KEY", "k")
        .arg_path(&batch(dir.path(), 1))
        .run();
    run.assert_code(0);
    assert_eq!(
        first(&seen).line,
        "POST /openai/deployments/dep-1/chat/completions?api-version=2025-01-01-preview HTTP/1.1"
    );
    assert_eq!(run.records()[0]["model"], "dep-1");
}

#[test]
fn a_pasted_chat_completions_url_is_cut_to_its_base_with_a_notice() {
    let dir = tempfile::tempdir().unwrap();
    let (url, seen) = good_server();
    let run = Ko2en::new(["summarize", "--base-url", &format!("{url}/chat/completions"), "--no-cache"])
        .env("OPENAI_API_KEY", "k")
        .arg_path(&batch(dir.path(), 1))
        .run();
    run.assert_code(0);
    assert_eq!(first(&seen).line, "POST /v1/chat/completions HTTP/1.1");
    assert!(run.stderr().contains("ko2en adds /chat/completions itself"), "{}", run.stderr());
}

#[test]
fn a_profile_says_once_what_a_deepseek_user_retyped_on_every_run() {
    let dir = tempfile::tempdir().unwrap();
    let (url, seen) = good_server();
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!("[profiles.ds]\nprovider = \"deepseek\"\nbase_url = \"{url}\"\napi_key_env = \"DS_KEY\"\n"),
    )
    .unwrap();
    let run = Ko2en::new(["summarize", "-p", "ds", "--no-cache", "-q"])
        .arg("--config")
        .arg_path(&config)
        .env("DS_KEY", "ds-secret")
        .arg_path(&batch(dir.path(), 1))
        .run();
    run.assert_code(0);
    let request = first(&seen);
    assert_eq!(request.header("authorization"), Some("Bearer ds-secret"));
    assert_eq!(request.body["model"], "deepseek-chat");
    assert_eq!(request.body["response_format"], json!({"type": "json_object"}));
    assert!(request.body.get("max_tokens").is_some(), "{}", request.body);

    // The same from the environment, and `config show` says where each value came from.
    let show = Ko2en::new(["config", "show"])
        .env("KO2EN_CONFIG", config.to_str().unwrap())
        .env("KO2EN_PROFILE", "ds")
        .env("DS_KEY", "ds-secret")
        .run();
    show.assert_code(0);
    let out = show.stdout();
    assert!(out.contains("profile            ds"), "{out}");
    assert!(out.contains("provider           deepseek  (profile ds)"), "{out}");
    assert!(out.contains("model              deepseek-chat  (deepseek preset)"), "{out}");
    assert!(out.contains("response format    json_object  (deepseek preset)"), "{out}");
    assert!(out.contains("api key            $DS_KEY (set, not shown)"), "{out}");
    assert!(!out.contains("ds-secret"), "{out}");
}

#[test]
fn a_key_from_a_command_is_used_and_never_shown_and_a_keyless_local_server_gets_no_header() {
    let dir = tempfile::tempdir().unwrap();
    let (url, seen) = good_server();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("base_url = \"{url}\"\napi_key_cmd = \"echo sk-from-cmd\"\n")).unwrap();
    let run = Ko2en::new(["summarize", "--no-cache"])
        .arg("--config")
        .arg_path(&config)
        .arg_path(&batch(dir.path(), 1))
        .run();
    run.assert_code(0);
    assert_eq!(first(&seen).header("authorization"), Some("Bearer sk-from-cmd"));
    assert!(!run.stdout().contains("sk-from-cmd") && !run.stderr().contains("sk-from-cmd"));
    // `config show` names the command, not the key it prints, even when the command spells it.
    let show = Ko2en::new(["config", "show"]).arg("--config").arg_path(&config).run();
    show.assert_code(0);
    assert!(show.stdout().contains("api key") && !show.stdout().contains("sk-from-cmd"), "{}", show.stdout());

    let (url, seen) = good_server();
    let run = Ko2en::new([
        "summarize",
        "--provider",
        "ollama",
        "--base-url",
        &url,
        "-m",
        "qwen2.5:7b",
        "--no-cache",
    ])
    .arg_path(&batch(dir.path(), 1))
    .run();
    run.assert_code(0);
    let request = first(&seen);
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.body["model"], "qwen2.5:7b");
}

#[test]
fn a_local_preset_without_a_model_is_refused_before_anything_is_sent() {
    let run = Ko2en::new(["summarize", "--provider", "ollama", "x.txt"]).run();
    run.assert_code(2);
    assert!(run.stderr().contains("ollama has no default model"), "{}", run.stderr());
    let run = Ko2en::new(["summarize", "--provider", "nosuch", "x.txt"]).run();
    run.assert_code(2);
    assert!(run.stderr().contains("known presets: openai, azure"), "{}", run.stderr());
}

/// A misconfigured endpoint: `status` and `body` for every request; the run must stop after
/// the first wave (at most --concurrency requests) with exit 2 and `says` on stderr.
fn stops_after_the_first_wave(status: &'static str, body: &'static str, says: &str) {
    let dir = tempfile::tempdir().unwrap();
    let (url, count, _) = serve_and_record(move |_| (status, vec![], body.to_string()));
    let run = Ko2en::new(["summarize", "--base-url", &url, "--concurrency", "4", "--no-cache"])
        .env("OPENAI_API_KEY", "k")
        .arg_path(&batch(dir.path(), 40))
        .run();
    run.assert_code(2);
    let sent = count.load(Ordering::SeqCst);
    assert!(sent <= 4, "{status}: {sent} requests for 40 articles");
    let stderr = run.stderr();
    assert!(stderr.contains(&format!("{url}/chat/completions with model gpt-4o-mini")), "{stderr}");
    assert!(stderr.contains(says), "{stderr}");
    assert_eq!(stderr.matches("Check:").count(), 1, "one sentence, once: {stderr}");
}

#[test]
fn a_wrong_url_stops_after_the_first_wave() {
    stops_after_the_first_wave("404 Not Found", "", "does the base URL end in /v1");
}

#[test]
fn an_unknown_model_stops_after_the_first_wave() {
    // LiteLLM's proxy, asked for a model it does not route.
    stops_after_the_first_wave(
        "400 Bad Request",
        r#"{"error":{"message":"Invalid model name passed in model=gpt-4o-mini. Call `/v1/models` to view available models for your key.","type":"invalid_request_error","param":"model","code":"400"}}"#,
        "is gpt-4o-mini a model this endpoint serves",
    );
}

#[test]
fn a_refused_key_stops_after_the_first_wave() {
    stops_after_the_first_wave(
        "401 Unauthorized",
        r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}"#,
        "is the API key right",
    );
}

#[test]
fn a_web_page_where_the_api_should_be_stops_after_the_first_wave() {
    stops_after_the_first_wave("200 OK", "<html><body>Welcome</body></html>", "does the base URL end in /v1");
}

#[test]
fn config_init_writes_an_example_once_and_never_over_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ko2en").join("config.toml");
    let run = Ko2en::new(["config", "init"]).arg_path(&path).run();
    run.assert_code(0);
    let written = std::fs::read_to_string(&path).unwrap();
    assert!(written.contains("[profiles.deepseek]"));
    std::fs::write(&path, "model = \"mine\"\n").unwrap();
    let again = Ko2en::new(["config", "init"]).arg_path(&path).run();
    again.assert_code(2);
    assert_eq!(std::fs::read_to_string(&path).unwrap(), "model = \"mine\"\n");
}

#[test]
fn completions_and_the_man_page_come_from_the_same_definitions_as_help() {
    let bash = Ko2en::new(["completions", "bash"]).run();
    bash.assert_code(0);
    assert!(bash.stdout().contains("--provider") && bash.stdout().contains("--api-version"));
    let man = Ko2en::new(["man"]).run();
    man.assert_code(0);
    assert!(man.stdout().starts_with(".ie") && man.stdout().contains("summarize"), "{}", &man.stdout()[..80]);
}

#[test]
fn a_server_without_json_schema_switches_the_run_once_and_the_next_run_starts_right() {
    let dir = tempfile::tempdir().unwrap();
    // Groq's words for a model without structured outputs.
    let (url, _, seen) = serve_by_request(|_, request| {
        if request.body["response_format"]["type"] == "json_schema" {
            let refusal = r#"{"error":{"message":"This model does not support response format `json_schema`","type":"invalid_request_error"}}"#;
            ("400 Bad Request", vec![], refusal.to_string())
        } else {
            ("200 OK", vec![], completion(REPLY))
        }
    });
    let cache = dir.path().join("cache.sqlite");
    let input = batch(dir.path(), 6);
    let run = |input: &Path| {
        Ko2en::new(["summarize", "--base-url", &url, "--concurrency", "2"])
            .env("OPENAI_API_KEY", "k")
            .arg("--cache")
            .arg_path(&cache)
            .arg_path(input)
            .run()
    };
    let first = run(&input);
    first.assert_code(0);
    assert!(first.records().iter().all(|r| r["error"].is_null()), "{}", first.stdout());
    assert_eq!(first.stderr().matches("does not take response_format").count(), 1, "{}", first.stderr());
    let requests = seen.lock().unwrap().clone();
    let refused = requests.iter().filter(|r| r.body["response_format"]["type"] == "json_schema").count();
    assert!(refused <= 2, "only the first wave was refused: {refused}");
    // The prompt now carries the schema the server no longer enforces.
    let later = requests.last().unwrap();
    assert_eq!(later.body["response_format"]["type"], "json_object");
    assert!(later.body["messages"][0]["content"].as_str().unwrap().contains("summary_en"));

    // A new batch on the same cache starts in the form learned.
    seen.lock().unwrap().clear();
    let other = dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let second = run(&batch(&other, 2));
    second.assert_code(0);
    assert!(!second.stderr().contains("does not take"), "{}", second.stderr());
    assert!(seen.lock().unwrap().iter().all(|r| r.body["response_format"]["type"] == "json_object"));
}

#[test]
fn a_model_that_rejects_max_tokens_gets_max_completion_tokens() {
    let dir = tempfile::tempdir().unwrap();
    // OpenAI's words to a reasoning model behind a name that does not say so (an Azure deployment).
    let (url, _, seen) = serve_by_request(|_, request| {
        if request.body.get("max_tokens").is_some() {
            let refusal = r#"{"error":{"message":"Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.","type":"invalid_request_error","param":"max_tokens","code":"unsupported_parameter"}}"#;
            ("400 Bad Request", vec![], refusal.to_string())
        } else {
            ("200 OK", vec![], completion(REPLY))
        }
    });
    let run = Ko2en::new(["summarize", "--base-url", &url, "-m", "my-reasoner", "--no-cache"])
        .env("OPENAI_API_KEY", "k")
        .arg_path(&batch(dir.path(), 3))
        .run();
    run.assert_code(0);
    assert!(run.stderr().contains("sending max_completion_tokens"), "{}", run.stderr());
    assert!(seen.lock().unwrap().last().unwrap().body.get("max_completion_tokens").is_some());
}

#[test]
fn check_says_what_works_with_the_limits_the_server_announces_and_stops_on_what_does_not() {
    // LiteLLM's proxy with a per-key limit of 20 requests a minute (scripts/litellm-proxy.sh).
    let (url, count, _) = serve_and_record(|_| {
        let headers = vec![
            ("x-ratelimit-api_key-limit-requests", "20"),
            ("x-ratelimit-api_key-remaining-requests", "19"),
        ];
        ("200 OK", headers, completion(r#"{"ok":true}"#))
    });
    let run = Ko2en::new(["check", "--provider", "litellm", "--base-url", &url, "-m", "gpt-4o-mini"]).run();
    run.assert_code(0);
    let out = run.stdout();
    assert!(out.contains("limits           20 requests/min (19 left)"), "{out}");
    assert!(
        out.contains("key              accepted") && out.contains("answer           valid JSON"),
        "{out}"
    );
    assert_eq!(count.load(Ordering::SeqCst), 1, "one tiny request");

    let (url, _, _) =
        serve_and_record(|_| ("401 Unauthorized", vec![], r#"{"error":{"message":"bad key"}}"#.into()));
    let run = Ko2en::new(["check", "--base-url", &url]).env("OPENAI_API_KEY", "k").run();
    run.assert_code(2);
    assert!(run.stderr().contains("is the API key right"), "{}", run.stderr());
}

/// `ko2en mock-server` with `flags`, its base URL, and the process to kill.
struct MockServer {
    child: std::process::Child,
    url: String,
}

impl MockServer {
    fn start(flags: &[&str]) -> MockServer {
        use std::io::BufRead;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ko2en"))
            .arg("mock-server")
            .args(flags)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut url = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).unwrap();
        MockServer { child, url: url.trim().to_string() }
    }

    /// The mock's log, one JSON value a request.
    fn requests(log: &Path) -> Vec<serde_json::Value> {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        self.child.kill().ok();
        self.child.wait().ok();
    }
}

#[test]
fn the_mock_plays_azure_and_the_azure_preset_speaks_it() {
    let dir = tempfile::tempdir().unwrap();
    let mock = MockServer::start(&["--azure", "--require-key", "az-key", "--models", "my-deployment"]);
    let resource = mock.url.trim_end_matches("/v1");
    let run = Ko2en::new([
        "summarize",
        "--provider",
        "azure",
        "--base-url",
        resource,
        "-m",
        "my-deployment",
        "--no-cache",
        "-q",
    ])
    .env("AZURE_OPENAI_API_KEY", "az-key")
    .arg_path(&batch(dir.path(), 3))
    .run();
    run.assert_code(0);
    assert!(
        run.records().iter().all(|r| r["error"].is_null() && r["model"] == "my-deployment"),
        "{}",
        run.stdout()
    );

    // OpenAI's shape against Azure: the path does not exist there, and the run says what to check.
    let run = Ko2en::new([
        "summarize",
        "--base-url",
        &mock.url,
        "-m",
        "my-deployment",
        "--no-cache",
        "--concurrency",
        "2",
    ])
    .env("OPENAI_API_KEY", "az-key")
    .arg_path(&batch(dir.path(), 20))
    .run();
    run.assert_code(2);
    assert!(
        run.stderr().contains("HTTP 404") && run.stderr().contains("does the base URL end in /v1"),
        "{}",
        run.stderr()
    );
}

#[test]
fn the_mock_plays_a_server_with_its_own_models_and_an_unknown_one_stops_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mock.log");
    let run = Ko2en::new(["summarize", "--mock", "-m", "gpt-4o-mini", "--concurrency", "3"])
        .arg("--mock-opt")
        .arg("models=qwen2.5:7b")
        .arg("--mock-opt")
        .arg(format!("log={}", log.display()))
        .arg_path(&batch(dir.path(), 30))
        .run();
    run.assert_code(2);
    assert!(MockServer::requests(&log).len() <= 3, "one wave at most");
    assert!(run.stderr().contains("does model gpt-4o-mini exist there"), "{}", run.stderr());
}

#[test]
fn the_mock_refusing_json_schema_and_max_tokens_is_met_with_the_next_forms() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mock.log");
    let run = Ko2en::new([
        "summarize",
        "--mock",
        "--token-param",
        "max_tokens",
        "--no-cache",
        "--concurrency",
        "2",
    ])
    .args(&["--mock-opt", "no-json-schema=true", "--mock-opt", "no-max-tokens=true"])
    .arg("--mock-opt")
    .arg(format!("log={}", log.display()))
    .arg_path(&batch(dir.path(), 8))
    .run();
    run.assert_code(0);
    assert!(run.records().iter().all(|r| r["error"].is_null()), "{}", run.stdout());
    let refused = MockServer::requests(&log).iter().filter(|r| r["status"] == 400).count();
    assert!(refused <= 4, "each refusal costs at most a wave: {refused}");
    let stderr = run.stderr();
    assert!(
        stderr.contains("does not take response_format") && stderr.contains("sending max_completion_tokens"),
        "{stderr}"
    );
}

/// 22 articles through a mock with a 20 rpm limit announced in `dialect`'s headers and no
/// --rpm: once the first answer has told the limit, ko2en keeps to it, so the 429s are at most
/// the first wave's.
fn learns_the_limit_from(dialect: &str) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("mock.log");
    let run = Ko2en::new(["summarize", "--mock", "--no-cache", "-q", "--concurrency", "4"])
        .args(&["--mock-opt", "rpm=20", "--mock-opt", &format!("headers={dialect}")])
        .arg("--mock-opt")
        .arg(format!("log={}", log.display()))
        .arg_path(&batch(dir.path(), 22))
        .run();
    run.assert_code(0);
    let limited = MockServer::requests(&log).iter().filter(|r| r["status"] == 429).count();
    assert!(limited <= 4, "{dialect}: {limited} requests refused for the rate limit");
}

#[test]
fn rate_limits_are_learned_from_litellm_headers() {
    learns_the_limit_from("litellm");
}

#[test]
fn rate_limits_are_learned_from_anthropic_headers() {
    learns_the_limit_from("anthropic");
}

#[test]
fn a_key_written_in_a_file_others_can_read_is_warned_about_and_never_shown() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (url, seen) = good_server();
    let config = dir.path().join("config.toml");
    std::fs::write(&config, format!("base_url = \"{url}\"\napi_key = \"sk-literal-0000\"\n")).unwrap();
    let run_with_mode = |mode: u32| {
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
        Ko2en::new(["summarize", "--no-cache"])
            .arg("--config")
            .arg_path(&config)
            .arg_path(&batch(dir.path(), 1))
            .run()
    };
    let open = run_with_mode(0o644);
    open.assert_code(0);
    assert!(open.stderr().contains("others can read it; chmod 600"), "{}", open.stderr());
    assert!(!open.stderr().contains("sk-literal-0000") && !open.stdout().contains("sk-literal-0000"));
    assert_eq!(first(&seen).header("authorization"), Some("Bearer sk-literal-0000"));
    let private = run_with_mode(0o600);
    private.assert_code(0);
    assert!(!private.stderr().contains("chmod"), "{}", private.stderr());
}

/// Every preset, on the wire: how its key travels, which field carries the budget, and what
/// `response_format` it asks for (a local server's base URL stands in for the provider's).
#[test]
fn every_preset_shapes_its_requests_as_its_documentation_says() {
    // name, key variable, key header, budget field, response_format type ("" for none)
    let presets = [
        ("openai", "OPENAI_API_KEY", "authorization", "max_tokens", "json_schema"),
        ("azure-v1", "AZURE_OPENAI_API_KEY", "api-key", "max_completion_tokens", "json_schema"),
        ("gemini", "GEMINI_API_KEY", "authorization", "max_tokens", "json_schema"),
        ("anthropic", "ANTHROPIC_API_KEY", "authorization", "max_tokens", ""),
        ("deepseek", "DEEPSEEK_API_KEY", "authorization", "max_tokens", "json_object"),
        ("openrouter", "OPENROUTER_API_KEY", "authorization", "max_tokens", "json_schema"),
        ("groq", "GROQ_API_KEY", "authorization", "max_completion_tokens", "json_object"),
        ("mistral", "MISTRAL_API_KEY", "authorization", "max_tokens", "json_schema"),
        ("upstage", "UPSTAGE_API_KEY", "authorization", "max_tokens", "json_schema"),
        ("dashscope", "DASHSCOPE_API_KEY", "authorization", "max_completion_tokens", "json_object"),
        ("dashscope-cn", "DASHSCOPE_API_KEY", "authorization", "max_completion_tokens", "json_object"),
        ("clova", "CLOVA_STUDIO_API_KEY", "authorization", "max_tokens", ""),
        ("ollama", "OLLAMA_API_KEY", "authorization", "max_tokens", "json_schema"),
        ("vllm", "VLLM_API_KEY", "authorization", "max_tokens", "json_schema"),
        ("llamacpp", "LLAMA_API_KEY", "authorization", "max_tokens", "json_schema"),
        ("lmstudio", "LM_API_TOKEN", "authorization", "max_tokens", "json_schema"),
        ("litellm", "LITELLM_API_KEY", "authorization", "max_tokens", "json_schema"),
    ];
    let dir = tempfile::tempdir().unwrap();
    let input = batch(dir.path(), 1);
    for (name, var, header, field, format) in presets {
        let (url, seen) = good_server();
        let run = Ko2en::new([
            "summarize",
            "--provider",
            name,
            "--base-url",
            &url,
            "-m",
            "some-model",
            "--no-cache",
            "-q",
        ])
        .env(var, "preset-key")
        .arg_path(&input)
        .run();
        run.assert_code(0);
        let request = first(&seen);
        let sent = request.header(header).unwrap_or_default();
        assert!(sent == "preset-key" || sent == "Bearer preset-key", "{name}: {header} = {sent:?}");
        assert!(request.body.get(field).is_some(), "{name}: no {field} in {}", request.body);
        let other = if field == "max_tokens" { "max_completion_tokens" } else { "max_tokens" };
        assert!(request.body.get(other).is_none(), "{name}: {other} too");
        let kind = request.body["response_format"]["type"].as_str().unwrap_or_default();
        assert_eq!(kind, format, "{name}");
    }
}

#[test]
fn a_server_that_refuses_streaming_gets_whole_answers_for_the_rest_of_the_run() {
    // Azure's older API versions: "Unrecognized request argument supplied: stream_options".
    let (url, _, seen) = serve_by_request(|_, request| {
        if request.body.get("stream").is_some() {
            let refusal = json!({"error": {"message": "Unrecognized request argument supplied: stream_options",
                                           "type": "invalid_request_error", "code": null}});
            return ("400 Bad Request", vec![], refusal.to_string());
        }
        ("200 OK", vec![], completion(REPLY))
    });
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("b.jsonl");
    let (title, body) = ARTICLE.split_once('\n').unwrap();
    let lines: Vec<String> = (0..3)
        .map(|i| {
            json!({"id": format!("a{i}"), "title": title, "text": format!("{body} 번호 {i}.")}).to_string()
        })
        .collect();
    std::fs::write(&input, lines.join("\n")).unwrap();
    let run = Ko2en::new(["summarize", "--no-cache", "--concurrency", "1", "--base-url", &url])
        .env("OPENAI_API_KEY", "k")
        .arg_path(&input)
        .run();
    run.assert_code(0);
    assert!(run.stderr().contains("does not take streamed requests"), "{}", run.stderr());
    let streamed: Vec<bool> = seen.lock().unwrap().iter().map(|r| r.body.get("stream").is_some()).collect();
    assert_eq!(streamed, [true, false, false, false], "refused once, then whole answers");
}
