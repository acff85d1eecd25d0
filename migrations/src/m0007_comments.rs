//! Review comments on entries: threads, mentions, resolution.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_comments"
    }
}

#[derive(DeriveIden)]
enum EntryComments {
    Table,
    Id,
    EntryId,
    TypeId,
    ParentId,
    Author,
    AuthorLabel,
    Body,
    Mentions,
    ResolvedAt,
    ResolvedBy,
    CreatedAt,
    UpdatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let ts = |c: EntryComments, null: bool| {
            let mut d = ColumnDef::new(c);
            d.timestamp_with_time_zone();
            if null {
                d.null();
            } else {
                d.not_null();
            }
            d.to_owned()
        };
        m.create_table(
            Table::create()
                .table(EntryComments::Table)
                .col(
                    ColumnDef::new(EntryComments::Id)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(EntryComments::EntryId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EntryComments::TypeId)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EntryComments::ParentId)
                        .string_len(36)
                        .null(),
                )
                .col(
                    ColumnDef::new(EntryComments::Author)
                        .string_len(80)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(EntryComments::AuthorLabel)
                        .string_len(254)
                        .null(),
                )
                .col(ColumnDef::new(EntryComments::Body).text().not_null())
                .col(
                    ColumnDef::new(EntryComments::Mentions)
                        .json_binary()
                        .not_null(),
                )
                .col(ts(EntryComments::ResolvedAt, true))
                .col(
                    ColumnDef::new(EntryComments::ResolvedBy)
                        .string_len(80)
                        .null(),
                )
                .col(ts(EntryComments::CreatedAt, false))
                .col(ts(EntryComments::UpdatedAt, false))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_entry_comments_entry")
                .table(EntryComments::Table)
                .col(EntryComments::EntryId)
                .col(EntryComments::CreatedAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(EntryComments::Table).to_owned())
            .await
    }
}
