//! Operations: the real binary as the README starts it (first admin from the environment,
//! a log line saying where to go), health endpoints, request ids, no secrets in logs,
//! graceful shutdown on SIGTERM, and the CLI (`user create`, `migrate --dry-run`).

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::both_backends;
use crate::helpers::*;

pub const BIN: &str = env!("CARGO_BIN_EXE_vellum");

both_backends!(health_and_request_ids);

async fn health_and_request_ids(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(resp.status(), StatusCode::OK);
    let generated = header_value(&resp, "x-request-id").expect("id");
    assert!(generated.len() >= 16, "{generated}");
    let (status, body) = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["database"], "ok");
    let resp = app
        .req(Method::GET, "/api/v1/auth/me")
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .expect("me");
    assert_eq!(
        resp.headers()["x-request-id"],
        "trace-me-123",
        "a sane incoming id is kept"
    );
    let resp = app
        .req(Method::GET, "/api/v1/auth/me")
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .expect("me");
    assert_ne!(resp.headers()["x-request-id"], "bad id with spaces");
    // Errors carry one too.
    let resp = app
        .client
        .get(app.url("/api/v1/nowhere"))
        .send()
        .await
        .expect("404");
    assert!(resp.headers().get("x-request-id").is_some());
}

/// Runs `vellum serve` and collects its (JSON) log lines.
pub struct Served {
    pub child: tokio::process::Child,
    pub url: String,
    pub log: Arc<Mutex<Vec<String>>>,
}

pub async fn serve(data_dir: &std::path::Path, envs: &[(&str, &str)]) -> Served {
    let mut cmd = Command::new(BIN);
    cmd.arg("serve")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("VELLUM_LISTEN", "127.0.0.1:0")
        .env("VELLUM_DATA_DIR", data_dir)
        .env("VELLUM_LOG_FORMAT", "json")
        .current_dir(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().expect("vellum starts");
    let stderr = child.stderr.take().expect("stderr");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let sink = log.clone();
    tokio::spawn(async move {
        let mut tx = Some(tx);
        let mut lines = BufReader::new(stderr).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            if let Ok(v) = serde_json::from_str::<Value>(&line)
                && v["message"] == "Vellum is ready"
                && let (Some(tx), Some(url)) = (tx.take(), v["url"].as_str())
            {
                let _ = tx.send(url.to_string());
            }
            sink.lock().expect("log").push(line);
        }
    });
    let url = match tokio::time::timeout(Duration::from_secs(30), rx).await {
        Ok(Ok(url)) => url,
        _ => panic!(
            "vellum did not report ready (process: {:?}); its log:\n{}",
            child.try_wait(),
            log.lock().expect("log").join("\n")
        ),
    };
    Served { child, url, log }
}

