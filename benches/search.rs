//! Search at scale (issue 8, DESIGN.md §11): 1,000,000 published articles of about 2 KB of
//! generated prose (a Zipf-distributed vocabulary of 20,000 words, so postings look like
//! a real corpus), searched through the real server under `wrk` next to, in the same run:
//! - a bare poem handler running the same tantivy query on the same index (the physical
//!   limit of this design: what is left is parsing, grants, reading the hits back from
//!   the database, rendering and highlights), and
//! - SQLite FTS5 (`bm25`, porter stemming) over the same text, as the baseline a user
//!   would otherwise reach for (it has no typo tolerance: typo queries find nothing).
//!
//! Rows are written straight into the database (the type and grant through the API
//! first); the serving node then finds no index and rebuilds it from the database, which
//! is the rebuild time reported. Then: one-word, two-word, typo and prefix queries; and
//! the index lag under 200 writes/s (time from a write's answer until search finds it).
//!
//! Run: `cargo bench --bench search` (SQLite), or with
//! `BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/<empty database>`.
//! Knobs: BENCH_ENTRIES (1000000), BENCH_SECONDS (8), BENCH_CONNECTIONS (32),
//! BENCH_ONLY (scenario names containing one of these comma-separated words).
//! Writes `bench/results/search-<backend>-<unix time>.json`.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use poem::{
    EndpointExt, Response, Route, Server, get, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::{Data, Query},
};
use sea_orm::{ConnectionTrait, Database, DbBackend};
use serde_json::{Value, json};
use support::{Measure, env_num, script, wrk};
use tantivy::collector::TopDocs;
use tantivy::schema::Value as _;
use vellum::app::Application;
use vellum::config::Settings;
use vellum::services::search::SearchService;

const VOCABULARY: usize = 20_000;
const BODY_WORDS: usize = 300;

/// A small deterministic generator (xorshift64*), so every run indexes the same corpus.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Pronounceable words of 4 to 10 letters, all distinct.
fn vocabulary() -> Vec<String> {
    let onsets = [
        "b", "c", "d", "f", "g", "h", "k", "l", "m", "n", "p", "r", "s", "t", "v", "br", "st",
        "tr", "pl", "gr",
    ];
    let vowels = ["a", "e", "i", "o", "u", "ai", "ou", "ea"];
    let codas = ["", "n", "r", "s", "l", "t", "m", "nd", "st", "ck"];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(VOCABULARY);
    while out.len() < VOCABULARY {
        let syllables = 1 + rng.below(3);
        let mut w = String::new();
        for _ in 0..syllables {
            w.push_str(onsets[rng.below(onsets.len())]);
            w.push_str(vowels[rng.below(vowels.len())]);
            w.push_str(codas[rng.below(codas.len())]);
        }
        if (4..=10).contains(&w.len()) && seen.insert(w.clone()) {
            out.push(w);
        }
    }
    out
}

/// Picks word ranks with Zipf(1) frequencies (a table of cumulative weights).
struct Zipf(Vec<f64>);

impl Zipf {
    fn new(n: usize) -> Zipf {
        let mut acc = 0.0;
        Zipf(
            (1..=n)
                .map(|r| {
                    acc += 1.0 / r as f64;
                    acc
                })
                .collect(),
        )
    }
    fn pick(&self, rng: &mut Rng) -> usize {
        let total = self.0[self.0.len() - 1];
        let x = (rng.next() as f64 / u64::MAX as f64) * total;
        self.0.partition_point(|c| *c < x).min(self.0.len() - 1)
    }
}

fn sentence(words: &[String], zipf: &Zipf, rng: &mut Rng, n: usize) -> String {
    let mut s = String::with_capacity(n * 7);
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(&words[zipf.pick(rng)]);
    }
    s
}

