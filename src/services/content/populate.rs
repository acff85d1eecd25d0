//! `populate`: the entries that relation fields point to, fetched in batches (one
//! statement per relation field per level, whatever the number of rows) and shown as
//! the caller may see them. A related entry the caller may not read (no right on its
//! type, an owner-only right on someone else's entry) or that is not published (on
//! delivery) is absent, exactly as if it did not exist: nothing about it leaks.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::Value;

use super::{ContentService, owns};
use crate::authz::Principal;
use crate::domain::access::Visibility;
use crate::domain::query::Surface;
use crate::domain::query::populate::{PopulateTree, parse_populate};
use crate::domain::schema::{ContentTypeDef, FieldType};
use crate::error::{ApiError, ApiResult, Code, clip};
use crate::store::content_types::TypeRow;
use crate::store::entries::{self, EntryRow};

/// Most ids fetched in one statement (beyond it, a level takes several).
const IDS_PER_STATEMENT: usize = 1000;

/// The related entries of one relation field across a set of rows.
pub struct Level {
    pub ty: Arc<TypeRow>,
    pub many: bool,
    /// Entries the caller may see, by id, with what it may see of each.
    pub found: HashMap<String, (EntryRow, Arc<Visibility>)>,
    /// Every id the rows pointed to (found or not): a response depends on them all.
    pub requested: Vec<String>,
    /// Documents whose entries were resolved to the asked locale: a change of any of
    /// their entries (a translation published) changes the answer.
    pub documents: Vec<String>,
    /// What is populated inside these entries.
    pub nested: Populated,
}

/// Who reads related entries, on which surface, and (delivery) the locale chain they are
/// resolved through.
pub struct Reader<'a> {
    pub principal: &'a Principal,
    pub surface: Surface,
    pub chain: Option<&'a [String]>,
}

/// Relation field name → its level.
#[derive(Default)]
pub struct Populated(pub BTreeMap<String, Level>);

impl Populated {
    /// Every entry id and type a response with this population depends on.
    pub fn dependencies<'a>(&'a self, ids: &mut Vec<&'a str>, types: &mut Vec<&'a str>) {
        for level in self.0.values() {
            types.push(level.ty.def.api_id.as_str());
            ids.extend(level.requested.iter().map(String::as_str));
            ids.extend(level.documents.iter().map(String::as_str));
            level.nested.dependencies(ids, types);
        }
    }
}

