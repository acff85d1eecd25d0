//! Content types: create, read, update, delete. A change to a type with entries is
//! checked against the stored data first: anything that would drop or invalidate a value
//! (a removed field with data, a type or validation change the data no longer fits, a new
//! `required` that entries lack) is refused with 409 and a list of what would be lost,
//! unless the caller passes `force`, in which case the affected values are removed from
//! drafts and published copies, each affected entry gets a new version, and events say so.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use tracing::instrument;

use super::content::{entry_event, record_version};
use super::{TypeCache, if_match_ok};
use crate::authz::{Authz, Principal, adapter::ADMIN_RESOURCES};
use crate::domain::now;
use crate::domain::schema::{ContentTypeDef, FieldType};
use crate::domain::validate::check_value;
use crate::error::{ApiError, ApiResult, Code, clip};
use crate::store::Store;
use crate::store::content_types::{self, TypeRow};
use crate::store::entries::{self, EntryRow};
use crate::store::events::{self, NewEvent};

#[derive(Clone)]
pub struct SchemaService {
    store: Store,
    authz: Authz,
    types: TypeCache,
}

/// One kind of loss a schema change would cause.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub field: String,
    /// `removed_with_data`, `incompatible_values` or `required_missing`.
    pub problem: &'static str,
    pub entries: usize,
    pub example_entry: String,
    pub message: String,
}

pub fn type_etag(row: &TypeRow) -> String {
    format!("\"t{}\"", row.rev)
}

const RESERVED: &[&str] = &["search", "sync", "events", "auth", "manage", "content"];

impl SchemaService {
    pub fn new(store: Store, authz: Authz, types: TypeCache) -> Self {
        Self {
            store,
            authz,
            types,
        }
    }

    /// Refreshes planner statistics after a type with indexed fields is saved.
    async fn after_index_change(&self, def: &ContentTypeDef) {
        if def.fields.iter().any(|f| f.indexed) {
            self.store.optimize().await;
        }
    }

    pub fn list(&self, principal: &Principal) -> ApiResult<Vec<Arc<TypeRow>>> {
        self.authz.check(principal, "schema", "read")?;
        Ok(self.types.all())
    }

    pub fn get(&self, principal: &Principal, api_id: &str) -> ApiResult<Arc<TypeRow>> {
        self.authz.check(principal, "schema", "read")?;
        self.types.get(api_id)
    }

    fn check_def(&self, def: &ContentTypeDef) -> ApiResult<()> {
        let mut errors = def.check();
        if ADMIN_RESOURCES.contains(&def.api_id.as_str()) || RESERVED.contains(&def.api_id.as_str())
        {
            errors.push(crate::error::FieldError {
                field: "api_id".into(),
                code: "reserved",
                message: format!("`{}` is reserved; choose another api_id", clip(&def.api_id)),
            });
        }
        let all = self.types.all();
        for (i, f) in def.fields.iter().enumerate() {
            if let (FieldType::Relation, Some(target)) = (f.ty, &f.target)
                && target != &def.api_id
                && !all.iter().any(|t| &t.def.api_id == target)
            {
                errors.push(crate::error::FieldError {
                    field: format!("fields[{i}].target"),
                    code: "invalid_reference",
                    message: format!(
                        "there is no content type `{}`; create it first",
                        clip(target)
                    ),
                });
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(errors))
        }
    }

    #[instrument(skip_all, fields(content_type = %def.api_id))]
    pub async fn create(
        &self,
        principal: &Principal,
        def: ContentTypeDef,
    ) -> ApiResult<Arc<TypeRow>> {
        self.authz.check(principal, "schema", "create")?;
        self.check_def(&def)?;
        let tx = self.store.write().await?;
        if content_types::get_one(&tx.txn, &def.api_id)
            .await?
            .is_some()
        {
            return Err(ApiError::new(
                Code::AlreadyExists,
                format!(
                    "a content type `{}` exists already; update it with PUT",
                    def.api_id
                ),
            ));
        }
        content_types::insert(&tx.txn, &def, now()).await?;
        append(
            &tx.txn,
            "content_type.created",
            &def.api_id,
            principal,
            serde_json::json!({}),
        )
        .await?;
        audit_type(
            &tx.txn,
            principal,
            "content_type.created",
            &def.api_id,
            serde_json::json!({ "fields": def.fields.len() }),
        )
        .await?;
        crate::store::indexes::ensure_field_indexes(&tx.txn, &def).await?;
        tx.commit().await?;
        self.after_index_change(&def).await;
        self.types.get(&def.api_id)
    }

