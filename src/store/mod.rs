//! The only module that touches sea-orm. Repositories for each table, the dynamic query
//! builder for entry lists, and the event log. Functions take any `ConnectionTrait` so a
//! service can run several of them inside one transaction it opened with [`Store::write`].
//!
//! Write transactions are serialized, with one lock taken first in every one of them:
//! on SQLite an in-process gate (SQLite has one writer; queueing beats `SQLITE_BUSY`), on
//! PostgreSQL a transaction-scoped advisory lock taken right after `BEGIN`, shared by
//! every node. So a check a write makes inside its transaction (a free slug, a unique
//! value, a singleton's count, the row it is about to change) cannot be raced by another
//! writer on any node, no two writers can deadlock on each other's rows, and events
//! commit in sequence order (a reader that saw event N has seen every event before it).
//! Unique constraints stay as the backstop. Start-up work (migrations, seeding, the
//! first administrator) runs under a second advisory lock ([`Store::startup_lock`]), so
//! nodes started together do not race it.

pub mod audit;
pub mod auth;
mod coalesce;
pub mod comments;
pub mod content_types;
mod direct;
pub mod entries;
pub mod events;
mod hot;
pub mod indexes;
pub mod locales;
#[cfg(test)]
mod plan_tests;
pub mod query;
pub mod roles;
pub mod schedules;
pub mod search_stats;
pub mod totp;
pub mod trash;
pub mod workflow;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend,
    DbErr, QueryResult, Statement, TransactionTrait, Value,
};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// Bounds for lists that may scan (see `domain::query::needs_scan`): how many run at once
/// per node, and how long one statement may run.
#[derive(Clone, Copy, Debug)]
pub struct ScanLimits {
    pub concurrency: u32,
    pub statement_timeout: Duration,
}

impl Default for ScanLimits {
    fn default() -> Self {
        ScanLimits {
            concurrency: 2,
            statement_timeout: Duration::from_secs(2),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    /// A small pool for lists that may scan, whose statements are stopped past
    /// `ScanLimits::statement_timeout` (PostgreSQL: `statement_timeout`; SQLite: a
    /// progress handler), so no query an anonymous caller can send runs for long.
    scans: DatabaseConnection,
    scan_timeout: Duration,
    /// Connections for the delivery path's reads, outside sqlx's pool (see `hot`).
    hot: Arc<hot::HotReads>,
    /// SQLite: point reads on the calling thread (see `direct`).
    direct: Option<Arc<direct::DirectReads>>,
    /// PostgreSQL: point reads by id or slug waiting for a connection share a statement
    /// (see `coalesce`).
    coalesce: Arc<coalesce::Coalesce>,
    backend: DbBackend,
    write_gate: Arc<Mutex<()>>,
    writes: Arc<AtomicU64>,
    observer: Arc<std::sync::OnceLock<std::sync::Weak<dyn CommitObserver>>>,
}

/// Told after every committed write transaction, before `commit` returns: the event-log
/// follower (`services::follower`), so a node has applied its own changes (caches,
/// schema, access snapshot) before it answers the request that made them. Held weakly:
/// the store must not keep its observer alive.
#[async_trait::async_trait]
pub trait CommitObserver: Send + Sync {
    async fn committed(&self);
}

/// SQLite plans queries from statistics (`ANALYZE`); without them it guesses, and picks a
/// filter index plus a sort over one that already gives the order. `PRAGMA optimize`
/// refreshes the statistics where the data changed a lot; it runs at start and after
/// this many committed writes. (PostgreSQL's autoanalyze does this on its own.)
const OPTIMIZE_EVERY_WRITES: u64 = 2000;

/// Most values a read by keys binds to run on SQLite's direct connections (more keys
/// are more seeks than a worker thread should hold on to: those go to sqlx).
const DIRECT_KEYS: usize = 128;

/// The PostgreSQL advisory lock every write transaction takes first (the event append
/// takes it too, so events stay in commit order even for a caller outside `write`).
pub const WRITE_LOCK: i64 = 7201455;
/// The advisory lock start-up work runs under.
const STARTUP_LOCK: i64 = 7201456;

/// Held while one node migrates and seeds; dropped (rolled back) when done.
pub struct StartupLock {
    _txn: Option<DatabaseTransaction>,
}

/// A write transaction; on SQLite it also holds the write gate until it ends.
pub struct WriteTx {
    pub txn: DatabaseTransaction,
    _gate: Option<OwnedMutexGuard<()>>,
    store: Store,
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), DbErr> {
        self.txn.commit().await?;
        drop(self._gate);
        let n = self.store.writes.fetch_add(1, Ordering::AcqRel) + 1;
        if self.store.backend == DbBackend::Sqlite && n.is_multiple_of(OPTIMIZE_EVERY_WRITES) {
            let store = self.store.clone();
            tokio::spawn(async move { store.optimize().await });
        }
        let observer = self.store.observer.get().and_then(std::sync::Weak::upgrade);
        if let Some(observer) = observer {
            observer.committed().await;
        }
        Ok(())
    }
}

/// Whether a statement was stopped by its time bound (PostgreSQL `query_canceled`,
/// SQLite `SQLITE_INTERRUPT`).
pub fn is_statement_timeout(err: &DbErr) -> bool {
    let text = err.to_string();
    text.contains("canceling statement due to statement timeout") || text.contains("interrupted")
}

impl Store {
    /// Connects (creating the SQLite file if needed) without running migrations.
    pub async fn connect(url: &str) -> anyhow::Result<Store> {
        Self::connect_with(url, ScanLimits::default()).await
    }

