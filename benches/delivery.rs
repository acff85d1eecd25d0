//! Delivery benchmark (DESIGN.md §11): the real Vellum server on SQLite, loaded by `wrk`
//! on loopback, side by side in the same run with a bare poem handler that returns the
//! same bytes. Measures one-entry GETs and a filtered, sorted list of 20 over a seeded
//! collection. Writes `bench/results/delivery-<unix time>.json` and prints a summary.
//!
//! Run: `cargo bench --bench delivery` (needs `wrk`: `apt-get install wrk`).
//! Knobs: BENCH_ENTRIES (default 10000), BENCH_SECONDS (10), BENCH_CONNECTIONS (32),
//! BENCH_DATABASE_URL (a PostgreSQL database to use instead of SQLite; it must be empty),
//! BENCH_RATE_LIMITS (`on`, the default: limits so high that every request runs through
//! the limiter and none is refused; `off`: no limiter, to measure what it costs).

mod support;

use std::process::Command;
use std::time::{Duration, Instant};
use support::env_num;

use poem::{
    EndpointExt, Response, Route, Server, get, handler,
    listener::{Acceptor, Listener, TcpListener},
    web::Data,
};
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

struct WrkResult {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    non_2xx: u64,
}

fn parse_ms(s: &str) -> f64 {
    let s = s.trim();
    let (num, factor) = if let Some(v) = s.strip_suffix("us") {
        (v, 0.001)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1000.0)
    } else {
        (s, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * factor
}

fn wrk(url: &str, seconds: u64, connections: u64) -> WrkResult {
    let out = Command::new("wrk")
        .args([
            "-t2",
            &format!("-c{connections}"),
            &format!("-d{seconds}s"),
            "--latency",
            url,
        ])
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut r = WrkResult {
        rps: 0.0,
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        non_2xx: 0,
    };
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["Requests/sec:", v] => r.rps = v.parse().unwrap_or(0.0),
            ["50%", v] => r.p50_ms = parse_ms(v),
            ["99%", v] => r.p99_ms = parse_ms(v),
            ["Non-2xx", "or", "3xx", "responses:", v] => r.non_2xx = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    assert!(r.rps > 0.0, "wrk printed no result:\n{text}");
    r
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run());
}

