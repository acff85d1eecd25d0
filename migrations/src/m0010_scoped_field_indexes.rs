//! Field indexes become partial, one set per content type (`WHERE type_id = '<type>'`),
//! and their PostgreSQL expressions guard their casts. The old ones (`ix_entries_f_*`)
//! covered every type's rows, so an integer index on one type's `rating` failed writes of
//! another type whose `rating` is text. They are dropped here; the application builds
//! the new ones for every type at start-up.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend, Statement};

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_scoped_field_indexes"
    }
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let c = m.get_connection();
        let backend = c.get_database_backend();
        let list = match backend {
            DbBackend::Postgres => {
                "SELECT indexname AS name FROM pg_indexes WHERE tablename = 'entries' AND substr(indexname, 1, 13) = 'ix_entries_f_'"
            }
            _ => {
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'entries' AND substr(name, 1, 13) = 'ix_entries_f_'"
            }
        };
        let rows = c
            .query_all_raw(Statement::from_string(backend, list))
            .await?;
        for row in rows {
            let name: String = row.try_get("", "name")?;
            // Names come from the catalogue and were made of [a-z0-9_] by us.
            if name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
            {
                c.execute_unprepared(&format!("DROP INDEX IF EXISTS {name}"))
                    .await?;
            }
        }
        Ok(())
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        // The old indexes are what the fix removes; there is nothing to put back.
        Ok(())
    }
}
