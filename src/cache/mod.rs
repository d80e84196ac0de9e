//! The answer cache: no answer that was paid for is lost or paid for again, and none is reused
//! where it would be wrong. Two kinds of entries live in one SQLite file:
//!
//! - an *answer* per LLM call, keyed by everything that changes it ([`key::call_key`]): the
//!   content and what it cost. The pool commits it before anything downstream sees it, so a
//!   crash at any moment keeps every answer received.
//! - a *record result* per article ([`key::article_key`]), so that rerunning a finished batch
//!   is one lookup per article. Only error-free results are kept; a failed article is retried.
//!
//! Cached usage is what the answer cost when it was bought: a rerun reproduces the same records
//! byte for byte, and the end-of-run summary says how many requests were actually sent.
//!
//! `store` owns the file and its one writer, `query` what reads ask of it, `key` the keys.

pub(crate) mod key;
mod query;
mod spill;
mod store;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) use key::{ArticleIdentity, Key, article_key, call_key};
use store::{Store, Write};

use crate::record::Usage;

/// Why the cache cannot be used. Every message says what to do next.
#[derive(Debug, Clone, thiserror::Error)]
pub(crate) enum CacheError {
    #[error(
        "the cache {path} is damaged ({message}); it was left untouched. \
         Run `ko2en cache clear --cache {path}` to start a new one, or use --cache other.sqlite"
    )]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "{path} is not a ko2en cache (it is another program's file, or not a database); it was left \
         untouched. Choose another --cache path"
    )]
    Foreign { path: PathBuf },
    #[error(
        "the cache {path} was written by a newer ko2en (cache schema {found}; this one knows {known}); \
         it was left untouched. Upgrade ko2en, run `ko2en cache clear --cache {path}`, or use --cache other.sqlite"
    )]
    Newer { path: PathBuf, found: i64, known: i64 },
    #[error(
        "{path} is not a ko2en cache (it does not carry ko2en's mark), so `cache clear` left it \
         untouched. If it is yours to delete, delete it yourself"
    )]
    NotOurs { path: PathBuf },
    #[error("cannot use the cache {path}: {message}")]
    Io { path: PathBuf, message: String },
    #[error("the cache {path} failed: {message}")]
    Sqlite { path: PathBuf, message: String },
    #[error("the cache {path} is busy: {message}; another ko2en run may be holding it, try again")]
    Busy { path: PathBuf, message: String },
    /// An answer that was paid for could not be committed; where it went instead.
    #[error(
        "an answer could not be saved in the cache {path} ({message}); {}",
        match spilled_to {
            Some(file) => format!("it was kept in {}, which the next run reads", file.display()),
            None => "nor anywhere else; it is used in this run only".to_string(),
        }
    )]
    NotSaved { path: PathBuf, message: String, spilled_to: Option<PathBuf> },
}

/// Where answers already paid for are kept: the cache's own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheSettings {
    /// The SQLite file, or None for no cache (`--no-cache`).
    pub(crate) path: Option<PathBuf>,
    /// Look nothing up, but store every new answer (`--refresh`).
    pub(crate) refresh: bool,
}

/// A cached answer: the content as the model gave it, and what it cost then.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredAnswer {
    pub(crate) content: String,
    pub(crate) usage: Usage,
}

/// A provider batch of a job (`ko2en batch submit`): which round it was, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BatchJob {
    /// The provider's batch id.
    pub(crate) id: String,
    /// The endpoint as cache keys name it, and the model: a job is theirs.
    pub(crate) endpoint: String,
    pub(crate) model: String,
    pub(crate) round: u32,
    pub(crate) requests: u64,
    /// The provider's status when last seen.
    pub(crate) status: String,
    /// Whether its results were read into the cache.
    pub(crate) collected: bool,
}

/// What one run found in the cache.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RunStats {
    /// Articles whose whole record came from the cache.
    pub(crate) articles_hit: u64,
    pub(crate) articles_missed: u64,
    /// LLM calls answered from the cache.
    pub(crate) answers_hit: u64,
    pub(crate) answers_missed: u64,
    /// Requests that reached the endpoint.
    pub(crate) requests_sent: u64,
}

/// What `ko2en cache stats` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheSummary {
    pub(crate) answers: u64,
    pub(crate) articles: u64,
    /// The file and its WAL, in bytes.
    pub(crate) bytes_on_disk: u64,
    pub(crate) last_run: Option<RunStats>,
}

