//! The list query language (DESIGN.md §4): `filter[field][op]=value` combinable with
//! `filter[or][0][…]` / `filter[and][0][…]`, `sort=-a,b`, `fields=a,b`, `limit`, `cursor`,
//! `locale`. Parsed once against a content type into a [`ListQuery`]; every unknown
//! parameter, field or operator is refused with its name in the message.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

mod filter;
pub mod populate;

use filter::{Tree, bracket_path, count_condition, json_tree, to_filter};

use super::access::Visibility;
use super::schema::{ContentTypeDef, FieldType};
use crate::error::{ApiError, Code, clip};

pub const DEFAULT_LIMIT: u64 = 20;
pub const MAX_LIMIT: u64 = 100;
const MAX_CONDITIONS: usize = 50;
const MAX_DEPTH: usize = 4;
const MAX_IN_VALUES: usize = 100;
const MAX_VALUE_LEN: usize = 1000;
/// Longest text for `contains`, `icontains` and `startswith`.
const MAX_PATTERN_CHARS: usize = 200;
/// Most `contains`/`icontains` conditions in one query (each reads every candidate's text).
const MAX_TEXT_MATCHES: usize = 5;
const MAX_SORT_KEYS: usize = 5;

/// Who is asking: delivery callers see published data and never private fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    Delivery,
    Manage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetaCol {
    Id,
    CreatedAt,
    UpdatedAt,
    PublishedAt,
    Locale,
    Status,
    Stage,
}

impl MetaCol {
    pub fn column(self) -> &'static str {
        match self {
            MetaCol::Id => "id",
            MetaCol::CreatedAt => "created_at",
            MetaCol::UpdatedAt => "updated_at",
            MetaCol::PublishedAt => "published_at",
            MetaCol::Locale => "locale",
            MetaCol::Status => "status",
            MetaCol::Stage => "stage",
        }
    }

    pub fn is_timestamp(self) -> bool {
        matches!(
            self,
            MetaCol::CreatedAt | MetaCol::UpdatedAt | MetaCol::PublishedAt
        )
    }

    fn parse(name: &str, surface: Surface) -> Option<MetaCol> {
        let col = match name {
            "id" => MetaCol::Id,
            "created_at" => MetaCol::CreatedAt,
            "updated_at" => MetaCol::UpdatedAt,
            "published_at" => MetaCol::PublishedAt,
            "locale" => MetaCol::Locale,
            "status" if surface == Surface::Manage => MetaCol::Status,
            "stage" if surface == Surface::Manage => MetaCol::Stage,
            _ => return None,
        };
        Some(col)
    }
}

/// What a condition or sort key looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Meta(MetaCol),
    /// A top-level field of the entry document (name checked against the type).
    Field {
        name: String,
        ty: FieldType,
    },
}

impl Target {
    pub fn name(&self) -> &str {
        match self {
            Target::Meta(m) => m.column(),
            Target::Field { name, .. } => name,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Lte,
    Gt,
    Gte,
    In,
    Nin,
    Contains,
    Icontains,
    Startswith,
    Null,
}

impl Op {
    fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "in" => Op::In,
            "nin" => Op::Nin,
            "contains" => Op::Contains,
            "icontains" => Op::Icontains,
            "startswith" => Op::Startswith,
            "null" => Op::Null,
            _ => return None,
        })
    }
}

/// A typed value from a query string.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Ts(DateTime<Utc>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Cond {
        target: Target,
        op: Op,
        values: Vec<Scalar>,
    },
}

