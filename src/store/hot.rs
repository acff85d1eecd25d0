//! Connections of our own for the reads on the delivery path (an entry by id or slug, a
//! page of a list), outside sqlx's pool.
//!
//! sqlx's pool pings every connection it takes back (`return_to_pool`: a spawned task and
//! a round trip to the connection, a thread hop on SQLite and a network round trip on
//! PostgreSQL), which doubled what a one-statement read cost. These connections are
//! kept in a plain list instead: taken, used for one statement, put back. A connection
//! whose statement failed, or whose future was dropped mid-statement (the client went
//! away), is closed, never reused: it may hold half a result. One idle past
//! [`STALE_AFTER`] is pinged before use (a server or proxy may have dropped it) and
//! replaced if that fails.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use sea_orm::sqlx::postgres::{PgConnectOptions, PgConnection};
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteConnection};
use sea_orm::sqlx::{self, ConnectOptions, Connection};
use sea_orm::{DatabaseConnection, DbBackend, DbErr, QueryResult, RuntimeErr, Value};
use sea_query_sqlx::SqlxValues;
use tokio::sync::{Semaphore, SemaphorePermit};

/// How long a connection may sit idle before it is pinged on its next use.
const STALE_AFTER: Duration = Duration::from_secs(30);

enum Options {
    Sqlite(SqliteConnectOptions),
    Postgres(PgConnectOptions),
}

enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

pub(super) struct HotReads {
    options: Options,
    idle: Mutex<Vec<(Conn, Instant)>>,
    /// One permit per connection that may be open (idle or in use).
    open: Semaphore,
}

fn conn_err(e: sqlx::Error) -> DbErr {
    DbErr::Conn(RuntimeErr::SqlxError(e.into()))
}

/// Whether a statement failed because its connection is gone rather than because of the
/// statement: I/O and protocol failures, a crashed SQLite worker, and PostgreSQL's
/// connection-exception (`08…`) and operator-intervention (`57P…`: the backend was
/// terminated or the server is shutting down or restarting) classes.
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

fn closed() -> DbErr {
    DbErr::Custom("the read connections are closed".into())
}

fn query_err(e: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(e.into()))
}

impl HotReads {
    /// Connects like `db` does (same file and pragmas, or the same server and options),
    /// lazily: a connection is opened on first need, up to `max` of them.
    pub(super) fn like(db: &DatabaseConnection, max: usize) -> HotReads {
        let options = match db.get_database_backend() {
            DbBackend::Postgres => Options::Postgres(
                db.get_postgres_connection_pool()
                    .connect_options()
                    .as_ref()
                    .clone(),
            ),
            _ => Options::Sqlite(
                db.get_sqlite_connection_pool()
                    .connect_options()
                    .as_ref()
                    .clone(),
            ),
        };
        HotReads {
            options,
            idle: Mutex::new(Vec::new()),
            open: Semaphore::new(max.max(1)),
        }
    }

    fn take_idle(&self) -> Option<(Conn, Instant)> {
        self.idle.lock().ok()?.pop()
    }

    fn put_back(&self, conn: Conn) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.push((conn, Instant::now()));
        }
    }

    async fn connect(&self) -> Result<Conn, DbErr> {
        Ok(match &self.options {
            Options::Sqlite(o) => Conn::Sqlite(o.connect().await.map_err(conn_err)?),
            Options::Postgres(o) => Conn::Postgres(o.connect().await.map_err(conn_err)?),
        })
    }

    /// A connection ready for a statement: an idle one (pinged first if it idled long),
    /// or a new one.
    async fn checkout(&self) -> Result<Conn, DbErr> {
        while let Some((mut conn, since)) = self.take_idle() {
            if since.elapsed() < STALE_AFTER {
                return Ok(conn);
            }
            let alive = match &mut conn {
                Conn::Sqlite(c) => c.ping().await,
                Conn::Postgres(c) => c.ping().await,
            };
            if alive.is_ok() {
                return Ok(conn);
            }
        }
        self.connect().await
    }

    /// Runs one read statement and returns its rows. A statement that failed because its
    /// connection was lost (the server restarted or ended it, the socket broke) is run
    /// once more on a new connection, after the idle ones (likely lost too) are let go:
    /// a read is safe to repeat.
    pub(super) async fn fetch_all(
        &self,
        text: &str,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let slot = self.slot().await?;
        self.fetch_all_in(&slot, text, values).await
    }

    /// The right to use one connection: waits while every connection is in use.
    pub(super) async fn slot(&self) -> Result<SemaphorePermit<'_>, DbErr> {
        self.open.acquire().await.map_err(|_| closed())
    }

    /// Every slot, so the next statement waits (tests: reads queue as under load).
    #[cfg(test)]
    pub(super) async fn all_slots(&self) -> Result<SemaphorePermit<'_>, DbErr> {
        let n = u32::try_from(self.open.available_permits()).unwrap_or(u32::MAX);
        self.open.acquire_many(n).await.map_err(|_| closed())
    }

    /// [`HotReads::fetch_all`] with a slot already held.
    pub(super) async fn fetch_all_in(
        &self,
        _slot: &SemaphorePermit<'_>,
        text: &str,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>, DbErr> {
        let conn = self.checkout().await?;
        match self.run(conn, text, values.clone()).await {
            Err(e) if connection_lost(&e) => {
                tracing::warn!(error = %e, "a read connection was lost; reading on a new one");
                if let Ok(mut idle) = self.idle.lock() {
                    idle.clear();
                }
                let conn = self.connect().await?;
                self.run(conn, text, values).await.map_err(query_err)
            }
            other => other.map_err(query_err),
        }
    }

    async fn run(
        &self,
        mut conn: Conn,
        text: &str,
        values: Vec<Value>,
    ) -> Result<Vec<QueryResult>, sqlx::Error> {
        let values = SqlxValues(sea_orm::sea_query::Values(values));
        let sql = sqlx::AssertSqlSafe(text);
        let rows: Vec<QueryResult> = match &mut conn {
            Conn::Sqlite(c) => sqlx::query_with(sql, values)
                .fetch_all(&mut *c)
                .await?
                .into_iter()
                .map(QueryResult::from)
                .collect(),
            Conn::Postgres(c) => sqlx::query_with(sql, values)
                .fetch_all(&mut *c)
                .await?
                .into_iter()
                .map(QueryResult::from)
                .collect(),
        };
        // Only a connection whose statement ran to its end goes back (an error or a
        // dropped future above leaves `conn` to be closed as it drops).
        self.put_back(conn);
        Ok(rows)
    }

    /// Closes the idle connections and refuses new statements.
    pub(super) async fn close(&self) {
        self.open.close();
        let idle: Vec<(Conn, Instant)> = match self.idle.lock() {
            Ok(mut idle) => idle.drain(..).collect(),
            Err(_) => Vec::new(),
        };
        for (conn, _) in idle {
            let _ = match conn {
                Conn::Sqlite(c) => c.close().await,
                Conn::Postgres(c) => c.close().await,
            };
        }
    }
}
