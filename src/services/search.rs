//! Full-text search (DESIGN.md §6): the indexer that keeps `VELLUM_DATA_DIR/search`
//! equal to the database by following the event log, and the grant-aware query.
//!
//! **Indexer.** One task per node owns the index writer. It applies the events the
//! node's follower has applied, in order: for each entry an event names it reads the
//! entry's current row and replaces the entry's documents (none when it is gone), so
//! applying an event twice changes nothing. Schema events reconcile each type's plan: a
//! type whose searchable or indexed fields changed gets a new layout and is reindexed
//! in the background, in id order, a chunk at a time between event batches, while
//! queries read its old documents with the old layout and new ones with the new.
//! Changes are committed at most every `search_commit_ms` with the checkpoint (last
//! event applied, layouts, reindex positions) as the commit payload: after a crash the
//! index resumes from its last commit. A missing, unreadable or outdated index (or one
//! behind the pruned part of the log) is rebuilt from the database, logged as it goes.
//!
//! **Query.** Types the caller may read (`read` for delivery, `read_drafts` for the
//! management search), each split by ownership where the grant differs on own entries,
//! each searching only the slots of fields readable there. Filters and facets need one
//! type and fields readable on every entry the grant shows. Hits are read back from the
//! database (delivery: published rows only), so a result never shows more, or older,
//! than the entry shows now.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tantivy::collector::{Count, TopDocs};
use tokio_util::sync::CancellationToken;

use super::TypeCache;
use super::content::owns;
use super::follower::Follower;
use crate::authz::{Authz, Grant, Principal};
use crate::config::Settings;
use crate::domain::access::{FieldSet, Visibility};
use crate::domain::query::{self as list_query, Surface};
use crate::domain::schema::{ContentTypeDef, FieldType};
use crate::error::{ApiError, ApiResult, Code, clip};
use crate::search::analysis::language;
use crate::search::highlight::snippet;
use crate::search::layout::{Plan, texts};
use crate::search::query::{self, Clause, Owner, Parsed};
use crate::search::{
    Checkpoint, DRAFT, FORMAT, Fresh, LayoutState, PUBLISHED, SearchIndex, TypeState, documents,
};
use crate::store::Store;
use crate::store::content_types::TypeRow;
use crate::store::entries::{self, EntryRow};
use crate::store::events;

pub const DEFAULT_LIMIT: usize = 10;
pub const MAX_LIMIT: usize = 50;
/// Deepest result reachable by paging (offset + limit).
pub const MAX_DEPTH: usize = 1000;
pub const MAX_FACETS: usize = 5;
/// Values per facet.
pub const FACET_SIZE: u32 = 20;
/// Events read per batch, and entries per reindex chunk.
const EVENT_BATCH: u64 = 500;
const REINDEX_CHUNK: u64 = 500;
/// While (re)indexing, commits wait this long: larger segments, fewer merges.
const REINDEX_COMMIT: Duration = Duration::from_secs(5);

fn bad(msg: impl Into<String>) -> ApiError {
    ApiError::new(Code::InvalidSearch, msg)
}

/// One result.
pub struct Hit {
    pub row: EntryRow,
    pub ty: Arc<TypeRow>,
    pub view: Visibility,
    pub score: f32,
    /// Field path → snippet.
    pub highlights: BTreeMap<String, String>,
}

pub struct Facet {
    pub value: Value,
    pub count: u64,
}

pub struct Results {
    pub hits: Vec<Hit>,
    pub total: u64,
    /// False when counting stopped at the `count_limit` setting: more match.
    pub total_exact: bool,
    pub next_cursor: Option<String>,
    pub facets: BTreeMap<String, Vec<Facet>>,
}

/// A search request, parsed.
struct Request {
    q: String,
    types: Option<Vec<String>>,
    locale: Option<String>,
    facets: Vec<String>,
    limit: usize,
    offset: usize,
    filters: Vec<(String, String)>,
    /// `sort` as sent (checked against the types in scope).
    sort: Option<String>,
}

fn parse_request(params: &[(String, String)]) -> ApiResult<Request> {
    let mut r = Request {
        q: String::new(),
        types: None,
        locale: None,
        facets: Vec::new(),
        limit: DEFAULT_LIMIT,
        offset: 0,
        filters: Vec::new(),
        sort: None,
    };
    let mut seen = std::collections::HashSet::new();
    for (k, v) in params {
        if k.starts_with("filter") {
            r.filters.push((k.clone(), v.clone()));
            continue;
        }
        if !seen.insert(k.as_str()) {
            return Err(ApiError::new(
                Code::InvalidParameter,
                format!("`{}` is given twice", clip(k)),
            ));
        }
        match k.as_str() {
            "q" => r.q = v.clone(),
            "type" => {
                let list: Vec<String> = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if list.len() > 50 {
                    return Err(bad("search at most 50 types at once"));
                }
                r.types = Some(list);
            }
            "locale" => r.locale = Some(list_query::parse_locale(v)?),
            "facets" => {
                r.facets = v
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
                if r.facets.len() > MAX_FACETS {
                    return Err(bad(format!("ask for at most {MAX_FACETS} facets")));
                }
            }
            "limit" => {
                r.limit = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| {
                        ApiError::new(
                            Code::InvalidParameter,
                            format!("`limit` must be 1 to {MAX_LIMIT}, got `{}`", clip(v)),
                        )
                    })?;
            }
            "cursor" => r.offset = decode_cursor(v)?,
            "sort" => r.sort = Some(v.clone()),
            _ => {
                return Err(ApiError::new(
                    Code::UnknownParameter,
                    format!(
                        "unknown query parameter `{}`; search accepts q, type, locale, filter[…], facets, sort, limit and cursor",
                        clip(k)
                    ),
                ));
            }
        }
    }
    if r.offset + r.limit > MAX_DEPTH {
        return Err(bad(format!(
            "search pages reach the first {MAX_DEPTH} results; narrow the query instead"
        )));
    }
    Ok(r)
}

