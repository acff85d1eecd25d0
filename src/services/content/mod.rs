//! Entries: the writes (create, update, delete, publish and unpublish) and what they
//! share. Reads live in `reads`, history in `history`, review in `workflow`, and
//! `schedule`, `trash`, `comments` beside them. Every write: access check → validation →
//! one transaction (row + version + event) → commit.

mod comments;
mod history;
mod locales;
pub mod populate;
mod reads;
mod schedule;
mod trash;
mod workflow;

pub use comments::CommentPatch;
pub use reads::Single;
pub use trash::Trashed;

use std::sync::Arc;

use serde_json::{Map, Value};
use tracing::instrument;

use super::{TypeCache, if_match_ok, new_id};
use crate::authz::{Authz, Grant, Principal};
use crate::config::Settings;
use crate::domain::access::{FieldSet, Visibility};
use crate::domain::query::Surface;
use crate::domain::schema::{ContentTypeDef, FieldType, TypeKind};
use crate::domain::{now, slug, validate};
use crate::error::{ApiError, ApiResult, Code, FieldError, clip};
use crate::services::audit::{self, AuditEntry};
use crate::store::content_types::TypeRow;
use crate::store::entries::{self, EntryRow, VersionRow};
use crate::store::events::{self, NewEvent};
use crate::store::{Store, is_unique_violation};

/// What a client sends to create or update an entry.
#[derive(Debug, Clone, Default)]
pub struct EntryInput {
    pub fields: Map<String, Value>,
    pub locale: Option<String>,
    /// A translation: an entry of the document the new entry joins (create only).
    pub document: Option<String>,
    pub message: Option<String>,
    /// Set by a restore: the version whose data this is (for the audit record).
    pub restored_from: Option<i32>,
}

pub struct Page {
    pub items: Vec<EntryRow>,
    /// What the caller sees of each item (parallel to `items`).
    pub views: Vec<Arc<Visibility>>,
    pub next_cursor: Option<String>,
    pub total: i64,
    /// Whether `total` is the exact count (or the count limit, with more matches).
    pub total_exact: bool,
    pub fields: Option<Vec<String>>,
    /// Related entries, when the list asked for `populate`.
    pub populated: Option<populate::Populated>,
}

#[derive(Clone)]
pub struct ContentService {
    store: Store,
    authz: Authz,
    types: TypeCache,
    settings: Arc<Settings>,
    /// Wakes this node's scheduler when a job is added.
    scheduled: Arc<tokio::sync::Notify>,
    /// Places for lists that may scan (`scan_concurrency`).
    scans: Arc<tokio::sync::Semaphore>,
}

/// The entity tag of an entry's management representation.
pub fn entry_etag(row: &EntryRow) -> String {
    format!("\"{}.{}\"", row.version, row.rev)
}

fn not_found(type_id: &str, id: &str) -> ApiError {
    ApiError::new(
        Code::EntryNotFound,
        format!("there is no `{type_id}` entry `{}`", clip(id)),
    )
}

fn stale(row: &EntryRow) -> ApiError {
    ApiError::new(
        Code::PreconditionFailed,
        format!(
            "the entry changed since you read it (now version {}); reload it, reapply your edit and send the new ETag in If-Match",
            row.version
        ),
    )
    .with_details(serde_json::json!({ "current_version": row.version, "current_etag": entry_etag(row) }))
    .with_header("etag", entry_etag(row))
}

impl ContentService {
    pub fn new(store: Store, authz: Authz, types: TypeCache, settings: Arc<Settings>) -> Self {
        Self {
            store,
            authz,
            types,
            scans: Arc::new(tokio::sync::Semaphore::new(
                settings.scan_concurrency.max(1) as usize,
            )),
            settings,
            scheduled: Arc::new(tokio::sync::Notify::new()),
        }
    }

