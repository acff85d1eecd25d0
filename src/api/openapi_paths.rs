//! The per-content-type operations of the OpenAPI document: for each type the caller may
//! use, its delivery and management paths, with one named query parameter per filterable
//! field and operator (`filter[rating][gte]`, which generated clients send as they are)
//! and the JSON query (`POST /api/v1/query/{type}`) for `and`/`or` groups; and its search
//! (`/api/v1/search/{type}`), typed the same way.

use serde_json::{Map, Value, json};

use super::openapi_doc::pascal;
use super::openapi_filters::filter_ops;
use super::openapi_types::{TypeView, shared_schemas, type_schemas};

use crate::domain::schema::{FieldDef, FieldType};

const LOCALE_PATTERN: &str = "^(\\*|[A-Za-z0-9_-]{1,35})$";

fn list_params() -> Vec<Value> {
    vec![
        json!({ "name": "sort", "in": "query", "required": false, "description": "Comma-separated fields, `-` for descending (e.g. `-published_at,title`)", "schema": { "type": "string" } }),
        json!({ "name": "fields", "in": "query", "required": false, "description": "Comma-separated fields to return", "schema": { "type": "string" } }),
        json!({ "name": "limit", "in": "query", "required": false, "description": "Entries per page (default 20)", "schema": { "type": "integer", "format": "int64", "minimum": 1, "maximum": 100 } }),
        json!({ "name": "cursor", "in": "query", "required": false, "description": "The `next_cursor` of the previous page (same filter, sort and locale)", "schema": { "type": "string" } }),
        json!({ "name": "locale", "in": "query", "required": false, "description": "A configured locale, or `*` for every locale. Delivery resolves it per document through the locale's fallback chain (left out: the default locale's chain); management lists exactly that locale (left out: every locale)", "schema": { "type": "string", "pattern": LOCALE_PATTERN } }),
        populate_param(),
    ]
}

fn populate_param() -> Value {
    json!({ "name": "populate", "in": "query", "required": false, "description": "Relation fields to expand into `populated`, comma-separated, nested with dots (`author,author.company`; at most 3 levels by default). Related entries you may not read, or not published, come back absent", "schema": { "type": "string", "maxLength": 1000 } })
}

/// `XPopulated` / `XManagedPopulated`: what `populate` adds to an entry, one property per
/// relation field whose target this document shows (to-one: the entry or `null`; to-many:
/// the list of those present), and the `populated` property on the entry schemas.
fn add_populated(views: &[TypeView], names: &[(String, String)], out: &mut Map<String, Value>) {
    let name_of = |api: &str| names.iter().find(|(a, _)| a == api).map(|(_, n)| n.clone());
    for view in views {
        let Some(name) = name_of(&view.def.api_id) else {
            continue;
        };
        for (managed, suffix) in [(false, ""), (true, "Managed")] {
            let readable = if managed { &view.manage } else { &view.deliver };
            let Some(readable) = readable else {
                continue;
            };
            let mut props = Map::new();
            for f in view.def.fields.iter().filter(|f| {
                f.ty == crate::domain::schema::FieldType::Relation
                    && readable.contains(&f.name)
                    && (managed || !f.private)
            }) {
                let target = f.target.as_deref().unwrap_or_default();
                let Some(target_view) = views.iter().find(|v| v.def.api_id == target) else {
                    continue;
                };
                let shown = if managed {
                    target_view.manage.is_some()
                } else {
                    target_view.deliver.is_some()
                };
                let Some(target_name) = name_of(target).filter(|_| shown) else {
                    continue;
                };
                let target_ref =
                    json!({ "$ref": format!("#/components/schemas/{target_name}{suffix}") });
                let schema = if f.many {
                    json!({ "type": "array", "items": target_ref })
                } else {
                    json!({ "allOf": [target_ref], "nullable": true })
                };
                props.insert(f.name.clone(), schema);
            }
            if props.is_empty() {
                continue;
            }
            let mut schema_name = format!("{name}{suffix}Populated");
            if out.contains_key(&schema_name) {
                schema_name = format!("{schema_name}Relations");
            }
            out.insert(
                schema_name.clone(),
                json!({ "type": "object", "description": "Related entries asked for with `populate`", "properties": props }),
            );
            if let Some(entry) = out.get_mut(&format!("{name}{suffix}")) {
                entry["properties"]["populated"] =
                    json!({ "$ref": format!("#/components/schemas/{schema_name}") });
            }
        }
    }
}

/// `filter[name][op]`.
fn filter_param(name: &str, op: &str, schema: Value) -> Value {
    let mut p = json!({
        "name": format!("filter[{name}][{op}]"),
        "in": "query",
        "required": false,
        "schema": schema,
    });
    if matches!(op, "in" | "nin") {
        p["style"] = json!("form");
        p["explode"] = json!(true);
        p["description"] =
            json!("Repeat the parameter for each value (or send one comma-separated value)");
    }
    p
}

