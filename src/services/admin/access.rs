//! Roles and policies, and the delegation rule: nobody grants what they do not hold. A
//! principal may create or remove a policy only if its own role holds at least that
//! right (same resource and action, on every entry unless the policy is owner-only, with
//! every field the policy names), and may create a role inheriting, or delete a role,
//! only within its own rights. A policy that would do nothing is refused, never stored.

use serde_json::{Value, json};

use super::{AdminService, NewPolicy, field_err, policy_event};
use crate::authz::{
    ACTIONS, FIELD_ACTIONS, OWNER_ACTIONS, Principal, adapter::ADMIN_RESOURCES,
    is_transition_action,
};
use crate::domain::access::FieldSet;
use crate::domain::now;
use crate::domain::schema::{is_valid_api_id, is_valid_field_name};
use crate::error::{ApiError, ApiResult, Code, FieldError, clip};
use crate::services::new_id;
use crate::store::auth::{self as repo, PolicyRow, RoleRow};
use crate::store::is_unique_violation;

/// The answer when a principal tries to hand out more than it holds.
pub(super) fn beyond_own_rights(what: String) -> ApiError {
    ApiError::new(
        Code::Forbidden,
        format!("{what}: nobody can grant rights they do not hold themselves"),
    )
}

fn policy_json(p: &PolicyRow) -> Value {
    json!({
        "id": p.id, "role": p.role, "resource": p.resource, "action": p.action,
        "fields": p.fields, "condition": p.condition,
    })
}

impl AdminService {
    pub async fn list_roles(&self, p: &Principal) -> ApiResult<Vec<RoleRow>> {
        self.authz.check(p, "roles", "read")?;
        Ok(repo::list_roles(self.store.db()).await?)
    }

    /// Refuses unless the principal's role holds every right of `role`.
    pub(super) fn check_delegable(&self, p: &Principal, role: &str, field: &str) -> ApiResult<()> {
        if self.authz.role_covers(&p.role, role) {
            Ok(())
        } else {
            Err(beyond_own_rights(format!(
                "role `{}` (in `{field}`) has rights your role `{}` does not",
                clip(role),
                p.role
            )))
        }
    }

    fn check_policy_delegable(&self, p: &Principal, policy: &PolicyRow) -> ApiResult<()> {
        let fields = FieldSet::from_rule(policy.fields.as_ref());
        let owner_only = policy.condition.as_deref() == Some("owner");
        if self.authz.role_holds(
            &p.role,
            &policy.resource,
            &policy.action,
            &fields,
            owner_only,
        ) {
            Ok(())
        } else {
            Err(beyond_own_rights(format!(
                "your role `{}` does not hold `{}` on `{}`{}",
                p.role,
                policy.action,
                policy.resource,
                if fields.is_all() && !owner_only {
                    ""
                } else {
                    " with these fields and condition"
                }
            )))
        }
    }

    pub async fn create_role(
        &self,
        p: &Principal,
        name: &str,
        description: &str,
        inherits: Option<String>,
        require_totp: bool,
    ) -> ApiResult<RoleRow> {
        self.authz.check(p, "roles", "create")?;
        if !is_valid_api_id(name) {
            return Err(field_err(
                "name",
                "invalid_format",
                "use 1-64 lowercase letters, digits or `_`, starting with a letter",
            ));
        }
        check_description(description)?;
        if require_totp && name == "public" {
            return Err(public_has_no_logins());
        }
        if let Some(parent) = &inherits {
            self.check_delegable(p, parent, "inherits")?;
        }
        let tx = self.store.write().await?;
        let roles = repo::list_roles(&tx.txn).await?;
        if roles.iter().any(|r| r.name == name) {
            return Err(role_exists(name));
        }
        if let Some(parent) = &inherits
            && !roles.iter().any(|r| &r.name == parent)
        {
            return Err(field_err(
                "inherits",
                "invalid_reference",
                format!("there is no role `{}`", clip(parent)),
            ));
        }
        let role = RoleRow {
            name: name.into(),
            description: description.into(),
            inherits,
            builtin: false,
            require_totp,
            created_at: now(),
        };
        repo::insert_role(&tx.txn, &role).await.map_err(|e| {
            if is_unique_violation(&e) {
                role_exists(name)
            } else {
                e.into()
            }
        })?;
        policy_event(
            &tx.txn,
            "role.created",
            p,
            json!({ "role": name, "description": role.description, "inherits": role.inherits, "require_totp": role.require_totp }),
        )
        .await?;
        tx.commit().await?;
        Ok(role)
    }

