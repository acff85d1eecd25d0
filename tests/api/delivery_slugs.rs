//! Delivery by slug follows the *published* slug (issue 7, defect 1): editing the slug of a
//! published entry neither breaks its live URL nor exposes the unpublished slug until the
//! next publish, and no other entry can take a slug that is live.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(delivery_by_slug_follows_the_published_slug);

async fn delivery_by_slug_follows_the_published_slug(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(
        json!({"api_id": "page", "name": "Page", "options": {"title_field": "title"},
        "fields": [{"name": "title", "type": "text", "required": true},
                   {"name": "slug", "type": "slug", "source": "title"}]}),
    )
    .await;
    app.grant("public", "page", "read").await;
    let a = app.create_entry("page", json!({"title": "Hello"})).await;
    let id = a["id"].as_str().expect("id").to_string();
    assert_eq!(a["fields"]["slug"], "hello");
    app.publish("page", &id).await;
    let live = |slug: &str| app.req_as(None, Method::GET, &format!("/api/v1/content/page/{slug}"));

    let (status, body) = send(live("hello")).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The draft's slug changes: the live URL stays, the new one is not live yet.
    let (status, body) = send(
        app.req(Method::PATCH, &format!("/api/v1/manage/entries/page/{id}"))
            .json(&json!({"fields": {"slug": "renamed"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(live("hello")).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the published slug still works: {body}"
    );
    assert_eq!(body["fields"]["slug"], "hello");
    let (status, body) = send(live("renamed")).await;
    assert_error(status, &body, 404, "entry_not_found");

    // Nobody else takes the live slug meanwhile.
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/entries/page")
            .json(&json!({"fields": {"title": "Other", "slug": "hello"}})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let other = app.create_entry("page", json!({"title": "Hello"})).await;
    assert_ne!(
        other["fields"]["slug"], "hello",
        "a derived slug avoids the live one"
    );

    // The next publish moves the live URL.
    app.publish("page", &id).await;
    let (status, body) = send(live("renamed")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(live("hello")).await;
    assert_error(status, &body, 404, "entry_not_found");

    // Unpublished: neither slug is live.
    let (status, body) = send(app.req(
        Method::POST,
        &format!("/api/v1/manage/entries/page/{id}/unpublish"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(live("renamed")).await;
    assert_error(status, &body, 404, "entry_not_found");
}
