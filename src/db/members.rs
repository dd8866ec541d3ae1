//! Member libraries of the consortium.

use serde::{Deserialize, Serialize};

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

/// How a member's readers get in from off campus (all optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, sqlx::FromRow, Serialize, Deserialize)]
pub struct OffCampus {
    /// The library's proxy (EZproxy, WebVPN): a prefix the page's address is appended to
    /// (percent-encoded), or a template with `{url}` where it goes.
    pub proxy_prefix: Option<String>,
    /// The page about the library's VPN.
    pub vpn_url: Option<String>,
    /// Whom to ask: an e-mail address, a telephone number, a desk.
    pub contact: Option<String>,
}

pub async fn off_campus(db: &Db, member_id: i64) -> Result<OffCampus, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, OffCampus>(
            "SELECT proxy_prefix, vpn_url, contact FROM members WHERE id = $1",
        )
        .bind(member_id)
        .fetch_optional(pool)
        .await?
        .unwrap_or_default()
    }))
}

pub async fn set_off_campus(db: &Db, member_id: i64, o: &OffCampus) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE members SET proxy_prefix = $1, vpn_url = $2, contact = $3 WHERE id = $4")
            .bind(&o.proxy_prefix)
            .bind(&o.vpn_url)
            .bind(&o.contact)
            .bind(member_id)
            .execute(pool)
            .await?;
    });
    Ok(())
}
