//! The audit log: appended only by [`insert`], read newest first with filters. There is
//! no statement here (or anywhere) that changes or removes a row.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value;

use super::{Sql, get};

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub seq: i64,
    pub created_at: DateTime<Utc>,
    /// `user:<id>`, `token:<id>`, `anonymous`, `system` or `scheduler`.
    pub actor: String,
    /// The user's email or the token's name, as it was then.
    pub actor_label: Option<String>,
    /// e.g. `auth.login`, `entry.updated`, `policy.created`.
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub content_type: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: Value,
}

pub async fn insert(c: &impl ConnectionTrait, a: &AuditRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO audit_log (created_at, actor, actor_label, action, resource, resource_id, content_type, ip, user_agent, details) VALUES (")
        .bind_ts(a.created_at).push(", ")
        .bind(a.actor.as_str()).push(", ")
        .bind(a.actor_label.clone()).push(", ")
        .bind(a.action.as_str()).push(", ")
        .bind(a.resource.as_str()).push(", ")
        .bind(a.resource_id.clone()).push(", ")
        .bind(a.content_type.clone()).push(", ")
        .bind(a.ip.clone()).push(", ")
        .bind(a.user_agent.clone()).push(", ")
        .bind_json(&a.details).push(")");
    q.execute(c).await.map(|_| ())
}

/// What a reader of the log may narrow it to.
#[derive(Debug, Default, Clone)]
pub struct AuditFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub resource: Option<String>,
    pub resource_id: Option<String>,
    pub content_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Only records older than this sequence number (the keyset cursor).
    pub before: Option<i64>,
}

/// Records matching the filter, newest first.
pub async fn list(
    c: &impl ConnectionTrait,
    f: &AuditFilter,
    limit: u64,
) -> Result<Vec<AuditRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT seq, created_at, actor, actor_label, action, resource, resource_id, content_type, ip, user_agent, details FROM audit_log WHERE 1 = 1");
    let text = [
        ("actor", &f.actor),
        ("action", &f.action),
        ("resource", &f.resource),
        ("resource_id", &f.resource_id),
        ("content_type", &f.content_type),
    ];
    for (col, value) in text {
        if let Some(v) = value {
            q.push(&format!(" AND {col} = ")).bind(v.clone());
        }
    }
    if let Some(t) = f.since {
        q.push(" AND created_at >= ").bind_ts(t);
    }
    if let Some(t) = f.until {
        q.push(" AND created_at < ").bind_ts(t);
    }
    if let Some(b) = f.before {
        q.push(" AND seq < ").bind(b);
    }
    q.push(" ORDER BY seq DESC LIMIT ").bind(limit as i64);
    q.fetch_all(c)
        .await?
        .iter()
        .map(|r| {
            Ok(AuditRow {
                seq: get(r, "seq")?,
                created_at: get(r, "created_at")?,
                actor: get(r, "actor")?,
                actor_label: get(r, "actor_label")?,
                action: get(r, "action")?,
                resource: get(r, "resource")?,
                resource_id: get(r, "resource_id")?,
                content_type: get(r, "content_type")?,
                ip: get(r, "ip")?,
                user_agent: get(r, "user_agent")?,
                details: get(r, "details")?,
            })
        })
        .collect()
}
