//! `GET /api/v1/sync`: the offline copy for mobile apps (see `services::sync`).

use poem::Request;
use poem_openapi::param::Query;
use poem_openapi::{Enum, Object, OpenApi};
use serde_json::{Value, json};

use super::dto::content::Entry;
use super::dto::{Body, Typed};
use super::render::entry;
use super::{MaybeAuth, Reply, query_pairs};
use crate::error::ApiResult;
use crate::services::Services;
use crate::services::sync::SyncOp;

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Published content for apps
    Delivery,
}

/// What to do with one entry of the local copy.
#[derive(Enum)]
#[oai(rename = "SyncOpKind", rename_all = "snake_case")]
pub enum SyncOpKind {
    /// Insert or replace the entry (`entry`).
    Upsert,
    /// Remove the entry `id` of type `type`.
    Delete,
}

/// One change: `{"op": "upsert", "entry": {…}}` or `{"op": "delete", "id": "…", "type": "article"}`.
#[derive(Object)]
#[oai(rename = "SyncItem")]
pub struct SyncItem {
    pub op: SyncOpKind,
    /// The entry as delivery shows it (upserts).
    pub entry: Option<Entry>,
    /// The removed entry's id (deletes).
    pub id: Option<String>,
    /// The removed entry's type (deletes).
    #[oai(rename = "type")]
    pub type_: Option<String>,
}

/// A page of changes, in event order.
#[derive(Object)]
#[oai(rename = "SyncPage")]
pub struct SyncPage {
    pub items: Vec<SyncItem>,
    /// Send it as `cursor` next time: it picks up exactly after this page.
    pub next_cursor: String,
    /// Another page is ready now (keep going); `false`: the copy is current, come back
    /// later with `next_cursor`.
    pub has_more: bool,
}

pub struct SyncApi {
    pub services: Services,
}

#[OpenApi(prefix_path = "/api/v1/sync", tag = "Tag::Delivery")]
impl SyncApi {
    /// Sync an offline copy: without `cursor`, every published entry you may read (paged),
    /// then, with the `next_cursor` of the last page, what changed since (upserts and
    /// tombstones, including entries that left what you may read). Apply every page in
    /// order and the copy equals what the server shows you. A cursor older than the kept
    /// events is refused with 410 `sync_cursor_expired`: sync again from the start.
    #[oai(path = "/", method = "get", operation_id = "sync")]
    #[allow(
        clippy::too_many_arguments,
        reason = "the parameters are the documented query"
    )]
    async fn sync(
        &self,
        auth: MaybeAuth,
        req: &Request,
        /// Only these content types (comma-separated api ids).
        #[oai(name = "type")]
        _type: Query<Option<String>>,
        /// Only entries of this locale.
        #[oai(name = "locale")]
        _locale: Query<Option<String>>,
        /// Changes per page, 1 to 500 (default 100).
        #[oai(name = "limit")]
        _limit: Query<Option<i64>>,
        /// The `next_cursor` of your last page.
        #[oai(name = "cursor")]
        _cursor: Query<Option<String>>,
    ) -> ApiResult<Body<SyncPage>> {
        let principal = auth.principal();
        let page = self
            .services
            .sync
            .page(&principal, &query_pairs(req))
            .await?;
        let items: Vec<Value> = page
            .ops
            .iter()
            .map(|op| match op {
                SyncOp::Upsert { row, ty, view } => {
                    json!({ "op": "upsert", "entry": entry(row, &ty.def, view, None) })
                }
                SyncOp::Delete { id, type_id } => {
                    json!({ "op": "delete", "id": id, "type": type_id })
                }
            })
            .collect();
        let body =
            json!({ "items": items, "next_cursor": page.next_cursor, "has_more": page.has_more });
        Ok(Typed::wrap(
            Reply::json(&body).header("cache-control", "private, no-store"),
        ))
    }
}
