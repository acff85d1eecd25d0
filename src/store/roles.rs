//! Roles (with their parent and `require_totp`) and policies: the rows the enforcer is
//! built from. Only the admin service writes them, each change with its event.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr};
use serde_json::Value;

use super::{Sql, get};

#[derive(Debug, Clone)]
pub struct RoleRow {
    pub name: String,
    pub description: String,
    pub inherits: Option<String>,
    pub builtin: bool,
    /// Its users must have TOTP on; until they do, their tokens only enrol.
    pub require_totp: bool,
    pub created_at: DateTime<Utc>,
}

pub async fn list_roles(c: &impl ConnectionTrait) -> Result<Vec<RoleRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT name, description, inherits, builtin, require_totp, created_at FROM roles ORDER BY name");
    q.fetch_all(c)
        .await?
        .iter()
        .map(|r| {
            Ok(RoleRow {
                name: get(r, "name")?,
                description: get(r, "description")?,
                inherits: get(r, "inherits")?,
                builtin: get(r, "builtin")?,
                require_totp: get(r, "require_totp")?,
                created_at: get(r, "created_at")?,
            })
        })
        .collect()
}

pub async fn insert_role(c: &impl ConnectionTrait, r: &RoleRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO roles (name, description, inherits, builtin, require_totp, created_at) VALUES (")
        .bind(r.name.as_str())
        .push(", ")
        .bind(r.description.as_str())
        .push(", ")
        .bind(r.inherits.clone())
        .push(", ")
        .bind(r.builtin)
        .push(", ")
        .bind(r.require_totp)
        .push(", ")
        .bind_ts(r.created_at)
        .push(")");
    q.execute(c).await.map(|_| ())
}

/// Writes a role's description and `require_totp` (its name, parent and kind stay).
pub async fn update_role(c: &impl ConnectionTrait, r: &RoleRow) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE roles SET description = ")
        .bind(r.description.as_str())
        .push(", require_totp = ")
        .bind(r.require_totp)
        .push(" WHERE name = ")
        .bind(r.name.as_str());
    q.execute(c).await
}

/// Deletes a custom role, with the revoked API tokens that still name it.
pub async fn delete_role(c: &impl ConnectionTrait, name: &str) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM api_tokens WHERE role = ")
        .bind(name)
        .push(" AND revoked_at IS NOT NULL");
    q.execute(c).await?;
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM roles WHERE name = ")
        .bind(name)
        .push(" AND builtin = ")
        .bind(false);
    q.execute(c).await
}

pub async fn role_in_use(c: &impl ConnectionTrait, name: &str) -> Result<bool, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT 1 AS x FROM users WHERE role = ")
        .bind(name)
        .push(" UNION ALL SELECT 1 AS x FROM api_tokens WHERE role = ")
        .bind(name)
        .push(" AND revoked_at IS NULL UNION ALL SELECT 1 AS x FROM roles WHERE inherits = ")
        .bind(name);
    Ok(q.fetch_one(c).await?.is_some())
}

#[derive(Debug, Clone)]
pub struct PolicyRow {
    pub id: String,
    pub role: String,
    pub resource: String,
    pub action: String,
    pub fields: Option<Value>,
    pub condition: Option<String>,
    pub created_at: DateTime<Utc>,
}

pub async fn list_policies(c: &impl ConnectionTrait) -> Result<Vec<PolicyRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT id, role, resource, action, fields, condition, created_at FROM policies ORDER BY role, resource, action");
    q.fetch_all(c)
        .await?
        .iter()
        .map(|r| {
            Ok(PolicyRow {
                id: get(r, "id")?,
                role: get(r, "role")?,
                resource: get(r, "resource")?,
                action: get(r, "action")?,
                fields: get(r, "fields")?,
                condition: get(r, "condition")?,
                created_at: get(r, "created_at")?,
            })
        })
        .collect()
}

pub async fn insert_policy(c: &impl ConnectionTrait, p: &PolicyRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push(
        "INSERT INTO policies (id, role, resource, action, fields, condition, created_at) VALUES (",
    )
    .bind(p.id.as_str())
    .push(", ")
    .bind(p.role.as_str())
    .push(", ")
    .bind(p.resource.as_str())
    .push(", ")
    .bind(p.action.as_str())
    .push(", ")
    .bind(p.fields.clone())
    .push(", ")
    .bind(p.condition.clone())
    .push(", ")
    .bind_ts(p.created_at)
    .push(")");
    q.execute(c).await.map(|_| ())
}

pub async fn delete_policy(c: &impl ConnectionTrait, id: &str) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM policies WHERE id = ").bind(id);
    q.execute(c).await
}
