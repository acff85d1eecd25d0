//! Users, refresh-token sessions, API tokens, roles, policies and instance settings.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};
use serde_json::Value;

use super::{Sql, get};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const USER_COLS: &str = "id, email, password_hash, role, active, created_at, updated_at";

fn user_from(r: &QueryResult) -> Result<UserRow, DbErr> {
    Ok(UserRow {
        id: get(r, "id")?,
        email: get(r, "email")?,
        password_hash: get(r, "password_hash")?,
        role: get(r, "role")?,
        active: get(r, "active")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
    })
}

pub async fn user_by_email(
    c: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<UserRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("SELECT {USER_COLS} FROM users WHERE email = "))
        .bind(email);
    q.fetch_one(c).await?.as_ref().map(user_from).transpose()
}

pub async fn user_by_id(c: &impl ConnectionTrait, id: &str) -> Result<Option<UserRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("SELECT {USER_COLS} FROM users WHERE id = "))
        .bind(id);
    q.fetch_one(c).await?.as_ref().map(user_from).transpose()
}

pub async fn list_users(c: &impl ConnectionTrait) -> Result<Vec<UserRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("SELECT {USER_COLS} FROM users ORDER BY email"));
    q.fetch_all(c).await?.iter().map(user_from).collect()
}

pub async fn count_users(c: &impl ConnectionTrait) -> Result<i64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT COUNT(*) AS n FROM users");
    let row = q.fetch_one(c).await?;
    row.map(|r| get(&r, "n")).unwrap_or(Ok(0))
}

pub async fn insert_user(c: &impl ConnectionTrait, u: &UserRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("INSERT INTO users ({USER_COLS}) VALUES ("))
        .bind(u.id.as_str())
        .push(", ")
        .bind(u.email.as_str())
        .push(", ")
        .bind(u.password_hash.as_str())
        .push(", ")
        .bind(u.role.as_str())
        .push(", ")
        .bind(u.active)
        .push(", ")
        .bind_ts(u.created_at)
        .push(", ")
        .bind_ts(u.updated_at)
        .push(")");
    q.execute(c).await.map(|_| ())
}

pub async fn update_user(c: &impl ConnectionTrait, u: &UserRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE users SET email = ")
        .bind(u.email.as_str())
        .push(", password_hash = ")
        .bind(u.password_hash.as_str())
        .push(", role = ")
        .bind(u.role.as_str())
        .push(", active = ")
        .bind(u.active)
        .push(", updated_at = ")
        .bind_ts(u.updated_at)
        .push(" WHERE id = ")
        .bind(u.id.as_str());
    q.execute(c).await.map(|_| ())
}

pub async fn delete_user(c: &impl ConnectionTrait, id: &str) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM users WHERE id = ").bind(id);
    q.execute(c).await
}

