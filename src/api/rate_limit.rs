//! API rate limits, per node and in memory: one budget per API token, per user and per
//! client address, each a token bucket (GCRA) that allows a burst of `limit` requests and
//! refills continuously at `limit` per `window`. Answers under the limit carry the
//! `RateLimit-*` fields of draft-ietf-httpapi-ratelimit-headers-06; over it, a 429
//! `rate_limited` with `Retry-After`.
//!
//! Hot path: one clock read, one hash and one short lock of one of up to 64 shards; no
//! global lock, no allocation. A bucket is a single number (its theoretical arrival
//! time), and a bucket that has refilled is the same as no bucket, so idle ones are
//! dropped for free when a shard is full. The table never holds more than `max_keys`
//! buckets: past that, the fullest active buckets give way (the least state lost).
//! Buckets for tokens and users are made only after the token checked out, so forged
//! tokens cannot grow the table. What it must not do: know about requests, principals or
//! the database — the middleware (`middleware::authenticate`) decides whom to charge.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use poem::http::{HeaderMap, HeaderName, HeaderValue};

use super::client_ip::canonical_bits;
use crate::config::Settings;
use crate::error::{ApiError, Code};

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");
pub const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");

/// Most shards; fewer for small tables, so each shard still holds a useful number.
const MAX_SHARDS: usize = 64;
const NANOS: u64 = 1_000_000_000;

/// Whose budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// An anonymous caller, by client address (IPv6 by its /64: one customer's prefix).
    Address(Option<IpAddr>),
    /// Bearer tokens from this address that did not check out. Kept apart from
    /// `Address`, so a busy anonymous address does not lock out its valid tokens.
    FailedAuth(Option<IpAddr>),
    /// An API token, by id.
    Token(&'a str),
    /// A user (all their sessions together), by id.
    User(&'a str),
}

impl Subject<'_> {
    fn key(&self) -> Key {
        match *self {
            Subject::Address(ip) => Key(0, address_bits(ip)),
            Subject::FailedAuth(ip) => Key(1, address_bits(ip)),
            Subject::Token(id) => Key(2, id_bits(id)),
            Subject::User(id) => Key(3, id_bits(id)),
        }
    }

    fn authenticated(&self) -> bool {
        matches!(self, Subject::Token(_) | Subject::User(_))
    }

    fn who(&self) -> &'static str {
        match self {
            Subject::Address(_) => "from your address",
            Subject::FailedAuth(_) => "with invalid bearer tokens from your address",
            Subject::Token(_) => "with this API token",
            Subject::User(_) => "for your user",
        }
    }
}

/// A bucket's name in the table: (kind, 128 bits of identity).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key(u8, u128);

fn address_bits(ip: Option<IpAddr>) -> u128 {
    match ip.map(|ip| ip.to_canonical()) {
        None => 0,
        Some(IpAddr::V6(v6)) => u128::from(v6) & (u128::MAX << 64),
        Some(v4) => canonical_bits(v4),
    }
}

/// Ids are UUIDs; anything else is reduced to 128 bits of its SHA-256.
fn id_bits(id: &str) -> u128 {
    match uuid::Uuid::try_parse(id) {
        Ok(u) => u.as_u128(),
        Err(_) => {
            use sha2::Digest;
            let digest = sha2::Sha256::digest(id.as_bytes());
            let mut first = [0u8; 16];
            first.copy_from_slice(&digest[..16]);
            u128::from_be_bytes(first)
        }
    }
}

/// `limit` requests at once, refilled at `limit` per `window`.
#[derive(Debug)]
pub struct Quota {
    limit: u32,
    window_secs: u64,
    /// Nanoseconds one request's share takes to refill (GCRA's emission interval).
    interval: u64,
    /// How far ahead of now the bucket may be spent (GCRA's delay tolerance).
    tolerance: u64,
    limit_header: HeaderValue,
    policy_header: HeaderValue,
}

impl Quota {
    /// `None` when `limit` is 0 (no limit).
    pub fn new(limit: u32, window: Duration) -> Option<Quota> {
        if limit == 0 {
            return None;
        }
        let window_secs = window.as_secs().max(1);
        let interval = (window_secs * NANOS / u64::from(limit)).max(1);
        Some(Quota {
            limit,
            window_secs,
            interval,
            tolerance: interval * u64::from(limit - 1),
            limit_header: HeaderValue::from(limit),
            policy_header: HeaderValue::from_str(&format!("{limit};w={window_secs}"))
                .unwrap_or_else(|_| HeaderValue::from_static("0")),
        })
    }
}