    /// The fields a grant gives on this row, or 403 when the row is out of its reach.
    fn check_owner<'g>(
        grant: &'g Grant,
        principal: &Principal,
        row: &EntryRow,
        action: &str,
    ) -> ApiResult<&'g FieldSet> {
        grant.fields_for(owns(principal, row)).ok_or_else(|| {
            ApiError::new(
                Code::Forbidden,
                format!("your role may `{action}` only entries you own"),
            )
        })
    }

    /// What the caller sees of an entry on the management surface: what `read_drafts`
    /// grants on it, plus the fields in `wrote` (the ones it just sent).
    fn manage_view(
        &self,
        principal: &Principal,
        row: &EntryRow,
        wrote: Option<&FieldSet>,
    ) -> Visibility {
        let read = self
            .authz
            .grant_of(&principal.role, &row.type_id, "read_drafts")
            .and_then(|g| g.fields_for(owns(principal, row)).cloned())
            .unwrap_or_else(FieldSet::none);
        Visibility {
            surface: Surface::Manage,
            fields: match wrote {
                Some(w) => read.union(w),
                None => read,
            },
        }
    }

    /// Refuses a write of fields the grant does not cover: 403 naming the field, never a
    /// silent drop. A field the caller may read but not write may be sent unchanged (a
    /// client that sends back what it read); one it may not read is refused whatever the
    /// value, so the answer reveals nothing about what the field holds.
    fn check_writable(
        &self,
        ty: &ContentTypeDef,
        writable: &FieldSet,
        readable: &Visibility,
        input: &Map<String, Value>,
        current: Option<&Map<String, Value>>,
    ) -> ApiResult<()> {
        for (name, value) in input {
            let Some(field) = ty.field(name) else {
                continue; // unknown fields are the validator's to report
            };
            if writable.contains(name) {
                continue;
            }
            let unchanged = readable.can_read(field)
                && current.is_some_and(|c| c.get(name).unwrap_or(&Value::Null) == value);
            if !unchanged {
                return Err(ApiError::new(
                    Code::Forbidden,
                    format!(
                        "you may not write field `{name}` of `{}`; leave it out of `fields`",
                        ty.api_id
                    ),
                )
                .with_details(serde_json::json!({ "field": name })));
            }
        }
        Ok(())
    }

    #[instrument(skip_all, fields(content_type = %type_id))]
    pub async fn create(
        &self,
        principal: &Principal,
        type_id: &str,
        input: EntryInput,
    ) -> ApiResult<(EntryRow, Arc<TypeRow>, Visibility)> {
        let grant = self.authz.check(principal, type_id, "create")?;
        let ty = self.types.get(type_id)?;
        // Create rules never carry an ownership condition, so `own` is what they grant.
        let writable = grant.own;
        self.check_writable(
            &ty.def,
            &writable,
            &Visibility::full(Surface::Manage),
            &input.fields,
            None,
        )?;
        // The response shows what the caller may read, plus what it just sent.
        let sent = sent_fields(&input.fields);
        let locale = self.locale_for(&ty.def, input.locale.as_deref())?;
        let mut fields = input.fields;
        let (document, shared_changes) = match input.document.as_deref() {
            Some(anchor) => {
                let (d, changed) = self
                    .join_document(principal, &ty.def, anchor, &locale, &mut fields)
                    .await?;
                (Some(d), changed)
            }
            None => (None, Vec::new()),
        };
        // The caller will own the entry: it sees what `read_drafts` grants on its own,
        // plus what it may write.
        let readable = Visibility {
            surface: Surface::Manage,
            fields: self
                .authz
                .grant_of(&principal.role, type_id, "read_drafts")
                .map(|g| g.own)
                .unwrap_or_else(FieldSet::none)
                .union(&writable),
        };
        let mut doc = validate::validate_document(&ty.def, &fields, true)
            .map_err(|errs| ApiError::validation(hide_unreadable(&ty.def, &readable, errs)))?;
        let message = check_message(input.message)?;

        let tx = self.store.write().await?;
        if ty.def.kind == TypeKind::Singleton && entries::count_of_type(&tx.txn, type_id).await? > 0
        {
            return Err(ApiError::new(
                Code::AlreadyExists,
                format!(
                    "`{type_id}` is a singleton and already has its entry; update that one instead"
                ),
            ));
        }
        let id = new_id();
        let slug = self
            .prepare_refs(&tx.txn, &ty.def, &locale, &mut doc, None, None)
            .await?;
        let at = now();
        let mut row = EntryRow {
            id: id.clone(),
            type_id: type_id.to_string(),
            locale,
            document_id: document.unwrap_or_else(|| id.clone()),
            owner: principal.user_id().map(str::to_string),
            status: "draft".into(),
            stage: workflow::first_stage(&ty.def),
            slug,
            published_slug: None,
            version: 1,
            published_version: None,
            rev: 1,
            draft: Value::Object(doc),
            published: None,
            created_at: at,
            updated_at: at,
            published_at: None,
        };
        if !ty.def.options.draft_publish {
            publish_in_place(&mut row, at);
        }
        entries::insert(&tx.txn, &row).await.map_err(|e| {
            if row.document_id != row.id && is_unique_violation(&e) {
                ApiError::new(
                    Code::AlreadyExists,
                    format!(
                        "this document got its `{}` entry at the same moment; update that one",
                        row.locale
                    ),
                )
            } else {
                map_unique(e)
            }
        })?;
        record_version(&tx.txn, &row, principal, message).await?;
        append(&tx.txn, "entry.created", &row, principal).await?;
        self.share(&tx.txn, &ty.def, principal, &row, &shared_changes)
            .await?;
        if row.published_version.is_some() {
            append(&tx.txn, "entry.published", &row, principal).await?;
        }
        let details = serde_json::json!({ "version": row.version, "locale": row.locale, "fields": field_names(&row.draft) });
        audit_entry(&tx.txn, principal, "entry.created", &row, details).await?;
        tx.commit().await?;
        let view = self.manage_view(principal, &row, Some(&sent));
        Ok((row, ty, view))
    }

    /// Validates relations, unique fields and the slug of a document about to be saved;
    /// derives the slug when it is empty. Returns the slug to store in the row. Only the
    /// relation ids that are new against `previous` must exist: a link to an entry that
    /// was since trashed or deleted stays stored (it resolves as absent), never an error.
    async fn prepare_refs(
        &self,
        c: &impl sea_orm::ConnectionTrait,
        ty: &ContentTypeDef,
        locale: &str,
        doc: &mut Map<String, Value>,
        entry_id: Option<&str>,
        previous: Option<&Value>,
    ) -> ApiResult<Option<String>> {
        let mut errors: Vec<FieldError> = Vec::new();
        for field in &ty.fields {
            match field.ty {
                FieldType::Relation => {
                    let Some(target) = field.target.as_deref() else {
                        continue;
                    };
                    let ids: Vec<String> = match doc.get(&field.name) {
                        Some(Value::String(s)) => vec![s.clone()],
                        Some(Value::Array(items)) => items
                            .iter()
                            .filter_map(|v| v.as_str().map(str::to_string))
                            .collect(),
                        _ => continue,
                    };
                    let before = previous.and_then(|p| p.get(&field.name));
                    let was_there = |id: &String| match before {
                        Some(Value::String(s)) => s == id,
                        Some(Value::Array(items)) => items.iter().any(|v| v.as_str() == Some(id)),
                        _ => false,
                    };
                    let ids: Vec<String> = ids.into_iter().filter(|id| !was_there(id)).collect();
                    if ids.is_empty() {
                        continue;
                    }
                    let found = entries::existing_ids(c, target, &ids).await?;
                    if let Some(missing) = ids.iter().find(|id| !found.contains(id)) {
                        errors.push(FieldError {
                            field: field.name.clone(),
                            code: "invalid_reference",
                            message: format!("there is no `{target}` entry `{}`", clip(missing)),
                        });
                    }
                }
                FieldType::Slug => {}
                _ if field.unique => {
                    if let Some(v) = doc.get(&field.name)
                        && entries::value_taken(c, &ty.api_id, locale, &field.name, v, entry_id)
                            .await?
                    {
                        errors.push(FieldError {
                            field: field.name.clone(),
                            code: "unique",
                            message: "another entry already has this value".into(),
                        });
                    }
                }
                _ => {}
            }
        }
        let mut stored_slug = None;
        let primary = ty.slug_field().map(|f| f.name.clone());
        for field in ty.fields.iter().filter(|f| f.ty == FieldType::Slug) {
            let source = field
                .source
                .clone()
                .or_else(|| ty.options.title_field.clone());
            let given = doc
                .get(&field.name)
                .and_then(Value::as_str)
                .map(str::to_string);
            let is_primary = primary.as_deref() == Some(field.name.as_str());
            let value = match given {
                Some(s) => {
                    if is_primary
                        && entries::slug_taken(c, &ty.api_id, locale, &s, entry_id).await?
                    {
                        errors.push(FieldError {
                            field: field.name.clone(),
                            code: "unique",
                            message: format!("the slug `{}` is taken; choose another", clip(&s)),
                        });
                    }
                    Some(s)
                }
                None => {
                    let base = source
                        .as_ref()
                        .and_then(|s| doc.get(s))
                        .and_then(Value::as_str)
                        .and_then(slug::slugify);
                    match base {
                        Some(base) if is_primary => Some(
                            self.free_slug(c, &ty.api_id, locale, &base, entry_id)
                                .await?,
                        ),
                        other => other,
                    }
                }
            };
            match value {
                Some(v) => {
                    doc.insert(field.name.clone(), Value::String(v.clone()));
                    if is_primary {
                        stored_slug = Some(v);
                    }
                }
                None if field.required => errors.push(FieldError {
                    field: field.name.clone(),
                    code: "required",
                    message: "give a slug, or a title to derive it from".into(),
                }),
                None => {}
            }
        }
        if errors.is_empty() {
            Ok(stored_slug)
        } else {
            Err(ApiError::validation(errors))
        }
    }

    async fn free_slug(
        &self,
        c: &impl sea_orm::ConnectionTrait,
        type_id: &str,
        locale: &str,
        base: &str,
        except: Option<&str>,
    ) -> ApiResult<String> {
        if !entries::slug_taken(c, type_id, locale, base, except).await? {
            return Ok(base.to_string());
        }
        for n in 2..1000 {
            let candidate = format!("{base}-{n}");
            if !entries::slug_taken(c, type_id, locale, &candidate, except).await? {
                return Ok(candidate);
            }
        }
        Ok(format!("{base}-{}", &new_id()[24..]))
    }

    #[instrument(skip_all, fields(content_type = %type_id, entry = %id))]
    pub async fn update(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        input: EntryInput,
        if_match: Option<&str>,
    ) -> ApiResult<(EntryRow, Arc<TypeRow>, Visibility)> {
        let grant = self.authz.check(principal, type_id, "update")?;
        let ty = self.types.get(type_id)?;
        if input.locale.is_some() {
            return Err(ApiError::new(
                Code::InvalidBody,
                "an entry's `locale` cannot change; create an entry in the other locale instead",
            ));
        }
        if input.document.is_some() {
            return Err(ApiError::new(
                Code::InvalidBody,
                "an entry's `document` cannot change; `document` is for creating a translation",
            ));
        }
        let message = check_message(input.message)?;
        let restored_from = input.restored_from;
        let tx = self.store.write().await?;
        let mut row = entries::get_one(&tx.txn, type_id, id, true)
            .await?
            .ok_or_else(|| not_found(type_id, id))?;
        let writable = Self::check_owner(&grant, principal, &row, "update")?;
        if !if_match_ok(if_match, &entry_etag(&row)) {
            return Err(stale(&row));
        }
        let readable = self.manage_view(principal, &row, None);
        self.check_writable(
            &ty.def,
            writable,
            &readable,
            &input.fields,
            row.draft.as_object(),
        )?;
        let sent = sent_fields(&input.fields);
        let mut merged = row.draft.as_object().cloned().unwrap_or_default();
        for (k, v) in input.fields {
            merged.insert(k, v);
        }
        let mut doc = validate::validate_document(&ty.def, &merged, false)
            .map_err(|errs| ApiError::validation(hide_unreadable(&ty.def, &readable, errs)))?;
        row.slug = self
            .prepare_refs(
                &tx.txn,
                &ty.def,
                &row.locale.clone(),
                &mut doc,
                Some(id),
                Some(&row.draft),
            )
            .await?;
        let doc = Value::Object(doc);
        if doc == row.draft && message.is_none() {
            let view = self.manage_view(principal, &row, Some(&sent));
            return Ok((row, ty, view));
        }
        let at = now();
        let content_changed = doc != row.draft;
        let changed_fields = changed_names(&row.draft, &doc);
        row.draft = doc;
        row.version += 1;
        row.rev += 1;
        row.updated_at = at;
        let reset = if content_changed {
            workflow::stage_after_edit(&ty.def, &mut row)
        } else {
            None
        };
        row.status = if row.published_version.is_some() {
            "changed".into()
        } else {
            "draft".into()
        };
        if !ty.def.options.draft_publish {
            publish_in_place(&mut row, at);
        }
        entries::update(&tx.txn, &row).await.map_err(map_unique)?;
        record_version(&tx.txn, &row, principal, message).await?;
        if let Some(r) = &ty.def.options.version_retention {
            entries::prune_versions(&tx.txn, &row, r.keep_last, r.keep_days, at).await?;
        }
        append(&tx.txn, "entry.updated", &row, principal).await?;
        self.share(&tx.txn, &ty.def, principal, &row, &changed_fields)
            .await?;
        if let Some((from, _)) = reset {
            let why = Some("changed after approval: back to review".to_string());
            workflow::record_move(&tx.txn, &row, principal, &from, why).await?;
        }
        if !ty.def.options.draft_publish {
            append(&tx.txn, "entry.published", &row, principal).await?;
        }
        let (action, details) = match restored_from {
            Some(n) => (
                "entry.restored",
                serde_json::json!({ "version": row.version, "restored_from": n, "fields": changed_fields }),
            ),
            None => (
                "entry.updated",
                serde_json::json!({ "version": row.version, "fields": changed_fields, "stage": row.stage }),
            ),
        };
        audit_entry(&tx.txn, principal, action, &row, details).await?;
        tx.commit().await?;
        let view = self.manage_view(principal, &row, Some(&sent));
        Ok((row, ty, view))
    }

    #[instrument(skip_all, fields(content_type = %type_id, entry = %id))]
    pub async fn delete(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        if_match: Option<&str>,
    ) -> ApiResult<()> {
        let grant = self.authz.check(principal, type_id, "delete")?;
        self.types.get(type_id)?;
        let tx = self.store.write().await?;
        let row = entries::get_one(&tx.txn, type_id, id, true)
            .await?
            .ok_or_else(|| not_found(type_id, id))?;
        Self::check_owner(&grant, principal, &row, "delete")?;
        if !if_match_ok(if_match, &entry_etag(&row)) {
            return Err(stale(&row));
        }
        self.trash_in(&tx.txn, &row, principal).await?;
        let details = serde_json::json!({ "version": row.version });
        audit_entry(&tx.txn, principal, "entry.deleted", &row, details).await?;
        tx.commit().await?;
        Ok(())
    }

    #[instrument(skip_all, fields(content_type = %type_id, entry = %id))]
    pub async fn publish(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        publish: bool,
        if_match: Option<&str>,
    ) -> ApiResult<(EntryRow, Arc<TypeRow>, Visibility)> {
        let grant = self.authz.check(principal, type_id, "publish")?;
        let ty = self.types.get(type_id)?;
        let tx = self.store.write().await?;
        let mut row = entries::get_one(&tx.txn, type_id, id, true)
            .await?
            .ok_or_else(|| not_found(type_id, id))?;
        Self::check_owner(&grant, principal, &row, "publish")?;
        if !if_match_ok(if_match, &entry_etag(&row)) {
            return Err(stale(&row));
        }
        let op = if publish {
            workflow::check_publishable(&ty.def, &row)?;
            PublishOp::Publish(None)
        } else {
            PublishOp::Unpublish
        };
        if publish_in(&tx.txn, &ty.def, &mut row, op, principal).await? {
            tx.commit().await?;
        }
        let view = self.manage_view(principal, &row, None);
        Ok((row, ty, view))
    }
}

