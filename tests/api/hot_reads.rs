//! The delivery path's own read connections (`store::hot`): a lost connection costs no
//! request, and a read cut off midway never leaves a connection that answers the next
//! request with the wrong rows.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(a_read_cut_off_midway_spoils_no_later_read);

mod reads_survive_the_server_ending_their_connections {
    use crate::helpers::Backend;
    #[tokio::test]
    #[cfg_attr(
        not(vellum_pg),
        ignore = "PostgreSQL run skipped: set VELLUM_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432) to run it"
    )]
    async fn postgres() {
        super::reads_survive_the_server_ending_their_connections(Backend::Postgres).await;
    }
}

/// Published notes, anonymous reads allowed; their ids.
async fn notes(app: &TestApp, n: usize) -> Vec<String> {
    app.create_type(json!({"api_id": "note", "name": "Note", "fields": [
        {"name": "title", "type": "text"}]}))
        .await;
    app.grant("public", "note", "read").await;
    let mut ids = Vec::new();
    for i in 0..n {
        let e = app
            .create_entry("note", json!({"title": format!("note {i}")}))
            .await;
        let id = e["id"].as_str().expect("id").to_string();
        app.publish("note", &id).await;
        ids.push(id);
    }
    ids
}

async fn deliver(app: &TestApp, path: &str) -> (StatusCode, serde_json::Value) {
    send(app.req_as(None, Method::GET, path)).await
}

/// PostgreSQL ends every connection of the database (as a restart or an operator's
/// `pg_terminate_backend` does): the next delivery reads, which miss the cache, still
/// answer 200 with the right entry, the list too.
async fn reads_survive_the_server_ending_their_connections(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ids = notes(&app, 6).await;
    // Warm the read connections (several, concurrently) and the cache.
    let warm: Vec<_> = ids[..3]
        .iter()
        .map(|id| {
            let app = &app;
            async move { deliver(app, &format!("/api/v1/content/note/{id}")).await }
        })
        .collect();
    for (status, body) in futures_util::future::join_all(warm).await {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let killer = sea_orm::Database::connect(app.database_url())
        .await
        .expect("connect");
    let ended = killer
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        ))
        .await
        .expect("terminate");
    assert!(!ended.is_empty(), "the server had connections to end");
    let _ = killer.close().await;
    // Give the server a moment to close the sockets.
    tokio::time::sleep(Duration::from_millis(200)).await;
    for id in &ids[3..] {
        let (status, body) = deliver(&app, &format!("/api/v1/content/note/{id}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], id.as_str(), "{body}");
    }
    let (status, body) = deliver(&app, "/api/v1/content/note?sort=-created_at").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(6), "{body}");
}

/// Clients that hang up mid-request (timeouts from 0.2 to 3.2 ms), each on an entry not
/// yet cached (a database read): every read after them answers the entry it asked for.
async fn a_read_cut_off_midway_spoils_no_later_read(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ids = notes(&app, 48).await;
    let impatient = reqwest::Client::new();
    let cut: Vec<_> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let req = impatient
                .get(app.url(&format!("/api/v1/content/note/{id}")))
                .timeout(Duration::from_micros(i as u64 % 4 * 1000 + 200));
            async move { req.send().await.is_ok() }
        })
        .collect();
    futures_util::future::join_all(cut).await;
    let app = &app;
    let checks: Vec<_> = ids
        .iter()
        .map(|id| async move {
            let path = format!("/api/v1/content/note/{id}");
            (id.clone(), deliver(app, &path).await)
        })
        .collect();
    for (id, (status, body)) in futures_util::future::join_all(checks).await {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], id.as_str(), "{body}");
    }
}
