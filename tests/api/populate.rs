//! `populate` (issue 7): relation fields expanded into `populated`, nested and
//! depth-limited, batched (one statement per relation field per level, counted through
//! `Server-Timing`), and grant- and publish-aware: related entries the caller may not
//! read, or that are not published, come back absent.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    populate_expands_nested_relations_as_the_caller_may_see_them,
    populate_is_batched,
    populate_refuses_what_it_cannot_expand
);

async fn setup(app: &TestApp) -> (Vec<String>, Vec<String>) {
    app.create_type(json!({"api_id": "company", "name": "Company", "fields": [
        {"name": "name", "type": "text"}]}))
        .await;
    app.create_type(json!({"api_id": "person", "name": "Person", "fields": [
        {"name": "name", "type": "text"},
        {"name": "salary", "type": "integer", "private": true},
        {"name": "company", "type": "relation", "target": "company"}]}))
        .await;
    app.create_type(json!({"api_id": "article", "name": "Article", "fields": [
        {"name": "title", "type": "text", "indexed": true},
        {"name": "author", "type": "relation", "target": "person"},
        {"name": "reviewers", "type": "relation", "target": "person", "many": true},
        {"name": "sponsor", "type": "relation", "target": "company", "private": true}]}))
        .await;
    app.grant("public", "article", "read").await;
    app.grant("public", "person", "read").await;
    let id = |v: Value| v["id"].as_str().expect("id").to_string();
    let c1 = id(app.create_entry("company", json!({"name": "Acme"})).await);
    app.publish("company", &c1).await;
    let mut people = Vec::new();
    for (name, published) in [("Ada", true), ("Bob", false), ("Cy", true)] {
        let p = id(app
            .create_entry("person", json!({"name": name, "salary": 10, "company": c1}))
            .await);
        if published {
            app.publish("person", &p).await;
        }
        people.push(p);
    }
    let mut articles = Vec::new();
    for (title, author, reviewers) in [
        ("a1", &people[0], vec![&people[1], &people[2]]),
        ("a2", &people[1], vec![]),
        ("a3", &people[2], vec![&people[0]]),
    ] {
        let a = id(app
            .create_entry(
                "article",
                json!({"title": title, "author": author, "reviewers": reviewers, "sponsor": c1}),
            )
            .await);
        app.publish("article", &a).await;
        articles.push(a);
    }
    (people, articles)
}

async fn get(app: &TestApp, token: Option<&str>, path: &str) -> (StatusCode, Value) {
    send(app.req_as(token, Method::GET, path)).await
}

