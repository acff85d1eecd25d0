//! The sync cursor: where a client's offline copy stands. It is signed (HMAC-SHA256 with
//! an instance key), because it carries what the caller could read when it was made:
//! that decides which tombstones the caller may be sent, and a forged one must not be able
//! to list the ids of entries it never could see.

use std::collections::BTreeMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::hmac;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, Code};

/// What a caller could read of one type, as far as sync is concerned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TypeGrant {
    /// Readable at some point in this cursor's life (its entries may be on the client).
    pub seen: bool,
    pub readable: bool,
    /// Only the caller's own entries.
    pub owner_only: bool,
    /// Changes when the type's schema or the fields the caller reads change.
    pub hash: String,
}

impl TypeGrant {
    /// Whether `now` shows the type's entries differently from `self`.
    pub fn differs(&self, now: &TypeGrant) -> bool {
        self.readable != now.readable
            || (now.readable && (self.owner_only != now.owner_only || self.hash != now.hash))
    }
}

/// Re-reading the entries of types whose grant changed: upserts for what is visible now,
/// tombstones for what was visible before and is not any more.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refresh {
    pub types: Vec<String>,
    pub before: BTreeMap<String, TypeGrant>,
    pub after: Option<(String, String)>,
}

/// Where the initial pages stand: the last (type, id) sent, none yet at the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Initial {
    pub after: Option<(String, String)>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncCursor {
    pub v: u8,
    /// The caller it was made for (`user:<id>`, `token:<id>`, `anonymous`).
    pub who: String,
    /// Every event up to this one is reflected in what the client was sent (or will be,
    /// by the initial pages still to come).
    pub seq: i64,
    pub types: Option<Vec<String>>,
    pub locale: Option<String>,
    pub grants: BTreeMap<String, TypeGrant>,
    /// `Some` while the initial pages are being sent.
    pub initial: Option<Initial>,
    pub refresh: Option<Refresh>,
}

const VERSION: u8 = 1;
/// Longest cursor accepted (it grows with the number of types).
pub const MAX_CURSOR_LEN: usize = 16 * 1024;

fn bad() -> ApiError {
    ApiError::new(
        Code::InvalidCursor,
        "`cursor` is not a sync cursor this server issued; use the `next_cursor` of your last sync page, or start again without a cursor",
    )
}

impl SyncCursor {
    pub fn new(who: String, seq: i64, types: Option<Vec<String>>, locale: Option<String>) -> Self {
        SyncCursor {
            v: VERSION,
            who,
            seq,
            types,
            locale,
            grants: BTreeMap::new(),
            initial: Some(Initial { after: None }),
            refresh: None,
        }
    }

    pub fn encode(&self, key: &hmac::Key) -> String {
        let body = serde_json::to_vec(self).unwrap_or_default();
        let tag = hmac::sign(key, &body);
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&body),
            URL_SAFE_NO_PAD.encode(tag.as_ref())
        )
    }

    pub fn decode(raw: &str, key: &hmac::Key) -> Result<SyncCursor, ApiError> {
        if raw.len() > MAX_CURSOR_LEN {
            return Err(bad());
        }
        let (body, tag) = raw.split_once('.').ok_or_else(bad)?;
        let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| bad())?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| bad())?;
        hmac::verify(key, &body, &tag).map_err(|_| bad())?;
        let cursor: SyncCursor = serde_json::from_slice(&body).map_err(|_| bad())?;
        if cursor.v != VERSION {
            return Err(bad());
        }
        Ok(cursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_tampering() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"k");
        let c = SyncCursor::new("user:1".into(), 42, Some(vec!["a".into()]), None);
        let raw = c.encode(&key);
        assert_eq!(SyncCursor::decode(&raw, &key).expect("decodes"), c);
        let other = hmac::Key::new(hmac::HMAC_SHA256, b"other");
        assert!(SyncCursor::decode(&raw, &other).is_err());
        let (body, tag) = raw.split_once('.').expect("dot");
        let mut forged: SyncCursor =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).expect("b64")).expect("json");
        forged.seq = 0;
        let forged = format!(
            "{}.{tag}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).expect("json"))
        );
        assert!(SyncCursor::decode(&forged, &key).is_err());
        for junk in ["", ".", "abc", "a.b", &"x".repeat(MAX_CURSOR_LEN + 1)] {
            assert!(SyncCursor::decode(junk, &key).is_err(), "{junk}");
        }
    }
}
