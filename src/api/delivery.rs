//! `/api/v1/content/{type}`: published entries, what apps call (hot path).

use poem::http::{HeaderValue, Method};
use poem::{Endpoint, IntoResponse, Request, Response};
use poem_openapi::OpenApi;
use poem_openapi::param::Path;

use super::render::{body_etag, entry_with};
use std::sync::Arc;

use super::delivery_cache::{Cached, DeliveryCache, PurgeKeys};
use super::dto::content::{Entry, EntryList};
use super::dto::{Fresh, Typed};
use super::{MaybeAuth, Reply, query_pairs};
use crate::authz::Principal;
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
    pub front: Arc<DeliveryFront>,
}

/// The delivery cache and what serving from it takes, shared by [`DeliveryApi`] and
/// [`cache_front`] (which answers current cached responses before routing).
pub struct DeliveryFront {
    pub services: Services,
    pub cache: DeliveryCache,
    /// `Cache-Control` of anonymous answers ([`public_cache_control`]).
    pub public_cache_control: HeaderValue,
}

impl DeliveryFront {
    pub fn new(services: &Services) -> DeliveryFront {
        DeliveryFront {
            services: services.clone(),
            cache: DeliveryCache::new(services.follower.clone()),
            public_cache_control: public_cache_control(&services.settings),
        }
    }

    /// This caller's cache key for `req`, once the caller may read `type_id`. What an
    /// ownership condition shows differs per user, so such answers are kept per user;
    /// all others per role.
    fn key(&self, principal: &Principal, type_id: &str, req: &Request) -> ApiResult<String> {
        let grant = self.services.content.authorize_read(principal, type_id)?;
        let per_user = grant.any.as_ref() != Some(&grant.own);
        let user = if per_user { principal.user_id() } else { None };
        Ok(DeliveryCache::key(&principal.role, user, req.uri()))
    }

    fn serve(&self, hit: &Cached, anonymous: bool, req: &Request) -> Reply {
        let reply = Reply::bytes(hit.body.clone()).header_value(CACHE_STATUS, HIT.clone());
        let reply = purge_headers(reply, &hit.purge);
        self.cache_control(reply, anonymous)
            .conditional(req, &hit.etag)
    }

    /// The current cached answer to this caller for `req`, if there is one and the
    /// caller may read `type_id` (otherwise the API answers, with its error).
    fn answer(&self, principal: &Principal, type_id: &str, req: &Request) -> Option<Reply> {
        let key = self.key(principal, type_id, req).ok()?;
        let hit = self.cache.get(&key)?;
        Some(self.serve(&hit, principal.is_anonymous(), req))
    }

    /// Serves from the cache when this caller's response is current; otherwise renders
    /// with `render` (which also names what the response depends on and its CDN purge
    /// keys) and remembers the result. Access is checked first either way.
    async fn cached(
        &self,
        principal: &Principal,
        type_id: &str,
        req: &Request,
        render: impl std::future::Future<Output = ApiResult<(Reply, Deps, PurgeKeys)>>,
    ) -> ApiResult<Reply> {
        // Before the access check and the data read: a change applied after this point
        // makes the response stale, one applied before it is in what we read.
        let at = self.cache.now();
        let key = self.key(principal, type_id, req)?;
        let anonymous = principal.is_anonymous();
        let serve = |hit: Arc<Cached>| self.serve(&hit, anonymous, req);
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
        let etag = body_etag(reply.body_bytes());
        // The body before `conditional`, which leaves it out of a 304.
        let body = reply.body();
        let reply = purge_headers(reply.header_value(CACHE_STATUS, MISS.clone()), &purge);
        let reply = self.cache_control(reply, anonymous).conditional(req, &etag);
        self.cache.put(
            key.clone(),
            Arc::new(Cached {
                at,
                deps,
                etag,
                body,
                purge,
            }),
        );
        drop(landing);
        Ok(reply)
    }

    /// `Cache-Control` and `Vary` for delivery: anonymous answers are the same for every
    /// anonymous caller, so shared caches (a CDN) may keep them for `delivery_s_maxage`
    /// and serve them stale for `delivery_stale_while_revalidate` while they revalidate;
    /// browsers keep them `delivery_max_age`. Answers to a credential are the caller's
    /// own: private, and revalidated each time (a 304 costs a few bytes).
    fn cache_control(&self, reply: Reply, anonymous: bool) -> Reply {
        let value = if anonymous {
            self.public_cache_control.clone()
        } else {
            HeaderValue::from_static("private, no-cache")
        };
        reply
            .header_value("cache-control", value)
            .header_value("vary", HeaderValue::from_static("Authorization"))
    }
}

/// The `Cache-Control` of anonymous delivery answers, from the settings.
pub fn public_cache_control(settings: &crate::config::Settings) -> HeaderValue {
    let value = format!(
        "public, max-age={}, s-maxage={}, stale-while-revalidate={}",
        settings.delivery_max_age_secs,
        settings.delivery_s_maxage_secs,
        settings.delivery_stale_while_revalidate_secs
    );
    HeaderValue::try_from(value).unwrap_or(HeaderValue::from_static("public, max-age=0"))
}

/// Answers a delivery `GET /api/v1/content/{type}[/{id}]` from the cache before routing
/// when this caller's answer to this exact URI is current: the access check runs first,
/// as in the handler, and the key (role, user where ownership decides, URI) only exists
/// for a URI the API has answered. Everything else goes on to the API. The hottest
/// request skips routing, the input guard and the extractors.
pub async fn cache_front<E: Endpoint>(
    next: E,
    req: Request,
    front: Arc<DeliveryFront>,
) -> poem::Result<Response> {
    if req.method() == Method::GET
        && let Some(type_id) = delivery_type(req.uri().path())
        && let Some(principal) = req.extensions().get::<Principal>()
        && let Some(reply) = front.answer(principal, type_id, &req)
    {
        return Ok(reply.into_response());
    }
    next.call(req).await.map(IntoResponse::into_response)
}

/// The type of a plain delivery path (`/api/v1/content/{type}` or `…/{type}/{id}`, no
/// escapes, no empty segment), the only paths [`cache_front`] answers.
fn delivery_type(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/api/v1/content/")?;
    if rest.contains('%') {
        return None;
    }
    let mut parts = rest.split('/');
    let ty = parts.next().filter(|t| !t.is_empty())?;
    match (parts.next(), parts.next()) {
        (None, _) => Some(ty),
        (Some(id), None) if !id.is_empty() => Some(ty),
        _ => None,
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
const HIT: HeaderValue = HeaderValue::from_static("hit");
const MISS: HeaderValue = HeaderValue::from_static("miss");

fn purge_headers(reply: Reply, keys: &PurgeKeys) -> Reply {
    reply
        .header_value("surrogate-key", keys.surrogate.clone())
        .header_value("cache-tag", keys.tags.clone())
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
            let deps = self.front.cache.deps(types, true, ids);
            Ok((
                Reply::json(&super::render::page(&page, &ty.def)),
                deps,
                PurgeKeys::new(&type_id, None, false),
            ))
        };
        let reply = self.front.cached(&principal, &type_id, req, render).await?;
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
            let deps = self.front.cache.deps(types, false, ids);
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
        let reply = self.front.cached(&principal, &type_id, req, render).await?;
        Ok(Typed::wrap(reply))
    }
}
