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

use crate::domain::access::FieldSet;
use crate::error::{ApiError, ApiResult};
use crate::store::Store;
use crate::store::auth::{PolicyRow, RoleRow, list_policies, list_roles};
use adapter::{StoreAdapter, object_for};

pub const MODEL: &str = include_str!("model.conf");

/// Actions on content types. `read` is the delivery right (published content, never
/// private fields); `read_drafts` opens the management surface (drafts, versions, diffs,
/// private fields subject to field rules).
pub const ACTIONS: &[&str] = &[
    "read",
    "read_drafts",
    "create",
    "update",
    "delete",
    "publish",
];

/// Actions a policy's field rule applies to (the others have no fields to limit).
pub const FIELD_ACTIONS: &[&str] = &["read", "read_drafts", "create", "update"];

/// Actions an ownership condition applies to (there is no owner to compare on create), as
/// well as every `transition:…`.
pub const OWNER_ACTIONS: &[&str] = &["read", "read_drafts", "update", "delete", "publish"];

/// Who is calling.
#[derive(Debug, Clone, PartialEq)]
pub enum Actor {
    User {
        id: String,
        email: String,
    },
    Token {
        id: String,
    },
    Anonymous,
    /// The server itself (retention sweeps).
    System,
    /// The scheduler carrying out a job, with the rights of whoever scheduled it
    /// (`user:<id>` or `token:<id>`).
    Scheduler {
        on_behalf_of: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Principal {
    pub actor: Actor,
    /// The role the caller acts with (`public` for anonymous callers).
    pub role: String,
    /// Where the request came from, for the audit log.
    pub origin: Origin,
}

/// The client address and user agent of a request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Principal {
    pub fn anonymous() -> Principal {
        Principal {
            actor: Actor::Anonymous,
            role: "public".into(),
            origin: Origin::default(),
        }
    }

    /// The server acting on its own (retention), with no rights checked.
    pub fn system() -> Principal {
        Principal {
            actor: Actor::System,
            role: "admin".into(),
            origin: Origin::default(),
        }
    }

    pub fn is_anonymous(&self) -> bool {
        self.actor == Actor::Anonymous
    }

    /// The user acting, directly or through a job they scheduled (ownership follows it).
    pub fn user_id(&self) -> Option<&str> {
        match &self.actor {
            Actor::User { id, .. } => Some(id),
            Actor::Scheduler { on_behalf_of } => on_behalf_of.strip_prefix("user:"),
            _ => None,
        }
    }

    /// How the caller appears in the event log and in versions.
    pub fn actor_ref(&self) -> String {
        match &self.actor {
            Actor::User { id, .. } => format!("user:{id}"),
            Actor::Token { id } => format!("token:{id}"),
            Actor::Anonymous => "anonymous".into(),
            Actor::Scheduler { on_behalf_of } => format!("scheduler:{on_behalf_of}"),
            Actor::System => "system".into(),
        }
    }
}

/// What a successful check grants beyond yes/no: which entries (all, or only the
/// caller's own) and which fields of them. Several matching policies (the role's own, its
/// parents', the type's and `*`) add up: a field is granted if any of them grants it.
#[derive(Debug, Clone, PartialEq)]
pub struct Grant {
    /// Fields granted on any entry, by the policies without `condition: owner`; `None`
    /// when every matching policy is owner-only.
    pub any: Option<FieldSet>,
    /// Fields granted on the caller's own entries (every matching policy counts).
    pub own: FieldSet,
}

impl Default for Grant {
    fn default() -> Self {
        Grant {
            any: Some(FieldSet::all()),
            own: FieldSet::all(),
        }
    }
}

impl Grant {
    /// The caller may act only on entries they own.
    pub fn owner_only(&self) -> bool {
        self.any.is_none()
    }

    /// The fields granted on an entry, or `None` when the entry is out of reach.
    pub fn fields_for(&self, owns: bool) -> Option<&FieldSet> {
        if owns {
            Some(&self.own)
        } else {
            self.any.as_ref()
        }
    }

    /// The fields usable across a list: others' entries count unless the list is limited
    /// to the caller's own.
    pub fn list_fields(&self) -> &FieldSet {
        self.any.as_ref().unwrap_or(&self.own)
    }
}

/// Most decisions a snapshot remembers (resource names come from URLs, so the cache is
/// bounded and simply starts over when full).
const DECISION_CACHE_MAX: usize = 4096;

/// Decisions by role, resource and action: nested so a lookup by `&str` allocates nothing
/// (it runs on every request); with the number of decisions held.
#[derive(Default)]
struct Decisions {
    by_role: HashMap<String, HashMap<String, HashMap<String, Option<Grant>>>>,
    len: usize,
}

impl Decisions {
    fn get(&self, role: &str, resource: &str, action: &str) -> Option<&Option<Grant>> {
        self.by_role.get(role)?.get(resource)?.get(action)
    }

