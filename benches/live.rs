//! Live events at scale (issue 7, DESIGN.md §11): 1,000 open Server-Sent Events
//! connections to `/api/v1/events`, the memory they cost the server, and how long a
//! publish takes to reach every one of them.
//!
//! The server runs in this process (SQLite in a temporary directory, the embedded
//! default); the clients run in a child process (this same program, started with
//! `BENCH_LIVE_CLIENT=<address>`) so that their memory is not the server's. Each client is
//! a plain HTTP/1.1 connection reading the stream line by line and noting when each
//! event's entry id arrives. The parent creates and publishes entries over the API, ten a
//! second, noting when each publish request was sent; latency is arrival minus that
//! (both clocks are this machine's wall clock).
//!
//! Run: `cargo bench --bench live`. Knobs: BENCH_CLIENTS (1000), BENCH_PUBLISHES (50).
//! Writes `bench/results/live-<unix time>.json`.

mod support;

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use support::{env_num, status_kb};

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use vellum::app::Application;
use vellum::config::Settings;

fn now_us() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or(0)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    match std::env::var("BENCH_LIVE_CLIENT") {
        Ok(addr) => rt.block_on(clients(addr)),
        Err(_) => rt.block_on(run()),
    }
}

/// The child: opens the connections, says `connected` on stdout once every one has its
/// response head, then prints `<entry id> <arrival µs>` for every event on every
/// connection until stdin closes, then `done`.
async fn clients(addr: String) {
    let n = env_num("BENCH_CLIENTS", 1000);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, u128)>();
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::unbounded_channel::<bool>();
    for _ in 0..n {
        let (tx, ready_tx, addr) = (tx.clone(), ready_tx.clone(), addr.clone());
        tokio::spawn(async move {
            let Ok(mut s) = tokio::net::TcpStream::connect(&addr).await else {
                let _ = ready_tx.send(false);
                return;
            };
            let req = format!(
                "GET /api/v1/events?type=article HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
            );
            if s.write_all(req.as_bytes()).await.is_err() {
                let _ = ready_tx.send(false);
                return;
            }
            let mut lines = BufReader::new(s).lines();
            // The status line and headers, up to the blank line.
            let mut ok = false;
            while let Ok(Some(line)) = lines.next_line().await {
                if line.starts_with("HTTP/1.1 200") {
                    ok = true;
                }
                if line.is_empty() {
                    break;
                }
            }
            let _ = ready_tx.send(ok);
            // Chunked framing: size lines and payload lines interleave; only `data:` lines
            // matter here.
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(data) = line.strip_prefix("data: ")
                    && let Ok(v) = serde_json::from_str::<Value>(data)
                    && let Some(id) = v["id"].as_str()
                {
                    let _ = tx.send((id.to_string(), now_us()));
                }
            }
        });
    }
    drop(tx);
    let mut connected = 0;
    let mut failed = 0;
    while connected + failed < n {
        match ready_rx.recv().await {
            Some(true) => connected += 1,
            Some(false) => failed += 1,
            None => break,
        }
    }
    println!("connected {connected} failed {failed}");
    let _ = std::io::stdout().flush();
    // Until the parent closes stdin, collect arrivals.
    let stop = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        while std::io::stdin().read_line(&mut line).is_ok_and(|n| n > 0) {
            line.clear();
        }
    });
    let mut arrivals = Vec::new();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            got = rx.recv() => match got {
                Some(a) => arrivals.push(a),
                None => break,
            },
        }
    }
    while let Ok(a) = rx.try_recv() {
        arrivals.push(a);
    }
    let mut out = std::io::stdout().lock();
    for (id, t) in arrivals {
        let _ = writeln!(out, "{id} {t}");
    }
    let _ = writeln!(out, "done");
}

