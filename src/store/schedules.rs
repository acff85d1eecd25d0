//! Scheduled publish and unpublish jobs. A due job is claimed with `FOR UPDATE SKIP
//! LOCKED` on PostgreSQL inside the write transaction that carries it out, so one node
//! runs it and every other node skips it (the write lock orders them besides).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult};

use super::{Sql, get};

#[derive(Debug, Clone)]
pub struct ScheduleRow {
    pub id: String,
    pub entry_id: String,
    pub type_id: String,
    /// `publish` or `unpublish`.
    pub action: String,
    pub run_at: DateTime<Utc>,
    /// The version a publish puts live (the draft's version when it was scheduled).
    pub version: Option<i32>,
    /// `pending`, `done`, `failed` or `cancelled`.
    pub status: String,
    /// Who scheduled it (`user:<id>` or `token:<id>`); the job runs with their rights.
    pub created_by: String,
    pub created_at: DateTime<Utc>,
    pub done_at: Option<DateTime<Utc>>,
    pub error: Option<String>,
}

const COLS: &str = "id, entry_id, type_id, action, run_at, version, status, created_by, created_at, done_at, error";

fn from_row(r: &QueryResult) -> Result<ScheduleRow, DbErr> {
    Ok(ScheduleRow {
        id: get(r, "id")?,
        entry_id: get(r, "entry_id")?,
        type_id: get(r, "type_id")?,
        action: get(r, "action")?,
        run_at: get(r, "run_at")?,
        version: get(r, "version")?,
        status: get(r, "status")?,
        created_by: get(r, "created_by")?,
        created_at: get(r, "created_at")?,
        done_at: get(r, "done_at")?,
        error: get(r, "error")?,
    })
}

pub async fn insert(c: &impl ConnectionTrait, s: &ScheduleRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("INSERT INTO schedules ({COLS}) VALUES ("))
        .bind(s.id.as_str())
        .push(", ")
        .bind(s.entry_id.as_str())
        .push(", ")
        .bind(s.type_id.as_str())
        .push(", ")
        .bind(s.action.as_str())
        .push(", ")
        .bind_ts(s.run_at)
        .push(", ")
        .bind(s.version)
        .push(", ")
        .bind(s.status.as_str())
        .push(", ")
        .bind(s.created_by.as_str())
        .push(", ")
        .bind_ts(s.created_at)
        .push(", ")
        .bind_ts_opt(s.done_at)
        .push(", ")
        .bind(s.error.clone())
        .push(")");
    q.execute(c).await.map(|_| ())
}

/// Ends a job: `done`, `failed` (with why) or `cancelled`.
pub async fn finish(
    c: &impl ConnectionTrait,
    id: &str,
    status: &str,
    error: Option<&str>,
    at: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE schedules SET status = ")
        .bind(status)
        .push(", error = ")
        .bind(error.map(str::to_string))
        .push(", done_at = ")
        .bind_ts(at)
        .push(" WHERE id = ")
        .bind(id)
        .push(" AND status = 'pending'");
    q.execute(c).await
}

/// Pending jobs of an entry (all actions).
pub async fn pending_of_entry(
    c: &impl ConnectionTrait,
    entry_id: &str,
) -> Result<Vec<ScheduleRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("SELECT {COLS} FROM schedules WHERE entry_id = "))
        .bind(entry_id)
        .push(" AND status = 'pending' ORDER BY run_at");
    q.fetch_all(c).await?.iter().map(from_row).collect()
}

/// An entry's jobs, newest first.
pub async fn of_entry(c: &impl ConnectionTrait, entry_id: &str) -> Result<Vec<ScheduleRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("SELECT {COLS} FROM schedules WHERE entry_id = "))
        .bind(entry_id)
        .push(" ORDER BY run_at DESC, id LIMIT 200");
    q.fetch_all(c).await?.iter().map(from_row).collect()
}

pub async fn by_id(c: &impl ConnectionTrait, id: &str) -> Result<Option<ScheduleRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("SELECT {COLS} FROM schedules WHERE id = "))
        .bind(id);
    q.fetch_one(c).await?.as_ref().map(from_row).transpose()
}

/// Jobs with a status, soonest first (for the schedule list).
pub async fn with_status(
    c: &impl ConnectionTrait,
    status: &str,
    limit: u64,
) -> Result<Vec<ScheduleRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("SELECT {COLS} FROM schedules WHERE status = "))
        .bind(status)
        .push(" ORDER BY run_at, id LIMIT ")
        .bind(limit as i64);
    q.fetch_all(c).await?.iter().map(from_row).collect()
}

/// The oldest due job, locked for the caller's transaction (skipping any another node
/// holds).
pub async fn claim_due(
    c: &impl ConnectionTrait,
    now: DateTime<Utc>,
) -> Result<Option<ScheduleRow>, DbErr> {
    let backend = c.get_database_backend();
    let mut q = Sql::new(backend);
    q.push(&format!(
        "SELECT {COLS} FROM schedules WHERE status = 'pending' AND run_at <= "
    ))
    .bind_ts(now)
    .push(" ORDER BY run_at, id LIMIT 1");
    if backend == DbBackend::Postgres {
        q.push(" FOR UPDATE SKIP LOCKED");
    }
    q.fetch_one(c).await?.as_ref().map(from_row).transpose()
}

/// When the next pending job is due, if any.
pub async fn next_due(c: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT run_at FROM schedules WHERE status = 'pending' ORDER BY run_at LIMIT 1");
    q.fetch_one(c)
        .await?
        .as_ref()
        .map(|r| get(r, "run_at"))
        .transpose()
}
