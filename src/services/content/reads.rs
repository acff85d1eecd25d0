//! Reads of entries: the management get and list (drafts, `read_drafts`), the delivery
//! list and get by id or slug (published copies, `read`), and the keyset page with its
//! cursor values. Never writes.

use std::sync::Arc;

use serde_json::Value;

use super::populate::{Populated, Reader};
use super::{ContentService, Page, not_found, owns};
use crate::authz::{Grant, Principal};
use crate::domain::access::Visibility;
use crate::domain::locale::Selection;
use crate::domain::query::{self, Cursor, ListQuery, MetaCol, Scalar, SortKey, Surface, Target};
use crate::domain::schema::{ContentTypeDef, FieldType};
use crate::domain::slug;
use crate::error::{ApiError, ApiResult, Code};
use crate::store::content_types::TypeRow;
use crate::store::entries::{self, EntryRow};
use crate::store::query::{ListSpec, count_in, list_page_in};

impl ContentService {
    /// One of the node's `scan_concurrency` places for lists that may scan, waiting at
    /// most `scan_queue_ms` for it: past that the node is busy with scans, and the caller
    /// is told to come back rather than left waiting.
    async fn scan_place(&self) -> ApiResult<tokio::sync::OwnedSemaphorePermit> {
        let wait = std::time::Duration::from_millis(self.settings.scan_queue_ms);
        match tokio::time::timeout(wait, self.scans.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(ApiError::new(
                Code::Unavailable,
                "too many lists that cannot use an index are running on this server; retry shortly, or filter and sort on indexed fields",
            )
            .with_header("retry-after", "1".to_string())),
        }
    }

    /// An entry's working draft, with what the caller sees of it (`read_drafts`). An
    /// entry out of an owner-only grant's reach is answered as absent.
    pub async fn get(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
    ) -> ApiResult<(EntryRow, Arc<TypeRow>, Visibility)> {
        let grant = self.authz.check(principal, type_id, "read_drafts")?;
        let ty = self.types.get(type_id)?;
        let row = entries::get_one(self.store.db(), type_id, id, false)
            .await?
            .ok_or_else(|| not_found(type_id, id))?;
        let fields = grant
            .fields_for(owns(principal, &row))
            .ok_or_else(|| not_found(type_id, id))?;
        let view = Visibility {
            surface: Surface::Manage,
            fields: fields.clone(),
        };
        Ok((row, ty, view))
    }

    pub async fn list(
        &self,
        principal: &Principal,
        type_id: &str,
        params: &[(String, String)],
        json_filter: Option<&Value>,
        surface: Surface,
    ) -> ApiResult<(Page, Arc<TypeRow>)> {
        let action = match surface {
            Surface::Delivery => "read",
            Surface::Manage => "read_drafts",
        };
        let grant = self.authz.check(principal, type_id, action)?;
        let ty = self.types.get(type_id)?;
        let shared = Arc::new(Visibility {
            surface,
            fields: grant.list_fields().clone(),
        });
        let q = query::parse_list(&ty.def, params, json_filter, &shared)?;
        // An owner-only grant lists the caller's own entries (callers without a user own
        // none: no entry has an empty owner).
        let owner = grant
            .owner_only()
            .then(|| principal.user_id().unwrap_or_default());
        let scan = query::needs_scan(&q, &ty.def);
        let locales = self.selection(&ty.def, surface, q.locale.as_deref())?;
        let mut page = self
            .page(type_id, &q, surface, owner, scan, &locales)
            .await?;
        if surface == Surface::Delivery {
            let asked = match &locales {
                Selection::Chain(c) => Some(c.as_slice()),
                _ => None,
            };
            self.fill_fallbacks(&ty.def, asked, page.items.iter_mut())
                .await?;
        }
        let rows: Vec<&EntryRow> = page.items.iter().collect();
        let chain = self.populate_chain(surface, q.locale.as_deref());
        let reader = Reader {
            principal,
            surface,
            chain: chain.as_deref(),
        };
        page.populated = self
            .populate(
                &reader,
                &ty.def,
                &Visibility {
                    surface,
                    fields: grant.own.clone(),
                },
                q.populate.as_deref(),
                &rows,
            )
            .await?;
        let own = if grant.own == shared.fields {
            shared.clone()
        } else {
            Arc::new(Visibility {
                surface,
                fields: grant.own.clone(),
            })
        };
        page.views = page
            .items
            .iter()
            .map(|r| {
                if owns(principal, r) {
                    own.clone()
                } else {
                    shared.clone()
                }
            })
            .collect();
        Ok((page, ty))
    }