#[tokio::test]
async fn quick_start_binary_serves_logs_safely_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().expect("tmp");
    let password = "quick-start-passphrase";
    let mut served = serve(
        dir.path(),
        &[
            ("VELLUM_ADMIN_EMAIL", "boss@example.com"),
            ("VELLUM_ADMIN_PASSWORD", password),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    assert!(
        dir.path().join("vellum.db").exists(),
        "SQLite lives in the data directory"
    );

    let (status, body) = send(
        client
            .post(format!("{}/api/v1/auth/login", served.url))
            .json(&json!({"email": "boss@example.com", "password": password})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().expect("token").to_string();
    let refresh = body["refresh_token"].as_str().expect("refresh").to_string();
    let (status, me) = send(
        client
            .get(format!("{}/api/v1/auth/me", served.url))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["role"], "admin");
    let (status, _) = send(
        client
            .get(format!("{}/api/v1/auth/me", served.url))
            .bearer_auth("not-a-token"),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // SIGTERM: a clean exit.
    let pid = served.child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(20), served.child.wait())
        .await
        .expect("exits within 20 s")
        .expect("status");
    assert!(status.success(), "graceful exit, got {status}");

    let log = served.log.lock().expect("log").join("\n");
    assert!(
        log.contains("log in with POST"),
        "the log says where to go:\n{log}"
    );
    assert!(
        log.contains("shutdown requested") && log.contains("\"stopped\""),
        "{log}"
    );
    for secret in [password, token.as_str(), refresh.as_str()] {
        assert!(!log.contains(secret), "a secret reached the log");
    }
    let request_lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request")
        .collect();
    assert!(
        request_lines.len() >= 3,
        "one access line per request:\n{log}"
    );
    for line in &request_lines {
        assert!(
            line["span"]["request_id"].is_string(),
            "access lines carry the request id: {line}"
        );
    }
}

#[tokio::test]
async fn cli_creates_users_and_reports_migrations() {
    let dir = tempfile::tempdir().expect("tmp");
    let run = |args: &[&str], password: &str| {
        std::process::Command::new(BIN)
            .args(args)
            .env("VELLUM_DATA_DIR", dir.path())
            .env("VELLUM_NEW_PASSWORD", password)
            .env("VELLUM_LOG", "warn")
            .current_dir(dir.path())
            .output()
            .expect("vellum runs")
    };
    let out = run(&["migrate", "--dry-run"], "");
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("pending migrations"),
        "a fresh database has pending migrations"
    );
    // A log that goes to a pipe (or a file) is plain text: no colour codes.
    let out = std::process::Command::new(BIN)
        .arg("migrate")
        .env("VELLUM_DATA_DIR", dir.path())
        .env("VELLUM_LOG", "info")
        .env_remove("NO_COLOR")
        .env_remove("VELLUM_LOG_FORMAT")
        .current_dir(dir.path())
        .output()
        .expect("vellum runs");
    assert!(out.status.success());
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("INFO"), "migrate logs what it does: {log}");
    assert!(
        !log.contains('\u{1b}'),
        "colour codes in a piped log: {log:?}"
    );
    let out = run(&["migrate", "--dry-run"], "");
    assert!(String::from_utf8_lossy(&out.stdout).contains("up to date"));

    let out = run(
        &["user", "create", "--email", "Root@Example.com", "--admin"],
        "cli-made-passphrase",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("root@example.com"));
    let out = run(&["user", "create", "--email", "weak@example.com"], "short");
    assert!(!out.status.success(), "a weak password is refused");
    assert!(String::from_utf8_lossy(&out.stderr).contains("12 to 256"));
    let out = run(
        &["user", "create", "--email", "root@example.com", "--admin"],
        "another-passphrase",
    );
    assert!(!out.status.success(), "a duplicate email is refused");

    // The server on that data directory knows the user; no environment admin needed.
    let served = serve(dir.path(), &[]).await;
    let (status, body) = send(
        reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", served.url))
            .json(&json!({"email": "root@example.com", "password": "cli-made-passphrase"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user"]["role"], "admin");
}

both_backends!(browsers_may_call_the_api);

async fn browsers_may_call_the_api(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/content/article"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", "authorization")
        .send()
        .await
        .expect("preflight");
    assert!(
        resp.status().is_success(),
        "preflight answered {}",
        resp.status()
    );
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    let resp = app
        .req(Method::GET, "/api/v1/auth/me")
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("get");
    let exposed = header_value(&resp, "access-control-expose-headers")
        .unwrap_or_default()
        .to_lowercase();
    assert!(
        exposed.contains("etag") && exposed.contains("x-request-id"),
        "{exposed}"
    );

    let strict = TestApp::spawn_with(backend, |s| {
        s.cors_origins = vec!["https://good.example".into()]
    })
    .await;
    let resp = strict
        .req(Method::GET, "/api/v1/auth/me")
        .header("origin", "https://evil.example")
        .send()
        .await
        .expect("get");
    assert!(
        resp.headers().get("access-control-allow-origin").is_none(),
        "an unlisted origin gets no CORS grant"
    );
}
