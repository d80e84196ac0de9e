//! Unit tests of the limiter, on paused tokio time: exact budgets, fairness, cancel
//! safety, server feedback.

use super::*;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::time::{sleep, timeout};

fn limiter(rpm: Option<u32>, tpm: Option<u32>) -> Arc<Limiter> {
    Arc::new(Limiter::new(Budget { rpm: rpm.and_then(NonZeroU32::new), tpm: tpm.and_then(NonZeroU32::new) }))
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Spawn `acquire(tokens)` (keeping the charge) and report when it was granted.
fn spawn_at(l: &Arc<Limiter>, tokens: u32, t0: Instant) -> tokio::task::JoinHandle<Duration> {
    let l = l.clone();
    tokio::spawn(async move {
        let g = l.acquire(tokens).await.unwrap();
        let at = t0.elapsed();
        std::mem::forget(g); // keep charge, nothing to settle
        at
    })
}

async fn let_spawned_run() {
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
}

#[test]
fn is_send_sync() {
    fn ss<T: Send + Sync>() {}
    ss::<Limiter>();
    ss::<Grant>();
    fn send<T: Send>(_: &T) {}
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let _e = rt.enter();
    let l = limiter(Some(1), None);
    send(&l.acquire(1));
}

#[tokio::test(start_paused = true)]
async fn rpm_burst_then_exactly_one_second() {
    let l = limiter(Some(60), None);
    let t0 = Instant::now();
    for _ in 0..60 {
        let _ = l.acquire(1).await.unwrap();
    }
    assert_eq!(t0.elapsed(), Duration::ZERO);
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1000));
    let s = l.stats();
    assert_eq!(s.requests, 61);
    assert_eq!(s.waited, ms(1000));
}

#[tokio::test(start_paused = true)]
async fn tpm_burst_then_refill_rate() {
    let l = limiter(None, Some(6000));
    let t0 = Instant::now();
    let _ = l.acquire(6000).await.unwrap();
    assert_eq!(t0.elapsed(), Duration::ZERO);
    let _ = l.acquire(100).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1000));
    assert_eq!(l.stats().tokens_charged, 6100);
}

#[tokio::test(start_paused = true)]
async fn too_large_is_immediate() {
    let l = limiter(Some(10), Some(6000));
    let t0 = Instant::now();
    let e = l.acquire(6001).await.unwrap_err();
    assert_eq!(e, LimitError::TooLarge { needed: 6001, budget: 6000 });
    assert_eq!(t0.elapsed(), Duration::ZERO);
    assert_eq!(l.stats().requests, 0);
}

#[tokio::test(start_paused = true)]
async fn settle_refund_lets_waiter_go_earlier() {
    let l = limiter(None, Some(6000));
    let t0 = Instant::now();
    std::mem::forget(l.acquire(5000).await.unwrap());
    let g = l.acquire(1000).await.unwrap();
    // Bucket empty: 600 tokens would need 6 s of refill.
    let w = spawn_at(&l, 600, t0);
    sleep(ms(1000)).await;
    g.settle(400); // 600 back, plus 100 refilled during the second
    assert_eq!(w.await.unwrap(), ms(1000));
    let s = l.stats();
    assert_eq!(s.tokens_refunded, 600);
    assert_eq!(s.tokens_charged, 6600);
}

#[tokio::test(start_paused = true)]
async fn settle_overcharge_delays_next() {
    let l = limiter(None, Some(6000));
    let t0 = Instant::now();
    l.acquire(6000).await.unwrap().settle(6100); // 100 into debt
    let _ = l.acquire(100).await.unwrap();
    assert_eq!(t0.elapsed(), ms(2000));
    assert_eq!(l.stats().tokens_charged, 6200);
}

#[tokio::test(start_paused = true)]
async fn observe_tokens_exhausted_refills_at_the_rate_not_at_the_full_reset() {
    // OpenAI's reset is when the bucket is full again (here 60 s); 100 tokens refill in
    // 1 s at 6000/min, and waiting for the full reset would idle the budget.
    let l = limiter(None, Some(6000));
    let t0 = Instant::now();
    l.observe(&ServerState {
        remaining_tokens: Some(0),
        reset_tokens: Some(ms(60_000)),
        ..Default::default()
    });
    let _ = l.acquire(100).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1_000));
    assert_eq!(l.stats().server_tightened, 1);
}