    #[instrument(skip_all, fields(content_type = %api_id))]
    pub async fn update(
        &self,
        principal: &Principal,
        api_id: &str,
        def: ContentTypeDef,
        if_match: Option<&str>,
        force: bool,
    ) -> ApiResult<Arc<TypeRow>> {
        self.authz.check(principal, "schema", "update")?;
        self.types.get(api_id)?;
        if def.api_id != api_id {
            return Err(ApiError::new(
                Code::InvalidBody,
                format!(
                    "the body's `api_id` (`{}`) must match the URL (`{}`); a type cannot be renamed",
                    clip(&def.api_id),
                    clip(api_id)
                ),
            ));
        }
        self.check_def(&def)?;
        let tx = self.store.write().await?;
        let current = content_types::get_one(&tx.txn, api_id)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    Code::ContentTypeNotFound,
                    format!("there is no content type `{}`", clip(api_id)),
                )
            })?;
        if !if_match_ok(if_match, &type_etag(&current)) {
            return Err(ApiError::new(
                Code::PreconditionFailed,
                "the content type changed since you read it; reload it and send the new ETag in If-Match",
            )
            .with_details(serde_json::json!({ "current_etag": type_etag(&current) }))
            .with_header("etag", type_etag(&current)));
        }
        if current.def == def {
            return Ok(Arc::new(current));
        }
        let rows = entries::all_of_type(&tx.txn, api_id).await?;
        let duplicates = duplicate_conflicts(&current.def, &def, &rows);
        if !duplicates.is_empty() {
            return Err(ApiError::new(
                Code::SchemaChangeConflict,
                "entries share values in a field that would become unique; make those values distinct, then repeat the change (force cannot help here)",
            )
            .with_details(serde_json::json!({ "conflicts": duplicates })));
        }
        if current.def.options.localized && !def.options.localized {
            let mut locales: Vec<&str> = rows.iter().map(|r| r.locale.as_str()).collect();
            locales.sort_unstable();
            locales.dedup();
            if locales.len() > 1 {
                return Err(ApiError::new(
                    Code::SchemaChangeConflict,
                    format!(
                        "`{api_id}` has entries in {} locales ({}); a type that is not localized keeps one locale, so delete the translations first (force cannot help here)",
                        locales.len(),
                        locales.join(", ")
                    ),
                )
                .with_details(serde_json::json!({ "locales": locales })));
            }
        }
        let (conflicts, repairs) = analyse(&current.def, &def, &rows);
        if !conflicts.is_empty() && !force {
            let n = conflicts.len();
            return Err(ApiError::new(
                Code::SchemaChangeConflict,
                format!("this change would lose or invalidate data in {n} field(s); see `details.conflicts`, then fix the entries or repeat with `?force=true` to drop the affected values"),
            )
            .with_details(serde_json::json!({ "conflicts": conflicts })));
        }
        let at = now();
        content_types::update(&tx.txn, &def, current.rev + 1, at).await?;
        append(
            &tx.txn,
            "content_type.updated",
            api_id,
            principal,
            serde_json::json!({ "forced": force && !conflicts.is_empty() }),
        )
        .await?;
        for (row, fields) in repairs {
            repair(&tx.txn, row, &fields, principal, at).await?;
        }
        audit_type(
            &tx.txn,
            principal,
            "content_type.updated",
            api_id,
            serde_json::json!({ "forced": force && !conflicts.is_empty(), "fields": def.fields.len() }),
        )
        .await?;
        crate::store::indexes::ensure_field_indexes(&tx.txn, &def).await?;
        tx.commit().await?;
        self.after_index_change(&def).await;
        self.types.get(api_id)
    }

    #[instrument(skip_all, fields(content_type = %api_id))]
    pub async fn delete(
        &self,
        principal: &Principal,
        api_id: &str,
        force: bool,
        if_match: Option<&str>,
    ) -> ApiResult<()> {
        self.authz.check(principal, "schema", "delete")?;
        let current = self.types.get(api_id)?;
        if !if_match_ok(if_match, &type_etag(&current)) {
            return Err(ApiError::new(
                Code::PreconditionFailed,
                "the content type changed since you read it; reload it",
            )
            .with_header("etag", type_etag(&current)));
        }
        if let Some(other) = self.types.all().iter().find(|t| {
            t.def.api_id != api_id
                && t.def
                    .fields
                    .iter()
                    .any(|f| f.target.as_deref() == Some(api_id))
        }) {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "`{}` has a relation to `{api_id}`; remove that field first",
                    other.def.api_id
                ),
            ));
        }
        let tx = self.store.write().await?;
        let rows = entries::all_of_type(&tx.txn, api_id).await?;
        let trashed = crate::store::trash::ids_of_type(&tx.txn, api_id).await?;
        if (!rows.is_empty() || !trashed.is_empty()) && !force {
            return Err(ApiError::new(
                Code::SchemaChangeConflict,
                format!("`{api_id}` has {} entries and {} in the trash; delete them first or repeat with `?force=true` to delete them with the type", rows.len(), trashed.len()),
            )
            .with_details(serde_json::json!({ "entries": rows.len(), "trashed": trashed.len() })));
        }
        for row in &rows {
            entries::delete(&tx.txn, &row.id).await?;
            events::append(
                &tx.txn,
                entry_event(
                    "entry.deleted",
                    row,
                    principal,
                    serde_json::json!({ "reason": "content_type.deleted" }),
                ),
            )
            .await?;
        }
        for id in &trashed {
            crate::store::trash::purge(&tx.txn, id).await?;
        }
        content_types::delete(&tx.txn, api_id).await?;
        append(
            &tx.txn,
            "content_type.deleted",
            api_id,
            principal,
            serde_json::json!({ "entries_deleted": rows.len() }),
        )
        .await?;
        audit_type(
            &tx.txn,
            principal,
            "content_type.deleted",
            api_id,
            serde_json::json!({ "entries_deleted": rows.len() }),
        )
        .await?;
        crate::store::indexes::drop_field_indexes(&tx.txn, api_id).await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn audit_type(
    c: &impl sea_orm::ConnectionTrait,
    principal: &Principal,
    action: &str,
    api_id: &str,
    details: serde_json::Value,
) -> ApiResult<()> {
    crate::services::audit::record(
        c,
        Some(principal),
        crate::services::audit::AuditEntry {
            action,
            resource: "content_type",
            resource_id: Some(api_id),
            content_type: Some(api_id),
            details,
        },
    )
    .await
}

