//! Garbage collection: blobs nothing needs (no disc is that image, no image lists it as a
//! part, no upload of it is under way or recent) and older than a grace period are removed:
//! first their rows, under a lock that re-checks they are still unneeded, then their bytes.

use spindle_storage::{BlobStore, Digest};

use crate::db::{self, Db};
use crate::error::{AppError, AppResult};

#[derive(Debug, Default)]
pub struct Report {
    /// (sha256, size) of every blob removed (or, on a dry run, that would be).
    pub removed: Vec<(String, i64)>,
    /// Blobs whose rows were removed but whose bytes could not be deleted: (sha256, why).
    pub bytes_left: Vec<(String, String)>,
}

/// Removes what nothing needs and was stored more than `grace_secs` ago. Removing a CUE
/// sheet's image frees its BIN parts, which go in the next round of the same run.
pub async fn run(db: &Db, blobs: &BlobStore, grace_secs: i64, dry_run: bool) -> AppResult<Report> {
    let before = db::now() - grace_secs;
    let mut report = Report::default();
    loop {
        let candidates = db::blobs::unreferenced(db, before, 1000).await?;
        if dry_run {
            report
                .removed
                .extend(candidates.into_iter().map(|b| (b.sha256, b.size)));
            return Ok(report);
        }
        let mut removed_now = 0;
        for blob in candidates {
            if !db::blobs::remove_unreferenced(db, &blob.sha256, before).await? {
                continue;
            }
            removed_now += 1;
            let digest: Digest = blob
                .sha256
                .parse()
                .map_err(|_| AppError::internal("stored blob key", &blob.sha256))?;
            if let Err(e) = blobs.delete(&digest).await {
                tracing::warn!(sha256 = %blob.sha256, error = %e, "blob rows removed, bytes not deleted");
                report.bytes_left.push((blob.sha256.clone(), e.to_string()));
            }
            report.removed.push((blob.sha256, blob.size));
        }
        if removed_now == 0 {
            return Ok(report);
        }
    }
}
