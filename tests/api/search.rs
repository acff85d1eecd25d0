//! Full-text search (issue 8): relevance (title over body), typos, prefixes, phrases and
//! stems in English and German, highlights, facets and filters, drafts against published
//! content, unpublish and delete, field and ownership rules, schema changes that
//! reindex, restarts and rebuilds, and bad queries.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    relevance_typos_prefixes_phrases_and_stems,
    highlights_facets_and_filters,
    sorts_by_fields_and_times,
    one_type_paths_answer_and_are_typed,
    drafts_publish_unpublish_and_delete,
    fields_and_ownership_decide_what_is_searched,
    a_schema_change_reindexes_the_type,
    restart_resumes_and_a_lost_index_is_rebuilt,
    bad_queries_are_refused_or_cheap,
    the_index_equals_the_database_after_kill_9,
    metrics_and_search_statistics,
    the_cli_reindexes_an_index_no_server_holds
);

fn rt(text: &str) -> Value {
    json!({"type": "doc", "content": text.split("\n").map(|p| json!({"type": "paragraph", "content": [{"type": "text", "text": p}]})).collect::<Vec<_>>()})
}

fn post_type() -> Value {
    json!({"api_id": "post", "name": "Post", "options": {"title_field": "title"},
    "fields": [
        {"name": "title", "type": "text"},
        {"name": "body", "type": "richtext"},
        {"name": "category", "type": "enum", "values": ["news", "guide", "review"], "indexed": true},
        {"name": "rating", "type": "integer", "indexed": true},
        {"name": "featured", "type": "boolean", "indexed": true},
        {"name": "day", "type": "date", "indexed": true},
        {"name": "notes", "type": "text"}
    ]})
}

