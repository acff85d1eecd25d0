//! The event-log follower: one per node, the one place where a node learns of changes.
//!
//! It reads events after the last sequence number it applied, in order, and for each
//! batch: reloads the content-type cache (schema events) and the access snapshot
//! (policy and role events) first, then marks what changed in [`Freshness`] (the entries,
//! types and lists a cached delivery response may depend on), then advances `applied`,
//! then hands the events to live subscribers. It wakes at once after this node's own
//! commits (the store tells it before `commit` returns, so a write's response is only
//! sent once this node would answer reads with it), on PostgreSQL when another node's
//! append sends `NOTIFY` (delivered at that commit), and on a periodic poll as a safety
//! net (a lost notification, a write from the CLI).
//!
//! It must not write: following is reading the log and refreshing memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::authz::Authz;
use crate::error::ApiResult;
use crate::store::Store;
use crate::store::events::{self, Event};

use super::TypeCache;

/// Slots for the last change of an entry, a type's schema and a type's lists. Entries and
/// types hash into them; two sharing a slot only cost each other's cache entries an extra
/// miss, never a stale answer.
const ENTRY_SLOTS: usize = 16384;
const TYPE_SLOTS: usize = 1024;
/// Events read per query while catching up.
const BATCH: u64 = 500;

fn slot(key: &str, n: usize) -> u32 {
    // FNV-1a: cheap on short keys, and good enough to spread ids and api ids.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in key.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % n as u64) as u32
}

fn slots(n: usize) -> Box<[AtomicI64]> {
    (0..n).map(|_| AtomicI64::new(0)).collect()
}

/// What the follower has applied, and the sequence number of the last change of each
/// entry, type (schema) and type's lists (any delivered change of one of its entries).
/// A response rendered when `applied` was `at` is current while nothing it depends on
/// changed after `at`: no lock, a few atomic loads per cache hit.
pub struct Freshness {
    applied: AtomicI64,
    /// Access rules (policies, roles): every response depends on them.
    all: AtomicI64,
    types: Box<[AtomicI64]>,
    lists: Box<[AtomicI64]>,
    entries: Box<[AtomicI64]>,
}

/// What one cached response depends on, as slots.
#[derive(Clone, Debug)]
pub struct Deps {
    types: Vec<u32>,
    list: Option<u32>,
    entries: Vec<u32>,
}

impl Freshness {
    fn new(applied: i64) -> Self {
        Freshness {
            applied: AtomicI64::new(applied),
            all: AtomicI64::new(0),
            types: slots(TYPE_SLOTS),
            lists: slots(TYPE_SLOTS),
            entries: slots(ENTRY_SLOTS),
        }
    }

    /// The last sequence number applied. Read it *before* checking access and reading
    /// data for a response: everything up to it is reflected in memory and in what the
    /// store returns.
    pub fn applied(&self) -> i64 {
        self.applied.load(Ordering::Acquire)
    }

    /// Dependencies of a response about entries of `types` (the first is the type asked
    /// for): the lists of that type when `list`, and the given entries.
    pub fn deps<'a>(
        &self,
        types: impl IntoIterator<Item = &'a str>,
        list: bool,
        entries: impl IntoIterator<Item = &'a str>,
    ) -> Deps {
        let types: Vec<u32> = types.into_iter().map(|t| slot(t, TYPE_SLOTS)).collect();
        Deps {
            list: if list { types.first().copied() } else { None },
            types,
            entries: entries
                .into_iter()
                .map(|id| slot(id, ENTRY_SLOTS))
                .collect(),
        }
    }

    /// Whether a response rendered at `at` with these dependencies is still current.
    pub fn current(&self, deps: &Deps, at: i64) -> bool {
        let newer = |cell: &AtomicI64| cell.load(Ordering::Acquire) > at;
        !(newer(&self.all)
            || deps.types.iter().any(|s| newer(&self.types[*s as usize]))
            || deps.list.is_some_and(|s| newer(&self.lists[s as usize]))
            || deps
                .entries
                .iter()
                .any(|s| newer(&self.entries[*s as usize])))
    }

    fn mark(cell: &AtomicI64, seq: i64) {
        cell.fetch_max(seq, Ordering::AcqRel);
    }

    /// Records what an event changed for delivery.
    fn apply(&self, ev: &Event) {
        match ev.resource.as_str() {
            "entry" => {
                if draft_only(&ev.kind) {
                    return;
                }
                if let Some(t) = &ev.content_type {
                    Self::mark(&self.lists[slot(t, TYPE_SLOTS) as usize], ev.seq);
                }
                if let Some(id) = &ev.entry_id {
                    Self::mark(&self.entries[slot(id, ENTRY_SLOTS) as usize], ev.seq);
                }
                // Answers resolved through a document's locales depend on the document.
                if let Some(doc) = ev.payload.get("document").and_then(|d| d.as_str())
                    && ev.entry_id.as_deref() != Some(doc)
                {
                    Self::mark(&self.entries[slot(doc, ENTRY_SLOTS) as usize], ev.seq);
                }
            }
            "content_type" => match &ev.content_type {
                Some(t) => Self::mark(&self.types[slot(t, TYPE_SLOTS) as usize], ev.seq),
                None => Self::mark(&self.all, ev.seq),
            },
            // Locales: the fallback chains delivery resolves through.
            _ if changes_access(ev) || ev.resource == "locale" => Self::mark(&self.all, ev.seq),
            _ => {}
        }
    }
}

