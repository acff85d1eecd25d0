//! Live updates, `GET /api/v1/events` (issue 7): Server-Sent Events of the changes a
//! caller may see, within a second of a publish, resumable with `Last-Event-ID` without
//! a gap, ended when the credential is revoked, and a reader that stops reading is
//! dropped instead of buffered without bound.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    a_publish_arrives_within_a_second_and_resumes_without_gaps,
    the_stream_ends_when_the_credential_is_revoked,
    a_reader_that_stops_reading_is_dropped,
    live_refuses_bad_input
);

/// An SSE reader over a response body.
pub struct Sse {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buf: String,
}

/// One parsed event: (id, event, data).
pub type Frame = (String, String, Value);

impl Sse {
    async fn open(app: &TestApp, token: Option<&str>, last: Option<&str>) -> Sse {
        let mut req = app.req_as(token, Method::GET, "/api/v1/events");
        if let Some(id) = last {
            req = req.header("last-event-id", id);
        }
        Self::from(req).await
    }

    /// Opens the stream a prepared request asks for.
    pub async fn from(req: reqwest::RequestBuilder) -> Sse {
        let resp = req.send().await.expect("connect");
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            header_value(&resp, "content-type").as_deref(),
            Some("text/event-stream")
        );
        Sse {
            body: resp.bytes_stream().boxed(),
            buf: String::new(),
        }
    }

    /// The next event, or `None` when the stream ended; panics after `wait`.
    pub async fn next(&mut self, wait: Duration) -> Option<Frame> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (String::new(), String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim());
                    }
                }
                if data.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((id, event, serde_json::from_str(&data).expect("json data")));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, self.body.next()).await {
                Err(_) => panic!("no event within {wait:?}"),
                Ok(None) | Ok(Some(Err(_))) => return None,
                Ok(Some(Ok(chunk))) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
            }
        }
    }
}

async fn note_app(backend: Backend, tweak: impl FnOnce(&mut vellum::config::Settings)) -> TestApp {
    let app = TestApp::spawn_with(backend, tweak).await;
    for api in ["note", "memo"] {
        app.create_type(
            json!({"api_id": api, "name": api, "fields": [{"name": "title", "type": "text"}]}),
        )
        .await;
    }
    app.grant("public", "note", "read").await;
    app
}

async fn new_entry(app: &TestApp, t: &str, title: &str, publish: bool) -> String {
    let e = app.create_entry(t, json!({"title": title})).await;
    let id = e["id"].as_str().expect("id").to_string();
    if publish {
        app.publish(t, &id).await;
    }
    id
}

