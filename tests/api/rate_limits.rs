//! Rate limits: per API token and per user when the caller is authenticated, per client
//! address otherwise; 429 `rate_limited` with `Retry-After` over the limit, `RateLimit-*`
//! fields on every limited answer; health checks exempt; forged tokens stopped by address
//! before they cost a lookup; a table that stays bounded.
//!
//! Callers from different addresses are real TCP peers: clients bound to 127.0.0.2,
//! 127.0.0.3, … (all of 127/8 is loopback on Linux). The harness's own login comes from
//! 127.0.0.1 and so spends nothing of theirs.

use std::net::IpAddr;
use std::time::Duration;

use reqwest::{Client, Response, StatusCode};
use serde_json::json;

use crate::both_backends;
use crate::helpers::{Backend, TestApp, assert_error, header_value, read};

/// A long window: nothing refills while a test runs.
const HOUR: u64 = 3600;

/// A client whose requests come from `ip`.
fn client_from(ip: &str) -> Client {
    let ip: IpAddr = ip.parse().expect("test address");
    Client::builder()
        .local_address(ip)
        .build()
        .expect("http client")
}

/// A type `note` that anonymous callers may read, so they get 200s.
async fn public_notes(app: &TestApp) {
    app.create_type(
        json!({"api_id": "note", "name": "Note", "options": {"title_field": "title"},
        "fields": [{"name": "title", "type": "text"}]}),
    )
    .await;
    app.grant("public", "note", "read").await;
}

const NOTES: &str = "/api/v1/content/note";

async fn get(client: &Client, app: &TestApp, path: &str, token: Option<&str>) -> Response {
    let req = client.get(app.url(path));
    let req = match token {
        Some(t) => req.bearer_auth(t),
        None => req,
    };
    req.send().await.expect("request sent")
}

fn num(resp: &Response, name: &str) -> u64 {
    header_value(resp, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("`{name}` is missing or not a number: {:?}", resp.headers()))
}

/// Asserts a 429 with every field and a message saying when to retry; returns
/// `Retry-After`.
async fn assert_limited(resp: Response, who: &str) -> u64 {
    let retry = num(&resp, "retry-after");
    assert!(retry >= 1, "Retry-After {retry}");
    assert_eq!(num(&resp, "ratelimit-remaining"), 0);
    num(&resp, "ratelimit-limit");
    num(&resp, "ratelimit-reset");
    assert!(header_value(&resp, "ratelimit-policy").is_some());
    let (status, body) = read(resp).await;
    assert_error(status, &body, 429, "rate_limited");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains(&format!("retry in {retry} s")),
        "{message}"
    );
    assert!(message.contains(who), "`{who}` not in: {message}");
    assert_eq!(body["error"]["details"]["retry_after_secs"], retry);
    retry
}

/// The N+1th request in the window is refused; every answer before it says how much is
/// left.
async fn over_the_limit_is_429_with_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.rate_limit_anonymous = 3;
        s.rate_limit_window_secs = HOUR;
    })
    .await;
    public_notes(&app).await;
    let client = client_from("127.0.0.2");
    for left in [2, 1, 0] {
        let resp = get(&client, &app, NOTES, None).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(num(&resp, "ratelimit-limit"), 3);
        assert_eq!(num(&resp, "ratelimit-remaining"), left);
        assert!((1..=HOUR).contains(&num(&resp, "ratelimit-reset")));
        assert_eq!(
            header_value(&resp, "ratelimit-policy").as_deref(),
            Some("3;w=3600")
        );
        assert!(header_value(&resp, "retry-after").is_none());
    }
    // From a browser app: CORS lets the page read the fields of the 429.
    let resp = client
        .get(app.url(NOTES))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .expect("sent");
    let exposed = header_value(&resp, "access-control-expose-headers").unwrap_or_default();
    for field in ["retry-after", "ratelimit-remaining", "ratelimit-reset"] {
        assert!(exposed.to_lowercase().contains(field), "{exposed}");
    }
    let reset = num(&resp, "ratelimit-reset");
    let retry = assert_limited(resp, "from your address").await;
    // One request's share refills in window / limit = 1200 s.
    assert!(retry <= HOUR / 3, "Retry-After {retry}");
    assert!(
        reset >= retry && reset <= HOUR,
        "reset {reset}, retry {retry}"
    );
}

