//! Entries across locales: the locale of a new entry, translations joining a document,
//! fields shared by all locales of a document, and delivery's resolution through
//! fallback chains (which entry of a document answers, and where a missing localized
//! value comes from).
//!
//! In a localized type, fields marked `localized` differ per locale; the others (slugs
//! excepted: a URL belongs to its translation) are the document's and are the same in
//! all its entries. A write of a shared field changes the drafts of every entry of the
//! document in the same transaction (each gets a version); each locale's published copy
//! changes when that locale is published.

use serde_json::{Map, Value};

use super::{
    ContentService, append, audit_entry, map_unique, owns, publish_in_place, record_version,
    workflow,
};
use crate::authz::Principal;
use crate::domain::locale::Selection;
use crate::domain::now;
use crate::domain::query::Surface;
use crate::domain::schema::{ContentTypeDef, FieldDef, FieldType};
use crate::error::{ApiError, ApiResult, Code, FieldError, clip};
use crate::store::entries::{self, EntryRow};

/// The fields all entries of a document share (none when the type is not localized).
pub(crate) fn shared_fields(ty: &ContentTypeDef) -> impl Iterator<Item = &FieldDef> {
    ty.fields
        .iter()
        .filter(move |f| ty.options.localized && !f.localized && f.ty != FieldType::Slug)
}

fn is_shared(ty: &ContentTypeDef, name: &str) -> bool {
    shared_fields(ty).any(|f| f.name == name)
}

impl ContentService {
    /// The locale of a new entry: the default when it names none; a configured locale
    /// for localized types.
    pub(super) fn locale_for(
        &self,
        ty: &ContentTypeDef,
        requested: Option<&str>,
    ) -> ApiResult<String> {
        let locales = self.types.locales();
        let default = locales.default_code();
        match requested {
            None => Ok(default.to_string()),
            Some(l) if !ty.options.localized && l != default => Err(ApiError::new(
                Code::InvalidBody,
                format!(
                    "`{}` is not localized: leave out `locale` or use `{default}` (got `{}`)",
                    ty.api_id,
                    clip(l)
                ),
            )),
            Some(l) => Ok(locales.check(l)?.code.clone()),
        }
    }

    /// A translation about to be created in `locale`: the document it joins (named by
    /// any of its entries), with the document's shared values filled into `fields` where
    /// the caller left them out. Returns the document id and the shared fields the caller
    /// sent with other values than the document has (they change every entry).
    pub(super) async fn join_document(
        &self,
        principal: &Principal,
        ty: &ContentTypeDef,
        anchor: &str,
        locale: &str,
        fields: &mut Map<String, Value>,
    ) -> ApiResult<(String, Vec<String>)> {
        if !ty.options.localized {
            return Err(ApiError::new(
                Code::InvalidBody,
                format!(
                    "`{}` is not localized, so its entries have no translations; leave out `document`",
                    ty.api_id
                ),
            ));
        }
        let invalid = |message: String| {
            ApiError::validation(vec![FieldError {
                field: "document".into(),
                code: "invalid_reference",
                message,
            }])
        };
        // The document must be one the caller may read (it takes its values), and one it
        // may not is answered as absent.
        let readable = |row: &EntryRow| {
            self.authz
                .grant_of(&principal.role, &ty.api_id, "read_drafts")
                .is_some_and(|g| g.fields_for(owns(principal, row)).is_some())
        };
        let found = entries::get_one(self.store.db(), &ty.api_id, anchor, false).await?;
        let Some(first) = found.filter(|r| readable(r)) else {
            return Err(invalid(format!(
                "there is no `{}` entry `{}` to translate",
                ty.api_id,
                clip(anchor)
            )));
        };
        let siblings = entries::of_documents(
            &self.store,
            &ty.api_id,
            &[first.document_id.as_str()],
            None,
            false,
        )
        .await?;
        if let Some(there) = siblings.iter().find(|s| s.locale == locale) {
            return Err(ApiError::new(
                Code::AlreadyExists,
                format!(
                    "this document has its `{locale}` entry already (`{}`); update that one",
                    there.id
                ),
            )
            .with_details(serde_json::json!({ "id": there.id })));
        }
        let newest = siblings
            .iter()
            .max_by_key(|s| s.updated_at)
            .unwrap_or(&first);
        let mut differing = Vec::new();
        for f in shared_fields(ty) {
            let theirs = newest.draft.get(&f.name);
            match fields.get(&f.name) {
                None => {
                    if let Some(v) = theirs {
                        fields.insert(f.name.clone(), v.clone());
                    }
                }
                Some(mine) if Some(mine) != theirs => differing.push(f.name.clone()),
                Some(_) => {}
            }
        }
        Ok((first.document_id, differing))
    }

