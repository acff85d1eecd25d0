//! A casbin adapter over our own store (no published adapter supports sea-orm 2).
//!
//! It loads `p` rules from the `policies` table and `g` rules from role inheritance in
//! the `roles` table. Policies are written only through the policy service, in a
//! transaction with its event; the enforcer is then rebuilt. Writes through casbin's
//! management API are therefore refused, so nothing can change policies off that path.

use async_trait::async_trait;
use casbin::error::AdapterError;
use casbin::{Adapter, Filter, Model};

use crate::store::Store;
use crate::store::auth::{list_policies, list_roles};

pub const ADMIN_RESOURCES: &[&str] = &[
    "schema", "users", "roles", "policies", "tokens", "webhooks", "assets", "audit", "locales",
];

/// Maps a policy's resource (`article`, `*`, `users`) to a casbin object.
pub fn object_for(resource: &str) -> String {
    if ADMIN_RESOURCES.contains(&resource) {
        format!("admin:{resource}")
    } else {
        format!("content:{resource}")
    }
}

pub struct StoreAdapter {
    store: Store,
}

impl StoreAdapter {
    pub fn new(store: Store) -> Self {
        Self { store }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(&'static str);

fn refused() -> casbin::Error {
    AdapterError(Box::new(Refused(
        "policies are changed through the policy service (/api/v1/manage/policies), not through casbin",
    )))
    .into()
}

fn db_err(e: sea_orm::DbErr) -> casbin::Error {
    AdapterError(Box::new(e)).into()
}

#[async_trait]
impl Adapter for StoreAdapter {
    async fn load_policy(&mut self, m: &mut dyn Model) -> casbin::Result<()> {
        let db = self.store.db();
        for p in list_policies(db).await.map_err(db_err)? {
            let rule = vec![p.role, object_for(&p.resource), p.action];
            if let Some(ast) = m.get_mut_model().get_mut("p").and_then(|s| s.get_mut("p")) {
                ast.get_mut_policy().insert(rule);
            }
        }
        for r in list_roles(db).await.map_err(db_err)? {
            if let Some(parent) = r.inherits
                && let Some(ast) = m.get_mut_model().get_mut("g").and_then(|s| s.get_mut("g"))
            {
                ast.get_mut_policy().insert(vec![r.name, parent]);
            }
        }
        Ok(())
    }

    async fn load_filtered_policy<'a>(
        &mut self,
        m: &mut dyn Model,
        _f: Filter<'a>,
    ) -> casbin::Result<()> {
        self.load_policy(m).await
    }

    async fn save_policy(&mut self, _m: &mut dyn Model) -> casbin::Result<()> {
        Err(refused())
    }

    async fn clear_policy(&mut self) -> casbin::Result<()> {
        Err(refused())
    }

    fn is_filtered(&self) -> bool {
        false
    }

    async fn add_policy(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rule: Vec<String>,
    ) -> casbin::Result<bool> {
        Err(refused())
    }

    async fn add_policies(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Err(refused())
    }

    async fn remove_policy(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rule: Vec<String>,
    ) -> casbin::Result<bool> {
        Err(refused())
    }

    async fn remove_policies(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _rules: Vec<Vec<String>>,
    ) -> casbin::Result<bool> {
        Err(refused())
    }

    async fn remove_filtered_policy(
        &mut self,
        _sec: &str,
        _ptype: &str,
        _field_index: usize,
        _field_values: Vec<String>,
    ) -> casbin::Result<bool> {
        Err(refused())
    }
}
