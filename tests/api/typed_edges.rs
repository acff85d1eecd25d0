//! The HTTP edges a generated client meets (issue 6): action endpoints with an empty
//! body, messages in the request's terms (never `EntryWrite`, `integer_int32`,
//! `map_any`), required text that is blank, cursors bound to their filter and locale,
//! and the two filter encodings generators can send: repeated `filter[f][in]` parameters
//! and the JSON query body with `and`/`or` groups.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    action_endpoints_take_an_empty_body,
    messages_speak_of_the_request,
    required_text_refuses_blank_values,
    cursors_belong_to_their_filter_and_locale,
    generated_client_filter_encodings,
    text_fields_take_only_strings,
);

fn item_type() -> Value {
    json!({"api_id": "item", "name": "Item", "options": {"title_field": "title"},
    "fields": [
        {"name": "title", "type": "text", "required": true},
        {"name": "rating", "type": "integer"},
        {"name": "category", "type": "enum", "values": ["news", "guide"]},
        {"name": "parts", "type": "component", "repeatable": true,
         "fields": [{"name": "label", "type": "text", "required": true}]},
        {"name": "secret", "type": "text", "private": true}
    ]})
}

async fn seeded(backend: Backend) -> (TestApp, Vec<String>) {
    let app = TestApp::spawn(backend).await;
    app.create_type(item_type()).await;
    let mut ids = Vec::new();
    for (i, (rating, category)) in [
        (1, "news"),
        (2, "guide"),
        (3, "news"),
        (4, "guide"),
        (5, "news"),
    ]
    .into_iter()
    .enumerate()
    {
        let e = app
            .create_entry(
                "item",
                json!({"title": format!("Item {i}"), "rating": rating, "category": category}),
            )
            .await;
        let id = e["id"].as_str().expect("id").to_string();
        app.publish("item", &id).await;
        ids.push(id);
    }
    (app, ids)
}

fn ratings(body: &Value) -> Vec<i64> {
    let mut r: Vec<i64> = body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["fields"]["rating"].as_i64().expect("rating"))
        .collect();
    r.sort();
    r
}