    /// Connects with the given scan bounds.
    pub async fn connect_with(url: &str, limits: ScanLimits) -> anyhow::Result<Store> {
        let mut opts = ConnectOptions::new(url.to_string());
        opts.sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10));
        let backend = if url.starts_with("sqlite:") {
            // A connection to a local file cannot go stale: no ping on checkout (sqlx
            // pings by default, a round trip to the connection's worker thread before
            // every statement).
            opts.max_connections(8)
                .test_before_acquire(false)
                .map_sqlx_sqlite_opts(|o| {
                    o.create_if_missing(true)
                        .journal_mode(SqliteJournalMode::Wal)
                        .synchronous(SqliteSynchronous::Full)
                        .busy_timeout(Duration::from_secs(10))
                        .foreign_keys(true)
                        .with_regexp()
                });
            DbBackend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            // Pinged on every checkout (sqlx's default): a write cannot be retried
            // blindly if its connection turns out lost. The delivery path's reads
            // skip this pool (`hot`).
            opts.max_connections(16);
            DbBackend::Postgres
        } else {
            anyhow::bail!("unsupported database URL: use sqlite://path or postgres://…");
        };
        let db = Database::connect(opts)
            .await
            .context("could not connect to the database")?;
        let scans = Self::connect_scans(url, backend, limits).await?;
        // Two read connections per core: more only adds statements competing for the
        // same cores (on PostgreSQL, server processes the kernel time-slices: sixteen
        // on two cores made the slowest page of a list 3x slower), and the waiting
        // is fairer in the pool's queue.
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        let hot = Arc::new(hot::HotReads::like(&db, (2 * cores).clamp(4, 16)));
        let direct = match backend {
            DbBackend::Sqlite => direct::DirectReads::open(
                db.get_sqlite_connection_pool()
                    .connect_options()
                    .get_filename()
                    .to_path_buf(),
            )
            .map(Arc::new),
            _ => None,
        };
        Ok(Store {
            db,
            scans,
            hot,
            direct,
            coalesce: Arc::default(),
            scan_timeout: limits.statement_timeout,
            backend,
            write_gate: Arc::new(Mutex::new(())),
            writes: Arc::new(AtomicU64::new(0)),
            observer: Arc::default(),
        })
    }

    async fn connect_scans(
        url: &str,
        backend: DbBackend,
        limits: ScanLimits,
    ) -> anyhow::Result<DatabaseConnection> {
        let mut opts = ConnectOptions::new(url.to_string());
        let timeout = limits.statement_timeout;
        opts.sqlx_logging(false)
            .max_connections(limits.concurrency.max(1))
            .min_connections(0)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10));
        if backend == DbBackend::Sqlite {
            opts.test_before_acquire(false).map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .busy_timeout(Duration::from_secs(10))
                    .with_regexp()
            });
        } else {
            let ms = timeout.as_millis().max(1).to_string();
            opts.map_sqlx_postgres_opts(move |o| o.options([("statement_timeout", ms.clone())]));
        }
        Database::connect(opts)
            .await
            .context("could not connect to the database for bounded reads")
    }

    /// Runs a read of the delivery path (an entry, a page of a list, a count that an
    /// index bounds) on the store's own read connections (`hot`), which skip the pool's
    /// ping on every return.
    pub async fn fetch_hot(&self, q: Sql) -> Result<Vec<QueryResult>, DbErr> {
        count_statement();
        self.hot.fetch_all(&q.text, q.values).await
    }

    /// The published entry `key` names in `type_id` (in `locale`), as
    /// `entries::published_sql` selects it: on PostgreSQL in one statement with the
    /// other reads of that type by the same kind of key waiting for a connection
    /// (`coalesce`), elsewhere as [`Store::fetch_entry`].
    pub async fn published_by_key(
        &self,
        type_id: &str,
        key: entries::PublishedKey<'_>,
        locale: Option<&str>,
    ) -> Result<Option<entries::EntryRow>, DbErr> {
        let single =
            || self.fetch_entry(entries::published_sql(self.backend, type_id, key, locale));
        if self.backend != DbBackend::Postgres {
            return single().await;
        }
        let (value, by_slug) = key.parts();
        let lead = match self.coalesce.join(type_id, locale, by_slug, value) {
            coalesce::Joined::Follower(rx) => match rx.await {
                Ok(row) => return Ok(row),
                // The leader went away or its statement failed: read alone.
                Err(_) => return single().await,
            },
            coalesce::Joined::Leader(lead) => lead,
            coalesce::Joined::Alone => return single().await,
        };
        let slot = self.hot.slot().await?;
        let followers = lead.take();
        let mut values: Vec<&str> = Vec::with_capacity(followers.len() + 1);
        values.push(value);
        values.extend(followers.iter().map(|(f, _)| f.as_str()));
        // Padded to a power of two (repeating a key changes no answer), so a connection
        // prepares seven statement texts at most, not one per batch size.
        values.resize(values.len().next_power_of_two(), value);
        let q = entries::published_by_keys_sql(self.backend, type_id, by_slug, &values, locale);
        count_statement();
        let rows: Vec<entries::EntryRow> = self
            .hot
            .fetch_all_in(&slot, &q.text, q.values)
            .await?
            .iter()
            .map(entries::from_row)
            .collect::<Result<_, _>>()?;
        drop(slot);
        let own = coalesce::pick(&rows, by_slug, value).cloned();
        coalesce::answer(&rows, by_slug, followers);
        Ok(own)
    }

    /// The one entry a point read by key selects (`SELECT entries::cols(…, false) …`):
    /// on SQLite on the calling thread (`direct`), elsewhere as [`Store::fetch_hot`].
    pub async fn fetch_entry(&self, q: Sql) -> Result<Option<entries::EntryRow>, DbErr> {
        if let Some(found) = self.try_direct(&q, |d, text, values| d.entry(text, values)) {
            return Ok(found);
        }
        self.fetch_hot(q)
            .await?
            .first()
            .map(entries::from_row)
            .transpose()
    }

    /// The entries a read by primary key selects (`SELECT entries::cols(…) … e.id IN …`,
    /// at most [`DIRECT_KEYS`] keys on SQLite's direct connections, else as
    /// [`Store::fetch_hot`]): the rows behind a page of search hits or of populated
    /// relations, a dozen index seeks served from the page cache.
    pub async fn fetch_by_keys(&self, q: Sql) -> Result<Vec<entries::EntryRow>, DbErr> {
        if q.values.len() <= DIRECT_KEYS
            && let Some(found) = self.try_direct(&q, |d, text, values| d.entries(text, values))
        {
            return Ok(found);
        }
        self.fetch_hot(q)
            .await?
            .iter()
            .map(entries::from_row)
            .collect()
    }

    /// `read` on a direct connection, when there are direct reads (SQLite on a file) and
    /// every value bound is a string; `None` also when it failed (busy: a writer
    /// recovering the WAL index, or anything else), for the caller to run the same
    /// statement on sqlx, which waits without holding this thread.
    fn try_direct<T>(
        &self,
        q: &Sql,
        read: impl FnOnce(&direct::DirectReads, &str, &[String]) -> Result<T, DbErr>,
    ) -> Option<T> {
        let direct = self.direct.as_ref()?;
        let values: Vec<String> = q
            .values
            .iter()
            .map(|v| match v {
                Value::String(Some(s)) => Some(s.to_string()),
                _ => None,
            })
            .collect::<Option<_>>()?;
        match read(direct, &q.text, &values) {
            Ok(found) => {
                count_statement();
                Some(found)
            }
            Err(e) => {
                tracing::debug!(error = %e, "direct read failed; reading through sqlx");
                None
            }
        }
    }

    /// Runs a read on the pool for lists that may scan, stopped once it has run for
    /// `ScanLimits::statement_timeout`: on PostgreSQL by the connections'
    /// `statement_timeout`; on SQLite by a progress handler on the connection, set for
    /// this statement only (SQLite calls it every few virtual-machine steps and
    /// stops the statement when it answers `false`).
    pub async fn fetch_bounded(&self, q: Sql) -> Result<Vec<QueryResult>, DbErr> {
        if self.backend != DbBackend::Sqlite {
            return q.fetch_all(&self.scans).await;
        }
        count_statement();
        let deadline = std::time::Instant::now() + self.scan_timeout;
        let sqlx_err = |e: sea_orm::sqlx::Error| DbErr::Custom(format!("bounded read: {e}"));
        let mut conn = self
            .scans
            .get_sqlite_connection_pool()
            .acquire()
            .await
            .map_err(sqlx_err)?;
        conn.lock_handle()
            .await
            .map_err(sqlx_err)?
            .set_progress_handler(16, move || std::time::Instant::now() < deadline);
        let mut query = sea_orm::sqlx::query(sea_orm::sqlx::AssertSqlSafe(q.text.as_str()));
        for v in &q.values {
            query = bind_sqlite(query, v)?;
        }
        let rows = query.fetch_all(&mut *conn).await;
        // The connection goes back to the pool: it must not keep this statement's clock.
        if let Ok(mut handle) = conn.lock_handle().await {
            handle.remove_progress_handler();
        }
        Ok(rows
            .map_err(sqlx_err)?
            .into_iter()
            .map(QueryResult::from)
            .collect())
    }

    /// Waits until no other node is migrating or seeding this database, then holds that
    /// place until the guard is dropped (PostgreSQL; SQLite has a single process).
    pub async fn startup_lock(&self) -> anyhow::Result<StartupLock> {
        if self.backend != DbBackend::Postgres {
            return Ok(StartupLock { _txn: None });
        }
        let txn = self.db.begin().await?;
        txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({STARTUP_LOCK})"))
            .await
            .context("waiting for the start-up lock")?;
        Ok(StartupLock { _txn: Some(txn) })
    }

    pub async fn migrate(&self) -> anyhow::Result<()> {
        use migrations::MigratorTrait;
        migrations::Migrator::up(&self.db, None)
            .await
            .context("running migrations")
    }

    /// Builds any missing field index of every content type (a migration may have dropped
    /// them; on an up-to-date database this is one catalogue lookup per type).
    pub async fn ensure_all_field_indexes(&self) -> Result<(), DbErr> {
        for row in content_types::list(&self.db).await? {
            indexes::ensure_field_indexes(&self.db, &row.def).await?;
        }
        Ok(())
    }

    /// Names of the migrations not yet applied.
    pub async fn pending_migrations(&self) -> anyhow::Result<Vec<String>> {
        use migrations::MigratorTrait;
        Ok(migrations::Migrator::get_pending_migrations(&self.db)
            .await?
            .iter()
            .map(|m| m.name().to_string())
            .collect())
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    /// Registers the one observer told of every commit (see [`CommitObserver`]).
    pub fn observe(&self, observer: std::sync::Weak<dyn CommitObserver>) {
        let _ = self.observer.set(observer);
    }

    pub async fn write(&self) -> Result<WriteTx, DbErr> {
        let gate = match self.backend {
            DbBackend::Sqlite => Some(self.write_gate.clone().lock_owned().await),
            _ => None,
        };
        let txn = self.db.begin().await?;
        if self.backend == DbBackend::Postgres {
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({WRITE_LOCK})"))
                .await?;
        }
        Ok(WriteTx {
            txn,
            _gate: gate,
            store: self.clone(),
        })
    }

    /// Refreshes SQLite's planner statistics where they are stale (no-op on PostgreSQL).
    pub async fn optimize(&self) {
        if self.backend != DbBackend::Sqlite {
            return;
        }
        let _gate = self.write_gate.lock().await;
        if let Err(e) = self.db.execute_unprepared("PRAGMA optimize").await {
            tracing::warn!(error = %e, "PRAGMA optimize failed");
        }
    }

    pub async fn ping(&self) -> Result<(), DbErr> {
        self.db.ping().await
    }

    pub async fn close(self) {
        self.hot.close().await;
        let _ = self.scans.close().await;
        let _ = self.db.close().await;
    }
}

