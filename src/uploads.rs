//! Resumable uploads (tus 1.0 core, creation, termination, expiration): the domain logic.
//!
//! Bytes go straight to the final content key as whole parts (S3 multipart) or into a
//! staging file (local store). After every part the offset, the part's receipt and the
//! serialised SHA-256 state are committed to the database, so a restart or another node
//! continues where this one stopped. At the last byte the hash and size are compared with
//! what the uploader declared: a match completes the blob, anything else aborts it and
//! nothing becomes visible.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use base64::Engine as _;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};
use spindle_storage::{
    BlobStore, Digest, HashState, PartReceipt, ResumableTarget, StreamingHasher,
};
use tokio_util::sync::CancellationToken;

use crate::auth::{Role, Staff};
use crate::config::UploadConfig;
use crate::db::uploads::{PartCommit, UploadRow};
use crate::db::{self, Db, DbError, now};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::metrics::{Metrics, OutcomeLabels};
use crate::state::{TargetKind, UploadState};

/// How long a request's claim on an upload lasts without renewal. A crashed node blocks the
/// upload for at most this long; a live writer renews it as bytes arrive.
pub const LEASE_SECS: i64 = 10;
/// Local parts synced with one fdatasync (8 parts of the default 8 MiB: 64 MiB).
const SYNC_GROUP: usize = 8;

/// A part written but not yet recorded.
struct Written {
    index: i64,
    receipt: String,
    old_offset: u64,
    new_offset: u64,
    hash_state: Vec<u8>,
}
/// How long a new request for a busy upload waits for the current writer to stop.
const TAKEOVER_WAIT: Duration = Duration::from_secs(5);
/// Finished uploads keep answering (410, or the final offset) for a week.
const FORGET_AFTER_SECS: i64 = 7 * 24 * 3600;

/// What HEAD and the other tus responses report.
#[derive(Debug, Clone)]
pub struct UploadStatus {
    pub id: String,
    pub length: u64,
    pub offset: u64,
    pub metadata: String,
    pub expires_at: Option<i64>,
    pub sha256: String,
    /// The blob already existed, so nothing needs to be sent.
    pub already_stored: bool,
}

impl UploadStatus {
    fn from_row(row: &UploadRow) -> Self {
        Self {
            id: row.id.clone(),
            length: row.length as u64,
            offset: row.upload_offset as u64,
            metadata: row.metadata.clone(),
            expires_at: (row.state == UploadState::Pending).then_some(row.expires_at),
            sha256: row.sha256.clone(),
            already_stored: row.target_kind == TargetKind::None,
        }
    }
}

/// The parsed `Upload-Metadata` header: `key base64(value)` pairs separated by commas.
pub fn parse_metadata(raw: &str) -> AppResult<HashMap<String, String>> {
    let mut out = HashMap::new();
    for pair in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (key, value) = match pair.split_once(' ') {
            Some((k, v)) => (k, v.trim()),
            None => (pair, ""),
        };
        if key.is_empty() || !key.is_ascii() {
            return Err(AppError::bad_request(
                ErrorCode::InvalidMetadata,
                detail!("err_metadata_keys"),
            ));
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(value)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .filter(|v| !v.contains('\0'))
            .ok_or_else(|| {
                AppError::bad_request(
                    ErrorCode::InvalidMetadata,
                    detail!("err_metadata_value", key = key),
                )
            })?;
        if out.insert(key.to_string(), decoded).is_some() {
            return Err(AppError::bad_request(
                ErrorCode::InvalidMetadata,
                detail!("err_metadata_repeat", key = key),
            ));
        }
    }
    Ok(out)
}

fn new_upload_id() -> String {
    crate::auth::random_hex(16)
}

fn valid_upload_id(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// POST: creates an upload for `length` bytes whose SHA-256 the metadata declares.
/// A member's open uploads stay within `upload.max_open_per_member` and
/// `upload.max_pending_bytes_per_member`. Checked when an upload is created (two created at
/// the same instant may pass a cap by one).
async fn check_caps(tus: &Uploads, staff: &Staff, length: u64) -> AppResult<()> {
    let (open, pending) = db::uploads::open_of(&tus.db, staff.member_id, staff.token_id).await?;
    let (open, pending) = (open.max(0) as u64, pending.max(0) as u64);
    let max_open = tus.config.max_open_per_member;
    if max_open > 0 && open >= max_open {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyUploads,
            detail!("err_too_many_uploads", open = open, max = max_open),
        ));
    }
    let max_bytes = tus.config.max_pending_bytes_per_member;
    if max_bytes > 0 && pending.saturating_add(length) > max_bytes {
        return Err(AppError::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::TooManyBytesPending,
            detail!(
                "err_too_many_bytes_pending",
                pending = pending,
                length = length,
                max = max_bytes
            ),
        ));
    }
    Ok(())
}

