//! The built-in roles and their policies, created on a fresh database.

use super::super::new_id;
use crate::authz::adapter::ADMIN_RESOURCES;
use crate::domain::now;
use crate::store::Store;
use crate::store::auth::{self as repo, PolicyRow, RoleRow};

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
    (
        "reviewer",
        "Reads all content, drafts included, and moves entries through review",
    ),
    (
        "public",
        "Anonymous callers; reads nothing until granted (give it `read` only: published content)",
    ),
];

/// The policies a fresh instance starts with: (role, resource, action, condition).
const SEED_POLICIES: &[(&str, &str, &str, Option<&str>)] = &[
    ("admin", "*", "*", None),
    ("editor", "*", "*", None),
    ("editor", "schema", "read", None),
    ("editor", "assets", "*", None),
    ("author", "*", "read", None),
    ("author", "*", "read_drafts", None),
    ("author", "*", "create", None),
    ("author", "*", "update", Some("owner")),
    ("author", "*", "delete", Some("owner")),
    ("author", "*", "transition:in_review", Some("owner")),
    ("author", "*", "transition:draft", Some("owner")),
    ("author", "schema", "read", None),
    ("author", "assets", "create", None),
    ("author", "assets", "read", None),
    ("reviewer", "*", "read", None),
    ("reviewer", "*", "read_drafts", None),
    ("reviewer", "*", "transition:*", None),
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
                require_totp: false,
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
