//! Checks of raw request input made before anything parses it: JSON syntax, and the NUL
//! character (U+0000) wherever a client can put text — JSON strings and object keys of
//! the body, the percent-decoded path, and percent-decoded query names and values.
//!
//! Why NUL alone: PostgreSQL's `text` and `jsonb` cannot hold it (SQLite can), so without
//! one rule here the same request would be stored on one backend and fail with a 5xx on
//! the other. Every other control character is valid text on both and is kept as sent.
//! This module only reports what it finds; it must not judge anything else about input.

use std::fmt;

use poem::http::Uri;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};

use crate::error::{ApiError, Code, clip};

/// Checks that `bytes` is one JSON document holding no NUL in any string or key. The
/// walk sees decoded strings, so the escape `\u0000` is caught while `\\u0000` (an
/// escaped backslash followed by `u0000`) is ordinary text.
pub fn check_json_body(bytes: &[u8]) -> Result<(), ApiError> {
    let Err(e) = serde_json::from_slice::<NulFree>(bytes) else {
        return Ok(());
    };
    if e.classify() == serde_json::error::Category::Data {
        // Only `NulFree` raises data errors: it accepts every JSON value but NUL text.
        return Err(ApiError::new(
            Code::InvalidCharacters,
            format!(
                "the request body contains a NUL character (\\u0000) in a string or key ending at line {}, column {}; remove it, text may not contain NUL",
                e.line(),
                e.column()
            ),
        ));
    }
    Err(ApiError::new(
        Code::MalformedJson,
        format!(
            "the body is not valid JSON (line {}, column {}); check quotes, commas and brackets",
            e.line(),
            e.column()
        ),
    ))
}

/// Checks the path and the query string for an encoded NUL (`%00`). A URI cannot carry a
/// raw NUL byte, and percent-decoding yields a NUL only from `%00`, so the search on the
/// raw text is exact (`%2500` decodes to the text `%00`, which is fine).
pub fn check_uri(uri: &Uri) -> Result<(), ApiError> {
    let nul = |s: &str| s.as_bytes().windows(3).any(|w| w == b"%00");
    if nul(uri.path()) {
        return Err(ApiError::new(
            Code::InvalidCharacters,
            "the request path contains a NUL character (%00); remove it from the path",
        ));
    }
    let Some(query) = uri.query().filter(|q| nul(q)) else {
        return Ok(());
    };
    let message = url::form_urlencoded::parse(query.as_bytes())
        .find_map(|(name, value)| {
            if name.contains('\0') {
                Some("a query parameter name contains a NUL character (%00); remove it".to_string())
            } else if value.contains('\0') {
                Some(format!(
                    "query parameter `{}` contains a NUL character (%00); remove it from the value",
                    clip(&name)
                ))
            } else {
                None
            }
        })
        .unwrap_or_else(|| "the query string contains a NUL character (%00); remove it".into());
    Err(ApiError::new(Code::InvalidCharacters, message))
}

/// Any JSON value without NUL in its strings and keys; deserializing it checks exactly that.
struct NulFree;

impl<'de> Deserialize<'de> for NulFree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(NulFreeVisitor)
    }
}

struct NulFreeVisitor;

impl<'de> Visitor<'de> for NulFreeVisitor {
    type Value = NulFree;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value without NUL characters")
    }

    fn visit_bool<E>(self, _: bool) -> Result<NulFree, E> {
        Ok(NulFree)
    }

    fn visit_i64<E>(self, _: i64) -> Result<NulFree, E> {
        Ok(NulFree)
    }

    fn visit_u64<E>(self, _: u64) -> Result<NulFree, E> {
        Ok(NulFree)
    }

    fn visit_f64<E>(self, _: f64) -> Result<NulFree, E> {
        Ok(NulFree)
    }

    fn visit_unit<E>(self) -> Result<NulFree, E> {
        Ok(NulFree)
    }

    fn visit_str<E: de::Error>(self, s: &str) -> Result<NulFree, E> {
        if s.contains('\0') {
            Err(E::custom("NUL character"))
        } else {
            Ok(NulFree)
        }
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<NulFree, A::Error> {
        while seq.next_element::<NulFree>()?.is_some() {}
        Ok(NulFree)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<NulFree, A::Error> {
        while map.next_key::<NulFree>()?.is_some() {
            map.next_value::<NulFree>()?;
        }
        Ok(NulFree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(body: &str) -> Option<&'static str> {
        check_json_body(body.as_bytes())
            .err()
            .map(|e| e.code.as_str())
    }

    #[test]
    fn nul_is_found_in_strings_and_keys_at_any_depth() {
        for body in [
            r#""\u0000""#,
            r#"{"a\u0000": 1}"#,
            r#"{"a": [1, {"b": "x\u0000y"}]}"#,
            r#"[[[["\u0000"]]]]"#,
        ] {
            assert_eq!(code(body), Some("invalid_characters"), "{body}");
        }
    }

    #[test]
    fn escaped_backslashes_and_other_controls_are_text() {
        for body in [
            r#""\\u0000""#,
            r#"{"\\u0000": "\u0001\u001f\u007f\t"}"#,
            r#"{"a": null, "b": [true, 1.5, -3, 18446744073709551615]}"#,
        ] {
            assert_eq!(code(body), None, "{body}");
        }
        assert_eq!(code(r#"{"a": "#), Some("malformed_json"));
        assert_eq!(
            code("{\"a\": \"\0\"}"),
            Some("malformed_json"),
            "a raw NUL byte is a syntax error"
        );
    }

    #[test]
    fn uri_nul_is_found_in_path_and_query_only_when_decoded() {
        let check = |u: &str| {
            check_uri(&u.parse::<Uri>().expect("uri"))
                .err()
                .map(|e| e.message)
        };
        assert!(check("/a/%00").is_some_and(|m| m.contains("path")));
        assert!(check("/a?x=%00").is_some_and(|m| m.contains("`x`")));
        assert!(check("/a?x%00=1").is_some_and(|m| m.contains("name")));
        assert_eq!(check("/a/%2500?x=%2500&y=%01"), None);
    }
}
