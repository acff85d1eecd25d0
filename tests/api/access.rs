//! Access control (DESIGN.md §5): every endpoint family refuses what the caller's role
//! does not allow: 401 for anonymous callers, 403 for a known caller without the right,
//! and the refused request changes nothing.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    anonymous_callers_are_refused_by_every_management_endpoint,
    only_admins_administer_users_roles_policies_tokens_and_the_log,
    authors_change_only_their_own_entries_and_never_publish_or_touch_the_schema,
    reviewers_read_everything_and_write_nothing,
    editors_write_and_publish_content_but_not_the_schema,
    public_reads_only_the_types_it_was_granted,
    a_reviewer_token_reads_drafts_but_cannot_change_them,
    an_author_token_cannot_change_what_another_token_wrote,
    an_editor_token_writes_content_like_an_editor,
);

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id in {v}"))
        .to_string()
}

async fn setup_types(app: &TestApp) {
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;
}

/// Creates an article as the holder of `token`.
async fn create_article_as(app: &TestApp, token: &str, title: &str) -> Value {
    let (status, body) = send(
        app.req_as(Some(token), Method::POST, "/api/v1/manage/entries/article")
            .json(&json!({"fields": {"title": title}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "create as caller: {body}");
    body
}

/// The entry as the administrator sees it (to prove a refused write changed nothing).
async fn admin_view(app: &TestApp, id: &str) -> Value {
    let (status, body) =
        send(app.req(Method::GET, &format!("/api/v1/manage/entries/article/{id}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

async fn api_token(app: &TestApp, name: &str, role: &str) -> String {
    app.create_token(name, role).await["token"]
        .as_str()
        .expect("token")
        .to_string()
}

/// Every write an author may not make on `id`: 403, and the entry is unchanged.
async fn assert_cannot_touch(app: &TestApp, token: &str, id: &str, who: &str) {
    let before = admin_view(app, id).await;
    let path = format!("/api/v1/manage/entries/article/{id}");
    let attempts = [
        (
            Method::PATCH,
            path.clone(),
            Some(json!({"fields": {"title": "Hijacked"}})),
        ),
        (Method::DELETE, path.clone(), None),
        (
            Method::POST,
            format!("{path}/restore"),
            Some(json!({"version": 1})),
        ),
        (Method::POST, format!("{path}/publish"), None),
        (Method::POST, format!("{path}/unpublish"), None),
    ];
    for (method, url, body) in attempts {
        let mut req = app.req_as(Some(token), method.clone(), &url);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let (status, answer) = send(req).await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "{who}: {method} {url} should be refused: {answer}"
        );
        assert_error(status, &answer, 403, "forbidden");
    }
    let after = admin_view(app, id).await;
    assert_eq!(after["version"], before["version"], "{who} changed {id}");
    assert_eq!(after["fields"], before["fields"], "{who} changed {id}");
    assert_eq!(after["status"], before["status"], "{who} changed {id}");
}

async fn anonymous_callers_are_refused_by_every_management_endpoint(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup_types(&app).await;
    let entry = app
        .create_entry("article", json!({"title": "Guarded"}))
        .await;
    let id = id_of(&entry);
    let (user_id, _) = app.user_token("ann@example.com", "author").await;
    let events_before = app.events().await.len();

    let e = format!("/api/v1/manage/entries/article/{id}");
    let ty = "/api/v1/manage/content-types/article".to_string();
    let u = format!("/api/v1/manage/users/{user_id}");
    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/auth/me".into(), None),
        (Method::POST, "/api/v1/auth/logout".into(), Some(json!({}))),
        // Schema.
        (Method::GET, "/api/v1/manage/content-types".into(), None),
        (
            Method::POST,
            "/api/v1/manage/content-types".into(),
            Some(json!({"api_id": "sneaky", "name": "Sneaky", "fields": []})),
        ),
        (Method::GET, ty.clone(), None),
        (Method::PUT, ty.clone(), Some(article_type())),
        (Method::DELETE, ty.clone(), None),
        // Entries and their history and workflow.
        (Method::GET, "/api/v1/manage/entries/article".into(), None),
        (
            Method::POST,
            "/api/v1/manage/entries/article".into(),
            Some(json!({"fields": {"title": "Anonymous"}})),
        ),
        (Method::GET, e.clone(), None),
        (
            Method::PATCH,
            e.clone(),
            Some(json!({"fields": {"title": "Anonymous"}})),
        ),
        (Method::DELETE, e.clone(), None),
        (Method::GET, format!("{e}/versions"), None),
        (Method::GET, format!("{e}/versions/1"), None),
        (Method::GET, format!("{e}/diff?from=1&to=1"), None),
        (
            Method::POST,
            format!("{e}/restore"),
            Some(json!({"version": 1})),
        ),
        (Method::POST, format!("{e}/publish"), None),
        (Method::POST, format!("{e}/unpublish"), None),
        // Administration.
        (Method::GET, "/api/v1/manage/users".into(), None),
        (
            Method::POST,
            "/api/v1/manage/users".into(),
            Some(
                json!({"email": "x@example.com", "password": "a-long-enough-password", "role": "admin"}),
            ),
        ),
        (Method::GET, u.clone(), None),
        (Method::PATCH, u.clone(), Some(json!({"role": "admin"}))),
        (Method::DELETE, u.clone(), None),
        (Method::GET, "/api/v1/manage/roles".into(), None),
        (
            Method::POST,
            "/api/v1/manage/roles".into(),
            Some(json!({"name": "sneaky"})),
        ),
        (Method::DELETE, "/api/v1/manage/roles/author".into(), None),
        (Method::GET, "/api/v1/manage/policies".into(), None),
        (
            Method::POST,
            "/api/v1/manage/policies".into(),
            Some(json!({"role": "public", "resource": "*", "action": "*"})),
        ),
        (
            Method::DELETE,
            "/api/v1/manage/policies/00000000-0000-0000-0000-000000000000".into(),
            None,
        ),
        (Method::GET, "/api/v1/manage/tokens".into(), None),
        (
            Method::POST,
            "/api/v1/manage/tokens".into(),
            Some(json!({"name": "sneaky", "role": "admin"})),
        ),
        (
            Method::DELETE,
            "/api/v1/manage/tokens/00000000-0000-0000-0000-000000000000".into(),
            None,
        ),
        (Method::GET, "/api/v1/manage/events".into(), None),
    ];
    for (method, path, body) in cases {
        let mut req = app.req_as(None, method.clone(), &path);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let (status, answer) = send(req).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "anonymous {method} {path}: {answer}"
        );
        assert_error(status, &answer, 401, "unauthenticated");
    }

    // Nothing was written.
    assert_eq!(app.events().await.len(), events_before);
    let kept = admin_view(&app, &id).await;
    assert_eq!(kept["version"], 1);
    assert_eq!(kept["status"], "draft");
    let (_, users) = send(app.req(Method::GET, "/api/v1/manage/users")).await;
    assert_eq!(users["total"], 2, "{users}");
    let (_, tokens) = send(app.req(Method::GET, "/api/v1/manage/tokens")).await;
    assert_eq!(tokens["total"], 0, "{tokens}");
    let (status, _) = send(app.req(Method::GET, "/api/v1/manage/content-types/sneaky")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn only_admins_administer_users_roles_policies_tokens_and_the_log(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (victim_id, _) = app.user_token("vic@example.com", "author").await;
    let (_, admin_me) = send(app.req(Method::GET, "/api/v1/auth/me")).await;
    let admin_id = id_of(&admin_me);
    let (_, policies) = send(app.req(Method::GET, "/api/v1/manage/policies")).await;
    let some_policy = id_of(&policies["items"][0]);
    let (_, token) = send(
        app.req(Method::POST, "/api/v1/manage/tokens")
            .json(&json!({"name": "existing", "role": "reviewer"})),
    )
    .await;
    let token_id = id_of(&token);

    let mut callers = Vec::new();
    for role in ["editor", "author", "reviewer", "public"] {
        let (_, t) = app
            .user_token(&format!("{role}-user@example.com"), role)
            .await;
        callers.push((format!("{role} user"), t));
    }
    callers.push((
        "editor API token".to_string(),
        api_token(&app, "editor bot", "editor").await,
    ));
    let events_before = app.events().await.len();

    let cases: Vec<(Method, String, Option<Value>)> = vec![
        (Method::GET, "/api/v1/manage/users".into(), None),
        (
            Method::POST,
            "/api/v1/manage/users".into(),
            Some(
                json!({"email": "new-admin@example.com", "password": "a-long-enough-password", "role": "admin"}),
            ),
        ),
        (
            Method::GET,
            format!("/api/v1/manage/users/{victim_id}"),
            None,
        ),
        (
            Method::PATCH,
            format!("/api/v1/manage/users/{victim_id}"),
            Some(json!({"role": "admin"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/manage/users/{admin_id}"),
            Some(json!({"active": false})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/manage/users/{victim_id}"),
            None,
        ),
        (Method::GET, "/api/v1/manage/roles".into(), None),
        (
            Method::POST,
            "/api/v1/manage/roles".into(),
            Some(json!({"name": "superuser", "inherits": "admin"})),
        ),
        (Method::DELETE, "/api/v1/manage/roles/reviewer".into(), None),
        (Method::GET, "/api/v1/manage/policies".into(), None),
        (
            Method::POST,
            "/api/v1/manage/policies".into(),
            Some(json!({"role": "author", "resource": "users", "action": "*"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/manage/policies/{some_policy}"),
            None,
        ),
        (Method::GET, "/api/v1/manage/tokens".into(), None),
        (
            Method::POST,
            "/api/v1/manage/tokens".into(),
            Some(json!({"name": "escalate", "role": "admin"})),
        ),
        (
            Method::DELETE,
            format!("/api/v1/manage/tokens/{token_id}"),
            None,
        ),
        (Method::GET, "/api/v1/manage/events".into(), None),
    ];
    for (who, t) in &callers {
        for (method, path, body) in &cases {
            let mut req = app.req_as(Some(t), method.clone(), path);
            if let Some(b) = body {
                req = req.json(b);
            }
            let (status, answer) = send(req).await;
            assert_eq!(
                status,
                StatusCode::FORBIDDEN,
                "{who}: {method} {path}: {answer}"
            );
            assert_error(status, &answer, 403, "forbidden");
        }
    }

    // Nothing changed.
    assert_eq!(app.events().await.len(), events_before);
    let (_, victim) =
        send(app.req(Method::GET, &format!("/api/v1/manage/users/{victim_id}"))).await;
    assert_eq!(victim["role"], "author");
    let (_, me) = send(app.req(Method::GET, "/api/v1/auth/me")).await;
    assert_eq!(me["role"], "admin");
    let (_, roles) = send(app.req(Method::GET, "/api/v1/manage/roles")).await;
    assert!(
        !roles["items"]
            .as_array()
            .expect("roles")
            .iter()
            .any(|r| r["name"] == "superuser")
    );
    let (_, after) = send(app.req(Method::GET, "/api/v1/manage/policies")).await;
    assert_eq!(after["total"], policies["total"]);
    let (_, tokens) = send(app.req(Method::GET, "/api/v1/manage/tokens")).await;
    let existing = tokens["items"]
        .as_array()
        .expect("tokens")
        .iter()
        .find(|t| t["id"] == token_id.as_str())
        .cloned()
        .expect("token");
    assert!(existing["revoked_at"].is_null(), "{existing}");
    assert_eq!(tokens["total"], 2, "only the two tokens made by the admin");
}

async fn authors_change_only_their_own_entries_and_never_publish_or_touch_the_schema(
    backend: Backend,
) {
    let app = TestApp::spawn(backend).await;
    setup_types(&app).await;
    let (abe_id, abe) = app.user_token("abe@example.com", "author").await;
    let (_, bea) = app.user_token("bea@example.com", "author").await;

    // The schema: readable, not writable.
    let (status, list) =
        send(app.req_as(Some(&abe), Method::GET, "/api/v1/manage/content-types")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    for (method, path, body) in [
        (
            Method::POST,
            "/api/v1/manage/content-types",
            Some(
                json!({"api_id": "note", "name": "Note", "fields": [{"name": "text", "type": "text"}]}),
            ),
        ),
        (
            Method::PUT,
            "/api/v1/manage/content-types/person",
            Some(person_type()),
        ),
        (Method::DELETE, "/api/v1/manage/content-types/person", None),
    ] {
        let mut req = app.req_as(Some(&abe), method.clone(), path);
        if let Some(b) = &body {
            req = req.json(b);
        }
        let (status, answer) = send(req).await;
        assert_error(status, &answer, 403, "forbidden");
    }
    let (status, _) = send(app.req(Method::GET, "/api/v1/manage/content-types/note")).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "the author's type was created"
    );

    // Abe writes his own entry and may change it, but not publish it.
    let own = create_article_as(&app, &abe, "Abe's draft").await;
    let own_id = id_of(&own);
    assert_eq!(own["owner"], abe_id.as_str());
    let own_path = format!("/api/v1/manage/entries/article/{own_id}");
    let (status, body) = send(
        app.req_as(Some(&abe), Method::PATCH, &own_path)
            .json(&json!({"fields": {"title": "Abe's second draft"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    let (status, body) = send(
        app.req_as(Some(&abe), Method::POST, &format!("{own_path}/restore"))
            .json(&json!({"version": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        send(app.req_as(Some(&abe), Method::POST, &format!("{own_path}/publish"))).await;
    assert_error(status, &body, 403, "forbidden");
    assert_eq!(admin_view(&app, &own_id).await["status"], "draft");

    // Bea reads Abe's entry but changes nothing of it.
    let (status, seen) = send(app.req_as(Some(&bea), Method::GET, &own_path)).await;
    assert_eq!(status, StatusCode::OK, "{seen}");
    let (status, _) =
        send(app.req_as(Some(&bea), Method::GET, &format!("{own_path}/versions"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_cannot_touch(&app, &bea, &own_id, "another author").await;

    // Nor may Abe touch what the administrator wrote, published or not.
    let admins = app
        .create_entry("article", json!({"title": "Admin's"}))
        .await;
    assert_cannot_touch(
        &app,
        &abe,
        &id_of(&admins),
        "an author on the admin's draft",
    )
    .await;
    app.publish("article", &id_of(&admins)).await;
    assert_cannot_touch(
        &app,
        &abe,
        &id_of(&admins),
        "an author on a published entry",
    )
    .await;

    // An owner-only right is not widened by a role change of someone else: Bea becomes an
    // editor and may now do it all.
    let (_, users) = send(app.req(Method::GET, "/api/v1/manage/users")).await;
    let bea_id = users["items"]
        .as_array()
        .expect("users")
        .iter()
        .find(|u| u["email"] == "bea@example.com")
        .map(id_of)
        .expect("bea");
    let (status, _) = send(
        app.req(Method::PATCH, &format!("/api/v1/manage/users/{bea_id}"))
            .json(&json!({"role": "editor"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(
        app.req_as(Some(&bea), Method::PATCH, &own_path)
            .json(&json!({"fields": {"title": "Edited by an editor"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // ... while Abe still cannot touch Bea's new work.
    let beas = create_article_as(&app, &bea, "Bea's").await;
    assert_cannot_touch(&app, &abe, &id_of(&beas), "an author on an editor's entry").await;

    // Abe deletes his own entry.
    let (status, body) = send(app.req_as(Some(&abe), Method::DELETE, &own_path)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = send(app.req(Method::GET, &own_path)).await;
    assert_error(status, &body, 404, "entry_not_found");
}

async fn reviewers_read_everything_and_write_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup_types(&app).await;
    let draft = app.create_entry("article", json!({"title": "Draft"})).await;
    let id = id_of(&draft);
    let (_, rita) = app.user_token("rita@example.com", "reviewer").await;
    let path = format!("/api/v1/manage/entries/article/{id}");

    for read in [
        "/api/v1/manage/entries/article".to_string(),
        path.clone(),
        format!("{path}/versions"),
        format!("{path}/versions/1"),
        format!("{path}/diff?from=1&to=1"),
        "/api/v1/manage/content-types".to_string(),
        "/api/v1/manage/content-types/article".to_string(),
    ] {
        let (status, body) = send(app.req_as(Some(&rita), Method::GET, &read)).await;
        assert_eq!(status, StatusCode::OK, "reviewer GET {read}: {body}");
    }

    let (status, body) = send(
        app.req_as(Some(&rita), Method::POST, "/api/v1/manage/entries/article")
            .json(&json!({"fields": {"title": "By a reviewer"}})),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = send(
        app.req_as(Some(&rita), Method::POST, "/api/v1/manage/entries/person")
            .json(&json!({"fields": {"name": "By a reviewer"}})),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");
    assert_cannot_touch(&app, &rita, &id, "a reviewer").await;
    let (status, body) = send(
        app.req_as(Some(&rita), Method::POST, "/api/v1/manage/content-types")
            .json(&json!({"api_id": "note", "name": "Note", "fields": []})),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");

    let (_, list) = send(app.req(Method::GET, "/api/v1/manage/entries/article")).await;
    assert_eq!(list["total"], 1, "a reviewer's entry was created");
    let (_, people) = send(app.req(Method::GET, "/api/v1/manage/entries/person")).await;
    assert_eq!(people["total"], 0);
}

async fn editors_write_and_publish_content_but_not_the_schema(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup_types(&app).await;
    let (_, ed) = app.user_token("ed@example.com", "editor").await;
    let admins = app
        .create_entry("article", json!({"title": "Admin's"}))
        .await;
    let path = format!("/api/v1/manage/entries/article/{}", id_of(&admins));

    // Any entry, anybody's.
    let (status, body) = send(
        app.req_as(Some(&ed), Method::PATCH, &path)
            .json(&json!({"fields": {"title": "Edited"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        send(app.req_as(Some(&ed), Method::POST, &format!("{path}/publish"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "published");
    let (status, body) =
        send(app.req_as(Some(&ed), Method::POST, &format!("{path}/unpublish"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let own = create_article_as(&app, &ed, "Editor's").await;
    let (status, _) = send(app.req_as(
        Some(&ed),
        Method::DELETE,
        &format!("/api/v1/manage/entries/article/{}", id_of(&own)),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    // The schema is read-only for editors.
    let (status, _) =
        send(app.req_as(Some(&ed), Method::GET, "/api/v1/manage/content-types")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(
        app.req_as(Some(&ed), Method::POST, "/api/v1/manage/content-types")
            .json(&json!({"api_id": "note", "name": "Note", "fields": []})),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = send(app.req_as(
        Some(&ed),
        Method::DELETE,
        "/api/v1/manage/content-types/person?force=true",
    ))
    .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, _) = send(app.req(Method::GET, "/api/v1/manage/content-types/person")).await;
    assert_eq!(status, StatusCode::OK, "the editor deleted a type");
}

async fn public_reads_only_the_types_it_was_granted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup_types(&app).await;
    let person = app
        .create_entry("person", json!({"name": "Ada Lovelace"}))
        .await;
    let person_id = id_of(&person);
    let article = app
        .create_entry("article", json!({"title": "Published piece"}))
        .await;
    let article_id = id_of(&article);
    app.publish("article", &article_id).await;
    let draft = app
        .create_entry("article", json!({"title": "Secret draft"}))
        .await;
    let draft_id = id_of(&draft);

    app.grant("public", "article", "read").await;

    // Granted: articles, published ones only.
    let (status, list) = send(app.req_as(None, Method::GET, "/api/v1/content/article")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["id"], article_id.as_str());
    let (status, one) = send(app.req_as(
        None,
        Method::GET,
        &format!("/api/v1/content/article/{article_id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{one}");
    let (status, body) = send(app.req_as(
        None,
        Method::GET,
        &format!("/api/v1/content/article/{draft_id}"),
    ))
    .await;
    assert_error(status, &body, 404, "entry_not_found");
    // Delivery rights do not open the management API.
    let (status, body) = send(app.req_as(
        None,
        Method::GET,
        &format!("/api/v1/manage/entries/article/{draft_id}"),
    ))
    .await;
    assert_error(status, &body, 401, "unauthenticated");

    // Not granted: people, listed or one by one.
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/content/person")).await;
    assert_error(status, &body, 401, "unauthenticated");
    let (status, body) = send(app.req_as(
        None,
        Method::GET,
        &format!("/api/v1/content/person/{person_id}"),
    ))
    .await;
    assert_error(status, &body, 401, "unauthenticated");
    assert!(
        !body.to_string().contains("Ada"),
        "a refusal leaks content: {body}"
    );

    // A signed-in caller whose role grants nothing is refused with 403, not 401.
    let (status, _) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "nobody"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, nobody) = app.user_token("nobody@example.com", "nobody").await;
    for path in [
        "/api/v1/content/article".to_string(),
        format!("/api/v1/content/article/{article_id}"),
        "/api/v1/content/person".to_string(),
        "/api/v1/manage/entries/article".to_string(),
        format!("/api/v1/manage/entries/article/{draft_id}"),
        "/api/v1/manage/content-types".to_string(),
    ] {
        let (status, body) = send(app.req_as(Some(&nobody), Method::GET, &path)).await;
        assert_error(status, &body, 403, "forbidden");
    }

    // A token acting as `public` gets exactly what anonymous callers get.
    let public_token = api_token(&app, "kiosk", "public").await;
    let (status, _) =
        send(app.req_as(Some(&public_token), Method::GET, "/api/v1/content/article")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) =
        send(app.req_as(Some(&public_token), Method::GET, "/api/v1/content/person")).await;
    assert_error(status, &body, 403, "forbidden");
}

async fn a_reviewer_token_reads_drafts_but_cannot_change_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup_types(&app).await;
    let draft = app
        .create_entry("article", json!({"title": "Never published"}))
        .await;
    let id = id_of(&draft);
    let token = api_token(&app, "preview", "reviewer").await;
    let path = format!("/api/v1/manage/entries/article/{id}");

    let (status, got) = send(app.req_as(Some(&token), Method::GET, &path)).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["status"], "draft");
    assert_eq!(got["fields"]["title"], "Never published");
    let (status, list) =
        send(app.req_as(Some(&token), Method::GET, "/api/v1/manage/entries/article")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["total"], 1);
    // Delivery shows only published content, whoever asks.
    let (status, body) = send(app.req_as(
        Some(&token),
        Method::GET,
        &format!("/api/v1/content/article/{id}"),
    ))
    .await;
    assert_error(status, &body, 404, "entry_not_found");

    let (status, body) = send(
        app.req_as(Some(&token), Method::PATCH, &path)
            .json(&json!({"fields": {"title": "Changed by a token"}})),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");
    assert_cannot_touch(&app, &token, &id, "a reviewer token").await;
    let kept = admin_view(&app, &id).await;
    assert_eq!(kept["fields"]["title"], "Never published");
    assert_eq!(kept["version"], 1);
}

/// Ownership must hold for API tokens too: an entry one author token wrote is not another
/// author token's to change. (Both have no user id; "no owner" must not equal "no owner".)
async fn an_author_token_cannot_change_what_another_token_wrote(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup_types(&app).await;
    let first = api_token(&app, "importer", "author").await;
    let second = api_token(&app, "other importer", "author").await;
    let (_, author_user) = app.user_token("ava@example.com", "author").await;

    let written = create_article_as(&app, &first, "Imported").await;
    let id = id_of(&written);
    assert_cannot_touch(&app, &second, &id, "another author token").await;
    assert_cannot_touch(&app, &author_user, &id, "an author user on a token's entry").await;

    // And a token cannot take over what a person wrote.
    let users = create_article_as(&app, &author_user, "Ava's").await;
    assert_cannot_touch(
        &app,
        &first,
        &id_of(&users),
        "an author token on a user's entry",
    )
    .await;
}

/// API tokens are how importers and CI write content: a token with the editor role does
/// everything an editor user does, on both backends.
async fn an_editor_token_writes_content_like_an_editor(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    setup_types(&app).await;
    let token = api_token(&app, "importer", "editor").await;

    let created = create_article_as(&app, &token, "Imported").await;
    let id = id_of(&created);
    assert_eq!(created["version"], 1);
    let path = format!("/api/v1/manage/entries/article/{id}");
    let (status, body) = send(
        app.req_as(Some(&token), Method::PATCH, &path)
            .json(&json!({"fields": {"title": "Imported again"}, "message": "sync"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 2);
    let (status, body) = send(
        app.req_as(Some(&token), Method::POST, &format!("{path}/restore"))
            .json(&json!({"version": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], 3);
    assert_eq!(body["fields"]["title"], "Imported");
    let (status, body) =
        send(app.req_as(Some(&token), Method::POST, &format!("{path}/publish"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "published");
    let (status, body) = send(app.req_as(
        Some(&token),
        Method::GET,
        &format!("/api/v1/content/article/{id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, versions) = send(app.req(Method::GET, &format!("{path}/versions"))).await;
    assert_eq!(status, StatusCode::OK, "{versions}");
    assert_eq!(
        versions["items"].as_array().map(Vec::len),
        Some(3),
        "{versions}"
    );
    let (status, body) = send(app.req_as(Some(&token), Method::DELETE, &path)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = send(app.req(Method::GET, &path)).await;
    assert_error(status, &body, 404, "entry_not_found");
}
