//! The OpenAPI document served at `/openapi.json`: the static API that poem-openapi
//! derives, plus for every content type its own paths and schemas (`Article` as delivered,
//! `ArticleManaged` with drafts and private fields, `ArticleCreate`, `ArticleUpdate`,
//! `ArticleList`, `ArticleFilter`), rebuilt when the schema epoch changes. `/docs` shows
//! the same document in Swagger UI (bundled, no CDN), where requests can be tried out.

use std::sync::{Arc, Mutex};

use poem::web::Data;
use poem::{Response, handler};
use serde_json::{Map, Value, json};

use crate::domain::schema::{ContentTypeDef, FieldDef, FieldType};
use crate::services::TypeCache;

/// (schema epoch, openapi.json, docs page).
type Rendered = (u64, Arc<String>, Arc<String>);

/// The static part, produced once at start.
pub struct DocSource {
    pub static_spec: String,
    pub docs_html: String,
    pub types: TypeCache,
    cache: Mutex<Option<Rendered>>,
}

impl DocSource {
    pub fn new(static_spec: String, docs_html: String, types: TypeCache) -> Self {
        Self {
            static_spec,
            docs_html,
            types,
            cache: Mutex::new(None),
        }
    }

    /// (openapi.json, docs html) for the current schema.
    pub fn current(&self) -> (Arc<String>, Arc<String>) {
        let epoch = self.types.epoch();
        if let Ok(guard) = self.cache.lock()
            && let Some((e, spec, html)) = guard.as_ref()
            && *e == epoch
        {
            return (spec.clone(), html.clone());
        }
        let types: Vec<ContentTypeDef> = self.types.all().iter().map(|t| t.def.clone()).collect();
        let spec = match serde_json::from_str::<Value>(&self.static_spec) {
            Ok(mut doc) => {
                document_static_rules(&mut doc);
                add_types(&mut doc, &types);
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            }
            Err(_) => self.static_spec.clone(),
        };
        let html = self.docs_html.replacen(&self.static_spec, &spec, 1);
        let (spec, html) = (Arc::new(spec), Arc::new(html));
        if let Ok(mut guard) = self.cache.lock() {
            *guard = Some((epoch, spec.clone(), html.clone()));
        }
        (spec, html)
    }
}

impl DocSource {
    /// The methods the document lists for a concrete request path (for `Allow` on 405).
    pub fn allowed_methods(&self, path: &str) -> Vec<String> {
        let (spec, _) = self.current();
        let Ok(doc) = serde_json::from_str::<Value>(&spec) else {
            return Vec::new();
        };
        let wanted: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let mut methods: Vec<String> = Vec::new();
        for (template, ops) in doc["paths"].as_object().into_iter().flatten() {
            let parts: Vec<&str> = template.trim_end_matches('/').split('/').collect();
            let matches = parts.len() == wanted.len()
                && parts
                    .iter()
                    .zip(&wanted)
                    .all(|(t, w)| t == w || (t.starts_with('{') && t.ends_with('}')));
            if !matches {
                continue;
            }
            for m in ops
                .as_object()
                .into_iter()
                .flatten()
                .map(|(m, _)| m.to_uppercase())
            {
                if !methods.contains(&m) {
                    methods.push(m);
                }
            }
        }
        if methods.iter().any(|m| m == "GET") {
            methods.push("HEAD".into());
        }
        methods
    }
}

#[handler]
pub fn openapi_json(src: Data<&Arc<DocSource>>) -> Response {
    let (spec, _) = src.current();
    Response::builder()
        .content_type("application/json")
        .body(spec.as_bytes().to_vec())
}

#[handler]
pub fn docs(src: Data<&Arc<DocSource>>) -> Response {
    let (_, html) = src.current();
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .body(html.as_bytes().to_vec())
}

