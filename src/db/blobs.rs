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
