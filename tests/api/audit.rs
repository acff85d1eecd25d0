//! The audit log: each action leaves exactly one record naming who, what, when and from
//! where; it is for administrators only, filterable, paged, and cannot be changed.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    logins_are_recorded_with_their_address,
    every_action_leaves_exactly_one_record,
    the_log_is_for_administrators_and_cannot_be_changed,
);

async fn audit(app: &TestApp, query: &str) -> Vec<Value> {
    let (status, body) = send(app.req(Method::GET, &format!("/api/v1/manage/audit?{query}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

async fn every_action_leaves_exactly_one_record(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let start = audit(&app, "limit=200").await.len();
    let ua = "audit-test/1.0";
    let call = |method: Method, path: String, body: Option<Value>| {
        let app = &app;
        async move {
            let mut req = app.req(method, &path).header("user-agent", ua);
            if let Some(b) = body {
                req = req.json(&b);
            }
            let (status, answer) = send(req).await;
            assert!(status.is_success(), "{path}: {status} {answer}");
            answer
        }
    };
    let mut story = json!({"api_id": "story", "name": "Story",
        "options": {"title_field": "title", "workflow": "default"},
        "fields": [{"name": "title", "type": "text"}, {"name": "body", "type": "text"}]});
    call(
        Method::POST,
        "/api/v1/manage/content-types".into(),
        Some(story.clone()),
    )
    .await;
    let e = call(
        Method::POST,
        "/api/v1/manage/entries/story".into(),
        Some(json!({"fields": {"title": "A"}})),
    )
    .await;
    let id = e["id"].as_str().expect("id").to_string();
    let path = format!("/api/v1/manage/entries/story/{id}");
    call(
        Method::PATCH,
        path.clone(),
        Some(json!({"fields": {"body": "text"}})),
    )
    .await;
    for to in ["in_review", "approved"] {
        call(
            Method::POST,
            format!("{path}/transition"),
            Some(json!({"to": to, "comment": "ok"})),
        )
        .await;
    }
    call(Method::POST, format!("{path}/publish"), None).await;
    call(Method::POST, format!("{path}/unpublish"), None).await;
    call(
        Method::POST,
        format!("{path}/restore"),
        Some(json!({"version": 1})),
    )
    .await;
    let comment = call(
        Method::POST,
        format!("{path}/comments"),
        Some(json!({"body": "check the intro"})),
    )
    .await;
    call(
        Method::PATCH,
        format!("{path}/comments/{}", comment["id"].as_str().expect("id")),
        Some(json!({"resolved": true})),
    )
    .await;
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let jobs = call(
        Method::POST,
        format!("{path}/schedule"),
        Some(json!({"unpublish_at": tomorrow})),
    )
    .await;
    call(
        Method::DELETE,
        format!(
            "{path}/schedule/{}",
            jobs["items"][0]["id"].as_str().expect("id")
        ),
        None,
    )
    .await;
    let user = call(Method::POST, "/api/v1/manage/users".into(),
        Some(json!({"email": "aud@example.com", "password": "a-long-enough-password", "role": "author"}))).await;
    let user_id = user["id"].as_str().expect("id").to_string();
    call(
        Method::PATCH,
        format!("/api/v1/manage/users/{user_id}"),
        Some(json!({"role": "reviewer"})),
    )
    .await;
    let token = call(
        Method::POST,
        "/api/v1/manage/tokens".into(),
        Some(json!({"name": "ci", "role": "reviewer"})),
    )
    .await;
    call(
        Method::DELETE,
        format!(
            "/api/v1/manage/tokens/{}",
            token["id"].as_str().expect("id")
        ),
        None,
    )
    .await;
    call(
        Method::POST,
        "/api/v1/manage/roles".into(),
        Some(json!({"name": "intern"})),
    )
    .await;
    let policy = call(
        Method::POST,
        "/api/v1/manage/policies".into(),
        Some(json!({"role": "intern", "resource": "story", "action": "read"})),
    )
    .await;
    call(
        Method::DELETE,
        format!(
            "/api/v1/manage/policies/{}",
            policy["id"].as_str().expect("id")
        ),
        None,
    )
    .await;
    call(Method::DELETE, "/api/v1/manage/roles/intern".into(), None).await;
    story["fields"]
        .as_array_mut()
        .expect("fields")
        .push(json!({"name": "extra", "type": "text"}));
    call(
        Method::PUT,
        "/api/v1/manage/content-types/story".into(),
        Some(story),
    )
    .await;
    call(Method::DELETE, path.clone(), None).await;
    call(Method::DELETE, format!("/api/v1/manage/trash/{id}"), None).await;
    call(
        Method::DELETE,
        "/api/v1/manage/content-types/story".into(),
        None,
    )
    .await;

    let all = audit(&app, "limit=200").await;
    let mut new: Vec<&Value> = all[..all.len() - start].iter().collect();
    new.reverse();
    let actions: Vec<&str> = new.iter().filter_map(|r| r["action"].as_str()).collect();
    assert_eq!(
        actions,
        [
            "content_type.created",
            "entry.created",
            "entry.updated",
            "entry.transitioned",
            "entry.transitioned",
            "entry.published",
            "entry.unpublished",
            "entry.restored",
            "comment.created",
            "comment.resolved",
            "entry.scheduled",
            "entry.schedule_cancelled",
            "user.created",
            "user.updated",
            "token.created",
            "token.revoked",
            "role.created",
            "policy.created",
            "policy.deleted",
            "role.deleted",
            "content_type.updated",
            "entry.deleted",
            "entry.purged",
            "content_type.deleted",
        ]
    );
    let (_, me) = send(app.req(Method::GET, "/api/v1/auth/me")).await;
    for r in &new {
        assert_eq!(
            r["actor"],
            format!("user:{}", me["id"].as_str().unwrap_or_default())
        );
        assert_eq!(r["actor_label"], ADMIN_EMAIL);
        assert_eq!(r["ip"], "127.0.0.1", "{r}");
        assert_eq!(r["user_agent"], ua);
        assert!(r["at"].is_string() && r["seq"].is_i64());
    }
    assert_eq!(new[2]["details"]["fields"], json!(["body"]), "{}", new[2]);
    assert_eq!(new[3]["details"]["to"], "in_review");
    assert_eq!(new[7]["details"]["restored_from"], 1);
    assert_eq!(new[13]["details"]["changed"], json!(["role"]));
    let text = serde_json::to_string(&new).expect("json");
    assert!(
        !text.contains(token["token"].as_str().expect("secret")),
        "a secret in the log"
    );
    assert!(
        !text.contains("a-long-enough-password"),
        "a password in the log"
    );

    // Filters and keyset pages.
    let entry_only = audit(&app, &format!("resource_id={id}&limit=200")).await;
    assert_eq!(entry_only.len(), 13, "{entry_only:?}");
    let moves = audit(&app, "action=entry.transitioned").await;
    assert_eq!(moves.len(), 2);
    let (_, page1) = send(app.req(Method::GET, "/api/v1/manage/audit?limit=5")).await;
    let cursor = page1["next_cursor"].as_str().expect("cursor").to_string();
    let (_, page2) = send(app.req(
        Method::GET,
        &format!("/api/v1/manage/audit?limit=5&cursor={cursor}"),
    ))
    .await;
    let first_seq = page1["items"][4]["seq"].as_i64().expect("seq");
    assert!(page2["items"][0]["seq"].as_i64().expect("seq") < first_seq);
    let future = audit(&app, "since=2999-01-01T00:00:00Z").await;
    assert!(future.is_empty());
}

async fn the_log_is_for_administrators_and_cannot_be_changed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for role in ["editor", "author", "reviewer"] {
        let (_, t) = app.user_token(&format!("{role}@example.com"), role).await;
        let (status, body) = send(app.req_as(Some(&t), Method::GET, "/api/v1/manage/audit")).await;
        assert_error(status, &body, 403, "forbidden");
    }
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/manage/audit")).await;
    assert_error(status, &body, 401, "unauthenticated");
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let (status, _) = send(
            app.req(method.clone(), "/api/v1/manage/audit")
                .json(&json!({})),
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }
    for q in [
        "limit=0",
        "limit=201",
        "cursor=abc",
        "cursor=-5",
        "since=yesterday",
    ] {
        let (status, body) = send(app.req(Method::GET, &format!("/api/v1/manage/audit?{q}"))).await;
        assert!(status.is_client_error(), "{q}: {status} {body}");
    }
}

async fn logins_are_recorded_with_their_address(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let before = audit(&app, "resource=user&limit=200").await.len();
    let (status, _) = send(
        app.req_as(None, Method::POST, "/api/v1/auth/login")
            .header("user-agent", "curl/8")
            .json(&json!({"email": ADMIN_EMAIL, "password": "not-the-password"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = send(
        app.req_as(None, Method::POST, "/api/v1/auth/login")
            .header("user-agent", "curl/8")
            .json(&json!({"email": "nobody@example.com", "password": "whatever-it-is"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let all = audit(&app, "resource=user&limit=200").await;
    let new: Vec<&Value> = all[..all.len() - before].iter().rev().collect();
    let actions: Vec<&str> = new.iter().filter_map(|r| r["action"].as_str()).collect();
    assert_eq!(
        actions,
        ["auth.login_failed", "auth.login_failed", "auth.login"]
    );
    assert_eq!(new[0]["details"]["email"], ADMIN_EMAIL);
    assert_eq!(new[1]["details"]["email"], "nobody@example.com");
    assert_eq!(new[0]["user_agent"], "curl/8");
    assert_eq!(new[0]["ip"], "127.0.0.1");
    assert_eq!(new[0]["actor"], "anonymous");
    assert_eq!(new[2]["actor_label"], ADMIN_EMAIL);
    let text = serde_json::to_string(&new).expect("json");
    assert!(!text.contains("not-the-password") && !text.contains("whatever-it-is"));
}
