//! What the benchmark programs share: their knobs, the memory reading, and the admin
//! login against the node they started. Each bench uses a part of it.
#![allow(dead_code)]

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use serde_json::{Value, json};

/// A numeric knob from the environment, or its default.
pub fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A `kB` line of this process's /proc status (`VmRSS:`, `VmHWM:`), in kB.
pub fn status_kb(key: &str) -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Logs in as the benches' first administrator (`bench@example.com`); its access token.
pub async fn admin_token(client: &reqwest::Client, base: &str) -> String {
    let login: Value = client
        .post(format!("{base}/api/v1/auth/login"))
        .json(&json!({"email": "bench@example.com", "password": "bench-passphrase"}))
        .send()
        .await
        .expect("login")
        .json()
        .await
        .expect("json");
    login["access_token"].as_str().expect("token").to_string()
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Measure {
    pub rps: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub non_2xx: u64,
    /// Server process CPU over the run, in cores (1.0 = one core busy).
    pub cpu_cores: f64,
    pub rss_mb: f64,
}

pub fn parse_ms(s: &str) -> f64 {
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

/// CPU seconds this process has used (user + system), from /proc.
pub fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Runs wrk against `url` (with a Lua script when given) and measures the server.
pub fn wrk(
    url: &str,
    script: Option<&std::path::Path>,
    headers: &[&str],
    seconds: u64,
    connections: u64,
) -> Measure {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t2",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    for h in headers {
        cmd.args(["-H", h]);
    }
    cmd.arg(url);
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let out = cmd.output().expect("wrk runs (apt-get install wrk)");
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let mut m = Measure {
        p50_ms: f64::NAN,
        p99_ms: f64::NAN,
        cpu_cores: cpu / wall,
        rss_mb: status_kb("VmRSS:") / 1024.0,
        ..Measure::default()
    };
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        match parts.as_slice() {
            ["Requests/sec:", v] => m.rps = v.parse().unwrap_or(0.0),
            ["50%", v] => m.p50_ms = parse_ms(v),
            ["99%", v] => m.p99_ms = parse_ms(v),
            ["Non-2xx", "or", "3xx", "responses:", v] => m.non_2xx = v.parse().unwrap_or(0),
            _ => {}
        }
    }
    if m.rps == 0.0 {
        eprintln!("wrk completed no request in {seconds} s:\n{text}");
    }
    m
}

/// A wrk script that requests one of `paths` at random (with `headers`).
pub fn script(
    dir: &std::path::Path,
    name: &str,
    paths: &[String],
    headers: &[(&str, &str)],
) -> std::path::PathBuf {
    let list = dir.join(format!("{name}.txt"));
    let mut f = std::fs::File::create(&list).expect("paths file");
    for p in paths {
        writeln!(f, "{p}").expect("write");
    }
    let lua = dir.join(format!("{name}.lua"));
    let hdrs: String = headers
        .iter()
        .map(|(k, v)| format!("wrk.headers[\"{k}\"] = \"{v}\"\n"))
        .collect();
    std::fs::write(
        &lua,
        format!(
            "local paths = {{}}\nfor line in io.lines(\"{}\") do paths[#paths + 1] = line end\n{hdrs}math.randomseed(os.time())\nrequest = function() return wrk.format(\"GET\", paths[math.random(#paths)]) end\n",
            list.display()
        ),
    )
    .expect("lua");
    lua
}
