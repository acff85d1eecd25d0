//! The trash: deleted entries kept whole (with their versions, which stay in
//! `entry_versions`) until restored or purged.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_trash"
    }
}

#[derive(DeriveIden)]
enum Trash {
    Table,
    Id,
    TypeId,
    Locale,
    Owner,
    Entry,
    DeletedAt,
    DeletedBy,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Trash::Table)
                .col(
                    ColumnDef::new(Trash::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Trash::TypeId).string_len(64).not_null())
                .col(ColumnDef::new(Trash::Locale).string_len(35).not_null())
                .col(ColumnDef::new(Trash::Owner).string_len(80).null())
                .col(ColumnDef::new(Trash::Entry).json_binary().not_null())
                .col(
                    ColumnDef::new(Trash::DeletedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(Trash::DeletedBy).string_len(80).null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_trash_type_deleted")
                .table(Trash::Table)
                .col(Trash::TypeId)
                .col(Trash::DeletedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_trash_deleted")
                .table(Trash::Table)
                .col(Trash::DeletedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Trash::Table).to_owned())
            .await
    }
}
