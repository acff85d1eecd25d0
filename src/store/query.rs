//! Turns a parsed [`ListQuery`] into SQL for the backend: JSON field expressions with the
//! right casts, the filter tree, keyset pagination over (sort keys…, id), and the count.
//!
//! Field names in SQL text are safe to inline: the domain only lets through names that
//! exist in the content type, and those match `[A-Za-z][A-Za-z0-9_]*`.
//! Order is nulls-last ascending / nulls-first descending on both backends (NULL sorts as
//! the largest value), which the keyset conditions below rely on.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};

use super::entries::{EntryRow, cols, from_row};
use super::{Sql, Store, get};
use crate::domain::locale::Selection;
use crate::domain::query::{Filter, ListQuery, MetaCol, Op, Scalar, SortKey, Surface, Target};
use crate::domain::schema::FieldType;

/// A list request after parsing: the query plus what the store must know besides.
pub struct ListSpec<'a> {
    pub type_id: &'a str,
    pub surface: Surface,
    /// Only entries of this owner (an owner-only grant).
    pub owner: Option<&'a str>,
    pub query: &'a ListQuery,
    /// The effective sort (never empty; the id tie-breaker is added here).
    pub sort: &'a [SortKey],
    /// Cursor values as typed scalars (`None` = the row had no value).
    pub after: Option<(Vec<Option<Scalar>>, String)>,
    /// Which locales: all, one, or per document the first of a fallback chain.
    pub locales: &'a Selection,
    /// The filter matches many rows ([`WALK_ABOVE`] or more) and the sort keys are
    /// indexed: on SQLite the filter's conditions are kept away from the indexes (see
    /// [`walks_sort`]).
    pub broad: bool,
}

/// From how many matches a page reads the sort key's index in order, filtering as it
/// goes, rather than the filter's index and sorting what it finds: with `m` of `n` rows
/// matching, the walk reads about `limit · n / m` rows, the other way `m` plus a sort.
/// Ten thousand is past the break-even (`m² = limit · n`) up to types of five million
/// entries for pages of twenty, and it is as far as the first page's count looks.
pub const WALK_ABOVE: i64 = 10_000;

/// Whether this page's statement keeps the filter off the indexes so that SQLite walks
/// the leading sort key's index. SQLite's planner does not weigh `LIMIT`: with a filter
/// on one indexed field and a sort on another it reads every match through the filter's
/// index and sorts them (1.7 s for a first page with a third of a million matches), when
/// walking the sort's index finds the twenty within a few dozen rows. PostgreSQL weighs
/// the limit itself. Not when a condition is on the sort key: its range is the walk's
/// start.
fn walks_sort(backend: DbBackend, spec: &ListSpec<'_>) -> bool {
    let (Some(lead), Some(filter)) = (spec.sort.first(), spec.query.filter.as_ref()) else {
        return false;
    };
    backend == DbBackend::Sqlite && spec.broad && !filter.mentions(&lead.target)
}

fn expr(backend: DbBackend, surface: Surface, target: &Target) -> String {
    let data = match surface {
        Surface::Delivery => "e.published",
        Surface::Manage => "e.draft",
    };
    match target {
        Target::Meta(m) => format!("e.{}", m.column()),
        Target::Field { name, ty } => field_expr(backend, data, name, *ty),
    }
}

/// The SQL expression for a top-level field of the JSON document in column `data`. Field
/// indexes (`store::indexes`) are built on exactly this expression, so keep them in step.
///
/// On PostgreSQL the casts are guarded: a value that is not of the field's kind (another
/// type's field of the same name, a document written before a type change) reads as NULL
/// instead of failing the statement, so no row can make a query or an index insert error.
pub fn field_expr(backend: DbBackend, data: &str, name: &str, ty: FieldType) -> String {
    match backend {
        DbBackend::Postgres => {
            let text = format!("({data}->>'{name}')");
            match ty {
                FieldType::Integer => {
                    format!("(CASE WHEN {text} ~ '^-?[0-9]{{1,18}}$' THEN {text}::bigint END)")
                }
                FieldType::Decimal => format!(
                    "(CASE WHEN jsonb_typeof({data}->'{name}') = 'number' THEN {text}::float8 END)"
                ),
                FieldType::Boolean => format!(
                    "(CASE WHEN jsonb_typeof({data}->'{name}') = 'boolean' THEN {text}::boolean END)"
                ),
                _ => text,
            }
        }
        _ => {
            let raw = format!("json_extract({data}, '$.\"{name}\"')");
            match ty {
                FieldType::Decimal => format!("CAST({raw} AS REAL)"),
                _ => raw,
            }
        }
    }
}

