//! The OpenAPI document: per-type paths and schemas, validated as OpenAPI 3 by
//! `openapi-spec-validator`, snapshot-tested, and turned into TypeScript by
//! `openapi-typescript` whose output must type-check against a client that uses the
//! `Article` fields. The document does not depend on the database, so this runs on SQLite.
//! The tools come from `scripts/test` (a virtualenv in `.venv`, npm packages in `tests/tools`).

use std::path::Path;
use std::process::Command;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::helpers::*;
use crate::tools::{kotlin_client, python_client, python_models, repo, run, tool};

async fn document() -> (TestApp, Value) {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;
    // The administrator's document: every type, operation and field.
    let (status, doc) = send(app.req(Method::GET, "/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    (app, doc)
}

#[tokio::test]
async fn per_type_paths_and_schemas() {
    let (app, doc) = document().await;
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3."),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/api/v1/content/article",
        "/api/v1/content/article/{idOrSlug}",
        "/api/v1/content/person",
        "/api/v1/manage/entries/article",
        "/api/v1/manage/entries/article/{id}",
    ] {
        assert!(doc["paths"].get(path).is_some(), "missing path {path}");
    }
    let s = &doc["components"]["schemas"];
    assert_eq!(
        s["Article"]["properties"]["fields"]["$ref"], "#/components/schemas/ArticleFields",
        "nested objects are named schemas"
    );
    let fields = &s["ArticleFields"]["properties"];
    assert_eq!(fields["title"]["type"], "string");
    assert_eq!(fields["title"]["maxLength"], 200);
    assert_eq!(fields["title"]["description"], "Headline shown in lists");
    assert_eq!(
        fields["category"],
        serde_json::json!({"allOf": [{"$ref": "#/components/schemas/ArticleCategory"}], "nullable": true}),
        "an optional enum is its named enum or null"
    );
    assert_eq!(
        s["ArticleCategory"]["enum"],
        serde_json::json!(["news", "guide", "review"])
    );
    assert_eq!(fields["rating"]["type"], "integer");
    assert_eq!(fields["rating"]["maximum"], 5.0);
    assert_eq!(fields["author"]["format"], "uuid");
    assert_eq!(s["ArticleLinksItem"]["properties"]["url"]["format"], "uri");
    assert_eq!(
        s["ArticleCreateFields"]["required"],
        serde_json::json!(["title"])
    );
    assert!(s["ArticleUpdateFields"].get("required").is_none());
    assert!(
        s["PersonFields"]["properties"].get("salary").is_none(),
        "private fields are not delivered"
    );
    assert!(
        s["PersonManagedFields"]["properties"]
            .get("salary")
            .is_some()
    );
    let op = &doc["paths"]["/api/v1/manage/entries/article/{id}"]["patch"];
    assert_eq!(op["operationId"], "updateArticle");
    for code in ["412", "422", "415"] {
        assert!(
            op["responses"].get(code).is_some(),
            "PATCH documents {code}"
        );
    }

    // Changing a type regenerates the document.
    let mut changed = article_type();
    changed["fields"]
        .as_array_mut()
        .expect("fields")
        .push(serde_json::json!({"name": "teaser", "type": "longtext"}));
    let (status, body) = send(
        app.req(Method::PUT, "/api/v1/manage/content-types/article")
            .json(&changed),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, doc) = send(app.req(Method::GET, "/openapi.json")).await;
    assert!(
        doc["components"]["schemas"]["ArticleFields"]["properties"]
            .get("teaser")
            .is_some()
    );

    // The viewer serves the same document.
    let html = app
        .req(Method::GET, "/docs")
        .send()
        .await
        .expect("docs")
        .text()
        .await
        .expect("html");
    assert!(
        html.contains("SwaggerUIBundle") && html.contains("ArticleCreate"),
        "the interactive viewer carries the current document"
    );
}

#[tokio::test]
async fn validates_as_openapi_3_and_matches_snapshot() {
    let (_app, mut doc) = document().await;
    doc["servers"] = serde_json::json!([{ "url": "http://vellum.test" }]);
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("openapi.json");
    let pretty = serde_json::to_string_pretty(&doc).expect("json") + "\n";
    std::fs::write(&file, &pretty).expect("write");

    run(Command::new(tool(
        "VELLUM_OPENAPI_VALIDATOR",
        ".venv/bin/openapi-spec-validator",
    ))
    .arg(&file));

    let snapshot = repo().join("tests/snapshots/openapi.json");
    if std::env::var("UPDATE_SNAPSHOTS").is_ok() {
        std::fs::write(&snapshot, &pretty).expect("write snapshot");
    }
    let want = std::fs::read_to_string(&snapshot).unwrap_or_default();
    if want != pretty {
        let fresh = snapshot.with_extension("json.new");
        let _ = std::fs::write(&fresh, &pretty);
        panic!(
            "the OpenAPI document changed. If that is intended, review `diff {} {}` and rerun with UPDATE_SNAPSHOTS=1",
            snapshot.display(),
            fresh.display()
        );
    }
}

#[tokio::test]
async fn generates_a_typescript_client_that_knows_article_fields() {
    let (_app, doc) = document().await;
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, serde_json::to_vec(&doc).expect("json")).expect("write");
    let out = dir.path().join("api.ts");
    run(Command::new(tool(
        "VELLUM_OPENAPI_TYPESCRIPT",
        "tests/tools/node_modules/.bin/openapi-typescript",
    ))
    .arg(&spec)
    .arg("-o")
    .arg(&out));
    let ts = std::fs::read_to_string(&out).expect("generated types");
    assert!(
        ts.contains("Article:") && ts.contains("ArticleCreate:"),
        "types name the schemas"
    );
    write_client(dir.path());
    run(
        Command::new(tool("VELLUM_TSC", "tests/tools/node_modules/.bin/tsc"))
            .args([
                "--noEmit",
                "--strict",
                "--skipLibCheck",
                "--target",
                "es2020",
                "--module",
                "esnext",
                "--moduleResolution",
                "bundler",
            ])
            .arg(dir.path().join("client.ts")),
    );
}

