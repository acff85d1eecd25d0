//! The OpenAPI document served at `/openapi.json`: the static API that poem-openapi
//! derives, plus for every content type its own paths and schemas (`Article` as delivered,
//! `ArticleManaged` with drafts and private fields, `ArticleCreate`, `ArticleUpdate`,
//! `ArticleList`, `ArticleFilter`), rebuilt when the schema epoch changes. `/docs` shows
//! the same document in Swagger UI (bundled, no CDN), where requests can be tried out.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use poem::web::Data;
use poem::{Request, Response, handler};
use serde_json::{Value, json};

use super::openapi_paths::add_types;
use super::openapi_types::TypeView;
use crate::authz::Authz;
use crate::domain::access::FieldSet;
use crate::services::TypeCache;

/// (schema epoch, access generation, openapi.json, docs page).
type Rendered = (u64, u64, Arc<String>, Arc<String>);

/// Most per-role documents kept (roles are few; the map starts over past this).
const MAX_VIEWS: usize = 64;

/// The static part, produced once at start, and the per-caller documents made from it.
pub struct DocSource {
    /// As poem-openapi made it: the docs page embeds this text, replaced per caller.
    pub static_spec: String,
    /// The static part after `document_static_rules` and `normalize`.
    static_doc: Option<Value>,
    pub docs_html: String,
    pub types: TypeCache,
    authz: Authz,
    /// Keyed by role; `None` is the full document (every type, operation and field).
    cache: Mutex<HashMap<Option<String>, Rendered>>,
}

