//! Environments for running discs in the browser: a boot disk (a blob), its licence note and
//! the members allowed to use it.

use serde::Serialize;

use super::{BeginWrite, Db, DbError, now, on_pool};

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct EnvironmentRow {
    pub code: String,
    pub name: String,
    pub licence: String,
    pub sha256: String,
    pub disk: String,
    pub memory_mib: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

const COLUMNS: &str =
    "e.code, e.name, e.licence, e.sha256, e.disk, e.memory_mib, e.created_at, e.updated_at";

pub struct NewEnvironment<'a> {
    pub code: &'a str,
    pub name: &'a str,
    pub licence: &'a str,
    pub sha256: &'a str,
    pub disk: &'a str,
    pub memory_mib: i64,
    pub members: &'a [i64],
}

/// Creates or replaces an environment and its members, in one transaction.
pub async fn put(db: &Db, env: &NewEnvironment<'_>) -> Result<(), DbError> {
    let t = now();
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO environments (code, name, licence, sha256, disk, memory_mib, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)
             ON CONFLICT (code) DO UPDATE SET name = $2, licence = $3, sha256 = $4, disk = $5,
               memory_mib = $6, updated_at = $7",
        )
        .bind(env.code)
        .bind(env.name)
        .bind(env.licence)
        .bind(env.sha256)
        .bind(env.disk)
        .bind(env.memory_mib)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM environment_members WHERE environment = $1")
            .bind(env.code)
            .execute(&mut *tx)
            .await?;
        for member in env.members {
            sqlx::query("INSERT INTO environment_members (environment, member_id) VALUES ($1, $2)")
                .bind(env.code)
                .bind(member)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
    });
    Ok(())
}

pub async fn get(db: &Db, code: &str) -> Result<Option<EnvironmentRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM environments e WHERE e.code = $1");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, EnvironmentRow>(&sql)
            .bind(code)
            .fetch_optional(pool)
            .await?
    }))
}

pub async fn list(db: &Db) -> Result<Vec<EnvironmentRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM environments e ORDER BY e.code");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, EnvironmentRow>(&sql).fetch_all(pool).await?
    }))
}

/// The environments a member's discs may run in.
pub async fn for_member(db: &Db, member_id: i64) -> Result<Vec<EnvironmentRow>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM environments e JOIN environment_members m ON m.environment = e.code
         WHERE m.member_id = $1 ORDER BY e.code"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, EnvironmentRow>(&sql)
            .bind(member_id)
            .fetch_all(pool)
            .await?
    }))
}

/// The codes of the members allowed an environment.
pub async fn members(db: &Db, code: &str) -> Result<Vec<String>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, String>(
            "SELECT mb.code FROM environment_members m JOIN members mb ON mb.id = m.member_id
             WHERE m.environment = $1 ORDER BY mb.code",
        )
        .bind(code)
        .fetch_all(pool)
        .await?
    }))
}

/// Removes an environment (its disk's blob is then gc's to judge); false if there was none.
pub async fn delete(db: &Db, code: &str) -> Result<bool, DbError> {
    Ok(on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("DELETE FROM environment_members WHERE environment = $1")
            .bind(code)
            .execute(&mut *tx)
            .await?;
        let n = sqlx::query("DELETE FROM environments WHERE code = $1")
            .bind(code)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        tx.commit().await?;
        n > 0
    }))
}
