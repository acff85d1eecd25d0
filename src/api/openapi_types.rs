//! The per-content-type part of the OpenAPI document: for each type the caller may use,
//! its paths and schemas (`Article` as delivered, `ArticleManaged`, `ArticleCreate`,
//! `ArticleUpdate`, the lists and `ArticleFilter`), showing only the operations the
//! caller's grants allow and only the fields they may read or write.

use serde_json::{Map, Value, json};

use super::openapi_doc::pascal;
use super::openapi_filters::{META_FILTERS, filter_schema, filterable};
use crate::domain::access::FieldSet;
use crate::domain::schema::{ContentTypeDef, FieldDef, FieldType};

/// What one caller may use of one content type: each right with the fields it covers
/// (`None`: the right is not held).
pub struct TypeView {
    pub def: ContentTypeDef,
    pub deliver: Option<FieldSet>,
    pub manage: Option<FieldSet>,
    pub create: Option<FieldSet>,
    pub update: Option<FieldSet>,
    pub delete: bool,
}

impl TypeView {
    /// Everything (the full document).
    pub fn full(def: ContentTypeDef) -> TypeView {
        TypeView {
            def,
            deliver: Some(FieldSet::all()),
            manage: Some(FieldSet::all()),
            create: Some(FieldSet::all()),
            update: Some(FieldSet::all()),
            delete: true,
        }
    }

    pub fn any_management(&self) -> bool {
        self.manage.is_some() || self.create.is_some() || self.update.is_some() || self.delete
    }

    /// Fields a management response shows: what `read_drafts` covers plus what the caller
    /// may write (responses to writes echo those).
    pub(super) fn managed_fields(&self) -> FieldSet {
        [&self.manage, &self.create, &self.update]
            .into_iter()
            .flatten()
            .fold(FieldSet::none(), |acc, f| acc.union(f))
    }

    /// Fields a list may filter on: on delivery those `read` covers (never private ones),
    /// on management those the caller may read there. A field named like entry metadata
    /// is shadowed by it in filters and left out.
    pub(super) fn filter_fields(&self, manage: bool) -> Vec<&FieldDef> {
        let set = if manage {
            Some(self.managed_fields())
        } else {
            self.deliver.clone()
        };
        let Some(set) = set else {
            return Vec::new();
        };
        self.def
            .fields
            .iter()
            .filter(|f| (manage || !f.private) && set.contains(&f.name))
            .filter(|f| filterable(f) && !META_FILTERS.contains(&f.name.as_str()))
            .collect()
    }
}

/// How a schema is used: what a read answers, or what a create / update sends.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Mode {
    Read,
    Create,
    Update,
}

/// The named component schemas made while describing one type's fields.
pub(super) struct Components<'a>(pub(super) &'a mut Map<String, Value>);

impl Components<'_> {
    pub(super) fn add(&mut self, name: &str, schema: Value) -> Value {
        self.0.insert(name.to_string(), schema);
        schema_ref(name)
    }
}