/// Rules the server enforces on the static request bodies that poem-openapi does not write
/// into the document: no unknown properties, and the formats our validation checks.
fn document_static_rules(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (name, schema) in schemas.iter_mut() {
        if schema.get("properties").is_some() && !matches!(name.as_str(), "ErrorBody" | "ErrorInfo")
        {
            schema["additionalProperties"] = json!(false);
        }
    }
    let rules = [
        (
            "ContentType",
            "api_id",
            json!({ "pattern": "^[a-z][a-z0-9_]{0,63}$" }),
        ),
        (
            "ContentType",
            "name",
            json!({ "minLength": 1, "maxLength": 200 }),
        ),
        (
            "FieldDefinition",
            "name",
            json!({ "pattern": "^[A-Za-z][A-Za-z0-9_]{0,63}$" }),
        ),
        (
            "UserCreate",
            "email",
            json!({ "format": "email", "maxLength": 254 }),
        ),
        (
            "UserCreate",
            "password",
            json!({ "minLength": 10, "maxLength": 256 }),
        ),
        (
            "UserUpdate",
            "password",
            json!({ "minLength": 10, "maxLength": 256 }),
        ),
        (
            "RoleCreate",
            "name",
            json!({ "pattern": "^[a-z][a-z0-9_]{0,63}$" }),
        ),
        (
            "PolicyCreate",
            "action",
            json!({ "enum": ["read", "create", "update", "delete", "publish", "*"] }),
        ),
        ("PolicyCreate", "condition", json!({ "enum": ["owner"] })),
        (
            "TokenCreate",
            "name",
            json!({ "minLength": 1, "maxLength": 200 }),
        ),
        ("EntryWrite", "message", json!({ "maxLength": 1000 })),
        (
            "EntryWrite",
            "locale",
            json!({ "pattern": "^[A-Za-z0-9_-]{1,35}$" }),
        ),
    ];
    for (schema, property, extra) in rules {
        if let (Some(target), Some(extra)) = (
            schemas
                .get_mut(schema)
                .and_then(|s| s.pointer_mut(&format!("/properties/{property}"))),
            extra.as_object(),
        ) && let Some(obj) = target.as_object_mut()
        {
            obj.extend(extra.clone());
        }
    }
}

/// `blog_post` → `BlogPost`.
pub fn pascal(api_id: &str) -> String {
    api_id
        .split('_')
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

fn field_schema(f: &FieldDef, nullable: bool) -> Value {
    let v = &f.validations;
    let mut s = match f.ty {
        FieldType::Text | FieldType::Longtext => json!({ "type": "string" }),
        FieldType::Richtext => json!({
            "type": "object",
            "description": "A rich-text document (ProseMirror/TipTap JSON)",
            "required": ["type"],
            "properties": {
                "type": { "type": "string", "enum": ["doc"] },
                "content": { "type": "array", "items": { "type": "object", "additionalProperties": true } }
            },
            "additionalProperties": true
        }),
        FieldType::Integer => json!({ "type": "integer", "format": "int64" }),
        FieldType::Decimal => json!({ "type": "number", "format": "double" }),
        FieldType::Boolean => json!({ "type": "boolean" }),
        FieldType::Date => json!({ "type": "string", "format": "date" }),
        FieldType::Datetime => json!({ "type": "string", "format": "date-time" }),
        FieldType::Enum => json!({ "type": "string", "enum": f.values }),
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
            let mut props = Map::new();
            let mut required = Vec::new();
            for sub in &f.fields {
                props.insert(sub.name.clone(), field_schema(sub, !sub.required));
                if sub.required {
                    required.push(json!(sub.name));
                }
            }
            let mut obj =
                json!({ "type": "object", "properties": props, "additionalProperties": false });
            if !required.is_empty() {
                obj["required"] = json!(required);
            }
            if f.repeatable {
                json!({ "type": "array", "items": obj })
            } else {
                obj
            }
        }
    };
    if f.ty.is_stringy() {
        if let Some(n) = v.min_length {
            s["minLength"] = json!(n);
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
    let mut description = f.description.clone().unwrap_or_default();
    if let (FieldType::Relation, Some(target)) = (f.ty, &f.target) {
        description = format!(
            "{description}{}Id(s) of `{target}` entries",
            if description.is_empty() { "" } else { ". " }
        );
    }
    if !description.is_empty() {
        s["description"] = json!(description);
    }
    if let Some(d) = &f.default {
        s["default"] = d.clone();
    }
    if nullable && f.ty != FieldType::Json {
        s["nullable"] = json!(true);
    }
    s
}

fn fields_object(ty: &ContentTypeDef, include_private: bool, mode: &str) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in &ty.fields {
        if f.private && !include_private {
            continue;
        }
        let must = f.required && f.ty != FieldType::Slug;
        let nullable = match mode {
            "create" => !must,
            "update" => true,
            _ => !f.required,
        };
        props.insert(f.name.clone(), field_schema(f, nullable));
        match mode {
            "create" if must => required.push(json!(f.name)),
            "read" => required.push(json!(f.name)),
            _ => {}
        }
    }
    let mut obj = json!({ "type": "object", "properties": props });
    if mode != "read" {
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
        "required": ["id", "type", "locale", "version", "status", "stage", "created_at", "updated_at", "fields"],
        "properties": {
            "id": { "type": "string", "format": "uuid" },
            "type": { "type": "string", "enum": [ty.api_id] },
            "locale": { "type": "string" },
            "version": { "type": "integer", "format": "int32" },
            "status": { "type": "string", "enum": ["draft", "published", "changed"] },
            "stage": { "type": "string" },
            "owner": { "type": "string", "nullable": true },
            "created_at": { "type": "string", "format": "date-time" },
            "updated_at": { "type": "string", "format": "date-time" },
            "published_at": { "type": "string", "format": "date-time", "nullable": true },
            "fields": fields
        }
    })
}