/// Two API tokens (and the user who made them) spend separate budgets, whatever address
/// they come from.
async fn tokens_and_users_have_budgets_of_their_own(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.rate_limit_authenticated = 4;
        s.rate_limit_window_secs = HOUR;
    })
    .await;
    // The administrator spends two of their four here.
    let first = app.create_token("first", "editor").await["token"]
        .as_str()
        .expect("secret")
        .to_string();
    let second = app.create_token("second", "editor").await["token"]
        .as_str()
        .expect("secret")
        .to_string();
    let client = client_from("127.0.0.2");
    let path = "/api/v1/manage/content-types";
    for left in [3, 2, 1, 0] {
        let resp = get(&client, &app, path, Some(&first)).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(num(&resp, "ratelimit-remaining"), left);
    }
    assert_limited(
        get(&client, &app, path, Some(&first)).await,
        "with this API token",
    )
    .await;
    for left in [3, 2, 1, 0] {
        let resp = get(&client, &app, path, Some(&second)).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "the second token has its own budget"
        );
        assert_eq!(num(&resp, "ratelimit-remaining"), left);
    }
    assert_limited(
        get(&client, &app, path, Some(&second)).await,
        "with this API token",
    )
    .await;
    for left in [1, 0] {
        let resp = get(&client, &app, path, Some(&app.token)).await;
        assert_eq!(
            resp.status(),
            StatusCode::OK,
            "the user has their own budget"
        );
        assert_eq!(num(&resp, "ratelimit-remaining"), left);
    }
    assert_limited(
        get(&client, &app, path, Some(&app.token)).await,
        "for your user",
    )
    .await;
}

/// Anonymous callers are limited per TCP peer; `X-Forwarded-For` from an untrusted peer
/// changes nothing, and a token from the same address has its own budget.
async fn anonymous_callers_are_limited_by_address(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.rate_limit_anonymous = 2;
        s.rate_limit_window_secs = HOUR;
    })
    .await;
    public_notes(&app).await;
    let (a, b) = (client_from("127.0.0.2"), client_from("127.0.0.3"));
    for _ in 0..2 {
        assert_eq!(get(&a, &app, NOTES, None).await.status(), StatusCode::OK);
    }
    assert_limited(get(&a, &app, NOTES, None).await, "from your address").await;
    let spoofed = a
        .get(app.url(NOTES))
        .header("x-forwarded-for", "203.0.113.77")
        .send()
        .await
        .expect("sent");
    assert_limited(spoofed, "from your address").await;
    for _ in 0..2 {
        assert_eq!(
            get(&b, &app, NOTES, None).await.status(),
            StatusCode::OK,
            "another address"
        );
    }
    let authed = get(&a, &app, NOTES, Some(&app.token)).await;
    assert_eq!(
        authed.status(),
        StatusCode::OK,
        "a token is not limited by its address"
    );
}

/// Behind a trusted proxy, the address the proxy forwards is the caller's.
async fn behind_a_trusted_proxy_the_forwarded_address_counts(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.rate_limit_anonymous = 1;
        s.rate_limit_window_secs = HOUR;
        s.trusted_proxies = vec!["127.0.0.2/32".into()];
    })
    .await;
    public_notes(&app).await;
    let via = |client: &Client, forwarded: &str| {
        client
            .get(app.url(NOTES))
            .header("x-forwarded-for", forwarded.to_string())
            .send()
    };
    let proxy = client_from("127.0.0.2");
    assert_eq!(
        via(&proxy, "203.0.113.1").await.expect("sent").status(),
        StatusCode::OK
    );
    assert_limited(
        via(&proxy, "203.0.113.1").await.expect("sent"),
        "from your address",
    )
    .await;
    // A client prepending an address of its choice is still itself.
    assert_limited(
        via(&proxy, "198.51.100.9, 203.0.113.1")
            .await
            .expect("sent"),
        "from your address",
    )
    .await;
    assert_eq!(
        via(&proxy, "203.0.113.2").await.expect("sent").status(),
        StatusCode::OK
    );
    let untrusted = client_from("127.0.0.3");
    assert_eq!(
        via(&untrusted, "203.0.113.3").await.expect("sent").status(),
        StatusCode::OK
    );
    assert_limited(
        via(&untrusted, "203.0.113.4").await.expect("sent"),
        "from your address",
    )
    .await;
}

/// Waiting `Retry-After` is enough to be served again.
async fn served_again_after_retry_after(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.rate_limit_anonymous = 1;
        s.rate_limit_window_secs = 1;
    })
    .await;
    public_notes(&app).await;
    let client = client_from("127.0.0.2");
    // A slow machine may refill between two requests; a few tries reach the limit.
    let mut limited = None;
    for _ in 0..5 {
        let resp = get(&client, &app, NOTES, None).await;
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            limited = Some(resp);
            break;
        }
        assert_eq!(resp.status(), StatusCode::OK);
    }
    let retry = assert_limited(limited.expect("reached the limit"), "from your address").await;
    assert_eq!(retry, 1);
    tokio::time::sleep(Duration::from_secs(retry)).await;
    assert_eq!(
        get(&client, &app, NOTES, None).await.status(),
        StatusCode::OK
    );
}

