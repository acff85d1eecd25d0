//! Cache of rendered delivery responses, for the embedded (SQLite) default only.
//!
//! An entry is tagged with the store's write epoch read *before* its data was read, and is
//! served only while that epoch is still current: any committed write (content, schema,
//! policy) makes every cached response stale at once, so nothing outdated is ever served.
//! SQLite is single-node by nature, so this node sees every write. On PostgreSQL other
//! nodes write too; the cache stays off there until the event-log follower can invalidate
//! it (scale-out issue). Keys include the caller's role, so access rules are respected.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// Largest total of cached bodies; the cache starts over when it is exceeded.
const MAX_BYTES: usize = 32 * 1024 * 1024;

#[derive(Clone)]
pub struct Cached {
    pub epoch: u64,
    pub etag: String,
    pub body: Arc<Vec<u8>>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<String, Cached>,
    bytes: usize,
}

#[derive(Clone, Default)]
pub struct DeliveryCache {
    enabled: bool,
    inner: Arc<RwLock<Inner>>,
}

impl DeliveryCache {
    pub fn new(enabled: bool) -> Self {
        Self {
            enabled,
            inner: Arc::default(),
        }
    }

    pub fn key(role: &str, user: Option<&str>, uri: &poem::http::Uri) -> String {
        format!("{role}\u{1f}{}\u{1f}{uri}", user.unwrap_or(""))
    }

    pub fn get(&self, key: &str, epoch: u64) -> Option<Cached> {
        if !self.enabled {
            return None;
        }
        let inner = self.inner.read().ok()?;
        inner.map.get(key).filter(|c| c.epoch == epoch).cloned()
    }

    pub fn put(&self, key: String, value: Cached) {
        if !self.enabled {
            return;
        }
        let Ok(mut inner) = self.inner.write() else {
            return;
        };
        if inner.bytes + value.body.len() > MAX_BYTES {
            inner.map.clear();
            inner.bytes = 0;
        }
        inner.bytes += value.body.len();
        if let Some(old) = inner.map.insert(key, value) {
            inner.bytes -= old.body.len();
        }
    }
}
