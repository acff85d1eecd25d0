//! The administrator's side and the edges: resetting a user's TOTP within delegation,
//! roles that require it, challenges (once, expiring, a few tries), malformed input.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::both_backends;

both_backends!(
    an_administrator_resets_a_users_totp_within_delegation,
    a_role_can_require_totp,
    challenges_work_once_expire_and_allow_few_tries,
    malformed_input_gets_stable_codes,
);

async fn patch_role(
    app: &TestApp,
    token: Option<&str>,
    name: &str,
    body: Value,
) -> (StatusCode, Value) {
    let token = token.unwrap_or(&app.token);
    send(
        app.req_as(
            Some(token),
            Method::PATCH,
            &format!("/api/v1/manage/roles/{name}"),
        )
        .json(&body),
    )
    .await
}

async fn an_administrator_resets_a_users_totp_within_delegation(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, token, _, _) = enrolled_user(&app, "ed@example.com", "author").await;
    let path = format!("/api/v1/manage/users/{id}/totp");

    // Without `users:update`: refused.
    let (_, editor) = app.user_token("eve@example.com", "editor").await;
    let (status, body) = send(app.req_as(Some(&editor), Method::DELETE, &path)).await;
    assert_error(status, &body, 403, "forbidden");

    // A help desk holding `users:update` and an author's rights may reset an author, not
    // an editor (whose rights it lacks).
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "helpdesk", "inherits": "author"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.grant("helpdesk", "users", "update").await;
    app.grant("helpdesk", "users", "read").await;
    let (_, helpdesk) = app.user_token("hal@example.com", "helpdesk").await;
    let (editor_id, _, _, _) = enrolled_user(&app, "edna@example.com", "editor").await;
    let (status, body) = send(app.req_as(
        Some(&helpdesk),
        Method::DELETE,
        &format!("/api/v1/manage/users/{editor_id}/totp"),
    ))
    .await;
    assert_error(status, &body, 403, "forbidden");

    let (status, body) = send(app.req_as(Some(&helpdesk), Method::DELETE, &path)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    // The user's sessions ended with it; the password alone logs in now.
    let (status, body) = me(&app, &token).await;
    assert_error(status, &body, 401, "invalid_token");
    let body = app.login("ed@example.com", PASSWORD).await;
    let (_, body) = me(&app, &access_token(&body)).await;
    assert_eq!(body["totp_enabled"], false, "{body}");

    let (status, body) = send(app.req(Method::DELETE, &path)).await;
    assert_error(status, &body, 409, "conflict");
    let (status, body) =
        send(app.req(Method::DELETE, "/api/v1/manage/users/no-such-user/totp")).await;
    assert_error(status, &body, 404, "not_found");

    let resets = audit_of(&app, "auth.totp_reset").await;
    assert_eq!(resets.len(), 1, "{resets:?}");
    assert_eq!(resets[0]["resource_id"], id.as_str());
    assert_eq!(resets[0]["actor_label"], "hal@example.com");
    assert!(
        app.events()
            .await
            .iter()
            .any(|e| e["kind"] == "auth.totp_reset" && e["payload"]["id"] == id.as_str())
    );
}

