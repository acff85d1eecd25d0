//! Indexes for fields marked `indexed`: one partial expression index per (type, field,
//! draft or published column), `(<field expression>, id) WHERE type_id = '<type>'`, so
//! filters, sorts and keyset pages on that field read the index instead of the table, and
//! an index only ever evaluates its expression over rows of its own type (another type may
//! use the same field name for a value of another kind). List queries name their type as a
//! literal for the same reason: a planner can match a partial index only against one.
//!
//! Built in the transaction that saves the type (a failure fails the change, it is never
//! silently slow) and again at start-up (migrations may drop them); a type's indexes that
//! it no longer declares, and all of them when the type is deleted, are dropped with it.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use sha2::{Digest, Sha256};

use super::query::field_expr;
use super::{Sql, get};
use crate::domain::schema::{ContentTypeDef, FieldType, is_valid_api_id};

fn indexable(ty: FieldType) -> bool {
    ty.is_scalar() || ty == FieldType::Relation
}

fn short_hash(s: &str) -> String {
    hex::encode(&Sha256::digest(s.as_bytes())[..8])
}

/// Every index of a type starts with this (an api id can be 64 characters; a PostgreSQL
/// name at most 63).
fn type_prefix(api_id: &str) -> String {
    format!("ixf_{}_", short_hash(api_id))
}

/// `type_id = '<api_id>'`, inlined: api ids are `[a-z][a-z0-9_]*`, checked here again so
/// nothing else can ever reach SQL text this way.
pub fn type_literal(api_id: &str) -> Option<String> {
    is_valid_api_id(api_id).then(|| format!("'{api_id}'"))
}

/// The indexes the type should have: (name, CREATE statement).
fn wanted(backend: DbBackend, def: &ContentTypeDef) -> Vec<(String, String)> {
    let Some(literal) = type_literal(&def.api_id) else {
        return Vec::new();
    };
    let prefix = type_prefix(&def.api_id);
    let mut out = Vec::new();
    for f in def
        .fields
        .iter()
        .filter(|f| f.indexed && indexable(f.ty) && !f.many)
    {
        for column in ["published", "draft"] {
            let expr = field_expr(backend, column, &f.name, f.ty);
            let name = format!("{prefix}{}", short_hash(&expr));
            // PostgreSQL wants an expression that is not a bare function call in parentheses.
            let sql = format!(
                "CREATE INDEX IF NOT EXISTS {name} ON entries (({expr}), id) WHERE type_id = {literal}"
            );
            out.push((name, sql));
        }
    }
    out
}

async fn existing(c: &impl ConnectionTrait, prefix: &str) -> Result<Vec<String>, DbErr> {
    let backend = c.get_database_backend();
    let (name, table) = match backend {
        DbBackend::Postgres => ("indexname", "pg_indexes WHERE tablename = 'entries'"),
        _ => (
            "name",
            "sqlite_master WHERE type = 'index' AND tbl_name = 'entries'",
        ),
    };
    let mut q = Sql::new(backend);
    q.push(&format!(
        "SELECT {name} AS name FROM {table} AND substr({name}, 1, {}) = ",
        prefix.len()
    ))
    .bind(prefix.to_string());
    q.fetch_all(c)
        .await?
        .iter()
        .map(|r| get::<String>(r, "name"))
        .collect()
}

/// Creates the type's missing field indexes and drops those of fields no longer indexed.
pub async fn ensure_field_indexes(
    c: &impl ConnectionTrait,
    def: &ContentTypeDef,
) -> Result<(), DbErr> {
    let wanted = wanted(c.get_database_backend(), def);
    for name in existing(c, &type_prefix(&def.api_id)).await? {
        if !wanted.iter().any(|(w, _)| *w == name) {
            c.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                .await?;
        }
    }
    for (_, sql) in wanted {
        c.execute_unprepared(&sql).await?;
    }
    Ok(())
}

/// Drops every field index of a deleted type.
pub async fn drop_field_indexes(c: &impl ConnectionTrait, api_id: &str) -> Result<(), DbErr> {
    for name in existing(c, &type_prefix(api_id)).await? {
        c.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
            .await?;
    }
    Ok(())
}
