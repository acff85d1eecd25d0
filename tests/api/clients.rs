//! Generated clients, used unmodified, against the live server (issue 6). The scripts in
//! `tests/clients/` run a full round trip through a TypeScript client (openapi-typescript
//! with openapi-fetch, compiled with `tsc --strict`, run with node) and a Python client
//! (openapi-python-client), each in two phases: a client generated from the static
//! document creates the content types, then one regenerated from the new document works
//! with entries (create, update with `If-Match`, a stale 412, publish, flat filters, a
//! JSON query with an `or` group, a cursor walk, delivery by slug, a typed 422). Every
//! JSON answer the Python client saw is then validated against datamodel-code-generator's
//! models of the same document, and that document (every field type) goes through
//! openapi-generator's validator and Kotlin generator. TypeScript runs on SQLite, Python
//! on PostgreSQL (SQLite when no PostgreSQL server is configured). The generated clients
//! live in a temp dir.

use std::path::Path;
use std::process::Command;

use reqwest::Method;

use crate::helpers::*;
use crate::tools::{kotlin_client, python_client, python_models, repo, run, tool};

/// The administrator's document as it is now (the full one: every type and operation).
async fn save_spec(app: &TestApp, to: &Path) {
    let (status, doc) = send(app.req(Method::GET, "/openapi.json")).await;
    assert!(status.is_success(), "{doc}");
    std::fs::create_dir_all(to.parent().expect("dir")).expect("mkdir");
    std::fs::write(to, serde_json::to_vec_pretty(&doc).expect("json")).expect("write spec");
}

/// `cmd` told where the server is and how to log in.
fn with<'a>(cmd: &'a mut Command, app: &TestApp) -> &'a mut Command {
    cmd.env("VELLUM_URL", app.url(""))
        .env("VELLUM_EMAIL", ADMIN_EMAIL)
        .env("VELLUM_PASSWORD", ADMIN_PASSWORD)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typescript_client_round_trip() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("tmp");
    let work = dir.path();
    for name in [
        "common.ts",
        "roundtrip_setup.ts",
        "roundtrip.ts",
        "tsconfig.json",
        "tsconfig.setup.json",
        "package.json",
    ] {
        std::fs::copy(repo().join("tests/clients").join(name), work.join(name)).expect("copy");
    }
    let modules = repo().join("tests/tools/node_modules");
    std::os::unix::fs::symlink(&modules, work.join("node_modules")).expect("link node_modules");
    let generate = tool(
        "VELLUM_OPENAPI_TYPESCRIPT",
        "tests/tools/node_modules/.bin/openapi-typescript",
    );
    let tsc = tool("VELLUM_TSC", "tests/tools/node_modules/.bin/tsc");

    for (spec, types, config, script) in [
        (
            "static.json",
            "static.d.ts",
            "tsconfig.setup.json",
            "roundtrip_setup.js",
        ),
        ("types.json", "schema.d.ts", "tsconfig.json", "roundtrip.js"),
    ] {
        let spec = work.join("generated").join(spec);
        save_spec(&app, &spec).await;
        run(Command::new(&generate)
            .arg(&spec)
            .arg("-o")
            .arg(work.join("generated").join(types)));
        run(Command::new(&tsc).arg("-p").arg(work.join(config)));
        let out = run(with(
            Command::new("node").arg(work.join("build").join(script)),
            &app,
        ));
        assert!(
            (out.contains("setup: created") && out.contains("setup: locales"))
                || out.contains("run: ok"),
            "{out}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_round_trip_and_models_validate_every_answer() {
    let backend = if std::env::var("VELLUM_TEST_POSTGRES_URL").is_ok() {
        Backend::Postgres
    } else {
        Backend::Sqlite
    };
    let app = TestApp::spawn(backend).await;
    let dir = tempfile::tempdir().expect("tmp");
    let work = dir.path();
    let python = tool("VELLUM_PYTHON", ".venv/bin/python");
    for phase in ["setup", "run"] {
        let spec = work.join(format!("{phase}.json"));
        save_spec(&app, &spec).await;
        let package = work.join(phase).join("vellum_client");
        python_client(&spec, &package);
        let seen = work.join(format!("{phase}-responses.json"));
        let out = run(with(
            Command::new(&python)
                .arg(repo().join("tests/clients/roundtrip.py"))
                .arg(phase)
                .env("PYTHONPATH", work.join(phase))
                .env("VELLUM_RESPONSES_OUT", &seen),
            &app,
        ));
        assert!(
            out.contains("setup: created") || out.contains("run: ok"),
            "{out}"
        );

        let module = work.join(format!("{phase}_models.py"));
        python_models(&spec, &module);
        let out = run(Command::new(&python)
            .arg(repo().join("tests/clients/validate_models.py"))
            .arg(&spec)
            .arg(&module)
            .arg(&seen));
        assert!(out.contains("validate_models: ok"), "{out}");
    }
    // The document with every field type also passes openapi-generator's validator and
    // its Kotlin generator without a warning.
    let spec = work.join("run.json");
    kotlin_client(&spec, &work.join("kotlin"));
}
