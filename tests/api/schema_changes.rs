//! Changing the schema at runtime (DESIGN.md §3 "changing a type never loses data
//! silently"): content-type CRUD with ETags, compatible changes, refused incompatible
//! changes with their conflicts, forced changes, bad definitions, deleting types,
//! singletons, unique fields and slugs.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    type_lifecycle_with_etags,
    compatible_changes_keep_entries,
    incompatible_changes_are_refused_and_change_nothing,
    conflicts_count_entries_not_published_copies,
    same_changes_apply_where_no_data_is_affected,
    forced_change_drops_affected_values_everywhere,
    bad_definitions_are_refused_with_field_paths,
    deleting_types,
    singletons_unique_fields_and_slugs,
    making_a_field_unique_over_duplicates_is_refused,
);

const TYPES: &str = "/api/v1/manage/content-types";

fn entries_path(type_id: &str) -> String {
    format!("/api/v1/manage/entries/{type_id}")
}

/// A type with a field of every kind the change rules care about.
fn post_type() -> Value {
    json!({"api_id": "post", "name": "Post", "options": {"title_field": "title"},
    "fields": [
        {"name": "title", "type": "text", "required": true, "validations": {"max_length": 100}},
        {"name": "views", "type": "integer"},
        {"name": "category", "type": "enum", "values": ["news", "guide", "review"]},
        {"name": "legacy", "type": "text"},
        {"name": "summary", "type": "text", "description": "One-line summary"}
    ]})
}

/// An edit of a definition.
type Change = Box<dyn Fn(&mut Value)>;
/// A change's expected conflicts: (field, problem, affected entry ids).
type Expected<'a> = Vec<(&'a str, &'a str, BTreeSet<String>)>;

fn edited(def: &Value, change: impl FnOnce(&mut Value)) -> Value {
    let mut d = def.clone();
    change(&mut d);
    d
}

fn field_mut<'a>(def: &'a mut Value, name: &str) -> &'a mut Value {
    def["fields"]
        .as_array_mut()
        .expect("fields")
        .iter_mut()
        .find(|f| f["name"] == name)
        .expect("field exists")
}

fn remove_field(def: &mut Value, name: &str) {
    def["fields"]
        .as_array_mut()
        .expect("fields")
        .retain(|f| f["name"] != name);
}

/// PUT a definition to its own URL; returns status, body and ETag header.
async fn put_type(
    app: &TestApp,
    def: &Value,
    if_match: Option<&str>,
    force: Option<bool>,
) -> (StatusCode, Value, Option<String>) {
    let api_id = def["api_id"].as_str().expect("api_id");
    let mut path = format!("{TYPES}/{api_id}");
    if let Some(force) = force {
        path.push_str(&format!("?force={force}"));
    }
    let mut req = app.req(Method::PUT, &path).json(def);
    if let Some(m) = if_match {
        req = req.header("if-match", m);
    }
    let resp = req.send().await.expect("send");
    let etag = header_value(&resp, "etag");
    let (status, body) = read(resp).await;
    (status, body, etag)
}

async fn get_type(app: &TestApp, api_id: &str) -> (StatusCode, Value, Option<String>) {
    let resp = app
        .req(Method::GET, &format!("{TYPES}/{api_id}"))
        .send()
        .await
        .expect("send");
    let etag = header_value(&resp, "etag");
    let (status, body) = read(resp).await;
    (status, body, etag)
}

async fn get_entry(app: &TestApp, type_id: &str, id: &str) -> (StatusCode, Value) {
    send(app.req(Method::GET, &format!("{}/{id}", entries_path(type_id)))).await
}

async fn deliver(app: &TestApp, type_id: &str, id: &str) -> (StatusCode, Value) {
    send(app.req_as(
        None,
        Method::GET,
        &format!("/api/v1/content/{type_id}/{id}"),
    ))
    .await
}

