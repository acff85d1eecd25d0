//! Access control: who is calling ([`Principal`]) and what they may do ([`Authz`]).
//!
//! Every service method asks [`Authz::check`] with (principal, resource, action) before it
//! does anything. The casbin enforcer answers allow/deny; the [`Grant`] it returns carries
//! the finer rules of the matching policies (ownership condition, field lists) for the
//! service to apply. The enforcer is immutable and swapped whole when policies change;
//! decisions are memoised per snapshot behind a short read lock, never a global write
//! lock, so repeated checks skip the casbin evaluation.

pub mod adapter;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use arc_swap::ArcSwap;
use casbin::{CoreApi, DefaultModel, Enforcer};

use crate::error::{ApiError, ApiResult};
use crate::store::Store;
use crate::store::auth::{PolicyRow, RoleRow, list_policies, list_roles};
use adapter::{StoreAdapter, object_for};

pub const MODEL: &str = include_str!("model.conf");

pub const ACTIONS: &[&str] = &["read", "create", "update", "delete", "publish"];

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub enum Actor {
    User { id: String, email: String },
    Token { id: String },
    Anonymous,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub actor: Actor,
    /// The role the caller acts with (`public` for anonymous callers).
    pub role: String,
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal {
            actor: Actor::Anonymous,
            role: "public".into(),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.actor == Actor::Anonymous
    }

    pub fn user_id(&self) -> Option<&str> {
        match &self.actor {
            Actor::User { id, .. } => Some(id),
            _ => None,
        }
    }

    /// How the caller appears in the event log and in versions.
    pub fn actor_ref(&self) -> String {
        match &self.actor {
            Actor::User { id, .. } => format!("user:{id}"),
            Actor::Token { id } => format!("token:{id}"),
            Actor::Anonymous => "anonymous".into(),
        }
    }
}

/// What a successful check grants beyond yes/no.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grant {
    /// Every matching policy carries `condition: owner`: the caller may act only on
    /// entries they own.
    pub owner_only: bool,
}

/// Most decisions a snapshot remembers (resource names come from URLs, so the cache is
/// bounded and simply starts over when full).
const DECISION_CACHE_MAX: usize = 4096;

type DecisionKey = (String, String, String);

struct Snapshot {
    enforcer: Enforcer,
    policies: Vec<PolicyRow>,
    roles: Vec<RoleRow>,
    /// (role, resource, action) → grant, or None when denied. Lives and dies with the
    /// snapshot, so a policy change can never be answered from a stale decision.
    decisions: RwLock<HashMap<DecisionKey, Option<Grant>>>,
}

#[derive(Clone)]
pub struct Authz {
    store: Store,
    current: Arc<ArcSwap<Snapshot>>,
}

impl Authz {
    pub async fn load(store: Store) -> anyhow::Result<Authz> {
        let snapshot = Self::build(&store).await?;
        Ok(Authz {
            store,
            current: Arc::new(ArcSwap::from_pointee(snapshot)),
        })
    }

    async fn build(store: &Store) -> anyhow::Result<Snapshot> {
        let model = DefaultModel::from_str(MODEL).await?;
        let enforcer = Enforcer::new(model, StoreAdapter::new(store.clone())).await?;
        Ok(Snapshot {
            enforcer,
            policies: list_policies(store.db()).await?,
            roles: list_roles(store.db()).await?,
            decisions: RwLock::new(HashMap::new()),
        })
    }

    /// Rebuilds the enforcer from the store (after a policy or role change).
    pub async fn reload(&self) -> ApiResult<()> {
        let snapshot = Self::build(&self.store).await.map_err(ApiError::internal)?;
        self.current.store(Arc::new(snapshot));
        Ok(())
    }

    /// The check every service method makes first.
    pub fn check(&self, principal: &Principal, resource: &str, action: &str) -> ApiResult<Grant> {
        self.decide(&principal.role, resource, action)
            .ok_or_else(|| {
                if principal.is_anonymous() {
                    ApiError::unauthenticated()
                } else {
                    ApiError::forbidden(action, resource)
                }
            })
    }

    fn decide(&self, role: &str, resource: &str, action: &str) -> Option<Grant> {
        let snap = self.current.load();
        let key = (role.to_string(), resource.to_string(), action.to_string());
        if let Some(hit) = snap
            .decisions
            .read()
            .ok()
            .and_then(|d| d.get(&key).cloned())
        {
            return hit;
        }
        let decision = decide_uncached(&snap, role, resource, action);
        if let Ok(mut cache) = snap.decisions.write() {
            if cache.len() >= DECISION_CACHE_MAX {
                cache.clear();
            }
            cache.insert(key, decision.clone());
        }
        decision
    }
}

fn decide_uncached(snap: &Snapshot, role: &str, resource: &str, action: &str) -> Option<Grant> {
    let allowed = snap
        .enforcer
        .enforce((role, object_for(resource).as_str(), action))
        .unwrap_or(false);
    if !allowed {
        return None;
    }
    let chain = role_chain(&snap.roles, role);
    let is_content = !adapter::ADMIN_RESOURCES.contains(&resource);
    let matching: Vec<&PolicyRow> = snap
        .policies
        .iter()
        .filter(|p| chain.contains(&p.role.as_str()))
        .filter(|p| p.resource == resource || (p.resource == "*" && is_content))
        .filter(|p| p.action == action || p.action == "*")
        .collect();
    let owner_only = !matching.is_empty()
        && matching
            .iter()
            .all(|p| p.condition.as_deref() == Some("owner"));
    Some(Grant { owner_only })
}

/// A role and every role it inherits from (cycles are refused when roles are saved).
fn role_chain<'a>(roles: &'a [RoleRow], role: &'a str) -> Vec<&'a str> {
    let mut chain = vec![role];
    let mut current = role;
    while let Some(parent) = roles
        .iter()
        .find(|r| r.name == current)
        .and_then(|r| r.inherits.as_deref())
    {
        if chain.contains(&parent) || chain.len() > 16 {
            break;
        }
        chain.push(parent);
        current = parent;
    }
    chain
}
