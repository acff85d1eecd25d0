//! `/api/v1/manage/entries/{type}`: entries with drafts, versions, diff, restore,
//! publish and unpublish.

use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi, Tags};
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::dto::content::{
    Entry, EntryDiff, EntryList, FieldChange, ScheduledJobList, Transition, TransitionList,
    Version, VersionList, VersionSummary,
};
use super::dto::{Body, Fresh, Made, Typed};
use super::dto::{Text, text};
use super::render::{self, entry};
use super::{Auth, NoContent, Reply, header, query_pairs};
use crate::domain::access::Visibility;
use crate::domain::query::Surface;
use crate::error::{ApiError, ApiResult, Code};
use crate::services::Services;
use crate::services::content::{EntryInput, entry_etag};
use crate::store::content_types::TypeRow;
use crate::store::entries::EntryRow;

#[derive(Tags)]
enum Tag {
    /// Entries with drafts, versions and publishing
    Entries,
}

pub struct EntriesApi {
    pub services: Services,
    pub public_url: String,
}

/// Body of a create or update. `fields` holds the content (see the per-type schemas
/// `<Type>Create` / `<Type>Update`).
#[derive(Object)]
#[oai(rename = "EntryWrite", deny_unknown_fields)]
pub struct EntryWrite {
    /// Field values, by field name. On update only the given fields change; `null` clears one.
    pub fields: BTreeMap<String, Value>,
    /// Locale of a new entry (localized types only; default: the instance's default locale).
    pub locale: Option<Text>,
    /// Create a translation: the id of any entry of the document (`locale` names the new
    /// entry's locale). Create only.
    pub document: Option<Text>,
    /// Note stored with the version this save creates.
    pub message: Option<Text>,
}

/// Body of a restore.
#[derive(Object)]
#[oai(rename = "RestoreRequest", deny_unknown_fields)]
pub struct RestoreRequest {
    /// The version to restore.
    pub version: i32,
    /// Note stored with the new version.
    pub message: Option<Text>,
}

/// Body of a workflow move.
#[derive(Object)]
#[oai(rename = "TransitionRequest", deny_unknown_fields)]
pub struct TransitionRequest {
    /// The stage to move the entry to.
    pub to: Text,
    /// Why (kept with the move; up to 2000 characters).
    pub comment: Option<Text>,
}

/// Body of a schedule: when to publish the current draft and/or when to unpublish.
#[derive(Object)]
#[oai(rename = "ScheduleRequest", deny_unknown_fields)]
pub struct ScheduleRequest {
    /// When to publish the draft as it is now (RFC 3339). Replaces a pending publish.
    pub publish_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When to unpublish (RFC 3339). Replaces a pending unpublish.
    pub unpublish_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An entry of a management answer, with its ETag.
pub(crate) fn manage_reply<const S: u16>(
    (row, ty, view): (EntryRow, Arc<TypeRow>, Visibility),
) -> Typed<Entry, S> {
    Typed::wrap(Reply::json(&entry(&row, &ty.def, &view, None))).header("etag", entry_etag(&row))
}

impl From<EntryWrite> for EntryInput {
    fn from(w: EntryWrite) -> Self {
        EntryInput {
            fields: w.fields.into_iter().collect(),
            locale: text(w.locale),
            document: text(w.document),
            message: text(w.message),
            restored_from: None,
        }
    }
}

fn page_limit(v: Option<u64>) -> ApiResult<u64> {
    match v {
        None => Ok(20),
        Some(n) if (1..=100).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::new(
            Code::InvalidParameter,
            format!("`limit` must be from 1 to 100, got {n}"),
        )),
    }
}

#[OpenApi(prefix_path = "/api/v1/manage/entries", tag = "Tag::Entries")]
impl EntriesApi {
    /// List entries of a type (drafts included).
    ///
    /// Query: `filter[field][op]=value` (ops eq ne lt lte gt gte in nin contains icontains
    /// startswith null; groups with `filter[or][0][…]`), `sort=-created_at,title`,
    /// `fields=a,b`, `limit` (1-100, default 20), `cursor` (from `next_cursor`), `locale`.
    #[oai(path = "/:type_id", method = "get", operation_id = "listEntries")]
    async fn list(
        &self,
        auth: Auth,
        type_id: Path<String>,
        req: &Request,
    ) -> ApiResult<Body<EntryList>> {
        let (page, ty) = self
            .services
            .content
            .list(&auth.0, &type_id, &query_pairs(req), None, Surface::Manage)
            .await?;
        Ok(Typed::wrap(Reply::json(&render::page(&page, &ty.def))))
    }

