//! Cache of rendered delivery responses, on every backend.
//!
//! A response is kept with the follower's `applied` sequence number read *before* its
//! access check and data read, and with what it depends on (its type, its type's lists,
//! the entries it shows). It is served while [`Freshness::current`] says none of those
//! changed after that number; the event-log follower marks changes as it applies them, on
//! this node right after each commit and from other nodes within its wake-up (NOTIFY) or
//! poll. So a publish drops the cached answers about that entry and the lists of its type,
//! not everything; a schema change drops its type's; an access change drops all. Keys
//! include the caller's role (and user, where ownership decides what is shown).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use poem::http::HeaderValue;

use crate::services::follower::{Deps, Follower};

/// Largest total of cached bodies; past it, responses that are no longer current go
/// first, and if that is not enough the cache starts over.
const MAX_BYTES: usize = 32 * 1024 * 1024;

/// What a delivery response shows, for CDN purges: space-separated for `Surrogate-Key`
/// (Fastly, Varnish), comma-separated for `Cache-Tag` (Cloudflare, Akamai).
pub struct PurgeKeys {
    pub surrogate: HeaderValue,
    pub tags: HeaderValue,
}

impl PurgeKeys {
    /// `type:T` and `entry:X` for an entry, `type:T` and `list:T` for a list. On a
    /// publish, unpublish or delete of entry X of type T purge `entry:X` and `list:T`; on a
    /// schema change of T purge `type:T`. An entry of a localized type depends on the
    /// other entries of its document (fallbacks), so it names the type's lists too.
    pub fn new(type_id: &str, entry: Option<&str>, localized: bool) -> PurgeKeys {
        let mut keys = vec![format!("type:{type_id}")];
        if let Some(id) = entry {
            keys.push(format!("entry:{id}"));
        }
        if entry.is_none() || localized {
            keys.push(format!("list:{type_id}"));
        }
        // Type and entry ids are header-safe (api ids, UUIDs); an empty value otherwise.
        let value = |v: String| HeaderValue::try_from(v).unwrap_or(HeaderValue::from_static(""));
        PurgeKeys {
            surrogate: value(keys.join(" ")),
            tags: value(keys.join(",")),
        }
    }
}

/// A rendered response, shared by the cache and the requests it serves.
pub struct Cached {
    /// `applied` when the response was rendered.
    pub at: i64,
    pub deps: Deps,
    pub etag: String,
    pub body: Bytes,
    /// The CDN purge keys of the response (`Surrogate-Key`), as its render named them.
    pub purge: PurgeKeys,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Arc<Cached>>,
    bytes: usize,
}

#[derive(Clone)]
pub struct DeliveryCache {
    follower: Arc<Follower>,
    inner: Arc<RwLock<Inner>>,
    /// Renders in progress, by key: concurrent misses of one key wait for the first
    /// instead of all running the same queries (after a publish, every client of a
    /// popular list misses at once).
    flights: Arc<std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>>,
}

impl DeliveryCache {
    pub fn new(follower: Arc<Follower>) -> Self {
        Self {
            follower,
            inner: Arc::default(),
            flights: Arc::default(),
        }
    }

    /// The lock of `key`'s render: hold it while rendering; whoever waited for it looks
    /// in the cache again before rendering itself.
    pub fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        match self.flights.lock() {
            Ok(mut f) => f.entry(key.to_string()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// The render of `key` is over (its result, if any, is in the cache).
    pub fn land(&self, key: &str) {
        if let Ok(mut f) = self.flights.lock() {
            f.remove(key);
        }
    }

    pub fn key(role: &str, user: Option<&str>, uri: &poem::http::Uri) -> String {
        format!("{role}\u{1f}{}\u{1f}{uri}", user.unwrap_or(""))
    }

    /// The follower's position: read it before checking access and reading data.
    pub fn now(&self) -> i64 {
        self.follower.freshness.applied()
    }

    pub fn deps<'a>(
        &self,
        types: impl IntoIterator<Item = &'a str>,
        list: bool,
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Deps {
        self.follower.freshness.deps(types, list, entries)
    }

    pub fn get(&self, key: &str) -> Option<Arc<Cached>> {
        let inner = self.inner.read().ok()?;
        inner
            .map
            .get(key)
            .filter(|c| self.follower.freshness.current(&c.deps, c.at))
            .cloned()
    }

    /// For a request that arrived when `arrived` was applied and waited for another
    /// request's render of the same key: that render if it started no earlier (it shows
    /// everything the request must see, and a change since is concurrent with the
    /// request), or any still-current answer. Without this, under a steady trickle of
    /// writes each waiter would find the answer just rendered already stale and render
    /// again itself, one after the other.
    pub fn get_after(&self, key: &str, arrived: i64) -> Option<Arc<Cached>> {
        let inner = self.inner.read().ok()?;
        inner
            .map
            .get(key)
            .filter(|c| c.at >= arrived || self.follower.freshness.current(&c.deps, c.at))
            .cloned()
    }

    pub fn put(&self, key: String, value: Arc<Cached>) {
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if inner.bytes + value.body.len() > MAX_BYTES {
            let freshness = &self.follower.freshness;
            inner.map.retain(|_, c| freshness.current(&c.deps, c.at));
            inner.bytes = inner.map.values().map(|c| c.body.len()).sum();
            if inner.bytes + value.body.len() > MAX_BYTES {
                inner.map.clear();
                inner.bytes = 0;
            }
        }
        inner.bytes += value.body.len();
        if let Some(old) = inner.map.insert(key, value) {
            inner.bytes -= old.body.len();
        }
    }
}
