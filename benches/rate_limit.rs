//! Cost of the rate limiter alone (no HTTP): nanoseconds per request for the hot path
//! (`check` on an existing bucket plus setting the four `RateLimit-*` fields), on one
//! thread and on every core at once over distinct and shared keys, and for a spray of
//! fresh addresses into a full table. Prints the figures; `BENCHMARKS.md` keeps them.
//!
//! Run: `cargo bench --bench rate_limit`.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::http::HeaderMap;
use vellum::api::rate_limit::{Quota, RateLimiter, Subject};

const N: u32 = 2_000_000;

fn limiter(max_keys: usize) -> RateLimiter {
    // Limits no loop reaches: every call takes the path of an allowed request.
    let q = || Quota::new(u32::MAX, Duration::from_secs(1));
    RateLimiter::new(q(), q(), max_keys)
}

fn addr(i: u32) -> Option<IpAddr> {
    Some(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)))
}

/// ns per call of `f(i)` over `N` calls on each of `threads` threads.
fn per_call(threads: u32, f: impl Fn(u32, u32) + Send + Sync + 'static) -> f64 {
    let f = Arc::new(f);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let f = f.clone();
            std::thread::spawn(move || (0..N).for_each(|i| f(t, i)))
        })
        .collect();
    for h in handles {
        h.join().expect("bench thread");
    }
    started.elapsed().as_nanos() as f64 / f64::from(N)
}

fn main() {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    let shared = Arc::new(limiter(100_000));
    let l = shared.clone();
    let one = per_call(1, move |_, i| {
        let d = l.check(Subject::Address(addr(i % 1000)));
        let mut h = HeaderMap::new();
        if let Some(d) = d {
            d.set_headers(&mut h);
        }
        black_box(h);
    });
    let l = shared.clone();
    let token = per_call(1, move |_, _| {
        black_box(l.check(Subject::Token("0190f3c4-0000-7000-8000-000000000001")));
    });
    let l = shared.clone();
    let all_distinct = per_call(cores, move |t, i| {
        black_box(l.check(Subject::Address(addr(t * 1000 + i % 1000))));
    });
    let l = shared.clone();
    let all_one_key = per_call(cores, move |_, _| {
        black_box(l.check(Subject::Address(addr(7))));
    });
    let full = Arc::new(limiter(10_000));
    let l = full.clone();
    let spray = per_call(1, move |_, i| {
        black_box(l.check(Subject::Address(addr(i))));
    });
    // A table full of buckets that stay active (an hour's window): every fresh address
    // must displace one. The default size, filled first.
    let q = || Quota::new(1000, Duration::from_secs(3600));
    let active = Arc::new(RateLimiter::new(q(), q(), 100_000));
    for i in 0..100_000 {
        active.check(Subject::Address(addr(i)));
    }
    let l = active.clone();
    let displace = per_call(1, move |_, i| {
        black_box(l.check(Subject::Address(addr(1_000_000 + i))));
    });
    println!("rate limiter, ns per request (wall time per call on each thread):");
    println!("  1 thread, address bucket + 4 RateLimit-* fields: {one:.0}");
    println!("  1 thread, API token bucket (UUID id):            {token:.0}");
    println!("  {cores} threads, distinct addresses:                 {all_distinct:.0}");
    println!("  {cores} threads, one shared address:                 {all_one_key:.0}");
    println!("  1 thread, fresh address each call, table full:   {spray:.0}");
    println!("  table after the spray: {:?}", full.stats());
    println!("  1 thread, fresh address each call, table full of active buckets: {displace:.0}");
    println!("  table after that spray: {:?}", active.stats());
}
