//! Puts the assembled OpenAPI document into the form client generators accept without
//! warnings (openapi-typescript, openapi-python-client, datamodel-code-generator,
//! openapi-generator): poem-openapi's `allOf` wrappers around a single `$ref` become the
//! `$ref`, its unsigned formats become `int64`/`int32` with `minimum: 0`, optional
//! properties become nullable (the server writes and accepts `null` for them), nullable
//! enums list `null`, request schemas carry no `default` (generators turn a default into
//! a required property) and refuse unknown properties, response schemas stay open to
//! properties added later. Runs on every document after the per-type part is added.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

const REF_PREFIX: &str = "#/components/schemas/";

/// Keys poem-openapi puts beside a `$ref` that only annotate it.
const ANNOTATIONS: &[&str] = &[
    "description",
    "default",
    "nullable",
    "readOnly",
    "writeOnly",
    "deprecated",
    "example",
    "title",
];

pub fn normalize(doc: &mut Value) {
    let (requests, responses) = schema_uses(doc);
    if let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    {
        hoist_union_members(schemas);
        for (name, schema) in schemas.iter_mut() {
            let role = Role {
                request: requests.contains(name),
                response_only: responses.contains(name) && !requests.contains(name),
            };
            object_rules(schema, role);
            walk(schema);
        }
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        for item in paths.values_mut() {
            for (method, op) in item.as_object_mut().into_iter().flat_map(|m| m.iter_mut()) {
                prune_statuses(method, op);
                walk(op);
            }
        }
    }
}

#[derive(Clone, Copy)]
struct Role {
    request: bool,
    response_only: bool,
}

