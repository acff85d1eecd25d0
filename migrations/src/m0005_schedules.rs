//! Scheduled publish and unpublish: durable jobs, claimed by exactly one node when due.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_schedules"
    }
}

#[derive(DeriveIden)]
enum Schedules {
    Table,
    Id,
    EntryId,
    TypeId,
    Action,
    RunAt,
    Version,
    Status,
    CreatedBy,
    CreatedAt,
    DoneAt,
    Error,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let ts = |c: Schedules| {
            ColumnDef::new(c)
                .timestamp_with_time_zone()
                .not_null()
                .to_owned()
        };
        m.create_table(
            Table::create()
                .table(Schedules::Table)
                .col(
                    ColumnDef::new(Schedules::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Schedules::EntryId).string_len(36).not_null())
                .col(ColumnDef::new(Schedules::TypeId).string_len(64).not_null())
                .col(ColumnDef::new(Schedules::Action).string_len(16).not_null())
                .col(ts(Schedules::RunAt))
                .col(ColumnDef::new(Schedules::Version).integer().null())
                .col(ColumnDef::new(Schedules::Status).string_len(16).not_null())
                .col(
                    ColumnDef::new(Schedules::CreatedBy)
                        .string_len(80)
                        .not_null(),
                )
                .col(ts(Schedules::CreatedAt))
                .col(
                    ColumnDef::new(Schedules::DoneAt)
                        .timestamp_with_time_zone()
                        .null(),
                )
                .col(ColumnDef::new(Schedules::Error).text().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_schedules_due")
                .table(Schedules::Table)
                .col(Schedules::Status)
                .col(Schedules::RunAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_schedules_entry")
                .table(Schedules::Table)
                .col(Schedules::EntryId)
                .col(Schedules::RunAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Schedules::Table).to_owned())
            .await
    }
}
