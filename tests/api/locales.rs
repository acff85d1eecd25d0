//! Locales (issue 7): configured locales with a default and fallback chains
//! (`/api/v1/manage/locales`), entries of one document linked across locales, fields
//! that are not `localized` shared by every entry of a document, and delivery resolving
//! `locale=` through fallback chains (`locale=*`: every locale).

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::*;

both_backends!(
    locales_are_configured_and_checked,
    translations_share_the_fields_that_are_not_localized,
    delivery_resolves_locales_through_fallback_chains
);

async fn post_locale(app: &TestApp, body: Value) -> (StatusCode, Value) {
    send(app.req(Method::POST, "/api/v1/manage/locales").json(&body)).await
}

async fn add_locales(app: &TestApp) {
    for body in [
        json!({"code": "de", "name": "German"}),
        json!({"code": "de-CH", "name": "German (Switzerland)", "fallback": "de"}),
        json!({"code": "fr", "name": "French", "fallback": null}),
    ] {
        let (status, b) = post_locale(app, body).await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
    }
}

fn article_type() -> Value {
    json!({"api_id": "article", "name": "Article",
    "options": {"localized": true, "title_field": "title"},
    "fields": [
        {"name": "title", "type": "text", "required": true, "localized": true, "indexed": true},
        {"name": "slug", "type": "slug", "source": "title"},
        {"name": "summary", "type": "longtext", "localized": true},
        {"name": "rating", "type": "integer", "indexed": true},
        {"name": "category", "type": "enum", "values": ["news", "guide"]},
        {"name": "related", "type": "relation", "target": "article"}
    ]})
}

async fn create(app: &TestApp, token: Option<&str>, body: Value) -> (StatusCode, Value) {
    send(
        app.req_as(
            Some(token.unwrap_or(&app.token)),
            Method::POST,
            "/api/v1/manage/entries/article",
        )
        .json(&body),
    )
    .await
}

fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