/// `filter[field][op]` for each filterable field the caller may read, and the entry
/// metadata that lists filter on.
fn filter_params(fields: &[&FieldDef], owner: &str, manage: bool) -> Vec<Value> {
    let mut out = Vec::new();
    for f in fields {
        for (op, schema) in filter_ops(f, owner) {
            out.push(filter_param(&f.name, op, schema));
        }
    }
    let time = json!({ "type": "string", "format": "date-time" });
    let mut meta = vec![
        ("created_at", time.clone()),
        ("updated_at", time.clone()),
        ("published_at", time),
    ];
    if manage {
        meta.push((
            "status",
            json!({ "$ref": "#/components/schemas/EntryStatus" }),
        ));
        meta.push(("stage", json!({ "type": "string" })));
    }
    for (name, schema) in meta {
        let ops: &[&str] = if schema.get("format").is_some() {
            &["lt", "lte", "gt", "gte"]
        } else {
            &["eq", "ne"]
        };
        for op in ops {
            out.push(json!({ "name": format!("filter[{name}][{op}]"), "in": "query", "required": false, "schema": schema }));
        }
    }
    out
}

/// The parameters of a type's search: the words, `filter[field][op]` on the `indexed`
/// fields the caller may read (what the index answers: equality and sets, ranges on
/// numbers, dates and times), the entry's times and `locale`, facets, sort and paging.
fn search_params(fields: &[&FieldDef], owner: &str) -> Vec<Value> {
    let mut out = vec![
        json!({ "name": "q", "in": "query", "required": false, "description": "The words to find (empty: every entry, e.g. to count facets). At most 500 characters and 12 words; the last word also matches as a prefix, `\"quoted words\"` as a phrase", "schema": { "type": "string", "maxLength": 500 } }),
        json!({ "name": "locale", "in": "query", "required": false, "description": "Only entries of this locale (and its language's stemming)", "schema": { "type": "string", "pattern": LOCALE_PATTERN } }),
        json!({ "name": "facets", "in": "query", "required": false, "description": "Comma-separated fields to count values of (at most 5): `type`, `locale`, or `indexed` enum, boolean, integer and short text fields", "schema": { "type": "string" } }),
        json!({ "name": "sort", "in": "query", "required": false, "description": "Order instead of relevance: up to 3 comma-separated keys, `-` for descending (`-published_at`, `category,-rating`): the entry's times, `locale`, and `indexed` single-valued scalar fields. Entries without a value come last; relevance breaks ties", "schema": { "type": "string" } }),
        json!({ "name": "limit", "in": "query", "required": false, "description": "Results per page (default 10)", "schema": { "type": "integer", "format": "int64", "minimum": 1, "maximum": 50 } }),
        json!({ "name": "cursor", "in": "query", "required": false, "description": "The `next_cursor` of the previous page (the first 1,000 results are reachable)", "schema": { "type": "string" } }),
    ];
    for f in fields
        .iter()
        .filter(|f| f.indexed && crate::search::layout::is_fast(f.ty))
    {
        let ordered = matches!(
            f.ty,
            FieldType::Integer | FieldType::Decimal | FieldType::Date | FieldType::Datetime
        );
        for (op, schema) in filter_ops(f, owner) {
            let answered = match op {
                "eq" | "ne" | "in" | "nin" => true,
                "lt" | "lte" | "gt" | "gte" => ordered,
                _ => false,
            };
            if answered {
                out.push(filter_param(&f.name, op, schema));
            }
        }
    }
    let time = json!({ "type": "string", "format": "date-time" });
    for name in ["published_at", "created_at", "updated_at"] {
        for op in ["eq", "lt", "lte", "gt", "gte"] {
            out.push(filter_param(name, op, time.clone()));
        }
    }
    let locale = json!({ "type": "string", "pattern": LOCALE_PATTERN });
    out.push(filter_param("locale", "eq", locale.clone()));
    out.push(filter_param(
        "locale",
        "in",
        json!({ "type": "array", "items": locale, "maxItems": 100 }),
    ));
    out
}

