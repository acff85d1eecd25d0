//! Validation of entry data against a content type. Produces one [`FieldError`] per
//! offending field, with a path (`links[1].url`), a stable code and a message, and returns
//! the normalized document (datetimes in UTC, defaults applied) when all is well.

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::schema::{ContentTypeDef, FieldDef, FieldType};
use crate::error::{FieldError, clip};

/// Deepest nesting accepted inside `json` and `richtext` values.
const MAX_JSON_DEPTH: usize = 32;
/// Most items in any list value (relations, media, repeatable components).
const MAX_ITEMS: usize = 1000;

fn err(field: &str, code: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.to_string(),
        code,
        message: message.into(),
    }
}

/// Validates a full document (create, or an update merged onto the current draft).
/// `fresh` applies field defaults for keys the input does not give.
pub fn validate_document(
    ty: &ContentTypeDef,
    input: &Map<String, Value>,
    fresh: bool,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut errors = Vec::new();
    let mut out = Map::new();
    for key in input.keys() {
        if ty.field(key).is_none() {
            let key = clip(key);
            errors.push(err(
                &key,
                "unknown_field",
                format!("`{}` has no field `{key}`", ty.api_id),
            ));
        }
    }
    for field in &ty.fields {
        let value = match input.get(&field.name) {
            Some(v) => Some(v.clone()),
            None if fresh => field.default.clone(),
            None => None,
        };
        match value {
            Some(ref v) if field.required && is_blank(field, v) => {
                errors.push(err(
                    &field.name,
                    "required",
                    "a value is required: empty or whitespace-only text does not count",
                ));
            }
            None | Some(Value::Null) => {
                // A slug may be derived later by the service; everything else required is missing.
                if field.required && field.ty != FieldType::Slug {
                    errors.push(err(&field.name, "required", "a value is required"));
                }
            }
            Some(v) => match check_value(field, &v, &field.name) {
                Ok(normalized) => {
                    out.insert(field.name.clone(), normalized);
                }
                Err(e) => errors.push(e),
            },
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// Text that says nothing (`""`, spaces): not a value for a required field.
fn is_blank(field: &FieldDef, v: &Value) -> bool {
    field.ty.is_stringy() && v.as_str().is_some_and(|s| s.trim().is_empty())
}

/// Checks one value of a field, returning it normalized.
pub fn check_value(field: &FieldDef, v: &Value, path: &str) -> Result<Value, FieldError> {
    let ty = field.ty;
    let wrong = |expected: &str| {
        err(
            path,
            "wrong_type",
            format!("expected {expected}, got {}", json_kind(v)),
        )
    };
    let rules = &field.validations;
    match ty {
        FieldType::Text
        | FieldType::Longtext
        | FieldType::Email
        | FieldType::Url
        | FieldType::Slug
        | FieldType::Enum => {
            let s = v.as_str().ok_or_else(|| wrong("a string"))?;
            check_length(
                s.chars().count(),
                rules.min_length,
                rules.max_length,
                path,
                "characters",
            )?;
            if let Some(re) = &rules.regex {
                // Definitions are checked when saved; an unparsable one fails closed.
                let matches = regex::Regex::new(re)
                    .map(|r| r.is_match(s))
                    .unwrap_or(false);
                if !matches {
                    return Err(err(
                        path,
                        "pattern",
                        format!("does not match the pattern `{re}`"),
                    ));
                }
            }
            match ty {
                FieldType::Email if !is_email(s) => Err(err(
                    path,
                    "invalid_email",
                    "not an email address like `name@example.com`",
                )),
                FieldType::Url if !is_http_url(s) => Err(err(
                    path,
                    "invalid_url",
                    "not an absolute http(s) URL like `https://example.com/page`",
                )),
                FieldType::Slug if !super::slug::is_slug(s) => Err(err(
                    path,
                    "invalid_slug",
                    "use lowercase letters, digits and single hyphens (e.g. `my-first-post`), at most 200 characters",
                )),
                FieldType::Enum if !field.values.iter().any(|x| x == s) => Err(err(
                    path,
                    "invalid_enum",
                    format!("must be one of: {}", clip(&field.values.join(", "))),
                )),
                _ => Ok(v.clone()),
            }
        }
        FieldType::Integer => {
            let n = v.as_i64().ok_or_else(|| wrong("an integer"))?;
            check_range(n as f64, rules.min, rules.max, path)?;
            Ok(v.clone())
        }
        FieldType::Decimal => {
            let n = v.as_f64().ok_or_else(|| wrong("a number"))?;
            check_range(n, rules.min, rules.max, path)?;
            Ok(v.clone())
        }
        FieldType::Boolean => v
            .as_bool()
            .map(|_| v.clone())
            .ok_or_else(|| wrong("true or false")),
        FieldType::Date => {
            let s = v.as_str().ok_or_else(|| wrong("a date string"))?;
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(|d| Value::String(d.format("%Y-%m-%d").to_string()))
                .map_err(|_| err(path, "invalid_date", "use a date like `2024-03-31`"))
        }
        FieldType::Datetime => {
            let s = v.as_str().ok_or_else(|| wrong("a datetime string"))?;
            normalize_datetime(s).map(Value::String).ok_or_else(|| {
                err(
                    path,
                    "invalid_datetime",
                    "use an RFC 3339 datetime with an offset, like `2024-03-31T12:00:00Z`",
                )
            })
        }
        FieldType::Json => {
            if depth(v) > MAX_JSON_DEPTH {
                return Err(err(
                    path,
                    "too_deep",
                    format!("nests deeper than {MAX_JSON_DEPTH} levels"),
                ));
            }
            Ok(v.clone())
        }
        FieldType::Richtext => check_richtext(v, path).map(|_| v.clone()),
        FieldType::Media | FieldType::Relation => {
            let what = if ty == FieldType::Media {
                "an asset id"
            } else {
                "an entry id"
            };
            if field.many {
                let items = v
                    .as_array()
                    .ok_or_else(|| wrong(&format!("a list of {what}s")))?;
                check_length(
                    items.len(),
                    field.validations.min_length,
                    field.validations.max_length,
                    path,
                    "items",
                )?;
                check_length(items.len(), None, Some(MAX_ITEMS as u64), path, "items")?;
                for (i, item) in items.iter().enumerate() {
                    check_uuid(item, &format!("{path}[{i}]"), what)?;
                }
                Ok(v.clone())
            } else {
                check_uuid(v, path, what).map(|_| v.clone())
            }
        }
        FieldType::Component => {
            if field.repeatable {
                let items = v.as_array().ok_or_else(|| wrong("a list of objects"))?;
                check_length(
                    items.len(),
                    rules.min_length,
                    rules.max_length,
                    path,
                    "items",
                )?;
                check_length(items.len(), None, Some(MAX_ITEMS as u64), path, "items")?;
                let mut out = Vec::with_capacity(items.len());
                for (i, item) in items.iter().enumerate() {
                    out.push(check_component(field, item, &format!("{path}[{i}]"))?);
                }
                Ok(Value::Array(out))
            } else {
                check_component(field, v, path)
            }
        }
    }
}

fn check_component(field: &FieldDef, v: &Value, path: &str) -> Result<Value, FieldError> {
    let obj = v.as_object().ok_or_else(|| {
        err(
            path,
            "wrong_type",
            format!("expected an object, got {}", json_kind(v)),
        )
    })?;
    let mut out = Map::new();
    for key in obj.keys() {
        if !field.fields.iter().any(|f| &f.name == key) {
            let key = clip(key);
            return Err(err(
                &format!("{path}.{key}"),
                "unknown_field",
                format!("component `{}` has no field `{key}`", field.name),
            ));
        }
    }
    for sub in &field.fields {
        let at = format!("{path}.{}", sub.name);
        match obj.get(&sub.name) {
            Some(v) if sub.required && is_blank(sub, v) => {
                return Err(err(
                    &at,
                    "required",
                    "a value is required: empty or whitespace-only text does not count",
                ));
            }
            None | Some(Value::Null) => {
                if sub.required {
                    return Err(err(&at, "required", "a value is required"));
                }
            }
            Some(value) => {
                out.insert(sub.name.clone(), check_value(sub, value, &at)?);
            }
        }
    }
    Ok(Value::Object(out))
}

/// A rich-text document: a ProseMirror/TipTap JSON tree with `{"type": "doc"}` at the root.
fn check_richtext(v: &Value, path: &str) -> Result<(), FieldError> {
    let bad = |why: &str| {
        err(
            path,
            "invalid_richtext",
            format!("{why}; expected a document like {{\"type\":\"doc\",\"content\":[...]}}"),
        )
    };
    if v.get("type").and_then(Value::as_str) != Some("doc") {
        return Err(bad("the root node must have `type` \"doc\""));
    }
    if depth(v) > MAX_JSON_DEPTH * 2 {
        return Err(bad("the document nests too deeply"));
    }
    fn node(n: &Value) -> bool {
        let Some(obj) = n.as_object() else {
            return false;
        };
        if !obj.get("type").is_some_and(Value::is_string) {
            return false;
        }
        if obj.get("text").is_some_and(|t| !t.is_string()) {
            return false;
        }
        if obj.get("marks").is_some_and(|m| !m.is_array()) {
            return false;
        }
        match obj.get("content") {
            None => true,
            Some(Value::Array(children)) => children.iter().all(node),
            Some(_) => false,
        }
    }
    if node(v) {
        Ok(())
    } else {
        Err(bad(
            "every node needs a string `type`, and `content` must be a list of nodes",
        ))
    }
}

fn check_uuid(v: &Value, path: &str, what: &str) -> Result<(), FieldError> {
    match v.as_str().map(uuid::Uuid::parse_str) {
        Some(Ok(_)) => Ok(()),
        _ => Err(err(
            path,
            "invalid_reference",
            format!("expected {what} (a UUID)"),
        )),
    }
}

fn check_length(
    n: usize,
    min: Option<u64>,
    max: Option<u64>,
    path: &str,
    unit: &str,
) -> Result<(), FieldError> {
    if let Some(min) = min
        && (n as u64) < min
    {
        return Err(err(
            path,
            "min_length",
            format!("needs at least {min} {unit}, has {n}"),
        ));
    }
    if let Some(max) = max
        && (n as u64) > max
    {
        return Err(err(
            path,
            "max_length",
            format!("allows at most {max} {unit}, has {n}"),
        ));
    }
    Ok(())
}

fn check_range(n: f64, min: Option<f64>, max: Option<f64>, path: &str) -> Result<(), FieldError> {
    if let Some(min) = min
        && n < min
    {
        return Err(err(path, "min", format!("must be at least {min}")));
    }
    if let Some(max) = max
        && n > max
    {
        return Err(err(path, "max", format!("must be at most {max}")));
    }
    Ok(())
}

/// RFC 3339 in, UTC with milliseconds out: one fixed width, so text order is time order.
pub fn normalize_datetime(s: &str) -> Option<String> {
    let dt = DateTime::parse_from_rfc3339(s).ok()?;
    Some(
        dt.with_timezone(&Utc)
            .format("%Y-%m-%dT%H:%M:%S%.3fZ")
            .to_string(),
    )
}

pub fn is_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.rsplit_once('@') else {
        return false;
    };
    !local.is_empty()
        && !local.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

fn is_http_url(s: &str) -> bool {
    s.len() <= 2048
        && url::Url::parse(s)
            .map(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
            .unwrap_or(false)
}

pub fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "an integer",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn article() -> ContentTypeDef {
        serde_json::from_value(json!({
            "api_id": "article", "name": "Article",
            "fields": [
                {"name": "title", "type": "text", "required": true, "validations": {"max_length": 10}},
                {"name": "rating", "type": "integer", "validations": {"min": 1, "max": 5}},
                {"name": "when", "type": "datetime"},
                {"name": "links", "type": "component", "repeatable": true,
                 "fields": [{"name": "url", "type": "url", "required": true}]}
            ]
        }))
        .expect("valid test schema")
    }

    #[test]
    fn reports_every_bad_field() {
        let input = json!({"rating": 9, "when": "yesterday", "nope": 1, "links": [{"url": "x"}]});
        let errs = validate_document(&article(), input.as_object().expect("object"), true)
            .expect_err("must fail");
        let got: Vec<(&str, &str)> = errs.iter().map(|e| (e.field.as_str(), e.code)).collect();
        assert!(got.contains(&("title", "required")));
        assert!(got.contains(&("rating", "max")));
        assert!(got.contains(&("when", "invalid_datetime")));
        assert!(got.contains(&("nope", "unknown_field")));
        assert!(got.contains(&("links[0].url", "invalid_url")));
    }

    #[test]
    fn normalizes_datetimes_to_utc() {
        let input = json!({"title": "ok", "when": "2024-01-01T12:00:00+02:00"});
        let doc =
            validate_document(&article(), input.as_object().expect("object"), true).expect("valid");
        assert_eq!(doc["when"], json!("2024-01-01T10:00:00.000Z"));
    }

    #[test]
    fn rejects_float_for_integer() {
        let input = json!({"title": "ok", "rating": 2.5});
        let errs = validate_document(&article(), input.as_object().expect("object"), true)
            .expect_err("must fail");
        assert_eq!(errs[0].code, "wrong_type");
    }
}