    /// Changes a role's description or `require_totp`, for a role within the caller's own
    /// rights (turning the requirement off is as much managing the role as on).
    pub async fn update_role(
        &self,
        p: &Principal,
        name: &str,
        patch: RolePatch,
    ) -> ApiResult<RoleRow> {
        self.authz.check(p, "roles", "update")?;
        if let Some(d) = &patch.description {
            check_description(d)?;
        }
        if patch.require_totp == Some(true) && name == "public" {
            return Err(public_has_no_logins());
        }
        let tx = self.store.write().await?;
        let mut role = repo::list_roles(&tx.txn)
            .await?
            .into_iter()
            .find(|r| r.name == name)
            .ok_or_else(|| {
                ApiError::new(Code::NotFound, format!("there is no role `{}`", clip(name)))
            })?;
        self.check_delegable(p, name, "name")?;
        let mut changed: Vec<&str> = Vec::new();
        if let Some(d) = patch.description {
            if d != role.description {
                changed.push("description");
            }
            role.description = d;
        }
        if let Some(required) = patch.require_totp {
            if required != role.require_totp {
                changed.push("require_totp");
            }
            role.require_totp = required;
        }
        repo::update_role(&tx.txn, &role).await?;
        policy_event(
            &tx.txn,
            "role.updated",
            p,
            json!({ "role": name, "description": role.description, "require_totp": role.require_totp, "changed": changed }),
        )
        .await?;
        tx.commit().await?;
        Ok(role)
    }