/// `e.type_id = …`: the api id inlined when it is well formed (so partial field indexes
/// match), bound otherwise.
fn push_type(q: &mut Sql, type_id: &str) {
    match super::indexes::type_literal(type_id) {
        Some(literal) => q.push(&format!("e.type_id = {literal}")),
        None => q.push("e.type_id = ").bind(type_id),
    };
}

fn bind_scalar(q: &mut Sql, v: &Scalar) {
    match v {
        Scalar::Str(s) => q.bind(s.clone()),
        Scalar::Int(i) => q.bind(*i),
        Scalar::Float(f) => q.bind(*f),
        Scalar::Bool(b) => q.bind(*b),
        Scalar::Ts(t) => q.bind_ts(*t),
    };
}

fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

fn push_filter(q: &mut Sql, surface: Surface, f: &Filter) {
    let backend = q.backend();
    match f {
        Filter::And(parts) | Filter::Or(parts) => {
            if parts.is_empty() {
                q.push(if matches!(f, Filter::And(_)) {
                    "1=1"
                } else {
                    "1=0"
                });
                return;
            }
            let joiner = if matches!(f, Filter::And(_)) {
                " AND "
            } else {
                " OR "
            };
            q.push("(");
            for (i, p) in parts.iter().enumerate() {
                if i > 0 {
                    q.push(joiner);
                }
                push_filter(q, surface, p);
            }
            q.push(")");
        }
        Filter::Cond { target, op, values } => {
            let x = expr(backend, surface, target);
            let first = values.first();
            match op {
                Op::Null => {
                    let is_null = matches!(first, Some(Scalar::Bool(true)));
                    q.push(&format!("{x} IS {}NULL", if is_null { "" } else { "NOT " }));
                }
                Op::In | Op::Nin => {
                    if *op == Op::Nin {
                        q.push(&format!("({x} IS NULL OR {x} NOT IN ("));
                    } else {
                        q.push(&format!("{x} IN ("));
                    }
                    for (i, v) in values.iter().enumerate() {
                        if i > 0 {
                            q.push(", ");
                        }
                        bind_scalar(q, v);
                    }
                    q.push(if *op == Op::Nin { "))" } else { ")" });
                }
                Op::Contains => {
                    let f = if backend == DbBackend::Postgres {
                        "strpos"
                    } else {
                        "instr"
                    };
                    q.push(&format!("{f}({x}, "));
                    if let Some(v) = first {
                        bind_scalar(q, v);
                    }
                    q.push(") > 0");
                }
                Op::Icontains => {
                    let needle = match first {
                        Some(Scalar::Str(s)) => s.clone(),
                        _ => String::new(),
                    };
                    if backend == DbBackend::Postgres {
                        q.push(&format!("{x} ILIKE "))
                            .bind(like_escape(&needle))
                            .push(" ESCAPE '\\'");
                    } else {
                        // SQLite's LIKE and lower() fold ASCII only; REGEXP (Rust regex,
                        // registered on every connection) folds all of Unicode.
                        q.push(&format!("{x} REGEXP "))
                            .bind(format!("(?i){}", regex::escape(&needle)));
                    }
                }
                Op::Startswith => {
                    let s = match first {
                        Some(Scalar::Str(s)) => s.clone(),
                        _ => String::new(),
                    };
                    q.push(&format!("substr({x}, 1, {}) = ", s.chars().count()))
                        .bind(s);
                }
                Op::Ne => {
                    q.push(&format!("({x} IS NULL OR {x} <> "));
                    if let Some(v) = first {
                        bind_scalar(q, v);
                    }
                    q.push(")");
                }
                Op::Eq | Op::Lt | Op::Lte | Op::Gt | Op::Gte => {
                    let sym = match op {
                        Op::Eq => "=",
                        Op::Lt => "<",
                        Op::Lte => "<=",
                        Op::Gt => ">",
                        _ => ">=",
                    };
                    q.push(&format!("{x} {sym} "));
                    if let Some(v) = first {
                        bind_scalar(q, v);
                    }
                }
            }
        }
    }
}