async fn a_publish_arrives_within_a_second_and_resumes_without_gaps(backend: Backend) {
    let app = note_app(backend, |_| {}).await;
    let mut sse = Sse::open(&app, None, None).await;
    // `memo` is not public: its publish never shows; the note's does, within a second.
    new_entry(&app, "memo", "hidden", true).await;
    let a = new_entry(&app, "note", "a", false).await;
    let published = Instant::now();
    app.publish("note", &a).await;
    let (id, event, data) = sse.next(Duration::from_secs(5)).await.expect("an event");
    assert!(
        published.elapsed() < Duration::from_secs(1),
        "took {:?}",
        published.elapsed()
    );
    assert_eq!(event, "entry.published");
    assert_eq!(data["id"], a.as_str());
    assert_eq!(data["type"], "note");
    assert_eq!(data["seq"].to_string(), id);
    drop(sse);

    // While away: two publishes, an unpublish, a draft edit (not an app's business).
    let b = new_entry(&app, "note", "b", true).await;
    let c = new_entry(&app, "note", "c", true).await;
    let (status, _) = send(app.req(
        Method::POST,
        &format!("/api/v1/manage/entries/note/{a}/unpublish"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = send(
        app.req(Method::PATCH, &format!("/api/v1/manage/entries/note/{b}"))
            .json(&json!({"fields": {"title": "b2"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut sse = Sse::open(&app, None, Some(&id)).await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let (_, event, data) = sse.next(Duration::from_secs(5)).await.expect("replayed");
        got.push((event, data["id"].as_str().unwrap_or_default().to_string()));
    }
    assert_eq!(
        got,
        [
            ("entry.published".to_string(), b.clone()),
            ("entry.published".to_string(), c.clone()),
            ("entry.unpublished".to_string(), a.clone()),
        ]
    );
    // And then live again.
    let d = new_entry(&app, "note", "d", true).await;
    let (_, _, data) = sse.next(Duration::from_secs(5)).await.expect("live");
    assert_eq!(data["id"], d.as_str());
}

async fn the_stream_ends_when_the_credential_is_revoked(backend: Backend) {
    let app = note_app(backend, |_| {}).await;
    let token = app.create_token("app", "public").await;
    let secret = token["token"].as_str().expect("secret").to_string();
    let id = token["id"].as_str().expect("id").to_string();
    let mut sse = Sse::open(&app, Some(&secret), None).await;
    let e = new_entry(&app, "note", "x", true).await;
    let (_, _, data) = sse.next(Duration::from_secs(5)).await.expect("event");
    assert_eq!(data["id"], e.as_str());
    let (status, body) =
        send(app.req(Method::DELETE, &format!("/api/v1/manage/tokens/{id}"))).await;
    assert!(status.is_success(), "{body}");
    // The revocation ends the stream (its event triggers a check); nothing more comes.
    new_entry(&app, "note", "after", true).await;
    assert!(
        sse.next(Duration::from_secs(5)).await.is_none(),
        "the stream goes on after its token was revoked"
    );
    let (status, _) = send(app.req_as(Some(&secret), Method::GET, "/api/v1/events")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

async fn a_reader_that_stops_reading_is_dropped(backend: Backend) {
    let app = note_app(backend, |s| {
        s.live_buffer = 4;
        s.rate_limit_anonymous = 0;
    })
    .await;
    // A client with a tiny receive window that never reads: the server's writes stall,
    // its stream falls behind the buffer, and the server lets go of it.
    let addr: std::net::SocketAddr = app
        .base
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(2048).expect("rcvbuf");
    let mut conn = socket.connect(addr).await.expect("connect");
    conn.write_all(
        format!("GET /api/v1/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n")
            .as_bytes(),
    )
    .await
    .expect("request");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // A burst of 20,000 publishes (about 4 MB of events, more than the kernel buffers
    // between the two ends hold), appended to the log in one statement as a busy
    // instance would over a while; one write through the API wakes the follower.
    let db = sea_orm::Database::connect(app.database_url())
        .await
        .expect("db");
    use sea_orm::ConnectionTrait;
    let burst = match backend {
        Backend::Sqlite => {
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000) \
            INSERT INTO events (kind, resource, content_type, entry_id, locale, version, actor, payload, created_at) \
            SELECT 'entry.published', 'entry', 'note', printf('00000000-0000-7000-8000-%012d', i), 'en', 1, 'system', '{\"status\":\"published\",\"owner\":null}', '2026-01-01T00:00:00.000000Z' FROM n"
        }
        Backend::Postgres => {
            "INSERT INTO events (kind, resource, content_type, entry_id, locale, version, actor, payload, created_at) \
            SELECT 'entry.published', 'entry', 'note', '00000000-0000-7000-8000-' || lpad(i::text, 12, '0'), 'en', 1, 'system', '{\"status\":\"published\",\"owner\":null}'::jsonb, now() FROM generate_series(1, 20000) AS i"
        }
    };
    db.execute_unprepared(burst).await.expect("burst");
    let _ = db.close().await;
    new_entry(&app, "note", "wake", true).await;
    // Now read what the server still sends: the response must have ended (the last
    // chunk of its chunked body) before all the events, because it was dropped.
    let mut all = Vec::new();
    let read = async {
        let mut buf = [0u8; 8192];
        loop {
            match conn.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
            if all.ends_with(b"\r\n0\r\n\r\n") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("the server ended the stream of a reader that fell behind");
    let text = String::from_utf8_lossy(&all);
    let events = text.matches("event: entry.published").count();
    assert!(
        events < 20_000,
        "all {events} events were kept for a reader that did not read"
    );
}

async fn live_refuses_bad_input(backend: Backend) {
    let app = note_app(backend, |_| {}).await;
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/events?type=nope")).await;
    assert_error(status, &body, 404, "content_type_not_found");
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/events?since=1")).await;
    assert_error(status, &body, 400, "unknown_parameter");
    let (status, body) = send(
        app.req_as(None, Method::GET, "/api/v1/events")
            .header("last-event-id", "yesterday"),
    )
    .await;
    assert_error(status, &body, 400, "invalid_parameter");
    // Only memo, which anonymous callers may not read: nothing to follow.
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/events?type=memo")).await;
    assert_error(status, &body, 401, "unauthenticated");
}
