//! The response shapes of DESIGN.md §4: the entry, the list, versions. The one place
//! that turns stored rows into what clients see.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::dto::JsonObject;
use super::dto::content::{Version, VersionSummary};
use crate::domain::access::Visibility;
use crate::domain::fmt_ts;
use crate::domain::query::Surface;
use crate::domain::schema::ContentTypeDef;
use crate::services::content::Page;
use crate::services::content::populate::Populated;
use crate::store::entries::{EntryRow, VersionRow};

/// An entry as clients see it. Delivery shows the published version without private
/// fields and without the internal owner; management shows the working draft. Fields
/// the caller may not read are left out entirely.
pub fn entry(
    row: &EntryRow,
    ty: &ContentTypeDef,
    vis: &Visibility,
    select: Option<&[String]>,
) -> Value {
    entry_with(row, ty, vis, select, None)
}

/// [`entry`], plus `"populated"`: for each populated relation field the caller may read
/// (and selected), the related entry (`null` when absent) or the list of those present,
/// in the order the field holds them, each rendered the same way.
pub fn entry_with(
    row: &EntryRow,
    ty: &ContentTypeDef,
    vis: &Visibility,
    select: Option<&[String]>,
    populated: Option<&Populated>,
) -> Value {
    let mut out = plain_entry(row, ty, vis, select);
    if let Some(populated) = populated {
        let data = match vis.surface {
            Surface::Delivery => row.published.as_ref().unwrap_or(&Value::Null),
            Surface::Manage => &row.draft,
        };
        let mut map = Map::new();
        for (name, level) in &populated.0 {
            let readable = ty.field(name).is_some_and(|f| vis.can_read(f))
                && select.is_none_or(|s| s.contains(name));
            if !readable {
                continue;
            }
            let render = |id: &str| {
                level
                    .found
                    .get(id)
                    .map(|(r, v)| entry_with(r, &level.ty.def, v, None, Some(&level.nested)))
            };
            let value = match data.get(name) {
                Some(Value::Array(ids)) => Value::Array(
                    ids.iter()
                        .filter_map(|id| id.as_str().and_then(render))
                        .collect(),
                ),
                Some(Value::String(id)) => render(id).unwrap_or(Value::Null),
                _ if level.many => Value::Array(Vec::new()),
                _ => Value::Null,
            };
            map.insert(name.clone(), value);
        }
        if let Value::Object(o) = &mut out {
            o.insert("populated".into(), Value::Object(map));
        }
    }
    out
}

fn plain_entry(
    row: &EntryRow,
    ty: &ContentTypeDef,
    vis: &Visibility,
    select: Option<&[String]>,
) -> Value {
    let surface = vis.surface;
    let (data, version, status, stage, updated_at) = match surface {
        Surface::Delivery => (
            row.published.as_ref().unwrap_or(&Value::Null),
            row.published_version.unwrap_or(row.version),
            "published",
            "published",
            row.published_at.unwrap_or(row.updated_at),
        ),
        Surface::Manage => (
            &row.draft,
            row.version,
            row.status.as_str(),
            row.stage.as_str(),
            row.updated_at,
        ),
    };
    let mut fields = Map::new();
    for f in &ty.fields {
        if !vis.can_read(f) {
            continue;
        }
        if select.is_some_and(|s| !s.contains(&f.name)) {
            continue;
        }
        fields.insert(
            f.name.clone(),
            data.get(&f.name).cloned().unwrap_or(Value::Null),
        );
    }
    json!({
        "id": row.id,
        "type": row.type_id,
        "locale": row.locale,
        "document": row.document_id,
        "version": version,
        "status": status,
        "stage": stage,
        "owner": if surface == Surface::Manage { row.owner.as_deref() } else { None },
        "created_at": fmt_ts(&row.created_at),
        "updated_at": fmt_ts(&updated_at),
        "published_at": row.published_at.as_ref().map(fmt_ts),
        "fields": fields,
    })
}

/// A page of entries as clients see it: `{"items", "next_cursor", "total"}`.
pub fn page(page: &Page, ty: &ContentTypeDef) -> Value {
    let items: Vec<Value> = page
        .items
        .iter()
        .zip(&page.views)
        .map(|(r, view)| entry_with(r, ty, view, page.fields.as_deref(), page.populated.as_ref()))
        .collect();
    json!({ "items": items, "next_cursor": page.next_cursor, "total": page.total, "total_exact": page.total_exact })
}

/// A version with the fields the caller may read.
pub fn version_full(v: &VersionRow, ty: &ContentTypeDef, vis: &Visibility) -> Version {
    let fields = match &v.data {
        Value::Object(data) if !vis.is_full() => data
            .iter()
            .filter(|(k, _)| match ty.field(k) {
                Some(f) => vis.can_read(f),
                None => vis.fields.contains(k),
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Value::Object(data) => data.clone(),
        _ => Map::new(),
    };
    Version {
        summary: VersionSummary::from(v),
        fields: JsonObject(fields),
    }
}

/// A strong entity tag from the bytes of a representation.
pub fn body_etag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    format!("\"{}\"", hex::encode(&digest[..12]))
}
