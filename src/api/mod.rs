//! HTTP: poem-openapi APIs (one struct per resource), the runtime OpenAPI document with
//! per-content-type paths, and the middleware every request passes through:
//! request id + access log → panic guard → error body → authentication and rate limit →
//! body limit and JSON syntax. Handlers extract, call one service method and shape the
//! response; they never run a query.

pub mod admin;
pub mod auth;
pub mod client_ip;
pub mod comments;
pub mod content_types;
pub mod delivery;
pub mod delivery_cache;
pub mod dto;
pub mod entries;
pub mod input_check;
pub mod live;
pub mod middleware;
pub mod openapi_doc;
pub mod openapi_filters;
pub mod openapi_normalize;
pub mod openapi_paths;
pub mod openapi_types;
pub mod ops;
pub mod parse_messages;
pub mod queries;
pub mod rate_limit;
pub mod render;
pub mod search;
pub mod sync;
pub mod trash;

use bytes::Bytes;
use poem::http::{HeaderName, HeaderValue, StatusCode};
use poem::{IntoResponse, Request, Response};
use poem_openapi::auth::Bearer;
use poem_openapi::registry::{
    MetaHeader, MetaMediaType, MetaResponse, MetaResponses, MetaSchema, MetaSchemaRef, Registry,
};
use poem_openapi::{ApiResponse, Object, SecurityScheme};
use serde_json::Value;

use crate::authz::Principal;
use crate::error::ApiError;

/// Room for the headers a delivery answer carries (cache status, purge keys, caching,
/// `Vary`, `ETag`), so they take one allocation.
const HEADERS: usize = 8;

/// A JSON reply with a status and headers chosen at run time. The body is shared bytes,
/// so a cached answer is served without copying it.
pub struct Reply {
    status: StatusCode,
    body: Option<Bytes>,
    headers: Vec<(HeaderName, HeaderValue)>,
}

impl Reply {
    pub fn json(value: &impl serde::Serialize) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(exact(serde_json::to_vec(value).unwrap_or_default())),
            headers: Vec::with_capacity(HEADERS),
        }
    }

    pub fn bytes(body: Bytes) -> Reply {
        Reply {
            status: StatusCode::OK,
            body: Some(body),
            headers: Vec::with_capacity(HEADERS),
        }
    }

    pub fn empty(status: StatusCode) -> Reply {
        Reply {
            status,
            body: None,
            headers: Vec::with_capacity(HEADERS),
        }
    }

    pub fn status(mut self, status: StatusCode) -> Reply {
        self.status = status;
        self
    }

    /// Adds a header; a value that is not a valid header value is left out.
    pub fn header(self, name: &'static str, value: impl Into<String>) -> Reply {
        match HeaderValue::try_from(value.into()) {
            Ok(v) => self.header_value(name, v),
            Err(_) => self,
        }
    }

    /// Adds a header whose value is already made (a clone of a shared value is cheap).
    pub fn header_value(mut self, name: &'static str, value: HeaderValue) -> Reply {
        self.headers.push((HeaderName::from_static(name), value));
        self
    }

    pub fn status_code(&self) -> StatusCode {
        self.status
    }

    pub fn body_bytes(&self) -> &[u8] {
        self.body.as_deref().unwrap_or_default()
    }

    /// The body, shared (empty without one).
    pub fn body(&self) -> Bytes {
        self.body.clone().unwrap_or_default()
    }

    /// Answers 304 without a body when the client already holds this `etag`.
    pub fn conditional(self, req: &Request, etag: &str) -> Reply {
        let fresh = req
            .headers()
            .get("if-none-match")
            .and_then(|h| h.to_str().ok())
            // Weak comparison (RFC 9110 §13.1.2): a cache may hand back `W/"…"`.
            .is_some_and(|h| {
                h.split(',')
                    .map(|t| t.trim().trim_start_matches("W/"))
                    .any(|t| t == etag || t == "*")
            });
        let mut reply = if fresh {
            Reply {
                body: None,
                status: StatusCode::NOT_MODIFIED,
                ..self
            }
        } else {
            self
        };
        if let Ok(v) = HeaderValue::from_str(etag) {
            reply.headers.push((HeaderName::from_static("etag"), v));
        }
        reply
    }
}

/// The bytes of a rendered body without the spare capacity the serializer grew (up to
/// as much again): the delivery cache keeps bodies and counts their length.
fn exact(mut body: Vec<u8>) -> Bytes {
    body.shrink_to_fit();
    Bytes::from(body)
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        let mut builder = Response::builder().status(self.status);
        if self.body.is_some() {
            builder = builder.content_type("application/json");
        }
        for (name, value) in self.headers {
            builder = builder.header(name, value);
        }
        match self.body {
            Some(b) => builder.body(b),
            None => builder.finish(),
        }
    }
}

fn empty_response(status: u16, description: &'static str) -> MetaResponse {
    MetaResponse {
        description,
        status: Some(status),
        status_range: None,
        content: vec![],
        headers: vec![],
    }
}

/// A 204 reply.
pub struct NoContent;

impl IntoResponse for NoContent {
    fn into_response(self) -> Response {
        Reply::empty(StatusCode::NO_CONTENT).into_response()
    }
}

