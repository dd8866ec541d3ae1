//! Fixity: re-reading stored blobs and hashing them again. A blob's key is its SHA-256, so a
//! blob whose bytes no longer hash to its key (bit rot, a truncated or replaced object, a
//! missing one) is found by reading it, at a bounded rate so readers do not notice. Each
//! check is recorded (`verified_at`, or `fixity_failed_at` with the reason); a failing blob is
//! flagged in /metrics, on the admin dashboard and by `spindle fsck`, never deleted.

use std::time::{Duration, Instant};

use futures::StreamExt;
use spindle_storage::{BlobStore, Digest, StorageError, StreamingHasher};

use crate::config::FixityConfig;
use crate::db::{self, Db};
use crate::error::{AppError, AppResult};
use crate::metrics::Metrics;

/// What one pass found.
#[derive(Debug, Default)]
pub struct Report {
    pub checked: u64,
    pub bytes: u64,
    /// (sha256, why) for every blob that did not match.
    pub failed: Vec<(String, String)>,
}

/// Re-hashes one blob at up to `rate` bytes/s. Ok(None): its bytes match its key;
/// Ok(Some(why)): they do not (or it is missing, or shorter or longer than recorded); Err: the
/// store could not be asked (try again later; nothing is flagged).
pub async fn check(
    blobs: &BlobStore,
    sha256: &str,
    size: u64,
    rate: Option<u64>,
) -> AppResult<Option<String>> {
    let digest: Digest = sha256
        .parse()
        .map_err(|_| AppError::internal("stored blob key", &sha256))?;
    match blobs.size(&digest).await? {
        None => return Ok(Some("the object is missing from the store".into())),
        Some(n) if n != size => {
            return Ok(Some(format!(
                "the object holds {n} bytes; {size} were stored"
            )));
        }
        Some(_) => {}
    }
    let started = Instant::now();
    let mut hasher = StreamingHasher::new();
    let mut read = 0u64;
    let mut body = match blobs.read_range(&digest, 0..size).await {
        Ok(b) => b,
        Err(StorageError::NotFound(_)) => {
            return Ok(Some("the object is missing from the store".into()));
        }
        Err(e) => return Err(e.into()),
    };
    while let Some(chunk) = body.next().await {
        let chunk = match chunk {
            Ok(c) => c,
            Err(StorageError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::UnexpectedEof =>
            {
                return Ok(Some(format!(
                    "the object ends after {read} of its {size} bytes"
                )));
            }
            Err(e) => return Err(e.into()),
        };
        read += chunk.len() as u64;
        hasher.update(&chunk);
        if let Some(rate) = rate.filter(|r| *r > 0) {
            let due = Duration::from_secs_f64(read as f64 / rate as f64);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(wait).await;
            }
        }
    }
    let (actual, len) = hasher.finish();
    if len != size {
        return Ok(Some(format!("read {len} bytes; {size} were stored")));
    }
    if actual.to_hex() != sha256 {
        return Ok(Some(format!(
            "the bytes hash to {}, not to their key",
            actual.to_hex()
        )));
    }
    Ok(None)
}

/// Who checks and how: the node's name (its claims carry it) and how long a claim lasts.
#[derive(Debug, Clone)]
pub struct Checker {
    pub node: String,
    pub lease: Duration,
    /// Bytes per second (None: as fast as the store gives them).
    pub rate: Option<u64>,
}

