//! Two-factor login for users: enrolment (`setup` with the password, then `enable` with a
//! first code, which answers the recovery codes once), `disable` (password and a code),
//! and the code step of a login (a one-time challenge from the password step, then a code
//! or a recovery code). The RFC 6238 arithmetic and the sealing live in [`super::totp`];
//! the administrator's reset in `services::admin`.
//!
//! Rules kept here: a code's step is used once (the last accepted step is stored and only
//! later ones pass); a recovery code is spent by its use; a challenge is spent by the
//! login it completes, dies after [`MAX_CHALLENGE_ATTEMPTS`] wrong codes or its lifetime;
//! every code step and every password confirmation goes through the login throttle like a
//! password; each change is an event and an audit record naming the user, never a secret.

use std::net::IpAddr;

use chrono::Duration;
use serde_json::json;

use super::throttle::Attempt;
use super::totp;
use super::{AuthService, Tokens, hash_error, random_secret, rate_limited, sha256_hex};
use crate::authz::{Actor, Origin, Principal};
use crate::domain::now;
use crate::error::{ApiError, ApiResult, Code};
use crate::services::admin::admin_event;
use crate::services::new_id;
use crate::store::auth::{self as repo, UserRow};
use crate::store::totp::{self as totp_repo, ChallengeRow};

/// Wrong codes one challenge takes before it is spent (the throttle counts them too).
pub const MAX_CHALLENGE_ATTEMPTS: i32 = 5;

/// What `setup` hands out: shown once, never stored in the clear.
pub struct TotpSetup {
    pub secret: String,
    pub otpauth_uri: String,
}

/// The proof offered at the code step of a login, or when disabling.
pub enum SecondFactor {
    /// Six digits from the authenticator app.
    Code(String),
    /// One of the recovery codes handed out by `enable`.
    RecoveryCode(String),
}

impl SecondFactor {
    fn kind(&self) -> &'static str {
        match self {
            SecondFactor::Code(_) => "totp",
            SecondFactor::RecoveryCode(_) => "recovery_code",
        }
    }
}

pub(super) fn invalid_code() -> ApiError {
    ApiError::new(
        Code::InvalidTotpCode,
        "the code is wrong, expired or already used; wait for the next one from the authenticator app, or use a recovery code",
    )
}

fn invalid_challenge() -> ApiError {
    ApiError::new(
        Code::InvalidChallenge,
        "this login challenge is unknown, expired or used up; log in with email and password again",
    )
}

fn wrong_password() -> ApiError {
    ApiError::new(Code::InvalidCredentials, "the password is wrong")
}

fn user_principal(user: &UserRow, origin: Origin) -> Principal {
    Principal {
        actor: Actor::User {
            id: user.id.clone(),
            email: user.email.clone(),
        },
        role: user.role.clone(),
        origin,
    }
}

impl AuthService {
    /// The user a principal is; API tokens have no second factor.
    async fn acting_user(&self, p: &Principal) -> ApiResult<UserRow> {
        let Actor::User { id, .. } = &p.actor else {
            return Err(ApiError::new(
                Code::Forbidden,
                "two-factor login belongs to users: log in as one (API tokens cannot enrol)",
            ));
        };
        self.user(id).await
    }

    /// Checks the user's password again, counted by the login throttle.
    async fn confirm_password(
        &self,
        user: &UserRow,
        password: &str,
        client: Option<IpAddr>,
    ) -> ApiResult<Attempt> {
        let attempt = self
            .throttle
            .begin(&user.email, client)
            .map_err(|locked| rate_limited(locked.retry_after))?;
        match self
            .hashes
            .verify(password.to_string(), user.password_hash.clone())
            .await
        {
            Ok(true) => Ok(attempt),
            Ok(false) => Err(wrong_password()),
            Err(e) => {
                self.throttle.abandoned(&attempt);
                Err(hash_error(e))
            }
        }
    }

    /// Starts enrolment: a new secret, pending until `enable` confirms a code of it
    /// (replacing any earlier pending one). Refused while TOTP is on.
    pub async fn totp_setup(
        &self,
        p: &Principal,
        password: &str,
        client: Option<IpAddr>,
    ) -> ApiResult<TotpSetup> {
        let user = self.acting_user(p).await?;
        let already_on = || {
            ApiError::new(
                Code::Conflict,
                "two-factor login is on already; disable it first (POST /api/v1/auth/totp/disable)",
            )
        };
        if user.totp_enabled {
            return Err(already_on());
        }
        let attempt = self.confirm_password(&user, password, client).await?;
        let secret = totp::new_secret();
        let sealed = self
            .vault
            .seal(&user.id, &secret)
            .map_err(ApiError::internal)?;
        let tx = self.store.write().await?;
        if totp_repo::totp_of(&tx.txn, &user.id)
            .await?
            .is_some_and(|t| t.enabled_at.is_some())
        {
            return Err(already_on());
        }
        totp_repo::put_pending(&tx.txn, &user.id, &sealed, now()).await?;
        admin_event(
            &tx.txn,
            "auth.totp_setup",
            "user",
            Some(p),
            json!({ "id": user.id, "email": user.email }),
        )
        .await?;
        tx.commit().await?;
        self.throttle.succeeded(&attempt);
        let secret = totp::base32(&secret);
        Ok(TotpSetup {
            otpauth_uri: totp::otpauth_uri(&user.email, &secret),
            secret,
        })
    }

