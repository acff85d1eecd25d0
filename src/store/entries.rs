//! Entry rows and their immutable versions. The row holds the working draft and, when
//! published, a copy of the published version's data, so delivery reads one row.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, QueryResult};
use serde_json::Value;

use super::{Sql, get};

#[derive(Debug, Clone, PartialEq)]
pub struct EntryRow {
    pub id: String,
    pub type_id: String,
    pub locale: String,
    /// The document this entry is one locale of (its own id when it is the first).
    pub document_id: String,
    pub owner: Option<String>,
    pub status: String,
    pub stage: String,
    pub slug: Option<String>,
    /// The slug delivery answers to: the draft's slug as of the last publish.
    pub published_slug: Option<String>,
    pub version: i32,
    pub published_version: Option<i32>,
    pub rev: i64,
    pub draft: Value,
    pub published: Option<Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub published_at: Option<DateTime<Utc>>,
}

/// The columns of an entry row. Documents are JSONB on SQLite (so `json_extract` walks a
/// binary form instead of re-parsing text on every row) and read back as text with
/// `json()`. Delivery reads leave the draft out: it is never shown there.
pub fn cols(backend: DbBackend, with_draft: bool) -> String {
    let (draft, published) = match (backend, with_draft) {
        (DbBackend::Postgres, true) => ("e.draft", "e.published"),
        (DbBackend::Postgres, false) => ("NULL::jsonb AS draft", "e.published"),
        (_, true) => ("json(e.draft) AS draft", "json(e.published) AS published"),
        (_, false) => ("NULL AS draft", "json(e.published) AS published"),
    };
    format!(
        "e.id, e.type_id, e.locale, e.document_id, e.owner, e.status, e.stage, e.slug, e.published_slug, e.version, e.published_version, e.rev, {draft}, {published}, e.created_at, e.updated_at, e.published_at"
    )
}

pub fn from_row(r: &QueryResult) -> Result<EntryRow, DbErr> {
    Ok(EntryRow {
        id: get(r, "id")?,
        type_id: get(r, "type_id")?,
        locale: get(r, "locale")?,
        document_id: get::<Option<String>>(r, "document_id")?
            .unwrap_or_else(|| get(r, "id").unwrap_or_default()),
        owner: get(r, "owner")?,
        status: get(r, "status")?,
        stage: get(r, "stage")?,
        slug: get(r, "slug")?,
        published_slug: get(r, "published_slug")?,
        version: get(r, "version")?,
        published_version: get(r, "published_version")?,
        rev: get(r, "rev")?,
        draft: get::<Option<Value>>(r, "draft")?.unwrap_or(Value::Null),
        published: get(r, "published")?,
        created_at: get(r, "created_at")?,
        updated_at: get(r, "updated_at")?,
        published_at: get(r, "published_at")?,
    })
}

/// Reads one entry of a type; `lock` takes a row lock on PostgreSQL (SQLite writes are
/// already serialized by the store's write gate).
pub async fn get_one(
    c: &impl ConnectionTrait,
    type_id: &str,
    id: &str,
    lock: bool,
) -> Result<Option<EntryRow>, DbErr> {
    let backend = c.get_database_backend();
    let mut q = Sql::new(backend);
    q.push(&format!(
        "SELECT {} FROM entries e WHERE e.type_id = ",
        cols(backend, true)
    ))
    .bind(type_id)
    .push(" AND e.id = ")
    .bind(id);
    if lock && c.get_database_backend() == DbBackend::Postgres {
        q.push(" FOR UPDATE");
    }
    q.fetch_one(c).await?.as_ref().map(from_row).transpose()
}

