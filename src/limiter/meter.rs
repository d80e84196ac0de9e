//! How one budget (requests or tokens per minute) is counted: as a token bucket ([`Bucket`],
//! OpenAI's model and the default), or as a window ([`Window`]) once the server turned out to
//! count one (see [`Model`]).
//!
//! A window is paced as a *sliding* window: what was granted counts for a minute (plus a
//! margin for the network), so that no 60 s span ever holds more than the limit. That is safe
//! against every kind of server: a fixed window never sees more than a sliding one allows, and
//! a bucket that refills a minute's budget in a minute never runs dry on it. The average rate is
//! the same as a bucket's; only bursts differ. When a server is known to count a *fixed* window
//! and said when it closes, what was granted before is forgotten then (the server forgets it).

use std::collections::VecDeque;

use std::num::NonZeroU32;

use super::bucket::{Bucket, UNIT};

/// Nanoseconds a window spans.
pub(super) const PERIOD: i128 = 60_000_000_000;
/// How much longer than the server we count a grant, and how long after a fixed window's end
/// we wait: our grant times and the server's clock differ by a request's trip.
pub(super) const MARGIN: i128 = 1_000_000_000;

/// How the server counts its budgets, as inferred from its answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Model {
    /// A bucket refilling continuously (what a limiter assumes until told otherwise).
    Bucket,
    /// A window: what is spent comes back all at once, a minute later (sliding) or at the
    /// window's end (fixed).
    SlidingWindow,
    FixedWindow,
}

impl Model {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Model::Bucket => "bucket",
            Model::SlidingWindow => "sliding window",
            Model::FixedWindow => "fixed window",
        }
    }
}

/// A budget counted over windows: what was granted (and what the server counted beyond it),
/// with when.
#[derive(Debug, Clone)]
pub(super) struct Window {
    pub(super) cap: i128,
    /// (ns, units) granted, in time order.
    log: VecDeque<(i128, i128)>,
    /// A fixed window's end, as the server announced it: from then on, everything granted
    /// before it no longer counts.
    closes: Option<i128>,
}

impl Window {
    /// A window of `cap` units, holding what was granted since `log` began. It keeps no
    /// reserve, unlike a bucket: the margin on each grant's time absorbs the clocks' drift, and
    /// a reserve would leave a request of every window unused (a 20-request window paced at 19
    /// needs a fourth window for 60 requests).
    pub(super) fn new(cap: i128, log: impl IntoIterator<Item = (i128, i128)>) -> Window {
        Window { cap, log: log.into_iter().collect(), closes: None }
    }

    /// When an entry granted at `at` stops counting: a period (and the margin) later, or just
    /// after the fixed window it fell in closed.
    fn frees_at(&self, at: i128) -> i128 {
        let slides_out = at + PERIOD + MARGIN;
        match self.closes {
            Some(end) if at < end - MARGIN => slides_out.min(end + MARGIN),
            _ => slides_out,
        }
    }

    /// Forget what no longer counts at `now`.
    fn prune(&mut self, now: i128) {
        while let Some(&(at, _)) = self.log.front() {
            if self.frees_at(at) > now {
                break;
            }
            self.log.pop_front();
        }
    }

    pub(super) fn used(&self, now: i128) -> i128 {
        self.log.iter().filter(|&&(at, _)| self.frees_at(at) > now).map(|&(_, n)| n).sum()
    }

    /// Earliest time (ns) at which `n` units fit; may be in the past. Entries free in time
    /// order (`frees_at` never decreases along the log), so this frees the oldest first.
    pub(super) fn ready_at(&self, n: u32) -> i128 {
        let total: i128 = self.log.iter().map(|&(_, units)| units).sum();
        let mut excess = total + n as i128 - self.cap;
        if excess <= 0 {
            return i128::MIN;
        }
        for &(at, units) in &self.log {
            excess -= units;
            if excess <= 0 {
                return self.frees_at(at);
            }
        }
        // More than the whole budget: once everything else is gone.
        self.log.back().map_or(i128::MIN, |&(at, _)| self.frees_at(at))
    }

