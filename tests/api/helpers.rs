//! The test harness: the real application on 127.0.0.1 with a random port, a temporary
//! data directory, and a fresh database (SQLite file, or a PostgreSQL database with a
//! random name that is dropped afterwards).

use std::sync::Arc;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use vellum::app::Application;
use vellum::config::Settings;

pub const ADMIN_EMAIL: &str = "admin@example.com";
pub const ADMIN_PASSWORD: &str = "correct-horse-battery";

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Generates one test per backend from `async fn name(backend: Backend)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                use $crate::helpers::Backend;
                #[tokio::test]
                async fn sqlite() {
                    super::$name(Backend::Sqlite).await;
                }
                #[tokio::test]
                #[cfg_attr(not(vellum_pg), ignore = "PostgreSQL run skipped: set VELLUM_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432) to run it")]
                async fn postgres() {
                    super::$name(Backend::Postgres).await;
                }
            }
        )*
    };
}

/// A PostgreSQL database made for one test, dropped with this guard.
pub struct PgDatabase {
    server: String,
    name: String,
}

impl PgDatabase {
    pub fn url(&self) -> String {
        format!("{}/{}", self.server, self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        let server = self.server.clone();
        let name = self.name.clone();
        // Drop runs outside any runtime we may block: use a thread with its own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async move {
                if let Ok(conn) = sea_orm::Database::connect(format!("{server}/postgres")).await {
                    use sea_orm::ConnectionTrait;
                    let _ = conn
                        .execute_unprepared(&format!(
                            "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                        ))
                        .await;
                    let _ = conn.close().await;
                }
            });
        })
        .join();
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    #[allow(dead_code, reason = "for tests that behave differently per backend")]
    pub backend: Backend,
    pub token: String,
    /// The server's rate limiter, to read its stats.
    #[allow(dead_code, reason = "for the rate-limit tests")]
    pub rate_limiter: Arc<vellum::api::rate_limit::RateLimiter>,
    /// Keeps the data directory alive as long as the app.
    #[allow(dead_code, reason = "held for its Drop")]
    pub data_dir: Arc<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<()>>,
    _pg: Option<PgDatabase>,
    settings: Settings,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}

pub fn postgres_server() -> String {
    std::env::var("VELLUM_TEST_POSTGRES_URL")
        .expect(
            "this PostgreSQL test was built with VELLUM_TEST_POSTGRES_URL set but it is unset now",
        )
        .trim_end_matches('/')
        .to_string()
}

pub async fn create_pg_database() -> PgDatabase {
    use sea_orm::ConnectionTrait;
    let server = postgres_server();
    let name = format!("vellum_test_{}", uuid::Uuid::new_v4().simple());
    let conn = sea_orm::Database::connect(format!("{server}/postgres"))
        .await
        .expect("connect to the test PostgreSQL server");
    conn.execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create the test database");
    let _ = conn.close().await;
    PgDatabase { server, name }
}

/// A fresh database for a server run outside the harness (e.g. the real binary): its URL
/// (`None`: SQLite in the data directory), dropped with the value.
pub struct TestDatabase {
    pub url: Option<String>,
    _pg: Option<PgDatabase>,
}

pub async fn test_database(backend: Backend) -> TestDatabase {
    match backend {
        Backend::Sqlite => TestDatabase {
            url: None,
            _pg: None,
        },
        Backend::Postgres => {
            let pg = create_pg_database().await;
            TestDatabase {
                url: Some(format!("{}/{}", pg.server, pg.name)),
                _pg: Some(pg),
            }
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, |_| {}).await
    }

    /// The app with some settings given by name, as in `vellum.toml`.
    pub async fn spawn_configured(backend: Backend, settings: Value) -> TestApp {
        Self::spawn_with(backend, move |s| {
            let mut all = serde_json::to_value(&*s).expect("settings as JSON");
            if let (Some(all), Some(set)) = (all.as_object_mut(), settings.as_object()) {
                for (k, v) in set {
                    all.insert(k.clone(), v.clone());
                }
            }
            *s = serde_json::from_value(all).expect("settings known to this version");
        })
        .await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Settings)) -> TestApp {
        if std::env::var("VELLUM_TEST_LOG").is_ok() {
            vellum::telemetry::init("debug", false);
        }
        let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
        let pg = match backend {
            Backend::Postgres => Some(create_pg_database().await),
            Backend::Sqlite => None,
        };
        let mut settings = Settings {
            listen: "127.0.0.1:0".into(),
            data_dir: dir.path().to_path_buf(),
            database_url: pg.as_ref().map(|p| format!("{}/{}", p.server, p.name)),
            admin_email: Some(ADMIN_EMAIL.into()),
            admin_password: Some(ADMIN_PASSWORD.into()),
            ..Settings::default()
        };
        tweak(&mut settings);
        Self::start(backend, settings, dir, pg).await
    }

    async fn start(
        backend: Backend,
        settings: Settings,
        dir: Arc<tempfile::TempDir>,
        pg: Option<PgDatabase>,
    ) -> TestApp {
        let app = Application::build(settings.clone())
            .await
            .expect("the application builds");
        let base = format!("http://{}", app.addr);
        let rate_limiter = app.rate_limiter.clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(async move {
            let _ = app
                .run_until(async {
                    let _ = rx.await;
                })
                .await;
        });
        let client = reqwest::Client::builder().build().expect("http client");
        let mut t = TestApp {
            base,
            client,
            backend,
            token: String::new(),
            rate_limiter,
            data_dir: dir,
            shutdown: Some(tx),
            server: Some(server),
            _pg: pg,
            settings,
        };
        t.token = t.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["access_token"]
            .as_str()
            .expect("access token")
            .to_string();
        t
    }

    /// Stops the server gracefully, then starts a new one on the same data (database and
    /// data directory), as after a restart. `pause` runs while it is down.
    pub async fn restart_after(mut self, pause: impl std::future::Future<Output = ()>) -> TestApp {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
        pause.await;
        let mut settings = self.settings.clone();
        settings.listen = "127.0.0.1:0".into();
        Self::start(
            self.backend,
            settings,
            self.data_dir.clone(),
            self._pg.take(),
        )
        .await
    }

    /// The database this app runs on (for tests that must age rows, as time would).
    pub fn database_url(&self) -> String {
        self.settings.database_url()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// A request as the administrator.
    pub fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(&self.token)
    }

    /// A request with a given bearer token (`None`: anonymous).
    pub fn req_as(&self, token: Option<&str>, method: Method, path: &str) -> RequestBuilder {
        let r = self.client.request(method, self.url(path));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub async fn login(&self, email: &str, password: &str) -> Value {
        let resp = self
            .client
            .post(self.url("/api/v1/auth/login"))
            .json(&json!({"email": email, "password": password}))
            .send()
            .await
            .expect("login request");
        let (status, body) = read(resp).await;
        assert_eq!(status, StatusCode::OK, "login failed: {body}");
        body
    }

    /// Creates a user with a role and returns an access token for them.
    pub async fn user_token(&self, email: &str, role: &str) -> (String, String) {
        let password = "a-long-enough-password";
        let (status, body) = send(
            self.req(Method::POST, "/api/v1/manage/users")
                .json(&json!({"email": email, "password": password, "role": role})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let token = self.login(email, password).await["access_token"]
            .as_str()
            .expect("token")
            .to_string();
        (body["id"].as_str().expect("id").to_string(), token)
    }

    /// Creates an API token acting with `role`; the answer carries the secret (`token`).
    pub async fn create_token(&self, name: &str, role: &str) -> Value {
        let (status, body) = send(
            self.req(Method::POST, "/api/v1/manage/tokens")
                .json(&json!({"name": name, "role": role})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "create token: {body}");
        body
    }

    pub async fn create_type(&self, def: Value) -> Value {
        let (status, body) = send(
            self.req(Method::POST, "/api/v1/manage/content-types")
                .json(&def),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "create type: {body}");
        body
    }

    pub async fn create_entry(&self, type_id: &str, fields: Value) -> Value {
        let (status, body) = send(
            self.req(Method::POST, &format!("/api/v1/manage/entries/{type_id}"))
                .json(&json!({"fields": fields})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "create entry: {body}");
        body
    }

    pub async fn publish(&self, type_id: &str, id: &str) -> Value {
        let (status, body) = send(self.req(
            Method::POST,
            &format!("/api/v1/manage/entries/{type_id}/{id}/publish"),
        ))
        .await;
        assert_eq!(status, StatusCode::OK, "publish: {body}");
        body
    }

    /// Lets `role` do `action` on `resource`.
    pub async fn grant(&self, role: &str, resource: &str, action: &str) -> Value {
        let (status, body) = send(
            self.req(Method::POST, "/api/v1/manage/policies")
                .json(&json!({"role": role, "resource": resource, "action": action})),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "grant: {body}");
        body
    }

    /// Waits until the search index holds every change this node has applied and is not
    /// reindexing anything (as `/readyz` reports it); panics after 20 s.
    pub async fn search_settled(&self) {
        let start = std::time::Instant::now();
        loop {
            let (status, body) = send(self.client.get(self.url("/readyz"))).await;
            assert_eq!(status, StatusCode::OK, "{body}");
            let s = &body["search"];
            if s["lag_events"] == 0 && s["reindexing"].as_array().is_some_and(|r| r.is_empty()) {
                return;
            }
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "the search index never caught up: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The event log as the administrator sees it.
    pub async fn events(&self) -> Vec<Value> {
        let (status, body) = send(self.req(Method::GET, "/api/v1/manage/events?limit=1000")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["items"].as_array().cloned().unwrap_or_default()
    }
}

/// A response header as text (`None` when absent or not text).
pub fn header_value(resp: &reqwest::Response, name: &str) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|h| h.to_str().ok())
        .map(str::to_string)
}

/// Sends a request; returns status and JSON body (`Null` when empty).
pub async fn send(req: RequestBuilder) -> (StatusCode, Value) {
    read(req.send().await.expect("request sent")).await
}

pub async fn read(resp: Response) -> (StatusCode, Value) {
    let status = resp.status();
    let bytes = resp.bytes().await.expect("body");
    let body = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, body)
}

/// Asserts an error answer: status, code, and a body that leaks no internals.
pub fn assert_error(status: StatusCode, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(
        status.as_u16(),
        want_status,
        "unexpected status; body: {body}"
    );
    assert_eq!(
        body["error"]["code"], want_code,
        "unexpected error code; body: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "error without a message: {body}");
    let text = body.to_string();
    for leak in [
        "sqlx", "SELECT ", "INSERT ", "src/", ".rs:", "::", "panicked", "DbErr",
    ] {
        assert!(!text.contains(leak), "error body leaks `{leak}`: {text}");
    }
}

/// The DESIGN.md §3 example types.
pub fn person_type() -> Value {
    json!({"api_id": "person", "name": "Person", "options": {"title_field": "name"},
           "fields": [{"name": "name", "type": "text", "required": true},
                      {"name": "email", "type": "email", "unique": true},
                      {"name": "salary", "type": "integer", "private": true}]})
}

pub fn article_type() -> Value {
    json!({"api_id": "article", "name": "Article", "kind": "collection",
    "options": {"draft_publish": true, "localized": false, "title_field": "title"},
    "fields": [
        {"name": "title", "type": "text", "required": true, "validations": {"max_length": 200}, "description": "Headline shown in lists"},
        {"name": "slug", "type": "slug", "source": "title"},
        {"name": "body", "type": "richtext"},
        {"name": "rating", "type": "integer", "validations": {"min": 1, "max": 5}},
        {"name": "category", "type": "enum", "values": ["news", "guide", "review"]},
        {"name": "cover", "type": "media"},
        {"name": "author", "type": "relation", "target": "person", "many": false},
        {"name": "links", "type": "component", "repeatable": true,
         "fields": [{"name": "label", "type": "text"}, {"name": "url", "type": "url"}]}
    ]})
}
