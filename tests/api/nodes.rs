//! Two nodes on one PostgreSQL database (issue 7): two `vellum serve` processes started
//! at the same moment; what one node writes, the other serves (its delivery cache
//! included) within a second, and a permission revoked on one is enforced on the other
//! within a second. Their polls are set to a minute, so only the event log's
//! notifications can make this work.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::ops::{Served, serve};

const EMAIL: &str = "nodes@example.com";
const PASSWORD: &str = "two-nodes-passphrase";

/// Polls `probe` until it returns true or a second has passed; returns the time taken.
async fn within_a_second<F, Fut>(what: &str, mut probe: F) -> Duration
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    loop {
        if probe().await {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{what}: not seen on the other node within 1 s"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn start_two(db_url: &str) -> (Served, Served, tempfile::TempDir, tempfile::TempDir) {
    let (dir_a, dir_b) = (
        tempfile::tempdir().expect("tmp"),
        tempfile::tempdir().expect("tmp"),
    );
    let envs = [
        ("VELLUM_DATABASE_URL", db_url),
        ("VELLUM_ADMIN_EMAIL", EMAIL),
        ("VELLUM_ADMIN_PASSWORD", PASSWORD),
        ("VELLUM_FOLLOWER_POLL_MS", "60000"),
        ("VELLUM_RATE_LIMIT_ANONYMOUS", "0"),
    ];
    // Both at once: migrations, seeding and the first administrator must not race.
    let (a, b) = tokio::join!(serve(dir_a.path(), &envs), serve(dir_b.path(), &envs));
    (a, b, dir_a, dir_b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(vellum_pg),
    ignore = "PostgreSQL run skipped: set VELLUM_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432) to run it"
)]
async fn a_write_on_one_node_is_served_by_the_other_within_a_second() {
    let db = create_pg_database().await;
    let (a, b, _da, _db) = start_two(&db.url()).await;
    for node in [&a, &b] {
        let log = node.log.lock().expect("log").join("\n");
        assert!(
            !log.contains("\"level\":\"ERROR\""),
            "a node logged an error while starting:\n{log}"
        );
    }
    let client = reqwest::Client::new();
    let (status, body) = send(
        client
            .post(format!("{}/api/v1/auth/login", a.url))
            .json(&json!({"email": EMAIL, "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["access_token"].as_str().expect("token").to_string();
    let on_a = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{}{path}", a.url))
            .bearer_auth(&token)
    };
    let (status, body) = send(on_a(reqwest::Method::POST, "/api/v1/manage/content-types").json(
        &json!({"api_id": "news", "name": "News", "fields": [{"name": "title", "type": "text"}]}),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = send(
        on_a(reqwest::Method::POST, "/api/v1/manage/policies")
            .json(&json!({"role": "public", "resource": "news", "action": "read"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let policy = body["id"].as_str().expect("policy id").to_string();
    let (status, body) = send(
        on_a(reqwest::Method::POST, "/api/v1/manage/entries/news")
            .json(&json!({"fields": {"title": "first"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["id"].as_str().expect("id").to_string();
    let item_on_b = format!("{}/api/v1/content/news/{id}", b.url);
    let get_b = || async {
        let resp = client.get(&item_on_b).send().await.expect("get on B");
        let cache = header_value(&resp, "x-vellum-cache").unwrap_or_default();
        let (status, body) = read(resp).await;
        (status, cache, body)
    };
    // B learns of the new type and grant: the entry is not published yet, so B says
    // exactly that (and caches nothing for a 404).
    within_a_second("a type and a grant made on A", || async {
        get_b().await.0 == StatusCode::NOT_FOUND
    })
    .await;
    let (status, _, body) = get_b().await;
    assert_error(status, &body, 404, "entry_not_found");

    let publish = |id: String| {
        let req = on_a(
            reqwest::Method::POST,
            &format!("/api/v1/manage/entries/news/{id}/publish"),
        );
        async move {
            let (status, body) = send(req).await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
    };
    // B's live stream and B's sync, opened before the publish.
    let mut sse_b = crate::live::Sse::from(client.get(format!("{}/api/v1/events", b.url))).await;
    let (status, body) = send(client.get(format!("{}/api/v1/sync", b.url))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"], json!([]), "nothing published yet");
    let sync_cursor = body["next_cursor"].as_str().expect("cursor").to_string();
    let published = Instant::now();
    publish(id.clone()).await;
    within_a_second("a publish on A", || async {
        get_b().await.0 == StatusCode::OK
    })
    .await;
    // B keeps its own search index, fed from the same log.
    within_a_second("a publish on A, in B's search", || async {
        let (status, body) = send(client.get(format!("{}/api/v1/search?q=first", b.url))).await;
        status == StatusCode::OK && body["total"] == 1
    })
    .await;
    let (_, event, data) = sse_b
        .next(Duration::from_secs(5))
        .await
        .expect("B streams A's publish");
    assert!(
        published.elapsed() < Duration::from_secs(1),
        "B's stream took {:?}",
        published.elapsed()
    );
    assert_eq!(
        (event.as_str(), data["id"].as_str()),
        ("entry.published", Some(id.as_str()))
    );
    within_a_second("a publish on A, through B's sync", || async {
        let (status, body) =
            send(client.get(format!("{}/api/v1/sync?cursor={sync_cursor}", b.url))).await;
        status == StatusCode::OK
            && body["items"]
                .as_array()
                .is_some_and(|items| items.iter().any(|i| i["entry"]["id"] == id.as_str()))
    })
    .await;
    // B now answers from its cache (once its follower has applied the publish: an answer
    // B rendered from the database before that is conservatively rendered again)...
    within_a_second("B's cache to hold the published entry", || async {
        get_b().await.1 == "hit"
    })
    .await;
    let (_, cache, body) = get_b().await;
    assert_eq!(cache, "hit", "{body}");
    assert_eq!(body["fields"]["title"], "first");
    // ...until A publishes a change: then B's next reads show it.
    let (status, body) = send(
        on_a(
            reqwest::Method::PATCH,
            &format!("/api/v1/manage/entries/news/{id}"),
        )
        .json(&json!({"fields": {"title": "second"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    publish(id.clone()).await;
    within_a_second("a republish on A", || async {
        let (_, _, body): (StatusCode, String, Value) = get_b().await;
        body["fields"]["title"] == "second"
    })
    .await;
    // A schema change on A: B's type cache and OpenAPI document follow.
    let (status, body) = send(
        on_a(reqwest::Method::PUT, "/api/v1/manage/content-types/news").json(&json!({
            "api_id": "news", "name": "News", "fields": [
                {"name": "title", "type": "text"}, {"name": "summary", "type": "text"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let doc_on_b = format!("{}/openapi.json", b.url);
    within_a_second("a schema change on A", || async {
        let (_, doc) = send(client.get(&doc_on_b)).await;
        doc["components"]["schemas"]["NewsFields"]["properties"]
            .get("summary")
            .is_some()
    })
    .await;

    // The public grant revoked on A: B refuses within a second.
    let (status, body) = send(on_a(
        reqwest::Method::DELETE,
        &format!("/api/v1/manage/policies/{policy}"),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    within_a_second("a revoked grant", || async {
        get_b().await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    // An API token revoked on A: B, which has it cached, refuses it within a second.
    let (status, token) = send(
        on_a(reqwest::Method::POST, "/api/v1/manage/tokens")
            .json(&json!({"name": "app", "role": "admin"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let secret = token["token"].as_str().expect("secret").to_string();
    let token_id = token["id"].as_str().expect("id").to_string();
    let me_on_b = format!("{}/api/v1/auth/me", b.url);
    within_a_second("a token made on A", || async {
        send(client.get(&me_on_b).bearer_auth(&secret)).await.0 == StatusCode::OK
    })
    .await;
    let (status, _) = send(client.get(&me_on_b).bearer_auth(&secret)).await;
    assert_eq!(status, StatusCode::OK, "B knows (and caches) the token");
    let (status, body) = send(on_a(
        reqwest::Method::DELETE,
        &format!("/api/v1/manage/tokens/{token_id}"),
    ))
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    within_a_second("a token revoked on A", || async {
        send(client.get(&me_on_b).bearer_auth(&secret)).await.0 == StatusCode::UNAUTHORIZED
    })
    .await;
    let log_b = b.log.lock().expect("log").join("\n");
    assert!(
        !log_b.contains("\"level\":\"ERROR\"") && !log_b.contains("\"level\":\"WARN\""),
        "node B warned while following:\n{log_b}"
    );
}
