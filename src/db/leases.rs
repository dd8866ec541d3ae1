//! Named leases on background jobs that one node at a time runs (the usage rollup): taken
//! when free or lapsed, renewed by their holder while it works, lapsed when it dies.

use super::{Db, DbError};
use crate::on_pool;

/// Takes `name` for `holder` until `until_ms`, or renews it if `holder` has it already.
/// False when another holder's lease has not lapsed at `now_ms`. The condition is in the
/// upsert itself, so two nodes asking at once never both get it.
pub async fn take(
    db: &Db,
    name: &str,
    holder: &str,
    now_ms: i64,
    until_ms: i64,
) -> Result<bool, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, String>(
            "INSERT INTO work_leases (name, holder, until_ms) VALUES ($1, $2, $3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
             WHERE work_leases.holder = excluded.holder OR work_leases.until_ms <= $4
             RETURNING holder",
        )
        .bind(name)
        .bind(holder)
        .bind(until_ms)
        .bind(now_ms)
        .fetch_optional(pool)
        .await?
    })
    .is_some())
}

/// Who holds `name` and until when, lapsed or not.
pub async fn holder(db: &Db, name: &str) -> Result<Option<(String, i64)>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, (String, i64)>(
            "SELECT holder, until_ms FROM work_leases WHERE name = $1",
        )
        .bind(name)
        .fetch_optional(pool)
        .await?
    }))
}

/// Gives `name` back at once (a node shutting down), if `holder` has it.
pub async fn release(db: &Db, name: &str, holder: &str) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("DELETE FROM work_leases WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
            .execute(pool)
            .await?;
    });
    Ok(())
}