async fn published(app: &TestApp, ty: &str, fields: Value) -> String {
    let e = app.create_entry(ty, fields).await;
    let id = e["id"].as_str().expect("id").to_string();
    app.publish(ty, &id).await;
    id
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn search(app: &TestApp, token: Option<&str>, query: &str) -> Value {
    let path = format!("/api/v1/search?{query}");
    let (status, body) = send(app.req_as(token, Method::GET, &path)).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

async fn q(app: &TestApp, words: &str, rest: &str) -> Value {
    search(app, Some(&app.token), &format!("q={}{rest}", enc(words))).await
}

fn titles(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| {
            h["entry"]["fields"]["title"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect()
}

async fn relevance_typos_prefixes_phrases_and_stems(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(post_type()).await;
    published(&app, "post", json!({"title": "A note on gardening", "body": rt("Mentions search only in the body, and an index.")})).await;
    published(
        &app,
        "post",
        json!({"title": "Search explained", "body": rt("All about looking things up.")}),
    )
    .await;
    published(&app, "post", json!({"title": "Marathon diary", "body": rt("He runs every morning; the index of running shoes grows.")})).await;
    published(
        &app,
        "post",
        json!({"title": "Unrelated", "body": rt("Cooking pasta at home.")}),
    )
    .await;
    app.search_settled().await;

    // Title above body, whatever the order of creation.
    let r = q(&app, "search", "").await;
    assert_eq!(
        titles(&r),
        ["Search explained", "A note on gardening"],
        "{r}"
    );
    assert_eq!(r["total"], 2);
    assert_eq!(r["total_exact"], true, "a small count is exact: {r}");
    assert!(r["items"][0]["score"].as_f64() > r["items"][1]["score"].as_f64());
    // One typo in a six-letter word; a transposition counts as one.
    assert_eq!(
        titles(&q(&app, "serach", "").await),
        ["Search explained", "A note on gardening"]
    );
    assert_eq!(titles(&q(&app, "saerch", "").await).len(), 2);
    // Four letters allow no typo.
    assert!(
        titles(&q(&app, "cokk", "").await).is_empty(),
        "no typos up to 4 letters"
    );
    // Prefix on the last word, typed up to the end; not once a space follows.
    assert_eq!(titles(&q(&app, "sear", "").await).len(), 2);
    assert!(titles(&q(&app, "sear ", "").await).is_empty());
    assert_eq!(titles(&q(&app, "gard", "").await), ["A note on gardening"]);
    // Every word must match.
    assert_eq!(
        titles(&q(&app, "search index", "").await),
        ["A note on gardening"]
    );
    // Phrases: the words together, in order.
    assert_eq!(
        titles(&q(&app, "\"running shoes\"", "").await),
        ["Marathon diary"]
    );
    assert!(titles(&q(&app, "\"shoes running\"", "").await).is_empty());
    // Stems: `run` finds runs and running.
    assert_eq!(titles(&q(&app, "run", "").await), ["Marathon diary"]);
    assert_eq!(
        titles(&q(&app, "morning runners", "").await).len(),
        0,
        "runners is not run"
    );

    // German, with its own stemmer, on a localized type.
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/locales")
            .json(&json!({"code": "de", "name": "Deutsch"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    app.create_type(json!({"api_id": "seite", "name": "Seite", "options": {"title_field": "titel", "localized": true},
        "fields": [{"name": "titel", "type": "text", "localized": true}, {"name": "text", "type": "longtext", "localized": true}]}))
        .await;
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/entries/seite")
            .json(&json!({"locale": "de", "fields": {"titel": "Alte Häuser", "text": "Die Häuser der Altstadt und ihre Gärten"}})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let de = body["id"].as_str().expect("id").to_string();
    app.publish("seite", &de).await;
    app.search_settled().await;
    let r = q(&app, "Haus", "&locale=de").await;
    assert_eq!(r["total"], 1, "Haus finds Häuser: {r}");
    assert_eq!(r["items"][0]["entry"]["id"], de.as_str());
    assert_eq!(
        r["items"][0]["highlights"]["titel"],
        "Alte <mark>Häuser</mark>"
    );
    assert_eq!(
        q(&app, "garten", "&type=seite").await["total"],
        1,
        "Gärten by stem, accents folded"
    );
    // The German entry is not found by searching English-only.
    assert_eq!(q(&app, "Haus", "&locale=en").await["total"], 0);
}

async fn highlights_facets_and_filters(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(post_type()).await;
    let rows = [
        ("Garden news", "news", 5, true, "2026-01-10"),
        ("Garden guide", "guide", 4, false, "2026-02-10"),
        ("Garden review", "review", 2, false, "2026-03-10"),
        ("Another garden guide", "guide", 3, true, "2026-04-10"),
        ("Kitchen guide", "guide", 5, true, "2026-05-10"),
    ];
    for (t, c, r, f, d) in rows {
        published(
            &app,
            "post",
            json!({"title": t, "category": c, "rating": r, "featured": f, "day": d,
                   "body": rt(&format!("{} <script>alert(1)</script> & more text about plants in the {}, {}", "lorem ipsum ".repeat(40), if t.contains("arden") { "garden" } else { "yard" }, "dolor ".repeat(40)))}),
        )
        .await;
    }
    app.search_settled().await;

    let r = q(
        &app,
        "garden",
        "&type=post&facets=category,rating,featured,type",
    )
    .await;
    assert_eq!(r["total"], 4, "{r}");
    let facet = |name: &str| -> Vec<(String, i64)> {
        r["facets"][name]
            .as_array()
            .expect("facet")
            .iter()
            .map(|v| {
                (
                    v["value"].as_str().expect("value").to_string(),
                    v["count"].as_i64().expect("count"),
                )
            })
            .collect()
    };
    assert_eq!(
        facet("category"),
        [
            ("guide".into(), 2),
            ("news".into(), 1),
            ("review".into(), 1)
        ]
    );
    assert_eq!(
        facet("featured")
            .iter()
            .find(|(v, _)| v == "true")
            .map(|x| x.1),
        Some(2),
        "{:?}",
        facet("featured")
    );
    assert_eq!(facet("rating").len(), 4);
    assert_eq!(facet("type"), [("post".into(), 4)]);
    // Highlights: escaped, marked, cut around the match.
    let hit = &r["items"][0];
    let body = hit["highlights"]["body"].as_str().expect("body highlight");
    assert!(body.contains("<mark>garden</mark>"), "{body}");
    assert!(
        body.contains("&lt;script&gt;") || !body.contains("script"),
        "{body}"
    );
    assert!(!body.contains("<script>"), "{body}");
    assert!(body.starts_with('…') && body.ends_with('…'), "{body}");
    assert!(body.chars().count() < 260, "{body}");
    assert!(
        hit["highlights"]["title"]
            .as_str()
            .expect("title")
            .contains("<mark>Garden</mark>")
            || hit["highlights"]["title"]
                .as_str()
                .expect("title")
                .contains("<mark>garden</mark>")
    );
    assert!(hit["highlights"].get("notes").is_none());

    // Filters combine with the words.
    let r = q(&app, "garden", "&type=post&filter[category][eq]=guide").await;
    assert_eq!(titles(&r).len(), 2);
    let r = q(&app, "garden", "&type=post&filter[rating][gte]=4").await;
    assert_eq!(r["total"], 2, "{r}");
    let r = q(
        &app,
        "garden",
        "&type=post&filter[featured][eq]=true&filter[rating][lt]=5",
    )
    .await;
    assert_eq!(titles(&r), ["Another garden guide"]);
    let r = q(
        &app,
        "garden",
        "&type=post&filter[category][in]=news&filter[category][in]=review",
    )
    .await;
    assert_eq!(r["total"], 2);
    let r = q(&app, "garden", "&type=post&filter[category][ne]=guide").await;
    assert_eq!(r["total"], 2);
    let r = q(&app, "garden", "&type=post&filter[day][gte]=2026-03-01").await;
    assert_eq!(r["total"], 2, "{r}");
    let r = q(
        &app,
        "garden",
        "&type=post&filter[or][0][rating][eq]=2&filter[or][1][category][eq]=news",
    )
    .await;
    assert_eq!(r["total"], 2, "{r}");
    // Empty words: everything in scope, for facets.
    let r = search(&app, Some(&app.token), "type=post&facets=category").await;
    assert_eq!(r["total"], 5);
    assert_eq!(r["facets"]["category"][0]["value"], "guide");
    assert_eq!(r["facets"]["category"][0]["count"], 3);
    // Paging.
    let first = q(&app, "garden", "&type=post&limit=3").await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(3));
    let cursor = first["next_cursor"].as_str().expect("cursor").to_string();
    let second = q(
        &app,
        "garden",
        &format!("&type=post&limit=3&cursor={cursor}"),
    )
    .await;
    assert_eq!(second["items"].as_array().map(Vec::len), Some(1));
    assert!(second["next_cursor"].is_null());
    let mut all = titles(&first);
    all.extend(titles(&second));
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 4);

    // Filters and facets the index cannot answer are 400s that say why.
    for (query, code) in [
        ("q=garden&type=post&filter[notes][eq]=x", "invalid_filter"),
        ("q=garden&filter[category][eq]=guide", "invalid_search"),
        ("q=garden&type=post&facets=notes", "invalid_search"),
        ("q=garden&type=post&facets=nosuch", "invalid_search"),
        (
            "q=garden&type=post&filter[title][contains]=x",
            "invalid_filter",
        ),
        (
            "q=garden&type=post&filter[rating][gte]=abc",
            "invalid_filter",
        ),
        ("q=garden&type=post&filter[id][eq]=x", "invalid_filter"),
    ] {
        let (status, body) = send(app.req(Method::GET, &format!("/api/v1/search?{query}"))).await;
        assert_error(status, &body, 400, code);
    }
}

async fn sorts_by_fields_and_times(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(post_type()).await;
    let rows = [
        ("Garden news", "news", Some(5), "2026-01-10"),
        ("Garden guide", "guide", Some(4), "2026-02-10"),
        ("Garden review", "review", Some(2), "2026-03-10"),
        ("Another garden guide", "guide", Some(3), "2026-04-10"),
        ("Kitchen guide", "guide", Some(1), "2026-05-10"),
        ("Unrated garden", "news", None, "2026-06-10"),
    ];
    for (t, c, r, d) in rows {
        let mut fields = json!({"title": t, "category": c, "day": d, "body": rt("about plants")});
        if let Some(r) = r {
            fields["rating"] = json!(r);
        }
        published(&app, "post", fields).await;
    }
    app.create_type(
        json!({"api_id": "page", "name": "Page", "options": {"title_field": "title"},
        "fields": [{"name": "title", "type": "text"}]}),
    )
    .await;
    published(&app, "page", json!({"title": "Garden page"})).await;
    app.search_settled().await;

    let sorted = |r: &Value| titles(r).join(" | ");
    // Numbers both ways; entries without a value come last either way.
    let r = q(&app, "garden", "&type=post&sort=-rating").await;
    assert_eq!(
        sorted(&r),
        "Garden news | Garden guide | Another garden guide | Garden review | Unrated garden"
    );
    assert_eq!(r["total"], 5);
    let r = q(&app, "garden", "&type=post&sort=rating").await;
    assert_eq!(
        sorted(&r),
        "Garden review | Another garden guide | Garden guide | Garden news | Unrated garden"
    );
    assert!(r["items"][0]["score"].as_f64().expect("score") > 0.0, "{r}");
    // Dates, and a second key breaking the first one's ties (enum values as text).
    let r = search(&app, Some(&app.token), "type=post&sort=-day").await;
    assert_eq!(titles(&r)[0], "Unrated garden");
    assert_eq!(titles(&r)[5], "Garden news");
    let r = search(&app, Some(&app.token), "type=post&sort=category,-rating").await;
    assert_eq!(
        sorted(&r),
        "Garden guide | Another garden guide | Kitchen guide | Garden news | Unrated garden | Garden review"
    );
    // Pages continue the order, and facets count while sorting.
    let first = search(
        &app,
        Some(&app.token),
        "type=post&sort=category,-rating&limit=4&facets=category",
    )
    .await;
    assert_eq!(
        first["facets"]["category"][0],
        json!({"value": "guide", "count": 3})
    );
    let cursor = first["next_cursor"].as_str().expect("cursor").to_string();
    let rest = search(
        &app,
        Some(&app.token),
        &format!("type=post&sort=category,-rating&limit=4&cursor={cursor}"),
    )
    .await;
    let mut both = titles(&first);
    both.extend(titles(&rest));
    assert_eq!(both.join(" | "), sorted(&r));
    // The entry's times work across types.
    let r = q(&app, "garden", "&sort=-created_at").await;
    assert_eq!(r["total"], 6);
    let created: Vec<String> = r["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|h| {
            h["entry"]["created_at"]
                .as_str()
                .expect("created_at")
                .to_string()
        })
        .collect();
    let mut newest_first = created.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_eq!(created, newest_first);
    assert_eq!(titles(&r)[0], "Garden page");
    let r = q(&app, "garden", "&sort=published_at").await;
    assert_eq!(titles(&r)[0], "Garden news");
    let r = q(
        &app,
        "garden",
        "&type=post&filter[created_at][lte]=2000-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(r["total"], 0);
    let r = q(
        &app,
        "garden",
        "&type=post&filter[updated_at][gte]=2000-01-01T00:00:00Z",
    )
    .await;
    assert_eq!(r["total"], 5);

    for (query, code) in [
        ("q=garden&type=post&sort=title", "invalid_sort"),
        ("q=garden&type=post&sort=notes", "invalid_sort"),
        ("q=garden&type=post&sort=body", "invalid_sort"),
        ("q=garden&type=post&sort=nosuch", "invalid_sort"),
        ("q=garden&type=post&sort=status", "invalid_sort"),
        ("q=garden&type=post&sort=rating,-rating", "invalid_sort"),
        (
            "q=garden&type=post&sort=rating,day,category,featured",
            "invalid_sort",
        ),
        ("q=garden&sort=rating", "invalid_search"),
        (
            "q=garden&type=post&sort=rating&sort=day",
            "invalid_parameter",
        ),
    ] {
        let (status, body) = send(app.req(Method::GET, &format!("/api/v1/search?{query}"))).await;
        assert_error(status, &body, 400, code);
    }
}

async fn one_type_paths_answer_and_are_typed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(post_type()).await;
    app.grant("public", "post", "read").await;
    for (t, r) in [("Garden news", 5), ("Garden guide", 3), ("Kitchen news", 4)] {
        published(
            &app,
            "post",
            json!({"title": t, "rating": r, "category": "news"}),
        )
        .await;
    }
    app.create_entry("post", json!({"title": "Garden draft", "rating": 9}))
        .await;
    app.search_settled().await;

    // The same answer as `type=`, anonymous on delivery, drafts on management.
    let one = search(&app, None, "q=garden&type=post&sort=-rating").await;
    let (status, typed) = send(app.req_as(
        None,
        Method::GET,
        "/api/v1/search/post?q=garden&sort=-rating",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{typed}");
    assert_eq!(titles(&typed), ["Garden news", "Garden guide"]);
    assert_eq!(titles(&typed), titles(&one));
    let (_, r) = send(app.req_as(
        None,
        Method::GET,
        "/api/v1/search/post?q=news&filter[rating][lt]=5",
    ))
    .await;
    assert_eq!(titles(&r), ["Kitchen news"], "{r}");
    let (status, r) = send(app.req(
        Method::GET,
        "/api/v1/manage/search/post?q=garden&sort=-rating",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(titles(&r), ["Garden draft", "Garden news", "Garden guide"]);
    let (status, body) =
        send(app.req_as(None, Method::GET, "/api/v1/manage/search/post?q=garden")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, body) = send(app.req(Method::GET, "/api/v1/search/post?q=garden&type=post")).await;
    assert_error(status, &body, 400, "invalid_parameter");
    let (status, body) = send(app.req(Method::GET, "/api/v1/search/nosuch?q=garden")).await;
    assert_error(status, &body, 404, "content_type_not_found");
    let (status, body) = send(app.req(
        Method::GET,
        "/api/v1/search/post?q=garden&filter[title][eq]=x",
    ))
    .await;
    assert_error(status, &body, 400, "invalid_filter");
    // Hostile input on the new paths: NUL bytes and huge values are refused with a 4xx
    // (60 KB, near what an HTTP client will send in a URL, stops at the request-line
    // limit), never a 5xx.
    let huge = "s".repeat(60_000);
    for (path, want) in [
        (
            "/api/v1/search/post?q=garden&sort=%00".to_string(),
            Some((400, "invalid_characters")),
        ),
        (
            "/api/v1/search/post?q=garden&sort=-%00rating".to_string(),
            Some((400, "invalid_characters")),
        ),
        (
            "/api/v1/search/post?q=%00garden%00".to_string(),
            Some((400, "invalid_characters")),
        ),
        ("/api/v1/search/po%00st?q=garden".to_string(), None),
        (
            "/api/v1/search/post?q=garden&filter[rating][eq]=%00".to_string(),
            Some((400, "invalid_characters")),
        ),
        (format!("/api/v1/search/post?q=garden&sort={huge}"), None),
        (format!("/api/v1/search/{huge}?q=garden"), None),
    ] {
        let (status, body) = send(app.req_as(None, Method::GET, &path)).await;
        assert!(
            status.is_client_error() || status.is_success(),
            "{path:.80}: {status} {body}"
        );
        if let Some((code, name)) = want {
            assert_error(status, &body, code, name);
        }
    }
    // Another role's token: a role with no right on the type is refused on both paths
    // (its own grant decides, not `public`'s).
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "outsider"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let outsider = app.create_token("outsider", "outsider").await["token"]
        .as_str()
        .expect("secret")
        .to_string();
    let (status, body) =
        send(app.req_as(Some(&outsider), Method::GET, "/api/v1/search/post?q=garden")).await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = send(app.req_as(
        Some(&outsider),
        Method::GET,
        "/api/v1/manage/search/post?q=garden",
    ))
    .await;
    assert_error(status, &body, 403, "forbidden");
    // 50 searches at once on the new path: all answered alike.
    let answers = futures_util::future::join_all((0..50).map(|_| {
        send(app.req_as(
            None,
            Method::GET,
            "/api/v1/search/post?q=garden&sort=-rating",
        ))
    }))
    .await;
    for (status, body) in answers {
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(titles(&body), ["Garden news", "Garden guide"]);
    }

    // The document types them: the type's entries, and filters only on what the index
    // answers (indexed fields: ranges on numbers and dates only; no text operators).
    let (_, doc) = send(app.req_as(None, Method::GET, "/openapi.json")).await;
    let op = &doc["paths"]["/api/v1/search/post"]["get"];
    assert_eq!(op["operationId"], "searchPost", "{op}");
    let names: Vec<&str> = op["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    for want in [
        "q",
        "sort",
        "facets",
        "limit",
        "cursor",
        "filter[rating][gte]",
        "filter[category][in]",
        "filter[day][lt]",
        "filter[published_at][gte]",
        "filter[locale][eq]",
    ] {
        assert!(names.contains(&want), "{want} missing from {names:?}");
    }
    for unwanted in [
        "filter[title][eq]",
        "filter[category][gt]",
        "filter[category][contains]",
        "filter[notes][eq]",
    ] {
        assert!(!names.contains(&unwanted), "{unwanted} in {names:?}");
    }
    let results = op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
        .as_str()
        .expect("results ref");
    assert_eq!(results, "#/components/schemas/PostSearchResults");
    assert_eq!(
        doc["components"]["schemas"]["PostSearchHit"]["properties"]["entry"]["$ref"],
        "#/components/schemas/Post"
    );
    // Anonymous callers are not shown the draft search; the administrator is.
    assert!(doc["paths"].get("/api/v1/manage/search/post").is_none());
    let (_, admin_doc) = send(app.req(Method::GET, "/openapi.json")).await;
    assert_eq!(
        admin_doc["components"]["schemas"]["PostManagedSearchHit"]["properties"]["entry"]["$ref"],
        "#/components/schemas/PostManaged"
    );
    assert_eq!(
        admin_doc["paths"]["/api/v1/manage/search/post"]["get"]["operationId"],
        "searchManagedPost"
    );
}

async fn drafts_publish_unpublish_and_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(post_type()).await;
    app.grant("public", "post", "read").await;
    let live = published(&app, "post", json!({"title": "Zebra crossing"})).await;
    let draft = app
        .create_entry("post", json!({"title": "Zebra draft"}))
        .await;
    let draft_id = draft["id"].as_str().expect("id").to_string();
    app.search_settled().await;

    // Delivery: published only, for anonymous callers too.
    let r = search(&app, None, "q=zebra").await;
    assert_eq!(titles(&r), ["Zebra crossing"]);
    // Management: the drafts, for whoever may read them.
    let (status, m) = send(app.req(Method::GET, "/api/v1/manage/search?q=zebra")).await;
    assert_eq!(status, StatusCode::OK, "{m}");
    assert_eq!(m["total"], 2, "{m}");
    assert!(
        m["items"]
            .as_array()
            .expect("items")
            .iter()
            .any(|h| h["entry"]["id"] == draft_id.as_str())
    );
    // A word that exists only in a draft does not change what delivery finds: `zebar`
    // is a typo of the published `zebra` whether or not some draft holds `zebar`.
    let typo_before = search(&app, None, "q=zebar").await;
    assert_eq!(titles(&typo_before), ["Zebra crossing"], "{typo_before}");
    let hidden = app.create_entry("post", json!({"title": "zebar"})).await;
    app.search_settled().await;
    assert_eq!(
        search(&app, None, "q=zebar").await["total"],
        typo_before["total"]
    );
    let (status, _) = send(app.req(
        Method::DELETE,
        &format!(
            "/api/v1/manage/entries/post/{}",
            hidden["id"].as_str().expect("id")
        ),
    ))
    .await;
    assert!(status.is_success());
    app.search_settled().await;
    // Anonymous callers have no management search.
    let (status, body) = send(app.req_as(None, Method::GET, "/api/v1/manage/search?q=zebra")).await;
    assert_error(status, &body, 401, "unauthenticated");

    // An edit of the live entry: delivery keeps the published words, drafts show new ones.
    let (status, body) = send(
        app.req(
            Method::PATCH,
            &format!("/api/v1/manage/entries/post/{live}"),
        )
        .json(&json!({"fields": {"title": "Giraffe crossing"}})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.search_settled().await;
    assert_eq!(
        titles(&search(&app, None, "q=zebra").await),
        ["Zebra crossing"]
    );
    assert_eq!(search(&app, None, "q=giraffe").await["total"], 0);
    let (_, m) = send(app.req(Method::GET, "/api/v1/manage/search?q=giraffe")).await;
    assert_eq!(titles(&m), ["Giraffe crossing"]);

    // Publishing the draft makes it findable; unpublishing removes it within a second.
    app.publish("post", &draft_id).await;
    app.search_settled().await;
    assert_eq!(search(&app, None, "q=zebra").await["total"], 2);
    let (status, body) = send(app.req(
        Method::POST,
        &format!("/api/v1/manage/entries/post/{draft_id}/unpublish"),
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let start = Instant::now();
    loop {
        let r = search(&app, None, "q=zebra").await;
        if titles(&r) == ["Zebra crossing"] {
            break;
        }
        // The bound is 1 s by design (commits every 250 ms); a loaded CI machine gets 2.
        assert!(
            start.elapsed() < Duration::from_secs(2),
            "still found after {:?}: {r}",
            start.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    // Deleting removes it from both surfaces.
    let (status, body) = send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/entries/post/{live}"),
    ))
    .await;
    assert!(status.is_success(), "{body}");
    app.search_settled().await;
    assert_eq!(search(&app, None, "q=zebra").await["total"], 0);
    let (_, m) = send(app.req(Method::GET, "/api/v1/manage/search?q=crossing")).await;
    assert_eq!(m["total"], 0, "{m}");
    let (_, m) = send(app.req(Method::GET, "/api/v1/manage/search?q=zebra")).await;
    assert_eq!(titles(&m), ["Zebra draft"]);
}

async fn fields_and_ownership_decide_what_is_searched(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(
        json!({"api_id": "memo", "name": "Memo", "options": {"title_field": "title"},
        "fields": [
            {"name": "title", "type": "text", "searchable": true},
            {"name": "secret", "type": "text", "private": true, "searchable": true},
            {"name": "notes", "type": "text", "searchable": true},
            {"name": "kind", "type": "enum", "values": ["a", "b"], "indexed": true}
        ]}),
    )
    .await;
    app.grant("public", "memo", "read").await;
    published(
        &app,
        "memo",
        json!({"title": "Quarterly plan", "secret": "walrus", "notes": "pelican", "kind": "a"}),
    )
    .await;
    app.search_settled().await;

    // Private fields are never searched on delivery, nor highlighted.
    let r = search(&app, None, "q=walrus").await;
    assert_eq!(r["total"], 0, "{r}");
    let r = search(&app, None, "q=pelican").await;
    assert_eq!(r["total"], 1);
    assert!(r["items"][0]["highlights"].get("secret").is_none());
    assert!(r["items"][0]["entry"]["fields"].get("secret").is_none());
    // The administrator's draft search reads private fields.
    let (_, m) = send(app.req(Method::GET, "/api/v1/manage/search?q=walrus")).await;
    assert_eq!(m["total"], 1, "{m}");
    assert_eq!(m["items"][0]["highlights"]["secret"], "<mark>walrus</mark>");

    // A role that may not read `notes` cannot find by it, see it highlighted, or facet
    // or filter on a field it may not read.
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "reader"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = send(app.req(Method::POST, "/api/v1/manage/policies")
        .json(&json!({"role": "reader", "resource": "memo", "action": "read", "fields": {"deny": ["notes", "kind"]}}))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = app.create_token("reader", "reader").await["token"]
        .as_str()
        .expect("secret")
        .to_string();
    app.search_settled().await;
    assert_eq!(search(&app, Some(&token), "q=pelican").await["total"], 0);
    let r = search(&app, Some(&token), "q=quarterly").await;
    assert_eq!(r["total"], 1);
    assert!(r["items"][0]["highlights"].get("notes").is_none());
    let (status, body) = send(app.req_as(
        Some(&token),
        Method::GET,
        "/api/v1/search?q=quarterly&type=memo&facets=kind",
    ))
    .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = send(app.req_as(
        Some(&token),
        Method::GET,
        "/api/v1/search?q=quarterly&type=memo&filter[kind][eq]=a",
    ))
    .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) = send(app.req_as(
        Some(&token),
        Method::GET,
        "/api/v1/search?q=quarterly&type=memo&sort=-kind",
    ))
    .await;
    assert_error(status, &body, 403, "forbidden");
    // A type the caller may not read at all.
    app.create_type(
        json!({"api_id": "vault", "name": "Vault", "fields": [{"name": "title", "type": "text"}]}),
    )
    .await;
    published(&app, "vault", json!({"title": "Quarterly vault"})).await;
    app.search_settled().await;
    assert_eq!(
        search(&app, Some(&token), "q=quarterly").await["total"],
        1,
        "vault stays out of reach"
    );
    let (status, body) = send(app.req_as(
        Some(&token),
        Method::GET,
        "/api/v1/search?q=quarterly&type=vault",
    ))
    .await;
    assert_error(status, &body, 403, "forbidden");
    let (status, body) =
        send(app.req_as(None, Method::GET, "/api/v1/search?q=quarterly&type=vault")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(search(&app, None, "q=quarterly").await["total"], 1);

    // Ownership: authors search only their own drafts, and counts never reveal others'.
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "scribe"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for action in ["read_drafts", "update"] {
        let (status, body) = send(app.req(Method::POST, "/api/v1/manage/policies").json(
            &json!({"role": "scribe", "resource": "memo", "action": action, "condition": "owner"}),
        ))
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    app.grant("scribe", "memo", "create").await;
    let (_, ann) = app.user_token("ann@example.com", "scribe").await;
    let (_, bob) = app.user_token("bob@example.com", "scribe").await;
    for (token, title) in [
        (&ann, "Heron by ann"),
        (&bob, "Heron by bob"),
        (&bob, "Second heron by bob"),
    ] {
        let (status, body) = send(
            app.req_as(Some(token), Method::POST, "/api/v1/manage/entries/memo")
                .json(&json!({"fields": {"title": title, "kind": "b"}})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    app.search_settled().await;
    let (status, r) = send(app.req_as(
        Some(&ann),
        Method::GET,
        "/api/v1/manage/search?q=heron&type=memo&facets=kind,type",
    ))
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(titles(&r), ["Heron by ann"]);
    assert_eq!(r["total"], 1);
    assert_eq!(r["facets"]["kind"], json!([{"value": "b", "count": 1}]));
    let (_, r) = send(app.req_as(Some(&bob), Method::GET, "/api/v1/manage/search?q=heron")).await;
    assert_eq!(r["total"], 2, "{r}");
    // Authors have no delivery right here, and no right on other types.
    let (status, body) = send(app.req_as(
        Some(&ann),
        Method::GET,
        "/api/v1/manage/search?q=heron&type=vault",
    ))
    .await;
    assert_error(status, &body, 403, "forbidden");
}

async fn a_schema_change_reindexes_the_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut def = json!({"api_id": "note", "name": "Note", "options": {"title_field": "title"},
        "fields": [{"name": "title", "type": "text", "searchable": true}, {"name": "body", "type": "longtext"}]});
    app.create_type(def.clone()).await;
    for i in 0..30 {
        published(
            &app,
            "note",
            json!({"title": format!("Note {i} about otters"), "body": format!("beavers {i}")}),
        )
        .await;
    }
    app.search_settled().await;
    assert_eq!(q(&app, "otters", "").await["total"], 30);
    assert_eq!(
        q(&app, "beavers", "").await["total"],
        0,
        "body is not searchable yet"
    );

    // Make the body searchable (and weigh it): the type is reindexed in the background.
    def["fields"][1]["searchable"] = json!(true);
    def["fields"][1]["boost"] = json!(2.0);
    let (status, body) = send(
        app.req(Method::PUT, "/api/v1/manage/content-types/note")
            .json(&def),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Meanwhile search keeps answering with what it has.
    assert_eq!(q(&app, "otters", "").await["total"], 30);
    app.search_settled().await;
    let r = q(&app, "beavers", "&limit=50").await;
    assert_eq!(r["total"], 30, "{r}");
    assert_eq!(
        r["items"][0]["highlights"]["body"]
            .as_str()
            .map(|s| s.starts_with("<mark>beavers</mark>")),
        Some(true)
    );
    assert_eq!(q(&app, "otters", "").await["total"], 30);

    // Out of range boosts and too many searchable fields are refused with the field named.
    let mut bad = def.clone();
    bad["fields"][1]["boost"] = json!(0);
    let (status, body) = send(
        app.req(Method::PUT, "/api/v1/manage/content-types/note")
            .json(&bad),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    assert!(body.to_string().contains("boost"), "{body}");
    let many: Vec<Value> = (0..17)
        .map(|i| json!({"name": format!("f{i}"), "type": "text", "searchable": true}))
        .collect();
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/content-types")
            .json(&json!({"api_id": "wide", "name": "Wide", "fields": many})),
    )
    .await;
    assert_error(status, &body, 422, "validation_failed");
    assert!(body.to_string().contains("too_many_searchable"), "{body}");

    // Deleting the type drops its documents.
    let (status, body) = send(app.req(
        Method::DELETE,
        "/api/v1/manage/content-types/note?force=true",
    ))
    .await;
    assert!(status.is_success(), "{body}");
    app.search_settled().await;
    let (_, m) = send(app.req(Method::GET, "/api/v1/manage/search?q=otters")).await;
    assert_eq!(m["total"], 0, "{m}");
}

async fn restart_resumes_and_a_lost_index_is_rebuilt(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(post_type()).await;
    for i in 0..12 {
        published(&app, "post", json!({"title": format!("Lighthouse {i}")})).await;
    }
    app.search_settled().await;
    let dir = app.data_dir.path().join("search");
    // A restart resumes from the checkpoint (no rebuild: the documents stay).
    let app = app.restart_after(async {}).await;
    app.search_settled().await;
    assert_eq!(q(&app, "lighthouse", "").await["total"], 12);
    // Changes made while no server runs its indexer are picked up from the log.
    let app = app
        .restart_after(async {
            std::fs::remove_dir_all(&dir).expect("remove the index");
        })
        .await;
    published(&app, "post", json!({"title": "Lighthouse late"})).await;
    app.search_settled().await;
    assert_eq!(
        q(&app, "lighthouse", "").await["total"],
        13,
        "rebuilt from the database"
    );
    // A damaged index is set aside and rebuilt.
    let meta = dir.join("meta.json");
    let app = app
        .restart_after(async {
            std::fs::write(&meta, b"{ not json").expect("damage");
        })
        .await;
    app.search_settled().await;
    assert_eq!(q(&app, "lighthouse", "").await["total"], 13);
    assert!(dir.with_extension("unreadable").exists());
}

async fn bad_queries_are_refused_or_cheap(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(post_type()).await;
    published(&app, "post", json!({"title": "Anything at all"})).await;
    app.search_settled().await;
    let long = "x".repeat(5_000);
    let many = vec!["word"; 2000].join(" ");
    let cases: Vec<(String, u16, &str)> = vec![
        (format!("q={long}"), 400, "invalid_search"),
        (format!("q={}", enc(&many)), 400, "invalid_search"),
        ("q=a&limit=0".into(), 400, "invalid_parameter"),
        ("q=a&limit=51".into(), 400, "invalid_parameter"),
        ("q=a&limit=ten".into(), 400, "invalid_parameter"),
        ("q=a&cursor=garbage".into(), 400, "invalid_cursor"),
        ("q=a&cursor=czE6OTk5OTk".into(), 400, "invalid_cursor"),
        ("q=a&order=title".into(), 400, "unknown_parameter"),
        ("q=a&sort=title".into(), 400, "invalid_search"),
        (
            format!("q=a&sort={}", vec!["-updated_at"; 300].join(",")),
            400,
            "invalid_sort",
        ),
        (
            format!("q=a&type=post&sort={}", "r".repeat(5000)),
            400,
            "invalid_sort",
        ),
        ("q=a&q=b".into(), 400, "invalid_parameter"),
        ("q=a&facets=a,b,c,d,e,f".into(), 400, "invalid_search"),
        ("q=a&type=nosuch".into(), 404, "content_type_not_found"),
        ("q=a&locale=xx-unknown".into(), 400, "unknown_locale"),
        ("q=a&locale=%3Cscript%3E".into(), 400, "invalid_parameter"),
    ];
    for (query, status_want, code) in &cases {
        let (status, body) = send(app.req(Method::GET, &format!("/api/v1/search?{query}"))).await;
        if status.as_u16() == 400 && body["error"]["code"] != *code {
            panic!("{query:.80}: {status} {body}");
        }
        assert_error(status, &body, *status_want, code);
    }
    // Wildcards, regex syntax and query-language operators are plain text: answered, and
    // cheaply (no scan of the dictionary).
    for odd in [
        "*",
        "a*",
        "?",
        ".*",
        "[a-z]+",
        "title:anything",
        "a OR b",
        "(((",
        "\"",
        "\\",
        "~2",
        "-anything",
        "😀 emoji",
        "ä ö ü",
        "\u{202e}rtl",
    ] {
        let r = q(&app, odd, "").await;
        assert!(r["total"].is_number(), "{odd}: {r}");
    }
    assert_eq!(q(&app, "anything", "").await["total"], 1);
    // A 12-word query of long words with typos is still answered.
    let words = "abcdefghij ".repeat(12);
    let r = q(&app, words.trim(), "").await;
    assert_eq!(r["total"], 0);
    // The server is healthy after all of it.
    let (status, _) = send(app.client.get(app.url("/readyz"))).await;
    assert_eq!(status, StatusCode::OK);
}

/// `(id, surface, version)` of every document: what the index holds of each entry.
fn index_state(dir: &std::path::Path) -> std::collections::BTreeSet<(String, String, u64)> {
    let (index, fresh) = vellum::search::SearchIndex::open(dir).expect("the index opens");
    assert_eq!(fresh, vellum::search::Fresh::No, "the index was kept");
    let mut out = std::collections::BTreeSet::new();
    for d in index.inventory().expect("inventory") {
        for s in &d.surfaces {
            let v = if s == "p" {
                d.published_version
            } else {
                d.version
            };
            assert!(
                out.insert((d.id.clone(), s.clone(), v)),
                "two documents for {d:?}"
            );
        }
    }
    out
}

/// Every page of a list, as `(id, version)`.
async fn all_pages(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    path: &str,
) -> Vec<(String, u64)> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut url = format!("{base}{path}?limit=100");
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, body) = send(client.get(&url).bearer_auth(token)).await;
        assert_eq!(status, StatusCode::OK, "{url}: {body}");
        for e in body["items"].as_array().expect("items") {
            out.push((
                e["id"].as_str().expect("id").to_string(),
                e["version"].as_u64().expect("version"),
            ));
        }
        match body["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => return out,
        }
    }
}

async fn the_index_equals_the_database_after_kill_9(backend: Backend) {
    use rand::{Rng, SeedableRng};
    for seed in 0..3u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().expect("tmp");
        let db = test_database(backend).await;
        let commit_ms = rng.random_range(5..300).to_string();
        let mut envs = vec![
            ("VELLUM_ADMIN_EMAIL", ADMIN_EMAIL),
            ("VELLUM_ADMIN_PASSWORD", ADMIN_PASSWORD),
            ("VELLUM_SEARCH_COMMIT_MS", commit_ms.as_str()),
        ];
        if let Some(url) = &db.url {
            envs.push(("VELLUM_DATABASE_URL", url));
        }
        let client = reqwest::Client::new();
        let login = |url: String| {
            let client = client.clone();
            async move {
                let (status, body) = send(
                    client
                        .post(format!("{url}/api/v1/auth/login"))
                        .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
                )
                .await;
                assert_eq!(status, StatusCode::OK, "{body}");
                body["access_token"].as_str().expect("token").to_string()
            }
        };
        let mut served = crate::ops::serve(dir.path(), &envs).await;
        let token = login(served.url.clone()).await;
        let (status, body) = send(
            client
                .post(format!("{}/api/v1/manage/content-types", served.url))
                .bearer_auth(&token)
                .json(&post_type()),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let ids = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
        for round in 0..3u64 {
            let token = login(served.url.clone()).await;
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut writers = Vec::new();
            for w in 0..3u64 {
                let (client, base, token, ids, stop) = (
                    client.clone(),
                    served.url.clone(),
                    token.clone(),
                    ids.clone(),
                    stop.clone(),
                );
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed * 100 + round * 10 + w);
                writers.push(tokio::spawn(async move {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let pick = ids.lock().expect("ids").get(rng.random_range(0..64usize)).cloned();
                        let word = ["amber", "basalt", "cedar", "dune"][rng.random_range(0..4usize)];
                        let req = match (rng.random_range(0..10u32), pick) {
                            (0..=3, _) | (_, None) => client.post(format!("{base}/api/v1/manage/entries/post"))
                                .json(&json!({"fields": {"title": format!("{word} {}", rng.random::<u32>())}})),
                            (4..=5, Some(id)) => client.post(format!("{base}/api/v1/manage/entries/post/{id}/publish")),
                            (6..=7, Some(id)) => client.patch(format!("{base}/api/v1/manage/entries/post/{id}"))
                                .json(&json!({"fields": {"title": format!("{word} edited")}})),
                            (8, Some(id)) => client.post(format!("{base}/api/v1/manage/entries/post/{id}/unpublish")),
                            (_, Some(id)) => client.delete(format!("{base}/api/v1/manage/entries/post/{id}")),
                        };
                        // Requests cut off by the kill fail: that is the point.
                        if let Ok(resp) = req.bearer_auth(&token).send().await
                            && resp.status() == StatusCode::CREATED
                            && let Ok(body) = resp.json::<Value>().await
                            && let Some(id) = body["id"].as_str()
                        {
                            ids.lock().expect("ids").push(id.to_string());
                        }
                    }
                }));
            }
            tokio::time::sleep(Duration::from_millis(rng.random_range(150..900))).await;
            served.child.kill().await.expect("SIGKILL");
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for w in writers {
                let _ = w.await;
            }
            served = crate::ops::serve(dir.path(), &envs).await;
        }
        // After the last kill: let it catch up, read the database's state through the
        // API, stop cleanly, and compare with what the index holds.
        let token = login(served.url.clone()).await;
        let start = Instant::now();
        loop {
            let (_, body) = send(client.get(format!("{}/readyz", served.url))).await;
            if body["search"]["lag_events"] == 0 && body["search"]["reindexing"] == json!([]) {
                break;
            }
            assert!(start.elapsed() < Duration::from_secs(30), "{body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let drafts = all_pages(&client, &served.url, &token, "/api/v1/manage/entries/post").await;
        let live = all_pages(&client, &served.url, &token, "/api/v1/content/post").await;
        assert!(
            drafts.len() > 10,
            "seed {seed}: few writes landed ({})",
            drafts.len()
        );
        let mut want = std::collections::BTreeSet::new();
        for (id, v) in drafts {
            want.insert((id, "d".to_string(), v));
        }
        for (id, v) in live {
            want.insert((id, "p".to_string(), v));
        }
        let pid = served.child.id().expect("pid").to_string();
        assert!(
            std::process::Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .expect("kill")
                .success()
        );
        let status = tokio::time::timeout(Duration::from_secs(20), served.child.wait())
            .await
            .expect("exits")
            .expect("status");
        assert!(status.success(), "{status}");
        let got = index_state(&dir.path().join("search"));
        let missing: Vec<_> = want.difference(&got).collect();
        let extra: Vec<_> = got.difference(&want).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "seed {seed}: missing {missing:?}, ghost or stale {extra:?}"
        );
    }
}

async fn metrics_and_search_statistics(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_type(post_type()).await;
    published(&app, "post", json!({"title": "Garden party"})).await;
    app.search_settled().await;
    for words in ["garden", "Garden ", "  GARDEN", "zzzqqq", "party"] {
        q(&app, words, "").await;
    }
    let (_, m) = send(app.req(Method::GET, "/api/v1/manage/search?q=nothinghere")).await;
    assert_eq!(m["total"], 0);
    // Later pages are not counted again.
    q(&app, "garden", "&cursor=czE6MA").await;

    let resp = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        header_value(&resp, "content-type")
            .is_some_and(|c| c.starts_with("text/plain; version=0.0.4"))
    );
    let text = resp.text().await.expect("text");
    let value = |series: &str| -> f64 {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(series)
                    .and_then(|rest| rest.trim().parse().ok())
            })
            .unwrap_or_else(|| panic!("no `{series}` in:\n{text}"))
    };
    assert_eq!(
        value("vellum_http_requests_total{route=\"/api/v1/search\",method=\"GET\",status=\"200\"}"),
        6.0
    );
    assert_eq!(
        value("vellum_search_queries_total{surface=\"delivery\"}"),
        6.0
    );
    assert_eq!(
        value("vellum_search_queries_without_results_total{surface=\"delivery\"}"),
        1.0
    );
    assert_eq!(
        value("vellum_search_queries_total{surface=\"manage\"}"),
        1.0
    );
    assert_eq!(
        value("vellum_search_duration_seconds_count{surface=\"delivery\"}"),
        6.0
    );
    assert!(
        value(
            "vellum_http_request_duration_seconds_count{route=\"/api/v1/manage/entries/{type_id}\",method=\"POST\"}"
        ) >= 1.0
    );
    assert_eq!(value("vellum_search_index_lag_events"), 0.0);
    assert_eq!(value("vellum_search_index_documents"), 1.0);
    // Paths that match no route share one label, whatever was asked.
    for junk in ["/nope", "/api/v1/zzz/1", "/wp-login.php"] {
        send(app.req(Method::GET, junk)).await;
    }
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        !text.contains("wp-login") && !text.contains("zzz"),
        "{text}"
    );
    assert!(text.contains("route=\"other\""));

    // Statistics for the dashboard: normalized queries, per day, with the empty ones.
    let (status, s) = send(app.req(Method::GET, "/api/v1/manage/stats/search?days=7")).await;
    assert_eq!(status, StatusCode::OK, "{s}");
    let today = &s["days"][0];
    assert_eq!(today["searches"], 6, "{s}");
    assert_eq!(today["without_results"], 2);
    assert_eq!(today["top"][0], json!({"query": "garden", "count": 3}));
    let empty: Vec<&str> = today["no_results"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|v| v["query"].as_str())
        .collect();
    assert_eq!(empty, ["nothinghere", "zzzqqq"]);
    // Only for those holding the audit right; bad parameters are 400s.
    let token = app.create_token("reader", "public").await["token"]
        .as_str()
        .expect("secret")
        .to_string();
    let (status, body) =
        send(app.req_as(Some(&token), Method::GET, "/api/v1/manage/stats/search")).await;
    assert_error(status, &body, 403, "forbidden");
    for bad in ["days=0", "days=91", "limit=0", "days=x"] {
        let (status, body) =
            send(app.req(Method::GET, &format!("/api/v1/manage/stats/search?{bad}"))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
}

async fn the_cli_reindexes_an_index_no_server_holds(backend: Backend) {
    let dir = tempfile::tempdir().expect("tmp");
    let db = test_database(backend).await;
    let mut envs = vec![
        ("VELLUM_ADMIN_EMAIL", ADMIN_EMAIL),
        ("VELLUM_ADMIN_PASSWORD", ADMIN_PASSWORD),
    ];
    if let Some(url) = &db.url {
        envs.push(("VELLUM_DATABASE_URL", url));
    }
    let cli = |args: &[&str]| {
        let mut cmd = std::process::Command::new(crate::ops::BIN);
        cmd.args(args)
            .env("VELLUM_DATA_DIR", dir.path())
            .env("VELLUM_LOG", "warn")
            .current_dir(dir.path());
        for (k, v) in &envs {
            cmd.env(k, v);
        }
        cmd.output().expect("vellum runs")
    };
    let mut served = crate::ops::serve(dir.path(), &envs).await;
    let client = reqwest::Client::new();
    let (_, body) = send(
        client
            .post(format!("{}/api/v1/auth/login", served.url))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
    )
    .await;
    let token = body["access_token"].as_str().expect("token").to_string();
    let (status, body) = send(
        client
            .post(format!("{}/api/v1/manage/content-types", served.url))
            .bearer_auth(&token)
            .json(&post_type()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for i in 0..25 {
        let (status, body) = send(
            client
                .post(format!("{}/api/v1/manage/entries/post", served.url))
                .bearer_auth(&token)
                .json(&json!({"fields": {"title": format!("Harbour {i}")}})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    // While the server runs, the index is its own: reindex says so; other commands work.
    let out = cli(&["reindex"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in use by another process"), "{stderr}");
    let out = std::process::Command::new(crate::ops::BIN)
        .args(["user", "create", "--email", "second@example.com"])
        .env("VELLUM_DATA_DIR", dir.path())
        .env("VELLUM_NEW_PASSWORD", "a-long-enough-password")
        .envs(db.url.iter().map(|u| ("VELLUM_DATABASE_URL", u.as_str())))
        .current_dir(dir.path())
        .output()
        .expect("vellum runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid = served.child.id().expect("pid").to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill")
            .success()
    );
    assert!(served.child.wait().await.expect("exit").success());

    let out = cli(&["reindex"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("indexed 25 entries"), "{stdout}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("25/25 entries (100%)"));
    let out = cli(&["reindex", "--type", "post"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("indexed 25 entries"));
    let out = cli(&["reindex", "--type", "nosuch"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no content type `nosuch`"));
    // The server starts on the rebuilt index and finds everything.
    let served = crate::ops::serve(dir.path(), &envs).await;
    let (_, body) = send(
        client
            .post(format!("{}/api/v1/auth/login", served.url))
            .json(&json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})),
    )
    .await;
    let token = body["access_token"].as_str().expect("token").to_string();
    let (status, r) = send(
        client
            .get(format!("{}/api/v1/manage/search?q=harbour", served.url))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["total"], 25);
}
