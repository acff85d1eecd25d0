//! Two-factor login (TOTP): each user's secret (encrypted) with the last step accepted,
//! their recovery codes (hashes only), the one-time challenges between a login's password
//! step and its code step, and the roles' `require_totp` flag.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_totp"
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum Roles {
    Table,
    RequireTotp,
}

#[derive(DeriveIden)]
enum UserTotp {
    Table,
    UserId,
    /// The secret sealed with the instance key (never the secret itself).
    Secret,
    /// NULL while enrolment waits for its first code.
    EnabledAt,
    /// The last 30-second step whose code was accepted: a code works once.
    LastStep,
    CreatedAt,
}

#[derive(DeriveIden)]
enum TotpRecoveryCodes {
    Table,
    Id,
    UserId,
    CodeHash,
    UsedAt,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LoginChallenges {
    Table,
    Id,
    TokenHash,
    UserId,
    Attempts,
    ExpiresAt,
    UsedAt,
    CreatedAt,
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

fn of_user(table: impl IntoIden, col: impl IntoIden) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .from(table, col)
        .to(Users::Table, Users::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Roles::Table)
                .add_column(
                    ColumnDef::new(Roles::RequireTotp)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(UserTotp::Table)
                .col(id(UserTotp::UserId).primary_key())
                .col(ColumnDef::new(UserTotp::Secret).text().not_null())
                .col(ts_null(UserTotp::EnabledAt))
                .col(ColumnDef::new(UserTotp::LastStep).big_integer().null())
                .col(ts(UserTotp::CreatedAt))
                .foreign_key(&mut of_user(UserTotp::Table, UserTotp::UserId))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(TotpRecoveryCodes::Table)
                .col(id(TotpRecoveryCodes::Id).primary_key())
                .col(id(TotpRecoveryCodes::UserId))
                .col(
                    ColumnDef::new(TotpRecoveryCodes::CodeHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(ts_null(TotpRecoveryCodes::UsedAt))
                .col(ts(TotpRecoveryCodes::CreatedAt))
                .foreign_key(&mut of_user(
                    TotpRecoveryCodes::Table,
                    TotpRecoveryCodes::UserId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_totp_recovery_codes_user")
                .table(TotpRecoveryCodes::Table)
                .col(TotpRecoveryCodes::UserId)
                .col(TotpRecoveryCodes::CodeHash)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(LoginChallenges::Table)
                .col(id(LoginChallenges::Id).primary_key())
                .col(
                    ColumnDef::new(LoginChallenges::TokenHash)
                        .string_len(64)
                        .not_null()
                        .unique_key(),
                )
                .col(id(LoginChallenges::UserId))
                .col(
                    ColumnDef::new(LoginChallenges::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(ts(LoginChallenges::ExpiresAt))
                .col(ts_null(LoginChallenges::UsedAt))
                .col(ts(LoginChallenges::CreatedAt))
                .foreign_key(&mut of_user(
                    LoginChallenges::Table,
                    LoginChallenges::UserId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_login_challenges_expires")
                .table(LoginChallenges::Table)
                .col(LoginChallenges::ExpiresAt)
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            LoginChallenges::Table.into_iden(),
            TotpRecoveryCodes::Table.into_iden(),
            UserTotp::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        m.alter_table(
            Table::alter()
                .table(Roles::Table)
                .drop_column(Roles::RequireTotp)
                .to_owned(),
        )
        .await
    }
}
