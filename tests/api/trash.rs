//! The trash and retention: deleting keeps an entry restorable with its history; restore
//! brings it back as it was; purge and the retention sweep remove it for good; links to a
//! trashed entry never break a save; version retention keeps what it must.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_deleted_entry_comes_back_with_its_history,
    restore_resolves_taken_slugs_and_refuses_taken_unique_values,
    only_those_who_may_delete_restore_or_purge,
    the_retention_sweep_purges_old_trash,
    version_retention_keeps_what_it_must,
    the_sweep_prunes_versions_by_age,
);

fn page_type() -> Value {
    json!({"api_id": "page", "name": "Page", "options": {"title_field": "title"},
           "fields": [{"name": "title", "type": "text", "required": true},
                      {"name": "slug", "type": "slug", "source": "title"},
                      {"name": "code", "type": "text", "unique": true},
                      {"name": "parent", "type": "relation", "target": "page"}]})
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

async fn trash_ids(app: &TestApp, token: Option<&str>) -> Vec<String> {
    let req = match token {
        Some(t) => app.req_as(Some(t), Method::GET, "/api/v1/manage/trash"),
        None => app.req(Method::GET, "/api/v1/manage/trash"),
    };
    let (status, body) = send(req).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

async fn a_deleted_entry_comes_back_with_its_history(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(page_type()).await;
    app.grant("public", "page", "read").await;
    let parent = id_of(&app.create_entry("page", json!({"title": "Home"})).await);
    let child = app
        .create_entry("page", json!({"title": "About", "parent": parent}))
        .await;
    let child_id = id_of(&child);
    let path = format!("/api/v1/manage/entries/page/{parent}");
    send(
        app.req(Method::PATCH, &path)
            .json(&json!({"fields": {"title": "Home v2"}})),
    )
    .await;
    app.publish("page", &parent).await;

    let (status, _) = send(app.req(Method::DELETE, &path)).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(app.req(Method::GET, &path)).await;
    assert_error(status, &body, 404, "entry_not_found");
    let (status, _) =
        send(app.req_as(None, Method::GET, &format!("/api/v1/content/page/{parent}"))).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(trash_ids(&app, None).await, std::slice::from_ref(&parent));

    // A link to the trashed entry neither breaks a save nor is dropped.
    let (status, body) = send(
        app.req(
            Method::PATCH,
            &format!("/api/v1/manage/entries/page/{child_id}"),
        )
        .json(&json!({"fields": {"title": "About us"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["fields"]["parent"], parent.as_str());
    // A new link to it is refused: it is absent.
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/entries/page")
            .json(&json!({"fields": {"title": "Team", "parent": parent}})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");

    let (status, back) = send(app.req(
        Method::POST,
        &format!("/api/v1/manage/trash/{parent}/restore"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_eq!(back["id"], parent.as_str());
    assert_eq!(back["version"], 2);
    assert_eq!(back["status"], "published");
    let (_, versions) = send(app.req(Method::GET, &format!("{path}/versions"))).await;
    assert_eq!(versions["total"], 2, "history kept: {versions}");
    let (status, live) =
        send(app.req_as(None, Method::GET, &format!("/api/v1/content/page/{parent}"))).await;
    assert_eq!(status, StatusCode::OK, "{live}");
    assert_eq!(live["fields"]["title"], "Home v2");
    assert!(trash_ids(&app, None).await.is_empty());
    let kinds: Vec<String> = app
        .events()
        .await
        .iter()
        .filter(|e| e["entry_id"] == parent.as_str())
        .filter_map(|e| e["kind"].as_str().map(str::to_string))
        .collect();
    assert!(
        kinds.ends_with(&[
            "entry.deleted".into(),
            "entry.undeleted".into(),
            "entry.published".into()
        ]),
        "{kinds:?}"
    );

    // Purged: gone for good.
    send(app.req(Method::DELETE, &path)).await;
    let (status, _) =
        send(app.req(Method::DELETE, &format!("/api/v1/manage/trash/{parent}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(app.req(
        Method::POST,
        &format!("/api/v1/manage/trash/{parent}/restore"),
    ))
    .await;
    assert_error(status, &body, 404, "not_found");
    // A type with trashed entries is not deleted without `force`.
    send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/entries/page/{child_id}"),
    ))
    .await;
    let (status, body) = send(app.req(Method::DELETE, "/api/v1/manage/content-types/page")).await;
    assert_error(status, &body, 409, "schema_change_conflict");
}

async fn restore_resolves_taken_slugs_and_refuses_taken_unique_values(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(page_type()).await;
    let first = id_of(
        &app.create_entry("page", json!({"title": "Pricing", "code": "P1"}))
            .await,
    );
    send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/entries/page/{first}"),
    ))
    .await;
    let second = app.create_entry("page", json!({"title": "Pricing"})).await;
    assert_eq!(
        second["fields"]["slug"], "pricing",
        "the slug is free once trashed"
    );
    let (status, back) = send(app.req(
        Method::POST,
        &format!("/api/v1/manage/trash/{first}/restore"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{back}");
    assert_ne!(back["fields"]["slug"], "pricing");
    assert!(
        back["fields"]["slug"]
            .as_str()
            .is_some_and(|s| s.starts_with("pricing"))
    );

    send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/entries/page/{first}"),
    ))
    .await;
    app.create_entry("page", json!({"title": "Other", "code": "P1"}))
        .await;
    let (status, body) = send(app.req(
        Method::POST,
        &format!("/api/v1/manage/trash/{first}/restore"),
    ))
    .await;
    assert_error(status, &body, 409, "conflict");
    assert_eq!(
        trash_ids(&app, None).await,
        [first],
        "a refused restore lost the entry"
    );
}

async fn only_those_who_may_delete_restore_or_purge(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(page_type()).await;
    let (_, author) = app.user_token("au@example.com", "author").await;
    let (_, reviewer) = app.user_token("rv@example.com", "reviewer").await;
    let (status, own) = send(
        app.req_as(Some(&author), Method::POST, "/api/v1/manage/entries/page")
            .json(&json!({"fields": {"title": "Mine"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let own = id_of(&own);
    let theirs = id_of(&app.create_entry("page", json!({"title": "Admin's"})).await);
    let (status, _) = send(app.req_as(
        Some(&author),
        Method::DELETE,
        &format!("/api/v1/manage/entries/page/{own}"),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/entries/page/{theirs}"),
    ))
    .await;
    // Readers of drafts see the trash; only those who may delete act on it.
    let mut seen = trash_ids(&app, Some(&reviewer)).await;
    seen.sort();
    let mut both = vec![own.clone(), theirs.clone()];
    both.sort();
    assert_eq!(seen, both);
    for (t, id, code) in [(&reviewer, &own, 403), (&author, &theirs, 403)] {
        let (status, body) = send(app.req_as(
            Some(t),
            Method::POST,
            &format!("/api/v1/manage/trash/{id}/restore"),
        ))
        .await;
        assert_error(status, &body, code, "forbidden");
        let (status, body) = send(app.req_as(
            Some(t),
            Method::DELETE,
            &format!("/api/v1/manage/trash/{id}"),
        ))
        .await;
        assert_error(status, &body, code, "forbidden");
    }
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/manage/trash")).await;
    assert_error(status, &body, 401, "unauthenticated");
    let (status, body) = send(app.req_as(
        Some(&author),
        Method::POST,
        &format!("/api/v1/manage/trash/{own}/restore"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for q in ["limit=0", "limit=500", "cursor=nonsense", "type=ghost"] {
        let (status, body) = send(app.req(Method::GET, &format!("/api/v1/manage/trash?{q}"))).await;
        assert!(status.is_client_error(), "{q}: {status} {body}");
    }
}

async fn the_retention_sweep_purges_old_trash(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.trash_retention_secs = 1;
        s.trash_sweep_interval_secs = 1;
    })
    .await;
    app.create_type(page_type()).await;
    let id = id_of(&app.create_entry("page", json!({"title": "Old"})).await);
    send(app.req(Method::DELETE, &format!("/api/v1/manage/entries/page/{id}"))).await;
    let mut gone = false;
    for _ in 0..60 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if trash_ids(&app, None).await.is_empty() {
            gone = true;
            break;
        }
    }
    assert!(gone, "the sweep never purged the entry");
    let purged = app
        .events()
        .await
        .iter()
        .filter(|e| e["kind"] == "entry.purged" && e["entry_id"] == id.as_str())
        .count();
    assert_eq!(purged, 1);
}

async fn version_retention_keeps_what_it_must(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut def = page_type();
    def["options"]["version_retention"] = json!({"keep_last": 2});
    app.create_type(def).await;
    let id = id_of(&app.create_entry("page", json!({"title": "v1"})).await);
    let path = format!("/api/v1/manage/entries/page/{id}");
    app.publish("page", &id).await; // version 1 is live
    for n in 2..=6 {
        let (status, _) = send(
            app.req(Method::PATCH, &path)
                .json(&json!({"fields": {"title": format!("v{n}")}})),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
    let (_, versions) = send(app.req(Method::GET, &format!("{path}/versions"))).await;
    let kept: Vec<i64> = versions["items"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["version"].as_i64())
        .collect();
    assert_eq!(
        kept,
        [6, 5, 1],
        "the two newest and the published one: {versions}"
    );
    assert_eq!(versions["total"], 3);
    for bad in [json!({"keep_last": 0}), json!({}), json!({"keep_days": 0})] {
        let mut def = page_type();
        def["api_id"] = json!("page2");
        def["options"]["version_retention"] = bad;
        def["fields"][3]["target"] = json!("page2");
        let (status, body) = send(
            app.req(Method::POST, "/api/v1/manage/content-types")
                .json(&def),
        )
        .await;
        assert_error(status, &body, 422, "validation_failed");
    }
}

async fn the_sweep_prunes_versions_by_age(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.trash_sweep_interval_secs = 1).await;
    let mut def = page_type();
    def["options"]["version_retention"] = json!({"keep_days": 7});
    app.create_type(def).await;
    let id = id_of(&app.create_entry("page", json!({"title": "v1"})).await);
    let path = format!("/api/v1/manage/entries/page/{id}");
    for n in 2..=4 {
        send(
            app.req(Method::PATCH, &path)
                .json(&json!({"fields": {"title": format!("v{n}")}})),
        )
        .await;
    }
    app.publish("page", &id).await; // version 4 is live and current
    // Age every version by a year, as time would.
    use sea_orm::ConnectionTrait;
    let db = sea_orm::Database::connect(app.database_url())
        .await
        .expect("db");
    db.execute_unprepared(&format!(
        "UPDATE entry_versions SET created_at = '2000-01-01T00:00:00.000000Z' WHERE entry_id = '{id}'"
    ))
    .await
    .expect("age versions");
    let _ = db.close().await;
    let mut kept = Vec::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (_, versions) = send(app.req(Method::GET, &format!("{path}/versions"))).await;
        kept = versions["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|v| v["version"].as_i64())
            .collect();
        if kept.len() == 1 {
            break;
        }
    }
    assert_eq!(kept, [4], "old versions pruned, the live one kept");
}