/// A client that uses the generated types: it must compile, and the marked lines must not.
fn write_client(dir: &Path) {
    let client = r#"
import type { components } from "./api";
type Article = components["schemas"]["Article"];
type ArticleCreate = components["schemas"]["ArticleCreate"];
type ArticleUpdate = components["schemas"]["ArticleUpdate"];

export const fields: Article["fields"] = {
  title: "Hello", slug: "hello", body: { type: "doc", content: [] }, rating: 4,
  category: "news", cover: null, author: null, links: [{ label: "Docs", url: "https://example.com" }],
};
// `fields=` may leave a field out, so reads type every field as optional; a required
// field is never null.
export const title: string | undefined = fields.title;
// @ts-expect-error a required field is never null
export const nullTitle: Article["fields"]["title"] = null;
export const create: ArticleCreate = { fields: { title: "Hello", category: "guide" }, message: "first" };
export const update: ArticleUpdate = { fields: { rating: 5 } };

// @ts-expect-error `category` is an enum
export const badCategory: Article["fields"]["category"] = "gossip";
// @ts-expect-error `title` is required on create
export const missingTitle: ArticleCreate = { fields: { rating: 3 } };
// @ts-expect-error `rating` is a number
export const badRating: ArticleUpdate = { fields: { rating: "five" } };
// @ts-expect-error unknown fields are not part of the type
export const unknownField: ArticleUpdate = { fields: { colour: "red" } };
"#;
    std::fs::write(dir.join("client.ts"), client).expect("write client");
}

