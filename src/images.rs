//! Reading stored images: the format check when a disc is registered, the indexing queue
//! (off the request path, leased so that any node may take it and a dead node's work is
//! taken over), and the layout an indexed image was stored with.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use spindle_image::{
    self as image, AudioTrack, BlobSource, Boot, Detected, EntryKind, ImageError, Index, Limits,
    Parts, ReadAt, Source,
};
use spindle_storage::{BlobStore, Digest};
use tokio::runtime::Handle;

use crate::config::IndexConfig;
use crate::db::{
    self, Db,
    images::{ImageRow, Indexed, NewFile},
};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::FileKind;

/// What the file table does not hold: where sources and tracks live, boot entries, warnings,
/// the titles a reader can play.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Layout {
    pub sources: Vec<Source>,
    pub boot: Vec<Boot>,
    pub tracks: Vec<AudioTrack>,
    pub warnings: Vec<String>,
    #[serde(default)]
    pub media: Vec<spindle_image::media::Title>,
    /// The program the disc's `autorun.inf` starts (`open=`), as its path on the disc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
}

pub use spindle_client::api::PartRef;

fn source(blobs: &BlobStore, digest: Digest, size: u64) -> BlobSource {
    BlobSource::new(blobs.clone(), digest, size, Handle::current())
}

/// The indexers' runtime: the database and store they read, their settings, the bell that
/// wakes them when an image is queued, and the images this node is reading now (handed back
/// to the queue at shutdown).
pub struct Indexer {
    db: Db,
    blobs: BlobStore,
    config: IndexConfig,
    /// Images this node has read (for the cluster's once-only check).
    done: prometheus_client::metrics::counter::Counter,
    wake: tokio::sync::Notify,
    claimed: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl Indexer {
    pub fn new(
        db: Db,
        blobs: BlobStore,
        config: IndexConfig,
        done: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        Self {
            db,
            blobs,
            config,
            done,
            wake: tokio::sync::Notify::new(),
            claimed: Default::default(),
        }
    }

    /// Tells the indexers an image is queued.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }
}

/// Checks a newly registered image before any disc points at it: the format is read from its
/// bytes (a few ranged reads), a CUE sheet's files must all be given, and everything must be
/// stored. Returns the parts to record, in the sheet's order and under the sheet's names.
pub async fn check_new(
    db: &Db,
    blobs: &BlobStore,
    digest: Digest,
    size: u64,
    parts: &[PartRef],
) -> AppResult<Vec<(String, String)>> {
    let src = source(blobs, digest, size);
    let detected = tokio::task::spawn_blocking(move || image::detect(&src))
        .await
        .map_err(|e| AppError::internal("format detection task", &e))?
        .map_err(|e| AppError::from(&e))?;
    let Detected::Cue(text) = detected else {
        if !parts.is_empty() {
            return Err(AppError::unprocessable(
                ErrorCode::UnexpectedParts,
                detail!("err_parts_single"),
            ));
        }
        return Ok(Vec::new());
    };
    let sheet = image::parse_cue(&text).map_err(|e| AppError::from(&e))?;
    let mut out = Vec::new();
    let mut used = vec![false; parts.len()];
    for file in &sheet.files {
        let i = image::match_part(&file.name, parts.iter().map(|p| p.name.as_str())).ok_or_else(
            || {
                AppError::unprocessable(
                    ErrorCode::ImagePartMissing,
                    detail!("err_cue_part_missing", name = &file.name),
                )
            },
        )?;
        used[i] = true;
        let part: Digest = parts[i].sha256.parse().map_err(|e| {
            AppError::unprocessable(
                ErrorCode::InvalidSha256,
                detail!(
                    "err_sha256",
                    field = format!("parts[{i}].sha256"),
                    reason = e
                ),
            )
        })?;
        let hex = part.to_hex();
        if db::blobs::get(db, &hex).await?.is_none() {
            return Err(AppError::unprocessable(
                ErrorCode::BlobNotFound,
                detail!("err_no_part_blob", sha256 = hex, name = &file.name),
            ));
        }
        if !out.iter().any(|(n, _): &(String, String)| *n == file.name) {
            out.push((file.name.clone(), hex));
        }
    }
    if let Some(i) = used.iter().position(|u| !u) {
        return Err(AppError::unprocessable(
            ErrorCode::UnexpectedParts,
            detail!("err_part_not_in_cue", name = &parts[i].name),
        ));
    }
    Ok(out)
}

/// Runs `workers` indexers until the process stops.
pub async fn run(ix: Arc<Indexer>) {
    let workers = ix.config.workers.max(1);
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..workers {
        set.spawn(worker(ix.clone()));
    }
    while set.join_next().await.is_some() {}
}

async fn worker(ix: Arc<Indexer>) {
    let lease = ix.config.lease_secs as i64;
    let ix: &Indexer = &ix;
    crate::queue::drain_forever(
        "an image to index",
        &ix.wake,
        || db::images::claim(&ix.db, lease),
        |sha: String| async move {
            claims(ix).insert(sha.clone());
            index_one(ix, &sha).await;
            claims(ix).remove(&sha);
            ix.done.inc();
        },
    )
    .await;
}

fn claims(ix: &Indexer) -> std::sync::MutexGuard<'_, std::collections::HashSet<String>> {
    ix.claimed.lock().unwrap_or_else(|p| p.into_inner())
}

