//! Review workflows: the record of every stage change of an entry (who, when, from, to,
//! comment), and the transition rights of the built-in roles on existing instances.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_workflow"
    }
}

#[derive(DeriveIden)]
enum EntryTransitions {
    Table,
    Id,
    EntryId,
    TypeId,
    FromStage,
    ToStage,
    Actor,
    Comment,
    CreatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(EntryTransitions::Table)
                .col(
                    ColumnDef::new(EntryTransitions::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(EntryTransitions::EntryId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EntryTransitions::TypeId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EntryTransitions::FromStage)
                        .string_len(32)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EntryTransitions::ToStage)
                        .string_len(32)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EntryTransitions::Actor)
                        .string_len(80)
                        .null(),
                )
                .col(ColumnDef::new(EntryTransitions::Comment).text().null())
                .col(
                    ColumnDef::new(EntryTransitions::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_entry_transitions_entry")
                .table(EntryTransitions::Table)
                .col(EntryTransitions::EntryId)
                .col(EntryTransitions::CreatedAt)
                .to_owned(),
        )
        .await?;
        // Built-in roles move entries through review (fresh instances get these from the
        // seed): authors submit their own drafts and take them back, reviewers move any.
        for (role, action, condition) in [
            ("author", "transition:in_review", "'owner'"),
            ("author", "transition:draft", "'owner'"),
            ("reviewer", "transition:*", "NULL"),
        ] {
            m.get_connection()
                .execute_unprepared(&format!(
                    "INSERT INTO policies (id, role, resource, action, fields, condition, created_at) \
                     SELECT 'm0003-{role}-{action}', r.name, '*', '{action}', NULL, {condition}, r.created_at \
                     FROM roles r WHERE r.name = '{role}' AND r.builtin \
                       AND NOT EXISTS (SELECT 1 FROM policies q WHERE q.role = r.name \
                                       AND q.resource = '*' AND q.action = '{action}')"
                ))
                .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(EntryTransitions::Table).to_owned())
            .await
    }
}