    /// Confirms enrolment with a code of the pending secret: TOTP is on from now, the
    /// user's other sessions end (they never passed a second factor), and the recovery
    /// codes are returned, this once.
    pub async fn totp_enable(
        &self,
        p: &Principal,
        code: &str,
        own_family: Option<&str>,
    ) -> ApiResult<Vec<String>> {
        let user = self.acting_user(p).await?;
        let at = now();
        let tx = self.store.write().await?;
        let pending = match totp_repo::totp_of(&tx.txn, &user.id).await? {
            Some(row) if row.enabled_at.is_none() => row,
            Some(_) => {
                return Err(ApiError::new(
                    Code::Conflict,
                    "two-factor login is on already",
                ));
            }
            None => {
                return Err(ApiError::new(
                    Code::Conflict,
                    "there is no enrolment to confirm; start one with POST /api/v1/auth/totp/setup",
                ));
            }
        };
        let secret = self
            .vault
            .open(&user.id, &pending.secret)
            .map_err(ApiError::internal)?;
        let step = totp::verify(&secret, code, totp::step_of(at.timestamp()), None)
            .ok_or_else(invalid_code)?;
        if !totp_repo::enable(&tx.txn, &user.id, step, at).await? {
            return Err(ApiError::new(
                Code::Conflict,
                "two-factor login is on already",
            ));
        }
        let codes: Vec<String> = (0..totp::RECOVERY_CODES)
            .map(|_| totp::new_recovery_code())
            .collect();
        let hashes: Vec<String> = codes
            .iter()
            .filter_map(|c| totp::normalize_recovery_code(c))
            .map(|c| self.vault.recovery_hash(&user.id, &c))
            .collect();
        totp_repo::put_recovery_codes(&tx.txn, &user.id, &hashes, at).await?;
        repo::revoke_other_sessions(&tx.txn, &user.id, own_family, at).await?;
        admin_event(
            &tx.txn,
            "auth.totp_enabled",
            "user",
            Some(p),
            json!({ "id": user.id, "email": user.email, "recovery_codes": hashes.len() }),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user = %user.id, "two-factor login enabled");
        Ok(codes)
    }

    /// Turns TOTP off, with the password and a code (or a recovery code).
    pub async fn totp_disable(
        &self,
        p: &Principal,
        password: &str,
        factor: SecondFactor,
        client: Option<IpAddr>,
    ) -> ApiResult<()> {
        let user = self.acting_user(p).await?;
        if !user.totp_enabled {
            return Err(ApiError::new(Code::Conflict, "two-factor login is off"));
        }
        let attempt = self.confirm_password(&user, password, client).await?;
        let at = now();
        let tx = self.store.write().await?;
        if !self
            .second_factor_holds(&tx.txn, p, &user, &factor, at)
            .await?
        {
            return Err(invalid_code());
        }
        totp_repo::delete_totp(&tx.txn, &user.id).await?;
        admin_event(
            &tx.txn,
            "auth.totp_disabled",
            "user",
            Some(p),
            json!({ "id": user.id, "email": user.email, "with": factor.kind() }),
        )
        .await?;
        tx.commit().await?;
        self.throttle.succeeded(&attempt);
        tracing::info!(user = %user.id, "two-factor login disabled");
        Ok(())
    }