fn push_where(q: &mut Sql, spec: &ListSpec<'_>, walk: bool) {
    q.push(" WHERE ");
    push_type(q, spec.type_id);
    if spec.surface == Surface::Delivery {
        q.push(" AND e.published_version IS NOT NULL");
    }
    if let Some(owner) = spec.owner {
        q.push(" AND e.owner = ").bind(owner);
    }
    push_locales(q, spec.locales);
    if let Some(f) = &spec.query.filter {
        // Unary `+` makes the whole filter a term no index can serve (SQLite's documented
        // way to turn an index off for a term): see `walks_sort`.
        if walk {
            q.push(" AND +(");
            push_filter(q, spec.surface, f);
            q.push(")");
        } else {
            q.push(" AND ");
            push_filter(q, spec.surface, f);
        }
    }
}

/// The locale condition. A chain `[l1, l2, …]` keeps, per document, its entry in the
/// first locale of the chain it is published in: an entry in `lN` when no entry of its
/// document is published in `l1 … lN-1` (a probe of the `(document_id, locale)` index).
fn push_locales(q: &mut Sql, sel: &Selection) {
    let chain = match sel {
        Selection::All => return,
        Selection::Exact(l) => std::slice::from_ref(l),
        Selection::Chain(c) => c.as_slice(),
    };
    if let [only] = chain {
        q.push(" AND e.locale = ").bind(only.clone());
        return;
    }
    q.push(" AND (");
    for (i, l) in chain.iter().enumerate() {
        if i > 0 {
            q.push(" OR ");
        }
        q.push("(e.locale = ").bind(l.clone());
        if i > 0 {
            q.push(" AND NOT EXISTS (SELECT 1 FROM entries s WHERE s.document_id = e.document_id AND s.published_version IS NOT NULL AND s.locale IN ")
                .bind_in(chain[..i].iter().map(String::as_str))
                .push(")");
        }
        q.push(")");
    }
    q.push(")");
}

/// Columns that hold a value in every row the list can return.
fn never_null(surface: Surface, target: &Target) -> bool {
    match target {
        Target::Meta(MetaCol::PublishedAt) => surface == Surface::Delivery,
        Target::Meta(_) => true,
        Target::Field { .. } => false,
    }
}

/// Which rows of the leading sort key a statement reads. A nullable leading key is walked
/// in two groups, its values and its NULLs (NULLs last ascending, first descending), one
/// statement per group, so that each statement's order is plain index order on both
/// backends (no `NULLS FIRST/LAST` that SQLite's indexes cannot give, no `OR x IS NULL`
/// that PostgreSQL cannot seek with).
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Group {
    All,
    Values,
    Nulls,
}

/// How a statement uses the cursor.
#[derive(Clone, Copy, PartialEq, Debug)]
pub(super) enum Seek {
    /// From the start of its group.
    Start,
    /// Everything after the cursor, in one statement.
    Whole,
    /// The cursor's ties: the same key, a later id (one sort key only).
    Ties,
    /// Strictly past the cursor's key (one sort key only).
    Past,
}

