//! The same article twice in a batch is sent once.
//!
//! Scraped batches repeat articles (the same wire story under two URLs, a page saved twice).
//! Two articles are the same when their cleaned headline and body are identical; the first
//! in input order is processed, and every later copy waits for the first one's record and
//! shares its results, marked `duplicate_of` the first id, still written at its own position.
//!
//! Memory stays flat however long the batch: the index remembers the last [`REMEMBERED`]
//! distinct articles (a 16-byte hash and the first id each, about 100 bytes), and keeps the
//! finished record of only the last [`RECENT_RESULTS`], which covers every copy that can be
//! waiting (the run has far fewer articles in flight). A copy of an article further back than
//! the record is processed again and still marked; one further back than the index is an
//! ordinary article to this module. Either way the article cache answers it without a
//! request, so only `--no-cache` pays for such a distant copy.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::sync::Arc;

use sha2::{Digest as _, Sha256};
use tokio::sync::watch;

use crate::record::Record;

/// Identity of a cleaned article: the first 16 bytes of SHA-256 over headline and body.
pub(crate) type ArticleDigest = [u8; 16];

/// Distinct articles whose finished record is kept for copies that come later.
pub(crate) const RECENT_RESULTS: usize = 1024;

/// Distinct articles the index remembers: about 1.6 MiB at most.
pub(crate) const REMEMBERED: usize = 16 * 1024;

/// The key of an article with this cleaned headline and body.
pub(crate) fn key(title: &str, text: &str) -> ArticleDigest {
    let digest = Sha256::new().chain_update(title).chain_update([0u8]).chain_update(text).finalize();
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    key
}

type Slot = Option<Arc<Record>>;

/// Articles seen so far in a batch. Admit them in input order: the first admitted is the one
/// processed.
#[derive(Debug)]
pub(crate) struct Dedupe {
    seen: HashMap<ArticleDigest, Seen>,
    /// The keys of `seen` in the order they were first admitted, oldest first.
    order: VecDeque<ArticleDigest>,
    /// How many of the newest keys keep their record.
    keep: usize,
    /// How many keys are remembered at all.
    remember: usize,
}

#[derive(Debug)]
struct Seen {
    first_id: Box<str>,
    result: Option<watch::Receiver<Slot>>,
}

/// What to do with an admitted article.
#[derive(Debug)]
pub(crate) enum Admission {
    /// The first of its kind: process it and publish the record.
    First(Publisher),
    /// A copy of `first_id`: share its record (`result`), or process it again when that
    /// record is no longer kept.
    Duplicate { first_id: String, result: Option<Follower> },
}

/// Hands the first article's record to the copies waiting for it.
#[derive(Debug)]
pub(crate) struct Publisher(watch::Sender<Slot>);

/// A copy's claim on the first article's record.
#[derive(Debug)]
pub(crate) struct Follower(watch::Receiver<Slot>);

impl Dedupe {
    /// Remember the last `remember` distinct articles, and keep the records of the last
    /// `keep` of them for their copies.
    pub(crate) fn new(keep: usize, remember: usize) -> Dedupe {
        let keep = keep.max(1);
        Dedupe { seen: HashMap::new(), order: VecDeque::new(), keep, remember: remember.max(keep) }
    }

    /// Admit the article `id` with `key`; call in input order.
    pub(crate) fn admit(&mut self, key: ArticleDigest, id: &str) -> Admission {
        if let Some(seen) = self.seen.get(&key) {
            return Admission::Duplicate {
                first_id: seen.first_id.to_string(),
                result: seen.result.clone().map(Follower),
            };
        }
        let (sender, receiver) = watch::channel(None);
        self.seen.insert(key, Seen { first_id: id.into(), result: Some(receiver) });
        self.order.push_back(key);
        if let Some(index) = self.order.len().checked_sub(self.keep + 1)
            && let Some(seen) = self.seen.get_mut(&self.order[index])
        {
            seen.result = None;
        }
        if self.order.len() > self.remember
            && let Some(forgotten) = self.order.pop_front()
        {
            self.seen.remove(&forgotten);
        }
        Admission::First(Publisher(sender))
    }

    /// Distinct articles remembered.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.seen.len()
    }
}

impl Publisher {
    pub(crate) fn publish(self, record: &Record) {
        // No receiver left (record no longer kept) is fine: nobody can ask for it any more.
        let _ = self.0.send(Some(Arc::new(record.clone())));
    }
}

