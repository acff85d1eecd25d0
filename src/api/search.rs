//! `GET /api/v1/search` (published content) and `GET /api/v1/manage/search` (working
//! drafts): full-text search, see `services::search`.

use std::collections::HashMap;

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::{Object, OpenApi};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Value, json};

use super::dto::content::Entry;
use super::dto::{Body, Typed};
use super::render::entry_with;
use super::{Auth, MaybeAuth, Reply, query_pairs};
use crate::domain::query::Surface;
use crate::error::ApiResult;
use crate::services::Services;
use crate::services::search::{Hit, Results};

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Published content for apps
    Delivery,
    /// Entries with drafts
    Entries,
}

/// One result.
#[derive(Object)]
#[oai(rename = "SearchHit")]
pub struct SearchHit {
    /// The entry as this surface shows it to you.
    pub entry: Entry,
    /// Relevance (higher is better; comparable within one result list only).
    pub score: f64,
    /// Field path (`body`, `links.label`) → the matching text, HTML-escaped, matches in
    /// `<mark>…</mark>`, cut around the matches (`…` where cut). Only fields you may read.
    pub highlights: HashMap<String, String>,
}

/// How many results have one value of a facet.
#[derive(Object)]
#[oai(rename = "SearchFacetValue")]
pub struct SearchFacetValue {
    /// The value, as text (`true`/`false` for booleans, decimal for integers).
    pub value: String,
    pub count: i64,
}

/// A query and how often it was searched (or found nothing).
#[derive(Object)]
#[oai(rename = "SearchQueryCount")]
pub struct SearchQueryCount {
    /// The query as counted: trimmed, lower-case, single spaces, at most 100 characters.
    pub query: String,
    pub count: i64,
}

/// One day of searches (UTC).
#[derive(Object)]
#[oai(rename = "SearchDayStats")]
pub struct SearchDayStats {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Searches answered that day (first pages; delivery and management).
    pub searches: i64,
    pub without_results: i64,
    /// The most searched queries.
    pub top: Vec<SearchQueryCount>,
    /// The queries that most often found nothing.
    pub no_results: Vec<SearchQueryCount>,
}

/// Search statistics per day, newest first (days without searches are left out).
#[derive(Object)]
#[oai(rename = "SearchStats")]
pub struct SearchStats {
    pub days: Vec<SearchDayStats>,
}

/// A page of results, best first.
#[derive(Object)]
#[oai(rename = "SearchResults")]
pub struct SearchResults {
    pub items: Vec<SearchHit>,
    /// Pass as `cursor` for the next page; `null` on the last (or deepest reachable) page.
    pub next_cursor: Option<String>,
    /// Results matching, over every page, counted up to the server's `count_limit`
    /// (10,000 by default; with facets always exact).
    pub total: i64,
    /// False when more than `total` results match (counting stopped at `count_limit`).
    pub total_exact: bool,
    /// For each facet asked for: its most frequent values among all matching results.
    pub facets: HashMap<String, Vec<SearchFacetValue>>,
}

fn facet_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.to_string(),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => other.to_string(),
    }
}

/// The response: [`SearchResults`], serialized straight from the hits' rows (no copy of
/// their stored values).
struct ResultsView<'a>(&'a Results);

struct HitView<'a>(&'a Hit);

impl Serialize for HitView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let h = self.0;
        let mut m = s.serialize_map(Some(3))?;
        m.serialize_entry("entry", &entry_with(&h.row, &h.ty.def, &h.view, None, None))?;
        m.serialize_entry("score", &h.score)?;
        m.serialize_entry("highlights", &h.highlights)?;
        m.end()
    }
}

struct FacetsView<'a>(&'a Results);

impl Serialize for FacetsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.facets.len()))?;
        for (name, values) in &self.0.facets {
            let values: Vec<Value> = values
                .iter()
                .map(|f| json!({"value": facet_text(&f.value), "count": f.count}))
                .collect();
            m.serialize_entry(name, &values)?;
        }
        m.end()
    }
}