    /// Create an entry (version 1, a draft unless the type has draft/publish off).
    #[oai(path = "/:type_id", method = "post", operation_id = "createEntry")]
    async fn create(
        &self,
        auth: Auth,
        type_id: Path<String>,
        body: Json<EntryWrite>,
    ) -> ApiResult<Made<Entry>> {
        let created = self
            .services
            .content
            .create(&auth.0, &type_id, body.0.into())
            .await?;
        let location = format!(
            "{}/api/v1/manage/entries/{}/{}",
            self.public_url, created.0.type_id, created.0.id
        );
        Ok(manage_reply(created).header("location", location))
    }

    /// Get an entry's working draft (ETag; `If-None-Match` gives 304).
    #[oai(path = "/:type_id/:id", method = "get", operation_id = "getEntry")]
    async fn get(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        req: &Request,
    ) -> ApiResult<Fresh<Entry>> {
        let one = self
            .services
            .content
            .read_one(&auth.0, &type_id, &id, &query_pairs(req))
            .await?;
        if one.select.is_none() && one.populated.is_none() {
            let etag = entry_etag(&one.row);
            let reply = Reply::json(&entry(&one.row, &one.ty.def, &one.view, None));
            return Ok(Typed::wrap(reply.conditional(req, &etag)));
        }
        // A selection or related entries: the tag follows the bytes.
        let body = render::entry_with(
            &one.row,
            &one.ty.def,
            &one.view,
            one.select.as_deref(),
            one.populated.as_ref(),
        );
        let reply = Reply::json(&body);
        let etag = render::body_etag(reply.body_bytes());
        Ok(Typed::wrap(reply.conditional(req, &etag)))
    }

    /// Update an entry: the given fields change, a new version is recorded. Send the
    /// ETag you read in `If-Match`; a stale one gets 412 with the current version.
    #[oai(path = "/:type_id/:id", method = "patch", operation_id = "updateEntry")]
    async fn update(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        body: Json<EntryWrite>,
        req: &Request,
    ) -> ApiResult<Body<Entry>> {
        let updated = self
            .services
            .content
            .update(
                &auth.0,
                &type_id,
                &id,
                body.0.into(),
                header(req, "if-match"),
            )
            .await?;
        Ok(manage_reply(updated))
    }

