//! Live updates (`GET /api/v1/events`): the content events a caller may see, as they
//! happen, fed by the node's event-log follower.
//!
//! A stream subscribes to the follower's broadcast first, then replays from the log what
//! came after `Last-Event-ID` (so nothing falls between the two), then follows. What a
//! connection may fall behind is bounded by the broadcast's capacity (`live_buffer`): a
//! reader that does not keep up is dropped (its stream ends; it resumes with
//! `Last-Event-ID`), so a slow client costs a fixed amount of memory, never more. The
//! credential is checked again every `live_recheck_secs` and at every user, token or
//! session event; once it no longer holds, the stream ends. Access is decided per event
//! with the current rules, so a revoked grant stops events at once.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use futures_util::Stream;
use serde_json::Value;
use tokio::sync::broadcast;

use super::Services;
use crate::authz::Principal;
use crate::error::{ApiError, ApiResult, Code, clip};
use crate::store::events::{self, Event};

/// Events replayed per read of the log.
const REPLAY_BATCH: u64 = 500;

/// One event as a live client sees it.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    pub seq: i64,
    pub kind: String,
    pub type_id: String,
    pub id: String,
    pub locale: Option<String>,
    pub version: Option<i32>,
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Events after which the credential is checked again at once.
fn touches_credentials(ev: &Event) -> bool {
    matches!(ev.resource.as_str(), "user" | "token" | "role") || ev.kind.starts_with("auth.")
}

struct State {
    services: Services,
    principal: Principal,
    bearer: Option<String>,
    types: Option<Vec<String>>,
    rx: broadcast::Receiver<Arc<Event>>,
    /// Read from the log, not yet sent (replay).
    backlog: VecDeque<Event>,
    /// Replaying: the log has more after `sent`.
    replaying: bool,
    sent: i64,
    recheck: tokio::time::Interval,
}

impl State {
    /// Whether the caller may see this event now.
    fn visible(&self, ev: &Event) -> Option<LiveEvent> {
        // A purge follows the deletion apps were already told of.
        if ev.resource != "entry"
            || !events::changes_delivery(&ev.kind)
            || ev.kind == "entry.purged"
        {
            return None;
        }
        let type_id = ev.content_type.as_ref()?;
        if self.types.as_ref().is_some_and(|t| !t.contains(type_id)) {
            return None;
        }
        let grant = self
            .services
            .authz
            .check(&self.principal, type_id, "read")
            .ok()?;
        let status = ev.payload.get("status").and_then(Value::as_str);
        let was_live =
            ev.kind != "entry.deleted" || matches!(status, Some("published" | "changed"));
        if !was_live {
            return None;
        }
        if grant.owner_only() {
            let owner = ev.payload.get("owner").and_then(Value::as_str);
            if owner.is_none() || owner != self.principal.user_id() {
                return None;
            }
        }
        Some(LiveEvent {
            seq: ev.seq,
            kind: ev.kind.clone(),
            type_id: type_id.clone(),
            id: ev.entry_id.clone()?,
            locale: ev.locale.clone(),
            version: ev.version,
            at: ev.created_at,
        })
    }

    async fn credential_holds(&self) -> bool {
        match &self.bearer {
            None => true,
            Some(b) => self.services.auth.authenticate(b).await.is_ok(),
        }
    }

    /// The next event to send, or `None` when the stream must end.
    async fn next(&mut self) -> Option<LiveEvent> {
        loop {
            if let Some(ev) = self.backlog.pop_front() {
                self.sent = self.sent.max(ev.seq);
                if let Some(live) = self.visible(&ev) {
                    return Some(live);
                }
                continue;
            }
            if self.replaying {
                let batch = events::list_after(self.services.store.db(), self.sent, REPLAY_BATCH)
                    .await
                    .ok()?;
                self.replaying = batch.len() as u64 == REPLAY_BATCH;
                self.backlog.extend(batch);
                continue;
            }
            tokio::select! {
                got = self.rx.recv() => match got {
                    Ok(ev) => {
                        if touches_credentials(&ev) && !self.credential_holds().await {
                            return None;
                        }
                        if ev.seq <= self.sent {
                            continue;
                        }
                        self.sent = ev.seq;
                        if let Some(live) = self.visible(&ev) {
                            return Some(live);
                        }
                    }
                    // Fell further behind than the buffer: dropped (resume with
                    // Last-Event-ID), or the node is stopping.
                    Err(_) => return None,
                },
                _ = self.recheck.tick() => {
                    if !self.credential_holds().await {
                        return None;
                    }
                }
            }
        }
    }
}

impl Services {
    /// Opens a live stream for `principal` (authenticated with `bearer`, if any), resuming
    /// after `last_event_id` when given.
    pub async fn live(
        &self,
        principal: Principal,
        bearer: Option<String>,
        params: &[(String, String)],
        last_event_id: Option<&str>,
    ) -> ApiResult<impl Stream<Item = LiveEvent> + Send + 'static> {
        let mut types = None;
        for (k, v) in params {
            match k.as_str() {
                "type" => {
                    let names: Vec<String> = v.split(',').map(|s| s.trim().to_string()).collect();
                    for n in &names {
                        self.types.get(n)?;
                    }
                    types = Some(names);
                }
                _ => {
                    return Err(ApiError::new(
                        Code::UnknownParameter,
                        format!(
                            "unknown query parameter `{}`; the event stream accepts `type`",
                            clip(k)
                        ),
                    ));
                }
            }
        }
        // Anonymous callers see what `public` may read; a caller that may read no type
        // has nothing to follow.
        let readable = self
            .types
            .all()
            .iter()
            .filter(|t| types.as_ref().is_none_or(|s| s.contains(&t.def.api_id)))
            .any(|t| self.authz.check(&principal, &t.def.api_id, "read").is_ok());
        if !readable {
            return Err(if principal.is_anonymous() {
                ApiError::unauthenticated()
            } else {
                ApiError::forbidden("read", "any content type")
            });
        }
        // Subscribe before reading the log: nothing can fall between the two.
        let rx = self.follower.subscribe();
        let (sent, replaying) = match last_event_id {
            None => (self.follower.freshness.applied(), false),
            Some(raw) => {
                let n: i64 = raw.trim().parse().map_err(|_| {
                    ApiError::new(
                        Code::InvalidParameter,
                        "`Last-Event-ID` must be the `id` of an event this stream sent",
                    )
                })?;
                if n < events::pruned_through(self.store.db()).await? {
                    return Err(ApiError::new(
                        Code::SyncCursorExpired,
                        "the events after this `Last-Event-ID` are no longer kept; reload, then connect without it",
                    ));
                }
                (n, true)
            }
        };
        let every = Duration::from_secs(self.settings.live_recheck_secs.max(1));
        let mut recheck = tokio::time::interval(every);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let state = State {
            services: self.clone(),
            principal,
            bearer,
            types,
            rx,
            backlog: VecDeque::new(),
            replaying,
            sent,
            recheck,
        };
        Ok(futures_util::stream::unfold(state, |mut s| async move {
            s.next().await.map(|ev| (ev, s))
        }))
    }
}
