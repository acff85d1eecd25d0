//! Two-factor login with TOTP (RFC 6238: SHA-1, 6 digits, 30 s steps): enrolment,
//! login in two steps, one use per code, recovery codes, disabling, the administrator's
//! reset, roles that require it, and what never leaks. Codes are computed here from the
//! secret with an implementation written from the RFC, independent of the server's.

mod enrol;
mod manage;
mod secrets;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::helpers::*;

/// The password `TestApp::user_token` gives its users.
pub const PASSWORD: &str = "a-long-enough-password";

/// RFC 6238 §4 / RFC 4226 §5.3: HMAC-SHA-1 of the step, dynamic truncation, 6 digits.
pub fn totp_at(secret_b32: &str, step: u64) -> String {
    let key = data_encoding::BASE32_NOPAD
        .decode(secret_b32.as_bytes())
        .expect("the secret is unpadded base32");
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, &key);
    let tag = ring::hmac::sign(&key, &step.to_be_bytes());
    let h = tag.as_ref();
    let offset = usize::from(h[19] & 0x0f);
    let binary = u32::from_be_bytes([
        h[offset] & 0x7f,
        h[offset + 1],
        h[offset + 2],
        h[offset + 3],
    ]);
    format!("{:06}", binary % 1_000_000)
}

pub fn now_step() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        / 30
}

/// An authenticator app: the secret, and the last step it handed out a code for.
pub struct Authenticator {
    pub secret: String,
    last: Option<u64>,
}

impl Authenticator {
    pub fn new(secret: &str) -> Authenticator {
        Authenticator {
            secret: secret.to_string(),
            last: None,
        }
    }

    /// A code for a step after every code handed out so far, which the server accepts
    /// even if a step boundary passes before it checks: the current step or the next
    /// (both within ±1 of the server's step then). Waits for the clock when both are
    /// used up.
    pub async fn next_code(&mut self) -> String {
        loop {
            let now = now_step();
            let step = self.last.map_or(now, |last| (last + 1).max(now));
            if step <= now + 1 {
                self.last = Some(step);
                return totp_at(&self.secret, step);
            }
            let into_step = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .expect("clock")
                .as_millis()
                % 30_000;
            tokio::time::sleep(Duration::from_millis(30_100 - into_step as u64)).await;
        }
    }

    /// A well-formed code that no step near now has.
    pub fn wrong_code(&self) -> String {
        let now = now_step();
        let near: Vec<String> = (now - 3..=now + 3)
            .map(|s| totp_at(&self.secret, s))
            .collect();
        (0..)
            .map(|n: u32| format!("{:06}", (n * 7919 + 13) % 1_000_000))
            .find(|c| !near.contains(c))
            .expect("a wrong code")
    }
}

/// A POST with a bearer token (`None`: anonymous) and a JSON body.
pub async fn post(
    app: &TestApp,
    token: Option<&str>,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    send(app.req_as(token, Method::POST, path).json(&body)).await
}

pub async fn me(app: &TestApp, token: &str) -> (StatusCode, Value) {
    send(app.req_as(Some(token), Method::GET, "/api/v1/auth/me")).await
}

/// Starts enrolment with the password; returns the authenticator for the new secret.
pub async fn setup(app: &TestApp, token: &str) -> Authenticator {
    let (status, body) = post(
        app,
        Some(token),
        "/api/v1/auth/totp/setup",
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "setup: {body}");
    Authenticator::new(body["secret"].as_str().expect("secret"))
}

/// Confirms enrolment with a code; returns the recovery codes.
pub async fn enable(app: &TestApp, token: &str, auth: &mut Authenticator) -> Vec<String> {
    let code = auth.next_code().await;
    let (status, body) = post(
        app,
        Some(token),
        "/api/v1/auth/totp/enable",
        json!({"code": code}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "enable: {body}");
    body["recovery_codes"]
        .as_array()
        .expect("recovery codes")
        .iter()
        .map(|c| c.as_str().expect("code").to_string())
        .collect()
}

/// A user of `role` with TOTP on: (id, access token, authenticator, recovery codes).
pub async fn enrolled_user(
    app: &TestApp,
    email: &str,
    role: &str,
) -> (String, String, Authenticator, Vec<String>) {
    let (id, token) = app.user_token(email, role).await;
    let mut auth = setup(app, &token).await;
    let codes = enable(app, &token, &mut auth).await;
    (id, token, auth, codes)
}

pub async fn password_login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value) {
    post(
        app,
        None,
        "/api/v1/auth/login",
        json!({"email": email, "password": password}),
    )
    .await
}

/// The first step of a two-factor login: the right password gets `totp_required` and a
/// challenge.
pub async fn challenge(app: &TestApp, email: &str) -> String {
    let (status, body) = password_login(app, email, PASSWORD).await;
    assert_error(status, &body, 401, "totp_required");
    assert!(body.get("access_token").is_none(), "{body}");
    body["error"]["details"]["challenge"]
        .as_str()
        .expect("challenge")
        .to_string()
}

/// The second step: `POST /auth/login/totp`.
pub async fn second_factor(app: &TestApp, body: Value) -> (StatusCode, Value) {
    post(app, None, "/api/v1/auth/login/totp", body).await
}

pub fn access_token(body: &Value) -> String {
    body["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no access token in {body}"))
        .to_string()
}

/// The audit records with `action`, newest first.
pub async fn audit_of(app: &TestApp, action: &str) -> Vec<Value> {
    let (status, body) = send(app.req(
        Method::GET,
        &format!("/api/v1/manage/audit?action={action}&limit=200"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"].as_array().cloned().unwrap_or_default()
}

#[test]
fn the_test_implementation_matches_the_rfc_6238_vectors() {
    // RFC 6238 Appendix B, SHA-1 (8-digit codes; 6 digits are their last six).
    let secret = data_encoding::BASE32_NOPAD.encode(b"12345678901234567890");
    for (time, code) in [
        (59u64, "94287082"),
        (1_111_111_109, "07081804"),
        (1_111_111_111, "14050471"),
        (1_234_567_890, "89005924"),
        (2_000_000_000, "69279037"),
        (20_000_000_000, "65353130"),
    ] {
        assert_eq!(totp_at(&secret, time / 30), code[2..], "T = {time}");
    }
}