    pub(super) fn charge(&mut self, n: u32, now: i128) {
        self.prune(now);
        self.insert(now, n as i128);
    }

    /// Give back up to `n` units of the grant made at `issued`. Returns units credited.
    pub(super) fn refund(&mut self, n: u32, issued: i128) -> u64 {
        let mut left = n as i128;
        for entry in self.log.iter_mut().rev().filter(|(at, _)| *at <= issued) {
            let credit = left.min(entry.1);
            entry.1 -= credit;
            left -= credit;
            if left == 0 {
                break;
            }
        }
        (n as i128 - left) as u64
    }

    pub(super) fn available(&self, now: i128) -> u32 {
        (self.cap - self.used(now)).clamp(0, u32::MAX as i128) as u32
    }

    /// The server had only `remaining` left at `at`: what it counted beyond our log (other
    /// clients, or requests we no longer remember) is entered as spent then.
    pub(super) fn tighten(&mut self, remaining: u32, at: i128) -> bool {
        let counted = (self.cap - remaining as i128).max(0);
        let ours = self.used(at);
        if counted <= ours {
            return false;
        }
        self.insert(at, counted - ours);
        true
    }

    /// The server's fixed window closes at `end` (seen at `now`). What an earlier window's end
    /// freed is dropped first, so that a later end does not bring it back.
    pub(super) fn closes_at(&mut self, end: i128, now: i128) {
        self.prune(now);
        self.closes = Some(self.closes.map_or(end, |known| known.max(end)));
    }

    /// The same record under another limit.
    pub(super) fn with_cap(&self, cap: i128) -> Window {
        Window { cap, ..self.clone() }
    }

    fn insert(&mut self, at: i128, units: i128) {
        let position = self.log.partition_point(|&(t, _)| t <= at);
        self.log.insert(position, (at, units));
    }
}

/// One budget, counted either way.
#[derive(Debug, Clone)]
pub(super) enum Meter {
    Bucket(Bucket),
    Window(Window),
}

impl Meter {
    pub(super) fn cap(&self) -> i128 {
        match self {
            Meter::Bucket(b) => b.cap,
            Meter::Window(w) => w.cap,
        }
    }

    /// Units in use at `now`.
    pub(super) fn used(&self, now: i128) -> i128 {
        match self {
            Meter::Bucket(b) => b.level(now) / UNIT,
            Meter::Window(w) => w.used(now),
        }
    }

    pub(super) fn ready_at(&self, n: u32) -> i128 {
        match self {
            Meter::Bucket(b) => b.ready_at(n),
            Meter::Window(w) => w.ready_at(n),
        }
    }

    pub(super) fn charge(&mut self, n: u32, now: i128) {
        match self {
            Meter::Bucket(b) => b.charge(n, now),
            Meter::Window(w) => w.charge(n, now),
        }
    }

    /// Give back up to `n` units of a grant made at `issued`. Returns units credited.
    pub(super) fn refund(&mut self, n: u32, issued: i128, now: i128) -> u64 {
        match self {
            Meter::Bucket(b) => b.refund(n, now),
            Meter::Window(w) => w.refund(n, issued),
        }
    }

    pub(super) fn available(&self, now: i128) -> u32 {
        match self {
            Meter::Bucket(b) => b.available(now),
            Meter::Window(w) => w.available(now),
        }
    }

    pub(super) fn tighten(&mut self, remaining: u32, at: i128) -> bool {
        match self {
            Meter::Bucket(b) => b.tighten(remaining, at),
            Meter::Window(w) => w.tighten(remaining, at),
        }
    }

    /// Time to win back `n` units from empty, in ns.
    pub(super) fn refill_ns(&self, n: u32) -> i128 {
        match self {
            Meter::Bucket(b) => b.refill_ns(n),
            Meter::Window(_) => PERIOD + MARGIN,
        }
    }
}

