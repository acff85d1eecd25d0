//! Locales: list (any signed-in caller: editors pick one), create, change and delete (the
//! `locales` admin resource). Each change is an event; the follower of every node reloads
//! its snapshot from it, and delivery responses resolved through the old chains go stale.

use serde_json::json;

use super::{AdminService, admin_event, field_err};
use crate::authz::Principal;
use crate::domain::locale::{LocaleDef, Locales, MAX_LOCALES, valid_code};
use crate::domain::now;
use crate::error::{ApiError, ApiResult, Code, clip};
use crate::store::locales as repo;

/// A new locale.
pub struct NewLocale {
    pub code: String,
    pub name: Option<String>,
    /// `None`: fall back to the default locale; `Some(None)`: no fallback.
    pub fallback: Option<Option<String>>,
    pub default: bool,
}

/// Changes to a locale (its code stays).
pub struct LocalePatch {
    pub name: Option<String>,
    /// `Some(None)` removes the fallback.
    pub fallback: Option<Option<String>>,
    /// `Some(true)` makes it the default (the old default keeps its entries).
    pub default: Option<bool>,
}

fn not_found(code: &str) -> ApiError {
    ApiError::new(
        Code::NotFound,
        format!(
            "there is no locale `{}`; list them at /api/v1/manage/locales",
            clip(code)
        ),
    )
}

/// What a locale event says of the locale.
fn payload(l: &LocaleDef) -> serde_json::Value {
    json!({ "id": l.code, "name": l.name, "fallback": l.fallback, "default": l.default })
}

/// Another change of the locales won the race (a second default, the same code).
fn raced(e: sea_orm::DbErr) -> ApiError {
    if crate::store::is_unique_violation(&e) {
        ApiError::new(
            Code::Conflict,
            "the locales changed at the same moment; list them and try again",
        )
    } else {
        e.into()
    }
}

fn check_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(field_err(
            "name",
            "invalid_length",
            "give a name of 1-100 characters, e.g. `German (Switzerland)`",
        ));
    }
    Ok(name.to_string())
}

/// The fallback a locale may take: configured, not itself, closing no cycle.
fn check_fallback(locales: &Locales, code: &str, fallback: &str) -> ApiResult<()> {
    if locales.get(fallback).is_none() {
        return Err(field_err(
            "fallback",
            "invalid_reference",
            format!("there is no locale `{}` to fall back to", clip(fallback)),
        ));
    }
    if locales.would_cycle(code, fallback) {
        return Err(field_err(
            "fallback",
            "cycle",
            format!(
                "`{}` falls back to `{code}` already (chain {}); a fallback chain may not loop",
                clip(fallback),
                locales.chain(fallback).join(" → ")
            ),
        ));
    }
    Ok(())
}

impl AdminService {
    /// The configured locales (with their chains), as of the last locale event applied.
    pub fn list_locales(&self, _p: &Principal) -> std::sync::Arc<Locales> {
        self.types.locales()
    }

    pub fn get_locale(&self, _p: &Principal, code: &str) -> ApiResult<LocaleDef> {
        self.types
            .locales()
            .get(code)
            .cloned()
            .ok_or_else(|| not_found(code))
    }