/// Checks every blob last verified before `before` (never verified first), at most `limit`,
/// recording each outcome; returns what it found. Each blob is claimed first (see
/// [`db::blobs::claim_for_fixity`]) and the claim renewed while it is read, so nodes running
/// passes at once share the blobs rather than read each twice; a blob another node is reading
/// is left to it (if that node dies, a later pass takes the blob once the claim lapses). A
/// blob the store cannot be asked about now is left for the next pass.
pub async fn run(
    db: &Db,
    blobs: &BlobStore,
    metrics: &Metrics,
    checker: &Checker,
    before: i64,
    limit: i64,
) -> AppResult<Report> {
    let mut report = Report::default();
    let pass = format!("{}/{}", checker.node, crate::auth::random_hex(4));
    let lease_ms = i64::try_from(checker.lease.as_millis()).unwrap_or(i64::MAX / 2);
    for blob in db::blobs::due_for_fixity(db, before, limit).await? {
        let now = crate::calendar::now_ms();
        // Checked since, or being checked by another node.
        if !db::blobs::claim_for_fixity(db, &blob, &pass, now, now + lease_ms).await? {
            continue;
        }
        let size = blob.size as u64;
        let checked = crate::queue::while_holding(
            "a fixity check",
            check(blobs, &blob.sha256, size, checker.rate),
            checker.lease / 3,
            || {
                db::blobs::renew_fixity_claim(
                    db,
                    &blob.sha256,
                    &pass,
                    crate::calendar::now_ms() + lease_ms,
                )
            },
        )
        .await;
        match checked {
            // Lost to another node: it records the outcome.
            None => continue,
            Some(Ok(None)) => {
                db::blobs::record_fixity(db, &blob.sha256, db::now(), None).await?;
                metrics.fixity_verified.inc();
                report.bytes += size;
            }
            Some(Ok(Some(why))) => {
                tracing::error!(sha256 = %blob.sha256, reason = %why, "a stored blob failed its fixity check");
                db::blobs::record_fixity(db, &blob.sha256, db::now(), Some(&why)).await?;
                metrics.fixity_failures.inc();
                report.failed.push((blob.sha256.clone(), why));
            }
            Some(Err(e)) => {
                tracing::warn!(sha256 = %blob.sha256, error = %e.message(), "could not check a blob now; it stays due");
                db::blobs::end_fixity_claim(db, &blob.sha256, &pass).await?;
                continue;
            }
        }
        metrics.work("fixity").inc();
        report.checked += 1;
    }
    refresh_gauge(db, metrics).await?;
    Ok(report)
}

/// Sets the failing-blobs gauge from the database.
pub async fn refresh_gauge(db: &Db, metrics: &Metrics) -> AppResult<()> {
    let (_, _, failing) = db::blobs::fixity_counts(db, 0).await?;
    metrics.fixity_failing.set(failing);
    Ok(())
}

/// The server's background checks: every `fixity.interval_secs`, the blobs due, at
/// `fixity.rate_mb_per_s`.
pub async fn run_forever(
    db: &Db,
    blobs: &BlobStore,
    metrics: &Metrics,
    config: &FixityConfig,
    node: &str,
) {
    if let Err(e) = refresh_gauge(db, metrics).await {
        tracing::warn!(error = %e.message(), "reading the fixity state");
    }
    if config.interval_secs == 0 {
        return;
    }
    let checker = Checker {
        node: node.to_string(),
        lease: Duration::from_secs(config.lease_secs),
        rate: (config.rate_mb_per_s > 0).then_some(config.rate_mb_per_s * 1_000_000),
    };
    loop {
        let before = db::now() - config.reverify_days as i64 * 86_400;
        match run(db, blobs, metrics, &checker, before, 1000).await {
            Ok(r) if r.checked > 0 => tracing::info!(
                checked = r.checked,
                bytes = r.bytes,
                failed = r.failed.len(),
                "fixity pass"
            ),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e.message(), "fixity pass"),
        }
        tokio::time::sleep(Duration::from_secs(config.interval_secs)).await;
    }
}

/// Whether the stored images are still whole, for the consortium's dashboard.
pub struct Summary {
    /// Blobs stored.
    pub blobs: i64,
    /// Blobs checked within `fixity.reverify_days`.
    pub recent: i64,
    /// Blobs whose last check failed.
    pub failing: i64,
    /// The first `shown` of those, with why.
    pub failed: Vec<crate::db::blobs::FailingBlob>,
}

pub async fn summary(db: &Db, config: &FixityConfig, shown: i64) -> AppResult<Summary> {
    let since = crate::db::now() - config.reverify_days as i64 * 86_400;
    let ((blobs, recent, failing), failed) = tokio::try_join!(
        crate::db::blobs::fixity_counts(db, since),
        crate::db::blobs::failing(db, shown)
    )?;
    Ok(Summary {
        blobs,
        recent,
        failing,
        failed,
    })
}
