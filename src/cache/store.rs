//! The SQLite file behind the cache: opening it safely (private permissions, WAL, schema
//! version checked, never overwriting a file it does not recognise), one writer thread that
//! owns the only writing connection, and read-only connections used off the async runtime.
//!
//! Every write is confirmed only once its transaction has committed (WAL, `synchronous=FULL`,
//! so it survives a power cut). Writes that arrive together are committed together — one
//! fsync for many answers — which keeps a fast batch from waiting on the disk once per answer.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, params};
use tokio::sync::{mpsc, oneshot};

use super::{CacheError, Key, RunStats};
use crate::record::Usage;

/// The layout of the file, in `PRAGMA user_version`. A file with a larger number was written
/// by a newer ko2en and is refused rather than misread or rewritten.
pub(crate) const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
    CREATE TABLE answer (
        key BLOB PRIMARY KEY,
        content TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE article (
        key BLOB PRIMARY KEY,
        result TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE run (
        id INTEGER PRIMARY KEY,
        finished_at INTEGER NOT NULL,
        articles_hit INTEGER NOT NULL,
        articles_missed INTEGER NOT NULL,
        answers_hit INTEGER NOT NULL,
        answers_missed INTEGER NOT NULL,
        requests_sent INTEGER NOT NULL
    );
";

/// Requests another run has on the wire (see `Cache::claim`), and the request forms each
/// endpoint was found to take (see `Cache::forms`). Added to caches of every version when
/// opened; earlier ko2en versions ignore the tables.
const CLAIMS: &str = "
    CREATE TABLE IF NOT EXISTS claim (
        key BLOB PRIMARY KEY,
        owner TEXT NOT NULL,
        expires_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS answer_size (
        model TEXT NOT NULL,
        kind TEXT NOT NULL,
        input_tokens INTEGER NOT NULL,
        completion_tokens INTEGER NOT NULL
    );
    CREATE INDEX IF NOT EXISTS answer_size_by_model ON answer_size (model, kind);
    CREATE TABLE IF NOT EXISTS limit_seen (
        endpoint TEXT NOT NULL,
        model TEXT NOT NULL,
        rpm INTEGER,
        tpm INTEGER,
        PRIMARY KEY (endpoint, model)
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS batch_job (
        id TEXT PRIMARY KEY,
        endpoint TEXT NOT NULL,
        model TEXT NOT NULL,
        round INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        status TEXT NOT NULL,
        collected INTEGER NOT NULL,
        created_at INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE IF NOT EXISTS form (
        endpoint TEXT NOT NULL,
        model TEXT NOT NULL,
        response_format TEXT NOT NULL,
        budget_field TEXT NOT NULL,
        PRIMARY KEY (endpoint, model)
    ) WITHOUT ROWID;
";

/// ko2en's mark in the file's header (`PRAGMA application_id`, "k2en"): `cache clear` deletes
/// only a file that carries it, and a database of another program is never taken for a cache.
pub(crate) const APPLICATION_ID: i32 = 0x6B32_656E;

/// A second writer (another ko2en on the same cache) is waited for, not failed on.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// Most writes committed in one transaction.
const MAX_GROUP: usize = 512;

/// Something to commit.
pub(crate) enum Write {
    /// An answer; it ends any claim on its key.
    StoredAnswer {
        key: Key,
        content: String,
        usage: Usage,
    },
    Article {
        key: Key,
        result: String,
    },
    Run(RunStats),
    /// Take (or renew) the claim on `key` for `owner` until `until` (seconds since the epoch),
    /// unless another owner's claim is still live (`void` names an owner known to be gone,
    /// whose claim is taken over). Its outcome says whether it was taken.
    Claim {
        key: Key,
        owner: String,
        until: i64,
        void: Option<String>,
    },
    /// Give up `owner`'s claim on `key` without an answer.
    Release {
        key: Key,
        owner: String,
    },
    /// A provider batch submitted (or its status since, and whether its results were read).
    BatchJob(crate::cache::BatchJob),
    /// How long an answer of `kind` from `model` was, over how much input.
    Size {
        model: String,
        kind: &'static str,
        input_tokens: u32,
        completion_tokens: u64,
    },
    /// The limits `endpoint` announced for `model`.
    Limits {
        endpoint: String,
        model: String,
        rpm: Option<u32>,
        tpm: Option<u32>,
    },
    /// The forms `endpoint` takes for `model`.
    Form {
        endpoint: String,
        model: String,
        response_format: String,
        budget_field: String,
    },
}

struct Job {
    write: Write,
    /// Whether the write took effect (false only for a claim someone else holds).
    done: oneshot::Sender<Result<bool, String>>,
}

/// An open cache file.
pub(crate) struct Store {
    path: PathBuf,
    writer: Mutex<Option<mpsc::UnboundedSender<Job>>>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
}

impl Store {
    /// Open (creating if needed) the cache at `path`. Blocking: call it off the runtime.
    pub(crate) fn open(path: &Path) -> Result<Store, CacheError> {
        create_private(path)?;
        // Runs that open one cache at the same moment can meet SQLITE_BUSY where SQLite does
        // not wait by itself (switching the journal mode): such an open is tried again.
        let started = std::time::Instant::now();
        let conn = loop {
            match prepare(path) {
                Err(CacheError::Busy { .. }) if started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(20 + fastrand::u64(..30)));
                }
                other => break other?,
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("ko2en-cache".into())
            .spawn(move || write_loop(conn, rx))
            .map_err(|e| CacheError::Io { path: path.to_path_buf(), message: e.to_string() })?;
        Ok(Store {
            path: path.to_path_buf(),
            writer: Mutex::new(Some(tx)),
            thread: Mutex::new(Some(thread)),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Commit `write`; returns once the transaction holding it has committed, with whether it
    /// took effect.
    pub(crate) async fn write(&self, write: Write) -> Result<bool, CacheError> {
        let committed = self.send(write)?;
        committed.await.map_err(|_| self.failed("the cache writer stopped"))?.map_err(|e| self.failed(&e))
    }

    /// Queue `write` without waiting for its commit: for what only saves work later, which
    /// must not add a disk sync to the caller's path. It is committed with the next writes.
    pub(crate) fn queue(&self, write: Write) {
        let _ = self.send(write);
    }

    /// [`Store::write`] from a thread that may block (opening the cache).
    pub(crate) fn write_blocking(&self, write: Write) -> Result<bool, CacheError> {
        let committed = self.send(write)?;
        committed
            .blocking_recv()
            .map_err(|_| self.failed("the cache writer stopped"))?
            .map_err(|e| self.failed(&e))
    }

    fn failed(&self, message: &str) -> CacheError {
        CacheError::Sqlite { path: self.path.clone(), message: message.to_string() }
    }

    /// Queue `write` for the writer thread; the receiver gets its outcome once committed.
    fn send(&self, write: Write) -> Result<oneshot::Receiver<Result<bool, String>>, CacheError> {
        let (done, committed) = oneshot::channel();
        let sent = match &*self.writer.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(tx) => tx.send(Job { write, done }).is_ok(),
            None => false,
        };
        if !sent {
            return Err(self.failed("the cache is closed"));
        }
        Ok(committed)
    }

    /// Run `query` on a read-only connection on a blocking thread.
    pub(crate) async fn read<T: Send + 'static>(
        self: &Arc<Self>,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, CacheError> {
        let store = Arc::clone(self);
        tokio::task::spawn_blocking(move || store.read_blocking(query))
            .await
            .map_err(|e| CacheError::Sqlite { path: self.path.clone(), message: e.to_string() })?
    }

    fn read_blocking<T>(
        &self,
        query: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, CacheError> {
        let reused = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match reused {
            Some(conn) => conn,
            None => open_reader(&self.path)?,
        };
        let result = query(&conn).map_err(|e| classify(&self.path, e));
        self.readers.lock().unwrap_or_else(|e| e.into_inner()).push(conn);
        result
    }

    /// Stop the writer after what was queued, and wait for it (its connection closes, and
    /// SQLite folds the WAL back into the file).
    pub(crate) fn close(&self) {
        self.readers.lock().unwrap_or_else(|e| e.into_inner()).clear();
        drop(self.writer.lock().unwrap_or_else(|e| e.into_inner()).take());
        if let Some(thread) = self.thread.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

fn write_loop(mut conn: Connection, mut rx: mpsc::UnboundedReceiver<Job>) {
    while let Some(first) = rx.blocking_recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        match commit(&mut conn, &group) {
            Ok(took) => {
                for (job, took) in group.into_iter().zip(took) {
                    let _ = job.done.send(Ok(took));
                }
            }
            Err(e) => {
                for job in group {
                    let _ = job.done.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// Seconds since the epoch, the clock of claims.
pub(crate) fn now_secs() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

/// Commit a group of writes in one transaction; whether each took effect.
fn commit(conn: &mut Connection, group: &[Job]) -> rusqlite::Result<Vec<bool>> {
    let now = now_secs();
    let tx = conn.transaction()?;
    let mut took = Vec::with_capacity(group.len());
    for job in group {
        took.push(true);
        match &job.write {
            Write::StoredAnswer { key, content, usage } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO answer
                     (key, content, prompt_tokens, completion_tokens, requests, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    key.0.as_slice(),
                    content,
                    usage.prompt_tokens as i64,
                    usage.completion_tokens as i64,
                    usage.requests as i64,
                    now
                ])?;
                tx.prepare_cached("DELETE FROM claim WHERE key = ?1")?.execute([key.0.as_slice()])?;
            }
            Write::Claim { key, owner, until, void } => {
                let changed = tx
                    .prepare_cached(
                        "INSERT INTO claim (key, owner, expires_at) VALUES (?1, ?2, ?3)
                         ON CONFLICT(key) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at
                         WHERE claim.owner = excluded.owner OR claim.expires_at < ?4 OR claim.owner = ?5",
                    )?
                    .execute(params![key.0.as_slice(), owner, until, now, void])?;
                *took.last_mut().expect("pushed above") = changed == 1;
            }
            Write::Release { key, owner } => {
                tx.prepare_cached("DELETE FROM claim WHERE key = ?1 AND owner = ?2")?
                    .execute(params![key.0.as_slice(), owner])?;
            }
            Write::Size { model, kind, input_tokens, completion_tokens } => {
                tx.prepare_cached(
                    "INSERT INTO answer_size (model, kind, input_tokens, completion_tokens) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![model, kind, input_tokens, *completion_tokens as i64])?;
            }
            Write::Limits { endpoint, model, rpm, tpm } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO limit_seen (endpoint, model, rpm, tpm) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![endpoint, model, rpm, tpm])?;
            }
            Write::BatchJob(job) => {
                tx.prepare_cached(
                    "INSERT INTO batch_job (id, endpoint, model, round, requests, status, collected, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET status = excluded.status, collected = excluded.collected",
                )?
                .execute(params![
                    job.id,
                    job.endpoint,
                    job.model,
                    job.round,
                    job.requests as i64,
                    job.status,
                    job.collected,
                    now
                ])?;
            }
            Write::Form { endpoint, model, response_format, budget_field } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO form (endpoint, model, response_format, budget_field)
                     VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![endpoint, model, response_format, budget_field])?;
            }
            Write::Article { key, result } => {
                tx.prepare_cached(
                    "INSERT OR REPLACE INTO article (key, result, created_at) VALUES (?1, ?2, ?3)",
                )?
                .execute(params![key.0.as_slice(), result, now])?;
            }
            Write::Run(run) => {
                tx.execute(
                    "INSERT INTO run (finished_at, articles_hit, articles_missed, answers_hit,
                     answers_missed, requests_sent) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        now,
                        run.articles_hit as i64,
                        run.articles_missed as i64,
                        run.answers_hit as i64,
                        run.answers_missed as i64,
                        run.requests_sent as i64
                    ],
                )?;
            }
        }
    }
    tx.commit()?;
    Ok(took)
}

/// A read-only connection to an existing cache whose version was checked.
pub(crate) fn open_reader(path: &Path) -> Result<Connection, CacheError> {
    let conn =
        Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
            .map_err(|e| classify(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| classify(path, e))?;
    check_version(&conn, path)?;
    Ok(conn)
}

/// Open the file, check it is a ko2en cache, and bring its schema up to date.
fn prepare(path: &Path) -> Result<Connection, CacheError> {
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| classify(path, e))?;
    conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| classify(path, e))?;
    check_version(&conn, path)?;
    let mode: String =
        conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0)).map_err(|e| classify(path, e))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(CacheError::Sqlite {
            path: path.to_path_buf(),
            message: format!("cannot switch to WAL mode (got {mode})"),
        });
    }
    conn.pragma_update(None, "synchronous", "FULL").map_err(|e| classify(path, e))?;
    // Another run may be creating the same new cache right now: the schema is created in
    // an exclusive transaction that looks again, so exactly one of them creates it.
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
        .map_err(|e| classify(path, e))?;
    if user_version(&tx, path)? == 0 {
        tx.execute_batch(SCHEMA).map_err(|e| classify(path, e))?;
        tx.pragma_update(None, "user_version", SCHEMA_VERSION).map_err(|e| classify(path, e))?;
    }
    tx.execute_batch(CLAIMS).map_err(|e| classify(path, e))?;
    // Caches made before the mark existed are marked now.
    if application_id(&tx, path)? == 0 {
        tx.pragma_update(None, "application_id", APPLICATION_ID).map_err(|e| classify(path, e))?;
    }
    tx.commit().map_err(|e| classify(path, e))?;
    Ok(conn)
}

fn user_version(conn: &Connection, path: &Path) -> Result<i64, CacheError> {
    conn.pragma_query_value(None, "user_version", |r| r.get(0)).map_err(|e| classify(path, e))
}

fn application_id(conn: &Connection, path: &Path) -> Result<i32, CacheError> {
    conn.pragma_query_value(None, "application_id", |r| r.get(0)).map_err(|e| classify(path, e))
}

/// Refuse a file from a newer ko2en, or one that is a database but not a ko2en cache.
fn check_version(conn: &Connection, path: &Path) -> Result<(), CacheError> {
    // One statement, so one snapshot: another run may be creating this cache right now, and
    // figures read before and after its commit would describe a file that never existed.
    let (mark, version, tables, objects): (i32, i64, i64, i64) = conn
        .query_row(
            "SELECT (SELECT application_id FROM pragma_application_id),
                    (SELECT user_version FROM pragma_user_version),
                    (SELECT count(*) FROM sqlite_master
                     WHERE type = 'table' AND name IN ('answer', 'article', 'run')),
                    (SELECT count(*) FROM sqlite_master)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .map_err(|e| classify(path, e))?;
    let foreign = || Err(CacheError::Foreign { path: path.to_path_buf() });
    if mark != 0 && mark != APPLICATION_ID {
        return foreign();
    }
    if version > SCHEMA_VERSION {
        return Err(CacheError::Newer { path: path.to_path_buf(), found: version, known: SCHEMA_VERSION });
    }
    let sound = match version {
        0 => objects == 0,
        _ => tables == 3,
    };
    if !sound {
        return foreign();
    }
    Ok(())
}

/// Whether the file at `path` is a ko2en cache that may be deleted: it carries ko2en's mark
/// in its header (read as bytes, so a cache damaged past opening still counts), or it is an
/// unmarked cache of an earlier ko2en (its tables say so), or it is empty (created, then
/// interrupted before the schema).
pub(crate) fn is_ours(path: &Path) -> std::io::Result<bool> {
    use std::io::Read;
    let mut header = Vec::with_capacity(100);
    fs::File::open(path)?.take(100).read_to_end(&mut header)?;
    if header.is_empty() {
        return Ok(true);
    }
    if header.len() < 100 || !header.starts_with(b"SQLite format 3\0") {
        return Ok(false);
    }
    let mark = i32::from_be_bytes([header[68], header[69], header[70], header[71]]);
    if mark != 0 {
        return Ok(mark == APPLICATION_ID);
    }
    Ok(open_reader(path).is_ok())
}

/// Damage and foreign files get the message that says what to do; the rest stay SQLite errors.
fn classify(path: &Path, error: rusqlite::Error) -> CacheError {
    use rusqlite::ErrorCode;
    match error.sqlite_error_code() {
        // Not a database at all: nobody can tell it was ever a cache, so it is treated as
        // someone else's file (never offered for deletion).
        Some(ErrorCode::NotADatabase) => CacheError::Foreign { path: path.to_path_buf() },
        Some(ErrorCode::DatabaseCorrupt) if is_ours(path).unwrap_or(false) => {
            CacheError::Corrupt { path: path.to_path_buf(), message: error.to_string() }
        }
        Some(ErrorCode::DatabaseCorrupt) => CacheError::Foreign { path: path.to_path_buf() },
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            CacheError::Busy { path: path.to_path_buf(), message: error.to_string() }
        }
        _ => CacheError::Sqlite { path: path.to_path_buf(), message: error.to_string() },
    }
}

/// Create the cache's directory (0700) and file (0600) if missing, so that SQLite — which gives
/// its `-wal` and `-shm` files the main file's permissions — never makes them readable by others.
fn create_private(path: &Path) -> Result<(), CacheError> {
    let io = |e: std::io::Error| CacheError::Io { path: path.to_path_buf(), message: e.to_string() };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(dir).map_err(io)?;
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io(e)),
    }
}
