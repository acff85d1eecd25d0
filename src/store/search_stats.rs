//! Search statistics: how often each (normalized) query was searched per day and how
//! often it found nothing. Written in batches by the search service.

use sea_orm::{ConnectionTrait, DbErr};

use super::{Sql, get};

/// Counts to add for one (day, surface, query).
pub struct Counted {
    pub day: String,
    pub surface: &'static str,
    pub query: String,
    pub searches: i64,
    pub without_results: i64,
}

pub async fn add(c: &impl ConnectionTrait, row: &Counted) -> Result<(), DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("INSERT INTO search_queries (day, surface, query, searches, without_results) VALUES (")
        .bind(row.day.clone())
        .push(", ")
        .bind(row.surface)
        .push(", ")
        .bind(row.query.clone())
        .push(", ")
        .bind(row.searches)
        .push(", ")
        .bind(row.without_results)
        .push(") ON CONFLICT (day, surface, query) DO UPDATE SET searches = search_queries.searches + excluded.searches, without_results = search_queries.without_results + excluded.without_results");
    q.execute(c).await.map(|_| ())
}

/// One day's totals.
pub struct DayTotal {
    pub day: String,
    pub searches: i64,
    pub without_results: i64,
}

pub async fn totals(c: &impl ConnectionTrait, since: &str) -> Result<Vec<DayTotal>, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("SELECT day, CAST(SUM(searches) AS BIGINT) AS searches, CAST(SUM(without_results) AS BIGINT) AS without_results FROM search_queries WHERE day >= ")
        .bind(since.to_string())
        .push(" GROUP BY day ORDER BY day DESC");
    q.fetch_all(c)
        .await?
        .iter()
        .map(|r| {
            Ok(DayTotal {
                day: get(r, "day")?,
                searches: get(r, "searches")?,
                without_results: get(r, "without_results")?,
            })
        })
        .collect()
}

/// The most searched queries of a day (`zero`: those that most often found nothing).
pub async fn top(
    c: &impl ConnectionTrait,
    day: &str,
    zero: bool,
    limit: u64,
) -> Result<Vec<(String, i64)>, DbErr> {
    let col = if zero { "without_results" } else { "searches" };
    let mut q = Sql::new(c.get_database_backend());
    q.push(&format!(
        "SELECT query, CAST(SUM({col}) AS BIGINT) AS n FROM search_queries WHERE day = "
    ))
    .bind(day.to_string())
    .push(&format!(
        " GROUP BY query HAVING SUM({col}) > 0 ORDER BY n DESC, query LIMIT "
    ))
    .bind(limit as i64);
    q.fetch_all(c)
        .await?
        .iter()
        .map(|r| Ok((get(r, "query")?, get(r, "n")?)))
        .collect()
}

/// Forgets days before `before` (statistics are kept for a bounded time).
pub async fn prune(c: &impl ConnectionTrait, before: &str) -> Result<u64, DbErr> {
    let mut q = Sql::new(c.get_database_backend());
    q.push("DELETE FROM search_queries WHERE day < ")
        .bind(before.to_string());
    q.execute(c).await
}
