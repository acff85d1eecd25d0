//! Scheduled publish and unpublish. `schedule` stores jobs (one pending publish and one
//! pending unpublish per entry: a new one replaces the old); `run_due` carries out what is
//! due, each job in one write transaction that claims it, acts and marks it done, so a
//! job runs once however many nodes poll. A job runs with the rights its author has when
//! it runs (a revoked user's job fails, recorded, instead of publishing), and a publish
//! puts live the version the draft had when it was scheduled (what was approved), even if
//! editing went on since.

use chrono::{DateTime, Duration, Utc};
use serde_json::json;
use tracing::instrument;

use super::{ContentService, PublishOp, append_with, audit_entry, not_found, publish_in};
use crate::authz::{Actor, Principal};
use crate::domain::now;
use crate::error::{ApiError, ApiResult, Code, FieldError};
use crate::services::new_id;
use crate::store::auth::{token_by_id, user_by_id};
use crate::store::entries;
use crate::store::schedules::{self, ScheduleRow};

/// How far ahead a job may be scheduled.
const MAX_AHEAD_DAYS: i64 = 3650;
/// A time this little in the past still counts as "now" (clock skew between a client
/// and the server).
const SKEW_SECS: i64 = 5;

fn bad_time(field: &str, message: &str) -> ApiError {
    ApiError::validation(vec![FieldError {
        field: field.into(),
        code: "invalid_time",
        message: message.into(),
    }])
}

impl ContentService {
    /// Schedules a publish and/or an unpublish of an entry (the `publish` right, and an
    /// entry the workflow lets be published when a publish is asked).
    #[instrument(skip_all, fields(content_type = %type_id, entry = %id))]
    pub async fn schedule(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        publish_at: Option<DateTime<Utc>>,
        unpublish_at: Option<DateTime<Utc>>,
    ) -> ApiResult<Vec<ScheduleRow>> {
        let grant = self.authz.check(principal, type_id, "publish")?;
        let ty = self.types.get(type_id)?;
        let at = now();
        if publish_at.is_none() && unpublish_at.is_none() {
            return Err(bad_time(
                "publish_at",
                "give `publish_at`, `unpublish_at` or both",
            ));
        }
        for (field, t) in [("publish_at", publish_at), ("unpublish_at", unpublish_at)] {
            if let Some(t) = t {
                if t < at - Duration::seconds(SKEW_SECS) {
                    return Err(bad_time(field, "the time is in the past"));
                }
                if t > at + Duration::days(MAX_AHEAD_DAYS) {
                    return Err(bad_time(field, "schedule at most ten years ahead"));
                }
            }
        }
        if let (Some(p), Some(u)) = (publish_at, unpublish_at)
            && u <= p
        {
            return Err(bad_time(
                "unpublish_at",
                "`unpublish_at` must come after `publish_at`",
            ));
        }
        if matches!(principal.actor, Actor::Anonymous | Actor::Scheduler { .. }) {
            return Err(ApiError::new(
                Code::Forbidden,
                "scheduling needs a user or an API token",
            ));
        }
        let tx = self.store.write().await?;
        let row = entries::get_one(&tx.txn, type_id, id, true)
            .await?
            .ok_or_else(|| not_found(type_id, id))?;
        Self::check_owner(&grant, principal, &row, "publish")?;
        if publish_at.is_some() {
            super::workflow::check_publishable(&ty.def, &row)?;
        }
        let pending = schedules::pending_of_entry(&tx.txn, id).await?;
        let mut made = Vec::new();
        for (action, run_at) in [("publish", publish_at), ("unpublish", unpublish_at)] {
            let Some(run_at) = run_at else { continue };
            for old in pending.iter().filter(|p| p.action == action) {
                schedules::finish(&tx.txn, &old.id, "cancelled", Some("replaced"), at).await?;
            }
            let job = ScheduleRow {
                id: new_id(),
                entry_id: row.id.clone(),
                type_id: type_id.to_string(),
                action: action.to_string(),
                run_at,
                version: (action == "publish").then_some(row.version),
                status: "pending".into(),
                created_by: principal.actor_ref(),
                created_at: at,
                done_at: None,
                error: None,
            };
            schedules::insert(&tx.txn, &job).await?;
            made.push(job);
        }
        let details = json!({
            "jobs": made.iter().map(|j| json!({ "id": j.id, "action": j.action,
                "run_at": crate::domain::fmt_ts(&j.run_at), "version": j.version })).collect::<Vec<_>>()
        });
        append_with(&tx.txn, "entry.scheduled", &row, principal, details.clone()).await?;
        audit_entry(&tx.txn, principal, "entry.scheduled", &row, details).await?;
        tx.commit().await?;
        self.scheduled.notify_one();
        Ok(made)
    }

