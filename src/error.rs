//! The one error body and the table of stable error codes.
//!
//! Policy: every failure a client can see is an [`ApiError`] carrying a [`Code`]. The code
//! fixes the HTTP status; the message says what went wrong and what to do next, in words a
//! person can act on. Messages never contain SQL, file paths, Rust type names or secrets:
//! internal failures are logged with their cause and answered with a generic `internal`
//! message. Modules keep their own error enums and convert into `ApiError` at the service
//! boundary; `anyhow` is for startup and background tasks only.

use poem::http::StatusCode;
use serde::Serialize;
use serde_json::Value;

/// Stable, machine-readable error codes. Clients match on these; never rename one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    MalformedJson,
    InvalidCharacters,
    InvalidHost,
    InvalidBody,
    InvalidParameter,
    UnknownParameter,
    InvalidFilter,
    InvalidSort,
    InvalidCursor,
    InvalidPopulate,
    InvalidSearch,
    UnknownLocale,
    Unauthenticated,
    InvalidToken,
    InvalidCredentials,
    RefreshTokenReused,
    TotpRequired,
    InvalidChallenge,
    InvalidTotpCode,
    Forbidden,
    TotpEnrolmentRequired,
    NotFound,
    ContentTypeNotFound,
    EntryNotFound,
    VersionNotFound,
    MethodNotAllowed,
    SyncCursorExpired,
    AlreadyExists,
    SchemaChangeConflict,
    TransitionNotAllowed,
    Conflict,
    PreconditionFailed,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    RateLimited,
    QueryTimeout,
    Internal,
    Unavailable,
}

impl Code {
    /// The whole table: code → (HTTP status, wire name).
    pub fn spec(self) -> (StatusCode, &'static str) {
        use Code::*;
        match self {
            MalformedJson => (StatusCode::BAD_REQUEST, "malformed_json"),
            InvalidCharacters => (StatusCode::BAD_REQUEST, "invalid_characters"),
            InvalidHost => (StatusCode::BAD_REQUEST, "invalid_host"),
            InvalidBody => (StatusCode::BAD_REQUEST, "invalid_body"),
            InvalidParameter => (StatusCode::BAD_REQUEST, "invalid_parameter"),
            UnknownParameter => (StatusCode::BAD_REQUEST, "unknown_parameter"),
            InvalidFilter => (StatusCode::BAD_REQUEST, "invalid_filter"),
            InvalidSort => (StatusCode::BAD_REQUEST, "invalid_sort"),
            InvalidCursor => (StatusCode::BAD_REQUEST, "invalid_cursor"),
            InvalidPopulate => (StatusCode::BAD_REQUEST, "invalid_populate"),
            InvalidSearch => (StatusCode::BAD_REQUEST, "invalid_search"),
            UnknownLocale => (StatusCode::BAD_REQUEST, "unknown_locale"),
            Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            InvalidToken => (StatusCode::UNAUTHORIZED, "invalid_token"),
            InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            RefreshTokenReused => (StatusCode::UNAUTHORIZED, "refresh_token_reused"),
            TotpRequired => (StatusCode::UNAUTHORIZED, "totp_required"),
            InvalidChallenge => (StatusCode::UNAUTHORIZED, "invalid_challenge"),
            InvalidTotpCode => (StatusCode::UNAUTHORIZED, "invalid_totp_code"),
            Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            TotpEnrolmentRequired => (StatusCode::FORBIDDEN, "totp_enrolment_required"),
            NotFound => (StatusCode::NOT_FOUND, "not_found"),
            ContentTypeNotFound => (StatusCode::NOT_FOUND, "content_type_not_found"),
            EntryNotFound => (StatusCode::NOT_FOUND, "entry_not_found"),
            VersionNotFound => (StatusCode::NOT_FOUND, "version_not_found"),
            MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            SyncCursorExpired => (StatusCode::GONE, "sync_cursor_expired"),
            AlreadyExists => (StatusCode::CONFLICT, "already_exists"),
            SchemaChangeConflict => (StatusCode::CONFLICT, "schema_change_conflict"),
            TransitionNotAllowed => (StatusCode::CONFLICT, "transition_not_allowed"),
            Conflict => (StatusCode::CONFLICT, "conflict"),
            PreconditionFailed => (StatusCode::PRECONDITION_FAILED, "precondition_failed"),
            PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            UnsupportedMediaType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type"),
            ValidationFailed => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            QueryTimeout => (StatusCode::SERVICE_UNAVAILABLE, "query_timeout"),
            Internal => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
            Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }

    pub fn status(self) -> StatusCode {
        self.spec().0
    }

    pub fn as_str(self) -> &'static str {
        self.spec().1
    }
}