fn encode_cursor(offset: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("s1:{offset}"))
}

fn decode_cursor(s: &str) -> ApiResult<usize> {
    use base64::Engine;
    let fail = || {
        ApiError::new(
            Code::InvalidCursor,
            "`cursor` is not one this search returned; send the `next_cursor` of the last page",
        )
    };
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(s.as_bytes())
        .map_err(|_| fail())?;
    let text = String::from_utf8(raw).map_err(|_| fail())?;
    let n = text.strip_prefix("s1:").ok_or_else(fail)?;
    n.parse::<usize>()
        .ok()
        .filter(|n| *n <= MAX_DEPTH)
        .ok_or_else(fail)
}

#[derive(Clone)]
pub struct SearchService {
    index: Arc<SearchIndex>,
    fresh: Arc<std::sync::Mutex<Option<Fresh>>>,
    store: Store,
    authz: Authz,
    types: TypeCache,
    follower: Arc<Follower>,
    settings: Arc<Settings>,
    metrics: Arc<crate::metrics::Metrics>,
    stats: Arc<std::sync::Mutex<HashMap<StatsKey, (i64, i64)>>>,
    /// A serving node with `search_enabled`.
    enabled: bool,
}

/// (day, surface, normalized query).
type StatsKey = (String, &'static str, String);

/// Distinct (day, surface, query) kept in memory between flushes; beyond it new queries
/// are not counted until the next flush (a flood of unique queries costs no memory).
const STATS_MAX_KEYS: usize = 10_000;
/// Days of search statistics kept.
pub const STATS_DAYS: i64 = 90;

/// A query as statistics count it: trimmed, lower-case, single spaces, at most 100
/// characters; `None` for an empty one.
pub fn normalize_query(q: &str) -> Option<String> {
    let s: String = q
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
        .chars()
        .take(100)
        .collect();
    (!s.is_empty()).then_some(s)
}

/// One day of search statistics.
pub struct DayStats {
    pub day: String,
    pub searches: i64,
    pub without_results: i64,
    pub top: Vec<(String, i64)>,
    pub no_results: Vec<(String, i64)>,
}

impl SearchService {
    /// The node's index in `data_dir/search`, or (`offline`: a command that does not
    /// serve) an empty one in memory, leaving the one on disk to the server.
    pub fn open(
        offline: bool,
        metrics: Arc<crate::metrics::Metrics>,
        settings: Arc<Settings>,
        store: Store,
        authz: Authz,
        types: TypeCache,
        follower: Arc<Follower>,
    ) -> anyhow::Result<SearchService> {
        let enabled = !offline && settings.search_enabled;
        let (index, fresh) = if !enabled {
            (SearchIndex::in_memory()?, Fresh::No)
        } else {
            SearchIndex::open(&settings.data_dir.join("search"))?
        };
        Ok(SearchService {
            index: Arc::new(index),
            fresh: Arc::new(std::sync::Mutex::new(Some(fresh))),
            store,
            authz,
            types,
            follower,
            settings,
            metrics,
            stats: Arc::default(),
            enabled,
        })
    }

    pub fn index(&self) -> &SearchIndex {
        &self.index
    }

    /// Events the index has yet to apply (of those this node's follower applied), and
    /// the types still being (re)indexed.
    pub fn lag(&self) -> (i64, Vec<String>) {
        let cp = self.index.checkpoint();
        let behind = (self.follower.freshness.applied() - cp.seq).max(0);
        (
            behind,
            cp.reindexing().into_iter().map(str::to_string).collect(),
        )
    }

    // ---------------------------------------------------------------- indexer

    /// Keeps the index following the log until `stop`; commits what it has on the way out.
    pub async fn run_indexer(&self, stop: CancellationToken) {
        if !self.enabled {
            return;
        }
        let mut progress = self.follower.progress();
        let (mut indexer, fresh) = Indexer::new(self);
        loop {
            match indexer.start(&fresh).await {
                Ok(()) => break,
                Err(e) => {
                    tracing::error!(error = %e, "search index: cannot start; retrying in 2 s");
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    }
                }
            }
        }
        let interval = Duration::from_millis(self.settings.search_commit_ms.max(10));
        loop {
            let more = match indexer.step().await {
                Ok(more) => more,
                Err(e) => {
                    tracing::warn!(error = %e, "search index: could not apply changes; retrying");
                    tokio::select! {
                        _ = stop.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                    continue;
                }
            };
            let every = if indexer.cp.reindexing().is_empty() {
                interval
            } else {
                REINDEX_COMMIT.max(interval)
            };
            if indexer.dirty
                && (!more || indexer.last_commit.elapsed() >= every)
                && let Err(e) = indexer.commit().await
            {
                tracing::warn!(error = %e, "search index: commit failed; retrying");
            }
            if more {
                if stop.is_cancelled() {
                    break;
                }
                continue;
            }
            // Caught up: wait for the follower, then let changes gather for a moment so
            // a burst shares one commit.
            tokio::select! {
                _ = stop.cancelled() => break,
                _ = progress.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            let since = indexer.last_commit.elapsed();
            if since < interval {
                tokio::select! {
                    _ = stop.cancelled() => {}
                    _ = tokio::time::sleep(interval - since) => {}
                }
            }
        }
        // Shutting down: keep what was applied.
        if indexer.dirty
            && let Err(e) = indexer.commit().await
        {
            tracing::warn!(error = %e, "search index: final commit failed; the next start replays it");
        }
    }

    /// `vellum reindex`: rewrites every document (or those of one type) from the
    /// database, in this process (the index must not be in use by a server), reporting
    /// `(done, total)` as it goes; returns the entries written.
    pub async fn reindex(
        &self,
        type_id: Option<&str>,
        progress: impl Fn(u64, u64),
    ) -> ApiResult<u64> {
        if !self.enabled {
            return Err(ApiError::new(
                Code::Unavailable,
                "search is turned off (`search_enabled` is false): there is no index to rebuild",
            ));
        }
        let (mut indexer, fresh) = Indexer::new(self);
        indexer.start(&fresh).await?;
        let db = self.store.db();
        let total = match type_id {
            Some(t) => {
                self.types.get(t)?;
                let state = indexer.cp.types.get_mut(t).ok_or_else(|| {
                    ApiError::internal("search index: a known type has no checkpoint entry")
                })?;
                state.reindex_after = Some(String::new());
                entries::count_of_type(db, t).await?
            }
            None => {
                indexer.clear().await?;
                indexer.reconcile();
                let mut n = 0;
                for t in self.types.all() {
                    n += entries::count_of_type(db, &t.def.api_id).await?;
                }
                n
            }
        };
        let total = u64::try_from(total).unwrap_or(0);
        progress(0, total);
        while indexer.step().await? {
            if indexer.last_commit.elapsed() >= Duration::from_secs(5) {
                indexer.commit().await?;
            }
            progress(indexer.done.min(total), total);
        }
        indexer.commit().await?;
        progress(indexer.done.min(total), total);
        Ok(indexer.done)
    }

    // ---------------------------------------------------------------- query

    /// Searches published content (`Surface::Delivery`, the `read` right) or working
    /// drafts (`Surface::Manage`, `read_drafts`).
    pub async fn search(
        &self,
        principal: &Principal,
        surface: Surface,
        params: &[(String, String)],
    ) -> ApiResult<Results> {
        if !self.enabled {
            return Err(ApiError::new(
                Code::Unavailable,
                "search is turned off on this node (`search_enabled` is false)",
            ));
        }
        let started = Instant::now();
        let results = self.run_search(principal, surface, params).await?;
        self.metrics
            .search(surface == Surface::Manage, results.total, started.elapsed());
        if let Some(q) = params
            .iter()
            .find(|(k, _)| k == "q")
            .and_then(|(_, v)| normalize_query(v))
            && !params.iter().any(|(k, _)| k == "cursor")
        {
            self.count_query(surface, q, results.total == 0);
        }
        Ok(results)
    }

    fn count_query(&self, surface: Surface, q: String, empty: bool) {
        let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
        let surface = match surface {
            Surface::Delivery => "delivery",
            Surface::Manage => "manage",
        };
        if let Ok(mut m) = self.stats.lock() {
            let full = m.len() >= STATS_MAX_KEYS;
            let key = (day, surface, q);
            match m.get_mut(&key) {
                Some(c) => {
                    c.0 += 1;
                    c.1 += i64::from(empty);
                }
                None if !full => {
                    m.insert(key, (1, i64::from(empty)));
                }
                None => {}
            }
        }
    }

    /// Writes the counted queries (and forgets days past [`STATS_DAYS`]).
    pub async fn flush_stats(&self) -> ApiResult<()> {
        let batch: Vec<(StatsKey, (i64, i64))> = match self.stats.lock() {
            Ok(mut m) => m.drain().collect(),
            Err(_) => return Ok(()),
        };
        if batch.is_empty() {
            return Ok(());
        }
        let written = async {
            let tx = self.store.write().await?;
            for ((day, surface, query), (searches, without_results)) in &batch {
                crate::store::search_stats::add(
                    &tx.txn,
                    &crate::store::search_stats::Counted {
                        day: day.clone(),
                        surface,
                        query: query.clone(),
                        searches: *searches,
                        without_results: *without_results,
                    },
                )
                .await?;
            }
            let before = (chrono::Utc::now() - chrono::Duration::days(STATS_DAYS))
                .format("%Y-%m-%d")
                .to_string();
            crate::store::search_stats::prune(&tx.txn, &before).await?;
            tx.commit().await
        }
        .await;
        if let Err(e) = written {
            // Put them back for the next flush.
            if let Ok(mut m) = self.stats.lock() {
                for (k, (n, z)) in batch {
                    let c = m.entry(k).or_insert((0, 0));
                    c.0 += n;
                    c.1 += z;
                }
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Flushes the statistics every 30 s, and once more at `stop`.
    pub async fn run_stats_flusher(&self, stop: CancellationToken) {
        loop {
            let stopping = tokio::select! {
                _ = stop.cancelled() => true,
                _ = tokio::time::sleep(Duration::from_secs(30)) => false,
            };
            if let Err(e) = self.flush_stats().await {
                tracing::warn!(error = %e.message, "search statistics: could not write them; they are kept for the next try");
            }
            if stopping {
                return;
            }
        }
    }

    /// Search statistics of the last `days` days, newest first (the `audit` right: what
    /// people look for is about people).
    pub async fn stats(
        &self,
        principal: &Principal,
        days: i64,
        limit: u64,
    ) -> ApiResult<Vec<DayStats>> {
        self.authz.check(principal, "audit", "read")?;
        self.flush_stats().await?;
        let since = (chrono::Utc::now() - chrono::Duration::days(days.clamp(1, STATS_DAYS) - 1))
            .format("%Y-%m-%d")
            .to_string();
        let db = self.store.db();
        let mut out = Vec::new();
        for t in crate::store::search_stats::totals(db, &since).await? {
            out.push(DayStats {
                top: crate::store::search_stats::top(db, &t.day, false, limit).await?,
                no_results: crate::store::search_stats::top(db, &t.day, true, limit).await?,
                day: t.day,
                searches: t.searches,
                without_results: t.without_results,
            });
        }
        Ok(out)
    }

    async fn run_search(
        &self,
        principal: &Principal,
        surface: Surface,
        params: &[(String, String)],
    ) -> ApiResult<Results> {
        let req = parse_request(params)?;
        let action = match surface {
            Surface::Delivery => "read",
            Surface::Manage => "read_drafts",
        };
        let locales = self.types.locales();
        if let Some(l) = &req.locale {
            locales.check(l)?;
        }
        // Types in scope and what the caller may read of each.
        let mut scope: Vec<(Arc<TypeRow>, Grant)> = Vec::new();
        match &req.types {
            Some(list) => {
                for t in list {
                    let ty = self.types.get(t)?;
                    let grant = self.authz.check(principal, t, action)?;
                    scope.push((ty, grant));
                }
            }
            None => {
                for ty in self.types.all() {
                    if let Ok(g) = self.authz.check(principal, &ty.def.api_id, action) {
                        scope.push((ty, g));
                    }
                }
            }
        }
        let langs: Vec<_> = match &req.locale {
            Some(l) => vec![language(l)],
            None => {
                let mut v: Vec<_> = locales.all().iter().map(|l| language(&l.code)).collect();
                v.dedup();
                v
            }
        };
        let mut parsed = query::parse(&req.q, &langs).map_err(bad)?;
        let f = &self.index.fields;
        let one_type = || -> ApiResult<&(Arc<TypeRow>, Grant)> {
            match scope.as_slice() {
                [one] if req.types.is_some() => Ok(one),
                _ => Err(bad(
                    "filters, field facets and field sorts need exactly one `type` (facets on `type` and `locale`, and sorts on the entry's times and `locale`, work across types)",
                )),
            }
        };
        let mut filters: Vec<Box<dyn tantivy::query::Query>> = Vec::new();
        if !req.filters.is_empty() {
            let (ty, grant) = one_type()?;
            let vis = Visibility {
                surface,
                fields: grant.list_fields().clone(),
            };
            let lq = list_query::parse_list_params(&ty.def, &req.filters, &vis)?;
            if let Some(flt) = &lq.filter {
                let plan = Plan::of(&ty.def);
                filters.push(
                    query::filter(f, &plan.fast, flt)
                        .map_err(|m| ApiError::new(Code::InvalidFilter, m))?,
                );
            }
        }
        // Facets: (name, field path in the index).
        let mut facets: Vec<(String, String)> = Vec::new();
        for name in &req.facets {
            match name.as_str() {
                "type" | "locale" => facets.push((name.clone(), name.clone())),
                _ => {
                    let field = readable_field(&one_type, surface, name, "facet", "to count", bad)?;
                    if !field.indexed
                        || !matches!(
                            field.ty,
                            FieldType::Enum
                                | FieldType::Boolean
                                | FieldType::Integer
                                | FieldType::Text
                                | FieldType::Slug
                                | FieldType::Email
                        )
                    {
                        return Err(bad(format!(
                            "`{}` cannot be counted: facets take `indexed` enum, boolean, integer and short text fields",
                            clip(name)
                        )));
                    }
                    facets.push((name.clone(), query::value_path(name)));
                }
            }
        }
        let sort = match &req.sort {
            Some(v) => sort_columns(v, surface, &one_type)?,
            None => Vec::new(),
        };
        let cp = self.index.checkpoint();
        let user = principal.user_id().map(str::to_string);
        let mut clauses = Vec::new();
        for (ty, grant) in &scope {
            let Some(state) = cp.types.get(&ty.def.api_id) else {
                continue;
            };
            let mut push =
                |owner: Owner, fields: &FieldSet, filters: &[Box<dyn tantivy::query::Query>]| {
                    let vis = Visibility {
                        surface,
                        fields: fields.clone(),
                    };
                    for layout in &state.layouts {
                        clauses.push(Clause {
                            type_id: ty.def.api_id.clone(),
                            layout: layout.id,
                            slots: readable_slots(&ty.def, layout, &vis),
                            owner: owner.clone(),
                            filters: filters.iter().map(|q| q.box_clone()).collect(),
                        });
                    }
                };
            match (&grant.any, &user) {
                (None, None) => {}
                (None, Some(u)) => push(Owner::Only(u.clone()), &grant.own, &filters),
                (Some(any), Some(u)) if *any != grant.own => {
                    push(Owner::Only(u.clone()), &grant.own, &filters);
                    push(Owner::NotBy(u.clone()), any, &filters);
                }
                (Some(any), _) => push(Owner::Anyone, any, &filters),
            }
        }
        let surface_term = match surface {
            Surface::Delivery => PUBLISHED,
            Surface::Manage => DRAFT,
        };
        let searcher = self.index.searcher();
        let locale = req.locale.as_deref();
        query::mark_known(&mut parsed, &searcher, f, surface_term, locale, &clauses);
        let tq = query::build(&searcher, f, &parsed, surface_term, locale, &clauses);
        // Up to `count_limit`, as lists count (0: exact).
        let bound = match self.settings.count_limit {
            0 => usize::MAX,
            n => usize::try_from(n).unwrap_or(usize::MAX),
        };
        let (top, total, aggs) = if sort.is_empty() {
            let top = TopDocs::with_limit(req.limit)
                .and_offset(req.offset)
                .order_by_score();
            collect(&searcher, tq.as_ref(), top, |s| *s, &facets, bound)?
        } else {
            let top = crate::search::sort::top_docs(&sort, req.limit, req.offset);
            collect(
                &searcher,
                tq.as_ref(),
                top,
                crate::search::sort::score_of,
                &facets,
                bound,
            )?
        };
        // Ids of the hits, then their rows, a statement per type.
        // From the fast columns: no stored document is decompressed.
        let names: Vec<&str> = scope.iter().map(|(ty, _)| ty.def.api_id.as_str()).collect();
        let addrs: Vec<tantivy::DocAddress> = top.iter().map(|(_, a)| *a).collect();
        let keys = crate::search::hit_keys(&self.index, &searcher, &addrs, &names)
            .map_err(ApiError::internal)?;
        let order: Vec<(String, String, f32)> = keys
            .into_iter()
            .zip(top.iter())
            .map(|((t, id), (score, _))| (t, id, *score))
            .collect();
        let mut by_type: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (t, id, _) in &order {
            by_type.entry(t.as_str()).or_default().push(id.as_str());
        }
        let mut rows: HashMap<String, EntryRow> = HashMap::new();
        for (t, ids) in by_type {
            let found =
                entries::get_many(&self.store, t, &ids, surface == Surface::Delivery).await?;
            rows.extend(found.into_iter().map(|r| (r.id.clone(), r)));
        }
        let mut plans: HashMap<String, Plan> = HashMap::new();
        let mut hits = Vec::with_capacity(order.len());
        for (t, id, score) in order {
            let Some(row) = rows.remove(&id) else {
                continue; // gone or unpublished since the last commit
            };
            let Some((ty, grant)) = scope.iter().find(|(ty, _)| ty.def.api_id == t) else {
                continue;
            };
            let Some(fields) = grant.fields_for(owns(principal, &row)) else {
                continue;
            };
            let view = Visibility {
                surface,
                fields: fields.clone(),
            };
            let highlights = if parsed.is_empty() {
                BTreeMap::new()
            } else {
                let plan = plans.entry(t.clone()).or_insert_with(|| Plan::of(&ty.def));
                highlight(&ty.def, plan, &row, &view, &parsed)
            };
            hits.push(Hit {
                row,
                ty: ty.clone(),
                view,
                score,
                highlights,
            });
        }
        let (total, total_exact) = (total.0 as u64, total.1);
        let next = req.offset + req.limit;
        let next_cursor = (top.len() == req.limit && (next as u64) < total && next < MAX_DEPTH)
            .then(|| encode_cursor(next));
        let mut facet_out = BTreeMap::new();
        if let Some(aggs) = aggs {
            for (name, _) in &facets {
                let buckets = aggs[name]["buckets"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                facet_out.insert(
                    name.clone(),
                    buckets
                        .into_iter()
                        .map(|b| Facet {
                            value: b
                                .get("key_as_string")
                                .cloned()
                                .unwrap_or_else(|| b["key"].clone()),
                            count: b["doc_count"].as_u64().unwrap_or(0),
                        })
                        .collect(),
                );
            }
        }
        Ok(Results {
            hits,
            total,
            total_exact,
            next_cursor,
            facets: facet_out,
        })
    }
}

/// What [`collect`] finds: the top documents with their scores, the count and whether
/// it is exact, the facets' aggregation.
type Collected = (
    Vec<(f32, tantivy::DocAddress)>,
    (usize, bool),
    Option<Value>,
);

/// The top documents (by `top`, with their scores), the count (exact, or up to `bound`)
/// and the facets' aggregation. Without facets the top results are found apart: alone,
/// relevance ranking prunes by block maxima (most matches never scored), and the count
/// reads postings without scoring.
fn collect<C, K>(
    searcher: &tantivy::Searcher,
    tq: &dyn tantivy::query::Query,
    top: C,
    score: fn(&K) -> f32,
    facets: &[(String, String)],
    bound: usize,
) -> ApiResult<Collected>
where
    C: tantivy::collector::Collector<Fruit = Vec<(K, tantivy::DocAddress)>>,
{
    let scored = |v: Vec<(K, tantivy::DocAddress)>| -> Vec<(f32, tantivy::DocAddress)> {
        v.iter().map(|(k, a)| (score(k), *a)).collect()
    };
    if facets.is_empty() {
        let found = searcher.search(tq, &top).map_err(ApiError::internal)?;
        let total = query::count_up_to(searcher, tq, bound).map_err(ApiError::internal)?;
        return Ok((scored(found), total, None));
    }
    let mut spec = serde_json::Map::new();
    for (name, path) in facets {
        spec.insert(
            name.clone(),
            serde_json::json!({"terms": {"field": path, "size": FACET_SIZE}}),
        );
    }
    let aggs: tantivy::aggregation::agg_req::Aggregations =
        serde_json::from_value(Value::Object(spec)).map_err(ApiError::internal)?;
    let collector = tantivy::aggregation::AggregationCollector::from_aggs(aggs, Default::default());
    let (found, total, agg) = searcher
        .search(tq, &(top, Count, collector))
        .map_err(ApiError::internal)?;
    Ok((
        scored(found),
        (total, true),
        Some(serde_json::to_value(agg).map_err(ApiError::internal)?),
    ))
}

/// The field `name` of the one type in scope, read by a facet or sort (`what`): 400 via
/// `missing` when the type has no such field, 403 when the caller may not read it on
/// every entry the grant shows (as for lists).
fn readable_field<'a>(
    one_type: &dyn Fn() -> ApiResult<&'a (Arc<TypeRow>, Grant)>,
    surface: Surface,
    name: &str,
    what: &str,
    purpose: &str,
    missing: impl Fn(String) -> ApiError,
) -> ApiResult<&'a crate::domain::schema::FieldDef> {
    let (ty, grant) = one_type()?;
    let def = &ty.def;
    let field = def.field(name).ok_or_else(|| {
        missing(format!(
            "`{}` has no field `{}` {purpose}",
            def.api_id,
            clip(name)
        ))
    })?;
    let vis = Visibility {
        surface,
        fields: grant.list_fields().clone(),
    };
    if !vis.can_read(field) {
        return Err(list_query::unreadable(name, what));
    }
    Ok(field)
}

/// The `sort` parameter as columns of the index: the entry's times and `locale` on any
/// search; with one `type`, its `indexed` single-valued scalar fields the caller may read
/// (403 for others, like lists).
fn sort_columns<'a>(
    v: &str,
    surface: Surface,
    one_type: &dyn Fn() -> ApiResult<&'a (Arc<TypeRow>, Grant)>,
) -> ApiResult<Vec<crate::search::sort::SortColumn>> {
    use crate::search::sort::{MAX_SORT_KEYS, SortColumn};
    let invalid = |m: String| ApiError::new(Code::InvalidSort, m);
    let mut out: Vec<SortColumn> = Vec::new();
    for part in v.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (desc, name) = match part.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, part.strip_prefix('+').unwrap_or(part)),
        };
        let column = match name {
            "published_at" | "created_at" | "updated_at" | "locale" => name.to_string(),
            _ => {
                let field = readable_field(one_type, surface, name, "sort", "to sort on", invalid)?;
                if !field.indexed || field.many || !crate::search::layout::is_fast(field.ty) {
                    return Err(invalid(format!(
                        "search cannot sort on `{}`: it sorts by relevance (the default), `published_at`, `created_at`, `updated_at`, `locale`, and `indexed` text, enum, number, boolean and date fields holding one value",
                        clip(name)
                    )));
                }
                query::value_path(name)
            }
        };
        if out.iter().any(|c| c.column == column) {
            return Err(invalid(format!("`{}` appears twice in `sort`", clip(name))));
        }
        out.push(SortColumn { column, desc });
        if out.len() > MAX_SORT_KEYS {
            return Err(invalid(format!(
                "search sorts on at most {MAX_SORT_KEYS} fields"
            )));
        }
    }
    Ok(out)
}