/// The limiter's answer for one request.
#[derive(Debug)]
pub struct Decision<'a> {
    quota: &'a Quota,
    who: &'static str,
    allowed: bool,
    remaining: u64,
    /// Nanoseconds until the bucket is full again.
    reset: u64,
    /// Nanoseconds until one more request would pass (0 when allowed).
    retry: u64,
}

impl Decision<'_> {
    pub fn allowed(&self) -> bool {
        self.allowed
    }

    /// `Retry-After` in whole seconds, rounded up (so waiting it is always enough).
    pub fn retry_after_secs(&self) -> u64 {
        self.retry.div_ceil(NANOS).max(1)
    }

    /// The `RateLimit-*` fields (draft-06): `Limit` the burst, `Remaining` what may be
    /// sent now, `Reset` seconds until the bucket is full again, `Policy` `limit;w=window`.
    pub fn set_headers(&self, headers: &mut HeaderMap) {
        headers.insert(RATELIMIT_LIMIT, self.quota.limit_header.clone());
        headers.insert(RATELIMIT_REMAINING, HeaderValue::from(self.remaining));
        headers.insert(
            RATELIMIT_RESET,
            HeaderValue::from(self.reset.div_ceil(NANOS)),
        );
        headers.insert(RATELIMIT_POLICY, self.quota.policy_header.clone());
    }

    /// The 429 for a request over the limit.
    pub fn error(&self) -> ApiError {
        let retry = self.retry_after_secs();
        let q = self.quota;
        let mut headers = HeaderMap::new();
        self.set_headers(&mut headers);
        let mut err = ApiError::new(
            Code::RateLimited,
            format!(
                "too many requests {}: the limit is {} requests per {} s; retry in {retry} s (the Retry-After header says the same)",
                self.who, q.limit, q.window_secs
            ),
        )
        .with_details(serde_json::json!({
            "retry_after_secs": retry, "limit": q.limit, "window_secs": q.window_secs,
        }))
        .with_header("retry-after", retry.to_string());
        for (name, value) in [
            ("ratelimit-limit", RATELIMIT_LIMIT),
            ("ratelimit-remaining", RATELIMIT_REMAINING),
            ("ratelimit-reset", RATELIMIT_RESET),
            ("ratelimit-policy", RATELIMIT_POLICY),
        ] {
            if let Some(v) = headers.get(&value).and_then(|v| v.to_str().ok()) {
                err = err.with_header(name, v.to_string());
            }
        }
        err
    }
}

/// What the limiter holds and has done, for operators and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Buckets in the table (never more than `max_keys`).
    pub tracked: usize,
    /// Requests refused with 429.
    pub limited: u64,
    /// Active buckets dropped to make room (the table was full of recent callers).
    pub displaced: u64,
}

pub struct RateLimiter {
    anonymous: Option<Quota>,
    authenticated: Option<Quota>,
    /// Bucket → theoretical arrival time (ns since `epoch`); at or before now means full.
    shards: Box<[Mutex<HashMap<Key, u64>>]>,
    shard_cap: usize,
    hasher: RandomState,
    epoch: Instant,
    limited: AtomicU64,
    displaced: AtomicU64,
}

impl RateLimiter {
    pub fn new(anonymous: Option<Quota>, authenticated: Option<Quota>, max_keys: usize) -> Self {
        let max_keys = max_keys.max(1);
        // At least 16 buckets a shard, so one busy shard is not starved of room.
        let shards = (max_keys / 16)
            .clamp(1, MAX_SHARDS)
            .next_power_of_two()
            .min(MAX_SHARDS);
        RateLimiter {
            anonymous,
            authenticated,
            shards: (0..shards).map(|_| Mutex::new(HashMap::new())).collect(),
            shard_cap: max_keys / shards,
            hasher: RandomState::new(),
            epoch: Instant::now(),
            limited: AtomicU64::new(0),
            displaced: AtomicU64::new(0),
        }
    }

    pub fn from_settings(s: &Settings) -> Self {
        let window = Duration::from_secs(s.rate_limit_window_secs);
        Self::new(
            Quota::new(s.rate_limit_anonymous, window),
            Quota::new(s.rate_limit_authenticated, window),
            s.rate_limit_max_keys,
        )
    }

