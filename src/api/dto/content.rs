//! Response bodies of the content surfaces: entries (generic, for the `{type_id}`
//! operations), versions, diffs, workflow moves, schedules, comments, trash and content
//! types.

use poem_openapi::{Enum, Object};
use serde_json::Value;

use super::{JsonObject, Ts, ts};
use crate::domain::diff::FieldChange as DomainChange;
use crate::domain::schema::ContentTypeDef;
use crate::store::comments::CommentRow;
use crate::store::entries::VersionRow;
use crate::store::schedules::ScheduleRow;
use crate::store::workflow::TransitionRow;

/// Where an entry is in its life: never published, published as it is, or published
/// with unpublished changes since.
#[derive(Enum, Debug, Clone, Copy, PartialEq)]
#[oai(rename = "EntryStatus", rename_all = "snake_case")]
pub enum EntryStatus {
    Draft,
    Published,
    Changed,
}

/// An entry of any type (the per-type operations have exact schemas, named after the type).
/// Delivery shows the published version; management shows the working draft.
#[derive(Object)]
#[oai(rename = "Entry")]
pub struct Entry {
    /// Stable id (UUID v7).
    pub id: String,
    /// The content type's `api_id`.
    #[oai(rename = "type")]
    pub type_: String,
    pub locale: String,
    /// The document this entry is one locale of: the same for all its translations.
    pub document: String,
    /// Version number shown (delivery: the published version).
    pub version: i64,
    pub status: EntryStatus,
    /// Workflow stage (`draft`, `in_review`, `approved`, `published`, `archived`, …).
    pub stage: String,
    /// The owner's user id (management only; `null` on delivery).
    pub owner: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
    pub published_at: Option<Ts>,
    /// Field values by field name, the fields the caller may read (or those `fields=`
    /// selected).
    pub fields: JsonObject,
}

/// A page of entries.
#[derive(Object)]
#[oai(rename = "EntryList")]
pub struct EntryList {
    pub items: Vec<Entry>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
    /// How many entries match the filter, counted up to the server's `count_limit`.
    pub total: i64,
    /// `false` when more entries match than the count limit: `total` is that limit.
    pub total_exact: bool,
}

/// A deleted entry in the trash: the entry as it was, and who deleted it when.
#[derive(Object)]
#[oai(rename = "TrashedEntry")]
pub struct TrashedEntry {
    #[oai(flatten)]
    pub entry: Entry,
    pub deleted_at: Ts,
    /// `user:<id>` or `token:<id>`.
    pub deleted_by: Option<String>,
}

/// A page of the trash.
#[derive(Object)]
#[oai(rename = "TrashList")]
pub struct TrashList {
    pub items: Vec<TrashedEntry>,
    pub next_cursor: Option<String>,
    /// Not counted for the trash (`null`).
    pub total: Option<i64>,
}

/// One saved version of an entry, without its data.
#[derive(Object)]
#[oai(rename = "VersionSummary")]
pub struct VersionSummary {
    pub version: i64,
    /// `user:<id>`, `token:<id>` or `scheduler`.
    pub author: Option<String>,
    pub message: Option<String>,
    pub created_at: Ts,
}

impl From<&VersionRow> for VersionSummary {
    fn from(v: &VersionRow) -> Self {
        VersionSummary {
            version: i64::from(v.n),
            author: v.author.clone(),
            message: v.message.clone(),
            created_at: Ts(v.created_at),
        }
    }
}

