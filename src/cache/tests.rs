//! The cache file's guarantees, on real SQLite files in a temporary directory.

use super::store::SCHEMA_VERSION;
use super::*;
use serde_json::json;

fn answer(text: &str) -> StoredAnswer {
    StoredAnswer { content: text.into(), usage: Usage::new(10, 5, 1) }
}

fn some_key(n: u8) -> Key {
    call_key("https://a/v1", &json!({"model": "m", "n": n}))
}

#[tokio::test]
async fn an_answer_is_stored_and_found_again_after_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    let cache = Cache::open(&path, false).unwrap();
    assert_eq!(cache.answer(some_key(1)).await, None);
    cache.store_answer(some_key(1), &answer("첫")).await.unwrap();
    cache.store_article(some_key(2), "{}".into()).await.unwrap();
    assert_eq!(cache.answer(some_key(1)).await, Some(answer("첫")));
    let stats = cache.finish(3).await.unwrap();
    assert_eq!((stats.answers_hit, stats.answers_missed, stats.requests_sent), (1, 1, 3));

    let again = Cache::open(&path, false).unwrap();
    assert_eq!(again.answer(some_key(1)).await, Some(answer("첫")));
    assert_eq!(again.article(some_key(2)).await.as_deref(), Some("{}"));
    drop(again);
    let summary = summary(&path).unwrap().unwrap();
    assert_eq!((summary.answers, summary.articles), (1, 1));
    assert_eq!(summary.last_run.unwrap().requests_sent, 3);
    assert!(summary.bytes_on_disk > 0);
}

#[tokio::test]
async fn refresh_ignores_hits_but_still_stores() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    let cache = Cache::open(&path, false).unwrap();
    cache.store_answer(some_key(1), &answer("old")).await.unwrap();
    cache.finish(0).await.unwrap();

    let refreshing = Cache::open(&path, true).unwrap();
    assert_eq!(refreshing.answer(some_key(1)).await, None);
    assert_eq!(refreshing.article(some_key(2)).await, None);
    refreshing.store_answer(some_key(1), &answer("new")).await.unwrap();
    refreshing.finish(0).await.unwrap();

    let cache = Cache::open(&path, false).unwrap();
    assert_eq!(cache.answer(some_key(1)).await, Some(answer("new")));
}

#[tokio::test]
async fn the_file_is_in_wal_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    let cache = Cache::open(&path, false).unwrap();
    cache.store_answer(some_key(1), &answer("x")).await.unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
    assert_eq!(version, SCHEMA_VERSION);
}

#[cfg(unix)]
#[tokio::test]
async fn the_cache_is_private_to_the_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ko2en").join("c.sqlite");
    let cache = Cache::open(&path, false).unwrap();
    cache.store_answer(some_key(1), &answer("x")).await.unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&path), 0o600);
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    assert_eq!(mode(&wal), 0o600, "SQLite's WAL is as private as the file");
}

#[test]
fn a_file_that_is_not_a_database_is_refused_left_untouched_and_never_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    let garbage = b"this is not an SQLite database, just some bytes that happen to be here.".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let err = Cache::open(&path, false).unwrap_err();
    assert!(matches!(err, CacheError::Foreign { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains("Choose another --cache path") && !message.contains("cache clear"), "{message}");
    assert!(summary(&path).is_err());
    assert!(matches!(clear(&path), Err(CacheError::NotOurs { .. })));
    assert_eq!(std::fs::read(&path).unwrap(), garbage);
}

#[test]
fn a_database_that_is_not_a_ko2en_cache_is_refused_and_never_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.sqlite");
    rusqlite::Connection::open(&path).unwrap().execute_batch("CREATE TABLE t (x)").unwrap();
    assert!(matches!(Cache::open(&path, false), Err(CacheError::Foreign { .. })));
    assert!(matches!(clear(&path), Err(CacheError::NotOurs { .. })));
    // Even one that has ko2en's table names, if another program marked it as its own.
    let marked = dir.path().join("marked.sqlite");
    let conn = rusqlite::Connection::open(&marked).unwrap();
    conn.execute_batch("CREATE TABLE answer (x); CREATE TABLE article (x); CREATE TABLE run (x);").unwrap();
    conn.pragma_update(None, "user_version", 1).unwrap();
    conn.pragma_update(None, "application_id", 42).unwrap();
    drop(conn);
    assert!(matches!(Cache::open(&marked, false), Err(CacheError::Foreign { .. })));
    assert!(matches!(clear(&marked), Err(CacheError::NotOurs { .. })) && marked.exists());
}

#[test]
fn a_cache_carries_ko2ens_mark_and_a_damaged_one_can_still_be_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    drop(Cache::open(&path, false).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mark: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).unwrap();
    assert_eq!(mark, super::store::APPLICATION_ID);
    drop(conn);
    // Pages after the header overwritten: the mark in the header still says whose it is.
    let mut bytes = std::fs::read(&path).unwrap();
    for b in bytes.iter_mut().skip(100) {
        *b = 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();
    assert!(clear(&path).unwrap() && !path.exists());
}

#[test]
fn a_cache_of_an_earlier_ko2en_without_the_mark_is_adopted() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    drop(Cache::open(&path, false).unwrap());
    rusqlite::Connection::open(&path).unwrap().pragma_update(None, "application_id", 0).unwrap();
    assert!(super::store::is_ours(&path).unwrap());
    drop(Cache::open(&path, false).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mark: i32 = conn.pragma_query_value(None, "application_id", |r| r.get(0)).unwrap();
    assert_eq!(mark, super::store::APPLICATION_ID);
}

#[test]
fn a_cache_from_a_newer_ko2en_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.sqlite");
    drop(Cache::open(&path, false).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.pragma_update(None, "user_version", SCHEMA_VERSION + 1).unwrap();
    drop(conn);
    let before = std::fs::read(&path).unwrap();
    let err = Cache::open(&path, false).unwrap_err();
    assert!(matches!(err, CacheError::Newer { found, .. } if found == SCHEMA_VERSION + 1), "{err:?}");
    assert!(err.to_string().contains("newer ko2en"), "{err}");
    assert_eq!(std::fs::read(&path).unwrap(), before);
}