async fn append(
    c: &impl sea_orm::ConnectionTrait,
    kind: &'static str,
    api_id: &str,
    principal: &Principal,
    payload: Value,
) -> ApiResult<i64> {
    Ok(events::append(
        c,
        NewEvent {
            kind,
            resource: "content_type",
            content_type: Some(api_id.to_string()),
            entry_id: None,
            locale: None,
            version: None,
            actor: Some(principal.actor_ref()),
            payload,
        },
    )
    .await?)
}

/// What the change would do to each stored entry: the conflicts to report (counted per
/// entry, whether the draft, the published copy or both hold the value), and per entry the
/// fields whose values must go if the change is forced.
fn analyse(
    old: &ContentTypeDef,
    new: &ContentTypeDef,
    rows: &[EntryRow],
) -> (Vec<Conflict>, Vec<(EntryRow, Vec<String>)>) {
    type Key = (String, &'static str);
    let mut found: BTreeMap<Key, (usize, String, String)> = BTreeMap::new();
    let mut repairs = Vec::new();
    for row in rows {
        let mut problems: BTreeMap<Key, String> = BTreeMap::new();
        let docs = [Some(&row.draft), row.published.as_ref()];
        for obj in docs.into_iter().flatten().filter_map(Value::as_object) {
            for (key, value) in obj.iter().filter(|(_, v)| !v.is_null()) {
                let problem = match new.field(key) {
                    None => Some((
                        "removed_with_data",
                        format!("field `{key}` would be removed, and entries hold values in it"),
                    )),
                    Some(f) => check_value(f, value, key).err().map(|e| {
                        (
                            "incompatible_values",
                            format!("existing values no longer fit: {}", e.message),
                        )
                    }),
                };
                if let Some((problem, message)) = problem {
                    problems.entry((key.clone(), problem)).or_insert(message);
                }
            }
        }
        for f in new
            .fields
            .iter()
            .filter(|f| f.required && f.ty != FieldType::Slug)
        {
            let missing = row.draft.get(&f.name).is_none_or(Value::is_null);
            let was_required = old.field(&f.name).is_some_and(|o| o.required);
            if missing && !was_required {
                problems.insert(
                    (f.name.clone(), "required_missing"),
                    format!(
                        "`{}` would become required, and entries have no value",
                        f.name
                    ),
                );
            }
        }
        let mut drop: Vec<String> = Vec::new();
        for ((field, problem), message) in problems {
            if problem != "required_missing" && !drop.contains(&field) {
                drop.push(field.clone());
            }
            found
                .entry((field, problem))
                .or_insert((0, row.id.clone(), message))
                .0 += 1;
        }
        if !drop.is_empty() {
            repairs.push((row.clone(), drop));
        }
    }
    let conflicts = found
        .into_iter()
        .map(
            |((field, problem), (entries, example_entry, message))| Conflict {
                field,
                problem,
                entries,
                example_entry,
                message,
            },
        )
        .collect();
    (conflicts, repairs)
}

/// Fields that become `unique` while entries (of one locale) share a value. Forcing cannot
/// fix that without choosing whose data to drop, so it is always refused.
fn duplicate_conflicts(
    old: &ContentTypeDef,
    new: &ContentTypeDef,
    rows: &[EntryRow],
) -> Vec<Conflict> {
    let mut out = Vec::new();
    for f in new.fields.iter().filter(|f| f.unique) {
        if old.field(&f.name).is_some_and(|o| o.unique) {
            continue;
        }
        let mut seen: BTreeMap<(String, String), &str> = BTreeMap::new();
        let mut dupes: Vec<&str> = Vec::new();
        for row in rows {
            let Some(v) = row.draft.get(&f.name).filter(|v| !v.is_null()) else {
                continue;
            };
            match seen.get(&(row.locale.clone(), v.to_string())) {
                Some(first) => {
                    if !dupes.contains(first) {
                        dupes.push(first);
                    }
                    dupes.push(&row.id);
                }
                None => {
                    seen.insert((row.locale.clone(), v.to_string()), &row.id);
                }
            }
        }
        if let Some(first) = dupes.first() {
            out.push(Conflict {
                field: f.name.clone(),
                problem: "duplicate_values",
                entries: dupes.len(),
                example_entry: first.to_string(),
                message: format!("`{}` would become unique, and entries share values in it; make them distinct first", f.name),
            });
        }
    }
    out
}

/// Applies a forced change to one entry: drops the listed fields from its draft (as a new
/// version) and from its published copy.
async fn repair(
    c: &impl sea_orm::ConnectionTrait,
    mut row: EntryRow,
    fields: &[String],
    principal: &Principal,
    at: chrono::DateTime<chrono::Utc>,
) -> ApiResult<()> {
    let strip = |doc: &mut Value| {
        if let Some(obj) = doc.as_object_mut() {
            for f in fields {
                obj.remove(f);
            }
        }
    };
    let before = row.draft.clone();
    strip(&mut row.draft);
    if let Some(p) = row.published.as_mut() {
        strip(p);
    }
    row.rev += 1;
    row.updated_at = at;
    if before != row.draft {
        row.version += 1;
        let message = format!("schema change removed: {}", fields.join(", "));
        record_version(c, &row, principal, Some(message)).await?;
    }
    entries::update(c, &row).await?;
    let payload = serde_json::json!({ "reason": "schema_change", "removed": fields, "status": row.status, "published_version": row.published_version });
    events::append(c, entry_event("entry.updated", &row, principal, payload)).await?;
    Ok(())
}