/// The slots of a layout whose fields `vis` may read (with their boosts).
fn readable_slots(
    def: &ContentTypeDef,
    layout: &LayoutState,
    vis: &Visibility,
) -> Vec<(usize, f32)> {
    layout
        .paths
        .iter()
        .enumerate()
        .filter(|(_, (_, top, _))| def.field(top).is_some_and(|fd| vis.can_read(fd)))
        .map(|(i, (_, _, boost))| (i, *boost))
        .collect()
}

/// Snippets of the readable searchable fields of the shown surface that match.
fn highlight(
    def: &ContentTypeDef,
    plan: &Plan,
    row: &EntryRow,
    view: &Visibility,
    parsed: &Parsed,
) -> BTreeMap<String, String> {
    let data = match view.surface {
        Surface::Delivery => row.published.as_ref().unwrap_or(&Value::Null),
        Surface::Manage => &row.draft,
    };
    let lang = language(&row.locale);
    let mut out = BTreeMap::new();
    for p in &plan.paths {
        if !def.field(&p.top).is_some_and(|f| view.can_read(f)) {
            continue;
        }
        if let Some(s) = texts(data, &p.path, p.ty)
            .iter()
            .find_map(|t| snippet(t, parsed, lang))
        {
            out.insert(p.path.clone(), s);
        }
    }
    out
}

