//! Field-by-field differences between two versions of an entry.

use serde::Serialize;
use serde_json::{Map, Value};

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldChange {
    pub field: String,
    /// `added`, `removed` or `changed`.
    pub change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub new: Option<Value>,
}

/// Changes from `from` to `to`, in the order of `order` (the type's fields), then any
/// other keys alphabetically (fields since removed from the type).
pub fn diff(
    from: &Map<String, Value>,
    to: &Map<String, Value>,
    order: &[String],
) -> Vec<FieldChange> {
    let mut keys: Vec<&String> = order.iter().collect();
    let mut rest: Vec<&String> = from
        .keys()
        .chain(to.keys())
        .filter(|k| !order.contains(k))
        .collect();
    rest.sort();
    rest.dedup();
    keys.extend(rest);
    let present = |m: &Map<String, Value>, k: &str| m.get(k).filter(|v| !v.is_null()).cloned();
    keys.into_iter()
        .filter_map(|k| match (present(from, k), present(to, k)) {
            (None, Some(new)) => Some(FieldChange {
                field: k.clone(),
                change: "added",
                old: None,
                new: Some(new),
            }),
            (Some(old), None) => Some(FieldChange {
                field: k.clone(),
                change: "removed",
                old: Some(old),
                new: None,
            }),
            (Some(old), Some(new)) if old != new => Some(FieldChange {
                field: k.clone(),
                change: "changed",
                old: Some(old),
                new: Some(new),
            }),
            _ => None,
        })
        .collect()
}
