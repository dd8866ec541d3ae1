//! Blobs the consortium holds: one row per stored SHA-256, written only once the bytes are
//! complete and verified.

use super::{Db, DbError, on_pool};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BlobRow {
    pub sha256: String,
    pub size: i64,
    pub created_at: i64,
}

pub async fn get(db: &Db, sha256: &str) -> Result<Option<BlobRow>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, BlobRow>("SELECT sha256, size, created_at FROM blobs WHERE sha256 = $1")
            .bind(sha256)
            .fetch_optional(pool)
            .await?
    }))
}

/// A blob due for re-hashing.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueBlob {
    pub sha256: String,
    pub size: i64,
}

/// Blobs never verified, or last verified before `before`, oldest first; at most `limit`.
pub async fn due_for_fixity(db: &Db, before: i64, limit: i64) -> Result<Vec<DueBlob>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, DueBlob>(
            "SELECT sha256, size FROM blobs
             WHERE verified_at IS NULL OR verified_at < $1
             ORDER BY verified_at IS NOT NULL, verified_at, sha256 LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}

/// Records a re-hash: matched (`error` None: verified now, any earlier flag cleared) or not.
pub async fn record_fixity(
    db: &Db,
    sha256: &str,
    at: i64,
    error: Option<&str>,
) -> Result<(), DbError> {
    on_pool!(db, pool => {
        match error {
            None => sqlx::query(
                "UPDATE blobs SET verified_at = $2, fixity_failed_at = NULL, fixity_error = NULL
                 WHERE sha256 = $1",
            )
            .bind(sha256)
            .bind(at),
            Some(e) => sqlx::query(
                "UPDATE blobs SET fixity_failed_at = $2, fixity_error = $3 WHERE sha256 = $1",
            )
            .bind(sha256)
            .bind(at)
            .bind(e),
        }
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// A blob whose bytes did not match its key at its last check.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct FailingBlob {
    pub sha256: String,
    pub size: i64,
    pub fixity_failed_at: i64,
    pub fixity_error: String,
}

/// How the consortium's blobs stand: (blobs, verified since `since`, failing), and the failing
/// ones (at most `limit`).
pub async fn fixity_summary(
    db: &Db,
    since: i64,
    limit: i64,
) -> Result<((i64, i64, i64), Vec<FailingBlob>), DbError> {
    Ok(on_pool!(db, pool => {
        let counts = sqlx::query_as::<_, (i64, i64, i64)>(
            "SELECT COUNT(*),
                    COALESCE(SUM(CASE WHEN verified_at >= $1 THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN fixity_failed_at IS NOT NULL THEN 1 ELSE 0 END), 0)
             FROM blobs",
        )
        .bind(since)
        .fetch_one(pool)
        .await?;
        let failing = sqlx::query_as::<_, FailingBlob>(
            "SELECT sha256, size, fixity_failed_at, fixity_error FROM blobs
             WHERE fixity_failed_at IS NOT NULL ORDER BY fixity_failed_at DESC, sha256 LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?;
        (counts, failing)
    }))
}
