//! Delivery at scale (issue 7, DESIGN.md §11): 1,000,000 published articles with an author
//! relation, the real server in-process, `wrk` on loopback, and in the same run a bare
//! poem handler returning the bytes of one delivered entry.
//!
//! The seeder writes rows straight into the database in a few large statements (the API
//! would take hours for a million entries); the content types, their indexes and the
//! grants are made through the API first, so the rows are exactly what the API stores
//! (documents of the same shape, published copies, no version history).
//!
//! Run: `cargo bench --bench scale` (SQLite), or with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<empty database>`.
//! Knobs: BENCH_ENTRIES (1000000), BENCH_SECONDS (8), BENCH_CONNECTIONS (32), BENCH_ONLY
//! (scenarios whose names contain one of these comma-separated words), BENCH_MARK.
//! Writes `bench/results/scale-<backend>-<unix time>.json`.

mod support;

use std::time::{Duration, Instant};
use support::{Measure, env_num, script, status_kb, wrk};

use poem::{
    EndpointExt, Response, Route, Server, get, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
use sea_orm::{ConnectionTrait, Database, DbBackend};
use serde_json::{Value, json};
use vellum::app::Application;
use vellum::config::Settings;

#[derive(Clone)]
struct Body(bytes::Bytes);

#[handler]
fn bare(body: Data<&Body>) -> Response {
    Response::builder()
        .content_type("application/json")
        .body(body.0.0.clone())
}

/// A wrk script asking for `pattern` (a path with one `%d`-style slot, e.g.
/// `/api/v1/content/article/article-%d`) with a number of `0..n` no request of the run
/// asked for before: each wrk thread walks its own half of a permutation of `0..n`
/// (multiplying by a prime that does not divide `n`), from `start`. A list of random
/// paths would repeat (20,000 paths over 300,000 requests: each about 15 times), and a
/// repeated path is a cache hit, not the first read the scenario is about.
fn distinct(
    dir: &std::path::Path,
    name: &str,
    pattern: &str,
    n: u64,
    start: u64,
) -> std::path::PathBuf {
    assert!(
        !n.is_multiple_of(7919),
        "7919 must not divide the number of entries"
    );
    let lua = dir.join(format!("{name}.lua"));
    std::fs::write(
        &lua,
        format!(
            "local threads = 0\n\
             function setup(thread) thread:set(\"tid\", threads); threads = threads + 1 end\n\
             local k = 0\n\
             request = function()\n\
               k = k + 1\n\
               local i = (({start} + tid * {half} + k) * 7919) % {n}\n\
               return wrk.format(\"GET\", string.format(\"{pattern}\", i))\n\
             end\n",
            half = n / 2,
        ),
    )
    .expect("lua");
    lua
}

/// The paths of up to `pages` pages of `first`, each reached by the previous page's
/// `next_cursor`, from the first page on; stops where a page has none.
async fn follow_cursors(
    client: reqwest::Client,
    base: String,
    first: String,
    pages: usize,
) -> Vec<String> {
    let mut paths = vec![first.clone()];
    while paths.len() < pages {
        let last = paths.last().expect("the first page");
        let v: Value = client
            .get(format!("{base}{last}"))
            .send()
            .await
            .expect("page")
            .json()
            .await
            .expect("json");
        let Some(c) = v["next_cursor"].as_str() else {
            break;
        };
        paths.push(format!("{first}&cursor={c}"));
    }
    paths
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let entries = env_num("BENCH_ENTRIES", 1_000_000);
    let people = (entries / 100).max(10);
    let seconds = env_num("BENCH_SECONDS", 8);
    let connections = env_num("BENCH_CONNECTIONS", 32);
    let dir = tempfile::tempdir().expect("tmp");
    let pg_url = std::env::var("BENCH_DATABASE_URL").ok();
    let backend = if pg_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let settings = Settings {
        rate_limit_anonymous: 0,
        rate_limit_authenticated: 0,
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        admin_email: Some("bench@example.com".into()),
        admin_password: Some("bench-passphrase".into()),
        database_url: pg_url.clone(),
        log: "warn".into(),
        // Delivery is measured here; search has its own bench (`benches/search.rs`), and
        // indexing a million entries at start would run during these measurements.
        search_enabled: false,
        ..Settings::default()
    };
    let db_url = settings.database_url();
    vellum::telemetry::init("warn", false);
    let app = Application::build(settings).await.expect("app");
    let base = format!("http://{}", app.addr);
    // The node that makes the types and the token; stopped after the seed, so that the
    // memory measured is the serving node's alone.
    let (stop_setup, stopped) = tokio::sync::oneshot::channel::<()>();
    let setup_node = tokio::spawn(async move {
        let _ = app
            .run_until(async {
                let _ = stopped.await;
            })
            .await;
    });
    let client = reqwest::Client::new();
    let token = support::admin_token(&client, &base).await;
    let admin = |method: reqwest::Method, path: &str, body: Option<Value>| {
        let mut r = client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send()
    };
    for def in [
        json!({"api_id": "person", "name": "Person", "fields": [{"name": "name", "type": "text"}]}),
        json!({"api_id": "article", "name": "Article", "options": {"title_field": "title"}, "fields": [
            {"name": "title", "type": "text", "required": true},
            {"name": "slug", "type": "slug"},
            {"name": "rating", "type": "integer", "indexed": true},
            {"name": "category", "type": "enum", "values": ["news", "guide", "review"], "indexed": true},
            {"name": "author", "type": "relation", "target": "person"},
            {"name": "cover", "type": "media"},
            {"name": "body", "type": "longtext"}]}),
    ] {
        let r = admin(
            reqwest::Method::POST,
            "/api/v1/manage/content-types",
            Some(def),
        )
        .await
        .expect("type");
        assert!(r.status().is_success(), "{:?}", r.text().await);
    }
    for t in ["article", "person"] {
        admin(
            reqwest::Method::POST,
            "/api/v1/manage/policies",
            Some(json!({"role": "public", "resource": t, "action": "read"})),
        )
        .await
        .expect("grant");
    }
    let api_token: Value = admin(
        reqwest::Method::POST,
        "/api/v1/manage/tokens",
        Some(json!({"name": "bench app", "role": "public"})),
    )
    .await
    .expect("token")
    .json()
    .await
    .expect("json");
    let api_token = api_token["token"].as_str().expect("secret").to_string();

    // Seed straight into the database.
    let db = Database::connect(db_url.clone()).await.expect("db");
    let seed_started = Instant::now();
    seed(&db, entries, people).await;
    let seed_s = seed_started.elapsed().as_secs_f64();
    println!("seeded {entries} articles and {people} people in {seed_s:.0} s");
    db.close().await.expect("close the seed connection");
    let _ = stop_setup.send(());
    setup_node.await.expect("setup node stops");
    // A fresh node on the seeded data: its connections load the new planner statistics
    // (SQLite reads them when a connection loads the schema).
    let settings = Settings {
        rate_limit_anonymous: 0,
        rate_limit_authenticated: 0,
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        database_url: pg_url.clone(),
        log: "warn".into(),
        // Delivery is measured here; search has its own bench (`benches/search.rs`), and
        // indexing a million entries at start would run during these measurements.
        search_enabled: false,
        ..Settings::default()
    };
    let app = Application::build(settings).await.expect("app");
    let base = format!("http://{}", app.addr);
    tokio::spawn(async move {
        let _ = app.run_until(std::future::pending()).await;
    });

    // A delivered entry, and the bare handler serving its bytes.
    let id_of = |i: u64| format!("00000000-0000-7000-8000-{i:012}");
    let one_url = format!("{base}/api/v1/content/article/{}", id_of(entries / 2));
    let resp = client.get(&one_url).send().await.expect("get");
    assert!(resp.status().is_success(), "{:?}", resp.text().await);
    // The peak resident size from here on is the serving node's (and this program's
    // client's): writing 5 to clear_refs resets VmHWM, which the seed (its statements'
    // page cache) and the setup node had raised.
    std::fs::write("/proc/self/clear_refs", "5").expect("reset the peak RSS");
    let etag = resp
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = resp.bytes().await.expect("bytes");
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let bare_addr = *acceptor.local_addr()[0].as_socket_addr().expect("addr");
    let bare_app = Route::new().at("/", get(bare)).data(Body(body.clone()));
    tokio::spawn(async move {
        let _ = Server::new_with_acceptor(acceptor).run(bare_app).await;
    });
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Distinct paths for the first-read scenarios (`distinct`), each scenario from its
    // own start so that none asks again for what an earlier one read.
    let id_pattern = "/api/v1/content/article/00000000-0000-7000-8000-%012d";
    let slug_pattern = "/api/v1/content/article/article-%d";
    let list_path =
        "/api/v1/content/article?filter%5Bcategory%5D%5Beq%5D=news&sort=-rating&limit=20";
    // Filtered and sorted on one indexed field: what one index answers outright.
    let first_path = "/api/v1/content/article?filter%5Brating%5D%5Bgte%5D=3&sort=-rating&limit=20";
    // One uncached first page of the two-field list (filter on one index, sort on
    // another), timed alone: the planner's choice there is reported, not hidden.
    let t = Instant::now();
    let r = client
        .get(format!("{base}{list_path}"))
        .send()
        .await
        .expect("first page");
    assert!(r.status().is_success());
    let two_field_first_ms = t.elapsed().as_secs_f64() * 1000.0;
    let t = Instant::now();
    let r = client
        .get(format!("{base}{first_path}&fields=title"))
        .send()
        .await
        .expect("first page");
    assert!(r.status().is_success());
    let one_field_first_ms = t.elapsed().as_secs_f64() * 1000.0;
    println!(
        "uncached first pages: two fields {two_field_first_ms:.0} ms, one field {one_field_first_ms:.0} ms"
    );
    // Deep pages: walk six lists of this shape (each category, sorted both ways) and keep
    // each page's cursor: about 10,000 distinct pages, so that a page is seldom asked
    // twice within a run (the cache holds some 750 of them) and the scenario measures
    // reads walked by cursor, not the delivery cache.
    let walk = |list: String| follow_cursors(client.clone(), base.clone(), list, 1700);
    let lists = ["news", "guide", "review"].into_iter().flat_map(|c| {
        ["-rating", "rating"].map(|sort| {
            format!("/api/v1/content/article?filter%5Bcategory%5D%5Beq%5D={c}&sort={sort}&limit=20")
        })
    });
    // Pages 2 onwards of each list (the first pages have scenarios of their own).
    let deep: Vec<String> = futures_util::future::join_all(lists.map(walk))
        .await
        .into_iter()
        .flat_map(|pages| pages.into_iter().skip(1))
        .collect();
    println!("{} deep pages walked", deep.len());
    let sync_pages = follow_cursors(
        client.clone(),
        base.clone(),
        "/api/v1/sync?type=article&limit=100".to_string(),
        200,
    )
    .await;
    let populate: Vec<String> = deep
        .iter()
        .map(|p| format!("{p}&populate=author"))
        .collect();

    let d = dir.path();
    // (name, url, wrk script, headers): the scenarios before writes start, then those
    // run while 20 writes/s hit the type. `BENCH_ONLY=a,b` runs the scenarios whose
    // names contain one of those words (the bare handler always runs: it is the ratio's
    // baseline); `BENCH_MARK=1` prints a line as each starts (for attaching a profiler).
    let only: Option<Vec<String>> = std::env::var("BENCH_ONLY")
        .ok()
        .map(|v| v.split(',').map(|s| s.trim().to_string()).collect());
    let marks = std::env::var("BENCH_MARK").is_ok();
    type Scenario = (
        &'static str,
        String,
        Option<std::path::PathBuf>,
        Vec<String>,
    );
    let calm: Vec<Scenario> = vec![
        (
            "GET by id, anonymous (cached)",
            one_url.clone(),
            None,
            vec![],
        ),
        (
            "GET by id, API token (cached)",
            one_url.clone(),
            None,
            vec![format!("Authorization: Bearer {api_token}")],
        ),
        (
            "GET by id, each read once (uncached: first read)",
            base.clone(),
            Some(distinct(d, "ids", id_pattern, entries, 0)),
            vec![],
        ),
        (
            "GET by slug, each read once (uncached)",
            base.clone(),
            Some(distinct(d, "slugs", slug_pattern, entries, 0)),
            vec![],
        ),
        (
            "304 revalidation (If-None-Match)",
            one_url.clone(),
            None,
            vec![format!("If-None-Match: {etag}")],
        ),
        (
            "list of 20, filter and sort on one indexed field, first page (cached)",
            format!("{base}{first_path}"),
            None,
            vec![],
        ),
        (
            "list of 20, filter category + sort rating, deep pages by cursor (pages 2-1700 of six lists)",
            base.clone(),
            Some(script(d, "deep", &deep, &[])),
            vec![],
        ),
        (
            "list of 20 with populate=author (the same deep pages)",
            base.clone(),
            Some(script(d, "populate", &populate, &[])),
            vec![],
        ),
        (
            "sync page of 100 (initial pages 1-200)",
            base.clone(),
            Some(script(d, "sync", &sync_pages, &[])),
            vec![],
        ),
    ];
    let busy: Vec<Scenario> = vec![
        (
            "GET by id while 20 writes/s hit the type",
            one_url.clone(),
            None,
            vec![],
        ),
        (
            "GET by id, each read once, while 20 writes/s hit the type",
            base.clone(),
            Some(distinct(d, "ids2", id_pattern, entries, entries / 4)),
            vec![],
        ),
        (
            "list first page (one field) while 20 writes/s hit the type",
            format!("{base}{first_path}"),
            None,
            vec![],
        ),
    ];
    let wanted = |name: &str| {
        only.as_ref()
            .is_none_or(|o| o.iter().any(|w| name.contains(w.as_str())))
    };
    let run = |(name, url, script, headers): Scenario| async move {
        if marks {
            println!("== scenario starts: {name}");
        }
        let m = tokio::task::spawn_blocking(move || {
            let h: Vec<&str> = headers.iter().map(String::as_str).collect();
            wrk(&url, script.as_deref(), &h, seconds, connections)
        })
        .await
        .expect("wrk");
        (name, m)
    };
    let mut results: Vec<(&str, Measure)> = Vec::new();
    let (_, baseline) = run((
        "bare poem handler, same bytes",
        format!("http://{bare_addr}/"),
        None,
        vec![],
    ))
    .await;
    results.push(("bare poem handler, same bytes", baseline));
    for s in calm.into_iter().filter(|s| wanted(s.0)) {
        results.push(run(s).await);
    }
    let busy: Vec<Scenario> = busy.into_iter().filter(|s| wanted(s.0)).collect();
    // Reads while 20 writes/s (an edit and a publish, ten times a second) go to the type.
    let writer = {
        let client = client.clone();
        let base = base.clone();
        let token = token.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(100));
            let mut i = 0u64;
            loop {
                tick.tick().await;
                i += 7919;
                let id = format!("00000000-0000-7000-8000-{:012}", i % entries);
                let path = format!("{base}/api/v1/manage/entries/article/{id}");
                let _ = client
                    .patch(&path)
                    .bearer_auth(&token)
                    .json(&json!({"fields": {"title": format!("Edited {i}")}}))
                    .send()
                    .await;
                let _ = client
                    .post(format!("{path}/publish"))
                    .bearer_auth(&token)
                    .send()
                    .await;
            }
        })
    };
    for s in busy {
        results.push(run(s).await);
    }
    writer.abort();
    let peak_rss_mb = status_kb("VmHWM:") / 1024.0;

    let table: Vec<Value> = results
        .iter()
        .map(|(name, m)| {
            json!({"scenario": name, "rps": m.rps.round(), "p50_ms": m.p50_ms, "p99_ms": m.p99_ms,
                   "ratio_to_bare": (m.rps / baseline.rps * 1000.0).round() / 1000.0,
                   "non_2xx": m.non_2xx, "server_cpu_cores": (m.cpu_cores * 100.0).round() / 100.0,
                   "rss_mb": m.rss_mb.round()})
        })
        .collect();
    let result = json!({
        "when": chrono::Utc::now().to_rfc3339(),
        "backend": backend,
        "machine": { "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "setup": { "articles": entries, "people": people, "entry_bytes": body.len(), "seconds": seconds, "connections": connections, "load_generator": "wrk -t2 (same machine)" },
        "seed_seconds": seed_s,
        "uncached_first_page_ms": { "filter category + sort rating (two indexes)": two_field_first_ms, "filter + sort rating (one index)": one_field_first_ms },
        "peak_rss_mb": peak_rss_mb,
        "results": table,
    });
    println!("{}", serde_json::to_string_pretty(&result).expect("json"));
    let out_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&out_dir).expect("results dir");
    let file = out_dir.join(format!(
        "scale-{backend}-{}.json",
        chrono::Utc::now().timestamp()
    ));
    std::fs::write(&file, serde_json::to_string_pretty(&result).expect("json")).expect("write");
    println!("written to {}", file.display());
}