#[tokio::test(start_paused = true)]
async fn a_reserve_keeps_a_margin_below_the_burst_and_then_paces_at_the_full_rate() {
    let l = Limiter::with_reserve(
        Budget { rpm: NonZeroU32::new(100), tpm: None },
        20, // 2%: two requests
    );
    let t0 = Instant::now();
    for _ in 0..98 {
        let _ = l.acquire(1).await.unwrap();
    }
    assert_eq!(t0.elapsed(), Duration::ZERO, "the burst less the reserve goes at once");
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), ms(600), "then one request each 0.6 s, the full rate");
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1_200));
}

#[tokio::test(start_paused = true)]
async fn a_limit_learned_mid_flight_counts_the_requests_still_on_their_way() {
    // Regression: a bucket created from the first response's headers started as full as the
    // server said, forgetting the requests already granted that the server had not counted
    // yet, and the run met a 429.
    let l = limiter(None, None);
    assert_eq!(l.budget(), Budget::default(), "nothing known yet");
    let open: Vec<Grant> = futures_grants(&l, 5).await;
    // The server answered the first of them: 10 a minute, 9 left (it counted only that one).
    open[0].observe(&ServerState {
        limit_requests: Some(10),
        remaining_requests: Some(9),
        ..Default::default()
    });
    drop(open);
    assert_eq!(l.budget(), Budget { rpm: NonZeroU32::new(10), tpm: None }, "the learned limit is the budget");
    let t0 = Instant::now();
    for _ in 0..5 {
        let _ = l.acquire(1).await.unwrap();
    }
    assert_eq!(t0.elapsed(), Duration::ZERO, "9 left, 4 of them already on their way");
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), ms(6_000), "then one each 6 s at 10 a minute");
}

#[tokio::test(start_paused = true)]
async fn a_count_that_includes_requests_granted_later_does_not_count_them_twice() {
    // Regression: concurrent requests reach the server in any order, so the answer to the
    // first of ten may already count all ten (50 left of 60). Taking the nine granted after it
    // as unseen on top of that left 41, and a batch at its RPM limit ran 17% over the floor.
    let l = limiter(Some(60), None);
    let open: Vec<Grant> = futures_grants(&l, 10).await;
    open[0].observe(&ServerState { remaining_requests: Some(50), ..Default::default() });
    let t0 = Instant::now();
    let more: Vec<Grant> = futures_grants(&l, 50).await;
    assert_eq!(t0.elapsed(), Duration::ZERO, "the server and we agree: 50 left");
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1_000));
    drop((open, more));
}

#[tokio::test(start_paused = true)]
async fn a_servers_count_applies_as_of_when_it_was_measured() {
    // Regression: the count in a response was applied as of its arrival, 300 ms after the
    // server measured it, throwing away the refill in between on every response (a batch at
    // its RPM limit ran 14% over the floor).
    let l = limiter(Some(60), None);
    let t0 = Instant::now();
    let open: Vec<Grant> = futures_grants(&l, 60).await;
    tokio::time::sleep(ms(900)).await;
    // The answer to the last grant: measured on its arrival at t0, nothing left.
    open[59].observe(&ServerState { remaining_requests: Some(0), ..Default::default() });
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1_000), "one request refills in 1 s from when the server measured");
    drop(open);
}

async fn futures_grants(l: &Limiter, n: usize) -> Vec<Grant> {
    let mut grants = Vec::new();
    for _ in 0..n {
        grants.push(l.acquire(1).await.unwrap());
    }
    grants
}

