//! Played media: the HLS segments transcoded from discs' titles (kept in the blob store, found
//! here) and the durations ffprobe found for titles whose index has none.

use super::{BeginWrite, Db, DbError, on_pool};

/// Which transcode of a title: the image, the title's number on the disc, the profile.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TitleKey {
    pub image: String,
    pub title: i64,
    pub profile: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SegmentRow {
    pub sha256: String,
    pub size: i64,
    pub used_at: i64,
}

pub async fn segment(db: &Db, key: &TitleKey, n: i64) -> Result<Option<SegmentRow>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, SegmentRow>(
            "SELECT sha256, size, used_at FROM media_segments
             WHERE image_sha256 = $1 AND title = $2 AND profile = $3 AND n = $4",
        )
        .bind(&key.image)
        .bind(key.title)
        .bind(&key.profile)
        .bind(n)
        .fetch_optional(pool)
        .await?
    }))
}

/// The numbers of a title's segments that are stored, in order.
pub async fn stored(db: &Db, key: &TitleKey) -> Result<Vec<i64>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT n FROM media_segments
             WHERE image_sha256 = $1 AND title = $2 AND profile = $3 ORDER BY n",
        )
        .bind(&key.image)
        .bind(key.title)
        .bind(&key.profile)
        .fetch_all(pool)
        .await?
    }))
}

/// Records a stored segment; a segment another transcode stored first is kept as it was.
pub async fn insert_segment(
    db: &Db,
    key: &TitleKey,
    n: i64,
    sha256: &str,
    size: i64,
    now: i64,
) -> Result<bool, DbError> {
    let done = on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO media_segments (image_sha256, title, profile, n, sha256, size, used_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (image_sha256, title, profile, n) DO NOTHING",
        )
        .bind(&key.image)
        .bind(key.title)
        .bind(&key.profile)
        .bind(n)
        .bind(sha256)
        .bind(size)
        .bind(now)
        .execute(pool)
        .await?
        .rows_affected()
    });
    Ok(done == 1)
}

/// Marks a segment played now (at most once a minute, to spare the database).
pub async fn touch_segment(db: &Db, key: &TitleKey, n: i64, now: i64) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query(
            "UPDATE media_segments SET used_at = $5
             WHERE image_sha256 = $1 AND title = $2 AND profile = $3 AND n = $4 AND used_at < $5 - 60",
        )
        .bind(&key.image)
        .bind(key.title)
        .bind(&key.profile)
        .bind(n)
        .bind(now)
        .execute(pool)
        .await?;
    });
    Ok(())
}

/// Bytes of segments stored.
pub async fn total_size(db: &Db) -> Result<i64, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>("SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM media_segments")
            .fetch_one(pool)
            .await?
    }))
}

/// Removes the least recently played segments' rows, as many as free `bytes` (at most 256 at
/// a time): how many went, and the SHA-256s whose bytes nothing else needs any more (no other
/// segment row, no blob row).
pub async fn evict_oldest(db: &Db, bytes: i64) -> Result<(usize, Vec<String>), DbError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let oldest: Vec<(String, i64, String, i64, String, i64)> = sqlx::query_as(
            "SELECT image_sha256, title, profile, n, sha256, size FROM media_segments
             ORDER BY used_at, image_sha256, title, profile, n LIMIT 256",
        )
        .fetch_all(&mut *tx)
        .await?;
        let mut freed = 0;
        let mut gone = Vec::new();
        for (image, title, profile, n, sha, size) in oldest {
            if freed >= bytes {
                break;
            }
            sqlx::query(
                "DELETE FROM media_segments
                 WHERE image_sha256 = $1 AND title = $2 AND profile = $3 AND n = $4",
            )
            .bind(&image)
            .bind(title)
            .bind(&profile)
            .bind(n)
            .execute(&mut *tx)
            .await?;
            freed += size;
            gone.push(sha);
        }
        let mut unneeded = Vec::new();
        for sha in &gone {
            let needed: i64 = sqlx::query_scalar(
                "SELECT (SELECT COUNT(*) FROM media_segments WHERE sha256 = $1)
                      + (SELECT COUNT(*) FROM blobs WHERE sha256 = $1)",
            )
            .bind(sha)
            .fetch_one(&mut *tx)
            .await?;
            if needed == 0 && !unneeded.contains(sha) {
                unneeded.push(sha.clone());
            }
        }
        tx.commit().await?;
        Ok((gone.len(), unneeded))
    })
}

/// The duration ffprobe found for a title, if it was asked.
pub async fn probed(db: &Db, image: &str, title: i64) -> Result<Option<u64>, DbError> {
    let ms: Option<i64> = on_pool!(db, pool => {
        sqlx::query_scalar::<_, i64>(
            "SELECT duration_ms FROM media_probes WHERE image_sha256 = $1 AND title = $2",
        )
        .bind(image)
        .bind(title)
        .fetch_optional(pool)
        .await?
    });
    Ok(ms.and_then(|ms| u64::try_from(ms).ok()))
}

pub async fn save_probe(
    db: &Db,
    image: &str,
    title: i64,
    duration_ms: u64,
    now: i64,
) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query(
            "INSERT INTO media_probes (image_sha256, title, duration_ms, probed_at)
             VALUES ($1, $2, $3, $4)
             ON CONFLICT (image_sha256, title) DO UPDATE SET duration_ms = $3, probed_at = $4",
        )
        .bind(image)
        .bind(title)
        .bind(i64::try_from(duration_ms).unwrap_or(i64::MAX))
        .bind(now)
        .execute(pool)
        .await?;
    });
    Ok(())
}
