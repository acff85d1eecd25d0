//! `/healthz` (the process is up) and `/readyz` (the database answers).

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
        Ok(()) => Response::builder()
            .content_type("application/json")
            .body(r#"{"status":"ready","database":"ok"}"#),
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
