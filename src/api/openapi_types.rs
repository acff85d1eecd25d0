//! The per-content-type part of the OpenAPI document: for each type the caller may use,
//! its paths and schemas (`Article` as delivered, `ArticleManaged`, `ArticleCreate`,
//! `ArticleUpdate`, the lists and `ArticleFilter`), showing only the operations the
//! caller's grants allow and only the fields they may read or write.

use serde_json::{Map, Value, json};

use super::openapi_doc::pascal;
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
    fn managed_fields(&self) -> FieldSet {
        [&self.manage, &self.create, &self.update]
            .into_iter()
            .flatten()
            .fold(FieldSet::none(), |acc, f| acc.union(f))
    }
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

/// The `fields` object of one schema: the fields `shown` lets through.
fn fields_object(ty: &ContentTypeDef, shown: &dyn Fn(&FieldDef) -> bool, mode: &str) -> Value {
    let mut props = Map::new();
    let mut required = Vec::new();
    for f in &ty.fields {
        if !shown(f) {
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

fn filter_schema(ty: &ContentTypeDef, shown: &dyn Fn(&FieldDef) -> bool) -> Value {
    let mut props = Map::new();
    for f in ty
        .fields
        .iter()
        .filter(|f| shown(f) && (f.ty.is_scalar() || (f.ty == FieldType::Relation && !f.many)))
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

/// Adds the paths and schemas of every type in `views` to the document.
pub fn add_types(doc: &mut Value, views: &[TypeView]) {
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
        (
            429,
            "Over the rate limit: retry after `Retry-After` seconds",
        ),
    ] {
        let mut response = json!({ "description": text, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ErrorBody" } } } });
        if code == 429 {
            response["headers"] = super::RATE_LIMIT_HEADERS
                .iter()
                .map(|(name, description)| {
                    let header = json!({ "description": description, "required": true, "schema": { "type": "integer", "format": "int64" } });
                    ((*name).to_string(), header)
                })
                .collect::<Map<String, Value>>()
                .into();
        }
        responses.insert(format!("Error{code}"), response);
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
    for view in views {
        let ty = &view.def;
        let mut name = pascal(&ty.api_id);
        if existing.contains(&name) || name.is_empty() {
            name = format!("{name}Entry");
        }
        let delivered = view.deliver.clone().unwrap_or_else(FieldSet::none);
        let delivered = |f: &FieldDef| !f.private && delivered.contains(&f.name);
        let managed = view.managed_fields();
        let managed = |f: &FieldDef| managed.contains(&f.name);
        let creatable = view.create.clone().unwrap_or_else(FieldSet::none);
        let creatable = |f: &FieldDef| creatable.contains(&f.name);
        let updatable = view.update.clone().unwrap_or_else(FieldSet::none);
        let updatable = |f: &FieldDef| updatable.contains(&f.name);
        let read = fields_object(ty, &delivered, "read");
        let managed_fields = fields_object(ty, &managed, "read");
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
            envelope(
                ty,
                managed_fields,
                &format!("{desc} (working draft, with the fields you may read)"),
            ),
        );
        new_schemas.insert(
            format!("{name}Create"),
            json!({
                "type": "object", "required": ["fields"], "additionalProperties": false,
                "properties": {
                    "fields": fields_object(ty, &creatable, "create"),
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
                    "fields": fields_object(ty, &updatable, "update"),
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
        let filterable: &dyn Fn(&FieldDef) -> bool = if view.deliver.is_some() {
            &delivered
        } else {
            &managed
        };
        new_schemas.insert(format!("{name}Filter"), filter_schema(ty, filterable));
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
        if view.deliver.is_some() {
            new_paths.insert(format!("/api/v1/content/{api}"), json!({
                "get": Op { id: format!("list{name}"), summary: format!("List published {} entries", ty.name), tag: &tag, params: params.clone(), body: None, success: ok("Published entries", &format!("{name}List"), 200), errors: &[400, 401, 403, 404, 429], public: true }.render()
            }));
            new_paths.insert(format!("/api/v1/content/{api}/{{idOrSlug}}"), json!({
                "get": Op { id: format!("get{name}"), summary: format!("Get a published {} entry by id or slug", ty.name), tag: &tag,
                    params: vec![id_param("idOrSlug", "Entry id (UUID) or slug"), json!({ "name": "fields", "in": "query", "required": false, "schema": { "type": "string" } }), json!({ "name": "locale", "in": "query", "required": false, "schema": { "type": "string", "pattern": "^[A-Za-z0-9_-]{1,35}$" } })],
                    body: None, success: ok("The published entry", &name, 200), errors: &[400, 401, 403, 404, 429], public: true }.render()
            }));
        }
        let mut collection = Map::new();
        if view.manage.is_some() {
            collection.insert(
                "get".into(),
                Op {
                    id: format!("listManaged{name}"),
                    summary: format!("List {} entries with drafts", ty.name),
                    tag: &tag,
                    params,
                    body: None,
                    success: ok("Entries", &format!("{name}ManagedList"), 200),
                    errors: &[400, 401, 403, 404, 429],
                    public: false,
                }
                .render(),
            );
        }
        if view.create.is_some() {
            collection.insert(
                "post".into(),
                Op {
                    id: format!("create{name}"),
                    summary: format!("Create a {} entry", ty.name),
                    tag: &tag,
                    params: vec![],
                    body: Some(format!("{name}Create")),
                    success: ok("The created entry", &format!("{name}Managed"), 201),
                    errors: &[400, 401, 403, 404, 409, 413, 415, 422, 429],
                    public: false,
                }
                .render(),
            );
        }
        let mut item = Map::new();
        if view.manage.is_some() {
            item.insert(
                "get".into(),
                Op {
                    id: format!("getManaged{name}"),
                    summary: format!("Get a {} entry's draft", ty.name),
                    tag: &tag,
                    params: vec![id_param("id", "Entry id")],
                    body: None,
                    success: ok("The entry", &format!("{name}Managed"), 200),
                    errors: &[400, 401, 403, 404, 429],
                    public: false,
                }
                .render(),
            );
        }
        if view.update.is_some() {
            item.insert(
                "patch".into(),
                Op {
                    id: format!("update{name}"),
                    summary: format!("Update a {} entry", ty.name),
                    tag: &tag,
                    params: vec![id_param("id", "Entry id"), if_match.clone()],
                    body: Some(format!("{name}Update")),
                    success: ok("The updated entry", &format!("{name}Managed"), 200),
                    errors: &[400, 401, 403, 404, 412, 413, 415, 422, 429],
                    public: false,
                }
                .render(),
            );
        }
        if view.delete {
            item.insert(
                "delete".into(),
                Op {
                    id: format!("delete{name}"),
                    summary: format!("Delete a {} entry", ty.name),
                    tag: &tag,
                    params: vec![id_param("id", "Entry id"), if_match],
                    body: None,
                    success: ("204".into(), json!({ "description": "Deleted" })),
                    errors: &[401, 403, 404, 412, 429],
                    public: false,
                }
                .render(),
            );
        }
        if !collection.is_empty() {
            new_paths.insert(
                format!("/api/v1/manage/entries/{api}"),
                Value::Object(collection),
            );
        }
        if !item.is_empty() {
            new_paths.insert(
                format!("/api/v1/manage/entries/{api}/{{id}}"),
                Value::Object(item),
            );
        }
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