async fn run() {
    let entries = env_num("BENCH_ENTRIES", 10_000);
    let seconds = env_num("BENCH_SECONDS", 10);
    let connections = env_num("BENCH_CONNECTIONS", 32);
    let dir = tempfile::tempdir().expect("tmp");
    let limits_on = !std::env::var("BENCH_RATE_LIMITS").is_ok_and(|v| v == "off");
    let rate_limit = if limits_on { u32::MAX } else { 0 };
    let settings = Settings {
        rate_limit_anonymous: rate_limit,
        rate_limit_authenticated: rate_limit,
        rate_limit_window_secs: 1,
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        admin_email: Some("bench@example.com".into()),
        admin_password: Some("bench-passphrase".into()),
        database_url: std::env::var("BENCH_DATABASE_URL").ok(),
        log: "warn".into(),
        ..Settings::default()
    };
    vellum::telemetry::init("warn", false);
    let started = Instant::now();
    let app = Application::build(settings).await.expect("app");
    let startup_ms = started.elapsed().as_secs_f64() * 1000.0;
    let base = format!("http://{}", app.addr);
    tokio::spawn(async move {
        let _ = app.run_until(std::future::pending()).await;
    });

    let client = reqwest::Client::new();
    let token = support::admin_token(&client, &base).await;
    let post = |path: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    post(
        "/api/v1/manage/content-types",
        json!({
        "api_id": "article", "name": "Article", "options": {"title_field": "title"},
        "fields": [
            {"name": "title", "type": "text", "required": true},
            {"name": "slug", "type": "slug"},
            {"name": "rating", "type": "integer", "indexed": true},
            {"name": "category", "type": "enum", "values": ["news", "guide", "review"]},
            {"name": "body", "type": "longtext"}
        ]}),
    )
    .await
    .expect("type");
    post(
        "/api/v1/manage/policies",
        json!({"role": "public", "resource": "article", "action": "read"}),
    )
    .await
    .expect("grant");

    // Seed: ~2 KB entries, published, 8 requests in flight.
    let filler = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(32);
    let seed_started = Instant::now();
    let mut first_id = String::new();
    let categories = ["news", "guide", "review"];
    let mut n = 0u64;
    while n < entries {
        let batch: Vec<_> = (n..(n + 8).min(entries))
            .map(|i| {
                let body = json!({"fields": {"title": format!("Article number {i}"), "rating": (i % 5) + 1, "category": categories[(i % 3) as usize], "body": filler}});
                let client = client.clone();
                let url = format!("{base}/api/v1/manage/entries/article");
                let token = token.clone();
                let base = base.clone();
                async move {
                    let created: Value = client.post(url).bearer_auth(&token).json(&body).send().await.expect("create").json().await.expect("json");
                    let id = created["id"].as_str().expect("id").to_string();
                    client.post(format!("{base}/api/v1/manage/entries/article/{id}/publish")).bearer_auth(&token).send().await.expect("publish");
                    id
                }
            })
            .collect();
        let ids = futures_util::future::join_all(batch).await;
        if first_id.is_empty() {
            first_id = ids[0].clone();
        }
        n += ids.len() as u64;
    }
    let seed_s = seed_started.elapsed().as_secs_f64();

    let one_url = format!("{base}/api/v1/content/article/{first_id}");
    let body = client
        .get(&one_url)
        .send()
        .await
        .expect("get")
        .bytes()
        .await
        .expect("bytes");
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

    let list_url = format!(
        "{base}/api/v1/content/article?filter%5Brating%5D%5Bgte%5D=3&filter%5Bcategory%5D%5Bin%5D=news,review&sort=-published_at&limit=20"
    );
    let list_len = client
        .get(&list_url)
        .send()
        .await
        .expect("list")
        .json::<Value>()
        .await
        .expect("json")["items"]
        .as_array()
        .map(Vec::len)
        .unwrap_or(0);
    assert_eq!(list_len, 20, "the list benchmark returns a full page");

    if std::env::var("BENCH_EXPLAIN").is_ok() {
        explain(&dir.path().join("vellum.db")).await;
    }

    let run_wrk =
        |url: String| tokio::task::spawn_blocking(move || wrk(&url, seconds, connections));
    let baseline = run_wrk(format!("http://{bare_addr}/")).await.expect("wrk");
    let one = run_wrk(one_url).await.expect("wrk");
    let list = run_wrk(list_url).await.expect("wrk");

    let result = json!({
        "when": chrono::Utc::now().to_rfc3339(),
        "machine": { "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "setup": { "entries": entries, "entry_bytes": body.len(), "seconds": seconds, "connections": connections, "load_generator": "wrk -t2 (same machine)", "rate_limits": limits_on, "database": if std::env::var("BENCH_DATABASE_URL").is_ok() { "postgres" } else { "sqlite" } },
        "startup_ms": startup_ms,
        "seed_seconds": seed_s,
        "baseline_bare_poem": { "rps": baseline.rps, "p50_ms": baseline.p50_ms, "p99_ms": baseline.p99_ms },
        "delivery_get_one": { "rps": one.rps, "p50_ms": one.p50_ms, "p99_ms": one.p99_ms, "non_2xx": one.non_2xx, "ratio_to_baseline": one.rps / baseline.rps },
        "delivery_list_20_filtered_sorted": { "rps": list.rps, "p50_ms": list.p50_ms, "p99_ms": list.p99_ms, "non_2xx": list.non_2xx },
    });
    let out_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&out_dir).expect("results dir");
    let file = out_dir.join(format!("delivery-{}.json", chrono::Utc::now().timestamp()));
    std::fs::write(&file, serde_json::to_string_pretty(&result).expect("json")).expect("write");
    println!("{}", serde_json::to_string_pretty(&result).expect("json"));
    println!("written to {}", file.display());
}

/// `BENCH_EXPLAIN=1`: SQLite's plans and timings of the list queries, before and after
/// fresh statistics.
async fn explain(db: &std::path::Path) {
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    let conn = Database::connect(format!("sqlite://{}", db.display()))
        .await
        .expect("db");
    let filter = "e.type_id = 'article' AND e.published_version IS NOT NULL AND json_extract(e.published, '$.\"rating\"') >= 3 AND json_extract(e.published, '$.\"category\"') IN ('news', 'review')";
    let queries = [
        format!(
            "SELECT e.id, json(e.published) AS published FROM entries e WHERE {filter} ORDER BY e.published_at DESC, e.id DESC LIMIT 21"
        ),
        format!("SELECT COUNT(*) AS n FROM entries e WHERE {filter}"),
        "SELECT COUNT(*) AS n FROM entries e WHERE e.type_id = 'article'".to_string(),
    ];
    for round in ["as served", "after ANALYZE"] {
        if round == "after ANALYZE" {
            conn.execute_unprepared("ANALYZE").await.expect("analyze");
        }
        println!("-- {round}");
        for sql in &queries {
            let plan_sql = format!("EXPLAIN QUERY PLAN {sql}");
            let plan = conn
                .query_all_raw(Statement::from_string(DbBackend::Sqlite, plan_sql))
                .await
                .expect("plan");
            let details: Vec<String> = plan
                .iter()
                .filter_map(|r| r.try_get::<String>("", "detail").ok())
                .collect();
            let t = Instant::now();
            for _ in 0..20 {
                conn.query_all_raw(Statement::from_string(DbBackend::Sqlite, sql.clone()))
                    .await
                    .expect("run");
            }
            let ms = t.elapsed().as_secs_f64() * 1000.0 / 20.0;
            println!(
                "{ms:>8.2} ms  {}\n          plan: {}",
                &sql[..sql.len().min(90)],
                details.join(" | ")
            );
        }
    }
}
