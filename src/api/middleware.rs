//! Middleware for every request: request id and access log, the one error body for
//! whatever failed, authentication with the rate limit (`rate_limit.rs` keeps the
//! buckets), and the input guard (NUL characters, the body-size limit, JSON syntax).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use poem::http::header::AUTHORIZATION;
use poem::http::{Method, StatusCode};
use poem::{Body, Endpoint, IntoResponse, Request, Response};
use tracing::Instrument;

use super::client_ip::{TrustedProxies, client_ip};
use super::input_check;
use super::openapi_doc::DocSource;
use super::rate_limit::{RateLimiter, Subject};
use crate::authz::{Actor, Principal};
use crate::error::{ApiError, Code};
use crate::services::auth::AuthService;

/// The session family of the access token on this request (for logout).
#[derive(Clone, Debug)]
pub struct SessionFamily(pub String);

/// A request id unique across nodes and restarts: 64 random bits drawn once per process
/// and a counter, as 32 hex digits (the shape of a simple UUID). No system call per
/// request, unlike a random UUID each time.
fn new_request_id() -> String {
    use std::sync::LazyLock;
    use std::sync::atomic::{AtomicU64, Ordering};
    static PROCESS: LazyLock<u64> = LazyLock::new(rand::random);
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{:016x}{n:016x}", *PROCESS)
}

