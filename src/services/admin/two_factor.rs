//! The administrator's side of two-factor login: resetting a user's TOTP (a lost phone).
//! It takes `users:update` and, like every change to a user, a role within the caller's
//! own rights; the user's sessions end with it, and they log in with the password alone
//! (then enrol again, if their role requires it).

use serde_json::json;

use super::{AdminService, admin_event};
use crate::authz::Principal;
use crate::domain::now;
use crate::error::{ApiError, ApiResult, Code, clip};
use crate::store::auth as repo;
use crate::store::totp as totp_repo;

impl AdminService {
    /// Removes a user's TOTP (enabled or pending), recovery codes and open challenges.
    pub async fn reset_totp(&self, p: &Principal, id: &str) -> ApiResult<()> {
        self.authz.check(p, "users", "update")?;
        let before = self.auth.user(id).await?;
        self.check_delegable(p, &before.role, "the user's role")?;
        let tx = self.store.write().await?;
        let user = repo::user_by_id(&tx.txn, id).await?.ok_or_else(|| {
            ApiError::new(Code::NotFound, format!("there is no user `{}`", clip(id)))
        })?;
        // Its role may have changed since: check again under the lock.
        self.check_delegable(p, &user.role, "the user's role")?;
        if totp_repo::delete_totp(&tx.txn, id).await? == 0 {
            return Err(ApiError::new(
                Code::Conflict,
                "this user has no two-factor login to reset",
            ));
        }
        repo::revoke_user_sessions(&tx.txn, id, now()).await?;
        admin_event(
            &tx.txn,
            "auth.totp_reset",
            "user",
            Some(p),
            json!({ "id": user.id, "email": user.email }),
        )
        .await?;
        tx.commit().await?;
        tracing::info!(user = %user.id, "two-factor login reset by an administrator");
        Ok(())
    }
}
