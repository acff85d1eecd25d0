//! Review comments on entries.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use serde_json::Value;

use super::{Sql, get};

#[derive(Debug, Clone)]
pub struct CommentRow {
    pub id: String,
    pub entry_id: String,
    pub type_id: String,
    pub parent_id: Option<String>,
    /// `user:<id>` or `token:<id>`.
    pub author: String,
    pub author_label: Option<String>,
    pub body: String,
    /// `[{"user_id", "email"}]`: the mentions that resolved to users.
    pub mentions: Value,
    pub resolved_at: Option<DateTime<Utc>>,
    pub resolved_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "id, entry_id, type_id, parent_id, author, author_label, body, mentions, resolved_at, resolved_by, created_at, updated_at";

fn from_row(r: &QueryResult) -> Result<CommentRow, DbErr> {
    Ok(CommentRow {
        id: get(r, "id")?,
        entry_id: get(r, "entry_id")?,
        type_id: get(r, "type_id")?,
        parent_id: get(r, "parent_id")?,
        author: get(r, "author")?,
        author_label: get(r, "author_label")?,
        body: get(r, "body")?,
        mentions: get(r, "mentions")?,
        resolved_at: get(r, "resolved_at")?,
        resolved_by: get(r, "resolved_by")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

pub async fn insert(c: &impl ConnectionTrait, m: &CommentRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("INSERT INTO entry_comments ({COLS}) VALUES ("))
        .bind(m.id.as_str())
        .push(", ")
        .bind(m.entry_id.as_str())
        .push(", ")
        .bind(m.type_id.as_str())
        .push(", ")
        .bind(m.parent_id.clone())
        .push(", ")
        .bind(m.author.as_str())
        .push(", ")
        .bind(m.author_label.clone())
        .push(", ")
        .bind(m.body.as_str())
        .push(", ")
        .bind_json(&m.mentions)
        .push(", ")
        .bind_ts_opt(m.resolved_at)
        .push(", ")
        .bind(m.resolved_by.clone())
        .push(", ")
        .bind_ts(m.created_at)
        .push(", ")
        .bind_ts(m.updated_at)
        .push(")");
    q.execute(c).await.map(|_| ())
}

pub async fn update(c: &impl ConnectionTrait, m: &CommentRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE entry_comments SET body = ")
        .bind(m.body.as_str())
        .push(", mentions = ")
        .bind_json(&m.mentions)
        .push(", resolved_at = ")
        .bind_ts_opt(m.resolved_at)
        .push(", resolved_by = ")
        .bind(m.resolved_by.clone())
        .push(", updated_at = ")
        .bind_ts(m.updated_at)
        .push(" WHERE id = ")
        .bind(m.id.as_str());
    q.execute(c).await.map(|_| ())
}

/// Deletes a comment and every reply below it; returns how many went.
pub async fn delete_thread(
    c: &impl ConnectionTrait,
    entry_id: &str,
    id: &str,
) -> Result<u64, DbErr> {
    let all = of_entry(c, entry_id).await?;
    let mut doomed = vec![id.to_string()];
    let mut i = 0;
    while i < doomed.len() {
        let parent = doomed[i].clone();
        doomed.extend(
            all.iter()
                .filter(|m| m.parent_id.as_deref() == Some(parent.as_str()))
                .map(|m| m.id.clone()),
        );
        i += 1;
    }
    let mut n = 0;
    for d in &doomed {
        let mut q = Sql::new(c.get_database_backend());
        q.push("DELETE FROM entry_comments WHERE id = ")
            .bind(d.as_str());
        n += q.execute(c).await?;
    }
    Ok(n)
}

/// An entry's comments, oldest first (at most 2000).
pub async fn of_entry(c: &impl ConnectionTrait, entry_id: &str) -> Result<Vec<CommentRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!(
        "SELECT {COLS} FROM entry_comments WHERE entry_id = "
    ))
    .bind(entry_id)
    .push(" ORDER BY created_at, id LIMIT 2000");
    q.fetch_all(c).await?.iter().map(from_row).collect()
}

pub async fn by_id(c: &impl ConnectionTrait, id: &str) -> Result<Option<CommentRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("SELECT {COLS} FROM entry_comments WHERE id = "))
        .bind(id);
    q.fetch_one(c).await?.as_ref().map(from_row).transpose()
}

pub async fn count_of_entry(c: &impl ConnectionTrait, entry_id: &str) -> Result<i64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT COUNT(*) AS n FROM entry_comments WHERE entry_id = ")
        .bind(entry_id);
    match q.fetch_one(c).await? {
        Some(r) => get(&r, "n"),
        None => Ok(0),
    }
}
