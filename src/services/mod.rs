//! One service per capability. Every write goes through a service method that checks
//! access first, opens one transaction, writes the change and its event, and commits.
//! Services know nothing of HTTP.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod content;
pub mod follower;
pub mod live;
pub mod schema;
pub mod search;
pub mod sync;
pub mod token_usage;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;

use crate::authz::Authz;
use crate::config::Settings;
use crate::domain::locale::Locales;
use crate::error::{ApiError, ApiResult, Code, clip};
use crate::store::Store;
use crate::store::content_types::TypeRow;

/// Content types and the configured locales held in memory (every request needs its
/// type), each swapped whole after a change. `epoch` counts schema changes so derived
/// artefacts (the OpenAPI document) know when to rebuild.
#[derive(Clone)]
pub struct TypeCache {
    types: Arc<ArcSwap<HashMap<String, Arc<TypeRow>>>>,
    locales: Arc<ArcSwap<Locales>>,
    /// The `default_locale` setting, for a database that marks none.
    default_locale: Arc<str>,
    epoch: Arc<AtomicU64>,
}

impl TypeCache {
    pub async fn load(store: &Store, default_locale: &str) -> ApiResult<TypeCache> {
        let cache = TypeCache {
            types: Arc::new(ArcSwap::from_pointee(HashMap::new())),
            locales: Arc::new(ArcSwap::from_pointee(Locales::default())),
            default_locale: default_locale.into(),
            epoch: Arc::new(AtomicU64::new(0)),
        };
        cache.reload(store).await?;
        cache.reload_locales(store).await?;
        Ok(cache)
    }

    pub async fn reload_locales(&self, store: &Store) -> ApiResult<()> {
        let list = crate::store::locales::list(store.db()).await?;
        self.locales
            .store(Arc::new(Locales::new(list, &self.default_locale)));
        Ok(())
    }

    /// The configured locales as of the last locale event applied.
    pub fn locales(&self) -> Arc<Locales> {
        self.locales.load_full()
    }

    pub async fn reload(&self, store: &Store) -> ApiResult<()> {
        let rows = crate::store::content_types::list(store.db()).await?;
        let map = rows
            .into_iter()
            .map(|r| (r.def.api_id.clone(), Arc::new(r)))
            .collect();
        self.types.store(Arc::new(map));
        self.epoch.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    pub fn get(&self, api_id: &str) -> ApiResult<Arc<TypeRow>> {
        self.types.load().get(api_id).cloned().ok_or_else(|| {
            ApiError::new(
                Code::ContentTypeNotFound,
                format!(
                    "there is no content type `{}`; list them at /api/v1/manage/content-types",
                    clip(api_id)
                ),
            )
        })
    }

    pub fn all(&self) -> Vec<Arc<TypeRow>> {
        let mut all: Vec<_> = self.types.load().values().cloned().collect();
        all.sort_by(|a, b| a.def.api_id.cmp(&b.def.api_id));
        all
    }

    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
pub struct Services {
    pub settings: Arc<Settings>,
    pub store: Store,
    pub authz: Authz,
    pub types: TypeCache,
    pub schema: schema::SchemaService,
    pub content: content::ContentService,
    pub auth: auth::AuthService,
    pub admin: admin::AdminService,
    pub follower: Arc<follower::Follower>,
    pub sync: sync::SyncService,
    pub search: search::SearchService,
    pub metrics: Arc<crate::metrics::Metrics>,
}

impl Services {
    /// The services of a serving node.
    pub async fn build(settings: Arc<Settings>, store: Store) -> anyhow::Result<Services> {
        Self::build_with(settings, store, false).await
    }

    /// The services for a command that does not serve (`vellum user create`): the same,
    /// but the search index is a throwaway in memory, so it runs beside a server that
    /// holds the index on disk.
    pub async fn build_offline(settings: Arc<Settings>, store: Store) -> anyhow::Result<Services> {
        Self::build_with(settings, store, true).await
    }

    async fn build_with(
        settings: Arc<Settings>,
        store: Store,
        offline: bool,
    ) -> anyhow::Result<Services> {
        admin::seed_roles(&store).await?;
        crate::store::locales::ensure(store.db(), &settings.default_locale).await?;
        // Read before the caches load, so the follower re-applies anything after it.
        let applied = crate::store::events::last_seq(store.db()).await?;
        let authz = Authz::load(store.clone()).await?;
        let types = TypeCache::load(&store, &settings.default_locale)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let auth = auth::AuthService::new(settings.clone(), store.clone()).await?;
        let follower = follower::Follower::new(
            store.clone(),
            types.clone(),
            authz.clone(),
            applied,
            settings.live_buffer.max(1),
            auth.tokens.clone(),
        );
        let sync = sync::SyncService::new(
            store.clone(),
            authz.clone(),
            types.clone(),
            settings.clone(),
        )
        .await?;
        let metrics = Arc::new(crate::metrics::Metrics::default());
        let search = search::SearchService::open(
            offline,
            metrics.clone(),
            settings.clone(),
            store.clone(),
            authz.clone(),
            types.clone(),
            follower.clone(),
        )?;
        Ok(Services {
            schema: schema::SchemaService::new(store.clone(), authz.clone(), types.clone()),
            content: content::ContentService::new(
                store.clone(),
                authz.clone(),
                types.clone(),
                settings.clone(),
            ),
            admin: admin::AdminService::new(
                store.clone(),
                authz.clone(),
                auth.clone(),
                types.clone(),
            ),
            auth,
            follower,
            sync,
            search,
            metrics,
            settings,
            store,
            authz,
            types,
        })
    }
}

impl Services {
    /// The node's background work (the event-log follower, the search indexer, token use
    /// flushing, the scheduler, the sweepers), until `stop`.
    /// Run inside the server's future, so it ends with it.
    pub async fn background(&self, stop: tokio_util::sync::CancellationToken) {
        let database_url = self.settings.database_url();
        tokio::join!(
            self.follower.run(
                &database_url,
                std::time::Duration::from_millis(self.settings.follower_poll_ms.max(50)),
                stop.clone()
            ),
            self.auth
                .usage
                .run(std::time::Duration::from_secs(30), stop.clone()),
            self.content.run_scheduler(stop.clone()),
            self.content.run_trash_sweeper(stop.clone()),
            self.sync.run_event_sweeper(stop.clone()),
            self.search.run_indexer(stop.clone()),
            self.search.run_stats_flusher(stop),
        );
    }
}

/// Compares an `If-Match` header with the current entity tag (`*` matches anything).
pub fn if_match_ok(if_match: Option<&str>, current: &str) -> bool {
    match if_match {
        None => true,
        Some(h) => h
            .split(',')
            .map(str::trim)
            .any(|t| t == "*" || t == current),
    }
}

pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
