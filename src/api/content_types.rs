//! `/api/v1/manage/content-types`: the schema.

use poem::Request;
use poem_openapi::OpenApi;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;

use super::dto::content::{ContentTypeList, ContentTypeRecord};
use super::dto::{Body, Fresh, Made, Typed};
use super::{Auth, NoContent, Reply, header};
use crate::domain::fmt_ts;
use crate::domain::schema::ContentTypeDef;
use crate::error::ApiResult;
use crate::services::Services;
use crate::services::schema::type_etag;
use crate::store::content_types::TypeRow;
use serde_json::{Value, json};

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Content types (the schema)
    ContentTypes,
}

pub struct ContentTypesApi {
    pub services: Services,
    pub public_url: String,
}

/// A content type as stored, in the compact form of the schema file (what
/// `ContentTypeRecord` documents: defaults left out).
fn type_value(row: &TypeRow) -> Value {
    let mut v = serde_json::to_value(&row.def).unwrap_or(Value::Null);
    v["created_at"] = json!(fmt_ts(&row.created_at));
    v["updated_at"] = json!(fmt_ts(&row.updated_at));
    v
}

fn type_json(row: &TypeRow) -> Reply {
    Reply::json(&type_value(row))
}

#[OpenApi(
    prefix_path = "/api/v1/manage/content-types",
    tag = "Tag::ContentTypes"
)]
impl ContentTypesApi {
    /// List content types.
    #[oai(path = "/", method = "get", operation_id = "listContentTypes")]
    async fn list(&self, auth: Auth) -> ApiResult<Body<ContentTypeList>> {
        let rows = self.services.schema.list(&auth.0)?;
        let items: Vec<Value> = rows.iter().map(|t| type_value(t)).collect();
        let total = items.len();
        Ok(Typed::wrap(Reply::json(
            &json!({ "items": items, "next_cursor": null, "total": total }),
        )))
    }

    /// Create a content type.
    #[oai(path = "/", method = "post", operation_id = "createContentType")]
    async fn create(
        &self,
        auth: Auth,
        body: Json<ContentTypeDef>,
    ) -> ApiResult<Made<ContentTypeRecord>> {
        let row = self.services.schema.create(&auth.0, body.0).await?;
        let location = format!(
            "{}/api/v1/manage/content-types/{}",
            self.public_url, row.def.api_id
        );
        Ok(Made::wrap(type_json(&row))
            .header("location", location)
            .header("etag", type_etag(&row)))
    }

    /// Get a content type (ETag; `If-None-Match` gives 304).
    #[oai(path = "/:api_id", method = "get", operation_id = "getContentType")]
    async fn get(
        &self,
        auth: Auth,
        api_id: Path<String>,
        req: &Request,
    ) -> ApiResult<Fresh<ContentTypeRecord>> {
        let row = self.services.schema.get(&auth.0, &api_id)?;
        Ok(Fresh::wrap(type_json(&row)).conditional(req, &type_etag(&row)))
    }

    /// Replace a content type's definition. Changes that would lose or invalidate stored
    /// data answer 409 with the conflicts, unless `force=true`.
    #[oai(path = "/:api_id", method = "put", operation_id = "updateContentType")]
    async fn update(
        &self,
        auth: Auth,
        api_id: Path<String>,
        body: Json<ContentTypeDef>,
        force: Query<Option<bool>>,
        req: &Request,
    ) -> ApiResult<Body<ContentTypeRecord>> {
        let row = self
            .services
            .schema
            .update(
                &auth.0,
                &api_id,
                body.0,
                header(req, "if-match"),
                force.0.unwrap_or(false),
            )
            .await?;
        Ok(Body::wrap(type_json(&row)).header("etag", type_etag(&row)))
    }

    /// Delete a content type. One with entries needs `force=true` (its entries go too).
    #[oai(
        path = "/:api_id",
        method = "delete",
        operation_id = "deleteContentType"
    )]
    async fn delete(
        &self,
        auth: Auth,
        api_id: Path<String>,
        force: Query<Option<bool>>,
        req: &Request,
    ) -> ApiResult<NoContent> {
        self.services
            .schema
            .delete(
                &auth.0,
                &api_id,
                force.0.unwrap_or(false),
                header(req, "if-match"),
            )
            .await?;
        Ok(NoContent)
    }
}