pub(super) fn schema_ref(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// A reference that may also be `null`. OpenAPI 3.0 cannot put `nullable` beside a
/// `$ref`, so the one-element `allOf` is the only form that keeps the named schema.
fn nullable_ref(name: &str) -> Value {
    json!({ "allOf": [schema_ref(name)], "nullable": true })
}

/// Suffixes of a type's own schemas (`ArticleFields`, `ArticleQuery`, …).
const OWN_SUFFIXES: &[&str] = &[
    "Fields",
    "Managed",
    "ManagedFields",
    "Create",
    "CreateFields",
    "Update",
    "UpdateFields",
    "List",
    "ManagedList",
    "Filter",
    "Query",
];

/// The name of a schema for one field of `owner` (`ArticleCategory`, `ArticleLinks`),
/// kept clear of the type's own schemas (a field `fields` gives `ArticleFieldsValue`).
pub(super) fn part_name(owner: &str, field: &str) -> String {
    let part = pascal(field);
    if OWN_SUFFIXES.contains(&part.as_str()) {
        format!("{owner}{part}Value")
    } else {
        format!("{owner}{part}")
    }
}

/// The shared schemas of rich text (ProseMirror / TipTap JSON).
fn add_rich_text(out: &mut Map<String, Value>) {
    out.insert(
        "RichText".into(),
        json!({
            "type": "object",
            "description": "A rich-text document (ProseMirror/TipTap JSON)",
            "required": ["type"],
            "properties": {
                "type": { "type": "string", "enum": ["doc"] },
                "content": { "type": "array", "items": schema_ref("RichTextNode") }
            },
            "additionalProperties": true
        }),
    );
    out.insert(
        "RichTextNode".into(),
        json!({
            "type": "object",
            "description": "A node of a rich-text document: a block, or `text` with `marks`",
            "required": ["type"],
            "properties": {
                "type": { "type": "string" },
                "attrs": { "type": "object", "additionalProperties": true },
                "content": { "type": "array", "items": schema_ref("RichTextNode") },
                "text": { "type": "string" },
                "marks": { "type": "array", "items": schema_ref("RichTextMark") }
            },
            "additionalProperties": true
        }),
    );
    out.insert(
        "RichTextMark".into(),
        json!({
            "type": "object",
            "description": "A mark on text (`bold`, `italic`, `link`, …)",
            "required": ["type"],
            "properties": {
                "type": { "type": "string" },
                "attrs": { "type": "object", "additionalProperties": true }
            },
            "additionalProperties": true
        }),
    );
}

/// The schema of one field's value. `owner` names the schema it sits in (`Article`,
/// `ArticleLinksItem`): a component becomes its own named schema after it.
pub(super) fn field_schema(
    f: &FieldDef,
    nullable: bool,
    mode: Mode,
    owner: &str,
    out: &mut Components,
) -> Value {
    let v = &f.validations;
    let mut s = match f.ty {
        FieldType::Text | FieldType::Longtext => json!({ "type": "string" }),
        FieldType::Richtext => {
            return with_description(
                if nullable {
                    nullable_ref("RichText")
                } else {
                    schema_ref("RichText")
                },
                f,
            );
        }
        FieldType::Integer => json!({ "type": "integer", "format": "int64" }),
        FieldType::Decimal => json!({ "type": "number", "format": "double" }),
        FieldType::Boolean => json!({ "type": "boolean" }),
        FieldType::Date => json!({ "type": "string", "format": "date" }),
        FieldType::Datetime => json!({ "type": "string", "format": "date-time" }),
        FieldType::Enum => {
            // A named enum: one class per field in generated clients, shared by the read,
            // write and filter schemas.
            let name = part_name(owner, &f.name);
            out.add(&name, json!({ "type": "string", "enum": f.values }));
            let r = if nullable {
                nullable_ref(&name)
            } else {
                schema_ref(&name)
            };
            return with_description(r, f);
        }
        FieldType::Email => json!({ "type": "string", "format": "email" }),
        FieldType::Url => json!({ "type": "string", "format": "uri" }),
        FieldType::Slug => {
            json!({ "type": "string", "pattern": "^[a-z0-9]+(?:-[a-z0-9]+)*$", "maxLength": 200 })
        }
        FieldType::Json => json!({ "description": "Any JSON value" }),
        FieldType::Media | FieldType::Relation => {
            let one = json!({ "type": "string", "format": "uuid" });
            if f.many {
                json!({ "type": "array", "items": one })
            } else {
                one
            }
        }
        FieldType::Component => {
            let name = format!(
                "{}{}{}",
                part_name(owner, &f.name),
                if f.repeatable { "Item" } else { "" },
                if mode == Mode::Read { "" } else { "Input" }
            );
            let mut props = Map::new();
            let mut required = Vec::new();
            for sub in &f.fields {
                // A component is written whole, so an update sends it as a create does.
                let sub_mode = if mode == Mode::Read {
                    Mode::Read
                } else {
                    Mode::Create
                };
                props.insert(
                    sub.name.clone(),
                    field_schema(sub, !sub.required, sub_mode, &name, out),
                );
                if sub.required {
                    required.push(json!(sub.name));
                }
            }
            let mut obj = json!({
                "type": "object",
                "description": format!("Component `{}`", f.name),
                "properties": props,
            });
            if mode != Mode::Read {
                obj["additionalProperties"] = json!(false);
            }
            if !required.is_empty() {
                obj["required"] = json!(required);
            }
            out.add(&name, obj);
            if f.repeatable {
                json!({ "type": "array", "items": schema_ref(&name) })
            } else if nullable {
                return with_description(nullable_ref(&name), f);
            } else {
                return with_description(schema_ref(&name), f);
            }
        }
    };
    if f.ty.is_stringy() {
        if let Some(n) = v.min_length {
            s["minLength"] = json!(n);
        } else if f.required && f.ty != FieldType::Enum {
            // Required text refuses "" (and whitespace-only text).
            s["minLength"] = json!(1);
        }
        if let Some(n) = v.max_length {
            s["maxLength"] = json!(n);
        }
        if let Some(re) = &v.regex {
            s["pattern"] = json!(re);
        }
    } else if matches!(
        f.ty,
        FieldType::Media | FieldType::Relation | FieldType::Component
    ) && s["type"] == "array"
    {
        if let Some(n) = v.min_length {
            s["minItems"] = json!(n);
        }
        if let Some(n) = v.max_length {
            s["maxItems"] = json!(n);
        }
    }
    if matches!(f.ty, FieldType::Integer | FieldType::Decimal) {
        if let Some(n) = v.min {
            s["minimum"] = json!(n);
        }
        if let Some(n) = v.max {
            s["maximum"] = json!(n);
        }
    }
    s = with_description(s, f);
    if let Some(d) = &f.default {
        // A `default` in the schema makes generators treat the property as always
        // present (openapi-typescript) or required: it is stated in words instead.
        let text = s["description"].as_str().unwrap_or_default().to_string();
        let sep = if text.is_empty() { "" } else { ". " };
        let when = if mode == Mode::Read {
            "Given to new entries"
        } else {
            "Default when left out"
        };
        s["description"] = json!(format!("{text}{sep}{when}: `{d}`"));
    }
    if nullable && f.ty != FieldType::Json {
        s["nullable"] = json!(true);
        if let Some(Value::Array(values)) = s.get_mut("enum") {
            values.push(Value::Null);
        }
    }
    s
}

fn with_description(mut s: Value, f: &FieldDef) -> Value {
    let mut description = f.description.clone().unwrap_or_default();
    if let (FieldType::Relation, Some(target)) = (f.ty, &f.target) {
        description = format!(
            "{description}{}Id(s) of `{target}` entries",
            if description.is_empty() { "" } else { ". " }
        );
    }
    if !description.is_empty() {
        // Beside a `$ref`, 3.0 ignores siblings: the description goes on the wrapper only.
        if s.get("$ref").is_none() {
            s["description"] = json!(description);
        }
    }
    s
}

/// The `fields` object of one schema: the fields `shown` lets through. In answers a
/// field may be left out (`fields=` selects), so none is required there; `null` stands
/// for no value wherever the field is optional.
fn fields_object(
    ty: &ContentTypeDef,
    shown: &dyn Fn(&FieldDef) -> bool,
    mode: Mode,
    owner: &str,
    out: &mut Components,
) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in &ty.fields {
        if !shown(f) {
            continue;
        }
        let must = f.required && f.ty != FieldType::Slug;
        let nullable = match mode {
            Mode::Create => !must,
            Mode::Update => !f.required,
            Mode::Read => !f.required,
        };
        props.insert(f.name.clone(), field_schema(f, nullable, mode, owner, out));
        if mode == Mode::Create && must {
            required.push(json!(f.name));
        }
    }
    let mut obj = json!({ "type": "object", "properties": props });
    if mode != Mode::Read {
        obj["additionalProperties"] = json!(false);
    }
    if !required.is_empty() {
        obj["required"] = json!(required);
    }
    obj
}

