//! Locales: the configured list, the default, and fallback chains.
//!
//! Each locale names at most one `fallback`; a locale's chain is itself, its fallback, that
//! one's fallback, and so on (never a cycle: writes that would make one are refused).
//! Delivery resolves a request for locale `L` through `L`'s chain: a document without an
//! entry in `L` is served in the first locale of the chain it has, and a localized field
//! without a value in the served entry takes the value of the next entry along the chain.

use chrono::{DateTime, Utc};

use crate::error::{ApiError, Code, clip};

/// The most locales an instance may configure (chains and lists stay small).
pub const MAX_LOCALES: usize = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct LocaleDef {
    pub code: String,
    pub name: String,
    pub fallback: Option<String>,
    pub default: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The configured locales, as one snapshot.
#[derive(Debug, Clone, Default)]
pub struct Locales {
    /// Sorted by code.
    list: Vec<LocaleDef>,
    default: String,
}

/// What a request's `locale` parameter selects.
#[derive(Debug, Clone, PartialEq)]
pub enum Selection {
    /// Every locale (`locale=*`, or a type that is not localized).
    All,
    /// Exactly this locale (management lists: what is stored).
    Exact(String),
    /// Resolved through this chain (delivery): per document, the first locale it has.
    Chain(Vec<String>),
}

impl Locales {
    pub fn new(mut list: Vec<LocaleDef>, configured_default: &str) -> Locales {
        list.sort_by(|a, b| a.code.cmp(&b.code));
        let default = list
            .iter()
            .find(|l| l.default)
            .map(|l| l.code.clone())
            .unwrap_or_else(|| configured_default.to_string());
        Locales { list, default }
    }

    pub fn all(&self) -> &[LocaleDef] {
        &self.list
    }

    pub fn default_code(&self) -> &str {
        &self.default
    }

    pub fn get(&self, code: &str) -> Option<&LocaleDef> {
        self.list
            .binary_search_by(|l| l.code.as_str().cmp(code))
            .ok()
            .map(|i| &self.list[i])
    }

    /// `code` itself, then its fallbacks in order. Stops at a locale already in the chain
    /// or one no longer configured.
    pub fn chain(&self, code: &str) -> Vec<String> {
        let mut out = vec![code.to_string()];
        let mut at = self.get(code);
        while let Some(next) = at.and_then(|l| l.fallback.as_deref()) {
            if out.iter().any(|c| c == next) || out.len() >= MAX_LOCALES {
                break;
            }
            out.push(next.to_string());
            at = self.get(next);
        }
        out
    }

    /// A configured locale, or a 400 `unknown_locale` listing the configured ones.
    pub fn check(&self, code: &str) -> Result<&LocaleDef, ApiError> {
        self.get(code).ok_or_else(|| {
            let known: Vec<&str> = self.list.iter().map(|l| l.code.as_str()).collect();
            ApiError::new(
                Code::UnknownLocale,
                format!(
                    "`{}` is not a configured locale; use one of: {} (administrators add locales at /api/v1/manage/locales)",
                    clip(code),
                    known.join(", ")
                ),
            )
            .with_details(serde_json::json!({ "locale": clip(code), "configured": known }))
        })
    }

    /// Whether setting `code`'s fallback to `fallback` would close a cycle.
    pub fn would_cycle(&self, code: &str, fallback: &str) -> bool {
        fallback == code || self.chain(fallback).iter().any(|c| c == code)
    }

    /// Locales whose fallback is `code`.
    pub fn falling_back_to(&self, code: &str) -> Vec<&str> {
        self.list
            .iter()
            .filter(|l| l.fallback.as_deref() == Some(code))
            .map(|l| l.code.as_str())
            .collect()
    }
}

/// A locale code: a language tag such as `en`, `de-CH`, `pt-BR` or `zh-Hant-TW` (letters,
/// digits and `-`, starting with a letter, 2 to 35 characters). `_` is accepted as `-`'s
/// older spelling.
pub fn valid_code(code: &str) -> bool {
    (2..=35).contains(&code.len())
        && code.starts_with(|c: char| c.is_ascii_alphabetic())
        && code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !code.contains("--")
        && !code.ends_with('-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(code: &str, fallback: Option<&str>, default: bool) -> LocaleDef {
        LocaleDef {
            code: code.into(),
            name: code.into(),
            fallback: fallback.map(str::to_string),
            default,
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn chains_follow_fallbacks_and_stop_at_cycles() {
        let l = Locales::new(
            vec![
                def("en", None, true),
                def("de", Some("en"), false),
                def("de-CH", Some("de"), false),
                def("x", Some("y"), false),
                def("y", Some("x"), false),
            ],
            "fr",
        );
        assert_eq!(l.default_code(), "en");
        assert_eq!(l.chain("de-CH"), ["de-CH", "de", "en"]);
        assert_eq!(l.chain("en"), ["en"]);
        assert_eq!(l.chain("x"), ["x", "y"]);
        assert!(l.would_cycle("en", "de-CH"));
        assert!(l.would_cycle("de", "de"));
        assert!(!l.would_cycle("de-CH", "en"));
        assert_eq!(l.falling_back_to("de"), ["de-CH"]);
        assert!(l.check("fr").is_err());
        assert!(l.check("de").is_ok());
    }

    #[test]
    fn codes() {
        for ok in ["en", "de-CH", "pt_BR", "zh-Hant-TW"] {
            assert!(valid_code(ok), "{ok}");
        }
        for bad in [
            "",
            "e",
            "-en",
            "en-",
            "en--us",
            "en us",
            "1en",
            "*",
            &"a".repeat(36),
        ] {
            assert!(!valid_code(bad), "{bad}");
        }
    }
}