/// How delivery names an entry.
#[derive(Debug, Clone, Copy)]
pub enum PublishedKey<'a> {
    Id(&'a str),
    Slug(&'a str),
}

impl<'a> PublishedKey<'a> {
    /// The key's value, and whether it is a slug (else an id).
    pub fn parts(self) -> (&'a str, bool) {
        match self {
            PublishedKey::Id(id) => (id, false),
            PublishedKey::Slug(slug) => (slug, true),
        }
    }
}

/// A published entry by id or slug (delivery: the draft is never read).
pub async fn get_published(
    store: &super::Store,
    type_id: &str,
    key: PublishedKey<'_>,
    locale: Option<&str>,
) -> Result<Option<EntryRow>, DbErr> {
    store.published_by_key(type_id, key, locale).await
}

/// The published entries of a type (in `locale`) with these ids, or these slugs
/// (`by_slug`), in one statement: every row [`published_sql`] would choose from for each
/// key (for a slug without a locale, one per locale; the caller takes the earliest). One
/// key is compared with `=`.
pub(super) fn published_by_keys_sql(
    backend: DbBackend,
    type_id: &str,
    by_slug: bool,
    keys: &[&str],
    locale: Option<&str>,
) -> Sql {
    let mut q = Sql::new(backend);
    q.push(&format!(
        "SELECT {} FROM entries e WHERE e.type_id = ",
        cols(backend, false)
    ))
    .bind(type_id)
    .push(if by_slug {
        " AND e.published_slug "
    } else {
        " AND e.id "
    });
    match keys {
        [one] => q.push("= ").bind(*one),
        _ => q.push("IN ").bind_in(keys.iter().copied()),
    };
    if let Some(locale) = locale {
        q.push(" AND e.locale = ").bind(locale);
    }
    q.push(" AND e.published_version IS NOT NULL");
    q
}

pub(super) fn published_sql(
    backend: DbBackend,
    type_id: &str,
    key: PublishedKey<'_>,
    locale: Option<&str>,
) -> Sql {
    let (value, by_slug) = key.parts();
    let mut q = published_by_keys_sql(backend, type_id, by_slug, &[value], locale);
    // The earliest entry when several locales match (a slug without a locale). On
    // SQLite `+` keeps the order off the `(type_id, created_at)` index: given that index
    // for `LIMIT 1`, it walked the type in creation order looking for the slug (O(type))
    // instead of seeking the slug's index and ordering the few rows found.
    q.push(if backend == DbBackend::Postgres {
        " ORDER BY e.created_at LIMIT 1"
    } else {
        " ORDER BY +e.created_at LIMIT 1"
    });
    q
}

/// The entries of these documents in these locales, in one statement: published ones
/// (without drafts) when `published_only`, every one with its draft otherwise.
pub async fn of_documents(
    c: &impl super::Reads,
    type_id: &str,
    documents: &[&str],
    locales: Option<&[String]>,
    published_only: bool,
) -> Result<Vec<EntryRow>, DbErr> {
    if documents.is_empty() || locales.is_some_and(<[String]>::is_empty) {
        return Ok(Vec::new());
    }
    let backend = c.backend();
    let mut q = Sql::new(backend);
    q.push(&format!(
        "SELECT {} FROM entries e WHERE e.type_id = ",
        cols(backend, !published_only)
    ))
    .bind(type_id)
    .push(" AND e.document_id IN ")
    .bind_in(documents.iter().copied());
    if let Some(locales) = locales {
        q.push(" AND e.locale IN ")
            .bind_in(locales.iter().map(String::as_str));
    }
    if published_only {
        q.push(" AND e.published_version IS NOT NULL");
    }
    q.push(" ORDER BY e.id");
    c.fetch(q).await?.iter().map(from_row).collect()
}

/// Entries of a type by id, in one statement: the published ones for delivery
/// (`published_only`, without the draft), all of them with their drafts otherwise. Ids
/// that match nothing are simply absent from the answer.
pub async fn get_many(
    c: &impl super::Reads,
    type_id: &str,
    ids: &[&str],
    published_only: bool,
) -> Result<Vec<EntryRow>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    c.fetch_entries(by_ids_sql(c.backend(), type_id, ids, published_only))
        .await
}

/// The statement of [`get_many`].
pub(super) fn by_ids_sql(
    backend: DbBackend,
    type_id: &str,
    ids: &[&str],
    published_only: bool,
) -> Sql {
    let mut q = Sql::new(backend);
    q.push(&format!(
        "SELECT {} FROM entries e WHERE e.type_id = ",
        cols(backend, !published_only)
    ))
    .bind(type_id)
    .push(" AND e.id IN ")
    .bind_in(ids.iter().copied());
    if published_only {
        q.push(" AND e.published_version IS NOT NULL");
    }
    q
}