/// The statements of a page in the order they are read: the group the cursor is in (or
/// the first), then, if the page is not full yet, the next group from its start. On
/// SQLite a single-key cursor is read as its ties and then what lies past them: SQLite
/// cannot seek an expression index with a row comparison `(x, id) < (v, id0)`, and a
/// range on `x` alone would read every tie before the cursor (a key with five values
/// has ties the size of a fifth of the type). PostgreSQL seeks the row comparison.
pub(super) fn groups(spec: &ListSpec<'_>, backend: DbBackend) -> Vec<(Group, Seek)> {
    let Some(lead) = spec.sort.first() else {
        return vec![(Group::All, Seek::Whole)];
    };
    let at_value = spec
        .after
        .as_ref()
        .is_some_and(|(values, _)| values.first().is_some_and(Option::is_some));
    let seek = if spec.after.is_none() {
        vec![Seek::Start]
    } else if backend == DbBackend::Sqlite && spec.sort.len() == 1 && at_value {
        vec![Seek::Ties, Seek::Past]
    } else {
        vec![Seek::Whole]
    };
    if never_null(spec.surface, &lead.target) {
        return seek.into_iter().map(|s| (Group::All, s)).collect();
    }
    let order = if lead.desc {
        [Group::Nulls, Group::Values]
    } else {
        [Group::Values, Group::Nulls]
    };
    let current = match &spec.after {
        None => order[0],
        Some(_) if at_value => Group::Values,
        Some(_) => Group::Nulls,
    };
    let mut out: Vec<(Group, Seek)> = seek.into_iter().map(|s| (current, s)).collect();
    if current == order[0] {
        out.push((order[1], Seek::Start));
    }
    out
}

/// One page of entries (`limit + 1` rows are read to know whether more follow), as one
/// statement per group of the leading key (see [`Group`]), each run by `fetch`.
async fn page_with<F, Fut>(
    backend: DbBackend,
    spec: &ListSpec<'_>,
    fetch: F,
) -> Result<Vec<EntryRow>, DbErr>
where
    F: Fn(Sql) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<sea_orm::QueryResult>, DbErr>>,
{
    let want = spec.query.limit as usize + 1;
    let mut out = Vec::with_capacity(want);
    for (group, seek) in groups(spec, backend) {
        let sql = list_page_sql(backend, spec, group, seek, want - out.len());
        for row in fetch(sql).await? {
            out.push(from_row(&row)?);
        }
        if out.len() >= want {
            break;
        }
    }
    Ok(out)
}

/// One page of entries (`limit + 1` rows are read to know whether more follow).
pub async fn list_page(
    c: &impl ConnectionTrait,
    spec: &ListSpec<'_>,
) -> Result<Vec<EntryRow>, DbErr> {
    page_with(c.get_database_backend(), spec, |sql| sql.fetch_all(c)).await
}

/// [`list_page`] on the store, as a bounded read (`Store::fetch_bounded`) when the list
/// may scan.
pub async fn list_page_in(
    store: &Store,
    spec: &ListSpec<'_>,
    bounded: bool,
) -> Result<Vec<EntryRow>, DbErr> {
    if !bounded {
        return page_with(store.backend(), spec, |sql| store.fetch_hot(sql)).await;
    }
    page_with(store.backend(), spec, |sql| store.fetch_bounded(sql)).await
}

/// [`count`] on the store, bounded like [`list_page_in`].
/// The matches of a list, counted up to `limit + 1` when `limit` is given (an answer
/// above `limit` means "more than `limit`"), on the bounded pool when `bounded`.
pub async fn count_in(
    store: &Store,
    spec: &ListSpec<'_>,
    bounded: bool,
    limit: Option<u64>,
) -> Result<i64, DbErr> {
    let q = count_sql(store.backend(), spec, limit);
    let rows = if bounded {
        store.fetch_bounded(q).await?
    } else {
        store.fetch_hot(q).await?
    };
    count_of(&rows)
}

/// A condition on an index's leading column, for the planner to seek with. SQLite's
/// planner does not weigh `LIMIT`: from its statistics a range like "rating up to 500"
/// covers half the type, so it would rather read the whole type and sort it than walk the
/// index in order for the twenty-one rows a page needs. `unlikely()` (a no-op at run
/// time) tells it the term is selective, as it is for a page; a far more selective filter
/// on another index can still win.
fn seek_hint(backend: DbBackend) -> (&'static str, &'static str) {
    match backend {
        DbBackend::Sqlite => ("unlikely(", ")"),
        _ => ("(", ")"),
    }
}