    /// Whether any limit is on (when none is, the middleware skips the limiter).
    pub fn enabled(&self) -> bool {
        self.anonymous.is_some() || self.authenticated.is_some()
    }

    /// Spends one request of `subject`'s budget, if it has one left. `None`: no limit
    /// applies to this kind of caller.
    pub fn check(&self, subject: Subject<'_>) -> Option<Decision<'_>> {
        self.decide(subject, self.now(), true)
    }

    /// Whether `subject` could spend a request now, without spending it.
    pub fn peek(&self, subject: Subject<'_>) -> Option<Decision<'_>> {
        self.decide(subject, self.now(), false)
    }

    pub fn stats(&self) -> Stats {
        Stats {
            tracked: self.shards.iter().map(|s| lock(s).len()).sum(),
            limited: self.limited.load(Ordering::Relaxed),
            displaced: self.displaced.load(Ordering::Relaxed),
        }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn decide(&self, subject: Subject<'_>, now: u64, spend: bool) -> Option<Decision<'_>> {
        let quota = if subject.authenticated() {
            self.authenticated.as_ref()?
        } else {
            self.anonymous.as_ref()?
        };
        let key = subject.key();
        let shard = &self.shards[self.hasher.hash_one(key) as usize & (self.shards.len() - 1)];
        let mut buckets = lock(shard);
        let stored = buckets.get(&key).copied();
        let tat = stored.map_or(now, |t| t.max(now));
        let horizon = now.saturating_add(quota.tolerance);
        if tat > horizon {
            drop(buckets);
            // A refused peek is a refused request too (the caller gets the 429).
            self.limited.fetch_add(1, Ordering::Relaxed);
            return Some(Decision {
                quota,
                who: subject.who(),
                allowed: false,
                remaining: 0,
                reset: tat - now,
                retry: tat - horizon,
            });
        }
        let next = tat.saturating_add(quota.interval);
        if spend {
            if stored.is_none() && buckets.len() >= self.shard_cap {
                self.make_room(&mut buckets, now);
            }
            buckets.insert(key, next);
        }
        drop(buckets);
        let remaining = match horizon.checked_sub(next) {
            Some(slack) => slack / quota.interval + 1,
            None => 0,
        };
        Some(Decision {
            quota,
            who: subject.who(),
            allowed: true,
            remaining,
            reset: next - now,
            retry: 0,
        })
    }

    /// A full shard: drops every bucket that has refilled (nothing is lost), and if that
    /// frees nothing, the eighth of the shard closest to full (the least a caller gains
    /// from losing its bucket). Evicting in batches keeps a sustained spray of fresh
    /// addresses at O(1) amortized per request instead of a scan each.
    fn make_room(&self, buckets: &mut HashMap<Key, u64>, now: u64) {
        buckets.retain(|_, tat| *tat > now);
        if buckets.len() < self.shard_cap {
            return;
        }
        let mut tats: Vec<u64> = buckets.values().copied().collect();
        let nth = (tats.len() / 8).max(1) - 1;
        let (_, threshold, _) = tats.select_nth_unstable(nth);
        let threshold = *threshold;
        let before = buckets.len();
        buckets.retain(|_, tat| *tat > threshold);
        self.displaced
            .fetch_add((before - buckets.len()) as u64, Ordering::Relaxed);
    }
}

/// A bucket table is a map of numbers, consistent after any panic: poisoning is ignored.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = NANOS;

    fn limiter(limit: u32, window: u64, max_keys: usize) -> RateLimiter {
        let q = || Quota::new(limit, Duration::from_secs(window));
        RateLimiter::new(q(), q(), max_keys)
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn a_burst_of_limit_then_one_per_interval() {
        let l = limiter(3, 3, 100);
        let who = Subject::Address(ip("192.0.2.1"));
        let remaining: Vec<u64> = (0..3)
            .map(|_| l.decide(who, 10 * S, true).expect("limited").remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let over = l.decide(who, 10 * S, true).expect("limited");
        assert!(!over.allowed());
        assert_eq!(over.retry_after_secs(), 1);
        assert_eq!(over.reset, 3 * S, "full again after the whole window");
        // One interval later exactly one more passes.
        assert!(l.decide(who, 11 * S, true).expect("limited").allowed());
        assert!(!l.decide(who, 11 * S, true).expect("limited").allowed());
        // After a whole window, the whole burst again.
        let after = l.decide(who, 20 * S, true).expect("limited");
        assert_eq!(after.remaining, 2);
        assert_eq!(l.stats().limited, 2);
    }

    #[test]
    fn peeking_spends_nothing_and_subjects_are_apart() {
        let l = limiter(1, 60, 100);
        let a = Subject::Address(ip("192.0.2.1"));
        assert!(l.decide(a, S, false).expect("limited").allowed());
        assert!(l.decide(a, S, false).expect("limited").allowed());
        assert_eq!(l.stats().tracked, 0, "a peek makes no bucket");
        assert!(l.decide(a, S, true).expect("limited").allowed());
        assert!(!l.decide(a, S, false).expect("limited").allowed());
        for other in [
            Subject::FailedAuth(ip("192.0.2.1")),
            Subject::Address(ip("192.0.2.2")),
            Subject::Token("0190f3c4-0000-7000-8000-000000000001"),
            Subject::User("0190f3c4-0000-7000-8000-000000000001"),
        ] {
            assert!(
                l.decide(other, S, true).expect("limited").allowed(),
                "{other:?}"
            );
        }
    }

    #[test]
    fn ipv6_is_limited_by_its_64_and_mapped_ipv4_as_ipv4() {
        let l = limiter(1, 60, 100);
        assert!(
            l.decide(Subject::Address(ip("2001:db8:1:2::1")), S, true)
                .expect("on")
                .allowed()
        );
        assert!(
            !l.decide(Subject::Address(ip("2001:db8:1:2:ffff::9")), S, true)
                .expect("on")
                .allowed()
        );
        assert!(
            l.decide(Subject::Address(ip("2001:db8:1:3::1")), S, true)
                .expect("on")
                .allowed()
        );
        assert!(
            l.decide(Subject::Address(ip("192.0.2.7")), S, true)
                .expect("on")
                .allowed()
        );
        assert!(
            !l.decide(Subject::Address(ip("::ffff:192.0.2.7")), S, true)
                .expect("on")
                .allowed()
        );
    }

    #[test]
    fn the_table_is_bounded_and_keeps_the_heaviest_callers() {
        let l = limiter(2, 60, 64);
        let abuser = Subject::Address(ip("198.51.100.1"));
        assert!(l.decide(abuser, S, true).expect("on").allowed());
        assert!(l.decide(abuser, S, true).expect("on").allowed());
        for i in 0..10_000u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            assert!(
                l.decide(Subject::Address(Some(addr)), S, true)
                    .expect("on")
                    .allowed()
            );
        }
        let stats = l.stats();
        assert!(stats.tracked <= 64, "{stats:?}");
        assert!(stats.displaced > 0);
        assert!(
            !l.decide(abuser, S, true).expect("on").allowed(),
            "the spray did not reset the abuser"
        );
        // Once buckets refill they are dropped for free.
        for i in 0..100u32 {
            let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0b00_0000 + i));
            l.decide(Subject::Address(Some(addr)), 1000 * S, true);
        }
        assert!(l.stats().tracked <= 64);
    }

    #[test]
    fn a_zero_limit_is_no_limit() {
        let l = RateLimiter::new(None, Quota::new(5, Duration::from_secs(1)), 10);
        assert!(l.check(Subject::Address(ip("192.0.2.1"))).is_none());
        assert!(l.check(Subject::FailedAuth(ip("192.0.2.1"))).is_none());
        assert!(l.check(Subject::Token("t")).is_some());
        assert!(l.enabled());
        assert!(!RateLimiter::new(None, None, 10).enabled());
    }

    #[test]
    fn the_429_says_when_to_retry_and_carries_the_fields() {
        let l = limiter(1, 30, 10);
        let t = Subject::Token("tok");
        l.decide(t, S, true);
        let over = l.decide(t, S, true).expect("on");
        let err = over.error();
        assert_eq!(err.code, Code::RateLimited);
        assert!(err.message.contains("retry in 30 s"), "{}", err.message);
        let names: Vec<&str> = err.headers.iter().map(|(n, _)| *n).collect();
        for n in [
            "retry-after",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "ratelimit-policy",
        ] {
            assert!(names.contains(&n), "{names:?}");
        }
        assert!(
            err.headers
                .contains(&("ratelimit-policy", "1;w=30".to_string()))
        );
    }
}