#[derive(Default)]
struct Counters {
    articles_hit: AtomicU64,
    articles_missed: AtomicU64,
    answers_hit: AtomicU64,
    answers_missed: AtomicU64,
}

/// A handle on the open cache, shared by every task of a run.
#[derive(Clone)]
pub(crate) struct Cache {
    store: Arc<Store>,
    /// Lookups always miss; answers are still stored (`--refresh`).
    refresh: bool,
    counters: Arc<Counters>,
    /// This run, as the owner of its claims.
    owner: Arc<str>,
    /// Answers paid for that the file did not take (see `spill`): still answers.
    unsaved: Arc<Mutex<HashMap<Key, StoredAnswer>>>,
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache").field("path", &self.store.path()).field("refresh", &self.refresh).finish()
    }
}

impl Cache {
    /// Open or create the cache at `path`. Blocking (it touches the disk): call it off the
    /// runtime, e.g. in `spawn_blocking`.
    pub(crate) fn open(path: &Path, refresh: bool) -> Result<Cache, CacheError> {
        let store = Arc::new(Store::open(path)?);
        let owner = format!("{}-{:016x}", std::process::id(), fastrand::u64(..));
        let cache = Cache {
            store,
            refresh,
            counters: Default::default(),
            owner: owner.into(),
            unsaved: Default::default(),
        };
        cache.import_spilled();
        Ok(cache)
    }

    /// Take in the answers an earlier run paid for but could not save: into the file when it
    /// takes them now (then the spill files go), else into memory for this run.
    fn import_spilled(&self) {
        let (answers, files) = spill::read(self.store.path());
        if files.is_empty() {
            return;
        }
        let saved = answers.iter().all(|(key, answer)| {
            let write =
                Write::StoredAnswer { key: *key, content: answer.content.clone(), usage: answer.usage };
            self.store.write_blocking(write).is_ok()
        });
        if saved {
            for file in files {
                let _ = std::fs::remove_file(file);
            }
        } else {
            self.unsaved.lock().unwrap_or_else(|e| e.into_inner()).extend(answers);
        }
    }

    /// The answer stored under `key`. A read error is a miss (and a warning): the answer is
    /// bought again rather than the batch stopped.
    #[cfg(test)]
    pub(crate) async fn answer(&self, key: Key) -> Option<StoredAnswer> {
        let found = self.lookup(key).await;
        self.count_answer(found.is_some());
        found
    }

    /// The stored answer, without counting a hit or a miss: for a caller that looks more than
    /// once for one answer and counts once, with [`Cache::count_answer`].
    pub(crate) async fn lookup(&self, key: Key) -> Option<StoredAnswer> {
        if self.refresh {
            return None;
        }
        let stored = self.store.read(move |conn| query::answer(conn, key)).await.unwrap_or_else(|e| {
            tracing::warn!("{e}");
            None
        });
        stored
            .map(|(content, usage)| StoredAnswer { content, usage })
            .or_else(|| self.unsaved.lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned())
    }

