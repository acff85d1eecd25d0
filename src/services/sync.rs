//! `GET /api/v1/sync`: an offline copy of everything published the caller may read, kept
//! up to date with deltas (DESIGN.md §4).
//!
//! Without a cursor the caller gets the initial pages (every visible published entry, in
//! (type, id) order) and a cursor holding the event sequence number read *before* the
//! first page; with one, the changes since: the entry events after that number, each
//! answered with the entry's state now (an upsert when the caller may see it, a tombstone
//! when it may have seen it before and cannot now). When what the caller may read of a
//! type changes (a policy, a role, the type's schema), that type's entries are read again
//! first, with tombstones for those that were visible and are not any more. Tombstones are
//! only ever sent for entries the caller could have been sent before: a type it could
//! read, an entry that was published, its own under an owner-only grant.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ring::hmac;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::TypeCache;
use super::content::owns;
use crate::authz::{Authz, Grant, Principal};
use crate::config::Settings;
use crate::domain::access::Visibility;
use crate::domain::query::Surface;
use crate::domain::sync::{Initial, Refresh, SyncCursor, TypeGrant};
use crate::error::{ApiError, ApiResult, Code, clip};
use crate::store::Store;
use crate::store::content_types::TypeRow;
use crate::store::entries::{self, EntryRow};
use crate::store::events;

pub const DEFAULT_LIMIT: u64 = 100;
pub const MAX_LIMIT: u64 = 500;

/// One change for the client to apply.
#[allow(
    clippy::large_enum_variant,
    reason = "a page holds at most a few hundred, built once and rendered at once"
)]
pub enum SyncOp {
    Upsert {
        row: EntryRow,
        ty: Arc<TypeRow>,
        view: Visibility,
    },
    Delete {
        id: String,
        type_id: String,
    },
}

pub struct SyncPage {
    pub ops: Vec<SyncOp>,
    pub next_cursor: String,
    pub has_more: bool,
}

#[derive(Clone)]
pub struct SyncService {
    store: Store,
    authz: Authz,
    types: TypeCache,
    settings: Arc<Settings>,
    key: Arc<hmac::Key>,
}

struct Request {
    types: Option<Vec<String>>,
    locale: Option<String>,
    limit: u64,
    cursor: Option<String>,
}

fn invalid(msg: String) -> ApiError {
    ApiError::new(Code::InvalidParameter, msg)
}

fn parse(
    params: &[(String, String)],
    locales: &crate::domain::locale::Locales,
) -> ApiResult<Request> {
    let mut r = Request {
        types: None,
        locale: None,
        limit: DEFAULT_LIMIT,
        cursor: None,
    };
    for (k, v) in params {
        match k.as_str() {
            "type" => {
                let mut names: Vec<String> = v.split(',').map(|s| s.trim().to_string()).collect();
                names.sort();
                names.dedup();
                if names.len() > 100
                    || names
                        .iter()
                        .any(|n| !crate::domain::schema::is_valid_api_id(n))
                {
                    return Err(invalid(format!(
                        "`type` takes content type api ids separated by commas, got `{}`",
                        clip(v)
                    )));
                }
                r.types = Some(names);
            }
            "locale" => {
                let l = crate::domain::query::parse_locale(v)?;
                if l != "*" {
                    locales.check(&l)?;
                    r.locale = Some(l);
                }
            }
            "limit" => {
                r.limit = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        invalid(format!(
                            "`limit` must be a whole number from 1 to {MAX_LIMIT}, got `{}`",
                            clip(v)
                        ))
                    })?;
            }
            "cursor" => r.cursor = Some(v.clone()),
            _ => {
                return Err(ApiError::new(
                    Code::UnknownParameter,
                    format!(
                        "unknown query parameter `{}`; sync accepts `type`, `locale`, `limit`, `cursor`",
                        clip(k)
                    ),
                ));
            }
        }
    }
    Ok(r)
}