async fn a_role_can_require_totp(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, role) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "secure", "inherits": "editor", "require_totp": true})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    assert_eq!(role["require_totp"], true, "{role}");

    // A user of it without TOTP logs in, but the token only enrols.
    let (_, token) = app.user_token("sam@example.com", "secure").await;
    for path in [
        "/api/v1/manage/content-types",
        "/api/v1/manage/entries/article",
        "/openapi.json",
    ] {
        let (status, body) = send(app.req_as(Some(&token), Method::GET, path)).await;
        assert_error(status, &body, 403, "totp_enrolment_required");
    }
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totp_required"], true, "{body}");
    assert_eq!(body["totp_enabled"], false, "{body}");
    assert_eq!(body["totp_enrolment_required"], true, "{body}");
    let mut auth = setup(&app, &token).await;
    enable(&app, &token, &mut auth).await;
    // Enrolled through this session, which now has the role's rights.
    let (status, body) =
        send(app.req_as(Some(&token), Method::GET, "/api/v1/manage/content-types")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let challenge = challenge(&app, "sam@example.com").await;
    let code = auth.next_code().await;
    let (status, body) = second_factor(&app, json!({"challenge": challenge, "code": code})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Setting the flag on a role restricts its users' live sessions at once.
    let (_, author) = app.user_token("al@example.com", "author").await;
    let (status, body) = patch_role(&app, None, "author", json!({"require_totp": true})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["require_totp"], true, "{body}");
    let (status, body) =
        send(app.req_as(Some(&author), Method::GET, "/api/v1/manage/content-types")).await;
    assert_error(status, &body, 403, "totp_enrolment_required");
    let (status, body) = patch_role(
        &app,
        None,
        "author",
        json!({"require_totp": false, "description": "Writes"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["description"], "Writes");
    let (status, body) =
        send(app.req_as(Some(&author), Method::GET, "/api/v1/manage/content-types")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, roles) = send(app.req(Method::GET, "/api/v1/manage/roles")).await;
    let listed = roles["items"].as_array().expect("items");
    assert!(
        listed
            .iter()
            .any(|r| r["name"] == "secure" && r["require_totp"] == true),
        "{roles}"
    );
    assert!(
        listed
            .iter()
            .any(|r| r["name"] == "author" && r["require_totp"] == false),
        "{roles}"
    );

    // Delegation: `roles:update` only on roles within one's own rights.
    let (_, editor) = app.user_token("eve@example.com", "editor").await;
    let (status, body) =
        patch_role(&app, Some(&editor), "author", json!({"require_totp": true})).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "rolekeeper", "inherits": "author"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.grant("rolekeeper", "roles", "update").await;
    let (_, keeper) = app.user_token("kim@example.com", "rolekeeper").await;
    let (status, body) =
        patch_role(&app, Some(&keeper), "admin", json!({"require_totp": false})).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = patch_role(
        &app,
        Some(&keeper),
        "author",
        json!({"require_totp": false}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = patch_role(&app, None, "nobody", json!({"require_totp": true})).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = patch_role(&app, None, "public", json!({"require_totp": true})).await;
    assert_error(status, &body, 422, "validation_failed");
    let (status, body) = patch_role(
        &app,
        None,
        "author",
        json!({"require_totp": true, "builtin": false}),
    )
    .await;
    assert_error(status, &body, 400, "invalid_body");
    let updated: Vec<_> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e["kind"] == "role.updated")
        .collect();
    assert_eq!(updated.len(), 3, "{updated:?}");
}

async fn challenges_work_once_expire_and_allow_few_tries(backend: Backend) {
    let app = TestApp::spawn_configured(backend, json!({"totp_challenge_ttl_secs": 2})).await;
    let (_, _, mut auth, _) = enrolled_user(&app, "ed@example.com", "author").await;
    let (status, body) = password_login(&app, "ed@example.com", PASSWORD).await;
    assert_error(status, &body, 401, "totp_required");
    assert_eq!(body["error"]["details"]["expires_in"], 2);
    let first = body["error"]["details"]["challenge"]
        .as_str()
        .expect("challenge")
        .to_string();
    let code = auth.next_code().await;
    let (status, body) = second_factor(&app, json!({"challenge": first, "code": code})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Used: refused, whatever the code.
    let (status, body) =
        second_factor(&app, json!({"challenge": first, "code": auth.wrong_code()})).await;
    assert_error(status, &body, 401, "invalid_challenge");
    // Expired.
    let late = challenge(&app, "ed@example.com").await;
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let (status, body) =
        second_factor(&app, json!({"challenge": late, "code": auth.wrong_code()})).await;
    assert_error(status, &body, 401, "invalid_challenge");
    // Unknown.
    let (status, body) = second_factor(
        &app,
        json!({"challenge": "made-up", "code": auth.wrong_code()}),
    )
    .await;
    assert_error(status, &body, 401, "invalid_challenge");

    // Five wrong codes spend a challenge (the throttle allows ten per account).
    let app = TestApp::spawn(backend).await;
    let (_, _, mut auth, _) = enrolled_user(&app, "ed@example.com", "author").await;
    let tried = challenge(&app, "ed@example.com").await;
    for _ in 0..5 {
        let (status, body) =
            second_factor(&app, json!({"challenge": tried, "code": auth.wrong_code()})).await;
        assert_error(status, &body, 401, "invalid_totp_code");
    }
    let code = auth.next_code().await;
    let (status, body) = second_factor(&app, json!({"challenge": tried, "code": code})).await;
    assert_error(status, &body, 401, "invalid_challenge");
    // The code was not used up by the refusal: a new challenge takes it.
    let fresh = challenge(&app, "ed@example.com").await;
    let (status, body) = second_factor(&app, json!({"challenge": fresh, "code": code})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn malformed_input_gets_stable_codes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token, mut auth, codes) = enrolled_user(&app, "ed@example.com", "author").await;
    let challenge = challenge(&app, "ed@example.com").await;
    let bad_bodies = [
        (
            "/api/v1/auth/totp/setup",
            json!({"password": PASSWORD, "extra": 1}),
        ),
        ("/api/v1/auth/totp/setup", json!({})),
        ("/api/v1/auth/totp/enable", json!({"code": "12345a"})),
        ("/api/v1/auth/totp/enable", json!({"code": "1234567"})),
        ("/api/v1/auth/totp/enable", json!({"code": "12345"})),
        ("/api/v1/auth/totp/enable", json!({"code": " 123456"})),
        // (poem-openapi reads a JSON number or boolean as its text, as for every string
        // in the API; the text must still be six digits.)
        ("/api/v1/auth/totp/enable", json!({"code": 12345})),
        ("/api/v1/auth/totp/enable", json!({"code": true})),
        ("/api/v1/auth/totp/enable", json!({"code": ["123456"]})),
        ("/api/v1/auth/totp/enable", json!({"code": null})),
        (
            "/api/v1/auth/totp/disable",
            json!({"password": PASSWORD, "code": "abcdef"}),
        ),
        (
            "/api/v1/auth/login/totp",
            json!({"challenge": challenge, "code": "12 345"}),
        ),
        (
            "/api/v1/auth/login/totp",
            json!({"challenge": challenge, "code": "１２３４５６"}),
        ),
        (
            "/api/v1/auth/login/totp",
            json!({"challenge": challenge, "recovery_code": "not a code!"}),
        ),
        (
            "/api/v1/auth/login/totp",
            json!({"challenge": "x".repeat(5000), "code": "123456"}),
        ),
        (
            "/api/v1/auth/login/totp",
            json!({"challenge": challenge, "code": "123456", "remember": true}),
        ),
    ];
    for (path, body) in bad_bodies {
        let (status, answer) = post(&app, Some(&token), path, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body} → {answer}");
        assert_error(status, &answer, 400, "invalid_body");
        assert!(answer.to_string().len() < 2000, "{body} → {answer}");
    }
    for body in [
        json!({"challenge": challenge}),
        json!({"challenge": challenge, "code": "123456", "recovery_code": codes[0]}),
    ] {
        let (status, answer) = second_factor(&app, body.clone()).await;
        assert_error(status, &answer, 422, "validation_failed");
    }
    let huge = format!(
        "{{\"challenge\": \"{}\", \"code\": \"123456\"}}",
        "x".repeat(2 << 20)
    );
    let (status, answer) = send(
        app.client
            .post(app.url("/api/v1/auth/login/totp"))
            .header("content-type", "application/json")
            .body(huge),
    )
    .await;
    assert_error(status, &answer, 413, "payload_too_large");
    let (status, answer) = send(
        app.client
            .post(app.url("/api/v1/auth/login/totp"))
            .header("content-type", "text/plain")
            .body("123456"),
    )
    .await;
    assert_error(status, &answer, 415, "unsupported_media_type");

    // None of that touched the challenge: it still completes.
    let code = auth.next_code().await;
    let (status, body) = second_factor(&app, json!({"challenge": challenge, "code": code})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}
