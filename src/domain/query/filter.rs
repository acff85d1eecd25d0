//! The filter half of the list query: the tree that `filter[a][b]=v` parameters and the
//! JSON filter of `POST …/query` both build, and its translation into a typed [`Filter`]
//! against a content type (fields, operators, values, limits).

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{
    Filter, MAX_CONDITIONS, MAX_DEPTH, MAX_IN_VALUES, MAX_PATTERN_CHARS, MAX_VALUE_LEN, Op, Scalar,
    Target, bad, readable_field,
};
use crate::domain::access::Visibility;
use crate::domain::schema::{ContentTypeDef, FieldType};
use crate::error::{ApiError, Code, clip};

pub(super) fn count_condition(conditions: &mut usize) -> Result<(), ApiError> {
    *conditions += 1;
    if *conditions > MAX_CONDITIONS {
        return Err(bad(
            Code::InvalidFilter,
            format!("at most {MAX_CONDITIONS} filter conditions are allowed"),
        ));
    }
    Ok(())
}

/// The JSON filter as the same tree the bracket parameters build: `path` is the bracket
/// path so far, used in messages (`filter.or[0].rating.gte`).
pub(super) fn json_tree(
    v: &Value,
    tree: &mut Tree,
    path: &mut Vec<String>,
    conditions: &mut usize,
) -> Result<(), ApiError> {
    let here = |path: &[String]| {
        if path.is_empty() {
            "`filter`".to_string()
        } else {
            format!("`filter.{}`", clip(&path.join(".")))
        }
    };
    if path.len() > MAX_DEPTH * 2 + 2 {
        return Err(bad(
            Code::InvalidFilter,
            format!("{} nests too deeply", here(path)),
        ));
    }
    let Value::Object(map) = v else {
        return Err(bad(
            Code::InvalidFilter,
            format!(
                "{} must be an object of fields and operators, e.g. {{\"rating\": {{\"gte\": 4}}}}",
                here(path)
            ),
        ));
    };
    for (key, value) in map {
        path.push(key.clone());
        if key == "or" || key == "and" {
            let Value::Array(groups) = value else {
                return Err(bad(
                    Code::InvalidFilter,
                    format!("{} must be an array of filters", here(path)),
                ));
            };
            for (i, group) in groups.iter().enumerate() {
                path.push(i.to_string());
                let mut sub = Tree::default();
                json_tree(group, &mut sub, path, conditions)?;
                path.pop();
                let at = [key.clone(), i.to_string()];
                tree.graft(&at, sub)
                    .map_err(|why| bad(Code::InvalidFilter, format!("{}: {why}", here(path))))?;
            }
            path.pop();
            continue;
        }
        let Value::Object(ops) = value else {
            return Err(bad(
                Code::InvalidFilter,
                format!("{} needs operators, e.g. {{\"eq\": …}}", here(path)),
            ));
        };
        for (op, operand) in ops {
            path.push(op.clone());
            count_condition(conditions)?;
            if op == "null" && !operand.is_boolean() {
                return Err(bad(
                    Code::InvalidFilter,
                    format!("{} takes `true` or `false`", here(path)),
                ));
            }
            let values = match operand {
                Value::Array(items) => items
                    .iter()
                    .map(|item| scalar_text(item).ok_or(()))
                    .collect::<Result<Vec<_>, ()>>(),
                other => scalar_text(other).map(|t| vec![t]).ok_or(()),
            }
            .map_err(|()| {
                bad(
                    Code::InvalidFilter,
                    format!(
                        "{} takes a string, number or boolean (an array of them for `in` and `nin`)",
                        here(path)
                    ),
                )
            })?;
            let at = [key.clone(), op.clone()];
            tree.insert_values(&at, values)
                .map_err(|why| bad(Code::InvalidFilter, format!("{}: {why}", here(path))))?;
            path.pop();
        }
        path.pop();
    }
    Ok(())
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `[a][b][c]` → `["a","b","c"]`.
pub(super) fn bracket_path(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = s;
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[')?;
        let end = inner.find(']')?;
        let seg = &inner[..end];
        if seg.is_empty() || seg.len() > 64 {
            return None;
        }
        out.push(seg.to_string());
        rest = &inner[end + 1..];
    }
    (!out.is_empty()).then_some(out)
}

#[derive(Default, Debug)]
pub(super) struct Tree(BTreeMap<String, Node>);

/// A leaf holds the values given for one operator: one, except `in`/`nin` repeated as
/// `filter[f][in]=a&filter[f][in]=b` (what generated clients send for arrays).
#[derive(Debug)]
enum Node {
    Leaf(Leaf),
    Map(Tree),
}

#[derive(Debug)]
enum Leaf {
    /// One query-string value (`in`/`nin`: comma-separated).
    Text(String),
    /// Separate values: repeated parameters or a JSON array.
    List(Vec<String>),
}

impl Tree {
    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn insert(&mut self, path: &[String], value: String) -> Result<(), String> {
        let repeatable = path.last().is_some_and(|op| op == "in" || op == "nin");
        match self.slot(path)? {
            Entry::Vacant(v) => {
                v.insert(Node::Leaf(Leaf::Text(value)));
            }
            Entry::Occupied(mut o) => match o.get_mut() {
                Node::Leaf(Leaf::Text(first)) if repeatable => {
                    let first = std::mem::take(first);
                    o.insert(Node::Leaf(Leaf::List(vec![first, value])));
                }
                Node::Leaf(Leaf::List(all)) if repeatable => all.push(value),
                _ => return Err("given twice".into()),
            },
        }
        Ok(())
    }

    fn insert_values(&mut self, path: &[String], values: Vec<String>) -> Result<(), String> {
        self.put(path, Node::Leaf(Leaf::List(values)))
    }

    fn graft(&mut self, path: &[String], sub: Tree) -> Result<(), String> {
        self.put(path, Node::Map(sub))
    }

    fn put(&mut self, path: &[String], node: Node) -> Result<(), String> {
        match self.slot(path)? {
            Entry::Vacant(v) => {
                v.insert(node);
                Ok(())
            }
            Entry::Occupied(_) => Err("given twice".into()),
        }
    }

    /// The place of `path`'s last segment, creating the maps on the way.
    fn slot(&mut self, path: &[String]) -> Result<Entry<'_, String, Node>, String> {
        let (head, tail) = path.split_first().ok_or("empty path")?;
        if tail.is_empty() {
            return Ok(self.0.entry(head.clone()));
        }
        match self
            .0
            .entry(head.clone())
            .or_insert_with(|| Node::Map(Tree::default()))
        {
            Node::Map(t) => t.slot(tail),
            Node::Leaf(_) => Err("conflicts with another parameter".into()),
        }
    }
}