async fn run() {
    let clients_n = env_num("BENCH_CLIENTS", 1000);
    let publishes = env_num("BENCH_PUBLISHES", 50);
    let dir = tempfile::tempdir().expect("tmp");
    let settings = Settings {
        rate_limit_anonymous: 0,
        rate_limit_authenticated: 0,
        listen: "127.0.0.1:0".into(),
        data_dir: dir.path().to_path_buf(),
        admin_email: Some("bench@example.com".into()),
        admin_password: Some("bench-passphrase".into()),
        log: "warn".into(),
        ..Settings::default()
    };
    vellum::telemetry::init("warn", false);
    let app = Application::build(settings).await.expect("app");
    let addr = app.addr.to_string();
    let base = format!("http://{addr}");
    tokio::spawn(async move {
        let _ = app.run_until(std::future::pending()).await;
    });
    let client = reqwest::Client::new();
    let token = support::admin_token(&client, &base).await;
    let admin = |method: reqwest::Method, path: &str, body: Value| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let r = admin(
        reqwest::Method::POST,
        "/api/v1/manage/content-types",
        json!({"api_id": "article", "name": "Article", "fields": [
            {"name": "title", "type": "text", "required": true},
            {"name": "body", "type": "longtext"}]}),
    )
    .await
    .expect("type");
    assert!(r.status().is_success(), "{:?}", r.text().await);
    let r = admin(
        reqwest::Method::POST,
        "/api/v1/manage/policies",
        json!({"role": "public", "resource": "article", "action": "read"}),
    )
    .await
    .expect("grant");
    assert!(r.status().is_success(), "{:?}", r.text().await);
    // Warm the paths the publishes take, then let memory settle.
    for i in 0..5 {
        publish(&client, &base, &token, &format!("warm-up {i}")).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_before = status_kb("VmRSS:") / 1024.0;

    let mut child = Command::new(std::env::current_exe().expect("exe"))
        .env("BENCH_LIVE_CLIENT", &addr)
        .env("BENCH_CLIENTS", clients_n.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("client process");
    let stdout = child.stdout.take().expect("stdout");
    let (line_tx, mut line_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if line_tx.send(line).is_err() {
                break;
            }
        }
    });
    let connected = line_rx
        .recv()
        .await
        .expect("client process says it connected");
    println!("{connected}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_open = status_kb("VmRSS:") / 1024.0;

    // Publishes, ten a second: when each was sent, by the entry's id.
    let mut sent: HashMap<String, u128> = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    for i in 0..publishes {
        tick.tick().await;
        let (id, at) = publish(&client, &base, &token, &format!("Live {i}")).await;
        sent.insert(id, at);
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let rss_after = status_kb("VmRSS:") / 1024.0;
    drop(child.stdin.take());
    let mut latencies_ms = Vec::new();
    let mut per_entry: HashMap<String, u64> = HashMap::new();
    while let Some(line) = line_rx.recv().await {
        if line == "done" {
            break;
        }
        let Some((id, t)) = line.split_once(' ') else {
            continue;
        };
        let (Some(at), Ok(t)) = (sent.get(id), t.parse::<u128>()) else {
            continue;
        };
        *per_entry.entry(id.to_string()).or_default() += 1;
        latencies_ms.push(t.saturating_sub(*at) as f64 / 1000.0);
    }
    let _ = child.wait();
    latencies_ms.sort_by(f64::total_cmp);
    let pct = |p: f64| {
        latencies_ms
            .get(
                ((latencies_ms.len() as f64 * p) as usize)
                    .min(latencies_ms.len().saturating_sub(1)),
            )
            .copied()
            .unwrap_or(f64::NAN)
    };
    let expected = clients_n * publishes;
    let result = json!({
        "when": chrono::Utc::now().to_rfc3339(),
        "backend": "sqlite",
        "machine": { "cpus": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0) },
        "setup": { "clients": clients_n, "publishes": publishes, "publish_rate_per_s": 10, "client_process": connected },
        "rss_mb": { "before_connections": rss_before, "connections_open": rss_open, "after_publishes": rss_after,
                    "per_1000_connections": (rss_open - rss_before) * 1000.0 / clients_n as f64 },
        "events": { "expected": expected, "received": latencies_ms.len(), "entries_seen": per_entry.len() },
        "publish_to_event_ms": { "p50": pct(0.50), "p90": pct(0.90), "p99": pct(0.99), "max": latencies_ms.last().copied().unwrap_or(f64::NAN) },
    });
    println!("{}", serde_json::to_string_pretty(&result).expect("json"));
    let out_dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/results");
    std::fs::create_dir_all(&out_dir).expect("results dir");
    let file = out_dir.join(format!("live-{}.json", chrono::Utc::now().timestamp()));
    std::fs::write(&file, serde_json::to_string_pretty(&result).expect("json")).expect("write");
    println!("written to {}", file.display());
}

/// Creates an entry and publishes it; returns its id and when the publish was sent (µs).
async fn publish(client: &reqwest::Client, base: &str, token: &str, title: &str) -> (String, u128) {
    let created: Value = client
        .post(format!("{base}/api/v1/manage/entries/article"))
        .bearer_auth(token)
        .json(&json!({"fields": {"title": title, "body": "A short body."}}))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let id = created["id"].as_str().expect("id").to_string();
    let at = now_us();
    let r = client
        .post(format!("{base}/api/v1/manage/entries/article/{id}/publish"))
        .bearer_auth(token)
        .send()
        .await
        .expect("publish");
    assert!(r.status().is_success(), "publish: {}", r.status());
    (id, at)
}
