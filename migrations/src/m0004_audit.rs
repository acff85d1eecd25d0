//! The audit log: who did what, when, from where. Append-only: the application has no
//! statement that updates or deletes its rows.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_audit"
    }
}

#[derive(DeriveIden)]
enum AuditLog {
    Table,
    Seq,
    CreatedAt,
    Actor,
    ActorLabel,
    Action,
    Resource,
    ResourceId,
    ContentType,
    Ip,
    UserAgent,
    Details,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(AuditLog::Table)
                .col(
                    ColumnDef::new(AuditLog::Seq)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(AuditLog::CreatedAt)
                        .timestamp_with_time_zone()
                        .not_null(),
                )
                .col(ColumnDef::new(AuditLog::Actor).string_len(80).not_null())
                .col(ColumnDef::new(AuditLog::ActorLabel).string_len(254).null())
                .col(ColumnDef::new(AuditLog::Action).string_len(64).not_null())
                .col(ColumnDef::new(AuditLog::Resource).string_len(32).not_null())
                .col(ColumnDef::new(AuditLog::ResourceId).string_len(128).null())
                .col(ColumnDef::new(AuditLog::ContentType).string_len(64).null())
                .col(ColumnDef::new(AuditLog::Ip).string_len(64).null())
                .col(ColumnDef::new(AuditLog::UserAgent).string_len(300).null())
                .col(ColumnDef::new(AuditLog::Details).json_binary().not_null())
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("ix_audit_actor", AuditLog::Actor),
            ("ix_audit_action", AuditLog::Action),
            ("ix_audit_resource_id", AuditLog::ResourceId),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(AuditLog::Table)
                    .col(col)
                    .col(AuditLog::Seq)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(AuditLog::Table).to_owned())
            .await
    }
}
