//! Image indexes: the queue of images waiting to be read, their facts once read, the parts a
//! CUE sheet names, and every file with its extents.

use serde::Serialize;

use super::{BeginWrite, Db, DbError, now, on_pool};
use crate::state::{FileKind, ImageStatus};

#[derive(Debug, Clone, sqlx::FromRow, Serialize)]
pub struct ImageRow {
    pub sha256: String,
    pub status: ImageStatus,
    pub attempts: i64,
    pub error_code: Option<String>,
    pub error: Option<String>,
    pub formats: Option<String>,
    pub view: Option<String>,
    pub volume_label: Option<String>,
    pub bootable: bool,
    pub file_count: Option<i64>,
    pub dir_count: Option<i64>,
    pub files_size: Option<i64>,
    pub launch_path: Option<String>,
    pub content_class: Option<String>,
    pub layout: Option<String>,
    pub index_millis: Option<i64>,
    pub ranged_reads: Option<i64>,
    pub indexed_at: Option<i64>,
}

const SELECT: &str = "SELECT sha256, status, attempts, error_code, error, formats, view,
        volume_label, bootable, file_count, dir_count, files_size, launch_path, content_class,
        layout, index_millis, ranged_reads, indexed_at FROM images";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PartRow {
    pub position: i64,
    pub name: String,
    pub part_sha256: String,
    pub size: i64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRow {
    pub path: String,
    pub name: String,
    pub kind: FileKind,
    pub size: i64,
    pub mtime: Option<i64>,
    pub source: i64,
    pub extents: String,
    pub target: Option<String>,
}

const FILE_COLUMNS: &str = "path, name, kind, size, mtime, source, extents, target";

pub async fn get(db: &Db, sha256: &str) -> Result<Option<ImageRow>, DbError> {
    let sql = format!("{SELECT} WHERE sha256 = $1");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, ImageRow>(&sql).bind(sha256).fetch_optional(pool).await?
    }))
}

/// Queues an image for indexing with the parts its CUE sheet names; a no-op when the image is
/// already known (its parts were fixed by the first registration).
pub async fn enqueue(db: &Db, sha256: &str, parts: &[(String, String)]) -> Result<(), DbError> {
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        let inserted = sqlx::query(
            "INSERT INTO images (sha256, status, created_at) VALUES ($1, 'pending', $2)
             ON CONFLICT (sha256) DO NOTHING",
        )
        .bind(sha256)
        .bind(now())
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 1 {
            for (position, (name, part)) in (1i64..).zip(parts) {
                sqlx::query(
                    "INSERT INTO image_parts (image_sha256, position, name, part_sha256)
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(sha256)
                .bind(position)
                .bind(name)
                .bind(part)
                .execute(&mut *tx)
                .await?;
            }
        }
        tx.commit().await?;
    });
    Ok(())
}

pub async fn parts(db: &Db, sha256: &str) -> Result<Vec<PartRow>, DbError> {
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, PartRow>(
            "SELECT p.position, p.name, p.part_sha256, b.size FROM image_parts p
             JOIN blobs b ON b.sha256 = p.part_sha256
             WHERE p.image_sha256 = $1 ORDER BY p.position",
        )
        .bind(sha256)
        .fetch_all(pool)
        .await?
    }))
}

/// Takes the oldest image waiting (or one whose indexer died) and leases it for `lease` s.
/// The status test is repeated in the UPDATE so that two nodes never take the same image.
pub async fn claim(db: &Db, lease: i64) -> Result<Option<String>, DbError> {
    let t = now();
    Ok(on_pool!(db, pool => {
        sqlx::query_scalar::<_, String>(
            "UPDATE images SET status = 'indexing', lease_until = $2, attempts = attempts + 1
             WHERE sha256 = (
                 SELECT sha256 FROM images
                 WHERE status IN ('pending', 'indexing') AND lease_until <= $1
                 ORDER BY created_at LIMIT 1)
               AND status IN ('pending', 'indexing') AND lease_until <= $1
             RETURNING sha256",
        )
        .bind(t)
        .bind(t + lease)
        .fetch_optional(pool)
        .await?
    }))
}

/// Puts an image back in the queue after a transient failure, to be retried after `delay` s.
pub async fn retry_later(db: &Db, sha256: &str, delay: i64, error: &str) -> Result<(), DbError> {
    on_pool!(db, pool => {
        sqlx::query(
            "UPDATE images SET status = 'pending', lease_until = $2, error = $3 WHERE sha256 = $1",
        )
        .bind(sha256)
        .bind(now() + delay)
        .bind(error)
        .execute(pool)
        .await?;
    });
    Ok(())
}

pub async fn fail(db: &Db, sha256: &str, code: &str, error: &str) -> Result<(), DbError> {
    let at = now();
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query(
            "UPDATE images SET status = 'failed', error_code = $2, error = $3, indexed_at = $4
             WHERE sha256 = $1",
        )
        .bind(sha256)
        .bind(code)
        .bind(error)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(MARK_DISCS).bind(sha256).bind(at).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}

/// Keeps the image's indexing time (`$2`) on its discs too: the search refresh finds the discs
/// whose text is due by their own row (migration 0020).
const MARK_DISCS: &str = "UPDATE discs SET image_indexed_at = $2 WHERE sha256 = $1";