tokio::task_local! {
    /// Statements run by the current request (set up by the request middleware), for the
    /// access log and `Server-Timing`.
    pub static STATEMENTS: std::cell::Cell<u32>;
}

fn count_statement() {
    let _ = STATEMENTS.try_with(|n| n.set(n.get().saturating_add(1)));
}

/// Where a read statement runs: a connection or transaction, or the store itself, whose
/// reads go to its own read connections ([`Store::fetch_hot`]).
pub trait Reads: Sync {
    fn backend(&self) -> DbBackend;
    fn fetch(&self, q: Sql) -> impl Future<Output = Result<Vec<QueryResult>, DbErr>> + Send;

    /// The entries a read by primary key (`SELECT entries::cols(…) … e.id IN …`) selects.
    fn fetch_entries(
        &self,
        q: Sql,
    ) -> impl Future<Output = Result<Vec<entries::EntryRow>, DbErr>> + Send {
        async move { self.fetch(q).await?.iter().map(entries::from_row).collect() }
    }
}

impl<C: ConnectionTrait + Sync> Reads for C {
    fn backend(&self) -> DbBackend {
        self.get_database_backend()
    }

    fn fetch(&self, q: Sql) -> impl Future<Output = Result<Vec<QueryResult>, DbErr>> + Send {
        q.fetch_all(self)
    }
}

