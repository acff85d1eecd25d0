//! What the benchmark programs share: their knobs, the memory reading, and the admin
//! login against the node they started. Each bench uses a part of it.
#![allow(dead_code)]

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