pub async fn create(
    tus: &Uploads,
    staff: &Staff,
    length: Option<u64>,
    metadata: Option<&str>,
) -> AppResult<UploadStatus> {
    let length = length.ok_or_else(|| {
        AppError::bad_request(
            ErrorCode::MissingUploadLength,
            detail!("err_length_required"),
        )
    })?;
    if length == 0 {
        return Err(AppError::bad_request(
            ErrorCode::EmptyUpload,
            detail!("err_empty_image"),
        ));
    }
    if length > tus.config.max_size {
        return Err(AppError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::UploadTooLarge,
            detail!(
                "err_upload_too_large",
                length = length,
                max = tus.config.max_size
            ),
        ));
    }
    let raw = metadata.unwrap_or("").to_string();
    let meta = parse_metadata(&raw)?;
    let sha = meta.get("sha256").ok_or_else(|| {
        AppError::bad_request(ErrorCode::MissingSha256, detail!("err_sha256_required"))
    })?;
    let digest: Digest = sha.parse().map_err(|e| {
        AppError::bad_request(
            ErrorCode::InvalidSha256,
            detail!("err_sha256", field = "declared sha256", reason = e),
        )
    })?;
    let filename = meta.get("filename").or_else(|| meta.get("name")).cloned();
    if filename.as_ref().is_some_and(|f| f.len() > 1024) {
        return Err(AppError::bad_request(
            ErrorCode::InvalidMetadata,
            detail!("err_filename_long"),
        ));
    }

    let t = now();
    let mut row = UploadRow {
        id: new_upload_id(),
        token_id: staff.token_id,
        member_id: staff.member_id,
        sha256: digest.to_hex(),
        length: length as i64,
        part_size: tus.config.part_size as i64,
        upload_offset: 0,
        metadata: raw,
        filename,
        target_kind: TargetKind::None,
        target_id: String::new(),
        hash_state: StreamingHasher::new().save().0,
        state: UploadState::Pending,
        failure: None,
        created_at: t,
        updated_at: t,
        expires_at: t + tus.config.expiry_secs as i64,
        lease_until: 0,
    };

    if let Some(blob) = db::blobs::get(&tus.db, &row.sha256).await? {
        // The consortium has these bytes already: nothing needs to move.
        if blob.size != row.length {
            return Err(AppError::unprocessable(
                ErrorCode::SizeMismatch,
                detail!(
                    "err_blob_size",
                    sha256 = &row.sha256,
                    size = blob.size,
                    length = length
                ),
            ));
        }
        row.state = UploadState::Complete;
        row.upload_offset = row.length;
        db::uploads::insert(&tus.db, &row).await?;
        return Ok(UploadStatus::from_row(&row));
    }

    check_caps(tus, staff, length).await?;
    let target = tus.blobs.begin_resumable(&digest, &row.id).await?;
    row.target_kind = match &target {
        ResumableTarget::Multipart { .. } => TargetKind::Multipart,
        ResumableTarget::Staging { .. } => TargetKind::Staging,
    };
    row.target_id = target.id().into();
    if let Err(e) = db::uploads::insert(&tus.db, &row).await {
        if let Err(abort) = tus.blobs.abort_resumable(&target, &digest).await {
            tracing::warn!(error = %abort, "aborting an upload whose row could not be written");
        }
        return Err(e.into());
    }
    tracing::info!(upload = %row.id, sha256 = %row.sha256, length, "upload created");
    Ok(UploadStatus::from_row(&row))
}