/// The most characters of client input an error message repeats.
pub const ECHO_CHARS: usize = 80;
/// Bounds on every error body, whatever its parts repeat: the message, each string in
/// `details`, and the items of each list or object there. Together they keep an error
/// body within a few KB.
const MAX_MESSAGE_CHARS: usize = 1000;
const MAX_DETAIL_CHARS: usize = 200;
pub const MAX_DETAIL_ITEMS: usize = 20;

/// Client input as an error message may repeat it: at most [`ECHO_CHARS`] characters,
/// ending in `…` when cut, so an error never grows with the input it names.
pub fn clip(s: &str) -> String {
    clip_to(s, ECHO_CHARS)
}

fn clip_to(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        None => s.to_string(),
        Some((end, _)) => format!("{}…", &s[..end]),
    }
}

/// `details` within the bounds above (a backstop: messages clip their echoes already).
fn bounded(v: &Value) -> Value {
    match v {
        Value::String(s) => Value::String(clip_to(s, MAX_DETAIL_CHARS)),
        Value::Array(items) => items.iter().take(MAX_DETAIL_ITEMS).map(bounded).collect(),
        Value::Object(map) => Value::Object(
            map.iter()
                .take(MAX_DETAIL_ITEMS)
                .map(|(k, v)| (clip_to(k, MAX_DETAIL_CHARS), bounded(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// One failure as a client sees it.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub code: Code,
    pub message: String,
    pub details: Option<Value>,
    /// Extra response headers (e.g. the current `ETag` on a 412).
    pub headers: Vec<(&'static str, String)>,
}

/// One offending field in a 422 `validation_failed` answer.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FieldError {
    /// Path of the field inside `fields`, e.g. `title` or `links[1].url`.
    pub field: String,
    /// Stable code: `required`, `wrong_type`, `max_length`, `unknown_field`, …
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            headers: Vec::new(),
        }
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn validation(mut errors: Vec<FieldError>) -> Self {
        let n = errors.len();
        let message = match errors.first() {
            Some(first) if n == 1 => format!("`{}`: {}", first.field, first.message),
            _ if n > MAX_DETAIL_ITEMS => {
                format!("{n} fields are invalid; `details` lists the first {MAX_DETAIL_ITEMS}")
            }
            _ => format!("{n} fields are invalid; see `details` for each one"),
        };
        errors.truncate(MAX_DETAIL_ITEMS);
        Self::new(Code::ValidationFailed, message)
            .with_details(serde_json::json!({ "fields": errors }))
    }

    pub fn forbidden(action: &str, resource: &str) -> Self {
        Self::new(
            Code::Forbidden,
            format!(
                "your role may not `{action}` on `{resource}`; ask an administrator for access"
            ),
        )
    }

    pub fn unauthenticated() -> Self {
        Self::new(
            Code::Unauthenticated,
            "this endpoint needs a bearer token: log in at /api/v1/auth/login or use an API token",
        )
    }

    /// An unexpected failure: logged with its cause, answered without it.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            Code::Internal,
            "the server failed to handle this request; it has been logged, please retry later",
        )
    }

    pub fn body(&self) -> Value {
        let mut error = serde_json::json!({
            "code": self.code.as_str(),
            "message": clip_to(&self.message, MAX_MESSAGE_CHARS),
        });
        if let Some(details) = &self.details {
            error["details"] = bounded(details);
        }
        serde_json::json!({ "error": error })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<sea_orm::DbErr> for ApiError {
    fn from(err: sea_orm::DbErr) -> Self {
        ApiError::internal(err)
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_cuts_on_characters_and_marks_the_cut() {
        assert_eq!(clip("short"), "short");
        let long = "é".repeat(ECHO_CHARS + 5);
        let clipped = clip(&long);
        assert_eq!(clipped.chars().count(), ECHO_CHARS + 1);
        assert!(clipped.ends_with('…'));
    }

    #[test]
    fn bodies_are_bounded_whatever_they_carry() {
        let huge = "x".repeat(100_000);
        let list: Vec<Value> = (0..1000).map(|_| Value::String(huge.clone())).collect();
        let error = ApiError::new(Code::InvalidBody, huge.clone())
            .with_details(serde_json::json!({ "items": list, huge.clone(): 1 }));
        let size = error.body().to_string().len();
        assert!(size < 8 * 1024, "{size} bytes");
    }
}
