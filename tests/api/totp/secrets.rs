//! Secrets stay secret: over the whole life of a second factor, no TOTP secret, recovery
//! code, challenge, token or password reaches the events, the audit log or the log.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use super::*;
use crate::both_backends;
use crate::ops::serve;

both_backends!(secrets_never_reach_events_audit_or_logs);

/// The whole life of a second factor against the real binary logging at debug level:
/// no secret, recovery code, challenge or password appears in the events, the audit log
/// or the log, while each step is recorded in both.
async fn secrets_never_reach_events_audit_or_logs(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = test_database(backend).await;
    let mut envs = vec![
        ("VELLUM_ADMIN_EMAIL", ADMIN_EMAIL),
        ("VELLUM_ADMIN_PASSWORD", ADMIN_PASSWORD),
        ("VELLUM_LOG", "debug"),
    ];
    if let Some(url) = &db.url {
        envs.push(("VELLUM_DATABASE_URL", url));
    }
    let served = serve(dir.path(), &envs).await;
    let client = reqwest::Client::new();
    let call = |method: Method, path: &str, token: Option<&str>, body: Option<Value>| {
        let mut req = client.request(method, format!("{}{path}", served.url));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        send(req)
    };
    let login = |email: &'static str, password: &'static str| {
        call(
            Method::POST,
            "/api/v1/auth/login",
            None,
            Some(json!({"email": email, "password": password})),
        )
    };
    let (_, body) = login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let admin = access_token(&body);
    let (status, user) = call(
        Method::POST,
        "/api/v1/manage/users",
        Some(&admin),
        Some(json!({"email": "ed@example.com", "password": PASSWORD, "role": "author"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let (_, body) = login("ed@example.com", PASSWORD).await;
    let token = access_token(&body);

    let mut secrets: Vec<String> = vec![PASSWORD.into(), ADMIN_PASSWORD.into()];
    let mut codes_used: Vec<String> = Vec::new();
    for round in 0..2 {
        let (status, body) = call(
            Method::POST,
            "/api/v1/auth/totp/setup",
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let mut auth = Authenticator::new(body["secret"].as_str().expect("secret"));
        secrets.push(auth.secret.clone());
        secrets.push(body["otpauth_uri"].as_str().expect("uri").to_string());
        let code = auth.next_code().await;
        let (status, body) = call(
            Method::POST,
            "/api/v1/auth/totp/enable",
            Some(&token),
            Some(json!({"code": code})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        codes_used.push(code);
        let recovery: Vec<String> = body["recovery_codes"]
            .as_array()
            .expect("codes")
            .iter()
            .filter_map(|c| c.as_str().map(str::to_string))
            .collect();
        for c in &recovery {
            secrets.push(c.clone());
            secrets.push(c.replace('-', ""));
            secrets.push(c.replace('-', "").to_uppercase());
        }
        let (status, body) = login("ed@example.com", PASSWORD).await;
        assert_error(status, &body, 401, "totp_required");
        let challenge = body["error"]["details"]["challenge"]
            .as_str()
            .expect("challenge")
            .to_string();
        secrets.push(challenge.clone());
        let (status, body) = call(
            Method::POST,
            "/api/v1/auth/login/totp",
            None,
            Some(json!({"challenge": challenge, "recovery_code": recovery[0]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        secrets.push(access_token(&body));
        secrets.push(body["refresh_token"].as_str().expect("refresh").to_string());
        if round == 0 {
            let code = auth.next_code().await;
            let (status, body) = call(
                Method::POST,
                "/api/v1/auth/totp/disable",
                Some(&token),
                Some(json!({"password": PASSWORD, "code": code})),
            )
            .await;
            assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
            codes_used.push(code);
        }
    }
    let id = user["id"].as_str().expect("id");
    let (status, body) = call(
        Method::DELETE,
        &format!("/api/v1/manage/users/{id}/totp"),
        Some(&admin),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");

    let (_, events) = call(
        Method::GET,
        "/api/v1/manage/events?limit=1000",
        Some(&admin),
        None,
    )
    .await;
    let (_, audit) = call(
        Method::GET,
        "/api/v1/manage/audit?limit=200",
        Some(&admin),
        None,
    )
    .await;
    let log = served.log.lock().expect("log").join("\n");
    for action in [
        "auth.totp_setup",
        "auth.totp_enabled",
        "auth.recovery_code_used",
        "auth.totp_disabled",
        "auth.totp_reset",
    ] {
        let named = |v: &Value, key: &str| {
            v["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i[key] == action))
        };
        assert!(named(&events, "kind"), "no event {action}: {events}");
        assert!(named(&audit, "action"), "no audit record {action}: {audit}");
    }
    assert!(log.contains("\"status\":200"), "the log has the requests");
    let events = events.to_string();
    let audit = audit.to_string();
    for secret in &secrets {
        for (name, text) in [("events", &events), ("audit", &audit), ("log", &log)] {
            assert!(
                !text.contains(secret.as_str()),
                "{name} holds a secret ({secret})"
            );
        }
    }
    for code in &codes_used {
        let quoted = format!("\"{code}\"");
        for (name, text) in [("events", &events), ("audit", &audit), ("log", &log)] {
            assert!(!text.contains(&quoted), "{name} holds a code ({code})");
        }
    }
}
