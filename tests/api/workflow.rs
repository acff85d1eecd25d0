//! Review workflows: stages, allowed moves, who may make them, publishing only from the
//! publishable stage, the record of each move and its event.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    the_default_workflow_walks_an_entry_from_draft_to_published,
    a_custom_workflow_limits_moves_to_its_roles,
    bad_workflows_and_moves_are_refused,
);

fn story_type(workflow: Value) -> Value {
    json!({"api_id": "story", "name": "Story", "options": {"title_field": "title", "workflow": workflow},
           "fields": [{"name": "title", "type": "text", "required": true}]})
}

async fn move_to(
    app: &TestApp,
    token: Option<&str>,
    id: &str,
    to: &str,
    comment: Option<&str>,
) -> (StatusCode, Value) {
    let mut body = json!({"to": to});
    if let Some(c) = comment {
        body["comment"] = json!(c);
    }
    let path = format!("/api/v1/manage/entries/story/{id}/transition");
    let req = match token {
        Some(t) => app.req_as(Some(t), Method::POST, &path),
        None => app.req(Method::POST, &path),
    };
    send(req.json(&body)).await
}

async fn publish_as(app: &TestApp, token: &str, id: &str) -> (StatusCode, Value) {
    send(app.req_as(
        Some(token),
        Method::POST,
        &format!("/api/v1/manage/entries/story/{id}/publish"),
    ))
    .await
}

