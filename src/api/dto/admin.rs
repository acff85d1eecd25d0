//! Response bodies of administration: users, roles, policies, API tokens, the event log
//! and the audit log.

use poem_openapi::Object;
use serde_json::Value;

use super::{JsonObject, Ts, ts};
use crate::domain::locale::{LocaleDef, Locales};
use crate::store::audit::AuditRow;
use crate::store::auth::{TokenRow, UserRow};
use crate::store::events::Event as EventRow;
use crate::store::roles::{PolicyRow, RoleRow};

/// A user account (never its password).
#[derive(Object)]
#[oai(rename = "User")]
pub struct User {
    pub id: String,
    pub email: String,
    pub role: String,
    /// A deactivated user cannot log in.
    pub active: bool,
    pub totp_enabled: bool,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl From<&UserRow> for User {
    fn from(u: &UserRow) -> Self {
        User {
            id: u.id.clone(),
            email: u.email.clone(),
            role: u.role.clone(),
            active: u.active,
            totp_enabled: u.totp_enabled,
            created_at: Ts(u.created_at),
            updated_at: Ts(u.updated_at),
        }
    }
}

/// Users.
#[derive(Object)]
#[oai(rename = "UserList")]
pub struct UserList {
    pub items: Vec<User>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// A role: a named set of rights, optionally inheriting another role's.
#[derive(Object)]
#[oai(rename = "Role")]
pub struct Role {
    pub name: String,
    pub description: String,
    pub inherits: Option<String>,
    /// Built-in roles (`admin`, `editor`, `author`, `reviewer`, `public`) cannot be deleted.
    pub builtin: bool,
    pub require_totp: bool,
}

impl From<&RoleRow> for Role {
    fn from(r: &RoleRow) -> Self {
        Role {
            name: r.name.clone(),
            description: r.description.clone(),
            inherits: r.inherits.clone(),
            builtin: r.builtin,
            require_totp: r.require_totp,
        }
    }
}

/// A configured locale.
#[derive(Object)]
#[oai(rename = "Locale")]
pub struct Locale {
    /// A language tag, e.g. `en`, `de-CH`.
    pub code: String,
    pub name: String,
    /// Where delivery looks when an entry or a localized value is missing in this locale
    /// (followed on: `de-CH` → `de` → `en`). `null`: nowhere.
    pub fallback: Option<String>,
    /// Entries that name no locale are in the default one; delivery reads without a
    /// `locale` resolve through it.
    pub default: bool,
    /// This locale, then its fallbacks in order: the order delivery resolves in.
    pub chain: Vec<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl Locale {
    pub fn new(l: &LocaleDef, all: &Locales) -> Self {
        Locale {
            code: l.code.clone(),
            name: l.name.clone(),
            fallback: l.fallback.clone(),
            default: l.default,
            chain: all.chain(&l.code),
            created_at: Ts(l.created_at),
            updated_at: Ts(l.updated_at),
        }
    }
}

/// The configured locales, by code.
#[derive(Object)]
#[oai(rename = "LocaleList")]
pub struct LocaleList {
    pub items: Vec<Locale>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// Roles.
#[derive(Object)]
#[oai(rename = "RoleList")]
pub struct RoleList {
    pub items: Vec<Role>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// A field rule of a policy: exactly one of `allow` and `deny`.
#[derive(Object)]
#[oai(rename = "FieldRule")]
pub struct FieldRule {
    /// Only these fields.
    pub allow: Option<Vec<String>>,
    /// Every field but these.
    pub deny: Option<Vec<String>>,
}

/// A policy: `role` may do `action` on `resource`.
#[derive(Object)]
#[oai(rename = "Policy")]
pub struct Policy {
    pub id: String,
    pub role: String,
    pub resource: String,
    pub action: String,
    pub fields: Option<FieldRule>,
    /// `owner`: only on entries the caller owns.
    pub condition: Option<String>,
    pub created_at: Ts,
}

fn names(v: &Value, key: &str) -> Option<Vec<String>> {
    v.get(key)?.as_array().map(|a| {
        a.iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    })
}

impl From<&PolicyRow> for Policy {
    fn from(p: &PolicyRow) -> Self {
        Policy {
            id: p.id.clone(),
            role: p.role.clone(),
            resource: p.resource.clone(),
            action: p.action.clone(),
            fields: p.fields.as_ref().map(|f| FieldRule {
                allow: names(f, "allow"),
                deny: names(f, "deny"),
            }),
            condition: p.condition.clone(),
            created_at: Ts(p.created_at),
        }
    }
}

/// Policies.
#[derive(Object)]
#[oai(rename = "PolicyList")]
pub struct PolicyList {
    pub items: Vec<Policy>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// An API token (never its secret).
#[derive(Object)]
#[oai(rename = "ApiToken")]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    /// The role the token acts with.
    pub role: String,
    /// The first characters of the secret, to recognise it.
    pub prefix: String,
    pub expires_at: Option<Ts>,
    pub revoked_at: Option<Ts>,
    pub created_at: Ts,
    /// Recorded in batches: may lag by a few seconds.
    pub last_used_at: Option<Ts>,
}

impl From<&TokenRow> for ApiToken {
    fn from(t: &TokenRow) -> Self {
        ApiToken {
            id: t.id.clone(),
            name: t.name.clone(),
            role: t.role.clone(),
            prefix: t.prefix.clone(),
            expires_at: ts(&t.expires_at),
            revoked_at: ts(&t.revoked_at),
            created_at: Ts(t.created_at),
            last_used_at: ts(&t.last_used_at),
        }
    }
}

/// A new API token with its secret, shown this once.
#[derive(Object)]
#[oai(rename = "ApiTokenCreated")]
pub struct ApiTokenCreated {
    #[oai(flatten)]
    pub info: ApiToken,
    /// The secret (`vlm_…`): send it as `Authorization: Bearer …`. Store it now.
    pub token: String,
}

/// API tokens.
#[derive(Object)]
#[oai(rename = "ApiTokenList")]
pub struct ApiTokenList {
    pub items: Vec<ApiToken>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// One event of the event log.
#[derive(Object)]
#[oai(rename = "Event")]
pub struct Event {
    /// Sequence number: strictly increasing, the log's order.
    pub seq: i64,
    /// e.g. `entry.created`, `entry.published`, `schema.updated`.
    pub kind: String,
    pub resource: String,
    pub content_type: Option<String>,
    pub entry_id: Option<String>,
    pub locale: Option<String>,
    pub version: Option<i64>,
    pub actor: Option<String>,
    pub payload: Value,
    pub created_at: Ts,
}

impl From<&EventRow> for Event {
    fn from(e: &EventRow) -> Self {
        Event {
            seq: e.seq,
            kind: e.kind.clone(),
            resource: e.resource.clone(),
            content_type: e.content_type.clone(),
            entry_id: e.entry_id.clone(),
            locale: e.locale.clone(),
            version: e.version.map(i64::from),
            actor: e.actor.clone(),
            payload: e.payload.clone(),
            created_at: Ts(e.created_at),
        }
    }
}

/// A page of the event log, oldest first.
#[derive(Object)]
#[oai(rename = "EventList")]
pub struct EventList {
    pub items: Vec<Event>,
    /// Pass as `after` for the next page.
    pub next_cursor: Option<String>,
    /// Not counted (`null`).
    pub total: Option<i64>,
}

/// One audit record.
#[derive(Object)]
#[oai(rename = "AuditRecord")]
pub struct AuditRecord {
    pub seq: i64,
    pub at: Ts,
    /// `user:<id>`, `token:<id>`, `anonymous`, `system` or `scheduler`.
    pub actor: String,
    /// The user's email or the token's name, as it was then.
    pub actor_label: Option<String>,
    /// e.g. `auth.login`, `entry.updated`, `policy.created`.
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub content_type: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub details: JsonObject,
}

impl From<&AuditRow> for AuditRecord {
    fn from(r: &AuditRow) -> Self {
        AuditRecord {
            seq: r.seq,
            at: Ts(r.created_at),
            actor: r.actor.clone(),
            actor_label: r.actor_label.clone(),
            action: r.action.clone(),
            resource: r.resource.clone(),
            resource_id: r.resource_id.clone(),
            content_type: r.content_type.clone(),
            ip: r.ip.clone(),
            user_agent: r.user_agent.clone(),
            details: JsonObject::from(r.details.clone()),
        }
    }
}

/// A page of the audit log, newest first.
#[derive(Object)]
#[oai(rename = "AuditList")]
pub struct AuditList {
    pub items: Vec<AuditRecord>,
    /// Pass as `cursor` for the next page.
    pub next_cursor: Option<String>,
    /// Not counted (`null`).
    pub total: Option<i64>,
}