    /// Writes the shared fields `names` of `from` (just saved) into the drafts of the
    /// other entries of its document, each as a new version with its event, inside the
    /// caller's transaction. The caller must be allowed to update each of them.
    pub(super) async fn share(
        &self,
        c: &impl sea_orm::ConnectionTrait,
        ty: &ContentTypeDef,
        principal: &Principal,
        from: &EntryRow,
        names: &[String],
    ) -> ApiResult<()> {
        let names: Vec<&String> = names.iter().filter(|n| is_shared(ty, n)).collect();
        if names.is_empty() {
            return Ok(());
        }
        let siblings =
            entries::of_documents(c, &ty.api_id, &[from.document_id.as_str()], None, false).await?;
        let forbidden = |why: String| {
            ApiError::new(
                Code::Forbidden,
                format!(
                    "`{}` is shared by every locale of this document, and {why}",
                    names
                        .iter()
                        .map(|n| n.as_str())
                        .collect::<Vec<_>>()
                        .join("`, `")
                ),
            )
        };
        let grant = self.authz.grant_of(&principal.role, &ty.api_id, "update");
        let at = now();
        for mut sib in siblings.into_iter().filter(|s| s.id != from.id) {
            let Some(writable) = grant
                .as_ref()
                .and_then(|g| g.fields_for(owns(principal, &sib)))
            else {
                return Err(forbidden(format!(
                    "your role may not update its `{}` entry",
                    sib.locale
                )));
            };
            if let Some(n) = names.iter().find(|n| !writable.contains(n)) {
                return Err(forbidden(format!(
                    "your role may not write `{n}` in its `{}` entry",
                    sib.locale
                )));
            }
            let mut doc = sib.draft.as_object().cloned().unwrap_or_default();
            for n in &names {
                match from.draft.get(n.as_str()) {
                    Some(v) => doc.insert((*n).clone(), v.clone()),
                    None => doc.remove(n.as_str()),
                };
            }
            sib.slug = self
                .prepare_refs(
                    c,
                    ty,
                    &sib.locale.clone(),
                    &mut doc,
                    Some(&sib.id.clone()),
                    Some(&sib.draft),
                )
                .await?;
            let doc = Value::Object(doc);
            if doc == sib.draft {
                continue;
            }
            sib.draft = doc;
            sib.version += 1;
            sib.rev += 1;
            sib.updated_at = at;
            let reset = workflow::stage_after_edit(ty, &mut sib);
            sib.status = if sib.published_version.is_some() {
                "changed".into()
            } else {
                "draft".into()
            };
            if !ty.options.draft_publish {
                publish_in_place(&mut sib, at);
            }
            entries::update(c, &sib).await.map_err(map_unique)?;
            let message = format!("shared fields changed in `{}`", from.locale);
            record_version(c, &sib, principal, Some(message)).await?;
            if let Some(r) = &ty.options.version_retention {
                entries::prune_versions(c, &sib, r.keep_last, r.keep_days, at).await?;
            }
            append(c, "entry.updated", &sib, principal).await?;
            if let Some((from_stage, _)) = reset {
                let why = Some("changed after approval: back to review".to_string());
                workflow::record_move(c, &sib, principal, &from_stage, why).await?;
            }
            if !ty.options.draft_publish {
                append(c, "entry.published", &sib, principal).await?;
            }
            let details = serde_json::json!({ "version": sib.version, "fields": names, "shared_from": from.id });
            audit_entry(c, principal, "entry.updated", &sib, details).await?;
        }
        Ok(())
    }

    /// What a list's `locale` parameter selects. Delivery resolves through fallback
    /// chains (no `locale`: the default locale's); management lists what is stored (no
    /// `locale`: every locale). Types that are not localized have one entry per document
    /// whatever the locale asked for.
    pub(super) fn selection(
        &self,
        ty: &ContentTypeDef,
        surface: Surface,
        requested: Option<&str>,
    ) -> ApiResult<Selection> {
        let locales = self.types.locales();
        if let Some(l) = requested.filter(|l| *l != "*") {
            locales.check(l)?;
        }
        Ok(match (requested, surface) {
            (Some("*"), _) => Selection::All,
            _ if !ty.options.localized => Selection::All,
            (Some(l), Surface::Manage) => Selection::Exact(l.to_string()),
            (None, Surface::Manage) => Selection::All,
            (Some(l), Surface::Delivery) => Selection::Chain(locales.chain(l)),
            (None, Surface::Delivery) => Selection::Chain(locales.chain(locales.default_code())),
        })
    }

