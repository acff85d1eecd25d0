//! Races, fired for real: many requests at once against one server (and two servers on
//! one PostgreSQL database). Nothing may answer 5xx, every check a write makes must hold
//! against the other writers, and no update may be lost.

use futures_util::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    schema_updates_racing_entry_creates_never_fail,
    one_name_created_in_parallel_has_one_winner,
    parallel_creates_with_one_title_get_distinct_slugs,
    unique_values_and_singletons_hold_under_races,
    mixed_load_never_fails,
    a_forced_schema_change_never_loses_an_update,
    concurrent_changes_to_one_user_all_apply,
    revoked_grants_stay_revoked,
);

fn note_type() -> Value {
    json!({"api_id": "note", "name": "Note", "options": {"title_field": "title"},
           "fields": [{"name": "title", "type": "text", "required": true},
                      {"name": "slug", "type": "slug", "source": "title"},
                      {"name": "n", "type": "integer"},
                      {"name": "extra", "type": "text"}]})
}

fn assert_no_server_error(results: &[(StatusCode, Value)]) {
    for (status, body) in results {
        assert!(
            !status.is_server_error(),
            "a concurrent request failed with {status}: {body}"
        );
    }
}

fn count(results: &[(StatusCode, Value)], want: StatusCode) -> usize {
    results.iter().filter(|(s, _)| *s == want).count()
}

async fn schema_updates_racing_entry_creates_never_fail(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(note_type()).await;
    let mut requests = Vec::new();
    for i in 0..20 {
        requests.push(
            app.req(Method::POST, "/api/v1/manage/entries/note")
                .json(&json!({"fields": {"title": format!("Note {i}"), "n": i}})),
        );
    }
    for flag in [true, false] {
        let mut def = note_type();
        def["fields"][2]["indexed"] = json!(flag);
        def["fields"][3]["indexed"] = json!(!flag);
        requests.insert(
            if flag { 3 } else { 12 },
            app.req(Method::PUT, "/api/v1/manage/content-types/note")
                .json(&def),
        );
    }
    let results = join_all(requests.into_iter().map(send)).await;
    assert_no_server_error(&results);
    assert_eq!(count(&results, StatusCode::CREATED), 20, "{results:?}");
    assert_eq!(count(&results, StatusCode::OK), 2, "{results:?}");
}

async fn one_name_created_in_parallel_has_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let roles = join_all((0..12).map(|_| {
        send(
            app.req(Method::POST, "/api/v1/manage/roles")
                .json(&json!({"name": "twin"})),
        )
    }))
    .await;
    assert_no_server_error(&roles);
    assert_eq!(count(&roles, StatusCode::CREATED), 1, "{roles:?}");
    assert_eq!(count(&roles, StatusCode::CONFLICT), 11, "{roles:?}");

    let types = join_all((0..12).map(|_| {
        send(
            app.req(Method::POST, "/api/v1/manage/content-types")
                .json(&note_type()),
        )
    }))
    .await;
    assert_no_server_error(&types);
    assert_eq!(count(&types, StatusCode::CREATED), 1, "{types:?}");
    assert_eq!(count(&types, StatusCode::CONFLICT), 11, "{types:?}");

    let users = join_all((0..8).map(|_| {
        send(app.req(Method::POST, "/api/v1/manage/users").json(
            &json!({"email": "twin@example.com", "password": "a-long-enough-password", "role": "author"}),
        ))
    }))
    .await;
    assert_no_server_error(&users);
    assert_eq!(count(&users, StatusCode::CREATED), 1, "{users:?}");
}

async fn parallel_creates_with_one_title_get_distinct_slugs(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(note_type()).await;
    let results = join_all((0..30).map(|_| {
        send(
            app.req(Method::POST, "/api/v1/manage/entries/note")
                .json(&json!({"fields": {"title": "Same title"}})),
        )
    }))
    .await;
    assert_no_server_error(&results);
    assert_eq!(count(&results, StatusCode::CREATED), 30, "{results:?}");
    let mut slugs: Vec<String> = results
        .iter()
        .filter_map(|(_, b)| b["fields"]["slug"].as_str().map(str::to_string))
        .collect();
    slugs.sort();
    slugs.dedup();
    assert_eq!(slugs.len(), 30, "{slugs:?}");
}