impl Serialize for ResultsView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let r = self.0;
        let items: Vec<HitView> = r.hits.iter().map(HitView).collect();
        let mut m = s.serialize_map(Some(5))?;
        m.serialize_entry("items", &items)?;
        m.serialize_entry("next_cursor", &r.next_cursor)?;
        m.serialize_entry("total", &r.total)?;
        m.serialize_entry("total_exact", &r.total_exact)?;
        m.serialize_entry("facets", &FacetsView(r))?;
        m.end()
    }
}

/// A page of results as JSON: delivery answers may be revalidated, drafts never kept.
fn reply(results: &Results, surface: Surface) -> Body<SearchResults> {
    let cache = match surface {
        Surface::Delivery => "private, no-cache",
        Surface::Manage => "private, no-store",
    };
    Typed::wrap(Reply::json(&ResultsView(results)).header("cache-control", cache))
}

pub struct SearchApi {
    pub services: Services,
}

#[OpenApi]
impl SearchApi {
    /// Search published entries you may read: every word must match (in any searchable
    /// field you may read), by stem (`running` finds `run`), with typos by word length
    /// (none up to 4 letters, one up to 8, two beyond) and the last word as a prefix
    /// (search-as-you-type); `"quoted words"` must match as a phrase. Title matches rank
    /// above body matches (field `boost`). With one `type`, filter with
    /// `filter[field][op]=value` (the list syntax, on `indexed` fields, `locale` and
    /// the entry's times) and count values with `facets`. Results come best first, or
    /// in the order of `sort`. Limits: 500 characters, 12 words, 5 facets, 3 sort keys,
    /// the first 1,000 results.
    #[oai(
        path = "/api/v1/search",
        method = "get",
        operation_id = "search",
        tag = "Tag::Delivery"
    )]
    #[allow(
        clippy::too_many_arguments,
        reason = "the parameters are the documented query"
    )]
    async fn search(
        &self,
        auth: MaybeAuth,
        req: &Request,
        /// The words to find (empty: every entry in scope, e.g. to count facets).
        #[oai(name = "q")]
        _q: Query<Option<String>>,
        /// Only these content types (comma-separated api ids).
        #[oai(name = "type")]
        _type: Query<Option<String>>,
        /// Only entries of this locale (and its language's stemming).
        #[oai(name = "locale")]
        _locale: Query<Option<String>>,
        /// Comma-separated fields to count values of: `type`, `locale`, or (with one
        /// `type`) `indexed` enum, boolean, integer or short text fields.
        #[oai(name = "facets")]
        _facets: Query<Option<String>>,
        /// Order instead of relevance: comma-separated keys, `-` for descending, such as
        /// `-published_at,title`. Keys: `published_at`, `created_at`, `updated_at`,
        /// `locale`, and (with one `type`) `indexed` text, enum, number, boolean and date
        /// fields holding one value. Entries without a value come last; relevance breaks
        /// ties.
        #[oai(name = "sort")]
        _sort: Query<Option<String>>,
        /// Results per page, 1 to 50 (default 10).
        #[oai(name = "limit")]
        _limit: Query<Option<i64>>,
        /// The `next_cursor` of the previous page.
        #[oai(name = "cursor")]
        _cursor: Query<Option<String>>,
    ) -> ApiResult<Body<SearchResults>> {
        let results = self
            .services
            .search
            .search(&auth.principal(), Surface::Delivery, &query_pairs(req))
            .await?;
        Ok(reply(&results, Surface::Delivery))
    }

    /// Search the working drafts of entries you may read drafts of (`read_drafts`):
    /// the same query as `GET /api/v1/search`, over drafts, private fields included
    /// where your role may read them.
    #[oai(
        path = "/api/v1/manage/search",
        method = "get",
        operation_id = "searchDrafts",
        tag = "Tag::Entries"
    )]
    #[allow(
        clippy::too_many_arguments,
        reason = "the parameters are the documented query"
    )]
    async fn search_drafts(
        &self,
        auth: Auth,
        req: &Request,
        /// The words to find (empty: every entry in scope).
        #[oai(name = "q")]
        _q: Query<Option<String>>,
        /// Only these content types (comma-separated api ids).
        #[oai(name = "type")]
        _type: Query<Option<String>>,
        /// Only entries of this locale.
        #[oai(name = "locale")]
        _locale: Query<Option<String>>,
        /// Comma-separated fields to count values of (see `GET /api/v1/search`).
        #[oai(name = "facets")]
        _facets: Query<Option<String>>,
        /// Order instead of relevance: comma-separated keys, `-` for descending, such as
        /// `-published_at,title`. Keys: `published_at`, `created_at`, `updated_at`,
        /// `locale`, and (with one `type`) `indexed` text, enum, number, boolean and date
        /// fields holding one value. Entries without a value come last; relevance breaks
        /// ties.
        #[oai(name = "sort")]
        _sort: Query<Option<String>>,
        /// Results per page, 1 to 50 (default 10).
        #[oai(name = "limit")]
        _limit: Query<Option<i64>>,
        /// The `next_cursor` of the previous page.
        #[oai(name = "cursor")]
        _cursor: Query<Option<String>>,
    ) -> ApiResult<Body<SearchResults>> {
        let results = self
            .services
            .search
            .search(&auth.0, Surface::Manage, &query_pairs(req))
            .await?;
        Ok(reply(&results, Surface::Manage))
    }

    /// One type's search (`GET /api/v1/search?type=…`); the document lists it per type,
    /// with that type's filters and its entries' schema.
    #[oai(
        path = "/api/v1/search/:type_id",
        method = "get",
        operation_id = "searchOneType",
        hidden
    )]
    async fn search_type(
        &self,
        auth: MaybeAuth,
        req: &Request,
        type_id: Path<String>,
    ) -> ApiResult<Body<SearchResults>> {
        let mut params = query_pairs(req);
        params.push(("type".into(), type_id.0));
        let results = self
            .services
            .search
            .search(&auth.principal(), Surface::Delivery, &params)
            .await?;
        Ok(reply(&results, Surface::Delivery))
    }

    /// One type's draft search (`GET /api/v1/manage/search?type=…`).
    #[oai(
        path = "/api/v1/manage/search/:type_id",
        method = "get",
        operation_id = "searchOneTypeDrafts",
        hidden
    )]
    async fn search_type_drafts(
        &self,
        auth: Auth,
        req: &Request,
        type_id: Path<String>,
    ) -> ApiResult<Body<SearchResults>> {
        let mut params = query_pairs(req);
        params.push(("type".into(), type_id.0));
        let results = self
            .services
            .search
            .search(&auth.0, Surface::Manage, &params)
            .await?;
        Ok(reply(&results, Surface::Manage))
    }

    /// Search statistics for the dashboard: per day, how many searches, how many found
    /// nothing, the top queries and the top queries without results (the `audit` right).
    #[oai(
        path = "/api/v1/manage/stats/search",
        method = "get",
        operation_id = "searchStats",
        tag = "Tag::Entries"
    )]
    async fn stats(
        &self,
        auth: Auth,
        /// Days back from today, 1 to 90 (default 7).
        days: Query<Option<i64>>,
        /// Queries per list, 1 to 100 (default 10).
        limit: Query<Option<i64>>,
    ) -> ApiResult<Body<SearchStats>> {
        let days = days.0.unwrap_or(7);
        let limit = limit.0.unwrap_or(10);
        if !(1..=crate::services::search::STATS_DAYS).contains(&days) || !(1..=100).contains(&limit)
        {
            return Err(crate::error::ApiError::new(
                crate::error::Code::InvalidParameter,
                "`days` must be 1 to 90 and `limit` 1 to 100",
            ));
        }
        let stats = self
            .services
            .search
            .stats(&auth.0, days, limit as u64)
            .await?;
        let counts = |v: &[(String, i64)]| -> Vec<Value> {
            v.iter()
                .map(|(q, n)| json!({"query": q, "count": n}))
                .collect()
        };
        let days: Vec<Value> = stats
            .iter()
            .map(|d| {
                json!({
                    "day": d.day,
                    "searches": d.searches,
                    "without_results": d.without_results,
                    "top": counts(&d.top),
                    "no_results": counts(&d.no_results),
                })
            })
            .collect();
        Ok(Typed::wrap(
            Reply::json(&json!({ "days": days })).header("cache-control", "private, no-store"),
        ))
    }
}