impl SyncService {
    pub async fn new(
        store: Store,
        authz: Authz,
        types: TypeCache,
        settings: Arc<Settings>,
    ) -> anyhow::Result<SyncService> {
        // One key per instance, shared by every node through the database.
        let secret = crate::store::auth::init_setting(
            store.db(),
            "sync_cursor_key",
            &super::auth::random_secret(),
        )
        .await?;
        Ok(SyncService {
            store,
            authz,
            types,
            settings,
            key: Arc::new(hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes())),
        })
    }

    /// Drops events older than `event_retention_secs` (0: keep them all) every
    /// `event_sweep_interval_secs`, until `stop`. Sync cursors from before the cut get 410.
    pub async fn run_event_sweeper(&self, stop: tokio_util::sync::CancellationToken) {
        let every = self.settings.event_sweep_interval_secs.max(1);
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    match self.sweep_events().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(pruned = n, "event retention: pruned events"),
                        Err(e) => tracing::warn!(error = %e.message, "event retention sweep failed"),
                    }
                }
            }
        }
    }

    pub async fn sweep_events(&self) -> ApiResult<u64> {
        let keep = self.settings.event_retention_secs;
        if keep == 0 {
            return Ok(0);
        }
        let before = crate::domain::now()
            - chrono::Duration::seconds(i64::try_from(keep).unwrap_or(i64::MAX / 1000));
        let tx = self.store.write().await?;
        let n = events::prune(&tx.txn, before).await?;
        tx.commit().await?;
        Ok(n)
    }

    /// What `principal` may read of each type in scope now.
    fn grants_now(
        &self,
        principal: &Principal,
        scope: &Option<Vec<String>>,
    ) -> (BTreeMap<String, TypeGrant>, HashMap<String, Grant>) {
        let mut summary = BTreeMap::new();
        let mut grants = HashMap::new();
        for ty in self.types.all() {
            let api = &ty.def.api_id;
            if scope.as_ref().is_some_and(|s| !s.contains(api)) {
                continue;
            }
            let Ok(grant) = self.authz.check(principal, api, "read") else {
                summary.insert(
                    api.clone(),
                    TypeGrant {
                        seen: false,
                        readable: false,
                        owner_only: false,
                        hash: String::new(),
                    },
                );
                continue;
            };
            let mut h = Sha256::new();
            h.update(ty.rev.to_string());
            h.update(format!("{:?}|{:?}", grant.any, grant.own));
            summary.insert(
                api.clone(),
                TypeGrant {
                    seen: true,
                    readable: true,
                    owner_only: grant.owner_only(),
                    hash: hex::encode(&h.finalize()[..8]),
                },
            );
            grants.insert(api.clone(), grant);
        }
        (summary, grants)
    }

    pub async fn page(
        &self,
        principal: &Principal,
        params: &[(String, String)],
    ) -> ApiResult<SyncPage> {
        let req = parse(params, &self.types.locales())?;
        let who = principal.actor_ref();
        let mut cursor = match &req.cursor {
            Some(raw) => {
                let c = SyncCursor::decode(raw, &self.key)?;
                if c.who != who {
                    return Err(ApiError::new(
                        Code::InvalidCursor,
                        "this sync cursor belongs to another caller; start without a cursor",
                    ));
                }
                let same = |a: &Option<Vec<String>>| a.is_none() || *a == c.types;
                if !same(&req.types) || (req.locale.is_some() && req.locale != c.locale) {
                    return Err(ApiError::new(
                        Code::InvalidCursor,
                        "this sync cursor was made for other `type`/`locale` parameters; repeat those (or leave them out)",
                    ));
                }
                c
            }
            None => {
                if let Some(types) = &req.types {
                    for t in types {
                        self.types.get(t)?;
                    }
                }
                // Read before any entry: what changes after it comes as deltas.
                let seq = events::last_seq(self.store.db()).await?;
                let mut c = SyncCursor::new(who, seq, req.types.clone(), req.locale.clone());
                c.grants = self.grants_now(principal, &c.types).0;
                c
            }
        };
        if cursor.seq < events::pruned_through(self.store.db()).await? {
            return Err(ApiError::new(
                Code::SyncCursorExpired,
                "the changes since this cursor are no longer kept; sync again from the start (without a cursor) and replace the local copy",
            ));
        }
        let (now, grants) = self.grants_now(principal, &cursor.types);
        // Nothing to read and no copy to bring up to date: like every delivery surface,
        // anonymous callers are told to authenticate, others that they may not. (A
        // cursor still works after every grant is gone: it carries the tombstones.)
        if req.cursor.is_none() && grants.is_empty() {
            return Err(if principal.is_anonymous() {
                ApiError::unauthenticated()
            } else {
                ApiError::forbidden("read", "any content type")
            });
        }
        let limit = req.limit;
        let mut ops = Vec::new();
        // What the caller may read changed: re-read those types first.
        if cursor.refresh.is_none() {
            let mut merged = cursor.grants.clone();
            let mut changed = Vec::new();
            for (api, g) in &now {
                let before = cursor.grants.get(api);
                let differs = before.map_or(g.readable, |b| b.differs(g));
                if differs {
                    changed.push(api.clone());
                }
                let seen = g.seen || before.is_some_and(|b| b.seen);
                merged.insert(api.clone(), TypeGrant { seen, ..g.clone() });
            }
            // Types gone from the schema keep their record (their tombstones come as
            // `entry.deleted` events).
            for (api, b) in &cursor.grants {
                if !now.contains_key(api) {
                    merged.insert(
                        api.clone(),
                        TypeGrant {
                            readable: false,
                            ..b.clone()
                        },
                    );
                }
            }
            let just_started = cursor.initial.as_ref().is_some_and(|i| i.after.is_none());
            if !changed.is_empty() && !just_started {
                cursor.refresh = Some(Refresh {
                    types: changed,
                    before: cursor.grants.clone(),
                    after: None,
                });
            }
            cursor.grants = merged;
        }
        if let Some(refresh) = cursor.refresh.clone() {
            let types: Vec<&str> = refresh.types.iter().map(String::as_str).collect();
            let after = refresh
                .after
                .as_ref()
                .map(|(t, i)| (t.as_str(), i.as_str()));
            let rows = entries::published_page(
                self.store.db(),
                &types,
                &[],
                None,
                cursor.locale.as_deref(),
                after,
                limit + 1,
            )
            .await?;
            let more = rows.len() as u64 > limit;
            let mut last = None;
            for row in rows.into_iter().take(limit as usize) {
                last = Some((row.type_id.clone(), row.id.clone()));
                let owns = owns(principal, &row);
                if let Some(op) = self.upsert(&row, &grants, owns)? {
                    ops.push(op);
                } else if refresh
                    .before
                    .get(&row.type_id)
                    .is_some_and(|b| b.readable && (!b.owner_only || owns))
                {
                    ops.push(SyncOp::Delete {
                        id: row.id.clone(),
                        type_id: row.type_id.clone(),
                    });
                }
            }
            cursor.refresh = if more {
                Some(Refresh {
                    after: last,
                    ..refresh
                })
            } else {
                None
            };
            return self.finish(cursor, ops, true);
        }
        if let Some(Initial { after }) = cursor.initial.clone() {
            let (any, own): (Vec<&str>, Vec<&str>) = {
                let mut any = Vec::new();
                let mut own = Vec::new();
                for (api, g) in &grants {
                    if g.owner_only() {
                        own.push(api.as_str());
                    } else {
                        any.push(api.as_str());
                    }
                }
                (any, own)
            };
            let rows = entries::published_page(
                self.store.db(),
                &any,
                &own,
                principal.user_id(),
                cursor.locale.as_deref(),
                after.as_ref().map(|(t, i)| (t.as_str(), i.as_str())),
                limit + 1,
            )
            .await?;
            let more = rows.len() as u64 > limit;
            let mut last = None;
            for row in rows.into_iter().take(limit as usize) {
                last = Some((row.type_id.clone(), row.id.clone()));
                let owns = owns(principal, &row);
                if let Some(op) = self.upsert(&row, &grants, owns)? {
                    ops.push(op);
                }
            }
            cursor.initial = more.then_some(Initial { after: last });
            let has_more = more || events::last_seq(self.store.db()).await? > cursor.seq;
            return self.finish(cursor, ops, has_more);
        }
        // Deltas.
        let batch = events::list_after(self.store.db(), cursor.seq, limit).await?;
        let more = batch.len() as u64 == limit;
        if let Some(last) = batch.last() {
            cursor.seq = last.seq;
        }
        // The last event of each entry decides; order by that event.
        let mut latest: Vec<&events::Event> = Vec::new();
        for ev in batch.iter().filter(|e| {
            e.resource == "entry"
                && events::changes_delivery(&e.kind)
                && e.content_type
                    .as_ref()
                    .is_some_and(|t| cursor.types.as_ref().is_none_or(|s| s.contains(t)))
                && cursor
                    .locale
                    .as_ref()
                    .is_none_or(|l| e.locale.as_deref() == Some(l.as_str()))
        }) {
            latest.retain(|e| e.entry_id != ev.entry_id);
            latest.push(ev);
        }
        let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for ev in &latest {
            if let (Some(t), Some(id)) = (&ev.content_type, &ev.entry_id) {
                by_type.entry(t.as_str()).or_default().push(id.as_str());
            }
        }
        let mut current: HashMap<String, EntryRow> = HashMap::new();
        for (t, ids) in by_type {
            if !grants.contains_key(t) {
                continue;
            }
            for row in entries::get_many(self.store.db(), t, &ids, true).await? {
                current.insert(row.id.clone(), row);
            }
        }
        for ev in latest {
            let (Some(t), Some(id)) = (&ev.content_type, &ev.entry_id) else {
                continue;
            };
            if let Some(row) = current.remove(id) {
                let owns = owns(principal, &row);
                if let Some(op) = self.upsert(&row, &grants, owns)? {
                    ops.push(op);
                    continue;
                }
            }
            if may_have_been_sent(ev, cursor.grants.get(t), principal) {
                ops.push(SyncOp::Delete {
                    id: id.clone(),
                    type_id: t.clone(),
                });
            }
        }
        self.finish(cursor, ops, more)
    }

    fn upsert(
        &self,
        row: &EntryRow,
        grants: &HashMap<String, Grant>,
        owns: bool,
    ) -> ApiResult<Option<SyncOp>> {
        let Some(grant) = grants.get(&row.type_id) else {
            return Ok(None);
        };
        let Some(fields) = grant.fields_for(owns) else {
            return Ok(None);
        };
        let ty = self.types.get(&row.type_id)?;
        Ok(Some(SyncOp::Upsert {
            row: row.clone(),
            ty,
            view: Visibility {
                surface: Surface::Delivery,
                fields: fields.clone(),
            },
        }))
    }

    fn finish(&self, cursor: SyncCursor, ops: Vec<SyncOp>, has_more: bool) -> ApiResult<SyncPage> {
        Ok(SyncPage {
            ops,
            next_cursor: cursor.encode(&self.key),
            has_more,
        })
    }
}

/// Whether the client may hold the entry an event is about: the type was readable, the
/// entry was published (a draft never reached it), and under an owner-only grant it was
/// the caller's.
fn may_have_been_sent(
    ev: &events::Event,
    grant: Option<&TypeGrant>,
    principal: &Principal,
) -> bool {
    let Some(grant) = grant.filter(|g| g.seen) else {
        return false;
    };
    let status = ev.payload.get("status").and_then(Value::as_str);
    let was_published = matches!(ev.kind.as_str(), "entry.published" | "entry.unpublished")
        || matches!(status, Some("published" | "changed"));
    if !was_published {
        return false;
    }
    if grant.owner_only {
        let owner = ev.payload.get("owner").and_then(Value::as_str);
        return owner.is_some() && owner == principal.user_id();
    }
    true
}