/// The audit record of an action on an entry.
async fn audit_entry(
    c: &impl sea_orm::ConnectionTrait,
    principal: &Principal,
    action: &str,
    row: &EntryRow,
    details: Value,
) -> ApiResult<()> {
    audit::record(
        c,
        Some(principal),
        AuditEntry {
            action,
            resource: "entry",
            resource_id: Some(&row.id),
            content_type: Some(&row.type_id),
            details,
        },
    )
    .await
}

/// Callers without a user (API tokens, anonymous) own nothing.
pub(crate) fn owns(principal: &Principal, row: &EntryRow) -> bool {
    principal.user_id().is_some() && row.owner.as_deref() == principal.user_id()
}

/// Validation errors as the caller may see them: a problem in a field it may not read
/// (a stored value that no longer fits the type) is reported without naming the field.
fn hide_unreadable(
    ty: &ContentTypeDef,
    readable: &Visibility,
    errs: Vec<FieldError>,
) -> Vec<FieldError> {
    let mut hidden = false;
    let mut out: Vec<FieldError> = errs
        .into_iter()
        .filter(|e| {
            let top = e.field.split(['.', '[']).next().unwrap_or_default();
            let visible = ty.field(top).is_none_or(|f| readable.can_read(f));
            hidden |= !visible;
            visible
        })
        .collect();
    if hidden {
        out.push(FieldError {
            field: "*".into(),
            code: "hidden_field_invalid",
            message: "a field you may not see holds a value the type no longer accepts; ask someone who may edit it".into(),
        });
    }
    out
}