/// Published entries in (type, id) order after `after`, for the sync API: of the types in
/// `any` whoever owns them, of the types in `own` only `owner`'s, optionally of one
/// locale. Never reads drafts.
pub async fn published_page(
    c: &impl ConnectionTrait,
    any: &[&str],
    own: &[&str],
    owner: Option<&str>,
    locale: Option<&str>,
    after: Option<(&str, &str)>,
    limit: u64,
) -> Result<Vec<EntryRow>, DbErr> {
    let own = if owner.is_some() { own } else { &[] };
    if any.is_empty() && own.is_empty() {
        return Ok(Vec::new());
    }
    let backend = c.get_database_backend();
    let mut q = Sql::new(backend);
    q.push(&format!(
        "SELECT {} FROM entries e WHERE e.published_version IS NOT NULL AND (",
        cols(backend, false)
    ));
    let list = |q: &mut Sql, types: &[&str]| {
        q.push("e.type_id IN ").bind_in(types.iter().copied());
    };
    if !any.is_empty() {
        list(&mut q, any);
    }
    if let (false, Some(owner)) = (own.is_empty(), owner) {
        if !any.is_empty() {
            q.push(" OR ");
        }
        q.push("(");
        list(&mut q, own);
        q.push(" AND e.owner = ").bind(owner).push(")");
    }
    q.push(")");
    if let Some(locale) = locale {
        q.push(" AND e.locale = ").bind(locale);
    }
    if let Some((t, id)) = after {
        // A row comparison: both planners seek with it on (type_id, id).
        q.push(" AND (e.type_id, e.id) > (")
            .bind(t)
            .push(", ")
            .bind(id)
            .push(")");
    }
    q.push(" ORDER BY e.type_id, e.id LIMIT ")
        .bind(limit as i64);
    q.fetch_all(c).await?.iter().map(from_row).collect()
}

pub async fn insert(c: &impl ConnectionTrait, e: &EntryRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO entries (id, type_id, locale, document_id, owner, status, stage, slug, published_slug, version, published_version, rev, draft, published, created_at, updated_at, published_at) VALUES (")
        .bind(e.id.as_str()).push(", ")
        .bind(e.type_id.as_str()).push(", ")
        .bind(e.locale.as_str()).push(", ")
        .bind(e.document_id.as_str()).push(", ")
        .bind(e.owner.clone()).push(", ")
        .bind(e.status.as_str()).push(", ")
        .bind(e.stage.as_str()).push(", ")
        .bind(e.slug.clone()).push(", ")
        .bind(e.published_slug.clone()).push(", ")
        .bind(e.version).push(", ")
        .bind(e.published_version).push(", ")
        .bind(e.rev).push(", ")
        .bind_doc(Some(&e.draft)).push(", ")
        .bind_doc(e.published.as_ref()).push(", ")
        .bind_ts(e.created_at).push(", ")
        .bind_ts(e.updated_at).push(", ")
        .bind_ts_opt(e.published_at).push(")");
    q.execute(c).await.map(|_| ())
}

/// Writes every mutable column of the row.
pub async fn update(c: &impl ConnectionTrait, e: &EntryRow) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("UPDATE entries SET owner = ")
        .bind(e.owner.clone())
        .push(", status = ")
        .bind(e.status.as_str())
        .push(", stage = ")
        .bind(e.stage.as_str())
        .push(", slug = ")
        .bind(e.slug.clone())
        .push(", published_slug = ")
        .bind(e.published_slug.clone())
        .push(", version = ")
        .bind(e.version)
        .push(", published_version = ")
        .bind(e.published_version)
        .push(", rev = ")
        .bind(e.rev)
        .push(", draft = ")
        .bind_doc(Some(&e.draft))
        .push(", published = ")
        .bind_doc(e.published.as_ref())
        .push(", updated_at = ")
        .bind_ts(e.updated_at)
        .push(", published_at = ")
        .bind_ts_opt(e.published_at)
        .push(" WHERE id = ")
        .bind(e.id.as_str());
    q.execute(c).await.map(|_| ())
}

/// Deletes an entry for good with everything kept about it (a type's deletion; single
/// entries go to the trash instead).
pub async fn delete(c: &impl ConnectionTrait, id: &str) -> Result<(), DbErr> {
    for table in [
        "entry_versions",
        "entry_transitions",
        "schedules",
        "entry_comments",
    ] {
        let mut q = Sql::new(c.get_database_backend());
        q.push(&format!("DELETE FROM {table} WHERE entry_id = "))
            .bind(id);
        q.execute(c).await?;
    }
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM entries WHERE id = ").bind(id);
    q.execute(c).await.map(|_| ())
}

