//! One `Settings` type, layered: built-in defaults → `vellum.toml` → `VELLUM_*` variables.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Address to listen on (`VELLUM_LISTEN`).
    pub listen: String,
    /// Data directory: SQLite file, search index, local media (`VELLUM_DATA_DIR`).
    pub data_dir: PathBuf,
    /// `sqlite://…` or `postgres://…`; default: SQLite in the data directory.
    pub database_url: Option<String>,
    /// The URL users reach this instance at (for links in logs and responses).
    pub public_url: Option<String>,
    /// First administrator, created on start when no user exists.
    pub admin_email: Option<String>,
    pub admin_password: Option<String>,
    /// Largest accepted request body, in bytes.
    pub max_body_bytes: usize,
    /// Largest request head (request line and headers), in bytes; 431 beyond it.
    pub max_header_bytes: usize,
    /// Seconds a client has to send a complete request head, counted from the moment
    /// the connection opens or, on a kept-alive connection, from the next request's
    /// first byte. Silent and trickling clients are disconnected after it.
    pub header_read_timeout_secs: u64,
    /// Seconds a kept-alive connection may sit between requests before it is closed.
    pub idle_timeout_secs: u64,
    /// Connections served at once. Beyond it a new connection waits up to
    /// `connection_queue_ms` for a free slot, then gets 503 `unavailable` and is closed.
    pub max_connections: usize,
    /// How long a connection beyond `max_connections` waits for a free slot.
    pub connection_queue_ms: u64,
    /// Lifetime of access tokens (at most 900 s).
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens.
    pub refresh_token_ttl_secs: u64,
    /// Locale given to entries that name none.
    pub default_locale: String,
    /// Browser origins allowed to call the API (CORS); empty allows any origin. Bearer
    /// tokens, not cookies, carry identity, so an open list enables no CSRF.
    pub cors_origins: Vec<String>,
    /// Requests an anonymous caller may send per `rate_limit_window_secs`, counted per
    /// client address (IPv6: per /64), as a burst refilled continuously. Invalid bearer
    /// tokens from an address count against a second budget of the same size. 0: no limit.
    pub rate_limit_anonymous: u32,
    /// Requests per `rate_limit_window_secs` for each API token and each user (all of a
    /// user's sessions together). 0: no limit.
    pub rate_limit_authenticated: u32,
    /// The window of both limits, in seconds: a whole burst refills in this time.
    pub rate_limit_window_secs: u64,
    /// Most callers the limiter tracks at once (about 50 bytes each). Past it, buckets
    /// that have refilled are dropped, then the fullest ones.
    pub rate_limit_max_keys: usize,
    /// Proxies (IP addresses or networks such as `10.0.0.0/8`) whose `X-Forwarded-For` is
    /// believed for the client address; empty: the TCP peer is the client.
    pub trusted_proxies: Vec<String>,
    /// `text` or `json`.
    pub log_format: String,
    /// Log filter, e.g. `info` or `vellum=debug,info` (`VELLUM_LOG`).
    pub log: String,
    /// Seconds a deleted entry stays in the trash before it is purged for good (default
    /// 30 days; 0: keep until purged by hand).
    pub trash_retention_secs: u64,
    /// How often the trash retention sweep runs, in seconds.
    pub trash_sweep_interval_secs: u64,
    /// How often the event-log follower reads the log without being woken, in
    /// milliseconds: the safety net behind this node's commits and PostgreSQL's
    /// notifications (default 1000).
    pub follower_poll_ms: u64,
    /// The longest the search index waits before making indexed changes searchable, in
    /// milliseconds: changes arriving together share one commit (default 250).
    pub search_commit_ms: u64,
    /// Keep a search index on this node and answer searches (default true). Off: no
    /// index in the data directory, no indexing work, searches answer 503.
    pub search_enabled: bool,
    /// Events a live stream (`/api/v1/events`) may fall behind before it is dropped
    /// (default 1024).
    pub live_buffer: usize,
    /// Seconds between keep-alive comments on live streams (default 15).
    pub live_heartbeat_secs: u64,
    /// Seconds between checks that a live stream's credential still holds (default 5).
    pub live_recheck_secs: u64,
    /// Seconds events are kept in the log (default 90 days; 0: forever). Sync cursors
    /// older than what is kept get 410 and sync again from the start.
    pub event_retention_secs: u64,
    /// How often old events are pruned, in seconds (default 3600).
    pub event_sweep_interval_secs: u64,
    /// How deep `populate` may nest (`author.company.country` is 3; default 3).
    pub populate_max_depth: usize,
    /// Lists count at most this many matches for `total` (more: `total` is this number
    /// and `total_exact` false), so a broad filter over millions of entries costs a
    /// bounded count. 0: always count exactly.
    pub count_limit: u64,
    /// Answers carry `Server-Timing` with the request's database statements and time
    /// (for development and load tests; default off).
    pub server_timing: bool,
    /// `max-age` of anonymous delivery answers, in seconds: how long a browser may use
    /// one without asking again (default 0: it revalidates, cheaply, with its ETag).
    pub delivery_max_age_secs: u64,
    /// `s-maxage` of anonymous delivery answers: how long a shared cache (CDN) may keep
    /// one (default 30).
    pub delivery_s_maxage_secs: u64,
    /// `stale-while-revalidate` of anonymous delivery answers (default 60).
    pub delivery_stale_while_revalidate_secs: u64,
    /// Lists no index narrows down (a filter or sort on a field that is not `indexed`,
    /// or `ne`/`nin`/`contains`/`icontains`) that may run at once on this node (default 2).
    pub scan_concurrency: u32,
    /// How long such a list waits for a place before a 503 with `Retry-After`, in
    /// milliseconds (default 500).
    pub scan_queue_ms: u64,
    /// How long one statement of such a list may run before it is stopped with a 503
    /// `query_timeout`, in milliseconds (default 2000).
    pub scan_timeout_ms: u64,
    /// Shortest accepted password, in characters (at least 8).
    pub password_min_length: usize,
    /// Threads that hash and verify passwords (0: one per core). Each computation uses
    /// 19 MiB, so this bounds the memory logins can take.
    pub password_hash_threads: usize,
    /// Password computations that may wait for a thread; beyond, 503 with `Retry-After`.
    pub password_hash_queue: usize,
    /// Failed logins per account (email, existing or not) in a window before it is locked
    /// (0: no per-account limit).
    pub login_max_failures_per_account: u32,
    /// Failed logins per client address (IPv6: per /64) in a window before it is locked
    /// (0: no per-address limit).
    pub login_max_failures_per_address: u32,
    /// The window failures are counted in, in seconds.
    pub login_failure_window_secs: u64,
    /// How long a locked account or address is refused (429 `rate_limited`), in seconds.
    pub login_lockout_secs: u64,
    /// Most accounts and most addresses the login throttle tracks (each, per node).
    pub login_throttle_max_entries: usize,
    /// Seconds a login's TOTP challenge (between the password and the code) stays usable.
    pub totp_challenge_ttl_secs: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            listen: "127.0.0.1:8080".into(),
            data_dir: PathBuf::from("./data"),
            database_url: None,
            public_url: None,
            admin_email: None,
            admin_password: None,
            max_body_bytes: 1024 * 1024,
            max_header_bytes: 16 * 1024,
            header_read_timeout_secs: 10,
            idle_timeout_secs: 75,
            max_connections: 1024,
            connection_queue_ms: 1000,
            access_token_ttl_secs: 900,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            default_locale: "en".into(),
            cors_origins: Vec::new(),
            rate_limit_anonymous: 600,
            rate_limit_authenticated: 6000,
            rate_limit_window_secs: 60,
            rate_limit_max_keys: 100_000,
            trusted_proxies: Vec::new(),
            log_format: "text".into(),
            log: "info".into(),
            trash_retention_secs: 30 * 24 * 3600,
            trash_sweep_interval_secs: 3600,
            follower_poll_ms: 1000,
            search_commit_ms: 250,
            search_enabled: true,
            live_buffer: 1024,
            live_heartbeat_secs: 15,
            live_recheck_secs: 5,
            event_retention_secs: 90 * 24 * 3600,
            event_sweep_interval_secs: 3600,
            populate_max_depth: 3,
            count_limit: 10_000,
            server_timing: false,
            delivery_max_age_secs: 0,
            delivery_s_maxage_secs: 30,
            delivery_stale_while_revalidate_secs: 60,
            scan_concurrency: 2,
            scan_queue_ms: 500,
            scan_timeout_ms: 2000,
            password_min_length: 12,
            password_hash_threads: 0,
            password_hash_queue: 32,
            login_max_failures_per_account: 10,
            login_max_failures_per_address: 50,
            login_failure_window_secs: 900,
            login_lockout_secs: 900,
            login_throttle_max_entries: 100_000,
            totp_challenge_ttl_secs: 300,
        }
    }
}

