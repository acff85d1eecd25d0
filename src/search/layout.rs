//! What of a content type goes into the index, and where. A tantivy schema is fixed for
//! the life of an index while content types change at run time, so the index has
//! [`SLOTS`] text slots and each type maps its searchable fields onto them in order (its
//! *layout*); fields marked `indexed` go by name into one JSON fast field for filters and
//! facets. Documents carry the hash of the layout they were written with, so a query can
//! read old and new documents correctly while a type is being reindexed.

use serde_json::Value;

use crate::domain::schema::{ContentTypeDef, FieldDef, FieldType};

/// Text slots per index: the most searchable fields (component fields included) one type
/// may have.
pub const SLOTS: usize = crate::domain::schema::MAX_SEARCHABLE;

/// Ranking weight of the type's title field when it sets none.
pub const TITLE_BOOST: f32 = 3.0;

/// One searchable field: `path` is `name`, or `component.name` inside a component.
#[derive(Debug, Clone, PartialEq)]
pub struct TextPath {
    pub path: String,
    /// The top-level field (what grants name).
    pub top: String,
    pub ty: FieldType,
    pub boost: f32,
}

/// A field kept as a fast value for filters and facets.
#[derive(Debug, Clone, PartialEq)]
pub struct FastField {
    pub name: String,
    pub ty: FieldType,
}

/// How one content type is indexed.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Slot `i` holds `paths[i]`.
    pub paths: Vec<TextPath>,
    pub fast: Vec<FastField>,
    /// Identifies `paths` (what a document's slots mean).
    pub layout: u64,
    /// Identifies everything that decides a document's content: a change means reindex.
    pub signature: u64,
}

