//! Staff bearer tokens, stored as SHA-256 hashes.

use super::{Db, DbError, now, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TokenRow {
    pub id: i64,
    pub role: String,
    pub member_id: Option<i64>,
    pub member_code: Option<String>,
    pub last_used_at: Option<i64>,
}

pub async fn insert(
    db: &Db,
    member_id: Option<i64>,
    role: &str,
    token_hash: &str,
    label: Option<&str>,
) -> Result<i64, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar(
            "INSERT INTO tokens (member_id, role, token_hash, label, created_at)
             VALUES ($1, $2, $3, $4, $5) RETURNING id",
        )
        .bind(member_id)
        .bind(role)
        .bind(token_hash)
        .bind(label)
        .bind(now())
        .fetch_one(pool)
        .await?
    }))
}

/// The live (not revoked) token with this hash.
pub async fn by_hash(db: &Db, token_hash: &str) -> Result<Option<TokenRow>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, TokenRow>(
            "SELECT t.id, t.role, t.member_id, m.code AS member_code, t.last_used_at
             FROM tokens t LEFT JOIN members m ON m.id = t.member_id
             WHERE t.token_hash = $1 AND t.revoked_at IS NULL
               AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(token_hash)
        .bind(now())
        .fetch_optional(pool)
        .await?
    }))
}

pub async fn touch(db: &Db, id: i64) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE tokens SET last_used_at = $1 WHERE id = $2")
            .bind(now())
            .bind(id)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Returns false when no live token has that id.
pub async fn revoke(db: &Db, id: i64) -> Result<bool, DbError> {
    let done = on_pool!(db, pool => {
        sqlx::query("UPDATE tokens SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
            .bind(now())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
    });
    Ok(done == 1)
}

/// Opens a browser session for a token (`sso_ticket`: the hash of the CAS ticket it was
/// opened with, which the CAS server's single logout names).
pub async fn create_session(
    db: &Db,
    id_hash: &str,
    token_id: i64,
    csrf: &str,
    expires_at: i64,
    sso_ticket: Option<&str>,
) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("DELETE FROM staff_sessions WHERE expires_at < $1")
            .bind(now())
            .execute(pool)
            .await?;
        sqlx::query(
            "INSERT INTO staff_sessions (id_hash, token_id, csrf, created_at, expires_at, last_seen_at, sso_ticket)
             VALUES ($1, $2, $3, $4, $5, $4, $6)",
        )
        .bind(id_hash)
        .bind(token_id)
        .bind(csrf)
        .bind(now())
        .bind(expires_at)
        .bind(sso_ticket)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// The live session with this cookie hash (not expired, not idle for `idle_secs`): its token
/// (not revoked) and its form token. Its idle clock is wound again at most once a minute.
pub async fn by_session(
    db: &Db,
    id_hash: &str,
    idle_secs: i64,
) -> Result<Option<(TokenRow, String)>, DbError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        id: i64,
        role: String,
        member_id: Option<i64>,
        member_code: Option<String>,
        last_used_at: Option<i64>,
        csrf: String,
        last_seen_at: i64,
    }
    let t = now();
    let row = on_pool!(db, pool => {
        let row = sqlx::query_as::<_, Row>(
            "SELECT t.id, t.role, t.member_id, m.code AS member_code, t.last_used_at, s.csrf,
                    s.last_seen_at
             FROM staff_sessions s JOIN tokens t ON t.id = s.token_id
             LEFT JOIN members m ON m.id = t.member_id
             WHERE s.id_hash = $1 AND s.expires_at > $2 AND s.last_seen_at > $3
               AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2)",
        )
        .bind(id_hash)
        .bind(t)
        .bind(t - idle_secs)
        .fetch_optional(pool)
        .await?;
        if row.as_ref().is_some_and(|r| r.last_seen_at < t - 60) {
            sqlx::query("UPDATE staff_sessions SET last_seen_at = $2 WHERE id_hash = $1")
                .bind(id_hash)
                .bind(t)
                .execute(pool)
                .await?;
        }
        row
    });
    Ok(row.map(|r| {
        (
            TokenRow {
                id: r.id,
                role: r.role,
                member_id: r.member_id,
                member_code: r.member_code,
                last_used_at: r.last_used_at,
            },
            r.csrf,
        )
    }))
}

