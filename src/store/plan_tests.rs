//! The plans the databases choose for list pages (issue 7, defect 6): a deep page walked
//! by cursor on an `indexed` field must seek into the field's index and read it in order,
//! never sort or read the type from the start. Checked with `EXPLAIN` on SQLite, and on
//! PostgreSQL when `VELLUM_TEST_POSTGRES_URL` names a server.

use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::json;

use super::Store;
use super::query::{Group, ListSpec, Seek, list_page_sql};
use crate::domain::query::{ListQuery, Scalar, SortKey, Surface, Target};
use crate::domain::schema::{ContentTypeDef, FieldType};

const ROWS: usize = 100_000;

fn movie() -> ContentTypeDef {
    serde_json::from_value(json!({"api_id": "movie", "name": "Movie", "fields": [
        {"name": "rating", "type": "integer", "indexed": true},
        {"name": "stars", "type": "integer", "indexed": true},
        {"name": "genre", "type": "enum", "values": ["drama", "comedy", "horror"], "indexed": true}]}))
    .expect("type")
}

async fn seed(store: &Store) {
    store.migrate().await.expect("migrate");
    let def = movie();
    super::content_types::insert(store.db(), &def, crate::domain::now())
        .await
        .expect("type");
    super::indexes::ensure_field_indexes(store.db(), &def)
        .await
        .expect("indexes");
    // Rows made by the database itself (one statement), as the API would store them:
    // every tenth without a rating, stars or genre, the rest spread over 0..1000, 1..5
    // stars and three genres.
    let fill = match store.backend() {
        DbBackend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < {last}) \
             INSERT INTO entries (id, type_id, locale, status, stage, slug, published_slug, version, published_version, rev, draft, published, created_at, updated_at, published_at) \
             SELECT printf('%08d', i), 'movie', 'en', 'published', 'published', 'movie-' || i, 'movie-' || i, 1, 1, 1, \
                    jsonb(CASE WHEN i % 10 = 0 THEN '{{}}' ELSE json_object('rating', (i * 7919) % 1000, 'stars', (i * 7919) % 5 + 1, 'genre', CASE i % 3 WHEN 0 THEN 'drama' WHEN 1 THEN 'comedy' ELSE 'horror' END) END), \
                    jsonb(CASE WHEN i % 10 = 0 THEN '{{}}' ELSE json_object('rating', (i * 7919) % 1000, 'stars', (i * 7919) % 5 + 1, 'genre', CASE i % 3 WHEN 0 THEN 'drama' WHEN 1 THEN 'comedy' ELSE 'horror' END) END), \
                    '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z' FROM n",
            last = ROWS - 1
        ),
        _ => format!(
            "INSERT INTO entries (id, type_id, locale, status, stage, slug, published_slug, version, published_version, rev, draft, published, created_at, updated_at, published_at) \
             SELECT lpad(i::text, 8, '0'), 'movie', 'en', 'published', 'published', 'movie-' || i, 'movie-' || i, 1, 1, 1, d, d, now(), now(), now() \
             FROM (SELECT i, CASE WHEN i % 10 = 0 THEN '{{}}'::jsonb ELSE jsonb_build_object('rating', (i::bigint * 7919) % 1000, 'stars', (i::bigint * 7919) % 5 + 1, 'genre', (ARRAY['drama', 'comedy', 'horror'])[i % 3 + 1]) END AS d \
                   FROM generate_series(0, {last}) AS i) s",
            last = ROWS - 1
        ),
    };
    store.db().execute_unprepared(&fill).await.expect("fill");
    store
        .db()
        .execute_unprepared(if store.backend() == DbBackend::Sqlite {
            "ANALYZE"
        } else {
            "ANALYZE entries"
        })
        .await
        .expect("analyze");
}

fn query() -> ListQuery {
    ListQuery {
        filter: None,
        sort: Vec::new(),
        fields: None,
        limit: 20,
        cursor: None,
        locale: None,
        populate: None,
    }
}

fn by_rating(desc: bool) -> [SortKey; 1] {
    by("rating", desc)
}