impl Reads for Store {
    fn backend(&self) -> DbBackend {
        self.backend
    }

    fn fetch(&self, q: Sql) -> impl Future<Output = Result<Vec<QueryResult>, DbErr>> + Send {
        self.fetch_hot(q)
    }

    fn fetch_entries(
        &self,
        q: Sql,
    ) -> impl Future<Output = Result<Vec<entries::EntryRow>, DbErr>> + Send {
        self.fetch_by_keys(q)
    }
}

/// Raw SQL with placeholders for the backend (`?` on SQLite, `$n` on PostgreSQL).
pub struct Sql {
    backend: DbBackend,
    text: String,
    values: Vec<Value>,
}

impl Sql {
    pub fn new(backend: DbBackend) -> Sql {
        Sql {
            backend,
            text: String::with_capacity(256),
            values: Vec::new(),
        }
    }

    pub fn push(&mut self, s: &str) -> &mut Self {
        self.text.push_str(s);
        self
    }

    pub fn bind(&mut self, v: impl Into<Value>) -> &mut Self {
        self.values.push(v.into());
        match self.backend {
            DbBackend::Postgres => {
                let n = self.values.len();
                self.text.push('$');
                self.text.push_str(&n.to_string());
            }
            _ => self.text.push('?'),
        }
        self
    }

