//! Administration: users, roles, policies and API tokens, resetting a user's TOTP, plus
//! the seeding of built-in roles and the first administrator.

use serde_json::{Value, json};

use super::auth::{API_TOKEN_PREFIX, AuthService, random_secret, sha256_hex};
use super::{TypeCache, new_id};
use crate::authz::{Authz, Principal};
use crate::domain::now;
use crate::domain::validate::is_email;
use crate::error::{ApiError, ApiResult, Code, FieldError, clip};
use crate::store::Store;
use crate::store::auth::{self as repo, TokenRow, UserRow};
use crate::store::events::{self, NewEvent};

mod access;
mod locales;
mod seed;
mod two_factor;

pub use access::RolePatch;
pub use locales::{LocalePatch, NewLocale};

pub use seed::{BUILTIN_ROLES, seed_roles};

#[derive(Clone)]
pub struct AdminService {
    store: Store,
    authz: Authz,
    auth: AuthService,
    types: TypeCache,
}

pub struct NewUser {
    pub email: String,
    pub password: String,
    pub role: String,
}

pub struct UserPatch {
    pub role: Option<String>,
    pub password: Option<String>,
    pub active: Option<bool>,
}

pub struct NewPolicy {
    pub role: String,
    pub resource: String,
    pub action: String,
    pub fields: Option<Value>,
    pub condition: Option<String>,
}

fn field_err(field: &str, code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::validation(vec![FieldError {
        field: field.into(),
        code,
        message: message.into(),
    }])
}

impl AdminService {
    pub fn new(store: Store, authz: Authz, auth: AuthService, types: TypeCache) -> Self {
        Self {
            store,
            authz,
            auth,
            types,
        }
    }

    async fn role_exists(&self, role: &str) -> ApiResult<bool> {
        Ok(repo::list_roles(self.store.db())
            .await?
            .iter()
            .any(|r| r.name == role))
    }