async fn unique_values_and_singletons_hold_under_races(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(person_type()).await;
    let results = join_all((0..12).map(|i| {
        send(
            app.req(Method::POST, "/api/v1/manage/entries/person")
                .json(&json!({"fields": {"name": format!("P{i}"), "email": "same@example.com"}})),
        )
    }))
    .await;
    assert_no_server_error(&results);
    assert_eq!(count(&results, StatusCode::CREATED), 1, "{results:?}");
    assert_eq!(
        count(&results, StatusCode::UNPROCESSABLE_ENTITY),
        11,
        "{results:?}"
    );

    app.create_type(
        json!({"api_id": "home", "name": "Home", "kind": "singleton",
                           "fields": [{"name": "headline", "type": "text"}]}),
    )
    .await;
    let results = join_all((0..12).map(|i| {
        send(
            app.req(Method::POST, "/api/v1/manage/entries/home")
                .json(&json!({"fields": {"headline": format!("H{i}")}})),
        )
    }))
    .await;
    assert_no_server_error(&results);
    assert_eq!(count(&results, StatusCode::CREATED), 1, "{results:?}");
    let (_, list) = send(app.req(Method::GET, "/api/v1/manage/entries/home")).await;
    assert_eq!(list["total"], 1, "{list}");
}

async fn mixed_load_never_fails(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(note_type()).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let e = app
            .create_entry("note", json!({"title": format!("N{i}"), "extra": "x"}))
            .await;
        ids.push(e["id"].as_str().expect("id").to_string());
        app.publish("note", ids.last().expect("id")).await;
    }
    app.grant("reviewer", "note", "read").await;
    let token = app.create_token("reader", "reviewer").await["token"]
        .as_str()
        .expect("secret")
        .to_string();
    for i in 0..4 {
        let (status, _) = send(
            app.req(Method::POST, "/api/v1/manage/roles")
                .json(&json!({"name": format!("temp{i}")})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        app.create_type(
            json!({"api_id": format!("scrap{i}"), "name": format!("Scrap {i}"),
                               "fields": [{"name": "t", "type": "text"}]}),
        )
        .await;
        app.create_entry(&format!("scrap{i}"), json!({"t": "data"}))
            .await;
    }
    let mut requests = Vec::new();
    for round in 0..3 {
        for id in &ids {
            requests.push(
                app.req(Method::PATCH, &format!("/api/v1/manage/entries/note/{id}"))
                    .json(&json!({"fields": {"n": round}})),
            );
            requests.push(app.req_as(
                Some(&token),
                Method::GET,
                &format!("/api/v1/content/note/{id}"),
            ));
            requests.push(app.req_as(Some(&token), Method::GET, "/api/v1/content/note"));
        }
    }
    for i in 0..4 {
        requests.push(app.req(Method::DELETE, &format!("/api/v1/manage/roles/temp{i}")));
        requests.push(app.req(
            Method::DELETE,
            &format!("/api/v1/manage/content-types/scrap{i}?force=true"),
        ));
        requests.push(app.req(Method::POST, "/api/v1/manage/content-types").json(
            &json!({"api_id": format!("fresh{i}"), "name": format!("Fresh {i}"),
                               "fields": [{"name": "t", "type": "text"}]}),
        ));
    }
    let results = join_all(requests.into_iter().map(send)).await;
    assert_no_server_error(&results);
    for (status, body) in &results {
        assert!(status.is_success(), "{status}: {body}");
    }
}

async fn a_forced_schema_change_never_loses_an_update(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(note_type()).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        let e = app
            .create_entry("note", json!({"title": format!("N{i}"), "extra": "doomed"}))
            .await;
        ids.push(e["id"].as_str().expect("id").to_string());
    }
    let mut without_extra = note_type();
    without_extra["fields"]
        .as_array_mut()
        .expect("fields")
        .truncate(3);
    let mut requests = Vec::new();
    for round in 1..=4 {
        for id in &ids {
            requests.push(
                app.req(Method::PATCH, &format!("/api/v1/manage/entries/note/{id}"))
                    .json(&json!({"fields": {"n": round}})),
            );
        }
        if round == 2 {
            requests.push(
                app.req(Method::PUT, "/api/v1/manage/content-types/note?force=true")
                    .json(&without_extra),
            );
        }
    }
    let results = join_all(requests.into_iter().map(send)).await;
    assert_no_server_error(&results);
    for id in &ids {
        let (_, entry) =
            send(app.req(Method::GET, &format!("/api/v1/manage/entries/note/{id}"))).await;
        let (_, versions) = send(app.req(
            Method::GET,
            &format!("/api/v1/manage/entries/note/{id}/versions?limit=100"),
        ))
        .await;
        let ns: Vec<i64> = versions["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["version"].as_i64())
            .collect();
        let top = entry["version"].as_i64().expect("version");
        let want: Vec<i64> = (1..=top).rev().collect();
        assert_eq!(ns, want, "versions of {id} are not contiguous: {versions}");
        let (_, latest) = send(app.req(
            Method::GET,
            &format!("/api/v1/manage/entries/note/{id}/versions/{top}"),
        ))
        .await;
        assert_eq!(
            latest["fields"], entry["fields"],
            "the draft of {id} is not its latest version"
        );
        assert!(entry["fields"].get("extra").is_none(), "{entry}");
        assert!(
            versions["total"].as_i64() >= Some(5),
            "an update of {id} was lost: {versions}"
        );
    }
}

async fn concurrent_changes_to_one_user_all_apply(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, _) = app.user_token("busy@example.com", "author").await;
    let path = format!("/api/v1/manage/users/{id}");
    let results = join_all([
        send(
            app.req(Method::PATCH, &path)
                .json(&json!({"role": "reviewer"})),
        ),
        send(
            app.req(Method::PATCH, &path)
                .json(&json!({"password": "a-brand-new-passphrase"})),
        ),
    ])
    .await;
    assert_no_server_error(&results);
    let (_, user) = send(app.req(Method::GET, &path)).await;
    assert_eq!(user["role"], "reviewer", "{user}");
    let login = app
        .login("busy@example.com", "a-brand-new-passphrase")
        .await;
    assert!(login["access_token"].is_string());
}

