//! `/api/v1/content/{type}`: published entries, what apps call (hot path).

use poem::Request;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;

use super::render::{body_etag, entry};
use std::sync::Arc;

use super::delivery_cache::{Cached, DeliveryCache};
use super::dto::content::{Entry, EntryList};
use super::dto::{Fresh, Typed};
use super::{MaybeAuth, Reply, query_pairs};
use crate::domain::query::Surface;
use crate::error::ApiResult;
use crate::services::Services;

#[derive(poem_openapi::Tags)]
enum Tag {
    /// Published content for apps
    Delivery,
}

pub struct DeliveryApi {
    pub services: Services,
    pub cache: DeliveryCache,
}

impl DeliveryApi {
    /// Serves from the cache when this caller's response is current; otherwise renders
    /// with `render` and remembers the result. Access is checked first either way.
    async fn cached(
        &self,
        principal: &crate::authz::Principal,
        type_id: &str,
        req: &Request,
        render: impl std::future::Future<Output = ApiResult<Reply>>,
    ) -> ApiResult<Reply> {
        let grant = self.services.content.authorize_read(principal, type_id)?;
        // What an ownership condition shows differs per user, so such answers are cached
        // per user; all others per role.
        let per_user = grant.any.as_ref() != Some(&grant.own);
        let user = if per_user { principal.user_id() } else { None };
        let key = DeliveryCache::key(&principal.role, user, req.uri());
        let epoch = self.services.store.write_epoch();
        let anonymous = principal.is_anonymous();
        if let Some(hit) = self.cache.get(&key, epoch) {
            let reply = Reply::bytes(hit.body.as_ref().clone());
            return Ok(cache_control(reply, anonymous).conditional(req, &hit.etag));
        }
        let reply = render.await?;
        let etag = body_etag(reply.body_bytes());
        self.cache.put(
            key,
            Cached {
                epoch,
                etag: etag.clone(),
                body: Arc::new(reply.body_bytes().to_vec()),
            },
        );
        Ok(cache_control(reply, anonymous).conditional(req, &etag))
    }
}

fn cache_control(reply: Reply, anonymous: bool) -> Reply {
    let value = if anonymous {
        "public, max-age=0, s-maxage=30, stale-while-revalidate=60"
    } else {
        "private, no-cache"
    };
    reply
        .header("cache-control", value)
        .header("vary", "Authorization")
}

#[OpenApi(prefix_path = "/api/v1/content", tag = "Tag::Delivery")]
impl DeliveryApi {
    /// List published entries of a type. Same query language as the management list;
    /// private fields can be neither read nor filtered.
    #[oai(path = "/:type_id", method = "get", operation_id = "deliverEntries")]
    async fn list(
        &self,
        auth: MaybeAuth,
        type_id: Path<String>,
        req: &Request,
    ) -> ApiResult<Fresh<EntryList>> {
        let principal = auth.principal();
        let render = async {
            let (page, ty) = self
                .services
                .content
                .list(
                    &principal,
                    &type_id,
                    &query_pairs(req),
                    None,
                    Surface::Delivery,
                )
                .await?;
            Ok(Reply::json(&super::render::page(&page, &ty.def)))
        };
        let reply = self.cached(&principal, &type_id, req, render).await?;
        Ok(Typed::wrap(reply))
    }

    /// One published entry by id or slug.
    #[oai(
        path = "/:type_id/:id_or_slug",
        method = "get",
        operation_id = "deliverEntry"
    )]
    async fn get(
        &self,
        auth: MaybeAuth,
        type_id: Path<String>,
        id_or_slug: Path<String>,
        req: &Request,
    ) -> ApiResult<Fresh<Entry>> {
        let principal = auth.principal();
        let render = async {
            let (row, ty, select, view) = self
                .services
                .content
                .deliver_one(&principal, &type_id, &id_or_slug, &query_pairs(req))
                .await?;
            Ok(Reply::json(&entry(&row, &ty.def, &view, select.as_deref())))
        };
        let reply = self.cached(&principal, &type_id, req, render).await?;
        Ok(Typed::wrap(reply))
    }
}