/// Loads an upload the caller may see, or the error tus expects.
async fn load(tus: &Uploads, staff: &Staff, id: &str) -> AppResult<UploadRow> {
    let not_found =
        || AppError::not_found(ErrorCode::UploadNotFound, detail!("err_no_upload", id = id));
    if !valid_upload_id(id) {
        return Err(not_found());
    }
    let row = db::uploads::get(&tus.db, id).await?.ok_or_else(not_found)?;
    let allowed = match row.member_id {
        Some(m) => staff.may_act_for(m),
        None => staff.role == Role::Admin,
    };
    if !allowed {
        return Err(AppError::forbidden(detail!("err_upload_of_other_member")));
    }
    match row.state {
        UploadState::Expired => Err(gone(
            ErrorCode::UploadExpired,
            detail!("err_upload_expired"),
        )),
        UploadState::Terminated => Err(gone(
            ErrorCode::UploadTerminated,
            detail!("err_upload_terminated"),
        )),
        UploadState::Failed => Err(gone(
            ErrorCode::UploadFailed,
            detail!(
                "err_upload_failed",
                reason = row.failure.as_deref().unwrap_or("?")
            ),
        )),
        UploadState::Pending if row.expires_at < now() => Err(gone(
            ErrorCode::UploadExpired,
            detail!("err_upload_expired"),
        )),
        _ => Ok(row),
    }
}

fn gone(code: ErrorCode, message: crate::i18n::Message) -> AppError {
    AppError::new(StatusCode::GONE, code, message)
}

/// HEAD: the current offset. A pending upload that has every byte but was not completed
/// (the store failed at the last step) is completed now.
pub async fn status(tus: &Uploads, staff: &Staff, id: &str) -> AppResult<UploadStatus> {
    let row = load(tus, staff, id).await?;
    if row.state == UploadState::Pending && row.upload_offset == row.length {
        let mut writer = Writer::claim(tus, &row).await?;
        let result = match restore_hasher(&row) {
            Ok(hasher) => writer.finalize(&row, hasher).await,
            Err(e) => Err(e),
        };
        writer.release().await;
        result?;
        let done = load(tus, staff, id).await?;
        return Ok(UploadStatus::from_row(&done));
    }
    Ok(UploadStatus::from_row(&row))
}

/// DELETE: aborts the upload and frees its storage.
pub async fn terminate(tus: &Uploads, staff: &Staff, id: &str) -> AppResult<()> {
    let row = load(tus, staff, id).await?;
    if row.state != UploadState::Pending {
        return Err(AppError::conflict(
            ErrorCode::UploadComplete,
            detail!("err_terminate_complete"),
        ));
    }
    let writer = Writer::claim(tus, &row).await?;
    if let Some(target) = target_of(&row) {
        tus.blobs
            .abort_resumable(&target, &digest_of(&row)?)
            .await?;
    }
    db::uploads::finish(&tus.db, &row.id, UploadState::Terminated, None, false).await?;
    writer.disarm();
    Ok(())
}

/// PATCH: appends the body at `offset`. Whole parts are committed as they fill; a partial
/// tail that is not the end of the upload is dropped (the client resumes from the returned
/// offset). Returns the new status.
pub async fn append<S, E>(
    tus: &Uploads,
    staff: &Staff,
    id: &str,
    offset: u64,
    content_length: Option<u64>,
    body: S,
) -> AppResult<UploadStatus>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let row = load(tus, staff, id).await?;
    if row.upload_offset as u64 != offset {
        return Err(AppError::conflict(
            ErrorCode::OffsetMismatch,
            detail!(
                "err_offset_mismatch",
                offset = offset,
                at = row.upload_offset
            ),
        ));
    }
    if row.state == UploadState::Complete {
        if content_length.unwrap_or(0) > 0 {
            return Err(too_long(row.length));
        }
        return Ok(UploadStatus::from_row(&row));
    }
    if content_length.is_some_and(|n| offset + n > row.length as u64) {
        return Err(too_long(row.length));
    }

    let mut writer = Writer::claim(tus, &row).await?;
    let _in_flight = InFlight::new(tus);
    let result = match restore_hasher(&row) {
        Ok(hasher) => writer.stream(&row, hasher, body).await,
        Err(e) => Err(e),
    };
    // Release before answering, so the client's next request finds the upload free.
    writer.release().await;
    result?;
    let row = db::uploads::get(&tus.db, id).await?.ok_or_else(|| {
        AppError::not_found(ErrorCode::UploadNotFound, detail!("err_no_upload", id = id))
    })?;
    Ok(UploadStatus::from_row(&row))
}

fn too_long(length: i64) -> AppError {
    AppError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UploadExceedsLength,
        detail!("err_beyond_length", length = length),
    )
}