/// `ArticleSearchResults` (or `ArticleManagedSearchResults`): a page of a type's search,
/// its hits' entries typed as that surface shows them.
fn search_results_schema(entry: &str, out: &mut Map<String, Value>) -> String {
    let name = format!("{entry}SearchResults");
    let hit = format!("{entry}SearchHit");
    out.insert(hit.clone(), json!({
        "type": "object",
        "description": "One result",
        "required": ["entry", "score", "highlights"],
        "properties": {
            "entry": { "$ref": format!("#/components/schemas/{entry}") },
            "score": { "type": "number", "format": "double", "description": "Relevance (higher is better; comparable within one result list only)" },
            "highlights": { "type": "object", "description": "Field path → the matching text, HTML-escaped, matches in `<mark>…</mark>`, cut around the matches. Only fields you may read", "additionalProperties": { "type": "string" } }
        }
    }));
    out.insert(name.clone(), json!({
        "type": "object",
        "description": "A page of results, best first (or in the order of `sort`)",
        "required": ["items", "total", "total_exact", "facets"],
        "properties": {
            "items": { "type": "array", "items": { "$ref": format!("#/components/schemas/{hit}") } },
            "next_cursor": { "type": "string", "nullable": true, "description": "Pass as `cursor` for the next page; `null` on the last (or deepest reachable) page" },
            "total": { "type": "integer", "format": "int64", "description": "Results matching, over every page, counted up to the server's `count_limit` (with facets always exact)" },
            "total_exact": { "type": "boolean", "description": "False when more than `total` results match" },
            "facets": { "type": "object", "description": "For each facet asked for: its most frequent values among all matching results", "additionalProperties": { "type": "array", "items": { "$ref": "#/components/schemas/SearchFacetValue" } } }
        }
    }));
    name
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

fn not_modified() -> (String, Value) {
    (
        "304".into(),
        json!({ "description": "Not modified: the `If-None-Match` ETag is current" }),
    )
}

/// What the per-type operationIds put before the type's name.
const OP_PREFIXES: &[&str] = &[
    "list",
    "get",
    "query",
    "listManaged",
    "getManaged",
    "queryManaged",
    "create",
    "update",
    "delete",
    "search",
    "searchManaged",
];

/// One generated operation.
struct Op<'a> {
    id: String,
    summary: String,
    tag: &'a str,
    params: Vec<Value>,
    body: Option<String>,
    success: Vec<(String, Value)>,
    errors: &'a [u16],
    /// Anonymous callers allowed (as the `public` role).
    public: bool,
}

