//! `GET /api/v1/sync` (issue 7): an offline copy that, page after page, ends equal to
//! what the server shows the caller, whatever happens in between: creates, edits,
//! publishes, unpublishes, deletes, grants revoked and given back, fields made private.
//! Checked against the delivery lists after random sequences of changes (many seeds),
//! plus tombstones that never name what the caller could not see, and bad input.

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    sync_pages_then_deltas_with_tombstones,
    a_replica_converges_under_random_changes,
    an_expired_cursor_is_gone,
    sync_refuses_bad_input
);

/// An offline copy: id → entry, as a client keeps it.
#[derive(Default)]
struct Replica {
    entries: BTreeMap<String, Value>,
    cursor: Option<String>,
}

impl Replica {
    /// Pulls until the server says the copy is current; returns the items applied.
    async fn pull(&mut self, app: &TestApp, token: Option<&str>, query: &str) -> Vec<Value> {
        let mut applied = Vec::new();
        for _ in 0..1000 {
            let mut path = format!("/api/v1/sync?limit=7{query}");
            if let Some(c) = &self.cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, body) = send(app.req_as(token, Method::GET, &path)).await;
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            for item in body["items"].as_array().expect("items") {
                match item["op"].as_str() {
                    Some("upsert") => {
                        let id = item["entry"]["id"].as_str().expect("id").to_string();
                        self.entries.insert(id, item["entry"].clone());
                    }
                    Some("delete") => {
                        assert!(item["type"].is_string(), "{item}");
                        self.entries.remove(item["id"].as_str().expect("id"));
                    }
                    _ => panic!("unknown op: {item}"),
                }
                applied.push(item.clone());
            }
            self.cursor = Some(body["next_cursor"].as_str().expect("cursor").to_string());
            if body["has_more"] == false {
                return applied;
            }
        }
        panic!("sync never caught up");
    }
}

/// What delivery shows the caller of these types, by id.
async fn truth(app: &TestApp, token: Option<&str>, types: &[&str]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for t in types {
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/content/{t}?limit=100");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={c}"));
            }
            let (status, body) = send(app.req_as(token, Method::GET, &path)).await;
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                break;
            }
            assert_eq!(status, StatusCode::OK, "{path}: {body}");
            for e in body["items"].as_array().expect("items") {
                out.insert(e["id"].as_str().expect("id").to_string(), e.clone());
            }
            match body["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_string()),
                None => break,
            }
        }
    }
    out
}

fn note_type(private_body: bool) -> Value {
    json!({"api_id": "note", "name": "Note", "fields": [
        {"name": "title", "type": "text"},
        {"name": "body", "type": "text", "private": private_body}]})
}