    /// An entry's jobs, newest first (for whoever may read its draft).
    pub async fn schedules_of(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
    ) -> ApiResult<Vec<ScheduleRow>> {
        self.get(principal, type_id, id).await?;
        Ok(schedules::of_entry(self.store.db(), id).await?)
    }

    /// Pending jobs of the entries the caller may read drafts of, soonest first. An
    /// owner-only grant shows the jobs of the caller's own entries, as `…/schedule` does.
    pub async fn pending_schedules(&self, principal: &Principal) -> ApiResult<Vec<ScheduleRow>> {
        if principal.is_anonymous() {
            return Err(ApiError::unauthenticated());
        }
        let jobs = schedules::with_status(self.store.db(), "pending", 500).await?;
        let mut visible = Vec::new();
        for j in jobs {
            let Some(grant) = self
                .authz
                .grant_of(&principal.role, &j.type_id, "read_drafts")
            else {
                continue;
            };
            // Owner-only grants are rare and callers without a user own nothing, so the
            // entry is read only when ownership decides.
            let readable = !grant.owner_only()
                || (principal.user_id().is_some()
                    && entries::get_one(self.store.db(), &j.type_id, &j.entry_id, false)
                        .await?
                        .is_some_and(|row| super::owns(principal, &row)));
            if readable {
                visible.push(j);
            }
        }
        Ok(visible)
    }

