//! History of an entry: its versions, one version, a field-by-field diff of two, and
//! restoring one as a new version (history is never rewritten). Reading history needs
//! `read_drafts`; restoring is an update and goes through it.

use std::sync::Arc;

use serde_json::{Map, Value};
use tracing::instrument;

use super::{ContentService, EntryInput};
use crate::authz::Principal;
use crate::domain::access::Visibility;
use crate::domain::diff;
use crate::error::{ApiError, ApiResult, Code, clip};
use crate::store::content_types::TypeRow;
use crate::store::entries::{self, EntryRow, VersionRow};

impl ContentService {
    pub async fn versions(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        before: Option<i32>,
        limit: u64,
    ) -> ApiResult<(Vec<VersionRow>, i64)> {
        self.get(principal, type_id, id).await?;
        let list = entries::list_versions(self.store.db(), id, before, limit).await?;
        let kept = entries::count_versions(self.store.db(), id).await?;
        Ok((list, kept))
    }

    pub async fn version(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        n: i32,
    ) -> ApiResult<(VersionRow, Arc<TypeRow>, Visibility)> {
        let (_, ty, view) = self.get(principal, type_id, id).await?;
        Ok((self.stored_version(id, n).await?, ty, view))
    }

    /// A version of an entry the caller has already been allowed to read.
    async fn stored_version(&self, id: &str, n: i32) -> ApiResult<VersionRow> {
        entries::get_version(self.store.db(), id, n)
            .await?
            .ok_or_else(|| {
                ApiError::new(
                    Code::VersionNotFound,
                    format!(
                        "entry `{}` has no version {n}; list them at …/versions",
                        clip(id)
                    ),
                )
            })
    }

    pub async fn diff(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        from: i32,
        to: i32,
    ) -> ApiResult<Vec<diff::FieldChange>> {
        let (_, ty, view) = self.get(principal, type_id, id).await?;
        let a = self.stored_version(id, from).await?;
        let b = self.stored_version(id, to).await?;
        let order: Vec<String> = ty.def.fields.iter().map(|f| f.name.clone()).collect();
        let empty = Map::new();
        let mut changes = diff::diff(
            a.data.as_object().unwrap_or(&empty),
            b.data.as_object().unwrap_or(&empty),
            &order,
        );
        changes.retain(|c| match ty.def.field(&c.field) {
            Some(f) => view.can_read(f),
            None => view.fields.contains(&c.field),
        });
        Ok(changes)
    }

    /// Restores version `n` as a new version (history is never rewritten).
    #[instrument(skip_all, fields(content_type = %type_id, entry = %id))]
    pub async fn restore(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        n: i32,
        message: Option<String>,
        if_match: Option<&str>,
    ) -> ApiResult<(EntryRow, Arc<TypeRow>, Visibility)> {
        let (current, ty, _) = self.get(principal, type_id, id).await?;
        let grant = self.authz.check(principal, type_id, "update")?;
        let writable = Self::check_owner(&grant, principal, &current, "update")?.clone();
        let old = self.stored_version(id, n).await?;
        let fields = old.data.as_object().cloned().unwrap_or_default();
        // Replace the whole document: fields absent from the old version are cleared.
        let mut input = EntryInput {
            fields,
            locale: None,
            document: None,
            message: Some(message.unwrap_or_else(|| format!("restored version {n}"))),
            restored_from: Some(n),
        };
        for key in current
            .draft
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>())
            .unwrap_or_default()
        {
            input.fields.entry(key).or_insert(Value::Null);
        }
        // Fields the caller may not write (or not read) keep their current value: a
        // restore never changes what the caller could not have changed by hand.
        let readable = self.manage_view(principal, &current, None);
        input.fields.retain(|key, _| {
            ty.def
                .field(key)
                .is_some_and(|f| writable.contains(key) && readable.can_read(f))
        });
        self.update(principal, type_id, id, input, if_match).await
    }
}
