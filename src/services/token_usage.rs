//! When each API token was last used, kept in memory and written in batches, so a read
//! with a token never writes to the database (no fsync per request on SQLite, no hot row
//! on PostgreSQL). At most one pending time per token; a flush writes them all in one
//! transaction. What the last interval recorded is lost if the process is killed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::domain::now;
use crate::store::Store;
use crate::store::auth::touch_token;

#[derive(Clone)]
pub struct TokenUsage {
    store: Store,
    pending: Arc<Mutex<HashMap<String, DateTime<Utc>>>>,
}

impl TokenUsage {
    pub fn new(store: Store) -> TokenUsage {
        TokenUsage {
            store,
            pending: Arc::default(),
        }
    }

    /// Notes a use of a (known, valid) token.
    pub fn record(&self, token_id: &str) {
        if let Ok(mut pending) = self.pending.lock() {
            // The hot case (the token was used since the last flush) allocates nothing.
            match pending.get_mut(token_id) {
                Some(at) => *at = now(),
                None => {
                    pending.insert(token_id.to_string(), now());
                }
            }
        }
    }

    /// Writes what was recorded since the last flush.
    pub async fn flush(&self) {
        let batch: Vec<(String, DateTime<Utc>)> = match self.pending.lock() {
            Ok(mut pending) => pending.drain().collect(),
            Err(_) => return,
        };
        if batch.is_empty() {
            return;
        }
        let result = async {
            let tx = self.store.write().await?;
            for (id, at) in &batch {
                touch_token(&tx.txn, id, *at).await?;
            }
            tx.commit().await
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, tokens = batch.len(), "could not record API token use");
        }
    }

    /// Flushes every `every` until `stop`, then once more.
    pub async fn run(&self, every: Duration, stop: tokio_util::sync::CancellationToken) {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = tick.tick() => self.flush().await,
            }
        }
        self.flush().await;
    }
}