async fn revoked_grants_stay_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(note_type()).await;
    let e = app.create_entry("note", json!({"title": "Secret"})).await;
    let id = e["id"].as_str().expect("id").to_string();
    app.publish("note", &id).await;
    let mut tokens = Vec::new();
    for i in 0..8 {
        let role = format!("r{i}");
        let (status, _) = send(
            app.req(Method::POST, "/api/v1/manage/roles")
                .json(&json!({"name": role})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED);
        tokens.push(
            app.create_token(&role, &role).await["token"]
                .as_str()
                .expect("secret")
                .to_string(),
        );
    }
    // Every role is granted and revoked at once with the others; reads go on meanwhile.
    let churn = (0..8).map(|i| {
        let app = &app;
        async move {
            let policy = app.grant(&format!("r{i}"), "note", "read").await;
            let pid = policy["id"].as_str().expect("id").to_string();
            send(app.req(Method::DELETE, &format!("/api/v1/manage/policies/{pid}"))).await
        }
    });
    let reads = tokens
        .iter()
        .map(|t| send(app.req_as(Some(t), Method::GET, &format!("/api/v1/content/note/{id}"))));
    let (deleted, read_results) = tokio::join!(join_all(churn), join_all(reads));
    assert_no_server_error(&deleted);
    assert_no_server_error(&read_results);
    for t in &tokens {
        let (status, body) =
            send(app.req_as(Some(t), Method::GET, &format!("/api/v1/content/note/{id}"))).await;
        assert_error(status, &body, 403, "forbidden");
    }
}

/// Two nodes started at the same moment on one fresh database: both come up, and the
/// migrations, the built-in roles and the first administrator happen once.
#[tokio::test]
#[cfg_attr(
    not(vellum_pg),
    ignore = "PostgreSQL run skipped: set VELLUM_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432) to run it"
)]
async fn two_nodes_starting_together_share_one_database() {
    let db = create_pg_database().await;
    let url = db.url();
    let (a, b) = tokio::join!(
        TestApp::spawn_with(Backend::Sqlite, |s| s.database_url = Some(url.clone())),
        TestApp::spawn_with(Backend::Sqlite, |s| s.database_url = Some(url.clone())),
    );
    let (_, roles) = send(a.req(Method::GET, "/api/v1/manage/roles")).await;
    assert_eq!(roles["items"].as_array().map(Vec::len), Some(5), "{roles}");
    let (_, users) = send(b.req(Method::GET, "/api/v1/manage/users")).await;
    assert_eq!(users["items"].as_array().map(Vec::len), Some(1), "{users}");
    let (_, policies) = send(b.req(Method::GET, "/api/v1/manage/policies")).await;
    let n = policies["items"].as_array().map(Vec::len).unwrap_or(0);
    let (_, again) = send(a.req(Method::GET, "/api/v1/manage/policies")).await;
    assert_eq!(again["items"].as_array().map(Vec::len), Some(n));
    drop((a, b));
    drop(db);
}
