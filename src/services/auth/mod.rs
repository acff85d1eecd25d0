//! Authentication: passwords (argon2id on a bounded pool of hashing threads, see
//! [`hasher`]), the password policy ([`policy`]), login with throttling and lockout
//! ([`throttle`]), two-factor login with TOTP ([`two_factor`], [`totp`]), rotating
//! refresh tokens with reuse detection, logout, and turning a bearer token into a
//! [`Principal`].
//!
//! Access tokens are short-lived HS256 JWTs naming the user and their refresh family;
//! each use checks that the user is active and the family not revoked, so logout and
//! deactivation take effect at once. Refresh tokens and API tokens are random secrets
//! stored only as SHA-256 hashes.
//!
//! A login answers one way for every failure to authenticate: a wrong password, an
//! unknown email and a disabled user get the same 401 `invalid_credentials` after the same
//! work (one lookup and one argon2 verification, against a dummy hash for unknown users);
//! a locked account or address gets 429 `rate_limited` whether or not the account exists.
//! Only after the right password does a user with TOTP on learn more: 401 `totp_required`
//! with a one-time challenge for the code step.

pub mod hasher;
pub mod policy;
pub mod throttle;
pub mod token_cache;
pub mod totp;
pub mod two_factor;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use self::hasher::{HashError, HashPool};
use self::policy::PasswordPolicy;
use self::throttle::{LoginThrottle, ThrottleConfig};
use crate::authz::{Actor, Principal};
use crate::config::Settings;
use crate::domain::now;
use crate::error::{ApiError, ApiResult, Code};
use crate::store::Store;
use crate::store::auth::{self as repo, SessionRow, UserRow};

pub const API_TOKEN_PREFIX: &str = "vlm_";

#[derive(Clone)]
pub struct AuthService {
    settings: Arc<Settings>,
    store: Store,
    encoding: Arc<EncodingKey>,
    decoding: Arc<DecodingKey>,
    /// API token use, recorded in memory and written in batches.
    pub usage: super::token_usage::TokenUsage,
    hashes: HashPool,
    throttle: Arc<LoginThrottle>,
    policy: PasswordPolicy,
    /// Seals TOTP secrets and hashes recovery codes (key: the `totp_key` setting).
    vault: Arc<totp::Vault>,
    /// API tokens that checked out, emptied by the event-log follower.
    pub tokens: token_cache::TokenCache,
}

/// A bearer token resolved: who, their refresh family (access tokens), and whether the
/// token may only enrol TOTP (the role requires it and the user has none yet).
pub struct Authenticated {
    pub principal: Principal,
    pub family: Option<String>,
    pub totp_enrolment_only: bool,
}

/// Verified against when the email is unknown or the user disabled, so that answer takes
/// as long as a wrong password. Same parameters as every new hash (a unit test checks);
/// nobody knows its password, and it matches no user anyway.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$9J48lKXUoIC0tihuoHuMbg$p3EgdOU/605albtoJQBgOkWOlnPeJapW1N0sRS5NQQo";

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
}

/// What a successful login or refresh hands out.
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: String,
    pub expires_in: u64,
    pub user: UserRow,
}

pub fn random_secret() -> String {
    URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>())
}

pub fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn invalid_credentials() -> ApiError {
    ApiError::new(Code::InvalidCredentials, "email or password is wrong")
}

fn busy() -> ApiError {
    ApiError::new(
        Code::Unavailable,
        "the server is busy checking other passwords; retry in a moment",
    )
    .with_header("retry-after", "1".into())
}

fn hash_error(e: HashError) -> ApiError {
    match e {
        HashError::Busy => busy(),
        HashError::Failed(why) => ApiError::internal(why),
    }
}

fn rate_limited(retry_after: StdDuration) -> ApiError {
    let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
    ApiError::new(
        Code::RateLimited,
        format!("too many failed logins; try again in {secs} seconds"),
    )
    .with_header("retry-after", secs.to_string())
}

fn invalid_token(why: &str) -> ApiError {
    ApiError::new(
        Code::InvalidToken,
        format!("the bearer token {why}; log in again or use a valid API token"),
    )
}

impl AuthService {
    pub async fn new(settings: Arc<Settings>, store: Store) -> anyhow::Result<AuthService> {
        // One signing secret per instance, shared by every node through the database.
        let secret = repo::init_setting(store.db(), "jwt_secret", &random_secret()).await?;
        // Like the signing secret: in the database, shared by every node. It protects a
        // leaked `user_totp` table, not a full copy of the database (see ARCHITECTURE.md).
        let totp_key = repo::init_setting(store.db(), "totp_key", &random_secret()).await?;
        let hashes = HashPool::start(settings.password_hash_threads, settings.password_hash_queue)?;
        let throttle = LoginThrottle::new(ThrottleConfig {
            max_per_account: settings.login_max_failures_per_account,
            max_per_address: settings.login_max_failures_per_address,
            window: StdDuration::from_secs(settings.login_failure_window_secs),
            lockout: StdDuration::from_secs(settings.login_lockout_secs),
            max_entries: settings.login_throttle_max_entries,
        });
        Ok(AuthService {
            policy: PasswordPolicy {
                min_length: settings.password_min_length,
            },
            settings,
            encoding: Arc::new(EncodingKey::from_secret(secret.as_bytes())),
            decoding: Arc::new(DecodingKey::from_secret(secret.as_bytes())),
            usage: super::token_usage::TokenUsage::new(store.clone()),
            store,
            hashes,
            throttle: Arc::new(throttle),
            tokens: token_cache::TokenCache::default(),
            vault: Arc::new(totp::Vault::new(&totp_key)?),
        })
    }

