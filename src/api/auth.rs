//! `/api/v1/auth`: login (with its TOTP code step), refresh, logout, me, and a user's own
//! TOTP enrolment (`/totp/setup`, `/totp/enable`, `/totp/disable`).

use std::sync::Arc;

use poem::Request;
use poem_openapi::payload::Json;
use poem_openapi::registry::{MetaHeader, MetaResponses, MetaSchema, MetaSchemaRef, Registry};
use poem_openapi::{ApiResponse, Object, OpenApi};

use super::client_ip::TrustedProxies;
use super::dto::auth::{AuthTokens, CallerKind, Me, RecoveryCodes, TotpSetup};
use super::dto::{Body, Ts};
use super::dto::{Text, text};
use super::middleware::SessionFamily;
use super::{Auth, NoContent};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::services::Services;
use crate::services::auth::Tokens;
use crate::services::auth::two_factor::SecondFactor;

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
        if let Some(r) = meta.responses.iter_mut().find(|r| r.status == Some(401)) {
            r.description = "`invalid_credentials` (a wrong password); at login, `totp_required` \
                after the right password when TOTP is on, with `details.challenge` for \
                POST /api/v1/auth/login/totp; there, `invalid_totp_code` or `invalid_challenge`";
        }
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
    pub email: Text,
    #[oai(write_only, validator(max_length = 256))]
    pub password: Text,
}

/// A refresh token.
#[derive(Object)]
#[oai(rename = "RefreshRequest", deny_unknown_fields)]
pub struct RefreshRequest {
    #[oai(validator(max_length = 256))]
    pub refresh_token: Text,
}

/// Optional body of a logout.
#[derive(Object)]
#[oai(rename = "LogoutRequest", deny_unknown_fields)]
pub struct LogoutRequest {
    /// Revokes this refresh token's session; without it, the session of the access token.
    #[oai(validator(max_length = 256))]
    pub refresh_token: Option<Text>,
}

/// The code step of a login: the challenge from `totp_required` and either a code or a
/// recovery code.
#[derive(Object)]
#[oai(rename = "LoginTotpRequest", deny_unknown_fields)]
pub struct LoginTotpRequest {
    #[oai(validator(max_length = 128))]
    pub challenge: Text,
    /// Six digits from the authenticator app.
    #[oai(validator(pattern = "^[0-9]{6}$"))]
    pub code: Option<Text>,
    /// One of the recovery codes (`abcd-efgh-ijkl-mnop`; case and dashes do not matter).
    #[oai(validator(pattern = "^[A-Za-z2-7]{4}(-?[A-Za-z2-7]{4}){3}$"))]
    pub recovery_code: Option<Text>,
}

/// The current password, to start enrolment.
#[derive(Object)]
#[oai(rename = "TotpSetupRequest", deny_unknown_fields)]
pub struct TotpSetupRequest {
    #[oai(write_only, validator(max_length = 256))]
    pub password: Text,
}

/// A code of the new secret, to turn TOTP on.
#[derive(Object)]
#[oai(rename = "TotpEnableRequest", deny_unknown_fields)]
pub struct TotpEnableRequest {
    #[oai(validator(pattern = "^[0-9]{6}$"))]
    pub code: Text,
}

/// The password and a code (or a recovery code), to turn TOTP off.
#[derive(Object)]
#[oai(rename = "TotpDisableRequest", deny_unknown_fields)]
pub struct TotpDisableRequest {
    #[oai(write_only, validator(max_length = 256))]
    pub password: Text,
    #[oai(validator(pattern = "^[0-9]{6}$"))]
    pub code: Option<Text>,
    #[oai(validator(pattern = "^[A-Za-z2-7]{4}(-?[A-Za-z2-7]{4}){3}$"))]
    pub recovery_code: Option<Text>,
}

/// Exactly one of a code and a recovery code (422 otherwise).
fn second_factor(code: Option<String>, recovery_code: Option<String>) -> ApiResult<SecondFactor> {
    let problem = match (code, recovery_code) {
        (Some(c), None) => return Ok(SecondFactor::Code(c)),
        (None, Some(r)) => return Ok(SecondFactor::RecoveryCode(r)),
        (None, None) => "send `code` (six digits) or `recovery_code`",
        (Some(_), Some(_)) => "send `code` or `recovery_code`, not both",
    };
    Err(ApiError::validation(vec![FieldError {
        field: "code".into(),
        code: "required",
        message: problem.into(),
    }]))
}

fn tokens_reply(t: &Tokens) -> Body<AuthTokens> {
    Body::new(&AuthTokens::from(t)).header("cache-control", "no-store")
}

#[OpenApi(prefix_path = "/api/v1/auth", tag = "Tag::Auth")]
impl AuthApi {
    /// Log in with email and password: a short-lived access token and a refresh token.
    ///
    /// A wrong password, an unknown email and a disabled user all get the same 401.
    /// Repeated failures lock the account (whether it exists or not) and the client
    /// address for a while: 429 with `Retry-After`. With TOTP on, the right password gets
    /// 401 `totp_required` instead, with `details.challenge` (one-time, short-lived) for
    /// `POST /api/v1/auth/login/totp`.
    #[oai(path = "/login", method = "post", operation_id = "login")]
    async fn login(
        &self,
        body: Json<LoginRequest>,
        req: &Request,
    ) -> Result<Body<AuthTokens>, LoginError> {
        let client = self.proxies.client_of(req);
        let tokens = self
            .services
            .auth
            .login(
                &body.0.email,
                &body.0.password,
                client,
                super::middleware::client_origin(req, None).user_agent,
            )
            .await
            .map_err(LoginError)?;
        Ok(tokens_reply(&tokens))
    }