pub async fn count_of_type(c: &impl ConnectionTrait, type_id: &str) -> Result<i64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT COUNT(*) AS n FROM entries WHERE type_id = ")
        .bind(type_id);
    match q.fetch_one(c).await? {
        Some(r) => get(&r, "n"),
        None => Ok(0),
    }
}

/// All entries of a type (for schema-change checks); drafts and published copies.
pub async fn all_of_type(c: &impl ConnectionTrait, type_id: &str) -> Result<Vec<EntryRow>, DbErr> {
    let backend = c.get_database_backend();
    let mut q = Sql::new(backend);
    q.push(&format!(
        "SELECT {} FROM entries e WHERE e.type_id = ",
        cols(backend, true)
    ))
    .bind(type_id);
    q.fetch_all(c).await?.iter().map(from_row).collect()
}

/// Entries of a type in id order after `after` (`""`: from the first), with drafts: the
/// search index's reindexing walks a type with it.
pub async fn page_of_type(
    c: &impl ConnectionTrait,
    type_id: &str,
    after: &str,
    limit: u64,
) -> Result<Vec<EntryRow>, DbErr> {
    let backend = c.get_database_backend();
    let mut q = Sql::new(backend);
    q.push(&format!(
        "SELECT {} FROM entries e WHERE e.type_id = ",
        cols(backend, true)
    ))
    .bind(type_id)
    .push(" AND e.id > ")
    .bind(after)
    .push(" ORDER BY e.id LIMIT ")
    .bind(limit as i64);
    q.fetch_all(c).await?.iter().map(from_row).collect()
}

pub async fn slug_taken(
    c: &impl ConnectionTrait,
    type_id: &str,
    locale: &str,
    slug: &str,
    except_id: Option<&str>,
) -> Result<bool, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT id FROM entries WHERE type_id = ")
        .bind(type_id)
        .push(" AND locale = ")
        .bind(locale)
        .push(" AND (slug = ")
        .bind(slug)
        .push(" OR published_slug = ")
        .bind(slug)
        .push(")");
    if let Some(id) = except_id {
        q.push(" AND id <> ").bind(id);
    }
    q.push(" LIMIT 1");
    Ok(q.fetch_one(c).await?.is_some())
}

/// Whether another entry's draft already holds `value` in `field` (unique validation).
pub async fn value_taken(
    c: &impl ConnectionTrait,
    type_id: &str,
    locale: &str,
    field: &str,
    value: &Value,
    except_id: Option<&str>,
) -> Result<bool, DbErr> {
    let backend = c.get_database_backend();
    let mut q = Sql::new(backend);
    q.push("SELECT id FROM entries e WHERE e.type_id = ")
        .bind(type_id)
        .push(" AND e.locale = ")
        .bind(locale)
        .push(" AND ");
    // Compare JSON to JSON so numbers, booleans and strings all match exactly.
    match backend {
        DbBackend::Postgres => {
            q.push(&format!("(e.draft -> '{field}') = "))
                .bind_json(value)
                .push("::jsonb");
        }
        _ => {
            q.push(&format!(
                "json_extract(e.draft, '$.\"{field}\"') = json_extract("
            ))
            .bind(serde_json::json!([value]).to_string())
            .push(", '$[0]')");
        }
    }
    if let Some(id) = except_id {
        q.push(" AND e.id <> ").bind(id);
    }
    q.push(" LIMIT 1");
    Ok(q.fetch_one(c).await?.is_some())
}

/// Which of `ids` exist as entries of `type_id`.
pub async fn existing_ids(
    c: &impl ConnectionTrait,
    type_id: &str,
    ids: &[String],
) -> Result<Vec<String>, DbErr> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT id FROM entries WHERE type_id = ")
        .bind(type_id)
        .push(" AND id IN ")
        .bind_in(ids.iter().map(String::as_str));
    q.fetch_all(c).await?.iter().map(|r| get(r, "id")).collect()
}

#[derive(Debug, Clone)]
pub struct VersionRow {
    pub entry_id: String,
    pub n: i32,
    pub data: Value,
    pub author: Option<String>,
    pub message: Option<String>,
    pub created_at: DateTime<Utc>,
}

fn version_from_row(r: &QueryResult) -> Result<VersionRow, DbErr> {
    Ok(VersionRow {
        entry_id: get(r, "entry_id")?,
        n: get(r, "n")?,
        data: get(r, "data")?,
        author: get(r, "author")?,
        message: get(r, "message")?,
        created_at: get(r, "created_at")?,
    })
}

