//! Builds the application: data directory, database and migrations, services, the
//! first administrator, routes and middleware; binds the listener (port 0 works, which
//! is how tests run the real server) and serves until a shutdown signal.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use poem::endpoint::BoxEndpoint;
use poem::http::Method;
use poem::middleware::{CatchPanic, Cors};
use poem::{EndpointExt, IntoEndpoint, IntoResponse, Route, get};
use poem_openapi::OpenApiService;

use crate::api::client_ip::TrustedProxies;
use crate::api::rate_limit::RateLimiter;
use crate::api::{self, openapi_doc::DocSource};
use crate::config::Settings;
use crate::error::ApiError;
use crate::server::{self, Limits};
use crate::services::Services;
use crate::store::Store;

pub struct Application {
    listener: tokio::net::TcpListener,
    endpoint: BoxEndpoint<'static>,
    limits: Limits,
    pub addr: SocketAddr,
    pub public_url: String,
    pub services: Services,
    /// The API rate limiter of this node (its stats are read by tests and, later, metrics).
    pub rate_limiter: Arc<RateLimiter>,
}

/// Opens the database named by the settings (creating the data directory) and migrates it.
pub async fn open_store(settings: &Settings) -> anyhow::Result<Store> {
    std::fs::create_dir_all(&settings.data_dir).with_context(|| {
        format!(
            "creating the data directory {}",
            settings.data_dir.display()
        )
    })?;
    let limits = crate::store::ScanLimits {
        concurrency: settings.scan_concurrency.max(1),
        statement_timeout: std::time::Duration::from_millis(settings.scan_timeout_ms.max(1)),
    };
    let store = Store::connect_with(&settings.database_url(), limits).await?;
    {
        let _only_this_node = store.startup_lock().await?;
        store.migrate().await?;
        store
            .ensure_all_field_indexes()
            .await
            .context("building field indexes")?;
    }
    store.optimize().await;
    Ok(store)
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let proxies =
            TrustedProxies::parse(&settings.trusted_proxies).map_err(anyhow::Error::msg)?;
        let rate_limiter = Arc::new(RateLimiter::from_settings(&settings));
        let store = open_store(&settings).await?;
        let listener = tokio::net::TcpListener::bind(settings.listen.as_str())
            .await
            .with_context(|| format!("listening on {}", settings.listen))?;
        let addr = listener
            .local_addr()
            .context("the listener has no socket address")?;
        let limits = Limits::from_settings(&settings);
        let public_url = settings.public_url(&addr.to_string());
        let settings = Arc::new(settings);
        // Seeding roles, the signing secret and the first administrator: one node at a time.
        let startup = store.startup_lock().await?;
        let services = Services::build(settings.clone(), store).await?;
        if let (Some(email), Some(password)) = (&settings.admin_email, &settings.admin_password) {
            match services.admin.bootstrap_admin(email, password).await {
                Ok(Some(user)) => {
                    tracing::info!(email = %user.email, "created the first administrator from VELLUM_ADMIN_EMAIL")
                }
                Ok(None) => {}
                Err(e) => anyhow::bail!("could not create the first administrator: {}", e.message),
            }
        }
        drop(startup);

        let gate = api::middleware::Gate {
            auth: Arc::new(services.auth.clone()),
            limiter: rate_limiter.clone(),
            proxies: Arc::new(proxies),
        };
        let endpoint = routes(&services, &public_url, gate);
        Ok(Application {
            listener,
            endpoint,
            limits,
            addr,
            public_url,
            services,
            rate_limiter,
        })
    }

    /// Serves until `signal` resolves, then finishes in-flight requests (up to 10 s) and
    /// closes the database cleanly.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
        let users = self.services.admin.count_users().await.unwrap_or(0);
        tracing::info!(url = %self.public_url, "Vellum is ready");
        if users == 0 {
            tracing::warn!(
                "no user exists yet: set VELLUM_ADMIN_EMAIL and VELLUM_ADMIN_PASSWORD and restart, or run `vellum user create --admin`"
            );
        } else {
            tracing::info!(
                "log in with POST {}/api/v1/auth/login; the API is described at {}/docs",
                self.public_url,
                self.public_url
            );
        }
        let store = self.services.store.clone();
        tracing::info!(addr = %self.addr, "listening");
        let stop = tokio_util::sync::CancellationToken::new();
        let serving = async {
            let served = server::serve(
                self.listener,
                self.endpoint,
                self.limits,
                signal,
                Duration::from_secs(10),
            )
            .await;
            stop.cancel();
            served
        };
        // Background work lives inside this future: it ends when serving does.
        let (served, ()) = tokio::join!(serving, self.services.background(stop.clone()));
        served.context("serving HTTP")?;
        store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

