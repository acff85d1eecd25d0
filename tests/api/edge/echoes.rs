//! Error bodies stay small whatever the input: names, values and paths a client sends are
//! repeated only in part, and long lists of problems are cut, so a 900 KB field name or
//! twenty thousand unknown keys never come back as megabytes.

use reqwest::Method;
use serde_json::{Map, Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(error_bodies_stay_small_whatever_the_input);

/// Largest error body accepted here, in bytes.
const SMALL: usize = 8 * 1024;

async fn error_bodies_stay_small_whatever_the_input(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.max_body_bytes = 2 * 1024 * 1024;
        s.max_header_bytes = 128 * 1024;
    })
    .await;
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;
    let entry = app.create_entry("article", json!({"title": "Kept"})).await;
    let id = entry["id"].as_str().expect("id").to_string();
    let huge = "f".repeat(900 * 1024);
    let many: Map<String, Value> = (0..20_000)
        .map(|i| (format!("unknown_{i}"), json!(i)))
        .collect();
    let bad_fields: Vec<Value> = (0..150)
        .map(|i| json!({"name": format!("Bad Name {i}"), "type": "text"}))
        .collect();
    let article = "/api/v1/manage/entries/article";
    let types = "/api/v1/manage/content-types";

    let bodies: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            article.into(),
            json!({"fields": {huge.as_str(): 1}}),
        ),
        (
            Method::POST,
            article.into(),
            json!({"fields": {"title": "t"}, huge.as_str(): 1}),
        ),
        (Method::POST, article.into(), json!({"fields": many})),
        (
            Method::POST,
            article.into(),
            json!({"fields": {"title": "t", "links": [{huge.as_str(): 1}]}}),
        ),
        (
            Method::POST,
            article.into(),
            json!({"fields": {"title": "t", "category": huge}}),
        ),
        (
            Method::POST,
            article.into(),
            json!({"fields": {"title": "t", "author": huge}}),
        ),
        (
            Method::POST,
            article.into(),
            json!({"fields": {"title": "t", "slug": huge}}),
        ),
        (
            Method::POST,
            article.into(),
            json!({"fields": {"title": huge}}),
        ),
        (
            Method::PATCH,
            format!("{article}/{id}"),
            json!({"fields": {huge.as_str(): 1}}),
        ),
        (
            Method::POST,
            types.into(),
            json!({"api_id": huge, "name": "X", "fields": []}),
        ),
        (
            Method::POST,
            types.into(),
            json!({"api_id": "x", "name": "X", "fields": [{"name": huge, "type": "text"}]}),
        ),
        (
            Method::POST,
            types.into(),
            json!({"api_id": "x", "name": "X", "fields": bad_fields}),
        ),
        (
            Method::POST,
            types.into(),
            json!({"api_id": "x", "name": "X", "options": {"title_field": huge}, "fields": []}),
        ),
        (
            Method::POST,
            types.into(),
            json!({"api_id": "x", "name": "X", "fields": [{"name": "r", "type": "relation", "target": huge}]}),
        ),
        (
            Method::POST,
            types.into(),
            json!({"api_id": "x", "name": "X", "fields": [{"name": "k", "type": huge}]}),
        ),
        (
            Method::POST,
            "/api/v1/auth/login".into(),
            json!({"email": huge, "password": huge}),
        ),
        (
            Method::POST,
            "/api/v1/manage/tokens".into(),
            json!({"name": "t", "role": huge}),
        ),
        (
            Method::POST,
            "/api/v1/manage/roles".into(),
            json!({"name": huge}),
        ),
        (
            Method::POST,
            "/api/v1/manage/roles".into(),
            json!({"name": "r", "inherits": huge}),
        ),
        (
            Method::POST,
            "/api/v1/manage/users".into(),
            json!({"email": format!("{huge}@example.com"), "password": "a-long-enough-password", "role": huge}),
        ),
        (
            Method::POST,
            "/api/v1/manage/policies".into(),
            json!({"role": huge, "resource": huge, "action": huge}),
        ),
    ];
    let mut offenders = Vec::new();
    for (method, path, body) in bodies {
        let resp = app
            .req(method.clone(), &path)
            .json(&body)
            .send()
            .await
            .expect("send");
        let what = format!("{method} {path} {}", clip(&body.to_string()));
        offenders.extend(too_big(resp, &what).await);
    }

    // A URI cannot pass 64 KiB (the `http` crate's bound), so these are 60 KB long.
    let long = "f".repeat(60_000);
    let uris = [
        format!("{article}?{long}=1"),
        format!("{article}?filter[{long}][eq]=1"),
        format!("{article}?filter[rating][eq]={long}"),
        format!("{article}?filter[rating][{long}]=1"),
        format!(
            "{article}?filter[title][in]={}",
            vec!["v"; 25_000].join(",")
        ),
        format!("{article}?sort={long}"),
        format!("{article}?fields={long}"),
        format!("{article}?cursor={long}"),
        format!("{article}?limit={long}"),
        format!("{article}?locale={long}"),
        format!("{article}/{long}"),
        format!("{article}/{id}/versions/{long}"),
        format!("{article}/{id}/diff?from={long}&to=1"),
        format!("/api/v1/content/article/{long}"),
        format!("/api/v1/content/{long}"),
        format!("{types}/{long}"),
        format!("/api/v1/manage/users/{long}"),
        format!("/api/v1/manage/entries/{long}"),
    ];
    for uri in uris {
        for method in [Method::GET, Method::DELETE] {
            let resp = app.req(method.clone(), &uri).send().await.expect("send");
            offenders.extend(too_big(resp, &format!("{method} {}", clip(&uri))).await);
        }
    }
    assert!(
        offenders.is_empty(),
        "error bodies too large or not 4xx:\n{}",
        offenders.join("\n")
    );

    // Clipped, not dropped: the message still names the culprit's start.
    let (s, b) = send(app.req(Method::GET, &format!("{article}?{long}=1"))).await;
    assert_error(s, &b, 400, "unknown_parameter");
    let message = b["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("`ffff") && message.contains('…'),
        "{message}"
    );
    let mut titled = many;
    titled.insert("title".into(), json!("t"));
    let (s, b) = send(
        app.req(Method::POST, article)
            .json(&json!({"fields": titled})),
    )
    .await;
    assert_error(s, &b, 422, "validation_failed");
    let message = b["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("20000"),
        "the message counts them all: {message}"
    );
    assert!(
        !b["error"]["details"]["fields"]
            .as_array()
            .expect("fields")
            .is_empty()
    );
}

/// What is wrong with an answer that should be a small 4xx error, if anything.
async fn too_big(resp: reqwest::Response, what: &str) -> Option<String> {
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    (!status.is_client_error() || bytes.len() > SMALL).then(|| {
        format!(
            "{what}: {status} with a {} byte body: {}",
            bytes.len(),
            clip(&String::from_utf8_lossy(&bytes))
        )
    })
}

/// The start of a long text, for failure messages.
fn clip(s: &str) -> String {
    s.chars().take(160).collect()
}