impl ApiResponse for NoContent {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: vec![empty_response(204, "Done")],
        }
    }

    fn register(_registry: &mut Registry) {}
}

/// The error body as documented in the OpenAPI document.
#[derive(Object)]
#[oai(rename = "ErrorBody")]
pub struct ErrorBody {
    pub error: ErrorInfo,
}

/// One error.
#[derive(Object)]
#[oai(rename = "ErrorInfo")]
pub struct ErrorInfo {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    /// What went wrong and what to do about it.
    pub message: String,
    /// Extra structure: per-field errors, conflicts, the current version.
    pub details: Option<Value>,
}

const ERROR_STATUSES: &[(u16, &str)] = &[
    (
        400,
        "Bad request: malformed JSON, an unknown parameter, field or operator, a bad cursor",
    ),
    (401, "No or invalid bearer token"),
    (
        403,
        "The caller's role does not allow this; `totp_enrolment_required`: the role requires TOTP, turn it on first",
    ),
    (404, "No such content type, entry or resource"),
    (
        409,
        "Conflicts with the current state (exists already, schema change would lose data)",
    ),
    (
        412,
        "If-Match did not match: the resource changed; the body carries the current version",
    ),
    (413, "The request body is larger than the configured limit"),
    (415, "The request body is not application/json"),
    (
        422,
        "Validation failed: one error per offending field in details.fields",
    ),
    (
        429,
        "Over the rate limit: retry after `Retry-After` seconds (RateLimit-* fields say more)",
    ),
];

/// Headers of a 429 (draft-ietf-httpapi-ratelimit-headers-06 and RFC 9110 `Retry-After`).
pub const RATE_LIMIT_HEADERS: &[(&str, &str)] = &[
    (
        "Retry-After",
        "Seconds to wait before the next request will be served",
    ),
    (
        "RateLimit-Limit",
        "Requests the caller may send at once (the burst)",
    ),
    ("RateLimit-Remaining", "Requests the caller may send now"),
    (
        "RateLimit-Reset",
        "Seconds until the whole burst is available again",
    ),
];

impl ApiResponse for ApiError {
    fn meta() -> MetaResponses {
        MetaResponses {
            responses: ERROR_STATUSES
                .iter()
                .map(|(status, description)| MetaResponse {
                    description,
                    status: Some(*status),
                    status_range: None,
                    content: vec![MetaMediaType {
                        content_type: "application/json",
                        schema: MetaSchemaRef::Reference("ErrorBody".to_string()),
                    }],
                    headers: if *status == 429 {
                        rate_limit_headers()
                    } else {
                        vec![]
                    },
                })
                .collect(),
        }
    }

    fn register(registry: &mut Registry) {
        <ErrorBody as poem_openapi::types::Type>::register(registry);
    }
}

fn rate_limit_headers() -> Vec<MetaHeader> {
    RATE_LIMIT_HEADERS
        .iter()
        .map(|(name, description)| MetaHeader {
            name: (*name).to_string(),
            description: Some((*description).to_string()),
            required: true,
            deprecated: false,
            schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new_with_format(
                "integer", "int64",
            ))),
        })
        .collect()
}

impl poem::error::ResponseError for ApiError {
    fn status(&self) -> StatusCode {
        self.code.status()
    }

    fn as_response(&self) -> Response {
        let mut builder = Response::builder()
            .status(self.code.status())
            .content_type("application/json");
        for (name, value) in &self.headers {
            if let Ok(v) = HeaderValue::from_str(value) {
                builder = builder.header(*name, v);
            }
        }
        builder.body(serde_json::to_vec(&self.body()).unwrap_or_default())
    }
}

/// Bearer authentication (a JWT access token or a `vlm_` API token). The middleware has
/// already resolved the header; this only documents it and refuses anonymous callers.
#[derive(SecurityScheme)]
#[oai(
    rename = "bearer",
    ty = "bearer",
    bearer_format = "JWT access token or vlm_ API token",
    checker = "authenticated"
)]
pub struct Auth(pub Principal);

async fn authenticated(req: &Request, _bearer: Bearer) -> poem::Result<Principal> {
    match req.extensions().get::<Principal>() {
        Some(p) if !p.is_anonymous() => Ok(p.clone()),
        _ => Err(ApiError::unauthenticated().into()),
    }
}

/// Bearer authentication that also admits anonymous callers (as the `public` role).
#[derive(SecurityScheme)]
pub enum MaybeAuth {
    Bearer(Auth),
    #[oai(fallback)]
    Anonymous,
}

impl MaybeAuth {
    pub fn principal(&self) -> Principal {
        match self {
            MaybeAuth::Bearer(Auth(p)) => p.clone(),
            MaybeAuth::Anonymous => Principal::anonymous(),
        }
    }
}

/// Query-string pairs, percent-decoded, in order.
pub fn query_pairs(req: &Request) -> Vec<(String, String)> {
    req.uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

pub fn header<'a>(req: &'a Request, name: &str) -> Option<&'a str> {
    req.headers().get(name).and_then(|h| h.to_str().ok())
}
