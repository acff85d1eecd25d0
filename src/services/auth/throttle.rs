//! Login throttling: failed attempts are counted per account and per client address in a
//! fixed window; past the limit that key is locked out for a while (429 `rate_limited`
//! with `Retry-After`) and no password is checked for it.
//!
//! - The account key is the submitted email, normalized, whether or not such a user
//!   exists: unknown and known accounts count, lock and answer alike, so a lockout says
//!   nothing about which emails exist. While locked, even the right password is refused
//!   (otherwise guessing would go on through the lock).
//! - An attempt counts the moment it starts, so concurrent guesses cannot slip past the
//!   limit; a success clears the account's count and takes itself back off the address's
//!   (a success does not clear the address: one valid account must not launder guesses
//!   at others). An attempt the hash pool refused is taken back from both.
//! - With two-factor login, a right password takes itself back off the address but stays
//!   counted on the account until the code step succeeds
//!   ([`LoginThrottle::first_factor_passed`]); a wrong code counts like a wrong password.
//!   So alternating password logins with code guesses never resets the account's count.
//!   A code step whose challenge names no account counts on the address only.
//! - IPv6 addresses count per /64, the block one subscriber usually holds.
//! - State is in memory, per node, and bounded: each table holds at most `max_entries`
//!   keys (emails are kept only as 64-bit keyed hashes). When one is full, expired
//!   entries go first, then the least suspicious (fewest failures, oldest), locked ones
//!   last; an attacker spraying addresses or emails cannot grow it.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash, RandomState};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How the throttle is set up (from `Settings`).
#[derive(Debug, Clone)]
pub struct ThrottleConfig {
    /// Failures per account in a window before it locks (0: no per-account limit).
    pub max_per_account: u32,
    /// Failures per client address in a window before it locks (0: no limit).
    pub max_per_address: u32,
    pub window: Duration,
    pub lockout: Duration,
    /// Largest number of keys per table.
    pub max_entries: usize,
}

/// One login attempt that passed the throttle; report how it ended.
#[derive(Debug)]
pub struct Attempt {
    account: Option<u64>,
    address: Option<IpKey>,
}

/// A locked key: when to come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Locked {
    pub retry_after: Duration,
}

pub struct LoginThrottle {
    config: ThrottleConfig,
    keys: RandomState,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    accounts: Table<u64>,
    addresses: Table<IpKey>,
}

/// A client address as counted: IPv4 whole, IPv6 by its /64.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum IpKey {
    V4(u32),
    V6(u64),
}