    /// Hashes a password on the pool (503 `unavailable` when it is full).
    pub async fn hash_password(&self, password: String) -> ApiResult<String> {
        self.hashes.hash(password).await.map_err(hash_error)
    }

    /// Applies the password policy to `password` for the user with `email`.
    pub fn check_password(&self, password: &str, email: &str) -> ApiResult<()> {
        self.policy
            .check(password, email)
            .map_err(|e| ApiError::validation(vec![e]))
    }

    pub fn password_min_length(&self) -> usize {
        self.policy.min_length
    }

    /// Logs in with email and password; `client` is the caller's address (for throttling).
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: Option<IpAddr>,
        user_agent: Option<String>,
    ) -> ApiResult<Tokens> {
        let email = email.trim().to_lowercase();
        let origin = crate::authz::Origin {
            ip: client.map(|ip| ip.to_string()),
            user_agent,
        };
        let attempt = self
            .throttle
            .begin(&email, client)
            .map_err(|locked| rate_limited(locked.retry_after))?;
        let user = repo::user_by_email(self.store.db(), &email).await?;
        // Verify even for unknown or disabled users so timing does not tell them apart.
        let (hash, user) = match user {
            Some(u) if u.active => (u.password_hash.clone(), Some(u)),
            _ => (DUMMY_HASH.to_string(), None),
        };
        let ok = match self.hashes.verify(password.to_string(), hash).await {
            Ok(ok) => ok,
            Err(e) => {
                self.throttle.abandoned(&attempt);
                return Err(hash_error(e));
            }
        };
        let user = match (ok, user) {
            (true, Some(u)) => u,
            _ => {
                self.audit_failed_login(&email, origin).await?;
                return Err(invalid_credentials());
            }
        };
        if user.totp_enabled {
            self.throttle.first_factor_passed(&attempt);
            return Err(self.totp_challenge(&user).await?);
        }
        self.throttle.succeeded(&attempt);
        let family = super::new_id();
        let tx = self.store.write().await?;
        let who = Principal {
            actor: Actor::User {
                id: user.id.clone(),
                email: user.email.clone(),
            },
            role: user.role.clone(),
            origin,
        };
        let tokens = self.issue(&tx.txn, user, &family).await?;
        super::audit::record(
            &tx.txn,
            Some(&who),
            super::audit::AuditEntry {
                action: "auth.login",
                resource: "user",
                resource_id: Some(&tokens.user.id),
                content_type: None,
                details: serde_json::json!({}),
            },
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user = %tokens.user.id, "login");
        Ok(tokens)
    }

    /// The audit record of a failed login (the address and the email tried; the answer
    /// to the caller is the same whatever the reason).
    async fn audit_failed_login(&self, email: &str, origin: crate::authz::Origin) -> ApiResult<()> {
        let mut who = Principal::anonymous();
        who.origin = origin;
        let tx = self.store.write().await?;
        super::audit::record(
            &tx.txn,
            Some(&who),
            super::audit::AuditEntry {
                action: "auth.login_failed",
                resource: "user",
                resource_id: None,
                content_type: None,
                details: serde_json::json!({ "email": crate::error::clip(email) }),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn issue(
        &self,
        c: &impl sea_orm::ConnectionTrait,
        user: UserRow,
        family: &str,
    ) -> ApiResult<Tokens> {
        let at = now();
        let refresh = random_secret();
        repo::insert_session(
            c,
            &SessionRow {
                id: super::new_id(),
                family_id: family.to_string(),
                user_id: user.id.clone(),
                token_hash: sha256_hex(&refresh),
                expires_at: at + Duration::seconds(self.settings.refresh_token_ttl_secs as i64),
                used_at: None,
                revoked_at: None,
            },
            at,
        )
        .await?;
        let ttl = self.settings.access_token_ttl_secs;
        let claims = Claims {
            sub: user.id.clone(),
            sid: family.to_string(),
            iat: at.timestamp(),
            exp: at.timestamp() + ttl as i64,
        };
        let access = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(ApiError::internal)?;
        Ok(Tokens {
            access_token: access,
            refresh_token: refresh,
            expires_in: ttl,
            user,
        })
    }

    /// Rotates a refresh token. A token used twice means it leaked: the whole family is
    /// revoked, logging out the thief and the owner alike.
    pub async fn refresh(&self, refresh_token: &str) -> ApiResult<Tokens> {
        let hash = sha256_hex(refresh_token);
        let tx = self.store.write().await?;
        let session = repo::session_by_hash(&tx.txn, &hash)
            .await?
            .ok_or_else(|| invalid_token("is not a valid refresh token"))?;
        let at = now();
        if session.revoked_at.is_some() && session.used_at.is_none() {
            return Err(invalid_token("was revoked (logged out)"));
        }
        if session.used_at.is_some() || !repo::mark_session_used(&tx.txn, &session.id, at).await? {
            repo::revoke_family(&tx.txn, &session.family_id, at).await?;
            tx.commit().await?;
            tracing::warn!(family = %session.family_id, "refresh token reused; family revoked");
            return Err(ApiError::new(
                Code::RefreshTokenReused,
                "this refresh token was already used, so every session from that login has been revoked; log in again",
            ));
        }
        if session.expires_at < at {
            return Err(invalid_token("has expired"));
        }
        let user = repo::user_by_id(&tx.txn, &session.user_id)
            .await?
            .filter(|u| u.active)
            .ok_or_else(|| invalid_token("belongs to a disabled user"))?;
        let tokens = self.issue(&tx.txn, user, &session.family_id).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// Ends the session of `refresh_token` (if it names one) and the caller's own session.
    pub async fn logout(
        &self,
        refresh_token: Option<&str>,
        own_family: Option<&str>,
    ) -> ApiResult<()> {
        let tx = self.store.write().await?;
        let at = now();
        if let Some(token) = refresh_token
            && let Some(session) = repo::session_by_hash(&tx.txn, &sha256_hex(token)).await?
        {
            repo::revoke_family(&tx.txn, &session.family_id, at).await?;
        }
        if let Some(family) = own_family {
            repo::revoke_family(&tx.txn, family, at).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Resolves `Authorization: Bearer …` to a principal (and the session family, for
    /// access tokens).
    pub async fn authenticate(&self, bearer: &str) -> ApiResult<Authenticated> {
        let db = self.store.db();
        if let Some(_secret) = bearer.strip_prefix(API_TOKEN_PREFIX) {
            let hash = sha256_hex(bearer);
            if let Some(t) = self.tokens.get(&hash) {
                self.usage.record(&t.id);
                return Ok(Authenticated {
                    principal: Principal {
                        actor: Actor::Token { id: t.id },
                        role: t.role,
                        origin: Default::default(),
                    },
                    family: None,
                    totp_enrolment_only: false,
                });
            }
            let generation = self.tokens.generation();
            let token = repo::token_by_hash(db, &hash)
                .await?
                .ok_or_else(|| invalid_token("is not a known API token"))?;
            if token.revoked_at.is_some() {
                return Err(invalid_token("was revoked"));
            }
            if token.expires_at.is_some_and(|e| e < Utc::now()) {
                return Err(invalid_token("has expired"));
            }
            self.tokens.put(
                hash,
                token_cache::CachedToken {
                    id: token.id.clone(),
                    role: token.role.clone(),
                    expires_at: token.expires_at,
                },
                generation,
            );
            self.usage.record(&token.id);
            // A role's `require_totp` binds its users' logins; tokens have no second factor.
            return Ok(Authenticated {
                principal: Principal {
                    actor: Actor::Token { id: token.id },
                    role: token.role,
                    origin: Default::default(),
                },
                family: None,
                totp_enrolment_only: false,
            });
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        let data = jsonwebtoken::decode::<Claims>(bearer, &self.decoding, &validation).map_err(
            |e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => {
                    invalid_token("has expired (refresh it at /api/v1/auth/refresh)")
                }
                _ => invalid_token("is not valid"),
            },
        )?;
        let user = repo::user_by_id(db, &data.claims.sub)
            .await?
            .filter(|u| u.active)
            .ok_or_else(|| invalid_token("belongs to a disabled or deleted user"))?;
        if !repo::family_active(db, &data.claims.sid).await? {
            return Err(invalid_token("belongs to a session that was logged out"));
        }
        Ok(Authenticated {
            totp_enrolment_only: user.role_requires_totp && !user.totp_enabled,
            principal: Principal {
                actor: Actor::User {
                    id: user.id,
                    email: user.email,
                },
                role: user.role,
                origin: Default::default(),
            },
            family: Some(data.claims.sid),
        })
    }

    pub async fn user(&self, id: &str) -> ApiResult<UserRow> {
        repo::user_by_id(self.store.db(), id)
            .await?
            .ok_or_else(|| ApiError::new(Code::NotFound, "user not found"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dummy_hash_has_the_parameters_of_new_hashes() {
        let params = |h: &str| h.rsplitn(3, '$').nth(2).map(str::to_string);
        let fresh = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime")
            .block_on(async {
                HashPool::start(1, 0)
                    .expect("pool")
                    .hash("x".into())
                    .await
                    .expect("hash")
            });
        assert_eq!(params(DUMMY_HASH), params(&fresh));
        assert!(
            argon2::password_hash::phc::PasswordHash::new(DUMMY_HASH)
                .is_ok_and(|h| h.salt.is_some() && h.hash.is_some_and(|o| o.len() == 32)),
            "the dummy hash parses, so verifying against it costs a full computation"
        );
    }
}