    pub async fn delete_role(&self, p: &Principal, name: &str) -> ApiResult<()> {
        self.authz.check(p, "roles", "delete")?;
        if super::BUILTIN_ROLES.iter().any(|(n, _)| *n == name) {
            return Err(ApiError::new(
                Code::Conflict,
                format!("`{}` is a built-in role and cannot be deleted", clip(name)),
            ));
        }
        self.check_delegable(p, name, "name")?;
        let tx = self.store.write().await?;
        if repo::role_in_use(&tx.txn, name).await? {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "role `{}` is still given to users, tokens or other roles",
                    clip(name)
                ),
            ));
        }
        if repo::delete_role(&tx.txn, name).await? == 0 {
            return Err(ApiError::new(
                Code::NotFound,
                format!("there is no role `{}`", clip(name)),
            ));
        }
        policy_event(&tx.txn, "role.deleted", p, json!({ "role": name })).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn list_policies(&self, p: &Principal) -> ApiResult<Vec<PolicyRow>> {
        self.authz.check(p, "policies", "read")?;
        Ok(repo::list_policies(self.store.db()).await?)
    }

    /// Every reason a policy would be wrong or would do nothing.
    async fn policy_errors(
        &self,
        c: &impl sea_orm::ConnectionTrait,
        new: &NewPolicy,
    ) -> ApiResult<Vec<FieldError>> {
        let role_exists = repo::list_roles(c)
            .await?
            .iter()
            .any(|r| r.name == new.role);
        let mut errors = Vec::new();
        let mut err = |field: &str, code: &'static str, message: String| {
            errors.push(FieldError {
                field: field.into(),
                code,
                message,
            })
        };
        if !role_exists {
            err(
                "role",
                "invalid_reference",
                format!("there is no role `{}`", clip(&new.role)),
            );
        }
        let is_admin = ADMIN_RESOURCES.contains(&new.resource.as_str());
        if !(new.resource == "*" || is_admin || is_valid_api_id(&new.resource)) {
            err(
                "resource",
                "invalid_format",
                format!(
                    "use a content type api_id, `*`, or one of: {}",
                    ADMIN_RESOURCES.join(" ")
                ),
            );
        }
        let action = new.action.as_str();
        let transition = is_transition_action(action);
        if action != "*" && !ACTIONS.contains(&action) && !transition {
            err(
                "action",
                "invalid_enum",
                format!(
                    "use one of: {} *, or `transition:<stage>` / `transition:*`",
                    ACTIONS.join(" ")
                ),
            );
        } else if transition && is_admin {
            err(
                "action",
                "not_applicable",
                format!(
                    "`{}` has no workflow: transitions apply to content",
                    new.resource
                ),
            );
        }
        if let Some(c) = &new.condition {
            if c != "owner" {
                err(
                    "condition",
                    "invalid_enum",
                    "the only condition is `owner`".into(),
                );
            } else if is_admin {
                err(
                    "condition",
                    "not_applicable",
                    format!(
                        "`{}` has no owner: ownership applies to content",
                        new.resource
                    ),
                );
            } else if action != "*" && !OWNER_ACTIONS.contains(&action) && !transition {
                err(
                    "condition",
                    "not_applicable",
                    format!(
                        "`{action}` has no owner to compare: use `owner` with {}",
                        OWNER_ACTIONS.join(", ")
                    ),
                );
            }
        }
        if let Some(f) = &new.fields
            && let Some(message) = self.fields_rule_error(new, f, is_admin)
        {
            err("fields", "invalid_format", message);
        }
        Ok(errors)
    }

    /// Why a field rule is malformed or would do nothing, if it is.
    fn fields_rule_error(&self, new: &NewPolicy, rule: &Value, is_admin: bool) -> Option<String> {
        let shape = "use {\"allow\": [field names]} or {\"deny\": [field names]}";
        let Some(obj) = rule.as_object() else {
            return Some(shape.into());
        };
        let (kind, names) = match obj.iter().next() {
            Some((k, v)) if obj.len() == 1 && (k == "allow" || k == "deny") => (k, v),
            _ => return Some(shape.into()),
        };
        let Some(names) = names.as_array() else {
            return Some(shape.into());
        };
        if is_admin {
            return Some(format!(
                "`{}` has no fields: field rules apply to content types",
                new.resource
            ));
        }
        if new.action != "*" && !FIELD_ACTIONS.contains(&new.action.as_str()) {
            return Some(format!(
                "`{}` does not read or write fields: use field rules with {}",
                new.action,
                FIELD_ACTIONS.join(", ")
            ));
        }
        if kind == "deny" && names.is_empty() {
            return Some("an empty `deny` list changes nothing: leave out `fields`".into());
        }
        if names.len() > 200 {
            return Some("name at most 200 fields".into());
        }
        let ty = (new.resource != "*").then(|| self.types.get(&new.resource));
        if let Some(Err(_)) = ty {
            return Some(format!(
                "there is no content type `{}` whose fields the rule could name; create it first",
                clip(&new.resource)
            ));
        }
        for name in names {
            let Some(name) = name.as_str().filter(|n| is_valid_field_name(n)) else {
                return Some("field names are strings like `salary`".into());
            };
            if let Some(Ok(ty)) = &ty
                && ty.def.field(name).is_none()
            {
                return Some(format!("`{}` has no field `{}`", ty.def.api_id, clip(name)));
            }
        }
        None
    }

    pub async fn create_policy(&self, p: &Principal, new: NewPolicy) -> ApiResult<PolicyRow> {
        self.authz.check(p, "policies", "create")?;
        let tx = self.store.write().await?;
        let errors = self.policy_errors(&tx.txn, &new).await?;
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
        self.check_policy_delegable(p, &row)?;
        repo::insert_policy(&tx.txn, &row).await.map_err(|e| {
            if is_unique_violation(&e) {
                ApiError::new(
                    Code::AlreadyExists,
                    "this role already has a policy for that resource and action",
                )
            } else {
                e.into()
            }
        })?;
        policy_event(&tx.txn, "policy.created", p, policy_json(&row)).await?;
        tx.commit().await?;
        Ok(row)
    }

    pub async fn delete_policy(&self, p: &Principal, id: &str) -> ApiResult<()> {
        self.authz.check(p, "policies", "delete")?;
        let missing =
            || ApiError::new(Code::NotFound, format!("there is no policy `{}`", clip(id)));
        let tx = self.store.write().await?;
        let row = repo::list_policies(&tx.txn)
            .await?
            .into_iter()
            .find(|r| r.id == id)
            .ok_or_else(missing)?;
        // Removing a right is managing it: only within the remover's own rights.
        self.check_policy_delegable(p, &row)?;
        if repo::delete_policy(&tx.txn, id).await? == 0 {
            return Err(missing());
        }
        policy_event(&tx.txn, "policy.deleted", p, policy_json(&row)).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// Changes to a role (`None`: keep).
pub struct RolePatch {
    pub description: Option<String>,
    pub require_totp: Option<bool>,
}

fn check_description(description: &str) -> ApiResult<()> {
    if description.chars().count() > 500 {
        return Err(field_err(
            "description",
            "invalid_length",
            "use at most 500 characters",
        ));
    }
    Ok(())
}

fn public_has_no_logins() -> ApiError {
    field_err(
        "require_totp",
        "not_applicable",
        "`public` is the role of anonymous callers, who never log in",
    )
}

fn role_exists(name: &str) -> ApiError {
    ApiError::new(
        Code::AlreadyExists,
        format!("a role `{}` exists already", clip(name)),
    )
}