impl IpKey {
    fn of(ip: IpAddr) -> IpKey {
        match ip {
            IpAddr::V4(v4) => IpKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => IpKey::V4(u32::from(v4)),
                None => IpKey::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    /// Attempts in this window not (yet) known to have succeeded.
    failures: u32,
    window_start: Instant,
    locked_until: Option<Instant>,
}

impl Record {
    fn fresh(at: Instant) -> Record {
        Record {
            failures: 0,
            window_start: at,
            locked_until: None,
        }
    }

    /// Whether this record no longer matters at `at`.
    fn expired(&self, at: Instant, window: Duration) -> bool {
        match self.locked_until {
            Some(until) => until <= at,
            None => at.duration_since(self.window_start) >= window,
        }
    }
}

struct Table<K> {
    map: HashMap<K, Record>,
}

impl<K> Default for Table<K> {
    fn default() -> Self {
        Table {
            map: HashMap::new(),
        }
    }
}

impl<K: Hash + Eq + Copy> Table<K> {
    /// The lock on `key`, if any, at `at`.
    fn locked(&mut self, key: &K, at: Instant, window: Duration) -> Option<Duration> {
        let record = self.map.get(key)?;
        if record.expired(at, window) {
            self.map.remove(key);
            return None;
        }
        record.locked_until.map(|until| until - at)
    }

    /// Counts one attempt on `key`; locks it when that reaches `max`.
    fn count(&mut self, key: K, at: Instant, config: &ThrottleConfig, max: u32) {
        if !self.map.contains_key(&key) && self.map.len() >= config.max_entries {
            self.make_room(at, config);
        }
        let record = self.map.entry(key).or_insert_with(|| Record::fresh(at));
        if record.expired(at, config.window) {
            *record = Record::fresh(at);
        }
        record.failures = record.failures.saturating_add(1);
        if record.failures >= max && record.locked_until.is_none() {
            record.locked_until = Some(at + config.lockout);
        }
    }

    /// Takes one attempt back off `key` (it succeeded, or never ran).
    fn uncount(&mut self, key: &K, max: u32) {
        if let Some(record) = self.map.get_mut(key) {
            record.failures = record.failures.saturating_sub(1);
            if record.failures < max {
                record.locked_until = None;
            }
        }
    }

    fn clear(&mut self, key: &K) {
        self.map.remove(key);
    }

    /// Drops expired records; if that frees less than a tenth of the table, also the
    /// least suspicious ones, so eviction work is paid once per tenth of inserts.
    fn make_room(&mut self, at: Instant, config: &ThrottleConfig) {
        self.map.retain(|_, r| !r.expired(at, config.window));
        let target = config.max_entries - config.max_entries / 10;
        if self.map.len() <= target {
            return;
        }
        let mut ranked: Vec<(bool, u32, Instant, K)> = self
            .map
            .iter()
            .map(|(k, r)| (r.locked_until.is_some(), r.failures, r.window_start, *k))
            .collect();
        ranked.sort_unstable_by_key(|a| (a.0, a.1, a.2));
        let excess = self.map.len() - target;
        for (_, _, _, key) in ranked.into_iter().take(excess) {
            self.map.remove(&key);
        }
    }
}

impl LoginThrottle {
    pub fn new(config: ThrottleConfig) -> LoginThrottle {
        LoginThrottle {
            config: ThrottleConfig {
                max_entries: config.max_entries.max(10),
                ..config
            },
            keys: RandomState::new(),
            state: Mutex::new(State::default()),
        }
    }

    fn account_key(&self, email: &str) -> u64 {
        self.keys.hash_one(email.trim().to_lowercase())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // The state is counters only: a panic elsewhere cannot leave it inconsistent.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Admits an attempt on `email` from `client` (counting it), or says how long the
    /// account or the address is locked.
    pub fn begin(&self, email: &str, client: Option<IpAddr>) -> Result<Attempt, Locked> {
        self.admit(Some(self.account_key(email)), client)
    }

    /// Admits an attempt that names no account (a login challenge nobody issued), counted
    /// on the address only.
    pub fn begin_anonymous(&self, client: Option<IpAddr>) -> Result<Attempt, Locked> {
        self.admit(None, client)
    }

    fn admit(&self, account: Option<u64>, client: Option<IpAddr>) -> Result<Attempt, Locked> {
        let c = &self.config;
        let at = Instant::now();
        let attempt = Attempt {
            account: account.filter(|_| c.max_per_account > 0),
            address: client.map(IpKey::of).filter(|_| c.max_per_address > 0),
        };
        let mut state = self.state();
        let by_account = attempt
            .account
            .and_then(|key| state.accounts.locked(&key, at, c.window));
        let by_address = attempt
            .address
            .and_then(|key| state.addresses.locked(&key, at, c.window));
        if let Some(wait) = by_account.max(by_address) {
            return Err(Locked {
                retry_after: wait.max(Duration::from_secs(1)),
            });
        }
        if let Some(key) = attempt.account {
            state.accounts.count(key, at, c, c.max_per_account);
            if state.accounts.locked(&key, at, c.window).is_some() {
                tracing::warn!(client = ?client, "login: an account locked out after repeated failures");
            }
        }
        if let Some(key) = attempt.address {
            state.addresses.count(key, at, c, c.max_per_address);
            if state.addresses.locked(&key, at, c.window).is_some() {
                tracing::warn!(client = ?client, "login: client address locked out after repeated failures");
            }
        }
        Ok(attempt)
    }

    /// The attempt logged in: the account starts afresh, the address is not charged.
    pub fn succeeded(&self, attempt: &Attempt) {
        let mut state = self.state();
        if let Some(key) = &attempt.account {
            state.accounts.clear(key);
        }
        if let Some(key) = &attempt.address {
            state.addresses.uncount(key, self.config.max_per_address);
        }
    }

    /// The password was right and a second factor is due: the address is not charged,
    /// the account stays counted until the second factor passes.
    pub fn first_factor_passed(&self, attempt: &Attempt) {
        if let Some(key) = &attempt.address {
            self.state()
                .addresses
                .uncount(key, self.config.max_per_address);
        }
    }

    /// The attempt never checked a password (the hash pool was full): take it back.
    pub fn abandoned(&self, attempt: &Attempt) {
        let mut state = self.state();
        if let Some(key) = &attempt.account {
            state.accounts.uncount(key, self.config.max_per_account);
        }
        if let Some(key) = &attempt.address {
            state.addresses.uncount(key, self.config.max_per_address);
        }
    }

    /// Keys held per table (accounts, addresses).
    pub fn sizes(&self) -> (usize, usize) {
        let state = self.state();
        (state.accounts.map.len(), state.addresses.map.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn throttle(account: u32, address: u32, max_entries: usize) -> LoginThrottle {
        LoginThrottle::new(ThrottleConfig {
            max_per_account: account,
            max_per_address: address,
            window: Duration::from_secs(60),
            lockout: Duration::from_secs(120),
            max_entries,
        })
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn an_account_locks_after_its_limit_and_a_success_resets_it() {
        let t = throttle(3, 100, 1000);
        for _ in 0..2 {
            // Never reported: it stays counted as a failure.
            t.begin("Ed@Example.com ", ip("10.0.0.1"))
                .expect("admitted");
        }
        let ok = t.begin("ed@example.com", ip("10.0.0.2")).expect("third");
        t.succeeded(&ok);
        for _ in 0..3 {
            t.begin("ed@example.com", ip("10.0.0.3"))
                .expect("counted afresh");
        }
        let locked = t
            .begin("ed@example.com", ip("10.0.0.4"))
            .expect_err("locked");
        assert!(locked.retry_after > Duration::from_secs(100));
        // Another account from the same addresses is not locked.
        t.begin("someone@example.com", ip("10.0.0.4"))
            .expect("other account");
    }

    #[test]
    fn an_address_locks_after_its_limit_and_successes_do_not_clear_it() {
        let t = throttle(100, 3, 1000);
        let ok = t.begin("mine@example.com", ip("10.0.0.9")).expect("1");
        t.succeeded(&ok);
        for i in 0..3 {
            t.begin(&format!("victim{i}@example.com"), ip("10.0.0.9"))
                .expect("admitted");
        }
        assert!(t.begin("mine@example.com", ip("10.0.0.9")).is_err());
        // The same /64 is the same client; another /64 is not.
        let t = throttle(100, 2, 1000);
        t.begin("a@example.com", ip("2001:db8::1")).expect("1");
        t.begin("b@example.com", ip("2001:db8::ffff")).expect("2");
        assert!(t.begin("c@example.com", ip("2001:db8::1234")).is_err());
        t.begin("c@example.com", ip("2001:db8:0:1::1"))
            .expect("other /64");
    }

    #[test]
    fn abandoned_attempts_are_taken_back() {
        let t = throttle(2, 2, 1000);
        for _ in 0..5 {
            let a = t.begin("ed@example.com", ip("10.0.0.1")).expect("admitted");
            t.abandoned(&a);
        }
        t.begin("ed@example.com", ip("10.0.0.1"))
            .expect("still admitted");
    }

    #[test]
    fn a_right_password_stays_counted_on_the_account_until_the_second_factor() {
        let t = throttle(3, 2, 1000);
        for _ in 0..2 {
            let a = t.begin("ed@example.com", ip("10.0.0.1")).expect("admitted");
            t.first_factor_passed(&a);
        }
        // Two password steps left the address alone but count on the account.
        t.begin_anonymous(ip("10.0.0.1"))
            .expect("address not locked");
        t.begin("ed@example.com", ip("10.0.0.2")).expect("third");
        assert!(t.begin("ed@example.com", ip("10.0.0.3")).is_err());
        t.begin("other@example.com", ip("10.0.0.1"))
            .expect("the address's second");
        assert!(t.begin("third@example.com", ip("10.0.0.1")).is_err());
    }

    #[test]
    fn zero_disables_a_limit() {
        let t = throttle(0, 0, 1000);
        for _ in 0..50 {
            t.begin("ed@example.com", ip("10.0.0.1")).expect("admitted");
        }
        assert_eq!(t.sizes(), (0, 0));
    }

    #[test]
    fn spraying_cannot_grow_the_tables_and_locks_are_kept_longest() {
        let t = throttle(2, 1_000_000, 100);
        for _ in 0..2 {
            t.begin("target@example.com", ip("10.9.9.9"))
                .expect("admitted");
        }
        for i in 0..10_000u32 {
            let addr = IpAddr::from(i.to_be_bytes());
            let _ = t.begin(&format!("spray{i}@example.com"), Some(addr));
        }
        let (accounts, addresses) = t.sizes();
        assert!(
            accounts <= 100 && addresses <= 100,
            "{accounts} {addresses}"
        );
        assert!(
            t.begin("target@example.com", ip("10.9.9.9")).is_err(),
            "the locked account stays locked through the spray"
        );
    }
}
