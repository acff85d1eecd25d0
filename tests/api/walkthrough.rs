//! The walk a new user takes (issue 2): types, entries, validation, concurrency,
//! versions, diff, restore, publish, delivery and its access rules, caching.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(new_user_walk);

async fn new_user_walk(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    // Who am I.
    let (status, me) = send(app.req(Method::GET, "/api/v1/auth/me")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["email"], ADMIN_EMAIL);
    assert_eq!(me["role"], "admin");

    // The DESIGN.md §3 types.
    app.create_type(person_type()).await;
    let article = app.create_type(article_type()).await;
    assert_eq!(article["fields"].as_array().map(Vec::len), Some(8));
    let ada = app
        .create_entry(
            "person",
            json!({"name": "Ada Lovelace", "email": "ada@example.com"}),
        )
        .await;
    let ada_id = ada["id"].as_str().expect("id");

    // A good entry: 201 with Location and ETag, slug derived from the title.
    let resp = app
        .req(Method::POST, "/api/v1/manage/entries/article")
        .json(&json!({"fields": {"title": "Hello, World!", "rating": 4, "category": "news", "author": ada_id,
                                 "body": {"type": "doc", "content": [{"type": "paragraph", "content": [{"type": "text", "text": "Hi"}]}]},
                                 "links": [{"label": "Docs", "url": "https://example.com/docs"}]},
                      "message": "first draft"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = header_value(&resp, "location").expect("location");
    let etag_v1 = header_value(&resp, "etag").expect("etag");
    let (_, entry) = read(resp).await;
    let id = entry["id"].as_str().expect("id").to_string();
    assert!(
        location.ends_with(&format!("/api/v1/manage/entries/article/{id}")),
        "{location}"
    );
    assert_eq!(entry["version"], 1);
    assert_eq!(entry["status"], "draft");
    assert_eq!(entry["fields"]["slug"], "hello-world");
    assert_eq!(entry["type"], "article");
    assert_eq!(entry["locale"], "en");
    for key in [
        "id",
        "type",
        "locale",
        "version",
        "status",
        "stage",
        "owner",
        "created_at",
        "updated_at",
        "published_at",
        "fields",
    ] {
        assert!(
            entry.get(key).is_some(),
            "entry shape lacks `{key}`: {entry}"
        );
    }

    // Bad entries are rejected field by field.
    let (status, body) = send(app.req(Method::POST, "/api/v1/manage/entries/article").json(&json!({"fields": {
        "rating": 9, "category": "gossip", "links": [{"url": "not a url"}], "author": "not-a-uuid", "colour": "red"
    }}))).await;
    assert_error(status, &body, 422, "validation_failed");
    let mut got: Vec<(String, String)> = body["error"]["details"]["fields"]
        .as_array()
        .expect("field errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_string(),
                e["code"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = [
        ("author", "invalid_reference"),
        ("category", "invalid_enum"),
        ("colour", "unknown_field"),
        ("links[0].url", "invalid_url"),
        ("rating", "max"),
        ("title", "required"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    want.sort();
    assert_eq!(got, want);

    // v2 and v3 with If-Match; a stale If-Match is 412 and carries the current version.
    let path = format!("/api/v1/manage/entries/article/{id}");
    let resp = app
        .req(Method::PATCH, &path)
        .header("if-match", &etag_v1)
        .json(&json!({"fields": {"title": "Hello again", "rating": 5}}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let etag_v2 = header_value(&resp, "etag").expect("etag");
    let (_, v2) = read(resp).await;
    assert_eq!(v2["version"], 2);
    assert_eq!(
        v2["fields"]["slug"], "hello-world",
        "a slug stays put once set"
    );
    let (status, v3) = send(
        app.req(Method::PATCH, &path)
            .header("if-match", &etag_v2)
            .json(&json!({"fields": {"category": null, "rating": 3}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v3}");
    assert_eq!(v3["version"], 3);
    assert!(v3["fields"]["category"].is_null());
    let resp = app
        .req(Method::PATCH, &path)
        .header("if-match", &etag_v1)
        .json(&json!({"fields": {"title": "Lost update"}}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::PRECONDITION_FAILED);
    assert!(
        resp.headers().get("etag").is_some(),
        "412 carries the current ETag"
    );
    let (status, body) = read(resp).await;
    assert_error(status, &body, 412, "precondition_failed");
    assert_eq!(body["error"]["details"]["current_version"], 3);

    // History: three versions, newest first; v1 has its message.
    let (status, versions) = send(app.req(Method::GET, &format!("{path}/versions"))).await;
    assert_eq!(status, StatusCode::OK);
    let ns: Vec<i64> = versions["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|v| v["version"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(ns, vec![3, 2, 1]);
    assert_eq!(versions["items"][2]["message"], "first draft");
    let (status, v1) = send(app.req(Method::GET, &format!("{path}/versions/1"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v1["fields"]["title"], "Hello, World!");

    // Diff v1 → v3: title and rating changed, category removed.
    let (status, diff) = send(app.req(Method::GET, &format!("{path}/diff?from=1&to=3"))).await;
    assert_eq!(status, StatusCode::OK, "{diff}");
    let changes = diff["changes"].as_array().expect("changes");
    let find = |f: &str| {
        changes
            .iter()
            .find(|c| c["field"] == f)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(find("title")["change"], "changed");
    assert_eq!(find("title")["old"], "Hello, World!");
    assert_eq!(find("title")["new"], "Hello again");
    assert_eq!(find("rating")["old"], 4);
    assert_eq!(find("rating")["new"], 3);
    assert_eq!(find("category")["change"], "removed");
    assert_eq!(find("category")["old"], "news");
    assert_eq!(changes.len(), 3, "only three fields differ: {diff}");

    // Restore v1: a new version 4 equal to v1.
    let (status, v4) = send(
        app.req(Method::POST, &format!("{path}/restore"))
            .json(&json!({"version": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{v4}");
    assert_eq!(v4["version"], 4);
    assert_eq!(v4["fields"]["title"], "Hello, World!");
    assert_eq!(v4["fields"]["category"], "news");
    let (_, d) = send(app.req(Method::GET, &format!("{path}/diff?from=1&to=4"))).await;
    assert_eq!(d["changes"], json!([]), "v4 equals v1");

    // Publish; delivery is closed to anonymous callers until `public` may read articles.
    let published = app.publish("article", &id).await;
    assert_eq!(published["status"], "published");
    let delivery = format!("/api/v1/content/article/{id}");
    let (status, body) = send(app.req_as(None, Method::GET, &delivery)).await;
    assert_error(status, &body, 401, "unauthenticated");
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/content/article")).await;
    assert_error(status, &body, 401, "unauthenticated");
    let (_, reviewer) = app.user_token("rita@example.com", "reviewer").await;
    let (status, _) = send(app.req_as(Some(&reviewer), Method::GET, &delivery)).await;
    assert_eq!(status, StatusCode::OK, "a reviewer reads published content");
    let (_, author) = app.user_token("abe@example.com", "author").await;
    let (status, body) =
        send(app.req_as(Some(&author), Method::POST, &format!("{path}/publish"))).await;
    assert_error(status, &body, 403, "forbidden");

    app.grant("public", "article", "read").await;
    let resp = app
        .req_as(None, Method::GET, &delivery)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let etag = header_value(&resp, "etag").expect("etag");
    assert!(
        header_value(&resp, "cache-control")
            .unwrap_or_default()
            .contains("public")
    );
    let (_, delivered) = read(resp).await;
    assert_eq!(delivered["fields"]["title"], "Hello, World!");
    assert_eq!(delivered["version"], 4);
    let (status, by_slug) =
        send(app.req_as(None, Method::GET, "/api/v1/content/article/hello-world")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(by_slug["id"], id.as_str());

    // 304 on a repeated GET with the ETag.
    let resp = app
        .req_as(None, Method::GET, &delivery)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);

    // Draft edits stay invisible on delivery until published again.
    let (status, _) = send(
        app.req(Method::PATCH, &path)
            .json(&json!({"fields": {"title": "Draft only"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, delivered) = send(app.req_as(None, Method::GET, &delivery)).await;
    assert_eq!(delivered["fields"]["title"], "Hello, World!");
    assert_eq!(delivered["status"], "published");
    let resp = app
        .req_as(None, Method::GET, &delivery)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("send");
    assert_eq!(
        resp.status(),
        StatusCode::NOT_MODIFIED,
        "the delivered representation did not change"
    );
    let (_, managed) = send(app.req(Method::GET, &path)).await;
    assert_eq!(managed["status"], "changed");
    app.publish("article", &id).await;
    let (_, delivered) = send(app.req_as(None, Method::GET, &delivery)).await;
    assert_eq!(delivered["fields"]["title"], "Draft only");
    let (_, list) = send(app.req_as(None, Method::GET, "/api/v1/content/article")).await;
    assert_eq!(list["total"], 1);
    assert_eq!(list["items"][0]["fields"]["title"], "Draft only");

    // Unpublish: gone from delivery.
    let (status, _) = send(app.req(Method::POST, &format!("{path}/unpublish"))).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = send(app.req_as(None, Method::GET, &delivery)).await;
    assert_error(status, &body, 404, "entry_not_found");

    // Management GET: ETag and 304.
    let resp = app.req(Method::GET, &path).send().await.expect("send");
    let etag = header_value(&resp, "etag").expect("etag");
    let resp = app
        .req(Method::GET, &path)
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);

    // Every change is in the event log, in order.
    let kinds: Vec<String> = app
        .events()
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(
        kinds,
        [
            "user.created",
            "content_type.created",
            "content_type.created",
            "entry.created",
            "entry.created",
            "entry.updated",
            "entry.updated",
            "entry.updated",
            "entry.published",
            "user.created",
            "user.created",
            "policy.created",
            "entry.updated",
            "entry.published",
            "entry.unpublished",
        ]
    );
}

both_backends!(delivery_never_serves_a_stale_response);

/// Delivery responses may be cached (on SQLite); every kind of write must still show at
/// once: content, schema (a field turning private), access (a revoked grant).
async fn delivery_never_serves_a_stale_response(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;
    let grant = app.grant("public", "article", "read").await;
    let entry = app
        .create_entry("article", json!({"title": "First", "rating": 2}))
        .await;
    let id = entry["id"].as_str().expect("id").to_string();
    app.publish("article", &id).await;
    let one = format!("/api/v1/content/article/{id}");
    let list = "/api/v1/content/article?sort=title";
    for _ in 0..3 {
        let (_, body) = send(app.req_as(None, Method::GET, &one)).await;
        assert_eq!(body["fields"]["title"], "First");
        let (_, body) = send(app.req_as(None, Method::GET, list)).await;
        assert_eq!(body["items"][0]["fields"]["title"], "First");
    }

    // Content: a published edit.
    send(
        app.req(
            Method::PATCH,
            &format!("/api/v1/manage/entries/article/{id}"),
        )
        .json(&json!({"fields": {"title": "Second"}})),
    )
    .await;
    app.publish("article", &id).await;
    let (_, body) = send(app.req_as(None, Method::GET, &one)).await;
    assert_eq!(body["fields"]["title"], "Second");
    let (_, body) = send(app.req_as(None, Method::GET, list)).await;
    assert_eq!(body["items"][0]["fields"]["title"], "Second");

    // Schema: `rating` turns private.
    let mut def = article_type();
    def["fields"][3]["private"] = json!(true);
    let (status, _) = send(
        app.req(Method::PUT, "/api/v1/manage/content-types/article")
            .json(&def),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, body) = send(app.req_as(None, Method::GET, &one)).await;
    assert!(
        body["fields"].get("rating").is_none(),
        "a private field left delivery: {body}"
    );

    // A second entry appears in the list; the first one's deletion removes it.
    let other = app.create_entry("article", json!({"title": "Zed"})).await;
    app.publish("article", other["id"].as_str().expect("id"))
        .await;
    let (_, body) = send(app.req_as(None, Method::GET, list)).await;
    assert_eq!(body["total"], 2);
    send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/entries/article/{id}"),
    ))
    .await;
    let (status, _) = send(app.req_as(None, Method::GET, &one)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, body) = send(app.req_as(None, Method::GET, list)).await;
    assert_eq!(body["total"], 1);

    // Access: the grant is withdrawn.
    let (status, _) = send(app.req(
        Method::DELETE,
        &format!(
            "/api/v1/manage/policies/{}",
            grant["id"].as_str().expect("id")
        ),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(app.req_as(None, Method::GET, list)).await;
    assert_error(status, &body, 401, "unauthenticated");
}
