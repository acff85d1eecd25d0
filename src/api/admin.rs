//! `/api/v1/manage/{users,roles,policies,tokens,events}`: administration.

use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::types::MaybeUndefined;
use poem_openapi::{Object, OpenApi};
use serde_json::Value;

use super::dto::admin::{
    ApiToken, ApiTokenCreated, ApiTokenList, AuditList, AuditRecord, Event, EventList, Locale,
    LocaleList, Policy, PolicyList, Role, RoleList, User, UserList,
};
use super::dto::content::ScheduledJobList;
use super::dto::{Body, Made};
use super::dto::{Text, text};
use super::{Auth, NoContent};
use crate::error::{ApiError, ApiResult, Code};
use crate::services::Services;
use crate::services::admin::{LocalePatch, NewLocale, NewPolicy, NewUser, RolePatch, UserPatch};

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Users, roles, policies, API tokens and the event log
    Administration,
}

pub struct AdminApi {
    pub services: Services,
    pub public_url: String,
}

/// A new user.
#[derive(Object)]
#[oai(rename = "UserCreate", deny_unknown_fields)]
pub struct UserCreate {
    pub email: Text,
    /// 10 to 256 characters.
    #[oai(write_only)]
    pub password: Text,
    /// Role name (default `author`).
    pub role: Option<Text>,
}

/// Changes to a user.
#[derive(Object)]
#[oai(rename = "UserUpdate", deny_unknown_fields)]
pub struct UserUpdate {
    pub role: Option<Text>,
    #[oai(write_only)]
    pub password: Option<Text>,
    /// A deactivated user cannot log in; their sessions end at once.
    pub active: Option<bool>,
}

/// A new role.
#[derive(Object)]
#[oai(rename = "RoleCreate", deny_unknown_fields)]
pub struct RoleCreate {
    /// Lowercase letters, digits and `_`.
    pub name: Text,
    #[oai(default)]
    pub description: Text,
    /// A role whose rights this one inherits.
    pub inherits: Option<Text>,
    /// Its users must log in with TOTP; until they turn it on, their tokens reach only
    /// the enrolment endpoints and `/auth/me` (403 `totp_enrolment_required` elsewhere).
    #[oai(default)]
    pub require_totp: bool,
}

/// Changes to a role (its name and parent stay).
#[derive(Object)]
#[oai(rename = "RoleUpdate", deny_unknown_fields)]
pub struct RoleUpdate {
    pub description: Option<Text>,
    /// See `RoleCreate.require_totp`; applies to live sessions at once.
    pub require_totp: Option<bool>,
}

/// A policy: `role` may do `action` on `resource`.
#[derive(Object)]
#[oai(rename = "PolicyCreate", deny_unknown_fields)]
pub struct PolicyCreate {
    pub role: Text,
    /// A content type api_id, `*` (all content types), or an admin resource
    /// (`schema`, `users`, `roles`, `policies`, `tokens`, `webhooks`, `assets`, `audit`, `locales`).
    pub resource: Text,
    /// `read` (published content on the delivery API, never private fields),
    /// `read_drafts` (the management surface: drafts, versions, diffs, private fields),
    /// `create`, `update`, `delete`, `publish` or `*`.
    pub action: Text,
    /// Field rules for `read`, `read_drafts`, `create`, `update` or `*`:
    /// `{"allow": [...]}` or `{"deny": [...]}`. A field outside the rule never appears in
    /// responses and cannot be filtered, sorted or written (403).
    pub fields: Option<Value>,
    /// `owner`: only on entries the caller owns (for `read`, `read_drafts`, `update`,
    /// `delete`, `publish`); lists show only the caller's own entries.
    pub condition: Option<Text>,
}

