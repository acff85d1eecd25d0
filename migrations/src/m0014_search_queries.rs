//! What people search for, per day: the dashboard's top searches and searches without
//! results. One row per (day, surface, normalized query), counts added in batches.

use sea_orm_migration::prelude::*;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_search_queries"
    }
}

#[derive(DeriveIden)]
enum SearchQueries {
    Table,
    Day,
    Surface,
    Query,
    Searches,
    WithoutResults,
}

#[sea_orm_migration::async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SearchQueries::Table)
                .if_not_exists()
                .col(ColumnDef::new(SearchQueries::Day).string_len(10).not_null())
                .col(
                    ColumnDef::new(SearchQueries::Surface)
                        .string_len(10)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SearchQueries::Query)
                        .string_len(400)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(SearchQueries::Searches)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(SearchQueries::WithoutResults)
                        .big_integer()
                        .not_null()
                        .default(0),
                )
                .primary_key(
                    Index::create()
                        .col(SearchQueries::Day)
                        .col(SearchQueries::Surface)
                        .col(SearchQueries::Query),
                )
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(SearchQueries::Table).to_owned())
            .await
    }
}