    pub async fn create_locale(&self, p: &Principal, new: NewLocale) -> ApiResult<LocaleDef> {
        self.authz.check(p, "locales", "create")?;
        if !valid_code(&new.code) {
            return Err(field_err(
                "code",
                "invalid_format",
                "a locale code is a language tag such as `en`, `de-CH` or `pt-BR` (letters, digits and `-`, 2-35 characters)",
            ));
        }
        let tx = self.store.write().await?;
        let have = Locales::new(repo::list(&tx.txn).await?, "");
        if let Some(same) = have
            .all()
            .iter()
            .find(|l| l.code.eq_ignore_ascii_case(&new.code))
        {
            return Err(ApiError::new(
                Code::AlreadyExists,
                format!("the locale `{}` exists already", same.code),
            ));
        }
        if have.all().len() >= MAX_LOCALES {
            return Err(ApiError::new(
                Code::Conflict,
                format!("an instance may configure at most {MAX_LOCALES} locales"),
            ));
        }
        let fallback = match new.fallback {
            _ if new.default => None,
            None => Some(have.default_code().to_string()).filter(|d| !d.is_empty()),
            Some(f) => f,
        };
        if let Some(f) = &fallback {
            check_fallback(&have, &new.code, f)?;
        }
        let at = now();
        let locale = LocaleDef {
            name: check_name(new.name.as_deref().unwrap_or(&new.code))?,
            code: new.code,
            fallback,
            default: new.default,
            created_at: at,
            updated_at: at,
        };
        if locale.default {
            repo::clear_default(&tx.txn, at).await?;
        }
        repo::insert(&tx.txn, &locale).await.map_err(raced)?;
        admin_event(
            &tx.txn,
            "locale.created",
            "locale",
            Some(p),
            payload(&locale),
        )
        .await?;
        tx.commit().await?;
        Ok(locale)
    }

    pub async fn update_locale(
        &self,
        p: &Principal,
        code: &str,
        patch: LocalePatch,
    ) -> ApiResult<LocaleDef> {
        self.authz.check(p, "locales", "update")?;
        let tx = self.store.write().await?;
        let have = Locales::new(repo::list(&tx.txn).await?, "");
        let mut locale = have.get(code).cloned().ok_or_else(|| not_found(code))?;
        if let Some(name) = &patch.name {
            locale.name = check_name(name)?;
        }
        match patch.default {
            Some(false) if locale.default => {
                return Err(field_err(
                    "default",
                    "invalid_value",
                    "there is always a default locale: make another locale the default instead",
                ));
            }
            Some(true) if !locale.default => {
                locale.default = true;
                locale.fallback = None;
            }
            _ => {}
        }
        if let Some(fallback) = patch.fallback {
            if let Some(f) = &fallback {
                if locale.default {
                    return Err(field_err(
                        "fallback",
                        "invalid_value",
                        "the default locale is the end of every chain and falls back to nothing",
                    ));
                }
                check_fallback(&have, code, f)?;
            }
            locale.fallback = fallback;
        }
        let at = now();
        locale.updated_at = at;
        if locale.default && !have.get(code).is_some_and(|l| l.default) {
            repo::clear_default(&tx.txn, at).await?;
        }
        repo::update(&tx.txn, &locale).await.map_err(raced)?;
        admin_event(
            &tx.txn,
            "locale.updated",
            "locale",
            Some(p),
            payload(&locale),
        )
        .await?;
        tx.commit().await?;
        Ok(locale)
    }

    /// Deletes a locale no entry uses, that is not the default and that no other locale
    /// falls back to: a locale in use stays, so no entry is left in a locale nobody can
    /// ask for.
    pub async fn delete_locale(&self, p: &Principal, code: &str) -> ApiResult<()> {
        self.authz.check(p, "locales", "delete")?;
        let tx = self.store.write().await?;
        let have = Locales::new(repo::list(&tx.txn).await?, "");
        let locale = have.get(code).ok_or_else(|| not_found(code))?;
        if locale.default {
            return Err(ApiError::new(
                Code::Conflict,
                format!("`{code}` is the default locale; make another locale the default first"),
            ));
        }
        let dependants = have.falling_back_to(code);
        if !dependants.is_empty() {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "{} fall back to `{code}`; give them another fallback first",
                    dependants.join(", ")
                ),
            )
            .with_details(json!({ "fallback_of": dependants })));
        }
        let used = repo::entries_in(&tx.txn, code).await?;
        if used > 0 {
            return Err(ApiError::new(
                Code::Conflict,
                format!(
                    "{used} entries (trashed ones included) are in `{code}`; delete them first"
                ),
            )
            .with_details(json!({ "entries": used })));
        }
        repo::delete(&tx.txn, code).await?;
        admin_event(
            &tx.txn,
            "locale.deleted",
            "locale",
            Some(p),
            json!({ "id": code }),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }
}