    /// Cancels a pending job (the `publish` right on its entry).
    pub async fn cancel_schedule(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        job_id: &str,
    ) -> ApiResult<()> {
        let grant = self.authz.check(principal, type_id, "publish")?;
        self.types.get(type_id)?;
        let tx = self.store.write().await?;
        let row = entries::get_one(&tx.txn, type_id, id, true)
            .await?
            .ok_or_else(|| not_found(type_id, id))?;
        Self::check_owner(&grant, principal, &row, "publish")?;
        let job = schedules::by_id(&tx.txn, job_id)
            .await?
            .filter(|j| j.entry_id == row.id)
            .ok_or_else(|| {
                ApiError::new(
                    Code::NotFound,
                    format!(
                        "entry `{id}` has no scheduled job `{}`",
                        crate::error::clip(job_id)
                    ),
                )
            })?;
        if job.status != "pending" {
            return Err(ApiError::new(
                Code::Conflict,
                format!("the job is already {} and cannot be cancelled", job.status),
            ));
        }
        schedules::finish(&tx.txn, &job.id, "cancelled", None, now()).await?;
        let details = json!({ "job": job.id, "action": job.action });
        append_with(
            &tx.txn,
            "entry.schedule_cancelled",
            &row,
            principal,
            details.clone(),
        )
        .await?;
        audit_entry(
            &tx.txn,
            principal,
            "entry.schedule_cancelled",
            &row,
            details,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Carries out every job that is due; returns how many ran (done or failed).
    pub async fn run_due(&self) -> ApiResult<usize> {
        let mut ran = 0;
        while self.run_one_due().await? {
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs this node's scheduler until `stop`: what is due at once, then waits until the
    /// next job is due (at most a second, so jobs added on other nodes are seen soon), or
    /// until this node schedules one. Missed times (the server was down) run on start.
    pub async fn run_scheduler(&self, stop: tokio_util::sync::CancellationToken) {
        loop {
            if let Err(e) = self.run_due().await {
                tracing::warn!(error = %e.message, "the scheduler could not run due jobs");
            }
            let wait = match self.next_due().await {
                Ok(Some(t)) => (t - now())
                    .to_std()
                    .unwrap_or_default()
                    .min(std::time::Duration::from_secs(1)),
                _ => std::time::Duration::from_secs(1),
            };
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                _ = self.scheduled.notified() => {}
            }
        }
    }

    /// When the next pending job is due.
    pub async fn next_due(&self) -> ApiResult<Option<DateTime<Utc>>> {
        Ok(schedules::next_due(self.store.db()).await?)
    }

    /// Claims, runs and closes one due job in one transaction. A failure of the job itself
    /// (rights gone, entry deleted, data no longer valid) is recorded as `failed`; a
    /// database failure rolls everything back and the job stays due.
    async fn run_one_due(&self) -> ApiResult<bool> {
        let tx = self.store.write().await?;
        let Some(job) = schedules::claim_due(&tx.txn, now()).await? else {
            return Ok(false);
        };
        let outcome = self.carry_out(&tx.txn, &job).await;
        let at = now();
        match outcome {
            Ok(()) => {
                schedules::finish(&tx.txn, &job.id, "done", None, at).await?;
            }
            Err(e) if e.code == Code::Internal => return Err(e),
            Err(e) => {
                tracing::warn!(job = %job.id, error = %e.message, "scheduled job failed");
                schedules::finish(&tx.txn, &job.id, "failed", Some(&e.message), at).await?;
            }
        }
        tx.commit().await?;
        Ok(true)
    }

    async fn carry_out(
        &self,
        c: &sea_orm::DatabaseTransaction,
        job: &ScheduleRow,
    ) -> ApiResult<()> {
        let principal = self.principal_of_job(c, &job.created_by).await?;
        let action = if job.action == "publish" {
            "publish"
        } else {
            "unpublish"
        };
        let grant = self.authz.check(&principal, &job.type_id, "publish")?;
        // Another node may have made the type a moment ago, before this node's follower
        // applied it: look it up in the store before calling it missing.
        let ty = match self.types.get(&job.type_id) {
            Ok(ty) => ty,
            Err(_) => {
                self.types.reload(&self.store).await?;
                self.types.get(&job.type_id)?
            }
        };
        let mut row = entries::get_one(c, &job.type_id, &job.entry_id, true)
            .await?
            .ok_or_else(|| not_found(&job.type_id, &job.entry_id))?;
        Self::check_owner(&grant, &principal, &row, action)?;
        let op = match job.action.as_str() {
            "publish" => PublishOp::Publish(job.version),
            _ => PublishOp::Unpublish,
        };
        publish_in(c, &ty.def, &mut row, op, &principal).await?;
        Ok(())
    }

    /// The scheduler acting for whoever scheduled the job, with their rights now.
    async fn principal_of_job(
        &self,
        c: &sea_orm::DatabaseTransaction,
        created_by: &str,
    ) -> ApiResult<Principal> {
        let gone = || {
            ApiError::new(
                Code::Forbidden,
                format!("`{created_by}`, who scheduled this, can no longer act"),
            )
        };
        let role = if let Some(uid) = created_by.strip_prefix("user:") {
            user_by_id(c, uid)
                .await?
                .filter(|u| u.active)
                .ok_or_else(gone)?
                .role
        } else if let Some(tid) = created_by.strip_prefix("token:") {
            token_by_id(c, tid)
                .await?
                .filter(|t| t.revoked_at.is_none() && t.expires_at.is_none_or(|e| e > Utc::now()))
                .ok_or_else(gone)?
                .role
        } else {
            return Err(gone());
        };
        Ok(Principal {
            actor: Actor::Scheduler {
                on_behalf_of: created_by.to_string(),
            },
            role,
            origin: Default::default(),
        })
    }
}
