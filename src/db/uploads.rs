//! Resumable uploads (tus): their state lives here so that any node, or this one after a
//! restart, can take the next chunk. A lease column serialises writers of one upload.

use super::{BeginWrite, Db, DbError, now, on_pool};
use crate::state::{TargetKind, UploadState};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct UploadRow {
    pub id: String,
    pub token_id: i64,
    pub member_id: Option<i64>,
    pub sha256: String,
    pub length: i64,
    pub part_size: i64,
    pub upload_offset: i64,
    pub metadata: String,
    pub filename: Option<String>,
    pub target_kind: TargetKind,
    pub target_id: String,
    pub hash_state: Vec<u8>,
    pub state: UploadState,
    pub failure: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
    pub lease_until: i64,
}

const COLUMNS: &str = "id, token_id, member_id, sha256, length, part_size, upload_offset, metadata, filename, \
    target_kind, target_id, hash_state, state, failure, created_at, updated_at, expires_at, lease_until";

/// The open uploads of a member (or, with no member, of a token): how many, and the bytes
/// they announced and have not received.
pub async fn open_of(
    db: &Db,
    member_id: Option<i64>,
    token_id: i64,
) -> Result<(i64, i64), DbError> {
    let sql = "SELECT COUNT(*), CAST(COALESCE(SUM(length - upload_offset), 0) AS BIGINT)
         FROM uploads WHERE state = 'pending'
           AND (member_id = $1 OR ($1 IS NULL AND member_id IS NULL AND token_id = $2))";
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, (i64, i64)>(sql)
            .bind(member_id)
            .bind(token_id)
            .fetch_one(pool)
            .await?
    }))
}

pub async fn insert(db: &Db, u: &UploadRow) -> Result<(), DbError> {
    let sql = format!(
        "INSERT INTO uploads ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"
    );
    on_pool!(db, pool => {
        sqlx::query(&sql)
            .bind(&u.id)
            .bind(u.token_id)
            .bind(u.member_id)
            .bind(&u.sha256)
            .bind(u.length)
            .bind(u.part_size)
            .bind(u.upload_offset)
            .bind(&u.metadata)
            .bind(&u.filename)
            .bind(u.target_kind.as_str())
            .bind(&u.target_id)
            .bind(&u.hash_state)
            .bind(u.state.as_str())
            .bind(&u.failure)
            .bind(u.created_at)
            .bind(u.updated_at)
            .bind(u.expires_at)
            .bind(u.lease_until)
            .execute(pool)
            .await?;
    });
    Ok(())
}

pub async fn get(db: &Db, id: &str) -> Result<Option<UploadRow>, DbError> {
    let sql = format!("SELECT {COLUMNS} FROM uploads WHERE id = $1");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, UploadRow>(&sql).bind(id).fetch_optional(pool).await?
    }))
}

/// Takes the write lease of a pending upload at `offset`; false if another request holds it
/// or the offset has moved.
pub async fn claim(db: &Db, id: &str, offset: i64, lease_until: i64) -> Result<bool, DbError> {
    let n = on_pool!(db, pool => {
        sqlx::query(
            "UPDATE uploads SET lease_until = $1
             WHERE id = $2 AND upload_offset = $3 AND state = 'pending' AND lease_until < $4",
        )
        .bind(lease_until)
        .bind(id)
        .bind(offset)
        .bind(now())
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(n == 1)
}

pub async fn release(db: &Db, id: &str) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE uploads SET lease_until = 0 WHERE id = $1")
            .bind(id)
            .execute(pool)
            .await?;
    });
    Ok(())
}

pub async fn renew(db: &Db, id: &str, lease_until: i64) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query("UPDATE uploads SET lease_until = $1 WHERE id = $2")
            .bind(lease_until)
            .bind(id)
            .execute(pool)
            .await?;
    });
    Ok(())
}

/// One part made durable: its receipt, the new offset and hash state, in one transaction
/// conditioned on the old offset.
pub struct PartCommit<'a> {
    pub id: &'a str,
    pub part_index: i64,
    pub receipt: &'a str,
    pub old_offset: i64,
    pub new_offset: i64,
    pub hash_state: &'a [u8],
    pub expires_at: i64,
    pub lease_until: i64,
}