/// Gives every request an id (kept from a sane incoming `X-Request-Id`), a span that every
/// log line inside carries, one access-log line, and the id on the response.
pub async fn request_id<E: Endpoint>(
    next: E,
    req: Request,
    doc: Arc<DocSource>,
    server_timing: bool,
    metrics: Arc<crate::metrics::Metrics>,
) -> poem::Result<Response> {
    let incoming = req
        .headers()
        .get("x-request-id")
        .and_then(|h| h.to_str().ok())
        .filter(|s| {
            !s.is_empty()
                && s.len() <= 64
                && s.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .map(str::to_string);
    let id = incoming.unwrap_or_else(new_request_id);
    let span = tracing::info_span!("request", request_id = %id, method = %req.method(), path = %req.uri().path());
    let started = Instant::now();
    // A clone of the URI shares its bytes: no copy on the way in.
    let uri = req.uri().clone();
    let method = req.method().clone();
    let work = async move {
        let mut resp = match check_host(&req) {
            Err(e) => poem::error::ResponseError::as_response(&e),
            Ok(()) => match next.call(req).await {
                Ok(r) => r.into_response(),
                Err(e) => error_response(e),
            },
        };
        if resp.status() == poem::http::StatusCode::METHOD_NOT_ALLOWED
            && !resp.headers().contains_key("allow")
        {
            let allowed = doc.allowed_methods(uri.path()).join(", ");
            if let Ok(v) = poem::http::HeaderValue::from_str(&allowed) {
                resp.headers_mut().insert("allow", v);
            }
        }
        let status = resp.status().as_u16();
        let took = started.elapsed();
        let ms = took.as_secs_f64() * 1000.0;
        metrics.http(method.as_str(), uri.path(), status, took);
        let queries = crate::store::STATEMENTS.try_with(|n| n.get()).unwrap_or(0);
        if status >= 500 {
            tracing::warn!(status, ms, queries, "request failed");
        } else {
            tracing::info!(status, ms, queries, "request");
        }
        if server_timing {
            let value = format!("db;desc=\"{queries} queries\", total;dur={ms:.2}");
            if let Ok(v) = poem::http::HeaderValue::from_str(&value) {
                resp.headers_mut().insert("server-timing", v);
            }
        }
        if let Ok(v) = poem::http::HeaderValue::from_str(&id) {
            resp.headers_mut().insert("x-request-id", v);
        }
        Ok(resp)
    }
    .instrument(span);
    crate::store::STATEMENTS
        .scope(std::cell::Cell::new(0), work)
        .await
}

/// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one `Host`, and no request carries
/// two or one that is not a host with an optional port. (HTTP/2 names the host in
/// `:authority`, HTTP/1.0 may omit it.)
fn check_host(req: &Request) -> Result<(), ApiError> {
    let mut hosts = req.headers().get_all("host").iter();
    let first = hosts.next();
    if hosts.next().is_some() {
        return Err(ApiError::new(
            Code::InvalidHost,
            "the request has more than one `Host` header; send exactly one",
        ));
    }
    let Some(host) = first else {
        if req.version() == poem::http::Version::HTTP_11 {
            return Err(ApiError::new(
                Code::InvalidHost,
                "an HTTP/1.1 request needs a `Host` header naming the server it is for",
            ));
        }
        return Ok(());
    };
    let readable = host.to_str().ok().is_some_and(|h| {
        h.is_empty() || (!h.contains('@') && h.parse::<poem::http::uri::Authority>().is_ok())
    });
    if readable {
        Ok(())
    } else {
        Err(ApiError::new(
            Code::InvalidHost,
            "the `Host` header is not a host name with an optional port",
        ))
    }
}

/// Maps any error to the one JSON body (DESIGN.md §4).
pub fn error_response(err: poem::Error) -> Response {
    use poem_openapi::error::{
        AuthorizationError, ContentTypeError, ParseParamError, ParsePathError,
        ParseRequestPayloadError,
    };
    if let Some(api) = err.downcast_ref::<ApiError>() {
        return poem::error::ResponseError::as_response(api);
    }
    let api = if let Some(field) = err
        .is::<ParseRequestPayloadError>()
        .then(|| server_set_field(&err.to_string()))
        .flatten()
    {
        ApiError::validation(vec![crate::error::FieldError {
            field: field.to_string(),
            code: "read_only",
            message: format!("`{field}` is set by the server and cannot be written; leave it out"),
        }])
    } else if err.is::<ParseRequestPayloadError>()
        || err.is::<poem_openapi::error::ParseMultipartError>()
    {
        ApiError::new(
            Code::InvalidBody,
            format!(
                "the request body does not have the expected shape: {}",
                super::parse_messages::humanize(&err.to_string())
            ),
        )
    } else if err.is::<ContentTypeError>() {
        ApiError::new(
            Code::UnsupportedMediaType,
            "send the body as JSON with `Content-Type: application/json`",
        )
    } else if err.is::<ParseParamError>() || err.is::<ParsePathError>() {
        ApiError::new(
            Code::InvalidParameter,
            super::parse_messages::humanize(&err.to_string()),
        )
    } else if err.is::<AuthorizationError>() {
        ApiError::unauthenticated()
    } else if err.is::<poem::error::NotFoundError>() {
        ApiError::new(
            Code::NotFound,
            "no such endpoint; the API is described at /openapi.json",
        )
    } else if err.is::<poem::error::MethodNotAllowedError>() {
        ApiError::new(
            Code::MethodNotAllowed,
            "this endpoint does not accept that HTTP method",
        )
    } else {
        let status = err.status();
        match status {
            StatusCode::PAYLOAD_TOO_LARGE => {
                ApiError::new(Code::PayloadTooLarge, "the request body is too large")
            }
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
                Code::UnsupportedMediaType,
                "send the body as JSON with `Content-Type: application/json`",
            ),
            StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
                Code::MethodNotAllowed,
                "this endpoint does not accept that HTTP method",
            ),
            StatusCode::NOT_FOUND => ApiError::new(Code::NotFound, "not found"),
            s if s.is_client_error() => {
                ApiError::new(Code::InvalidParameter, trim_reason(&err.to_string()))
            }
            _ => ApiError::internal(&err),
        }
    };
    poem::error::ResponseError::as_response(&api)
}

/// Keeps error text short and free of anything that looks like internals.
/// Properties the server sets on entries and users (owner, status, stage, version,
/// timestamps, hashes). A payload naming one is mass assignment: 422 naming the field,
/// rather than the generic unknown-property answer.
const SERVER_SET: &[&str] = &[
    "id",
    "type",
    "owner",
    "status",
    "stage",
    "version",
    "published_version",
    "rev",
    "created_at",
    "updated_at",
    "published_at",
    "password_hash",
    "created_by",
    "last_used_at",
];

