//! `POST /api/v1/query/{type}` and `POST /api/v1/manage/query/{type}`: the list query as
//! a JSON body, for clients that cannot send `filter[…]` parameters with `and`/`or`
//! groups (generated clients: every generator serializes a typed JSON body). Answers
//! exactly what the GET lists answer for the same query, cursors included.

use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use serde_json::Value;

use super::dto::content::EntryList;
use super::dto::{Body, JsonObject, Text, Typed};
use super::{MaybeAuth, Reply, query_pairs};
use crate::authz::Principal;
use crate::domain::query::Surface;
use crate::error::{ApiError, ApiResult, Code, clip};
use crate::services::Services;
use poem::Request;

#[derive(Tags)]
enum Tag {
    /// Published content for apps (read-only)
    Delivery,
    /// Entries with drafts, versions and publishing
    Entries,
}

pub struct QueryApi {
    pub services: Services,
}

/// A list query (the per-type `…Query` schemas type `filter` and `fields` exactly).
#[derive(Object)]
#[oai(rename = "EntryQuery", deny_unknown_fields)]
pub struct EntryQuery {
    /// `{"field": {"op": value}, "or": [filter, …], "and": [filter, …]}`; `in`/`nin`
    /// take arrays.
    pub filter: Option<JsonObject>,
    /// Comma-separated fields, `-` for descending (e.g. `-published_at,title`).
    #[oai(validator(max_length = 1000))]
    pub sort: Option<Text>,
    /// Fields to return.
    #[oai(validator(max_items = 200))]
    pub fields: Option<Vec<Text>>,
    /// Entries per page, 1 to 100 (default 20).
    pub limit: Option<i64>,
    /// The `next_cursor` of the previous page (same filter, sort and locale).
    #[oai(validator(max_length = 4096))]
    pub cursor: Option<Text>,
    #[oai(validator(max_length = 35))]
    pub locale: Option<Text>,
    /// Relation fields to expand into `populated` (`author,author.company`).
    #[oai(validator(max_length = 1000))]
    pub populate: Option<Text>,
}

impl EntryQuery {
    /// The query-string form of everything but the filter.
    fn pairs(&self) -> Vec<(String, String)> {
        let mut out = Vec::new();
        if let Some(s) = &self.sort {
            out.push(("sort".into(), s.to_string()));
        }
        if let Some(f) = &self.fields {
            let names: Vec<&str> = f.iter().map(|t| &**t).collect();
            out.push(("fields".into(), names.join(",")));
        }
        if let Some(l) = self.limit {
            out.push(("limit".into(), l.to_string()));
        }
        if let Some(c) = &self.cursor {
            out.push(("cursor".into(), c.to_string()));
        }
        if let Some(l) = &self.locale {
            out.push(("locale".into(), l.to_string()));
        }
        if let Some(p) = &self.populate {
            out.push(("populate".into(), p.to_string()));
        }
        out
    }
}

impl QueryApi {
    async fn run(
        &self,
        principal: &Principal,
        type_id: &str,
        q: &EntryQuery,
        surface: Surface,
        req: &Request,
    ) -> ApiResult<Body<EntryList>> {
        if let Some((name, _)) = query_pairs(req).first() {
            return Err(ApiError::new(
                Code::UnknownParameter,
                format!(
                    "unknown query parameter `{}`; this endpoint takes the whole query in its JSON body",
                    clip(name)
                ),
            ));
        }
        let filter = q.filter.as_ref().map(|f| Value::Object(f.0.clone()));
        let (page, ty) = self
            .services
            .content
            .list(principal, type_id, &q.pairs(), filter.as_ref(), surface)
            .await?;
        Ok(Typed::wrap(Reply::json(&super::render::page(
            &page, &ty.def,
        ))))
    }
}

#[OpenApi]
impl QueryApi {
    /// Query published entries of a type with a JSON body: the same filter, sort,
    /// fields, paging and locale as `GET /api/v1/content/{type}`, with `and`/`or`
    /// groups and `in` as an array.
    #[oai(
        path = "/api/v1/query/:type_id",
        method = "post",
        operation_id = "queryEntries",
        tag = "Tag::Delivery"
    )]
    async fn deliver(
        &self,
        auth: MaybeAuth,
        type_id: Path<String>,
        body: Json<EntryQuery>,
        req: &Request,
    ) -> ApiResult<Body<EntryList>> {
        let principal = auth.principal();
        self.run(&principal, &type_id, &body.0, Surface::Delivery, req)
            .await
            .map(|r| Typed::wrap(r.into_reply().header("cache-control", "private, no-store")))
    }

    /// Query entries of a type, drafts included, with a JSON body (as
    /// `GET /api/v1/manage/entries/{type}`).
    #[oai(
        path = "/api/v1/manage/query/:type_id",
        method = "post",
        operation_id = "queryManagedEntries",
        tag = "Tag::Entries"
    )]
    async fn manage(
        &self,
        auth: super::Auth,
        type_id: Path<String>,
        body: Json<EntryQuery>,
        req: &Request,
    ) -> ApiResult<Body<EntryList>> {
        self.run(&auth.0, &type_id, &body.0, Surface::Manage, req)
            .await
    }
}