fn by(field: &str, desc: bool) -> [SortKey; 1] {
    [SortKey {
        target: Target::Field {
            name: field.into(),
            ty: FieldType::Integer,
        },
        desc,
    }]
}

/// The plan of the statement for a page deep into `sort=-rating` / `sort=rating`.
async fn plan(store: &Store, desc: bool, group: Group, seek: Seek, cursor: Option<i64>) -> String {
    let q = query();
    let sort = by_rating(desc);
    let spec = ListSpec {
        type_id: "movie",
        surface: Surface::Delivery,
        owner: None,
        query: &q,
        sort: &sort,
        after: Some((vec![cursor.map(Scalar::Int)], "00001500".into())),
        locales: &crate::domain::locale::Selection::All,
        broad: false,
    };
    explain(store, &spec, group, seek).await
}

/// The plan of the first page of `filter[genre][eq]=drama&sort=-{field}` (a third of the
/// rows match), its filter counted `broad` or not.
async fn first_page_plan(store: &Store, field: &str, broad: bool) -> String {
    let mut q = query();
    q.filter = Some(crate::domain::query::Filter::Cond {
        target: Target::Field {
            name: "genre".into(),
            ty: FieldType::Enum,
        },
        op: crate::domain::query::Op::Eq,
        values: vec![Scalar::Str("drama".into())],
    });
    let sort = by(field, true);
    let spec = ListSpec {
        type_id: "movie",
        surface: Surface::Delivery,
        owner: None,
        query: &q,
        sort: &sort,
        after: None,
        locales: &crate::domain::locale::Selection::All,
        broad,
    };
    explain(store, &spec, Group::Values, Seek::Start).await
}

async fn explain(store: &Store, spec: &ListSpec<'_>, group: Group, seek: Seek) -> String {
    explain_sql(store, list_page_sql(store.backend(), spec, group, seek, 21)).await
}

/// The plan of a statement, a line per step.
async fn explain_sql(store: &Store, sql: super::Sql) -> String {
    let backend = store.backend();
    let explain = match backend {
        DbBackend::Sqlite => format!("EXPLAIN QUERY PLAN {}", sql.text),
        _ => format!("EXPLAIN {}", sql.text),
    };
    let tx = store.db().begin().await.expect("begin");
    if backend == DbBackend::Sqlite {
        // Statistics reach a connection when it (re)loads the schema; this one may have
        // opened before `ANALYZE` ran elsewhere.
        tx.execute_unprepared("ANALYZE sqlite_schema")
            .await
            .expect("load statistics");
    }
    if backend == DbBackend::Postgres {
        // A table this small is cheap to scan whole; what matters is whether the index
        // *can* give the page, so make the alternative look as dear as it is at scale.
        tx.execute_unprepared("SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off")
            .await
            .expect("set");
    }
    let rows = tx
        .query_all_raw(Statement::from_sql_and_values(backend, explain, sql.values))
        .await
        .expect("explain");
    let column = if backend == DbBackend::Sqlite {
        "detail"
    } else {
        "QUERY PLAN"
    };
    let lines: Vec<String> = rows
        .iter()
        .map(|r| r.try_get::<String>("", column).expect("plan line"))
        .collect();
    lines.join("\n")
}

/// A first page filtered on one indexed field and sorted on another, with many matches:
/// read in the sort's index order, never every match sorted (SQLite, by `broad`;
/// PostgreSQL weighs the limit itself); on a key of many values and one of five.
async fn check_first_page(store: &Store) {
    for field in ["rating", "stars"] {
        check_first_page_by(store, field).await;
    }
}