/// `/healthz` and `/readyz` spend nothing and carry no fields; every other route,
/// `/openapi.json` and `/docs` included, is limited.
async fn health_checks_are_never_limited(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.rate_limit_anonymous = 1;
        s.rate_limit_window_secs = HOUR;
    })
    .await;
    let client = client_from("127.0.0.2");
    for _ in 0..20 {
        for path in ["/healthz", "/readyz"] {
            let resp = get(&client, &app, path, None).await;
            assert_eq!(resp.status(), StatusCode::OK, "{path}");
            assert!(header_value(&resp, "ratelimit-limit").is_none(), "{path}");
        }
    }
    let spec = get(&client, &app, "/openapi.json", None).await;
    assert_eq!(
        spec.status(),
        StatusCode::OK,
        "the health checks spent nothing"
    );
    assert_eq!(num(&spec, "ratelimit-remaining"), 0);
    assert_limited(get(&client, &app, "/docs", None).await, "from your address").await;
    let resp = get(&client, &app, "/healthz", None).await;
    assert_eq!(resp.status(), StatusCode::OK, "even over the limit");
}

/// Many different forged bearer tokens from one address: a few are looked up and refused
/// (401), then the address is refused before any lookup (429, even for a valid token from
/// there), and no bucket is made per forged token.
async fn forged_tokens_are_limited_by_address_and_grow_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.rate_limit_anonymous = 5;
        s.rate_limit_window_secs = HOUR;
    })
    .await;
    public_notes(&app).await;
    let before = app.rate_limiter.stats();
    let client = client_from("127.0.0.2");
    let mut unauthorized = 0;
    for i in 0..300 {
        let forged = match i % 3 {
            0 => format!("vlm_forged{i}"),
            1 => format!("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ7aX0ifQ.forged{i}"),
            _ => format!("nonsense-{i}"),
        };
        let resp = get(&client, &app, NOTES, Some(&forged)).await;
        if i < 5 {
            assert_eq!(num(&resp, "ratelimit-remaining"), 4 - i);
            let (status, body) = read(resp).await;
            assert_error(status, &body, 401, "invalid_token");
            unauthorized += 1;
        } else {
            assert_limited(resp, "with invalid bearer tokens from your address").await;
        }
    }
    assert_eq!(unauthorized, 5);
    let after = app.rate_limiter.stats();
    assert!(
        after.tracked <= before.tracked + 1,
        "forged tokens made buckets: {before:?} → {after:?}"
    );
    assert!(after.limited >= before.limited + 295, "{after:?}");
    // Refused before the lookup: a valid token from that address waits too …
    assert_limited(
        get(&client, &app, NOTES, Some(&app.token)).await,
        "invalid bearer tokens",
    )
    .await;
    // … while anonymous requests from it, and the same token elsewhere, are served.
    assert_eq!(
        get(&client, &app, NOTES, None).await.status(),
        StatusCode::OK
    );
    let elsewhere = get(&client_from("127.0.0.3"), &app, NOTES, Some(&app.token)).await;
    assert_eq!(elsewhere.status(), StatusCode::OK);
}

/// Spraying addresses (through a trusted proxy, the cheapest way to have many) never
/// grows the table past `rate_limit_max_keys`, every fresh address is still served, and
/// the caller who spent the most keeps their empty bucket.
async fn the_table_stays_bounded_under_an_address_spray(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| {
        s.rate_limit_anonymous = 2;
        s.rate_limit_window_secs = HOUR;
        s.rate_limit_max_keys = 32;
        s.trusted_proxies = vec!["127.0.0.2".into()];
    })
    .await;
    public_notes(&app).await;
    let proxy = client_from("127.0.0.2");
    let from = |addr: String| {
        proxy
            .get(app.url(NOTES))
            .header("x-forwarded-for", addr)
            .send()
    };
    let abuser = "198.51.100.1".to_string();
    for _ in 0..2 {
        assert_eq!(
            from(abuser.clone()).await.expect("sent").status(),
            StatusCode::OK
        );
    }
    assert_limited(
        from(abuser.clone()).await.expect("sent"),
        "from your address",
    )
    .await;
    for i in 0..400u32 {
        let addr = if i % 2 == 0 {
            format!("10.{}.{}.1", i / 256, i % 256)
        } else {
            format!("2001:db8:{i:x}::1")
        };
        let resp = from(addr).await.expect("sent");
        assert_eq!(resp.status(), StatusCode::OK, "a fresh address is served");
    }
    let stats = app.rate_limiter.stats();
    assert!(stats.tracked <= 32, "{stats:?}");
    assert!(stats.displaced > 0, "{stats:?}");
    assert_limited(from(abuser).await.expect("sent"), "from your address").await;
}

both_backends!(
    over_the_limit_is_429_with_retry_after,
    tokens_and_users_have_budgets_of_their_own,
    anonymous_callers_are_limited_by_address,
    behind_a_trusted_proxy_the_forwarded_address_counts,
    served_again_after_retry_after,
    health_checks_are_never_limited,
    forged_tokens_are_limited_by_address_and_grow_nothing,
    the_table_stays_bounded_under_an_address_spray,
);