fn fnv(h: &mut u64, s: &str) {
    for b in s.as_bytes().iter().chain([0xffu8].iter()) {
        *h ^= u64::from(*b);
        *h = h.wrapping_mul(0x0100_0000_01b3);
    }
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

/// FNV-1a of one string.
pub fn hash(s: &str) -> u64 {
    let mut h = FNV_START;
    fnv(&mut h, s);
    h
}

pub use crate::domain::schema::is_text_kind as is_text;

/// Field kinds searched when a type marks no field `searchable`.
fn is_prose(ty: FieldType) -> bool {
    matches!(
        ty,
        FieldType::Text | FieldType::Longtext | FieldType::Richtext
    )
}

/// Field kinds that can be filtered and faceted in search when `indexed`.
pub fn is_fast(ty: FieldType) -> bool {
    matches!(
        ty,
        FieldType::Text
            | FieldType::Slug
            | FieldType::Email
            | FieldType::Enum
            | FieldType::Boolean
            | FieldType::Integer
            | FieldType::Decimal
            | FieldType::Date
            | FieldType::Datetime
    )
}

/// Searchable leaves in order: those marked (a marked component marks its text fields),
/// or, when nothing in the type is marked, every prose field.
fn leaves<'a>(
    fields: &'a [FieldDef],
    prefix: &str,
    top: Option<&str>,
    marked_above: bool,
    explicit: bool,
    out: &mut Vec<(String, String, &'a FieldDef)>,
) {
    for f in fields {
        let path = if prefix.is_empty() {
            f.name.clone()
        } else {
            format!("{prefix}.{}", f.name)
        };
        let top_name = top.unwrap_or(&f.name).to_string();
        let marked = marked_above || f.searchable;
        if f.ty == FieldType::Component {
            leaves(&f.fields, &path, Some(&top_name), marked, explicit, out);
        } else if is_text(f.ty) && (if explicit { marked } else { is_prose(f.ty) }) {
            out.push((path, top_name, f));
        }
    }
}

fn any_marked(fields: &[FieldDef]) -> bool {
    fields.iter().any(|f| f.searchable || any_marked(&f.fields))
}

impl Plan {
    pub fn of(def: &ContentTypeDef) -> Plan {
        let mut found = Vec::new();
        leaves(
            &def.fields,
            "",
            None,
            false,
            any_marked(&def.fields),
            &mut found,
        );
        let title = def.options.title_field.as_deref();
        let paths: Vec<TextPath> = found
            .into_iter()
            .take(SLOTS)
            .map(|(path, top, f)| TextPath {
                boost: f
                    .boost
                    .map(|b| b as f32)
                    .unwrap_or(if Some(path.as_str()) == title {
                        TITLE_BOOST
                    } else {
                        1.0
                    }),
                ty: f.ty,
                path,
                top,
            })
            .collect();
        let fast: Vec<FastField> = def
            .fields
            .iter()
            .filter(|f| f.indexed && is_fast(f.ty))
            .map(|f| FastField {
                name: f.name.clone(),
                ty: f.ty,
            })
            .collect();
        let mut layout = FNV_START;
        for p in &paths {
            fnv(&mut layout, &p.path);
        }
        let mut signature = layout;
        for p in &paths {
            fnv(&mut signature, p.ty.as_str());
        }
        for f in &fast {
            fnv(&mut signature, &f.name);
            fnv(&mut signature, f.ty.as_str());
        }
        // Layouts fit a u64 fast field and are never 0 (0 marks "none" in payloads).
        Plan {
            paths,
            fast,
            layout: layout.max(1),
            signature,
        }
    }
}

/// The text of a rich-text document: its text nodes, blocks on their own lines.
pub fn richtext_text(doc: &Value, out: &mut String) {
    if let Some(t) = doc.get("text").and_then(Value::as_str) {
        out.push_str(t);
    }
    if let Some(children) = doc.get("content").and_then(Value::as_array) {
        for c in children {
            richtext_text(c, out);
        }
        if !out.ends_with('\n') && doc.get("type").and_then(Value::as_str) != Some("text") {
            out.push('\n');
        }
    } else if doc.get("type").and_then(Value::as_str) == Some("hardBreak") {
        out.push('\n');
    }
}

/// The texts at `path` of an entry's document (several inside repeatable components).
pub fn texts(data: &Value, path: &str, ty: FieldType) -> Vec<String> {
    let mut values = vec![data];
    for seg in path.split('.') {
        let mut next = Vec::new();
        for v in values {
            match v.get(seg) {
                Some(Value::Array(items)) => {
                    next.extend(items.iter().filter(|i| !i.is_null()));
                }
                Some(x) if !x.is_null() => next.push(x),
                _ => {}
            }
        }
        values = next;
    }
    values
        .into_iter()
        .filter_map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Object(_) if ty == FieldType::Richtext => {
                let mut s = String::new();
                richtext_text(v, &mut s);
                Some(s.trim_end().to_string())
            }
            _ => None,
        })
        .filter(|s| !s.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn def(v: Value) -> ContentTypeDef {
        serde_json::from_value(v).expect("type")
    }

    #[test]
    fn plans() {
        let t = def(
            json!({"api_id": "a", "name": "A", "options": {"title_field": "title"},
            "fields": [{"name": "title", "type": "text"}, {"name": "n", "type": "integer", "indexed": true},
                       {"name": "body", "type": "richtext"},
                       {"name": "links", "type": "component", "repeatable": true,
                        "fields": [{"name": "label", "type": "text"}]}]}),
        );
        let p = Plan::of(&t);
        let paths: Vec<&str> = p.paths.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(paths, ["title", "body", "links.label"]);
        assert_eq!(p.paths[0].boost, TITLE_BOOST);
        assert_eq!(p.paths[2].top, "links");
        assert_eq!(p.fast.len(), 1);
        let marked = def(json!({"api_id": "a", "name": "A",
            "fields": [{"name": "title", "type": "text"}, {"name": "body", "type": "longtext", "searchable": true, "boost": 2.0}]}));
        let m = Plan::of(&marked);
        assert_eq!(m.paths.len(), 1);
        assert_eq!(m.paths[0].boost, 2.0);
        assert_ne!(m.layout, p.layout);
    }

    #[test]
    fn extracts_text() {
        let doc = json!({"title": "Hello", "links": [{"label": "one"}, {"label": "two"}],
            "body": {"type": "doc", "content": [
                {"type": "paragraph", "content": [{"type": "text", "text": "First "}, {"type": "text", "text": "para"}]},
                {"type": "paragraph", "content": [{"type": "text", "text": "Second"}]}]}});
        assert_eq!(texts(&doc, "title", FieldType::Text), ["Hello"]);
        assert_eq!(texts(&doc, "links.label", FieldType::Text), ["one", "two"]);
        assert_eq!(
            texts(&doc, "body", FieldType::Richtext),
            ["First para\nSecond"]
        );
        assert!(texts(&doc, "missing", FieldType::Text).is_empty());
    }
}