/// Hands the images this node was reading back to the queue, so that a restart (or another
/// node) reads them at once rather than after the lease.
pub async fn release_claims(ix: &Indexer) {
    let held: Vec<String> = claims(ix).drain().collect();
    for sha in held {
        if let Err(e) = db::images::retry_later(&ix.db, &sha, 0, "interrupted by a shutdown").await
        {
            tracing::warn!(image = sha, error = %e, "cannot hand an image back to the queue");
        }
    }
}

/// Transient failures (the store unreachable) are retried this many times, backing off.
const MAX_ATTEMPTS: i64 = 5;

async fn index_one(ix: &Indexer, sha: &str) {
    let started = Instant::now();
    let outcome = read_index(ix, sha).await;
    let result = match outcome {
        Ok(Read {
            index,
            launch,
            program,
            reads,
        }) => {
            let found = Found {
                launch: launch.as_deref(),
                program: program.as_deref(),
            };
            let stored = store(ix, sha, &index, found, started, reads).await;
            if stored.is_ok() {
                tracing::info!(
                    image = sha,
                    files = index.file_count(),
                    formats = ?index.formats,
                    millis = started.elapsed().as_millis() as u64,
                    ranged_reads = reads,
                    "indexed image"
                );
            }
            stored
        }
        Err(ImageError::Io(msg)) => {
            let attempts = db::images::get(&ix.db, sha)
                .await
                .ok()
                .flatten()
                .map_or(MAX_ATTEMPTS, |r| r.attempts);
            tracing::warn!(image = sha, attempts, error = %msg, "reading an image failed");
            if attempts >= MAX_ATTEMPTS {
                db::images::fail(
                    &ix.db,
                    sha,
                    ErrorCode::ImageReadFailed.as_str(),
                    &format!("reading the image: {msg}"),
                )
                .await
            } else {
                db::images::retry_later(&ix.db, sha, 30 * attempts, &msg).await
            }
        }
        Err(e) => {
            tracing::info!(image = sha, error = %e, "image cannot be indexed");
            db::images::fail(&ix.db, sha, ErrorCode::from(&e).as_str(), &e.to_string()).await
        }
    };
    if let Err(e) = result {
        // The lease runs out and another attempt follows.
        tracing::warn!(image = sha, error = %e, "cannot record an indexing result");
    }
}

/// An image's index and what was found in it.
struct Read {
    index: Index,
    /// The file a "Launch" opens in the browser.
    launch: Option<String>,
    /// The program `autorun.inf` starts.
    program: Option<String>,
    /// Range reads the indexing took.
    reads: u64,
}

/// The paths found on a disc beside its index.
struct Found<'a> {
    launch: Option<&'a str>,
    program: Option<&'a str>,
}

