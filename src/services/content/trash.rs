//! The trash: a deleted entry leaves `entries` (no list, slug, unique value or relation
//! sees it) but is kept whole, with its history, until it is restored, purged by hand,
//! or purged by the retention sweep after `trash_retention_secs`.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::{ContentService, append_with, audit_entry, owns};
use crate::authz::Principal;
use crate::domain::access::Visibility;
use crate::domain::now;
use crate::domain::query::Surface;
use crate::error::{ApiError, ApiResult, Code, clip};
use crate::store::entries::{self, EntryRow};
use crate::store::schedules;
use crate::store::trash::{self, TrashRow};

/// One trashed entry with what the caller may see of it.
pub struct Trashed {
    pub row: TrashRow,
    pub view: Visibility,
}

fn not_in_trash(id: &str) -> ApiError {
    ApiError::new(
        Code::NotFound,
        format!("there is no entry `{}` in the trash", clip(id)),
    )
}

impl ContentService {
    /// Moves an entry to the trash inside the caller's transaction: pending jobs are
    /// cancelled, the event says it is gone.
    pub(super) async fn trash_in(
        &self,
        c: &impl sea_orm::ConnectionTrait,
        row: &EntryRow,
        principal: &Principal,
    ) -> ApiResult<()> {
        let at = now();
        for job in schedules::pending_of_entry(c, &row.id).await? {
            schedules::finish(c, &job.id, "cancelled", Some("entry deleted"), at).await?;
        }
        trash::put(c, row, &principal.actor_ref(), at).await?;
        append_with(
            c,
            "entry.deleted",
            row,
            principal,
            json!({ "trashed": true, "status": row.status }),
        )
        .await?;
        Ok(())
    }

    /// Trashed entries, newest deletion first: of one type (`read_drafts` on it), or of
    /// every type the caller may read drafts of. Owner-only grants see their own.
    pub async fn trash_list(
        &self,
        principal: &Principal,
        type_id: Option<&str>,
        before: Option<(DateTime<Utc>, String)>,
        limit: u64,
    ) -> ApiResult<Vec<Trashed>> {
        if let Some(t) = type_id {
            self.authz.check(principal, t, "read_drafts")?;
            self.types.get(t)?;
        } else if principal.is_anonymous() {
            return Err(ApiError::unauthenticated());
        }
        let rows = trash::list(self.store.db(), type_id, before, limit).await?;
        Ok(rows
            .into_iter()
            .filter_map(|row| {
                let grant =
                    self.authz
                        .grant_of(&principal.role, &row.entry.type_id, "read_drafts")?;
                let fields = grant.fields_for(owns(principal, &row.entry))?.clone();
                Some(Trashed {
                    row,
                    view: Visibility {
                        surface: Surface::Manage,
                        fields,
                    },
                })
            })
            .collect())
    }