pub(super) fn to_filter(
    ty: &ContentTypeDef,
    tree: &Tree,
    vis: &Visibility,
    depth: usize,
) -> Result<Filter, ApiError> {
    if depth > MAX_DEPTH {
        return Err(bad(Code::InvalidFilter, "filters nest too deeply"));
    }
    let mut all = Vec::new();
    for (raw_key, node) in &tree.0 {
        let key = clip(raw_key);
        let Node::Map(children) = node else {
            return Err(bad(
                Code::InvalidFilter,
                format!("`filter[{key}]` needs an operator, e.g. `filter[{key}][eq]=…`"),
            ));
        };
        if key == "or" || key == "and" {
            let mut parts = Vec::new();
            for (raw_idx, group) in &children.0 {
                let idx = clip(raw_idx);
                let Node::Map(group) = group else {
                    return Err(bad(
                        Code::InvalidFilter,
                        format!(
                            "`filter[{key}][{idx}]` needs a condition, e.g. `filter[{key}][{idx}][title][eq]=…`"
                        ),
                    ));
                };
                if idx.parse::<u32>().is_err() {
                    return Err(bad(
                        Code::InvalidFilter,
                        format!(
                            "`filter[{key}][{idx}]`: groups are numbered, e.g. `filter[{key}][0]`"
                        ),
                    ));
                }
                parts.push(to_filter(ty, group, vis, depth + 1)?);
            }
            all.push(if key == "or" {
                Filter::Or(parts)
            } else {
                Filter::And(parts)
            });
            continue;
        }
        let target = readable_field(ty, raw_key, vis, "filter")?;
        for (op_name, value) in &children.0 {
            let op = Op::parse(op_name).ok_or_else(|| {
                bad(
                    Code::InvalidFilter,
                    format!(
                        "unknown operator `{}` on `{key}`; use one of eq ne lt lte gt gte in nin contains icontains startswith null",
                        clip(op_name)
                    ),
                )
            })?;
            let Node::Leaf(raw) = value else {
                return Err(bad(
                    Code::InvalidFilter,
                    format!("`filter[{key}][{op_name}]` takes a value, not more brackets"),
                ));
            };
            all.push(condition(&target, op, raw)?);
        }
    }
    Ok(if all.len() == 1 {
        all.remove(0)
    } else {
        Filter::And(all)
    })
}