#[tokio::test(start_paused = true)]
async fn a_server_limit_below_the_settings_or_without_settings_becomes_the_rate() {
    // No settings at all: the server says 60 RPM with 0 left, so the next request waits
    // the 1 s one request takes to refill.
    let l = limiter(None, None);
    let t0 = Instant::now();
    l.observe(&ServerState { limit_requests: Some(60), remaining_requests: Some(0), ..Default::default() });
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1_000));
    // Settings looser than the server (6000 TPM against its 600): the server's rate wins.
    let l = limiter(None, Some(6000));
    let t0 = Instant::now();
    l.observe(&ServerState { limit_tokens: Some(600), remaining_tokens: Some(0), ..Default::default() });
    let _ = l.acquire(100).await.unwrap();
    assert_eq!(t0.elapsed(), ms(10_000));
    // A looser server limit changes nothing.
    let l = limiter(Some(60), None);
    l.observe(&ServerState { limit_requests: Some(6000), ..Default::default() });
    let t0 = Instant::now();
    for _ in 0..61 {
        let _ = l.acquire(1).await.unwrap();
    }
    assert_eq!(t0.elapsed(), ms(1_000));
}

#[tokio::test(start_paused = true)]
async fn observe_tightens_to_remaining_then_refills_at_our_rate() {
    let l = limiter(None, Some(6000));
    let t0 = Instant::now();
    l.observe(&ServerState { remaining_tokens: Some(50), ..Default::default() });
    let _ = l.acquire(100).await.unwrap();
    assert_eq!(t0.elapsed(), ms(500));
}

#[tokio::test(start_paused = true)]
async fn observe_never_loosens() {
    let l = limiter(None, Some(6000));
    let t0 = Instant::now();
    let _ = l.acquire(6000).await.unwrap();
    l.observe(&ServerState {
        remaining_tokens: Some(1_000_000),
        limit_tokens: Some(1_000_000),
        ..Default::default()
    });
    let _ = l.acquire(100).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1000));
    assert_eq!(l.stats().server_tightened, 0);
}

#[tokio::test(start_paused = true)]
async fn retry_after_pauses_then_full_rate_resumes() {
    let l = limiter(Some(60), None);
    let t0 = Instant::now();
    for _ in 0..60 {
        let _ = l.acquire(1).await.unwrap();
    }
    l.observe(&ServerState { retry_after: Some(ms(2000)), ..Default::default() });
    let mut at = vec![];
    for _ in 0..4 {
        let _ = l.acquire(1).await.unwrap();
        at.push(t0.elapsed());
    }
    // Nothing before 2 s; the 2 requests refilled meanwhile go at once,
    // then one per second: the configured rate, no 15 s stall.
    assert_eq!(at, vec![ms(2000), ms(2000), ms(3000), ms(4000)]);
}

#[tokio::test(start_paused = true)]
async fn observe_requests_tightens_governor_and_refills() {
    let l = limiter(Some(60), None);
    let t0 = Instant::now();
    l.observe(&ServerState { remaining_requests: Some(3), ..Default::default() });
    for _ in 0..3 {
        let _ = l.acquire(1).await.unwrap();
    }
    assert_eq!(t0.elapsed(), Duration::ZERO);
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), ms(1000));
    l.observe(&ServerState {
        remaining_requests: Some(0),
        reset_requests: Some(ms(60_000)),
        ..Default::default()
    });
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), ms(2000), "one request refills in 1 s at 60 RPM");
}

#[tokio::test(start_paused = true)]
async fn small_overtakes_big_when_big_has_slack() {
    let l = limiter(None, Some(6000));
    let t0 = Instant::now();
    std::mem::forget(l.acquire(3000).await.unwrap());
    // Big: 3000 available, needs 2000 more -> ready at 20 s; deadline 50 s.
    let big = spawn_at(&l, 5000, t0);
    let_spawned_run().await;
    let small = spawn_at(&l, 50, t0);
    assert_eq!(small.await.unwrap(), Duration::ZERO); // not blocked behind big
    assert_eq!(big.await.unwrap(), ms(20_500)); // delayed by 0.5 s, within its bound
}

#[tokio::test(start_paused = true)]
async fn no_overtaking_past_the_heads_ready_time() {
    let l = limiter(None, Some(6000));
    let t0 = Instant::now();
    std::mem::forget(l.acquire(6000).await.unwrap());
    // Drained: big is ready at 50 s == its deadline, so no slack.
    let big = spawn_at(&l, 5000, t0);
    let_spawned_run().await;
    let small = spawn_at(&l, 50, t0);
    assert_eq!(big.await.unwrap(), ms(50_000));
    assert_eq!(small.await.unwrap(), ms(50_500));
}

