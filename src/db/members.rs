//! Member libraries of the consortium.

use serde::{Deserialize, Serialize};

use super::{BeginWrite, Db, DbError, is_unique_violation, now, on_pool};

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

/// What keeps a member from being removed: its discs, uploads or usage figures (the
/// consortium's reports keep those), by name and count.
pub async fn holdings(db: &Db, member_id: i64) -> Result<Vec<(&'static str, i64)>, DbError> {
    let pattern = format!("%,{member_id},%");
    let mut found = Vec::new();
    for (what, sql) in [
        ("discs", "SELECT COUNT(*) FROM discs WHERE member_id = $1"),
        (
            "uploads",
            "SELECT COUNT(*) FROM uploads WHERE member_id = $1",
        ),
        (
            "days of usage figures",
            "SELECT COUNT(*) FROM usage_daily WHERE member_id = $1",
        ),
        (
            "days of search figures",
            "SELECT COUNT(*) FROM usage_searches_daily WHERE member_id = $1",
        ),
    ] {
        let n: i64 = on_pool!(db, pool => {
            sqlx::query_scalar(sql).bind(member_id).fetch_one(pool).await?
        });
        if n > 0 {
            found.push((what, n));
        }
    }
    let events: i64 = on_pool!(db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM usage_events WHERE members LIKE $1")
            .bind(&pattern)
            .fetch_one(pool)
            .await?
    });
    if events > 0 {
        found.push(("usage events", events));
    }
    Ok(found)
}

/// Removes a member that holds nothing (see [`holdings`]) and everything that only configured
/// it: its tokens and their sessions, its people, sign-on, catalogue and harvested records,
/// networks, SUSHI keys, environments' grants and possession records. One transaction.
pub async fn remove(db: &Db, member_id: i64) -> Result<(), DbError> {
    const STEPS: [&str; 14] = [
        "DELETE FROM staff_sessions WHERE token_id IN (SELECT id FROM tokens WHERE member_id = $1
             OR person_id IN (SELECT id FROM people WHERE member_id = $1))",
        "DELETE FROM tokens WHERE member_id = $1
             OR person_id IN (SELECT id FROM people WHERE member_id = $1)",
        "DELETE FROM reader_sessions WHERE member_id = $1",
        "DELETE FROM people WHERE member_id = $1",
        "DELETE FROM identity_providers WHERE member_id = $1",
        "DELETE FROM bib_records WHERE member_id = $1",
        "DELETE FROM catalogues WHERE member_id = $1",
        "DELETE FROM member_networks WHERE member_id = $1",
        "DELETE FROM sushi_keys WHERE member_id = $1",
        "DELETE FROM environment_members WHERE member_id = $1",
        "DELETE FROM blob_challenges WHERE member_id = $1",
        "DELETE FROM blob_holders WHERE member_id = $1",
        "DELETE FROM usage_searches_daily WHERE member_id = $1",
        "DELETE FROM members WHERE id = $1",
    ];
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        for sql in STEPS {
            sqlx::query(sql).bind(member_id).execute(&mut *tx).await?;
        }
        tx.commit().await?;
    });
    Ok(())
}