async fn locales_are_configured_and_checked(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = send(app.req(Method::GET, "/api/v1/manage/locales")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["total"], 1,
        "a fresh instance has its default locale: {body}"
    );
    assert_eq!(body["items"][0]["code"], "en");
    assert_eq!(body["items"][0]["default"], true);

    add_locales(&app).await;
    let (_, body) = send(app.req(Method::GET, "/api/v1/manage/locales/de-CH")).await;
    assert_eq!(body["chain"], json!(["de-CH", "de", "en"]), "{body}");
    assert_eq!(body["name"], "German (Switzerland)");
    let (_, body) = send(app.req(Method::GET, "/api/v1/manage/locales/de")).await;
    assert_eq!(
        body["fallback"], "en",
        "left out, the fallback is the default: {body}"
    );
    let (_, body) = send(app.req(Method::GET, "/api/v1/manage/locales/fr")).await;
    assert_eq!(body["fallback"], Value::Null, "{body}");
    assert_eq!(body["chain"], json!(["fr"]));

    // Bad input.
    for (body, status, code) in [
        (json!({"code": "e n"}), 422, "validation_failed"),
        (json!({"code": "x"}), 422, "validation_failed"),
        (json!({"code": "DE"}), 409, "already_exists"),
        (
            json!({"code": "it", "fallback": "es"}),
            422,
            "validation_failed",
        ),
        (json!({"code": "it", "name": ""}), 422, "validation_failed"),
        (
            json!({"code": "it", "colour": "green"}),
            400,
            "invalid_body",
        ),
        (json!({"code": 7}), 400, "invalid_body"),
    ] {
        let (s, b) = post_locale(&app, body.clone()).await;
        assert_error(s, &b, status, code);
    }
    let patch = |code: &str, body: Value| {
        app.req(Method::PATCH, &format!("/api/v1/manage/locales/{code}"))
            .json(&body)
    };
    let (s, b) = send(patch("de", json!({"fallback": "de-CH"}))).await;
    assert_error(s, &b, 422, "validation_failed");
    assert!(b.to_string().contains("cycle"), "{b}");
    let (s, b) = send(patch("de", json!({"fallback": "de"}))).await;
    assert_error(s, &b, 422, "validation_failed");
    let (s, b) = send(patch("en", json!({"fallback": "de"}))).await;
    assert_error(s, &b, 422, "validation_failed");
    let (s, b) = send(patch("en", json!({"default": false}))).await;
    assert_error(s, &b, 422, "validation_failed");
    let (s, b) = send(patch("nope", json!({"name": "Nope"}))).await;
    assert_error(s, &b, 404, "not_found");

    // Deleting: never the default, a fallback of another, or a locale in use.
    let delete = |code: &str| app.req(Method::DELETE, &format!("/api/v1/manage/locales/{code}"));
    let (s, b) = send(delete("en")).await;
    assert_error(s, &b, 409, "conflict");
    let (s, b) = send(delete("de")).await;
    assert_error(s, &b, 409, "conflict");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("de-CH"),
        "{b}"
    );
    app.create_type(article_type()).await;
    let (s, b) = create(
        &app,
        None,
        json!({"locale": "fr", "fields": {"title": "Bonjour"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (s, b) = send(delete("fr")).await;
    assert_error(s, &b, 409, "conflict");
    let (s, _) = send(delete("de-CH")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = send(app.req(Method::GET, "/api/v1/manage/locales/de-CH")).await;
    assert_error(s, &b, 404, "not_found");

    // Another default: the old one keeps its entries, new entries go to the new one.
    let (s, b) = send(patch("de", json!({"default": true}))).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["fallback"],
        Value::Null,
        "the default falls back to nothing: {b}"
    );
    let (_, list) = send(app.req(Method::GET, "/api/v1/manage/locales")).await;
    let defaults: Vec<&Value> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|l| l["default"] == true)
        .map(|l| &l["code"])
        .collect();
    assert_eq!(defaults, [&json!("de")], "{list}");
    let (s, b) = create(&app, None, json!({"fields": {"title": "Hallo"}})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["locale"], "de");
    let (s, _) = send(patch("en", json!({"default": true}))).await;
    assert_eq!(s, StatusCode::OK);

    // Entries and reads name configured locales only.
    let (s, b) = create(
        &app,
        None,
        json!({"locale": "xx", "fields": {"title": "?"}}),
    )
    .await;
    assert_error(s, &b, 400, "unknown_locale");
    app.grant("public", "article", "read").await;
    for path in [
        "/api/v1/content/article?locale=xx",
        "/api/v1/content/article/some-slug?locale=xx",
        "/api/v1/sync?locale=xx",
        "/api/v1/manage/entries/article?locale=xx",
    ] {
        let (s, b) = send(app.req(Method::GET, path)).await;
        assert_error(s, &b, 400, "unknown_locale");
    }
    let (s, b) = send(app.req(Method::GET, "/api/v1/content/article?locale=e%20n")).await;
    assert_error(s, &b, 400, "invalid_parameter");

    // Only administrators change locales; every signed-in role may list them.
    let (_, author) = app.user_token("author@example.com", "author").await;
    let (s, b) = send(
        app.req_as(Some(&author), Method::POST, "/api/v1/manage/locales")
            .json(&json!({"code": "it"})),
    )
    .await;
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = send(
        app.req_as(Some(&author), Method::PATCH, "/api/v1/manage/locales/de")
            .json(&json!({"name": "Deutsch"})),
    )
    .await;
    assert_error(s, &b, 403, "forbidden");
    let (s, b) = send(app.req_as(Some(&author), Method::GET, "/api/v1/manage/locales")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (s, b) = send(app.req_as(None, Method::GET, "/api/v1/manage/locales")).await;
    assert_error(s, &b, 401, "unauthenticated");

    // Each change is an event.
    let kinds: Vec<String> = app
        .events()
        .await
        .iter()
        .filter(|e| e["resource"] == "locale")
        .map(|e| e["kind"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(kinds.contains(&"locale.created".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"locale.updated".to_string()), "{kinds:?}");
    assert!(kinds.contains(&"locale.deleted".to_string()), "{kinds:?}");
}

async fn translations_share_the_fields_that_are_not_localized(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_locales(&app).await;
    app.create_type(article_type()).await;
    app.create_type(json!({"api_id": "note", "name": "Note", "fields": [
        {"name": "text", "type": "text"}]}))
        .await;

    let (s, en) = create(
        &app,
        None,
        json!({"fields": {"title": "Hello", "summary": "In English", "rating": 3, "category": "news"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{en}");
    assert_eq!(en["locale"], "en");
    assert_eq!(
        en["document"], en["id"],
        "a first entry is its own document"
    );
    let en_id = id(&en);

    // A translation joins the document and takes its shared values.
    let (s, de) = create(
        &app,
        None,
        json!({"locale": "de", "document": en_id, "fields": {"title": "Hallo"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{de}");
    let de_id = id(&de);
    assert_eq!(de["document"], en_id.as_str());
    assert_eq!(
        de["fields"]["rating"], 3,
        "shared fields come from the document: {de}"
    );
    assert_eq!(de["fields"]["category"], "news");
    assert_eq!(
        de["fields"]["summary"],
        Value::Null,
        "localized fields do not: {de}"
    );
    assert_eq!(de["fields"]["slug"], "hallo", "slugs are per locale: {de}");

    // Bad translations.
    let (s, b) = create(
        &app,
        None,
        json!({"locale": "de", "document": de_id, "fields": {"title": "Noch mal"}}),
    )
    .await;
    assert_error(s, &b, 409, "already_exists");
    let (s, b) = create(
        &app,
        None,
        json!({"locale": "fr", "document": "0190a000-0000-7000-8000-000000000000", "fields": {"title": "?"}}),
    )
    .await;
    assert_error(s, &b, 422, "validation_failed");
    let (s, b) = send(
        app.req(Method::POST, "/api/v1/manage/entries/note")
            .json(&json!({"document": en_id, "fields": {"text": "x"}})),
    )
    .await;
    assert_error(s, &b, 400, "invalid_body");
    let (s, b) = send(
        app.req(Method::POST, "/api/v1/manage/entries/note")
            .json(&json!({"locale": "de", "fields": {"text": "x"}})),
    )
    .await;
    assert_error(s, &b, 400, "invalid_body");
    let (s, b) = send(
        app.req(
            Method::PATCH,
            &format!("/api/v1/manage/entries/article/{de_id}"),
        )
        .json(&json!({"document": en_id, "fields": {}})),
    )
    .await;
    assert_error(s, &b, 400, "invalid_body");

    // A shared field written in one locale changes the document's other entries.
    let (s, b) = send(
        app.req(
            Method::PATCH,
            &format!("/api/v1/manage/entries/article/{en_id}"),
        )
        .json(&json!({"fields": {"rating": 5, "summary": "Changed"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let get = |id: &str| app.req(Method::GET, &format!("/api/v1/manage/entries/article/{id}"));
    let (_, de) = send(get(&de_id)).await;
    assert_eq!(de["fields"]["rating"], 5, "{de}");
    assert_eq!(
        de["fields"]["summary"],
        Value::Null,
        "localized values stay: {de}"
    );
    assert_eq!(de["fields"]["title"], "Hallo");
    assert_eq!(
        de["version"], 2,
        "the shared change is a version of the other entry: {de}"
    );
    let (_, versions) = send(app.req(
        Method::GET,
        &format!("/api/v1/manage/entries/article/{de_id}/versions"),
    ))
    .await;
    assert!(
        versions
            .to_string()
            .contains("shared fields changed in `en`"),
        "{versions}"
    );

    // A localized field written in one locale changes only that entry.
    let (s, _) = send(
        app.req(
            Method::PATCH,
            &format!("/api/v1/manage/entries/article/{de_id}"),
        )
        .json(&json!({"fields": {"title": "Servus"}})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (_, en) = send(get(&en_id)).await;
    assert_eq!(en["fields"]["title"], "Hello");
    assert_eq!(en["version"], 2, "{en}");

    // A translation sent with another shared value changes the whole document.
    let (s, fr) = create(
        &app,
        None,
        json!({"locale": "fr", "document": en_id, "fields": {"title": "Bonjour", "category": "guide"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{fr}");
    for id in [&en_id, &de_id] {
        let (_, e) = send(get(id)).await;
        assert_eq!(e["fields"]["category"], "guide", "{e}");
    }

    // An author may change its own entry, but not through it the document's entries of
    // others: the whole write is refused and nothing changes.
    let (_, author) = app.user_token("author@example.com", "author").await;
    let (s, mine) = create(
        &app,
        Some(&author),
        json!({"locale": "de-CH", "document": en_id, "fields": {"title": "Grüezi"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{mine}");
    assert_eq!(mine["fields"]["rating"], 5);
    let (s, b) = send(
        app.req_as(
            Some(&author),
            Method::PATCH,
            &format!("/api/v1/manage/entries/article/{}", id(&mine)),
        )
        .json(&json!({"fields": {"rating": 1}})),
    )
    .await;
    assert_error(s, &b, 403, "forbidden");
    let (_, m) = send(get(&id(&mine))).await;
    assert_eq!(m["fields"]["rating"], 5, "{m}");
    let (_, e) = send(get(&en_id)).await;
    assert_eq!(e["fields"]["rating"], 5, "{e}");
    let (s, b) = send(
        app.req_as(
            Some(&author),
            Method::PATCH,
            &format!("/api/v1/manage/entries/article/{}", id(&mine)),
        )
        .json(&json!({"fields": {"summary": "Mine alone"}})),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::OK,
        "a localized field is the author's own: {b}"
    );

    // An entry back from the trash may not make a second entry of its document in its
    // locale.
    let (s, _) = send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/entries/article/{}", id(&mine)),
    ))
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, again) = create(
        &app,
        None,
        json!({"locale": "de-CH", "document": de_id, "fields": {"title": "Grüezi wohl"}}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "the locale is free again: {again}");
    assert_eq!(again["document"], en_id.as_str());
    let (s, b) = send(app.req(
        Method::POST,
        &format!("/api/v1/manage/trash/{}/restore", id(&mine)),
    ))
    .await;
    assert_error(s, &b, 409, "conflict");
    let (s, _) = send(app.req(
        Method::DELETE,
        &format!("/api/v1/manage/entries/article/{}", id(&again)),
    ))
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = send(app.req(
        Method::POST,
        &format!("/api/v1/manage/trash/{}/restore", id(&mine)),
    ))
    .await;
    assert_eq!(s, StatusCode::OK, "{b}");

    // A caller who may not read a document cannot translate it (it would copy its
    // values): answered as if the document did not exist.
    let (s, b) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&json!({"name": "writer"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    for (action, condition) in [("create", None), ("read_drafts", Some("owner"))] {
        let mut p = json!({"role": "writer", "resource": "article", "action": action});
        if let Some(c) = condition {
            p["condition"] = json!(c);
        }
        let (s, b) = send(app.req(Method::POST, "/api/v1/manage/policies").json(&p)).await;
        assert_eq!(s, StatusCode::CREATED, "{b}");
    }
    let (_, writer) = app.user_token("writer@example.com", "writer").await;
    let (s, hidden) = create(
        &app,
        Some(&writer),
        json!({"locale": "de-CH", "document": en_id, "fields": {"title": "Grüezi"}}),
    )
    .await;
    assert_error(s, &hidden, 422, "validation_failed");
    let (s, absent) = create(
        &app,
        Some(&writer),
        json!({"locale": "de-CH", "document": "0190a000-0000-7000-8000-000000000000", "fields": {"title": "Grüezi"}}),
    )
    .await;
    assert_error(s, &absent, 422, "validation_failed");
    assert_eq!(
        hidden["error"]["details"][0]["code"], absent["error"]["details"][0]["code"],
        "{hidden} {absent}"
    );

    // A type with translations cannot stop being localized (that would lose which
    // entry is which locale's).
    let mut flat = article_type();
    flat["options"]["localized"] = json!(false);
    let (s, b) = send(
        app.req(
            Method::PUT,
            "/api/v1/manage/content-types/article?force=true",
        )
        .json(&flat),
    )
    .await;
    assert_error(s, &b, 409, "schema_change_conflict");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("locales"),
        "{b}"
    );

    // Management lists what is stored: one locale exactly, or all of them.
    let list = |q: &str| app.req(Method::GET, &format!("/api/v1/manage/entries/article{q}"));
    let (_, all) = send(list("")).await;
    assert_eq!(all["total"], 4, "{all}");
    let (_, de_only) = send(list("?locale=de")).await;
    assert_eq!(de_only["total"], 1, "{de_only}");
    assert_eq!(de_only["items"][0]["id"], de_id.as_str());
    let (_, star) = send(list("?locale=*")).await;
    assert_eq!(star["total"], 4, "{star}");
}

async fn delivery_resolves_locales_through_fallback_chains(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    add_locales(&app).await;
    app.create_type(article_type()).await;
    app.grant("public", "article", "read").await;
    let new = |locale: &str, doc: Option<&str>, fields: Value| {
        let mut body = json!({"locale": locale, "fields": fields});
        if let Some(d) = doc {
            body["document"] = json!(d);
        }
        body
    };
    // A: en and de, both published (de without a summary). B: en only. C: en published,
    // de a draft.
    let (_, a_en) = create(
        &app,
        None,
        new(
            "en",
            None,
            json!({"title": "A", "summary": "A in English", "rating": 1}),
        ),
    )
    .await;
    let a = id(&a_en);
    let (_, a_de) = create(
        &app,
        None,
        new("de", Some(&a), json!({"title": "A auf Deutsch"})),
    )
    .await;
    let a_de = id(&a_de);
    let (_, b_en) = create(
        &app,
        None,
        new("en", None, json!({"title": "B", "rating": 2, "related": a})),
    )
    .await;
    let b = id(&b_en);
    let (_, c_en) = create(
        &app,
        None,
        new("en", None, json!({"title": "C", "rating": 3})),
    )
    .await;
    let c = id(&c_en);
    let (_, c_de) = create(
        &app,
        None,
        new("de", Some(&c), json!({"title": "C auf Deutsch"})),
    )
    .await;
    let c_de = id(&c_de);
    for e in [&a, &a_de, &b, &c] {
        app.publish("article", e).await;
    }

    let deliver = |q: &str| app.req_as(None, Method::GET, &format!("/api/v1/content/article{q}"));
    let shown = |body: &Value| -> Vec<(String, String)> {
        body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|i| {
                (
                    i["fields"]["title"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    i["locale"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect()
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };

    // No locale: the default locale's entries.
    let (s, body) = send(deliver("?sort=rating")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(
        shown(&body),
        pairs(&[("A", "en"), ("B", "en"), ("C", "en")])
    );
    assert_eq!(body["total"], 3);

    // `de`: de where the document has it published, en otherwise; a localized value the
    // de entry lacks comes from en.
    for locale in ["de", "de-CH"] {
        let (_, body) = send(deliver(&format!("?sort=rating&locale={locale}"))).await;
        assert_eq!(
            shown(&body),
            pairs(&[("A auf Deutsch", "de"), ("B", "en"), ("C", "en")]),
            "{locale}: {body}"
        );
        assert_eq!(body["total"], 3, "{body}");
        assert_eq!(
            body["items"][0]["fields"]["summary"], "A in English",
            "{body}"
        );
        assert_eq!(body["items"][0]["id"], a_de.as_str());
    }
    // Walked by cursor, the resolved list is the same.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?sort=rating&locale=de&limit=1&cursor={c}"),
            None => "?sort=rating&locale=de&limit=1".to_string(),
        };
        let (s, page) = send(deliver(&q)).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        seen.extend(shown(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        pairs(&[("A auf Deutsch", "de"), ("B", "en"), ("C", "en")])
    );

    // `*`: every published entry; a locale with no fallback: its own entries only.
    let (_, body) = send(deliver("?sort=rating,locale&locale=*")).await;
    assert_eq!(
        shown(&body),
        pairs(&[
            ("A auf Deutsch", "de"),
            ("A", "en"),
            ("B", "en"),
            ("C", "en")
        ]),
        "{body}"
    );
    let (_, body) = send(deliver("?locale=fr")).await;
    assert_eq!(body["total"], 0, "{body}");

    // One entry: by id or slug, in the locale asked for.
    let one = |path: &str| {
        app.req_as(
            None,
            Method::GET,
            &format!("/api/v1/content/article/{path}"),
        )
    };
    let (_, body) = send(one(&format!("{a}?locale=de"))).await;
    assert_eq!(body["id"], a_de.as_str(), "{body}");
    assert_eq!(body["fields"]["summary"], "A in English");
    let (_, body) = send(one(&format!("{b}?locale=de"))).await;
    assert_eq!(body["id"], b.as_str(), "B has no de entry: {body}");
    let (_, body) = send(one(&a_de)).await;
    assert_eq!(body["locale"], "de", "an id names its entry: {body}");
    assert_eq!(body["fields"]["summary"], "A in English", "{body}");
    let (_, body) = send(one("a-auf-deutsch")).await;
    assert_eq!(body["id"], a_de.as_str(), "a slug of any locale: {body}");
    let (_, body) = send(one("a?locale=de")).await;
    assert_eq!(
        body["id"],
        a_de.as_str(),
        "another translation's slug: {body}"
    );
    // Related entries come in the locale asked for too, with their fallback values.
    let (_, body) = send(one(&format!("{b}?locale=de&populate=related"))).await;
    assert_eq!(body["populated"]["related"]["id"], a_de.as_str(), "{body}");
    assert_eq!(
        body["populated"]["related"]["fields"]["summary"],
        "A in English"
    );
    let (_, body) = send(deliver("?sort=rating&locale=de&populate=related")).await;
    assert_eq!(
        body["items"][1]["populated"]["related"]["id"],
        a_de.as_str(),
        "{body}"
    );
    let (_, body) = send(one(&format!("{b}?populate=related"))).await;
    assert_eq!(body["populated"]["related"]["id"], a.as_str(), "{body}");
    let (_, body) = send(one(&format!("{b}?locale=*&populate=related"))).await;
    assert_eq!(body["populated"]["related"]["id"], a.as_str(), "{body}");
    let (s, body) = send(one(&format!("{a}?locale=fr"))).await;
    assert_error(s, &body, 404, "entry_not_found");
    let (s, body) = send(one(&c_de)).await;
    assert_error(s, &body, 404, "entry_not_found");

    // Publishing the de draft of C changes what `de` shows, caches included.
    let (_, body) = send(one(&format!("{c}?locale=de"))).await;
    assert_eq!(body["id"], c.as_str(), "C's de entry is a draft: {body}");
    let resp = one(&format!("{c}?locale=de")).send().await.expect("get");
    assert_eq!(
        header_value(&resp, "x-vellum-cache").as_deref(),
        Some("hit")
    );
    app.publish("article", &c_de).await;
    let (_, body) = send(deliver("?sort=rating&locale=de")).await;
    assert_eq!(
        shown(&body),
        pairs(&[
            ("A auf Deutsch", "de"),
            ("B", "en"),
            ("C auf Deutsch", "de")
        ])
    );
    let (_, body) = send(one(&format!("{c}?locale=de"))).await;
    assert_eq!(body["id"], c_de.as_str(), "{body}");
    // So does a change of the chain (cached answers too).
    let (s, b_) = send(
        app.req(Method::PATCH, "/api/v1/manage/locales/de")
            .json(&json!({"fallback": null})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{b_}");
    let (_, body) = send(deliver("?sort=rating&locale=de")).await;
    assert_eq!(
        shown(&body),
        pairs(&[("A auf Deutsch", "de"), ("C auf Deutsch", "de")])
    );
    assert_eq!(body["items"][0]["fields"]["summary"], Value::Null, "{body}");
    let (s, body) = send(one(&format!("{b}?locale=de"))).await;
    assert_error(s, &body, 404, "entry_not_found");

    // Sync is per locale, exactly.
    let (s, body) = send(app.req_as(None, Method::GET, "/api/v1/sync?locale=de")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["items"].as_array().map(Vec::len), Some(2), "{body}");
}