async fn populate_expands_nested_relations_as_the_caller_may_see_them(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (people, articles) = setup(&app).await;
    let (status, body) = get(
        &app,
        None,
        "/api/v1/content/article?sort=title&populate=author.company,reviewers",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().expect("items");
    let a1 = &items[0]["populated"];
    assert_eq!(a1["author"]["id"], people[0].as_str(), "{body}");
    assert_eq!(a1["author"]["fields"]["name"], "Ada");
    assert!(
        a1["author"]["fields"].get("salary").is_none(),
        "private fields of related entries stay private: {a1}"
    );
    // `company` has no public right: absent, as if it did not exist.
    assert_eq!(a1["author"]["populated"]["company"], Value::Null, "{a1}");
    // Bob is not published: gone from the list, not a hole or an id.
    let reviewers: Vec<&str> = a1["reviewers"]
        .as_array()
        .expect("reviewers")
        .iter()
        .filter_map(|r| r["id"].as_str())
        .collect();
    assert_eq!(reviewers, [people[2].as_str()]);
    assert_eq!(
        items[1]["populated"]["author"],
        Value::Null,
        "a2's author is a draft"
    );
    assert_eq!(items[1]["populated"]["reviewers"], json!([]));
    // The ids stay where they were.
    assert_eq!(items[1]["fields"]["author"], people[1].as_str());

    // Once `company` is readable, the nested level fills in.
    app.grant("public", "company", "read").await;
    let item = format!(
        "/api/v1/content/article/{}?populate=author.company",
        articles[0]
    );
    let (status, body) = get(&app, None, &item).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["populated"]["author"]["populated"]["company"]["fields"]["name"],
        "Acme"
    );
    // Unpublishing the related entry: the (cached) answer follows at once.
    let (status, b) = send(app.req(
        Method::POST,
        &format!("/api/v1/manage/entries/person/{}/unpublish", people[0]),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{b}");
    let (_, body) = get(&app, None, &item).await;
    assert_eq!(body["populated"]["author"], Value::Null, "{body}");

    // Management shows drafts, with the fields its grant allows.
    let (status, body) = get(
        &app,
        Some(&app.token),
        &format!(
            "/api/v1/manage/entries/article/{}?populate=author,reviewers",
            articles[0]
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["populated"]["author"]["fields"]["salary"], 10);
    assert_eq!(
        body["populated"]["reviewers"].as_array().map(Vec::len),
        Some(2),
        "drafts count on the management side: {body}"
    );
    // A role that reads articles' drafts but not people's: the authors are absent.
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "desk"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.grant("desk", "article", "read_drafts").await;
    let (_, desk) = app.user_token("desk@example.com", "desk").await;
    let (status, body) = get(
        &app,
        Some(&desk),
        "/api/v1/manage/entries/article?populate=author,reviewers",
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let items = body["items"].as_array().expect("items");
    assert_eq!(items.len(), 3);
    for item in items {
        assert_eq!(item["populated"]["author"], Value::Null, "{item}");
        assert_eq!(item["populated"]["reviewers"], json!([]), "{item}");
    }
}

fn statements(resp: &reqwest::Response) -> u32 {
    let timing = header_value(resp, "server-timing").expect("server-timing is on");
    timing
        .split_once("db;desc=\"")
        .and_then(|(_, rest)| rest.split_once(' '))
        .and_then(|(n, _)| n.parse().ok())
        .unwrap_or_else(|| panic!("unreadable Server-Timing: {timing}"))
}

async fn populate_is_batched(backend: Backend) {
    let app = TestApp::spawn_with(backend, |s| s.server_timing = true).await;
    let (people, _) = setup(&app).await;
    for i in 0..9 {
        let a = app
            .create_entry(
                "article",
                json!({"title": format!("b{i}"), "author": people[i % 3], "reviewers": people}),
            )
            .await;
        app.publish("article", a["id"].as_str().expect("id")).await;
    }
    let count = |path: String| {
        let app = &app;
        async move {
            let resp = app.req(Method::GET, &path).send().await.expect("get");
            assert_eq!(resp.status(), StatusCode::OK);
            statements(&resp)
        }
    };
    let base = "/api/v1/manage/entries/article?sort=title";
    let plain_2 = count(format!("{base}&limit=2")).await;
    let plain_12 = count(format!("{base}&limit=12")).await;
    let pop_2 = count(format!("{base}&limit=2&populate=author.company,reviewers")).await;
    let pop_12 = count(format!("{base}&limit=12&populate=author.company,reviewers")).await;
    // Two rows or twelve, ten of them pointing to three people each: populate adds the
    // same three statements (author, author.company, reviewers).
    assert_eq!(
        pop_2,
        plain_2 + 3,
        "limit 2: {plain_2} without, {pop_2} with"
    );
    assert_eq!(
        pop_12,
        plain_12 + 3,
        "limit 12: {plain_12} without, {pop_12} with"
    );
}

async fn populate_refuses_what_it_cannot_expand(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (_, articles) = setup(&app).await;
    let list = "/api/v1/content/article";
    for (populate, why) in [
        ("nope", "unknown field"),
        ("title", "not a relation"),
        ("sponsor", "private on delivery"),
        ("author.nope", "unknown nested field"),
        ("author.salary", "private nested field"),
        ("author.company.name.x", "too deep"),
        ("author,,reviewers", "empty path"),
        ("author company", "not a field name"),
    ] {
        let (status, body) = get(&app, None, &format!("{list}?populate={populate}")).await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_populate")),
            "{populate} ({why}): {body}"
        );
    }
    let too_many = (0..21).map(|_| "author").collect::<Vec<_>>().join(",");
    let (status, body) = get(&app, None, &format!("{list}?populate={too_many}")).await;
    assert_error(status, &body, 400, "invalid_populate");
    let (status, body) = get(
        &app,
        None,
        &format!("/api/v1/content/article/{}?populate=title", articles[0]),
    )
    .await;
    assert_error(status, &body, 400, "invalid_populate");
    // The depth limit is a setting.
    let shallow = TestApp::spawn_with(backend, |s| s.populate_max_depth = 1).await;
    setup(&shallow).await;
    let (status, body) = get(&shallow, None, &format!("{list}?populate=author.company")).await;
    assert_error(status, &body, 400, "invalid_populate");
    let (status, body) = get(&shallow, None, &format!("{list}?populate=author")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The JSON query takes it too.
    let (status, body) = send(
        app.req_as(None, Method::POST, "/api/v1/query/article")
            .json(&json!({"populate": "author", "sort": "title"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(
        body["items"][0]["populated"]["author"].is_object(),
        "{body}"
    );
}