impl Filter {
    /// Whether a condition anywhere in the tree is on `target`.
    pub fn mentions(&self, target: &Target) -> bool {
        match self {
            Filter::And(parts) | Filter::Or(parts) => parts.iter().any(|p| p.mentions(target)),
            Filter::Cond { target: t, .. } => t == target,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub target: Target,
    pub desc: bool,
}

/// Position after the last row of a page: the sort values of that row and its id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cursor {
    /// Fingerprint of the sort the cursor was made for.
    pub s: String,
    pub v: Vec<Value>,
    pub id: String,
    /// The total counted for the first page, repeated on the pages that follow it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub t: Option<i64>,
    /// `false` when `t` is the count limit, not the exact count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<bool>,
    /// Fingerprint of the filter and locale (`selection_fingerprint`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub f: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    pub sort: Vec<SortKey>,
    pub fields: Option<Vec<String>>,
    pub limit: u64,
    pub cursor: Option<Cursor>,
    pub locale: Option<String>,
    /// `populate` as sent (checked by the content service, which knows the targets).
    pub populate: Option<String>,
}

/// Parameters of a single-entry read.
#[derive(Debug, Default)]
pub struct GetParams {
    pub fields: Option<Vec<String>>,
    pub locale: Option<String>,
    pub populate: Option<String>,
}

fn bad(code: Code, msg: impl Into<String>) -> ApiError {
    ApiError::new(code, msg)
}

/// Parameters accepted on a single-entry read.
pub fn parse_get_params(
    ty: &ContentTypeDef,
    params: &[(String, String)],
    vis: &Visibility,
) -> Result<GetParams, ApiError> {
    let mut out = GetParams::default();
    for (k, v) in params {
        match k.as_str() {
            "fields" => out.fields = Some(parse_fields(ty, v, vis)?),
            "locale" => out.locale = Some(parse_locale(v)?),
            "populate" => out.populate = Some(v.clone()),
            _ => return Err(unknown_param(k, "`fields`, `locale`, `populate`")),
        }
    }
    Ok(out)
}

fn unknown_param(k: &str, known: &str) -> ApiError {
    bad(
        Code::UnknownParameter,
        format!(
            "unknown query parameter `{}`; this endpoint accepts {known}",
            clip(k)
        ),
    )
}

pub fn parse_list_params(
    ty: &ContentTypeDef,
    params: &[(String, String)],
    vis: &Visibility,
) -> Result<ListQuery, ApiError> {
    parse_list(ty, params, None, vis)
}

/// A list query from query-string pairs and, for `POST …/query`, a JSON filter (the
/// `Where` schema: `{"field": {"op": value}, "or": [Where…], "and": [Where…]}`). The two
/// filter encodings may not be mixed in one request.
pub fn parse_list(
    ty: &ContentTypeDef,
    params: &[(String, String)],
    json_filter: Option<&Value>,
    vis: &Visibility,
) -> Result<ListQuery, ApiError> {
    let mut q = ListQuery {
        filter: None,
        sort: Vec::new(),
        fields: None,
        limit: DEFAULT_LIMIT,
        cursor: None,
        locale: None,
        populate: None,
    };
    let mut tree = Tree::default();
    let mut conditions = 0usize;
    if let Some(json) = json_filter {
        json_tree(json, &mut tree, &mut Vec::new(), &mut conditions)?;
    }
    let mut raw_cursor = None;
    for (k, v) in params {
        if let Some(rest) = k.strip_prefix("filter") {
            let path = bracket_path(rest).ok_or_else(|| {
                bad(
                    Code::InvalidFilter,
                    format!("`{}` is not of the form `filter[field][operator]`", clip(k)),
                )
            })?;
            if path.len() > MAX_DEPTH * 2 + 2 {
                return Err(bad(
                    Code::InvalidFilter,
                    format!("`{}` nests too deeply", clip(k)),
                ));
            }
            if json_filter.is_some() {
                return Err(bad(
                    Code::InvalidFilter,
                    format!(
                        "`{}`: send the filter either in the body's `filter` or as `filter[…]` parameters, not both",
                        clip(k)
                    ),
                ));
            }
            count_condition(&mut conditions)?;
            tree.insert(&path, v.clone())
                .map_err(|why| bad(Code::InvalidFilter, format!("`{}`: {why}", clip(k))))?;
            continue;
        }
        match k.as_str() {
            "sort" => q.sort = parse_sort(ty, v, vis)?,
            "fields" => q.fields = Some(parse_fields(ty, v, vis)?),
            "limit" => {
                q.limit = v
                    .parse::<u64>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        bad(
                            Code::InvalidParameter,
                            format!(
                                "`limit` must be a whole number from 1 to {MAX_LIMIT}, got `{}`",
                                clip(v)
                            ),
                        )
                    })?
            }
            "cursor" => raw_cursor = Some(v.clone()),
            "locale" => q.locale = Some(parse_locale(v)?),
            "populate" => q.populate = Some(v.clone()),
            _ => {
                return Err(unknown_param(
                    k,
                    "`filter[…]`, `sort`, `fields`, `limit`, `cursor`, `locale`, `populate`",
                ));
            }
        }
    }
    if !tree.is_empty() {
        let filter = to_filter(ty, &tree, vis, 0)?;
        if text_matches(&filter) > MAX_TEXT_MATCHES {
            return Err(bad(
                Code::InvalidFilter,
                format!(
                    "at most {MAX_TEXT_MATCHES} `contains`/`icontains` conditions are allowed in one query; use the search API to match many words"
                ),
            ));
        }
        q.filter = Some(filter);
    }
    if let Some(raw) = raw_cursor {
        let cursor = decode_cursor(&raw)?;
        if cursor.s != sort_fingerprint(&q.sort) {
            return Err(bad(
                Code::InvalidCursor,
                "this cursor belongs to a list with a different `sort`; repeat the same parameters as the first page",
            ));
        }
        // Cursors made before filters were fingerprinted carry none.
        if cursor
            .f
            .as_ref()
            .is_some_and(|f| *f != selection_fingerprint(&q))
        {
            return Err(bad(
                Code::InvalidCursor,
                "this cursor belongs to a list with a different filter or locale; repeat the same parameters as the first page",
            ));
        }
        q.cursor = Some(cursor);
    }
    Ok(q)
}

