//! Administration: users, roles, policies and API tokens, plus the seeding of built-in
//! roles and the first administrator.

use serde_json::Value;

use super::auth::{API_TOKEN_PREFIX, AuthService, random_secret, sha256_hex};
use super::new_id;
use crate::authz::{ACTIONS, Authz, Principal, adapter::ADMIN_RESOURCES};
use crate::domain::now;
use crate::domain::schema::is_valid_api_id;
use crate::domain::validate::is_email;
use crate::error::{ApiError, ApiResult, Code, FieldError};
use crate::store::Store;
use crate::store::auth::{self as repo, PolicyRow, RoleRow, TokenRow, UserRow};
use crate::store::events::{self, NewEvent};

pub const BUILTIN_ROLES: &[(&str, &str)] = &[
    (
        "admin",
        "Everything, including users, roles, policies and schema",
    ),
    (
        "editor",
        "Writes and publishes all content; reads the schema",
    ),
    (
        "author",
        "Writes content and may change only entries they own; cannot publish",
    ),
    ("reviewer", "Reads all content, drafts included"),
    ("public", "Anonymous callers; reads nothing until granted"),
];

/// The policies a fresh instance starts with: (role, resource, action, condition).
const SEED_POLICIES: &[(&str, &str, &str, Option<&str>)] = &[
    ("admin", "*", "*", None),
    ("editor", "*", "*", None),
    ("editor", "schema", "read", None),
    ("editor", "assets", "*", None),
    ("author", "*", "read", None),
    ("author", "*", "create", None),
    ("author", "*", "update", Some("owner")),
    ("author", "*", "delete", Some("owner")),
    ("author", "schema", "read", None),
    ("author", "assets", "create", None),
    ("author", "assets", "read", None),
    ("reviewer", "*", "read", None),
    ("reviewer", "schema", "read", None),
];