/// Article `i`: (title, body), always the same for the same `i`.
fn article(words: &[String], zipf: &Zipf, i: u64) -> (String, String) {
    let mut rng = Rng(i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let title = sentence(words, zipf, &mut rng, 6);
    let body = sentence(words, zipf, &mut rng, BODY_WORDS);
    (title, body)
}

async fn seed(
    db: &sea_orm::DatabaseConnection,
    fts: &rusqlite::Connection,
    entries: u64,
    words: &[String],
    zipf: &Zipf,
) {
    let backend = db.get_database_backend();
    let chunk = 500u64;
    let mut from = 0;
    let ts = "2026-01-01T00:00:00.000000Z";
    while from < entries {
        let to = (from + chunk).min(entries);
        let mut values = Vec::with_capacity(chunk as usize);
        let tx = fts.unchecked_transaction().expect("fts tx");
        for i in from..to {
            let (title, body) = article(words, zipf, i);
            let category = ["news", "guide", "review"][(i % 3) as usize];
            let doc = json!({"title": title, "body": body, "category": category, "rating": (i * 7919) % 5 + 1}).to_string();
            let id = format!("00000000-0000-7000-8000-{i:012}");
            values.push(match backend {
                DbBackend::Sqlite => format!(
                    "('{id}', 'article', 'en', '{id}', 'published', 'published', 1, 1, 1, jsonb('{doc}'), jsonb('{doc}'), '{ts}', '{ts}', '{ts}')"
                ),
                _ => format!(
                    "('{id}', 'article', 'en', '{id}', 'published', 'published', 1, 1, 1, '{doc}'::jsonb, '{doc}'::jsonb, now(), now(), now())"
                ),
            });
            tx.execute(
                "INSERT INTO docs (rowid, title, body) VALUES (?1, ?2, ?3)",
                rusqlite::params![i as i64, title, body],
            )
            .expect("fts insert");
        }
        tx.commit().expect("fts commit");
        db.execute_unprepared(&format!(
            "INSERT INTO entries (id, type_id, locale, document_id, status, stage, version, published_version, rev, draft, published, created_at, updated_at, published_at) VALUES {}",
            values.join(", ")
        ))
        .await
        .expect("articles");
        from = to;
        if to.is_multiple_of(100_000) {
            println!("  {to} articles");
        }
    }
    let analyze = match backend {
        DbBackend::Sqlite => "ANALYZE",
        _ => "VACUUM (ANALYZE) entries",
    };
    db.execute_unprepared(analyze).await.expect("analyze");
}

#[derive(serde::Deserialize)]
struct Q {
    q: String,
}

/// The same tantivy query the search endpoint runs for an anonymous caller of one type
/// (every searchable field readable), top 10 and the total, ids read from the index.
#[handler]
fn bare_tantivy(svc: Data<&SearchService>, q: Query<Q>) -> Response {
    let index = svc.index();
    let cp = index.checkpoint();
    let Some(state) = cp.types.get("article") else {
        return Response::builder()
            .status(poem::http::StatusCode::SERVICE_UNAVAILABLE)
            .finish();
    };
    let mut parsed =
        match vellum::search::query::parse(&q.q, &[vellum::search::analysis::language("en")]) {
            Ok(p) => p,
            Err(_) => {
                return Response::builder()
                    .status(poem::http::StatusCode::BAD_REQUEST)
                    .finish();
            }
        };
    let clauses = state
        .layouts
        .iter()
        .map(|l| vellum::search::query::Clause {
            type_id: "article".into(),
            layout: l.id,
            slots: l.paths.iter().enumerate().map(|(i, p)| (i, p.2)).collect(),
            owner: vellum::search::query::Owner::Anyone,
            filters: Vec::new(),
        })
        .collect();
    let searcher = index.searcher();
    let clauses: Vec<_> = clauses;
    vellum::search::query::mark_known(
        &mut parsed,
        &searcher,
        &index.fields,
        vellum::search::PUBLISHED,
        None,
        &clauses,
    );
    let query = vellum::search::query::build(
        &searcher,
        &index.fields,
        &parsed,
        vellum::search::PUBLISHED,
        None,
        &clauses,
    );
    let (Ok(top), Ok(total)) = (
        searcher.search(&query, &TopDocs::with_limit(10).order_by_score()),
        vellum::search::query::count_up_to(
            &searcher,
            query.as_ref(),
            10_000, // the default `count_limit`, as the endpoint counts
        )
        .map(|(n, _)| n),
    ) else {
        return Response::builder()
            .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
            .finish();
    };
    let items: Vec<Value> = top
        .iter()
        .filter_map(|(score, addr)| {
            let d: tantivy::TantivyDocument = searcher.doc(*addr).ok()?;
            let id = d.get_first(index.fields.id)?.as_str()?.to_string();
            Some(json!({"id": id, "score": score}))
        })
        .collect();
    Response::builder()
        .content_type("application/json")
        .body(json!({"items": items, "total": total}).to_string())
}

thread_local! {
    static FTS: std::cell::RefCell<Option<rusqlite::Connection>> = const { std::cell::RefCell::new(None) };
}

#[derive(Clone)]
struct FtsPath(Arc<std::path::PathBuf>);

/// SQLite FTS5 with `bm25` (title weighed 3, as Vellum's title field), top 10 and the
/// total, on a read-only connection per worker thread.
#[handler]
fn bare_fts5(path: Data<&FtsPath>, q: Query<Q>) -> Response {
    // FTS5 query syntax: words are ANDed; `w*` is a prefix; quote each word so input
    // is never read as operators.
    let words: Vec<String> =
        q.q.split_whitespace()
            .map(|w| {
                let (stem, star) = match w.strip_suffix('*') {
                    Some(s) => (s, "*"),
                    None => (w, ""),
                };
                format!("\"{}\"{star}", stem.replace('"', ""))
            })
            .collect();
    let expr = words.join(" ");
    let result = FTS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = rusqlite::Connection::open_with_flags(
                path.0.0.as_path(),
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
            )
            .ok();
        }
        let conn = slot.as_ref()?;
        let mut top = conn
            .prepare_cached("SELECT rowid, bm25(docs, 3.0, 1.0) AS s FROM docs WHERE docs MATCH ?1 ORDER BY s LIMIT 10")
            .ok()?;
        let items: Vec<Value> = top
            .query_map([&expr], |r| Ok(json!({"id": r.get::<_, i64>(0)?, "score": r.get::<_, f64>(1)?})))
            .ok()?
            .filter_map(Result::ok)
            .collect();
        let mut count = conn.prepare_cached("SELECT count(*) FROM docs WHERE docs MATCH ?1").ok()?;
        let total: i64 = count.query_row([&expr], |r| r.get(0)).ok()?;
        Some(json!({"items": items, "total": total}))
    });
    match result {
        Some(v) => Response::builder()
            .content_type("application/json")
            .body(v.to_string()),
        None => Response::builder()
            .status(poem::http::StatusCode::INTERNAL_SERVER_ERROR)
            .finish(),
    }
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

