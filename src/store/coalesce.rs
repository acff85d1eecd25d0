//! Point reads (a published entry by id or by slug) that wait for a read connection
//! together go to the database as one statement (PostgreSQL).
//!
//! A read of one entry on PostgreSQL is a round trip: a send that wakes a backend, a
//! wait, a receive, a context switch on each side; under load those cost more than the
//! lookup itself. When every read connection is busy, requests queue for one anyway: the
//! first read of a type (and locale, and kind of key) to queue becomes the batch's
//! leader and the like reads arriving while it waits join it (up to 64; then the next
//! read leads the next batch). Once it has a connection the leader takes the batch and
//! runs one `id IN (…)` (or `published_slug IN (…)`) statement for all of them, and each follower
//! gets its row (or its absence) through a channel. A read that finds a connection free
//! runs alone at once, so nothing waits that would not have waited anyway.
//!
//! A follower whose leader goes away (its client hung up, its statement failed) sees
//! its channel closed and reads on its own: a batch never strands a follower.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::oneshot;

use super::entries::EntryRow;

/// The largest batch: one statement's `IN` list.
const MAX_BATCH: usize = 64;

/// Type, locale, and whether the keys are slugs (else ids).
type Key = (String, Option<String>, bool);

struct Batch {
    leader: u64,
    waiters: Vec<(String, oneshot::Sender<Option<EntryRow>>)>,
}

#[derive(Default)]
pub(super) struct Coalesce {
    /// By type and locale, the batches waiting (the last one is the one to join).
    pending: Mutex<HashMap<Key, Vec<Batch>>>,
    next: AtomicU64,
}

/// What a point read is in its batch.
pub(super) enum Joined<'a> {
    /// Wait for the leader's answer.
    Follower(oneshot::Receiver<Option<EntryRow>>),
    /// Get a connection, then [`Lead::take`] the batch and answer it.
    Leader(Lead<'a>),
    /// Read alone (the batches could not be reached).
    Alone,
}

/// The leader's hold on its batch: dropped before [`Lead::take`] (the leader's future
/// was dropped while it waited), it removes the batch, closing its followers' channels.
pub(super) struct Lead<'a> {
    coalesce: &'a Coalesce,
    key: Option<Key>,
    token: u64,
}

impl Coalesce {
    /// Joins the batch of reads of `type_id` in `locale` by the same kind of key (slugs
    /// or ids) waiting for a connection, or starts one.
    pub(super) fn join(
        &self,
        type_id: &str,
        locale: Option<&str>,
        by_slug: bool,
        value: &str,
    ) -> Joined<'_> {
        let key = (type_id.to_string(), locale.map(str::to_string), by_slug);
        let Ok(mut pending) = self.pending.lock() else {
            return Joined::Alone;
        };
        let batches = pending.entry(key.clone()).or_default();
        if let Some(batch) = batches.last_mut()
            && batch.waiters.len() + 1 < MAX_BATCH
        {
            let (tx, rx) = oneshot::channel();
            batch.waiters.push((value.to_string(), tx));
            return Joined::Follower(rx);
        }
        // None waiting, or the last one is full: this read leads the next.
        let token = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        batches.push(Batch {
            leader: token,
            waiters: Vec::new(),
        });
        Joined::Leader(Lead {
            coalesce: self,
            key: Some(key),
            token,
        })
    }

    fn remove(&self, key: &Key, token: u64) -> Vec<(String, oneshot::Sender<Option<EntryRow>>)> {
        let Ok(mut pending) = self.pending.lock() else {
            return Vec::new();
        };
        let Some(batches) = pending.get_mut(key) else {
            return Vec::new();
        };
        let waiters = match batches.iter().position(|b| b.leader == token) {
            Some(i) => batches.remove(i).waiters,
            None => Vec::new(),
        };
        if batches.is_empty() {
            pending.remove(key);
        }
        waiters
    }

    /// Batches waiting for a connection, and the followers in them (tests).
    #[cfg(test)]
    pub(super) fn waiting(&self) -> (usize, usize) {
        self.pending.lock().map_or((0, 0), |p| {
            let batches = p.values().flatten();
            (
                batches.clone().count(),
                batches.map(|b| b.waiters.len()).sum(),
            )
        })
    }
}

impl Lead<'_> {
    /// The followers that joined (their ids and channels); no one joins after this.
    pub(super) fn take(mut self) -> Vec<(String, oneshot::Sender<Option<EntryRow>>)> {
        match self.key.take() {
            Some(key) => self.coalesce.remove(&key, self.token),
            None => Vec::new(),
        }
    }
}

impl Drop for Lead<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // Dropping the senders tells each follower to read on its own.
            drop(self.coalesce.remove(&key, self.token));
        }
    }
}

/// The row a read by `value` gets from a batch's rows: the entry with that id, or, by
/// slug, the earliest created of those with that published slug (as the single read's
/// `ORDER BY created_at LIMIT 1`).
pub(super) fn pick<'r>(rows: &'r [EntryRow], by_slug: bool, value: &str) -> Option<&'r EntryRow> {
    if by_slug {
        rows.iter()
            .filter(|r| r.published_slug.as_deref() == Some(value))
            .min_by_key(|r| r.created_at)
    } else {
        rows.iter().find(|r| r.id == value)
    }
}

/// Hands each follower its row, or its absence.
pub(super) fn answer(
    rows: &[EntryRow],
    by_slug: bool,
    followers: Vec<(String, oneshot::Sender<Option<EntryRow>>)>,
) {
    for (value, tx) in followers {
        let row = pick(rows, by_slug, &value).cloned();
        // A follower that went away no longer listens: nothing to do.
        let _ = tx.send(row);
    }
}