    /// Puts a trashed entry back as it was (published again if it was), with a fresh slug
    /// if another entry took its slug meanwhile. Needs `delete` on its type (it undoes
    /// one). A unique value another entry took since is a 409 naming the field.
    pub async fn untrash(
        &self,
        principal: &Principal,
        id: &str,
    ) -> ApiResult<(
        EntryRow,
        Arc<crate::store::content_types::TypeRow>,
        Visibility,
    )> {
        let tx = self.store.write().await?;
        let trashed = trash::get_one(&tx.txn, id)
            .await?
            .ok_or_else(|| not_in_trash(id))?;
        let mut row = trashed.entry;
        let grant = self.authz.check(principal, &row.type_id, "delete")?;
        Self::check_owner(&grant, principal, &row, "delete")?;
        let ty = self.types.get(&row.type_id)?;
        let mut doc = row.draft.as_object().cloned().unwrap_or_default();
        if let Some(slug_field) = ty.def.slug_field()
            && let Some(slug) = row.slug.as_deref()
            && entries::slug_taken(&tx.txn, &row.type_id, &row.locale, slug, Some(id)).await?
        {
            // Derive a free one from the title, as a new entry would get.
            doc.remove(&slug_field.name);
        }
        let previous = row.draft.clone();
        row.slug = self
            .prepare_refs(
                &tx.txn,
                &ty.def,
                &row.locale.clone(),
                &mut doc,
                Some(id),
                Some(&previous),
            )
            .await
            .map_err(|mut e| {
                if e.code == Code::ValidationFailed {
                    e.code = Code::Conflict;
                    e.message = format!(
                        "the entry cannot come back as it was: {}; change the other entry first",
                        e.message
                    );
                }
                e
            })?;
        let slug_name = ty.def.slug_field().map(|f| f.name.clone());
        let slug_changed = slug_name
            .as_ref()
            .is_some_and(|n| row.draft.get(n) != doc.get(n));
        row.draft = Value::Object(doc);
        // The live copy follows the new slug too, or its URL would clash; so does a live
        // slug another entry took while this one was in the trash.
        let live_taken = match (&row.published, row.published_slug.as_deref()) {
            (Some(_), Some(live)) => {
                entries::slug_taken(&tx.txn, &row.type_id, &row.locale, live, Some(id)).await?
            }
            _ => false,
        };
        if (slug_changed || live_taken)
            && let (Some(published), Some(name), Some(slug)) =
                (row.published.as_mut(), &slug_name, &row.slug)
        {
            published[name] = Value::String(slug.clone());
            row.published_slug = Some(slug.clone());
        }
        // Its document may have got another entry in its locale meanwhile.
        let locale = [row.locale.clone()];
        let doc_id = [row.document_id.as_str()];
        if let Some(other) =
            entries::of_documents(&tx.txn, &row.type_id, &doc_id, Some(&locale), false)
                .await?
                .first()
        {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "the entry cannot come back: its document has a `{}` entry again (`{}`); delete that one first",
                    row.locale, other.id
                ),
            ));
        }
        row.rev += 1;
        row.updated_at = now();
        trash::remove(&tx.txn, id).await?;
        entries::insert(&tx.txn, &row).await?;
        append_with(
            &tx.txn,
            "entry.undeleted",
            &row,
            principal,
            json!({ "status": row.status, "stage": row.stage }),
        )
        .await?;
        if row.published_version.is_some() {
            append_with(
                &tx.txn,
                "entry.published",
                &row,
                principal,
                json!({ "status": row.status, "published_version": row.published_version }),
            )
            .await?;
        }
        let details = json!({ "version": row.version, "slug_changed": slug_changed });
        audit_entry(&tx.txn, principal, "entry.undeleted", &row, details).await?;
        tx.commit().await?;
        let view = self.manage_view(principal, &row, None);
        Ok((row, ty, view))
    }

    /// Removes a trashed entry for good, with its history (`delete` on its type).
    pub async fn purge(&self, principal: &Principal, id: &str) -> ApiResult<()> {
        let tx = self.store.write().await?;
        let trashed = trash::get_one(&tx.txn, id)
            .await?
            .ok_or_else(|| not_in_trash(id))?;
        let grant = self
            .authz
            .check(principal, &trashed.entry.type_id, "delete")?;
        Self::check_owner(&grant, principal, &trashed.entry, "delete")?;
        trash::purge(&tx.txn, id).await?;
        append_with(
            &tx.txn,
            "entry.purged",
            &trashed.entry,
            principal,
            json!({}),
        )
        .await?;
        audit_entry(
            &tx.txn,
            principal,
            "entry.purged",
            &trashed.entry,
            json!({}),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Purges what has been in the trash longer than the retention period; returns how
    /// many entries went. Runs in small batches so no transaction grows large.
    pub async fn sweep_trash(&self) -> ApiResult<usize> {
        let secs = self.settings.trash_retention_secs;
        if secs == 0 {
            return Ok(0);
        }
        let cutoff = now() - Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX / 2));
        let system = Principal::system();
        let mut purged = 0;
        loop {
            let tx = self.store.write().await?;
            let ids = trash::expired(&tx.txn, cutoff, 100).await?;
            if ids.is_empty() {
                return Ok(purged);
            }
            for id in &ids {
                if let Some(t) = trash::get_one(&tx.txn, id).await? {
                    trash::purge(&tx.txn, id).await?;
                    append_with(
                        &tx.txn,
                        "entry.purged",
                        &t.entry,
                        &system,
                        json!({ "reason": "retention", "after_secs": secs }),
                    )
                    .await?;
                }
            }
            tx.commit().await?;
            purged += ids.len();
        }
    }

    /// Prunes, for every type with `version_retention.keep_days`, the versions that rule
    /// lets go (saves prune as they happen; this catches entries nobody saves).
    pub async fn sweep_versions(&self) -> ApiResult<u64> {
        let mut pruned = 0;
        for ty in self.types.all() {
            let Some(r) = &ty.def.options.version_retention else {
                continue;
            };
            let Some(days) = r.keep_days else { continue };
            let tx = self.store.write().await?;
            pruned +=
                entries::prune_type_versions(&tx.txn, &ty.def.api_id, r.keep_last, days, now())
                    .await?;
            tx.commit().await?;
        }
        Ok(pruned)
    }

    /// The retention sweeps (trash, versions), every `trash_sweep_interval_secs` until `stop`.
    pub async fn run_trash_sweeper(&self, stop: tokio_util::sync::CancellationToken) {
        let every = self.settings.trash_sweep_interval_secs.max(1);
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(every));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {
                    match self.sweep_trash().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(purged = n, "trash retention: purged entries"),
                        Err(e) => tracing::warn!(error = %e.message, "trash retention sweep failed"),
                    }
                    match self.sweep_versions().await {
                        Ok(0) => {}
                        Ok(n) => tracing::info!(pruned = n, "version retention: pruned versions"),
                        Err(e) => tracing::warn!(error = %e.message, "version retention sweep failed"),
                    }
                }
            }
        }
    }
}
