//! Review comments on an entry's draft: threads (replies name a parent on the same
//! entry), `@name@example.com` mentions resolved to the users who may read the draft,
//! resolve and reopen. Whoever may read the draft reads and writes comments; a comment's
//! text is changed or removed only by its author or by someone who may delete the entry.
//! Each change is an event and an audit record; neither carries the text.

use std::sync::LazyLock;

use serde_json::{Value, json};

use super::{ContentService, append_with, audit_entry, not_found};
use crate::authz::{Actor, Principal};
use crate::domain::now;
use crate::error::{ApiError, ApiResult, Code, FieldError, clip};
use crate::services::new_id;
use crate::store::auth::user_by_email;
use crate::store::comments::{self, CommentRow};
use crate::store::entries::{self, EntryRow};

const MAX_BODY: usize = 10_000;
const MAX_COMMENTS: i64 = 2000;
const MAX_MENTIONS: usize = 20;

static MENTION: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(r"(?:^|[\s(])@([A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
        .expect("the mention pattern is valid")
});

/// A change to a comment.
pub struct CommentPatch {
    pub body: Option<String>,
    pub resolved: Option<bool>,
}

fn comment_missing(id: &str) -> ApiError {
    ApiError::new(
        Code::NotFound,
        format!("this entry has no comment `{}`", clip(id)),
    )
}

fn check_body(body: &str) -> ApiResult<String> {
    let body = body.trim();
    let err = |code: &'static str, message: String| {
        ApiError::validation(vec![FieldError {
            field: "body".into(),
            code,
            message,
        }])
    };
    if body.is_empty() {
        return Err(err("required", "write something".into()));
    }
    if body.chars().count() > MAX_BODY {
        return Err(err(
            "max_length",
            format!("use at most {MAX_BODY} characters"),
        ));
    }
    Ok(body.to_string())
}

impl ContentService {
    /// The entry, if the caller may read its draft (as `get` decides).
    async fn commentable(
        &self,
        c: &impl sea_orm::ConnectionTrait,
        principal: &Principal,
        type_id: &str,
        id: &str,
    ) -> ApiResult<EntryRow> {
        let grant = self.authz.check(principal, type_id, "read_drafts")?;
        self.types.get(type_id)?;
        let row = entries::get_one(c, type_id, id, false)
            .await?
            .ok_or_else(|| not_found(type_id, id))?;
        grant
            .fields_for(super::owns(principal, &row))
            .ok_or_else(|| not_found(type_id, id))?;
        Ok(row)
    }

    /// The mentioned users who may read this entry's draft, as `[{user_id, email}]`.
    async fn mentions(
        &self,
        c: &impl sea_orm::ConnectionTrait,
        row: &EntryRow,
        body: &str,
    ) -> ApiResult<Value> {
        let mut out: Vec<Value> = Vec::new();
        for cap in MENTION.captures_iter(body).take(MAX_MENTIONS) {
            let Some(email) = cap.get(1).map(|m| m.as_str().to_lowercase()) else {
                continue;
            };
            let Some(user) = user_by_email(c, &email).await?.filter(|u| u.active) else {
                continue;
            };
            let reader = Principal {
                actor: Actor::User {
                    id: user.id.clone(),
                    email: user.email.clone(),
                },
                role: user.role.clone(),
                origin: Default::default(),
            };
            let may_read = self
                .authz
                .grant_of(&reader.role, &row.type_id, "read_drafts")
                .is_some_and(|g| g.fields_for(super::owns(&reader, row)).is_some());
            if may_read && !out.iter().any(|m| m["user_id"] == user.id.as_str()) {
                out.push(json!({ "user_id": user.id, "email": user.email }));
            }
        }
        Ok(Value::Array(out))
    }

    pub async fn comments(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
    ) -> ApiResult<Vec<CommentRow>> {
        let db = self.store.db();
        self.commentable(db, principal, type_id, id).await?;
        Ok(comments::of_entry(db, id).await?)
    }

