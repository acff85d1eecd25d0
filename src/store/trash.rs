//! Trashed entries: the whole row as a JSON document, out of `entries` (so no list, slug
//! or relation sees it) but with its versions kept, until restored or purged.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::{Value, json};

use super::entries::EntryRow;
use super::{Sql, get};
use crate::domain::fmt_ts;

#[derive(Debug, Clone)]
pub struct TrashRow {
    pub entry: EntryRow,
    pub deleted_at: DateTime<Utc>,
    pub deleted_by: Option<String>,
}

fn to_doc(e: &EntryRow) -> Value {
    json!({
        "id": e.id, "type_id": e.type_id, "locale": e.locale, "document_id": e.document_id, "owner": e.owner,
        "status": e.status, "stage": e.stage, "slug": e.slug,
        "published_slug": e.published_slug, "version": e.version,
        "published_version": e.published_version, "rev": e.rev, "draft": e.draft,
        "published": e.published, "created_at": fmt_ts(&e.created_at),
        "updated_at": fmt_ts(&e.updated_at), "published_at": e.published_at.as_ref().map(fmt_ts),
    })
}

fn from_doc(d: &Value) -> Result<EntryRow, DbErr> {
    let bad = || DbErr::Custom("a trashed entry could not be read back".into());
    let s = |k: &str| d[k].as_str().map(str::to_string).ok_or_else(bad);
    let ts = |k: &str| -> Result<Option<DateTime<Utc>>, DbErr> {
        match d[k].as_str() {
            None => Ok(None),
            Some(t) => DateTime::parse_from_rfc3339(t)
                .map(|t| Some(t.with_timezone(&Utc)))
                .map_err(|_| bad()),
        }
    };
    Ok(EntryRow {
        id: s("id")?,
        type_id: s("type_id")?,
        locale: s("locale")?,
        // Rows trashed before documents were kept: each was its own document.
        document_id: s("document_id").or_else(|_| s("id"))?,
        owner: d["owner"].as_str().map(str::to_string),
        status: s("status")?,
        stage: s("stage")?,
        slug: d["slug"].as_str().map(str::to_string),
        // Rows trashed before the published slug was kept: the draft's stood for both.
        published_slug: d["published_slug"]
            .as_str()
            .or_else(|| {
                d["published_version"]
                    .is_i64()
                    .then(|| d["slug"].as_str())
                    .flatten()
            })
            .map(str::to_string),
        version: d["version"].as_i64().ok_or_else(bad)? as i32,
        published_version: d["published_version"].as_i64().map(|n| n as i32),
        rev: d["rev"].as_i64().ok_or_else(bad)?,
        draft: d["draft"].clone(),
        published: Some(d["published"].clone()).filter(|v| !v.is_null()),
        created_at: ts("created_at")?.ok_or_else(bad)?,
        updated_at: ts("updated_at")?.ok_or_else(bad)?,
        published_at: ts("published_at")?,
    })
}

pub async fn put(
    c: &impl ConnectionTrait,
    e: &EntryRow,
    by: &str,
    at: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(
        "INSERT INTO trash (id, type_id, locale, owner, entry, deleted_at, deleted_by) VALUES (",
    )
    .bind(e.id.as_str())
    .push(", ")
    .bind(e.type_id.as_str())
    .push(", ")
    .bind(e.locale.as_str())
    .push(", ")
    .bind(e.owner.clone())
    .push(", ")
    .bind_json(&to_doc(e))
    .push(", ")
    .bind_ts(at)
    .push(", ")
    .bind(by)
    .push(")");
    q.execute(c).await?;
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM entries WHERE id = ")
        .bind(e.id.as_str());
    q.execute(c).await.map(|_| ())
}

fn read(r: &sea_orm::QueryResult) -> Result<TrashRow, DbErr> {
    Ok(TrashRow {
        entry: from_doc(&get::<Value>(r, "entry")?)?,
        deleted_at: get(r, "deleted_at")?,
        deleted_by: get(r, "deleted_by")?,
    })
}

pub async fn get_one(c: &impl ConnectionTrait, id: &str) -> Result<Option<TrashRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT entry, deleted_at, deleted_by FROM trash WHERE id = ")
        .bind(id);
    q.fetch_one(c).await?.as_ref().map(read).transpose()
}

/// Trashed entries, newest deletion first, of one type or all, before a deletion time.
pub async fn list(
    c: &impl ConnectionTrait,
    type_id: Option<&str>,
    before: Option<(DateTime<Utc>, String)>,
    limit: u64,
) -> Result<Vec<TrashRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT entry, deleted_at, deleted_by FROM trash WHERE 1 = 1");
    if let Some(t) = type_id {
        q.push(" AND type_id = ").bind(t);
    }
    if let Some((at, id)) = before {
        q.push(" AND (deleted_at < ")
            .bind_ts(at)
            .push(" OR (deleted_at = ")
            .bind_ts(at)
            .push(" AND id < ")
            .bind(id)
            .push("))");
    }
    q.push(" ORDER BY deleted_at DESC, id DESC LIMIT ")
        .bind(limit as i64);
    q.fetch_all(c).await?.iter().map(read).collect()
}

/// Takes an entry out of the trash (the caller puts it back into `entries`).
pub async fn remove(c: &impl ConnectionTrait, id: &str) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM trash WHERE id = ").bind(id);
    q.execute(c).await
}

/// Ids of entries trashed before `cutoff` (for the retention sweep).
pub async fn expired(
    c: &impl ConnectionTrait,
    cutoff: DateTime<Utc>,
    limit: u64,
) -> Result<Vec<String>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT id FROM trash WHERE deleted_at < ")
        .bind_ts(cutoff)
        .push(" ORDER BY deleted_at LIMIT ")
        .bind(limit as i64);
    q.fetch_all(c).await?.iter().map(|r| get(r, "id")).collect()
}

/// Ids of a type's trashed entries (purged with the type).
pub async fn ids_of_type(c: &impl ConnectionTrait, type_id: &str) -> Result<Vec<String>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT id FROM trash WHERE type_id = ")
        .bind(type_id);
    q.fetch_all(c).await?.iter().map(|r| get(r, "id")).collect()
}

/// Removes an entry for good: its trash row, versions, moves, jobs.
pub async fn purge(c: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    for table in [
        "trash",
        "entry_versions",
        "entry_transitions",
        "schedules",
        "entry_comments",
    ] {
        let col = if table == "trash" { "id" } else { "entry_id" };
        let mut q = Sql::new(c.get_database_backend());
        q.push(&format!("DELETE FROM {table} WHERE {col} = "))
            .bind(id);
        q.execute(c).await?;
    }
    Ok(())
}
