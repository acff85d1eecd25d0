//! Authentication and the administration of identities (DESIGN.md §4-5): login, rotating
//! refresh tokens with reuse detection, logout, API tokens, users, roles and policies.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    login_hands_out_tokens_and_does_not_reveal_which_emails_exist,
    forged_and_tampered_access_tokens_are_refused,
    refresh_rotates_the_pair,
    reusing_a_refresh_token_revokes_that_login_and_only_that_login,
    logout_ends_the_session_of_the_token_or_of_the_refresh_token,
    logout_never_reports_success_while_the_callers_session_lives_on,
    api_tokens_are_shown_once_act_with_their_role_and_can_be_revoked,
    api_token_input_is_validated,
    admins_manage_users_and_changes_take_effect_at_once,
    user_input_is_validated,
    roles_can_be_created_inherited_and_deleted_but_built_ins_stay,
    a_deleted_role_leaves_no_rights_behind,
    a_role_kept_only_by_revoked_tokens_can_be_deleted,
    policies_grant_and_withdraw_rights_immediately,
    policy_input_is_validated,
);

const USER_PASSWORD: &str = "a-long-enough-password";

async fn login_raw(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    send(
        app.client
            .post(app.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password})),
    )
    .await
}

/// Logs in and returns (access token, refresh token).
async fn session(app: &TestApp, email: &str, password: &str) -> (String, String) {
    let body = app.login(email, password).await;
    (
        body["access_token"]
            .as_str()
            .expect("access token")
            .to_string(),
        body["refresh_token"]
            .as_str()
            .expect("refresh token")
            .to_string(),
    )
}

async fn refresh(app: &TestApp, refresh_token: &str) -> (StatusCode, Value) {
    send(
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&json!({"refresh_token": refresh_token})),
    )
    .await
}

async fn me(app: &TestApp, token: &str) -> (StatusCode, Value) {
    send(app.req_as(Some(token), Method::GET, "/api/v1/auth/me")).await
}

async fn logout(app: &TestApp, token: &str, body: Value) -> (StatusCode, Value) {
    send(
        app.req_as(Some(token), Method::POST, "/api/v1/auth/logout")
            .json(&body),
    )
    .await
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("`{key}` is not a string in {v}"))
}

/// A token that no longer works: 401 `invalid_token` on /me.
async fn assert_dead(app: &TestApp, token: &str, what: &str) {
    let (status, body) = me(app, token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "{what} still works: {body}"
    );
    assert_error(status, &body, 401, "invalid_token");
}

/// A refresh token that no longer buys new tokens.
async fn assert_refresh_refused(app: &TestApp, refresh_token: &str, what: &str) {
    let (status, body) = refresh(app, refresh_token).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "{what} could still be refreshed: {body}"
    );
    let code = body["error"]["code"].as_str().unwrap_or_default();
    assert!(
        code == "invalid_token" || code == "refresh_token_reused",
        "{what}: unexpected code: {body}"
    );
    assert_error(status, &body, 401, code);
    assert!(body.get("access_token").is_none(), "{body}");
}

async fn create_user(app: &TestApp, email: &str, role: &str) -> Value {
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/users")
            .json(&json!({"email": email, "password": USER_PASSWORD, "role": role})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "create user: {body}");
    body
}

fn items(list: &Value) -> Vec<Value> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"))
        .clone()
}

async fn published_article(app: &TestApp, title: &str) -> String {
    let entry = app.create_entry("article", json!({"title": title})).await;
    let id = str_of(&entry, "id").to_string();
    app.publish("article", &id).await;
    id
}

async fn login_hands_out_tokens_and_does_not_reveal_which_emails_exist(backend: Backend) {
    let app = TestApp::spawn(backend).await;

    let resp = app
        .client
        .post(app.url("/api/v1/auth/login"))
        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    let cache = header_value(&resp, "cache-control").unwrap_or_default();
    assert!(
        cache.contains("no-store"),
        "tokens must not be cached: {cache}"
    );
    let (_, body) = read(resp).await;
    let access = str_of(&body, "access_token");
    let refresh_token = str_of(&body, "refresh_token");
    assert!(!access.is_empty() && !refresh_token.is_empty(), "{body}");
    assert_ne!(access, refresh_token);
    assert_eq!(body["token_type"], "Bearer");
    let ttl = body["expires_in"].as_u64().expect("expires_in");
    assert!((1..=900).contains(&ttl), "expires_in {ttl} not in 1..=900");
    assert_eq!(body["user"]["email"], ADMIN_EMAIL);
    assert_eq!(body["user"]["role"], "admin");
    assert!(
        !body.to_string().contains(ADMIN_PASSWORD) && !body.to_string().contains("argon2"),
        "login leaks the password or its hash: {body}"
    );

    // The access token says who we are.
    let (status, who) = me(&app, access).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["kind"], "user");
    assert_eq!(who["email"], ADMIN_EMAIL);
    assert_eq!(who["role"], "admin");
    assert_eq!(who["id"], body["user"]["id"]);

    // Emails are matched case-insensitively.
    let (status, body) = login_raw(&app, "Admin@Example.COM", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["email"], ADMIN_EMAIL);

    // A wrong password and an unknown email look exactly the same.
    let (status, wrong_password) = login_raw(&app, ADMIN_EMAIL, "not-the-password").await;
    assert_error(status, &wrong_password, 401, "invalid_credentials");
    let (status, unknown) = login_raw(&app, "nobody@example.com", ADMIN_PASSWORD).await;
    assert_error(status, &unknown, 401, "invalid_credentials");
    assert_eq!(
        wrong_password["error"]["message"], unknown["error"]["message"],
        "the message tells which emails exist"
    );
    assert!(wrong_password.get("access_token").is_none());
    let (status, body) = login_raw(&app, ADMIN_EMAIL, "").await;
    assert_error(status, &body, 401, "invalid_credentials");

    // /me needs a token.
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/auth/me")).await;
    assert_error(status, &body, 401, "unauthenticated");
}

