//! The core tables: content types, entries and their versions, the event log, users,
//! sessions, API tokens, roles, policies and instance settings.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_core"
    }
}

#[derive(DeriveIden)]
enum ContentTypes {
    Table,
    ApiId,
    Name,
    Kind,
    Definition,
    Rev,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Entries {
    Table,
    Id,
    TypeId,
    Locale,
    Owner,
    Status,
    Stage,
    Slug,
    Version,
    PublishedVersion,
    Rev,
    Draft,
    Published,
    CreatedAt,
    UpdatedAt,
    PublishedAt,
}

#[derive(DeriveIden)]
enum EntryVersions {
    Table,
    EntryId,
    N,
    TypeId,
    Data,
    Author,
    Message,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Events {
    Table,
    Seq,
    Kind,
    Resource,
    ContentType,
    EntryId,
    Locale,
    Version,
    Actor,
    Payload,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    Name,
    Description,
    Inherits,
    Builtin,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    Role,
    Active,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    FamilyId,
    UserId,
    TokenHash,
    ExpiresAt,
    UsedAt,
    RevokedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ApiTokens {
    Table,
    Id,
    Name,
    Role,
    TokenHash,
    Prefix,
    ExpiresAt,
    RevokedAt,
    CreatedBy,
    CreatedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Policies {
    Table,
    Id,
    Role,
    Resource,
    Action,
    Fields,
    Condition,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Settings {
    Table,
    Key,
    Value,
}

fn ts(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .not_null()
        .to_owned()
}

fn ts_null(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .timestamp_with_time_zone()
        .null()
        .to_owned()
}

fn id(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(36).not_null().to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ContentTypes::Table)
                .col(
                    ColumnDef::new(ContentTypes::ApiId)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(ContentTypes::Name)
                        .string_len(200)
                        .not_null(),
                )
                .col(ColumnDef::new(ContentTypes::Kind).string_len(16).not_null())
                .col(
                    ColumnDef::new(ContentTypes::Definition)
                        .json_binary()
                        .not_null(),
                )
                .col(ColumnDef::new(ContentTypes::Rev).big_integer().not_null())
                .col(ts(ContentTypes::CreatedAt))
                .col(ts(ContentTypes::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Entries::Table)
                .col(id(Entries::Id).primary_key())
                .col(ColumnDef::new(Entries::TypeId).string_len(64).not_null())
                .col(ColumnDef::new(Entries::Locale).string_len(35).not_null())
                .col(ColumnDef::new(Entries::Owner).string_len(80).null())
                .col(ColumnDef::new(Entries::Status).string_len(16).not_null())
                .col(ColumnDef::new(Entries::Stage).string_len(32).not_null())
                .col(ColumnDef::new(Entries::Slug).string_len(200).null())
                .col(ColumnDef::new(Entries::Version).integer().not_null())
                .col(ColumnDef::new(Entries::PublishedVersion).integer().null())
                .col(ColumnDef::new(Entries::Rev).big_integer().not_null())
                .col(ColumnDef::new(Entries::Draft).json_binary().not_null())
                .col(ColumnDef::new(Entries::Published).json_binary().null())
                .col(ts(Entries::CreatedAt))
                .col(ts(Entries::UpdatedAt))
                .col(ts_null(Entries::PublishedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Entries::Table, Entries::TypeId)
                        .to(ContentTypes::Table, ContentTypes::ApiId)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_entries_slug")
                .table(Entries::Table)
                .col(Entries::TypeId)
                .col(Entries::Locale)
                .col(Entries::Slug)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_entries_type_created")
                .table(Entries::Table)
                .col(Entries::TypeId)
                .col(Entries::CreatedAt)
                .col(Entries::Id)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_entries_type_published")
                .table(Entries::Table)
                .col(Entries::TypeId)
                .col(Entries::PublishedAt)
                .col(Entries::Id)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(EntryVersions::Table)
                .col(id(EntryVersions::EntryId))
                .col(ColumnDef::new(EntryVersions::N).integer().not_null())
                .col(
                    ColumnDef::new(EntryVersions::TypeId)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(EntryVersions::Data).json_binary().not_null())
                .col(ColumnDef::new(EntryVersions::Author).string_len(80).null())
                .col(ColumnDef::new(EntryVersions::Message).text().null())
                .col(ts(EntryVersions::CreatedAt))
                .primary_key(
                    Index::create()
                        .col(EntryVersions::EntryId)
                        .col(EntryVersions::N),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Events::Table)
                .col(
                    ColumnDef::new(Events::Seq)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(ColumnDef::new(Events::Kind).string_len(64).not_null())
                .col(ColumnDef::new(Events::Resource).string_len(32).not_null())
                .col(ColumnDef::new(Events::ContentType).string_len(64).null())
                .col(ColumnDef::new(Events::EntryId).string_len(36).null())
                .col(ColumnDef::new(Events::Locale).string_len(35).null())
                .col(ColumnDef::new(Events::Version).integer().null())
                .col(ColumnDef::new(Events::Actor).string_len(80).null())
                .col(ColumnDef::new(Events::Payload).json_binary().not_null())
                .col(ts(Events::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Roles::Table)
                .col(
                    ColumnDef::new(Roles::Name)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Roles::Description).text().not_null())
                .col(ColumnDef::new(Roles::Inherits).string_len(64).null())
                .col(ColumnDef::new(Roles::Builtin).boolean().not_null())
                .col(ts(Roles::CreatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(id(Users::Id).primary_key())
                .col(
                    ColumnDef::new(Users::Email)
                        .string_len(254)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Users::PasswordHash).text().not_null())
                .col(ColumnDef::new(Users::Role).string_len(64).not_null())
                .col(ColumnDef::new(Users::Active).boolean().not_null())
                .col(ts(Users::CreatedAt))
                .col(ts(Users::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Users::Table, Users::Role)
                        .to(Roles::Table, Roles::Name)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(id(Sessions::Id).primary_key())
                .col(id(Sessions::FamilyId))
                .col(id(Sessions::UserId))
                .col(
                    ColumnDef::new(Sessions::TokenHash)
                        .string_len(64)
                        .not_null()
                        .unique_key(),
                )
                .col(ts(Sessions::ExpiresAt))
                .col(ts_null(Sessions::UsedAt))
                .col(ts_null(Sessions::RevokedAt))
                .col(ts(Sessions::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Sessions::Table, Sessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sessions_family")
                .table(Sessions::Table)
                .col(Sessions::FamilyId)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiTokens::Table)
                .col(id(ApiTokens::Id).primary_key())
                .col(ColumnDef::new(ApiTokens::Name).string_len(200).not_null())
                .col(ColumnDef::new(ApiTokens::Role).string_len(64).not_null())
                .col(
                    ColumnDef::new(ApiTokens::TokenHash)
                        .string_len(64)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(ApiTokens::Prefix).string_len(16).not_null())
                .col(ts_null(ApiTokens::ExpiresAt))
                .col(ts_null(ApiTokens::RevokedAt))
                .col(ColumnDef::new(ApiTokens::CreatedBy).string_len(36).null())
                .col(ts(ApiTokens::CreatedAt))
                .col(ts_null(ApiTokens::LastUsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(ApiTokens::Table, ApiTokens::Role)
                        .to(Roles::Table, Roles::Name)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Policies::Table)
                .col(id(Policies::Id).primary_key())
                .col(ColumnDef::new(Policies::Role).string_len(64).not_null())
                .col(ColumnDef::new(Policies::Resource).string_len(64).not_null())
                .col(ColumnDef::new(Policies::Action).string_len(64).not_null())
                .col(ColumnDef::new(Policies::Fields).json_binary().null())
                .col(ColumnDef::new(Policies::Condition).string_len(32).null())
                .col(ts(Policies::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Policies::Table, Policies::Role)
                        .to(Roles::Table, Roles::Name)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_policies_rule")
                .table(Policies::Table)
                .col(Policies::Role)
                .col(Policies::Resource)
                .col(Policies::Action)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Settings::Table)
                .col(
                    ColumnDef::new(Settings::Key)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Settings::Value).text().not_null())
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Settings::Table.into_iden(),
            Policies::Table.into_iden(),
            ApiTokens::Table.into_iden(),
            Sessions::Table.into_iden(),
            Users::Table.into_iden(),
            Roles::Table.into_iden(),
            Events::Table.into_iden(),
            EntryVersions::Table.into_iden(),
            Entries::Table.into_iden(),
            ContentTypes::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