    /// Creates a user; `principal` None means the CLI or the environment bootstrap.
    pub async fn create_user(
        &self,
        principal: Option<&Principal>,
        new: NewUser,
    ) -> ApiResult<UserRow> {
        if let Some(p) = principal {
            self.authz.check(p, "users", "create")?;
            self.check_delegable(p, &new.role, "role")?;
        }
        let email = new.email.trim().to_lowercase();
        if !is_email(&email) {
            return Err(field_err(
                "email",
                "invalid_email",
                "not an email address like `name@example.com`",
            ));
        }
        self.auth.check_password(&new.password, &email)?;
        if !self.role_exists(&new.role).await? {
            return Err(field_err(
                "role",
                "invalid_reference",
                format!("there is no role `{}`", clip(&new.role)),
            ));
        }
        let hash = self.auth.hash_password(new.password).await?;
        let at = now();
        let user = UserRow {
            id: new_id(),
            email,
            password_hash: hash,
            role: new.role,
            active: true,
            created_at: at,
            updated_at: at,
            totp_enabled: false,
            role_requires_totp: false,
        };
        let tx = self.store.write().await?;
        if repo::user_by_email(&tx.txn, &user.email).await?.is_some() {
            return Err(user_exists(&user.email));
        }
        repo::insert_user(&tx.txn, &user).await.map_err(|e| {
            if crate::store::is_unique_violation(&e) {
                user_exists(&user.email)
            } else {
                e.into()
            }
        })?;
        admin_event(
            &tx.txn,
            "user.created",
            "user",
            principal,
            json!({ "id": user.id, "email": user.email, "role": user.role, "active": user.active }),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    /// Creates the first administrator from the environment when no user exists yet.
    pub async fn bootstrap_admin(&self, email: &str, password: &str) -> ApiResult<Option<UserRow>> {
        if repo::count_users(self.store.db()).await? > 0 {
            return Ok(None);
        }
        self.create_user(
            None,
            NewUser {
                email: email.into(),
                password: password.into(),
                role: "admin".into(),
            },
        )
        .await
        .map(Some)
    }

    pub async fn count_users(&self) -> ApiResult<i64> {
        Ok(repo::count_users(self.store.db()).await?)
    }

    pub async fn list_users(&self, p: &Principal) -> ApiResult<Vec<UserRow>> {
        self.authz.check(p, "users", "read")?;
        Ok(repo::list_users(self.store.db()).await?)
    }

    pub async fn get_user(&self, p: &Principal, id: &str) -> ApiResult<UserRow> {
        self.authz.check(p, "users", "read")?;
        self.auth.user(id).await
    }

    /// Changes a user. The password is hashed first (slow, outside any lock); the row is
    /// then read and written in one write transaction, so concurrent changes of different
    /// attributes never undo each other.
    pub async fn update_user(
        &self,
        p: &Principal,
        id: &str,
        patch: UserPatch,
    ) -> ApiResult<UserRow> {
        self.authz.check(p, "users", "update")?;
        if let Some(role) = &patch.role {
            self.check_delegable(p, role, "role")?;
        }
        if patch.active == Some(false) && p.user_id() == Some(id) {
            return Err(ApiError::new(
                Code::Conflict,
                "you cannot deactivate yourself",
            ));
        }
        // Out of reach before any work is done for it.
        let before = self.auth.user(id).await?;
        self.check_delegable(p, &before.role, "the user's current role")?;
        let new_hash = match patch.password {
            Some(password) => {
                self.auth.check_password(&password, &before.email)?;
                Some(self.auth.hash_password(password).await?)
            }
            None => None,
        };
        let tx = self.store.write().await?;
        let mut user = repo::user_by_id(&tx.txn, id).await?.ok_or_else(|| {
            ApiError::new(Code::NotFound, format!("there is no user `{}`", clip(id)))
        })?;
        // Its role may have changed since: check again under the lock.
        self.check_delegable(p, &user.role, "the user's current role")?;
        let mut changed: Vec<&str> = Vec::new();
        if let Some(role) = patch.role {
            if !repo::list_roles(&tx.txn)
                .await?
                .iter()
                .any(|r| r.name == role)
            {
                return Err(field_err(
                    "role",
                    "invalid_reference",
                    format!("there is no role `{}`", clip(&role)),
                ));
            }
            if role != user.role {
                changed.push("role");
            }
            user.role = role;
        }
        let password_changed = new_hash.is_some();
        if let Some(hash) = new_hash {
            changed.push("password");
            user.password_hash = hash;
        }
        if let Some(active) = patch.active {
            if active != user.active {
                changed.push("active");
            }
            user.active = active;
        }
        user.updated_at = now();
        repo::update_user(&tx.txn, &user).await?;
        if !user.active || password_changed {
            repo::revoke_user_sessions(&tx.txn, &user.id, now()).await?;
        }
        admin_event(
            &tx.txn,
            "user.updated",
            "user",
            Some(p),
            json!({ "id": user.id, "email": user.email, "role": user.role, "active": user.active, "changed": changed }),
        )
        .await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn delete_user(&self, p: &Principal, id: &str) -> ApiResult<()> {
        self.authz.check(p, "users", "delete")?;
        if p.user_id() == Some(id) {
            return Err(ApiError::new(Code::Conflict, "you cannot delete yourself"));
        }
        let user = self.auth.user(id).await?;
        self.check_delegable(p, &user.role, "the user's role")?;
        let tx = self.store.write().await?;
        if repo::delete_user(&tx.txn, id).await? == 0 {
            return Err(ApiError::new(
                Code::NotFound,
                format!("there is no user `{}`", clip(id)),
            ));
        }
        admin_event(
            &tx.txn,
            "user.deleted",
            "user",
            Some(p),
            json!({ "id": user.id, "email": user.email, "role": user.role }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_tokens(&self, p: &Principal) -> ApiResult<Vec<TokenRow>> {
        self.authz.check(p, "tokens", "read")?;
        // This node's recent uses first, so `last_used_at` is current here.
        self.auth.usage.flush().await;
        Ok(repo::list_tokens(self.store.db()).await?)
    }

    /// Creates an API token; the secret is returned once and only its hash is kept.
    pub async fn create_token(
        &self,
        p: &Principal,
        name: &str,
        role: &str,
        expires_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> ApiResult<(TokenRow, String)> {
        self.authz.check(p, "tokens", "create")?;
        self.check_delegable(p, role, "role")?;
        if name.trim().is_empty() || name.chars().count() > 200 {
            return Err(field_err(
                "name",
                "invalid_length",
                "give a name of 1-200 characters",
            ));
        }
        if !self.role_exists(role).await? {
            return Err(field_err(
                "role",
                "invalid_reference",
                format!("there is no role `{}`", clip(role)),
            ));
        }
        if expires_at.is_some_and(|e| e <= chrono::Utc::now()) {
            return Err(field_err(
                "expires_at",
                "in_past",
                "the expiry must be in the future",
            ));
        }
        let secret = format!("{API_TOKEN_PREFIX}{}", random_secret());
        let row = TokenRow {
            id: new_id(),
            name: name.trim().into(),
            role: role.into(),
            token_hash: sha256_hex(&secret),
            prefix: secret.chars().take(10).collect(),
            expires_at,
            revoked_at: None,
            created_by: p.user_id().map(str::to_string),
            created_at: now(),
            last_used_at: None,
        };
        let tx = self.store.write().await?;
        repo::insert_token(&tx.txn, &row).await?;
        admin_event(
            &tx.txn,
            "token.created",
            "token",
            Some(p),
            json!({ "id": row.id, "name": row.name, "role": row.role, "prefix": row.prefix,
                    "expires_at": row.expires_at.as_ref().map(crate::domain::fmt_ts) }),
        )
        .await?;
        tx.commit().await?;
        Ok((row, secret))
    }

    pub async fn revoke_token(&self, p: &Principal, id: &str) -> ApiResult<()> {
        self.authz.check(p, "tokens", "delete")?;
        let tx = self.store.write().await?;
        let Some(token) = repo::token_by_id(&tx.txn, id).await? else {
            return Err(ApiError::new(
                Code::NotFound,
                format!("there is no API token `{}`", clip(id)),
            ));
        };
        self.check_delegable(p, &token.role, "the token's role")?;
        repo::revoke_token(&tx.txn, id, now()).await?;
        admin_event(
            &tx.txn,
            "token.revoked",
            "token",
            Some(p),
            json!({ "id": token.id, "name": token.name, "role": token.role }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn events(
        &self,
        p: &Principal,
        after: i64,
        limit: u64,
    ) -> ApiResult<Vec<events::Event>> {
        self.authz.check(p, "audit", "read")?;
        Ok(events::list_after(self.store.db(), after, limit).await?)
    }
}

impl AdminService {
    /// The audit log, newest first (the `audit` right).
    pub async fn audit(
        &self,
        p: &Principal,
        filter: &crate::store::audit::AuditFilter,
        limit: u64,
    ) -> ApiResult<Vec<crate::store::audit::AuditRow>> {
        self.authz.check(p, "audit", "read")?;
        Ok(crate::store::audit::list(self.store.db(), filter, limit).await?)
    }
}

async fn policy_event(
    c: &impl sea_orm::ConnectionTrait,
    kind: &'static str,
    p: &Principal,
    payload: Value,
) -> ApiResult<i64> {
    admin_event(c, kind, "policy", Some(p), payload).await
}

/// An event about an administration resource, and its audit record; `None` is the CLI
/// or the bootstrap. Payloads name what changed, never a secret or a password hash.
pub(crate) async fn admin_event(
    c: &impl sea_orm::ConnectionTrait,
    kind: &'static str,
    resource: &'static str,
    p: Option<&Principal>,
    payload: Value,
) -> ApiResult<i64> {
    let id = payload["id"]
        .as_str()
        .or_else(|| payload["role"].as_str())
        .map(str::to_string);
    crate::services::audit::record(
        c,
        p,
        crate::services::audit::AuditEntry {
            action: kind,
            resource,
            resource_id: id.as_deref(),
            content_type: None,
            details: payload.clone(),
        },
    )
    .await?;
    Ok(events::append(
        c,
        NewEvent {
            kind,
            resource,
            content_type: None,
            entry_id: None,
            locale: None,
            version: None,
            actor: Some(p.map_or_else(|| "system".to_string(), Principal::actor_ref)),
            payload,
        },
    )
    .await?)
}

fn user_exists(email: &str) -> ApiError {
    ApiError::new(
        Code::AlreadyExists,
        format!("a user with email `{}` exists already", clip(email)),
    )
}