fn envelope(ty: &ContentTypeDef, fields: Value, description: &str) -> Value {
    json!({
        "type": "object",
        "description": description,
        "required": ["id", "type", "locale", "document", "version", "status", "stage", "created_at", "updated_at", "fields"],
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "type": { "type": "string", "enum": [ty.api_id] },
            "locale": { "type": "string" },
            "document": { "type": "string", "format": "uuid", "description": "The document this entry is one locale of: the same for all its translations (the id of its first entry)" },
            "version": { "type": "integer", "format": "int64" },
            "status": schema_ref("EntryStatus"),
            "stage": { "type": "string" },
            "owner": { "type": "string", "nullable": true },
            "created_at": { "type": "string", "format": "date-time" },
            "updated_at": { "type": "string", "format": "date-time" },
            "published_at": { "type": "string", "format": "date-time", "nullable": true },
            "fields": fields
        }
    })
}

/// The schemas of one type, as `view` may use it, added to `out`: `Article` as
/// delivered, `ArticleManaged`, `ArticleCreate`, `ArticleUpdate`, the lists, the filter
/// and the query body, each with its named parts (`ArticleFields`, `ArticleLinksItem`, …).
pub(super) fn type_schemas(view: &TypeView, name: &str, out: &mut Map<String, Value>) {
    let ty = &view.def;
    let delivered = view.deliver.clone().unwrap_or_else(FieldSet::none);
    let delivered = |f: &FieldDef| !f.private && delivered.contains(&f.name);
    let managed = view.managed_fields();
    let managed = |f: &FieldDef| managed.contains(&f.name);
    let creatable = view.create.clone().unwrap_or_else(FieldSet::none);
    let creatable = |f: &FieldDef| creatable.contains(&f.name);
    let updatable = view.update.clone().unwrap_or_else(FieldSet::none);
    let updatable = |f: &FieldDef| updatable.contains(&f.name);
    let mut c = Components(out);
    let desc = ty
        .description
        .clone()
        .unwrap_or_else(|| format!("{} entry", ty.name));
    let read = fields_object(ty, &delivered, Mode::Read, name, &mut c);
    let read = c.add(&format!("{name}Fields"), read);
    c.add(
        name,
        envelope(
            ty,
            read,
            &format!("{desc} (as delivered: published version, no private fields)"),
        ),
    );
    let managed_fields = fields_object(ty, &managed, Mode::Read, name, &mut c);
    let managed_fields = c.add(&format!("{name}ManagedFields"), managed_fields);
    c.add(
        &format!("{name}Managed"),
        envelope(
            ty,
            managed_fields,
            &format!("{desc} (working draft, with the fields you may read)"),
        ),
    );
    let create = fields_object(ty, &creatable, Mode::Create, name, &mut c);
    let create = c.add(&format!("{name}CreateFields"), create);
    c.add(
        &format!("{name}Create"),
        json!({
            "type": "object", "required": ["fields"], "additionalProperties": false,
            "properties": {
                "fields": create,
                "locale": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,35}$", "nullable": true },
                "document": { "type": "string", "format": "uuid", "nullable": true, "description": "Create a translation: the id of any entry of the document, with `locale` the new entry's locale. Fields that are not `localized` are taken from the document when left out" },
                "message": { "type": "string", "maxLength": 1000, "nullable": true }
            }
        }),
    );
    let update = fields_object(ty, &updatable, Mode::Update, name, &mut c);
    let update = c.add(&format!("{name}UpdateFields"), update);
    c.add(
        &format!("{name}Update"),
        json!({
            "type": "object", "required": ["fields"], "additionalProperties": false,
            "properties": {
                "fields": update,
                "message": { "type": "string", "maxLength": 1000, "nullable": true }
            }
        }),
    );
    for (suffix, item) in [
        ("List", name.to_string()),
        ("ManagedList", format!("{name}Managed")),
    ] {
        c.add(
            &format!("{name}{suffix}"),
            json!({
                "type": "object", "required": ["items", "total", "total_exact"],
                "properties": {
                    "items": { "type": "array", "items": schema_ref(&item) },
                    "next_cursor": { "type": "string", "nullable": true, "description": "Pass as `cursor` for the next page; `null` on the last page" },
                    "total": { "type": "integer", "format": "int64", "description": "How many entries match the filter, counted up to the server's `count_limit`" },
                    "total_exact": { "type": "boolean", "description": "`false` when more entries match than the count limit: `total` is then that limit (show it as \"10000+\")" }
                }
            }),
        );
    }
    let filterable_fields: &dyn Fn(&FieldDef) -> bool = if view.deliver.is_some() {
        &delivered
    } else {
        &managed
    };
    // One JSON filter serves both query endpoints: what delivery may filter when the
    // caller reads there, otherwise what management shows.
    let filter = filter_schema(name, &view.filter_fields(view.deliver.is_none()), &mut c);
    c.add(&format!("{name}Filter"), filter);
    let selectable: Vec<Value> = ty
        .fields
        .iter()
        .filter(|f| filterable_fields(f))
        .map(|f| json!(f.name))
        .collect();
    c.add(
        &format!("{name}Query"),
        json!({
            "type": "object",
            "description": "A list query: the JSON form of the GET list's parameters",
            "additionalProperties": false,
            "properties": {
                "filter": schema_ref(&format!("{name}Filter")),
                "sort": { "type": "string", "nullable": true, "description": "Comma-separated fields, `-` for descending (e.g. `-published_at,title`)" },
                "fields": { "type": "array", "nullable": true, "items": { "type": "string", "enum": selectable }, "description": "Fields to return (default: all you may read)" },
                "limit": { "type": "integer", "format": "int64", "minimum": 1, "maximum": 100, "nullable": true, "description": "Entries per page (default 20)" },
                "cursor": { "type": "string", "nullable": true, "description": "The `next_cursor` of the previous page (same filter, sort and locale)" },
                "locale": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,35}$", "nullable": true },
                "populate": { "type": "string", "maxLength": 1000, "nullable": true, "description": "Relation fields to expand into `populated` (`author,author.company`)" }
            }
        }),
    );
}

/// Schemas every document with at least one type needs.
pub(super) fn shared_schemas(out: &mut Map<String, Value>) {
    add_rich_text(out);
}