async fn forged_and_tampered_access_tokens_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (access, _) = session(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, who) = me(&app, &access).await;
    assert_eq!(status, StatusCode::OK);
    let admin_id = str_of(&who, "id").to_string();

    let parts: Vec<&str> = access.split('.').collect();
    assert_eq!(parts.len(), 3, "the access token is a JWT: {access}");

    // A changed signature.
    let mut sig: Vec<char> = parts[2].chars().collect();
    sig[0] = if sig[0] == 'A' { 'B' } else { 'A' };
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        sig.into_iter().collect::<String>()
    );
    assert_dead(&app, &tampered, "a token with a changed signature").await;

    // Claims of another user under the original signature.
    let mut claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("base64 claims"))
            .expect("json claims");
    let (other_id, _) = app.user_token("eve@example.com", "author").await;
    claims["sub"] = json!(other_id);
    let swapped = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_dead(&app, &swapped, "a token with edited claims").await;

    // An unsigned token (`alg: none`) naming the administrator.
    claims["sub"] = json!(admin_id);
    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    assert_dead(&app, &unsigned, "an unsigned token").await;

    // The genuine token still works.
    let (status, _) = me(&app, &access).await;
    assert_eq!(status, StatusCode::OK);
}

async fn refresh_rotates_the_pair(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a1, r1) = session(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let resp = app
        .client
        .post(app.url("/api/v1/auth/refresh"))
        .json(&json!({"refresh_token": r1}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()
            .get("cache-control")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|v| v.contains("no-store"))
    );
    let (_, pair) = read(resp).await;
    let a2 = str_of(&pair, "access_token").to_string();
    let r2 = str_of(&pair, "refresh_token").to_string();
    assert_ne!(r2, r1, "the refresh token rotates");
    assert_eq!(pair["token_type"], "Bearer");
    assert!(pair["expires_in"].as_u64().is_some_and(|t| t <= 900));
    assert_eq!(pair["user"]["email"], ADMIN_EMAIL);
    let (status, who) = me(&app, &a2).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["email"], ADMIN_EMAIL);
    // The earlier access token of the same, still valid, login keeps working until it expires.
    let (status, _) = me(&app, &a1).await;
    assert_eq!(status, StatusCode::OK);

    // The new refresh token works once too.
    let (status, pair3) = refresh(&app, &r2).await;
    assert_eq!(status, StatusCode::OK, "{pair3}");
    assert_ne!(str_of(&pair3, "refresh_token"), r2);

    // Things that are not refresh tokens.
    for bogus in [
        "nonsense".to_string(),
        a2.clone(),
        format!("{r1}x"),
        String::new(),
    ] {
        let (status, body) = refresh(&app, &bogus).await;
        assert_error(status, &body, 401, "invalid_token");
    }
    let (status, body) = send(
        app.client
            .post(app.url("/api/v1/auth/refresh"))
            .json(&json!({})),
    )
    .await;
    assert_error(status, &body, 400, "invalid_body");
}