/// A new locale.
#[derive(Object)]
#[oai(rename = "LocaleCreate", deny_unknown_fields)]
pub struct LocaleCreate {
    /// A language tag: `en`, `de-CH`, `pt-BR` (letters, digits and `-`, 2-35 characters).
    pub code: Text,
    /// Shown to editors (default: the code).
    pub name: Option<Text>,
    /// The locale to fall back to. Left out: the default locale; `null`: none.
    pub fallback: MaybeUndefined<Text>,
    /// Make it the default locale (it then falls back to nothing).
    #[oai(default)]
    pub default: bool,
}

/// Changes to a locale (its code stays).
#[derive(Object)]
#[oai(rename = "LocaleUpdate", deny_unknown_fields)]
pub struct LocaleUpdate {
    pub name: Option<Text>,
    /// Another locale, or `null` for none.
    pub fallback: MaybeUndefined<Text>,
    /// `true` makes it the default locale.
    pub default: Option<bool>,
}

fn maybe(v: MaybeUndefined<Text>) -> Option<Option<String>> {
    match v {
        MaybeUndefined::Undefined => None,
        MaybeUndefined::Null => Some(None),
        MaybeUndefined::Value(t) => Some(Some(t.into())),
    }
}

/// A new API token.
#[derive(Object)]
#[oai(rename = "TokenCreate", deny_unknown_fields)]
pub struct TokenCreate {
    pub name: Text,
    /// The role the token acts with.
    pub role: Text,
    /// Optional expiry (RFC 3339).
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[OpenApi(prefix_path = "/api/v1/manage", tag = "Tag::Administration")]
impl AdminApi {
    /// List users.
    #[oai(path = "/users", method = "get", operation_id = "listUsers")]
    async fn list_users(&self, auth: Auth) -> ApiResult<Body<UserList>> {
        let rows = self.services.admin.list_users(&auth.0).await?;
        Ok(Body::new(&UserList {
            items: rows.iter().map(User::from).collect(),
            next_cursor: None,
            total: rows.len() as i64,
        }))
    }

    /// Create a user.
    #[oai(path = "/users", method = "post", operation_id = "createUser")]
    async fn create_user(&self, auth: Auth, body: Json<UserCreate>) -> ApiResult<Made<User>> {
        let b = body.0;
        let u = self
            .services
            .admin
            .create_user(
                Some(&auth.0),
                NewUser {
                    email: b.email.into(),
                    password: b.password.into(),
                    role: text(b.role).unwrap_or_else(|| "author".into()),
                },
            )
            .await?;
        Ok(Made::new(&User::from(&u)).header(
            "location",
            format!("{}/api/v1/manage/users/{}", self.public_url, u.id),
        ))
    }

    /// Get a user.
    #[oai(path = "/users/:id", method = "get", operation_id = "getUser")]
    async fn get_user(&self, auth: Auth, id: Path<String>) -> ApiResult<Body<User>> {
        let u = self.services.admin.get_user(&auth.0, &id).await?;
        Ok(Body::new(&User::from(&u)))
    }

    /// Change a user's role, password or active flag.
    #[oai(path = "/users/:id", method = "patch", operation_id = "updateUser")]
    async fn update_user(
        &self,
        auth: Auth,
        id: Path<String>,
        body: Json<UserUpdate>,
    ) -> ApiResult<Body<User>> {
        let b = body.0;
        let u = self
            .services
            .admin
            .update_user(
                &auth.0,
                &id,
                UserPatch {
                    role: text(b.role),
                    password: text(b.password),
                    active: b.active,
                },
            )
            .await?;
        Ok(Body::new(&User::from(&u)))
    }

