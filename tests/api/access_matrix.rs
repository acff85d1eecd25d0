//! The access matrix (DESIGN.md §5): every caller × every management and delivery
//! operation → the status the policies imply. The expectation is not typed in: it is
//! computed from what `GET /manage/policies` and `GET /manage/roles` report, by an
//! evaluator of the test's own (role inheritance, `*` resources and actions,
//! `transition:*`, `condition: owner`), so a server deciding otherwise than its own policy
//! table fails here. Refused attempts must change nothing, and lists must show nothing a
//! GET would refuse. Path variants of a sample of operations must give the canonical
//! decision or a refusal that reveals nothing: an error body without content, 400/404/405,
//! or the 401/403 this caller gets for a resource it holds no right on; never a 2xx where
//! the canonical path is refused, never a 5xx. Adding an endpoint means adding a row to
//! `OPS`.
//!
//! What the server does with each variant class (the same on both backends):
//! - trailing slash, `/api/V1/…`, `..` and `%2e%2e` segments: no route matches (routes are
//!   exact and case-sensitive; the server resolves no dot segments): 404 `not_found` for
//!   every caller, before authentication.
//! - `%61rticle`, and a percent-encoded entry id: parameters are decoded before the
//!   handler: the canonical decision, everywhere. `%75sers` (a literal segment): 404.
//! - `ARTICLE`: another type, which does not exist. The check comes before the lookup, so a
//!   role holding `*` gets 404 `content_type_not_found`, a role granted only `article` 403
//!   (the app token's delivery read: 200 → 403), anonymous 401. `USERS`: 404.
//! - `entries//article`: the empty segment makes it `/:type_id/:id` with type `""` (404
//!   `content_type_not_found`, or 403/401 without `*`); longer paths match nothing: 404.
//! - `article%2F{id}`: `%2F` is decoded inside the parameter, so this is the list of a
//!   type named `article/{id}`: GET 404 `content_type_not_found` or 403/401; PATCH and
//!   POST 405 `method_not_allowed`, before authentication.

use std::collections::HashMap;

use reqwest::Method;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(every_caller_gets_what_the_policies_say_on_every_operation);

const TYPE: &str = "article";
/// The content type of an operation's row (the matrix type).
const T: &str = "{type}";
/// Administration resources: a `*` policy covers content types, never these.
const ADMIN_RESOURCES: &[&str] = &[
    "schema", "users", "roles", "policies", "tokens", "webhooks", "assets", "audit", "locales",
];
/// Caller indices of the owners of the two entries under test.
const ADMIN: usize = 0;
const AUTHOR: usize = 2;

/// One operation: method, path and body templates, the rights it needs (every one of
/// them; none: any signed-in caller) and its success status. Templates: `$M` is
/// `/api/v1/manage`, `$E` the entry under test (`$M/entries/{type}/{id}`), `$C` the
/// delivery API of the type; `{id}` `{slug}` `{job}` belong to the entry under test (a
/// row using them runs on the admin's entry and on the author's), `{user}` `{role}`
/// `{policy}` `{token}` `{ctype}` are disposable administration objects, `{n}` a fresh
/// number, `{future}` a time ahead.
struct Op {
    name: &'static str,
    method: &'static str,
    path: &'static str,
    body: Option<&'static str>,
    needs: &'static [(&'static str, &'static str)],
    ok: u16,
}

#[rustfmt::skip]
const fn op(
    name: &'static str, method: &'static str, path: &'static str, body: Option<&'static str>,
    needs: &'static [(&'static str, &'static str)], ok: u16,
) -> Op {
    Op { name, method, path, body, needs, ok }
}