async fn sync_pages_then_deltas_with_tombstones(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(note_type(false)).await;
    app.grant("public", "note", "read").await;
    let id = |v: Value| v["id"].as_str().expect("id").to_string();
    let mut live = Vec::new();
    for i in 0..10 {
        let e = id(app
            .create_entry("note", json!({"title": format!("n{i}")}))
            .await);
        app.publish("note", &e).await;
        live.push(e);
    }
    let draft = id(app.create_entry("note", json!({"title": "draft"})).await);
    let mut replica = Replica::default();
    let first = replica.pull(&app, None, "").await;
    assert_eq!(first.len(), 10, "ten published, the draft not: {first:?}");
    assert_eq!(replica.entries, truth(&app, None, &["note"]).await);

    // Nothing changed: nothing comes.
    assert!(replica.pull(&app, None, "").await.is_empty());
    // A draft edit of a live entry is not a change for apps; its publish is.
    let (status, body) = send(
        app.req(
            Method::PATCH,
            &format!("/api/v1/manage/entries/note/{}", live[0]),
        )
        .json(&json!({"fields": {"title": "edited"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(replica.pull(&app, None, "").await.is_empty());
    app.publish("note", &live[0]).await;
    let got = replica.pull(&app, None, "").await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["entry"]["fields"]["title"], "edited");

    // Unpublish and delete: tombstones. Deleting the draft: none (the app never had it).
    let (status, _) = send(app.req(
        Method::POST,
        &format!("/api/v1/manage/entries/note/{}/unpublish", live[1]),
    ))
    .await;
    assert_eq!(status, StatusCode::OK);
    for e in [&live[2], &draft] {
        let (status, _) =
            send(app.req(Method::DELETE, &format!("/api/v1/manage/entries/note/{e}"))).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
    }
    let got = replica.pull(&app, None, "").await;
    let deleted: Vec<&str> = got
        .iter()
        .filter(|i| i["op"] == "delete")
        .filter_map(|i| i["id"].as_str())
        .collect();
    assert_eq!(deleted, [live[1].as_str(), live[2].as_str()], "{got:?}");
    assert_eq!(replica.entries, truth(&app, None, &["note"]).await);

    // A field made private: every entry comes again without it.
    let (status, body) = send(
        app.req(Method::PUT, "/api/v1/manage/content-types/note")
            .json(&note_type(true)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let got = replica.pull(&app, None, "").await;
    assert_eq!(got.len(), 8, "{got:?}");
    assert!(
        got.iter()
            .all(|i| i["entry"]["fields"].get("body").is_none())
    );
    assert_eq!(replica.entries, truth(&app, None, &["note"]).await);

    // The public grant revoked: everything goes; given back: everything comes back.
    let (_, policies) = send(app.req(Method::GET, "/api/v1/manage/policies?limit=200")).await;
    let policy = policies["items"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["role"] == "public" && p["resource"] == "note")
        .and_then(|p| p["id"].as_str())
        .expect("policy")
        .to_string();
    let (status, _) =
        send(app.req(Method::DELETE, &format!("/api/v1/manage/policies/{policy}"))).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let got = replica.pull(&app, None, "").await;
    assert!(got.iter().all(|i| i["op"] == "delete"), "{got:?}");
    assert!(replica.entries.is_empty());
    app.grant("public", "note", "read").await;
    replica.pull(&app, None, "").await;
    assert_eq!(replica.entries.len(), 8);
    assert_eq!(replica.entries, truth(&app, None, &["note"]).await);
}

/// A tiny deterministic generator (xorshift), so a failing seed can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

async fn a_replica_converges_under_random_changes(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.rate_limit_anonymous = 0).await;
    app.create_type(note_type(false)).await;
    app.create_type(json!({"api_id": "memo", "name": "Memo", "fields": [
        {"name": "title", "type": "text"}]}))
        .await;
    app.grant("public", "note", "read").await;
    let types = ["note", "memo"];
    for seed in 1..=6u64 {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (seed * 0x1000_0001));
        let mut replica = Replica::default();
        replica.pull(&app, None, "").await;
        let mut known: Vec<(String, String)> = Vec::new(); // (type, id)
        let mut memo_policy: Option<String> = None;
        let mut private_body = false;
        for step in 0..24 {
            let t = types[rng.below(2)];
            match rng.below(9) {
                0 | 1 => {
                    let e = app
                        .create_entry(t, json!({"title": format!("s{seed}-{step}")}))
                        .await;
                    let id = e["id"].as_str().expect("id").to_string();
                    if rng.below(2) == 0 {
                        app.publish(t, &id).await;
                    }
                    known.push((t.to_string(), id));
                }
                2 | 3 if !known.is_empty() => {
                    let (t, id) = known[rng.below(known.len())].clone();
                    let _ = send(
                        app.req(Method::PATCH, &format!("/api/v1/manage/entries/{t}/{id}"))
                            .json(&json!({"fields": {"title": format!("e{seed}-{step}")}})),
                    )
                    .await;
                    if rng.below(2) == 0 {
                        let _ = send(app.req(
                            Method::POST,
                            &format!("/api/v1/manage/entries/{t}/{id}/publish"),
                        ))
                        .await;
                    }
                }
                4 if !known.is_empty() => {
                    let (t, id) = known[rng.below(known.len())].clone();
                    let _ = send(app.req(
                        Method::POST,
                        &format!("/api/v1/manage/entries/{t}/{id}/unpublish"),
                    ))
                    .await;
                }
                5 if !known.is_empty() => {
                    let (t, id) = known.remove(rng.below(known.len()));
                    let _ =
                        send(app.req(Method::DELETE, &format!("/api/v1/manage/entries/{t}/{id}")))
                            .await;
                }
                6 => match memo_policy.take() {
                    None => {
                        memo_policy = Some(
                            app.grant("public", "memo", "read").await["id"]
                                .as_str()
                                .expect("policy id")
                                .to_string(),
                        )
                    }
                    Some(p) => {
                        let (status, _) =
                            send(app.req(Method::DELETE, &format!("/api/v1/manage/policies/{p}")))
                                .await;
                        assert_eq!(status, StatusCode::NO_CONTENT);
                    }
                },
                7 => {
                    private_body = !private_body;
                    let (status, body) = send(
                        app.req(Method::PUT, "/api/v1/manage/content-types/note")
                            .json(&note_type(private_body)),
                    )
                    .await;
                    assert_eq!(status, StatusCode::OK, "{body}");
                }
                _ => {}
            }
            // Apps pull at random moments, not after every change.
            if rng.below(3) == 0 || step == 23 {
                replica.pull(&app, None, "").await;
                assert_eq!(
                    replica.entries,
                    truth(&app, None, &types).await,
                    "seed {seed}, step {step}: the replica differs from what delivery shows"
                );
            }
        }
        // A fresh initial sync agrees too.
        let mut fresh = Replica::default();
        fresh.pull(&app, None, "").await;
        assert_eq!(fresh.entries, replica.entries, "seed {seed}");
        if let Some(p) = memo_policy {
            let _ = send(app.req(Method::DELETE, &format!("/api/v1/manage/policies/{p}"))).await;
        }
    }
}

async fn an_expired_cursor_is_gone(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.event_retention_secs = 1;
        s.event_sweep_interval_secs = 1;
    })
    .await;
    app.create_type(note_type(false)).await;
    app.grant("public", "note", "read").await;
    let mut replica = Replica::default();
    replica.pull(&app, None, "").await;
    let old = replica.cursor.clone().expect("cursor");
    let e = app.create_entry("note", json!({"title": "later"})).await;
    app.publish("note", e["id"].as_str().expect("id")).await;
    let mut status = StatusCode::OK;
    let mut body = Value::Null;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        (status, body) =
            send(app.req_as(None, Method::GET, &format!("/api/v1/sync?cursor={old}"))).await;
        if status == StatusCode::GONE {
            break;
        }
    }
    assert_error(status, &body, 410, "sync_cursor_expired");
    // Starting over works and carries the entry.
    let mut fresh = Replica::default();
    fresh.pull(&app, None, "").await;
    assert_eq!(fresh.entries.len(), 1);
}

async fn sync_refuses_bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(note_type(false)).await;
    // Nothing public yet: anonymous callers are asked to authenticate, as on delivery.
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/sync")).await;
    assert_error(status, &body, 401, "unauthenticated");
    app.grant("public", "note", "read").await;
    for (query, code) in [
        ("limit=0", "invalid_parameter"),
        ("limit=501", "invalid_parameter"),
        ("limit=abc", "invalid_parameter"),
        ("type=Bad-Name", "invalid_parameter"),
        ("locale=not%20a%20locale", "invalid_parameter"),
        ("page=2", "unknown_parameter"),
        ("cursor=garbage", "invalid_cursor"),
        ("cursor=a.b", "invalid_cursor"),
    ] {
        let (status, body) =
            send(app.req_as(None, Method::GET, &format!("/api/v1/sync?{query}"))).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{query}: {body}"
        );
    }
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/sync?type=nope")).await;
    assert_error(status, &body, 404, "content_type_not_found");
    // A cursor is its caller's, and its parameters'.
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/locales")
            .json(&json!({"code": "de"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (_, body) = send(app.req_as(None, Method::GET, "/api/v1/sync?type=note")).await;
    let cursor = body["next_cursor"].as_str().expect("cursor").to_string();
    let (status, body) = send(app.req(Method::GET, &format!("/api/v1/sync?cursor={cursor}"))).await;
    assert_error(status, &body, 400, "invalid_cursor");
    let (status, body) = send(app.req_as(
        None,
        Method::GET,
        &format!("/api/v1/sync?cursor={cursor}&locale=de"),
    ))
    .await;
    assert_error(status, &body, 400, "invalid_cursor");
    let (status, body) = send(app.req_as(
        None,
        Method::GET,
        &format!("/api/v1/sync?cursor={cursor}&type=note"),
    ))
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same parameters are fine: {body}"
    );
}