async fn read_index(ix: &Indexer, sha: &str) -> Result<Read, ImageError> {
    let io = |e: crate::db::DbError| ImageError::Io(e.to_string());
    let digest: Digest = sha
        .parse()
        .map_err(|e| ImageError::Io(format!("stored digest: {e}")))?;
    let size = db::blobs::get(&ix.db, sha)
        .await
        .map_err(io)?
        .ok_or_else(|| ImageError::Io("the image's blob row is missing".into()))?
        .size as u64;
    let main = source(&ix.blobs, digest, size);
    let mut named = Vec::new();
    for p in db::images::parts(&ix.db, sha).await.map_err(io)? {
        let d: Digest = p
            .part_sha256
            .parse()
            .map_err(|e| ImageError::Io(format!("stored digest: {e}")))?;
        named.push((p.name, source(&ix.blobs, d, p.size as u64)));
    }
    let limits = Limits {
        max_entries: ix.config.max_entries,
        ..Limits::default()
    };
    tokio::task::spawn_blocking(move || {
        let parts = Parts {
            main: &main,
            named: named
                .iter()
                .map(|(n, s)| (n.clone(), s as &dyn ReadAt))
                .collect(),
        };
        let index = image::index(&parts, &limits)?;
        let inf = match image::autorun(&index) {
            Some(entry) => {
                let mut buf = vec![0u8; entry.size as usize];
                index.read_entry(&parts, entry, 0, &mut buf).ok().map(|()| {
                    String::from_utf8(buf.clone())
                        .unwrap_or_else(|_| encoding_rs::GBK.decode(&buf).0.into_owned())
                })
            }
            None => None,
        };
        let launch = image::launch_target(&index, inf.as_deref());
        let program = inf
            .as_deref()
            .and_then(|inf| image::autorun_program(&index, inf));
        let reads = main.requests() + named.iter().map(|(_, s)| s.requests()).sum::<u64>();
        Ok(Read {
            index,
            launch,
            program,
            reads,
        })
    })
    .await
    .map_err(|e| ImageError::Io(format!("indexing task: {e}")))?
}

fn file_kind(k: EntryKind) -> FileKind {
    match k {
        EntryKind::File => FileKind::File,
        EntryKind::Dir => FileKind::Dir,
        EntryKind::Symlink => FileKind::Symlink,
    }
}

async fn store(
    ix: &Indexer,
    sha: &str,
    index: &Index,
    found: Found<'_>,
    started: Instant,
    reads: u64,
) -> Result<(), crate::db::DbError> {
    let files = index
        .entries
        .iter()
        .map(|e| {
            let (dir, name) = e.path.rsplit_once('/').unwrap_or(("", &e.path));
            let extents: Vec<(Option<u64>, u64)> =
                e.extents.iter().map(|x| (x.offset, x.len)).collect();
            NewFile {
                path: e.path.clone(),
                dir: dir.to_string(),
                name: name.to_string(),
                kind: file_kind(e.kind),
                size: e.size as i64,
                mtime: e.mtime,
                source: i64::from(e.source),
                extents: serde_json::to_string(&extents).unwrap_or_else(|_| "[]".into()),
                target: e.target.clone(),
            }
        })
        .collect();
    let layout = Layout {
        sources: index.sources.clone(),
        boot: index.boot.clone(),
        tracks: index.tracks.clone(),
        warnings: index.warnings.clone(),
        media: index.media.clone(),
        program: found.program.map(str::to_string),
    };
    let dir_count = index
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Dir)
        .count() as i64;
    let indexed = Indexed {
        formats: index.formats.join(" "),
        view: &index.view,
        volume_label: index.volume_label.as_deref(),
        bootable: !index.boot.is_empty(),
        file_count: index.file_count() as i64,
        dir_count,
        files_size: index.files_size() as i64,
        launch_path: found.launch,
        content_class: image::content_class(index),
        layout: serde_json::to_string(&layout).unwrap_or_else(|_| "{}".into()),
        index_millis: started.elapsed().as_millis() as i64,
        ranged_reads: reads as i64,
        files,
    };
    db::images::store(&ix.db, sha, &indexed).await
}

/// An indexed image's layout.
pub fn layout(image: &ImageRow) -> Layout {
    image
        .layout
        .as_deref()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_default()
}
