//! The filter part of the per-type document: which fields and operators a list can be
//! filtered with, the schema of each operand (the flat `filter[field][op]` parameters
//! use them), and `ArticleFilter`, the recursive JSON filter of `POST …/query`.

use serde_json::{Map, Value, json};

use super::openapi_doc::pascal;
use super::openapi_types::{Components, Mode, field_schema, part_name, schema_ref};
use crate::domain::schema::{FieldDef, FieldType};

/// The operators a field can be filtered with, and the schema of each one's value.
pub(super) fn filter_ops(f: &FieldDef, owner: &str) -> Vec<(&'static str, Value)> {
    let mut value = if f.ty == FieldType::Enum {
        // The type's read schemas have named it already.
        schema_ref(&part_name(owner, &f.name))
    } else {
        field_schema_plain(f)
    };
    // A filter operand is any value of the field's type: the field's own rules
    // (pattern, lengths, range) apply to what is stored, not to what is looked for.
    if let Some(obj) = value.as_object_mut() {
        for key in [
            "description",
            "default",
            "pattern",
            "minLength",
            "maxLength",
            "minimum",
            "maximum",
        ] {
            obj.remove(key);
        }
        if obj.get("type").and_then(Value::as_str) == Some("string") {
            obj.insert("maxLength".into(), json!(1000));
        }
    }
    let mut ops = Vec::new();
    for op in ["eq", "ne", "lt", "lte", "gt", "gte"] {
        if matches!(
            f.ty,
            FieldType::Boolean | FieldType::Relation | FieldType::Enum
        ) && !matches!(op, "eq" | "ne")
        {
            continue;
        }
        ops.push((op, value.clone()));
    }
    if f.ty != FieldType::Boolean {
        for op in ["in", "nin"] {
            ops.push((
                op,
                json!({ "type": "array", "items": value.clone(), "maxItems": 100 }),
            ));
        }
    }
    if f.ty.is_stringy() {
        for op in ["contains", "icontains", "startswith"] {
            ops.push((op, json!({ "type": "string", "maxLength": 1000 })));
        }
    }
    ops.push((
        "null",
        json!({ "type": "boolean", "description": "`true`: no value; `false`: has one" }),
    ));
    ops
}

/// A field's value schema without naming anything (filters take scalars only).
fn field_schema_plain(f: &FieldDef) -> Value {
    let mut scratch = Map::new();
    let mut plain = f.clone();
    plain.many = false;
    plain.default = None;
    field_schema(
        &plain,
        false,
        Mode::Create,
        "",
        &mut Components(&mut scratch),
    )
}

/// Entry metadata the list filters read before fields of the same name.
pub(super) const META_FILTERS: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "published_at",
    "locale",
    "status",
    "stage",
];

/// Fields a list can be filtered on (what `condition` in the query module accepts).
pub(super) fn filterable(f: &FieldDef) -> bool {
    f.ty.is_scalar() || (f.ty == FieldType::Relation && !f.many)
}

/// `ArticleFilter`: the JSON filter of `POST …/query`, with `and`/`or` groups, one named
/// operator schema per field (`ArticleRatingFilter`).
pub(super) fn filter_schema(name: &str, fields: &[&FieldDef], out: &mut Components) -> Value {
    let mut props = Map::new();
    for f in fields {
        let ops: Map<String, Value> = filter_ops(f, name)
            .into_iter()
            .map(|(op, s)| (op.to_string(), s))
            .collect();
        let op_name = format!("{name}{}Filter", pascal(&f.name));
        let r = out.add(
            &op_name,
            json!({
                "type": "object",
                "description": format!("Conditions on `{}`, all of which must hold", f.name),
                "properties": ops,
                "additionalProperties": false
            }),
        );
        props.insert(f.name.clone(), r);
    }
    let group =
        json!({ "type": "array", "items": schema_ref(&format!("{name}Filter")), "maxItems": 50 });
    props.insert("and".into(), json!({ "description": "Every one of these filters holds", "type": "array", "items": group["items"].clone(), "maxItems": 50 }));
    props.insert("or".into(), json!({ "description": "At least one of these filters holds", "type": "array", "items": group["items"].clone(), "maxItems": 50 }));
    json!({
        "type": "object",
        "description": "Conditions on fields (all must hold), combined with `and`/`or` groups; the body's `filter` of `POST …/query`. On GET lists the same conditions are `filter[field][op]=value` parameters.",
        "properties": props,
        "additionalProperties": false
    })
}