/// Creates the built-in roles and their policies on a fresh database (idempotent).
pub async fn seed_roles(store: &Store) -> anyhow::Result<()> {
    let db = store.db();
    if !repo::list_roles(db).await?.is_empty() {
        return Ok(());
    }
    let tx = store.write().await?;
    let at = now();
    for (name, description) in BUILTIN_ROLES {
        repo::insert_role(
            &tx.txn,
            &RoleRow {
                name: name.to_string(),
                description: description.to_string(),
                inherits: None,
                builtin: true,
                created_at: at,
            },
        )
        .await?;
    }
    let mut rules: Vec<(&str, &str, &str, Option<&str>)> = SEED_POLICIES.to_vec();
    for resource in ADMIN_RESOURCES {
        rules.push(("admin", resource, "*", None));
    }
    for (role, resource, action, condition) in rules {
        repo::insert_policy(
            &tx.txn,
            &PolicyRow {
                id: new_id(),
                role: role.into(),
                resource: resource.into(),
                action: action.into(),
                fields: None,
                condition: condition.map(str::to_string),
                created_at: at,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[derive(Clone)]
pub struct AdminService {
    store: Store,
    authz: Authz,
    auth: AuthService,
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
    pub fn new(store: Store, authz: Authz, auth: AuthService) -> Self {
        Self { store, authz, auth }
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
                format!("there is no role `{}`", new.role),
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
        };
        let tx = self.store.write().await?;
        if repo::user_by_email(&tx.txn, &user.email).await?.is_some() {
            return Err(ApiError::new(
                Code::AlreadyExists,
                format!("a user with email `{}` exists already", user.email),
            ));
        }
        repo::insert_user(&tx.txn, &user).await?;
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

    pub async fn update_user(
        &self,
        p: &Principal,
        id: &str,
        patch: UserPatch,
    ) -> ApiResult<UserRow> {
        self.authz.check(p, "users", "update")?;
        let mut user = self.auth.user(id).await?;
        if let Some(role) = patch.role {
            if !self.role_exists(&role).await? {
                return Err(field_err(
                    "role",
                    "invalid_reference",
                    format!("there is no role `{role}`"),
                ));
            }
            user.role = role;
        }
        let password_changed = patch.password.is_some();
        if let Some(password) = patch.password {
            self.auth.check_password(&password, &user.email)?;
            user.password_hash = self.auth.hash_password(password).await?;
        }
        if let Some(active) = patch.active {
            if !active && p.user_id() == Some(id) {
                return Err(ApiError::new(
                    Code::Conflict,
                    "you cannot deactivate yourself",
                ));
            }
            user.active = active;
        }
        user.updated_at = now();
        let tx = self.store.write().await?;
        repo::update_user(&tx.txn, &user).await?;
        if !user.active || password_changed {
            repo::revoke_user_sessions(&tx.txn, &user.id, now()).await?;
        }
        tx.commit().await?;
        Ok(user)
    }

    pub async fn delete_user(&self, p: &Principal, id: &str) -> ApiResult<()> {
        self.authz.check(p, "users", "delete")?;
        if p.user_id() == Some(id) {
            return Err(ApiError::new(Code::Conflict, "you cannot delete yourself"));
        }
        let tx = self.store.write().await?;
        if repo::delete_user(&tx.txn, id).await? == 0 {
            return Err(ApiError::new(
                Code::NotFound,
                format!("there is no user `{id}`"),
            ));
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_roles(&self, p: &Principal) -> ApiResult<Vec<RoleRow>> {
        self.authz.check(p, "roles", "read")?;
        Ok(repo::list_roles(self.store.db()).await?)
    }

    pub async fn create_role(
        &self,
        p: &Principal,
        name: &str,
        description: &str,
        inherits: Option<String>,
    ) -> ApiResult<RoleRow> {
        self.authz.check(p, "roles", "create")?;
        if !is_valid_api_id(name) {
            return Err(field_err(
                "name",
                "invalid_format",
                "use 1-64 lowercase letters, digits or `_`, starting with a letter",
            ));
        }
        let roles = repo::list_roles(self.store.db()).await?;
        if roles.iter().any(|r| r.name == name) {
            return Err(ApiError::new(
                Code::AlreadyExists,
                format!("a role `{name}` exists already"),
            ));
        }
        if let Some(parent) = &inherits
            && !roles.iter().any(|r| &r.name == parent)
        {
            return Err(field_err(
                "inherits",
                "invalid_reference",
                format!("there is no role `{parent}`"),
            ));
        }
        let role = RoleRow {
            name: name.into(),
            description: description.into(),
            inherits,
            builtin: false,
            created_at: now(),
        };
        let tx = self.store.write().await?;
        repo::insert_role(&tx.txn, &role).await?;
        policy_event(
            &tx.txn,
            "role.created",
            p,
            serde_json::json!({ "role": name }),
        )
        .await?;
        tx.commit().await?;
        self.authz.reload().await?;
        Ok(role)
    }

    pub async fn delete_role(&self, p: &Principal, name: &str) -> ApiResult<()> {
        self.authz.check(p, "roles", "delete")?;
        if BUILTIN_ROLES.iter().any(|(n, _)| *n == name) {
            return Err(ApiError::new(
                Code::Conflict,
                format!("`{name}` is a built-in role and cannot be deleted"),
            ));
        }
        let tx = self.store.write().await?;
        if repo::role_in_use(&tx.txn, name).await? {
            return Err(ApiError::new(
                Code::Conflict,
                format!("role `{name}` is still given to users, tokens or other roles"),
            ));
        }
        if repo::delete_role(&tx.txn, name).await? == 0 {
            return Err(ApiError::new(
                Code::NotFound,
                format!("there is no role `{name}`"),
            ));
        }
        policy_event(
            &tx.txn,
            "role.deleted",
            p,
            serde_json::json!({ "role": name }),
        )
        .await?;
        tx.commit().await?;
        self.authz.reload().await?;
        Ok(())
    }

    pub async fn list_policies(&self, p: &Principal) -> ApiResult<Vec<PolicyRow>> {
        self.authz.check(p, "policies", "read")?;
        Ok(repo::list_policies(self.store.db()).await?)
    }

    pub async fn create_policy(&self, p: &Principal, new: NewPolicy) -> ApiResult<PolicyRow> {
        self.authz.check(p, "policies", "create")?;
        let mut errors = Vec::new();
        if !self.role_exists(&new.role).await? {
            errors.push(FieldError {
                field: "role".into(),
                code: "invalid_reference",
                message: format!("there is no role `{}`", new.role),
            });
        }
        let resource_ok = new.resource == "*"
            || ADMIN_RESOURCES.contains(&new.resource.as_str())
            || is_valid_api_id(&new.resource);
        if !resource_ok {
            errors.push(FieldError { field: "resource".into(), code: "invalid_format", message: "use a content type api_id, `*`, or one of: schema users roles policies tokens webhooks assets audit locales".into() });
        }
        if new.action != "*" && !ACTIONS.contains(&new.action.as_str()) {
            errors.push(FieldError {
                field: "action".into(),
                code: "invalid_enum",
                message: "use one of: read create update delete publish *".into(),
            });
        }
        if let Some(c) = &new.condition
            && c != "owner"
        {
            errors.push(FieldError {
                field: "condition".into(),
                code: "invalid_enum",
                message: "the only condition is `owner`".into(),
            });
        }
        if let Some(f) = &new.fields {
            let ok = f.as_object().is_some_and(|o| {
                o.len() == 1
                    && o.iter().all(|(k, v)| {
                        (k == "allow" || k == "deny")
                            && v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
                    })
            });
            if !ok {
                errors.push(FieldError {
                    field: "fields".into(),
                    code: "invalid_format",
                    message: "use {\"allow\": [names]} or {\"deny\": [names]}".into(),
                });
            }
        }
        if !errors.is_empty() {
            return Err(ApiError::validation(errors));
        }
        let row = PolicyRow {
            id: new_id(),
            role: new.role,
            resource: new.resource,
            action: new.action,
            fields: new.fields,
            condition: new.condition,
            created_at: now(),
        };
        let tx = self.store.write().await?;
        repo::insert_policy(&tx.txn, &row).await.map_err(|e| {
            if crate::store::is_unique_violation(&e) {
                ApiError::new(
                    Code::AlreadyExists,
                    "this role already has a policy for that resource and action",
                )
            } else {
                e.into()
            }
        })?;
        policy_event(&tx.txn, "policy.created", p, serde_json::json!({ "id": row.id, "role": row.role, "resource": row.resource, "action": row.action })).await?;
        tx.commit().await?;
        self.authz.reload().await?;
        Ok(row)
    }

    pub async fn delete_policy(&self, p: &Principal, id: &str) -> ApiResult<()> {
        self.authz.check(p, "policies", "delete")?;
        let tx = self.store.write().await?;
        if repo::delete_policy(&tx.txn, id).await? == 0 {
            return Err(ApiError::new(
                Code::NotFound,
                format!("there is no policy `{id}`"),
            ));
        }
        policy_event(
            &tx.txn,
            "policy.deleted",
            p,
            serde_json::json!({ "id": id }),
        )
        .await?;
        tx.commit().await?;
        self.authz.reload().await?;
        Ok(())
    }

    pub async fn list_tokens(&self, p: &Principal) -> ApiResult<Vec<TokenRow>> {
        self.authz.check(p, "tokens", "read")?;
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
                format!("there is no role `{role}`"),
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
        tx.commit().await?;
        Ok((row, secret))
    }

    pub async fn revoke_token(&self, p: &Principal, id: &str) -> ApiResult<()> {
        self.authz.check(p, "tokens", "delete")?;
        let tx = self.store.write().await?;
        if repo::token_by_id(&tx.txn, id).await?.is_none() {
            return Err(ApiError::new(
                Code::NotFound,
                format!("there is no API token `{id}`"),
            ));
        }
        repo::revoke_token(&tx.txn, id, now()).await?;
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

async fn policy_event(
    c: &impl sea_orm::ConnectionTrait,
    kind: &'static str,
    p: &Principal,
    payload: Value,
) -> ApiResult<i64> {
    Ok(events::append(
        c,
        NewEvent {
            kind,
            resource: "policy",
            content_type: None,
            entry_id: None,
            locale: None,
            version: None,
            actor: Some(p.actor_ref()),
            payload,
        },
    )
    .await?)
}
