//! Bad input (issue 2 item 13): each answered with a 4xx, a stable code and a clear
//! message; nothing written.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(bad_inputs_get_clear_errors_and_write_nothing);

async fn bad_inputs_get_clear_errors_and_write_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.max_body_bytes = 64 * 1024).await;
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;
    let entry = app.create_entry("article", json!({"title": "Kept"})).await;
    let id = entry["id"].as_str().expect("id").to_string();
    let events_before = app.events().await.len();
    let create = "/api/v1/manage/entries/article";

    // Malformed JSON.
    let (s, b) = send(
        app.req(Method::POST, create)
            .header("content-type", "application/json")
            .body("{\"fields\": {\"title\": "),
    )
    .await;
    assert_error(s, &b, 400, "malformed_json");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("line 1"),
        "{b}"
    );

    // Wrong Content-Type.
    let (s, b) = send(
        app.req(Method::POST, create)
            .header("content-type", "text/plain")
            .body("{\"fields\": {}}"),
    )
    .await;
    assert_error(s, &b, 415, "unsupported_media_type");
    let (s, b) = send(app.req(Method::POST, create).body("{\"fields\": {}}")).await;
    assert_error(s, &b, 415, "unsupported_media_type");

    // A body over the limit, with and without Content-Length.
    let big = json!({"fields": {"title": "x".repeat(100 * 1024)}});
    let (s, b) = send(app.req(Method::POST, create).json(&big)).await;
    assert_error(s, &b, 413, "payload_too_large");
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![
        Ok(b"{\"fields\": {\"title\": \"".to_vec()),
        Ok(vec![b'y'; 80 * 1024]),
        Ok(b"\"}}".to_vec()),
    ];
    let stream = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let (s, b) = send(
        app.req(Method::POST, create)
            .header("content-type", "application/json")
            .body(stream),
    )
    .await;
    assert_error(s, &b, 413, "payload_too_large");

    // Unknown fields: in an entry (per field) and in a typed body.
    let (s, b) = send(
        app.req(Method::POST, create)
            .json(&json!({"fields": {"title": "t", "nope": 1}})),
    )
    .await;
    assert_error(s, &b, 422, "validation_failed");
    assert_eq!(b["error"]["details"]["fields"][0]["field"], "nope");
    assert_eq!(b["error"]["details"]["fields"][0]["code"], "unknown_field");
    let (s, b) = send(
        app.req(Method::POST, create)
            .json(&json!({"fields": {"title": "t"}, "publish": true})),
    )
    .await;
    assert_error(s, &b, 400, "invalid_body");
    let (s, b) = send(
        app.req(Method::POST, "/api/v1/manage/content-types")
            .json(&json!({"api_id": "x", "name": "X", "fields": [], "colour": 1})),
    )
    .await;
    assert_error(s, &b, 400, "invalid_body");

    // Wrong value types.
    let (s, b) = send(
        app.req(Method::POST, create)
            .json(&json!({"fields": {"title": 5, "rating": "five"}})),
    )
    .await;
    assert_error(s, &b, 422, "validation_failed");
    let codes: Vec<&str> = b["error"]["details"]["fields"]
        .as_array()
        .expect("list")
        .iter()
        .map(|e| e["code"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(codes, vec!["wrong_type", "wrong_type"]);
    let (s, b) = send(app.req(Method::POST, create).json(&json!({"fields": []}))).await;
    assert_error(s, &b, 400, "invalid_body");
    let (s, b) = send(
        app.req(Method::POST, create)
            .json(&json!(["not", "an", "object"])),
    )
    .await;
    assert_error(s, &b, 400, "invalid_body");

    // Unknown content type.
    let (s, b) = send(
        app.req(Method::POST, "/api/v1/manage/entries/nosuch")
            .json(&json!({"fields": {}})),
    )
    .await;
    assert_error(s, &b, 404, "content_type_not_found");
    let (s, b) = send(app.req(Method::GET, "/api/v1/content/nosuch")).await;
    assert_error(s, &b, 404, "content_type_not_found");

    // Bad cursors and absurd parameters.
    for cursor in [
        "garbage",
        "eyJzIjoiMTIzIiwidiI6W10sImlkIjoieCJ9",
        &"A".repeat(5000),
    ] {
        let (s, b) = send(app.req(Method::GET, &format!("{create}?cursor={cursor}"))).await;
        assert_error(s, &b, 400, "invalid_cursor");
    }
    for (query, code) in [
        ("limit=1000000", "invalid_parameter"),
        ("limit=0", "invalid_parameter"),
        ("limit=-1", "invalid_parameter"),
        ("limit=abc", "invalid_parameter"),
        ("pagesize=10", "unknown_parameter"),
        ("filter[nope][eq]=1", "invalid_filter"),
        ("filter[rating][like]=1", "invalid_filter"),
        ("filter[rating][eq]=high", "invalid_filter"),
        ("filter[rating]=1", "invalid_filter"),
        ("filter=1", "invalid_filter"),
        ("sort=nope", "invalid_sort"),
        ("sort=body", "invalid_sort"),
        ("fields=nope", "invalid_parameter"),
    ] {
        let (s, b) = send(app.req(Method::GET, &format!("{create}?{query}"))).await;
        let status = if code == "unknown_parameter" || code.starts_with("invalid") {
            400
        } else {
            0
        };
        assert_error(s, &b, status, code);
        let name = query.split(['[', '=']).next().unwrap_or_default();
        if code != "invalid_parameter" || name == "limit" {
            let message = b["error"]["message"].as_str().unwrap_or_default();
            let mentioned = [
                "nope", "like", "high", "pagesize", "rating", "filter", "body",
            ]
            .iter()
            .any(|w| query.contains(w) && message.contains(w))
                || name == "limit";
            assert!(
                mentioned,
                "message should name the culprit of `{query}`: {message}"
            );
        }
    }

    // Bad path pieces and methods.
    let (s, b) = send(app.req(Method::GET, "/api/v1/manage/entries/article/not-a-real-id")).await;
    assert_error(s, &b, 404, "entry_not_found");
    let (s, b) = send(app.req(
        Method::GET,
        &format!("/api/v1/manage/entries/article/{id}/versions/999"),
    ))
    .await;
    assert_error(s, &b, 404, "version_not_found");
    let (s, b) = send(app.req(
        Method::GET,
        &format!("/api/v1/manage/entries/article/{id}/diff?from=a&to=1"),
    ))
    .await;
    assert_error(s, &b, 400, "invalid_parameter");
    let resp = app
        .req(Method::PUT, &format!("/api/v1/manage/entries/article/{id}"))
        .json(&json!({}))
        .send()
        .await
        .expect("put");
    let allow = header_value(&resp, "allow").unwrap_or_default();
    let (s, b) = read(resp).await;
    assert_error(s, &b, 405, "method_not_allowed");
    for m in ["GET", "PATCH", "DELETE"] {
        assert!(allow.contains(m), "Allow lists {m}: `{allow}`");
    }
    assert!(!allow.contains("PUT"), "`{allow}`");
    let (s, b) = send(app.req(Method::GET, "/api/v1/nothing-here")).await;
    assert_error(s, &b, 404, "not_found");

    // Bad tokens: never silently anonymous.
    for auth in [
        "Bearer nonsense",
        "Basic abc",
        "Bearer vlm_unknown",
        "Bearer ",
    ] {
        let (s, b) = send(
            app.client
                .get(app.url("/api/v1/content/article"))
                .header("authorization", auth),
        )
        .await;
        assert_error(s, &b, 401, "invalid_token");
    }

    // Nothing above wrote anything.
    assert_eq!(
        app.events().await.len(),
        events_before,
        "a rejected request appended an event"
    );
    let (_, list) = send(app.req(Method::GET, create)).await;
    assert_eq!(list["total"], 1);
    let (_, kept) = send(app.req(Method::GET, &format!("{create}/{id}"))).await;
    assert_eq!(kept["version"], 1);
    assert_eq!(kept["fields"]["title"], "Kept");
    let _ = StatusCode::OK;
}
