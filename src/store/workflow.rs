//! The record of entries' stage changes.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use super::{Sql, get};

#[derive(Debug, Clone)]
pub struct TransitionRow {
    pub id: String,
    pub entry_id: String,
    pub type_id: String,
    pub from_stage: String,
    pub to_stage: String,
    pub actor: Option<String>,
    pub comment: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_transition(c: &impl ConnectionTrait, t: &TransitionRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO entry_transitions (id, entry_id, type_id, from_stage, to_stage, actor, comment, created_at) VALUES (")
        .bind(t.id.as_str()).push(", ")
        .bind(t.entry_id.as_str()).push(", ")
        .bind(t.type_id.as_str()).push(", ")
        .bind(t.from_stage.as_str()).push(", ")
        .bind(t.to_stage.as_str()).push(", ")
        .bind(t.actor.clone()).push(", ")
        .bind(t.comment.clone()).push(", ")
        .bind_ts(t.created_at).push(")");
    q.execute(c).await.map(|_| ())
}

/// An entry's stage changes, oldest first.
pub async fn list_transitions(
    c: &impl ConnectionTrait,
    entry_id: &str,
) -> Result<Vec<TransitionRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT id, entry_id, type_id, from_stage, to_stage, actor, comment, created_at FROM entry_transitions WHERE entry_id = ")
        .bind(entry_id)
        .push(" ORDER BY created_at, id LIMIT 1000");
    q.fetch_all(c)
        .await?
        .iter()
        .map(|r| {
            Ok(TransitionRow {
                id: get(r, "id")?,
                entry_id: get(r, "entry_id")?,
                type_id: get(r, "type_id")?,
                from_stage: get(r, "from_stage")?,
                to_stage: get(r, "to_stage")?,
                actor: get(r, "actor")?,
                comment: get(r, "comment")?,
                created_at: get(r, "created_at")?,
            })
        })
        .collect()
}