/// What an indexing run found, ready to store.
pub struct Indexed<'a> {
    pub formats: String,
    pub view: &'a str,
    pub volume_label: Option<&'a str>,
    pub bootable: bool,
    pub file_count: i64,
    pub dir_count: i64,
    pub files_size: i64,
    pub launch_path: Option<&'a str>,
    pub content_class: &'a str,
    pub layout: String,
    pub index_millis: i64,
    pub ranged_reads: i64,
    pub files: Vec<NewFile>,
}

pub struct NewFile {
    pub path: String,
    pub dir: String,
    pub name: String,
    pub kind: FileKind,
    pub size: i64,
    pub mtime: Option<i64>,
    pub source: i64,
    pub extents: String,
    pub target: Option<String>,
}

/// Rows per INSERT: well under both dialects' bind-parameter limits (10 columns each).
const FILES_PER_INSERT: usize = 500;

/// Stores an index in one transaction: the file table replaced, the image marked indexed.
pub async fn store(db: &Db, sha256: &str, ix: &Indexed<'_>) -> Result<(), DbError> {
    let at = now();
    on_pool!(db, pool => {
        let mut tx = pool.begin_write().await?;
        sqlx::query("DELETE FROM image_files WHERE image_sha256 = $1")
            .bind(sha256)
            .execute(&mut *tx)
            .await?;
        for chunk in ix.files.chunks(FILES_PER_INSERT) {
            let mut qb = sqlx::QueryBuilder::new(
                "INSERT INTO image_files (image_sha256, path, dir, name, kind, size, mtime, source, extents, target) ",
            );
            qb.push_values(chunk, |mut row, f| {
                row.push_bind(sha256)
                    .push_bind(&f.path)
                    .push_bind(&f.dir)
                    .push_bind(&f.name)
                    .push_bind(f.kind.as_str())
                    .push_bind(f.size)
                    .push_bind(f.mtime)
                    .push_bind(f.source)
                    .push_bind(&f.extents)
                    .push_bind(&f.target);
            });
            qb.build().execute(&mut *tx).await?;
        }
        sqlx::query(
            "UPDATE images SET status = 'indexed', error_code = NULL, error = NULL,
                 formats = $2, view = $3, volume_label = $4, bootable = $5, file_count = $6,
                 dir_count = $7, files_size = $8, launch_path = $9, content_class = $10,
                 layout = $11, index_millis = $12, ranged_reads = $13, indexed_at = $14
             WHERE sha256 = $1",
        )
        .bind(sha256)
        .bind(&ix.formats)
        .bind(ix.view)
        .bind(ix.volume_label)
        .bind(ix.bootable)
        .bind(ix.file_count)
        .bind(ix.dir_count)
        .bind(ix.files_size)
        .bind(ix.launch_path)
        .bind(ix.content_class)
        .bind(&ix.layout)
        .bind(ix.index_millis)
        .bind(ix.ranged_reads)
        .bind(at)
        .execute(&mut *tx)
        .await?;
        sqlx::query(MARK_DISCS).bind(sha256).bind(at).execute(&mut *tx).await?;
        tx.commit().await?;
    });
    Ok(())
}

pub async fn file(db: &Db, sha256: &str, path: &str) -> Result<Option<FileRow>, DbError> {
    let sql =
        format!("SELECT {FILE_COLUMNS} FROM image_files WHERE image_sha256 = $1 AND path = $2");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, FileRow>(&sql)
            .bind(sha256)
            .bind(path)
            .fetch_optional(pool)
            .await?
    }))
}

/// The entries directly inside `dir` ("" for the root), in no particular order.
pub async fn children(db: &Db, sha256: &str, dir: &str) -> Result<Vec<FileRow>, DbError> {
    let sql =
        format!("SELECT {FILE_COLUMNS} FROM image_files WHERE image_sha256 = $1 AND dir = $2");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, FileRow>(&sql)
            .bind(sha256)
            .bind(dir)
            .fetch_all(pool)
            .await?
    }))
}

/// Every entry of the image, in no particular order.
pub async fn all_files(db: &Db, sha256: &str) -> Result<Vec<FileRow>, DbError> {
    let sql = format!("SELECT {FILE_COLUMNS} FROM image_files WHERE image_sha256 = $1");
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, FileRow>(&sql).bind(sha256).fetch_all(pool).await?
    }))
}

/// Entries at or under `dir` (the whole tree for ""), for ZIP downloads.
pub async fn subtree(db: &Db, sha256: &str, dir: &str) -> Result<Vec<FileRow>, DbError> {
    if dir.is_empty() {
        return all_files(db, sha256).await;
    }
    // A prefix test that means the same in both dialects whatever the collation.
    let sql = format!(
        "SELECT {FILE_COLUMNS} FROM image_files
         WHERE image_sha256 = $1 AND substr(path, 1, $3) = $2"
    );
    let prefix = format!("{dir}/");
    let chars = i32::try_from(prefix.chars().count()).unwrap_or(i32::MAX);
    Ok(on_pool!(db, pool => {
        sqlx::query_as::<_, FileRow>(&sql)
            .bind(sha256)
            .bind(&prefix)
            .bind(chars)
            .fetch_all(pool)
            .await?
    }))
}

/// How many images wait to be read and how many discs wait to be linked.
pub async fn queue_depths(db: &Db) -> Result<(i64, i64), DbError> {
    Ok(on_pool!(db, pool => (
        sqlx::query_scalar("SELECT COUNT(*) FROM images WHERE status IN ('pending', 'indexing')")
            .fetch_one(pool)
            .await?,
        sqlx::query_scalar("SELECT COUNT(*) FROM discs WHERE link_status = 'pending'")
            .fetch_one(pool)
            .await?,
    )))
}