fn routes(
    services: &Services,
    public_url: &str,
    gate: api::middleware::Gate,
) -> BoxEndpoint<'static> {
    let front = Arc::new(api::delivery::DeliveryFront::new(services));
    let apis = (
        api::auth::AuthApi {
            services: services.clone(),
            proxies: gate.proxies.clone(),
        },
        api::delivery::DeliveryApi {
            services: services.clone(),
            front: front.clone(),
        },
        api::content_types::ContentTypesApi {
            services: services.clone(),
            public_url: public_url.to_string(),
        },
        api::entries::EntriesApi {
            services: services.clone(),
            public_url: public_url.to_string(),
        },
        api::admin::AdminApi {
            services: services.clone(),
            public_url: public_url.to_string(),
        },
        api::trash::TrashApi {
            services: services.clone(),
        },
        api::comments::CommentsApi {
            services: services.clone(),
        },
        api::queries::QueryApi {
            services: services.clone(),
        },
        api::sync::SyncApi {
            services: services.clone(),
        },
        api::live::LiveApi {
            services: services.clone(),
        },
        api::search::SearchApi {
            services: services.clone(),
        },
    );
    let service = OpenApiService::new(apis, "Vellum", env!("CARGO_PKG_VERSION"))
        .description("Headless CMS API: delivery of published content, management of schema, entries, versions, users and access.")
        .server(public_url.to_string());
    let doc = Arc::new(DocSource::new(
        service.spec(),
        service.swagger_ui_html(),
        services.types.clone(),
        services.authz.clone(),
    ));
    let doc_for_allow = doc.clone();
    // Requests are counted under the route templates of the spec (bounded labels).
    let spec: serde_json::Value = serde_json::from_str(&service.spec()).unwrap_or_default();
    let mut templates: Vec<String> = spec["paths"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();
    templates
        .extend(["/openapi.json", "/docs", "/healthz", "/readyz", "/metrics"].map(str::to_string));
    services.metrics.set_routes(crate::metrics::Routes::new(
        templates.iter().map(String::as_str),
    ));
    let metrics = services.metrics.clone();
    let server_timing = services.settings.server_timing;
    let limit = services.settings.max_body_bytes;
    let guarded = service
        .into_endpoint()
        .before(api::middleware::input_guard(limit));
    // Every route but the health checks is authenticated and rate limited, before the
    // body is read.
    let limited = Route::new()
        .at("/openapi.json", get(api::openapi_doc::openapi_json))
        .at("/docs", get(api::openapi_doc::docs))
        .nest("/", guarded)
        .around(move |ep, req| api::delivery::cache_front(ep, req, front.clone()))
        .around(move |ep, req| api::middleware::authenticate(ep, req, gate.clone()));
    Route::new()
        .at("/healthz", get(api::ops::healthz))
        .at("/readyz", get(api::ops::readyz))
        .at("/metrics", get(api::ops::metrics))
        .nest("/", limited)
        // One Arc per request: poem clones the data into every request.
        .data(Arc::new(services.clone()))
        .data(doc)
        .with(cors(&services.settings.cors_origins))
        .with(CatchPanic::new().with_handler(|_| {
            poem::error::ResponseError::as_response(&ApiError::internal(
                "a request handler panicked",
            ))
            .into_response()
        }))
        .around(move |ep, req| {
            api::middleware::request_id(
                ep,
                req,
                doc_for_allow.clone(),
                server_timing,
                metrics.clone(),
            )
        })
        .boxed()
}

fn cors(origins: &[String]) -> Cors {
    Cors::new()
        .allow_origins(origins.iter().map(String::as_str))
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
        ])
        .allow_headers([
            "authorization",
            "content-type",
            "if-match",
            "if-none-match",
            "x-request-id",
        ])
        .expose_headers([
            "etag",
            "location",
            "x-request-id",
            "retry-after",
            "ratelimit-limit",
            "ratelimit-remaining",
            "ratelimit-reset",
            "ratelimit-policy",
        ])
        .max_age(600)
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
