//! The event log: an append-only table ordered by a monotonic sequence number. Only
//! [`append`] writes to it, always inside the transaction of the change it records.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use serde::Serialize;
use serde_json::Value;

use super::{Sql, get};

/// An event about to be appended.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// e.g. `entry.created`, `entry.published`, `content_type.updated`.
    pub kind: &'static str,
    /// `entry`, `content_type`, `policy`, …
    pub resource: &'static str,
    pub content_type: Option<String>,
    pub entry_id: Option<String>,
    pub locale: Option<String>,
    pub version: Option<i32>,
    /// `user:<id>`, `token:<id>` or `system`.
    pub actor: Option<String>,
    pub payload: Value,
}

#[derive(Debug, Clone, Serialize)]
pub struct Event {
    pub seq: i64,
    pub kind: String,
    pub resource: String,
    pub content_type: Option<String>,
    pub entry_id: Option<String>,
    pub locale: Option<String>,
    pub version: Option<i32>,
    pub actor: Option<String>,
    pub payload: Value,
    pub created_at: DateTime<Utc>,
}

/// Entry events that change what delivery shows (the others touch drafts only): what
/// sync answers and live streams forward.
pub fn changes_delivery(kind: &str) -> bool {
    matches!(
        kind,
        "entry.published"
            | "entry.unpublished"
            | "entry.deleted"
            | "entry.undeleted"
            | "entry.purged"
    )
}

/// The PostgreSQL channel an append notifies.
pub const NOTIFY_CHANNEL: &str = "vellum_events";

/// Appends one event in the caller's transaction and returns its sequence number.
pub async fn append(c: &impl ConnectionTrait, ev: NewEvent) -> Result<i64, DbErr> {
    let backend = c.get_database_backend();
    if backend == DbBackend::Postgres {
        // Held until commit: events become visible in sequence order.
        c.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock({})",
            super::WRITE_LOCK
        ))
        .await?;
        // Delivered at commit (once per transaction: identical notifications fold) to
        // every node's follower, so they read the log now rather than at the next poll.
        c.execute_unprepared(&format!("NOTIFY {NOTIFY_CHANNEL}"))
            .await?;
    }
    let mut q = Sql::new(backend);
    q.push("INSERT INTO events (kind, resource, content_type, entry_id, locale, version, actor, payload, created_at) VALUES (")
        .bind(ev.kind)
        .push(", ")
        .bind(ev.resource)
        .push(", ")
        .bind(ev.content_type)
        .push(", ")
        .bind(ev.entry_id)
        .push(", ")
        .bind(ev.locale)
        .push(", ")
        .bind(ev.version)
        .push(", ")
        .bind(ev.actor)
        .push(", ")
        .bind_json(&ev.payload)
        .push(", ")
        .bind_ts(crate::domain::now())
        .push(") RETURNING seq");
    let row = q
        .fetch_one(c)
        .await?
        .ok_or_else(|| DbErr::Custom("event insert returned no sequence".into()))?;
    get::<i64>(&row, "seq")
}

/// Events after `after`, oldest first.
pub async fn list_after(
    c: &impl ConnectionTrait,
    after: i64,
    limit: u64,
) -> Result<Vec<Event>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT seq, kind, resource, content_type, entry_id, locale, version, actor, payload, created_at FROM events WHERE seq > ")
        .bind(after)
        .push(" ORDER BY seq LIMIT ")
        .bind(limit as i64);
    q.fetch_all(c)
        .await?
        .iter()
        .map(|r| {
            Ok(Event {
                seq: get(r, "seq")?,
                kind: get(r, "kind")?,
                resource: get(r, "resource")?,
                content_type: get(r, "content_type")?,
                entry_id: get(r, "entry_id")?,
                locale: get(r, "locale")?,
                version: get(r, "version")?,
                actor: get(r, "actor")?,
                payload: get(r, "payload")?,
                created_at: get(r, "created_at")?,
            })
        })
        .collect()
}

/// The newest sequence number (0 for a log that never had an event; a log pruned empty
/// still remembers how far it went).
pub async fn last_seq(c: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT COALESCE(MAX(seq), 0) AS n FROM events");
    let newest: i64 = match q.fetch_one(c).await? {
        Some(r) => get(&r, "n")?,
        None => 0,
    };
    if newest > 0 {
        return Ok(newest);
    }
    pruned_through(c).await
}

/// The setting that records the newest sequence number pruned from the log.
const PRUNED_THROUGH: &str = "events_pruned_through";

/// Everything up to this sequence number may be gone from the log (0: nothing pruned).
pub async fn pruned_through(c: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(super::auth::get_setting(c, PRUNED_THROUGH)
        .await?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0))
}

/// Deletes events older than `before` and records how far the log now starts. Run
/// inside a write transaction (the watermark and the deletion move together).
pub async fn prune(c: &impl ConnectionTrait, before: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT COALESCE(MAX(seq), 0) AS n FROM events WHERE created_at < ")
        .bind_ts(before);
    let through: i64 = match q.fetch_one(c).await? {
        Some(r) => get(&r, "n")?,
        None => 0,
    };
    if through == 0 {
        return Ok(0);
    }
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM events WHERE seq <= ").bind(through);
    let n = q.execute(c).await?;
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO settings (key, value) VALUES (")
        .bind(PRUNED_THROUGH)
        .push(", ")
        .bind(through.to_string())
        .push(") ON CONFLICT (key) DO UPDATE SET value = excluded.value");
    q.execute(c).await?;
    Ok(n)
}
