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

fn push_where(q: &mut Sql, spec: &ListSpec<'_>) {
    q.push(" WHERE ");
    push_type(q, spec.type_id);
    if spec.surface == Surface::Delivery {
        q.push(" AND e.published_version IS NOT NULL");
    }
    if let Some(owner) = spec.owner {
        q.push(" AND e.owner = ").bind(owner);
    }
    if let Some(locale) = &spec.query.locale {
        q.push(" AND e.locale = ").bind(locale.clone());
    }
    if let Some(f) = &spec.query.filter {
        q.push(" AND ");
        push_filter(q, spec.surface, f);
    }
}

/// Columns that hold a value in every row the list can return.
fn never_null(surface: Surface, target: &Target) -> bool {
    match target {
        Target::Meta(MetaCol::PublishedAt) => surface == Surface::Delivery,
        Target::Meta(_) => true,
        Target::Field { .. } => false,
    }
}

/// One page of entries (`limit + 1` rows are read to know whether more follow).
pub async fn list_page(
    c: &impl ConnectionTrait,
    spec: &ListSpec<'_>,
) -> Result<Vec<EntryRow>, DbErr> {
    list_page_sql(c.get_database_backend(), spec)
        .fetch_all(c)
        .await?
        .iter()
        .map(from_row)
        .collect()
}

/// [`list_page`] on the store, as a bounded read (`Store::fetch_bounded`) when the list
/// may scan.
pub async fn list_page_in(
    store: &Store,
    spec: &ListSpec<'_>,
    bounded: bool,
) -> Result<Vec<EntryRow>, DbErr> {
    if !bounded {
        return list_page(store.db(), spec).await;
    }
    let rows = store
        .fetch_bounded(list_page_sql(store.backend(), spec))
        .await?;
    rows.iter().map(from_row).collect()
}

/// [`count`] on the store, bounded like [`list_page_in`].
pub async fn count_in(store: &Store, spec: &ListSpec<'_>, bounded: bool) -> Result<i64, DbErr> {
    if !bounded {
        return count(store.db(), spec).await;
    }
    count_of(
        &store
            .fetch_bounded(count_sql(store.backend(), spec))
            .await?,
    )
}

fn list_page_sql(backend: DbBackend, spec: &ListSpec<'_>) -> Sql {
    let mut q = Sql::new(backend);
    q.push(&format!(
        "SELECT {} FROM entries e",
        cols(backend, spec.surface == Surface::Manage)
    ));
    push_where(&mut q, spec);
    let id_desc = spec.sort.last().is_some_and(|k| k.desc);
    if let Some((values, id)) = &spec.after {
        q.push(" AND (");
        // Lexicographic "after": for each key i, equal on keys before i and past key i.
        for i in 0..=spec.sort.len() {
            if i > 0 {
                q.push(" OR ");
            }
            q.push("(");
            for (j, key) in spec.sort.iter().take(i).enumerate() {
                let x = expr(backend, spec.surface, &key.target);
                match &values[j] {
                    None => q.push(&format!("{x} IS NULL AND ")),
                    Some(v) => {
                        q.push(&format!("{x} = "));
                        bind_scalar(&mut q, v);
                        q.push(" AND ")
                    }
                };
            }
            if i == spec.sort.len() {
                q.push(if id_desc { "e.id < " } else { "e.id > " })
                    .bind(id.clone());
            } else {
                let key = &spec.sort[i];
                let x = expr(backend, spec.surface, &key.target);
                match (&values[i], key.desc) {
                    (None, false) => q.push("1=0"),
                    (None, true) => q.push(&format!("{x} IS NOT NULL")),
                    (Some(v), false) => {
                        q.push(&format!("({x} IS NULL OR {x} > "));
                        bind_scalar(&mut q, v);
                        q.push(")")
                    }
                    (Some(v), true) => {
                        q.push(&format!("{x} < "));
                        bind_scalar(&mut q, v);
                        &mut q
                    }
                };
            }
            q.push(")");
        }
        q.push(")");
    }
    q.push(" ORDER BY ");
    for key in spec.sort {
        let x = expr(backend, spec.surface, &key.target);
        let order = match (key.desc, never_null(spec.surface, &key.target)) {
            // Without NULLs the null placement is moot; leaving it out lets SQLite read
            // the order straight from an index instead of sorting.
            (true, true) => " DESC, ",
            (false, true) => " ASC, ",
            (true, false) => " DESC NULLS FIRST, ",
            (false, false) => " ASC NULLS LAST, ",
        };
        q.push(&x).push(order);
    }
    q.push(if id_desc { "e.id DESC" } else { "e.id ASC" });
    q.push(" LIMIT ").bind(spec.query.limit as i64 + 1);
    q
}

pub async fn count(c: &impl ConnectionTrait, spec: &ListSpec<'_>) -> Result<i64, DbErr> {
    count_of(
        &count_sql(c.get_database_backend(), spec)
            .fetch_all(c)
            .await?,
    )
}

fn count_sql(backend: DbBackend, spec: &ListSpec<'_>) -> Sql {
    let mut q = Sql::new(backend);
    q.push("SELECT COUNT(*) AS n FROM entries e");
    push_where(&mut q, spec);
    q
}

fn count_of(rows: &[sea_orm::QueryResult]) -> Result<i64, DbErr> {
    match rows.first() {
        Some(r) => get(r, "n"),
        None => Ok(0),
    }
}
