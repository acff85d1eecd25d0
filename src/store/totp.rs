//! Two-factor rows: each user's sealed TOTP secret and last accepted step, recovery code
//! hashes, and login challenges. Every "use once" is one conditional `UPDATE` whose row
//! count says whether this caller won, so two requests can never both spend one thing.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};

use super::{Sql, get};

#[derive(Debug, Clone)]
pub struct TotpRow {
    pub user_id: String,
    /// Sealed with the instance key; only `services::auth::totp::Vault` opens it.
    pub secret: String,
    pub enabled_at: Option<DateTime<Utc>>,
    pub last_step: Option<i64>,
}

pub async fn totp_of(c: &impl ConnectionTrait, user_id: &str) -> Result<Option<TotpRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT user_id, secret, enabled_at, last_step FROM user_totp WHERE user_id = ")
        .bind(user_id);
    q.fetch_one(c)
        .await?
        .map(|r| {
            Ok(TotpRow {
                user_id: get(&r, "user_id")?,
                secret: get(&r, "secret")?,
                enabled_at: get(&r, "enabled_at")?,
                last_step: get(&r, "last_step")?,
            })
        })
        .transpose()
}

/// Replaces the user's TOTP row with a pending one (not enabled) holding `secret`.
pub async fn put_pending(
    c: &impl ConnectionTrait,
    user_id: &str,
    secret: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    delete_totp(c, user_id).await?;
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO user_totp (user_id, secret, enabled_at, last_step, created_at) VALUES (")
        .bind(user_id)
        .push(", ")
        .bind(secret)
        .push(", ")
        .bind_ts_opt(None)
        .push(", ")
        .bind(Option::<i64>::None)
        .push(", ")
        .bind_ts(now)
        .push(")");
    q.execute(c).await.map(|_| ())
}

/// Turns a pending row on, with the step of the code that confirmed it.
pub async fn enable(
    c: &impl ConnectionTrait,
    user_id: &str,
    step: i64,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE user_totp SET enabled_at = ")
        .bind_ts(now)
        .push(", last_step = ")
        .bind(step)
        .push(" WHERE user_id = ")
        .bind(user_id)
        .push(" AND enabled_at IS NULL");
    Ok(q.execute(c).await? == 1)
}

/// Records `step` as used; false when it (or a later one) was used already.
pub async fn use_step(c: &impl ConnectionTrait, user_id: &str, step: i64) -> Result<bool, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE user_totp SET last_step = ")
        .bind(step)
        .push(" WHERE user_id = ")
        .bind(user_id)
        .push(" AND enabled_at IS NOT NULL AND (last_step IS NULL OR last_step < ")
        .bind(step)
        .push(")");
    Ok(q.execute(c).await? == 1)
}

/// Removes the user's TOTP, recovery codes and open challenges; the number of TOTP rows
/// removed (0 or 1).
pub async fn delete_totp(c: &impl ConnectionTrait, user_id: &str) -> Result<u64, DbErr> {
    for table in ["totp_recovery_codes", "login_challenges"] {
        let mut q = Sql::new(c.get_database_backend());
        q.push(&format!("DELETE FROM {table} WHERE user_id = "))
            .bind(user_id);
        q.execute(c).await?;
    }
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM user_totp WHERE user_id = ")
        .bind(user_id);
    q.execute(c).await
}

/// Replaces the user's recovery codes with these hashes.
pub async fn put_recovery_codes(
    c: &impl ConnectionTrait,
    user_id: &str,
    hashes: &[String],
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM totp_recovery_codes WHERE user_id = ")
        .bind(user_id);
    q.execute(c).await?;
    for hash in hashes {
        let mut q = Sql::new(c.get_database_backend());
        q.push("INSERT INTO totp_recovery_codes (id, user_id, code_hash, used_at, created_at) VALUES (")
            .bind(uuid::Uuid::now_v7().to_string())
            .push(", ")
            .bind(user_id)
            .push(", ")
            .bind(hash.as_str())
            .push(", ")
            .bind_ts_opt(None)
            .push(", ")
            .bind_ts(now)
            .push(")");
        q.execute(c).await?;
    }
    Ok(())
}

/// Spends the unused recovery code with this hash; false when there is none.
pub async fn use_recovery_code(
    c: &impl ConnectionTrait,
    user_id: &str,
    hash: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE totp_recovery_codes SET used_at = ")
        .bind_ts(now)
        .push(" WHERE user_id = ")
        .bind(user_id)
        .push(" AND code_hash = ")
        .bind(hash)
        .push(" AND used_at IS NULL");
    Ok(q.execute(c).await? == 1)
}

pub async fn recovery_codes_left(c: &impl ConnectionTrait, user_id: &str) -> Result<i64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT COUNT(*) AS n FROM totp_recovery_codes WHERE user_id = ")
        .bind(user_id)
        .push(" AND used_at IS NULL");
    q.fetch_one(c).await?.map(|r| get(&r, "n")).unwrap_or(Ok(0))
}

/// A login between its password step and its code step.
#[derive(Debug, Clone)]
pub struct ChallengeRow {
    pub id: String,
    pub user_id: String,
    pub attempts: i32,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

/// Stores a challenge by its hash, dropping expired ones on the way.
pub async fn insert_challenge(
    c: &impl ConnectionTrait,
    row: &ChallengeRow,
    token_hash: &str,
    now: DateTime<Utc>,
) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM login_challenges WHERE expires_at < ")
        .bind_ts(now);
    q.execute(c).await?;
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO login_challenges (id, token_hash, user_id, attempts, expires_at, used_at, created_at) VALUES (")
        .bind(row.id.as_str())
        .push(", ")
        .bind(token_hash)
        .push(", ")
        .bind(row.user_id.as_str())
        .push(", ")
        .bind(row.attempts)
        .push(", ")
        .bind_ts(row.expires_at)
        .push(", ")
        .bind_ts_opt(row.used_at)
        .push(", ")
        .bind_ts(now)
        .push(")");
    q.execute(c).await.map(|_| ())
}

pub async fn challenge_by_hash(
    c: &impl ConnectionTrait,
    token_hash: &str,
) -> Result<Option<ChallengeRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT id, user_id, attempts, expires_at, used_at FROM login_challenges WHERE token_hash = ")
        .bind(token_hash);
    q.fetch_one(c)
        .await?
        .map(|r| {
            Ok(ChallengeRow {
                id: get(&r, "id")?,
                user_id: get(&r, "user_id")?,
                attempts: get(&r, "attempts")?,
                expires_at: get(&r, "expires_at")?,
                used_at: get(&r, "used_at")?,
            })
        })
        .transpose()
}

/// Takes one try of a live challenge (unused, unexpired, fewer than `max` tries so far);
/// false when it has none left.
pub async fn take_attempt(
    c: &impl ConnectionTrait,
    id: &str,
    max: i32,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE login_challenges SET attempts = attempts + 1 WHERE id = ")
        .bind(id)
        .push(" AND used_at IS NULL AND attempts < ")
        .bind(max)
        .push(" AND expires_at > ")
        .bind_ts(now);
    Ok(q.execute(c).await? == 1)
}

/// Spends a challenge; false when something else spent it first.
pub async fn spend_challenge(
    c: &impl ConnectionTrait,
    id: &str,
    now: DateTime<Utc>,
) -> Result<bool, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE login_challenges SET used_at = ")
        .bind_ts(now)
        .push(" WHERE id = ")
        .bind(id)
        .push(" AND used_at IS NULL");
    Ok(q.execute(c).await? == 1)
}