/// Rows strictly after the cursor in the sort order, as conditions planners can seek
/// with: a range on the leading key (`x >= v` ascending, `x <= v` descending) that walks
/// the index from the cursor's place, then the exact lexicographic test (for each key i:
/// equal on the keys before it and past it on key i; last, past the id) on what that
/// range leaves, which is the cursor's ties and what follows them. In the NULL group of
/// the leading key that key is the same for every row, so the test starts at the next
/// key (and is a plain range on `id` when there is none, the index's second column).
fn push_after(q: &mut Sql, spec: &ListSpec<'_>, group: Group, values: &[Option<Scalar>], id: &str) {
    let backend = q.backend();
    let id_desc = spec.sort.last().is_some_and(|k| k.desc);
    if let (Some(lead), Some(Some(v))) = (spec.sort.first(), values.first()) {
        let x = expr(backend, spec.surface, &lead.target);
        let (open, close) = seek_hint(backend);
        if spec.sort.len() == 1 {
            // One key (and the id after it, in the same direction): a row comparison
            // seeks to the cursor's exact place in the `(x, id)` index, ties included, so
            // a key with few distinct values costs no more than one with many.
            let op = if lead.desc { "<" } else { ">" };
            q.push(&format!(" AND {open}({x}, e.id) {op} ("));
            bind_scalar(q, v);
            q.push(", ").bind(id.to_string()).push(")").push(close);
        } else {
            let op = if lead.desc { "<=" } else { ">=" };
            q.push(&format!(" AND {open}{x} {op} "));
            bind_scalar(q, v);
            q.push(close);
        }
    }
    let from = usize::from(group == Group::Nulls);
    let keys = &spec.sort[from.min(spec.sort.len())..];
    let values = &values[from.min(values.len())..];
    q.push(" AND (");
    for i in 0..=keys.len() {
        if i > 0 {
            q.push(" OR ");
        }
        q.push("(");
        for (j, key) in keys.iter().take(i).enumerate() {
            let x = expr(backend, spec.surface, &key.target);
            match &values[j] {
                None => q.push(&format!("{x} IS NULL AND ")),
                Some(v) => {
                    q.push(&format!("{x} = "));
                    bind_scalar(q, v);
                    q.push(" AND ")
                }
            };
        }
        if i == keys.len() {
            q.push(if id_desc { "e.id < " } else { "e.id > " })
                .bind(id.to_string());
        } else {
            let key = &keys[i];
            let x = expr(backend, spec.surface, &key.target);
            match (&values[i], key.desc) {
                (None, false) => q.push("1=0"),
                (None, true) => q.push(&format!("{x} IS NOT NULL")),
                (Some(v), false) => {
                    q.push(&format!("({x} IS NULL OR {x} > "));
                    bind_scalar(q, v);
                    q.push(")")
                }
                (Some(v), true) => {
                    q.push(&format!("{x} < "));
                    bind_scalar(q, v);
                    &mut *q
                }
            };
        }
        q.push(")");
    }
    q.push(")");
}