async fn action_endpoints_take_an_empty_body(backend: Backend) {
    let (app, ids) = seeded(backend).await;
    let base = format!("/api/v1/manage/entries/item/{}", ids[0]);
    for action in ["unpublish", "publish"] {
        for content_type in [Some("application/json"), None] {
            let mut req = app.req(Method::POST, &format!("{base}/{action}"));
            if let Some(ct) = content_type {
                req = req.header("content-type", ct);
            }
            let (status, body) = send(req).await;
            assert_eq!(
                status,
                StatusCode::OK,
                "{action} with an empty body and content-type {content_type:?}: {body}"
            );
        }
    }
    // A restore needs its body: without one it says so (400, not 415).
    let (status, body) = send(app.req(Method::POST, &format!("{base}/restore"))).await;
    assert_error(status, &body, 400, "invalid_body");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("empty"),
        "{body}"
    );
    let (status, body) = send(
        app.req(Method::POST, &format!("{base}/restore"))
            .json(&json!({"version": 1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = send(app.req(Method::POST, &format!("{base}/transition"))).await;
    assert_error(status, &body, 400, "invalid_body");
}

async fn messages_speak_of_the_request(backend: Backend) {
    let (app, ids) = seeded(backend).await;
    let base = format!("/api/v1/manage/entries/item/{}", ids[0]);
    let cases = [
        app.req(Method::PATCH, &base).json(&json!({"fields": "x"})),
        app.req(Method::POST, &format!("{base}/restore"))
            .json(&json!({"version": "two"})),
        app.req(Method::POST, &format!("{base}/restore"))
            .json(&json!([1])),
        app.req(Method::GET, &format!("{base}/versions?limit=abc")),
        app.req(Method::GET, &format!("{base}/diff?from=x&to=1")),
        app.req(Method::POST, "/api/v1/manage/tokens")
            .json(&json!({"name": "t", "role": "admin", "expires_at": 5})),
    ];
    for req in cases {
        let (status, body) = send(req).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        for internal in [
            "EntryWrite",
            "RestoreRequest",
            "TokenCreate",
            "int32",
            "int64",
            "uint64",
            "map_any",
            "occurred while parsing",
        ] {
            assert!(
                !message.contains(internal),
                "the message names `{internal}`: {message}"
            );
        }
        assert!(!message.is_empty());
    }
}

async fn required_text_refuses_blank_values(backend: Backend) {
    let (app, ids) = seeded(backend).await;
    for blank in ["", "   ", "\t\n"] {
        let (status, body) = send(
            app.req(Method::POST, "/api/v1/manage/entries/item")
                .json(&json!({"fields": {"title": blank}})),
        )
        .await;
        assert_error(status, &body, 422, "validation_failed");
        assert_eq!(
            body["error"]["details"]["fields"][0]["field"], "title",
            "{body}"
        );
        assert_eq!(body["error"]["details"]["fields"][0]["code"], "required");
        let (status, body) = send(
            app.req(
                Method::PATCH,
                &format!("/api/v1/manage/entries/item/{}", ids[0]),
            )
            .json(&json!({"fields": {"title": blank}})),
        )
        .await;
        assert_error(status, &body, 422, "validation_failed");
        let (status, body) = send(
            app.req(Method::POST, "/api/v1/manage/entries/item")
                .json(&json!({"fields": {"title": "ok", "parts": [{"label": blank}]}})),
        )
        .await;
        assert_error(status, &body, 422, "validation_failed");
        assert_eq!(
            body["error"]["details"]["fields"][0]["field"], "parts[0].label",
            "{body}"
        );
    }
    // Optional text may still be empty.
    let (status, body) = send(
        app.req(
            Method::PATCH,
            &format!("/api/v1/manage/entries/item/{}", ids[0]),
        )
        .json(&json!({"fields": {"secret": ""}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn cursors_belong_to_their_filter_and_locale(backend: Backend) {
    let (app, _) = seeded(backend).await;
    for base in ["/api/v1/content/item", "/api/v1/manage/entries/item"] {
        let (status, first) = send(app.req(
            Method::GET,
            &format!("{base}?filter[category][eq]=news&limit=1"),
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "{first}");
        assert_eq!(first["total"], 3);
        let cursor = first["next_cursor"].as_str().expect("cursor").to_string();
        // The same list continues.
        let (status, second) = send(app.req(
            Method::GET,
            &format!("{base}?filter[category][eq]=news&limit=1&cursor={cursor}"),
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "{second}");
        assert_eq!(second["total"], 3);
        // Another filter, no filter, or another locale: refused.
        for other in [
            "filter[category][eq]=guide&",
            "",
            "filter[category][eq]=news&locale=de&",
        ] {
            let (status, body) = send(app.req(
                Method::GET,
                &format!("{base}?{other}limit=1&cursor={cursor}"),
            ))
            .await;
            assert_error(status, &body, 400, "invalid_cursor");
        }
    }
    // The same filter through the JSON body continues the GET list's cursor: the
    // fingerprint is of the filter, not of its encoding.
    let (_, first) = send(app.req(
        Method::GET,
        "/api/v1/content/item?filter[category][eq]=news&limit=2",
    ))
    .await;
    let cursor = first["next_cursor"].as_str().expect("cursor");
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/query/item")
            .json(&json!({"filter": {"category": {"eq": "news"}}, "limit": 2, "cursor": cursor})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(1), "{body}");
}

async fn generated_client_filter_encodings(backend: Backend) {
    let (app, _) = seeded(backend).await;
    // `in` as repeated parameters (what openapi-fetch and openapi-python-client send),
    // and still as one comma-separated value.
    for query in [
        "filter[rating][in]=2&filter[rating][in]=4",
        "filter%5Brating%5D%5Bin%5D=2&filter%5Brating%5D%5Bin%5D=4",
        "filter[rating][in]=2,4",
    ] {
        let (status, body) =
            send(app.req(Method::GET, &format!("/api/v1/content/item?{query}"))).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(ratings(&body), vec![2, 4], "{query}");
    }
    let (status, body) = send(app.req(
        Method::GET,
        "/api/v1/content/item?filter[rating][eq]=2&filter[rating][eq]=3",
    ))
    .await;
    assert_error(status, &body, 400, "invalid_filter");

    // The JSON query: an `or` group, `in` as an array, on both surfaces.
    let filter = json!({"or": [
        {"rating": {"gte": 5}},
        {"category": {"eq": "guide"}, "rating": {"in": [2, 3]}}
    ]});
    for path in ["/api/v1/query/item", "/api/v1/manage/query/item"] {
        let (status, body) = send(
            app.req(Method::POST, path)
                .json(&json!({"filter": filter, "sort": "-rating", "fields": ["rating"]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{path}: {body}");
        assert_eq!(ratings(&body), vec![2, 5], "{path}");
        assert_eq!(body["total"], 2);
        assert!(
            body["items"][0]["fields"].get("title").is_none(),
            "fields= selects"
        );
    }
    // The same query as bracket parameters gives the same answer.
    let (status, body) = send(app.req(
        Method::GET,
        "/api/v1/content/item?filter[or][0][rating][gte]=5&filter[or][1][category][eq]=guide&filter[or][1][rating][in]=2&filter[or][1][rating][in]=3",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ratings(&body), vec![2, 5]);

    // Bad JSON filters: 400 with the place named; private fields: 403 as on GET.
    for (bad, code, status_code) in [
        (json!({"filter": {"rating": 3}}), "invalid_filter", 400),
        (
            json!({"filter": {"rating": {"eq": [1, 2]}}}),
            "invalid_filter",
            400,
        ),
        (
            json!({"filter": {"rating": {"eq": {"x": 1}}}}),
            "invalid_filter",
            400,
        ),
        (
            json!({"filter": {"or": {"rating": {"eq": 1}}}}),
            "invalid_filter",
            400,
        ),
        (
            json!({"filter": {"rating": {"near": 1}}}),
            "invalid_filter",
            400,
        ),
        (
            json!({"filter": {"rating": {"null": 0}}}),
            "invalid_filter",
            400,
        ),
        (
            json!({"filter": {"nope": {"eq": 1}}}),
            "invalid_filter",
            400,
        ),
        (json!({"filter": {"secret": {"eq": "x"}}}), "forbidden", 403),
        (json!({"limit": 0}), "invalid_parameter", 400),
        (json!({"colour": "red"}), "invalid_body", 400),
    ] {
        let (status, body) = send(app.req(Method::POST, "/api/v1/query/item").json(&bad)).await;
        assert_eq!(status.as_u16(), status_code, "{bad}: {body}");
        assert_eq!(body["error"]["code"], code, "{bad}: {body}");
    }
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/query/item?filter[rating][eq]=1")
            .json(&json!({"filter": {"rating": {"eq": 1}}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    // Anonymous callers query what `public` may read, no more: the same answers as the
    // GET list gives them.
    let (get_status, get_body) = send(app.req_as(None, Method::GET, "/api/v1/content/item")).await;
    let (status, body) = send(
        app.req_as(None, Method::POST, "/api/v1/query/item")
            .json(&json!({})),
    )
    .await;
    assert!(status.is_client_error(), "{body}");
    assert_eq!((status, &body), (get_status, &get_body));
    app.grant("public", "item", "read").await;
    let (get_status, get_body) = send(app.req_as(
        None,
        Method::GET,
        "/api/v1/content/item?filter[secret][eq]=x",
    ))
    .await;
    let (status, body) = send(
        app.req_as(None, Method::POST, "/api/v1/query/item")
            .json(&json!({"filter": {"secret": {"eq": "x"}}})),
    )
    .await;
    assert!(
        status.is_client_error(),
        "a private field is refused: {body}"
    );
    assert_eq!((status, &body), (get_status, &get_body));
    let (status, body) = send(
        app.req_as(None, Method::POST, "/api/v1/query/item")
            .json(&json!({"filter": {"rating": {"in": [1, 5]}}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ratings(&body), vec![1, 5]);
    assert!(
        body["items"][0]["fields"].get("secret").is_none(),
        "private fields are not delivered"
    );
}

async fn text_fields_take_only_strings(backend: Backend) {
    let (app, ids) = seeded(backend).await;
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "helper"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let cases = [
        app.req(Method::POST, "/api/v1/query/item")
            .json(&json!({"locale": false})),
        app.req(Method::POST, "/api/v1/query/item")
            .json(&json!({"sort": 12})),
        app.req(Method::POST, "/api/v1/query/item")
            .json(&json!({"fields": [true]})),
        app.req(Method::PATCH, "/api/v1/manage/roles/helper")
            .json(&json!({"description": false})),
        app.req_as(None, Method::POST, "/api/v1/auth/login")
            .json(&json!({"email": 12, "password": "x"})),
        app.req(
            Method::POST,
            &format!("/api/v1/manage/entries/item/{}/transition", ids[0]),
        )
        .json(&json!({"to": 1})),
        app.req(Method::POST, "/api/v1/manage/tokens")
            .json(&json!({"name": true, "role": "helper"})),
    ];
    for req in cases {
        let (status, body) = send(req).await;
        assert_error(status, &body, 400, "invalid_body");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("expected text"), "{message}");
    }
    let (_, role) = send(app.req(Method::GET, "/api/v1/manage/roles")).await;
    assert!(
        !role.to_string().contains("\"false\""),
        "nothing was stored from a refused body: {role}"
    );
}
