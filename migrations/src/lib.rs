//! Vellum's schema migrations: one backend-neutral step per file, run on SQLite and
//! PostgreSQL alike. Migrations never import the application's entities, so an old step
//! never changes meaning when the code around it does.

pub use sea_orm_migration::prelude::*;

mod m0001_core;
mod m0002_access;
mod m0003_workflow;
mod m0004_audit;
mod m0005_schedules;
mod m0006_trash;
mod m0007_comments;
mod m0008_totp;
mod m0009_published_slug;
mod m0010_scoped_field_indexes;
mod m0011_sync_index;
mod m0012_published_slug_lookup;
mod m0013_locales;
mod m0014_search_queries;

pub struct Migrator;

#[sea_orm_migration::async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_core::Migration),
            Box::new(m0002_access::Migration),
            Box::new(m0003_workflow::Migration),
            Box::new(m0004_audit::Migration),
            Box::new(m0005_schedules::Migration),
            Box::new(m0006_trash::Migration),
            Box::new(m0007_comments::Migration),
            Box::new(m0008_totp::Migration),
            Box::new(m0009_published_slug::Migration),
            Box::new(m0010_scoped_field_indexes::Migration),
            Box::new(m0011_sync_index::Migration),
            Box::new(m0012_published_slug_lookup::Migration),
            Box::new(m0013_locales::Migration),
            Box::new(m0014_search_queries::Migration),
        ]
    }
}