#[derive(Debug, Clone)]
pub struct SessionRow {
    pub id: String,
    pub family_id: String,
    pub user_id: String,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

pub async fn insert_session(
    c: &impl ConnectionTrait,
    s: &SessionRow,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO sessions (id, family_id, user_id, token_hash, expires_at, used_at, revoked_at, created_at) VALUES (")
        .bind(s.id.as_str()).push(", ")
        .bind(s.family_id.as_str()).push(", ")
        .bind(s.user_id.as_str()).push(", ")
        .bind(s.token_hash.as_str()).push(", ")
        .bind_ts(s.expires_at).push(", ")
        .bind_ts_opt(s.used_at).push(", ")
        .bind_ts_opt(s.revoked_at).push(", ")
        .bind_ts(now).push(")");
    q.execute(c).await.map(|_| ())
}

pub async fn session_by_hash(
    c: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<SessionRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT id, family_id, user_id, token_hash, expires_at, used_at, revoked_at FROM sessions WHERE token_hash = ").bind(hash);
    q.fetch_one(c)
        .await?
        .map(|r| {
            Ok(SessionRow {
                id: get(&r, "id")?,
                family_id: get(&r, "family_id")?,
                user_id: get(&r, "user_id")?,
                token_hash: get(&r, "token_hash")?,
                expires_at: get(&r, "expires_at")?,
                used_at: get(&r, "used_at")?,
                revoked_at: get(&r, "revoked_at")?,
            })
        })
        .transpose()
}

/// Marks a refresh token used; false if another request used it first.
pub async fn mark_session_used(
    c: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE sessions SET used_at = ")
        .bind_ts(now)
        .push(" WHERE id = ")
        .bind(id)
        .push(" AND used_at IS NULL");
    Ok(q.execute(c).await? == 1)
}

pub async fn revoke_family(
    c: &impl ConnectionTrait,
    family_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE sessions SET revoked_at = ")
        .bind_ts(now)
        .push(" WHERE family_id = ")
        .bind(family_id)
        .push(" AND revoked_at IS NULL");
    q.execute(c).await.map(|_| ())
}

pub async fn revoke_user_sessions(
    c: &impl ConnectionTrait,
    user_id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE sessions SET revoked_at = ")
        .bind_ts(now)
        .push(" WHERE user_id = ")
        .bind(user_id)
        .push(" AND revoked_at IS NULL");
    q.execute(c).await.map(|_| ())
}

/// Whether a refresh family still has a live (unrevoked) member: access tokens name
/// their family, and stop working when it is revoked.
pub async fn family_active(c: &impl ConnectionTrait, family_id: &str) -> Result<bool, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT id FROM sessions WHERE family_id = ")
        .bind(family_id)
        .push(" AND revoked_at IS NULL LIMIT 1");
    Ok(q.fetch_one(c).await?.is_some())
}

#[derive(Debug, Clone)]
pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub token_hash: String,
    pub prefix: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const TOKEN_COLS: &str = "id, name, role, token_hash, prefix, expires_at, revoked_at, created_by, created_at, last_used_at";

fn token_from(r: &QueryResult) -> Result<TokenRow, DbErr> {
    Ok(TokenRow {
        id: get(r, "id")?,
        name: get(r, "name")?,
        role: get(r, "role")?,
        token_hash: get(r, "token_hash")?,
        prefix: get(r, "prefix")?,
        expires_at: get(r, "expires_at")?,
        revoked_at: get(r, "revoked_at")?,
        created_by: get(r, "created_by")?,
        created_at: get(r, "created_at")?,
        last_used_at: get(r, "last_used_at")?,
    })
}

pub async fn insert_token(c: &impl ConnectionTrait, t: &TokenRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("INSERT INTO api_tokens ({TOKEN_COLS}) VALUES ("))
        .bind(t.id.as_str())
        .push(", ")
        .bind(t.name.as_str())
        .push(", ")
        .bind(t.role.as_str())
        .push(", ")
        .bind(t.token_hash.as_str())
        .push(", ")
        .bind(t.prefix.as_str())
        .push(", ")
        .bind_ts_opt(t.expires_at)
        .push(", ")
        .bind_ts_opt(t.revoked_at)
        .push(", ")
        .bind(t.created_by.clone())
        .push(", ")
        .bind_ts(t.created_at)
        .push(", ")
        .bind_ts_opt(t.last_used_at)
        .push(")");
    q.execute(c).await.map(|_| ())
}

pub async fn token_by_hash(
    c: &impl ConnectionTrait,
    hash: &str,
) -> Result<Option<TokenRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!(
        "SELECT {TOKEN_COLS} FROM api_tokens WHERE token_hash = "
    ))
    .bind(hash);
    q.fetch_one(c).await?.as_ref().map(token_from).transpose()
}

pub async fn token_by_id(c: &impl ConnectionTrait, id: &str) -> Result<Option<TokenRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = "))
        .bind(id);
    q.fetch_one(c).await?.as_ref().map(token_from).transpose()
}

pub async fn list_tokens(c: &impl ConnectionTrait) -> Result<Vec<TokenRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!(
        "SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at DESC"
    ));
    q.fetch_all(c).await?.iter().map(token_from).collect()
}

pub async fn revoke_token(
    c: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE api_tokens SET revoked_at = ")
        .bind_ts(now)
        .push(" WHERE id = ")
        .bind(id)
        .push(" AND revoked_at IS NULL");
    q.execute(c).await
}

pub async fn touch_token(
    c: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE api_tokens SET last_used_at = ")
        .bind_ts(now)
        .push(" WHERE id = ")
        .bind(id);
    q.execute(c).await.map(|_| ())
}

#[derive(Debug, Clone)]
pub struct RoleRow {
    pub name: String,
    pub description: String,
    pub inherits: Option<String>,
    pub builtin: bool,
    pub created_at: DateTime<Utc>,
}