async fn check_first_page_by(store: &Store, field: &str) {
    let plan = first_page_plan(store, field, true).await;
    let sorts = match store.backend() {
        DbBackend::Sqlite => plan.contains("TEMP B-TREE"),
        _ => plan.lines().any(|l| {
            let l = l.trim_start().trim_start_matches("->").trim_start();
            l.starts_with("Sort") || l.starts_with("Incremental Sort")
        }),
    };
    assert!(
        !sorts,
        "a broad filter's first page by {field} sorts its matches:\n{plan}"
    );
    if store.backend() == DbBackend::Sqlite {
        assert!(plan.contains("USING INDEX ixf_"), "no field index:\n{plan}");
        // What `broad` is for: without it SQLite reads every match of the filter's index
        // and sorts them (if this ever stops, the hint has become unneeded).
        let narrow = first_page_plan(store, field, false).await;
        assert!(narrow.contains("TEMP B-TREE"), "{narrow}");
    }
}

/// Reading the broad way returns the very rows the narrow way does, on the first page
/// and from a cursor on, both directions (the `+(…)` filter and the `-9e999` range are
/// plan hints only).
async fn check_same_rows(store: &Store) {
    let mut q = query();
    q.filter = Some(crate::domain::query::Filter::Cond {
        target: Target::Field {
            name: "genre".into(),
            ty: FieldType::Enum,
        },
        op: crate::domain::query::Op::Eq,
        values: vec![Scalar::Str("comedy".into())],
    });
    for desc in [true, false] {
        let sort = by_rating(desc);
        for after in [
            None,
            Some((vec![Some(Scalar::Int(500))], "00050000".to_string())),
        ] {
            let mut pages = Vec::new();
            for broad in [false, true] {
                let spec = ListSpec {
                    type_id: "movie",
                    surface: Surface::Delivery,
                    owner: None,
                    query: &q,
                    sort: &sort,
                    after: after.clone(),
                    locales: &crate::domain::locale::Selection::All,
                    broad,
                };
                let rows = super::query::list_page(store.db(), &spec)
                    .await
                    .expect("page");
                let ids: Vec<String> = rows.into_iter().map(|r| r.id).collect();
                assert_eq!(ids.len(), 21, "a full page and one more");
                pages.push(ids);
            }
            assert_eq!(pages[0], pages[1], "desc={desc} after={after:?}");
        }
    }
}

async fn check(store: &Store) {
    check_slug_read(store).await;
    check_first_page(store).await;
    check_same_rows(store).await;
    let sqlite = store.backend() == DbBackend::Sqlite;
    let cases: Vec<(bool, Group, Seek, Option<i64>)> = if sqlite {
        vec![
            (true, Group::Values, Seek::Ties, Some(500)),
            (true, Group::Values, Seek::Past, Some(500)),
            (false, Group::Values, Seek::Ties, Some(500)),
            (false, Group::Values, Seek::Past, Some(500)),
            (true, Group::Nulls, Seek::Whole, None),
            (false, Group::Nulls, Seek::Whole, None),
        ]
    } else {
        vec![
            (true, Group::Values, Seek::Whole, Some(500)),
            (false, Group::Values, Seek::Whole, Some(500)),
            (true, Group::Nulls, Seek::Whole, None),
            (false, Group::Nulls, Seek::Whole, None),
        ]
    };
    for (desc, group, seek, cursor) in cases {
        let plan = plan(store, desc, group, seek, cursor).await;
        let what = format!("desc={desc} {group:?} {seek:?} cursor={cursor:?}:\n{plan}");
        match store.backend() {
            DbBackend::Sqlite => {
                assert!(plan.contains("USING INDEX ixf_"), "no field index: {what}");
                assert!(!plan.contains("TEMP B-TREE"), "sorts: {what}");
                assert!(!plan.starts_with("SCAN e\n") && plan != "SCAN e", "{what}");
            }
            _ => {
                assert!(plan.contains("Index Scan"), "no index scan: {what}");
                assert!(
                    plan.contains("Index Cond"),
                    "the index is not sought: {what}"
                );
                let sorts = plan.lines().any(|l| {
                    let l = l.trim_start().trim_start_matches("->").trim_start();
                    l.starts_with("Sort") || l.starts_with("Incremental Sort")
                });
                assert!(!sorts, "sorts: {what}");
            }
        }
    }
}

