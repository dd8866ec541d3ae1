//! Member libraries of the consortium.

use serde::Serialize;

use super::{Db, DbError, is_unique_violation, now, on_pool};

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct Member {
    pub id: i64,
    pub code: String,
    pub name: String,
    pub created_at: i64,
}

/// A member with that code exists already: an expected outcome, not an error.
#[derive(Debug)]
pub struct CodeTaken;

pub async fn insert(db: &Db, code: &str, name: &str) -> Result<Result<Member, CodeTaken>, DbError> {
    let result = on_pool!(db, pool => {
        sqlx::query_as::<_, Member>(
            "INSERT INTO members (code, name, created_at) VALUES ($1, $2, $3)
             RETURNING id, code, name, created_at",
        )
        .bind(code)
        .bind(name)
        .bind(now())
        .fetch_one(pool)
        .await
    });
    match result {
        Ok(member) => Ok(Ok(member)),
        Err(e) if is_unique_violation(&e) => Ok(Err(CodeTaken)),
        Err(e) => Err(e.into()),
    }
}

pub async fn by_code(db: &Db, code: &str) -> Result<Option<Member>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, Member>("SELECT id, code, name, created_at FROM members WHERE code = $1")
            .bind(code)
            .fetch_optional(pool)
            .await?
    }))
}

pub async fn list(db: &Db) -> Result<Vec<Member>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, Member>("SELECT id, code, name, created_at FROM members ORDER BY code")
            .fetch_all(pool)
            .await?
    }))
}

/// The installation's secret called `name`: `candidate` if none was stored yet.
pub async fn secret(db: &Db, name: &str, candidate: &str) -> Result<String, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query("INSERT INTO app_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
            .bind(name)
            .bind(candidate)
            .bind(now())
            .execute(pool)
            .await?;
        sqlx::query_scalar::<_, String>("SELECT value FROM app_secrets WHERE name = $1")
            .bind(name)
            .fetch_one(pool)
            .await?
    }))
}