pub async fn list_roles(c: &impl ConnectionTrait) -> Result<Vec<RoleRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT name, description, inherits, builtin, created_at FROM roles ORDER BY name");
    q.fetch_all(c)
        .await?
        .iter()
        .map(|r| {
            Ok(RoleRow {
                name: get(r, "name")?,
                description: get(r, "description")?,
                inherits: get(r, "inherits")?,
                builtin: get(r, "builtin")?,
                created_at: get(r, "created_at")?,
            })
        })
        .collect()
}

pub async fn insert_role(c: &impl ConnectionTrait, r: &RoleRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO roles (name, description, inherits, builtin, created_at) VALUES (")
        .bind(r.name.as_str())
        .push(", ")
        .bind(r.description.as_str())
        .push(", ")
        .bind(r.inherits.clone())
        .push(", ")
        .bind(r.builtin)
        .push(", ")
        .bind_ts(r.created_at)
        .push(")");
    q.execute(c).await.map(|_| ())
}

/// Deletes a custom role, with the revoked API tokens that still name it.
pub async fn delete_role(c: &impl ConnectionTrait, name: &str) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM api_tokens WHERE role = ")
        .bind(name)
        .push(" AND revoked_at IS NOT NULL");
    q.execute(c).await?;
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM roles WHERE name = ")
        .bind(name)
        .push(" AND builtin = ")
        .bind(false);
    q.execute(c).await
}

pub async fn role_in_use(c: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT 1 AS x FROM users WHERE role = ")
        .bind(name)
        .push(" UNION ALL SELECT 1 AS x FROM api_tokens WHERE role = ")
        .bind(name)
        .push(" AND revoked_at IS NULL UNION ALL SELECT 1 AS x FROM roles WHERE inherits = ")
        .bind(name);
    Ok(q.fetch_one(c).await?.is_some())
}

#[derive(Debug, Clone)]
pub struct PolicyRow {
    pub id: String,
    pub role: String,
    pub resource: String,
    pub action: String,
    pub fields: Option<Value>,
    pub condition: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn list_policies(c: &impl ConnectionTrait) -> Result<Vec<PolicyRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT id, role, resource, action, fields, condition, created_at FROM policies ORDER BY role, resource, action");
    q.fetch_all(c)
        .await?
        .iter()
        .map(|r| {
            Ok(PolicyRow {
                id: get(r, "id")?,
                role: get(r, "role")?,
                resource: get(r, "resource")?,
                action: get(r, "action")?,
                fields: get(r, "fields")?,
                condition: get(r, "condition")?,
                created_at: get(r, "created_at")?,
            })
        })
        .collect()
}

pub async fn insert_policy(c: &impl ConnectionTrait, p: &PolicyRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(
        "INSERT INTO policies (id, role, resource, action, fields, condition, created_at) VALUES (",
    )
    .bind(p.id.as_str())
    .push(", ")
    .bind(p.role.as_str())
    .push(", ")
    .bind(p.resource.as_str())
    .push(", ")
    .bind(p.action.as_str())
    .push(", ")
    .bind(p.fields.clone())
    .push(", ")
    .bind(p.condition.clone())
    .push(", ")
    .bind_ts(p.created_at)
    .push(")");
    q.execute(c).await.map(|_| ())
}

pub async fn delete_policy(c: &impl ConnectionTrait, id: &str) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM policies WHERE id = ").bind(id);
    q.execute(c).await
}

pub async fn get_setting(c: &impl ConnectionTrait, key: &str) -> Result<Option<String>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT value FROM settings WHERE key = ").bind(key);
    q.fetch_one(c).await?.map(|r| get(&r, "value")).transpose()
}

/// Inserts a setting unless it exists; returns the stored value either way (so several
/// nodes starting at once agree on one value).
pub async fn init_setting(
    c: &impl ConnectionTrait,
    key: &str,
    value: &str,
) -> Result<String, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO settings (key, value) VALUES (")
        .bind(key)
        .push(", ")
        .bind(value)
        .push(") ON CONFLICT (key) DO NOTHING");
    q.execute(c).await?;
    get_setting(c, key)
        .await?
        .ok_or_else(|| DbErr::Custom(format!("setting {key} vanished")))
}