    /// Binds a timestamp so both backends order it correctly: PostgreSQL gets a
    /// `timestamptz`; SQLite gets fixed-width RFC 3339 text (text order = time order).
    /// `(v1, v2, …)`: each value bound, for `IN` lists.
    pub fn bind_in<V: Into<Value>>(&mut self, values: impl IntoIterator<Item = V>) -> &mut Self {
        self.push("(");
        for (i, v) in values.into_iter().enumerate() {
            if i > 0 {
                self.push(", ");
            }
            self.bind(v);
        }
        self.push(")")
    }

    pub fn bind_ts(&mut self, ts: DateTime<Utc>) -> &mut Self {
        match self.backend {
            DbBackend::Postgres => self.bind(ts),
            _ => self.bind(crate::domain::fmt_ts(&ts)),
        }
    }

    pub fn bind_ts_opt(&mut self, ts: Option<DateTime<Utc>>) -> &mut Self {
        match ts {
            Some(ts) => self.bind_ts(ts),
            None => match self.backend {
                DbBackend::Postgres => self.bind(Option::<DateTime<Utc>>::None),
                _ => self.bind(Option::<String>::None),
            },
        }
    }

    /// Binds an entry document (or NULL): JSONB on both backends.
    pub fn bind_doc(&mut self, v: Option<&serde_json::Value>) -> &mut Self {
        match self.backend {
            DbBackend::Postgres => self.bind(v.cloned()),
            _ => {
                self.push("jsonb(");
                self.bind(v.map(|v| v.to_string()));
                self.push(")")
            }
        }
    }