    pub async fn add_comment(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        body: &str,
        parent_id: Option<&str>,
    ) -> ApiResult<CommentRow> {
        if principal.is_anonymous() {
            return Err(ApiError::unauthenticated());
        }
        let body = check_body(body)?;
        let tx = self.store.write().await?;
        let row = self.commentable(&tx.txn, principal, type_id, id).await?;
        if let Some(p) = parent_id
            && comments::by_id(&tx.txn, p)
                .await?
                .is_none_or(|c| c.entry_id != row.id)
        {
            return Err(ApiError::validation(vec![FieldError {
                field: "parent_id".into(),
                code: "invalid_reference",
                message: format!("this entry has no comment `{}` to reply to", clip(p)),
            }]));
        }
        if comments::count_of_entry(&tx.txn, id).await? >= MAX_COMMENTS {
            return Err(ApiError::new(
                Code::Conflict,
                format!("an entry holds at most {MAX_COMMENTS} comments; remove resolved ones"),
            ));
        }
        let at = now();
        let comment = CommentRow {
            id: new_id(),
            entry_id: row.id.clone(),
            type_id: type_id.to_string(),
            parent_id: parent_id.map(str::to_string),
            author: principal.actor_ref(),
            author_label: match &principal.actor {
                Actor::User { email, .. } => Some(email.clone()),
                _ => None,
            },
            mentions: self.mentions(&tx.txn, &row, &body).await?,
            body,
            resolved_at: None,
            resolved_by: None,
            created_at: at,
            updated_at: at,
        };
        comments::insert(&tx.txn, &comment).await?;
        self.comment_changed(&tx.txn, "comment.created", &row, &comment, principal)
            .await?;
        tx.commit().await?;
        Ok(comment)
    }

    /// Edits the text (its author only) and/or resolves or reopens (any reader).
    pub async fn change_comment(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        comment_id: &str,
        patch: CommentPatch,
    ) -> ApiResult<CommentRow> {
        let body = patch.body.as_deref().map(check_body).transpose()?;
        let tx = self.store.write().await?;
        let row = self.commentable(&tx.txn, principal, type_id, id).await?;
        let mut comment = comments::by_id(&tx.txn, comment_id)
            .await?
            .filter(|c| c.entry_id == row.id)
            .ok_or_else(|| comment_missing(comment_id))?;
        let mut kinds = Vec::new();
        if let Some(body) = body {
            if comment.author != principal.actor_ref() {
                return Err(ApiError::new(
                    Code::Forbidden,
                    "only its author can change a comment's text",
                ));
            }
            comment.mentions = self.mentions(&tx.txn, &row, &body).await?;
            comment.body = body;
            kinds.push("comment.updated");
        }
        match patch.resolved {
            Some(true) if comment.resolved_at.is_none() => {
                comment.resolved_at = Some(now());
                comment.resolved_by = Some(principal.actor_ref());
                kinds.push("comment.resolved");
            }
            Some(false) if comment.resolved_at.is_some() => {
                comment.resolved_at = None;
                comment.resolved_by = None;
                kinds.push("comment.reopened");
            }
            _ => {}
        }
        if kinds.is_empty() {
            return Ok(comment);
        }
        comment.updated_at = now();
        comments::update(&tx.txn, &comment).await?;
        for kind in kinds {
            self.comment_changed(&tx.txn, kind, &row, &comment, principal)
                .await?;
        }
        tx.commit().await?;
        Ok(comment)
    }

    /// Removes a comment and its replies: its author, or someone who may delete the entry.
    pub async fn delete_comment(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        comment_id: &str,
    ) -> ApiResult<()> {
        let tx = self.store.write().await?;
        let row = self.commentable(&tx.txn, principal, type_id, id).await?;
        let comment = comments::by_id(&tx.txn, comment_id)
            .await?
            .filter(|c| c.entry_id == row.id)
            .ok_or_else(|| comment_missing(comment_id))?;
        let may_delete_entry = self
            .authz
            .grant_of(&principal.role, type_id, "delete")
            .is_some_and(|g| g.fields_for(super::owns(principal, &row)).is_some());
        if comment.author != principal.actor_ref() && !may_delete_entry {
            return Err(ApiError::new(
                Code::Forbidden,
                "only its author, or someone who may delete the entry, can remove a comment",
            ));
        }
        comments::delete_thread(&tx.txn, &row.id, &comment.id).await?;
        self.comment_changed(&tx.txn, "comment.deleted", &row, &comment, principal)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn comment_changed(
        &self,
        c: &impl sea_orm::ConnectionTrait,
        kind: &'static str,
        row: &EntryRow,
        comment: &CommentRow,
        principal: &Principal,
    ) -> ApiResult<()> {
        let payload = json!({
            "comment_id": comment.id, "parent_id": comment.parent_id,
            "mentions": comment.mentions, "resolved": comment.resolved_at.is_some(),
        });
        append_with(c, kind, row, principal, payload.clone()).await?;
        audit_entry(c, principal, kind, row, payload).await
    }
}