/// The indexer's working state (one per node, inside `run_indexer`).
struct Indexer {
    svc: SearchService,
    /// What the next commit will record.
    cp: Checkpoint,
    /// How each type is indexed now (as recorded in `cp`).
    plans: HashMap<String, (Arc<TypeRow>, Plan)>,
    dirty: bool,
    last_commit: Instant,
    reindexed: u64,
    /// Entries (re)indexed since this indexer started.
    done: u64,
}

impl Indexer {
    /// An indexer starting from the last commit, and why the index was opened fresh
    /// (told once: whoever starts first rebuilds).
    fn new(svc: &SearchService) -> (Indexer, Fresh) {
        let fresh = svc
            .fresh
            .lock()
            .map(|mut f| f.take())
            .unwrap_or(None)
            .unwrap_or(Fresh::No);
        let indexer = Indexer {
            svc: svc.clone(),
            cp: (*svc.index.checkpoint()).clone(),
            plans: HashMap::new(),
            dirty: false,
            last_commit: Instant::now(),
            reindexed: 0,
            done: 0,
        };
        (indexer, fresh)
    }

    fn index(&self) -> Arc<SearchIndex> {
        self.svc.index.clone()
    }

    /// Rebuilds when the index is new or cannot follow on from its checkpoint.
    async fn start(&mut self, fresh: &Fresh) -> ApiResult<()> {
        let db = self.svc.store.db();
        let pruned = events::pruned_through(db).await?;
        let why = match fresh {
            Fresh::Missing => Some("there is none yet".to_string()),
            Fresh::Unreadable(w) => Some(format!("the one there was unreadable ({w})")),
            Fresh::No if self.cp.seq < pruned => Some(format!(
                "it is behind the event log's pruned part (at {}, pruned through {pruned})",
                self.cp.seq
            )),
            Fresh::No => None,
        };
        if let Some(why) = why {
            tracing::info!(reason = %why, "search index: building it from the database");
            self.clear().await?;
        }
        self.reconcile();
        Ok(())
    }