    /// Reset a user's TOTP (a lost phone): removes it and its recovery codes and ends
    /// the user's sessions; they log in with the password alone, then enrol again.
    #[oai(
        path = "/users/:id/totp",
        method = "delete",
        operation_id = "resetUserTotp"
    )]
    async fn reset_user_totp(&self, auth: Auth, id: Path<String>) -> ApiResult<NoContent> {
        self.services.admin.reset_totp(&auth.0, &id).await?;
        Ok(NoContent)
    }

    /// Delete a user.
    #[oai(path = "/users/:id", method = "delete", operation_id = "deleteUser")]
    async fn delete_user(&self, auth: Auth, id: Path<String>) -> ApiResult<NoContent> {
        self.services.admin.delete_user(&auth.0, &id).await?;
        Ok(NoContent)
    }

    /// List roles.
    #[oai(path = "/roles", method = "get", operation_id = "listRoles")]
    async fn list_roles(&self, auth: Auth) -> ApiResult<Body<RoleList>> {
        let rows = self.services.admin.list_roles(&auth.0).await?;
        Ok(Body::new(&RoleList {
            items: rows.iter().map(Role::from).collect(),
            next_cursor: None,
            total: rows.len() as i64,
        }))
    }

    /// Create a role.
    #[oai(path = "/roles", method = "post", operation_id = "createRole")]
    async fn create_role(&self, auth: Auth, body: Json<RoleCreate>) -> ApiResult<Made<Role>> {
        let b = body.0;
        let r = self
            .services
            .admin
            .create_role(
                &auth.0,
                &b.name,
                &b.description,
                text(b.inherits),
                b.require_totp,
            )
            .await?;
        Ok(Made::new(&Role::from(&r)))
    }

    /// Change a role's description or `require_totp` (within your own rights).
    #[oai(path = "/roles/:name", method = "patch", operation_id = "updateRole")]
    async fn update_role(
        &self,
        auth: Auth,
        name: Path<String>,
        body: Json<RoleUpdate>,
    ) -> ApiResult<Body<Role>> {
        let b = body.0;
        let patch = RolePatch {
            description: text(b.description),
            require_totp: b.require_totp,
        };
        let r = self
            .services
            .admin
            .update_role(&auth.0, &name, patch)
            .await?;
        Ok(Body::new(&Role::from(&r)))
    }

    /// Delete a role that nobody uses (built-in roles stay).
    #[oai(path = "/roles/:name", method = "delete", operation_id = "deleteRole")]
    async fn delete_role(&self, auth: Auth, name: Path<String>) -> ApiResult<NoContent> {
        self.services.admin.delete_role(&auth.0, &name).await?;
        Ok(NoContent)
    }

    /// List the configured locales (any signed-in caller: editors choose among them).
    #[oai(path = "/locales", method = "get", operation_id = "listLocales")]
    async fn list_locales(&self, auth: Auth) -> ApiResult<Body<LocaleList>> {
        let all = self.services.admin.list_locales(&auth.0);
        Ok(Body::new(&LocaleList {
            items: all.all().iter().map(|l| Locale::new(l, &all)).collect(),
            next_cursor: None,
            total: all.all().len() as i64,
        }))
    }

    /// Add a locale: `{"code": "de", "name": "German", "fallback": "en"}`.
    #[oai(path = "/locales", method = "post", operation_id = "createLocale")]
    async fn create_locale(&self, auth: Auth, body: Json<LocaleCreate>) -> ApiResult<Made<Locale>> {
        let b = body.0;
        let l = self
            .services
            .admin
            .create_locale(
                &auth.0,
                NewLocale {
                    code: b.code.into(),
                    name: text(b.name),
                    fallback: maybe(b.fallback),
                    default: b.default,
                },
            )
            .await?;
        Ok(
            Made::new(&Locale::new(&l, &self.services.types.locales())).header(
                "location",
                format!("{}/api/v1/manage/locales/{}", self.public_url, l.code),
            ),
        )
    }

    /// Get a locale.
    #[oai(path = "/locales/:code", method = "get", operation_id = "getLocale")]
    async fn get_locale(&self, auth: Auth, code: Path<String>) -> ApiResult<Body<Locale>> {
        let l = self.services.admin.get_locale(&auth.0, &code)?;
        Ok(Body::new(&Locale::new(&l, &self.services.types.locales())))
    }

    /// Rename a locale, change its fallback, or make it the default.
    #[oai(
        path = "/locales/:code",
        method = "patch",
        operation_id = "updateLocale"
    )]
    async fn update_locale(
        &self,
        auth: Auth,
        code: Path<String>,
        body: Json<LocaleUpdate>,
    ) -> ApiResult<Body<Locale>> {
        let b = body.0;
        let patch = LocalePatch {
            name: text(b.name),
            fallback: maybe(b.fallback),
            default: b.default,
        };
        let l = self
            .services
            .admin
            .update_locale(&auth.0, &code, patch)
            .await?;
        Ok(Body::new(&Locale::new(&l, &self.services.types.locales())))
    }

    /// Delete a locale no entry uses (not the default, and no other locale's fallback).
    #[oai(
        path = "/locales/:code",
        method = "delete",
        operation_id = "deleteLocale"
    )]
    async fn delete_locale(&self, auth: Auth, code: Path<String>) -> ApiResult<NoContent> {
        self.services.admin.delete_locale(&auth.0, &code).await?;
        Ok(NoContent)
    }

    /// List policies.
    #[oai(path = "/policies", method = "get", operation_id = "listPolicies")]
    async fn list_policies(&self, auth: Auth) -> ApiResult<Body<PolicyList>> {
        let rows = self.services.admin.list_policies(&auth.0).await?;
        Ok(Body::new(&PolicyList {
            items: rows.iter().map(Policy::from).collect(),
            next_cursor: None,
            total: rows.len() as i64,
        }))
    }

    /// Grant a right: `{"role": "public", "resource": "article", "action": "read"}`.
    #[oai(path = "/policies", method = "post", operation_id = "createPolicy")]
    async fn create_policy(&self, auth: Auth, body: Json<PolicyCreate>) -> ApiResult<Made<Policy>> {
        let b = body.0;
        let p = self
            .services
            .admin
            .create_policy(
                &auth.0,
                NewPolicy {
                    role: b.role.into(),
                    resource: b.resource.into(),
                    action: b.action.into(),
                    fields: b.fields,
                    condition: text(b.condition),
                },
            )
            .await?;
        Ok(Made::new(&Policy::from(&p)))
    }

    /// Remove a policy.
    #[oai(
        path = "/policies/:id",
        method = "delete",
        operation_id = "deletePolicy"
    )]
    async fn delete_policy(&self, auth: Auth, id: Path<String>) -> ApiResult<NoContent> {
        self.services.admin.delete_policy(&auth.0, &id).await?;
        Ok(NoContent)
    }

    /// List API tokens (never their secrets).
    #[oai(path = "/tokens", method = "get", operation_id = "listTokens")]
    async fn list_tokens(&self, auth: Auth) -> ApiResult<Body<ApiTokenList>> {
        let rows = self.services.admin.list_tokens(&auth.0).await?;
        Ok(Body::new(&ApiTokenList {
            items: rows.iter().map(ApiToken::from).collect(),
            next_cursor: None,
            total: rows.len() as i64,
        }))
    }

    /// Create an API token. The `token` in the answer is shown this once; store it.
    #[oai(path = "/tokens", method = "post", operation_id = "createToken")]
    async fn create_token(
        &self,
        auth: Auth,
        body: Json<TokenCreate>,
    ) -> ApiResult<Made<ApiTokenCreated>> {
        let b = body.0;
        let (row, secret) = self
            .services
            .admin
            .create_token(&auth.0, &b.name, &b.role, b.expires_at)
            .await?;
        let body = ApiTokenCreated {
            info: ApiToken::from(&row),
            token: secret,
        };
        Ok(Made::new(&body).header("cache-control", "no-store"))
    }

    /// Revoke an API token.
    #[oai(path = "/tokens/:id", method = "delete", operation_id = "revokeToken")]
    async fn revoke_token(&self, auth: Auth, id: Path<String>) -> ApiResult<NoContent> {
        self.services.admin.revoke_token(&auth.0, &id).await?;
        Ok(NoContent)
    }

    /// The event log, oldest first, after sequence number `after`.
    #[oai(path = "/events", method = "get", operation_id = "listEvents")]
    async fn events(
        &self,
        auth: Auth,
        after: Query<Option<i64>>,
        limit: Query<Option<u64>>,
    ) -> ApiResult<Body<EventList>> {
        let limit = limit.0.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::new(
                Code::InvalidParameter,
                "`limit` must be from 1 to 1000",
            ));
        }
        let events = self
            .services
            .admin
            .events(&auth.0, after.0.unwrap_or(0), limit)
            .await?;
        let next = events.last().map(|e| e.seq.to_string());
        Ok(Body::new(&EventList {
            items: events.iter().map(Event::from).collect(),
            next_cursor: next,
            total: None,
        }))
    }

    /// The audit log, newest first: logins, schema, entry and workflow changes,
    /// publishing, permissions, users and tokens — who, what, when, from where. Filter by
    /// `actor` (`user:<id>`, `token:<id>`), `action` (e.g. `entry.updated`), `resource`,
    /// `resource_id`, `content_type`, `since`/`until` (RFC 3339); page with `cursor`.
    /// Append-only: no operation changes or removes a record.
    #[oai(path = "/audit", method = "get", operation_id = "listAudit")]
    #[allow(clippy::too_many_arguments)]
    async fn audit(
        &self,
        auth: Auth,
        actor: Query<Option<String>>,
        action: Query<Option<String>>,
        resource: Query<Option<String>>,
        resource_id: Query<Option<String>>,
        content_type: Query<Option<String>>,
        since: Query<Option<String>>,
        until: Query<Option<String>>,
        limit: Query<Option<u64>>,
        cursor: Query<Option<String>>,
    ) -> ApiResult<Body<AuditList>> {
        let limit = limit.0.unwrap_or(50);
        if !(1..=200).contains(&limit) {
            return Err(ApiError::new(
                Code::InvalidParameter,
                "`limit` must be from 1 to 200",
            ));
        }
        let time = |name: &str,
                    v: Option<String>|
         -> ApiResult<Option<chrono::DateTime<chrono::Utc>>> {
            v.map(|s| {
                chrono::DateTime::parse_from_rfc3339(&s)
                    .map(|t| t.with_timezone(&chrono::Utc))
                    .map_err(|_| {
                        ApiError::new(
                            Code::InvalidParameter,
                            format!("`{name}` must be an RFC 3339 time like 2026-01-31T09:00:00Z"),
                        )
                    })
            })
            .transpose()
        };
        let before = match cursor.0 {
            None => None,
            Some(c) => Some(c.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| {
                ApiError::new(
                    Code::InvalidCursor,
                    "`cursor` is not one this server issued; use the `next_cursor` of the previous page",
                )
            })?),
        };
        let filter = crate::store::audit::AuditFilter {
            actor: actor.0,
            action: action.0,
            resource: resource.0,
            resource_id: resource_id.0,
            content_type: content_type.0,
            since: time("since", since.0)?,
            until: time("until", until.0)?,
            before,
        };
        let rows = self.services.admin.audit(&auth.0, &filter, limit).await?;
        let next = (rows.len() as u64 == limit)
            .then(|| rows.last().map(|r| r.seq.to_string()))
            .flatten();
        Ok(Body::new(&AuditList {
            items: rows.iter().map(AuditRecord::from).collect(),
            next_cursor: next,
            total: None,
        }))
    }

    /// Pending scheduled publishes and unpublishes, soonest first, of the types the
    /// caller may read drafts of.
    #[oai(path = "/schedules", method = "get", operation_id = "listSchedules")]
    async fn schedules(&self, auth: Auth) -> ApiResult<Body<ScheduledJobList>> {
        let jobs = self.services.content.pending_schedules(&auth.0).await?;
        Ok(Body::new(&ScheduledJobList::of(&jobs)))
    }
}
