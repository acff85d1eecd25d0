//! The delivery response cache (issue 7, defect 4): on both backends, invalidated by the
//! event-log follower precisely (a change drops the answers about that entry and its
//! type's lists, not everything), and never serving a response rendered under an old
//! schema or old access rules.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_change_drops_only_what_it_changed,
    no_response_outlives_a_schema_change,
    http_caching_for_cdns_and_apps
);

fn note_type(private_body: bool) -> Value {
    json!({"api_id": "note", "name": "Note", "fields": [
        {"name": "title", "type": "text"},
        {"name": "body", "type": "text", "private": private_body}]})
}

/// GET as anonymous: (status, cache status, body).
async fn get(app: &TestApp, path: &str) -> (StatusCode, String, Value) {
    let resp = app
        .req_as(None, Method::GET, path)
        .send()
        .await
        .expect("request");
    let cache = header_value(&resp, "x-vellum-cache").unwrap_or_default();
    let (status, body) = read(resp).await;
    (status, cache, body)
}

async fn a_change_drops_only_what_it_changed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(note_type(false)).await;
    app.create_type(json!({"api_id": "other", "name": "Other", "fields": [
        {"name": "title", "type": "text"}]}))
        .await;
    app.grant("public", "note", "read").await;
    let a = app.create_entry("note", json!({"title": "a"})).await;
    let a = a["id"].as_str().expect("id").to_string();
    let b = app.create_entry("note", json!({"title": "b"})).await;
    let b = b["id"].as_str().expect("id").to_string();
    app.publish("note", &a).await;
    let item = format!("/api/v1/content/note/{a}");
    let list = "/api/v1/content/note";
    let (status, cache, body) = get(&app, &item).await;
    assert_eq!((status, cache.as_str()), (StatusCode::OK, "miss"), "{body}");
    let (_, cache, _) = get(&app, &item).await;
    assert_eq!(cache, "hit");
    let (_, cache, _) = get(&app, list).await;
    assert_eq!(cache, "miss");
    let (_, cache, _) = get(&app, list).await;
    assert_eq!(cache, "hit");

    // A draft edit of the live entry changes nothing delivery shows.
    let (status, body) = send(
        app.req(Method::PATCH, &format!("/api/v1/manage/entries/note/{a}"))
            .json(&json!({"fields": {"title": "a2"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, cache, body) = get(&app, &item).await;
    assert_eq!(cache, "hit");
    assert_eq!(body["fields"]["title"], "a");
    // Another type's entries and schema are none of this cache entry's business.
    let o = app.create_entry("other", json!({"title": "o"})).await;
    app.publish("other", o["id"].as_str().expect("id")).await;
    let (status, body) = send(
        app.req(Method::PUT, "/api/v1/manage/content-types/other")
            .json(&json!({"api_id": "other", "name": "Other", "fields": [
                {"name": "title", "type": "text"}, {"name": "extra", "type": "text"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, cache, _) = get(&app, &item).await;
    assert_eq!(cache, "hit");
    let (_, cache, _) = get(&app, list).await;
    assert_eq!(cache, "hit");

    // Publishing another entry of the type: the lists change, the first entry does not.
    app.publish("note", &b).await;
    let (_, cache, _) = get(&app, &item).await;
    assert_eq!(cache, "hit");
    let (_, cache, body) = get(&app, list).await;
    assert_eq!(cache, "miss");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2), "{body}");

    // Publishing the entry itself: the next read shows it.
    app.publish("note", &a).await;
    let (_, cache, body) = get(&app, &item).await;
    assert_eq!(cache, "miss");
    assert_eq!(body["fields"]["title"], "a2");

    // An access change drops everything: revoking `read` is enforced at once.
    let (_, policies) = send(app.req(Method::GET, "/api/v1/manage/policies?limit=200")).await;
    let id = policies["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["role"] == "public" && p["resource"] == "note" && p["action"] == "read")
        .and_then(|p| p["id"].as_str())
        .expect("the public read policy")
        .to_string();
    let (status, body) =
        send(app.req(Method::DELETE, &format!("/api/v1/manage/policies/{id}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, _, body) = get(&app, &item).await;
    assert_error(status, &body, 401, "unauthenticated");
    app.grant("public", "note", "read").await;
    let (_, cache, _) = get(&app, &item).await;
    assert_eq!(cache, "miss");
}

/// Readers hammer an entry while its `body` field flips between public and private.
/// Once a schema change has been answered, no read may show the old schema: before the
/// follower, a read between the change's commit and the type cache's reload was cached
/// under the new epoch with the old schema and served until the next write.
async fn no_response_outlives_a_schema_change(backend: Backend) {
    // 0: no limit (the readers send thousands of requests).
    let app = Arc::new(TestApp::spawn_with(backend, |s| s.rate_limit_anonymous = 0).await);
    app.create_type(note_type(false)).await;
    app.grant("public", "note", "read").await;
    let e = app
        .create_entry("note", json!({"title": "t", "body": "secret"}))
        .await;
    let id = e["id"].as_str().expect("id").to_string();
    app.publish("note", &id).await;
    let item = format!("/api/v1/content/note/{id}");
    let stop = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..3 {
        let (app, stop, item) = (app.clone(), stop.clone(), item.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let _ = get(&app, &item).await;
            }
        }));
    }
    for round in 0..30 {
        let private = round % 2 == 0;
        let (status, body) = send(
            app.req(Method::PUT, "/api/v1/manage/content-types/note")
                .json(&note_type(private)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        for _ in 0..3 {
            let (status, _, body) = get(&app, &item).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(
                body["fields"].get("body").is_some(),
                !private,
                "round {round}: `body` is {} now, but delivery answered {body}",
                if private { "private" } else { "public" }
            );
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        let _ = r.await;
    }
}

/// ETags, 304s, `Cache-Control` from the settings, `Vary`, and the purge keys a CDN needs.
async fn http_caching_for_cdns_and_apps(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.delivery_max_age_secs = 5;
        s.delivery_s_maxage_secs = 120;
        s.delivery_stale_while_revalidate_secs = 600;
    })
    .await;
    app.create_type(note_type(false)).await;
    app.grant("public", "note", "read").await;
    let e = app.create_entry("note", json!({"title": "one"})).await;
    let id = e["id"].as_str().expect("id").to_string();
    app.publish("note", &id).await;
    let item = format!("/api/v1/content/note/{id}");
    for (path, keys) in [
        (item.clone(), format!("type:note entry:{id}")),
        (
            "/api/v1/content/note".to_string(),
            "type:note list:note".to_string(),
        ),
    ] {
        for cached in ["miss", "hit"] {
            let resp = app
                .req_as(None, Method::GET, &path)
                .send()
                .await
                .expect("get");
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(
                header_value(&resp, "x-vellum-cache").as_deref(),
                Some(cached)
            );
            assert_eq!(
                header_value(&resp, "cache-control").as_deref(),
                Some("public, max-age=5, s-maxage=120, stale-while-revalidate=600")
            );
            assert_eq!(
                header_value(&resp, "vary").as_deref(),
                Some("Authorization")
            );
            assert_eq!(header_value(&resp, "surrogate-key"), Some(keys.clone()));
            assert_eq!(
                header_value(&resp, "cache-tag"),
                Some(keys.replace(' ', ","))
            );
            let etag = header_value(&resp, "etag").expect("etag");
            assert!(
                etag.starts_with('"') && etag.ends_with('"'),
                "strong: {etag}"
            );
            // Revalidation, also with the weak form a cache may send back.
            for sent in [etag.clone(), format!("W/{etag}"), format!("\"x\", {etag}")] {
                let resp = app
                    .req_as(None, Method::GET, &path)
                    .header("if-none-match", sent.as_str())
                    .send()
                    .await
                    .expect("get");
                assert_eq!(resp.status(), StatusCode::NOT_MODIFIED, "{path} {sent}");
                assert_eq!(header_value(&resp, "etag"), Some(etag.clone()));
                assert_eq!(resp.bytes().await.expect("body").len(), 0);
            }
        }
    }
    // A credential's answers are its own.
    let token = app.create_token("app", "public").await;
    let secret = token["token"].as_str().expect("secret").to_string();
    let resp = app
        .req_as(Some(&secret), Method::GET, &item)
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header_value(&resp, "cache-control").as_deref(),
        Some("private, no-cache")
    );
    // 304 only while unchanged: a publish changes the ETag.
    let before = header_value(
        &app.req_as(None, Method::GET, &item)
            .send()
            .await
            .expect("get"),
        "etag",
    )
    .expect("etag");
    let (status, body) = send(
        app.req(Method::PATCH, &format!("/api/v1/manage/entries/note/{id}"))
            .json(&json!({"fields": {"title": "two"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.publish("note", &id).await;
    let resp = app
        .req_as(None, Method::GET, &item)
        .header("if-none-match", before.as_str())
        .send()
        .await
        .expect("get");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_ne!(header_value(&resp, "etag"), Some(before));
    let (_, body) = read(resp).await;
    assert_eq!(body["fields"]["title"], "two");
}
