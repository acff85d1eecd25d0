//! Lists an anonymous caller can send are bounded (issue 7, defect 5): long `contains`
//! needles and piles of text matches are refused up front, a list no index narrows down
//! runs on a small pool whose statements stop at `scan_timeout_ms` (503 `query_timeout`
//! with `Retry-After`), only `scan_concurrency` of them run at once (the rest get 503
//! `unavailable` with `Retry-After` after `scan_queue_ms`), and lists that use an index
//! are never held up by them.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    long_needles_and_many_text_matches_are_refused,
    a_slow_scan_is_stopped,
    few_scans_run_at_once_and_indexed_lists_pass_them,
    totals_are_counted_up_to_the_count_limit
);

/// A type published on save, with a long text and an indexed number.
async fn docs(app: &TestApp, n: usize, text_len: usize) {
    app.create_type(
        json!({"api_id": "doc", "name": "Doc", "options": {"draft_publish": false},
        "fields": [{"name": "body", "type": "longtext"},
                   {"name": "n", "type": "integer", "indexed": true}]}),
    )
    .await;
    app.grant("public", "doc", "read").await;
    let body = "a".repeat(text_len);
    for i in 0..n {
        app.create_entry("doc", json!({"body": body, "n": i})).await;
    }
}

/// A needle that matches nowhere but costs a naive matcher its whole length at every
/// position of the text (`instr` on SQLite, `ILIKE` on PostgreSQL).
fn slow_scan(app: &TestApp) -> String {
    slow_scan_n(app, 0)
}

/// The same, with a needle of its own (distinct URLs: identical ones would share one
/// render through the delivery cache's single flight).
fn slow_scan_n(app: &TestApp, n: u8) -> String {
    let needle = format!("{}{}b", "a".repeat(198), char::from(b'c' + n));
    let op = match app.backend {
        Backend::Sqlite => "contains",
        Backend::Postgres => "icontains",
    };
    format!("/api/v1/content/doc?filter[body][{op}]={needle}")
}

async fn long_needles_and_many_text_matches_are_refused(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    docs(&app, 1, 10).await;
    let get = |path: String| send(app.req_as(None, Method::GET, &path));
    let (status, body) = get(format!(
        "/api/v1/content/doc?filter[body][icontains]={}",
        "x".repeat(201)
    ))
    .await;
    assert_error(status, &body, 400, "invalid_filter");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("200 characters")),
        "{body}"
    );
    let (status, body) = get(format!(
        "/api/v1/content/doc?filter[body][contains]={}",
        "é".repeat(200)
    ))
    .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "200 characters (not bytes) pass: {body}"
    );
    let many = (0..6)
        .map(|i| format!("filter[or][{i}][body][icontains]=w{i}"))
        .collect::<Vec<_>>()
        .join("&");
    let (status, body) = get(format!("/api/v1/content/doc?{many}")).await;
    assert_error(status, &body, 400, "invalid_filter");
    let five = (0..5)
        .map(|i| format!("filter[or][{i}][body][icontains]=w{i}"))
        .collect::<Vec<_>>()
        .join("&");
    let (status, body) = get(format!("/api/v1/content/doc?{five}")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The JSON query counts the same way.
    let (status, body) = send(
        app.req_as(None, Method::POST, "/api/v1/query/doc").json(&json!({"filter": {
            "or": (0..6).map(|i| json!({"body": {"icontains": format!("w{i}")}})).collect::<Vec<_>>()
        }})),
    )
    .await;
    assert_error(status, &body, 400, "invalid_filter");
}