#[tokio::test(start_paused = true)]
async fn stream_of_small_does_not_starve_big() {
    let l = limiter(None, Some(6000));
    let t0 = Instant::now();
    std::mem::forget(l.acquire(3000).await.unwrap());
    let big = spawn_at(&l, 5000, t0);
    let_spawned_run().await;
    // 200 tokens/s of small requests arriving: twice the refill rate,
    // enough to starve the big one forever without protection.
    let mut smalls = vec![];
    for _ in 0..240 {
        smalls.push(spawn_at(&l, 100, t0));
        sleep(ms(500)).await;
    }
    let big_at = big.await.unwrap();
    // Bound: arrival + refill(5000 tokens) = 50 s.
    assert_eq!(big_at, ms(50_000));
    let mut before = 0;
    for s in smalls {
        if s.await.unwrap() < big_at {
            before += 1;
        }
    }
    // 30 small ones used the big one's slack (20 s natural -> 50 s bound).
    assert_eq!(before, 30);
}

#[tokio::test(start_paused = true)]
async fn cancelled_waiter_does_not_block_or_leak() {
    let l = limiter(None, Some(6000));
    let t0 = Instant::now();
    std::mem::forget(l.acquire(6000).await.unwrap());
    let l2 = l.clone();
    let a = tokio::spawn(async move { timeout(ms(1000), l2.acquire(5000)).await.is_err() });
    let_spawned_run().await;
    let b = spawn_at(&l, 100, t0); // blocked behind protected head `a`
    assert!(a.await.unwrap(), "a timed out (dropped mid-wait)");
    assert_eq!(b.await.unwrap(), ms(1000)); // head gone: b goes at once
    assert!(l.shared.lock().queue.is_empty());
    // Nothing was charged for `a`: a full minute's worth needs exactly 60 s more.
    let _ = l.acquire(6000).await.unwrap();
    assert_eq!(t0.elapsed(), ms(61_000));
    let s = l.stats();
    assert_eq!((s.requests, s.tokens_charged), (3, 12_100));
}

/// Drive `costs` through `workers` concurrent tasks; return the last grant time.
async fn run_batch(l: Arc<Limiter>, costs: Arc<Vec<u32>>, workers: usize) -> Duration {
    let t0 = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut handles = vec![];
    for _ in 0..workers {
        let (l, costs, next) = (l.clone(), costs.clone(), next.clone());
        handles.push(tokio::spawn(async move {
            let mut last = Duration::ZERO;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(&c) = costs.get(i) else { break last };
                let g = l.acquire(c).await.unwrap();
                last = t0.elapsed();
                g.settle(c);
            }
        }));
    }
    let mut last = Duration::ZERO;
    for h in handles {
        last = last.max(h.await.unwrap());
    }
    last
}

fn floor(n: usize, sum: u64, rpm: u32, tpm: u32) -> f64 {
    let req = (n as f64 - rpm as f64) / rpm as f64;
    let tok = (sum as f64 - tpm as f64) / tpm as f64;
    req.max(tok).max(0.0) * 60.0
}

#[tokio::test(start_paused = true)]
async fn throughput_token_bound_hits_floor() {
    let mut x: u64 = 12345;
    let costs: Vec<u32> = (0..400)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            100 + ((x >> 33) % 2901) as u32
        })
        .collect();
    let sum: u64 = costs.iter().map(|&c| c as u64).sum();
    let (rpm, tpm) = (500, 100_000);
    let took = run_batch(limiter(Some(rpm), Some(tpm)), Arc::new(costs), 16).await;
    let want = floor(400, sum, rpm, tpm);
    assert!(want > 60.0);
    let got = took.as_secs_f64();
    assert!((got - want).abs() <= want * 0.01, "got {got}, floor {want}");
}

#[tokio::test(start_paused = true)]
async fn throughput_request_bound_hits_floor() {
    let costs = vec![500u32; 1000];
    let (rpm, tpm) = (200, 1_000_000);
    let took = run_batch(limiter(Some(rpm), Some(tpm)), Arc::new(costs), 16).await;
    let want = floor(1000, 500_000, rpm, tpm);
    let got = took.as_secs_f64();
    assert!((got - want).abs() <= want * 0.01, "got {got}, floor {want}");
}