impl Settings {
    /// Defaults, then the TOML file (if it exists), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Settings> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| std::env::var_os("VELLUM_CONFIG").map(PathBuf::from))
            .unwrap_or_else(|| PathBuf::from("vellum.toml"));
        // Only settings are read from `VELLUM_*`: other variables with that prefix
        // (`VELLUM_CONFIG`, test settings, the CLI's `VELLUM_NEW_PASSWORD`) are left alone.
        let keys = Settings::keys();
        let env_keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        let settings: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Toml::file(&file))
            .merge(Env::prefixed("VELLUM_").only(&env_keys))
            .extract()?;
        settings.check()?;
        Ok(settings)
    }

    /// The setting names, read off the type itself.
    fn keys() -> Vec<String> {
        match serde_json::to_value(Settings::default()) {
            Ok(serde_json::Value::Object(map)) => map.keys().cloned().collect(),
            _ => Vec::new(),
        }
    }

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=900).contains(&self.access_token_ttl_secs),
            "access_token_ttl_secs must be between 1 and 900"
        );
        anyhow::ensure!(
            self.max_body_bytes >= 1024,
            "max_body_bytes must be at least 1024"
        );
        anyhow::ensure!(
            (8192..=16 * 1024 * 1024).contains(&self.max_header_bytes),
            "max_header_bytes must be between 8192 and 16777216"
        );
        anyhow::ensure!(
            self.header_read_timeout_secs >= 1 && self.idle_timeout_secs >= 1,
            "header_read_timeout_secs and idle_timeout_secs must be at least 1"
        );
        anyhow::ensure!(
            (1..=1_000_000).contains(&self.max_connections),
            "max_connections must be between 1 and 1000000"
        );
        anyhow::ensure!(
            (1..=86_400).contains(&self.rate_limit_window_secs),
            "rate_limit_window_secs must be between 1 and 86400"
        );
        anyhow::ensure!(
            (1..=10_000_000).contains(&self.rate_limit_max_keys),
            "rate_limit_max_keys must be between 1 and 10000000"
        );
        crate::api::client_ip::TrustedProxies::parse(&self.trusted_proxies)
            .map_err(anyhow::Error::msg)?;
        anyhow::ensure!(
            matches!(self.log_format.as_str(), "text" | "json"),
            "log_format must be `text` or `json`"
        );
        anyhow::ensure!(
            (8..=crate::services::auth::policy::MAX_LENGTH).contains(&self.password_min_length),
            "password_min_length must be between 8 and 256"
        );
        anyhow::ensure!(
            self.password_hash_threads <= 256,
            "password_hash_threads must be at most 256 (0: one per core)"
        );
        anyhow::ensure!(
            self.password_hash_queue <= 100_000,
            "password_hash_queue must be at most 100000"
        );
        let day = 24 * 3600;
        anyhow::ensure!(
            (1..=day).contains(&self.login_failure_window_secs)
                && (1..=day).contains(&self.login_lockout_secs),
            "login_failure_window_secs and login_lockout_secs must be between 1 and 86400"
        );
        anyhow::ensure!(
            (10..=10_000_000).contains(&self.login_throttle_max_entries),
            "login_throttle_max_entries must be between 10 and 10000000"
        );
        anyhow::ensure!(
            (1..=900).contains(&self.totp_challenge_ttl_secs),
            "totp_challenge_ttl_secs must be between 1 and 900"
        );
        Ok(())
    }

    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("vellum.db").display()
            ),
        }
    }

    pub fn public_url(&self, bound: &str) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{bound}"))
            .trim_end_matches('/')
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_setting_is_settable_from_the_environment() {
        let keys = Settings::keys();
        for key in [
            "listen",
            "data_dir",
            "database_url",
            "public_url",
            "admin_email",
            "admin_password",
            "cors_origins",
            "log",
            "max_header_bytes",
            "header_read_timeout_secs",
            "idle_timeout_secs",
            "max_connections",
            "connection_queue_ms",
            "password_min_length",
            "password_hash_threads",
            "login_max_failures_per_account",
            "trusted_proxies",
            "totp_challenge_ttl_secs",
            "rate_limit_anonymous",
            "rate_limit_authenticated",
            "rate_limit_window_secs",
            "rate_limit_max_keys",
        ] {
            assert!(
                keys.iter().any(|k| k == key),
                "`VELLUM_{}` is not read",
                key.to_uppercase()
            );
        }
        assert!(!keys.iter().any(|k| k == "config" || k == "new_password"));
    }
}