fn filter_schema(ty: &ContentTypeDef) -> Value {
    let mut props = Map::new();
    for f in ty
        .fields
        .iter()
        .filter(|f| !f.private && (f.ty.is_scalar() || (f.ty == FieldType::Relation && !f.many)))
    {
        let value = field_schema(f, false);
        let mut ops = Map::new();
        for op in ["eq", "ne", "lt", "lte", "gt", "gte"] {
            if f.ty == FieldType::Boolean && !matches!(op, "eq" | "ne") {
                continue;
            }
            ops.insert(op.into(), value.clone());
        }
        ops.insert(
            "in".into(),
            json!({ "type": "string", "description": "Comma-separated values" }),
        );
        ops.insert(
            "nin".into(),
            json!({ "type": "string", "description": "Comma-separated values" }),
        );
        if f.ty.is_stringy() {
            for op in ["contains", "icontains", "startswith"] {
                ops.insert(op.into(), json!({ "type": "string" }));
            }
        }
        ops.insert("null".into(), json!({ "type": "boolean" }));
        props.insert(
            f.name.clone(),
            json!({ "type": "object", "properties": ops, "additionalProperties": false }),
        );
    }
    json!({
        "type": "object",
        "description": "filter[field][op]=value; combine with filter[or][0][…] and filter[and][0][…]",
        "properties": props
    })
}

fn list_params() -> Vec<Value> {
    vec![
        json!({ "name": "sort", "in": "query", "required": false, "description": "Comma-separated fields, `-` for descending (e.g. `-published_at,title`)", "schema": { "type": "string" } }),
        json!({ "name": "fields", "in": "query", "required": false, "description": "Comma-separated fields to return", "schema": { "type": "string" } }),
        json!({ "name": "limit", "in": "query", "required": false, "schema": { "type": "integer", "minimum": 1, "maximum": 100, "default": 20 } }),
        json!({ "name": "cursor", "in": "query", "required": false, "description": "The `next_cursor` of the previous page", "schema": { "type": "string" } }),
        json!({ "name": "locale", "in": "query", "required": false, "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,35}$" } }),
    ]
}

