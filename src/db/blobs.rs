//! Blobs the consortium holds: one row per stored SHA-256, written only once the bytes are
//! complete and verified.

use super::{BeginWrite, Db, DbError, on_pool};

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

/// A blob by its key and size: gc's candidates, backup's pages.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredBlob {
    pub sha256: String,
    pub size: i64,
}

/// A blob due for a fixity check, as a pass found it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FixityDue {
    pub sha256: String,
    pub size: i64,
    /// How many checks were recorded when the blob was found due: a pass claims it only if
    /// none has been since (another node checked it meanwhile).
    pub fixity_checks: i64,
}

/// Blobs never verified, or last verified before `before`, oldest first; at most `limit`.
pub async fn due_for_fixity(db: &Db, before: i64, limit: i64) -> Result<Vec<FixityDue>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, FixityDue>(
            "SELECT sha256, size, fixity_checks FROM blobs
             WHERE verified_at IS NULL OR verified_at < $1
             ORDER BY verified_at IS NOT NULL, verified_at, sha256 LIMIT $2",
        )
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}

/// Claims `blob` (found due by [`due_for_fixity`]) for `pass` until `until_ms`: only if no
/// check has been recorded since it was found due and no other pass holds a claim on it that
/// has not lapsed at `now_ms`. The test is in the UPDATE, so two nodes never both get it.
pub async fn claim_for_fixity(
    db: &Db,
    blob: &FixityDue,
    pass: &str,
    now_ms: i64,
    until_ms: i64,
) -> Result<bool, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query(
            "UPDATE blobs SET fixity_claimed_by = $3, fixity_claimed_until = $5
             WHERE sha256 = $1 AND fixity_checks = $2 AND COALESCE(fixity_claimed_until, 0) <= $4",
        )
        .bind(&blob.sha256)
        .bind(blob.fixity_checks)
        .bind(pass)
        .bind(now_ms)
        .bind(until_ms)
        .execute(pool)
        .await?
        .rows_affected()
    }) == 1)
}

/// Keeps `pass`'s claim on a blob it is still reading until `until_ms`; false if the claim
/// was lost (it lapsed and another pass took the blob).
pub async fn renew_fixity_claim(
    db: &Db,
    sha256: &str,
    pass: &str,
    until_ms: i64,
) -> Result<bool, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query(
            "UPDATE blobs SET fixity_claimed_until = $3
             WHERE sha256 = $1 AND fixity_claimed_by = $2 AND fixity_claimed_until IS NOT NULL",
        )
        .bind(sha256)
        .bind(pass)
        .bind(until_ms)
        .execute(pool)
        .await?
        .rows_affected()
    }) == 1)
}

/// Ends `pass`'s claim on a blob it could not check now: the next pass may take it.
pub async fn end_fixity_claim(db: &Db, sha256: &str, pass: &str) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query(
            "UPDATE blobs SET fixity_claimed_until = NULL
             WHERE sha256 = $1 AND fixity_claimed_by = $2",
        )
        .bind(sha256)
        .bind(pass)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Records a re-hash: matched (`error` None: verified now, any earlier flag cleared) or not;