fn digest_of(row: &UploadRow) -> AppResult<Digest> {
    row.sha256
        .parse()
        .map_err(|e| AppError::internal("stored upload digest", &e))
}

/// Where the upload's bytes go; None when the blob was already stored.
fn target_of(row: &UploadRow) -> Option<ResumableTarget> {
    let id = row.target_id.clone();
    match row.target_kind {
        TargetKind::None => None,
        TargetKind::Multipart => Some(ResumableTarget::Multipart { upload_id: id }),
        TargetKind::Staging => Some(ResumableTarget::Staging { file: id }),
    }
}

fn restore_hasher(row: &UploadRow) -> AppResult<StreamingHasher> {
    let hasher = StreamingHasher::restore(&HashState(row.hash_state.clone()))
        .map_err(|e| AppError::internal("stored hash state", &e))?;
    if hasher.len() != row.upload_offset as u64 {
        return Err(AppError::internal(
            "stored hash state",
            &"length differs from the offset",
        ));
    }
    Ok(hasher)
}

struct InFlight<'a>(&'a Uploads);

impl<'a> InFlight<'a> {
    fn new(tus: &'a Uploads) -> Self {
        tus.metrics.uploads_in_flight.inc();
        Self(tus)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.metrics.uploads_in_flight.dec();
    }
}

/// The tus domain's runtime: the database and store it writes, its settings and counters,
/// and (process-wide) who is writing which upload, so that a reconnecting client can ask a
/// stale request (whose client vanished) to stop, as tusd does.
pub struct Uploads {
    db: Db,
    blobs: BlobStore,
    config: UploadConfig,
    metrics: Arc<Metrics>,
    writers: Mutex<HashMap<String, Arc<WriterSlot>>>,
}

impl Uploads {
    pub fn new(db: Db, blobs: BlobStore, config: UploadConfig, metrics: Arc<Metrics>) -> Self {
        Self {
            db,
            blobs,
            config,
            metrics,
            writers: Mutex::default(),
        }
    }
}

struct WriterSlot {
    lock: Arc<tokio::sync::Mutex<()>>,
    stop: Mutex<CancellationToken>,
}

/// The right to write one upload: the process-local lock, the database lease, and a token
/// that a newer request can cancel. Releases the lease when dropped.
struct Writer<'a> {
    tus: &'a Uploads,
    id: String,
    slot: Arc<WriterSlot>,
    _guard: tokio::sync::OwnedMutexGuard<()>,
    stop: CancellationToken,
    lease_until: i64,
    armed: bool,
}