async fn the_default_workflow_walks_an_entry_from_draft_to_published(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(story_type(json!("default"))).await;
    let (author_id, author) = app.user_token("writer@example.com", "author").await;
    let (_, reviewer) = app.user_token("checker@example.com", "reviewer").await;
    let (_, editor) = app.user_token("boss@example.com", "editor").await;

    let (status, created) = send(
        app.req_as(Some(&author), Method::POST, "/api/v1/manage/entries/story")
            .json(&json!({"fields": {"title": "Scoop"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["stage"], "draft");
    let id = created["id"].as_str().expect("id").to_string();

    // Not publishable from draft, not even by an editor.
    let (status, body) = publish_as(&app, &editor, &id).await;
    assert_error(status, &body, 409, "transition_not_allowed");
    // No skipping stages.
    let (status, body) = move_to(&app, Some(&editor), &id, "approved", None).await;
    assert_error(status, &body, 409, "transition_not_allowed");
    assert_eq!(
        body["error"]["details"]["allowed"],
        json!(["in_review", "archived"])
    );
    // The author submits its own draft but cannot approve it.
    let (status, body) = move_to(&app, Some(&author), &id, "in_review", Some("ready")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stage"], "in_review");
    let (status, body) = move_to(&app, Some(&author), &id, "approved", None).await;
    assert_error(status, &body, 403, "forbidden");
    // A reviewer approves; reviewers cannot publish.
    let (status, body) = move_to(&app, Some(&reviewer), &id, "approved", Some("looks good")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = publish_as(&app, &reviewer, &id).await;
    assert_error(status, &body, 403, "forbidden");
    // The editor publishes from approved.
    let (status, body) = publish_as(&app, &editor, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stage"], "published");
    assert_eq!(body["status"], "published");
    // A change after approval goes back to review; the live copy stays.
    let (status, body) = send(
        app.req_as(
            Some(&editor),
            Method::PATCH,
            &format!("/api/v1/manage/entries/story/{id}"),
        )
        .json(&json!({"fields": {"title": "Scoop, updated"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stage"], "draft");
    assert_eq!(body["status"], "changed");
    let (status, body) = publish_as(&app, &editor, &id).await;
    assert_error(status, &body, 409, "transition_not_allowed");

    // An author cannot move someone else's entry.
    let other = app
        .create_entry("story", json!({"title": "Not yours"}))
        .await;
    let other_id = other["id"].as_str().expect("id");
    let (status, body) = move_to(&app, Some(&author), other_id, "in_review", None).await;
    assert_error(status, &body, 403, "forbidden");

    // Every move is recorded, with who and why, and is an event.
    let (status, list) = send(app.req_as(
        Some(&reviewer),
        Method::GET,
        &format!("/api/v1/manage/entries/story/{id}/transitions"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let moves: Vec<(String, String)> = list["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            (
                t["from"].as_str().unwrap_or_default().to_string(),
                t["to"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, String)> = [
        ("draft", "in_review"),
        ("in_review", "approved"),
        ("published", "draft"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    assert_eq!(moves, want, "{list}");
    assert_eq!(list["items"][0]["comment"], "ready");
    assert_eq!(list["items"][0]["actor"], format!("user:{author_id}"));
    let events = app.events().await;
    let moved: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "entry.transitioned" && e["entry_id"] == id.as_str())
        .collect();
    assert_eq!(moved.len(), 3);
    assert_eq!(moved[1]["payload"]["to"], "approved");
    assert_eq!(moved[1]["payload"]["comment"], "looks good");
}

async fn a_custom_workflow_limits_moves_to_its_roles(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(story_type(json!({
        "stages": ["idea", "legal", "ready"],
        "transitions": [
            {"from": "idea", "to": "legal"},
            {"from": "legal", "to": "ready", "roles": ["reviewer"]},
            {"from": "*", "to": "idea"}
        ],
        "publish_stage": "ready"
    })))
    .await;
    let (_, reviewer) = app.user_token("lawyer@example.com", "reviewer").await;
    let (_, editor) = app.user_token("ed@example.com", "editor").await;
    let e = app
        .create_entry("story", json!({"title": "Contract"}))
        .await;
    assert_eq!(e["stage"], "idea");
    let id = e["id"].as_str().expect("id").to_string();
    let (status, body) = move_to(&app, Some(&editor), &id, "legal", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Only reviewers may clear legal, even though editors hold every right.
    let (status, body) = move_to(&app, Some(&editor), &id, "ready", None).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = move_to(&app, Some(&reviewer), &id, "ready", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = publish_as(&app, &editor, &id).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Unpublishing returns it to the first stage.
    let (status, body) = send(app.req_as(
        Some(&editor),
        Method::POST,
        &format!("/api/v1/manage/entries/story/{id}/unpublish"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["stage"], "idea");
}

async fn bad_workflows_and_moves_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (workflow, field) in [
        (json!("fancy"), "options.workflow"),
        (
            json!({"stages": ["a", "a"], "transitions": [], "publish_stage": "a"}),
            "options.workflow.stages[1]",
        ),
        (
            json!({"stages": ["a"], "transitions": [{"from": "a", "to": "zzz"}], "publish_stage": "a"}),
            "options.workflow.transitions[0].to",
        ),
        (
            json!({"stages": ["a", "published"], "transitions": [], "publish_stage": "a"}),
            "options.workflow.stages[1]",
        ),
    ] {
        let (status, body) = send(
            app.req(Method::POST, "/api/v1/manage/content-types")
                .json(&story_type(workflow.clone())),
        )
        .await;
        assert_error(status, &body, 422, "validation_failed");
        let fields: Vec<&str> = body["error"]["details"]["fields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| f["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{workflow}: {body}");
    }
    let (status, body) = send(app.req(Method::POST, "/api/v1/manage/content-types").json(&json!(
        {"api_id": "story", "name": "Story", "options": {"draft_publish": false, "workflow": "default"},
         "fields": [{"name": "title", "type": "text"}]}
    )))
    .await;
    assert_error(status, &body, 422, "validation_failed");

    // No workflow: no moves.
    app.create_type(story_type(json!("none"))).await;
    let e = app.create_entry("story", json!({"title": "Plain"})).await;
    let id = e["id"].as_str().expect("id").to_string();
    let (status, body) = move_to(&app, None, &id, "in_review", None).await;
    assert_error(status, &body, 409, "transition_not_allowed");
    // Turn it on: unknown stages, bad names, long comments, stale ETags are refused.
    let (_, current) = send(app.req(Method::GET, "/api/v1/manage/content-types/story")).await;
    let mut def = current.clone();
    def["options"]["workflow"] = json!("default");
    for key in ["rev", "created_at", "updated_at", "etag"] {
        if let Some(o) = def.as_object_mut() {
            o.remove(key);
        }
    }
    let (status, body) = send(
        app.req(Method::PUT, "/api/v1/manage/content-types/story")
            .json(&def),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = move_to(&app, None, &id, "nirvana", None).await;
    assert_error(status, &body, 422, "validation_failed");
    for bad in ["", "In Review", "*", "../x"] {
        let (status, body) = move_to(&app, None, &id, bad, None).await;
        assert_error(status, &body, 422, "validation_failed");
    }
    let long = "x".repeat(2001);
    let (status, body) = move_to(&app, None, &id, "in_review", Some(&long)).await;
    assert_error(status, &body, 422, "validation_failed");
    let (status, body) = send(
        app.req(
            Method::POST,
            &format!("/api/v1/manage/entries/story/{id}/transition"),
        )
        .header("if-match", "\"1.999\"")
        .json(&json!({"to": "in_review"})),
    )
    .await;
    assert_error(status, &body, 412, "precondition_failed");
    let (status, body) = send(
        app.req(
            Method::POST,
            &format!("/api/v1/manage/entries/story/{id}/transition"),
        )
        .json(&json!({"to": "in_review", "stage": "approved"})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    let (_, after) =
        send(app.req(Method::GET, &format!("/api/v1/manage/entries/story/{id}"))).await;
    assert_eq!(
        after["stage"], "draft",
        "a refused move moved the entry: {after}"
    );
}