fn text_matches(f: &Filter) -> usize {
    match f {
        Filter::And(parts) | Filter::Or(parts) => parts.iter().map(text_matches).sum(),
        Filter::Cond { op, .. } => usize::from(matches!(op, Op::Contains | Op::Icontains)),
    }
}

/// Whether answering the list may read rows no index narrows down: a condition or sort
/// on a field that is not `indexed` (or a column without an index), or an operator an
/// index cannot seek (`ne`, `nin`, `contains`, `icontains`). Such lists are bounded by the
/// store's scan limits (few at a time, a statement timeout).
pub fn needs_scan(q: &ListQuery, ty: &ContentTypeDef) -> bool {
    let seekable = |t: &Target| match t {
        Target::Meta(m) => matches!(m, MetaCol::Id | MetaCol::CreatedAt | MetaCol::PublishedAt),
        Target::Field { name, .. } => ty.field(name).is_some_and(|f| f.indexed && !f.many),
    };
    fn scans(f: &Filter, seekable: &dyn Fn(&Target) -> bool) -> bool {
        match f {
            Filter::And(parts) | Filter::Or(parts) => parts.iter().any(|p| scans(p, seekable)),
            Filter::Cond { target, op, .. } => {
                matches!(op, Op::Ne | Op::Nin | Op::Contains | Op::Icontains) || !seekable(target)
            }
        }
    }
    q.sort.iter().any(|k| !seekable(&k.target))
        || q.filter.as_ref().is_some_and(|f| scans(f, &seekable))
}

/// Fingerprint of what a list selects (its filter and locale, however encoded), carried
/// in its cursors so a cursor cannot continue a different list.
pub fn selection_fingerprint(q: &ListQuery) -> String {
    let spec = format!("{:?}|{:?}", q.filter, q.locale);
    let digest = Sha256::digest(spec.as_bytes());
    hex::encode(&digest[..6])
}