    /// Whether `factor` is good for `user` now, spending it if so (the code's step, or the
    /// recovery code, with its event). Writes nothing when it is not.
    async fn second_factor_holds(
        &self,
        c: &impl sea_orm::ConnectionTrait,
        who: &Principal,
        user: &UserRow,
        factor: &SecondFactor,
        at: chrono::DateTime<chrono::Utc>,
    ) -> ApiResult<bool> {
        let Some(row) = totp_repo::totp_of(c, &user.id)
            .await?
            .filter(|r| r.enabled_at.is_some())
        else {
            return Ok(false);
        };
        match factor {
            SecondFactor::Code(code) => {
                let secret = self
                    .vault
                    .open(&user.id, &row.secret)
                    .map_err(ApiError::internal)?;
                match totp::verify(&secret, code, totp::step_of(at.timestamp()), row.last_step) {
                    Some(step) => Ok(totp_repo::use_step(c, &user.id, step).await?),
                    None => Ok(false),
                }
            }
            SecondFactor::RecoveryCode(typed) => {
                let Some(code) = totp::normalize_recovery_code(typed) else {
                    return Ok(false);
                };
                let hash = self.vault.recovery_hash(&user.id, &code);
                if !totp_repo::use_recovery_code(c, &user.id, &hash, at).await? {
                    return Ok(false);
                }
                let left = totp_repo::recovery_codes_left(c, &user.id).await?;
                admin_event(
                    c,
                    "auth.recovery_code_used",
                    "user",
                    Some(who),
                    json!({ "id": user.id, "email": user.email, "recovery_codes_left": left }),
                )
                .await?;
                if left <= 2 {
                    tracing::warn!(user = %user.id, left, "few recovery codes left");
                }
                Ok(true)
            }
        }
    }

    /// The answer to a right password when TOTP is on: 401 `totp_required` with a fresh
    /// one-time challenge for `login_second_factor`.
    pub(super) async fn totp_challenge(&self, user: &UserRow) -> ApiResult<ApiError> {
        let token = random_secret();
        let ttl = self.settings.totp_challenge_ttl_secs;
        let at = now();
        let row = ChallengeRow {
            id: new_id(),
            user_id: user.id.clone(),
            attempts: 0,
            expires_at: at + Duration::seconds(ttl as i64),
            used_at: None,
        };
        let tx = self.store.write().await?;
        totp_repo::insert_challenge(&tx.txn, &row, &sha256_hex(&token), at).await?;
        tx.commit().await?;
        Ok(ApiError::new(
            Code::TotpRequired,
            format!(
                "the password is right and this account has two-factor login: send `challenge` with a code from the authenticator app (or a recovery code) to POST /api/v1/auth/login/totp within {ttl} seconds"
            ),
        )
        .with_details(json!({ "challenge": token, "expires_in": ttl }))
        .with_header("cache-control", "no-store".into()))
    }

    /// The code step of a login: a live challenge and a good code (or recovery code) →
    /// the normal tokens. Counted by the login throttle like a password.
    pub async fn login_second_factor(
        &self,
        challenge: &str,
        factor: SecondFactor,
        client: Option<IpAddr>,
        user_agent: Option<String>,
    ) -> ApiResult<Tokens> {
        let origin = Origin {
            ip: client.map(|ip| ip.to_string()),
            user_agent,
        };
        let db = self.store.db();
        let found = totp_repo::challenge_by_hash(db, &sha256_hex(challenge)).await?;
        let user = match &found {
            Some(ch) => repo::user_by_id(db, &ch.user_id)
                .await?
                .filter(|u| u.active),
            None => None,
        };
        let (Some(ch), Some(user)) = (found, user) else {
            // Nothing to guess at (challenges are 256-bit), but still counted per address.
            self.throttle
                .begin_anonymous(client)
                .map_err(|locked| rate_limited(locked.retry_after))?;
            return Err(invalid_challenge());
        };
        let attempt = self
            .throttle
            .begin(&user.email, client)
            .map_err(|locked| rate_limited(locked.retry_after))?;
        let at = now();
        let who = user_principal(&user, origin.clone());
        let tx = self.store.write().await?;
        if !totp_repo::take_attempt(&tx.txn, &ch.id, MAX_CHALLENGE_ATTEMPTS, at).await? {
            return Err(invalid_challenge());
        }
        if !self
            .second_factor_holds(&tx.txn, &who, &user, &factor, at)
            .await?
        {
            let mut anonymous = Principal::anonymous();
            anonymous.origin = origin;
            crate::services::audit::record(
                &tx.txn,
                Some(&anonymous),
                crate::services::audit::AuditEntry {
                    action: "auth.login_failed",
                    resource: "user",
                    resource_id: None,
                    content_type: None,
                    details: json!({ "email": user.email, "factor": factor.kind() }),
                },
            )
            .await?;
            // Keeps the try taken off the challenge.
            tx.commit().await?;
            return Err(invalid_code());
        }
        if !totp_repo::spend_challenge(&tx.txn, &ch.id, at).await? {
            return Err(invalid_challenge());
        }
        let tokens = self.issue(&tx.txn, user, &new_id()).await?;
        crate::services::audit::record(
            &tx.txn,
            Some(&who),
            crate::services::audit::AuditEntry {
                action: "auth.login",
                resource: "user",
                resource_id: Some(&tokens.user.id),
                content_type: None,
                details: json!({ "factor": factor.kind() }),
            },
        )
        .await?;
        tx.commit().await?;
        self.throttle.succeeded(&attempt);
        tracing::info!(user = %tokens.user.id, factor = factor.kind(), "login");
        Ok(tokens)
    }
}
