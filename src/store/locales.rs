//! The configured locales. Only the locale service writes them, each change with its
//! event; every node keeps a snapshot (`services::TypeCache::locales`).

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use super::{Sql, get};
use crate::domain::locale::LocaleDef;

pub async fn list(c: &impl ConnectionTrait) -> Result<Vec<LocaleDef>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT code, name, fallback, is_default, created_at, updated_at FROM locales ORDER BY code");
    q.fetch_all(c)
        .await?
        .iter()
        .map(|r| {
            Ok(LocaleDef {
                code: get(r, "code")?,
                name: get(r, "name")?,
                fallback: get(r, "fallback")?,
                default: get(r, "is_default")?,
                created_at: get(r, "created_at")?,
                updated_at: get(r, "updated_at")?,
            })
        })
        .collect()
}

pub async fn insert(c: &impl ConnectionTrait, l: &LocaleDef) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(
        "INSERT INTO locales (code, name, fallback, is_default, created_at, updated_at) VALUES (",
    )
    .bind(l.code.as_str())
    .push(", ")
    .bind(l.name.as_str())
    .push(", ")
    .bind(l.fallback.clone())
    .push(", ")
    .bind(l.default)
    .push(", ")
    .bind_ts(l.created_at)
    .push(", ")
    .bind_ts(l.updated_at)
    .push(")");
    q.execute(c).await.map(|_| ())
}

pub async fn update(c: &impl ConnectionTrait, l: &LocaleDef) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE locales SET name = ")
        .bind(l.name.as_str())
        .push(", fallback = ")
        .bind(l.fallback.clone())
        .push(", is_default = ")
        .bind(l.default)
        .push(", updated_at = ")
        .bind_ts(l.updated_at)
        .push(" WHERE code = ")
        .bind(l.code.as_str());
    q.execute(c).await
}

/// Unmarks the default (before another is marked).
pub async fn clear_default(c: &impl ConnectionTrait, at: DateTime<Utc>) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE locales SET is_default = ")
        .bind(false)
        .push(", updated_at = ")
        .bind_ts(at)
        .push(" WHERE is_default = ")
        .bind(true);
    q.execute(c).await
}

pub async fn delete(c: &impl ConnectionTrait, code: &str) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM locales WHERE code = ").bind(code);
    q.execute(c).await
}

/// Entries (trashed ones included) in a locale.
pub async fn entries_in(c: &impl ConnectionTrait, code: &str) -> Result<i64, DbErr> {
    let mut total = 0;
    for table in ["entries", "trash"] {
        let mut q = Sql::new(c.get_database_backend());
        q.push(&format!(
            "SELECT COUNT(*) AS n FROM {table} WHERE locale = "
        ))
        .bind(code);
        if let Some(r) = q.fetch_one(c).await? {
            total += get::<i64>(&r, "n")?;
        }
    }
    Ok(total)
}

/// At start (under the start-up lock): one locale is the default. When none is (a fresh
/// database, or the first start after the upgrade that configured the locales entries
/// use), `configured_default` (the `default_locale` setting) becomes it, and the locales
/// without a fallback fall back to it. Reads the few locale rows only.
pub async fn ensure(c: &impl ConnectionTrait, configured_default: &str) -> Result<(), DbErr> {
    let mut have = list(c).await?;
    if have.iter().any(|l| l.default) {
        return Ok(());
    }
    let at = crate::domain::now();
    let code = configured_default.to_string();
    if !have.iter().any(|l| l.code == code) {
        let l = LocaleDef {
            code: code.clone(),
            name: code.clone(),
            fallback: None,
            default: true,
            created_at: at,
            updated_at: at,
        };
        insert(c, &l).await?;
    }
    for l in &mut have {
        if l.code == code {
            l.default = true;
            l.fallback = None;
        } else if l.fallback.is_none() {
            l.fallback = Some(code.clone());
        } else {
            continue;
        }
        l.updated_at = at;
        update(c, l).await?;
    }
    Ok(())
}