/// People, then articles (each with an author), in statements of 100,000 rows, then the
/// planner statistics.
async fn seed(db: &sea_orm::DatabaseConnection, entries: u64, people: u64) {
    let backend = db.get_database_backend();
    let chunk = 100_000u64;
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(30);
    let ts = "2026-01-01T00:00:00.000000Z";
    let mut from = 0;
    while from < people {
        let to = (from + chunk).min(people);
        let sql = match backend {
            DbBackend::Sqlite => format!(
                "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {to}) \
                 INSERT INTO entries (id, type_id, locale, status, stage, version, published_version, rev, draft, published, created_at, updated_at, published_at) \
                 SELECT printf('00000000-0000-7000-9000-%012d', i), 'person', 'en', 'published', 'published', 1, 1, 1, \
                        jsonb(json_object('name', 'Person ' || i)), jsonb(json_object('name', 'Person ' || i)), '{ts}', '{ts}', '{ts}' FROM n"
            ),
            _ => format!(
                "INSERT INTO entries (id, type_id, locale, status, stage, version, published_version, rev, draft, published, created_at, updated_at, published_at) \
                 SELECT '00000000-0000-7000-9000-' || lpad(i::text, 12, '0'), 'person', 'en', 'published', 'published', 1, 1, 1, d, d, now(), now(), now() \
                 FROM (SELECT i, jsonb_build_object('name', 'Person ' || i) AS d FROM generate_series({from}, {to} - 1) AS i) s"
            ),
        };
        db.execute_unprepared(&sql).await.expect("people");
        from = to;
    }
    let mut from = 0;
    while from < entries {
        let to = (from + chunk).min(entries);
        let sql = match backend {
            DbBackend::Sqlite => format!(
                "WITH RECURSIVE n(i) AS (SELECT {from} UNION ALL SELECT i + 1 FROM n WHERE i + 1 < {to}) \
                 INSERT INTO entries (id, type_id, locale, status, stage, slug, published_slug, version, published_version, rev, draft, published, created_at, updated_at, published_at) \
                 SELECT id, 'article', 'en', 'published', 'published', slug, slug, 1, 1, 1, jsonb(doc), jsonb(doc), \
                        strftime('%Y-%m-%dT%H:%M:%S.000000Z', 1767225600 + i, 'unixepoch'), '{ts}', strftime('%Y-%m-%dT%H:%M:%S.000000Z', 1767225600 + i, 'unixepoch') FROM ( \
                   SELECT i, printf('00000000-0000-7000-8000-%012d', i) AS id, 'article-' || i AS slug, \
                          json_object('title', 'Article ' || i, 'slug', 'article-' || i, 'rating', (i * 7919) % 5 + 1, \
                                      'category', CASE i % 3 WHEN 0 THEN 'news' WHEN 1 THEN 'guide' ELSE 'review' END, \
                                      'author', printf('00000000-0000-7000-9000-%012d', (i * 31) % {people}), \
                                      'cover', printf('00000000-0000-7000-a000-%012d', i), 'body', '{filler}') AS doc FROM n)"
            ),
            _ => format!(
                "INSERT INTO entries (id, type_id, locale, status, stage, slug, published_slug, version, published_version, rev, draft, published, created_at, updated_at, published_at) \
                 SELECT '00000000-0000-7000-8000-' || lpad(i::text, 12, '0'), 'article', 'en', 'published', 'published', 'article-' || i, 'article-' || i, 1, 1, 1, d, d, \
                        to_timestamp(1767225600 + i), now(), to_timestamp(1767225600 + i) \
                 FROM (SELECT i, jsonb_build_object('title', 'Article ' || i, 'slug', 'article-' || i, 'rating', (i::bigint * 7919) % 5 + 1, \
                                      'category', CASE i % 3 WHEN 0 THEN 'news' WHEN 1 THEN 'guide' ELSE 'review' END, \
                                      'author', '00000000-0000-7000-9000-' || lpad(((i::bigint * 31) % {people})::text, 12, '0'), \
                                      'cover', '00000000-0000-7000-a000-' || lpad(i::text, 12, '0'), 'body', '{filler}') AS d \
                       FROM generate_series({from}, {to} - 1) AS i) s"
            ),
        };
        db.execute_unprepared(&sql).await.expect("articles");
        from = to;
        println!("  {to} articles");
    }
    // PostgreSQL: VACUUM as well, as autovacuum would have done to a table at rest:
    // right after a bulk load every first read of a row sets its hint bits and dirties
    // its page, and with the default 128 MB of shared buffers those pages are written
    // back by the reading backends (a one-time cost of the load, not of serving).
    let analyze = match backend {
        DbBackend::Sqlite => "ANALYZE",
        _ => "VACUUM (ANALYZE) entries",
    };
    db.execute_unprepared(analyze).await.expect("analyze");
}