    /// Empties the index; reconciling then queues every type for indexing.
    async fn clear(&mut self) -> ApiResult<()> {
        // Read before the walk: changes during it arrive as events after this.
        let seq = events::last_seq(self.svc.store.db()).await?;
        let index = self.index();
        tokio::task::spawn_blocking(move || index.delete_all())
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        self.cp = Checkpoint {
            format: FORMAT,
            seq,
            types: BTreeMap::new(),
        };
        self.plans.clear();
        self.dirty = true;
        Ok(())
    }

    /// Brings every type's plan and layouts in line with the content types in memory:
    /// new and changed types are (re)indexed, deleted ones dropped.
    fn reconcile(&mut self) {
        let types = self.svc.types.all();
        for ty in &types {
            let plan = Plan::of(&ty.def);
            let name = ty.def.api_id.clone();
            let layout = LayoutState::of(&plan);
            match self.cp.types.get_mut(&name) {
                None => {
                    self.cp.types.insert(
                        name.clone(),
                        TypeState {
                            signature: plan.signature,
                            layouts: vec![layout],
                            reindex_after: Some(String::new()),
                        },
                    );
                    self.dirty = true;
                }
                Some(state) => {
                    if state.layouts.first().map(|l| l.id) == Some(layout.id) {
                        // Same slots; boosts are read at query time.
                        if state.layouts[0] != layout {
                            state.layouts[0] = layout;
                            self.dirty = true;
                        }
                    } else {
                        state.layouts.retain(|l| l.id != layout.id);
                        state.layouts.insert(0, layout);
                        self.dirty = true;
                    }
                    if state.signature != plan.signature {
                        state.signature = plan.signature;
                        state.reindex_after = Some(String::new());
                        self.dirty = true;
                    }
                }
            }
            if self.cp.types[&name].reindex_after.as_deref() == Some("") {
                tracing::info!(content_type = %name, "search index: indexing the type's entries");
            }
            self.plans.insert(name, (ty.clone(), plan));
        }
        let gone: Vec<String> = self
            .cp
            .types
            .keys()
            .filter(|k| !types.iter().any(|t| &t.def.api_id == *k))
            .cloned()
            .collect();
        for name in gone {
            self.svc.index.delete_type(&name);
            self.cp.types.remove(&name);
            self.plans.remove(&name);
            self.dirty = true;
        }
    }

