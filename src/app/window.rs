//! The articles' way through a batch: read ahead on a thread, cleaned on the blocking pool,
//! deduplicated, answered concurrently, and back in input order. How many are held at each
//! stage is the [`Window`]'s: memory stays bounded however large the input.
//!
//! The articles being answered follow the pool's concurrency as it moves (a [`Gate`]): a few
//! more than the requests allowed in flight, so that a free slot always has an article to
//! take, and no more, since each article in flight holds its prompts, its request bodies and
//! its task (about 40 KB in all): a window sized for the most the concurrency could ever reach held
//! 1,024 of them from the start, and half the run's memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::{Stream, StreamExt};
use tokio::sync::Notify;

use crate::dedupe::{self, Dedupe};
use crate::input::{ReadSettings, spawn_reader};
use crate::pipeline::Pipeline;
use crate::pool::PoolSettings;
use crate::progress::Progress;
use crate::record::Record;
use crate::shutdown::Shutdown;

/// How many articles a run holds at each stage.
#[derive(Debug, Clone, Copy)]
pub(super) struct Window {
    /// Being answered, or answered and waiting for an earlier one (the reorder buffer), at
    /// most: what the concurrency could grow into, four times over.
    most: usize,
    /// Being answered, at least, whatever the concurrency.
    least: usize,
    /// Read and being cleaned ahead of them: enough to keep the blocking pool and the next
    /// free slots fed, not the whole window a concurrency may grow into (each article held is
    /// its text, several times over while it is cleaned).
    read_ahead: usize,
}

impl Window {
    /// The window of a run with `pool`'s settings over `routes` routes, each with its own
    /// concurrency.
    pub(super) fn new(pool: &PoolSettings, routes: usize) -> Window {
        let most_requests = routes
            * if pool.pinned {
                pool.concurrency
            } else {
                pool.concurrency.max(PoolSettings::MAX_CONCURRENCY)
            };
        let start = routes * pool.concurrency;
        let most = most_requests * 4;
        Window { most, least: 64.min(most), read_ahead: (start * 4).max(64).min(most) }
    }
}

/// Lets an article start being answered while fewer are than the pool's concurrency allows
/// (see the module's doc), looking again as each one ends.
struct Gate {
    pipeline: Arc<Pipeline>,
    window: Window,
    started: AtomicUsize,
    ended: Notify,
}

impl Gate {
    /// Articles allowed in flight now: a quarter more than the requests, and 16.
    fn limit(&self) -> usize {
        let requests = self.pipeline.pool().concurrency();
        (requests + requests / 4 + 16).clamp(self.window.least, self.window.most)
    }

    /// Wait for room, and take it until the ticket is dropped.
    async fn enter(self: &Arc<Self>) -> Ticket {
        /// A concurrency can grow on an answer that ends no article (one part of several).
        const LOOK_AGAIN: Duration = Duration::from_millis(250);
        loop {
            let started = self.started.load(Ordering::Acquire);
            if started < self.limit()
                && self
                    .started
                    .compare_exchange(started, started + 1, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
            {
                return Ticket(Arc::clone(self));
            }
            tokio::select! {
                _ = self.ended.notified() => {}
                _ = tokio::time::sleep(LOOK_AGAIN) => {}
            }
        }
    }
}

/// One article's room in the [`Gate`].
struct Ticket(Arc<Gate>);

impl Drop for Ticket {
    fn drop(&mut self) {
        self.0.started.fetch_sub(1, Ordering::AcqRel);
        // One waiter (the stream admits in order); a permit is kept if it is not waiting yet.
        self.0.ended.notify_one();
    }
}

/// Every article of `inputs` as a record, in input order, within `window`. After a shutdown
/// no new article starts; those in flight finish. A panic in one article's work becomes that
/// article's error record: the batch goes on. Each record counts for `progress` when it is
/// done, not when its turn to be written comes: one slow article does not freeze the count.
pub(super) fn records_in_order(
    pipeline: Arc<Pipeline>,
    inputs: Vec<std::path::PathBuf>,
    read: ReadSettings,
    window: Window,
    shutdown: Shutdown,
    progress: Arc<dyn Progress>,
) -> impl Stream<Item = Record> {
    let reader = spawn_reader(inputs, window.read_ahead, read);
    // Stage one: cleaning is CPU work, so it runs on the blocking pool, several articles at a
    // time, and comes back in input order.
    let cleaning = Arc::clone(&pipeline);
    let admitted = futures::stream::unfold(reader, |mut rx| async move { rx.recv().await.map(|l| (l, rx)) })
        .take_until(shutdown.wait())
        // After a refused key or an exhausted quota nothing can succeed: no article starts,
        // those in flight finish (each record says whether it was refused or never sent).
        .take_while({
            let pipeline = Arc::clone(&pipeline);
            move |_| std::future::ready(pipeline.pool().stop_reason().is_none())
        })
        .map(move |loaded| {
            let pipeline = Arc::clone(&cleaning);
            let (id, source) = (loaded.id.clone(), loaded.source.clone());
            let task = tokio::task::spawn_blocking({
                let pipeline = Arc::clone(&pipeline);
                move || pipeline.admit(loaded)
            });
            async move { task.await.unwrap_or_else(|_| Err(Box::new(pipeline.crashed(id, source)))) }
        })
        .buffered(window.read_ahead);
    // Stage two: one at a time through the gate, deduplicated in input order (so that the
    // first of identical articles is the one sent), then answered concurrently.
    let gate = Arc::new(Gate {
        pipeline: Arc::clone(&pipeline),
        window,
        started: AtomicUsize::new(0),
        ended: Notify::new(),
    });
    let mut dedupe = Dedupe::new(dedupe::RECENT_RESULTS, dedupe::REMEMBERED);
    admitted
        .then(move |admitted| {
            let gate = Arc::clone(&gate);
            async move { (gate.enter().await, admitted) }
        })
        .map(move |(ticket, admitted)| {
            let pipeline = Arc::clone(&pipeline);
            let admission =
                admitted.as_ref().ok().map(|p| dedupe.admit(dedupe::key(&p.title, &p.text), &p.id));
            let (id, source) = match &admitted {
                Ok(prepared) => (prepared.id.clone(), prepared.source.clone()),
                Err(record) => (record.id.clone(), record.source.clone()),
            };
            let progress = Arc::clone(&progress);
            let task = tokio::spawn({
                let pipeline = Arc::clone(&pipeline);
                let progress = Arc::clone(&progress);
                async move {
                    let record = match (admitted, admission) {
                        (Ok(prepared), Some(admission)) => {
                            let shell = pipeline.start_record(&prepared);
                            admission.run(shell, pipeline.process_prepared(prepared)).await
                        }
                        (Ok(prepared), None) => pipeline.process_prepared(prepared).await,
                        (Err(record), _) => *record,
                    };
                    let record = pipeline.priced(record);
                    drop(ticket);
                    progress.article_done(&record, pipeline.pool().stats());
                    record
                }
            });
            async move {
                task.await.unwrap_or_else(|_| {
                    let record = pipeline.priced(pipeline.crashed(id, source));
                    progress.article_done(&record, pipeline.pool().stats());
                    record
                })
            }
        })
        .buffered(window.most)
}
