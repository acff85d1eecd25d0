//! U+0000 anywhere a client can put text (JSON strings and keys of the body, the path,
//! query names and values) is refused with 400 `invalid_characters` before anything is
//! read or written; other control characters are kept faithfully.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    nul_is_refused_everywhere_and_writes_nothing,
    other_control_characters_are_kept
);

/// A type with one field of each text-bearing kind.
fn note_type() -> Value {
    json!({"api_id": "note", "name": "Note", "options": {"title_field": "title"},
           "fields": [{"name": "title", "type": "text"},
                      {"name": "notes", "type": "longtext"},
                      {"name": "body", "type": "richtext"},
                      {"name": "meta", "type": "json"},
                      {"name": "kind", "type": "enum", "values": ["a", "b"]},
                      {"name": "box", "type": "component",
                       "fields": [{"name": "label", "type": "text"}]}]})
}

async fn nul_is_refused_everywhere_and_writes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;
    app.create_type(note_type()).await;
    let kept = app.create_entry("article", json!({"title": "Kept"})).await;
    let id = kept["id"].as_str().expect("id").to_string();
    app.publish("article", &id).await;
    let events_before = app.events().await.len();
    let nul = "a\u{0}b";
    let doc = |text: &str| json!({"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]});

    let bodies: Vec<(Method, String, Value)> = vec![
        (
            Method::POST,
            "/api/v1/auth/login".into(),
            json!({"email": format!("{nul}@example.com"), "password": ADMIN_PASSWORD}),
        ),
        (
            Method::POST,
            "/api/v1/manage/entries/article".into(),
            json!({"fields": {"title": nul}}),
        ),
        (
            Method::POST,
            "/api/v1/manage/entries/note".into(),
            json!({"fields": {"notes": nul}}),
        ),
        (
            Method::POST,
            "/api/v1/manage/entries/note".into(),
            json!({"fields": {"body": doc(nul)}}),
        ),
        (
            Method::POST,
            "/api/v1/manage/entries/note".into(),
            json!({"fields": {"meta": {nul: 1}}}),
        ),
        (
            Method::POST,
            "/api/v1/manage/entries/note".into(),
            json!({"fields": {"meta": {"k": [nul]}}}),
        ),
        (
            Method::POST,
            "/api/v1/manage/entries/note".into(),
            json!({"fields": {"box": {"label": nul}}}),
        ),
        (
            Method::POST,
            "/api/v1/manage/entries/note".into(),
            json!({"fields": {"kind": nul}}),
        ),
        (
            Method::POST,
            "/api/v1/manage/entries/note".into(),
            json!({"fields": {nul: "x"}}),
        ),
        (
            Method::PATCH,
            format!("/api/v1/manage/entries/article/{id}"),
            json!({"fields": {"title": "New"}, "message": nul}),
        ),
        (
            Method::POST,
            "/api/v1/manage/tokens".into(),
            json!({"name": nul, "role": "editor"}),
        ),
        (
            Method::POST,
            "/api/v1/manage/roles".into(),
            json!({"name": nul}),
        ),
        (
            Method::POST,
            "/api/v1/manage/roles".into(),
            json!({"name": "reviewer", "description": nul}),
        ),
        (
            Method::POST,
            "/api/v1/manage/users".into(),
            json!({"email": "x@example.com", "password": "a-long-enough-password", "role": nul}),
        ),
        (
            Method::POST,
            "/api/v1/manage/content-types".into(),
            json!({"api_id": "x", "name": nul, "fields": []}),
        ),
        (
            Method::POST,
            "/api/v1/manage/content-types".into(),
            json!({"api_id": "x", "name": "X", "fields": [{"name": nul, "type": "text"}]}),
        ),
        (
            Method::POST,
            "/api/v1/manage/content-types".into(),
            json!({"api_id": "x", "name": "X", "fields": [{"name": "k", "type": "enum", "values": ["ok", nul]}]}),
        ),
        (
            Method::POST,
            "/api/v1/manage/content-types".into(),
            json!({"api_id": "x", "name": "X", "fields": [{"name": "t", "type": "text", "description": nul}]}),
        ),
    ];
    for (method, path, body) in bodies {
        let (s, b) = send(app.req(method.clone(), &path).json(&body)).await;
        assert_error(s, &b, 400, "invalid_characters");
        let message = b["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("body") && message.contains("line"),
            "{method} {path}: {message}"
        );
    }

    let article = "/api/v1/manage/entries/article";
    let uris = [
        ("/api/v1/manage/users/%00".to_string(), "path"),
        ("/api/v1/content/article/%00".to_string(), "path"),
        (format!("{article}/{id}%00"), "path"),
        ("/api/v1/manage/roles/a%00b".to_string(), "path"),
        (
            format!("{article}?filter[title][eq]=a%00b"),
            "`filter[title][eq]`",
        ),
        (
            format!("{article}?filter[title][contains]=%00"),
            "`filter[title][contains]`",
        ),
        (
            format!("{article}?filter[title][in]=x,%00"),
            "`filter[title][in]`",
        ),
        (
            "/api/v1/content/article?filter[title][startswith]=%00".to_string(),
            "`filter[title][startswith]`",
        ),
        (
            "/api/v1/content/article?fields=title%00".to_string(),
            "`fields`",
        ),
        (format!("{article}?sort=title%00"), "`sort`"),
        (format!("{article}?a%00b=1"), "query parameter name"),
        (
            format!("{article}?filter[ti%00tle][eq]=x"),
            "query parameter name",
        ),
    ];
    for (uri, where_) in uris {
        for method in [Method::GET, Method::DELETE] {
            let (s, b) = send(app.req(method.clone(), &uri)).await;
            assert_error(s, &b, 400, "invalid_characters");
            let message = b["error"]["message"].as_str().unwrap_or_default();
            assert!(
                message.contains(where_),
                "{method} {uri}: `{where_}` not in {message}"
            );
        }
    }
    // Anonymous callers get the same answer, before authentication matters.
    let (s, b) = send(app.req_as(
        None,
        Method::GET,
        "/api/v1/content/article?filter[title][eq]=%00",
    ))
    .await;
    assert_error(s, &b, 400, "invalid_characters");

    // Nothing was written or changed.
    assert_eq!(
        app.events().await.len(),
        events_before,
        "a refused request appended an event"
    );
    let (_, list) = send(app.req(Method::GET, article)).await;
    assert_eq!(list["total"], 1);
    let (_, notes) = send(app.req(Method::GET, "/api/v1/manage/entries/note")).await;
    assert_eq!(notes["total"], 0);
    let (_, entry) = send(app.req(Method::GET, &format!("{article}/{id}"))).await;
    assert_eq!(entry["version"], 1);
    assert_eq!(entry["fields"]["title"], "Kept");
    let (_, tokens) = send(app.req(Method::GET, "/api/v1/manage/tokens")).await;
    assert_eq!(
        tokens["items"].as_array().map(Vec::len),
        Some(0),
        "{tokens}"
    );
    let (s, _) = send(app.req(Method::GET, "/api/v1/manage/content-types/x")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn other_control_characters_are_kept(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(note_type()).await;
    // `\\u0000` in JSON text is a backslash followed by `u0000`: ordinary text.
    let escaped = r#"{"fields": {"title": "a\\u0000b", "meta": {"k\\u0000": "v"}}}"#;
    let (s, created) = send(
        app.req(Method::POST, "/api/v1/manage/entries/note")
            .header("content-type", "application/json")
            .body(escaped),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["fields"]["title"], "a\\u0000b");
    assert_eq!(created["fields"]["meta"]["k\\u0000"], "v");
    // Other C0 controls, DEL and a lone `%` survive the round trip on both backends.
    let odd = "tab\tbell\u{7}esc\u{1b}unit\u{1f}del\u{7f}";
    let created = app
        .create_entry("note", json!({"title": odd, "notes": "line\r\nbreak\u{1}", "meta": {odd: [odd]}, "box": {"label": odd}}))
        .await;
    let id = created["id"].as_str().expect("id");
    let (s, got) = send(app.req(Method::GET, &format!("/api/v1/manage/entries/note/{id}"))).await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["fields"]["title"], odd);
    assert_eq!(got["fields"]["notes"], "line\r\nbreak\u{1}");
    assert_eq!(got["fields"]["meta"][odd][0], odd);
    assert_eq!(got["fields"]["box"]["label"], odd);
    let (s, found) = send(app.req(
        Method::GET,
        "/api/v1/manage/entries/note?filter[title][contains]=%07esc%1B",
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{found}");
    assert_eq!(found["total"], 1);
}