/// Entry events that change only the working draft, never what delivery shows (a write
/// that also publishes appends `entry.published` besides).
fn draft_only(kind: &str) -> bool {
    matches!(
        kind,
        "entry.created"
            | "entry.updated"
            | "entry.transitioned"
            | "entry.scheduled"
            | "entry.schedule_cancelled"
    )
}

fn changes_access(ev: &Event) -> bool {
    matches!(ev.resource.as_str(), "policy" | "role")
}

pub struct Follower {
    store: Store,
    types: TypeCache,
    authz: Authz,
    pub freshness: Freshness,
    /// One catch-up at a time, so batches apply in order.
    running: tokio::sync::Mutex<()>,
    live: broadcast::Sender<Arc<Event>>,
    wake: tokio::sync::Notify,
    tokens: super::auth::token_cache::TokenCache,
    /// `applied`, for tasks that follow the follower (the search indexer).
    progress: tokio::sync::watch::Sender<i64>,
}

impl Follower {
    /// A follower that has applied everything up to `applied` (read before the caches it
    /// refreshes were loaded, so nothing after it can be missing from them).
    pub fn new(
        store: Store,
        types: TypeCache,
        authz: Authz,
        applied: i64,
        live_buffer: usize,
        tokens: super::auth::token_cache::TokenCache,
    ) -> Arc<Follower> {
        let follower = Arc::new(Follower {
            store: store.clone(),
            types,
            authz,
            freshness: Freshness::new(applied),
            running: tokio::sync::Mutex::new(()),
            live: broadcast::channel(live_buffer).0,
            wake: tokio::sync::Notify::new(),
            tokens,
            progress: tokio::sync::watch::channel(applied).0,
        });
        let weak = Arc::downgrade(&follower);
        store.observe(weak);
        follower
    }

    /// Live events from now on (for the SSE stream): a receiver that falls more than the
    /// buffer behind gets `Lagged` and must resume from the log.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.live.subscribe()
    }

    /// `applied` as it advances: a receiver sees a change after every batch applied.
    pub fn progress(&self) -> tokio::sync::watch::Receiver<i64> {
        self.progress.subscribe()
    }

    /// Applies every event committed so far. Returns once they are all applied.
    pub async fn catch_up(&self) -> ApiResult<()> {
        let _one = self.running.lock().await;
        loop {
            let after = self.freshness.applied();
            let batch = events::list_after(self.store.db(), after, BATCH).await?;
            let Some(last) = batch.last().map(|e| e.seq) else {
                return Ok(());
            };
            if batch.iter().any(|e| e.resource == "content_type") {
                self.types.reload(&self.store).await?;
            }
            if batch.iter().any(|e| e.resource == "locale") {
                self.types.reload_locales(&self.store).await?;
            }
            if batch.iter().any(changes_access) {
                self.authz.reload().await?;
            }
            // A token revoked, a role or user changed: cached tokens are checked again.
            if batch
                .iter()
                .any(|e| matches!(e.resource.as_str(), "token" | "role" | "user"))
            {
                self.tokens.clear();
            }
            for ev in &batch {
                self.freshness.apply(ev);
            }
            self.freshness.applied.store(last, Ordering::Release);
            self.progress.send_replace(last);
            for ev in batch {
                // No subscriber is not an error.
                let _ = self.live.send(Arc::new(ev));
            }
            if (last - after) < BATCH as i64 {
                return Ok(());
            }
        }
    }

    async fn catch_up_logged(&self) {
        if let Err(e) = self.catch_up().await {
            tracing::warn!(error = %e.message, "the event-log follower could not catch up; retrying at the next wake-up");
        }
    }

    /// Follows the log until `stop`: woken by this node's commits, PostgreSQL
    /// notifications and the poll.
    pub async fn run(&self, database_url: &str, poll: Duration, stop: CancellationToken) {
        let notifications = async {
            if self.store.backend() == sea_orm::DbBackend::Postgres {
                self.listen(database_url).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        let follow = async {
            loop {
                tokio::select! {
                    _ = self.wake.notified() => {}
                    _ = tokio::time::sleep(poll) => {}
                }
                self.catch_up_logged().await;
            }
        };
        tokio::select! {
            _ = stop.cancelled() => {}
            _ = notifications => {}
            _ = follow => {}
        }
    }

    /// Wakes the loop on every `NOTIFY` of the events channel; reconnects (and catches up,
    /// since notifications may have been lost meanwhile) when the connection drops.
    async fn listen(&self, database_url: &str) {
        use sea_orm::sqlx::postgres::PgListener;
        loop {
            let listener = async {
                let mut l = PgListener::connect(database_url).await?;
                l.listen(events::NOTIFY_CHANNEL).await?;
                Ok::<_, sea_orm::sqlx::Error>(l)
            };
            let mut listener = match listener.await {
                Ok(l) => l,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot listen for event notifications; polling meanwhile");
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    continue;
                }
            };
            self.wake.notify_one();
            loop {
                match listener.recv().await {
                    Ok(_) => self.wake.notify_one(),
                    Err(e) => {
                        tracing::warn!(error = %e, "event notifications interrupted; reconnecting");
                        break;
                    }
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl crate::store::CommitObserver for Follower {
    async fn committed(&self) {
        self.catch_up_logged().await;
    }
}