/// A `locale` parameter: a language tag, or `*` (every locale).
pub fn parse_locale(v: &str) -> Result<String, ApiError> {
    let ok = v == "*"
        || !v.is_empty()
            && v.len() <= 35
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if ok {
        Ok(v.to_string())
    } else {
        Err(bad(
            Code::InvalidParameter,
            format!(
                "`locale` must be a language tag like `en` or `pt-BR`, or `*` for every locale, got `{}`",
                clip(v)
            ),
        ))
    }
}

/// The one answer for a field the caller may not read (private on delivery, or outside
/// the grant's field rule): the same whatever the field holds, so it is no oracle.
pub fn unreadable(name: &str, what: &str) -> ApiError {
    ApiError::new(
        Code::Forbidden,
        format!(
            "you may not read field `{}`, so it cannot be used in a {what}",
            clip(name)
        ),
    )
}

fn readable_field(
    ty: &ContentTypeDef,
    name: &str,
    vis: &Visibility,
    what: &str,
) -> Result<Target, ApiError> {
    if let Some(meta) = MetaCol::parse(name, vis.surface) {
        return Ok(Target::Meta(meta));
    }
    let field = ty.field(name).ok_or_else(|| {
        let code = match what {
            "sort" => Code::InvalidSort,
            "filter" => Code::InvalidFilter,
            _ => Code::InvalidParameter,
        };
        bad(
            code,
            format!("`{}` has no field `{}` to {what} on", ty.api_id, clip(name)),
        )
    })?;
    if !vis.can_read(field) {
        return Err(unreadable(name, what));
    }
    Ok(Target::Field {
        name: field.name.clone(),
        ty: field.ty,
    })
}

pub fn parse_fields(
    ty: &ContentTypeDef,
    v: &str,
    vis: &Visibility,
) -> Result<Vec<String>, ApiError> {
    let mut out = Vec::new();
    for name in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match ty.field(name) {
            Some(f) if !vis.can_read(f) => return Err(unreadable(name, "selection")),
            Some(f) => out.push(f.name.clone()),
            None => {
                return Err(bad(
                    Code::InvalidParameter,
                    format!("`fields`: `{}` has no field `{}`", ty.api_id, clip(name)),
                ));
            }
        }
    }
    Ok(out)
}

pub fn parse_sort(
    ty: &ContentTypeDef,
    v: &str,
    vis: &Visibility,
) -> Result<Vec<SortKey>, ApiError> {
    let mut keys: Vec<SortKey> = Vec::new();
    for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (desc, name) = match part.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, part.strip_prefix('+').unwrap_or(part)),
        };
        let target = readable_field(ty, name, vis, "sort")?;
        if let Target::Field { ty: fty, .. } = &target
            && !fty.is_scalar()
        {
            return Err(bad(
                Code::InvalidSort,
                format!(
                    "cannot sort on `{name}`: `{}` fields are not sortable",
                    fty.as_str()
                ),
            ));
        }
        if keys.iter().any(|k| k.target == target) {
            return Err(bad(
                Code::InvalidSort,
                format!("`{name}` appears twice in `sort`"),
            ));
        }
        keys.push(SortKey { target, desc });
        if keys.len() > MAX_SORT_KEYS {
            return Err(bad(
                Code::InvalidSort,
                format!("sort on at most {MAX_SORT_KEYS} fields"),
            ));
        }
    }
    // `id` is always the final tie-breaker, so an explicit one adds nothing.
    if matches!(
        keys.last(),
        Some(SortKey {
            target: Target::Meta(MetaCol::Id),
            ..
        })
    ) && keys.len() > 1
    {
        return Err(bad(Code::InvalidSort, "`id` may only be sorted on alone"));
    }
    Ok(keys)
}