fn condition(target: &Target, op: Op, leaf: &Leaf) -> Result<Filter, ApiError> {
    let name = target.name();
    let items: Vec<&str> = match (leaf, op) {
        (Leaf::Text(raw), Op::In | Op::Nin) => raw.split(',').collect(),
        (Leaf::Text(raw), _) => vec![raw.as_str()],
        (Leaf::List(all), Op::In | Op::Nin) => all.iter().map(String::as_str).collect(),
        (Leaf::List(all), _) if all.len() == 1 => vec![all[0].as_str()],
        (Leaf::List(_), _) => {
            return Err(bad(
                Code::InvalidFilter,
                format!("this operator on `{name}` takes one value; lists go with `in` and `nin`"),
            ));
        }
    };
    if items.iter().map(|v| v.len()).sum::<usize>() > MAX_VALUE_LEN * 4
        || items.iter().any(|v| v.len() > MAX_VALUE_LEN)
    {
        return Err(bad(
            Code::InvalidFilter,
            format!("the value for `{name}` is too long"),
        ));
    }
    let raw = items.first().copied().unwrap_or_default();
    let fty = match target {
        Target::Field { ty, .. } => Some(*ty),
        Target::Meta(_) => None,
    };
    if fty.is_some_and(|t| !t.is_scalar() && t != FieldType::Relation && t != FieldType::Media)
        || (fty.is_some_and(|t| matches!(t, FieldType::Relation | FieldType::Media))
            && !matches!(op, Op::Null | Op::Eq | Op::Ne | Op::In | Op::Nin))
    {
        return Err(bad(
            Code::InvalidFilter,
            format!("operator cannot be used on `{name}`: its type is not filterable this way"),
        ));
    }
    let stringy = match target {
        Target::Meta(m) => !m.is_timestamp(),
        Target::Field { ty, .. } => ty.is_stringy(),
    };
    let values = match op {
        Op::Null => {
            let b = match raw {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(bad(
                        Code::InvalidFilter,
                        format!("`null` on `{name}` takes `true` or `false`"),
                    ));
                }
            };
            vec![Scalar::Bool(b)]
        }
        Op::In | Op::Nin => {
            if items.len() > MAX_IN_VALUES {
                return Err(bad(
                    Code::InvalidFilter,
                    format!("`in`/`nin` take at most {MAX_IN_VALUES} values"),
                ));
            }
            items
                .into_iter()
                .map(|s| typed(target, s))
                .collect::<Result<_, _>>()?
        }
        Op::Contains | Op::Icontains | Op::Startswith => {
            if !stringy {
                return Err(bad(
                    Code::InvalidFilter,
                    format!("text operators cannot be used on `{name}`"),
                ));
            }
            // Matching a long needle inside long texts costs their product per row.
            if raw.chars().count() > MAX_PATTERN_CHARS {
                return Err(bad(
                    Code::InvalidFilter,
                    format!(
                        "the text to match in `{name}` is longer than {MAX_PATTERN_CHARS} characters; use the search API for long phrases"
                    ),
                ));
            }
            vec![Scalar::Str(raw.to_string())]
        }
        _ => {
            if matches!(fty, Some(FieldType::Boolean))
                && matches!(op, Op::Lt | Op::Lte | Op::Gt | Op::Gte)
            {
                return Err(bad(
                    Code::InvalidFilter,
                    format!("`{name}` is a boolean: use eq or ne"),
                ));
            }
            vec![typed(target, raw)?]
        }
    };
    Ok(Filter::Cond {
        target: target.clone(),
        op,
        values,
    })
}

fn typed(target: &Target, raw: &str) -> Result<Scalar, ApiError> {
    let name = target.name();
    let fail = |what: &str| {
        bad(
            Code::InvalidFilter,
            format!("`{name}` expects {what}, got `{}`", clip(raw)),
        )
    };
    match target {
        Target::Meta(m) if m.is_timestamp() => DateTime::parse_from_rfc3339(raw)
            .map(|d| Scalar::Ts(d.with_timezone(&Utc)))
            .map_err(|_| fail("an RFC 3339 datetime")),
        Target::Meta(_) => Ok(Scalar::Str(raw.to_string())),
        Target::Field { ty, .. } => match ty {
            FieldType::Integer => raw.parse().map(Scalar::Int).map_err(|_| fail("an integer")),
            FieldType::Decimal => raw
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .map(Scalar::Float)
                .ok_or_else(|| fail("a number")),
            FieldType::Boolean => match raw {
                "true" => Ok(Scalar::Bool(true)),
                "false" => Ok(Scalar::Bool(false)),
                _ => Err(fail("`true` or `false`")),
            },
            FieldType::Datetime => crate::domain::validate::normalize_datetime(raw)
                .map(Scalar::Str)
                .ok_or_else(|| fail("an RFC 3339 datetime")),
            FieldType::Date => chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .map(|_| Scalar::Str(raw.to_string()))
                .map_err(|_| fail("a date like 2024-03-31")),
            _ => Ok(Scalar::Str(raw.to_string())),
        },
    }
}
