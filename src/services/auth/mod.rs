//! Authentication: passwords (argon2id, hashed off the async threads), login, rotating
//! refresh tokens with reuse detection, logout, and turning a bearer token into a
//! [`Principal`].
//!
//! Access tokens are short-lived HS256 JWTs naming the user and their refresh family;
//! each use checks that the user is active and the family not revoked, so logout and
//! deactivation take effect at once. Refresh tokens and API tokens are random secrets
//! stored only as SHA-256 hashes.

use std::sync::Arc;

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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
    /// Verified against when the email is unknown, so timing does not reveal which exist.
    dummy_hash: Arc<tokio::sync::OnceCell<String>>,
}

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
        Ok(AuthService {
            settings,
            store,
            encoding: Arc::new(EncodingKey::from_secret(secret.as_bytes())),
            decoding: Arc::new(DecodingKey::from_secret(secret.as_bytes())),
            dummy_hash: Arc::new(tokio::sync::OnceCell::new()),
        })
    }

    pub async fn hash_password(password: String) -> ApiResult<String> {
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || {
            let _guard = span.enter();
            let salt: [u8; 16] = rand::random();
            argon2::Argon2::default()
                .hash_password_with_salt(password.as_bytes(), &salt)
                .map(|h| h.to_string())
                .map_err(ApiError::internal)
        })
        .await
        .map_err(ApiError::internal)?
    }

    async fn verify_password(password: String, hash: String) -> bool {
        tokio::task::spawn_blocking(move || {
            argon2::Argon2::default()
                .verify_password(password.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false)
    }

    pub fn check_password_strength(password: &str) -> ApiResult<()> {
        let n = password.chars().count();
        if !(10..=256).contains(&n) {
            return Err(ApiError::validation(vec![crate::error::FieldError {
                field: "password".into(),
                code: "weak_password",
                message: "use 10 to 256 characters".into(),
            }]));
        }
        Ok(())
    }

    pub async fn login(&self, email: &str, password: &str) -> ApiResult<Tokens> {
        let user = repo::user_by_email(self.store.db(), &email.trim().to_lowercase()).await?;
        // Hash even for unknown users so timing does not reveal which emails exist.
        let (hash, user) = match user {
            Some(u) if u.active => (u.password_hash.clone(), Some(u)),
            _ => (self.dummy_hash().await?, None),
        };
        let ok = Self::verify_password(password.to_string(), hash).await;
        let user = match (ok, user) {
            (true, Some(u)) => u,
            _ => return Err(invalid_credentials()),
        };
        let family = super::new_id();
        let tx = self.store.write().await?;
        let tokens = self.issue(&tx.txn, user, &family).await?;
        tx.commit().await?;
        tracing::info!(user = %tokens.user.id, "login");
        Ok(tokens)
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

    /// A hash to verify against when the email is unknown, made on first need rather than
    /// at start-up.
    async fn dummy_hash(&self) -> ApiResult<String> {
        self.dummy_hash
            .get_or_try_init(|| Self::hash_password(random_secret()))
            .await
            .cloned()
    }

    /// Resolves `Authorization: Bearer …` to a principal (and the session family, for
    /// access tokens).
    pub async fn authenticate(&self, bearer: &str) -> ApiResult<(Principal, Option<String>)> {
        let db = self.store.db();
        if let Some(_secret) = bearer.strip_prefix(API_TOKEN_PREFIX) {
            let token = repo::token_by_hash(db, &sha256_hex(bearer))
                .await?
                .ok_or_else(|| invalid_token("is not a known API token"))?;
            if token.revoked_at.is_some() {
                return Err(invalid_token("was revoked"));
            }
            if token.expires_at.is_some_and(|e| e < Utc::now()) {
                return Err(invalid_token("has expired"));
            }
            let _ = repo::touch_token(db, &token.id, now()).await;
            return Ok((
                Principal {
                    actor: Actor::Token { id: token.id },
                    role: token.role,
                },
                None,
            ));
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
        Ok((
            Principal {
                actor: Actor::User {
                    id: user.id,
                    email: user.email,
                },
                role: user.role,
            },
            Some(data.claims.sid),
        ))
    }

    pub async fn user(&self, id: &str) -> ApiResult<UserRow> {
        repo::user_by_id(self.store.db(), id)
            .await?
            .ok_or_else(|| ApiError::new(Code::NotFound, "user not found"))
    }
}
