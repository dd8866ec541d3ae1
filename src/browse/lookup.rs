//! Finding what a reader asks for in an indexed image: the image itself (409 until it is
//! read), a path made safe, the entry at it (symlinks followed within the disc) and its
//! extents.

use crate::db::{
    self, Db,
    images::{FileRow, ImageRow},
};
use crate::detail;
use crate::discs::ContentRows;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::{FileKind, ImageStatus};

/// The image behind a disc, once it has been read; 409 while it waits or if it failed.
pub async fn indexed(db: &Db, rows: &ContentRows, sha: &str) -> AppResult<ImageRow> {
    // An indexed image's facts stay as they are (until it is read again, seen within the
    // cache's two seconds).
    if let Some(image) = rows.images.get(&sha.to_string()) {
        return Ok(image);
    }
    let image = db::images::get(db, sha).await?.ok_or_else(|| {
        AppError::conflict(ErrorCode::ImageNotIndexed, detail!("err_image_not_queued"))
    })?;
    match image.status {
        ImageStatus::Indexed => {
            rows.images.put(sha.to_string(), image.clone());
            Ok(image)
        }
        ImageStatus::Failed => Err(AppError::conflict(
            ErrorCode::ImageNotReadable,
            detail!(
                "err_image_unreadable",
                reason = image.error.as_deref().unwrap_or("?")
            ),
        )),
        _ => Err(AppError::conflict(
            ErrorCode::ImageNotIndexed,
            detail!("err_image_being_read"),
        )),
    }
}

/// A path inside a disc as a client gives it: `/`-separated, no empty, `.` or `..` segments,
/// no NUL. Anything else cannot name a file on the disc.
pub fn clean_path(raw: &str) -> AppResult<String> {
    let trimmed = raw.trim_matches('/');
    if trimmed.is_empty() {
        return Ok(String::new());
    }
    if trimmed.len() > 4096
        || trimmed.contains('\0')
        || trimmed
            .split('/')
            .any(|s| s.is_empty() || s == "." || s == "..")
    {
        return Err(AppError::not_found(
            ErrorCode::FileNotFound,
            detail!("err_no_path"),
        ));
    }
    Ok(trimmed.to_string())
}

/// The entry at `path`, following symlinks within the disc (at most 8 hops).
pub async fn resolve(db: &Db, sha: &str, path: &str) -> AppResult<FileRow> {
    let not_found = || {
        AppError::not_found(
            ErrorCode::FileNotFound,
            detail!("err_no_such_path", path = path),
        )
    };
    let mut current = path.to_string();
    for _ in 0..8 {
        let row = db::images::file(db, sha, &current)
            .await?
            .ok_or_else(not_found)?;
        if row.kind != FileKind::Symlink {
            return Ok(row);
        }
        let target = row.target.as_deref().unwrap_or_default();
        let base = if target.starts_with('/') {
            String::new()
        } else {
            current
                .rsplit_once('/')
                .map(|(d, _)| d.to_string())
                .unwrap_or_default()
        };
        current = normalise(&base, target).ok_or_else(not_found)?;
    }
    Err(not_found())
}

/// `base/target` with `.` and `..` applied; None when it climbs out of the disc.
fn normalise(base: &str, target: &str) -> Option<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|s| !s.is_empty()).collect();
    for seg in target.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// A file's extents as stored.
pub fn extents(row: &FileRow) -> AppResult<Vec<(Option<u64>, u64)>> {
    serde_json::from_str(&row.extents).map_err(|e| AppError::internal("stored extents", &e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_on_the_disc() {
        assert_eq!(clean_path("/a/b/").ok().as_deref(), Some("a/b"));
        assert!(clean_path("a/../b").is_err());
        assert!(clean_path("a//b").is_err());
        assert!(clean_path("a\0b").is_err());
        assert_eq!(normalise("a/b", "../c").as_deref(), Some("a/c"));
        assert_eq!(normalise("", "../etc/passwd"), None);
    }
}
