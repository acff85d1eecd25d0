//! Connections that hold the server without using it: silent or trickling clients are cut
//! off after the header-read timeout, idle kept-alive ones after the idle timeout, the
//! number served at once is bounded, and a request head must carry exactly one `Host`
//! and fit the size limit.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use tokio::io::AsyncWriteExt;

use super::{closed_within, connect, exchange, read_response};
use crate::both_backends;
use crate::helpers::*;

both_backends!(
    silent_and_trickling_clients_are_cut_off,
    kept_alive_connections_close_after_the_idle_timeout,
    connections_beyond_the_limit_are_refused,
    a_request_needs_exactly_one_host,
    request_heads_are_bounded
);

/// Generous: every timeout below is a second or a few.
const CLOSE_WITHIN: Duration = Duration::from_secs(20);
const HEALTHZ: &str = "GET /healthz HTTP/1.1\r\nHost: vellum.test\r\n\r\n";

async fn silent_and_trickling_clients_are_cut_off(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.header_read_timeout_secs = 1;
        s.idle_timeout_secs = 60;
    })
    .await;
    let mut silent = connect(&app).await;
    // Half a head, then one more header line every 200 ms, never the blank line: it keeps
    // sending, but does not finish its head within the timeout.
    let (mut slow_read, mut slow_write) = connect(&app).await.into_split();
    slow_write
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: vellum.test\r\n")
        .await
        .expect("half a head");
    let trickle = tokio::spawn(async move {
        for i in 0..200 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow_write
                .write_all(format!("x-pad-{i}: y\r\n").as_bytes())
                .await
                .is_err()
            {
                return true;
            }
        }
        false
    });
    assert!(
        closed_within(&mut silent, CLOSE_WITHIN).await,
        "a silent connection stayed open"
    );
    assert!(
        closed_within(&mut slow_read, CLOSE_WITHIN).await,
        "a trickling connection stayed open"
    );
    assert!(
        trickle.await.expect("trickle"),
        "the trickling client could write on"
    );
    // A prompt client is served as usual.
    let (status, _) = exchange(&app, HEALTHZ).await;
    assert_eq!(status, 200);
}

async fn kept_alive_connections_close_after_the_idle_timeout(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.header_read_timeout_secs = 1;
        s.idle_timeout_secs = 5;
    })
    .await;
    let mut conn = connect(&app).await;
    conn.write_all(HEALTHZ.as_bytes()).await.expect("send");
    assert_eq!(read_response(&mut conn).await.0, 200);
    // Waiting between requests longer than the header timeout (but within the idle
    // timeout) is fine: the header clock starts with the next request's first byte.
    tokio::time::sleep(Duration::from_secs(2)).await;
    conn.write_all(HEALTHZ.as_bytes())
        .await
        .expect("send again");
    assert_eq!(read_response(&mut conn).await.0, 200);
    assert!(
        closed_within(&mut conn, CLOSE_WITHIN).await,
        "an idle connection stayed open"
    );
}

async fn connections_beyond_the_limit_are_refused(backend: Backend) {
    let mut app = TestApp::spawn_with(backend, |s| {
        s.max_connections = 3;
        s.connection_queue_ms = 2000;
        s.header_read_timeout_secs = 30;
        s.idle_timeout_secs = 60;
    })
    .await;
    // Let go of the connection the harness logged in on.
    app.client = reqwest::Client::new();
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut conn = connect(&app).await;
        conn.write_all(HEALTHZ.as_bytes()).await.expect("send");
        assert_eq!(read_response(&mut conn).await.0, 200);
        held.push(conn);
    }
    // A fourth waits for a slot, gets none, and is told so.
    let (status, body) = exchange(
        &app,
        "GET /api/v1/content/article HTTP/1.1\r\nHost: vellum.test\r\n\r\n",
    )
    .await;
    let body: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
    assert_error(
        reqwest::StatusCode::from_u16(status).expect("status"),
        &body,
        503,
        "unavailable",
    );
    let (status, _) = send(app.req(Method::GET, "/healthz")).await;
    assert_eq!(status.as_u16(), 503);
    // A freed slot takes the next one in.
    drop(held.pop());
    let (status, _) = send(app.client.get(app.url("/healthz"))).await;
    assert_eq!(status.as_u16(), 200);
}

async fn a_request_needs_exactly_one_host(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (request, what) in [
        ("GET /healthz HTTP/1.1\r\n\r\n", "none"),
        ("GET /api/v1/content/article HTTP/1.1\r\n\r\n", "none"),
        (
            "GET /healthz HTTP/1.1\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
            "two",
        ),
        (
            "GET /healthz HTTP/1.1\r\nHost: a.test\r\nHost: a.test\r\n\r\n",
            "two",
        ),
        (
            "POST /api/v1/auth/login HTTP/1.1\r\nHost: a.test\r\nhost: b.test\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
            "two",
        ),
        ("GET /healthz HTTP/1.1\r\nHost: a b\r\n\r\n", "unreadable"),
        (
            "GET /healthz HTTP/1.0\r\nHost: a.test\r\nHost: b.test\r\n\r\n",
            "two",
        ),
    ] {
        let (status, body) = exchange(&app, request).await;
        let body: Value = serde_json::from_str(&body).unwrap_or(Value::String(body));
        assert_error(
            reqwest::StatusCode::from_u16(status).expect("status"),
            &body,
            400,
            "invalid_host",
        );
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("Host"), "{what}: {message}");
    }
    // HTTP/1.0 may leave it out; one is always fine.
    assert_eq!(exchange(&app, "GET /healthz HTTP/1.0\r\n\r\n").await.0, 200);
    assert_eq!(exchange(&app, HEALTHZ).await.0, 200);
}

async fn request_heads_are_bounded(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let long_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: vellum.test\r\nx-big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_eq!(exchange(&app, &long_header).await.0, 431);
    let long_path = format!(
        "GET /healthz?{} HTTP/1.1\r\nHost: vellum.test\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    assert_eq!(exchange(&app, &long_path).await.0, 431);
    let many: String = (0..200).map(|i| format!("x-h{i}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nHost: vellum.test\r\n{many}\r\n");
    assert_eq!(exchange(&app, &many).await.0, 431);
    // A head under the limit, with a real-sized token, is served.
    let ok = format!(
        "GET /healthz HTTP/1.1\r\nHost: vellum.test\r\nauthorization: Bearer {}\r\n\r\n",
        "t".repeat(2000)
    );
    assert_eq!(exchange(&app, &ok).await.0, 200);
}
