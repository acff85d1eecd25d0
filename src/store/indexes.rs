//! Indexes for fields marked `indexed`: one expression index per (field expression,
//! draft or published column), led by `type_id` and ending in `id`, so filters, sorts and
//! keyset pages on that field read the index instead of the table. Types that share a
//! field name and type share the index. Built in the transaction that saves the type (a
//! failure fails the change, it is never silently slow); never dropped
//! automatically (an unused index costs writes, a missing one costs reads).

use sea_orm::{ConnectionTrait, DbErr};
use sha2::{Digest, Sha256};

use super::query::field_expr;
use crate::domain::schema::{ContentTypeDef, FieldType};

fn indexable(ty: FieldType) -> bool {
    ty.is_scalar() || ty == FieldType::Relation
}

/// Creates the missing indexes for the type's `indexed` fields.
pub async fn ensure_field_indexes(
    c: &impl ConnectionTrait,
    def: &ContentTypeDef,
) -> Result<(), DbErr> {
    let backend = c.get_database_backend();
    for f in def
        .fields
        .iter()
        .filter(|f| f.indexed && indexable(f.ty) && !f.many)
    {
        for column in ["published", "draft"] {
            let expr = field_expr(backend, column, &f.name, f.ty);
            let digest = Sha256::digest(expr.as_bytes());
            let name = format!("ix_entries_f_{}", hex::encode(&digest[..8]));
            // PostgreSQL wants an expression that is not a bare function call in parentheses.
            let sql =
                format!("CREATE INDEX IF NOT EXISTS {name} ON entries (type_id, ({expr}), id)");
            c.execute_unprepared(&sql).await?;
        }
    }
    Ok(())
}
