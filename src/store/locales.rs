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

/// At start (under the start-up lock): every locale entries use is configured, and one
/// is the default (`configured_default`, the `default_locale` setting, when none is).
/// Locales found only in entries fall back to the default.
pub async fn ensure(c: &impl ConnectionTrait, configured_default: &str) -> Result<(), DbErr> {
    let at = crate::domain::now();
    let mut have = list(c).await?;
    let default = match have.iter().find(|l| l.default) {
        Some(l) => l.code.clone(),
        None => {
            let code = configured_default.to_string();
            match have.iter_mut().find(|l| l.code == code) {
                Some(l) => {
                    l.default = true;
                    l.fallback = None;
                    l.updated_at = at;
                    update(c, l).await?;
                }
                None => {
                    let l = LocaleDef {
                        code: code.clone(),
                        name: code.clone(),
                        fallback: None,
                        default: true,
                        created_at: at,
                        updated_at: at,
                    };
                    insert(c, &l).await?;
                    have.push(l);
                }
            }
            code
        }
    };
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT DISTINCT locale FROM entries UNION SELECT DISTINCT locale FROM trash");
    for r in q.fetch_all(c).await? {
        let code: String = get(&r, "locale")?;
        if have.iter().any(|l| l.code == code) {
            continue;
        }
        let l = LocaleDef {
            code: code.clone(),
            name: code,
            fallback: Some(default.clone()),
            default: false,
            created_at: at,
            updated_at: at,
        };
        insert(c, &l).await?;
        have.push(l);
    }
    Ok(())
}