impl<'a> Writer<'a> {
    async fn claim(tus: &'a Uploads, row: &UploadRow) -> AppResult<Writer<'a>> {
        let slot = {
            let mut active = tus
                .writers
                .lock()
                .map_err(|_| AppError::internal("writer table", &"poisoned"))?;
            active
                .entry(row.id.clone())
                .or_insert_with(|| {
                    Arc::new(WriterSlot {
                        lock: Arc::new(tokio::sync::Mutex::new(())),
                        stop: Mutex::new(CancellationToken::new()),
                    })
                })
                .clone()
        };
        let guard = slot.acquire().await.ok_or_else(locked)?;
        let stop = CancellationToken::new();
        if let Ok(mut current) = slot.stop.lock() {
            *current = stop.clone();
        }
        let lease_until = now() + LEASE_SECS;
        let mut writer = Writer {
            tus,
            id: row.id.clone(),
            slot,
            _guard: guard,
            stop,
            lease_until,
            armed: false,
        };
        if !db::uploads::claim(&tus.db, &row.id, row.upload_offset, lease_until).await? {
            // Held by another node (or by one that died less than LEASE_SECS ago), or moved on.
            let fresh = db::uploads::get(&tus.db, &row.id).await?;
            if let Some(f) = fresh
                && f.upload_offset != row.upload_offset
            {
                return Err(AppError::conflict(
                    ErrorCode::OffsetMismatch,
                    detail!("err_moved_on", offset = f.upload_offset),
                ));
            }
            return Err(locked());
        }
        writer.armed = true;
        Ok(writer)
    }

    /// The lease was released by the database write that ended the upload.
    fn disarm(mut self) {
        self.armed = false;
    }

    /// Gives the lease back now (rather than from Drop, which can only spawn the write).
    async fn release(mut self) {
        if self.armed {
            self.armed = false;
            if let Err(e) = db::uploads::release(&self.tus.db, &self.id).await {
                tracing::warn!(upload = %self.id, error = %e, "releasing upload lease");
            }
        }
    }

    async fn renew_if_due(&mut self) -> AppResult<()> {
        let t = now();
        if t + LEASE_SECS / 2 >= self.lease_until {
            self.lease_until = t + LEASE_SECS;
            db::uploads::renew(&self.tus.db, &self.id, self.lease_until).await?;
        }
        Ok(())
    }

    async fn stream<S, E>(
        &mut self,
        row: &UploadRow,
        mut hasher: StreamingHasher,
        mut body: S,
    ) -> AppResult<()>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let length = row.length as u64;
        let part_size = row.part_size as u64;
        let digest = digest_of(row)?;
        let target =
            target_of(row).ok_or_else(|| AppError::internal("upload without target", &row.id))?;
        let start = row.upload_offset as u64;
        // Two stages, so that the next part arrives while this one is hashed, written and
        // synced: the body is read into whole parts (`receive`), which are committed in
        // order (`commit_all`). At most three parts are in memory per upload (one filling,
        // one queued, one being written), and their buffers go round: a written part's
        // buffer comes back (`spare`) to receive a later one, so an upload touches the same
        // few aligned pages from its first part to its last.
        let (parts, mut incoming) = tokio::sync::mpsc::channel::<Bytes>(1);
        let (spare_tx, mut spare) = tokio::sync::mpsc::channel::<BytesMut>(3);
        let stop = self.stop.clone();
        let idle = Duration::from_secs(self.tus.config.body_idle_timeout_secs);
        let receive = async move {
            let mut received = start;
            let next_buffer = |spare: &mut tokio::sync::mpsc::Receiver<BytesMut>, received: u64| {
                spare.try_recv().unwrap_or_else(|_| {
                    spindle_storage::part_buffer(part_size.min(length - received) as usize)
                })
            };
            let mut buf = next_buffer(&mut spare, start);
            loop {
                let next = tokio::select! {
                    _ = stop.cancelled() => {
                        return Some(AppError::conflict(ErrorCode::UploadTakenOver, detail!("err_taken_over")));
                    }
                    next = tokio::time::timeout(idle, body.next()) => match next {
                        Ok(next) => next,
                        Err(_) => {
                            tracing::info!(upload = %row.id, offset = received, "no bytes for the idle timeout; keeping whole parts");
                            return Some(AppError::new( axum::http::StatusCode::REQUEST_TIMEOUT, ErrorCode::BodyIdle, detail!("err_body_idle", secs = idle.as_secs()), ));
                        }
                    },
                };
                let mut chunk = match next {
                    None => break,
                    Some(Ok(chunk)) => chunk,
                    Some(Err(e)) => {
                        tracing::info!(upload = %row.id, offset = received, error = %e, "client stopped sending; keeping whole parts");
                        return Some(AppError::bad_request(
                            ErrorCode::BodyInterrupted,
                            detail!("err_body_ended"),
                        ));
                    }
                };
                if received + buf.len() as u64 + chunk.len() as u64 > length {
                    return Some(too_long(row.length));
                }
                while !chunk.is_empty() {
                    let room = part_size as usize - buf.len();
                    buf.extend_from_slice(&chunk.split_to(room.min(chunk.len())));
                    if buf.len() as u64 == part_size {
                        received += part_size;
                        let full = std::mem::replace(&mut buf, next_buffer(&mut spare, received));
                        if parts.send(full.freeze()).await.is_err() {
                            // The committing side failed; it reports why.
                            return None;
                        }
                    }
                }
            }
            if !buf.is_empty() && received + buf.len() as u64 == length {
                // The last part, shorter than the others.
                let _ = parts.send(buf.split().freeze()).await;
            }
            None
        };
        // Local parts are synced a group at a time (one fdatasync for SYNC_GROUP parts, or
        // whatever is written when the body ends or has been quiet for a tick) and recorded
        // only once synced: an offset the server reports has always survived a power cut.
        let group = if self.tus.blobs.parts_need_sync() {
            SYNC_GROUP
        } else {
            1
        };
        let commit_all = async {
            let mut offset = start;
            let mut written: Vec<Written> = Vec::new();
            let mut renew = tokio::time::interval(std::time::Duration::from_secs(
                (LEASE_SECS as u64 / 4).max(1),
            ));
            loop {
                let part = tokio::select! {
                    part = incoming.recv() => part,
                    _ = renew.tick() => {
                        self.record(row, &target, &mut written).await?;
                        self.renew_if_due().await?;
                        continue;
                    }
                };
                let Some(part) = part else { break };
                let n = part.len() as u64;
                let (receipt, h) = self
                    .write_part(row, &target, &digest, offset, part.clone(), hasher)
                    .await?;
                hasher = h;
                if let Some(buffer) = spindle_storage::reclaim_part(part) {
                    let _ = spare_tx.try_send(buffer);
                }
                written.push(Written {
                    index: (offset / part_size) as i64,
                    receipt,
                    old_offset: offset,
                    new_offset: offset + n,
                    hash_state: hasher.save().0,
                });
                offset += n;
                if written.len() >= group {
                    self.record(row, &target, &mut written).await?;
                }
            }
            self.record(row, &target, &mut written).await?;
            Ok::<_, AppError>((hasher, offset))
        };
        // Both run together; a failed commit ends the request at once (a slow body is not
        // waited for), and the receiving side's reason is kept when it stopped first.
        let (failure, committed) = {
            tokio::pin!(receive);
            tokio::pin!(commit_all);
            let mut failure = None;
            let mut receiving = true;
            loop {
                tokio::select! {
                    biased;
                    f = &mut receive, if receiving => {
                        failure = f;
                        receiving = false;
                    }
                    c = &mut commit_all => break (failure, c),
                }
            }
        };
        let (hasher, offset) = committed?;
        if let Some(e) = failure {
            return Err(e);
        }
        if offset == length {
            let done = UploadRow {
                upload_offset: offset as i64,
                ..row.clone()
            };
            return self.finalize(&done, hasher).await;
        }
        Ok(())
    }