pub fn sort_fingerprint(sort: &[SortKey]) -> String {
    let spec: Vec<String> = sort
        .iter()
        .map(|k| format!("{}{}", if k.desc { "-" } else { "" }, k.target.name()))
        .collect();
    let digest = Sha256::digest(spec.join(",").as_bytes());
    hex::encode(&digest[..6])
}

pub fn encode_cursor(c: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_cursor(raw: &str) -> Result<Cursor, ApiError> {
    let invalid = || {
        bad(
            Code::InvalidCursor,
            "`cursor` is not one this server issued; use the `next_cursor` of the previous page",
        )
    };
    if raw.len() > 4096 {
        return Err(invalid());
    }
    let bytes = URL_SAFE_NO_PAD.decode(raw).map_err(|_| invalid())?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| invalid())?;
    uuid::Uuid::parse_str(&c.id).map_err(|_| invalid())?;
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ty() -> ContentTypeDef {
        serde_json::from_value(json!({
            "api_id": "article", "name": "Article",
            "fields": [
                {"name": "title", "type": "text"},
                {"name": "rating", "type": "integer"},
                {"name": "salary", "type": "integer", "private": true}
            ]
        }))
        .expect("schema")
    }

    fn delivery() -> Visibility {
        Visibility::full(Surface::Delivery)
    }

    fn p(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn parses_or_groups() {
        let q = parse_list_params(
            &ty(),
            &p(&[
                ("filter[or][0][rating][gte]", "4"),
                ("filter[or][1][title][eq]", "x"),
            ]),
            &delivery(),
        )
        .expect("parses");
        match q.filter {
            Some(Filter::Or(parts)) => assert_eq!(parts.len(), 2),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn refuses_unknowns() {
        let t = ty();
        let err =
            parse_list_params(&t, &p(&[("filter[nope][eq]", "1")]), &delivery()).expect_err("x");
        assert!(err.message.contains("nope"));
        let err = parse_list_params(&t, &p(&[("filter[rating][like]", "1")]), &delivery())
            .expect_err("x");
        assert!(err.message.contains("like"));
        let err = parse_list_params(&t, &p(&[("page_size", "1")]), &delivery()).expect_err("x");
        assert!(err.message.contains("page_size"));
        let err = parse_list_params(&t, &p(&[("limit", "1000000")]), &delivery()).expect_err("x");
        assert_eq!(err.code, Code::InvalidParameter);
        let err = parse_list_params(&t, &p(&[("sort", "salary")]), &delivery()).expect_err("x");
        assert_eq!(err.code, Code::Forbidden);
        let err = parse_list_params(&t, &p(&[("filter[rating][eq]", "abc")]), &delivery())
            .expect_err("x");
        assert_eq!(err.code, Code::InvalidFilter);
    }
}

#[cfg(test)]
mod field_rule_tests {
    use super::*;
    use crate::domain::access::FieldSet;
    use serde_json::json;

    #[test]
    fn fields_outside_the_grant_are_refused_like_private_ones() {
        let t: ContentTypeDef = serde_json::from_value(json!({
            "api_id": "person", "name": "Person",
            "fields": [{"name": "name", "type": "text"}, {"name": "salary", "type": "integer"}]
        }))
        .expect("schema");
        let vis = Visibility {
            surface: Surface::Manage,
            fields: FieldSet::from_rule(Some(&json!({"deny": ["salary"]}))),
        };
        let pairs = |k: &str, v: &str| vec![(k.to_string(), v.to_string())];
        for (k, v) in [
            ("filter[salary][gt]", "1"),
            ("filter[or][0][salary][eq]", "1"),
            ("sort", "-salary"),
            ("fields", "name,salary"),
        ] {
            let err = parse_list_params(&t, &pairs(k, v), &vis).expect_err(k);
            assert_eq!(err.code, Code::Forbidden, "{k}");
        }
        assert!(parse_list_params(&t, &pairs("sort", "name"), &vis).is_ok());
    }
}