/// counts it and ends the claim on the blob.
pub async fn record_fixity(
    db: &Db,
    sha256: &str,
    at: i64,
    error: Option<&str>,
) -> Result<(), DbError> {
    on_pool!(db, pool => {
        match error {
            None => sqlx::query(
                "UPDATE blobs SET verified_at = $2, fixity_failed_at = NULL, fixity_error = NULL,
                     fixity_checks = fixity_checks + 1, fixity_claimed_until = NULL
                 WHERE sha256 = $1",
            )
            .bind(sha256)
            .bind(at),
            Some(e) => sqlx::query(
                "UPDATE blobs SET fixity_failed_at = $2, fixity_error = $3,
                     fixity_checks = fixity_checks + 1, fixity_claimed_until = NULL
                 WHERE sha256 = $1",
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

/// How the consortium's blobs stand: (blobs, verified since `since`, failing).
pub async fn fixity_counts(db: &Db, since: i64) -> Result<(i64, i64, i64), DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, (i64, i64, i64)>(
            "SELECT COUNT(*),
                    COALESCE(SUM(CASE WHEN verified_at >= $1 THEN 1 ELSE 0 END), 0),
                    COALESCE(SUM(CASE WHEN fixity_failed_at IS NOT NULL THEN 1 ELSE 0 END), 0)
             FROM blobs",
        )
        .bind(since)
        .fetch_one(pool)
        .await?
    }))
}

/// The blobs that failed their last check, most recent first; at most `limit`.
pub async fn failing(db: &Db, limit: i64) -> Result<Vec<FailingBlob>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, FailingBlob>(
            "SELECT sha256, size, fixity_failed_at, fixity_error FROM blobs
             WHERE fixity_failed_at IS NOT NULL ORDER BY fixity_failed_at DESC, sha256 LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}

/// Why a blob is still needed: a disc is its image, an image lists it as a part (a CUE
/// sheet's BIN), an environment boots from it, or an upload of it is under way or ended after `$2` (a client that was told
/// "already stored" may be about to register it).
const STILL_NEEDED: &str = "(EXISTS (SELECT 1 FROM discs d WHERE d.sha256 = b.sha256)
    OR EXISTS (SELECT 1 FROM image_parts p WHERE p.part_sha256 = b.sha256)
    OR EXISTS (SELECT 1 FROM environments e WHERE e.sha256 = b.sha256)
    OR EXISTS (SELECT 1 FROM uploads u WHERE u.sha256 = b.sha256
               AND (u.state = 'pending' OR u.updated_at >= $2)))";

/// Blobs stored before `$1` that nothing needs (see [`STILL_NEEDED`]); at most `limit`.
pub async fn unreferenced(
    db: &Db,
    created_before: i64,
    limit: i64,
) -> Result<Vec<StoredBlob>, DbError> {
    let sql = format!(
        "SELECT b.sha256, b.size FROM blobs b
         WHERE b.created_at < $1 AND NOT {STILL_NEEDED} ORDER BY b.created_at, b.sha256 LIMIT $3"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, StoredBlob>(&sql)
            .bind(created_before)
            .bind(created_before)
            .bind(limit)
            .fetch_all(pool)
            .await?
    }))
}

/// Removes a blob's rows (its index with it) if, checked again under a lock on the blob,
/// nothing needs it; true when removed. Its bytes are deleted by the caller afterwards, so a
/// crash between the two leaves an object nothing lists, never a listed blob without bytes.
pub async fn remove_unreferenced(
    db: &Db,
    sha256: &str,
    created_before: i64,
) -> Result<bool, DbError> {
    let lock = if db.dialect() == "postgres" {
        " FOR UPDATE"
    } else {
        ""
    };
    let check = format!(
        "SELECT b.sha256 FROM blobs b
         WHERE b.sha256 = $3 AND b.created_at < $1 AND NOT {STILL_NEEDED}{lock}"
    );
    Ok(on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let free: Option<String> = sqlx::query_scalar(&check)
            .bind(created_before)
            .bind(created_before)
            .bind(sha256)
            .fetch_optional(&mut *tx)
            .await?;
        if free.is_none() {
            return Ok(false);
        }
        sqlx::query("DELETE FROM images WHERE sha256 = $1")
            .bind(sha256)
            .execute(&mut *tx)
            .await?;
        for table in ["blob_holders", "blob_challenges", "blobs"] {
            sqlx::query(&format!("DELETE FROM {table} WHERE sha256 = $1"))
                .bind(sha256)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        true
    }))
}

/// Blobs in key order after `after` (exclusive), at most `limit`: a walk over every blob in
/// pages (backup and restore).
pub async fn page_after(db: &Db, after: &str, limit: i64) -> Result<Vec<StoredBlob>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, StoredBlob>(
            "SELECT sha256, size FROM blobs WHERE sha256 > $1 ORDER BY sha256 LIMIT $2",
        )
        .bind(after)
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}