    /// Delete an entry and its history (`If-Match` honoured).
    #[oai(
        path = "/:type_id/:id",
        method = "delete",
        operation_id = "deleteEntry"
    )]
    async fn delete(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        req: &Request,
    ) -> ApiResult<NoContent> {
        self.services
            .content
            .delete(&auth.0, &type_id, &id, header(req, "if-match"))
            .await?;
        Ok(NoContent)
    }

    /// List an entry's versions, newest first (`before`, `limit` page through them).
    #[oai(
        path = "/:type_id/:id/versions",
        method = "get",
        operation_id = "listEntryVersions"
    )]
    async fn versions(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        before: Query<Option<i32>>,
        limit: Query<Option<u64>>,
    ) -> ApiResult<Body<VersionList>> {
        let limit = page_limit(limit.0)?;
        let (list, total) = self
            .services
            .content
            .versions(&auth.0, &type_id, &id, before.0, limit)
            .await?;
        let next = if list.len() as u64 == limit {
            list.last().filter(|v| v.n > 1).map(|v| v.n.to_string())
        } else {
            None
        };
        Ok(Body::new(&VersionList {
            items: list.iter().map(VersionSummary::from).collect(),
            next_cursor: next,
            total,
        }))
    }

    /// One version with its full data.
    #[oai(
        path = "/:type_id/:id/versions/:n",
        method = "get",
        operation_id = "getEntryVersion"
    )]
    async fn version(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        n: Path<i32>,
    ) -> ApiResult<Body<Version>> {
        let (v, ty, view) = self
            .services
            .content
            .version(&auth.0, &type_id, &id, n.0)
            .await?;
        Ok(Body::new(&render::version_full(&v, &ty.def, &view)))
    }

    /// Field-by-field differences between two versions.
    #[oai(
        path = "/:type_id/:id/diff",
        method = "get",
        operation_id = "diffEntryVersions"
    )]
    async fn diff(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        from: Query<i32>,
        to: Query<i32>,
    ) -> ApiResult<Body<EntryDiff>> {
        let changes = self
            .services
            .content
            .diff(&auth.0, &type_id, &id, from.0, to.0)
            .await?;
        Ok(Body::new(&EntryDiff {
            from: i64::from(from.0),
            to: i64::from(to.0),
            changes: changes.iter().map(FieldChange::from).collect(),
        }))
    }

    /// Restore a version: its data becomes a new version (history is kept).
    #[oai(
        path = "/:type_id/:id/restore",
        method = "post",
        operation_id = "restoreEntryVersion"
    )]
    async fn restore(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        body: Json<RestoreRequest>,
        req: &Request,
    ) -> ApiResult<Body<Entry>> {
        let restored = self
            .services
            .content
            .restore(
                &auth.0,
                &type_id,
                &id,
                body.0.version,
                text(body.0.message),
                header(req, "if-match"),
            )
            .await?;
        Ok(manage_reply(restored))
    }

    /// Move an entry to another stage of its type's review workflow (needs
    /// `transition:<stage>`; `If-Match` honoured). Disallowed moves get 409
    /// `transition_not_allowed` naming the stages reachable from here.
    #[oai(
        path = "/:type_id/:id/transition",
        method = "post",
        operation_id = "transitionEntry"
    )]
    async fn transition(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        body: Json<TransitionRequest>,
        req: &Request,
    ) -> ApiResult<Body<Entry>> {
        let moved = self
            .services
            .content
            .transition(
                &auth.0,
                &type_id,
                &id,
                &body.0.to,
                text(body.0.comment),
                header(req, "if-match"),
            )
            .await?;
        Ok(manage_reply(moved))
    }

    /// An entry's stage changes, oldest first: who, when, from, to, comment.
    #[oai(
        path = "/:type_id/:id/transitions",
        method = "get",
        operation_id = "listEntryTransitions"
    )]
    async fn transitions(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
    ) -> ApiResult<Body<TransitionList>> {
        let list = self
            .services
            .content
            .transitions(&auth.0, &type_id, &id)
            .await?;
        Ok(Body::new(&TransitionList {
            items: list.iter().map(Transition::from).collect(),
            next_cursor: None,
            total: list.len() as i64,
        }))
    }

    /// Schedule a publish (of the draft as it is now) and/or an unpublish. Needs the
    /// `publish` right; runs once at the given time with the rights its author has then,
    /// even across restarts and with several nodes.
    #[oai(
        path = "/:type_id/:id/schedule",
        method = "post",
        operation_id = "scheduleEntry"
    )]
    async fn schedule(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        body: Json<ScheduleRequest>,
    ) -> ApiResult<Made<ScheduledJobList>> {
        let jobs = self
            .services
            .content
            .schedule(
                &auth.0,
                &type_id,
                &id,
                body.0.publish_at,
                body.0.unpublish_at,
            )
            .await?;
        Ok(Made::new(&ScheduledJobList::of(&jobs)))
    }

    /// An entry's scheduled jobs, newest first (pending, done, failed, cancelled).
    #[oai(
        path = "/:type_id/:id/schedule",
        method = "get",
        operation_id = "listEntrySchedule"
    )]
    async fn entry_schedule(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
    ) -> ApiResult<Body<ScheduledJobList>> {
        let jobs = self
            .services
            .content
            .schedules_of(&auth.0, &type_id, &id)
            .await?;
        Ok(Body::new(&ScheduledJobList::of(&jobs)))
    }

    /// Cancel a pending job.
    #[oai(
        path = "/:type_id/:id/schedule/:job_id",
        method = "delete",
        operation_id = "cancelEntrySchedule"
    )]
    async fn cancel_schedule(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        job_id: Path<String>,
    ) -> ApiResult<NoContent> {
        self.services
            .content
            .cancel_schedule(&auth.0, &type_id, &id, &job_id)
            .await?;
        Ok(NoContent)
    }

    /// Publish the current draft: delivery serves exactly this version until the next publish.
    #[oai(
        path = "/:type_id/:id/publish",
        method = "post",
        operation_id = "publishEntry"
    )]
    async fn publish(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        req: &Request,
    ) -> ApiResult<Body<Entry>> {
        let published = self
            .services
            .content
            .publish(&auth.0, &type_id, &id, true, header(req, "if-match"))
            .await?;
        Ok(manage_reply(published))
    }

    /// Unpublish: delivery stops serving the entry; the draft stays.
    #[oai(
        path = "/:type_id/:id/unpublish",
        method = "post",
        operation_id = "unpublishEntry"
    )]
    async fn unpublish(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        req: &Request,
    ) -> ApiResult<Body<Entry>> {
        let unpublished = self
            .services
            .content
            .publish(&auth.0, &type_id, &id, false, header(req, "if-match"))
            .await?;
        Ok(manage_reply(unpublished))
    }
}
