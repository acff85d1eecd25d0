//! A user's own side: enrolment, the two-step login, one use per code, the lockout,
//! recovery codes, and disabling.

use reqwest::{Method, StatusCode};
use serde_json::json;

use super::*;
use crate::both_backends;

both_backends!(
    enrolment_then_login_with_a_computed_code,
    a_code_is_accepted_once,
    wrong_codes_count_toward_the_lockout_like_wrong_passwords,
    recovery_codes_work_once_each,
    disabling_needs_the_password_and_a_code,
);

async fn enrolment_then_login_with_a_computed_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token) = app.user_token("ed@example.com", "author").await;
    // Another session from before enrolment: turning TOTP on ends it.
    let other = access_token(&app.login("ed@example.com", PASSWORD).await);
    let (status, body) = me(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["totp_enabled"], false, "{body}");
    assert_eq!(body["totp_required"], false, "{body}");

    // Setup needs the current password.
    let setup_path = "/api/v1/auth/totp/setup";
    let (status, body) = post(
        &app,
        Some(&token),
        setup_path,
        json!({"password": "not-the-password"}),
    )
    .await;
    assert_error(status, &body, 401, "invalid_credentials");
    let (status, body) = post(&app, None, setup_path, json!({"password": PASSWORD})).await;
    assert_error(status, &body, 401, "unauthenticated");
    let (status, body) = post(
        &app,
        Some(&token),
        setup_path,
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let secret = body["secret"].as_str().expect("secret").to_string();
    let key = data_encoding::BASE32_NOPAD
        .decode(secret.as_bytes())
        .expect("base32");
    assert_eq!(key.len(), 20, "160-bit secret (RFC 4226 §4)");
    let uri = body["otpauth_uri"].as_str().expect("uri");
    let (head, query) = uri.split_once('?').expect("query");
    assert_eq!(
        head, "otpauth://totp/ed%40example.com",
        "label = email: {uri}"
    );
    let mut params: Vec<&str> = query.split('&').collect();
    params.sort_unstable();
    let want_secret = format!("secret={secret}");
    assert_eq!(
        params,
        [
            "algorithm=SHA1",
            "digits=6",
            "issuer=Vellum",
            "period=30",
            want_secret.as_str()
        ],
        "{uri}"
    );
    let mut auth = Authenticator::new(&secret);

    // Not active yet: the password alone still logs in.
    app.login("ed@example.com", PASSWORD).await;

    // Enabling needs a code of the new secret; it answers the recovery codes once.
    let enable_path = "/api/v1/auth/totp/enable";
    let (status, body) = post(
        &app,
        Some(&token),
        enable_path,
        json!({"code": auth.wrong_code()}),
    )
    .await;
    assert_error(status, &body, 401, "invalid_totp_code");
    let code = auth.next_code().await;
    let resp = app
        .req_as(Some(&token), Method::POST, enable_path)
        .json(&json!({"code": code}))
        .send()
        .await
        .expect("enable");
    assert_eq!(
        header_value(&resp, "cache-control").as_deref(),
        Some("no-store")
    );
    let (status, body) = read(resp).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let codes: Vec<&str> = body["recovery_codes"]
        .as_array()
        .expect("codes")
        .iter()
        .filter_map(|c| c.as_str())
        .collect();
    assert_eq!(codes.len(), 10, "{body}");
    let shape = regex::Regex::new("^[a-z2-7]{4}(-[a-z2-7]{4}){3}$").expect("regex");
    assert!(codes.iter().all(|c| shape.is_match(c)), "{codes:?}");
    let mut distinct = codes.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert_eq!(distinct.len(), 10, "{codes:?}");

    // Once on, setup refuses until it is disabled, and `me` says so.
    let (status, body) = post(
        &app,
        Some(&token),
        setup_path,
        json!({"password": PASSWORD}),
    )
    .await;
    assert_error(status, &body, 409, "conflict");
    let (_, body) = me(&app, &token).await;
    assert_eq!(body["totp_enabled"], true, "{body}");
    // The session that enabled it lives on; the other one ended.
    let (status, body) = me(&app, &other).await;
    assert_error(status, &body, 401, "invalid_token");

    // Login: the right password gets `totp_required` with a challenge, not a token.
    let (status, body) = password_login(&app, "ed@example.com", PASSWORD).await;
    assert_error(status, &body, 401, "totp_required");
    assert_eq!(body["error"]["details"]["expires_in"], 300, "{body}");
    let challenge = body["error"]["details"]["challenge"]
        .as_str()
        .expect("challenge")
        .to_string();
    // The challenge is no access token.
    let (status, body) = me(&app, &challenge).await;
    assert_error(status, &body, 401, "invalid_token");
    // A wrong password is still the one uniform answer.
    let (status, body) = password_login(&app, "ed@example.com", "not-the-password").await;
    assert_error(status, &body, 401, "invalid_credentials");

    let code = auth.next_code().await;
    let (status, body) = second_factor(&app, json!({"challenge": challenge, "code": code})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user"]["email"], "ed@example.com");
    assert!(body["refresh_token"].is_string(), "{body}");
    let (status, body) = me(&app, &access_token(&body)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["email"], "ed@example.com");

    let logins = audit_of(&app, "auth.login").await;
    assert_eq!(logins[0]["details"]["factor"], "totp", "{logins:?}");
}

async fn a_code_is_accepted_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, _, mut auth, _) = enrolled_user(&app, "ed@example.com", "author").await;
    // The code that enabled TOTP cannot log in: its step is used.
    let used = super::totp_at(&auth.secret, now_step());
    let challenge = challenge(&app, "ed@example.com").await;
    let (status, body) = second_factor(&app, json!({"challenge": challenge, "code": used})).await;
    assert_error(status, &body, 401, "invalid_totp_code");

    // A wrong code does not spend the challenge; a fresh code completes it.
    let code = auth.next_code().await;
    let (status, body) = second_factor(&app, json!({"challenge": challenge, "code": code})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // The same code again, with a new challenge: refused.
    let again = super::challenge(&app, "ed@example.com").await;
    let (status, body) = second_factor(&app, json!({"challenge": again, "code": code})).await;
    assert_error(status, &body, 401, "invalid_totp_code");
}

