//! Review comments: threads, mentions resolved to users who may read the draft,
//! resolve/reopen, who may change what, events without the text, bad input.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_review_thread_with_mentions_and_resolution,
    comments_are_for_those_who_read_drafts_and_refuse_bad_input,
);

async fn setup(app: &TestApp) -> String {
    app.create_type(
        json!({"api_id": "doc", "name": "Doc", "options": {"title_field": "title"},
                           "fields": [{"name": "title", "type": "text"}]}),
    )
    .await;
    let e = app.create_entry("doc", json!({"title": "Spec"})).await;
    e["id"].as_str().expect("id").to_string()
}

async fn a_review_thread_with_mentions_and_resolution(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = setup(&app).await;
    let base = format!("/api/v1/manage/entries/doc/{id}/comments");
    let (_, author) = app.user_token("writer@example.com", "author").await;
    let (reviewer_id, reviewer) = app.user_token("checker@example.com", "reviewer").await;
    app.user_token("outsider@example.com", "public").await;

    let (status, c) = send(app.req_as(Some(&author), Method::POST, &base).json(&json!({
        "body": "Please look @checker@example.com and @outsider@example.com, cc @ghost@example.com"
    })))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(
        c["mentions"],
        json!([{"user_id": reviewer_id, "email": "checker@example.com"}]),
        "only users who may read the draft are mentioned"
    );
    let top = c["id"].as_str().expect("id").to_string();
    let (status, reply) = send(
        app.req_as(Some(&reviewer), Method::POST, &base)
            .json(&json!({"body": "On it", "parent_id": top})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{reply}");
    let reply_id = reply["id"].as_str().expect("id").to_string();

    // Anyone who reads the draft resolves and reopens; only the author edits the text.
    let (status, body) = send(
        app.req_as(Some(&reviewer), Method::PATCH, &format!("{base}/{top}"))
            .json(&json!({"resolved": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["resolved"], true);
    assert_eq!(body["resolved_by"], format!("user:{reviewer_id}"));
    let (status, body) = send(
        app.req_as(Some(&reviewer), Method::PATCH, &format!("{base}/{top}"))
            .json(&json!({"body": "rewritten by someone else"})),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = send(
        app.req_as(Some(&author), Method::PATCH, &format!("{base}/{top}"))
            .json(&json!({"body": "Please look again", "resolved": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["resolved"], false);
    assert_eq!(body["mentions"], json!([]));

    let (_, list) = send(app.req_as(Some(&reviewer), Method::GET, &base)).await;
    assert_eq!(list["total"], 2);
    assert_eq!(list["items"][1]["parent_id"], top.as_str());

    // Deleting: not by a reader without delete rights; by the author, with its replies.
    let (status, body) =
        send(app.req_as(Some(&reviewer), Method::DELETE, &format!("{base}/{top}"))).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, _) =
        send(app.req_as(Some(&author), Method::DELETE, &format!("{base}/{top}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = send(app.req(Method::GET, &base)).await;
    assert_eq!(list["total"], 0, "the reply went with its thread: {list}");
    let (status, body) = send(
        app.req(Method::PATCH, &format!("{base}/{reply_id}"))
            .json(&json!({"resolved": true})),
    )
    .await;
    assert_error(status, &body, 404, "not_found");

    let events = app.events().await;
    let kinds: Vec<&str> = events
        .iter()
        .filter(|e| e["entry_id"] == id.as_str())
        .filter_map(|e| e["kind"].as_str())
        .filter(|k| k.starts_with("comment."))
        .collect();
    assert_eq!(
        kinds,
        [
            "comment.created",
            "comment.created",
            "comment.resolved",
            "comment.updated",
            "comment.reopened",
            "comment.deleted"
        ]
    );
    let text = serde_json::to_string(&events).expect("json");
    assert!(
        !text.contains("On it") && !text.contains("Please look"),
        "comment text in the log"
    );
}

async fn comments_are_for_those_who_read_drafts_and_refuse_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = setup(&app).await;
    let base = format!("/api/v1/manage/entries/doc/{id}/comments");
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "app"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.grant("app", "doc", "read").await;
    let token = app.create_token("site", "app").await["token"]
        .as_str()
        .expect("secret")
        .to_string();
    for method in [Method::GET, Method::POST] {
        let (status, body) = send(
            app.req_as(Some(&token), method.clone(), &base)
                .json(&json!({"body": "hi"})),
        )
        .await;
        assert_error(status, &body, 403, "forbidden");
        let (status, body) =
            send(app.req_as(None, method, &base).json(&json!({"body": "hi"}))).await;
        assert_error(status, &body, 401, "unauthenticated");
    }
    let (status, body) = send(app.req(Method::POST, &base).json(&json!({"body": "   "}))).await;
    assert_error(status, &body, 422, "validation_failed");
    let (status, body) = send(
        app.req(Method::POST, &base)
            .json(&json!({"body": "x".repeat(10_001)})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    let (status, body) = send(
        app.req(Method::POST, &base)
            .json(&json!({"body": "hi", "author": "user:someone"})),
    )
    .await;
    assert!(status.is_client_error(), "{status} {body}");
    // A reply to a comment of another entry is refused.
    let other = app.create_entry("doc", json!({"title": "Other"})).await;
    let other_base = format!(
        "/api/v1/manage/entries/doc/{}/comments",
        other["id"].as_str().expect("id")
    );
    let (_, foreign) = send(
        app.req(Method::POST, &other_base)
            .json(&json!({"body": "there"})),
    )
    .await;
    let (status, body) = send(
        app.req(Method::POST, &base)
            .json(&json!({"body": "reply", "parent_id": foreign["id"]})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    let (status, body) = send(app.req(
        Method::GET,
        "/api/v1/manage/entries/doc/00000000-0000-0000-0000-000000000000/comments",
    ))
    .await;
    assert_error(status, &body, 404, "entry_not_found");
    let (_, list) = send(app.req(Method::GET, &base)).await;
    assert_eq!(list["total"], 0, "a refused comment was stored: {list}");
}
