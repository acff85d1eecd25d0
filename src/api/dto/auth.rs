//! Response bodies of `/api/v1/auth`.

use poem_openapi::{Enum, Object};

use super::Ts;
use crate::services::auth::Tokens;

/// The kind of access token: always `Bearer`.
#[derive(Enum, Debug, Clone, Copy, PartialEq)]
#[oai(rename = "TokenType")]
pub enum TokenType {
    Bearer,
}

/// The user a login is for.
#[derive(Object)]
#[oai(rename = "SessionUser")]
pub struct SessionUser {
    pub id: String,
    pub email: String,
    pub role: String,
}

/// The tokens of a login or refresh.
#[derive(Object)]
#[oai(rename = "AuthTokens")]
pub struct AuthTokens {
    /// Send as `Authorization: Bearer …`; short-lived.
    pub access_token: String,
    pub token_type: TokenType,
    /// Seconds until the access token expires.
    pub expires_in: i64,
    /// Exchange at `/api/v1/auth/refresh` for new tokens; works once.
    pub refresh_token: String,
    pub user: SessionUser,
}

impl From<&Tokens> for AuthTokens {
    fn from(t: &Tokens) -> Self {
        AuthTokens {
            access_token: t.access_token.clone(),
            token_type: TokenType::Bearer,
            expires_in: i64::try_from(t.expires_in).unwrap_or(i64::MAX),
            refresh_token: t.refresh_token.clone(),
            user: SessionUser {
                id: t.user.id.clone(),
                email: t.user.email.clone(),
                role: t.user.role.clone(),
            },
        }
    }
}

/// Whether the caller is a user or an API token.
#[derive(Enum, Debug, Clone, Copy, PartialEq)]
#[oai(rename = "CallerKind", rename_all = "snake_case")]
pub enum CallerKind {
    User,
    Token,
}

/// Who the bearer token belongs to. `email`, `created_at` and the `totp_*` flags are
/// `null` for API tokens.
#[derive(Object)]
#[oai(rename = "Me")]
pub struct Me {
    pub kind: CallerKind,
    /// The user's or the token's id.
    pub id: String,
    pub role: String,
    pub email: Option<String>,
    pub created_at: Option<Ts>,
    pub totp_enabled: Option<bool>,
    /// The role requires TOTP.
    pub totp_required: Option<bool>,
    /// The role requires TOTP and it is not on yet: only enrolment is open.
    pub totp_enrolment_required: Option<bool>,
}

/// A new TOTP secret, to show as a QR code.
#[derive(Object)]
#[oai(rename = "TotpSetup")]
pub struct TotpSetup {
    /// Base32.
    pub secret: String,
    /// `otpauth://totp/…`, for a QR code.
    pub otpauth_uri: String,
}

/// The recovery codes of a TOTP enrolment, shown this once.
#[derive(Object)]
#[oai(rename = "RecoveryCodes")]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}