    pub fn bind_json(&mut self, v: &serde_json::Value) -> &mut Self {
        self.bind(v.clone())
    }

    pub fn backend(&self) -> DbBackend {
        self.backend
    }

    pub fn build(self) -> Statement {
        Statement::from_sql_and_values(self.backend, self.text, self.values)
    }

    pub async fn execute(self, c: &impl ConnectionTrait) -> Result<u64, DbErr> {
        count_statement();
        Ok(c.execute_raw(self.build()).await?.rows_affected())
    }

    pub async fn fetch_all(self, c: &impl ConnectionTrait) -> Result<Vec<QueryResult>, DbErr> {
        count_statement();
        c.query_all_raw(self.build()).await
    }

    pub async fn fetch_one(self, c: &impl ConnectionTrait) -> Result<Option<QueryResult>, DbErr> {
        count_statement();
        c.query_one_raw(self.build()).await
    }
}

type SqliteQuery<'q> =
    sea_orm::sqlx::query::Query<'q, sea_orm::sqlx::Sqlite, sea_orm::sqlx::sqlite::SqliteArguments>;

/// Binds one of the values our statements use to a SQLite query.
fn bind_sqlite<'q>(q: SqliteQuery<'q>, v: &'q Value) -> Result<SqliteQuery<'q>, DbErr> {
    Ok(match v {
        Value::String(s) => q.bind(s.as_deref()),
        Value::BigInt(i) => q.bind(*i),
        Value::Int(i) => q.bind(*i),
        Value::Double(f) => q.bind(*f),
        Value::Bool(b) => q.bind(*b),
        other => {
            return Err(DbErr::Custom(format!(
                "a bounded read cannot bind {other:?}"
            )));
        }
    })
}

/// True when a database error is a unique-constraint violation.
pub fn is_unique_violation(err: &DbErr) -> bool {
    let text = err.to_string();
    text.contains("UNIQUE constraint failed") || text.contains("duplicate key value")
}

pub fn get<T: sea_orm::TryGetable>(row: &QueryResult, col: &str) -> Result<T, DbErr> {
    row.try_get("", col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn sqlite_is_durable_wal() {
        let dir = tempfile::tempdir().expect("tmp");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let store = Store::connect(&url).await.expect("connect");
        let row = |sql: &'static str| {
            let store = store.clone();
            async move {
                let r = store
                    .db()
                    .query_one_raw(Statement::from_string(DbBackend::Sqlite, sql))
                    .await
                    .expect("query")
                    .expect("row");
                r.try_get_by_index::<String>(0)
                    .or_else(|_| r.try_get_by_index::<i64>(0).map(|n| n.to_string()))
                    .expect("value")
            }
        };
        assert_eq!(row("PRAGMA journal_mode").await, "wal");
        assert_eq!(
            row("PRAGMA synchronous").await,
            "2",
            "FULL: a 2xx means the write is on disk"
        );
        assert_eq!(row("PRAGMA foreign_keys").await, "1");
    }
}