async fn a_slow_scan_is_stopped(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.scan_timeout_ms = 10;
        s.rate_limit_anonymous = 0;
    })
    .await;
    docs(&app, 60, 50_000).await;
    let started = Instant::now();
    let resp = app
        .req_as(None, Method::GET, &slow_scan(&app))
        .send()
        .await
        .expect("request");
    let retry = header_value(&resp, "retry-after");
    let (status, body) = read(resp).await;
    assert_error(status, &body, 503, "query_timeout");
    assert!(retry.is_some(), "a 503 says when to retry");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "stopped, not run to the end"
    );
    // The same data through an index is answered.
    let (status, body) = send(app.req_as(
        None,
        Method::GET,
        "/api/v1/content/doc?filter[n][gte]=30&sort=n&fields=n",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 30);
    // A scan that fits its time is answered: the bound is per statement, not per kind.
    app.create_type(
        json!({"api_id": "tiny", "name": "Tiny", "options": {"draft_publish": false},
        "fields": [{"name": "label", "type": "text"}]}),
    )
    .await;
    app.grant("public", "tiny", "read").await;
    app.create_entry("tiny", json!({"label": "needle in here"}))
        .await;
    let (status, body) = send(app.req_as(
        None,
        Method::GET,
        "/api/v1/content/tiny?filter[label][icontains]=NEEDLE",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 1);
}

async fn few_scans_run_at_once_and_indexed_lists_pass_them(backend: Backend) {
    let app = std::sync::Arc::new(
        TestApp::spawn_with(backend, |s| {
            s.scan_concurrency = 1;
            s.scan_queue_ms = 0;
            s.scan_timeout_ms = 30_000;
            s.rate_limit_anonymous = 0;
        })
        .await,
    );
    docs(&app, 60, 50_000).await;
    let scans: Vec<_> = (0..8u8)
        .map(|n| {
            let path = slow_scan_n(&app, n);
            let app = app.clone();
            tokio::spawn(async move {
                let resp = app
                    .req_as(None, Method::GET, &path)
                    .send()
                    .await
                    .expect("request");
                let retry = header_value(&resp, "retry-after");
                let (status, body) = read(resp).await;
                (status, body, retry)
            })
        })
        .collect();
    // While they run, a list on the index is answered.
    let (status, body) = send(app.req_as(
        None,
        Method::GET,
        "/api/v1/content/doc?filter[n][lt]=5&sort=-n&fields=n",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut answered = 0;
    let mut turned_away = 0;
    for scan in scans {
        let (status, body, retry) = scan.await.expect("task");
        if status == StatusCode::OK {
            answered += 1;
        } else {
            assert_error(status, &body, 503, "unavailable");
            assert_eq!(retry.as_deref(), Some("1"));
            turned_away += 1;
        }
    }
    assert!(answered >= 1, "the first scan is answered");
    assert!(
        turned_away >= 1,
        "one place: scans sent together are turned away"
    );
}

/// `total` is counted up to `count_limit`: beyond it the answer says so
/// (`total_exact: false`) instead of counting every match of a broad filter; pages reached
/// by cursor repeat what the first page said.
async fn totals_are_counted_up_to_the_count_limit(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.count_limit = 5;
        s.rate_limit_anonymous = 0;
    })
    .await;
    docs(&app, 8, 10).await;
    let list = |q: &str| app.req_as(None, Method::GET, &format!("/api/v1/content/doc{q}"));
    let (status, body) = send(list("?sort=n&limit=3")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 5, "{body}");
    assert_eq!(body["total_exact"], false, "{body}");
    let cursor = body["next_cursor"].as_str().expect("cursor").to_string();
    let (_, next) = send(list(&format!("?sort=n&limit=3&cursor={cursor}"))).await;
    assert_eq!(
        (next["total"].clone(), next["total_exact"].clone()),
        (json!(5), json!(false)),
        "{next}"
    );
    for (q, total) in [
        ("?filter[n][lt]=5", 5),
        ("?filter[n][lt]=3", 3),
        ("?filter[n][gte]=7", 1),
    ] {
        let (_, body) = send(list(q)).await;
        assert_eq!(body["total"], total, "{q}: {body}");
        assert_eq!(body["total_exact"], true, "{q}: {body}");
    }
    // Management lists too; and 0 counts exactly.
    let (_, body) = send(app.req(Method::GET, "/api/v1/manage/entries/doc")).await;
    assert_eq!(
        (body["total"].clone(), body["total_exact"].clone()),
        (json!(5), json!(false)),
        "{body}"
    );
    let exact = TestApp::spawn_with(backend, |s| s.count_limit = 0).await;
    docs(&exact, 8, 10).await;
    let (_, body) = send(exact.req(Method::GET, "/api/v1/manage/entries/doc")).await;
    assert_eq!(
        (body["total"].clone(), body["total_exact"].clone()),
        (json!(8), json!(true)),
        "{body}"
    );
}