/// Rules on a named object schema that depend on where it is used.
fn object_rules(schema: &mut Value, role: Role) {
    let required: BTreeSet<String> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| {
            r.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let Some(obj) = schema.as_object_mut() else {
        return;
    };
    if obj.contains_key("properties") {
        if role.request {
            obj.insert("additionalProperties".into(), json!(false));
        } else if role.response_only && obj.get("additionalProperties") == Some(&json!(false)) {
            obj.remove("additionalProperties");
        }
    }
    let Some(props) = obj.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    for (name, prop) in props.iter_mut() {
        let Some(p) = prop.as_object_mut() else {
            continue;
        };
        let has_default = p.contains_key("default");
        // Generators read a `default` as "always present" (openapi-typescript makes the
        // property required), which neither requests nor compact answers are: it is
        // said in words.
        if has_default && let Some(d) = p.remove("default") {
            let text = p
                .get("description")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .trim_end()
                .to_string();
            let sep = if text.is_empty() { "" } else { " " };
            if !text.contains("default") && !text.contains("Default") {
                p.insert(
                    "description".into(),
                    json!(format!("{text}{sep}Default: `{d}`.")),
                );
            }
        }
        // Optional without a default is an `Option`: `null` is accepted and, in
        // answers, written. (Never also required: datamodel-code-generator's default
        // mode reads required as non-null.)
        // A property with a default also takes `null` (it then gets the default).
        if !required.contains(name) && (!has_default || role.request) {
            if let Some(target) = p.remove("$ref") {
                p.insert("allOf".into(), json!([{ "$ref": target }]));
            }
            p.insert("nullable".into(), json!(true));
        }
    }
}

/// poem-openapi lists every error status on every operation; an operation keeps those it
/// can answer: a read changes nothing and reads no body (no 409, 412, 413, 415, 422), an
/// operation without a body is never 413 or 415.
fn prune_statuses(method: &str, op: &mut Value) {
    let has_body = op.get("requestBody").is_some();
    let Some(responses) = op.get_mut("responses").and_then(Value::as_object_mut) else {
        return;
    };
    let drop: &[&str] = match (method, has_body) {
        ("get" | "head", _) => &["409", "412", "413", "415", "422"],
        (_, false) => &["413", "415"],
        _ => &[],
    };
    for status in drop {
        responses.remove(*status);
    }
}

/// Rules on every schema, at any depth.
fn walk(v: &mut Value) {
    match v {
        Value::Object(obj) => {
            unwrap_single_ref(obj);
            fix_format(obj);
            if obj.get("nullable") == Some(&json!(true))
                && let Some(Value::Array(items)) = obj.get_mut("enum")
                && !items.contains(&Value::Null)
            {
                items.push(Value::Null);
            }
            for child in obj.values_mut() {
                walk(child);
            }
        }
        Value::Array(items) => {
            for child in items {
                walk(child);
            }
        }
        _ => {}
    }
}

/// `{"allOf": [{"$ref": X}, {annotations}], annotations}` → `{"$ref": X}`, or, when
/// nullable, `{"allOf": [{"$ref": X}], "nullable": true}`: the one form that every
/// generator reads as "X or null" (3.0 ignores `nullable` beside a bare `$ref`).
fn unwrap_single_ref(obj: &mut Map<String, Value>) {
    let Some(Value::Array(parts)) = obj.get("allOf") else {
        return;
    };
    let refs: Vec<&str> = parts
        .iter()
        .filter_map(|p| p.get("$ref").and_then(Value::as_str))
        .collect();
    let only_annotations = parts.iter().all(|p| {
        p.get("$ref").is_some()
            || p.as_object()
                .is_some_and(|m| m.keys().all(|k| ANNOTATIONS.contains(&k.as_str())))
    });
    if refs.len() != 1
        || !only_annotations
        || obj
            .keys()
            .any(|k| k != "allOf" && !ANNOTATIONS.contains(&k.as_str()))
    {
        return;
    }
    let target = refs[0].to_string();
    let nullable = obj.get("nullable") == Some(&json!(true));
    let description = obj.get("description").cloned();
    obj.clear();
    if nullable {
        obj.insert("allOf".into(), json!([{ "$ref": target }]));
        obj.insert("nullable".into(), json!(true));
        if let Some(d) = description {
            obj.insert("description".into(), d);
        }
    } else {
        obj.insert("$ref".into(), json!(target));
    }
}

/// Inline members of `anyOf`/`oneOf` become named schemas (`WorkflowOptionString`):
/// openapi-generator cannot name them and warns.
fn hoist_union_members(schemas: &mut Map<String, Value>) {
    let mut hoisted = Vec::new();
    for (name, schema) in schemas.iter_mut() {
        for key in ["anyOf", "oneOf"] {
            let Some(Value::Array(members)) = schema.get_mut(key) else {
                continue;
            };
            for member in members.iter_mut() {
                if member.get("$ref").is_some() {
                    continue;
                }
                let kind = member
                    .get("type")
                    .and_then(Value::as_str)
                    .unwrap_or("value");
                let mut chars = kind.chars();
                let kind: String = chars
                    .next()
                    .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                    .unwrap_or_default();
                let new_name = format!("{name}{kind}");
                let body =
                    std::mem::replace(member, json!({ "$ref": format!("{REF_PREFIX}{new_name}") }));
                hoisted.push((new_name, body));
            }
        }
    }
    for (name, body) in hoisted {
        schemas.entry(name).or_insert(body);
    }
}

fn fix_format(obj: &mut Map<String, Value>) {
    if obj.get("type").and_then(Value::as_str) != Some("integer") {
        return;
    }
    // `minimum` set elsewhere (a documented range) wins over the unsigned floor.
    let unsigned = match obj.get("format").and_then(Value::as_str) {
        Some("uint64" | "uint32") => (true, "int64"),
        Some("uint8" | "uint16") => (true, "int32"),
        Some("int8" | "int16") => (false, "int32"),
        _ => return,
    };
    obj.insert("format".into(), json!(unsigned.1));
    if unsigned.0 && !obj.contains_key("minimum") {
        obj.insert("minimum".into(), json!(0));
    }
}

/// Names of the component schemas reachable from request bodies and from responses.
fn schema_uses(doc: &Value) -> (BTreeSet<String>, BTreeSet<String>) {
    let schemas = doc
        .pointer("/components/schemas")
        .cloned()
        .unwrap_or(Value::Null);
    let mut requests = BTreeSet::new();
    let mut responses = BTreeSet::new();
    let ops = doc
        .get("paths")
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|p| p.values())
        .filter_map(Value::as_object)
        .flat_map(|m| m.values());
    for op in ops {
        if let Some(body) = op.get("requestBody") {
            reach(body, &schemas, &mut requests);
        }
        if let Some(r) = op.get("responses") {
            reach(r, &schemas, &mut responses);
        }
    }
    if let Some(r) = doc.pointer("/components/responses") {
        reach(r, &schemas, &mut responses);
    }
    (requests, responses)
}

fn reach(v: &Value, schemas: &Value, seen: &mut BTreeSet<String>) {
    match v {
        Value::Object(obj) => {
            if let Some(name) = obj
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix(REF_PREFIX))
                && seen.insert(name.to_string())
                && let Some(target) = schemas.get(name)
            {
                reach(target, schemas, seen);
            }
            for child in obj.values() {
                reach(child, schemas, seen);
            }
        }
        Value::Array(items) => {
            for child in items {
                reach(child, schemas, seen);
            }
        }
        _ => {}
    }
}