impl Follower {
    /// The first article's record; None if its task ended without one (it panicked).
    pub(crate) async fn wait(mut self) -> Option<Arc<Record>> {
        self.0.wait_for(Option::is_some).await.ok().and_then(|slot| slot.clone())
    }
}

impl Admission {
    /// The article's record: `work` for a first article (published for its copies), or for a
    /// copy, `shell` (its own id, source, metadata) with the first's results, marked as a
    /// duplicate. A copy whose first record is unavailable runs `work` itself.
    pub(crate) async fn run(self, shell: Record, work: impl Future<Output = Record>) -> Record {
        match self {
            Admission::First(publisher) => {
                let record = work.await;
                publisher.publish(&record);
                record
            }
            Admission::Duplicate { first_id, result } => {
                let first = match result {
                    Some(pending) => pending.wait().await,
                    None => None,
                };
                let mut record = match first {
                    Some(first) => {
                        let mut record = shell;
                        record.share_results_of(&first);
                        record
                    }
                    None => work.await,
                };
                record.duplicate_of = Some(first_id);
                record
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::SourceRef;
    use crate::record::Usage;

    fn record(id: &str) -> Record {
        Record::new(id.into(), SourceRef { path: format!("{id}.txt").into(), line: None }, "m")
    }

    #[test]
    fn the_key_separates_headline_from_body() {
        assert_eq!(key("a", "b"), key("a", "b"));
        assert_ne!(key("ab", ""), key("a", "b"));
    }

    #[tokio::test]
    async fn a_copy_shares_the_first_record_without_cost_and_names_it() {
        let mut dedupe = Dedupe::new(8, 16);
        let k = key("제목", "본문");
        let first = dedupe.admit(k, "a");
        let copy = dedupe.admit(k, "b");
        assert_eq!(dedupe.len(), 1);
        let copy_task = tokio::spawn(copy.run(record("b"), async { panic!("a copy must not be processed") }));
        let done = first
            .run(record("a"), async {
                let mut r = record("a");
                r.answers.summary_en = Some("Summary.".into());
                r.usage = Usage::new(10, 5, 1);
                r
            })
            .await;
        assert_eq!(done.duplicate_of, None);
        let shared = copy_task.await.unwrap();
        assert_eq!(shared.id, "b");
        assert_eq!(shared.answers.summary_en.as_deref(), Some("Summary."));
        assert_eq!(shared.usage, Usage::default());
        assert_eq!(shared.duplicate_of.as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn a_copy_of_an_article_no_longer_kept_is_processed_again_and_still_marked() {
        let mut dedupe = Dedupe::new(1, 4);
        let (ka, kb) = (key("a", "a"), key("b", "b"));
        let Admission::First(publisher) = dedupe.admit(ka, "a") else { panic!("first expected") };
        publisher.publish(&record("a"));
        let _ = dedupe.admit(kb, "b");
        let copy = dedupe.admit(ka, "c");
        assert!(matches!(&copy, Admission::Duplicate { result: None, .. }));
        let done = copy.run(record("c"), async { record("c") }).await;
        assert_eq!(done.duplicate_of.as_deref(), Some("a"));
    }

    #[tokio::test]
    async fn a_copy_whose_first_task_died_processes_itself() {
        let mut dedupe = Dedupe::new(8, 16);
        let k = key("x", "y");
        drop(dedupe.admit(k, "a"));
        let done = dedupe.admit(k, "b").run(record("b"), async { record("b") }).await;
        assert_eq!((done.id.as_str(), done.duplicate_of.as_deref()), ("b", Some("a")));
    }

    #[test]
    fn the_index_forgets_the_oldest_articles_beyond_its_bound() {
        let mut dedupe = Dedupe::new(1, 3);
        let keys: Vec<ArticleDigest> = (0..5).map(|i| key(&i.to_string(), "body")).collect();
        for (i, k) in keys.iter().enumerate() {
            assert!(matches!(dedupe.admit(*k, &i.to_string()), Admission::First(_)));
        }
        assert_eq!(dedupe.len(), 3);
        // Forgotten: processed as a first article again (the cache answers it for free).
        assert!(matches!(dedupe.admit(keys[0], "again"), Admission::First(_)));
        // Remembered without its record: a copy, processed again.
        let Admission::Duplicate { first_id, result } = dedupe.admit(keys[3], "copy") else {
            panic!("a remembered article is a duplicate")
        };
        assert_eq!((first_id.as_str(), result.is_none()), ("3", true));
        assert_eq!(dedupe.len(), 3);
    }
}