    /// Writes one part and hashes it at the same time (on two cores).
    async fn write_part(
        &self,
        row: &UploadRow,
        target: &ResumableTarget,
        digest: &Digest,
        offset: u64,
        part: Bytes,
        mut hasher: StreamingHasher,
    ) -> AppResult<(String, StreamingHasher)> {
        let index = (offset / row.part_size as u64) as usize;
        let for_hash = part.clone();
        let hashing = tokio::task::spawn_blocking(move || {
            hasher.update(&for_hash);
            hasher
        });
        let receipt = self
            .tus
            .blobs
            .put_part(target, digest, index, offset, part)
            .await;
        let hasher = hashing
            .await
            .map_err(|e| AppError::internal("hashing task", &e))?;
        let PartReceipt(receipt) = receipt?;
        Ok((receipt, hasher))
    }

    /// Makes the written parts durable, then records them in order (each moving the offset
    /// on from where the one before left it).
    async fn record(
        &mut self,
        row: &UploadRow,
        target: &ResumableTarget,
        written: &mut Vec<Written>,
    ) -> AppResult<()> {
        if written.is_empty() {
            return Ok(());
        }
        self.tus.blobs.sync_parts(target).await?;
        for w in written.drain(..) {
            self.lease_until = now() + LEASE_SECS;
            let committed = db::uploads::commit_part(
                &self.tus.db,
                &PartCommit {
                    id: &row.id,
                    part_index: w.index,
                    receipt: &w.receipt,
                    old_offset: w.old_offset as i64,
                    new_offset: w.new_offset as i64,
                    hash_state: &w.hash_state,
                    expires_at: now() + self.tus.config.expiry_secs as i64,
                    lease_until: self.lease_until,
                },
            )
            .await?;
            if !committed {
                return Err(AppError::conflict(
                    ErrorCode::OffsetMismatch,
                    detail!("err_moved_while_writing"),
                ));
            }
            self.tus
                .metrics
                .bytes_in
                .inc_by(w.new_offset - w.old_offset);
        }
        Ok(())
    }

