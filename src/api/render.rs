//! The response shapes of DESIGN.md §4: the entry, the list, versions. The one place
//! that turns stored rows into what clients see.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};
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
    serde_json::to_value(entry_with(row, ty, vis, select, None)).unwrap_or(Value::Null)
}

/// [`entry`], plus `"populated"`: for each populated relation field the caller may read
/// (and selected), the related entry (`null` when absent) or the list of those present,
/// in the order the field holds them, each rendered the same way. A view over the row
/// that serializes straight to the response bytes (no copy of the stored values).
pub fn entry_with<'a>(
    row: &'a EntryRow,
    ty: &'a ContentTypeDef,
    vis: &'a Visibility,
    select: Option<&'a [String]>,
    populated: Option<&'a Populated>,
) -> EntryView<'a> {
    EntryView {
        row,
        ty,
        vis,
        select,
        populated,
    }
}

/// What [`entry_with`] renders; `Serialize` writes the entry's shape.
pub struct EntryView<'a> {
    row: &'a EntryRow,
    ty: &'a ContentTypeDef,
    vis: &'a Visibility,
    select: Option<&'a [String]>,
    populated: Option<&'a Populated>,
}

impl EntryView<'_> {
    fn data(&self) -> &Value {
        match self.vis.surface {
            Surface::Delivery => self.row.published.as_ref().unwrap_or(&Value::Null),
            Surface::Manage => &self.row.draft,
        }
    }

    /// Whether the caller sees field `name` here (readable and, with a selection, in it).
    fn shows(&self, name: &str) -> bool {
        self.ty.field(name).is_some_and(|f| self.vis.can_read(f))
            && self.select.is_none_or(|s| s.iter().any(|n| n == name))
    }
}

impl Serialize for EntryView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let row = self.row;
        let manage = self.vis.surface == Surface::Manage;
        let (version, status, stage, updated_at) = if manage {
            (
                row.version,
                row.status.as_str(),
                row.stage.as_str(),
                row.updated_at,
            )
        } else {
            (
                row.published_version.unwrap_or(row.version),
                "published",
                "published",
                row.published_at.unwrap_or(row.updated_at),
            )
        };
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("id", &row.id)?;
        m.serialize_entry("type", &row.type_id)?;
        m.serialize_entry("locale", &row.locale)?;
        m.serialize_entry("document", &row.document_id)?;
        m.serialize_entry("version", &version)?;
        m.serialize_entry("status", status)?;
        m.serialize_entry("stage", stage)?;
        m.serialize_entry("owner", &if manage { row.owner.as_deref() } else { None })?;
        m.serialize_entry("created_at", &fmt_ts(&row.created_at))?;
        m.serialize_entry("updated_at", &fmt_ts(&updated_at))?;
        m.serialize_entry("published_at", &row.published_at.as_ref().map(fmt_ts))?;
        m.serialize_entry("fields", &FieldsView(self))?;
        if let Some(populated) = self.populated {
            m.serialize_entry("populated", &PopulatedView(self, populated))?;
        }
        m.end()
    }
}

/// The fields the caller sees, in the type's order, `null` where the entry has none.
struct FieldsView<'a>(&'a EntryView<'a>);

impl Serialize for FieldsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let e = self.0;
        let data = e.data();
        let mut m = s.serialize_map(None)?;
        for f in &e.ty.fields {
            if !e.vis.can_read(f) || e.select.is_some_and(|s| !s.contains(&f.name)) {
                continue;
            }
            m.serialize_entry(&f.name, data.get(&f.name).unwrap_or(&Value::Null))?;
        }
        m.end()
    }
}

struct PopulatedView<'a>(&'a EntryView<'a>, &'a Populated);

impl Serialize for PopulatedView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (e, populated) = (self.0, self.1);
        let data = e.data();
        let mut m = s.serialize_map(None)?;
        for (name, level) in &populated.0 {
            if !e.shows(name) {
                continue;
            }
            let render = |id: &str| {
                level.found.get(id).map(|(r, v)| {
                    entry_with(r, &level.ty.def, v.as_ref(), None, Some(&level.nested))
                })
            };
            match data.get(name) {
                Some(Value::Array(ids)) => {
                    let found: Vec<EntryView> = ids
                        .iter()
                        .filter_map(|id| id.as_str().and_then(render))
                        .collect();
                    m.serialize_entry(name, &found)?;
                }
                Some(Value::String(id)) => m.serialize_entry(name, &render(id))?,
                _ if level.many => m.serialize_entry(name, &[(); 0])?,
                _ => m.serialize_entry(name, &Value::Null)?,
            }
        }
        m.end()
    }
}

/// A page of entries as clients see it: `{"items", "next_cursor", "total",
/// "total_exact"}`, serialized straight from the rows.
pub fn page<'a>(page: &'a Page, ty: &'a ContentTypeDef) -> PageView<'a> {
    PageView { page, ty }
}

pub struct PageView<'a> {
    page: &'a Page,
    ty: &'a ContentTypeDef,
}

impl Serialize for PageView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let p = self.page;
        let items: Vec<EntryView> = p
            .items
            .iter()
            .zip(&p.views)
            .map(|(r, view)| {
                entry_with(r, self.ty, view, p.fields.as_deref(), p.populated.as_ref())
            })
            .collect();
        let mut m = s.serialize_map(Some(4))?;
        m.serialize_entry("items", &items)?;
        m.serialize_entry("next_cursor", &p.next_cursor)?;
        m.serialize_entry("total", &p.total)?;
        m.serialize_entry("total_exact", &p.total_exact)?;
        m.end()
    }
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
