//! Locales: the configured list (a default and fallbacks), and the link between the
//! entries of one document across locales.
//!
//! Every locale entries (or trashed entries) already use is configured here, once, so an
//! upgrade loses nothing; the server marks its configured default at start when none is
//! marked (`store::locales::ensure`), and the others then fall back to it.
//! `entries.document_id` names the document an entry belongs to: an entry created alone
//! is its own document (`document_id = id`), a translation takes its document's id. One
//! entry per document and locale.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::ConnectionTrait;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0013_locales"
    }
}

#[derive(DeriveIden)]
enum Locales {
    Table,
    Code,
    Name,
    Fallback,
    IsDefault,
    CreatedAt,
    UpdatedAt,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Locales::Table)
                .if_not_exists()
                .col(
                    ColumnDef::new(Locales::Code)
                        .string_len(35)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Locales::Name).string_len(100).not_null())
                .col(ColumnDef::new(Locales::Fallback).string_len(35).null())
                .col(
                    ColumnDef::new(Locales::IsDefault)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(
                    ColumnDef::new(Locales::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Locales::UpdatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        let db = m.get_connection();
        // One default at most.
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS ux_locales_default ON locales (is_default) WHERE is_default",
        )
        .await?;
        if !m.has_column("entries", "document_id").await? {
            m.alter_table(
                Table::alter()
                    .table(Alias::new("entries"))
                    .add_column(
                        ColumnDef::new(Alias::new("document_id"))
                            .string_len(36)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        }
        db.execute_unprepared("UPDATE entries SET document_id = id WHERE document_id IS NULL")
            .await?;
        // Timestamps taken from the rows, so their format is each backend's own.
        db.execute_unprepared(
            "INSERT INTO locales (code, name, fallback, is_default, created_at, updated_at) \
             SELECT locale, locale, NULL, false, MIN(at), MIN(at) FROM \
             (SELECT locale, created_at AS at FROM entries UNION ALL SELECT locale, deleted_at AS at FROM trash) u \
             GROUP BY locale",
        )
        .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS ux_entries_document_locale ON entries (document_id, locale)",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ux_entries_document_locale")
            .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("entries"))
                .drop_column(Alias::new("document_id"))
                .to_owned(),
        )
        .await?;
        m.drop_table(Table::drop().table(Locales::Table).to_owned())
            .await?;
        Ok(())
    }
}
