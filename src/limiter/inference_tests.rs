//! How the limiter learns the way a server counts (bucket, sliding or fixed window) from its
//! answers, and paces by it: on paused tokio time, with the figures each kind of server sends.

use super::*;

fn limiter(rpm: u32) -> Limiter {
    Limiter::new(Budget { rpm: NonZeroU32::new(rpm), tpm: None })
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// Grant one request and report it with `state` as its answer.
async fn answered(l: &Limiter, state: &ServerState) {
    let grant = l.acquire(1).await.unwrap();
    grant.observe(state);
    grant.settle(1);
}

fn requests(limit: u32, remaining: u32, reset: Option<Duration>) -> ServerState {
    ServerState {
        limit_requests: Some(limit),
        remaining_requests: Some(remaining),
        reset_requests: reset,
        ..Default::default()
    }
}

#[tokio::test(start_paused = true)]
async fn a_bucket_that_says_so_stays_a_bucket() {
    let l = limiter(20);
    let t0 = Instant::now();
    for n in 1..=20 {
        // OpenAI's reset: the time to refill what is spent, 3 s a request at 20 per minute.
        answered(&l, &requests(20, 20 - n, Some(secs(3 * u64::from(n))))).await;
    }
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), secs(3), "the bucket refills one request in 3 s");
    assert_eq!(l.stats().model, None);
}

#[tokio::test(start_paused = true)]
async fn an_unexpected_429_without_resets_makes_it_a_window() {
    // LiteLLM's proxy: a fixed window, limit and remaining only. The bucket's 21st request,
    // 3 s in, is refused with a retry-after until the window ends.
    let l = limiter(20);
    let t0 = Instant::now();
    for n in 1..=20 {
        answered(&l, &requests(20, 20 - n, None)).await;
    }
    let refused = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), secs(3));
    refused.observe(&ServerState {
        retry_after: Some(secs(57)),
        rate_limited: true,
        ..requests(20, 0, None)
    });
    refused.settle(0);
    assert_eq!(l.stats().model, Some(Model::SlidingWindow));
    // The 20 granted at 0 count until 61 s: then 20 more go at once, and the 21st of those
    // waits for the next minute.
    for _ in 0..20 {
        let _ = l.acquire(1).await.unwrap();
        assert_eq!(t0.elapsed(), secs(61));
    }
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), secs(122));
}

#[tokio::test(start_paused = true)]
async fn resets_that_agree_on_the_end_make_it_a_fixed_window() {
    let l = limiter(20);
    let t0 = Instant::now();
    // The window opened at 0 and ends at 60 s: 59 s left a second in.
    tokio::time::advance(secs(1)).await;
    answered(&l, &requests(20, 19, Some(secs(59)))).await;
    assert_eq!(l.stats().model, Some(Model::SlidingWindow), "one far reset: a window");
    tokio::time::advance(secs(29)).await;
    answered(&l, &requests(20, 18, Some(secs(30)))).await;
    assert_eq!(l.stats().model, Some(Model::FixedWindow), "the same end, 29 s apart");
    for _ in 0..18 {
        let _ = l.acquire(1).await.unwrap();
    }
    assert_eq!(t0.elapsed(), secs(30));
    // All 20 are forgotten when the window ends (plus the margin), not a minute after each.
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), secs(61));
}

#[tokio::test(start_paused = true)]
async fn a_sliding_window_frees_each_grant_a_minute_later() {
    let l = limiter(3);
    let t0 = Instant::now();
    // Each answer's reset: until the newest request leaves the window, a minute away.
    answered(&l, &requests(3, 2, Some(secs(60)))).await;
    tokio::time::advance(secs(10)).await;
    answered(&l, &requests(3, 1, Some(secs(60)))).await;
    tokio::time::advance(secs(10)).await;
    answered(&l, &requests(3, 0, Some(secs(60)))).await;
    assert_eq!(l.stats().model, Some(Model::SlidingWindow), "ends that move with each request");
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), secs(61));
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), secs(71));
}

#[tokio::test(start_paused = true)]
async fn a_window_is_paced_to_its_whole_limit_without_the_buckets_reserve() {
    // The pool's limiter keeps 2% (at least one request) of a bucket in reserve; a window of
    // 20 paced at 19 would need a fourth minute for 60 requests.
    let l = Limiter::with_reserve(Budget { rpm: NonZeroU32::new(20), tpm: None }, 20);
    let t0 = Instant::now();
    tokio::time::advance(secs(1)).await;
    answered(&l, &requests(20, 19, Some(secs(59)))).await;
    assert_eq!(l.stats().model, Some(Model::SlidingWindow));
    for _ in 0..19 {
        let _ = l.acquire(1).await.unwrap();
    }
    assert_eq!(t0.elapsed(), secs(1), "all 20 in the first minute");
    let _ = l.acquire(1).await.unwrap();
    assert_eq!(t0.elapsed(), secs(62));
}
