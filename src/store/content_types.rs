//! Content type rows: the definition is stored as one JSON document.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use super::{Sql, get};
use crate::domain::schema::ContentTypeDef;

#[derive(Debug, Clone)]
pub struct TypeRow {
    pub def: ContentTypeDef,
    pub rev: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLS: &str = "definition, rev, created_at, updated_at";

fn from_row(r: &sea_orm::QueryResult) -> Result<TypeRow, DbErr> {
    let def: serde_json::Value = get(r, "definition")?;
    Ok(TypeRow {
        def: serde_json::from_value(def)
            .map_err(|e| DbErr::Custom(format!("stored content type is unreadable: {e}")))?,
        rev: get(r, "rev")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

pub async fn list(c: &impl ConnectionTrait) -> Result<Vec<TypeRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("SELECT {COLS} FROM content_types ORDER BY api_id"));
    q.fetch_all(c).await?.iter().map(from_row).collect()
}

pub async fn get_one(c: &impl ConnectionTrait, api_id: &str) -> Result<Option<TypeRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("SELECT {COLS} FROM content_types WHERE api_id = "))
        .bind(api_id);
    q.fetch_one(c).await?.as_ref().map(from_row).transpose()
}

pub async fn insert(
    c: &impl ConnectionTrait,
    def: &ContentTypeDef,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let json = serde_json::to_value(def).map_err(|e| DbErr::Custom(e.to_string()))?;
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO content_types (api_id, name, kind, definition, rev, created_at, updated_at) VALUES (")
        .bind(def.api_id.as_str())
        .push(", ")
        .bind(def.name.as_str())
        .push(", ")
        .bind(kind_str(def))
        .push(", ")
        .bind_json(&json)
        .push(", 1, ")
        .bind_ts(now)
        .push(", ")
        .bind_ts(now)
        .push(")");
    q.execute(c).await.map(|_| ())
}

pub async fn update(
    c: &impl ConnectionTrait,
    def: &ContentTypeDef,
    rev: i64,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let json = serde_json::to_value(def).map_err(|e| DbErr::Custom(e.to_string()))?;
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE content_types SET name = ")
        .bind(def.name.as_str())
        .push(", kind = ")
        .bind(kind_str(def))
        .push(", definition = ")
        .bind_json(&json)
        .push(", rev = ")
        .bind(rev)
        .push(", updated_at = ")
        .bind_ts(now)
        .push(" WHERE api_id = ")
        .bind(def.api_id.as_str());
    q.execute(c).await.map(|_| ())
}

pub async fn delete(c: &impl ConnectionTrait, api_id: &str) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM content_types WHERE api_id = ")
        .bind(api_id);
    q.execute(c).await.map(|_| ())
}

fn kind_str(def: &ContentTypeDef) -> &'static str {
    match def.kind {
        crate::domain::schema::TypeKind::Collection => "collection",
        crate::domain::schema::TypeKind::Singleton => "singleton",
    }
}