#[tokio::test]
async fn deep_pages_seek_into_the_index_on_sqlite() {
    let dir = tempfile::tempdir().expect("tmp");
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("p.db").display());
    let store = Store::connect(&url).await.expect("connect");
    seed(&store).await;
    check(&store).await;
    check_slug_planned_once(&store).await;
    check_keys_planned_once(&store).await;
}

#[tokio::test]
#[cfg_attr(
    not(vellum_pg),
    ignore = "PostgreSQL run skipped: set VELLUM_TEST_POSTGRES_URL (e.g. postgres://postgres@127.0.0.1:5432) to run it"
)]
async fn deep_pages_seek_into_the_index_on_postgres() {
    let server = std::env::var("VELLUM_TEST_POSTGRES_URL")
        .expect("built with VELLUM_TEST_POSTGRES_URL set, but it is unset now")
        .trim_end_matches('/')
        .to_string();
    let name = format!("vellum_plan_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(format!("{server}/postgres"))
        .await
        .expect("connect");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create");
    let store = Store::connect(&format!("{server}/{name}"))
        .await
        .expect("connect");
    seed(&store).await;
    check(&store).await;
    check_point_reads_coalesce(&store).await;
    check_abandoned_batch(&store).await;
    store.close().await;
    let _ = admin
        .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
        .await;
}

/// Delivery by slug seeks the slug's index (SQLite walked the type in creation order for
/// the `ORDER BY created_at LIMIT 1` and tested each row's slug).
async fn check_slug_read(store: &Store) {
    let backend = store.backend();
    let sql = super::entries::published_sql(
        backend,
        "movie",
        super::entries::PublishedKey::Slug("movie-50000"),
        None,
    );
    let plan = explain_sql(store, sql).await;
    assert!(
        plan.contains("published_slug"),
        "the slug is not sought:\n{plan}"
    );
}

/// A read by slug on SQLite's direct connections is planned once, not per slug: with
/// STAT4 samples (`ANALYZE`, `PRAGMA optimize`) SQLite re-prepares a statement on every
/// new binding of a term its statistics could weigh, unless the connection keeps the
/// query planner stability guarantee.
async fn check_slug_planned_once(store: &Store) {
    let direct = store
        .direct
        .clone()
        .expect("direct reads on a file database");
    for i in (0..ROWS).step_by(ROWS / 50) {
        let slug = format!("movie-{i}");
        let key = super::entries::PublishedKey::Slug(&slug);
        let found = super::entries::get_published(store, "movie", key, None)
            .await
            .expect("read");
        assert_eq!(found.map(|r| r.published_slug), Some(Some(slug)));
    }
    // The statement's text is the same for every slug (the slug is bound). A read that
    // fell back to sqlx left no direct connection idle, and this finds none.
    let key = super::entries::PublishedKey::Slug("any");
    let text = super::entries::published_sql(DbBackend::Sqlite, "movie", key, None).text;
    assert_eq!(
        direct.runs_and_reprepares(&text),
        Some((50, 0)),
        "the slug read did not run on a direct connection, or was planned again per slug"
    );
}

/// A read by a list of ids (the rows behind a page of search hits) runs on SQLite's
/// direct connections and is planned once for every list of that length, not per list.
async fn check_keys_planned_once(store: &Store) {
    let direct = store
        .direct
        .clone()
        .expect("direct reads on a file database");
    let mut text = String::new();
    for round in 0..20 {
        let ids: Vec<String> = (0..10)
            .map(|k| format!("{:08}", (round * 4001 + k * 97) % ROWS))
            .collect();
        let mut refs: Vec<&str> = ids.iter().map(String::as_str).collect();
        // One that names nothing is simply absent.
        refs.push("nothing");
        let mut found: Vec<String> = super::entries::get_many(store, "movie", &refs, true)
            .await
            .expect("read")
            .into_iter()
            .map(|r| r.id)
            .collect();
        found.sort();
        let mut want = ids.clone();
        want.sort();
        assert_eq!(found, want);
        text = super::entries::by_ids_sql(DbBackend::Sqlite, "movie", &refs, true).text;
    }
    // Every round bound 12 values, within the direct connections' bound.
    assert_eq!(
        direct.runs_and_reprepares(&text),
        Some((20, 0)),
        "a read by ids did not run on a direct connection, or was planned again per list"
    );
}

/// The published movie `key` names (an id, or a slug: `movie-…`), by id or slug,
/// counting the statements it ran; the answer is the entry's id.
async fn read_counted(store: &Store, key: &str) -> (Option<String>, u32) {
    super::STATEMENTS
        .scope(std::cell::Cell::new(0), async {
            let key = if key.starts_with("movie-") {
                super::entries::PublishedKey::Slug(key)
            } else {
                super::entries::PublishedKey::Id(key)
            };
            let row = super::entries::get_published(store, "movie", key, None)
                .await
                .expect("read");
            (
                row.map(|r| r.id),
                super::STATEMENTS.with(std::cell::Cell::get),
            )
        })
        .await
}

async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..1000 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// Point reads by id or slug that queue for a connection (every one is busy, as under
/// load) share statements (PostgreSQL), and each still gets exactly its own entry or
/// its absence.
async fn check_point_reads_coalesce(store: &Store) {
    // Ids and slugs mixed, some of each naming nothing.
    let ids: Vec<String> = (0..300)
        .map(|i| match (i % 50, i % 2) {
            (7, _) => format!("missing-{i}"),
            (8, _) => format!("movie-x{i}"),
            (_, 0) => format!("{:08}", (i * 499) % ROWS),
            _ => format!("movie-{}", (i * 499) % ROWS),
        })
        .collect();
    let busy = store.hot.all_slots().await.expect("slots");
    // One task per read, as requests are.
    let reads: Vec<_> = ids
        .iter()
        .map(|id| {
            let (store, id) = (store.clone(), id.clone());
            tokio::spawn(async move { read_counted(&store, &id).await })
        })
        .collect();
    until("the reads to queue", || {
        let (batches, followers) = store.coalesce.waiting();
        batches + followers == ids.len()
    })
    .await;
    drop(busy);
    let mut results = Vec::new();
    for r in reads {
        results.push(r.await.expect("read task"));
    }
    for (id, (found, _)) in ids.iter().zip(&results) {
        let want = match id.strip_prefix("movie-") {
            _ if id.starts_with("missing") || id.starts_with("movie-x") => None,
            Some(n) => Some(format!("{:08}", n.parse::<usize>().expect("number"))),
            None => Some(id.clone()),
        };
        assert_eq!(found, &want, "the read of {id}");
    }
    let statements: u32 = results.iter().map(|(_, n)| n).sum();
    assert!(
        (statements as usize) < ids.len() / 4,
        "{statements} statements for {} concurrent reads: they were not coalesced",
        ids.len()
    );
    assert_eq!(store.coalesce.waiting(), (0, 0));
}

/// A batch whose leader goes away while it waits for a connection strands no follower:
/// each reads on its own.
async fn check_abandoned_batch(store: &Store) {
    let busy = store.hot.all_slots().await.expect("slots");
    let spawn = |id: &'static str| {
        let store = store.clone();
        tokio::spawn(async move { read_counted(&store, id).await.0 })
    };
    let leader = spawn("00000001");
    until("the leader to wait", || store.coalesce.waiting() == (1, 0)).await;
    let followers = [spawn("00000002"), spawn("missing"), spawn("00000003")];
    until("the followers to join", || {
        store.coalesce.waiting() == (1, 3)
    })
    .await;
    leader.abort();
    assert!(leader.await.is_err_and(|e| e.is_cancelled()));
    assert_eq!(
        store.coalesce.waiting(),
        (0, 0),
        "the batch left with its leader"
    );
    drop(busy);
    let mut answers = Vec::new();
    for f in followers {
        let got = tokio::time::timeout(std::time::Duration::from_secs(10), f)
            .await
            .expect("a follower was stranded")
            .expect("follower task");
        answers.push(got);
    }
    assert_eq!(
        answers,
        [
            Some("00000002".to_string()),
            None,
            Some("00000003".to_string())
        ]
    );
}
