//! `/api/v1/content/{type}`: published entries, what apps call (hot path).

use poem::Request;
use poem_openapi::OpenApi;
use poem_openapi::param::Path;

use super::render::{body_etag, entry_with};
use std::sync::Arc;

use super::delivery_cache::{Cached, DeliveryCache, PurgeKeys};
use super::dto::content::{Entry, EntryList};
use super::dto::{Fresh, Typed};
use super::{MaybeAuth, Reply, query_pairs};
use crate::domain::query::Surface;
use crate::error::ApiResult;
use crate::services::Services;
use crate::services::follower::Deps;

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
    /// with `render` (which also names what the response depends on and its CDN purge
    /// keys) and remembers the result. Access is checked first either way.
    async fn cached(
        &self,
        principal: &crate::authz::Principal,
        type_id: &str,
        req: &Request,
        render: impl std::future::Future<Output = ApiResult<(Reply, Deps, PurgeKeys)>>,
    ) -> ApiResult<Reply> {
        let settings = self.services.settings.as_ref();
        // Before the access check and the data read: a change applied after this point
        // makes the response stale, one applied before it is in what we read.
        let at = self.cache.now();
        let grant = self.services.content.authorize_read(principal, type_id)?;
        // What an ownership condition shows differs per user, so such answers are cached
        // per user; all others per role.
        let per_user = grant.any.as_ref() != Some(&grant.own);
        let user = if per_user { principal.user_id() } else { None };
        let key = DeliveryCache::key(&principal.role, user, req.uri());
        let anonymous = principal.is_anonymous();
        let serve = |hit: Cached| {
            let reply = Reply::bytes(hit.body.as_ref().clone()).header(CACHE_STATUS, "hit");
            let reply = purge_headers(reply, &hit.purge);
            cache_control(reply, anonymous, settings).conditional(req, &hit.etag)
        };
        if let Some(hit) = self.cache.get(&key) {
            return Ok(serve(hit));
        }
        // One render per key at a time; the others wait for it and serve its result.
        let flight = self.cache.flight(&key);
        let _turn = flight.lock().await;
        if let Some(hit) = self.cache.get_after(&key, at) {
            return Ok(serve(hit));
        }
        let landing = LandOnDrop(&self.cache, &key);
        let (reply, deps, purge) = render.await?;
        let purge = Arc::new(purge);
        let etag = body_etag(reply.body_bytes());
        self.cache.put(
            key.clone(),
            Cached {
                at,
                deps,
                etag: etag.clone(),
                body: Arc::new(reply.body_bytes().to_vec()),
                purge: purge.clone(),
            },
        );
        drop(landing);
        let reply = purge_headers(reply.header(CACHE_STATUS, "miss"), &purge);
        Ok(cache_control(reply, anonymous, settings).conditional(req, &etag))
    }
}

/// Ends a key's render however the render ends (an error included).
struct LandOnDrop<'a>(&'a DeliveryCache, &'a str);

impl Drop for LandOnDrop<'_> {
    fn drop(&mut self) {
        self.0.land(self.1);
    }
}

/// Says whether this node's response cache answered (`hit`) or the store did (`miss`),
/// for operators (and tests) checking what a change invalidates.
const CACHE_STATUS: &str = "x-vellum-cache";

/// `Cache-Control` for delivery: anonymous answers are the same for every anonymous
/// caller, so shared caches (a CDN) may keep them for `delivery_s_maxage` and serve them
/// stale for `delivery_stale_while_revalidate` while they revalidate; browsers keep them
/// `delivery_max_age`. Answers to a credential are the caller's own: private, and
/// revalidated each time (a 304 costs a few bytes).
fn cache_control(reply: Reply, anonymous: bool, settings: &crate::config::Settings) -> Reply {
    let value = if anonymous {
        format!(
            "public, max-age={}, s-maxage={}, stale-while-revalidate={}",
            settings.delivery_max_age_secs,
            settings.delivery_s_maxage_secs,
            settings.delivery_stale_while_revalidate_secs
        )
    } else {
        "private, no-cache".to_string()
    };
    reply
        .header("cache-control", value)
        .header("vary", "Authorization")
}

fn purge_headers(reply: Reply, keys: &PurgeKeys) -> Reply {
    reply
        .header("surrogate-key", keys.surrogate.clone())
        .header("cache-tag", keys.tags.clone())
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
            let (mut ids, mut types) = (Vec::new(), vec![type_id.as_str()]);
            if let Some(p) = &page.populated {
                p.dependencies(&mut ids, &mut types);
            }
            let deps = self.cache.deps(types, true, ids);
            Ok((
                Reply::json(&super::render::page(&page, &ty.def)),
                deps,
                PurgeKeys::new(&type_id, None, false),
            ))
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
            let one = self
                .services
                .content
                .deliver_one(&principal, &type_id, &id_or_slug, &query_pairs(req))
                .await?;
            // Localized: the answer may come from, or take values of, the document's
            // other entries; their events mark the document too.
            let (mut ids, mut types) = (vec![one.row.id.as_str()], vec![type_id.as_str()]);
            if one.ty.def.options.localized {
                ids.push(one.row.document_id.as_str());
            }
            if let Some(p) = &one.populated {
                p.dependencies(&mut ids, &mut types);
            }
            let deps = self.cache.deps(types, false, ids);
            let body = entry_with(
                &one.row,
                &one.ty.def,
                &one.view,
                one.select.as_deref(),
                one.populated.as_ref(),
            );
            let purge = PurgeKeys::new(&type_id, Some(&one.row.id), one.ty.def.options.localized);
            Ok((Reply::json(&body), deps, purge))
        };
        let reply = self.cached(&principal, &type_id, req, render).await?;
        Ok(Typed::wrap(reply))
    }
}
