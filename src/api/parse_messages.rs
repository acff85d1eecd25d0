//! Rewrites poem-openapi's parse errors into the request's own terms: its messages name
//! internal types (`"EntryWrite"`, `"integer_int32"`, `"map_any"`); a client should read
//! "`limit`: expected a whole number", never a Rust or schema type.

/// What a poem-openapi type name stands for, in words.
fn noun(type_name: &str) -> &'static str {
    let t = type_name.trim_start_matches("optional_");
    if t.starts_with("integer") {
        "a whole number"
    } else if t.starts_with("number") {
        "a number"
    } else if t == "string_date-time" || t.contains("date-time") {
        "an RFC 3339 time like 2026-01-31T09:00:00Z"
    } else if t.starts_with("string") {
        "text"
    } else if t == "boolean" {
        "`true` or `false`"
    } else if t.starts_with('[') || t.starts_with("array") || t.starts_with("set") {
        "a list"
    } else {
        // Maps, free objects and named schemas.
        "a JSON object"
    }
}

/// `reason` without type names.
pub fn humanize(reason: &str) -> String {
    let mut s = reason.trim().to_string();
    for prefix in ["parse request payload error: ", "parse error: "] {
        if let Some(rest) = s.strip_prefix(prefix) {
            s = rest.to_string();
        }
    }
    // "… (occurred while parsing "X")" says where in our types, not in the request.
    while let Some(start) = s.find(" (occurred while parsing \"") {
        let end = s[start..].find("\")").map_or(s.len(), |e| start + e + 2);
        s.replace_range(start..end, "");
    }
    let mut out = String::new();
    let mut rest = s.as_str();
    loop {
        let patterns = [
            ("failed to parse \"", "\": "),
            ("Expected input type \"", "\", found "),
            ("Type \"", "\" expects an input value."),
        ];
        let next = patterns
            .iter()
            .filter_map(|(open, close)| rest.find(open).map(|i| (i, *open, *close)))
            .min_by_key(|(i, _, _)| *i);
        let Some((i, open, close)) = next else {
            out.push_str(rest);
            break;
        };
        out.push_str(&rest[..i]);
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(close) else {
            out.push_str(&rest[i..]);
            break;
        };
        let name = &after[..j];
        rest = &after[j + close.len()..];
        match open {
            "failed to parse \"" => {
                let n = noun(name);
                if n != "a JSON object" {
                    out.push_str(&format!("expected {n}: "));
                }
            }
            "Expected input type \"" => {
                let found = rest.trim_end_matches('.');
                out.push_str(&format!("expected {}, found {found}", noun(name)));
                rest = "";
            }
            _ => out.push_str(&format!("a value is required ({})", noun(name))),
        }
    }
    let out = out.trim().trim_end_matches(':').trim().to_string();
    if out.contains("EOF while parsing a value at line 1 column 0")
        || out.is_empty()
        || out == "expected a JSON object, found null"
    {
        return "the request body is empty (or `null`); this endpoint takes a JSON object (its schema is in /openapi.json)".into();
    }
    out.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::humanize;

    #[test]
    fn type_names_become_words() {
        let cases = [
            (
                r#"parse request payload error: failed to parse "EntryWrite": failed to parse "map_any": Expected input type "map_any", found "x". (occurred while parsing "EntryWrite")"#,
                "expected a JSON object, found \"x\"",
            ),
            (
                r#"failed to parse parameter `limit`: failed to parse "integer_uint64": invalid digit found in string"#,
                "failed to parse parameter `limit`: expected a whole number: invalid digit found in string",
            ),
            (
                r#"parse request payload error: failed to parse "RestoreRequest": Expected input type "integer_int32", found "two". (occurred while parsing "RestoreRequest")"#,
                "expected a whole number, found \"two\"",
            ),
            (
                r#"parse request payload error: Type "LoginRequest" expects an input value."#,
                "a value is required (a JSON object)",
            ),
        ];
        for (raw, want) in cases {
            assert_eq!(humanize(raw), want, "{raw}");
        }
        for raw in [
            r#"failed to parse "EntryWrite": x"#,
            r#"Expected input type "integer_int32", found null."#,
        ] {
            let h = humanize(raw);
            assert!(
                !h.contains("EntryWrite") && !h.contains("int32") && !h.contains("map_any"),
                "{h}"
            );
        }
    }

    #[test]
    fn an_empty_body_is_named() {
        assert!(
            humanize("parse request payload error: EOF while parsing a value at line 1 column 0")
                .contains("empty")
        );
    }
}