fn errors(codes: &[u16]) -> Map<String, Value> {
    let mut m = Map::new();
    for code in codes {
        m.insert(
            code.to_string(),
            json!({ "$ref": format!("#/components/responses/Error{code}") }),
        );
    }
    m
}

fn ok(description: &str, schema_ref: &str, status: u16) -> (String, Value) {
    (
        status.to_string(),
        json!({ "description": description, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema_ref}") } } } }),
    )
}

/// One generated operation.
struct Op<'a> {
    id: String,
    summary: String,
    tag: &'a str,
    params: Vec<Value>,
    body: Option<String>,
    success: (String, Value),
    errors: &'a [u16],
    /// Anonymous callers allowed (as the `public` role).
    public: bool,
}

impl Op<'_> {
    fn render(self) -> Value {
        let mut responses = errors(self.errors);
        responses.insert(self.success.0, self.success.1);
        let mut o = json!({
            "operationId": self.id,
            "summary": self.summary,
            "tags": [self.tag],
            "parameters": self.params,
            "responses": responses,
            "security": if self.public { json!([{ "bearer": [] }, {}]) } else { json!([{ "bearer": [] }]) },
        });
        if let Some(schema) = self.body {
            o["requestBody"] = json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } });
        }
        o
    }
}

fn add_types(doc: &mut Value, types: &[ContentTypeDef]) {
    let mut responses = Map::new();
    for (code, text) in [
        (400, "Bad request"),
        (401, "Unauthenticated"),
        (403, "Forbidden"),
        (404, "Not found"),
        (409, "Conflict"),
        (
            412,
            "Precondition failed: the body carries the current version",
        ),
        (413, "Payload too large"),
        (415, "Unsupported media type"),
        (422, "Validation failed"),
        (429, "Too many requests"),
    ] {
        responses.insert(format!("Error{code}"), json!({ "description": text, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } } }));
    }
    let existing: Vec<String> = doc["components"]["schemas"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) else {
        return;
    };
    components.insert("responses".into(), Value::Object(responses));
    let mut new_schemas = Map::new();
    let mut new_paths = Map::new();
    let mut tags = Vec::new();
    for ty in types {
        let mut name = pascal(&ty.api_id);
        if existing.contains(&name) || name.is_empty() {
            name = format!("{name}Entry");
        }
        let read = fields_object(ty, false, "read");
        let managed = fields_object(ty, true, "read");
        let desc = ty
            .description
            .clone()
            .unwrap_or_else(|| format!("{} entry", ty.name));
        new_schemas.insert(
            name.clone(),
            envelope(
                ty,
                read,
                &format!("{desc} (as delivered: published version, no private fields)"),
            ),
        );
        new_schemas.insert(
            format!("{name}Managed"),
            envelope(ty, managed, &format!("{desc} (working draft, all fields)")),
        );
        new_schemas.insert(
            format!("{name}Create"),
            json!({
                "type": "object", "required": ["fields"], "additionalProperties": false,
                "properties": {
                    "fields": fields_object(ty, true, "create"),
                    "locale": { "type": "string" },
                    "message": { "type": "string", "maxLength": 1000 }
                }
            }),
        );
        new_schemas.insert(
            format!("{name}Update"),
            json!({
                "type": "object", "required": ["fields"], "additionalProperties": false,
                "properties": {
                    "fields": fields_object(ty, true, "update"),
                    "message": { "type": "string", "maxLength": 1000 }
                }
            }),
        );
        for (suffix, item) in [
            ("List", name.clone()),
            ("ManagedList", format!("{name}Managed")),
        ] {
            new_schemas.insert(format!("{name}{suffix}"), json!({
                "type": "object", "required": ["items", "next_cursor", "total"],
                "properties": {
                    "items": { "type": "array", "items": { "$ref": format!("#/components/schemas/{item}") } },
                    "next_cursor": { "type": "string", "nullable": true },
                    "total": { "type": "integer", "format": "int64" }
                }
            }));
        }
        new_schemas.insert(format!("{name}Filter"), filter_schema(ty));
        let tag = ty.name.clone();
        tags.push(json!({ "name": tag, "description": format!("Content type `{}`", ty.api_id) }));
        let mut params = vec![json!({
            "name": "filter", "in": "query", "required": false, "style": "deepObject", "explode": true,
            "schema": { "$ref": format!("#/components/schemas/{name}Filter") }
        })];
        params.extend(list_params());
        let id_param = |n: &str, d: &str| json!({ "name": n, "in": "path", "required": true, "description": d, "schema": { "type": "string" } });
        let if_match = json!({ "name": "If-Match", "in": "header", "required": false, "description": "ETag of the version you edited", "schema": { "type": "string" } });
        let api = &ty.api_id;
        new_paths.insert(format!("/api/v1/content/{api}"), json!({
            "get": Op { id: format!("list{name}"), summary: format!("List published {} entries", ty.name), tag: &tag, params: params.clone(), body: None, success: ok("Published entries", &format!("{name}List"), 200), errors: &[400, 401, 403, 404, 429], public: true }.render()
        }));
        new_paths.insert(format!("/api/v1/content/{api}/{{idOrSlug}}"), json!({
            "get": Op { id: format!("get{name}"), summary: format!("Get a published {} entry by id or slug", ty.name), tag: &tag,
                params: vec![id_param("idOrSlug", "Entry id (UUID) or slug"), json!({ "name": "fields", "in": "query", "required": false, "schema": { "type": "string" } }), json!({ "name": "locale", "in": "query", "required": false, "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,35}$" } })],
                body: None, success: ok("The published entry", &name, 200), errors: &[400, 401, 403, 404, 429], public: true }.render()
        }));
        new_paths.insert(format!("/api/v1/manage/entries/{api}"), json!({
            "get": Op { id: format!("listManaged{name}"), summary: format!("List {} entries with drafts", ty.name), tag: &tag, params, body: None, success: ok("Entries", &format!("{name}ManagedList"), 200), errors: &[400, 401, 403, 404, 429], public: false }.render(),
            "post": Op { id: format!("create{name}"), summary: format!("Create a {} entry", ty.name), tag: &tag, params: vec![], body: Some(format!("{name}Create")), success: ok("The created entry", &format!("{name}Managed"), 201), errors: &[400, 401, 403, 404, 409, 413, 415, 422, 429], public: false }.render()
        }));
        new_paths.insert(format!("/api/v1/manage/entries/{api}/{{id}}"), json!({
            "get": Op { id: format!("getManaged{name}"), summary: format!("Get a {} entry's draft", ty.name), tag: &tag, params: vec![id_param("id", "Entry id")], body: None, success: ok("The entry", &format!("{name}Managed"), 200), errors: &[400, 401, 403, 404, 429], public: false }.render(),
            "patch": Op { id: format!("update{name}"), summary: format!("Update a {} entry", ty.name), tag: &tag, params: vec![id_param("id", "Entry id"), if_match.clone()], body: Some(format!("{name}Update")), success: ok("The updated entry", &format!("{name}Managed"), 200), errors: &[400, 401, 403, 404, 412, 413, 415, 422, 429], public: false }.render(),
            "delete": Op { id: format!("delete{name}"), summary: format!("Delete a {} entry", ty.name), tag: &tag, params: vec![id_param("id", "Entry id"), if_match], body: None, success: ("204".into(), json!({ "description": "Deleted" })), errors: &[401, 403, 404, 412, 429], public: false }.render()
        }));
    }
    if let Some(schemas) = components.get_mut("schemas").and_then(Value::as_object_mut) {
        schemas.extend(new_schemas);
    }
    if let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) {
        paths.extend(new_paths);
    }
    if let Some(t) = doc.get_mut("tags").and_then(Value::as_array_mut) {
        t.extend(tags);
    }
}
