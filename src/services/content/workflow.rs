//! Moving entries through their type's review workflow (`domain::workflow`): the
//! `transition` operation, the stage rules that create, update, publish and unpublish
//! follow, and the record of every move (who, when, from, to, comment) with its event.

use std::sync::Arc;

use serde_json::json;
use tracing::instrument;

use super::{ContentService, append_with, entry_etag, not_found, stale};
use crate::authz::{Principal, is_transition_action};
use crate::domain::access::Visibility;
use crate::domain::workflow::{PUBLISHED, WorkflowDef};
use crate::domain::{now, schema::ContentTypeDef};
use crate::error::{ApiError, ApiResult, Code, FieldError};
use crate::services::{if_match_ok, new_id};
use crate::store::content_types::TypeRow;
use crate::store::entries::{self, EntryRow};
use crate::store::workflow::{TransitionRow, insert_transition, list_transitions};

const MAX_COMMENT: usize = 2000;

/// The stage a new entry starts in.
pub(super) fn first_stage(ty: &ContentTypeDef) -> String {
    ty.workflow()
        .map(|w| w.first_stage().to_string())
        .unwrap_or_else(|| "draft".into())
}

/// Refuses a publish outside the workflow's publishable stage.
pub(super) fn check_publishable(ty: &ContentTypeDef, row: &EntryRow) -> ApiResult<()> {
    let Some(wf) = ty.workflow() else {
        return Ok(());
    };
    if row.stage == wf.publish_stage || row.stage == PUBLISHED {
        return Ok(());
    }
    Err(ApiError::new(
        Code::TransitionNotAllowed,
        format!(
            "`{}` entries are published from stage `{}`; this one is in `{}` (move it with …/transition first)",
            ty.api_id, wf.publish_stage, row.stage
        ),
    )
    .with_details(json!({ "stage": row.stage, "publish_stage": wf.publish_stage })))
}

/// A content change of an approved or published entry sends it back to the first stage:
/// what was approved is no longer what is there. Returns the recorded move, if any.
pub(super) fn stage_after_edit(
    ty: &ContentTypeDef,
    row: &mut EntryRow,
) -> Option<(String, String)> {
    let wf = ty.workflow()?;
    if row.stage != wf.publish_stage && row.stage != PUBLISHED {
        return None;
    }
    let from = std::mem::replace(&mut row.stage, wf.first_stage().to_string());
    (from != row.stage).then(|| (from, row.stage.clone()))
}

/// Records a stage change and its event inside the caller's transaction.
pub(super) async fn record_move(
    c: &impl sea_orm::ConnectionTrait,
    row: &EntryRow,
    principal: &Principal,
    from: &str,
    comment: Option<String>,
) -> ApiResult<()> {
    let rec = TransitionRow {
        id: new_id(),
        entry_id: row.id.clone(),
        type_id: row.type_id.clone(),
        from_stage: from.to_string(),
        to_stage: row.stage.clone(),
        actor: Some(principal.actor_ref()),
        comment: comment.clone(),
        created_at: row.updated_at,
    };
    insert_transition(c, &rec).await?;
    append_with(
        c,
        "entry.transitioned",
        row,
        principal,
        json!({ "from": from, "to": row.stage, "comment": comment, "status": row.status }),
    )
    .await?;
    Ok(())
}

fn check_comment(comment: Option<String>) -> ApiResult<Option<String>> {
    match comment.map(|c| c.trim().to_string()) {
        Some(c) if c.chars().count() > MAX_COMMENT => Err(ApiError::validation(vec![FieldError {
            field: "comment".into(),
            code: "max_length",
            message: format!("use at most {MAX_COMMENT} characters"),
        }])),
        Some(c) if c.is_empty() => Ok(None),
        other => Ok(other),
    }
}

fn no_such_stage(wf: &WorkflowDef, to: &str) -> ApiError {
    ApiError::validation(vec![FieldError {
        field: "to".into(),
        code: "invalid_enum",
        message: format!(
            "`{}` is not a stage of this workflow; use one of: {}",
            to.chars().take(40).collect::<String>(),
            wf.stages.join(", ")
        ),
    }])
}

impl ContentService {
    /// Moves an entry to stage `to`: the caller needs `transition:<to>` on the type (an
    /// owner condition limits it to their own entries), the workflow must have the move
    /// from the current stage, and a move naming roles must name the caller's.
    #[instrument(skip_all, fields(content_type = %type_id, entry = %id))]
    pub async fn transition(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        to: &str,
        comment: Option<String>,
        if_match: Option<&str>,
    ) -> ApiResult<(EntryRow, Arc<TypeRow>, Visibility)> {
        let action = format!("transition:{to}");
        if !is_transition_action(&action) || to == "*" {
            return Err(ApiError::validation(vec![FieldError {
                field: "to".into(),
                code: "invalid_format",
                message: "name a stage, e.g. `in_review`".into(),
            }]));
        }
        let grant = self.authz.check(principal, type_id, &action)?;
        let ty = self.types.get(type_id)?;
        let Some(wf) = ty.def.workflow() else {
            return Err(ApiError::new(
                Code::TransitionNotAllowed,
                format!(
                    "`{type_id}` has no review workflow; turn it on with `options.workflow` (e.g. \"default\")"
                ),
            ));
        };
        if !wf.stages.iter().any(|s| s == to) {
            return Err(no_such_stage(&wf, to));
        }
        let comment = check_comment(comment)?;
        let tx = self.store.write().await?;
        let mut row = entries::get_one(&tx.txn, type_id, id, true)
            .await?
            .ok_or_else(|| not_found(type_id, id))?;
        Self::check_owner(&grant, principal, &row, &action)?;
        if !if_match_ok(if_match, &entry_etag(&row)) {
            return Err(stale(&row));
        }
        let Some(rule) = wf.transition(&row.stage, to) else {
            let next = wf.next_stages(&row.stage);
            return Err(ApiError::new(
                Code::TransitionNotAllowed,
                format!(
                    "this workflow has no move from `{}` to `{to}`; from `{}` an entry can move to: {}",
                    row.stage,
                    row.stage,
                    if next.is_empty() { "nothing".to_string() } else { next.join(", ") }
                ),
            )
            .with_details(json!({ "stage": row.stage, "allowed": next })));
        };
        if let Some(roles) = &rule.roles {
            let mine = self.authz.role_and_parents(&principal.role);
            if !roles.iter().any(|r| mine.contains(r)) {
                return Err(ApiError::new(
                    Code::Forbidden,
                    format!(
                        "moving from `{}` to `{to}` is for the roles {}",
                        row.stage,
                        roles.join(", ")
                    ),
                ));
            }
        }
        let from = std::mem::replace(&mut row.stage, to.to_string());
        row.rev += 1;
        row.updated_at = now();
        entries::update(&tx.txn, &row).await?;
        let details = json!({ "from": from, "to": row.stage, "comment": comment });
        record_move(&tx.txn, &row, principal, &from, comment).await?;
        super::audit_entry(&tx.txn, principal, "entry.transitioned", &row, details).await?;
        tx.commit().await?;
        let view = self.manage_view(principal, &row, None);
        Ok((row, ty, view))
    }

    /// An entry's stage changes, oldest first (for whoever may read its draft).
    pub async fn transitions(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
    ) -> ApiResult<Vec<TransitionRow>> {
        self.get(principal, type_id, id).await?;
        Ok(list_transitions(self.store.db(), id).await?)
    }
}