    /// All bytes are in: compare with the declaration, then complete or abort.
    async fn finalize(&mut self, row: &UploadRow, hasher: StreamingHasher) -> AppResult<()> {
        let tus = self.tus;
        let declared = digest_of(row)?;
        let target =
            target_of(row).ok_or_else(|| AppError::internal("upload without target", &row.id))?;
        let (actual, size) = hasher.finish();
        if actual != declared || size != row.length as u64 {
            let reason =
                format!("declared sha256 {declared}, received {size} bytes with sha256 {actual}");
            tracing::warn!(upload = %row.id, %reason, "hash mismatch; aborting");
            tus.blobs.abort_resumable(&target, &declared).await?;
            db::uploads::finish(&tus.db, &row.id, UploadState::Failed, Some(&reason), false)
                .await?;
            tus.metrics
                .uploads_finished
                .get_or_create(&OutcomeLabels {
                    outcome: ErrorCode::HashMismatch.as_str(),
                })
                .inc();
            self.armed = false;
            return Err(AppError::unprocessable(
                ErrorCode::HashMismatch,
                detail!(
                    "err_hash_mismatch",
                    declared = declared,
                    size = size,
                    actual = actual
                ),
            ));
        }
        let parts = db::uploads::parts(&tus.db, &row.id)
            .await?
            .into_iter()
            .map(PartReceipt)
            .collect();
        if let Err(e) = tus
            .blobs
            .complete_resumable(&target, &declared, parts)
            .await
        {
            // The bytes and hash state are safe; a HEAD or an empty PATCH retries completion.
            tus.metrics
                .uploads_finished
                .get_or_create(&OutcomeLabels {
                    outcome: "store-error",
                })
                .inc();
            return Err(e.into());
        }
        db::uploads::complete(&tus.db, &row.id, &row.sha256, row.length).await?;
        tus.metrics
            .uploads_finished
            .get_or_create(&OutcomeLabels {
                outcome: "complete",
            })
            .inc();
        self.armed = false;
        tracing::info!(upload = %row.id, sha256 = %row.sha256, size, "upload complete");
        Ok(())
    }
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        // The table holds one reference and this writer another; waiters hold more.
        if let Ok(mut active) = self.tus.writers.lock()
            && Arc::strong_count(&self.slot) == 2
        {
            active.remove(&self.id);
        }
        if self.armed {
            let db = self.tus.db.clone();
            let id = self.id.clone();
            tokio::spawn(async move {
                if let Err(e) = db::uploads::release(&db, &id).await {
                    tracing::warn!(upload = %id, error = %e, "releasing upload lease");
                }
            });
        }
    }
}

impl WriterSlot {
    /// Takes the lock; if a request already holds it, asks that one to stop and waits a
    /// little for it to do so.
    async fn acquire(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        if let Ok(guard) = self.lock.clone().try_lock_owned() {
            return Some(guard);
        }
        if let Ok(current) = self.stop.lock() {
            current.cancel();
        }
        tokio::time::timeout(TAKEOVER_WAIT, self.lock.clone().lock_owned())
            .await
            .ok()
    }
}

fn locked() -> AppError {
    AppError::new(
        StatusCode::LOCKED,
        ErrorCode::UploadLocked,
        detail!("err_upload_locked"),
    )
    .with_header(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("5"),
    )
}

/// Aborts expired uploads and forgets long-finished ones. Returns how many expired.
pub async fn sweep(tus: &Uploads) -> Result<usize, DbError> {
    let mut expired = 0;
    for row in db::uploads::expired(&tus.db, 100).await? {
        if !db::uploads::finish(&tus.db, &row.id, UploadState::Expired, None, true).await? {
            continue; // someone is writing it after all
        }
        if let (Some(target), Ok(digest)) = (target_of(&row), digest_of(&row))
            && let Err(e) = tus.blobs.abort_resumable(&target, &digest).await
        {
            tracing::warn!(upload = %row.id, error = %e, "aborting expired upload in storage");
        }
        tus.metrics.uploads_expired.inc();
        expired += 1;
    }
    db::uploads::purge_finished(&tus.db, now() - FORGET_AFTER_SECS).await?;
    Ok(expired)
}

/// The stored blob with this SHA-256 (hex, either case): whether the consortium already
/// holds these bytes, so an upload of them costs nothing.
pub async fn stored_blob(tus: &Uploads, sha256: &str) -> AppResult<db::blobs::BlobRow> {
    let digest: Digest = sha256.parse().map_err(|e| {
        AppError::bad_request(
            ErrorCode::InvalidSha256,
            detail!("err_sha256", field = "sha256", reason = e),
        )
    })?;
    db::blobs::get(&tus.db, &digest.to_hex())
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::BlobNotFound,
                detail!("err_no_blob", sha256 = digest),
            )
        })
}