    /// Count one answer looked for: found, or to be bought.
    pub(crate) fn count_answer(&self, hit: bool) {
        let counter = if hit { &self.counters.answers_hit } else { &self.counters.answers_missed };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Store `answer` under `key`; returns once it is committed to disk. An answer the file
    /// does not take is not lost: it is spilled where the next run reads it, and kept for this
    /// one; the error says where it went.
    pub(crate) async fn store_answer(&self, key: Key, answer: &StoredAnswer) -> Result<(), CacheError> {
        let write = Write::StoredAnswer { key, content: answer.content.clone(), usage: answer.usage };
        let Err(error) = self.store.write(write).await else { return Ok(()) };
        self.unsaved.lock().unwrap_or_else(|e| e.into_inner()).insert(key, answer.clone());
        let (path, answer) = (self.store.path().to_path_buf(), answer.clone());
        let spilled_to =
            tokio::task::spawn_blocking(move || spill::write(&path, key, &answer)).await.ok().flatten();
        Err(CacheError::NotSaved {
            path: self.store.path().to_path_buf(),
            message: error.to_string(),
            spilled_to,
        })
    }

    /// Claim `key` for this run for `lease`, so that another run on the same cache waits for
    /// this run's answer instead of buying it too. False when another run holds a live claim;
    /// a claim that cannot be written (a failing disk) is treated as taken: claims only save
    /// money, and must never stop a run.
    pub(crate) async fn claim(&self, key: Key, lease: Duration) -> bool {
        let until = store::now_secs() + lease.as_secs() as i64;
        let claim = |void| Write::Claim { key, owner: self.owner.to_string(), until, void };
        if self.store.write(claim(None)).await.unwrap_or(true) {
            return true;
        }
        // Held by another run. One that died (a crash, kill -9, a full disk) answers nothing:
        // its claim is void at once rather than at the end of its lease.
        let holder = self.store.read(move |conn| query::claim_owner(conn, key)).await.ok().flatten();
        match holder {
            Some(holder) if !owner_alive(&holder) => {
                self.store.write(claim(Some(holder))).await.unwrap_or(true)
            }
            _ => false,
        }
    }

    /// Give up this run's claim on `key` (its request failed): another run may send it.
    pub(crate) async fn release(&self, key: Key) {
        let _ = self.store.write(Write::Release { key, owner: self.owner.to_string() }).await;
    }

    /// The sizes of the latest answers from `model` (see `sizing`): (kind, input tokens,
    /// completion tokens). A read error is no knowledge.
    pub(crate) async fn sizes(&self, model: &str) -> Vec<(String, u32, u64)> {
        let model = model.to_string();
        self.store.read(move |conn| query::sizes(conn, &model, 2_000)).await.unwrap_or_default()
    }

    /// Keep the size of an answer bought, for the next run's budgets: queued, committed with
    /// the answer itself (it only saves tokens later, so it adds no disk sync of its own).
    pub(crate) fn store_size(
        &self,
        model: &str,
        kind: &'static str,
        input_tokens: u32,
        completion_tokens: u64,
    ) {
        if completion_tokens == 0 {
            return;
        }
        self.store.queue(Write::Size { model: model.to_string(), kind, input_tokens, completion_tokens });
    }

    /// The limits (RPM, TPM) `endpoint` announced for `model` in an earlier run. A read error
    /// is no knowledge.
    pub(crate) async fn limits(&self, endpoint: &str, model: &str) -> Option<(Option<u32>, Option<u32>)> {
        let (endpoint, model) = (endpoint.to_string(), model.to_string());
        self.store.read(move |conn| query::limits(conn, &endpoint, &model)).await.ok().flatten()
    }

    /// Record a provider batch, or its status since.
    pub(crate) async fn store_batch(&self, job: &BatchJob) -> Result<(), CacheError> {
        self.store.write(Write::BatchJob(job.clone())).await.map(drop)
    }

    /// The batches of `endpoint` and `model` whose results were not read yet.
    pub(crate) async fn open_batches(
        &self,
        endpoint: &str,
        model: &str,
    ) -> Result<Vec<BatchJob>, CacheError> {
        let (endpoint, model) = (endpoint.to_string(), model.to_string());
        self.store.read(move |conn| query::open_batches(conn, &endpoint, &model)).await
    }

    /// The last batch round submitted for `endpoint` and `model` (0 before any).
    pub(crate) async fn last_round(&self, endpoint: &str, model: &str) -> Result<u32, CacheError> {
        let (endpoint, model) = (endpoint.to_string(), model.to_string());
        self.store.read(move |conn| query::last_round(conn, &endpoint, &model)).await
    }

    /// Remember the limits `endpoint` announced for `model`, so that the next run starts with
    /// the concurrency they need. A write error only costs the next run its first wave.
    pub(crate) async fn store_limits(&self, endpoint: &str, model: &str, rpm: Option<u32>, tpm: Option<u32>) {
        let write = Write::Limits { endpoint: endpoint.to_string(), model: model.to_string(), rpm, tpm };
        let _ = self.store.write(write).await;
    }

    /// The request forms (response format, budget field) an earlier run found `endpoint`
    /// takes for `model`, by name. A read error is no knowledge.
    pub(crate) async fn forms(&self, endpoint: &str, model: &str) -> Option<(String, String)> {
        let (endpoint, model) = (endpoint.to_string(), model.to_string());
        self.store.read(move |conn| query::form(conn, &endpoint, &model)).await.ok().flatten()
    }

    /// Remember the forms `endpoint` takes for `model`. Only saves a failed request next time:
    /// a write error is ignored.
    pub(crate) async fn store_forms(
        &self,
        endpoint: &str,
        model: &str,
        response_format: &str,
        budget_field: &str,
    ) {
        let write = Write::Form {
            endpoint: endpoint.to_string(),
            model: model.to_string(),
            response_format: response_format.to_string(),
            budget_field: budget_field.to_string(),
        };
        let _ = self.store.write(write).await;
    }

    /// The record result (JSON) stored under an article's `key`.
    pub(crate) async fn article(&self, key: Key) -> Option<String> {
        let found = if self.refresh {
            None
        } else {
            self.store.read(move |conn| query::article(conn, key)).await.unwrap_or_else(|e| {
                tracing::warn!("{e}");
                None
            })
        };
        let counter =
            if found.is_some() { &self.counters.articles_hit } else { &self.counters.articles_missed };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Store an article's record result (JSON); returns once it is committed.
    pub(crate) async fn store_article(&self, key: Key, result: String) -> Result<(), CacheError> {
        self.store.write(Write::Article { key, result }).await.map(drop)
    }

    /// This run's hits and misses so far.
    pub(crate) fn run_stats(&self, requests_sent: u64) -> RunStats {
        let c = &self.counters;
        RunStats {
            articles_hit: c.articles_hit.load(Ordering::Relaxed),
            articles_missed: c.articles_missed.load(Ordering::Relaxed),
            answers_hit: c.answers_hit.load(Ordering::Relaxed),
            answers_missed: c.answers_missed.load(Ordering::Relaxed),
            requests_sent,
        }
    }

    /// Record this run's statistics (for `ko2en cache stats`) and close the file.
    pub(crate) async fn finish(self, requests_sent: u64) -> Result<RunStats, CacheError> {
        let stats = self.run_stats(requests_sent);
        self.store.write(Write::Run(stats)).await?;
        let unsaved = self.unsaved.lock().unwrap_or_else(|e| e.into_inner()).len();
        if unsaved > 0 {
            tracing::warn!(
                "{unsaved} answers of this run are kept outside the cache file until a run can save them"
            );
        }
        let store = self.store;
        tokio::task::spawn_blocking(move || store.close()).await.ok();
        Ok(stats)
    }
}

/// Whether the process of a claim's owner (`PID-random`) still runs on this machine. An
/// owner that cannot be read is taken to be alive: its lease ends the wait anyway.
fn owner_alive(owner: &str) -> bool {
    let Some(pid) = owner.split('-').next().and_then(|p| p.parse::<libc::pid_t>().ok()) else { return true };
    // SAFETY: signal 0 sends nothing; it only asks whether the process exists.
    let result = unsafe { libc::kill(pid, 0) };
    result == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// Entries, size and last run of the cache at `path`; None when there is no cache there yet.
/// Opens the file read-only: looking never changes it.
pub(crate) fn summary(path: &Path) -> Result<Option<CacheSummary>, CacheError> {
    if !path.exists() {
        return Ok(None);
    }
    let conn = store::open_reader(path)?;
    let (answers, articles, last_run) = query::summary(&conn)
        .map_err(|e| CacheError::Sqlite { path: path.to_path_buf(), message: e.to_string() })?;
    let bytes_on_disk = companion_files(path).iter().filter_map(|p| p.metadata().ok()).map(|m| m.len()).sum();
    Ok(Some(CacheSummary { answers, articles, bytes_on_disk, last_run }))
}

/// Delete the cache at `path` with its WAL files, when it is ko2en's (see `store::is_ours`;
/// a damaged cache with ko2en's mark too). Returns whether there was anything to delete. A
/// file that is not ko2en's is never deleted.
pub(crate) fn clear(path: &Path) -> Result<bool, CacheError> {
    match store::is_ours(path) {
        Ok(true) => {}
        Ok(false) => return Err(CacheError::NotOurs { path: path.to_path_buf() }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(CacheError::Io { path: path.to_path_buf(), message: e.to_string() }),
    }
    let mut removed = false;
    for file in companion_files(path) {
        match std::fs::remove_file(&file) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(CacheError::Io { path: file, message: format!("cannot delete it: {e}") });
            }
        }
    }
    Ok(removed)
}

/// The file and the `-wal`/`-shm` files SQLite keeps beside it.
fn companion_files(path: &Path) -> Vec<PathBuf> {
    let with_suffix = |suffix: &str| {
        let mut name = path.as_os_str().to_os_string();
        name.push(suffix);
        PathBuf::from(name)
    };
    let [beside, elsewhere] = spill::paths(path);
    vec![path.to_path_buf(), with_suffix("-wal"), with_suffix("-shm"), beside, elsewhere]
}

#[cfg(test)]
mod tests;
