//! The grant model, tried as an attacker would: the `read` / `read_drafts` split, field
//! rules on every surface that shows or takes fields, ownership conditions, delegation
//! limits, rules that would do nothing, and the events administration changes leave.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    read_alone_never_opens_the_management_surface,
    field_rules_hide_a_field_everywhere_and_leave_no_oracle,
    field_write_rules_refuse_the_field_by_name,
    ownership_limits_reads_and_writes_to_own_entries,
    delegation_never_hands_out_more_than_one_holds,
    rules_that_would_do_nothing_are_refused,
    delivery_does_not_show_the_owner,
    administration_changes_are_events,
    server_set_properties_are_never_written,
    errors_never_name_a_field_the_caller_cannot_read,
);

fn staff_type() -> Value {
    json!({"api_id": "staff", "name": "Staff", "options": {"title_field": "name"},
           "fields": [{"name": "name", "type": "text", "required": true},
                      {"name": "salary", "type": "integer", "indexed": true},
                      {"name": "notes", "type": "text", "private": true}]})
}

async fn policy(app: &TestApp, body: Value) -> (StatusCode, Value) {
    send(app.req(Method::POST, "/api/v1/manage/policies").json(&body)).await
}

async fn role(app: &TestApp, name: &str, inherits: Option<&str>) {
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": name, "inherits": inherits})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// An entry with two versions (salary 100 → 200), published.
async fn staff_entry(app: &TestApp) -> String {
    let e = app
        .create_entry(
            "staff",
            json!({"name": "Ada", "salary": 100, "notes": "n1"}),
        )
        .await;
    let id = id_of(&e);
    let (status, body) = send(
        app.req(Method::PATCH, &format!("/api/v1/manage/entries/staff/{id}"))
            .json(&json!({"fields": {"salary": 200}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.publish("staff", &id).await;
    id
}

fn management_reads(id: &str) -> Vec<String> {
    vec![
        "/api/v1/manage/entries/staff".into(),
        format!("/api/v1/manage/entries/staff/{id}"),
        format!("/api/v1/manage/entries/staff/{id}/versions"),
        format!("/api/v1/manage/entries/staff/{id}/versions/1"),
        format!("/api/v1/manage/entries/staff/{id}/diff?from=1&to=2"),
    ]
}

async fn read_alone_never_opens_the_management_surface(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(staff_type()).await;
    let id = staff_entry(&app).await;
    role(&app, "app_reader", None).await;
    app.grant("app_reader", "staff", "read").await;
    app.grant("public", "staff", "read").await;
    let token = app.create_token("mobile app", "app_reader").await["token"]
        .as_str()
        .expect("secret")
        .to_string();
    let (_, user) = app.user_token("reader@example.com", "app_reader").await;

    for (who, t) in [("app token", &token), ("read-only user", &user)] {
        for path in management_reads(&id) {
            let (status, body) = send(app.req_as(Some(t), Method::GET, &path)).await;
            assert_error(status, &body, 403, "forbidden");
            assert!(
                !body.to_string().contains("n1"),
                "{who} {path} leaked a private value: {body}"
            );
        }
        // Delivery is what `read` is for: published, no private fields.
        let (status, body) =
            send(app.req_as(Some(t), Method::GET, &format!("/api/v1/content/staff/{id}"))).await;
        assert_eq!(status, StatusCode::OK, "{who}: {body}");
        assert_eq!(body["fields"]["salary"], 200);
        assert!(body["fields"].get("notes").is_none(), "{body}");
    }
    for path in management_reads(&id) {
        let (status, body) = send(app.req_as(None, Method::GET, &path)).await;
        assert_error(status, &body, 401, "unauthenticated");
    }

    // The seeded reviewer and author read drafts.
    for r in ["reviewer", "author"] {
        let (_, t) = app.user_token(&format!("{r}@example.com"), r).await;
        for path in management_reads(&id) {
            let (status, body) = send(app.req_as(Some(&t), Method::GET, &path)).await;
            assert_eq!(status, StatusCode::OK, "{r} {path}: {body}");
        }
    }
    // `read_drafts` alone opens management reads but not delivery.
    role(&app, "drafts_only", None).await;
    app.grant("drafts_only", "staff", "read_drafts").await;
    let (_, t) = app.user_token("drafts@example.com", "drafts_only").await;
    let (status, body) = send(app.req_as(
        Some(&t),
        Method::GET,
        &format!("/api/v1/manage/entries/staff/{id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["fields"]["notes"], "n1",
        "private fields are for read_drafts"
    );
    let (status, body) = send(app.req_as(
        Some(&t),
        Method::GET,
        &format!("/api/v1/content/staff/{id}"),
    ))
    .await;
    assert_error(status, &body, 403, "forbidden");
}

async fn field_rules_hide_a_field_everywhere_and_leave_no_oracle(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(staff_type()).await;
    let id = staff_entry(&app).await;
    role(&app, "hr_viewer", None).await;
    for action in ["read", "read_drafts"] {
        let (status, body) = policy(
            &app,
            json!({"role": "hr_viewer", "resource": "staff", "action": action,
                   "fields": {"deny": ["salary"]}}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, t) = app.user_token("viewer@example.com", "hr_viewer").await;
    let mut reads = management_reads(&id);
    reads.push(format!("/api/v1/content/staff/{id}"));
    reads.push("/api/v1/content/staff".into());
    for path in &reads {
        let (status, body) = send(app.req_as(Some(&t), Method::GET, path)).await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        let text = body.to_string();
        assert!(!text.contains("salary"), "{path} shows the field: {text}");
        assert!(
            !text.contains(":200") && !text.contains(":100"),
            "{path}: {text}"
        );
        assert!(
            path.ends_with("/versions") || path.contains("/diff") || text.contains("Ada"),
            "{path} hides more than the field: {text}"
        );
    }
    // Filter, sort and selection on the field: refused, with one body whether or not a
    // value would match.
    for surface in ["/api/v1/manage/entries/staff", "/api/v1/content/staff"] {
        let mut bodies = Vec::new();
        for q in [
            "filter[salary][eq]=200",
            "filter[salary][eq]=999",
            "filter[or][0][salary][gte]=150&filter[or][1][name][eq]=x",
            "filter[or][0][salary][gte]=5000&filter[or][1][name][eq]=x",
        ] {
            let (status, body) =
                send(app.req_as(Some(&t), Method::GET, &format!("{surface}?{q}"))).await;
            assert_error(status, &body, 403, "forbidden");
            bodies.push(body["error"].clone());
        }
        assert_eq!(bodies[0], bodies[1], "an oracle on {surface}");
        assert_eq!(bodies[2], bodies[3], "an oracle on {surface}");
        for q in ["sort=-salary", "fields=name,salary"] {
            let (status, body) =
                send(app.req_as(Some(&t), Method::GET, &format!("{surface}?{q}"))).await;
            assert_error(status, &body, 403, "forbidden");
        }
    }
    // The administrator still sees everything.
    let (_, body) = send(app.req(Method::GET, &format!("/api/v1/manage/entries/staff/{id}"))).await;
    assert_eq!(body["fields"]["salary"], 200);

    // An allow list shows only what it names.
    role(&app, "name_only", None).await;
    let (status, body) = policy(
        &app,
        json!({"role": "name_only", "resource": "staff", "action": "read_drafts",
               "fields": {"allow": ["name"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, t) = app.user_token("names@example.com", "name_only").await;
    let (_, body) = send(app.req_as(
        Some(&t),
        Method::GET,
        &format!("/api/v1/manage/entries/staff/{id}"),
    ))
    .await;
    let fields: Vec<&String> = body["fields"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(fields, ["name"], "{body}");
}

async fn field_write_rules_refuse_the_field_by_name(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(staff_type()).await;
    let id = staff_entry(&app).await;
    role(&app, "clerk", None).await;
    app.grant("clerk", "staff", "read_drafts").await;
    for action in ["create", "update"] {
        let (status, body) = policy(
            &app,
            json!({"role": "clerk", "resource": "staff", "action": action,
                   "fields": {"deny": ["salary"]}}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, t) = app.user_token("clerk@example.com", "clerk").await;
    let path = format!("/api/v1/manage/entries/staff/{id}");
    let (status, body) = send(
        app.req_as(Some(&t), Method::PATCH, &path)
            .json(&json!({"fields": {"name": "Ada L.", "salary": 1_000_000}})),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("salary")),
        "{body}"
    );
    let (status, body) = send(
        app.req_as(Some(&t), Method::POST, "/api/v1/manage/entries/staff")
            .json(&json!({"fields": {"name": "Eve", "salary": 5}})),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");
    // Nothing was written.
    let (_, now) = send(app.req(Method::GET, &path)).await;
    assert_eq!(now["fields"]["salary"], 200);
    assert_eq!(now["fields"]["name"], "Ada");
    assert_eq!(now["version"], 2);
    // Sending the value it holds back unchanged is fine; other fields are writable.
    let (status, body) = send(
        app.req_as(Some(&t), Method::PATCH, &path)
            .json(&json!({"fields": {"name": "Ada L.", "salary": 200}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["fields"]["name"], "Ada L.");
    // A restore by the clerk leaves the field it may not write as it is.
    let (status, body) = send(
        app.req_as(Some(&t), Method::POST, &format!("{path}/restore"))
            .json(&json!({"version": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["fields"]["name"], "Ada");
    assert_eq!(
        body["fields"]["salary"], 200,
        "restore wrote a denied field"
    );

    // A field the caller may not even read is refused whatever the value (no oracle).
    role(&app, "blind_clerk", None).await;
    for action in ["read_drafts", "update"] {
        let (status, body) = policy(
            &app,
            json!({"role": "blind_clerk", "resource": "staff", "action": action,
                   "fields": {"deny": ["salary"]}}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    let (_, t) = app.user_token("blind@example.com", "blind_clerk").await;
    let mut answers = Vec::new();
    for guess in [200, 201] {
        let (status, body) = send(
            app.req_as(Some(&t), Method::PATCH, &path)
                .json(&json!({"fields": {"salary": guess}})),
        )
        .await;
        assert_error(status, &body, 403, "forbidden");
        answers.push(body["error"].clone());
    }
    assert_eq!(answers[0], answers[1], "the answer reveals the value");
    // A field one may write but not read is never echoed back by a write of others.
    role(&app, "write_only", None).await;
    app.grant("write_only", "staff", "update").await;
    let (status, body) = policy(
        &app,
        json!({"role": "write_only", "resource": "staff", "action": "read_drafts",
               "fields": {"deny": ["salary"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, w) = app.user_token("writeonly@example.com", "write_only").await;
    let (status, body) = send(
        app.req_as(Some(&w), Method::PATCH, &path)
            .json(&json!({"fields": {"name": "Ada K."}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["fields"].get("salary").is_none(), "{body}");
    assert_eq!(body["fields"]["name"], "Ada K.");
}

async fn ownership_limits_reads_and_writes_to_own_entries(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(staff_type()).await;
    role(&app, "own_only", None).await;
    for action in ["read_drafts", "update", "delete"] {
        let (status, body) = policy(
            &app,
            json!({"role": "own_only", "resource": "staff", "action": action,
                   "condition": "owner"}),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    app.grant("own_only", "staff", "create").await;
    let (_, mine) = app.user_token("mine@example.com", "own_only").await;
    let (_, theirs) = app.user_token("theirs@example.com", "own_only").await;
    let create = |t: String, name: &'static str| {
        let app = &app;
        async move {
            let (status, body) = send(
                app.req_as(Some(&t), Method::POST, "/api/v1/manage/entries/staff")
                    .json(&json!({"fields": {"name": name}})),
            )
            .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            id_of(&body)
        }
    };
    let my_id = create(mine.clone(), "Mine").await;
    let their_id = create(theirs.clone(), "Theirs").await;
    let admin_entry = id_of(&app.create_entry("staff", json!({"name": "Admin's"})).await);

    let (status, list) =
        send(app.req_as(Some(&mine), Method::GET, "/api/v1/manage/entries/staff")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let names: Vec<&str> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["fields"]["name"].as_str())
        .collect();
    assert_eq!(names, ["Mine"], "{list}");
    assert_eq!(list["total"], 1);
    for other in [&their_id, &admin_entry] {
        let path = format!("/api/v1/manage/entries/staff/{other}");
        let (status, body) = send(app.req_as(Some(&mine), Method::GET, &path)).await;
        assert_error(status, &body, 404, "entry_not_found");
        let (status, body) = send(
            app.req_as(Some(&mine), Method::PATCH, &path)
                .json(&json!({"fields": {"name": "Taken"}})),
        )
        .await;
        assert_error(status, &body, 403, "forbidden");
        let (status, body) = send(app.req_as(Some(&mine), Method::DELETE, &path)).await;
        assert_error(status, &body, 403, "forbidden");
    }
    let path = format!("/api/v1/manage/entries/staff/{my_id}");
    let (status, body) = send(
        app.req_as(Some(&mine), Method::PATCH, &path)
            .json(&json!({"fields": {"name": "Mine, edited"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) =
        send(app.req_as(Some(&mine), Method::POST, &format!("{path}/publish"))).await;
    assert_error(status, &body, 403, "forbidden");

    // The seeded author: edits its own draft, not another's, cannot publish.
    let (_, author) = app.user_token("author@example.com", "author").await;
    let (status, body) = send(
        app.req_as(Some(&author), Method::POST, "/api/v1/manage/entries/staff")
            .json(&json!({"fields": {"name": "By author"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let own = format!("/api/v1/manage/entries/staff/{}", id_of(&body));
    let (status, body) = send(
        app.req_as(Some(&author), Method::PATCH, &own)
            .json(&json!({"fields": {"name": "By author, edited"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(
        app.req_as(
            Some(&author),
            Method::PATCH,
            &format!("/api/v1/manage/entries/staff/{admin_entry}"),
        )
        .json(&json!({"fields": {"name": "Hijacked"}})),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) =
        send(app.req_as(Some(&author), Method::POST, &format!("{own}/publish"))).await;
    assert_error(status, &body, 403, "forbidden");
}

async fn delegation_never_hands_out_more_than_one_holds(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(staff_type()).await;
    // A user administrator: manages users and tokens, reads staff without salaries.
    role(&app, "user_admin", None).await;
    for resource in ["users", "tokens", "policies", "roles"] {
        app.grant("user_admin", resource, "*").await;
    }
    let (status, body) = policy(
        &app,
        json!({"role": "user_admin", "resource": "staff", "action": "read",
               "fields": {"deny": ["salary"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, t) = app.user_token("ua@example.com", "user_admin").await;
    let events_before = app.events().await.len();

    let refused: Vec<(Method, &str, Value)> = vec![
        (
            Method::POST,
            "/api/v1/manage/users",
            json!({"email": "evil@example.com", "password": "a-long-enough-password", "role": "admin"}),
        ),
        (
            Method::POST,
            "/api/v1/manage/users",
            json!({"email": "evil2@example.com", "password": "a-long-enough-password", "role": "editor"}),
        ),
        (
            Method::POST,
            "/api/v1/manage/tokens",
            json!({"name": "root", "role": "admin"}),
        ),
        (
            Method::POST,
            "/api/v1/manage/tokens",
            json!({"name": "ed", "role": "reviewer"}),
        ),
        (
            Method::POST,
            "/api/v1/manage/policies",
            json!({"role": "user_admin", "resource": "*", "action": "*"}),
        ),
        (
            Method::POST,
            "/api/v1/manage/policies",
            json!({"role": "public", "resource": "staff", "action": "read"}),
        ),
        (
            Method::POST,
            "/api/v1/manage/policies",
            json!({"role": "public", "resource": "schema", "action": "update"}),
        ),
        (
            Method::POST,
            "/api/v1/manage/roles",
            json!({"name": "sneaky", "inherits": "admin"}),
        ),
    ];
    for (method, path, body) in &refused {
        let (status, answer) = send(app.req_as(Some(&t), method.clone(), path).json(body)).await;
        assert_error(status, &answer, 403, "forbidden");
    }
    // The administrator's account is out of reach: password, role, deletion.
    let (_, me) = send(app.req(Method::GET, "/api/v1/auth/me")).await;
    let admin_path = format!("/api/v1/manage/users/{}", id_of(&me));
    let (status, answer) = send(
        app.req_as(Some(&t), Method::PATCH, &admin_path)
            .json(&json!({"password": "i-own-the-admin-now"})),
    )
    .await;
    assert_error(status, &answer, 403, "forbidden");
    let (status, answer) = send(app.req_as(Some(&t), Method::DELETE, &admin_path)).await;
    assert_error(status, &answer, 403, "forbidden");
    // An author cannot be promoted above the promoter's rights.
    let (author_id, _) = app.user_token("au@example.com", "author").await;
    let events_before = events_before + 1;
    let (status, answer) = send(
        app.req_as(
            Some(&t),
            Method::PATCH,
            &format!("/api/v1/manage/users/{author_id}"),
        )
        .json(&json!({"role": "admin"})),
    )
    .await;
    assert_error(status, &answer, 403, "forbidden");
    assert_eq!(
        app.events().await.len(),
        events_before,
        "a refused change left an event"
    );

    // Within its rights it works: public gets what the user admin holds itself.
    let (status, body) = send(
        app.req_as(Some(&t), Method::POST, "/api/v1/manage/policies")
            .json(
                &json!({"role": "public", "resource": "staff", "action": "read",
                    "fields": {"deny": ["salary"]}}),
            ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = send(
        app.req_as(Some(&t), Method::POST, "/api/v1/manage/tokens")
            .json(&json!({"name": "kiosk", "role": "public"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = send(
        app.req_as(Some(&t), Method::POST, "/api/v1/manage/users").json(
            &json!({"email": "peer@example.com", "password": "a-long-enough-password", "role": "user_admin"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
}

async fn rules_that_would_do_nothing_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(staff_type()).await;
    let cases = [
        json!({"role": "editor", "resource": "staff", "action": "read", "fields": {"deny": ["nope"]}}),
        json!({"role": "editor", "resource": "staff", "action": "read", "fields": {"deny": []}}),
        json!({"role": "editor", "resource": "staff", "action": "read", "fields": {"deny": "salary"}}),
        json!({"role": "editor", "resource": "staff", "action": "read", "fields": {"allow": ["a"], "deny": ["b"]}}),
        json!({"role": "editor", "resource": "staff", "action": "delete", "fields": {"deny": ["salary"]}}),
        json!({"role": "editor", "resource": "users", "action": "read", "fields": {"deny": ["email"]}}),
        json!({"role": "editor", "resource": "ghost", "action": "read", "fields": {"deny": ["x"]}}),
        json!({"role": "editor", "resource": "staff", "action": "create", "condition": "owner"}),
        json!({"role": "editor", "resource": "users", "action": "update", "condition": "owner"}),
        json!({"role": "editor", "resource": "staff", "action": "approve"}),
    ];
    let before = send(app.req(Method::GET, "/api/v1/manage/policies"))
        .await
        .1["items"]
        .as_array()
        .map(Vec::len);
    for case in cases {
        let (status, body) = policy(&app, case.clone()).await;
        assert_error(status, &body, 422, "validation_failed");
        assert!(
            body["error"]["details"]["fields"][0]["field"].is_string(),
            "{case}: {body}"
        );
    }
    let after = send(app.req(Method::GET, "/api/v1/manage/policies"))
        .await
        .1["items"]
        .as_array()
        .map(Vec::len);
    assert_eq!(before, after);
}

async fn delivery_does_not_show_the_owner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(staff_type()).await;
    let id = staff_entry(&app).await;
    app.grant("public", "staff", "read").await;
    let (_, me) = send(app.req(Method::GET, "/api/v1/auth/me")).await;
    let admin_id = id_of(&me);
    for path in [
        format!("/api/v1/content/staff/{id}"),
        "/api/v1/content/staff".to_string(),
    ] {
        let (status, body) = send(app.req_as(None, Method::GET, &path)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(!body.to_string().contains(&admin_id), "{path}: {body}");
    }
    let (_, body) = send(app.req(Method::GET, &format!("/api/v1/manage/entries/staff/{id}"))).await;
    assert_eq!(
        body["owner"],
        admin_id.as_str(),
        "management keeps the owner"
    );
}

async fn administration_changes_are_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let start = app.events().await.len();
    let (user_id, _) = app.user_token("ev@example.com", "author").await;
    let (status, _) = send(
        app.req(Method::PATCH, &format!("/api/v1/manage/users/{user_id}"))
            .json(&json!({"role": "reviewer"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let token = app.create_token("ci", "reviewer").await;
    let token_id = id_of(&token);
    let (status, _) =
        send(app.req(Method::DELETE, &format!("/api/v1/manage/tokens/{token_id}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let policy_row = app.grant("public", "article", "read").await;
    let (status, _) = send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/policies/{}", id_of(&policy_row)),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) =
        send(app.req(Method::DELETE, &format!("/api/v1/manage/users/{user_id}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let events = app.events().await;
    let new: Vec<&Value> = events[start..].iter().collect();
    let kinds: Vec<&str> = new.iter().filter_map(|e| e["kind"].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "user.created",
            "user.updated",
            "token.created",
            "token.revoked",
            "policy.created",
            "policy.deleted",
            "user.deleted"
        ]
    );
    let text = serde_json::to_string(&new).expect("json");
    assert!(
        !text.contains(token["token"].as_str().expect("secret")),
        "a secret in the log"
    );
    assert!(!text.contains("argon2"), "a password hash in the log");
    assert_eq!(new[1]["payload"]["changed"], json!(["role"]));
    assert_eq!(new[1]["payload"]["role"], "reviewer");
    assert_eq!(new[5]["payload"]["role"], "public");
    assert_eq!(new[5]["payload"]["resource"], "article");
    assert_eq!(new[5]["payload"]["action"], "read");
}

async fn server_set_properties_are_never_written(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(staff_type()).await;
    let (author_id, author) = app.user_token("mass@example.com", "author").await;
    let (status, created) = send(
        app.req_as(Some(&author), Method::POST, "/api/v1/manage/entries/staff")
            .json(&json!({"fields": {"name": "Mine"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let path = format!("/api/v1/manage/entries/staff/{}", id_of(&created));
    let (_, me) = send(app.req(Method::GET, "/api/v1/auth/me")).await;
    let attempts = [
        ("owner", json!(me["id"])),
        ("status", json!("published")),
        ("stage", json!("approved")),
        ("version", json!(99)),
        ("created_at", json!("2000-01-01T00:00:00Z")),
        ("published_at", json!("2000-01-01T00:00:00Z")),
    ];
    for (key, value) in &attempts {
        for (method, url) in [
            (Method::POST, "/api/v1/manage/entries/staff".to_string()),
            (Method::PATCH, path.clone()),
        ] {
            let mut body = json!({"fields": {"name": "Mine"}});
            body[*key] = value.clone();
            let (status, answer) =
                send(app.req_as(Some(&author), method.clone(), &url).json(&body)).await;
            assert_error(status, &answer, 422, "validation_failed");
            assert_eq!(
                answer["error"]["details"]["fields"][0]["field"], *key,
                "{method} {url}: {answer}"
            );
        }
    }
    let (status, answer) = send(app.req(Method::POST, "/api/v1/manage/users").json(&json!(
        {"email": "x@example.com", "password": "a-long-enough-password", "created_at": "2000-01-01T00:00:00Z"}
    )))
    .await;
    assert_error(status, &answer, 422, "validation_failed");
    let (status, answer) = send(
        app.req(Method::PATCH, &format!("/api/v1/manage/users/{author_id}"))
            .json(&json!({"password_hash": "$argon2id$forged"})),
    )
    .await;
    assert_error(status, &answer, 422, "validation_failed");
    // Nothing moved: the author still owns its draft at version 1.
    let (_, now) = send(app.req(Method::GET, &path)).await;
    assert_eq!(now["owner"], author_id.as_str());
    assert_eq!(now["version"], 1);
    assert_eq!(now["status"], "draft");
}

async fn errors_never_name_a_field_the_caller_cannot_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(staff_type()).await;
    let e = app.create_entry("staff", json!({"name": "Ada"})).await;
    let path = format!("/api/v1/manage/entries/staff/{}", id_of(&e));
    // `salary` becomes required while the entry has none (forced): stored data no longer fits.
    let mut def = staff_type();
    def["fields"][1]["required"] = json!(true);
    let (status, body) = send(
        app.req(Method::PUT, "/api/v1/manage/content-types/staff?force=true")
            .json(&def),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    role(&app, "hr_clerk", None).await;
    app.grant("hr_clerk", "staff", "update").await;
    let (status, body) = policy(
        &app,
        json!({"role": "hr_clerk", "resource": "staff", "action": "read_drafts",
               "fields": {"deny": ["salary"]}}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, t) = app.user_token("hrclerk@example.com", "hr_clerk").await;
    let (status, body) = send(
        app.req_as(Some(&t), Method::PATCH, &path)
            .json(&json!({"fields": {"name": "Ada L."}})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    assert!(!body.to_string().contains("salary"), "{body}");
    assert_eq!(
        body["error"]["details"]["fields"][0]["code"], "hidden_field_invalid",
        "{body}"
    );
    // The administrator is told which field.
    let (status, body) = send(
        app.req(Method::PATCH, &path)
            .json(&json!({"fields": {"name": "Ada L."}})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    assert!(body.to_string().contains("salary"), "{body}");
}