#[rustfmt::skip]
const OPS: &[Op] = &[
    op("entries.list", "GET", "$M/entries/{type}", None, &[(T, "read_drafts")], 200),
    op("entries.create", "POST", "$M/entries/{type}", Some(r#"{"fields": {"title": "Created {n}"}}"#), &[(T, "create")], 201),
    op("entries.get", "GET", "$E", None, &[(T, "read_drafts")], 200),
    op("entries.update", "PATCH", "$E", Some(r#"{"fields": {"title": "Edited {n}"}}"#), &[(T, "update")], 200),
    op("entries.delete", "DELETE", "$E", None, &[(T, "delete")], 204),
    op("entries.versions", "GET", "$E/versions", None, &[(T, "read_drafts")], 200),
    op("entries.version", "GET", "$E/versions/1", None, &[(T, "read_drafts")], 200),
    op("entries.diff", "GET", "$E/diff?from=1&to=1", None, &[(T, "read_drafts")], 200),
    op("entries.restore", "POST", "$E/restore", Some(r#"{"version": 1}"#), &[(T, "read_drafts"), (T, "update")], 200),
    op("entries.publish", "POST", "$E/publish", None, &[(T, "publish")], 200),
    op("entries.unpublish", "POST", "$E/unpublish", None, &[(T, "publish")], 200),
    op("entries.to_draft", "POST", "$E/transition", Some(r#"{"to": "draft"}"#), &[(T, "transition:draft")], 200),
    op("entries.to_archived", "POST", "$E/transition", Some(r#"{"to": "archived"}"#), &[(T, "transition:archived")], 200),
    op("entries.transitions", "GET", "$E/transitions", None, &[(T, "read_drafts")], 200),
    op("entries.schedule", "POST", "$E/schedule", Some(r#"{"unpublish_at": "{future}"}"#), &[(T, "publish")], 201),
    op("entries.schedule_list", "GET", "$E/schedule", None, &[(T, "read_drafts")], 200),
    op("entries.schedule_cancel", "DELETE", "$E/schedule/{job}", None, &[(T, "publish")], 204),
    op("delivery.list", "GET", "$C", None, &[(T, "read")], 200),
    op("delivery.get", "GET", "$C/{id}", None, &[(T, "read")], 200),
    op("delivery.get_by_slug", "GET", "$C/{slug}", None, &[(T, "read")], 200),
    op("content_types.list", "GET", "$M/content-types", None, &[("schema", "read")], 200),
    op("content_types.get", "GET", "$M/content-types/{type}", None, &[("schema", "read")], 200),
    op("content_types.create", "POST", "$M/content-types", Some(r#"{"api_id": "made_{n}", "name": "Made", "fields": [{"name": "title", "type": "text"}]}"#), &[("schema", "create")], 201),
    op("content_types.update", "PUT", "$M/content-types/{ctype}", Some(r#"{"api_id": "{ctype}", "name": "Renamed", "fields": [{"name": "title", "type": "text"}]}"#), &[("schema", "update")], 200),
    op("content_types.delete", "DELETE", "$M/content-types/{ctype}", None, &[("schema", "delete")], 204),
    op("users.list", "GET", "$M/users", None, &[("users", "read")], 200),
    op("users.get", "GET", "$M/users/{user}", None, &[("users", "read")], 200),
    op("users.create", "POST", "$M/users", Some(r#"{"email": "made{n}@example.com", "password": "a-long-enough-password", "role": "author"}"#), &[("users", "create")], 201),
    op("users.update", "PATCH", "$M/users/{user}", Some(r#"{"role": "reviewer"}"#), &[("users", "update")], 200),
    op("users.delete", "DELETE", "$M/users/{user}", None, &[("users", "delete")], 204),
    op("roles.list", "GET", "$M/roles", None, &[("roles", "read")], 200),
    op("roles.create", "POST", "$M/roles", Some(r#"{"name": "made_{n}"}"#), &[("roles", "create")], 201),
    op("roles.delete", "DELETE", "$M/roles/{role}", None, &[("roles", "delete")], 204),
    op("policies.list", "GET", "$M/policies", None, &[("policies", "read")], 200),
    op("policies.create", "POST", "$M/policies", Some(r#"{"role": "{role}", "resource": "{type}", "action": "read"}"#), &[("policies", "create")], 201),
    op("policies.delete", "DELETE", "$M/policies/{policy}", None, &[("policies", "delete")], 204),
    op("tokens.list", "GET", "$M/tokens", None, &[("tokens", "read")], 200),
    op("tokens.create", "POST", "$M/tokens", Some(r#"{"name": "made {n}", "role": "public"}"#), &[("tokens", "create")], 201),
    op("tokens.delete", "DELETE", "$M/tokens/{token}", None, &[("tokens", "delete")], 204),
    op("events", "GET", "$M/events", None, &[("audit", "read")], 200),
    op("audit", "GET", "$M/audit", None, &[("audit", "read")], 200),
    op("schedules", "GET", "$M/schedules", None, &[], 200),
];

/// Operations tried with every path variant, by every caller (entry rows: on the author's
/// entry, where ownership splits the callers).
#[rustfmt::skip]
const SAMPLED: &[&str] = &[
    "entries.list", "entries.get", "entries.update", "entries.publish", "delivery.get",
    "content_types.get", "users.list",
];

/// A variant of a filled-in path, from the path, its key segment (the type id, or the
/// administration resource) and the entry id; `None` where it does not apply.
type Variant = (&'static str, fn(&str, &str, Option<&str>) -> Option<String>);

#[rustfmt::skip]
const VARIANTS: &[Variant] = &[
    ("trailing slash", |p, _, _| Some(format!("{p}/"))),
    ("upper-cased type or resource", |p, k, _| segment(p, k, &k.to_uppercase())),
    ("upper-cased path segment", |p, _, _| Some(p.replacen("/v1/", "/V1/", 1))),
    ("percent-encoded type or resource", |p, k, _| segment(p, k, &encode_first(k))),
    ("percent-encoded entry id", |p, _, id| id.map(|id| p.replacen(id, &encode_first(id), 1))),
    ("double slash", |p, k, _| segment(p, k, &format!("/{k}"))),
    ("dot-dot segment", |p, k, _| segment(p, k, &format!("x/../{k}"))),
    ("encoded dot-dot segment", |p, k, _| segment(p, k, &format!("x/%2e%2e/{k}"))),
    ("encoded slash after the type", |p, k, _| {
        let at = format!("/{k}/");
        p.contains(&at).then(|| p.replacen(&at, &format!("/{k}%2F"), 1))
    }),
];

/// Replaces the first path segment `key` with `with`.
fn segment(path: &str, key: &str, with: &str) -> Option<String> {
    let at = format!("/{key}");
    path.contains(&at)
        .then(|| path.replacen(&at, &format!("/{with}"), 1))
}

fn encode_first(s: &str) -> String {
    format!("%{:02x}{}", s.as_bytes()[0], &s[1..])
}

struct Caller {
    name: String,
    role: String,
    token: Option<String>,
    user_id: Option<String>,
}

fn caller(name: &str, role: &str, token: Option<String>, user_id: Option<String>) -> Caller {
    let (name, role) = (name.to_string(), role.to_string());
    Caller {
        name,
        role,
        token,
        user_id,
    }
}

/// Whose entries an operation runs on (caller indices), `None` for no entry.
fn targets(op: &Op) -> &'static [Option<usize>] {
    if op.path.starts_with("$E") || op.path.contains("{id}") || op.path.contains("{slug}") {
        &[Some(ADMIN), Some(AUTHOR)]
    } else {
        &[None]
    }
}

/// How far a role reaches with one action on one resource.
#[derive(PartialEq)]
enum Reach {
    Nothing,
    Own,
    Any,
}

/// The policy table as the server reports it, evaluated by the rules of DESIGN.md §5
/// restated here (deliberately not the server's code).
struct Policies {
    rules: Vec<(String, String, String, bool)>,
    parents: HashMap<String, String>,
}

impl Policies {
    async fn fetch(app: &TestApp) -> Policies {
        let policies = admin(app, "GET", "/api/v1/manage/policies", None).await;
        let roles = admin(app, "GET", "/api/v1/manage/roles", None).await;
        let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
        let rule = |p: &Value| {
            let (role, resource) = (text(p, "role"), text(p, "resource"));
            (role, resource, text(p, "action"), p["condition"] == "owner")
        };
        Policies {
            rules: items(&policies).iter().map(rule).collect(),
            parents: items(&roles)
                .iter()
                .filter(|r| r["inherits"].is_string())
                .map(|r| (text(r, "name"), text(r, "inherits")))
                .collect(),
        }
    }

    /// A role and the roles it inherits from.
    fn chain<'a>(&'a self, role: &'a str) -> Vec<&'a str> {
        let mut chain = vec![role];
        while let Some(parent) = self.parents.get(chain[chain.len() - 1]) {
            if chain.contains(&parent.as_str()) {
                break;
            }
            chain.push(parent);
        }
        chain
    }

    fn reach(&self, role: &str, resource: &str, action: &str) -> Reach {
        let chain = self.chain(role);
        let content = !ADMIN_RESOURCES.contains(&resource);
        let mut reach = Reach::Nothing;
        for (r, res, act, owner) in &self.rules {
            let res_ok = res == resource || (res == "*" && content);
            let act_ok = act == action
                || act == "*"
                || (act == "transition:*" && action.starts_with("transition:"));
            if chain.contains(&r.as_str()) && res_ok && act_ok {
                // There is no owner to compare on create: the condition cannot limit it.
                if !owner || action == "create" {
                    return Reach::Any;
                }
                reach = Reach::Own;
            }
        }
        reach
    }

    /// The status `caller` must get for `op` (on the entry owned by `owner`).
    fn expected(&self, caller: &Caller, op: &Op, owner: Option<&Caller>) -> u16 {
        let anonymous = caller.token.is_none();
        // The management API is for signed-in callers only, whatever `public` holds.
        if anonymous && !op.path.starts_with("$C") {
            return 401;
        }
        // Callers without a user (tokens) own nothing.
        let owns = owner.is_none_or(|o| caller.user_id.is_some() && caller.user_id == o.user_id);
        for (resource, action) in op.needs {
            let resource = if *resource == T { TYPE } else { resource };
            match self.reach(&caller.role, resource, action) {
                Reach::Nothing if anonymous => return 401,
                Reach::Nothing => return 403,
                // Out of reach is absent to a reader, refused to a writer.
                Reach::Own if !owns && action.starts_with("read") => return 404,
                Reach::Own if !owns => return 403,
                Reach::Own | Reach::Any => {}
            }
        }
        op.ok
    }
}

fn items(v: &Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

fn error_code(status: u16) -> &'static str {
    match status {
        401 => "unauthenticated",
        403 => "forbidden",
        404 => "entry_not_found",
        _ => "allowed",
    }
}

/// Sends a request; `exact` sends it byte for byte on a raw connection (an HTTP client
/// would resolve `..` segments itself).
async fn call(
    app: &TestApp,
    token: Option<&str>,
    line: (&str, &str),
    body: Option<&Value>,
    exact: bool,
) -> (u16, Value) {
    let (method, path) = line;
    if !exact {
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let mut req = app.req_as(token, method.clone(), path);
        if let Some(b) = body {
            req = req.json(b);
        }
        let (status, answer) = send(req).await;
        return (status.as_u16(), answer);
    }
    let host = app.base.trim_start_matches("http://");
    let body = body.map(Value::to_string).unwrap_or_default();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n"));
    let auth = auth.unwrap_or_default();
    let head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n{auth}Connection: close\r\n");
    let req = format!(
        "{head}Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let (status, text) = crate::edge::exchange(app, &req).await;
    let answer = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, answer)
}

/// A request as the administrator that must succeed.
async fn admin(app: &TestApp, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = call(app, Some(&app.token), (method, path), body.as_ref(), false).await;
    assert!((200..300).contains(&status), "{method} {path}: {answer}");
    answer
}

/// Creates something as the administrator; returns its `id`.
async fn made(app: &TestApp, path: &str, body: Value) -> String {
    let v = admin(app, "POST", &format!("/api/v1/manage/{path}"), Some(body)).await;
    let id = v["id"].as_str().or(v["items"][0]["id"].as_str());
    id.unwrap_or_default().to_string()
}

type Vals = HashMap<&'static str, String>;

fn fill(template: &str, vals: &Vals) -> String {
    let mut s = template
        .replace("$E", "$M/entries/{type}/{id}")
        .replace("$M", "/api/v1/manage")
        .replace("$C", "/api/v1/content/{type}");
    for (k, v) in vals {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

fn future() -> String {
    (chrono::Utc::now() + chrono::Duration::days(300))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// Makes afresh what `text` (an operation's templates) refers to: an entry written by
/// `owner`, then moved to `approved` and published by the administrator, with a pending
/// unpublish job; and disposable administration objects.
async fn fixture(app: &TestApp, text: &str, owner: &Caller, n: usize) -> Vals {
    let mut v = Vals::from([("type", TYPE.into()), ("n", n.to_string())]);
    v.insert("future", future());
    if ["$E", "{id}", "{slug}"].iter().any(|k| text.contains(k)) {
        let new = json!({"fields": {"title": format!("Matrix entry {n}")}});
        let line = ("POST", &format!("/api/v1/manage/entries/{TYPE}")[..]);
        let (status, e) = call(app, owner.token.as_deref(), line, Some(&new), false).await;
        assert_eq!(status, 201, "{e}");
        let (id, slug) = (e["id"].as_str().expect("id"), e["fields"]["slug"].as_str());
        let entry = format!("entries/{TYPE}/{id}");
        for to in ["in_review", "approved"] {
            made(app, &format!("{entry}/transition"), json!({"to": to})).await;
        }
        admin(
            app,
            "POST",
            &format!("/api/v1/manage/{entry}/publish"),
            None,
        )
        .await;
        let job = json!({"unpublish_at": future()});
        v.insert("job", made(app, &format!("{entry}/schedule"), job).await);
        v.insert("slug", slug.expect("slug").into());
        v.insert("id", id.into());
    }
    if text.contains("{user}") {
        let email = format!("spare{n}@example.com");
        let body = json!({"email": email, "password": "a-long-enough-password", "role": "author"});
        v.insert("user", made(app, "users", body).await);
    }
    if text.contains("{role}") || text.contains("{policy}") {
        made(app, "roles", json!({"name": format!("spare_{n}")})).await;
        v.insert("role", format!("spare_{n}"));
    }
    if text.contains("{policy}") {
        let rule = json!({"role": format!("spare_{n}"), "resource": TYPE, "action": "read_drafts"});
        v.insert("policy", made(app, "policies", rule).await);
    }
    if text.contains("{token}") {
        let token = json!({"name": format!("spare {n}"), "role": "public"});
        v.insert("token", made(app, "tokens", token).await);
    }
    if text.contains("{ctype}") {
        let fields = json!([{"name": "title", "type": "text"}]);
        let def = json!({"api_id": format!("spare_{n}"), "name": "Spare", "fields": fields});
        made(app, "content-types", def).await;
        v.insert("ctype", format!("spare_{n}"));
    }
    v
}

const LISTS: &[&str] = &[
    "entries/article",
    "users",
    "roles",
    "policies",
    "tokens",
    "content-types",
];

/// Everything a refused attempt could have changed, as the administrator sees it.
async fn snapshot(app: &TestApp, shared: &[Vals]) -> Value {
    let mut s = json!({"events": app.events().await.len()});
    for (i, v) in shared.iter().enumerate() {
        let path = fill("$E", v);
        s[format!("entry {i}")] = admin(app, "GET", &path, None).await;
        s[format!("jobs {i}")] = admin(app, "GET", &format!("{path}/schedule"), None).await;
        s[format!("moves {i}")] = admin(app, "GET", &format!("{path}/transitions"), None).await;
    }
    for what in LISTS {
        let list = admin(app, "GET", &format!("/api/v1/manage/{what}"), None).await;
        s[what] = list["total"].clone();
    }
    s
}

/// A user of each seeded role, anonymous, an app token holding only `read` on the type, a
/// token per seeded role, and a user whose reads are limited to their own entries.
async fn callers(app: &TestApp) -> Vec<Caller> {
    let me = admin(app, "GET", "/api/v1/auth/me", None).await;
    let admin_id = me["id"].as_str().map(str::to_string);
    let mut callers = vec![caller(
        "admin user",
        "admin",
        Some(app.token.clone()),
        admin_id,
    )];
    made(app, "roles", json!({"name": "app_reader"})).await;
    app.grant("app_reader", TYPE, "read").await;
    made(app, "roles", json!({"name": "own_reader"})).await;
    for action in ["read", "read_drafts"] {
        let mut rule = json!({"role": "own_reader", "resource": TYPE, "action": action});
        rule["condition"] = json!("owner");
        made(app, "policies", rule).await;
    }
    for role in ["editor", "author", "reviewer", "public", "own_reader"] {
        let (id, token) = app.user_token(&format!("{role}@example.com"), role).await;
        callers.push(caller(&format!("{role} user"), role, Some(token), Some(id)));
    }
    callers.push(caller("anonymous", "public", None, None));
    for role in [
        "app_reader",
        "admin",
        "editor",
        "author",
        "reviewer",
        "public",
    ] {
        let made = app.create_token(&format!("{role} token"), role).await;
        let token = made["token"].as_str().map(str::to_string);
        callers.push(caller(&format!("{role} token"), role, token, None));
    }
    callers
}

/// The sweep's tally: what was tried, and what went wrong.
struct Sweep<'a> {
    app: &'a TestApp,
    decisions: usize,
    variants: usize,
    failures: Vec<String>,
}

impl Sweep<'_> {
    /// Sends one attempt (canonical, or path variant `variant`) and judges it by `want`.
    async fn attempt(&mut self, c: &Caller, op: &Op, vals: &Vals, v: Option<usize>, want: u16) {
        let path = fill(op.path, vals);
        let body = op
            .body
            .map(|b| serde_json::from_str(&fill(b, vals)).expect("a body"));
        let token = c.token.as_deref();
        let what = format!("{}: {} {}", c.name, op.name, op.method);
        let Some(v) = v else {
            self.decisions += 1;
            let line = (op.method, &path[..]);
            let (got, answer) = call(self.app, token, line, body.as_ref(), false).await;
            let code = error_code(want);
            if got != want || (want >= 400 && answer["error"]["code"] != code) {
                let failure =
                    format!("{what} {path}: expected {want} ({code}), got {got}: {answer}");
                self.failures.push(failure);
            } else if want >= 400 {
                let status = reqwest::StatusCode::from_u16(got).expect("a status");
                assert_error(status, &answer, want, code);
            }
            return;
        };
        let (class, make) = VARIANTS[v];
        let on_type = op.path.contains("{type}") || !op.path.starts_with("$M");
        let key = path.rsplit('/').next().filter(|_| !on_type).unwrap_or(TYPE);
        let id = vals.get("id").filter(|id| path.contains(id.as_str()));
        let Some(variant_path) = make(&path, key, id.map(String::as_str)) else {
            return;
        };
        self.variants += 1;
        let line = (op.method, &variant_path[..]);
        let (got, answer) = call(self.app, token, line, body.as_ref(), true).await;
        // A refusal that reveals nothing: an error code, no content, and the kind of
        // refusal this caller gets anyway (401 only when anonymous, 403 only signed in).
        let text = answer.to_string();
        let refusal = match got {
            401 => token.is_none(),
            403 => token.is_some(),
            400 | 404 | 405 => true,
            _ => false,
        } && answer["error"]["code"].is_string()
            && !text.contains("Matrix entry")
            && !text.contains("@example.com");
        if got != want && !refusal {
            let failure = format!("{what} ({class}) {variant_path}: canonical {want}, got {got}");
            self.failures.push(format!("{failure}: {answer}"));
        }
    }

    /// Lists never show what the caller could not get one by one (owner conditions).
    async fn lists_show_only_what_gets_allow(&mut self, c: &Caller, vals: &Vals) {
        let token = c.token.as_deref();
        for (list, one) in [
            ("$M/entries/{type}", "$E"),
            ("$C", "$C/{id}"),
            ("$M/schedules", "$E"),
        ] {
            let (status, page) =
                call(self.app, token, ("GET", &fill(list, vals)), None, false).await;
            for item in items(&page).iter().filter(|_| status == 200) {
                let id = item["entry_id"].as_str().or(item["id"].as_str());
                let vals = Vals::from([("type", TYPE.into()), ("id", id.unwrap_or("").into())]);
                let (got, _) = call(self.app, token, ("GET", &fill(one, &vals)), None, false).await;
                if got != 200 {
                    let id = &vals["id"];
                    let failure = format!("{}: {list} shows {id}, whose GET answers {got}", c.name);
                    self.failures.push(failure);
                }
            }
        }
    }
}

async fn every_caller_gets_what_the_policies_say_on_every_operation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let title = json!({"name": "title", "type": "text", "required": true});
    let slug = json!({"name": "slug", "type": "slug", "source": "title"});
    let options = json!({"title_field": "title", "workflow": "default"});
    let def =
        json!({"api_id": TYPE, "name": "Article", "options": options, "fields": [title, slug]});
    app.create_type(def).await;
    let callers = callers(&app).await;
    let policies = Policies::fetch(&app).await;
    let everything = "$E {user} {role} {policy} {token} {ctype}";
    let shared = [
        fixture(&app, everything, &callers[ADMIN], 0).await,
        fixture(&app, everything, &callers[AUTHOR], 1).await,
    ];
    let (decisions, variants, failures) = (0, 0, Vec::new());
    let mut sweep = Sweep {
        app: &app,
        decisions,
        variants,
        failures,
    };

    // Everything that changes nothing when the server is right (reads and refusals) runs
    // on shared objects; allowed writes wait for objects of their own.
    let before = snapshot(&app, &shared).await;
    let mut writes = Vec::new();
    for c in &callers {
        for op in OPS {
            for &owner in targets(op) {
                let want = policies.expected(c, op, owner.map(|o| &callers[o]));
                let sampled = SAMPLED.contains(&op.name) && owner != Some(ADMIN);
                let variants = (0..VARIANTS.len()).filter(|_| sampled).map(Some);
                for variant in std::iter::once(None).chain(variants) {
                    if op.method != "GET" && (200..300).contains(&want) {
                        writes.push((c, op, owner, variant, want));
                        continue;
                    }
                    let vals = &shared[usize::from(owner == Some(AUTHOR))];
                    sweep.attempt(c, op, vals, variant, want).await;
                }
            }
        }
        sweep.lists_show_only_what_gets_allow(c, &shared[0]).await;
    }
    let after = snapshot(&app, &shared).await;
    assert_eq!(before, after, "refused attempts changed something");

    for (n, (c, op, owner, variant, want)) in writes.into_iter().enumerate() {
        let text = format!("{} {}", op.path, op.body.unwrap_or_default());
        let owner = &callers[owner.unwrap_or(ADMIN)];
        let vals = fixture(&app, &text, owner, n + shared.len()).await;
        sweep.attempt(c, op, &vals, variant, want).await;
    }

    assert!(
        sweep.failures.is_empty(),
        "{} of {} decisions and {} path variants went wrong:\n{}",
        sweep.failures.len(),
        sweep.decisions,
        sweep.variants,
        sweep.failures.join("\n")
    );
    let rows: usize = OPS.iter().map(|o| targets(o).len()).sum();
    assert_eq!(sweep.decisions, callers.len() * rows);
}
