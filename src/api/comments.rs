//! `/api/v1/manage/entries/{type}/{id}/comments`: review comments on an entry's draft.

use super::dto::content::{Comment, CommentList};
use super::dto::{Body, Made};
use super::dto::{Text, text};
use super::{Auth, NoContent};
use crate::error::ApiResult;
use crate::services::Services;
use crate::services::content::CommentPatch;
use poem_openapi::param::Path;
use poem_openapi::payload::Json;
use poem_openapi::{Object, OpenApi};

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Review comments on entries
    Comments,
}

pub struct CommentsApi {
    pub services: Services,
}

/// A new comment or reply.
#[derive(Object)]
#[oai(rename = "CommentCreate", deny_unknown_fields)]
pub struct CommentCreate {
    /// The text (1-10000 characters). `@name@example.com` mentions a user who may read
    /// the draft.
    pub body: Text,
    /// The comment this one replies to (same entry).
    pub parent_id: Option<Text>,
}

/// A change to a comment: its text (author only) and/or whether it is resolved.
#[derive(Object)]
#[oai(rename = "CommentUpdate", deny_unknown_fields)]
pub struct CommentUpdate {
    pub body: Option<Text>,
    pub resolved: Option<bool>,
}

#[OpenApi(prefix_path = "/api/v1/manage/entries", tag = "Tag::Comments")]
impl CommentsApi {
    /// An entry's comments, oldest first; replies carry `parent_id`.
    #[oai(
        path = "/:type_id/:id/comments",
        method = "get",
        operation_id = "listComments"
    )]
    async fn list(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
    ) -> ApiResult<Body<CommentList>> {
        let list = self
            .services
            .content
            .comments(&auth.0, &type_id, &id)
            .await?;
        Ok(Body::new(&CommentList {
            items: list.iter().map(Comment::from).collect(),
            next_cursor: None,
            total: list.len() as i64,
        }))
    }

    /// Comment on an entry, or reply to a comment.
    #[oai(
        path = "/:type_id/:id/comments",
        method = "post",
        operation_id = "createComment"
    )]
    async fn create(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        body: Json<CommentCreate>,
    ) -> ApiResult<Made<Comment>> {
        let c = self
            .services
            .content
            .add_comment(
                &auth.0,
                &type_id,
                &id,
                &body.0.body,
                body.0.parent_id.as_deref(),
            )
            .await?;
        Ok(Made::new(&Comment::from(&c)))
    }

    /// Edit a comment's text (its author) or resolve / reopen it.
    #[oai(
        path = "/:type_id/:id/comments/:comment_id",
        method = "patch",
        operation_id = "updateComment"
    )]
    async fn update(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        comment_id: Path<String>,
        body: Json<CommentUpdate>,
    ) -> ApiResult<Body<Comment>> {
        let patch = CommentPatch {
            body: text(body.0.body),
            resolved: body.0.resolved,
        };
        let c = self
            .services
            .content
            .change_comment(&auth.0, &type_id, &id, &comment_id, patch)
            .await?;
        Ok(Body::new(&Comment::from(&c)))
    }

    /// Remove a comment and its replies (its author, or whoever may delete the entry).
    #[oai(
        path = "/:type_id/:id/comments/:comment_id",
        method = "delete",
        operation_id = "deleteComment"
    )]
    async fn delete(
        &self,
        auth: Auth,
        type_id: Path<String>,
        id: Path<String>,
        comment_id: Path<String>,
    ) -> ApiResult<NoContent> {
        self.services
            .content
            .delete_comment(&auth.0, &type_id, &id, &comment_id)
            .await?;
        Ok(NoContent)
    }
}
