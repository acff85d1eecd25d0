//! `/api/v1/manage/trash`: deleted entries, listed, restored or purged for good.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use serde_json::{Value, json};

use super::dto::content::{Entry, TrashList};
use super::dto::{Body, Typed};
use super::render::entry;
use super::{Auth, NoContent, Reply};
use crate::domain::fmt_ts;
use crate::error::{ApiError, ApiResult, Code};
use crate::services::Services;

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Deleted entries
    Trash,
}

pub struct TrashApi {
    pub services: Services,
}

fn bad_cursor() -> ApiError {
    ApiError::new(
        Code::InvalidCursor,
        "`cursor` is not one this server issued; use the `next_cursor` of the previous page",
    )
}

fn decode_cursor(c: &str) -> ApiResult<(chrono::DateTime<chrono::Utc>, String)> {
    let raw = URL_SAFE_NO_PAD.decode(c).map_err(|_| bad_cursor())?;
    let text = String::from_utf8(raw).map_err(|_| bad_cursor())?;
    let (at, id) = text.split_once('|').ok_or_else(bad_cursor)?;
    let at = chrono::DateTime::parse_from_rfc3339(at)
        .map_err(|_| bad_cursor())?
        .with_timezone(&chrono::Utc);
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(bad_cursor());
    }
    Ok((at, id.to_string()))
}

#[OpenApi(prefix_path = "/api/v1/manage/trash", tag = "Tag::Trash")]
impl TrashApi {
    /// Deleted entries, most recently deleted first, of one type (`type`) or of every
    /// type you may read drafts of. They are purged after the retention period.
    #[oai(path = "/", method = "get", operation_id = "listTrash")]
    async fn list(
        &self,
        auth: Auth,
        #[oai(name = "type")] type_id: Query<Option<String>>,
        limit: Query<Option<u64>>,
        cursor: Query<Option<String>>,
    ) -> ApiResult<Body<TrashList>> {
        let limit = limit.0.unwrap_or(20);
        if !(1..=100).contains(&limit) {
            return Err(ApiError::new(
                Code::InvalidParameter,
                format!("`limit` must be from 1 to 100, got {limit}"),
            ));
        }
        let before = cursor.0.as_deref().map(decode_cursor).transpose()?;
        let rows = self
            .services
            .content
            .trash_list(&auth.0, type_id.0.as_deref(), before, limit)
            .await?;
        let next = (rows.len() as u64 == limit)
            .then(|| rows.last())
            .flatten()
            .map(|t| {
                URL_SAFE_NO_PAD.encode(format!("{}|{}", fmt_ts(&t.row.deleted_at), t.row.entry.id))
            });
        let mut items = Vec::new();
        for t in &rows {
            let Ok(ty) = self.services.types.get(&t.row.entry.type_id) else {
                continue;
            };
            let mut item: Value = entry(&t.row.entry, &ty.def, &t.view, None);
            item["deleted_at"] = json!(fmt_ts(&t.row.deleted_at));
            item["deleted_by"] = json!(t.row.deleted_by);
            items.push(item);
        }
        Ok(Typed::wrap(Reply::json(
            &json!({ "items": items, "next_cursor": next, "total": null }),
        )))
    }

    /// Restore a deleted entry as it was, history included (published again if it
    /// was). Its slug is derived anew if another entry took it.
    #[oai(
        path = "/:id/restore",
        method = "post",
        operation_id = "restoreTrashed"
    )]
    async fn restore(&self, auth: Auth, id: Path<String>) -> ApiResult<Body<Entry>> {
        let restored = self.services.content.untrash(&auth.0, &id).await?;
        Ok(super::entries::manage_reply(restored))
    }

    /// Purge a deleted entry for good, with its history.
    #[oai(path = "/:id", method = "delete", operation_id = "purgeTrashed")]
    async fn purge(&self, auth: Auth, id: Path<String>) -> ApiResult<NoContent> {
        self.services.content.purge(&auth.0, &id).await?;
        Ok(NoContent)
    }
}