    /// Applies one batch of events, or one chunk of reindexing. Returns whether more
    /// work is ready at once.
    async fn step(&mut self) -> ApiResult<bool> {
        let target = self.svc.follower.freshness.applied();
        if self.cp.seq < target {
            let batch = events::list_after(self.svc.store.db(), self.cp.seq, EVENT_BATCH).await?;
            let batch: Vec<_> = batch.into_iter().filter(|e| e.seq <= target).collect();
            let Some(last) = batch.last().map(|e| e.seq) else {
                return Ok(false);
            };
            if batch.iter().any(|e| e.resource == "content_type")
                || batch.iter().any(|e| {
                    e.content_type
                        .as_ref()
                        .is_some_and(|t| !self.plans.contains_key(t))
                })
            {
                self.reconcile();
            }
            let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
            for e in &batch {
                if e.resource != "entry" {
                    continue;
                }
                if let (Some(t), Some(id)) = (&e.content_type, &e.entry_id) {
                    let ids = by_type.entry(t.clone()).or_default();
                    if !ids.contains(id) {
                        ids.push(id.clone());
                    }
                }
            }
            for (t, ids) in by_type {
                self.write_entries(&t, ids).await?;
            }
            self.cp.seq = last;
            self.dirty = true;
            return Ok(batch.len() as u64 == EVENT_BATCH || last < target);
        }
        // Caught up with the log: reindex a chunk, if a type needs it.
        let Some(name) = self
            .cp
            .types
            .iter()
            .find(|(_, s)| s.reindex_after.is_some())
            .map(|(k, _)| k.clone())
        else {
            return Ok(false);
        };
        let after = self.cp.types[&name]
            .reindex_after
            .clone()
            .unwrap_or_default();
        let rows = entries::page_of_type(self.svc.store.db(), &name, &after, REINDEX_CHUNK).await?;
        let done = (rows.len() as u64) < REINDEX_CHUNK;
        let last = rows.last().map(|r| r.id.clone());
        let n = rows.len() as u64;
        self.write_rows(&name, rows.iter().map(|r| r.id.clone()).collect(), rows)
            .await?;
        self.reindexed += n;
        self.done += n;
        let state = self.cp.types.get_mut(&name).ok_or_else(|| {
            ApiError::internal("search index: a type being reindexed vanished from the checkpoint")
        })?;
        if done {
            state.reindex_after = None;
            let keep = state.layouts[0].id;
            state.layouts.truncate(1);
            let index = self.index();
            let t = name.clone();
            tokio::task::spawn_blocking(move || index.delete_other_layouts(&t, keep))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
            tracing::info!(content_type = %name, entries = self.reindexed, "search index: type indexed");
            self.reindexed = 0;
        } else {
            state.reindex_after = last;
            if self.reindexed % 10_000 < REINDEX_CHUNK {
                tracing::info!(content_type = %name, entries = self.reindexed, "search index: indexing");
            }
        }
        self.dirty = true;
        Ok(true)
    }