async fn versions(app: &TestApp, type_id: &str, id: &str) -> Vec<Value> {
    let (status, body) = send(app.req(
        Method::GET,
        &format!("{}/{id}/versions", entries_path(type_id)),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

fn id_of(entry: &Value) -> String {
    entry["id"].as_str().expect("entry id").to_string()
}

/// (field, problem, entries) of a 409 answer, sorted; also checks every conflict's
/// example entry is one of the affected entries and that it explains itself.
fn assert_conflicts(context: &str, body: &Value, want: &[(&str, &str, BTreeSet<String>)]) {
    let list = body["error"]["details"]["conflicts"]
        .as_array()
        .unwrap_or_else(|| panic!("409 without details.conflicts: {body}"));
    let mut got: Vec<(String, String, u64)> = list
        .iter()
        .map(|c| {
            (
                c["field"].as_str().unwrap_or_default().to_string(),
                c["problem"].as_str().unwrap_or_default().to_string(),
                c["entries"].as_u64().unwrap_or(u64::MAX),
            )
        })
        .collect();
    got.sort();
    let mut expected: Vec<(String, String, u64)> = want
        .iter()
        .map(|(f, p, ids)| (f.to_string(), p.to_string(), ids.len() as u64))
        .collect();
    expected.sort();
    assert_eq!(
        got, expected,
        "{context}: conflicts should name each field, its problem and how many entries it affects: {body}"
    );
    for c in list {
        let (_, _, ids) = want
            .iter()
            .find(|(f, p, _)| c["field"] == *f && c["problem"] == *p)
            .expect("matched above");
        let example = c["example_entry"].as_str().unwrap_or_default();
        assert!(
            ids.contains(example),
            "{context}: example_entry `{example}` is not one of the affected entries {ids:?}: {c}"
        );
        assert!(
            !c["message"].as_str().unwrap_or_default().is_empty(),
            "conflict without a message: {c}"
        );
    }
}

async fn events_since(app: &TestApp, skip: usize) -> Vec<Value> {
    app.events().await.into_iter().skip(skip).collect()
}

// ---------------------------------------------------------------------------------------

async fn type_lifecycle_with_etags(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let def = json!({"api_id": "note", "name": "Note",
        "fields": [{"name": "title", "type": "text", "required": true}]});

    // Create: 201, Location, ETag "t1", the definition echoed back.
    let resp = app
        .req(Method::POST, TYPES)
        .json(&def)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = header_value(&resp, "location").expect("location");
    assert!(location.ends_with(&format!("{TYPES}/note")), "{location}");
    assert_eq!(header_value(&resp, "etag").as_deref(), Some("\"t1\""));
    let (_, created) = read(resp).await;
    assert_eq!(created["api_id"], "note");
    assert_eq!(created["name"], "Note");
    assert_eq!(created["kind"], "collection");
    assert_eq!(created["fields"], def["fields"]);
    assert!(created["created_at"].is_string() && created["updated_at"].is_string());

    // Location points at the type.
    let (status, at_location) = send(app.client.get(&location).bearer_auth(&app.token)).await;
    assert_eq!(status, StatusCode::OK, "{at_location}");
    assert_eq!(at_location["api_id"], "note");

    let second = app
        .create_type(json!({"api_id": "tag", "name": "Tag",
            "fields": [{"name": "label", "type": "text"}]}))
        .await;
    assert_eq!(second["api_id"], "tag");

    // List: {items, next_cursor, total}.
    let (status, list) = send(app.req(Method::GET, TYPES)).await;
    assert_eq!(status, StatusCode::OK);
    let mut ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|t| t["api_id"].as_str().unwrap_or_default())
        .collect();
    ids.sort();
    assert_eq!(ids, ["note", "tag"]);
    assert_eq!(list["total"], 2);
    assert!(list["next_cursor"].is_null(), "{list}");

    // Get: ETag, and 304 for a matching If-None-Match; 200 for a stale one.
    let (status, got, etag) = get_type(&app, "note").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(etag.as_deref(), Some("\"t1\""));
    assert_eq!(got["fields"], def["fields"]);
    let resp = app
        .req(Method::GET, &format!("{TYPES}/note"))
        .header("if-none-match", "\"t1\"")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);
    let resp = app
        .req(Method::GET, &format!("{TYPES}/note"))
        .header("if-none-match", "\"t0\"")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);

    // Update with the current ETag: applied, ETag moves on.
    let events_before = app.events().await.len();
    let v2 = edited(&def, |d| {
        d["fields"]
            .as_array_mut()
            .expect("fields")
            .push(json!({"name": "body", "type": "longtext"}));
    });
    let (status, body, etag) = put_type(&app, &v2, Some("\"t1\""), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(etag.as_deref(), Some("\"t2\""));
    assert_eq!(body["fields"], v2["fields"]);
    let (_, got, etag) = get_type(&app, "note").await;
    assert_eq!(got["fields"], v2["fields"]);
    assert_eq!(etag.as_deref(), Some("\"t2\""));

    // A stale If-Match: 412 with the current ETag; nothing changes.
    let v3 = edited(&v2, |d| d["name"] = json!("Lost update"));
    let (status, body, etag) = put_type(&app, &v3, Some("\"t1\""), None).await;
    assert_error(status, &body, 412, "precondition_failed");
    assert_eq!(
        etag.as_deref(),
        Some("\"t2\""),
        "412 carries the current ETag"
    );
    assert_eq!(body["error"]["details"]["current_etag"], "\"t2\"");
    let (_, got, _) = get_type(&app, "note").await;
    assert_eq!(got["name"], "Note");

    // Sending the same definition again changes nothing.
    let (status, body, etag) = put_type(&app, &v2, Some("\"t2\""), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        etag.as_deref(),
        Some("\"t2\""),
        "an unchanged type keeps its ETag"
    );

    // Updating a type that does not exist.
    let ghost = edited(&def, |d| d["api_id"] = json!("ghost"));
    let (status, body, _) = put_type(&app, &ghost, None, None).await;
    assert_error(status, &body, 404, "content_type_not_found");

    // Delete: a stale If-Match is refused; then 204 and gone.
    let (status, body) = send(
        app.req(Method::DELETE, &format!("{TYPES}/note"))
            .header("if-match", "\"t1\""),
    )
    .await;
    assert_error(status, &body, 412, "precondition_failed");
    let (status, _) = send(
        app.req(Method::DELETE, &format!("{TYPES}/note"))
            .header("if-match", "\"t2\""),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body, _) = get_type(&app, "note").await;
    assert_error(status, &body, 404, "content_type_not_found");
    let (status, body) = send(app.req(Method::GET, &entries_path("note"))).await;
    assert_error(status, &body, 404, "content_type_not_found");
    let (_, list) = send(app.req(Method::GET, TYPES)).await;
    assert_eq!(list["total"], 1);

    let kinds: Vec<String> = events_since(&app, events_before)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds, ["content_type.updated", "content_type.deleted"]);
}