/// Reads every file under `path` (or the file itself) once, into the page cache.
fn warm(path: &std::path::Path) {
    if path.is_dir() {
        if let Ok(rd) = std::fs::read_dir(path) {
            for e in rd.flatten() {
                warm(&e.path());
            }
        }
    } else if let Ok(mut f) = std::fs::File::open(path) {
        let _ = std::io::copy(&mut f, &mut std::io::sink());
    }
}

fn du(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            let p = e.path();
            total += if p.is_dir() {
                du(&p)
            } else {
                e.metadata().map(|m| m.len()).unwrap_or(0)
            };
        }
    }
    total
}

async fn run() {
    let entries = env_num("BENCH_ENTRIES", 1_000_000);
    let seconds = env_num("BENCH_SECONDS", 8);
    let connections = env_num("BENCH_CONNECTIONS", 32);
    let only: Vec<String> = std::env::var("BENCH_ONLY")
        .map(|v| v.split(',').map(str::to_string).collect())
        .unwrap_or_default();
    // BENCH_DIR keeps the seeded data (and its index) for the next run, which then skips
    // seeding and the rebuild: for profiling the query path, not for reported figures.
    let kept = std::env::var("BENCH_DIR")
        .ok()
        .map(std::path::PathBuf::from);
    let tmp = tempfile::tempdir().expect("tmp");
    let dir_path = kept.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    std::fs::create_dir_all(&dir_path).expect("bench dir");
    let reuse = dir_path.join("seeded").exists();
    let pg_url = std::env::var("BENCH_DATABASE_URL").ok();
    let backend = if pg_url.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    let settings = |dir: &std::path::Path| Settings {
        rate_limit_anonymous: 0,
        rate_limit_authenticated: 0,
        listen: "127.0.0.1:0".into(),
        data_dir: dir.to_path_buf(),
        admin_email: Some("bench@example.com".into()),
        admin_password: Some("bench-passphrase".into()),
        database_url: pg_url.clone(),
        log: "warn".into(),
        ..Settings::default()
    };
    vellum::telemetry::init("warn", false);
    let data = dir_path.as_path().join("data");
    let fts_path = dir_path.as_path().join("fts.db");
    let mut seed_s = 0.0;
    let client = reqwest::Client::new();
    let words = vocabulary();
    let zipf = Zipf::new(VOCABULARY);
    if !reuse {
        let first = Application::build(settings(&data)).await.expect("app");
        let db_url = first.services.settings.database_url();
        let base = format!("http://{}", first.addr);
        let (stop_setup, stopped) = tokio::sync::oneshot::channel::<()>();
        let setup_node = tokio::spawn(async move {
            let _ = first
                .run_until(async {
                    let _ = stopped.await;
                })
                .await;
        });
        let token = support::admin_token(&client, &base).await;
        let r = client
        .post(format!("{base}/api/v1/manage/content-types"))
        .bearer_auth(&token)
        .json(&json!({"api_id": "article", "name": "Article", "options": {"title_field": "title"}, "fields": [
            {"name": "title", "type": "text", "required": true, "searchable": true},
            {"name": "body", "type": "longtext", "searchable": true},
            {"name": "rating", "type": "integer", "indexed": true},
            {"name": "category", "type": "enum", "values": ["news", "guide", "review"], "indexed": true}]}))
        .send()
        .await
        .expect("type");
        assert!(r.status().is_success(), "{:?}", r.text().await);
        client
            .post(format!("{base}/api/v1/manage/policies"))
            .bearer_auth(&token)
            .json(&json!({"role": "public", "resource": "article", "action": "read"}))
            .send()
            .await
            .expect("grant");
        let _ = stop_setup.send(());
        setup_node.await.expect("setup node stops");

        let fts = rusqlite::Connection::open(&fts_path).expect("fts db");
        fts.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; CREATE VIRTUAL TABLE docs USING fts5(title, body, tokenize = 'porter unicode61');")
        .expect("fts5 table");
        let db = Database::connect(db_url.clone()).await.expect("db");
        let seed_started = Instant::now();
        seed(&db, &fts, entries, &words, &zipf).await;
        fts.execute_batch("INSERT INTO docs(docs) VALUES ('optimize');")
            .expect("fts optimize");
        drop(fts);
        seed_s = seed_started.elapsed().as_secs_f64();
        println!("seeded {entries} articles (and the FTS5 table) in {seed_s:.0} s");
        db.close().await.expect("close");

        // The serving node: no index yet, so it builds one from the database.
        std::fs::remove_dir_all(data.join("search")).expect("the setup node's index goes");
        if kept.is_some() {
            std::fs::write(dir_path.join("seeded"), b"").expect("marker");
        }
    }
    let app = Application::build(settings(&data)).await.expect("app");
    let app_db_url = app.services.settings.database_url();
    let search: SearchService = app.services.search.clone();
    let base = format!("http://{}", app.addr);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let rebuild_started = Instant::now();
    let serving = tokio::spawn(async move {
        let _ = app
            .run_until(async {
                let _ = stop_rx.await;
            })
            .await;
    });
    loop {
        let ready: Value = client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .expect("readyz")
            .json()
            .await
            .expect("json");
        if ready["search"]["reindexing"] == json!([]) && ready["search"]["lag_events"] == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let rebuild_s = rebuild_started.elapsed().as_secs_f64();
    // Merges the rebuild started may still run: let them settle.
    let merge_started = Instant::now();
    // A merge in progress changes no segment count until it ends, but writes files:
    // settled is both the count and the directory's size unchanged over 10 s.
    let mut last = (usize::MAX, u64::MAX);
    loop {
        let now = (search.index().segments(), du(&data.join("search")));
        if now == last {
            break;
        }
        last = now;
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    let merge_s = merge_started.elapsed().as_secs_f64();
    let index_mb = du(&data.join("search")) as f64 / 1e6;
    // A server in steady state has its data in memory; right after a rebuild part of it
    // was evicted (the rebuild read the whole database while writing the index). Read
    // the index and the tables once, so every contender starts warm.
    let warm_started = Instant::now();
    warm(&data);
    warm(&fts_path);
    if pg_url.is_some() {
        let db = Database::connect(app_db_url.clone()).await.expect("db");
        db.execute_unprepared("SELECT count(*), sum(length(published::text)) FROM entries")
            .await
            .expect("warm");
        db.close().await.expect("close");
    }
    println!(
        "data read once to warm the caches in {:.0} s",
        warm_started.elapsed().as_secs_f64()
    );
    println!(
        "index rebuilt in {rebuild_s:.0} s, merges settled after {merge_s:.0} s ({index_mb:.0} MB, {} segment(s))",
        search.index().segments()
    );

    // The two baselines, on their own ports in this process.
    let acceptor = TcpListener::bind("127.0.0.1:0")
        .into_acceptor()
        .await
        .expect("bind");
    let bare_addr = acceptor.local_addr()[0].clone();
    let bare_base = format!("http://{}", bare_addr.as_socket_addr().expect("addr"));
    let bare_app = Route::new()
        .at("/tantivy", get(bare_tantivy))
        .at("/fts5", get(bare_fts5))
        .data(search.clone())
        .data(FtsPath(Arc::new(fts_path.clone())));
    tokio::spawn(async move {
        let _ = Server::new_with_acceptor(acceptor).run(bare_app).await;
    });

    // Queries: mid-frequency words (ranks 20..3000), as people search for topics.
    let mut rng = Rng(42);
    let pick = |rng: &mut Rng| words[20 + rng.below(3000)].clone();
    let n = 2000;
    let one: Vec<String> = (0..n).map(|_| pick(&mut rng)).collect();
    let two: Vec<String> = (0..n)
        .map(|_| format!("{} {}", pick(&mut rng), pick(&mut rng)))
        .collect();
    let typo: Vec<String> = (0..n)
        .map(|_| {
            loop {
                let w = pick(&mut rng);
                if w.len() >= 6 {
                    let mut c: Vec<char> = w.chars().collect();
                    c.swap(2, 3);
                    break c.into_iter().collect::<String>();
                }
            }
        })
        .collect();
    let prefix: Vec<String> = (0..n)
        .map(|_| {
            loop {
                let w = pick(&mut rng);
                if w.len() >= 6 {
                    break w[..4].to_string();
                }
            }
        })
        .collect();
    let kinds: Vec<(&str, &Vec<String>, bool)> = vec![
        ("one word", &one, false),
        ("two words", &two, false),
        ("typo", &typo, false),
        ("prefix", &prefix, true),
    ];
    let mut results: Vec<(String, Measure)> = Vec::new();
    let wanted = |name: &str| only.is_empty() || only.iter().any(|o| name.contains(o.as_str()));
    for (kind, queries, is_prefix) in &kinds {
        let vellum_paths: Vec<String> = queries
            .iter()
            .map(|q| format!("/api/v1/search?type=article&q={}", enc(q)))
            .collect();
        let tantivy_paths: Vec<String> = queries
            .iter()
            .map(|q| format!("/tantivy?q={}", enc(q)))
            .collect();
        let fts_paths: Vec<String> = queries
            .iter()
            .map(|q| {
                format!(
                    "/fts5?q={}",
                    enc(&if *is_prefix {
                        format!("{q}*")
                    } else {
                        q.clone()
                    })
                )
            })
            .collect();
        for (who, url, paths) in [
            ("vellum", &base, &vellum_paths),
            ("bare tantivy", &bare_base, &tantivy_paths),
            ("sqlite fts5", &bare_base, &fts_paths),
        ] {
            let name = format!("{kind}: {who}");
            if !wanted(&name) {
                continue;
            }
            let lua = script(
                dir_path.as_path(),
                &name.replace([' ', ':'], "_"),
                paths,
                &[],
            );
            let m = wrk(&format!("{url}/"), Some(&lua), &[], seconds, connections);
            println!(
                "{name}: {:.0} req/s, p50 {:.2} ms, p99 {:.2} ms, non-2xx {}",
                m.rps, m.p50_ms, m.p99_ms, m.non_2xx
            );
            results.push((name, m));
        }
    }
    // What each finds, for the record (FTS5 has no typo tolerance).
    let mut found = serde_json::Map::new();
    for (kind, queries, is_prefix) in &kinds {
        let q = &queries[0];
        let v: Value = client
            .get(format!("{base}/api/v1/search?type=article&q={}", enc(q)))
            .send()
            .await
            .expect("search")
            .json()
            .await
            .expect("json");
        let t: Value = client
            .get(format!("{bare_base}/tantivy?q={}", enc(q)))
            .send()
            .await
            .expect("bare")
            .json()
            .await
            .expect("json");
        let f: Value = client
            .get(format!(
                "{bare_base}/fts5?q={}",
                enc(&if *is_prefix {
                    format!("{q}*")
                } else {
                    q.clone()
                })
            ))
            .send()
            .await
            .expect("fts")
            .json()
            .await
            .expect("json");
        found.insert(kind.to_string(), json!({"query": q, "vellum_total": v["total"], "bare_tantivy_total": t["total"], "fts5_total": f["total"]}));
    }

    // Index lag under 200 writes/s: each write gives an entry a word of its own; a
    // checker asks search for it until found.
    let mut lag = Value::Null;
    if wanted("lag") {
        let token = support::admin_token(&client, &base).await;
        let lags = Arc::new(tokio::sync::Mutex::new(Vec::<f64>::new()));
        let duration = Duration::from_secs(seconds.max(10));
        let started = Instant::now();
        let mut tick = tokio::time::interval(Duration::from_millis(5));
        let mut i = 0u64;
        let mut pending = Vec::new();
        // At most this many writes in flight: a slower backend is measured at the rate it
        // sustains rather than piling requests up to the connection limit.
        let in_flight = Arc::new(tokio::sync::Semaphore::new(64));
        while started.elapsed() < duration {
            tick.tick().await;
            i += 1;
            let Ok(permit) = in_flight.clone().acquire_owned().await else {
                break;
            };
            let (client, base, token, lags) =
                (client.clone(), base.clone(), token.clone(), lags.clone());
            let id = format!("00000000-0000-7000-8000-{:012}", (i * 7907) % entries);
            pending.push(tokio::spawn(async move {
                let word = format!("zqlag{i}x");
                let r = client
                    .patch(format!("{base}/api/v1/manage/entries/article/{id}"))
                    .bearer_auth(&token)
                    .json(&json!({"fields": {"title": word}}))
                    .send()
                    .await;
                drop(permit);
                if !r.is_ok_and(|r| r.status().is_success()) || !i.is_multiple_of(20) {
                    return;
                }
                let acked = Instant::now();
                while acked.elapsed() < Duration::from_secs(10) {
                    let v: Value = match client
                        .get(format!("{base}/api/v1/manage/search?type=article&q={word}"))
                        .bearer_auth(&token)
                        .send()
                        .await
                    {
                        Ok(r) => r.json().await.unwrap_or(Value::Null),
                        Err(_) => Value::Null,
                    };
                    // This entry with this title: other entries' words are within a
                    // typo or a prefix of this one (`zqlag20x`, `zqlag21x`, `zqlag200x`).
                    let found = v["items"].as_array().is_some_and(|items| {
                        items.iter().any(|h| {
                            h["entry"]["id"] == id.as_str()
                                && h["entry"]["fields"]["title"] == word.as_str()
                        })
                    });
                    if found {
                        lags.lock()
                            .await
                            .push(acked.elapsed().as_secs_f64() * 1000.0);
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                lags.lock().await.push(f64::INFINITY);
            }));
        }
        let writes = i;
        let wall = started.elapsed().as_secs_f64();
        for p in pending {
            let _ = p.await;
        }
        let mut l = lags.lock().await.clone();
        l.sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let pct = |p: f64| {
            l.get(((l.len() as f64 * p) as usize).min(l.len().saturating_sub(1)))
                .copied()
                .unwrap_or(f64::NAN)
        };
        lag = json!({"writes": writes, "writes_per_s": (writes as f64 / wall).round(), "note": "each write is a PATCH of a draft; every 20th is followed (draft search, asked every 25 ms) until search finds it",
                     "sampled": l.len(), "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": l.last().copied().unwrap_or(f64::NAN)});
        println!("index lag under writes: {lag}");
    }
    let _ = stop_tx.send(());
    let _ = serving.await;

    let bare_of = |kind: &str| {
        results
            .iter()
            .find(|(n, _)| n == &format!("{kind}: bare tantivy"))
            .map(|(_, m)| m.rps)
    };
    let table: Vec<Value> = results
        .iter()
        .map(|(name, m)| {
            let kind = name.split(':').next().unwrap_or("");
            json!({"scenario": name, "rps": m.rps.round(), "p50_ms": m.p50_ms, "p99_ms": m.p99_ms,
                   "ratio_to_bare_tantivy": bare_of(kind).map(|b| (m.rps / b * 1000.0).round() / 1000.0),
                   "non_2xx": m.non_2xx, "process_cpu_cores": (m.cpu_cores * 100.0).round() / 100.0})
        })
        .collect();
    let result = json!({
        "when": chrono::Utc::now().to_rfc3339(),
        "backend": backend,
        "machine": { "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "setup": { "articles": entries, "body_words": BODY_WORDS, "vocabulary": VOCABULARY, "seconds": seconds, "connections": connections, "load_generator": "wrk -t2 (same machine)" },
        "seed_seconds": seed_s,
        "rebuild_seconds": rebuild_s,
        "merge_seconds": merge_s,
        "index_mb": index_mb,
        "found": found,
        "index_lag": lag,
        "results": table,
    });
    println!("{}", serde_json::to_string_pretty(&result).expect("json"));
    let out_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&out_dir).expect("results dir");
    let file = out_dir.join(format!(
        "search-{backend}-{}.json",
        chrono::Utc::now().timestamp()
    ));
    std::fs::write(&file, serde_json::to_string_pretty(&result).expect("json")).expect("write");
    println!("written to {}", file.display());
}