pub(super) fn list_page_sql(
    backend: DbBackend,
    spec: &ListSpec<'_>,
    group: Group,
    seek: Seek,
    limit: usize,
) -> Sql {
    let mut q = Sql::new(backend);
    q.push(&format!(
        "SELECT {} FROM entries e",
        cols(backend, spec.surface == Surface::Manage)
    ));
    let walk = walks_sort(backend, spec);
    push_where(&mut q, spec, walk);
    let lead = spec.sort.first();
    if let Some(lead) = lead {
        let x = expr(backend, spec.surface, &lead.target);
        match group {
            Group::All => {}
            Group::Values if walk => {
                // `x IS NOT NULL` as a range the planner walks the sort's index with, in
                // either direction (SQLite orders NULL < numbers < text < blobs, and
                // `-9e999` is minus infinity). Given `IS NOT NULL`, or a range inside
                // `unlikely()`/`likelihood()`, it reads the whole type and sorts it
                // instead (seen on a key with five distinct values).
                q.push(&format!(" AND {x} >= -9e999"));
            }
            Group::Values if backend == DbBackend::Sqlite => {
                let (open, close) = seek_hint(backend);
                q.push(&format!(" AND {open}{x} IS NOT NULL{close}"));
            }
            Group::Values => {
                q.push(&format!(" AND {x} IS NOT NULL"));
            }
            Group::Nulls => {
                q.push(&format!(" AND {x} IS NULL"));
            }
        }
    }
    if let Some((values, id)) = &spec.after {
        let lead = spec.sort.first();
        let v = values.first().and_then(Option::as_ref);
        match (seek, lead, v) {
            (Seek::Start, _, _) => {}
            (Seek::Ties, Some(lead), Some(v)) => {
                let x = expr(backend, spec.surface, &lead.target);
                q.push(&format!(" AND {x} = "));
                bind_scalar(&mut q, v);
                q.push(if lead.desc {
                    " AND e.id < "
                } else {
                    " AND e.id > "
                })
                .bind(id.clone());
            }
            (Seek::Past, Some(lead), Some(v)) => {
                let x = expr(backend, spec.surface, &lead.target);
                let (open, close) = seek_hint(backend);
                q.push(&format!(
                    " AND {open}{x} {} ",
                    if lead.desc { "<" } else { ">" }
                ));
                bind_scalar(&mut q, v);
                q.push(close);
            }
            _ => push_after(&mut q, spec, group, values, id),
        }
    }
    let id_desc = spec.sort.last().is_some_and(|k| k.desc);
    q.push(" ORDER BY ");
    for (i, key) in spec.sort.iter().enumerate() {
        if i == 0 && (seek == Seek::Ties || (group == Group::Nulls && backend == DbBackend::Sqlite))
        {
            // NULL in every row of this group, so nothing to order by; SQLite would not
            // see that an `IS NULL` seek already gives the order of what follows (and
            // PostgreSQL needs the key to match its index's order).
            continue;
        }
        let x = expr(backend, spec.surface, &key.target);
        // Within one group of the leading key its NULL placement is moot; leaving it out
        // (as for keys that are never NULL) lets SQLite read the order from an index.
        let plain = never_null(spec.surface, &key.target) || (i == 0 && group != Group::All);
        let order = match (key.desc, plain) {
            (true, true) => " DESC, ",
            (false, true) => " ASC, ",
            (true, false) => " DESC NULLS FIRST, ",
            (false, false) => " ASC NULLS LAST, ",
        };
        q.push(&x).push(order);
    }
    q.push(if id_desc { "e.id DESC" } else { "e.id ASC" });
    q.push(" LIMIT ").bind(limit as i64);
    q
}

pub async fn count(c: &impl ConnectionTrait, spec: &ListSpec<'_>) -> Result<i64, DbErr> {
    count_of(
        &count_sql(c.get_database_backend(), spec, None)
            .fetch_all(c)
            .await?,
    )
}

fn count_sql(backend: DbBackend, spec: &ListSpec<'_>, limit: Option<u64>) -> Sql {
    let mut q = Sql::new(backend);
    match limit {
        None => {
            q.push("SELECT COUNT(*) AS n FROM entries e");
            push_where(&mut q, spec, false);
        }
        Some(n) => {
            q.push("SELECT COUNT(*) AS n FROM (SELECT 1 FROM entries e");
            push_where(&mut q, spec, false);
            q.push(" LIMIT ")
                .bind(i64::try_from(n.saturating_add(1)).unwrap_or(i64::MAX))
                .push(") c");
        }
    }
    q
}

fn count_of(rows: &[sea_orm::QueryResult]) -> Result<i64, DbErr> {
    match rows.first() {
        Some(r) => get(r, "n"),
        None => Ok(0),
    }
}