    fn put(&mut self, role: &str, resource: &str, action: &str, decision: Option<Grant>) {
        if self.len >= DECISION_CACHE_MAX {
            *self = Decisions::default();
        }
        let fresh = self
            .by_role
            .entry(role.to_string())
            .or_default()
            .entry(resource.to_string())
            .or_default()
            .insert(action.to_string(), decision)
            .is_none();
        if fresh {
            self.len += 1;
        }
    }
}

struct Snapshot {
    enforcer: Enforcer,
    policies: Vec<PolicyRow>,
    roles: Vec<RoleRow>,
    /// (role, resource, action) → grant, or None when denied. Lives and dies with the
    /// snapshot, so a policy change can never be answered from a stale decision.
    decisions: RwLock<Decisions>,
}

#[derive(Clone)]
pub struct Authz {
    store: Store,
    current: Arc<ArcSwap<Snapshot>>,
    /// Rebuilds run one at a time, so each reads the store after the previous one did:
    /// a slower, older rebuild can never replace a newer one (a revoked grant stays revoked).
    rebuild: Arc<tokio::sync::Mutex<()>>,
    /// Counts rebuilds, so artefacts derived from the rules (per-role documents) know
    /// when to render again.
    generation: Arc<std::sync::atomic::AtomicU64>,
}

impl Authz {
    pub async fn load(store: Store) -> anyhow::Result<Authz> {
        let snapshot = Self::build(&store).await?;
        Ok(Authz {
            store,
            current: Arc::new(ArcSwap::from_pointee(snapshot)),
            rebuild: Arc::new(tokio::sync::Mutex::new(())),
            generation: Arc::default(),
        })
    }

    async fn build(store: &Store) -> anyhow::Result<Snapshot> {
        let model = DefaultModel::from_str(MODEL).await?;
        let enforcer = Enforcer::new(model, StoreAdapter::new(store.clone())).await?;
        Ok(Snapshot {
            enforcer,
            policies: list_policies(store.db()).await?,
            roles: list_roles(store.db()).await?,
            decisions: RwLock::new(Decisions::default()),
        })
    }

    /// Rebuilds the enforcer from the store (after a policy or role change).
    pub async fn reload(&self) -> ApiResult<()> {
        let _one_at_a_time = self.rebuild.lock().await;
        let snapshot = Self::build(&self.store).await.map_err(ApiError::internal)?;
        self.current.store(Arc::new(snapshot));
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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

    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether a role may do anything at all with a resource.
    pub fn holds_any(&self, role: &str, resource: &str) -> bool {
        ACTIONS
            .iter()
            .chain(&["*"])
            .any(|a| self.decide(role, resource, a).is_some())
    }

    /// A role and the roles it inherits from.
    pub fn role_and_parents(&self, role: &str) -> Vec<String> {
        let snap = self.current.load();
        role_chain(&snap.roles, role)
            .into_iter()
            .map(str::to_string)
            .collect()
    }

    /// The grant a role has, if any (no principal: for delegation checks and documents).
    pub fn grant_of(&self, role: &str, resource: &str, action: &str) -> Option<Grant> {
        self.decide(role, resource, action)
    }

    /// Whether `role` holds at least what one policy would grant: the action on the
    /// resource (`*` only through a `*` rule), on every entry unless the policy is
    /// owner-only, with every field the policy names.
    pub fn role_holds(
        &self,
        role: &str,
        resource: &str,
        action: &str,
        fields: &FieldSet,
        owner_only: bool,
    ) -> bool {
        let Some(grant) = self.decide(role, resource, action) else {
            return false;
        };
        let mine = if owner_only {
            Some(&grant.own)
        } else {
            grant.any.as_ref()
        };
        mine.is_some_and(|m| m.covers(fields))
    }

    /// Whether `role` holds every right of `target` (its own policies and its parents'):
    /// nobody hands out a role, or creates a token, above their own.
    pub fn role_covers(&self, role: &str, target: &str) -> bool {
        if role == target {
            return true;
        }
        let snap = self.current.load();
        let chain = role_chain(&snap.roles, target);
        snap.policies
            .iter()
            .filter(|p| chain.contains(&p.role.as_str()))
            .all(|p| {
                self.role_holds(
                    role,
                    &p.resource,
                    &p.action,
                    &FieldSet::from_rule(p.fields.as_ref()),
                    p.condition.as_deref() == Some("owner"),
                )
            })
    }

    fn decide(&self, role: &str, resource: &str, action: &str) -> Option<Grant> {
        let snap = self.current.load();
        if let Some(hit) = snap
            .decisions
            .read()
            .ok()
            .and_then(|d| d.get(role, resource, action).cloned())
        {
            return hit;
        }
        let decision = decide_uncached(&snap, role, resource, action);
        if let Ok(mut cache) = snap.decisions.write() {
            cache.put(role, resource, action, decision.clone());
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
        .filter(|p| action_matches(&p.action, action))
        .collect();
    if matching.is_empty() {
        return Some(Grant::default());
    }
    let mut any: Option<FieldSet> = None;
    let mut own = FieldSet::none();
    for p in matching {
        let fields = if FIELD_ACTIONS.contains(&action) || action == "*" {
            FieldSet::from_rule(p.fields.as_ref())
        } else {
            FieldSet::all()
        };
        own = own.union(&fields);
        if p.condition.as_deref() != Some("owner") {
            any = Some(match any {
                Some(a) => a.union(&fields),
                None => fields,
            });
        }
    }
    Some(Grant { any, own })
}

/// Whether a policy's action covers a requested one: the same, `*`, or a `prefix:*`
/// pattern (`transition:*`), as `keyMatch` in the casbin model decides.
pub fn action_matches(policy: &str, requested: &str) -> bool {
    policy == requested
        || policy == "*"
        || policy
            .strip_suffix('*')
            .is_some_and(|prefix| prefix.ends_with(':') && requested.starts_with(prefix))
}

/// Whether an action names a workflow move (`transition:<stage>` or `transition:*`).
pub fn is_transition_action(action: &str) -> bool {
    action.strip_prefix("transition:").is_some_and(|stage| {
        stage == "*"
            || (!stage.is_empty()
                && stage.len() <= 32
                && stage
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
    })
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