async fn wrong_codes_count_toward_the_lockout_like_wrong_passwords(backend: Backend) {
    let app =
        TestApp::spawn_configured(backend, json!({"login_max_failures_per_account": 4})).await;
    let (_, _, mut auth, codes) = enrolled_user(&app, "ed@example.com", "author").await;

    // A success clears the count: the password step and two wrong codes (3 of 4), then a
    // recovery code logs in; the same again would be 7 without the reset.
    for recovery in &codes[..2] {
        let challenge = challenge(&app, "ed@example.com").await;
        for _ in 0..2 {
            let (status, body) = second_factor(
                &app,
                json!({"challenge": challenge, "code": auth.wrong_code()}),
            )
            .await;
            assert_error(status, &body, 401, "invalid_totp_code");
        }
        let (status, body) = second_factor(
            &app,
            json!({"challenge": challenge, "recovery_code": recovery}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // The password step counts until the second factor passes (1), three wrong codes
    // reach the limit; then even the right code is refused, and so is the password.
    let challenge = challenge(&app, "ed@example.com").await;
    for _ in 0..3 {
        let (status, body) = second_factor(
            &app,
            json!({"challenge": challenge, "code": auth.wrong_code()}),
        )
        .await;
        assert_error(status, &body, 401, "invalid_totp_code");
    }
    let code = auth.next_code().await;
    let resp = app
        .client
        .post(app.url("/api/v1/auth/login/totp"))
        .json(&json!({"challenge": challenge, "code": code}))
        .send()
        .await
        .expect("second factor");
    let retry_after = header_value(&resp, "retry-after");
    let (status, body) = read(resp).await;
    assert_error(status, &body, 429, "rate_limited");
    assert!(
        retry_after.is_some_and(|s| s.parse::<u64>().is_ok_and(|n| n > 0)),
        "{body}"
    );
    let (status, body) = password_login(&app, "ed@example.com", PASSWORD).await;
    assert_error(status, &body, 429, "rate_limited");

    let failed = audit_of(&app, "auth.login_failed").await;
    let by_code = failed
        .iter()
        .filter(|r| r["details"]["factor"] == "totp")
        .count();
    assert_eq!(by_code, 7, "{failed:?}");
}

async fn recovery_codes_work_once_each(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (id, _, _, codes) = enrolled_user(&app, "ed@example.com", "author").await;
    let challenge = challenge(&app, "ed@example.com").await;
    let (status, body) = second_factor(
        &app,
        json!({"challenge": challenge, "recovery_code": codes[0]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Used up: refused with a new challenge, which survives to take another code, as
    // typed by a person (capitals, no dashes).
    let challenge = super::challenge(&app, "ed@example.com").await;
    let (status, body) = second_factor(
        &app,
        json!({"challenge": challenge, "recovery_code": codes[0]}),
    )
    .await;
    assert_error(status, &body, 401, "invalid_totp_code");
    let typed = codes[1].replace('-', "").to_uppercase();
    let (status, body) = second_factor(
        &app,
        json!({"challenge": challenge, "recovery_code": typed}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let used: Vec<_> = app
        .events()
        .await
        .into_iter()
        .filter(|e| e["kind"] == "auth.recovery_code_used")
        .collect();
    assert_eq!(used.len(), 2, "{used:?}");
    assert_eq!(used[0]["payload"]["id"], id.as_str());
    assert_eq!(used[0]["payload"]["recovery_codes_left"], 9);
    assert_eq!(used[1]["payload"]["recovery_codes_left"], 8);
    let logins = audit_of(&app, "auth.login").await;
    assert_eq!(
        logins[0]["details"]["factor"], "recovery_code",
        "{logins:?}"
    );
    assert_eq!(audit_of(&app, "auth.recovery_code_used").await.len(), 2);
}

async fn disabling_needs_the_password_and_a_code(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, token, mut auth, codes) = enrolled_user(&app, "ed@example.com", "author").await;
    let path = "/api/v1/auth/totp/disable";
    let code = auth.next_code().await;
    // The password is checked first: this code is not used up by the refusal.
    let (status, body) = post(
        &app,
        Some(&token),
        path,
        json!({"password": "not-the-password", "code": code}),
    )
    .await;
    assert_error(status, &body, 401, "invalid_credentials");
    let (status, body) = post(
        &app,
        Some(&token),
        path,
        json!({"password": PASSWORD, "code": auth.wrong_code()}),
    )
    .await;
    assert_error(status, &body, 401, "invalid_totp_code");
    let (status, body) = post(
        &app,
        Some(&token),
        path,
        json!({"password": PASSWORD, "recovery_code": "aaaa-aaaa-aaaa-aaaa"}),
    )
    .await;
    assert_error(status, &body, 401, "invalid_totp_code");
    let (status, body) = post(&app, Some(&token), path, json!({"password": PASSWORD})).await;
    assert_error(status, &body, 422, "validation_failed");
    let (status, body) = post(
        &app,
        Some(&token),
        path,
        json!({"password": PASSWORD, "code": code}),
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (_, body) = me(&app, &token).await;
    assert_eq!(body["totp_enabled"], false, "{body}");
    app.login("ed@example.com", PASSWORD).await;
    let (status, body) = post(
        &app,
        Some(&token),
        path,
        json!({"password": PASSWORD, "code": code}),
    )
    .await;
    assert_error(status, &body, 409, "conflict");
    // The old recovery codes went with it: enrolling again gives new ones.
    let mut auth = setup(&app, &token).await;
    let fresh = enable(&app, &token, &mut auth).await;
    assert!(fresh.iter().all(|c| !codes.contains(c)));
    let (status, body) = post(
        &app,
        Some(&token),
        path,
        json!({"password": PASSWORD, "recovery_code": fresh[3]}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "a recovery code may stand in for the code: {body}"
    );
    let kinds: Vec<_> = app
        .events()
        .await
        .into_iter()
        .filter_map(|e| e["kind"].as_str().map(str::to_string))
        .filter(|k| k.starts_with("auth.totp"))
        .collect();
    assert_eq!(
        kinds,
        [
            "auth.totp_setup",
            "auth.totp_enabled",
            "auth.totp_disabled",
            "auth.totp_setup",
            "auth.totp_enabled",
            "auth.totp_disabled"
        ],
    );
}