pub async fn insert_version(
    c: &impl ConnectionTrait,
    type_id: &str,
    v: &VersionRow,
) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO entry_versions (entry_id, n, type_id, data, author, message, created_at) VALUES (")
        .bind(v.entry_id.as_str()).push(", ")
        .bind(v.n).push(", ")
        .bind(type_id).push(", ")
        .bind_json(&v.data).push(", ")
        .bind(v.author.clone()).push(", ")
        .bind(v.message.clone()).push(", ")
        .bind_ts(v.created_at).push(")");
    q.execute(c).await.map(|_| ())
}

pub async fn list_versions(
    c: &impl ConnectionTrait,
    entry_id: &str,
    before: Option<i32>,
    limit: u64,
) -> Result<Vec<VersionRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT entry_id, n, data, author, message, created_at FROM entry_versions WHERE entry_id = ").bind(entry_id);
    if let Some(before) = before {
        q.push(" AND n < ").bind(before);
    }
    q.push(" ORDER BY n DESC LIMIT ").bind(limit as i64);
    q.fetch_all(c).await?.iter().map(version_from_row).collect()
}

pub async fn get_version(
    c: &impl ConnectionTrait,
    entry_id: &str,
    n: i32,
) -> Result<Option<VersionRow>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT entry_id, n, data, author, message, created_at FROM entry_versions WHERE entry_id = ")
        .bind(entry_id)
        .push(" AND n = ")
        .bind(n);
    q.fetch_one(c)
        .await?
        .as_ref()
        .map(version_from_row)
        .transpose()
}

/// Prunes an entry's old versions under a retention rule: a version goes only when it
/// is older than the newest `keep_last` and than `keep_days` (where given), is not the
/// published version, and no pending schedule names it. Returns how many went.
pub async fn prune_versions(
    c: &impl ConnectionTrait,
    row: &EntryRow,
    keep_last: Option<u32>,
    keep_days: Option<u32>,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM entry_versions WHERE entry_id = ")
        .bind(row.id.as_str());
    if let Some(n) = keep_last {
        q.push(" AND n <= ").bind(row.version - n as i32);
    }
    if let Some(d) = keep_days {
        q.push(" AND created_at < ")
            .bind_ts(now - chrono::Duration::days(i64::from(d)));
    }
    if let Some(p) = row.published_version {
        q.push(" AND n <> ").bind(p);
    }
    q.push(" AND n <> ").bind(row.version);
    q.push(" AND n NOT IN (SELECT version FROM schedules WHERE entry_id = ")
        .bind(row.id.as_str())
        .push(" AND status = 'pending' AND version IS NOT NULL)");
    q.execute(c).await
}

/// How many versions of an entry are kept.
pub async fn count_versions(c: &impl ConnectionTrait, entry_id: &str) -> Result<i64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT COUNT(*) AS n FROM entry_versions WHERE entry_id = ")
        .bind(entry_id);
    match q.fetch_one(c).await? {
        Some(r) => get(&r, "n"),
        None => Ok(0),
    }
}

/// The retention sweep for one type: prunes versions older than `keep_days` (and beyond
/// the newest `keep_last`, when given) of every live entry of the type, with the same
/// exceptions as [`prune_versions`]. Trashed entries keep their history.
pub async fn prune_type_versions(
    c: &impl ConnectionTrait,
    type_id: &str,
    keep_last: Option<u32>,
    keep_days: u32,
    now: DateTime<Utc>,
) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM entry_versions WHERE type_id = ")
        .bind(type_id)
        .push(" AND created_at < ")
        .bind_ts(now - chrono::Duration::days(i64::from(keep_days)))
        .push(
            " AND EXISTS (SELECT 1 FROM entries e WHERE e.id = entry_versions.entry_id \
             AND entry_versions.n <> e.version \
             AND (e.published_version IS NULL OR entry_versions.n <> e.published_version)",
        );
    if let Some(n) = keep_last {
        q.push(" AND entry_versions.n <= e.version - ")
            .bind(i64::from(n));
    }
    q.push(
        ") AND NOT EXISTS (SELECT 1 FROM schedules s WHERE s.entry_id = entry_versions.entry_id \
         AND s.status = 'pending' AND s.version = entry_versions.n)",
    );
    q.execute(c).await
}