    /// The chain delivery resolves related entries through (`populate`): the one asked
    /// for, or the default locale's; none for `locale=*` or management reads.
    pub(super) fn populate_chain(
        &self,
        surface: Surface,
        requested: Option<&str>,
    ) -> Option<Vec<String>> {
        let locales = self.types.locales();
        match (surface, requested) {
            (Surface::Manage, _) | (_, Some("*")) => None,
            (_, Some(l)) => Some(locales.chain(l)),
            (_, None) => Some(locales.chain(locales.default_code())),
        }
    }

    /// The chain a delivered row's missing localized values are looked up along: the part
    /// of the chain asked for after the row's locale, or the row's own chain.
    pub(super) fn value_chain(&self, asked: Option<&[String]>, row: &EntryRow) -> Vec<String> {
        match asked.and_then(|c| c.iter().position(|l| *l == row.locale).map(|i| &c[i + 1..])) {
            Some(rest) => rest.to_vec(),
            None => self
                .types
                .locales()
                .chain(&row.locale)
                .into_iter()
                .skip(1)
                .collect(),
        }
    }

    /// Delivery: fills the localized fields a published row has no value for from the
    /// published entries of its document along its value chain (`value_chain` of the
    /// chain `asked`). One statement for the whole page, only when a value is missing.
    pub(super) async fn fill_fallbacks<'r>(
        &self,
        ty: &ContentTypeDef,
        asked: Option<&[String]>,
        rows: impl IntoIterator<Item = &'r mut EntryRow>,
    ) -> ApiResult<()> {
        if !ty.options.localized {
            return Ok(());
        }
        let mut rows: Vec<(&mut EntryRow, Vec<String>)> = rows
            .into_iter()
            .map(|r| {
                let chain = self.value_chain(asked, r);
                (r, chain)
            })
            .collect();
        let localized: Vec<&str> = ty
            .fields
            .iter()
            .filter(|f| f.localized && f.ty != FieldType::Slug)
            .map(|f| f.name.as_str())
            .collect();
        let missing = |row: &EntryRow| {
            row.published.as_ref().is_some_and(|p| {
                localized
                    .iter()
                    .any(|n| p.get(*n).is_none_or(Value::is_null))
            })
        };
        let mut docs: Vec<&str> = Vec::new();
        let mut wanted: Vec<String> = Vec::new();
        for (row, chain) in &rows {
            if !chain.is_empty() && missing(row) {
                docs.push(&row.document_id);
                wanted.extend(chain.iter().cloned());
            }
        }
        if docs.is_empty() {
            return Ok(());
        }
        wanted.sort();
        wanted.dedup();
        docs.sort();
        docs.dedup();
        let docs: Vec<String> = docs.into_iter().map(str::to_string).collect();
        let doc_refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        let others =
            entries::of_documents(&self.store, &ty.api_id, &doc_refs, Some(&wanted), true).await?;
        for (row, chain) in &mut rows {
            let document = row.document_id.clone();
            let Some(Value::Object(data)) = row.published.as_mut() else {
                continue;
            };
            for name in &localized {
                if data.get(*name).is_some_and(|v| !v.is_null()) {
                    continue;
                }
                let found = chain.iter().find_map(|l| {
                    first_in_chain(&others, &document, std::slice::from_ref(l))
                        .and_then(|o| o.published.as_ref())
                        .and_then(|p| p.get(*name))
                        .filter(|v| !v.is_null())
                });
                if let Some(v) = found {
                    data.insert((*name).to_string(), v.clone());
                }
            }
        }
        Ok(())
    }

    /// Delivery: the entry of `row`'s document that answers for `chain` (the first locale
    /// of the chain the document is published in), or `None`.
    pub(super) async fn resolve_document(
        &self,
        ty: &ContentTypeDef,
        row: EntryRow,
        chain: &[String],
    ) -> ApiResult<Option<EntryRow>> {
        if !ty.options.localized || chain.first() == Some(&row.locale) {
            return Ok(Some(row));
        }
        let found = entries::of_documents(
            &self.store,
            &ty.api_id,
            &[&row.document_id],
            Some(chain),
            true,
        )
        .await?;
        Ok(first_in_chain(&found, &row.document_id, chain).cloned())
    }
}

/// The entry of `document` in the first locale of `chain` that `rows` hold.
pub(super) fn first_in_chain<'a>(
    rows: &'a [EntryRow],
    document: &str,
    chain: &[String],
) -> Option<&'a EntryRow> {
    chain.iter().find_map(|l| {
        rows.iter()
            .find(|r| r.document_id == document && r.locale == *l)
    })
}
