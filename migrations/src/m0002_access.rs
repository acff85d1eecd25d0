//! Access rules that hold: an index for lists limited to an owner's entries, and the
//! `read_drafts` right split from `read` for the built-in roles of existing instances
//! (before it, `read` opened drafts too; now it is the delivery right only).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_access"
    }
}

#[derive(DeriveIden)]
enum Entries {
    Table,
    TypeId,
    Owner,
    CreatedAt,
    Id,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name("ix_entries_type_owner")
                .table(Entries::Table)
                .col(Entries::TypeId)
                .col(Entries::Owner)
                .col(Entries::CreatedAt)
                .col(Entries::Id)
                .to_owned(),
        )
        .await?;
        // Built-in roles that read content keep reading drafts (fresh instances get the
        // same rules from the seed). A role that already has the rule is left alone.
        m.get_connection()
            .execute_unprepared(
                "INSERT INTO policies (id, role, resource, action, fields, condition, created_at) \
                 SELECT 'm0002-' || p.role || '-' || p.resource, p.role, p.resource, 'read_drafts', \
                        p.fields, p.condition, p.created_at \
                 FROM policies p JOIN roles r ON r.name = p.role \
                 WHERE p.action = 'read' AND r.builtin AND r.name IN ('author', 'reviewer') \
                   AND NOT EXISTS (SELECT 1 FROM policies q WHERE q.role = p.role \
                                   AND q.resource = p.resource AND q.action = 'read_drafts')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_entries_type_owner")
                .table(Entries::Table)
                .to_owned(),
        )
        .await
    }
}