/// The fields a write names (after its rights were checked): a response may echo them.
fn sent_fields(input: &Map<String, Value>) -> FieldSet {
    FieldSet::Only(input.keys().cloned().collect())
}

/// The field names of a document (audit records name fields, never their values).
fn field_names(doc: &Value) -> Vec<String> {
    doc.as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

/// The fields whose values differ between two documents.
fn changed_names(before: &Value, after: &Value) -> Vec<String> {
    let empty = Map::new();
    let before = before.as_object().unwrap_or(&empty);
    let after = after.as_object().unwrap_or(&empty);
    let mut names: Vec<String> = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(*v))
        .map(|(k, _)| k.clone())
        .chain(before.keys().filter(|k| !after.contains_key(*k)).cloned())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn check_message(message: Option<String>) -> ApiResult<Option<String>> {
    match message {
        Some(m) if m.chars().count() > 1000 => Err(ApiError::new(
            Code::InvalidBody,
            "`message` may have at most 1000 characters",
        )),
        Some(m) if m.trim().is_empty() => Ok(None),
        other => Ok(other),
    }
}

/// What a publish step does.
#[derive(Debug, Clone, Copy)]
pub(crate) enum PublishOp {
    /// Put the draft live, or (scheduled publishes) the version it had when scheduled.
    Publish(Option<i32>),
    Unpublish,
}

/// Publishes or unpublishes `row` inside the caller's transaction, with its event and
/// audit record; access and workflow checks are the caller's. Returns whether anything
/// changed (publishing what is live, or unpublishing what is not, changes nothing).
pub(crate) async fn publish_in(
    c: &impl sea_orm::ConnectionTrait,
    ty: &ContentTypeDef,
    row: &mut EntryRow,
    op: PublishOp,
    principal: &Principal,
) -> ApiResult<bool> {
    let at = now();
    let unfit = |errs| {
        let mut e = ApiError::validation(errs);
        e.message = format!(
            "the draft does not fit the content type, so it cannot be published: {}",
            e.message
        );
        e
    };
    match op {
        PublishOp::Publish(version) => {
            let n = version.unwrap_or(row.version);
            if row.published_version == Some(n) {
                return Ok(false);
            }
            if n == row.version {
                // The draft may predate a schema change: publish only what fits the type now.
                let doc = row.draft.as_object().cloned().unwrap_or_default();
                validate::validate_document(ty, &doc, false).map_err(unfit)?;
                publish_in_place(row, at);
            } else {
                let old = entries::get_version(c, &row.id, n).await?.ok_or_else(|| {
                    ApiError::new(
                        Code::VersionNotFound,
                        format!("entry `{}` has no version {n} to publish", row.id),
                    )
                })?;
                let doc = old.data.as_object().cloned().unwrap_or_default();
                let doc = validate::validate_document(ty, &doc, false).map_err(unfit)?;
                // The slug the old version had goes live with it.
                row.published_slug = ty
                    .slug_field()
                    .and_then(|f| doc.get(&f.name))
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .or_else(|| row.slug.clone());
                row.published = Some(Value::Object(doc));
                row.published_version = Some(n);
                row.published_at = Some(at);
                row.status = "changed".into();
            }
        }
        PublishOp::Unpublish => {
            if row.published_version.is_none() {
                return Ok(false);
            }
            row.published = None;
            row.published_slug = None;
            row.published_version = None;
            row.published_at = None;
            row.status = "draft".into();
            row.stage = workflow::first_stage(ty);
        }
    }
    row.rev += 1;
    row.updated_at = at;
    entries::update(c, row).await?;
    let kind = match op {
        PublishOp::Publish(_) => "entry.published",
        PublishOp::Unpublish => "entry.unpublished",
    };
    append(c, kind, row, principal).await?;
    let details = serde_json::json!({ "version": row.published_version.unwrap_or(row.version) });
    audit_entry(c, principal, kind, row, details).await?;
    Ok(true)
}

fn publish_in_place(row: &mut EntryRow, at: chrono::DateTime<chrono::Utc>) {
    row.published = Some(row.draft.clone());
    row.published_slug = row.slug.clone();
    row.published_version = Some(row.version);
    row.published_at = Some(at);
    row.status = "published".into();
    row.stage = "published".into();
}

fn map_unique(e: sea_orm::DbErr) -> ApiError {
    if is_unique_violation(&e) {
        ApiError::validation(vec![FieldError {
            field: "slug".into(),
            code: "unique",
            message: "another entry took this slug at the same moment; retry".into(),
        }])
    } else {
        e.into()
    }
}

/// Records the row's current draft as its version `row.version`.
pub(crate) async fn record_version(
    c: &impl sea_orm::ConnectionTrait,
    row: &EntryRow,
    principal: &Principal,
    message: Option<String>,
) -> ApiResult<()> {
    let v = VersionRow {
        entry_id: row.id.clone(),
        n: row.version,
        data: row.draft.clone(),
        author: principal
            .user_id()
            .map(str::to_string)
            .or_else(|| Some(principal.actor_ref())),
        message,
        created_at: row.updated_at,
    };
    entries::insert_version(c, &row.type_id, &v).await?;
    Ok(())
}

/// An event about an entry, as every service that changes entries records it.
pub(crate) fn entry_event(
    kind: &'static str,
    row: &EntryRow,
    principal: &Principal,
    mut payload: Value,
) -> NewEvent {
    // Every entry event says whose entry it was and whether it was live, so a follower
    // (sync) can tell who may have seen it without the row, which may be gone.
    if let Value::Object(map) = &mut payload {
        map.entry("owner")
            .or_insert_with(|| serde_json::json!(row.owner));
        map.entry("status")
            .or_insert_with(|| serde_json::json!(row.status));
        // The document, for answers resolved through its locales (the follower marks it).
        map.entry("document")
            .or_insert_with(|| serde_json::json!(row.document_id));
    }
    NewEvent {
        kind,
        resource: "entry",
        content_type: Some(row.type_id.clone()),
        entry_id: Some(row.id.clone()),
        locale: Some(row.locale.clone()),
        version: Some(row.version),
        actor: Some(principal.actor_ref()),
        payload,
    }
}

async fn append(
    c: &impl sea_orm::ConnectionTrait,
    kind: &'static str,
    row: &EntryRow,
    principal: &Principal,
) -> ApiResult<i64> {
    let payload = serde_json::json!({
        "status": row.status,
        "stage": row.stage,
        "published_version": row.published_version,
    });
    append_with(c, kind, row, principal, payload).await
}

async fn append_with(
    c: &impl sea_orm::ConnectionTrait,
    kind: &'static str,
    row: &EntryRow,
    principal: &Principal,
    payload: Value,
) -> ApiResult<i64> {
    Ok(events::append(c, entry_event(kind, row, principal, payload)).await?)
}
