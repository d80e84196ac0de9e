//! What the cache is asked, on a read-only connection (see `Store::read`): an answer, an
//! article's record, what earlier runs learned of an endpoint (answer sizes, limits, request
//! forms), who holds a claim, and the summary for `ko2en cache stats`.

use rusqlite::{Connection, OptionalExtension, params};

use super::{Key, RunStats};
use crate::record::Usage;

/// The cached answer under `key`.
pub(crate) fn answer(conn: &Connection, key: Key) -> rusqlite::Result<Option<(String, Usage)>> {
    conn.prepare_cached(
        "SELECT content, prompt_tokens, completion_tokens, requests FROM answer WHERE key = ?1",
    )?
    .query_row([key.0.as_slice()], |row| {
        Ok((
            row.get::<_, String>(0)?,
            Usage::new(
                row.get::<_, i64>(1)? as u64,
                row.get::<_, i64>(2)? as u64,
                row.get::<_, i64>(3)? as u64,
            ),
        ))
    })
    .optional()
}

/// The cached article result under `key`.
pub(crate) fn article(conn: &Connection, key: Key) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT result FROM article WHERE key = ?1")?
        .query_row([key.0.as_slice()], |row| row.get(0))
        .optional()
}

/// The latest answers' sizes from `model`, at most `per_kind` of each kind: (kind, input tokens,
/// completion tokens), oldest first.
pub(crate) fn sizes(
    conn: &Connection,
    model: &str,
    per_kind: usize,
) -> rusqlite::Result<Vec<(String, u32, u64)>> {
    let mut out = Vec::new();
    let mut kinds = conn.prepare_cached("SELECT DISTINCT kind FROM answer_size WHERE model = ?1")?;
    let kinds: Vec<String> = kinds.query_map([model], |r| r.get(0))?.collect::<Result<_, _>>()?;
    let mut latest = conn.prepare_cached(
        "SELECT kind, input_tokens, completion_tokens FROM answer_size WHERE model = ?1 AND kind = ?2
         ORDER BY rowid DESC LIMIT ?3",
    )?;
    for kind in kinds {
        let rows = latest.query_map(params![model, kind, per_kind as i64], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, u32>(1)?, r.get::<_, i64>(2)? as u64))
        })?;
        let mut rows: Vec<_> = rows.collect::<Result<_, _>>()?;
        rows.reverse();
        out.extend(rows);
    }
    Ok(out)
}

/// The limits `endpoint` announced for `model` in an earlier run: (RPM, TPM).
pub(crate) fn limits(
    conn: &Connection,
    endpoint: &str,
    model: &str,
) -> rusqlite::Result<Option<(Option<u32>, Option<u32>)>> {
    conn.prepare_cached("SELECT rpm, tpm FROM limit_seen WHERE endpoint = ?1 AND model = ?2")?
        .query_row([endpoint, model], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// The forms `endpoint` was found to take for `model`: (response format, budget field).
pub(crate) fn form(
    conn: &Connection,
    endpoint: &str,
    model: &str,
) -> rusqlite::Result<Option<(String, String)>> {
    conn.prepare_cached("SELECT response_format, budget_field FROM form WHERE endpoint = ?1 AND model = ?2")?
        .query_row([endpoint, model], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}

/// Who holds the claim on `key`, if anyone.
pub(crate) fn claim_owner(conn: &Connection, key: Key) -> rusqlite::Result<Option<String>> {
    conn.prepare_cached("SELECT owner FROM claim WHERE key = ?1")?
        .query_row([key.0.as_slice()], |r| r.get(0))
        .optional()
}

/// Entries and the last run, for `ko2en cache stats`.
pub(crate) fn summary(conn: &Connection) -> rusqlite::Result<(u64, u64, Option<RunStats>)> {
    let count = |table: &str| -> rusqlite::Result<u64> {
        conn.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get::<_, i64>(0)).map(|n| n as u64)
    };
    let last = conn
        .query_row(
            "SELECT articles_hit, articles_missed, answers_hit, answers_missed, requests_sent
             FROM run ORDER BY id DESC LIMIT 1",
            [],
            |r| {
                Ok(RunStats {
                    articles_hit: r.get::<_, i64>(0)? as u64,
                    articles_missed: r.get::<_, i64>(1)? as u64,
                    answers_hit: r.get::<_, i64>(2)? as u64,
                    answers_missed: r.get::<_, i64>(3)? as u64,
                    requests_sent: r.get::<_, i64>(4)? as u64,
                })
            },
        )
        .optional()?;
    Ok((count("answer")?, count("article")?, last))
}

/// The batch jobs of `endpoint` and `model` whose results were not read yet, oldest first.
pub(crate) fn open_batches(
    conn: &Connection,
    endpoint: &str,
    model: &str,
) -> rusqlite::Result<Vec<super::BatchJob>> {
    conn.prepare_cached(
        "SELECT id, round, requests, status FROM batch_job
         WHERE endpoint = ?1 AND model = ?2 AND collected = 0 ORDER BY created_at, id",
    )?
    .query_map([endpoint, model], |r| {
        Ok(super::BatchJob {
            id: r.get(0)?,
            endpoint: endpoint.to_string(),
            model: model.to_string(),
            round: r.get(1)?,
            requests: r.get::<_, i64>(2)? as u64,
            status: r.get(3)?,
            collected: false,
        })
    })?
    .collect()
}

/// The last round submitted for `endpoint` and `model` (0 before any).
pub(crate) fn last_round(conn: &Connection, endpoint: &str, model: &str) -> rusqlite::Result<u32> {
    conn.prepare_cached("SELECT COALESCE(MAX(round), 0) FROM batch_job WHERE endpoint = ?1 AND model = ?2")?
        .query_row([endpoint, model], |r| r.get(0))
}