pub async fn delete_session(db: &Db, id_hash: &str) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("DELETE FROM staff_sessions WHERE id_hash = $1")
            .bind(id_hash)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// A token as `spindle token list` shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Listed {
    pub id: i64,
    pub kind: String,
    pub role: String,
    pub member_code: Option<String>,
    pub person: Option<String>,
    pub label: Option<String>,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub expires_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Every token (with `all`, revoked and expired ones too), oldest first.
pub async fn list(db: &Db, all: bool) -> Result<Vec<Listed>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, Listed>(
            "SELECT t.id, t.kind, t.role, m.code AS member_code, p.subject AS person, t.label,
                    t.created_at, t.last_used_at, t.expires_at, t.revoked_at
             FROM tokens t LEFT JOIN members m ON m.id = t.member_id
             LEFT JOIN people p ON p.id = t.person_id
             WHERE $1 OR (t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > $2))
             ORDER BY t.id",
        )
        .bind(all)
        .bind(now())
        .fetch_all(pool)
        .await?
    }))
}

/// Sets when a token expires.
pub async fn set_expiry(db: &Db, id: i64, expires_at: i64) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE tokens SET expires_at = $2 WHERE id = $1")
            .bind(id)
            .bind(expires_at)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// Whose personal tokens a caller's token makes and sees: the person it belongs to, or else
/// the operator token at the root of it.
#[derive(Debug, Clone, Copy)]
pub struct Owner {
    pub person_id: Option<i64>,
    pub root: i64,
}

pub async fn owner(db: &Db, token_id: i64) -> Result<Option<Owner>, DbError> {
    let row: Option<(Option<i64>, String, Option<i64>)> = on_pool!(db, pool => {
        sqlx::query_as("SELECT person_id, kind, made_by FROM tokens WHERE id = $1")
            .bind(token_id)
            .fetch_optional(pool)
            .await?
    });
    Ok(row.map(|(person_id, kind, made_by)| Owner {
        person_id,
        root: if kind == "personal" {
            made_by.unwrap_or(token_id)
        } else {
            token_id
        },
    }))
}

#[allow(clippy::too_many_arguments)]
pub async fn insert_personal(
    db: &Db,
    owner: Owner,
    member_id: Option<i64>,
    role: &str,
    token_hash: &str,
    name: &str,
    expires_at: i64,
) -> Result<i64, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar(
            "INSERT INTO tokens (member_id, role, token_hash, label, created_at, person_id, kind,
                                 expires_at, made_by)
             VALUES ($1, $2, $3, $4, $5, $6, 'personal', $7, $8) RETURNING id",
        )
        .bind(member_id)
        .bind(role)
        .bind(token_hash)
        .bind(name)
        .bind(now())
        .bind(owner.person_id)
        .bind(expires_at)
        .bind(owner.root)
        .fetch_one(pool)
        .await?
    }))
}

const OWNED: &str = "t.kind = 'personal' AND t.revoked_at IS NULL
     AND ((t.person_id IS NOT NULL AND t.person_id = $1) OR (t.person_id IS NULL AND $1 IS NULL AND t.made_by = $2))";

/// An owner's live personal tokens (expired ones included, marked by their date).
pub async fn personal(db: &Db, owner: Owner) -> Result<Vec<Listed>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, Listed>(&format!(
            "SELECT t.id, t.kind, t.role, m.code AS member_code, CAST(NULL AS TEXT) AS person, t.label,
                    t.created_at, t.last_used_at, t.expires_at, t.revoked_at
             FROM tokens t LEFT JOIN members m ON m.id = t.member_id
             WHERE {OWNED} ORDER BY t.id"
        ))
        .bind(owner.person_id)
        .bind(owner.root)
        .fetch_all(pool)
        .await?
    }))
}

/// Revokes one of an owner's personal tokens: false when it has none with that id.
pub async fn revoke_personal(db: &Db, owner: Owner, id: i64) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => {
        sqlx::query(&format!(
            "UPDATE tokens SET revoked_at = $3 WHERE id IN (SELECT t.id FROM tokens t WHERE {OWNED} AND t.id = $4)"
        ))
        .bind(owner.person_id)
        .bind(owner.root)
        .bind(now())
        .bind(id)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(n == 1)
}
