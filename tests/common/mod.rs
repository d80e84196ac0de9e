//! A small builder for running the real `ko2en` binary in tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
}

/// A batch of `n` articles of the corpus (`tests/data/ko-news.jsonl`) in `dir`: the longest
/// half first (several passages each: parts, combinations, name lists), then short ones.
pub fn corpus(dir: &Path, n: usize) -> PathBuf {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ko-news.jsonl"))
            .unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_by_key(|l| std::cmp::Reverse(l.len()));
    let picked: Vec<&str> =
        lines[..n / 2].iter().chain(&lines[lines.len() - (n - n / 2)..]).copied().collect();
    let path = dir.join("batch.jsonl");
    std::fs::write(&path, picked.join("\n") + "\n").unwrap();
    path
}

/// The JSON lines of a file (a mock's request log, records, results); none if it is missing.
pub fn jsonl(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect()
}

/// One run of the binary: arguments, environment (no inherited OpenAI variables), stdin.
pub struct Ko2en {
    command: Command,
    stdin: Option<Vec<u8>>,
    /// Each run gets its own cache directory, so that tests neither share answers nor touch
    /// the developer's own cache.
    _cache_home: tempfile::TempDir,
}

impl Ko2en {
    pub fn new<I, S>(args: I) -> Ko2en
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ko2en"));
        command.args(args);
        for var in [
            "OPENAI_API_KEY",
            "OPENAI_BASE_URL",
            "KO2EN_MODEL",
            "KO2EN_PROVIDER",
            "KO2EN_BASE_URL",
            "KO2EN_PROFILE",
            "KO2EN_CONFIG",
        ] {
            command.env_remove(var);
        }
        let cache_home = tempfile::tempdir().expect("a temp dir");
        command.env("XDG_CACHE_HOME", cache_home.path());
        // Nor the developer's config file: an empty config home holds none.
        command.env("XDG_CONFIG_HOME", cache_home.path());
        Ko2en { command, stdin: None, _cache_home: cache_home }
    }

    pub fn args<S: AsRef<std::ffi::OsStr>>(mut self, args: &[S]) -> Ko2en {
        self.command.args(args);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Ko2en {
        self.command.arg(arg);
        self
    }

    pub fn arg_path(mut self, path: &Path) -> Ko2en {
        self.command.arg(path);
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Ko2en {
        self.command.env(key, value);
        self
    }

    pub fn current_dir(mut self, dir: &Path) -> Ko2en {
        self.command.current_dir(dir);
        self
    }

    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Ko2en {
        self.stdin = Some(bytes.into());
        self
    }

    pub fn run(mut self) -> Run {
        self.command.stdout(Stdio::piped()).stderr(Stdio::piped());
        self.command.stdin(if self.stdin.is_some() { Stdio::piped() } else { Stdio::null() });
        let mut child = self.command.spawn().expect("the ko2en binary runs");
        if let Some(bytes) = self.stdin.take() {
            child.stdin.take().unwrap().write_all(&bytes).unwrap();
        }
        Run(child.wait_with_output().unwrap())
    }

    /// Start the run and hand it over live, stdin, stdout and stderr piped.
    pub fn spawn(mut self) -> Live {
        self.command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = self.command.spawn().expect("the ko2en binary runs");
        Live { child, _cache_home: self._cache_home }
    }
}

/// `ko2en mock-server` in its own process with `flags`, logging to `log`: the process and its
/// base URL (a server on 127.0.0.1 that ko2en takes for a local one).
pub fn mock_server(flags: &[&str], log: &Path) -> (Child, String) {
    let mut server = Command::new(env!("CARGO_BIN_EXE_ko2en"))
        .arg("mock-server")
        .args(flags)
        .arg("--log")
        .arg(log)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut url = String::new();
    BufReader::new(server.stdout.take().unwrap()).read_line(&mut url).unwrap();
    (server, url.trim().to_string())
}

/// A run in progress. Killed if dropped while still running, so that a failed test leaves no
/// process behind.
pub struct Live {
    pub child: Child,
    _cache_home: tempfile::TempDir,
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// What a run produced.
pub struct Run(pub Output);

impl Run {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8(self.0.stdout.clone()).expect("stdout is UTF-8")
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// stdout as JSONL records.
    pub fn records(&self) -> Vec<serde_json::Value> {
        self.stdout()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }

    pub fn assert_code(&self, code: i32) -> &Run {
        assert_eq!(self.code(), code, "stdout:\n{}\nstderr:\n{}", self.stdout(), self.stderr());
        self
    }
}

pub fn has_hangul(text: &str) -> bool {
    text.chars().any(|c| ('\u{AC00}'..='\u{D7A3}').contains(&c))
}

/// A server on 127.0.0.1 whose `n`th answer (counted from 0) is `answer(n)`: the status line
/// and headers, before a JSON body. Returns its base URL and its request counter.
pub fn serve(
    answer: impl Fn(usize) -> (&'static str, Vec<(&'static str, &'static str)>, String) + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let (url, count, _) = serve_and_record(answer);
    (url, count)
}

/// One request as the server saw it.
#[derive(Debug, Clone)]
#[allow(dead_code)] // each test binary uses its own part of the helpers
pub struct Seen {
    /// "POST /v1/chat/completions HTTP/1.1"
    pub line: String,
    /// Lower-cased names.
    pub headers: Vec<(String, String)>,
    pub body: serde_json::Value,
}

#[allow(dead_code)]
impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// [`serve`], also keeping every request it saw.
pub fn serve_and_record(
    answer: impl Fn(usize) -> (&'static str, Vec<(&'static str, &'static str)>, String) + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<Seen>>>) {
    serve_by_request(move |n, _| answer(n))
}

/// [`serve_and_record`], answering by the request itself.
pub fn serve_by_request(
    answer: impl Fn(usize, &Seen) -> (&'static str, Vec<(&'static str, &'static str)>, String)
    + Send
    + Sync
    + 'static,
) -> (String, Arc<AtomicUsize>, Arc<std::sync::Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    let count = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&count);
    let requests = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = Arc::clone(&requests);
    let answer = Arc::new(answer);
    std::thread::spawn(move || {
        // A thread per connection: the client may open several, and keeps them alive.
        for stream in listener.incoming().flatten() {
            let (seen, answer, recorded) = (Arc::clone(&seen), Arc::clone(&answer), Arc::clone(&recorded));
            std::thread::spawn(move || {
                let mut reader = BufReader::new(&stream);
                while let Some(request) = read_request(&mut reader) {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    let (status, headers, body) = answer(n, &request);
                    recorded.lock().unwrap().push(request);
                    let mut response = format!(
                        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n",
                        body.len()
                    );
                    for (name, value) in headers {
                        response.push_str(&format!("{name}: {value}\r\n"));
                    }
                    response.push_str("\r\n");
                    response.push_str(&body);
                    if (&stream).write_all(response.as_bytes()).is_err() {
                        break;
                    }
                }
            });
        }
    });
    (url, count, requests)
}

/// Read one request (headers and a content-length body); None when the client hung up.
fn read_request(reader: &mut BufReader<&TcpStream>) -> Option<Seen> {
    let mut length = 0;
    let mut first = String::new();
    if reader.read_line(&mut first).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            let (name, value) = (name.trim().to_ascii_lowercase(), value.trim().to_string());
            if name == "content-length" {
                length = value.parse().ok()?;
            }
            headers.push((name, value));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    Some(Seen { line: first.trim_end().to_string(), headers, body })
}

pub fn completion(content: &str) -> String {
    serde_json::json!({
        "id": "x", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    })
    .to_string()
}

/// A valid summary reply, as a model would give it.
pub const REPLY: &str = r#"{"title_en":"Seoul announces a new export plan","summary_ko":"정부가 새 수출 계획을 발표했다. 계획은 내년에 시작된다.","summary_en":"The government announced a new export plan. The plan starts next year.","key_points_en":["A new export plan was announced.","It starts next year.","Exporters welcome it."]}"#;

/// A short Korean article: a headline line, then the body.
pub const ARTICLE: &str =
    "정부, 새 수출 계획 발표\n정부가 새 수출 계획을 발표했다. 계획은 내년에 시작된다.\n";
