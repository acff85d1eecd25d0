//! API tokens already checked, by hash, so a request with a token costs no database read.
//! Only tokens that checked out are kept (a forged one always goes to the database, and
//! to the invalid-token rate limit), each until it expires. The event-log follower empties
//! the cache on every token, role or user event, on every node, so a revocation anywhere
//! takes effect within the follower's wake-up.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::{DateTime, Utc};

/// Most tokens kept (the cache starts over beyond it).
const MAX_TOKENS: usize = 10_000;

#[derive(Clone, Debug)]
pub struct CachedToken {
    pub id: String,
    pub role: String,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Default)]
pub struct TokenCache {
    map: Arc<RwLock<HashMap<String, CachedToken>>>,
    /// Moves at every `clear`: a lookup that began before a clear must not store what it
    /// read (the token may have been revoked in between).
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl TokenCache {
    /// Read before looking a token up in the database; pass it to `put`.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// The token with this hash, if it checked out before and has not expired since.
    pub fn get(&self, hash: &str) -> Option<CachedToken> {
        let map = self.map.read().ok()?;
        map.get(hash)
            .filter(|t| t.expires_at.is_none_or(|e| e >= Utc::now()))
            .cloned()
    }

    pub fn put(&self, hash: String, token: CachedToken, generation: u64) {
        if let Ok(mut map) = self.map.write() {
            // Under the lock `clear` takes too, so a clear cannot slip in between.
            if self.generation() != generation {
                return;
            }
            if map.len() >= MAX_TOKENS {
                map.clear();
            }
            map.insert(hash, token);
        }
    }

    /// Forgets every token (something about tokens, roles or users changed).
    pub fn clear(&self) {
        if let Ok(mut map) = self.map.write() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            map.clear();
        }
    }
}