/// The server-set property a body-parsing error names as unknown, if any.
fn server_set_field(reason: &str) -> Option<&'static str> {
    let rest = reason.split("unknown field `").nth(1)?;
    let name = rest.split('`').next()?;
    SERVER_SET.iter().copied().find(|f| *f == name)
}

fn trim_reason(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Refuses NUL characters in the path and query (400 `invalid_characters`), reads the
/// body up to the limit (413 beyond it) and, for JSON, checks its syntax (400
/// `malformed_json` with a line and column) and refuses NUL in its strings and keys.
pub fn input_guard(
    limit: usize,
) -> impl Fn(
    Request,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = poem::Result<Request>> + Send>>
+ Send
+ Sync
+ Clone {
    move |mut req: Request| {
        Box::pin(async move {
            input_check::check_uri(req.uri())?;
            if matches!(
                *req.method(),
                Method::GET | Method::HEAD | Method::OPTIONS | Method::DELETE
            ) && req.headers().get("content-length").is_none()
                && req.headers().get("transfer-encoding").is_none()
            {
                return Ok(req);
            }
            let too_large = || {
                ApiError::new(
                    Code::PayloadTooLarge,
                    format!("the request body is larger than the limit of {limit} bytes"),
                )
            };
            if let Some(len) = req
                .headers()
                .get("content-length")
                .and_then(|h| h.to_str().ok())
                .and_then(|s| s.parse::<u64>().ok())
                && len > limit as u64
            {
                return Err(too_large().into());
            }
            let bytes = req
                .take_body()
                .into_bytes_limit(limit)
                .await
                .map_err(|e| match e {
                    poem::error::ReadBodyError::PayloadTooLarge => poem::Error::from(too_large()),
                    _ => poem::Error::from(ApiError::new(
                        Code::InvalidBody,
                        "the request body could not be read",
                    )),
                })?;
            let is_json = req
                .headers()
                .get("content-type")
                .and_then(|h| h.to_str().ok())
                .is_some_and(|ct| ct.starts_with("application/json") || ct.contains("+json"));
            // An empty body is no body: action endpoints (publish, unpublish) take none
            // whatever the client's `Content-Type`, and one that needs a body says so
            // (400 `invalid_body`) rather than 415 for a header that does not matter.
            if bytes.is_empty() {
                if req.headers().get("content-type").is_none() {
                    req.headers_mut().insert(
                        "content-type",
                        poem::http::HeaderValue::from_static("application/json"),
                    );
                }
            } else if is_json {
                input_check::check_json_body(&bytes)?;
            }
            req.set_body(Body::from_bytes(bytes));
            Ok(req)
        })
    }
}

/// What [`authenticate`] needs: the auth service, the rate limiter and the proxies whose
/// `X-Forwarded-For` is believed.
#[derive(Clone)]
pub struct Gate {
    pub auth: Arc<AuthService>,
    pub limiter: Arc<RateLimiter>,
    pub proxies: Arc<TrustedProxies>,
}

/// Resolves `Authorization` into a [`Principal`] stored on the request, and spends one
/// request of the caller's rate-limit budget: the token's or user's when the header checks
/// out, the address's when there is none. No header means anonymous (the `public` role); a
/// header that does not check out is 401 at once, never silently anonymous, and counts
/// against the address's budget for invalid tokens — which is checked *before* the token
/// is looked up, so a spray of forged tokens stops costing lookups after that budget.
/// Every answer under a limit carries the `RateLimit-*` fields; over it, 429.
pub async fn authenticate<E: Endpoint>(
    next: E,
    mut req: Request,
    gate: Gate,
) -> poem::Result<Response> {
    let ip = client_ip(
        req.remote_addr().as_socket_addr().map(|a| a.ip()),
        req.headers(),
        &gate.proxies,
    );
    let limiter = &gate.limiter;
    let limits = limiter.enabled();
    let (principal, family, decision) = if !req.headers().contains_key(AUTHORIZATION) {
        let decision = if limits {
            limiter.check(Subject::Address(ip))
        } else {
            None
        };
        (Principal::anonymous(), None, decision)
    } else {
        if limits
            && let Some(d) = limiter.peek(Subject::FailedAuth(ip))
            && !d.allowed()
        {
            return Err(d.error().into());
        }
        match principal_of(&gate.auth, req.headers(), req.uri().path()).await {
            Ok((principal, family)) => {
                let decision = match (&principal.actor, limits) {
                    (Actor::Token { id }, true) => limiter.check(Subject::Token(id)),
                    (Actor::User { id, .. }, true) => limiter.check(Subject::User(id)),
                    _ => None,
                };
                (principal, family, decision)
            }
            Err(e) => {
                let mut resp = poem::error::ResponseError::as_response(&e);
                if limits
                    && matches!(e.code, Code::InvalidToken | Code::Unauthenticated)
                    && let Some(d) = limiter.check(Subject::FailedAuth(ip))
                {
                    d.set_headers(resp.headers_mut());
                }
                return Ok(resp);
            }
        }
    };
    if let Some(d) = &decision
        && !d.allowed()
    {
        return Err(d.error().into());
    }
    let mut principal = principal;
    principal.origin = client_origin(&req, ip);
    if let Some(f) = family {
        req.extensions_mut().insert(SessionFamily(f));
    }
    req.extensions_mut().insert(principal);
    let mut resp = match next.call(req).await {
        Ok(r) => r.into_response(),
        Err(e) => error_response(e),
    };
    if let Some(d) = decision {
        d.set_headers(resp.headers_mut());
    }
    Ok(resp)
}

/// Where a request came from: the client address (see `client_ip`) and the user agent
/// (clipped).
pub fn client_origin(req: &Request, ip: Option<IpAddr>) -> crate::authz::Origin {
    let user_agent = req
        .headers()
        .get("user-agent")
        .and_then(|h| h.to_str().ok())
        .map(|s| s.chars().take(300).collect());
    crate::authz::Origin {
        ip: ip.map(|ip| ip.to_string()),
        user_agent,
    }
}

/// What a token that may only enrol TOTP can reach: who am I, the enrolment itself, and
/// ending or renewing the session. Exact paths: anything else, however spelt, is refused.
const ENROLMENT_PATHS: &[&str] = &[
    "/api/v1/auth/me",
    "/api/v1/auth/logout",
    "/api/v1/auth/refresh",
    "/api/v1/auth/totp/setup",
    "/api/v1/auth/totp/enable",
];

/// The caller named by the `Authorization` header (anonymous without one), with the
/// session family of a user's access token. A user whose role requires TOTP and who has
/// none yet reaches only [`ENROLMENT_PATHS`] (403 `totp_enrolment_required` elsewhere):
/// a gate on the whole session, before any per-resource check.
pub async fn principal_of(
    auth: &AuthService,
    headers: &poem::http::HeaderMap,
    path: &str,
) -> Result<(Principal, Option<String>), ApiError> {
    let header = headers
        .get("authorization")
        .map(|h| h.to_str().map(str::to_string));
    match header {
        None => Ok((Principal::anonymous(), None)),
        Some(Err(_)) => Err(ApiError::new(
            Code::InvalidToken,
            "the Authorization header is not readable text",
        )),
        Some(Ok(h)) => {
            let token = h
                .strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
                .map(str::trim)
                .filter(|t| !t.is_empty() && t.len() <= 4096)
                .ok_or_else(|| {
                    ApiError::new(Code::InvalidToken, "use `Authorization: Bearer <token>`")
                })?;
            let found = auth.authenticate(token).await?;
            if found.totp_enrolment_only && !ENROLMENT_PATHS.contains(&path) {
                return Err(ApiError::new(
                    Code::TotpEnrolmentRequired,
                    "your role requires two-factor login: turn it on first (POST /api/v1/auth/totp/setup, then /api/v1/auth/totp/enable)",
                ));
            }
            Ok((found.principal, found.family))
        }
    }
}
