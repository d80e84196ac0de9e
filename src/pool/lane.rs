//! One route of a run (see `client::Route`): its client, its own limiter and concurrency
//! slots, and its health. A run has a lane per route; [`Pool::slot`] gives each request to an
//! open lane with room, the least busy first, so that work goes to whichever route has
//! capacity and routes of equal capacity add up.
//!
//! A lane that stops answering (a refused connection, or three timeouts or 5xx in a row) is
//! taken out of the rotation while another lane is open, for 2 s, then twice as long each time
//! up to a minute; it comes back with one request at a time until it answers again. Its
//! failed requests are retried at once on the others: one route failing over loses nothing. A
//! lane whose route cannot work at all (a refused key, an exhausted quota, a wrong URL or
//! model) is closed for the rest of the run with a warning, and only when the last lane
//! closes does the run stop.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::concurrency::{Gradient, Slot};
use super::{Pool, PoolSettings};
use crate::client::{Client, ClientError};
use crate::limiter::{Budget, Limiter};

/// One route's share of the pool.
pub(super) struct Lane {
    pub(super) client: Client,
    pub(super) limiter: Limiter,
    pub(super) permits: Semaphore,
    /// Permits to forget as they come back, after the concurrency was lowered below the number
    /// in use.
    pub(super) debt: AtomicUsize,
    /// The latency of a server that announces no limits, which leads its concurrency.
    pub(super) gradient: Mutex<Gradient>,
    /// Requests this lane allows in flight.
    pub(super) concurrency: AtomicU64,
    /// Slots taken (a request between its slot and its answer's commit).
    pub(super) held: AtomicU64,
    /// Requests on the wire.
    pub(super) in_flight: AtomicU64,
    /// Requests sent (attempts), and those that failed.
    pub(super) sent: AtomicU64,
    pub(super) failed: AtomicU64,
    /// Whether the route has answered once: until then an error that says it cannot work
    /// closes it (see `ClientError::misconfiguration`).
    pub(super) answered: AtomicBool,
    /// The route as the cache knows it, for the limits it announced.
    pub(super) id: String,
    health: Mutex<Health>,
}

/// Whether a lane takes requests.
#[derive(Debug, Default)]
struct Health {
    /// Failures in a row since its last answer.
    failures: u32,
    /// Out of the rotation until then.
    down_until: Option<Instant>,
    /// Times it was taken out, for the length of the next pause.
    downs: u32,
    /// Back after a pause: one request at a time until it answers.
    probing: bool,
    /// Out for the rest of the run, and why.
    closed: Option<String>,
}

/// What a lane can take now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Open {
    /// Requests, as many as its slots allow.
    Yes,
    /// One request, to see whether it is back (taken only when none is held).
    Probe,
    /// None for now: it failed and others are open.
    Down,
    /// None for the rest of the run.
    Closed,
}

