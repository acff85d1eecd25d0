//! Vellum's domain: content types, field definitions, entry validation, slugs, diffs and
//! the list query language. Pure code: no I/O, no database, no HTTP.

pub mod access;
pub mod diff;
pub mod locale;
pub mod query;
pub mod schema;
pub mod slug;
pub mod sync;
pub mod validate;
pub mod workflow;

use chrono::{DateTime, SubsecRound, Utc};

/// The current time at the precision both databases keep (microseconds), so a timestamp
/// read back compares equal to the one written (keyset cursors depend on it).
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Wire format for timestamps in responses: RFC 3339, UTC, microseconds.
pub fn fmt_ts(ts: &DateTime<Utc>) -> String {
    ts.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}
