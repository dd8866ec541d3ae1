//! A disc as a read-only WebDAV collection: the entry at a path and, one level down, its
//! children, with what PROPFIND reports of each (symlinks as what they point to, inside the
//! disc; ETags as the file routes give them).

use super::{lookup, open, short_hash};
use crate::access::Viewer;
use crate::db::{self, Db};
use crate::discs::ContentRows;
use crate::error::AppResult;
use crate::state::FileKind;

/// One member of a collection as PROPFIND reports it.
#[derive(Debug, Clone)]
pub struct DavEntry {
    /// The path inside the disc (`""` for the disc itself).
    pub path: String,
    pub is_dir: bool,
    pub size: u64,
    /// Unix seconds (the image's recording date when the entry has none).
    pub mtime: i64,
    /// A file's ETag, as `GET /discs/{id}/files/{path}` gives it.
    pub etag: Option<String>,
}

/// The entry at `raw_path` on disc `id` and, when `children` and it is a folder, the entries
/// in it.
pub async fn entries(
    db: &Db,
    rows: &ContentRows,
    viewer: &Viewer,
    id: i64,
    raw_path: &str,
    children: bool,
) -> AppResult<Vec<DavEntry>> {
    let (disc, image) = open(db, rows, viewer, id).await?;
    let path = lookup::clean_path(raw_path)?;
    let entry = |row: &db::images::FileRow, at: &str| DavEntry {
        path: at.to_string(),
        is_dir: row.kind == FileKind::Dir,
        size: if row.kind == FileKind::Dir {
            0
        } else {
            u64::try_from(row.size).unwrap_or(0)
        },
        mtime: row.mtime.unwrap_or(disc.stored_at),
        etag: (row.kind != FileKind::Dir)
            .then(|| format!("{}-{}", image.sha256, short_hash(&row.path))),
    };
    let (first, dir) = if path.is_empty() {
        let root = DavEntry {
            path: String::new(),
            is_dir: true,
            size: 0,
            mtime: disc.stored_at,
            etag: None,
        };
        (root, Some(String::new()))
    } else {
        let row = lookup::resolve(db, &disc.sha256, &path).await?;
        let dir = (row.kind == FileKind::Dir).then(|| row.path.clone());
        (entry(&row, &path), dir)
    };
    let mut out = vec![first];
    if let (true, Some(dir)) = (children, dir) {
        let mut rows = db::images::children(db, &disc.sha256, &dir).await?;
        rows.sort_by(|a, b| a.name.cmp(&b.name));
        for row in rows {
            let at = if path.is_empty() {
                row.name.clone()
            } else {
                format!("{path}/{}", row.name)
            };
            if row.kind == FileKind::Symlink {
                // What it points to, if that is inside the disc; else it is left out.
                if let Ok(target) = lookup::resolve(db, &disc.sha256, &row.path).await {
                    out.push(entry(&target, &at));
                }
                continue;
            }
            out.push(entry(&row, &at));
        }
    }
    Ok(out)
}