async fn compatible_changes_keep_entries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let def = json!({"api_id": "post", "name": "Post", "options": {"title_field": "title"},
    "fields": [
        {"name": "title", "type": "text", "required": true, "validations": {"max_length": 40}},
        {"name": "views", "type": "integer"},
        {"name": "category", "type": "enum", "values": ["news", "guide"]},
        {"name": "summary", "type": "text", "description": "Short"}
    ]});
    app.create_type(def.clone()).await;
    let mut entries = Vec::new();
    for (title, views, category) in [
        ("A title of exactly thirty chars", 3, "news"),
        ("Short", 12, "guide"),
        ("Third", 7, "news"),
    ] {
        entries.push(
            app.create_entry(
                "post",
                json!({"title": title, "views": views, "category": category, "summary": "s"}),
            )
            .await,
        );
    }
    let published_id = id_of(&entries[0]);
    app.publish("post", &published_id).await;
    app.grant("public", "post", "read").await;
    let (_, delivered_before) = deliver(&app, "post", &published_id).await;
    let events_before = app.events().await.len();

    // Each change builds on the previous ones.
    let changes: Vec<(&str, Change)> = vec![
        (
            "add an optional field",
            Box::new(|d| {
                d["fields"]
                    .as_array_mut()
                    .expect("fields")
                    .push(json!({"name": "subtitle", "type": "text"}))
            }),
        ),
        (
            "add an enum value",
            Box::new(|d| field_mut(d, "category")["values"] = json!(["news", "guide", "review"])),
        ),
        (
            "relax max_length",
            Box::new(|d| field_mut(d, "title")["validations"]["max_length"] = json!(200)),
        ),
        (
            "change descriptions",
            Box::new(|d| {
                field_mut(d, "summary")["description"] = json!("A longer description");
                d["description"] = json!("Blog posts");
            }),
        ),
        (
            "integer to decimal (every value still fits)",
            Box::new(|d| field_mut(d, "views")["type"] = json!("decimal")),
        ),
    ];
    let mut current = def.clone();
    let mut rev = 1;
    for (what, change) in &changes {
        let next = edited(&current, change);
        let (status, body, etag) =
            put_type(&app, &next, Some(&format!("\"t{rev}\"")), Some(false)).await;
        assert_eq!(status, StatusCode::OK, "{what}: {body}");
        rev += 1;
        assert_eq!(etag, Some(format!("\"t{rev}\"")), "{what}");
        let (_, got, _) = get_type(&app, "post").await;
        assert_eq!(got["fields"], next["fields"], "{what}");
        assert_eq!(got["description"], next["description"], "{what}");
        current = next;
    }
    assert_eq!(field_mut(&mut current, "views")["type"], "decimal");
    assert_eq!(
        field_mut(&mut current, "category")["values"],
        json!(["news", "guide", "review"])
    );

    // Entries are untouched: same version, same values, one version each.
    for before in &entries {
        let id = id_of(before);
        let (status, now) = get_entry(&app, "post", &id).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(now["version"], before["version"]);
        for (k, v) in before["fields"].as_object().expect("fields") {
            assert_eq!(&now["fields"][k], v, "field `{k}` of {id} changed");
        }
        assert!(now["fields"]["subtitle"].is_null());
        assert_eq!(versions(&app, "post", &id).await.len(), 1);
    }
    let (_, delivered) = deliver(&app, "post", &published_id).await;
    for k in ["title", "views", "category", "summary"] {
        assert_eq!(delivered["fields"][k], delivered_before["fields"][k], "{k}");
    }
    let kinds: Vec<String> = events_since(&app, events_before)
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(kinds, vec!["content_type.updated"; changes.len()]);

    // What the changes allow now works.
    let long_title = "x".repeat(150);
    let e = app
        .create_entry(
            "post",
            json!({"title": long_title, "category": "review", "subtitle": "sub", "views": 2.5}),
        )
        .await;
    assert_eq!(e["fields"]["category"], "review");
    assert_eq!(e["fields"]["views"], 2.5);
}

/// Entries for the conflict tests; returns (id, fields) pairs.
async fn seed_posts(app: &TestApp) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for fields in [
        json!({"title": "Short one", "views": 10, "category": "news", "legacy": "old A"}),
        json!({"title": "A considerably longer headline", "views": 20, "category": "review", "legacy": "old B"}),
        json!({"title": "Medium title", "category": "guide", "summary": "has one"}),
        json!({"title": "Tiny", "views": 5, "category": "review"}),
    ] {
        let e = app.create_entry("post", fields).await;
        out.push((id_of(&e), e["fields"].clone()));
    }
    out
}