    async fn page(
        &self,
        type_id: &str,
        q: &ListQuery,
        surface: Surface,
        owner: Option<&str>,
        scan: bool,
        locales: &Selection,
    ) -> ApiResult<Page> {
        let sort: Vec<SortKey> = if q.sort.is_empty() {
            vec![SortKey {
                target: Target::Meta(MetaCol::CreatedAt),
                desc: true,
            }]
        } else {
            q.sort.clone()
        };
        let after = match &q.cursor {
            Some(c) => Some((cursor_scalars(&sort, c)?, c.id.clone())),
            None => None,
        };
        let mut spec = ListSpec {
            type_id,
            surface,
            owner,
            query: q,
            sort: &sort,
            after,
            locales,
            broad: false,
        };
        // A list no index narrows down waits for one of few scan places and runs on the
        // bounded pool; the others go straight to the store.
        let _place = if scan {
            Some(self.scan_place().await?)
        } else {
            None
        };
        let bounded = |e: sea_orm::DbErr| {
            if crate::store::is_statement_timeout(&e) {
                scan_timed_out(self.settings.scan_timeout_ms)
            } else {
                ApiError::from(e)
            }
        };
        let store = &self.store;
        // Counted once, for the first page; later pages repeat it from the cursor, so
        // walking a long list does not pay for a full count on every page. Counted before
        // the page is read: how many match decides how the page is read (`broad`).
        let (total, total_exact) = match q.cursor.as_ref().and_then(|c| c.t.map(|t| (t, c.x))) {
            Some((t, x)) => (t, x.unwrap_or(true)),
            None => {
                let limit = Some(self.settings.count_limit).filter(|n| *n > 0);
                let n = count_in(store, &spec, scan, limit).await.map_err(bounded)?;
                match limit {
                    Some(l) if n > l as i64 => (l as i64, false),
                    _ => (n, true),
                }
            }
        };
        // Only when every sort key has an index (no scan): the walk needs the lead's.
        spec.broad = !scan && total >= crate::store::query::WALK_ABOVE;
        let mut items = list_page_in(store, &spec, scan).await.map_err(bounded)?;
        let next_cursor = if items.len() as u64 > q.limit {
            items.truncate(q.limit as usize);
            items.last().map(|last| {
                let data = match surface {
                    Surface::Delivery => last.published.as_ref().unwrap_or(&last.draft),
                    Surface::Manage => &last.draft,
                };
                let v = sort
                    .iter()
                    .map(|k| sort_value(last, data, &k.target))
                    .collect();
                query::encode_cursor(&Cursor {
                    s: query::sort_fingerprint(&q.sort),
                    v,
                    id: last.id.clone(),
                    t: Some(total),
                    x: (!total_exact).then_some(false),
                    f: Some(query::selection_fingerprint(q)),
                })
            })
        } else {
            None
        };
        Ok(Page {
            items,
            views: Vec::new(),
            next_cursor,
            total,
            total_exact,
            fields: q.fields.clone(),
            populated: None,
        })
    }

    /// The access check of a delivery read, for callers that may answer from a cache.
    pub fn authorize_read(&self, principal: &Principal, type_id: &str) -> ApiResult<Grant> {
        self.authz.check(principal, type_id, "read")
    }

    /// Management: one entry's draft as `get`, with the read parameters (`fields`,
    /// `populate`) applied.
    pub async fn read_one(
        &self,
        principal: &Principal,
        type_id: &str,
        id: &str,
        params: &[(String, String)],
    ) -> ApiResult<Single> {
        let (row, ty, view) = self.get(principal, type_id, id).await?;
        let p = query::parse_get_params(&ty.def, params, &view)?;
        let populated = self
            .populate(
                &Reader {
                    principal,
                    surface: Surface::Manage,
                    chain: None,
                },
                &ty.def,
                &view,
                p.populate.as_deref(),
                &[&row],
            )
            .await?;
        Ok(Single {
            row,
            ty,
            select: p.fields,
            view,
            populated,
        })
    }

    /// Delivery: one published entry by id or slug, with the selected fields.
    pub async fn deliver_one(
        &self,
        principal: &Principal,
        type_id: &str,
        id_or_slug: &str,
        params: &[(String, String)],
    ) -> ApiResult<Single> {
        let grant = self.authz.check(principal, type_id, "read")?;
        let ty = self.types.get(type_id)?;
        let widest = Visibility {
            surface: Surface::Delivery,
            fields: grant.own.clone(),
        };
        let p = query::parse_get_params(&ty.def, params, &widest)?;
        let key = if uuid::Uuid::parse_str(id_or_slug).is_ok() {
            Some(entries::PublishedKey::Id(id_or_slug))
        } else if slug::is_slug(id_or_slug) {
            Some(entries::PublishedKey::Slug(id_or_slug))
        } else {
            None
        };
        let locales = self.types.locales();
        let asked = match p.locale.as_deref() {
            Some("*") | None => None,
            Some(l) => Some(locales.check(l)?.code.clone()),
        };
        let row = self.find_published(&ty.def, key, asked.as_deref()).await?;
        let Some(mut row) = row else {
            return Err(not_found(type_id, id_or_slug));
        };
        let chain = asked.as_deref().map(|l| locales.chain(l));
        self.fill_fallbacks(&ty.def, chain.as_deref(), [&mut row])
            .await?;
        let Some(fields) = grant.fields_for(owns(principal, &row)) else {
            return Err(not_found(type_id, id_or_slug));
        };
        let view = Visibility {
            surface: Surface::Delivery,
            fields: fields.clone(),
        };
        if let Some(name) = p.fields.iter().flatten().find(|n| !view.fields.contains(n)) {
            return Err(query::unreadable(name, "selection"));
        }
        let chain = self.populate_chain(Surface::Delivery, p.locale.as_deref());
        let reader = Reader {
            principal,
            surface: Surface::Delivery,
            chain: chain.as_deref(),
        };
        let populated = self
            .populate(&reader, &ty.def, &view, p.populate.as_deref(), &[&row])
            .await?;
        Ok(Single {
            row,
            ty,
            select: p.fields,
            view,
            populated,
        })
    }
}