impl Lane {
    pub(super) fn new(client: Client, settings: &PoolSettings, id: String) -> Lane {
        let concurrency = settings.concurrency.max(1);
        Lane {
            client,
            // 2% in reserve: see `Limiter::with_reserve`.
            limiter: Limiter::with_reserve(settings.budget, 20),
            permits: Semaphore::new(concurrency),
            debt: AtomicUsize::new(0),
            gradient: Mutex::default(),
            concurrency: AtomicU64::new(concurrency as u64),
            held: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            answered: AtomicBool::new(false),
            id,
            health: Mutex::default(),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Requests allowed in flight on this lane.
    pub(super) fn concurrency(&self) -> usize {
        self.concurrency.load(Ordering::Acquire) as usize
    }

    /// What the lane can take at `now`. A pause that is over turns into a probe.
    pub(super) fn open(&self, now: Instant) -> Open {
        let mut health = self.health();
        if health.closed.is_some() {
            return Open::Closed;
        }
        match health.down_until {
            Some(until) if now < until => Open::Down,
            Some(_) => {
                health.down_until = None;
                health.probing = true;
                Open::Probe
            }
            None if health.probing => Open::Probe,
            None => Open::Yes,
        }
    }

    /// Why the lane was closed, if it was.
    pub(super) fn closed(&self) -> Option<String> {
        self.health().closed.clone()
    }

    /// Take the lane out for the rest of the run.
    pub(super) fn close(&self, why: String) {
        self.health().closed.get_or_insert(why);
    }

    /// After an attempt that ended in `result`: an answer (however bad) makes the lane
    /// healthy; a refused connection, or the third timeout or 5xx in a row, takes it out of
    /// the rotation when `others_open`. Returns what to tell the user when it goes out.
    pub(super) fn after(&self, result: Result<(), &ClientError>, others_open: bool) -> Option<String> {
        const IN_A_ROW: u32 = 3;
        const FIRST_PAUSE: Duration = Duration::from_secs(2);
        const LONGEST_PAUSE: Duration = Duration::from_secs(60);
        let mut health = self.health();
        let gone = match result {
            Err(ClientError::Connection(_)) => true,
            Err(ClientError::Timeout(_) | ClientError::Status { status: 500..=599, .. }) => {
                health.failures += 1;
                health.failures >= IN_A_ROW
            }
            // Anything else is an answer from the server: it is there.
            _ => {
                *health = Health { downs: health.downs, closed: health.closed.take(), ..Health::default() };
                return None;
            }
        };
        let pausing = gone && others_open && health.closed.is_none();
        if !pausing || health.down_until.is_some() {
            return None;
        }
        let pause = FIRST_PAUSE.saturating_mul(1 << health.downs.min(5)).min(LONGEST_PAUSE);
        health.downs += 1;
        health.failures = 0;
        health.probing = false;
        health.down_until = Some(Instant::now() + pause);
        let why = result.err().map(ToString::to_string).unwrap_or_default();
        Some(format!(
            "{} is not answering ({}); its requests go to the other endpoints, and it is tried again in {} s",
            self.client.base_url(),
            why.trim_end_matches('.'),
            pause.as_secs()
        ))
    }
}

impl Pool {
    /// The lanes that may take a request at `now`, the best first: open ones, the least busy
    /// (slots held for each allowed) first and those whose limiter has nobody waiting before
    /// those whose budget is spent; a lane back from a pause only when it holds no slot. When
    /// every lane is down, all those not closed (the retry policy then decides, as with one
    /// route); when every lane is closed, all (the run is being stopped).
    fn rotation(&self, now: Instant) -> Vec<&Lane> {
        let states: Vec<(&Lane, Open)> = self.lanes.iter().map(|lane| (lane, lane.open(now))).collect();
        let pick = |keep: &dyn Fn(&Lane, Open) -> bool| -> Vec<&Lane> {
            states.iter().filter(|(lane, open)| keep(lane, *open)).map(|(lane, _)| *lane).collect()
        };
        let mut open = pick(&|lane, open| match open {
            Open::Yes => true,
            Open::Probe => lane.held.load(Ordering::Acquire) == 0,
            Open::Down | Open::Closed => false,
        });
        if open.is_empty() {
            open = pick(&|_, open| open != Open::Closed);
        }
        if open.is_empty() {
            open = self.lanes.iter().collect();
        }
        open.sort_by_key(|lane| {
            let busy = lane.held.load(Ordering::Acquire) * 1000 / lane.concurrency().max(1) as u64;
            (lane.limiter.queued() > 0, busy)
        });
        open
    }

    /// Whether a lane other than `lane` takes requests.
    pub(super) fn others_open(&self, lane: &Lane) -> bool {
        let now = Instant::now();
        self.lanes
            .iter()
            .any(|other| !std::ptr::eq(other, lane) && matches!(other.open(now), Open::Yes | Open::Probe))
    }

    /// Close `lane` for `why`, warning once; false when it was the last open one (then the run
    /// must stop instead).
    pub(super) fn close_lane(&self, lane: &Lane, why: &str) -> bool {
        if self.lanes.len() == 1 || !self.lanes.iter().any(|l| !std::ptr::eq(l, lane) && l.closed().is_none())
        {
            return false;
        }
        if lane.closed().is_none() {
            lane.close(why.to_string());
            tracing::warn!("left out of the rest of the run: {why}");
        }
        true
    }

    /// A concurrency slot on the best lane with room (see [`Pool::rotation`]), counting the
    /// requests that had to wait for one. A lane that goes down or closes while a request
    /// waits for its slot is given up for another.
    pub(super) async fn slot(&self) -> (&Lane, Slot<'_>) {
        /// How often a request waiting for a slot looks again at lanes coming back.
        const LOOK_AGAIN: Duration = Duration::from_secs(1);
        // One route: nothing to choose and nothing coming back; its semaphore's own queue.
        if let [lane] = &self.lanes[..] {
            let permit = match lane.permits.try_acquire() {
                Ok(permit) => permit,
                Err(_) => {
                    self.stats.slot_waits.fetch_add(1, Ordering::Relaxed);
                    lane.permits.acquire().await.expect("the semaphore is never closed")
                }
            };
            return (lane, Slot::new(permit, lane));
        }
        let mut waited = false;
        loop {
            let lanes = self.rotation(Instant::now());
            for lane in &lanes {
                if let Ok(permit) = lane.permits.try_acquire() {
                    return (lane, Slot::new(permit, lane));
                }
            }
            if !waited {
                waited = true;
                self.stats.slot_waits.fetch_add(1, Ordering::Relaxed);
            }
            let acquires = lanes.iter().map(|lane| Box::pin(lane.permits.acquire()));
            tokio::select! {
                (permit, i, _) = futures::future::select_all(acquires) => {
                    let permit = permit.expect("the semaphore is never closed");
                    let lane = lanes[i];
                    if matches!(lane.open(Instant::now()), Open::Yes | Open::Probe) {
                        return (lane, Slot::new(permit, lane));
                    }
                }
                _ = tokio::time::sleep(LOOK_AGAIN) => {}
            }
        }
    }

    /// The budgets of every lane added up: what the run as a whole may spend.
    pub(crate) fn budget(&self) -> Budget {
        let budgets: Vec<Budget> = self.lanes.iter().map(|l| l.limiter.budget()).collect();
        let sum = |get: fn(&Budget) -> Option<std::num::NonZeroU32>| {
            std::num::NonZeroU32::new(
                budgets.iter().filter_map(get).fold(0u32, |a, b| a.saturating_add(b.get())),
            )
        };
        Budget { rpm: sum(|b| b.rpm), tpm: sum(|b| b.tpm) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{EndpointSettings, Route};

    fn lane() -> Lane {
        let endpoint = EndpointSettings {
            model: "m".into(),
            response_format: crate::client::ResponseFormat::JsonSchema,
            temperature: None,
            timeout: Duration::from_secs(5),
            stream: true,
            protocol: Default::default(),
            hint: None,
        };
        let route = Route { base_url: "http://127.0.0.1:9/v1".into(), api_key: None };
        let settings = PoolSettings {
            concurrency: 4,
            pinned: true,
            budget: Budget::default(),
            retry: Default::default(),
            budgets: Default::default(),
            price: None,
            max_cost: None,
            dry: None,
        };
        Lane::new(Client::new(&route, &endpoint).unwrap(), &settings, "r".into())
    }

    fn refused() -> ClientError {
        ClientError::Connection("tcp connect error: Connection refused".into())
    }

    fn server_error() -> ClientError {
        ClientError::Status { status: 502, code: None, message: "bad gateway".into(), retry_after: None }
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_connection_pauses_the_lane_and_it_comes_back_one_request_at_a_time() {
        let lane = lane();
        let notice = lane.after(Err(&refused()), true).expect("paused, and said");
        assert!(notice.contains("tried again in 2 s"), "{notice}");
        assert_eq!(lane.open(Instant::now()), Open::Down);
        assert_eq!(lane.after(Err(&refused()), true), None, "paused once, not again by each failure");
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(lane.open(Instant::now()), Open::Probe);
        // The probe fails: twice as long this time.
        let notice = lane.after(Err(&refused()), true).expect("paused again");
        assert!(notice.contains("in 4 s"), "{notice}");
        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(lane.open(Instant::now()), Open::Probe);
        assert_eq!(lane.after(Ok(()), true), None);
        assert_eq!(lane.open(Instant::now()), Open::Yes, "an answer opens it again");
    }

    #[tokio::test(start_paused = true)]
    async fn server_errors_pause_it_only_three_in_a_row_and_only_while_another_lane_is_open() {
        let lane = lane();
        assert_eq!(lane.after(Err(&server_error()), true), None);
        assert_eq!(lane.after(Err(&server_error()), true), None);
        assert_eq!(lane.after(Ok(()), true), None, "an answer breaks the row");
        assert_eq!(lane.after(Err(&server_error()), true), None);
        assert_eq!(lane.after(Err(&server_error()), true), None);
        assert!(lane.after(Err(&server_error()), true).is_some(), "the third in a row");
        assert_eq!(lane.open(Instant::now()), Open::Down);

        let alone = self::lane();
        for _ in 0..5 {
            assert_eq!(alone.after(Err(&refused()), false), None, "the only lane is never paused");
        }
        assert_eq!(alone.open(Instant::now()), Open::Yes);
        let bad_request =
            ClientError::Status { status: 400, code: None, message: "no".into(), retry_after: None };
        assert_eq!(alone.after(Err(&bad_request), true), None, "a 400 is an answer: the server is there");
    }

    #[tokio::test(start_paused = true)]
    async fn a_closed_lane_stays_closed() {
        let lane = lane();
        lane.close("the key was refused".into());
        assert_eq!(lane.open(Instant::now()), Open::Closed);
        assert_eq!(lane.after(Ok(()), true), None);
        assert_eq!(lane.open(Instant::now()), Open::Closed, "a late answer does not reopen it");
        assert_eq!(lane.closed().as_deref(), Some("the key was refused"));
    }
}