impl Op<'_> {
    fn render(self) -> Value {
        let mut responses = errors(self.errors);
        for (status, response) in self.success {
            responses.insert(status, response);
        }
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

fn error_responses() -> Map<String, Value> {
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
        (
            503,
            "A list no index narrows down was turned away (`unavailable`: too many running) or stopped (`query_timeout`); retry after `Retry-After` seconds, or filter and sort on `indexed` fields",
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
        if code == 503 {
            response["headers"] = json!({ "Retry-After": { "description": "Seconds to wait before retrying", "required": true, "schema": { "type": "integer", "format": "int64" } } });
        }
        responses.insert(format!("Error{code}"), response);
    }
    responses
}

/// Adds the paths and schemas of every type in `views` to the document.
pub fn add_types(doc: &mut Value, views: &[TypeView]) {
    let existing: Vec<String> = doc["components"]["schemas"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    // A type named like a static operation's object (`entries` → `listEntries`) must not
    // repeat its operationId.
    let static_ops: Vec<String> = doc["paths"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values())
        .filter_map(Value::as_object)
        .flat_map(|ops| ops.values())
        .filter_map(|op| op["operationId"].as_str().map(str::to_string))
        .collect();
    let Some(components) = doc.get_mut("components").and_then(Value::as_object_mut) else {
        return;
    };
    components.insert("responses".into(), Value::Object(error_responses()));
    let mut new_schemas = Map::new();
    let mut new_paths = Map::new();
    let mut tags = Vec::new();
    let mut names: Vec<(String, String)> = Vec::new();
    if !views.is_empty() {
        shared_schemas(&mut new_schemas);
    }
    for view in views {
        let ty = &view.def;
        let mut name = pascal(&ty.api_id);
        let op_taken = |name: &str| {
            OP_PREFIXES
                .iter()
                .any(|p| static_ops.contains(&format!("{p}{name}")))
        };
        if existing.contains(&name)
            || name.is_empty()
            || new_schemas.contains_key(&name)
            || op_taken(&name)
        {
            name = format!("{name}Entry");
        }
        type_schemas(view, &name, &mut new_schemas);
        names.push((ty.api_id.clone(), name.clone()));
        let tag = ty.name.clone();
        tags.push(json!({ "name": tag, "description": format!("Content type `{}`", ty.api_id) }));
        let api = &ty.api_id;
        let id_param = |n: &str, d: &str| json!({ "name": n, "in": "path", "required": true, "description": d, "schema": { "type": "string" } });
        let if_match = json!({ "name": "If-Match", "in": "header", "required": false, "description": "ETag of the version you edited", "schema": { "type": "string" } });
        let if_none_match = json!({ "name": "If-None-Match", "in": "header", "required": false, "description": "ETag you hold: 304 when it is current", "schema": { "type": "string" } });
        let query_body = Some(format!("{name}Query"));
        if view.deliver.is_some() {
            let mut params = filter_params(&view.filter_fields(false), &name, false);
            params.extend(list_params());
            params.push(if_none_match.clone());
            new_paths.insert(format!("/api/v1/content/{api}"), json!({
                "get": Op { id: format!("list{name}"), summary: format!("List published {} entries", ty.name), tag: &tag, params, body: None, success: vec![ok("Published entries", &format!("{name}List"), 200), not_modified()], errors: &[400, 401, 403, 404, 429, 503], public: true }.render()
            }));
            new_paths.insert(format!("/api/v1/content/{api}/{{idOrSlug}}"), json!({
                "get": Op { id: format!("get{name}"), summary: format!("Get a published {} entry by id or slug", ty.name), tag: &tag,
                    params: vec![id_param("idOrSlug", "Entry id (UUID) or slug"), json!({ "name": "fields", "in": "query", "required": false, "description": "Comma-separated fields to return", "schema": { "type": "string" } }), json!({ "name": "locale", "in": "query", "required": false, "description": "Answer with the document's entry in this locale, or the first of its fallback chain it is published in; localized values it lacks come from further along the chain", "schema": { "type": "string", "pattern": LOCALE_PATTERN } }), populate_param(), if_none_match.clone()],
                    body: None, success: vec![ok("The published entry", &name, 200), not_modified()], errors: &[400, 401, 403, 404, 429], public: true }.render()
            }));
            new_paths.insert(format!("/api/v1/query/{api}"), json!({
                "post": Op { id: format!("query{name}"), summary: format!("Query published {} entries with a JSON filter (`and`/`or` groups)", ty.name), tag: &tag, params: vec![], body: query_body.clone(), success: vec![ok("Published entries", &format!("{name}List"), 200)], errors: &[400, 401, 403, 404, 413, 415, 429, 503], public: true }.render()
            }));
            let results = search_results_schema(&name, &mut new_schemas);
            new_paths.insert(format!("/api/v1/search/{api}"), json!({
                "get": Op { id: format!("search{name}"), summary: format!("Search published {} entries (as `GET /api/v1/search?type={api}`)", ty.name), tag: &tag, params: search_params(&view.filter_fields(false), &name), body: None, success: vec![ok("Results", &results, 200)], errors: &[400, 401, 403, 404, 429, 503], public: true }.render()
            }));
        }
        let mut collection = Map::new();
        if view.manage.is_some() {
            let mut params = filter_params(&view.filter_fields(true), &name, true);
            params.extend(list_params());
            collection.insert(
                "get".into(),
                Op {
                    id: format!("listManaged{name}"),
                    summary: format!("List {} entries with drafts", ty.name),
                    tag: &tag,
                    params,
                    body: None,
                    success: vec![ok("Entries", &format!("{name}ManagedList"), 200)],
                    errors: &[400, 401, 403, 404, 429, 503],
                    public: false,
                }
                .render(),
            );
            new_paths.insert(format!("/api/v1/manage/query/{api}"), json!({
                "post": Op { id: format!("queryManaged{name}"), summary: format!("Query {} entries with drafts with a JSON filter", ty.name), tag: &tag, params: vec![], body: query_body, success: vec![ok("Entries", &format!("{name}ManagedList"), 200)], errors: &[400, 401, 403, 404, 413, 415, 429, 503], public: false }.render()
            }));
            let results = search_results_schema(&format!("{name}Managed"), &mut new_schemas);
            new_paths.insert(format!("/api/v1/manage/search/{api}"), json!({
                "get": Op { id: format!("searchManaged{name}"), summary: format!("Search {} entries' working drafts (as `GET /api/v1/manage/search?type={api}`)", ty.name), tag: &tag, params: search_params(&view.filter_fields(true), &name), body: None, success: vec![ok("Results", &results, 200)], errors: &[400, 401, 403, 404, 429, 503], public: false }.render()
            }));
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
                    success: vec![ok("The created entry", &format!("{name}Managed"), 201)],
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
                    params: vec![id_param("id", "Entry id"), json!({ "name": "fields", "in": "query", "required": false, "description": "Comma-separated fields to return", "schema": { "type": "string" } }), populate_param(), if_none_match],
                    body: None,
                    success: vec![
                        ok("The entry", &format!("{name}Managed"), 200),
                        not_modified(),
                    ],
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
                    success: vec![ok("The updated entry", &format!("{name}Managed"), 200)],
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
                    success: vec![("204".into(), json!({ "description": "Deleted" }))],
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
    add_populated(views, &names, &mut new_schemas);
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