async fn reusing_a_refresh_token_revokes_that_login_and_only_that_login(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (a1, r1) = session(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (other_access, other_refresh) = session(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let (status, pair) = refresh(&app, &r1).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let a2 = str_of(&pair, "access_token").to_string();
    let r2 = str_of(&pair, "refresh_token").to_string();

    // r1 again: somebody replays a used token.
    let (status, body) = refresh(&app, &r1).await;
    assert_error(status, &body, 401, "refresh_token_reused");
    assert!(body.get("access_token").is_none(), "{body}");

    // The whole family is gone: both access tokens and the newest refresh token.
    assert_dead(&app, &a2, "the newest access token of a revoked login").await;
    assert_dead(&app, &a1, "the first access token of a revoked login").await;
    assert_refresh_refused(&app, &r2, "the newest refresh token of a revoked login").await;

    // The other login of the same user is untouched.
    let (status, who) = me(&app, &other_access).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    let (status, pair) = refresh(&app, &other_refresh).await;
    assert_eq!(status, StatusCode::OK, "{pair}");
    let (status, _) = me(&app, str_of(&pair, "access_token")).await;
    assert_eq!(status, StatusCode::OK);

    // And the user can simply log in again.
    let (fresh, _) = session(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (status, _) = me(&app, &fresh).await;
    assert_eq!(status, StatusCode::OK);
}

async fn logout_ends_the_session_of_the_token_or_of_the_refresh_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(person_type()).await;
    create_user(&app, "lou@example.com", "editor").await;
    let (a_access, a_refresh) = session(&app, "lou@example.com", USER_PASSWORD).await;
    let (b_access, b_refresh) = session(&app, "lou@example.com", USER_PASSWORD).await;

    // Logout by access token (empty body).
    let (status, body) = logout(&app, &a_access, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(body, Value::Null, "204 has no body");
    assert_dead(&app, &a_access, "a logged-out access token").await;
    let (status, body) = send(app.req_as(
        Some(&a_access),
        Method::GET,
        "/api/v1/manage/entries/person",
    ))
    .await;
    assert_error(status, &body, 401, "invalid_token");
    assert_refresh_refused(&app, &a_refresh, "a logged-out refresh token").await;
    // Logging out again with the dead token is refused, not silently accepted.
    let (status, body) = logout(&app, &a_access, json!({})).await;
    assert_error(status, &body, 401, "invalid_token");

    // The other session lives on.
    let (status, who) = me(&app, &b_access).await;
    assert_eq!(status, StatusCode::OK, "{who}");

    // Logout naming the refresh token.
    let (status, body) = logout(&app, &b_access, json!({"refresh_token": b_refresh})).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_dead(
        &app,
        &b_access,
        "an access token after logout by refresh token",
    )
    .await;
    assert_refresh_refused(&app, &b_refresh, "a refresh token after logout").await;

    // Logout needs a token.
    let (status, body) = send(
        app.req_as(None, Method::POST, "/api/v1/auth/logout")
            .json(&json!({})),
    )
    .await;
    assert_error(status, &body, 401, "unauthenticated");

    // Logging in again works.
    let (c_access, _) = session(&app, "lou@example.com", USER_PASSWORD).await;
    let (status, _) = me(&app, &c_access).await;
    assert_eq!(status, StatusCode::OK);
}

/// A client that logs out gets 204 only if its session really ended. Sending a refresh
/// token the server does not know (a typo, one from an old install) must not leave the
/// bearer's own session alive behind a success answer.
async fn logout_never_reports_success_while_the_callers_session_lives_on(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (access, refresh_token) = session(&app, ADMIN_EMAIL, ADMIN_PASSWORD).await;

    let (status, body) = logout(
        &app,
        &access,
        json!({"refresh_token": "not-a-refresh-token-this-server-issued"}),
    )
    .await;
    let (me_status, me_body) = me(&app, &access).await;
    if status == StatusCode::NO_CONTENT {
        assert_eq!(
            me_status,
            StatusCode::UNAUTHORIZED,
            "logout answered 204 but the caller's access token still works: {me_body}"
        );
        assert_refresh_refused(
            &app,
            &refresh_token,
            "the caller's refresh token after logout",
        )
        .await;
    } else {
        assert!(status.is_client_error(), "{status}: {body}");
        let code = body["error"]["code"].as_str().unwrap_or_default();
        assert_error(status, &body, status.as_u16(), code);
        assert_eq!(
            me_status,
            StatusCode::OK,
            "a refused logout changed nothing"
        );
    }
}

async fn api_tokens_are_shown_once_act_with_their_role_and_can_be_revoked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;
    let draft = app
        .create_entry("article", json!({"title": "Unpublished"}))
        .await;
    let draft_id = str_of(&draft, "id").to_string();

    let resp = app
        .req(Method::POST, "/api/v1/manage/tokens")
        .json(&json!({"name": "CI reader", "role": "reviewer"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::CREATED);
    assert!(
        resp.headers()
            .get("cache-control")
            .and_then(|h| h.to_str().ok())
            .is_some_and(|v| v.contains("no-store"))
    );
    let (_, created) = read(resp).await;
    let secret = str_of(&created, "token").to_string();
    let token_id = str_of(&created, "id").to_string();
    assert!(secret.starts_with("vlm_"), "{secret}");
    assert!(secret.len() >= 30, "a token needs real entropy: {secret}");
    assert_eq!(created["name"], "CI reader");
    assert_eq!(created["role"], "reviewer");
    let prefix = str_of(&created, "prefix").to_string();
    assert!(
        secret.starts_with(&prefix) && prefix.len() < secret.len() / 2,
        "prefix {prefix} of {secret}"
    );
    assert!(created["revoked_at"].is_null());

    // The list never shows a secret.
    let (status, list) = send(app.req(Method::GET, "/api/v1/manage/tokens")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let listed = items(&list);
    let mine = listed
        .iter()
        .find(|t| t["id"] == token_id.as_str())
        .expect("the token is listed");
    assert_eq!(mine["prefix"], prefix.as_str());
    assert_eq!(mine["role"], "reviewer");
    for t in &listed {
        assert!(t.get("token").is_none(), "the list shows a secret: {t}");
        assert!(t.get("token_hash").is_none(), "the list shows a hash: {t}");
    }
    assert!(
        !list.to_string().contains(&secret),
        "the secret leaks from the list"
    );

    // The token acts with its role.
    let (status, who) = me(&app, &secret).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["kind"], "token");
    assert_eq!(who["role"], "reviewer");
    assert_eq!(who["id"], token_id.as_str());
    let entry_path = format!("/api/v1/manage/entries/article/{draft_id}");
    let (status, got) = send(app.req_as(Some(&secret), Method::GET, &entry_path)).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["fields"]["title"], "Unpublished");
    let (status, body) = send(
        app.req_as(
            Some(&secret),
            Method::POST,
            "/api/v1/manage/entries/article",
        )
        .json(&json!({"fields": {"title": "By a reviewer token"}})),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) =
        send(app.req_as(Some(&secret), Method::GET, "/api/v1/manage/tokens")).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, listed) = send(app.req(Method::GET, "/api/v1/manage/tokens")).await;
    assert_eq!(status, StatusCode::OK);
    let used = items(&listed)
        .into_iter()
        .find(|t| t["id"] == token_id.as_str())
        .expect("listed");
    assert!(
        used["last_used_at"].is_string(),
        "last use is recorded: {used}"
    );

    // A similar-looking secret is not the token.
    let mut wrong: Vec<char> = secret.chars().collect();
    let last = wrong.len() - 1;
    wrong[last] = if wrong[last] == 'a' { 'b' } else { 'a' };
    assert_dead(
        &app,
        &wrong.into_iter().collect::<String>(),
        "a guessed token",
    )
    .await;

    // An admin token can administer; a second token is independent of the first.
    let admin_token = app.create_token("deploy", "admin").await;
    let admin_secret = str_of(&admin_token, "token").to_string();
    assert_ne!(admin_secret, secret);
    let (status, _) =
        send(app.req_as(Some(&admin_secret), Method::GET, "/api/v1/manage/users")).await;
    assert_eq!(status, StatusCode::OK);

    // Revocation: 204, then the token is dead; the other token lives on.
    let (status, body) =
        send(app.req(Method::DELETE, &format!("/api/v1/manage/tokens/{token_id}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_dead(&app, &secret, "a revoked API token").await;
    let (status, body) = send(app.req_as(Some(&secret), Method::GET, &entry_path)).await;
    assert_error(status, &body, 401, "invalid_token");
    let (status, _) = me(&app, &admin_secret).await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = send(app.req(Method::GET, "/api/v1/manage/tokens")).await;
    let revoked = items(&list)
        .into_iter()
        .find(|t| t["id"] == token_id.as_str())
        .expect("a revoked token stays listed");
    assert!(revoked["revoked_at"].is_string(), "{revoked}");

    // Revoking an unknown token.
    let (status, body) = send(app.req(
        Method::DELETE,
        "/api/v1/manage/tokens/00000000-0000-0000-0000-000000000000",
    ))
    .await;
    assert_error(status, &body, 404, "not_found");

    // A token with a future expiry works and shows it.
    let until = (chrono::Utc::now() + chrono::Duration::days(1)).to_rfc3339();
    let (status, expiring) = send(
        app.req(Method::POST, "/api/v1/manage/tokens")
            .json(&json!({"name": "tomorrow", "role": "reviewer", "expires_at": until})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{expiring}");
    assert!(expiring["expires_at"].is_string(), "{expiring}");
    let (status, _) = me(&app, str_of(&expiring, "token")).await;
    assert_eq!(status, StatusCode::OK);
}

async fn api_token_input_is_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let tokens_before = items(&send(app.req(Method::GET, "/api/v1/manage/tokens")).await.1).len();

    let past = (chrono::Utc::now() - chrono::Duration::hours(1)).to_rfc3339();
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/tokens")
            .json(&json!({"name": "stale", "role": "reviewer", "expires_at": past})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "expires_at");
    assert!(body.get("token").is_none());

    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/tokens")
            .json(&json!({"name": "x", "role": "wizard"})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "role");

    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/tokens")
            .json(&json!({"name": "   ", "role": "reviewer"})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    assert_eq!(body["error"]["details"]["fields"][0]["field"], "name");

    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/tokens")
            .json(&json!({"name": "x", "role": "reviewer", "expires_at": "tomorrow"})),
    )
    .await;
    assert_error(status, &body, 400, "invalid_body");

    let (_, list) = send(app.req(Method::GET, "/api/v1/manage/tokens")).await;
    assert_eq!(
        items(&list).len(),
        tokens_before,
        "a refused token was stored"
    );
}

async fn admins_manage_users_and_changes_take_effect_at_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;

    // Create: 201 with a Location, no password material in the answer.
    let resp = app
        .req(Method::POST, "/api/v1/manage/users")
        .json(&json!({"email": "Ed@Example.com", "password": USER_PASSWORD, "role": "editor"}))
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::CREATED);
    let location = header_value(&resp, "location").expect("location");
    let (_, ed) = read(resp).await;
    let ed_id = str_of(&ed, "id").to_string();
    assert!(
        location.ends_with(&format!("/api/v1/manage/users/{ed_id}")),
        "{location}"
    );
    assert_eq!(ed["email"], "ed@example.com", "emails are stored lowercase");
    assert_eq!(ed["role"], "editor");
    assert_eq!(ed["active"], true);
    let text = ed.to_string();
    assert!(
        !text.contains(USER_PASSWORD)
            && !text.contains("argon2")
            && ed.get("password_hash").is_none(),
        "user answer leaks password material: {ed}"
    );

    // List and get.
    let (status, list) = send(app.req(Method::GET, "/api/v1/manage/users")).await;
    assert_eq!(status, StatusCode::OK);
    let emails: Vec<String> = items(&list)
        .iter()
        .map(|u| u["email"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(emails.contains(&"ed@example.com".to_string()), "{emails:?}");
    assert!(emails.contains(&ADMIN_EMAIL.to_string()), "{emails:?}");
    assert!(!list.to_string().contains("argon2"), "list leaks hashes");
    let user_path = format!("/api/v1/manage/users/{ed_id}");
    let (status, got) = send(app.req(Method::GET, &user_path)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(got["email"], "ed@example.com");
    let (status, body) = send(app.req(
        Method::GET,
        "/api/v1/manage/users/00000000-0000-0000-0000-000000000000",
    ))
    .await;
    assert_error(status, &body, 404, "not_found");

    // Without a role a user is an author.
    let plain = send(
        app.req(Method::POST, "/api/v1/manage/users")
            .json(&json!({"email": "plain@example.com", "password": USER_PASSWORD})),
    )
    .await;
    assert_eq!(plain.0, StatusCode::CREATED, "{}", plain.1);
    assert_eq!(plain.1["role"], "author");

    // The editor logs in and publishes.
    let (ed_access, ed_refresh) = session(&app, "ed@example.com", USER_PASSWORD).await;
    let (_, who) = me(&app, &ed_access).await;
    assert_eq!(who["role"], "editor");
    let entry = app
        .create_entry("article", json!({"title": "Role change"}))
        .await;
    let publish = format!(
        "/api/v1/manage/entries/article/{}/publish",
        str_of(&entry, "id")
    );
    let (status, body) = send(app.req_as(Some(&ed_access), Method::POST, &publish)).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // A role change applies to the tokens already handed out.
    let (status, body) = send(
        app.req(Method::PATCH, &user_path)
            .json(&json!({"role": "author"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "author");
    let (_, who) = me(&app, &ed_access).await;
    assert_eq!(who["role"], "author");
    let (status, body) = send(app.req_as(Some(&ed_access), Method::POST, &publish)).await;
    assert_error(status, &body, 403, "forbidden");

    // A password change: the old one stops working.
    let (status, body) = send(
        app.req(Method::PATCH, &user_path)
            .json(&json!({"password": "another-long-password"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = login_raw(&app, "ed@example.com", USER_PASSWORD).await;
    assert_error(status, &body, 401, "invalid_credentials");
    let (ed_access, ed_refresh2) = session(&app, "ed@example.com", "another-long-password").await;

    // Deactivation ends every session at once and blocks login.
    let (status, body) = send(
        app.req(Method::PATCH, &user_path)
            .json(&json!({"active": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["active"], false);
    assert_dead(&app, &ed_access, "a deactivated user's access token").await;
    assert_refresh_refused(&app, &ed_refresh, "a deactivated user's refresh token").await;
    assert_refresh_refused(&app, &ed_refresh2, "a deactivated user's refresh token").await;
    let (status, body) = login_raw(&app, "ed@example.com", "another-long-password").await;
    assert_error(status, &body, 401, "invalid_credentials");

    // Reactivation allows a new login but does not revive old sessions.
    let (status, body) = send(
        app.req(Method::PATCH, &user_path)
            .json(&json!({"active": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_dead(&app, &ed_access, "a session ended by deactivation").await;
    let (new_access, _) = session(&app, "ed@example.com", "another-long-password").await;
    let (status, _) = me(&app, &new_access).await;
    assert_eq!(status, StatusCode::OK);

    // An administrator cannot lock themselves out.
    let (_, admin) = me(&app, &app.token).await;
    let admin_path = format!("/api/v1/manage/users/{}", str_of(&admin, "id"));
    let (status, body) = send(
        app.req(Method::PATCH, &admin_path)
            .json(&json!({"active": false})),
    )
    .await;
    assert_error(status, &body, 409, "conflict");
    let (status, body) = send(app.req(Method::DELETE, &admin_path)).await;
    assert_error(status, &body, 409, "conflict");
    let (status, _) = me(&app, &app.token).await;
    assert_eq!(status, StatusCode::OK);

    // Delete: the user's token dies, the login is refused, the user is gone.
    let (status, body) = send(app.req(Method::DELETE, &user_path)).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_dead(&app, &new_access, "a deleted user's access token").await;
    let (status, body) = login_raw(&app, "ed@example.com", "another-long-password").await;
    assert_error(status, &body, 401, "invalid_credentials");
    let (status, body) = send(app.req(Method::GET, &user_path)).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = send(app.req(Method::DELETE, &user_path)).await;
    assert_error(status, &body, 404, "not_found");
    let (status, body) = send(
        app.req(Method::PATCH, &user_path)
            .json(&json!({"role": "editor"})),
    )
    .await;
    assert_error(status, &body, 404, "not_found");

    // The email is free again.
    create_user(&app, "ed@example.com", "reviewer").await;
}

async fn user_input_is_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let taken = create_user(&app, "taken@example.com", "author").await;
    let count =
        || async { items(&send(app.req(Method::GET, "/api/v1/manage/users")).await.1).len() };
    let before = count().await;

    for (body, field, code) in [
        (
            json!({"email": "short@example.com", "password": "123456789", "role": "author"}),
            "password",
            "weak_password",
        ),
        (
            json!({"email": "not-an-email", "password": USER_PASSWORD, "role": "author"}),
            "email",
            "invalid_email",
        ),
        (
            json!({"email": "role@example.com", "password": USER_PASSWORD, "role": "wizard"}),
            "role",
            "invalid_reference",
        ),
    ] {
        let (status, answer) =
            send(app.req(Method::POST, "/api/v1/manage/users").json(&body)).await;
        assert_error(status, &answer, 422, "validation_failed");
        assert_eq!(
            answer["error"]["details"]["fields"][0]["field"], field,
            "{answer}"
        );
        assert_eq!(
            answer["error"]["details"]["fields"][0]["code"], code,
            "{answer}"
        );
    }
    // Exactly twelve characters is enough.
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/users")
            .json(&json!({"email": "ten@example.com", "password": "tulip-quartz"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    // Duplicate email, whatever its case.
    for email in ["taken@example.com", "TAKEN@example.com"] {
        let (status, body) = send(
            app.req(Method::POST, "/api/v1/manage/users")
                .json(&json!({"email": email, "password": USER_PASSWORD})),
        )
        .await;
        assert_error(status, &body, 409, "already_exists");
    }

    // Bad changes.
    let path = format!("/api/v1/manage/users/{}", str_of(&taken, "id"));
    let (status, body) = send(
        app.req(Method::PATCH, &path)
            .json(&json!({"password": "short"})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    let (status, body) = send(
        app.req(Method::PATCH, &path)
            .json(&json!({"role": "wizard"})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    let (status, body) = send(
        app.req(Method::PATCH, &path)
            .json(&json!({"email": "new@example.com"})),
    )
    .await;
    assert_error(status, &body, 400, "invalid_body");
    // The weak password did not replace the real one, and the role is unchanged.
    let (status, _) = login_raw(&app, "taken@example.com", USER_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    let (_, got) = send(app.req(Method::GET, &path)).await;
    assert_eq!(got["role"], "author");

    assert_eq!(count().await, before + 1, "only the valid user was added");
}

async fn roles_can_be_created_inherited_and_deleted_but_built_ins_stay(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;
    let draft = app
        .create_entry("article", json!({"title": "Draft for translators"}))
        .await;
    let draft_id = str_of(&draft, "id").to_string();
    let published_id = published_article(&app, "Published for translators").await;

    // The built-in roles.
    let (status, list) = send(app.req(Method::GET, "/api/v1/manage/roles")).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    for name in ["admin", "editor", "author", "reviewer", "public"] {
        let role = items(&list)
            .into_iter()
            .find(|r| r["name"] == name)
            .unwrap_or_else(|| panic!("built-in role `{name}` missing: {list}"));
        assert_eq!(role["builtin"], true, "{role}");
    }

    // A role inheriting `reviewer` reads content, drafts included, and writes nothing.
    let (status, role) =
        send(app.req(Method::POST, "/api/v1/manage/roles").json(
            &json!({"name": "translator", "description": "Translates", "inherits": "reviewer"}),
        ))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{role}");
    assert_eq!(role["name"], "translator");
    assert_eq!(role["inherits"], "reviewer");
    assert_eq!(role["builtin"], false);
    let (_, list) = send(app.req(Method::GET, "/api/v1/manage/roles")).await;
    assert!(items(&list).iter().any(|r| r["name"] == "translator"));

    let (translator_id, translator) = app.user_token("tess@example.com", "translator").await;
    let draft_path = format!("/api/v1/manage/entries/article/{draft_id}");
    let (status, got) = send(app.req_as(Some(&translator), Method::GET, &draft_path)).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["fields"]["title"], "Draft for translators");
    let (status, got) = send(app.req_as(
        Some(&translator),
        Method::GET,
        &format!("/api/v1/content/article/{published_id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    let (status, body) = send(
        app.req_as(Some(&translator), Method::PATCH, &draft_path)
            .json(&json!({"fields": {"title": "Übersetzt"}})),
    )
    .await;
    assert_error(status, &body, 403, "forbidden");

    // Its own policy adds to what it inherits, immediately.
    app.grant("translator", "article", "update").await;
    let (status, body) = send(
        app.req_as(Some(&translator), Method::PATCH, &draft_path)
            .json(&json!({"fields": {"title": "Übersetzt"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["fields"]["title"], "Übersetzt");
    let (status, body) = send(app.req_as(
        Some(&translator),
        Method::POST,
        &format!("{draft_path}/publish"),
    ))
    .await;
    assert_error(status, &body, 403, "forbidden");

    // Bad roles.
    for (body, status_want, code) in [
        (json!({"name": "translator"}), 409, "already_exists"),
        (json!({"name": "admin"}), 409, "already_exists"),
        (json!({"name": "Bad Name"}), 422, "validation_failed"),
        (
            json!({"name": "orphan", "inherits": "nosuch"}),
            422,
            "validation_failed",
        ),
    ] {
        let (status, answer) =
            send(app.req(Method::POST, "/api/v1/manage/roles").json(&body)).await;
        assert_error(status, &answer, status_want, code);
    }
    let (_, list) = send(app.req(Method::GET, "/api/v1/manage/roles")).await;
    assert!(
        !items(&list).iter().any(|r| r["name"] == "orphan"),
        "{list}"
    );

    // Built-in roles cannot be deleted.
    for name in ["admin", "editor", "author", "reviewer", "public"] {
        let (status, body) =
            send(app.req(Method::DELETE, &format!("/api/v1/manage/roles/{name}"))).await;
        assert_error(status, &body, 409, "conflict");
    }
    // Neither can a role that is in use (by a user, or as a parent).
    let (status, body) = send(app.req(Method::DELETE, "/api/v1/manage/roles/translator")).await;
    assert_error(status, &body, 409, "conflict");
    let (status, _) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "junior_translator", "inherits": "translator"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/users/{translator_id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = send(app.req(Method::DELETE, "/api/v1/manage/roles/translator")).await;
    assert_error(status, &body, 409, "conflict");

    // An unused custom role goes.
    let (status, body) =
        send(app.req(Method::DELETE, "/api/v1/manage/roles/junior_translator")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = send(app.req(Method::DELETE, "/api/v1/manage/roles/translator")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, list) = send(app.req(Method::GET, "/api/v1/manage/roles")).await;
    assert!(
        !items(&list).iter().any(|r| r["name"] == "translator"),
        "{list}"
    );
    let (status, body) = send(app.req(Method::DELETE, "/api/v1/manage/roles/translator")).await;
    assert_error(status, &body, 404, "not_found");
    // A deleted role can no longer be given.
    let (status, body) = send(app.req(Method::POST, "/api/v1/manage/users").json(
        &json!({"email": "late@example.com", "password": USER_PASSWORD, "role": "translator"}),
    ))
    .await;
    assert_error(status, &body, 422, "validation_failed");
}

/// Deleting a role removes its policies: a later role of the same name starts with
/// nothing.
async fn a_deleted_role_leaves_no_rights_behind(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;
    let id = published_article(&app, "Old rights").await;

    let (status, _) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "temp"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let policy = app.grant("temp", "article", "read").await;
    let (status, body) = send(app.req(Method::DELETE, "/api/v1/manage/roles/temp")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (_, policies) = send(app.req(Method::GET, "/api/v1/manage/policies")).await;
    assert!(
        !items(&policies)
            .iter()
            .any(|p| p["id"] == policy["id"] || p["role"] == "temp"),
        "policies of a deleted role remain: {policies}"
    );

    let (status, _) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "temp"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, token) = app.user_token("tim@example.com", "temp").await;
    let (status, body) = send(app.req_as(
        Some(&token),
        Method::GET,
        &format!("/api/v1/content/article/{id}"),
    ))
    .await;
    assert_error(status, &body, 403, "forbidden");
}

/// `role_in_use` ignores revoked tokens, so a role whose only holder is a revoked token is
/// free to delete; deleting it must not fail on the revoked token's row.
async fn a_role_kept_only_by_revoked_tokens_can_be_deleted(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, _) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "ci_bot", "inherits": "reviewer"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let token = app.create_token("old bot", "ci_bot").await;
    let token_id = str_of(&token, "id").to_string();

    // While the token is live the role is in use.
    let (status, body) = send(app.req(Method::DELETE, "/api/v1/manage/roles/ci_bot")).await;
    assert_error(status, &body, 409, "conflict");

    let (status, _) =
        send(app.req(Method::DELETE, &format!("/api/v1/manage/tokens/{token_id}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(app.req(Method::DELETE, "/api/v1/manage/roles/ci_bot")).await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "a role held only by a revoked token should be deletable: {body}"
    );
    let (_, roles) = send(app.req(Method::GET, "/api/v1/manage/roles")).await;
    assert!(
        !items(&roles).iter().any(|r| r["name"] == "ci_bot"),
        "{roles}"
    );
    // The revoked token stays dead.
    assert_dead(
        &app,
        str_of(&token, "token"),
        "a revoked token of a deleted role",
    )
    .await;
}

async fn policies_grant_and_withdraw_rights_immediately(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;
    let id = published_article(&app, "Public soon").await;
    let one = format!("/api/v1/content/article/{id}");

    let (status, body) = send(app.req_as(None, Method::GET, &one)).await;
    assert_error(status, &body, 401, "unauthenticated");

    let (status, policy) = send(
        app.req(Method::POST, "/api/v1/manage/policies")
            .json(&json!({"role": "public", "resource": "article", "action": "read"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{policy}");
    assert_eq!(policy["role"], "public");
    assert_eq!(policy["resource"], "article");
    assert_eq!(policy["action"], "read");
    let policy_id = str_of(&policy, "id").to_string();

    let (status, got) = send(app.req_as(None, Method::GET, &one)).await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(got["fields"]["title"], "Public soon");
    let (status, list) = send(app.req_as(None, Method::GET, "/api/v1/content/article")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list["total"], 1);

    let (status, policies) = send(app.req(Method::GET, "/api/v1/manage/policies")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        items(&policies)
            .iter()
            .any(|p| p["id"] == policy_id.as_str()),
        "{policies}"
    );

    // The same grant twice.
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/policies")
            .json(&json!({"role": "public", "resource": "article", "action": "read"})),
    )
    .await;
    assert_error(status, &body, 409, "already_exists");

    // Withdrawn: anonymous callers are shut out again at once.
    let (status, body) = send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/policies/{policy_id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = send(app.req_as(None, Method::GET, &one)).await;
    assert_error(status, &body, 401, "unauthenticated");
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/content/article")).await;
    assert_error(status, &body, 401, "unauthenticated");
    let (_, policies) = send(app.req(Method::GET, "/api/v1/manage/policies")).await;
    assert!(
        !items(&policies)
            .iter()
            .any(|p| p["id"] == policy_id.as_str()),
        "{policies}"
    );
    let (status, body) = send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/policies/{policy_id}"),
    ))
    .await;
    assert_error(status, &body, 404, "not_found");

    // Rights on admin resources work the same way: reviewers may read the event log once
    // granted, and only then.
    let (_, reviewer) = app.user_token("rae@example.com", "reviewer").await;
    let (status, body) =
        send(app.req_as(Some(&reviewer), Method::GET, "/api/v1/manage/events")).await;
    assert_error(status, &body, 403, "forbidden");
    let audit = app.grant("reviewer", "audit", "read").await;
    let (status, body) =
        send(app.req_as(Some(&reviewer), Method::GET, "/api/v1/manage/events")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/policies/{}", str_of(&audit, "id")),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) =
        send(app.req_as(Some(&reviewer), Method::GET, "/api/v1/manage/events")).await;
    assert_error(status, &body, 403, "forbidden");

    // The log records the policy changes.
    let kinds: Vec<String> = app
        .events()
        .await
        .iter()
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .filter(|k| k.starts_with("policy."))
        .collect();
    assert_eq!(
        kinds,
        [
            "policy.created",
            "policy.deleted",
            "policy.created",
            "policy.deleted"
        ]
    );
}

async fn policy_input_is_validated(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, before) = send(app.req(Method::GET, "/api/v1/manage/policies")).await;
    let before = items(&before).len();

    for (body, field) in [
        (
            json!({"role": "public", "resource": "article", "action": "write"}),
            "action",
        ),
        (
            json!({"role": "nosuch", "resource": "article", "action": "read"}),
            "role",
        ),
        (
            json!({"role": "public", "resource": "Not A Type!", "action": "read"}),
            "resource",
        ),
        (
            json!({"role": "author", "resource": "article", "action": "update", "condition": "weekdays"}),
            "condition",
        ),
        (
            json!({"role": "public", "resource": "person", "action": "read", "fields": {"hide": ["salary"]}}),
            "fields",
        ),
    ] {
        let (status, answer) =
            send(app.req(Method::POST, "/api/v1/manage/policies").json(&body)).await;
        assert_error(status, &answer, 422, "validation_failed");
        let fields: Vec<&str> = answer["error"]["details"]["fields"]
            .as_array()
            .expect("field errors")
            .iter()
            .map(|f| f["field"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(fields, vec![field], "{answer}");
    }
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/policies")
            .json(&json!({"role": "public", "resource": "article"})),
    )
    .await;
    assert_error(status, &body, 400, "invalid_body");

    let (_, after) = send(app.req(Method::GET, "/api/v1/manage/policies")).await;
    assert_eq!(items(&after).len(), before, "a refused policy was stored");
}
