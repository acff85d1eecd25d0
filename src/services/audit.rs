//! Writing the audit log: one record per action a person or token takes (logins, schema,
//! entries, moves, publishing, comments, permissions, users, tokens), in the same
//! transaction as the change, with who, from where and what. Reading it is the admin
//! service's (`audit` right); nothing edits or removes a record.

use serde_json::Value;

use crate::authz::{Actor, Principal};
use crate::domain::now;
use crate::error::ApiResult;
use crate::store::audit::{AuditRow, insert};

/// What was done to what.
pub struct AuditEntry<'a> {
    pub action: &'a str,
    pub resource: &'a str,
    pub resource_id: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub details: Value,
}

/// Appends one record for `principal` (`None`: the CLI or start-up).
pub async fn record(
    c: &impl sea_orm::ConnectionTrait,
    principal: Option<&Principal>,
    entry: AuditEntry<'_>,
) -> ApiResult<()> {
    let (actor, label, origin) = match principal {
        Some(p) => (
            p.actor_ref(),
            match &p.actor {
                Actor::User { email, .. } => Some(email.clone()),
                _ => None,
            },
            Some(&p.origin),
        ),
        None => ("system".to_string(), None, None),
    };
    let row = AuditRow {
        seq: 0,
        created_at: now(),
        actor,
        actor_label: label,
        action: entry.action.to_string(),
        resource: entry.resource.to_string(),
        resource_id: entry.resource_id.map(|s| s.chars().take(128).collect()),
        content_type: entry.content_type.map(str::to_string),
        ip: origin.and_then(|o| o.ip.clone()),
        user_agent: origin.and_then(|o| o.user_agent.clone()),
        details: entry.details,
    };
    insert(c, &row).await?;
    Ok(())
}
