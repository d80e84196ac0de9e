//! A small builder for running the real `ko2en` binary in tests.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures").join(name)
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
        for var in ["OPENAI_API_KEY", "OPENAI_BASE_URL", "KO2EN_MODEL"] {
            command.env_remove(var);
        }
        let cache_home = tempfile::tempdir().expect("a temp dir");
        command.env("XDG_CACHE_HOME", cache_home.path());
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