fn ids_where(entries: &[(String, Value)], pred: impl Fn(&Value) -> bool) -> BTreeSet<String> {
    entries
        .iter()
        .filter(|(_, f)| pred(f))
        .map(|(id, _)| id.clone())
        .collect()
}

async fn incompatible_changes_are_refused_and_change_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let def = post_type();
    let created = app.create_type(def.clone()).await;
    let entries = seed_posts(&app).await;
    let events_before = app.events().await.len();

    let has = |k: &'static str| move |f: &Value| !f[k].is_null();
    let with_legacy = ids_where(&entries, has("legacy"));
    let with_views = ids_where(&entries, has("views"));
    let narrowed = ["news", "guide"];
    let outside_enum = ids_where(&entries, |f| {
        f["category"]
            .as_str()
            .is_some_and(|c| !narrowed.contains(&c))
    });
    let max_title = 10;
    let long_titles = ids_where(&entries, |f| {
        f["title"].as_str().unwrap_or_default().chars().count() > max_title
    });
    let without_summary = ids_where(&entries, |f| f["summary"].is_null());
    // The data must make each change a real conflict that only some entries have.
    for set in [
        &with_legacy,
        &with_views,
        &outside_enum,
        &long_titles,
        &without_summary,
    ] {
        assert!(!set.is_empty() && set.len() < entries.len(), "{set:?}");
    }

    let cases: Vec<(&str, Value, Expected)> = vec![
        (
            "remove a field with values",
            edited(&def, |d| remove_field(d, "legacy")),
            vec![("legacy", "removed_with_data", with_legacy.clone())],
        ),
        (
            "integer to text",
            edited(&def, |d| field_mut(d, "views")["type"] = json!("text")),
            vec![("views", "incompatible_values", with_views.clone())],
        ),
        (
            "narrow an enum",
            edited(&def, |d| {
                field_mut(d, "category")["values"] = json!(narrowed)
            }),
            vec![("category", "incompatible_values", outside_enum.clone())],
        ),
        (
            "narrow max_length",
            edited(&def, |d| {
                field_mut(d, "title")["validations"]["max_length"] = json!(max_title)
            }),
            vec![("title", "incompatible_values", long_titles.clone())],
        ),
        (
            "make a field required",
            edited(&def, |d| field_mut(d, "summary")["required"] = json!(true)),
            vec![("summary", "required_missing", without_summary.clone())],
        ),
        (
            "several at once",
            edited(&def, |d| {
                remove_field(d, "legacy");
                field_mut(d, "category")["values"] = json!(narrowed);
                field_mut(d, "summary")["required"] = json!(true);
            }),
            vec![
                ("legacy", "removed_with_data", with_legacy.clone()),
                ("category", "incompatible_values", outside_enum.clone()),
                ("summary", "required_missing", without_summary.clone()),
            ],
        ),
    ];
    for (what, new_def, want) in &cases {
        for force in [None, Some(false)] {
            let (status, body, _) = put_type(&app, new_def, Some("\"t1\""), force).await;
            assert_error(status, &body, 409, "schema_change_conflict");
            assert_conflicts(what, &body, want);
        }
    }

    // Nothing changed: the type, its ETag, the entries, the event log.
    let (_, got, etag) = get_type(&app, "post").await;
    assert_eq!(etag.as_deref(), Some("\"t1\""));
    assert_eq!(got["fields"], created["fields"]);
    for (id, fields) in &entries {
        let (_, now) = get_entry(&app, "post", id).await;
        assert_eq!(now["version"], 1);
        assert_eq!(&now["fields"], fields);
        assert_eq!(versions(&app, "post", id).await.len(), 1);
    }
    assert_eq!(
        app.events().await.len(),
        events_before,
        "a refused change appended an event"
    );
    // The old rules still apply.
    let (status, body) = send(
        app.req(Method::POST, &entries_path("post"))
            .json(&json!({"fields": {"title": "t", "legacy": "still here", "category": "review"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

/// A published entry holds its value twice (draft and published copy); the conflict
/// must count it once: `entries` is a number of entries.
async fn conflicts_count_entries_not_published_copies(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let def = post_type();
    app.create_type(def.clone()).await;
    let entries = seed_posts(&app).await;
    for (id, _) in &entries {
        app.publish("post", id).await;
    }
    app.grant("public", "post", "read").await;
    let events_before = app.events().await.len();
    let with_legacy = ids_where(&entries, |f| !f["legacy"].is_null());
    let outside_enum = ids_where(&entries, |f| f["category"] == "review");

    let new_def = edited(&def, |d| {
        remove_field(d, "legacy");
        field_mut(d, "category")["values"] = json!(["news", "guide"]);
    });
    let (status, body, _) = put_type(&app, &new_def, None, None).await;
    assert_error(status, &body, 409, "schema_change_conflict");

    // Nothing changed on delivery either.
    for (id, fields) in &entries {
        let (status, delivered) = deliver(&app, "post", id).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(delivered["fields"]["legacy"], fields["legacy"]);
        assert_eq!(delivered["fields"]["category"], fields["category"]);
    }
    assert_eq!(app.events().await.len(), events_before);

    assert_conflicts(
        "published entries",
        &body,
        &[
            ("legacy", "removed_with_data", with_legacy),
            ("category", "incompatible_values", outside_enum),
        ],
    );
}

async fn same_changes_apply_where_no_data_is_affected(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // A type without entries takes every one of the refused changes.
    let def = post_type();
    app.create_type(def.clone()).await;
    let steps: Vec<Change> = vec![
        Box::new(|d| remove_field(d, "legacy")),
        Box::new(|d| field_mut(d, "views")["type"] = json!("text")),
        Box::new(|d| field_mut(d, "category")["values"] = json!(["news", "guide"])),
        Box::new(|d| field_mut(d, "title")["validations"]["max_length"] = json!(10)),
        Box::new(|d| field_mut(d, "summary")["required"] = json!(true)),
    ];
    let mut current = def.clone();
    for (i, step) in steps.iter().enumerate() {
        step(&mut current);
        let (status, body, etag) =
            put_type(&app, &current, Some(&format!("\"t{}\"", i + 1)), None).await;
        assert_eq!(status, StatusCode::OK, "step {i}: {body}");
        assert_eq!(etag, Some(format!("\"t{}\"", i + 2)));
        assert_eq!(body["fields"], current["fields"]);
    }

    // A type whose entries hold nothing the changes touch takes them too: the check is
    // about the data, not the kind of change.
    let other = edited(&def, |d| d["api_id"] = json!("page"));
    app.create_type(other.clone()).await;
    let mut ids = Vec::new();
    for (title, category) in [("Short", "news"), ("Tiny", "guide")] {
        let e = app
            .create_entry(
                "page",
                json!({"title": title, "category": category, "summary": "present", "views": 3}),
            )
            .await;
        ids.push(id_of(&e));
    }
    let mut current = other.clone();
    remove_field(&mut current, "legacy");
    field_mut(&mut current, "category")["values"] = json!(["news", "guide"]);
    field_mut(&mut current, "title")["validations"]["max_length"] = json!(10);
    field_mut(&mut current, "summary")["required"] = json!(true);
    let (status, body, _) = put_type(&app, &current, Some("\"t1\""), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for id in &ids {
        let (_, e) = get_entry(&app, "page", id).await;
        assert_eq!(e["version"], 1, "an unaffected entry got a new version");
    }
}

async fn forced_change_drops_affected_values_everywhere(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let def = post_type();
    app.create_type(def.clone()).await;
    let entries = seed_posts(&app).await;
    app.grant("public", "post", "read").await;
    let narrowed = ["news", "guide"];
    let with_legacy = ids_where(&entries, |f| !f["legacy"].is_null());
    let outside_enum = ids_where(&entries, |f| {
        f["category"]
            .as_str()
            .is_some_and(|c| !narrowed.contains(&c))
    });
    let affected: BTreeSet<String> = with_legacy.union(&outside_enum).cloned().collect();
    assert!(affected.len() < entries.len(), "keep one entry unaffected");
    // Publish every entry but the last, so published copies get repaired too.
    let published: BTreeSet<String> = entries[..entries.len() - 1]
        .iter()
        .map(|(id, _)| id.clone())
        .collect();
    for id in &published {
        app.publish("post", id).await;
    }
    assert!(
        published.intersection(&with_legacy).count() > 0
            && published.intersection(&outside_enum).count() > 0
    );
    let events_before = app.events().await.len();

    let new_def = edited(&def, |d| {
        remove_field(d, "legacy");
        field_mut(d, "category")["values"] = json!(narrowed);
    });
    let (status, body, etag) = put_type(&app, &new_def, Some("\"t1\""), Some(true)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(etag.as_deref(), Some("\"t2\""));
    assert_eq!(body["fields"], new_def["fields"]);

    for (id, before) in &entries {
        let (status, now) = get_entry(&app, "post", id).await;
        assert_eq!(status, StatusCode::OK);
        let history = versions(&app, "post", id).await;
        if affected.contains(id) {
            assert_eq!(now["version"], 2, "an affected entry gets a new version");
            let message = history[0]["message"].as_str().unwrap_or_default();
            assert!(
                message.starts_with("schema change removed"),
                "version message: {message}"
            );
            assert_eq!(history.len(), 2);
        } else {
            assert_eq!(now["version"], 1, "an unaffected entry is left alone");
            assert_eq!(history.len(), 1);
        }
        assert!(now["fields"].get("legacy").is_none(), "{now}");
        let want_category = if outside_enum.contains(id) {
            Value::Null
        } else {
            before["category"].clone()
        };
        assert_eq!(now["fields"]["category"], want_category, "{id}");
        for k in ["title", "views", "summary"] {
            assert_eq!(now["fields"][k], before[k], "`{k}` of {id} must survive");
        }
        // History is never rewritten: version 1 still holds the old values.
        let (_, v1) = send(app.req(
            Method::GET,
            &format!("{}/{id}/versions/1", entries_path("post")),
        ))
        .await;
        assert_eq!(v1["fields"]["legacy"], before["legacy"]);
        assert_eq!(v1["fields"]["category"], before["category"]);

        let (status, delivered) = deliver(&app, "post", id).await;
        if published.contains(id) {
            assert_eq!(status, StatusCode::OK);
            assert!(delivered["fields"].get("legacy").is_none());
            assert_eq!(
                delivered["fields"]["category"], want_category,
                "the published copy of {id} must lose the value too"
            );
            assert_eq!(delivered["fields"]["title"], before["title"]);
        } else {
            assert_error(status, &delivered, 404, "entry_not_found");
        }
    }

    // Events: the type change, then one entry.updated per affected entry.
    let events = events_since(&app, events_before).await;
    assert_eq!(events[0]["kind"], "content_type.updated", "{events:?}");
    assert_eq!(events[0]["content_type"], "post");
    let updated: BTreeSet<String> = events[1..]
        .iter()
        .map(|e| {
            assert_eq!(e["kind"], "entry.updated", "{e}");
            assert_eq!(e["version"], 2, "{e}");
            e["entry_id"].as_str().unwrap_or_default().to_string()
        })
        .collect();
    assert_eq!(updated, affected);
    assert_eq!(events.len(), 1 + affected.len());

    // Bringing the field and the enum value back does not resurrect dropped values.
    let (status, body, _) = put_type(&app, &def, Some("\"t2\""), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (id, _) in &entries {
        let (_, now) = get_entry(&app, "post", id).await;
        assert!(now["fields"]["legacy"].is_null(), "{now}");
        if published.contains(id) {
            let (_, delivered) = deliver(&app, "post", id).await;
            assert!(delivered["fields"]["legacy"].is_null(), "{delivered}");
            if outside_enum.contains(id) {
                assert!(delivered["fields"]["category"].is_null(), "{delivered}");
            }
        }
    }
}

async fn bad_definitions_are_refused_with_field_paths(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let existing = app.create_type(post_type()).await;
    let events_before = app.events().await.len();
    let title = json!({"name": "title", "type": "text"});

    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"api_id": "Bad-Id", "name": "X", "fields": [title]}),
            "api_id",
            "invalid_format",
        ),
        (
            json!({"api_id": "9lives", "name": "X", "fields": [title]}),
            "api_id",
            "invalid_format",
        ),
        (
            json!({"api_id": "users", "name": "X", "fields": [title]}),
            "api_id",
            "reserved",
        ),
        (
            json!({"api_id": "search", "name": "X", "fields": [title]}),
            "api_id",
            "reserved",
        ),
        (
            json!({"api_id": "dup", "name": "X", "fields": [title, {"name": "title", "type": "integer"}]}),
            "fields[1].name",
            "duplicate",
        ),
        (
            json!({"api_id": "en", "name": "X", "fields": [title, {"name": "kind", "type": "enum"}]}),
            "fields[1].values",
            "required",
        ),
        (
            json!({"api_id": "rel", "name": "X", "fields": [title, {"name": "author", "type": "relation", "target": "ghost"}]}),
            "fields[1].target",
            "invalid_reference",
        ),
        (
            json!({"api_id": "sl", "name": "X", "fields": [title, {"name": "count", "type": "integer"}, {"name": "slug", "type": "slug", "source": "count"}]}),
            "fields[2].source",
            "invalid_reference",
        ),
        (
            json!({"api_id": "re", "name": "X", "fields": [{"name": "code", "type": "text", "validations": {"regex": "(unclosed"}}]}),
            "fields[0].validations.regex",
            "invalid_regex",
        ),
        (
            json!({"api_id": "mm", "name": "X", "fields": [{"name": "n", "type": "integer", "validations": {"min": 10, "max": 1}}]}),
            "fields[0].validations",
            "invalid_range",
        ),
        (
            json!({"api_id": "ml", "name": "X", "fields": [{"name": "s", "type": "text", "validations": {"min_length": 5, "max_length": 2}}]}),
            "fields[0].validations",
            "invalid_range",
        ),
    ];
    for (def, path, code) in &cases {
        let (status, body) = send(app.req(Method::POST, TYPES).json(def)).await;
        assert_error(status, &body, 422, "validation_failed");
        let errors = body["error"]["details"]["fields"]
            .as_array()
            .unwrap_or_else(|| panic!("no field errors: {body}"));
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == *path && e["code"] == *code),
            "expected `{path}` `{code}` for {def}: {body}"
        );
    }

    // The same checks guard updates.
    let bad_update = edited(&post_type(), |d| {
        field_mut(d, "category")["values"] = json!([])
    });
    let (status, body, _) = put_type(&app, &bad_update, Some("\"t1\""), Some(true)).await;
    assert_error(status, &body, 422, "validation_failed");
    assert_eq!(
        body["error"]["details"]["fields"][0]["field"],
        "fields[2].values"
    );

    // Existing api_id, and renaming through PUT.
    let (status, body) = send(app.req(Method::POST, TYPES).json(&post_type())).await;
    assert_error(status, &body, 409, "already_exists");
    let renamed = edited(&post_type(), |d| d["api_id"] = json!("article"));
    let (status, body) = send(
        app.req(Method::PUT, &format!("{TYPES}/post"))
            .json(&renamed),
    )
    .await;
    assert_error(status, &body, 400, "invalid_body");

    // Nothing was written.
    let (_, list) = send(app.req(Method::GET, TYPES)).await;
    assert_eq!(list["total"], 1, "{list}");
    let (_, got, etag) = get_type(&app, "post").await;
    assert_eq!(etag.as_deref(), Some("\"t1\""));
    assert_eq!(got["fields"], existing["fields"]);
    assert_eq!(app.events().await.len(), events_before);
}

async fn deleting_types(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(json!({"api_id": "person", "name": "Person",
        "fields": [{"name": "name", "type": "text"}]}))
        .await;
    let book_def = json!({"api_id": "book", "name": "Book",
        "fields": [{"name": "title", "type": "text"},
                   {"name": "author", "type": "relation", "target": "person"}]});
    app.create_type(book_def).await;
    let ada = app.create_entry("person", json!({"name": "Ada"})).await;
    let mut books = BTreeSet::new();
    for title in ["One", "Two", "Three"] {
        let e = app
            .create_entry("book", json!({"title": title, "author": id_of(&ada)}))
            .await;
        books.insert(id_of(&e));
    }
    let first_book = books.iter().next().expect("a book").clone();
    app.publish("book", &first_book).await;
    app.grant("public", "book", "read").await;

    // A type another type's relation points at cannot go, forced or not.
    for query in ["", "?force=true"] {
        let (status, body) = send(app.req(Method::DELETE, &format!("{TYPES}/person{query}"))).await;
        assert_error(status, &body, 409, "conflict");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("book"),
            "the message names the type that holds the relation: {body}"
        );
    }

    // A type with entries needs force.
    let events_before = app.events().await.len();
    for query in ["", "?force=false"] {
        let (status, body) = send(app.req(Method::DELETE, &format!("{TYPES}/book{query}"))).await;
        assert_error(status, &body, 409, "schema_change_conflict");
        assert_eq!(body["error"]["details"]["entries"], books.len());
    }
    let (_, list) = send(app.req(Method::GET, &entries_path("book"))).await;
    assert_eq!(list["total"], books.len());
    assert_eq!(app.events().await.len(), events_before);

    let (status, _) = send(app.req(Method::DELETE, &format!("{TYPES}/book?force=true"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for id in &books {
        let (status, body) = get_entry(&app, "book", id).await;
        assert_error(status, &body, 404, "content_type_not_found");
    }
    let (status, body) = deliver(&app, "book", &first_book).await;
    assert_error(status, &body, 404, "content_type_not_found");
    let events = events_since(&app, events_before).await;
    let deleted: BTreeSet<String> = events
        .iter()
        .filter(|e| e["kind"] == "entry.deleted")
        .map(|e| e["entry_id"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(deleted, books);
    assert_eq!(
        events.last().map(|e| e["kind"].clone()),
        Some(json!("content_type.deleted"))
    );
    assert_eq!(events.len(), books.len() + 1);

    // The relation is gone, so `person` may go now (with its entry, by force).
    let (status, body) = send(app.req(Method::DELETE, &format!("{TYPES}/person"))).await;
    assert_error(status, &body, 409, "schema_change_conflict");
    let (status, _) = send(app.req(Method::DELETE, &format!("{TYPES}/person?force=true"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // A new type with the old name starts empty: the entries are really gone.
    app.create_type(json!({"api_id": "book", "name": "Book",
        "fields": [{"name": "title", "type": "text"}]}))
        .await;
    let (status, list) = send(app.req(Method::GET, &entries_path("book"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 0, "{list}");
    let (status, body) = get_entry(&app, "book", &first_book).await;
    assert_error(status, &body, 404, "entry_not_found");
}

fn field_error_codes(body: &Value) -> Vec<(String, String)> {
    body["error"]["details"]["fields"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .map(|e| {
                    (
                        e["field"].as_str().unwrap_or_default().to_string(),
                        e["code"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn singletons_unique_fields_and_slugs(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // A singleton holds one entry.
    app.create_type(
        json!({"api_id": "settings", "name": "Settings", "kind": "singleton",
        "fields": [{"name": "site_name", "type": "text"}]}),
    )
    .await;
    app.create_entry("settings", json!({"site_name": "Vellum"}))
        .await;
    let (status, body) = send(
        app.req(Method::POST, &entries_path("settings"))
            .json(&json!({"fields": {"site_name": "Second"}})),
    )
    .await;
    assert_error(status, &body, 409, "already_exists");
    let (_, list) = send(app.req(Method::GET, &entries_path("settings"))).await;
    assert_eq!(list["total"], 1);

    // Unique fields and slugs.
    app.create_type(json!({"api_id": "product", "name": "Product",
        "options": {"title_field": "name"},
        "fields": [{"name": "name", "type": "text", "required": true},
                   {"name": "sku", "type": "text", "unique": true},
                   {"name": "batch", "type": "integer", "unique": true},
                   {"name": "slug", "type": "slug", "source": "name"}]}))
        .await;
    let create = entries_path("product");
    let first = app
        .create_entry(
            "product",
            json!({"name": "Blue Mug", "sku": "MUG-1", "batch": 7}),
        )
        .await;
    let base = first["fields"]["slug"].as_str().expect("slug").to_string();
    assert_eq!(base, "blue-mug");
    let second = app
        .create_entry("product", json!({"name": "Blue Mug", "sku": "MUG-2"}))
        .await;
    assert_eq!(second["fields"]["slug"], format!("{base}-2"));
    let third = app
        .create_entry("product", json!({"name": "Blue  mug!", "sku": "MUG-3"}))
        .await;
    assert_eq!(third["fields"]["slug"], format!("{base}-3"));
    let events_before = app.events().await.len();

    for (fields, want) in [
        (json!({"name": "Other", "sku": "MUG-1"}), ("sku", "unique")),
        (json!({"name": "Other", "batch": 7}), ("batch", "unique")),
        (
            json!({"name": "Other", "slug": format!("{base}-2")}),
            ("slug", "unique"),
        ),
        (
            json!({"name": "Other", "slug": base.clone()}),
            ("slug", "unique"),
        ),
    ] {
        let (status, body) = send(
            app.req(Method::POST, &create)
                .json(&json!({"fields": fields})),
        )
        .await;
        assert_error(status, &body, 422, "validation_failed");
        assert_eq!(
            field_error_codes(&body),
            vec![(want.0.to_string(), want.1.to_string())],
            "{fields}"
        );
    }
    let path2 = format!("{create}/{}", id_of(&second));
    let (status, body) = send(
        app.req(Method::PATCH, &path2)
            .json(&json!({"fields": {"sku": "MUG-1"}})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    assert_eq!(
        field_error_codes(&body),
        vec![("sku".to_string(), "unique".to_string())]
    );
    assert_eq!(
        app.events().await.len(),
        events_before,
        "rejected writes appended events"
    );

    // An entry keeps its own unique values and slug when saved again.
    let path1 = format!("{create}/{}", id_of(&first));
    let (status, body) = send(
        app.req(Method::PATCH, &path1)
            .json(&json!({"fields": {"name": "Blue Mug XL", "sku": "MUG-1", "batch": 7}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["fields"]["slug"], base);
    // A free explicit slug is taken as given; values freed by an edit can be reused.
    let custom = app
        .create_entry(
            "product",
            json!({"name": "Blue Mug", "slug": "custom-mug", "sku": "MUG-4"}),
        )
        .await;
    assert_eq!(custom["fields"]["slug"], "custom-mug");
    let (status, body) = send(
        app.req(Method::PATCH, &path2)
            .json(&json!({"fields": {"sku": "MUG-20"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let reuse = app
        .create_entry("product", json!({"name": "Reuse", "sku": "MUG-2"}))
        .await;
    assert_eq!(reuse["fields"]["sku"], "MUG-2");
}

/// `unique: true` on a field whose values repeat would leave entries that can never be
/// saved again (every save re-checks uniqueness): a conflict like any other data the new
/// rules reject. Without duplicates the same change applies.
async fn making_a_field_unique_over_duplicates_is_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let def = json!({"api_id": "product", "name": "Product",
        "fields": [{"name": "name", "type": "text"}, {"name": "sku", "type": "text"}]});
    app.create_type(def.clone()).await;
    let mut entries = Vec::new();
    for (name, sku) in [("A", "X-1"), ("B", "X-1"), ("C", "X-2")] {
        let e = app
            .create_entry("product", json!({"name": name, "sku": sku}))
            .await;
        entries.push((id_of(&e), e["fields"].clone()));
    }
    let shared = ids_where(&entries, |f| {
        entries
            .iter()
            .filter(|(_, other)| other["sku"] == f["sku"])
            .count()
            > 1
    });
    assert_eq!(shared.len(), 2);
    let events_before = app.events().await.len();

    let unique = edited(&def, |d| field_mut(d, "sku")["unique"] = json!(true));
    let (status, body, _) = put_type(&app, &unique, Some("\"t1\""), None).await;
    assert_error(status, &body, 409, "schema_change_conflict");
    let conflicts = body["error"]["details"]["conflicts"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(conflicts.len(), 1, "{body}");
    assert_eq!(conflicts[0]["field"], "sku", "{body}");
    assert_eq!(conflicts[0]["entries"], shared.len(), "{body}");
    assert!(
        shared.contains(conflicts[0]["example_entry"].as_str().unwrap_or_default()),
        "{body}"
    );
    assert_eq!(app.events().await.len(), events_before);

    // Still editable, because the type did not change.
    let (first, _) = &entries[0];
    let (status, body) = send(
        app.req(
            Method::PATCH,
            &format!("{}/{first}", entries_path("product")),
        )
        .json(&json!({"fields": {"name": "A2"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Once the values differ, the change applies.
    let (second, _) = &entries[1];
    let (status, body) = send(
        app.req(
            Method::PATCH,
            &format!("{}/{second}", entries_path("product")),
        )
        .json(&json!({"fields": {"sku": "X-3"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = put_type(&app, &unique, Some("\"t1\""), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