/// A page of an entry's versions, newest first.
#[derive(Object)]
#[oai(rename = "VersionList")]
pub struct VersionList {
    pub items: Vec<VersionSummary>,
    /// Pass as `before` for the next page.
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// One version with its data (the fields the caller may read).
#[derive(Object)]
#[oai(rename = "Version")]
pub struct Version {
    #[oai(flatten)]
    pub summary: VersionSummary,
    pub fields: JsonObject,
}

/// How a field differs between two versions.
#[derive(Enum, Debug, Clone, Copy, PartialEq)]
#[oai(rename = "ChangeKind", rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One field's difference.
#[derive(Object)]
#[oai(rename = "FieldChange")]
pub struct FieldChange {
    pub field: String,
    pub change: ChangeKind,
    /// The value in `from` (`null` when added).
    pub old: Value,
    /// The value in `to` (`null` when removed).
    pub new: Value,
}

impl From<&DomainChange> for FieldChange {
    fn from(c: &DomainChange) -> Self {
        FieldChange {
            field: c.field.clone(),
            change: match c.change {
                "added" => ChangeKind::Added,
                "removed" => ChangeKind::Removed,
                _ => ChangeKind::Changed,
            },
            old: c.old.clone().unwrap_or(Value::Null),
            new: c.new.clone().unwrap_or(Value::Null),
        }
    }
}

/// The differences between two versions, field by field in the type's order.
#[derive(Object)]
#[oai(rename = "EntryDiff")]
pub struct EntryDiff {
    pub from: i64,
    pub to: i64,
    pub changes: Vec<FieldChange>,
}

/// One move of an entry between workflow stages.
#[derive(Object)]
#[oai(rename = "Transition")]
pub struct Transition {
    pub id: String,
    pub from: String,
    pub to: String,
    /// `user:<id>`, `token:<id>` or `scheduler`.
    pub actor: Option<String>,
    pub comment: Option<String>,
    pub created_at: Ts,
}

impl From<&TransitionRow> for Transition {
    fn from(t: &TransitionRow) -> Self {
        Transition {
            id: t.id.clone(),
            from: t.from_stage.clone(),
            to: t.to_stage.clone(),
            actor: t.actor.clone(),
            comment: t.comment.clone(),
            created_at: Ts(t.created_at),
        }
    }
}

/// An entry's stage changes, oldest first.
#[derive(Object)]
#[oai(rename = "TransitionList")]
pub struct TransitionList {
    pub items: Vec<Transition>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// What a scheduled job does.
#[derive(Enum, Debug, Clone, Copy, PartialEq)]
#[oai(rename = "ScheduleAction", rename_all = "snake_case")]
pub enum ScheduleAction {
    Publish,
    Unpublish,
}

/// Where a scheduled job is.
#[derive(Enum, Debug, Clone, Copy, PartialEq)]
#[oai(rename = "ScheduleStatus", rename_all = "snake_case")]
pub enum ScheduleStatus {
    Pending,
    Done,
    Failed,
    Cancelled,
}

/// A scheduled publish or unpublish.
#[derive(Object)]
#[oai(rename = "ScheduledJob")]
pub struct ScheduledJob {
    pub id: String,
    /// The content type's `api_id`.
    #[oai(rename = "type")]
    pub type_: String,
    pub entry_id: String,
    pub action: ScheduleAction,
    pub run_at: Ts,
    /// The version a publish puts live (the draft's version when it was scheduled).
    pub version: Option<i64>,
    pub status: ScheduleStatus,
    /// Who scheduled it (`user:<id>` or `token:<id>`); the job runs with their rights.
    pub created_by: String,
    pub created_at: Ts,
    pub done_at: Option<Ts>,
    /// Why a failed job failed.
    pub error: Option<String>,
}

impl From<&ScheduleRow> for ScheduledJob {
    fn from(j: &ScheduleRow) -> Self {
        ScheduledJob {
            id: j.id.clone(),
            type_: j.type_id.clone(),
            entry_id: j.entry_id.clone(),
            action: if j.action == "unpublish" {
                ScheduleAction::Unpublish
            } else {
                ScheduleAction::Publish
            },
            run_at: Ts(j.run_at),
            version: j.version.map(i64::from),
            status: match j.status.as_str() {
                "done" => ScheduleStatus::Done,
                "failed" => ScheduleStatus::Failed,
                "cancelled" => ScheduleStatus::Cancelled,
                _ => ScheduleStatus::Pending,
            },
            created_by: j.created_by.clone(),
            created_at: Ts(j.created_at),
            done_at: ts(&j.done_at),
            error: j.error.clone(),
        }
    }
}

/// Scheduled jobs.
#[derive(Object)]
#[oai(rename = "ScheduledJobList")]
pub struct ScheduledJobList {
    pub items: Vec<ScheduledJob>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

impl ScheduledJobList {
    pub fn of(rows: &[ScheduleRow]) -> Self {
        ScheduledJobList {
            items: rows.iter().map(ScheduledJob::from).collect(),
            next_cursor: None,
            total: rows.len() as i64,
        }
    }
}

/// A user a comment mentions.
#[derive(Object)]
#[oai(rename = "Mention")]
pub struct Mention {
    pub user_id: String,
    pub email: String,
}

/// A review comment on an entry.
#[derive(Object)]
#[oai(rename = "Comment")]
pub struct Comment {
    pub id: String,
    pub entry_id: String,
    /// The comment this one replies to.
    pub parent_id: Option<String>,
    /// `user:<id>` or `token:<id>`.
    pub author: String,
    /// The author's email or token name, as it was then.
    pub author_label: Option<String>,
    pub body: String,
    /// `@name@example.com` mentions that resolved to users who may read the draft.
    pub mentions: Vec<Mention>,
    pub resolved: bool,
    pub resolved_at: Option<Ts>,
    pub resolved_by: Option<String>,
    pub created_at: Ts,
    pub updated_at: Ts,
}

impl From<&CommentRow> for Comment {
    fn from(c: &CommentRow) -> Self {
        let mentions = c
            .mentions
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                Some(Mention {
                    user_id: m.get("user_id")?.as_str()?.to_string(),
                    email: m.get("email")?.as_str()?.to_string(),
                })
            })
            .collect();
        Comment {
            id: c.id.clone(),
            entry_id: c.entry_id.clone(),
            parent_id: c.parent_id.clone(),
            author: c.author.clone(),
            author_label: c.author_label.clone(),
            body: c.body.clone(),
            mentions,
            resolved: c.resolved_at.is_some(),
            resolved_at: ts(&c.resolved_at),
            resolved_by: c.resolved_by.clone(),
            created_at: Ts(c.created_at),
            updated_at: Ts(c.updated_at),
        }
    }
}

/// An entry's comments, oldest first.
#[derive(Object)]
#[oai(rename = "CommentList")]
pub struct CommentList {
    pub items: Vec<Comment>,
    pub next_cursor: Option<String>,
    pub total: i64,
}

/// A content type as stored: its definition (in the compact form of the schema file:
/// properties at their defaults left out) and when it was made and last changed.
#[derive(Object)]
#[oai(rename = "ContentTypeRecord")]
pub struct ContentTypeRecord {
    #[oai(flatten)]
    pub def: ContentTypeDef,
    pub created_at: Ts,
    pub updated_at: Ts,
}

/// Content types.
#[derive(Object)]
#[oai(rename = "ContentTypeList")]
pub struct ContentTypeList {
    pub items: Vec<ContentTypeRecord>,
    pub next_cursor: Option<String>,
    pub total: i64,
}