    /// The code step of a login with TOTP: the challenge and a code from the
    /// authenticator app (or a recovery code, spent by its use) give the normal tokens.
    ///
    /// A code works once; wrong codes count toward the login lockout like wrong
    /// passwords (401 `invalid_totp_code`); a challenge completes one login, and is dead
    /// after five wrong codes or its lifetime (401 `invalid_challenge`).
    #[oai(path = "/login/totp", method = "post", operation_id = "loginTotp")]
    async fn login_totp(
        &self,
        body: Json<LoginTotpRequest>,
        req: &Request,
    ) -> Result<Body<AuthTokens>, LoginError> {
        let b = body.0;
        let factor = second_factor(text(b.code), text(b.recovery_code)).map_err(LoginError)?;
        let tokens = self
            .services
            .auth
            .login_second_factor(
                &b.challenge,
                factor,
                self.proxies.client_of(req),
                super::middleware::client_origin(req, None).user_agent,
            )
            .await
            .map_err(LoginError)?;
        Ok(tokens_reply(&tokens))
    }

    /// Start TOTP enrolment (needs the current password): a new secret, as base32 and
    /// as an `otpauth://` URI for a QR code. Not active until `/totp/enable` confirms a
    /// code of it; a new setup replaces one not yet confirmed.
    #[oai(path = "/totp/setup", method = "post", operation_id = "totpSetup")]
    async fn totp_setup(
        &self,
        auth: Auth,
        body: Json<TotpSetupRequest>,
        req: &Request,
    ) -> Result<Body<TotpSetup>, LoginError> {
        let setup = self
            .services
            .auth
            .totp_setup(&auth.0, &body.0.password, self.proxies.client_of(req))
            .await
            .map_err(LoginError)?;
        let body = TotpSetup {
            secret: setup.secret,
            otpauth_uri: setup.otpauth_uri,
        };
        Ok(Body::new(&body).header("cache-control", "no-store"))
    }

    /// Turn TOTP on with a code of the secret from `/totp/setup`. Answers ten recovery
    /// codes, this once (each logs in once in place of a code); the user's other
    /// sessions end.
    #[oai(path = "/totp/enable", method = "post", operation_id = "totpEnable")]
    async fn totp_enable(
        &self,
        auth: Auth,
        body: Json<TotpEnableRequest>,
        req: &Request,
    ) -> ApiResult<Body<RecoveryCodes>> {
        let own = req
            .extensions()
            .get::<SessionFamily>()
            .map(|f| f.0.as_str());
        let codes = self
            .services
            .auth
            .totp_enable(&auth.0, &body.0.code, own)
            .await?;
        let body = RecoveryCodes {
            recovery_codes: codes,
        };
        Ok(Body::new(&body).header("cache-control", "no-store"))
    }

    /// Turn TOTP off: the current password and a code (or a recovery code).
    #[oai(path = "/totp/disable", method = "post", operation_id = "totpDisable")]
    async fn totp_disable(
        &self,
        auth: Auth,
        body: Json<TotpDisableRequest>,
        req: &Request,
    ) -> Result<NoContent, LoginError> {
        let b = body.0;
        let factor = second_factor(text(b.code), text(b.recovery_code)).map_err(LoginError)?;
        self.services
            .auth
            .totp_disable(&auth.0, &b.password, factor, self.proxies.client_of(req))
            .await
            .map_err(LoginError)?;
        Ok(NoContent)
    }

    /// Exchange a refresh token for new tokens. Each refresh token works once; reusing
    /// one revokes every session of that login.
    #[oai(path = "/refresh", method = "post", operation_id = "refresh")]
    async fn refresh(&self, body: Json<RefreshRequest>) -> ApiResult<Body<AuthTokens>> {
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
    async fn me(&self, auth: Auth) -> ApiResult<Body<Me>> {
        let p = auth.0;
        let body = match p.user_id() {
            Some(id) => {
                let u = self.services.auth.user(id).await?;
                Me {
                    kind: CallerKind::User,
                    id: u.id,
                    role: u.role,
                    email: Some(u.email),
                    created_at: Some(Ts(u.created_at)),
                    totp_enabled: Some(u.totp_enabled),
                    totp_required: Some(u.role_requires_totp),
                    totp_enrolment_required: Some(u.role_requires_totp && !u.totp_enabled),
                }
            }
            None => Me {
                kind: CallerKind::Token,
                id: p.actor_ref().trim_start_matches("token:").to_string(),
                role: p.role.clone(),
                email: None,
                created_at: None,
                totp_enabled: None,
                totp_required: None,
                totp_enrolment_required: None,
            },
        };
        Ok(Body::new(&body))
    }
}
