//! The slug an entry is delivered under: the one it had when it was last published, kept
//! apart from the draft's so that editing a live entry's slug neither breaks its URL nor
//! exposes the new one before the next publish. Unique per type and locale, like the
//! draft slug. Existing published entries start from their draft's slug (the best the
//! stored rows can tell).

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_published_slug"
    }
}

#[derive(DeriveIden)]
enum Entries {
    Table,
    TypeId,
    Locale,
    Slug,
    PublishedSlug,
    PublishedVersion,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Entries::Table)
                .add_column(ColumnDef::new(Entries::PublishedSlug).string().null())
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::update()
                .table(Entries::Table)
                .value(Entries::PublishedSlug, Expr::col(Entries::Slug))
                .and_where(Expr::col(Entries::PublishedVersion).is_not_null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_entries_published_slug")
                .table(Entries::Table)
                .col(Entries::TypeId)
                .col(Entries::Locale)
                .col(Entries::PublishedSlug)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ux_entries_published_slug")
                .table(Entries::Table)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Entries::Table)
                .drop_column(Entries::PublishedSlug)
                .to_owned(),
        )
        .await
    }
}
