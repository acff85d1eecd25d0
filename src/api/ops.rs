//! `/healthz` (the process is up) and `/readyz` (the database answers; the search
//! index's lag).

use poem::http::StatusCode;
use poem::web::Data;
use poem::{IntoResponse, Response, handler};

use crate::services::Services;

#[handler]
pub fn healthz() -> Response {
    Response::builder()
        .content_type("application/json")
        .body(r#"{"status":"ok"}"#)
}

#[handler]
pub async fn readyz(services: Data<&std::sync::Arc<Services>>) -> Response {
    match services.store.ping().await {
        Ok(()) => {
            // The search index answers whatever its lag; how far behind it is (events this
            // node applied that it has not) and what it is still (re)indexing is reported.
            let (lag, reindexing) = services.search.lag();
            let body = serde_json::json!({
                "status": "ready",
                "database": "ok",
                "search": {
                    "lag_events": lag,
                    "reindexing": reindexing,
                    "documents": services.search.index().num_docs(),
                },
            });
            Response::builder()
                .content_type("application/json")
                .body(body.to_string())
        }
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            Response::builder()
                .status(StatusCode::SERVICE_UNAVAILABLE)
                .content_type("application/json")
                .body(r#"{"status":"unavailable","database":"unreachable"}"#)
                .into_response()
        }
    }
}

/// Prometheus metrics: HTTP and search counters and latencies, and the search index's
/// state (lag, documents, types being indexed).
#[handler]
pub fn metrics(services: Data<&std::sync::Arc<Services>>) -> Response {
    let (lag, reindexing) = services.search.lag();
    let gauges = [
        (
            "vellum_search_index_lag_events",
            "Events this node's follower applied that the search index has not.",
            lag as f64,
        ),
        (
            "vellum_search_index_documents",
            "Documents searches see (an entry is one or two: published and draft).",
            services.search.index().num_docs() as f64,
        ),
        (
            "vellum_search_index_reindexing_types",
            "Content types whose entries the index is still (re)writing.",
            reindexing.len() as f64,
        ),
        (
            "vellum_event_log_applied_seq",
            "The last event-log sequence number this node applied.",
            services.follower.freshness.applied() as f64,
        ),
    ];
    Response::builder()
        .content_type("text/plain; version=0.0.4; charset=utf-8")
        .header("cache-control", "no-store")
        .body(services.metrics.render(&gauges))
}
