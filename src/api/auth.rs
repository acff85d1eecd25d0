//! `/api/v1/auth`: login, refresh, logout, me.

use std::sync::Arc;

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaHeader, MetaResponses, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiResponse, Object, OpenApi};
use serde_json::json;

use super::client_addr::TrustedProxies;
use super::middleware::SessionFamily;
use super::{Auth, NoContent, Reply};
use crate::domain::fmt_ts;
use crate::error::{ApiError, ApiResult};
use crate::services::Services;
use crate::services::auth::Tokens;

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Logging in and out
    Auth,
}

pub struct AuthApi {
    pub services: Services,
    pub proxies: Arc<TrustedProxies>,
}

/// The login's errors: those of every operation, plus 503 when the password pool is
/// full, and `Retry-After` on 429 and 503.
pub struct LoginError(pub ApiError);

impl From<LoginError> for poem::Error {
    fn from(e: LoginError) -> poem::Error {
        poem::Error::from(e.0)
    }
}

impl ApiResponse for LoginError {
    fn meta() -> MetaResponses {
        let retry_after = || MetaHeader {
            name: "Retry-After".into(),
            description: Some("Seconds to wait before trying again".into()),
            required: true,
            deprecated: false,
            schema: MetaSchemaRef::Inline(Box::new(MetaSchema::new("integer"))),
        };
        let mut meta = ApiError::meta();
        if let Some(r) = meta.responses.iter_mut().find(|r| r.status == Some(429)) {
            r.description = "Too many failed logins for this account or from this address";
            r.headers.push(retry_after());
        }
        let mut unavailable = ApiError::meta()
            .responses
            .into_iter()
            .find(|r| r.status == Some(429))
            .map(|mut r| {
                r.status = Some(503);
                r.description = "The server is busy checking other passwords";
                r.headers = vec![retry_after()];
                r
            });
        meta.responses.extend(unavailable.take());
        meta
    }

    fn register(registry: &mut Registry) {
        ApiError::register(registry);
    }
}

/// Email and password.
#[derive(Object)]
#[oai(rename = "LoginRequest", deny_unknown_fields)]
pub struct LoginRequest {
    #[oai(validator(max_length = 254))]
    pub email: String,
    #[oai(validator(max_length = 256))]
    pub password: String,
}

/// A refresh token.
#[derive(Object)]
#[oai(rename = "RefreshRequest", deny_unknown_fields)]
pub struct RefreshRequest {
    #[oai(validator(max_length = 256))]
    pub refresh_token: String,
}

/// Optional body of a logout.
#[derive(Object)]
#[oai(rename = "LogoutRequest", deny_unknown_fields)]
pub struct LogoutRequest {
    /// Revokes this refresh token's session; without it, the session of the access token.
    #[oai(validator(max_length = 256))]
    pub refresh_token: Option<String>,
}

fn tokens_reply(t: &Tokens) -> Reply {
    Reply::json(&json!({
        "access_token": t.access_token,
        "token_type": "Bearer",
        "expires_in": t.expires_in,
        "refresh_token": t.refresh_token,
        "user": { "id": t.user.id, "email": t.user.email, "role": t.user.role },
    }))
    .header("cache-control", "no-store")
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "Tag::Auth")]
impl AuthApi {
    /// Log in with email and password: a short-lived access token and a refresh token.
    ///
    /// A wrong password, an unknown email and a disabled user all get the same 401.
    /// Repeated failures lock the account (whether it exists or not) and the client
    /// address for a while: 429 with `Retry-After`.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(&self, body: Json<LoginRequest>, req: &Request) -> Result<Reply, LoginError> {
        let client = self.proxies.client_of(req);
        let tokens = self
            .services
            .auth
            .login(
                &body.0.email,
                &body.0.password,
                client,
                super::middleware::client_origin(req).user_agent,
            )
            .await
            .map_err(LoginError)?;
        Ok(tokens_reply(&tokens))
    }

    /// Exchange a refresh token for new tokens. Each refresh token works once; reusing
    /// one revokes every session of that login.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(&self, body: Json<RefreshRequest>) -> ApiResult<Reply> {
        let tokens = self.services.auth.refresh(&body.0.refresh_token).await?;
        Ok(tokens_reply(&tokens))
    }

    /// Log out: revokes the session (its access and refresh tokens stop working).
    #[oai(path = "/logout", method = "post", operation_id = "logout")]
    async fn logout(
        &self,
        _auth: Auth,
        body: Json<LogoutRequest>,
        req: &Request,
    ) -> ApiResult<NoContent> {
        // The caller's own session always ends: a 204 never leaves it alive.
        let own = req
            .extensions()
            .get::<SessionFamily>()
            .map(|f| f.0.as_str());
        self.services
            .auth
            .logout(body.0.refresh_token.as_deref(), own)
            .await?;
        Ok(NoContent)
    }

    /// Who the bearer token belongs to.
    #[oai(path = "/me", method = "get", operation_id = "me")]
    async fn me(&self, auth: Auth) -> ApiResult<Reply> {
        let p = auth.0;
        let body = match p.user_id() {
            Some(id) => {
                let u = self.services.auth.user(id).await?;
                json!({ "kind": "user", "id": u.id, "email": u.email, "role": u.role, "created_at": fmt_ts(&u.created_at) })
            }
            None => {
                json!({ "kind": "token", "id": p.actor_ref().trim_start_matches("token:"), "role": p.role })
            }
        };
        Ok(Reply::json(&body))
    }
}
