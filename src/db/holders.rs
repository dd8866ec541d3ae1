//! Which members hold which stored bytes, and the challenges that let a member show it holds
//! bytes it did not upload.

use super::{Db, DbError, now, on_pool};

/// Whether `member_id` holds the blob `sha256`.
pub async fn holds(db: &Db, member_id: i64, sha256: &str) -> Result<bool, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM blob_holders WHERE sha256 = $1 AND member_id = $2",
        )
        .bind(sha256)
        .bind(member_id)
        .fetch_one(pool)
        .await?
            > 0
    }))
}

/// Records that `member_id` holds `sha256` (once; later calls keep the first date).
pub async fn grant(db: &Db, member_id: i64, sha256: &str) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO blob_holders (sha256, member_id, since) VALUES ($1, $2, $3)
             ON CONFLICT (sha256, member_id) DO NOTHING",
        )
        .bind(sha256)
        .bind(member_id)
        .bind(now())
        .execute(pool)
        .await?;
    });
    Ok(())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChallengeRow {
    pub id: String,
    pub sha256: String,
    pub member_id: i64,
    /// `offset+length` pairs, comma-separated.
    pub ranges: String,
    /// SHA-256 of each range, hex, comma-separated.
    pub expected: String,
    pub created_at: i64,
    pub expires_at: i64,
}

/// Stores a new challenge, first removing those past their time.
pub async fn insert_challenge(db: &Db, c: &ChallengeRow) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("DELETE FROM blob_challenges WHERE expires_at < $1")
            .bind(now())
            .execute(pool)
            .await?;
        sqlx::query(
            "INSERT INTO blob_challenges (id, sha256, member_id, ranges, expected, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&c.id)
        .bind(&c.sha256)
        .bind(c.member_id)
        .bind(&c.ranges)
        .bind(&c.expected)
        .bind(c.created_at)
        .bind(c.expires_at)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Takes a challenge for answering: it is removed whatever the answer, so each is answered
/// once. None when there is no such challenge for this blob and member, or it has expired.
pub async fn take_challenge(
    db: &Db,
    id: &str,
    sha256: &str,
    member_id: i64,
) -> Result<Option<ChallengeRow>, DbError> {
    Ok(on_pool!(db, pool => {
        let row = sqlx::query_as::<_, ChallengeRow>(
            "DELETE FROM blob_challenges WHERE id = $1 AND sha256 = $2 AND member_id = $3
             RETURNING id, sha256, member_id, ranges, expected, created_at, expires_at",
        )
        .bind(id)
        .bind(sha256)
        .bind(member_id)
        .fetch_optional(pool)
        .await?;
        row.filter(|r| r.expires_at >= now())
    }))
}

/// A member's challenges not yet answered or expired.
pub async fn open_challenges(db: &Db, member_id: i64) -> Result<i64, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM blob_challenges WHERE member_id = $1 AND expires_at >= $2",
        )
        .bind(member_id)
        .bind(now())
        .fetch_one(pool)
        .await?
    }))
}
