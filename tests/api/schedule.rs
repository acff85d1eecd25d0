//! Scheduled publish and unpublish: on time and once, across a restart, with two nodes on
//! one database, with the rights and the version of when it was scheduled, and every bad
//! request refused.

use std::time::Duration;

use chrono::Utc;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_publish_two_seconds_ahead_happens_once,
    a_job_missed_while_down_runs_on_restart,
    the_scheduled_version_goes_live_with_its_authors_rights,
    bad_schedules_are_refused,
);

fn in_secs(s: i64) -> String {
    (Utc::now() + chrono::Duration::milliseconds(s * 1000)).to_rfc3339()
}

async fn setup(app: &TestApp) -> String {
    app.create_type(
        json!({"api_id": "promo", "name": "Promo", "options": {"title_field": "title"},
                           "fields": [{"name": "title", "type": "text"}]}),
    )
    .await;
    app.grant("public", "promo", "read").await;
    let e = app.create_entry("promo", json!({"title": "Sale"})).await;
    e["id"].as_str().expect("id").to_string()
}

/// Waits (up to 15 s) until the entry is delivered (`true`) or gone (`false`).
async fn wait_delivered(app: &TestApp, id: &str, want: bool) {
    for _ in 0..150 {
        let (status, _) =
            send(app.req_as(None, Method::GET, &format!("/api/v1/content/promo/{id}"))).await;
        if (status == StatusCode::OK) == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("entry {id} never became delivered={want}");
}

fn published_events(events: &[Value], id: &str, kind: &str) -> usize {
    events
        .iter()
        .filter(|e| e["kind"] == kind && e["entry_id"] == id)
        .count()
}

async fn schedule(app: &TestApp, id: &str, body: Value) -> (StatusCode, Value) {
    send(
        app.req(
            Method::POST,
            &format!("/api/v1/manage/entries/promo/{id}/schedule"),
        )
        .json(&body),
    )
    .await
}

async fn a_publish_two_seconds_ahead_happens_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = setup(&app).await;
    let (status, body) = schedule(
        &app,
        &id,
        json!({"publish_at": in_secs(2), "unpublish_at": in_secs(4)}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2));
    let (_, pending) = send(app.req(Method::GET, "/api/v1/manage/schedules")).await;
    assert_eq!(pending["total"], 2, "{pending}");
    let (status, _) =
        send(app.req_as(None, Method::GET, &format!("/api/v1/content/promo/{id}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "published early");
    wait_delivered(&app, &id, true).await;
    wait_delivered(&app, &id, false).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let events = app.events().await;
    assert_eq!(published_events(&events, &id, "entry.published"), 1);
    assert_eq!(published_events(&events, &id, "entry.unpublished"), 1);
    let (_, jobs) = send(app.req(
        Method::GET,
        &format!("/api/v1/manage/entries/promo/{id}/schedule"),
    ))
    .await;
    for job in jobs["items"].as_array().into_iter().flatten() {
        assert_eq!(job["status"], "done", "{job}");
    }
    // The actor is the scheduler, on behalf of the administrator.
    let (_, me) = send(app.req(Method::GET, "/api/v1/auth/me")).await;
    let publish = events
        .iter()
        .find(|e| e["kind"] == "entry.published" && e["entry_id"] == id.as_str())
        .expect("event");
    assert_eq!(
        publish["actor"],
        format!("scheduler:user:{}", me["id"].as_str().unwrap_or_default())
    );
}

async fn a_job_missed_while_down_runs_on_restart(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = setup(&app).await;
    let (status, body) = schedule(&app, &id, json!({"publish_at": in_secs(1)})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let app = app
        .restart_after(tokio::time::sleep(Duration::from_millis(2500)))
        .await;
    wait_delivered(&app, &id, true).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(
        published_events(&app.events().await, &id, "entry.published"),
        1
    );
}

async fn the_scheduled_version_goes_live_with_its_authors_rights(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = setup(&app).await;
    // Scheduled at version 1, edited afterwards: version 1 goes live.
    let (status, body) = schedule(&app, &id, json!({"publish_at": in_secs(1)})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = send(
        app.req(Method::PATCH, &format!("/api/v1/manage/entries/promo/{id}"))
            .json(&json!({"fields": {"title": "Sale (draft of next week)"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    wait_delivered(&app, &id, true).await;
    let (_, live) =
        send(app.req_as(None, Method::GET, &format!("/api/v1/content/promo/{id}"))).await;
    assert_eq!(live["fields"]["title"], "Sale", "{live}");
    assert_eq!(live["version"], 1);
    let (_, managed) =
        send(app.req(Method::GET, &format!("/api/v1/manage/entries/promo/{id}"))).await;
    assert_eq!(managed["status"], "changed");

    // An editor schedules, then is deactivated: the job fails instead of running.
    let (editor_id, editor) = app.user_token("ed@example.com", "editor").await;
    let other = app.create_entry("promo", json!({"title": "Other"})).await;
    let other_id = other["id"].as_str().expect("id").to_string();
    let (status, body) = send(
        app.req_as(
            Some(&editor),
            Method::POST,
            &format!("/api/v1/manage/entries/promo/{other_id}/schedule"),
        )
        .json(&json!({"publish_at": in_secs(2)})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = send(
        app.req(Method::PATCH, &format!("/api/v1/manage/users/{editor_id}"))
            .json(&json!({"active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut job = Value::Null;
    for _ in 0..100 {
        let (_, jobs) = send(app.req(
            Method::GET,
            &format!("/api/v1/manage/entries/promo/{other_id}/schedule"),
        ))
        .await;
        job = jobs["items"][0].clone();
        if job["status"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{job}"
    );
    let (status, _) = send(app.req_as(
        None,
        Method::GET,
        &format!("/api/v1/content/promo/{other_id}"),
    ))
    .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "a revoked user's job published"
    );
}

async fn bad_schedules_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = setup(&app).await;
    for body in [
        json!({}),
        json!({"publish_at": in_secs(-60)}),
        json!({"publish_at": in_secs(20), "unpublish_at": in_secs(10)}),
        json!({"publish_at": "3026-01-01T00:00:00Z"}),
    ] {
        let (status, answer) = schedule(&app, &id, body.clone()).await;
        assert_error(status, &answer, 422, "validation_failed");
    }
    for body in [
        json!({"publish_at": "tomorrow"}),
        json!({"when": in_secs(5)}),
    ] {
        let (status, answer) = schedule(&app, &id, body).await;
        assert!(status.is_client_error(), "{status} {answer}");
    }
    let (_, author) = app.user_token("au@example.com", "author").await;
    let (status, answer) = send(
        app.req_as(
            Some(&author),
            Method::POST,
            &format!("/api/v1/manage/entries/promo/{id}/schedule"),
        )
        .json(&json!({"publish_at": in_secs(30)})),
    )
    .await;
    assert_error(status, &answer, 403, "forbidden");
    let (status, answer) = send(
        app.req_as(
            None,
            Method::POST,
            &format!("/api/v1/manage/entries/promo/{id}/schedule"),
        )
        .json(&json!({"publish_at": in_secs(30)})),
    )
    .await;
    assert_error(status, &answer, 401, "unauthenticated");

    // A new schedule replaces the pending one; cancelling works once.
    let (_, first) = schedule(&app, &id, json!({"publish_at": in_secs(60)})).await;
    let (_, second) = schedule(&app, &id, json!({"publish_at": in_secs(90)})).await;
    let (_, jobs) = send(app.req(
        Method::GET,
        &format!("/api/v1/manage/entries/promo/{id}/schedule"),
    ))
    .await;
    let status_of = |job: &Value| -> String {
        jobs["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|j| j["id"] == job["items"][0]["id"])
            .map(|j| j["status"].as_str().unwrap_or_default().to_string())
            .unwrap_or_default()
    };
    assert_eq!(status_of(&first), "cancelled");
    assert_eq!(status_of(&second), "pending");
    let job_id = second["items"][0]["id"].as_str().expect("id");
    let path = format!("/api/v1/manage/entries/promo/{id}/schedule/{job_id}");
    let (status, _) = send(app.req(Method::DELETE, &path)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, answer) = send(app.req(Method::DELETE, &path)).await;
    assert_error(status, &answer, 409, "conflict");
    let (status, answer) = send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/entries/promo/{id}/schedule/00000000-0000-0000-0000-000000000000"),
    ))
    .await;
    assert_error(status, &answer, 404, "not_found");

    // With a workflow on, only a publishable entry can be scheduled for publishing.
    app.create_type(json!({"api_id": "memo", "name": "Memo",
                           "options": {"title_field": "title", "workflow": "default"},
                           "fields": [{"name": "title", "type": "text"}]}))
        .await;
    let memo = app
        .create_entry("memo", json!({"title": "Draft memo"}))
        .await;
    let (status, answer) = send(
        app.req(
            Method::POST,
            &format!(
                "/api/v1/manage/entries/memo/{}/schedule",
                memo["id"].as_str().expect("id")
            ),
        )
        .json(&json!({"publish_at": in_secs(30)})),
    )
    .await;
    assert_error(status, &answer, 409, "transition_not_allowed");
}

/// Two nodes on one PostgreSQL database both run their scheduler: the job runs once.
#[tokio::test]
#[cfg_attr(
    not(vellum_pg),
    ignore = "PostgreSQL run skipped: set VELLUM_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432) to run it"
)]
async fn two_nodes_run_a_job_once() {
    let db = create_pg_database().await;
    let url = db.url();
    let a = TestApp::spawn_with(Backend::Sqlite, |s| s.database_url = Some(url.clone())).await;
    let b = TestApp::spawn_with(Backend::Sqlite, |s| s.database_url = Some(url.clone())).await;
    let mut ids = Vec::new();
    let id = setup(&a).await;
    ids.push(id);
    for i in 0..5 {
        let e = a
            .create_entry("promo", json!({"title": format!("P{i}")}))
            .await;
        ids.push(e["id"].as_str().expect("id").to_string());
    }
    // Scheduled on one node; both nodes' schedulers compete for the jobs. (Node `b`
    // learns of `a`'s types and grants only once nodes follow the event log, so the
    // requests go to `a`.)
    for id in &ids {
        let (status, body) = schedule(&a, id, json!({"publish_at": in_secs(2)})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    for id in &ids {
        wait_delivered(&a, id, true).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let events = a.events().await;
    for id in &ids {
        assert_eq!(published_events(&events, id, "entry.published"), 1, "{id}");
    }
    drop((a, b));
    drop(db);
}

/// Two server processes (the real binary, twice) on one PostgreSQL database, both
/// running their scheduler: every job runs once.
#[tokio::test]
#[cfg_attr(
    not(vellum_pg),
    ignore = "PostgreSQL run skipped: set VELLUM_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432) to run it"
)]
async fn two_server_processes_run_a_job_once() {
    let db = create_pg_database().await;
    let url = db.url();
    let dirs = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let envs = [
        ("VELLUM_DATABASE_URL", url.as_str()),
        ("VELLUM_ADMIN_EMAIL", ADMIN_EMAIL),
        ("VELLUM_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    let (a, b) = tokio::join!(
        crate::ops::serve(dirs.0.path(), &envs),
        crate::ops::serve(dirs.1.path(), &envs)
    );
    let client = reqwest::Client::new();
    let (_, login) = send(
        client
            .post(format!("{}/api/v1/auth/login", a.url))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
    )
    .await;
    let token = login["access_token"].as_str().expect("token").to_string();
    let call = |method: Method, path: &str, body: Option<Value>| {
        let mut req = client
            .request(method, format!("{}{path}", a.url))
            .bearer_auth(&token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        send(req)
    };
    let (status, body) = call(
        Method::POST,
        "/api/v1/manage/content-types",
        Some(json!({"api_id": "promo", "name": "Promo", "fields": [{"name": "title", "type": "text"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let mut ids = Vec::new();
    for i in 0..6 {
        let (_, e) = call(
            Method::POST,
            "/api/v1/manage/entries/promo",
            Some(json!({"fields": {"title": format!("P{i}")}})),
        )
        .await;
        let id = e["id"].as_str().expect("id").to_string();
        let (status, body) = call(
            Method::POST,
            &format!("/api/v1/manage/entries/promo/{id}/schedule"),
            Some(json!({"publish_at": in_secs(2)})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        ids.push(id);
    }
    let mut done = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, jobs) = call(Method::GET, "/api/v1/manage/schedules", None).await;
        if jobs["total"] == 0 {
            done = true;
            break;
        }
    }
    assert!(done, "the jobs never ran");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (_, events) = call(Method::GET, "/api/v1/manage/events?limit=1000", None).await;
    let events = events["items"].as_array().cloned().unwrap_or_default();
    for id in &ids {
        assert_eq!(published_events(&events, id, "entry.published"), 1, "{id}");
    }
    drop((a, b));
    drop(db);
}