impl ContentService {
    /// Delivery: the published entry an id or slug names, in the locale asked for (the
    /// first of its chain the document is published in). A slug is looked up along the
    /// chain (no locale: the default's chain, then any locale), so a link with another
    /// translation's slug still finds the document.
    async fn find_published(
        &self,
        ty: &ContentTypeDef,
        key: Option<entries::PublishedKey<'_>>,
        asked: Option<&str>,
    ) -> ApiResult<Option<EntryRow>> {
        let Some(key) = key else {
            return Ok(None);
        };
        let type_id = ty.api_id.as_str();
        let locales = self.types.locales();
        if !ty.options.localized {
            return Ok(entries::get_published(&self.store, type_id, key, None).await?);
        }
        let chain = locales.chain(asked.unwrap_or(locales.default_code()));
        let row = match key {
            entries::PublishedKey::Id(_) => {
                entries::get_published(&self.store, type_id, key, None).await?
            }
            entries::PublishedKey::Slug(_) => {
                let mut found = None;
                for l in &chain {
                    found = entries::get_published(&self.store, type_id, key, Some(l)).await?;
                    if found.is_some() {
                        break;
                    }
                }
                match found {
                    Some(r) => Some(r),
                    None => entries::get_published(&self.store, type_id, key, None).await?,
                }
            }
        };
        match (row, asked) {
            (Some(row), Some(_)) => self.resolve_document(ty, row, &chain).await,
            (row, _) => Ok(row),
        }
    }
}

/// One entry as a read answers it.
pub struct Single {
    pub row: EntryRow,
    pub ty: Arc<TypeRow>,
    pub select: Option<Vec<String>>,
    pub view: Visibility,
    pub populated: Option<Populated>,
}

/// The value a row has for a sort key, as stored in a cursor.
fn sort_value(row: &EntryRow, data: &Value, target: &Target) -> Value {
    match target {
        Target::Meta(m) => match m {
            MetaCol::Id => Value::String(row.id.clone()),
            MetaCol::CreatedAt => Value::String(crate::domain::fmt_ts(&row.created_at)),
            MetaCol::UpdatedAt => Value::String(crate::domain::fmt_ts(&row.updated_at)),
            MetaCol::PublishedAt => row
                .published_at
                .map(|t| Value::String(crate::domain::fmt_ts(&t)))
                .unwrap_or(Value::Null),
            MetaCol::Locale => Value::String(row.locale.clone()),
            MetaCol::Status => Value::String(row.status.clone()),
            MetaCol::Stage => Value::String(row.stage.clone()),
        },
        Target::Field { name, .. } => data.get(name).cloned().unwrap_or(Value::Null),
    }
}

/// Cursor values back to typed scalars; anything that does not fit is a forged cursor.
fn cursor_scalars(sort: &[SortKey], c: &Cursor) -> ApiResult<Vec<Option<Scalar>>> {
    let bad = || {
        ApiError::new(
            Code::InvalidCursor,
            "`cursor` is not one this server issued; use the `next_cursor` of the previous page",
        )
    };
    if c.v.len() != sort.len() {
        return Err(bad());
    }
    sort.iter()
        .zip(&c.v)
        .map(|(k, v)| {
            if v.is_null() {
                return Ok(None);
            }
            let s = match &k.target {
                Target::Meta(m) if m.is_timestamp() => v
                    .as_str()
                    .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
                    .map(|d| Scalar::Ts(d.with_timezone(&chrono::Utc))),
                Target::Meta(_) => v.as_str().map(|s| Scalar::Str(s.to_string())),
                Target::Field { ty, .. } => match ty {
                    FieldType::Integer => v.as_i64().map(Scalar::Int),
                    FieldType::Decimal => v.as_f64().map(Scalar::Float),
                    FieldType::Boolean => v.as_bool().map(Scalar::Bool),
                    _ => v.as_str().map(|s| Scalar::Str(s.to_string())),
                },
            };
            s.map(Some).ok_or_else(bad)
        })
        .collect()
}

fn scan_timed_out(ms: u64) -> ApiError {
    ApiError::new(
        Code::QueryTimeout,
        format!("this list took longer than {ms} ms and was stopped; filter or sort on indexed fields, or narrow the `contains`/`icontains`/`ne`/`nin` conditions"),
    )
    .with_header("retry-after", "5".to_string())
}
