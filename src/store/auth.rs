//! Users, refresh-token sessions, API tokens and instance settings; roles and policies
//! (in [`super::roles`]) are re-exported here, where their callers look for them.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, QueryResult};

use super::{Sql, get};

pub use super::roles::{
    PolicyRow, RoleRow, delete_policy, delete_role, insert_policy, insert_role, list_policies,
    list_roles, role_in_use, update_role,
};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub role: String,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Read only: TOTP is on (a `user_totp` row that was enabled).
    pub totp_enabled: bool,
    /// Read only: the user's role has `require_totp`.
    pub role_requires_totp: bool,
}

const USER_COLS: &str = "id, email, password_hash, role, active, created_at, updated_at";

/// The user columns with the two-factor state, for reads (`u` is `users`).
const USER_SELECT: &str = "SELECT u.id, u.email, u.password_hash, u.role, u.active, \
     u.created_at, u.updated_at, \
     CASE WHEN EXISTS (SELECT 1 FROM user_totp t WHERE t.user_id = u.id AND t.enabled_at IS NOT NULL) \
     THEN 1 ELSE 0 END AS totp_enabled, r.require_totp AS role_requires_totp \
     FROM users u JOIN roles r ON r.name = u.role";

fn user_from(r: &QueryResult) -> Result<UserRow, DbErr> {
    Ok(UserRow {
        id: get(r, "id")?,
        email: get(r, "email")?,
        password_hash: get(r, "password_hash")?,
        role: get(r, "role")?,
        active: get(r, "active")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
        totp_enabled: get::<i32>(r, "totp_enabled")? != 0,
        role_requires_totp: get(r, "role_requires_totp")?,
    })
}

pub async fn user_by_email(
    c: &impl ConnectionTrait,
    email: &str,
) -> Result<Option<UserRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("{USER_SELECT} WHERE u.email = "))
        .bind(email);
    q.fetch_one(c).await?.as_ref().map(user_from).transpose()
}

pub async fn user_by_id(c: &impl ConnectionTrait, id: &str) -> Result<Option<UserRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("{USER_SELECT} WHERE u.id = ")).bind(id);
    q.fetch_one(c).await?.as_ref().map(user_from).transpose()
}

pub async fn list_users(c: &impl ConnectionTrait) -> Result<Vec<UserRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!("{USER_SELECT} ORDER BY u.email"));
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

/// Ends every session of a user but those of one refresh family (the caller's own).
pub async fn revoke_other_sessions(
    c: &impl ConnectionTrait,
    user_id: &str,
    keep_family: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE sessions SET revoked_at = ")
        .bind_ts(now)
        .push(" WHERE user_id = ")
        .bind(user_id)
        .push(" AND revoked_at IS NULL");
    if let Some(family) = keep_family {
        q.push(" AND family_id <> ").bind(family);
    }
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
