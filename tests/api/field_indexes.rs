//! Field indexes are scoped to their content type (issue 7, defect 2): two types may use
//! one field name for values of different kinds, `indexed` on either, and writes, filters
//! and sorts of both keep working; each type's indexes are partial on that type, follow
//! its `indexed` flags, and go with it.

use reqwest::{Method, StatusCode};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    one_field_name_with_two_kinds_on_two_types,
    field_indexes_are_partial_per_type_and_follow_the_type
);

fn ratings(body: &Value, key: &str) -> Vec<Value> {
    body["items"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| e["fields"][key].clone())
        .collect()
}

async fn one_field_name_with_two_kinds_on_two_types(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(json!({"api_id": "movie", "name": "Movie", "fields": [
        {"name": "title", "type": "text"},
        {"name": "rating", "type": "integer", "indexed": true},
        {"name": "score", "type": "decimal", "indexed": true},
        {"name": "featured", "type": "boolean", "indexed": true}]}))
        .await;
    app.create_type(json!({"api_id": "review", "name": "Review", "fields": [
        {"name": "rating", "type": "text", "indexed": true},
        {"name": "score", "type": "enum", "values": ["high", "low"], "indexed": true},
        {"name": "featured", "type": "text"}]}))
        .await;
    app.grant("public", "movie", "read").await;
    app.grant("public", "review", "read").await;
    // Text where the other type's index casts to bigint, float8 and boolean: these writes
    // answered 500 on PostgreSQL (invalid input syntax for type bigint).
    for (rating, score) in [
        ("good", "high"),
        ("12abc", "low"),
        ("99999999999999999999", "high"),
    ] {
        let (status, body) = send(
            app.req(Method::POST, "/api/v1/manage/entries/review")
                .json(&json!({"fields": {"rating": rating, "score": score, "featured": "yes"}})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_str().expect("id");
        app.publish("review", id).await;
    }
    for (i, rating) in [3, 1, 5, 2, 4].into_iter().enumerate() {
        let e = app
            .create_entry(
                "movie",
                json!({"title": format!("m{i}"), "rating": rating, "score": rating as f64 / 2.0,
                       "featured": rating % 2 == 1}),
            )
            .await;
        app.publish("movie", e["id"].as_str().expect("id")).await;
    }
    let (status, body) = send(app.req_as(
        None,
        Method::GET,
        "/api/v1/content/movie?filter[rating][gte]=3&sort=-rating",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ratings(&body, "rating"), [json!(5), json!(4), json!(3)]);
    let (status, body) = send(app.req_as(
        None,
        Method::GET,
        "/api/v1/content/movie?filter[score][lt]=1.5&filter[featured][eq]=true&sort=score",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ratings(&body, "rating"), [json!(1)]);
    let (status, body) = send(app.req(
        Method::GET,
        "/api/v1/manage/entries/movie?filter[featured][eq]=false&sort=rating",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ratings(&body, "rating"), [json!(2), json!(4)]);
    let (status, body) = send(app.req_as(
        None,
        Method::GET,
        "/api/v1/content/review?filter[rating][eq]=good",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ratings(&body, "score"), [json!("high")]);
    let (status, body) =
        send(app.req_as(None, Method::GET, "/api/v1/content/review?sort=rating")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        ratings(&body, "rating"),
        [json!("12abc"), json!("99999999999999999999"), json!("good")]
    );
}

async fn field_indexes(app: &TestApp) -> Vec<(String, String)> {
    let db = sea_orm::Database::connect(app.database_url())
        .await
        .expect("db");
    let sql = if app.database_url().starts_with("postgres") {
        "SELECT indexname AS name, indexdef AS def FROM pg_indexes WHERE tablename = 'entries' ORDER BY 1"
    } else {
        "SELECT name, sql AS def FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries' AND sql IS NOT NULL ORDER BY 1"
    };
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            sql,
        ))
        .await
        .expect("list indexes");
    let _ = db.close().await;
    rows.iter()
        .map(|r| {
            (
                r.try_get::<String>("", "name").expect("name"),
                r.try_get::<String>("", "def").expect("def"),
            )
        })
        .filter(|(_, def)| def.contains("rating") || def.contains("kind"))
        .collect()
}

async fn field_indexes_are_partial_per_type_and_follow_the_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let fields = json!([{"name": "rating", "type": "integer", "indexed": true},
                        {"name": "kind", "type": "text", "indexed": true}]);
    app.create_type(json!({"api_id": "movie", "name": "Movie", "fields": fields}))
        .await;
    app.create_type(json!({"api_id": "book", "name": "Book", "fields": fields}))
        .await;
    let all = field_indexes(&app).await;
    // Two fields × draft and published × two types, each restricted to its own type.
    assert_eq!(all.len(), 8, "{all:?}");
    for (name, def) in &all {
        // PostgreSQL shows `WHERE ((type_id)::text = 'movie'::text)`, SQLite our text.
        let predicate = def.split_once(" WHERE ").map(|(_, p)| p).unwrap_or("");
        assert!(
            predicate.contains("type_id")
                && (predicate.contains("'movie'") || predicate.contains("'book'")),
            "{name} is not scoped to one type: {def}"
        );
    }
    // `kind` is no longer indexed on movies: its two indexes go, book's stay.
    let (status, body) = send(
        app.req(Method::PUT, "/api/v1/manage/content-types/movie")
            .json(&json!({"api_id": "movie", "name": "Movie", "fields": [
            {"name": "rating", "type": "integer", "indexed": true},
            {"name": "kind", "type": "text"}]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let after = field_indexes(&app).await;
    assert_eq!(after.len(), 6, "{after:?}");
    assert!(
        !after
            .iter()
            .any(|(_, d)| d.contains("kind") && d.contains("'movie'")),
        "{after:?}"
    );
    // Deleting books drops their indexes; movies keep theirs.
    let (status, body) = send(app.req(Method::DELETE, "/api/v1/manage/content-types/book")).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let after = field_indexes(&app).await;
    assert_eq!(after.len(), 2, "{after:?}");
    assert!(
        after.iter().all(|(_, d)| d.contains("'movie'")),
        "{after:?}"
    );
    // A restart (start-up rebuilds what is missing) keeps exactly these.
    let app = app.restart_after(async {}).await;
    assert_eq!(field_indexes(&app).await, after);
}