/// The document a caller fetches names only what that caller may use: anonymous callers
/// see what `public` may read (no private fields, no management), a token its role's
/// view, the administrator everything.
#[tokio::test]
async fn each_caller_gets_the_document_of_its_rights() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.create_type(person_type()).await;
    app.create_type(article_type()).await;

    let (status, anon) = send(app.req_as(None, Method::GET, "/openapi.json")).await;
    assert_eq!(status, StatusCode::OK);
    let text = anon.to_string();
    for hidden in [
        "Person",
        "Article",
        "salary",
        "/api/v1/manage/users",
        "/api/v1/manage/entries/article",
    ] {
        assert!(
            !text.contains(hidden),
            "the anonymous document names `{hidden}`"
        );
    }
    assert!(
        anon["paths"].get("/api/v1/auth/login").is_some(),
        "login stays documented"
    );

    app.grant("public", "person", "read").await;
    let (_, anon) = send(app.req_as(None, Method::GET, "/openapi.json")).await;
    let s = &anon["components"]["schemas"];
    assert!(anon["paths"].get("/api/v1/content/person").is_some());
    assert!(anon["paths"].get("/api/v1/manage/entries/person").is_none());
    assert!(anon["paths"].get("/api/v1/content/article").is_none());
    assert!(s["PersonFields"]["properties"].get("name").is_some());
    assert!(
        !anon.to_string().contains("salary"),
        "a private field in the public document"
    );

    // A token with a field rule: the denied field is nowhere in its document.
    let (status, body) = send(
        app.req(Method::POST, "/api/v1/manage/roles")
            .json(&serde_json::json!({"name": "app"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = send(app.req(Method::POST, "/api/v1/manage/policies").json(
        &serde_json::json!({"role": "app", "resource": "article", "action": "read",
                            "fields": {"deny": ["rating"]}}),
    ))
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let token = app.create_token("site", "app").await;
    let secret = token["token"].as_str().expect("secret");
    let (_, doc) = send(app.req_as(Some(secret), Method::GET, "/openapi.json")).await;
    let fields = &doc["components"]["schemas"]["ArticleFields"]["properties"];
    assert!(fields.get("title").is_some(), "{fields}");
    assert!(
        fields.get("rating").is_none(),
        "a denied field is documented: {fields}"
    );
    assert!(doc["paths"].get("/api/v1/content/person").is_none());
    assert!(doc["paths"].get("/api/v1/manage/entries/article").is_none());

    // The administrator still gets everything; a bad token gets 401.
    let (_, full) = send(app.req(Method::GET, "/openapi.json")).await;
    assert!(
        full["components"]["schemas"]["PersonManagedFields"]["properties"]
            .get("salary")
            .is_some()
    );
    let (status, body) =
        send(app.req_as(Some("vlm_not-a-token"), Method::GET, "/openapi.json")).await;
    assert_error(status, &body, 401, "invalid_token");
}

/// The generators integrators use accept the document without a single warning:
/// openapi-python-client (`--fail-on-warning`), datamodel-code-generator (its warnings
/// made errors), openapi-generator's validator and its `kotlin` generator.
#[tokio::test]
async fn python_and_kotlin_generators_accept_the_document_without_warnings() {
    let (_app, doc) = document().await;
    let dir = tempfile::tempdir().expect("tmp");
    let spec = dir.path().join("openapi.json");
    std::fs::write(&spec, serde_json::to_vec(&doc).expect("json")).expect("write");

    python_client(&spec, &dir.path().join("pyclient"));
    assert!(
        dir.path()
            .join("pyclient/api/article/create_article.py")
            .exists(),
        "the per-type operations are generated"
    );

    python_models(&spec, &dir.path().join("models.py"));
    let models = std::fs::read_to_string(dir.path().join("models.py")).expect("models");
    assert!(
        models.contains("class ArticleFields(") && !models.contains("class Fields1("),
        "nested objects keep their names"
    );

    kotlin_client(&spec, &dir.path().join("kotlin"));
}

/// Types and fields named like the document's own parts (`entries` → `listEntries`, a
/// type `entry` beside the `Entry` schema, a field `fields`, a field `published_at`
/// shadowed by the entry's metadata) still give a valid document with unique
/// operationIds and parameters, and generators still accept it.
#[tokio::test]
async fn awkward_names_keep_the_document_valid() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for def in [
        serde_json::json!({"api_id": "entries", "name": "Entries",
            "fields": [{"name": "title", "type": "text"}]}),
        serde_json::json!({"api_id": "entry", "name": "Entry",
            "fields": [{"name": "fields", "type": "component", "fields": [{"name": "a", "type": "text"}]},
                       {"name": "list", "type": "enum", "values": ["x", "y"]},
                       {"name": "published_at", "type": "datetime"}]}),
    ] {
        app.create_type(def).await;
    }
    let (_, doc) = send(app.req(Method::GET, "/openapi.json")).await;
    let mut ids = Vec::new();
    for (path, ops) in doc["paths"].as_object().expect("paths") {
        for (method, op) in ops.as_object().expect("ops") {
            ids.push(op["operationId"].as_str().expect("operationId").to_string());
            let mut names: Vec<&str> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["name"].as_str())
                .collect();
            let n = names.len();
            names.sort();
            names.dedup();
            assert_eq!(names.len(), n, "{method} {path} repeats a parameter");
        }
    }
    let n = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), n, "operationIds repeat");
    let s = &doc["components"]["schemas"];
    assert!(
        s["Entry"]["properties"].get("fields").is_some(),
        "the generic Entry stays"
    );
    assert!(s.get("EntryEntry").is_some() && s.get("EntriesEntry").is_some());
    assert!(
        s["EntryEntryFields"]["properties"]["fields"]["allOf"][0]["$ref"]
            .as_str()
            .is_some_and(|r| r.ends_with("EntryEntryFieldsValue")),
        "a field `fields` does not overwrite the type's Fields schema: {}",
        s["EntryEntryFields"]
    );

    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).expect("json")).expect("write");
    run(Command::new(tool(
        "VELLUM_OPENAPI_VALIDATOR",
        ".venv/bin/openapi-spec-validator",
    ))
    .arg(&file));
    python_client(&file, &dir.path().join("pyclient"));
}