impl DocSource {
    pub fn new(static_spec: String, docs_html: String, types: TypeCache, authz: Authz) -> Self {
        let static_doc = serde_json::from_str::<Value>(&static_spec)
            .ok()
            .map(|mut doc| {
                document_static_rules(&mut doc);
                super::openapi_normalize::normalize(&mut doc);
                doc
            });
        Self {
            static_spec,
            static_doc,
            docs_html,
            types,
            authz,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The full document and its docs page (for `Allow` on 405, which describes the API,
    /// not a caller's rights).
    pub fn current(&self) -> (Arc<String>, Arc<String>) {
        self.for_role(None)
    }

    /// (openapi.json, docs html) as `role` may use the API: only the types, operations
    /// and fields its grants cover; `None` gives everything.
    pub fn for_role(&self, role: Option<&str>) -> (Arc<String>, Arc<String>) {
        let epoch = self.types.epoch();
        let generation = self.authz.generation();
        let key = role.map(str::to_string);
        if let Ok(guard) = self.cache.lock()
            && let Some((e, g, spec, html)) = guard.get(&key)
            && *e == epoch
            && *g == generation
        {
            return (spec.clone(), html.clone());
        }
        let views: Vec<TypeView> = self
            .types
            .all()
            .iter()
            .filter_map(|t| match role {
                None => Some(TypeView::full(t.def.clone())),
                Some(r) => self.type_view(r, &t.def),
            })
            .collect();
        let spec = match self.static_doc.clone() {
            Some(mut doc) => {
                if let Some(r) = role {
                    self.drop_unusable_paths(&mut doc, r, &views);
                }
                add_types(&mut doc, &views);
                serde_json::to_string_pretty(&doc).unwrap_or_default()
            }
            None => self.static_spec.clone(),
        };
        let html = self.docs_html.replacen(&self.static_spec, &spec, 1);
        let (spec, html) = (Arc::new(spec), Arc::new(html));
        if let Ok(mut guard) = self.cache.lock() {
            if guard.len() >= MAX_VIEWS {
                guard.clear();
            }
            guard.insert(key, (epoch, generation, spec.clone(), html.clone()));
        }
        (spec, html)
    }

    /// What `role` may use of a type, or `None` when it may use nothing of it (the type
    /// is then not named at all).
    fn type_view(
        &self,
        role: &str,
        def: &crate::domain::schema::ContentTypeDef,
    ) -> Option<TypeView> {
        let fields = |action: &str| -> Option<FieldSet> {
            self.authz
                .grant_of(role, &def.api_id, action)
                .map(|g| g.own.clone())
        };
        let view = TypeView {
            deliver: fields("read"),
            manage: fields("read_drafts"),
            create: fields("create"),
            update: fields("update"),
            delete: self.authz.grant_of(role, &def.api_id, "delete").is_some(),
            def: def.clone(),
        };
        (view.deliver.is_some() || view.any_management()).then_some(view)
    }

    /// Removes the static management paths of resources the role has no right on.
    fn drop_unusable_paths(&self, doc: &mut Value, role: &str, views: &[TypeView]) {
        let manages_entries = views.iter().any(TypeView::any_management);
        let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
            return;
        };
        paths.retain(|path, _| {
            let Some(rest) = path.strip_prefix("/api/v1/manage/") else {
                return true;
            };
            let resource = match rest.split('/').next().unwrap_or_default() {
                "entries" | "schedules" | "trash" | "query" | "search" => return manages_entries,
                "content-types" => "schema",
                "events" | "stats" => "audit",
                // Listed for every role that writes entries (they pick a locale).
                "locales" if manages_entries => return true,
                other => other,
            };
            self.authz.holds_any(role, resource)
        });
    }
}

/// The role whose document a request gets: the `authenticate` middleware (which wraps
/// these routes) has resolved the caller already; anonymous callers get `public`'s.
fn caller_role(req: &Request) -> String {
    req.extensions()
        .get::<crate::authz::Principal>()
        .map_or_else(|| "public".to_string(), |p| p.role.clone())
}

#[handler]
pub fn openapi_json(src: Data<&Arc<DocSource>>, req: &Request) -> Response {
    let (spec, _) = src.for_role(Some(&caller_role(req)));
    Response::builder()
        .content_type("application/json")
        .header("vary", "Authorization")
        .header("cache-control", "private, no-cache")
        .body(spec.as_bytes().to_vec())
}

#[handler]
pub fn docs(src: Data<&Arc<DocSource>>, req: &Request) -> Response {
    let (_, html) = src.for_role(Some(&caller_role(req)));
    Response::builder()
        .content_type("text/html; charset=utf-8")
        .header("vary", "Authorization")
        .body(html.as_bytes().to_vec())
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

/// Rules the server enforces on the static request bodies that poem-openapi does not write
/// into the document: the formats and limits our validation checks.
fn document_static_rules(doc: &mut Value) {
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
            json!({ "enum": ["read", "read_drafts", "create", "update", "delete", "publish", "*"] }),
        ),
        ("PolicyCreate", "condition", json!({ "enum": ["owner"] })),
        (
            "TokenCreate",
            "name",
            json!({ "minLength": 1, "maxLength": 200 }),
        ),
        ("EntryWrite", "message", json!({ "maxLength": 1000 })),
        (
            "CommentCreate",
            "body",
            json!({ "minLength": 1, "maxLength": 10000 }),
        ),
        (
            "CommentUpdate",
            "body",
            json!({ "minLength": 1, "maxLength": 10000 }),
        ),
        (
            "TransitionRequest",
            "to",
            json!({ "pattern": "^[a-z0-9_]{1,32}$" }),
        ),
        (
            "EntryWrite",
            "locale",
            json!({ "pattern": "^[A-Za-z0-9_-]{1,35}$" }),
        ),
    ];
    document_param_limits(doc);
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
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

/// The ranges the handlers check on `limit` (poem's validators would answer them with
/// their own wording).
fn document_param_limits(doc: &mut Value) {
    let limits = [
        ("/api/v1/manage/events", 1000),
        ("/api/v1/manage/audit", 200),
        ("/api/v1/manage/trash", 100),
        ("/api/v1/manage/entries/{type_id}/{id}/versions", 100),
    ];
    for (path, max) in limits {
        let Some(params) = doc
            .pointer_mut(&format!(
                "/paths/{}/get/parameters",
                path.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for p in params.iter_mut().filter(|p| p["name"] == "limit") {
            p["schema"]["minimum"] = json!(1);
            p["schema"]["maximum"] = json!(max);
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
