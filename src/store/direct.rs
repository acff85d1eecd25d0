//! SQLite point reads (one published entry by id or slug, a few entries by their ids)
//! run on the calling thread.
//!
//! sqlx's SQLite driver runs every connection on a thread of its own: a statement is a
//! command sent over a channel and its rows sent back, and those hand-offs cost more CPU
//! than a read by key (a quarter of the profile of an uncached delivery GET). A read by
//! primary or unique key is answered from the page cache in microseconds, so running it
//! right here on the async worker holds that worker no longer than rendering the entry
//! does; a page not in the operating system's cache costs this worker one disk read.
//! Lists, counts and anything that may scan stay on sqlx (`hot`), where a long statement
//! blocks only a driver thread.
//!
//! The connections are read-only, opened on the same file with the same JSONB support
//! (the same libsqlite3 as sqlx, through `libsqlite3-sys`), and kept in a list: taken
//! for one statement and put back. At most one is in use per worker thread, since a
//! statement here never yields. A connection whose statement failed is closed, and the
//! read is made through sqlx instead (`Store::fetch_entry`).

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params_from_iter};
use sea_orm::DbErr;

use super::entries::EntryRow;

pub(super) struct DirectReads {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

fn err(e: rusqlite::Error) -> DbErr {
    DbErr::Custom(format!("SQLite read: {e}"))
}

impl DirectReads {
    /// Direct reads on the database file `path`; `None` for an in-memory database (its
    /// other connections would not see the same data).
    pub(super) fn open(path: PathBuf) -> Option<DirectReads> {
        let name = path.to_string_lossy();
        if name.is_empty() || name == ":memory:" || name.starts_with("file::memory:") {
            return None;
        }
        Some(DirectReads {
            path,
            idle: Mutex::new(Vec::new()),
        })
    }

    fn connect(&self) -> Result<Connection, DbErr> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )
        .map_err(err)?;
        // A reader waits for nothing in WAL mode, except a writer's brief recovery of the
        // WAL index after a crash: give up soon (the caller then reads through sqlx,
        // which waits without holding this thread).
        conn.busy_timeout(Duration::from_millis(20)).map_err(err)?;
        // Point reads touch a handful of pages and the operating system caches the file:
        // a small page cache per connection (SQLite's default is 2 MiB) keeps these
        // connections from adding to the server's memory what sqlx's already hold.
        conn.pragma_update(None, "cache_size", -512).map_err(err)?;
        // The query planner stability guarantee: plan from the statement, not from the
        // values bound to it. Without it, once `ANALYZE`/`PRAGMA optimize` has written
        // STAT4 samples, SQLite marks a statement whose plan the bound value of an
        // indexed term could change (the slug: its index is not unique without the
        // locale) and re-prepares it on every new binding: a parse and a plan per read,
        // which made a read by slug cost twice a read by id. A point read's plan is the
        // key's index whatever the key.
        conn.set_db_config(
            rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG,
            true,
        )
        .map_err(err)?;
        Ok(conn)
    }

    /// Runs `read` with a connection, which goes back to the list only if `read`
    /// succeeded (a failed one is closed as it drops).
    fn with<T>(&self, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T, DbErr> {
        let taken = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let conn = match taken {
            Some(c) => c,
            None => self.connect()?,
        };
        let out = read(&conn).map_err(err)?;
        if let Ok(mut idle) = self.idle.lock() {
            idle.push(conn);
        }
        Ok(out)
    }

    /// The one entry `sql` (a statement over `entries::cols(Sqlite, …)`) selects.
    pub(super) fn entry(&self, sql: &str, values: &[String]) -> Result<Option<EntryRow>, DbErr> {
        self.with(|conn| {
            conn.prepare_cached(sql)?
                .query_row(params_from_iter(values.iter()), entry_row)
                .optional()
        })
    }

    /// The entries `sql` (a statement over `entries::cols(Sqlite, …)` by primary key)
    /// selects, in its order.
    pub(super) fn entries(&self, sql: &str, values: &[String]) -> Result<Vec<EntryRow>, DbErr> {
        self.with(|conn| {
            conn.prepare_cached(sql)?
                .query_map(params_from_iter(values.iter()), entry_row)?
                .collect()
        })
    }

    /// How many times the cached statement `sql` ran, and was prepared again, since it
    /// was first prepared on an idle connection (tests: a read by keys must run here
    /// and not re-plan per key).
    #[cfg(test)]
    pub(super) fn runs_and_reprepares(&self, sql: &str) -> Option<(usize, usize)> {
        let idle = self.idle.lock().ok()?;
        let conn = idle.last()?;
        let stmt = conn.prepare_cached(sql).ok()?;
        Some((
            stmt.get_status(rusqlite::StatementStatus::Run) as usize,
            stmt.get_status(rusqlite::StatementStatus::RePrepare) as usize,
        ))
    }
}

fn ts(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    let Some(text) = row.get::<_, Option<String>>(i)? else {
        return Ok(None);
    };
    DateTime::parse_from_rfc3339(&text)
        .map(|t| Some(t.with_timezone(&Utc)))
        .map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
}

fn json(row: &Row<'_>, i: usize) -> rusqlite::Result<Option<serde_json::Value>> {
    let Some(text) = row.get_ref(i)?.as_str_or_null()? else {
        return Ok(None);
    };
    serde_json::from_str(text).map(Some).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

fn required<T>(v: Option<T>, i: usize) -> rusqlite::Result<T> {
    v.ok_or(rusqlite::Error::InvalidColumnType(
        i,
        "NULL".into(),
        rusqlite::types::Type::Null,
    ))
}

/// An entry row in the column order of `entries::cols`.
fn entry_row(r: &Row<'_>) -> rusqlite::Result<EntryRow> {
    let id: String = r.get(0)?;
    Ok(EntryRow {
        type_id: r.get(1)?,
        locale: r.get(2)?,
        document_id: r.get::<_, Option<String>>(3)?.unwrap_or_else(|| id.clone()),
        owner: r.get(4)?,
        status: r.get(5)?,
        stage: r.get(6)?,
        slug: r.get(7)?,
        published_slug: r.get(8)?,
        version: r.get(9)?,
        published_version: r.get(10)?,
        rev: r.get(11)?,
        draft: json(r, 12)?.unwrap_or(serde_json::Value::Null),
        published: json(r, 13)?,
        created_at: required(ts(r, 14)?, 14)?,
        updated_at: required(ts(r, 15)?, 15)?,
        published_at: ts(r, 16)?,
        id,
    })
}