pub async fn commit_part(db: &Db, c: &PartCommit<'_>) -> Result<bool, DbError> {
    let moved = on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO upload_parts (upload_id, part_index, receipt) VALUES ($1, $2, $3)
             ON CONFLICT (upload_id, part_index) DO UPDATE SET receipt = excluded.receipt",
        )
        .bind(c.id)
        .bind(c.part_index)
        .bind(c.receipt)
        .execute(&mut *tx)
        .await?;
        let n = sqlx::query(
            "UPDATE uploads SET upload_offset = $1, hash_state = $2, updated_at = $3,
                 expires_at = $4, lease_until = $5
             WHERE id = $6 AND upload_offset = $7 AND state = 'pending'",
        )
        .bind(c.new_offset)
        .bind(c.hash_state)
        .bind(now())
        .bind(c.expires_at)
        .bind(c.lease_until)
        .bind(c.id)
        .bind(c.old_offset)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if n == 1 {
            tx.commit().await?;
        }
        n == 1
    });
    Ok(moved)
}

pub async fn parts(db: &Db, id: &str) -> Result<Vec<String>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar("SELECT receipt FROM upload_parts WHERE upload_id = $1 ORDER BY part_index")
            .bind(id)
            .fetch_all(pool)
            .await?
    }))
}

/// Marks the upload complete and makes its blob known, and its member a holder of it,
/// atomically.
pub async fn complete(db: &Db, id: &str, sha256: &str, size: i64) -> Result<(), DbError> {
    let t = now();
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "INSERT INTO blobs (sha256, size, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(size)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        // The member whose staff sent every byte holds them.
        sqlx::query(
            "INSERT INTO blob_holders (sha256, member_id, since)
             SELECT sha256, member_id, $2 FROM uploads WHERE id = $1 AND member_id IS NOT NULL
             ON CONFLICT (sha256, member_id) DO NOTHING",
        )
        .bind(id)
        .bind(t)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE uploads SET state = 'complete', upload_offset = length, lease_until = 0,
                 updated_at = $1 WHERE id = $2",
        )
        .bind(t)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1")
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Ends a pending upload in `state` (failed, expired, terminated); false if it was no longer
/// pending. `require_free_lease` keeps the sweeper off uploads being written.
pub async fn finish(
    db: &Db,
    id: &str,
    state: UploadState,
    failure: Option<&str>,
    require_free_lease: bool,
) -> Result<bool, DbError> {
    let t = now();
    let n = on_pool!(db, pool => {
        sqlx::query(
            "UPDATE uploads SET state = $1, failure = $2, lease_until = 0, updated_at = $3
             WHERE id = $4 AND state = 'pending' AND (lease_until < $3 OR NOT $5)",
        )
        .bind(state.as_str())
        .bind(failure)
        .bind(t)
        .bind(id)
        .bind(require_free_lease)
        .execute(pool)
        .await?
        .rows_affected()
    });
    if n == 1 {
        on_pool!(db, pool => {
            sqlx::query("DELETE FROM upload_parts WHERE upload_id = $1")
                .bind(id)
                .execute(pool)
                .await?;
        });
    }
    Ok(n == 1)
}

/// Pending uploads past their expiry and not being written.
pub async fn expired(db: &Db, limit: i64) -> Result<Vec<UploadRow>, DbError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM uploads WHERE state = 'pending' AND expires_at < $1 AND lease_until < $1
         ORDER BY expires_at LIMIT $2"
    );
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, UploadRow>(&sql).bind(now()).bind(limit).fetch_all(pool).await?
    }))
}

/// Forgets finished uploads last touched before `before` (they answer 404 afterwards).
pub async fn purge_finished(db: &Db, before: i64) -> Result<u64, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query("DELETE FROM uploads WHERE state <> 'pending' AND updated_at < $1")
            .bind(before)
            .execute(pool)
            .await?
            .rows_affected()
    }))
}

pub async fn count_pending(db: &Db) -> Result<i64, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar("SELECT COUNT(*) FROM uploads WHERE state = 'pending'")
            .fetch_one(pool)
            .await?
    }))
}

/// An upload as a librarian's page lists it.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct MemberUpload {
    pub id: String,
    pub filename: Option<String>,
    pub length: i64,
    pub upload_offset: i64,
    pub state: UploadState,
    pub failure: Option<String>,
    pub updated_at: i64,
    pub expires_at: i64,
}

/// A member's unfinished uploads, and those that failed since `failed_since`, newest first.
pub async fn for_member(
    db: &Db,
    member_id: i64,
    failed_since: i64,
    limit: i64,
) -> Result<Vec<MemberUpload>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, MemberUpload>(
            "SELECT id, filename, length, upload_offset, state, failure, updated_at, expires_at
             FROM uploads WHERE member_id = $1
               AND (state = 'pending' OR (state = 'failed' AND updated_at >= $2))
             ORDER BY updated_at DESC LIMIT $3",
        )
        .bind(member_id)
        .bind(failed_since)
        .bind(limit)
        .fetch_all(pool)
        .await?
    }))
}