/// The bucket for a limit the server announced, when it is new to us or stricter than ours.
/// It is as used as the most cautious of three views: the old bucket's (requests granted under
/// the old, faster refill), the server's (what it had counted, `limit - remaining`), and the
/// requests still on their way (`open`), which it may not have counted yet. (Not their sum:
/// concurrent requests reach the server in any order, so many of those on their way are
/// already in its count.)
pub(super) fn adopted(
    current: Option<&Meter>,
    limit: Option<u32>,
    remaining: Option<u32>,
    open: u64,
    reserve_permille: u32,
    measured: i128,
    now: i128,
) -> Option<Meter> {
    let limit = limit.and_then(NonZeroU32::new)?;
    if current.is_some_and(|m| (limit.get() as i128) >= m.cap()) {
        return None;
    }
    let mut bucket = Bucket::new(limit, reserve_permille);
    // A window keeps its record under the lower limit; the server's count tightens it after.
    if let Some(Meter::Window(window)) = current {
        return Some(Meter::Window(window.with_cap(bucket.cap)));
    }
    let carried = current.map_or(0, |m| m.used(now));
    bucket.tat = now * bucket.cap + carried.min(bucket.cap) * UNIT;
    // The server's view, as of when it measured.
    let counted = remaining.map_or(0, |r| (bucket.cap - r as i128).max(0));
    let used = counted.max(open as i128).min(bucket.cap);
    bucket.tat = bucket.tat.max(measured * bucket.cap + used * UNIT);
    Some(Meter::Bucket(bucket))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i128 = 1_000_000_000;

    #[test]
    fn a_grant_counts_for_a_minute_and_the_margin() {
        let mut w = Window::new(3, []);
        for t in [0, 10, 20] {
            w.charge(1, t * S);
        }
        assert_eq!(w.available(30 * S), 0);
        assert_eq!(w.ready_at(1), 61 * S, "the first grant leaves at 60 s + 1 s");
        assert_eq!(w.ready_at(2), 71 * S);
        assert_eq!(w.available(61 * S), 1);
        w.charge(1, 61 * S);
        assert_eq!(w.ready_at(1), 71 * S);
    }

    #[test]
    fn a_fixed_window_forgets_everything_granted_before_it_closed() {
        let mut w = Window::new(3, []);
        for t in [0, 10, 20] {
            w.charge(1, t * S);
        }
        w.closes_at(30 * S, 25 * S);
        assert_eq!(w.ready_at(3), 31 * S);
        // The next window's end, learned in it, does not bring the old grants back.
        w.charge(1, 40 * S);
        w.closes_at(100 * S, 40 * S);
        assert_eq!(w.used(41 * S), 1);
        assert_eq!(w.ready_at(3), 101 * S);
        // A grant just before the end may reach the server after it: it counts on.
        let mut late = Window::new(3, []);
        late.charge(1, 29_500_000_000);
        late.closes_at(30 * S, 29_600_000_000);
        assert_eq!(late.used(40 * S), 1);
    }

    #[test]
    fn refunds_go_to_their_grant_and_the_server_count_is_entered_when_measured() {
        let mut w = Window::new(1_000, []);
        w.charge(600, 0);
        w.charge(300, 5 * S);
        assert_eq!(w.refund(500, 0), 500);
        assert_eq!(w.used(6 * S), 400);
        // The server counted 700 at 5 s: 300 more than we had.
        assert!(w.tighten(300, 5 * S));
        assert_eq!(w.used(6 * S), 700);
        assert!(!w.tighten(400, 6 * S), "no stricter than ours");
        // The grant at 0 (100 left) leaves at 61 s; ours and the server's at 5 s leave at 66 s.
        assert_eq!(w.ready_at(400), 61 * S);
        assert_eq!(w.ready_at(401), 66 * S);
    }
}