    /// Replaces the documents of these entries of a type with what the database holds.
    async fn write_entries(&mut self, type_id: &str, ids: Vec<String>) -> ApiResult<()> {
        let mut rows = Vec::new();
        for chunk in ids.chunks(200) {
            let refs: Vec<&str> = chunk.iter().map(String::as_str).collect();
            rows.extend(entries::get_many(self.svc.store.db(), type_id, &refs, false).await?);
        }
        self.write_rows(type_id, ids, rows).await
    }

    async fn write_rows(
        &mut self,
        type_id: &str,
        ids: Vec<String>,
        rows: Vec<EntryRow>,
    ) -> ApiResult<()> {
        let index = self.index();
        let plan = self.plans.get(type_id).map(|(_, p)| p.clone());
        tokio::task::spawn_blocking(move || {
            let docs = match &plan {
                // A type deleted meanwhile: its documents go, none come back.
                None => Vec::new(),
                Some(plan) => rows
                    .iter()
                    .flat_map(|r| documents(&index.fields, plan, r))
                    .collect(),
            };
            index.replace(&ids, docs)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)
    }

    async fn commit(&mut self) -> ApiResult<()> {
        let index = self.index();
        let cp = self.cp.clone();
        tokio::task::spawn_blocking(move || index.commit(cp))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        self.dirty = false;
        self.last_commit = Instant::now();
        Ok(())
    }
}