fn refs(doc: &Value, field: &str) -> Vec<String> {
    match doc.get(field) {
        Some(Value::String(id)) => vec![id.clone()],
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

fn data(row: &EntryRow, surface: Surface) -> &Value {
    match surface {
        Surface::Delivery => row.published.as_ref().unwrap_or(&Value::Null),
        Surface::Manage => &row.draft,
    }
}

impl ContentService {
    /// Delivery with a locale: each related entry replaced by its document's entry in the
    /// first locale of `chain` it is published in (when the caller may read that one),
    /// with missing localized values filled along the chain. Two statements for the
    /// whole level. Returns the documents resolved.
    async fn in_locale(
        &self,
        principal: &Principal,
        ty: &ContentTypeDef,
        chain: &[String],
        found: &mut HashMap<String, (EntryRow, Arc<Visibility>)>,
    ) -> ApiResult<Vec<String>> {
        let mut docs: Vec<String> = found.values().map(|(r, _)| r.document_id.clone()).collect();
        docs.sort();
        docs.dedup();
        let refs: Vec<&str> = docs.iter().map(String::as_str).collect();
        let others =
            entries::of_documents(&self.store, &ty.api_id, &refs, Some(chain), true).await?;
        let grant = self.authz.grant_of(&principal.role, &ty.api_id, "read");
        for (row, view) in found.values_mut() {
            let best = super::locales::first_in_chain(&others, &row.document_id, chain);
            let Some(best) = best.filter(|b| b.id != row.id) else {
                continue;
            };
            let Some(fields) = grant
                .as_ref()
                .and_then(|g| g.fields_for(owns(principal, best)))
            else {
                continue;
            };
            *row = best.clone();
            *view = Arc::new(Visibility {
                surface: Surface::Delivery,
                fields: fields.clone(),
            });
        }
        self.fill_fallbacks(ty, Some(chain), found.values_mut().map(|(r, _)| r))
            .await?;
        Ok(docs)
    }

    /// Parses `populate` for entries of `ty` read through `widest` (the most the caller
    /// sees of any of them) and fetches the related entries of `rows`.
    pub(super) async fn populate(
        &self,
        reader: &Reader<'_>,
        ty: &ContentTypeDef,
        widest: &Visibility,
        raw: Option<&str>,
        rows: &[&EntryRow],
    ) -> ApiResult<Option<Populated>> {
        let principal = reader.principal;
        let Some(raw) = raw else {
            return Ok(None);
        };
        let tree = parse_populate(raw, self.settings.populate_max_depth.max(1))?;
        self.check_tree(principal, ty, widest, &tree, "")?;
        let mut out = Populated::default();
        self.fill(reader, ty, &tree, rows, &mut out).await?;
        Ok(Some(out))
    }

    /// Every name must be a relation field the caller may read, at every level (for
    /// nested levels: readable on the target type by this caller's grant).
    fn check_tree(
        &self,
        principal: &Principal,
        ty: &ContentTypeDef,
        vis: &Visibility,
        tree: &PopulateTree,
        prefix: &str,
    ) -> ApiResult<()> {
        for (name, nested) in &tree.0 {
            let path = format!("{prefix}{name}");
            let field = ty.field(name).filter(|f| vis.can_read(f)).ok_or_else(|| {
                ApiError::new(
                    Code::InvalidPopulate,
                    format!(
                        "`{}` in `populate` is not a field of `{}` you can read",
                        clip(&path),
                        ty.api_id
                    ),
                )
            })?;
            if field.ty != FieldType::Relation {
                return Err(ApiError::new(
                    Code::InvalidPopulate,
                    format!(
                        "`{}` is a {} field; `populate` expands relation fields",
                        clip(&path),
                        field.ty.as_str()
                    ),
                ));
            }
            if nested.is_empty() {
                continue;
            }
            let target = field.target.as_deref().unwrap_or_default();
            let action = match vis.surface {
                Surface::Delivery => "read",
                Surface::Manage => "read_drafts",
            };
            // Without a right on the target its entries come back absent; its schema is
            // none of the caller's business, so the nested names are not checked either.
            let Ok(grant) = self.authz.check(principal, target, action) else {
                continue;
            };
            let target_ty = self.types.get(target)?;
            let target_vis = Visibility {
                surface: vis.surface,
                fields: grant.own.clone(),
            };
            self.check_tree(
                principal,
                &target_ty.def,
                &target_vis,
                nested,
                &format!("{path}."),
            )?;
        }
        Ok(())
    }

    async fn fill(
        &self,
        reader: &Reader<'_>,
        ty: &ContentTypeDef,
        tree: &PopulateTree,
        rows: &[&EntryRow],
        out: &mut Populated,
    ) -> ApiResult<()> {
        let (principal, surface, chain) = (reader.principal, reader.surface, reader.chain);
        for (name, nested) in &tree.0 {
            let Some(field) = ty.field(name) else {
                continue;
            };
            let target = field.target.as_deref().unwrap_or_default();
            let target_ty = self.types.get(target)?;
            let mut requested: Vec<String> = Vec::new();
            for row in rows {
                for id in refs(data(row, surface), name) {
                    if !requested.contains(&id) {
                        requested.push(id);
                    }
                }
            }
            let action = match surface {
                Surface::Delivery => "read",
                Surface::Manage => "read_drafts",
            };
            let mut found = HashMap::new();
            // No right on the target type: every related entry is absent.
            if let Ok(grant) = self.authz.check(principal, target, action) {
                let ids: Vec<&str> = requested.iter().map(String::as_str).collect();
                for chunk in ids.chunks(IDS_PER_STATEMENT) {
                    let got =
                        entries::get_many(&self.store, target, chunk, surface == Surface::Delivery)
                            .await?;
                    for row in got {
                        let Some(fields) = grant.fields_for(owns(principal, &row)) else {
                            continue;
                        };
                        let view = Arc::new(Visibility {
                            surface,
                            fields: fields.clone(),
                        });
                        found.insert(row.id.clone(), (row, view));
                    }
                }
            }
            let mut documents = Vec::new();
            if let Some(chain) =
                chain.filter(|_| surface == Surface::Delivery && target_ty.def.options.localized)
            {
                documents = self
                    .in_locale(principal, &target_ty.def, chain, &mut found)
                    .await?;
            }
            let mut level = Level {
                ty: target_ty.clone(),
                many: field.many,
                found,
                requested,
                documents,
                nested: Populated::default(),
            };
            if !nested.is_empty() {
                let next: Vec<&EntryRow> = level.found.values().map(|(r, _)| r).collect();
                let mut inner = Populated::default();
                Box::pin(self.fill(reader, &target_ty.def, nested, &next, &mut inner)).await?;
                level.nested = inner;
            }
            out.0.insert(name.clone(), level);
        }
        Ok(())
    }
}
