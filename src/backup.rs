//! Backup and restore: a consistent snapshot of the database (SQLite's `VACUUM INTO`, or
//! `pg_dump`) and a copy of every blob it lists, each hashed on the way out and on the way
//! back in. A backup folder:
//!
//! ```text
//! spindle.db | spindle.pgdump     the database at one instant
//! blobs/ab/ab12…                  one file per blob, named by its SHA-256
//! MANIFEST                        what was written, when, from which database
//! ```
//!
//! The server may keep running during a backup: blobs are immutable and the snapshot is taken
//! first, so every blob it lists is then copied. Running it again into the same folder copies
//! only blobs not there yet. A restore needs an empty database of the same kind and writes
//! every blob into the configured store through the same hash-checked path as an upload.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use anyhow::{Context, bail, ensure};
use futures::StreamExt as _;
use spindle_storage::{Digest, StreamingHasher};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use crate::app::{App, connect_db};
use crate::config::Config;
use crate::db::{self, Db};

const SQLITE_FILE: &str = "spindle.db";
const PG_FILE: &str = "spindle.pgdump";
const PAGE: i64 = 1000;

#[derive(Debug, Default)]
pub struct Report {
    /// Blobs written (copied out, or stored back).
    pub copied: u64,
    pub bytes: u64,
    /// Blobs already where they were going (an earlier run's, or already in the store).
    pub present: u64,
    /// Blobs that could not be copied, with the reason.
    pub failed: Vec<(String, String)>,
}

fn blob_file(dir: &Path, sha: &str) -> PathBuf {
    dir.join("blobs").join(&sha[..2]).join(sha)
}

/// A PostgreSQL URL without its password, and the password (for `PGPASSWORD`), so that the
/// secret never appears in a process list.
fn pg_target(url: &str) -> anyhow::Result<(String, Option<String>)> {
    let mut u = reqwest::Url::parse(url).context("database.url is not a URL")?;
    let password = u.password().map(str::to_string);
    u.set_password(None)
        .map_err(|()| anyhow::anyhow!("database.url has no host"))?;
    Ok((u.to_string(), password))
}

async fn run_pg_tool(tool: &str, url: &str, args: &[&str]) -> anyhow::Result<()> {
    let (url, password) = pg_target(url)?;
    let mut cmd = tokio::process::Command::new(tool);
    cmd.args(args)
        .arg(format!("--dbname={url}"))
        .stdin(Stdio::null());
    if let Some(p) = password {
        cmd.env("PGPASSWORD", p);
    }
    let out = cmd
        .output()
        .await
        .with_context(|| format!("running {tool} (install the PostgreSQL client tools)"))?;
    ensure!(
        out.status.success(),
        "{tool} failed: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

/// Writes a backup of `app`'s database and blobs into `to`.
pub async fn backup(app: &App, to: &Path) -> anyhow::Result<Report> {
    tokio::fs::create_dir_all(to.join("blobs"))
        .await
        .with_context(|| format!("creating {}", to.display()))?;
    let url = app.config.database_url();
    let snapshot = match &app.db {
        Db::Sqlite(pool) => {
            let tmp = to.join(format!("{SQLITE_FILE}.partial"));
            let _ = tokio::fs::remove_file(&tmp).await;
            sqlx::query("VACUUM INTO $1")
                .bind(tmp.display().to_string())
                .execute(pool)
                .await
                .context("snapshotting the SQLite database")?;
            tmp
        }
        Db::Postgres(_) => {
            let tmp = to.join(format!("{PG_FILE}.partial"));
            let file = tmp.display().to_string();
            run_pg_tool(
                "pg_dump",
                &url,
                &["--format=custom", "--no-owner", "--file", &file],
            )
            .await?;
            tmp
        }
    };
    let name = if matches!(app.db, Db::Sqlite(_)) {
        SQLITE_FILE
    } else {
        PG_FILE
    };
    tokio::fs::rename(&snapshot, to.join(name)).await?;

    // Every blob listed now (a superset of the snapshot's: blobs only ever get added, and gc
    // removes only what no disc refers to).
    let mut report = Report::default();
    let mut manifest = String::new();
    let mut after = String::new();
    loop {
        let page = db::blobs::page_after(&app.db, &after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.sha256.clone();
        for blob in page {
            manifest.push_str(&format!("{}\t{}\n", blob.sha256, blob.size));
            let dest = blob_file(to, &blob.sha256);
            if tokio::fs::metadata(&dest)
                .await
                .is_ok_and(|m| m.len() == blob.size as u64)
            {
                report.present += 1;
                continue;
            }
            match copy_out(app, &blob.sha256, blob.size as u64, &dest).await {
                Ok(()) => {
                    report.copied += 1;
                    report.bytes += blob.size as u64;
                }
                Err(e) => report.failed.push((blob.sha256, format!("{e:#}"))),
            }
        }
    }
    let header = format!(
        "# spindle backup {}\n# created {}\n# database {} ({name})\n# sha256\tsize\n",
        env!("CARGO_PKG_VERSION"),
        crate::db::now(),
        app.db.dialect(),
    );
    tokio::fs::write(to.join("MANIFEST"), header + &manifest).await?;
    Ok(report)
}

/// Copies one blob out of the store into `dest`, hashing it; only bytes that hash to their
/// key are kept.
async fn copy_out(app: &App, sha: &str, size: u64, dest: &Path) -> anyhow::Result<()> {
    let digest: Digest = sha.parse().map_err(|_| anyhow::anyhow!("not a SHA-256"))?;
    if let Some(dir) = dest.parent() {
        tokio::fs::create_dir_all(dir).await?;
    }
    let tmp = dest.with_extension("partial");
    let mut file = tokio::fs::File::create(&tmp).await?;
    let mut hasher = StreamingHasher::new();
    let mut body = app.blobs.read_range(&digest, 0..size).await?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk?;
        hasher.update(&chunk);
        file.write_all(&chunk).await?;
    }
    let (actual, len) = hasher.finish();
    if actual != digest || len != size {
        let _ = tokio::fs::remove_file(&tmp).await;
        bail!(
            "the stored bytes ({len}) hash to {}, not to their key: run spindle fsck",
            actual.to_hex()
        );
    }
    file.sync_all().await?;
    drop(file);
    tokio::fs::rename(&tmp, dest).await?;
    Ok(())
}

/// Restores the backup in `from` into the database and store `config` names. The database
/// must be empty (SQLite: no file yet; PostgreSQL: no tables) and of the backup's kind.
pub async fn restore(config: Config, from: &Path) -> anyhow::Result<Report> {
    ensure!(
        from.join("MANIFEST").exists(),
        "{} is not a spindle backup (no MANIFEST)",
        from.display()
    );
    let url = config.database_url();
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let source = from.join(SQLITE_FILE);
        ensure!(
            source.exists(),
            "this backup is of a PostgreSQL database; restore it with database.url = postgres://…"
        );
        let target = PathBuf::from(path.split('?').next().unwrap_or(path));
        if tokio::fs::metadata(&target)
            .await
            .is_ok_and(|m| m.len() > 0)
        {
            bail!(
                "{} already exists: a restore needs an empty database",
                target.display()
            );
        }
        if let Some(dir) = target.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::copy(&source, &target)
            .await
            .with_context(|| format!("copying the database to {}", target.display()))?;
    } else {
        let source = from.join(PG_FILE);
        ensure!(
            source.exists(),
            "this backup is of a SQLite database; restore it with a sqlite:// database.url"
        );
        let db = connect_db(&config).await?;
        let tables: i64 = match &db {
            Db::Postgres(pool) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()",
                )
                .fetch_one(pool)
                .await?
            }
            Db::Sqlite(_) => 0,
        };
        db.close().await;
        ensure!(
            tables == 0,
            "the database has {tables} tables: a restore needs an empty database"
        );
        let file = source.display().to_string();
        run_pg_tool(
            "pg_restore",
            &url,
            &["--no-owner", "--no-privileges", "--exit-on-error", &file],
        )
        .await?;
    }

    // The restored database may be older than this build: App::start migrates it (or refuses,
    // with database.auto_migrate off), and proves the store is writable.
    let app = App::start(config).await?;
    let mut report = Report::default();
    let mut after = String::new();
    loop {
        let page = db::blobs::page_after(&app.db, &after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.sha256.clone();
        for blob in page {
            let size = blob.size as u64;
            let digest: Digest = match blob.sha256.parse() {
                Ok(d) => d,
                Err(_) => {
                    report.failed.push((blob.sha256, "not a SHA-256".into()));
                    continue;
                }
            };
            if app.blobs.size(&digest).await? == Some(size) {
                report.present += 1;
                continue;
            }
            let source = blob_file(from, &blob.sha256);
            match copy_in(&app, &digest, size, &source).await {
                Ok(()) => {
                    report.copied += 1;
                    report.bytes += size;
                }
                Err(e) => report.failed.push((blob.sha256, format!("{e:#}"))),
            }
        }
    }
    app.db.close().await;
    Ok(report)
}

/// Writes one backed-up blob into the store in upload-sized parts, hashing it; it becomes
/// visible only if it hashes to its key.
async fn copy_in(app: &App, digest: &Digest, size: u64, source: &Path) -> anyhow::Result<()> {
    let mut file = tokio::fs::File::open(source)
        .await
        .with_context(|| format!("the backup has no {}", source.display()))?;
    let on_disk = file.metadata().await?.len();
    ensure!(
        on_disk == size,
        "the backup holds {on_disk} bytes of it; {size} were stored"
    );
    let id = format!("restore-{}", crate::auth::random_hex(8));
    let target = app.blobs.begin_resumable(digest, &id).await?;
    let part_size = app.config.upload.part_size;
    let mut hasher = StreamingHasher::new();
    let mut parts = Vec::new();
    let mut offset = 0u64;
    let result: anyhow::Result<()> = async {
        // One aligned buffer, reused part after part: whole parts go to a local staging file
        // past the page cache, as an upload's do.
        let new_buffer = || spindle_storage::part_buffer(part_size.min(size) as usize);
        let mut buf = new_buffer();
        while offset < size {
            let len = part_size.min(size - offset) as usize;
            buf.resize(len, 0);
            file.read_exact(&mut buf).await?;
            hasher.update(&buf);
            let part = buf.freeze();
            parts.push(
                app.blobs
                    .put_part(&target, digest, parts.len(), offset, part.clone())
                    .await?,
            );
            buf = spindle_storage::reclaim_part(part).unwrap_or_else(new_buffer);
            offset += len as u64;
        }
        let (actual, _) = hasher.finish();
        ensure!(
            actual == *digest,
            "the backup's bytes hash to {}, not to their key",
            actual.to_hex()
        );
        if app.blobs.parts_need_sync() {
            app.blobs.sync_parts(&target).await?;
        }
        app.blobs.complete_resumable(&target, digest, parts).await?;
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = app.blobs.abort_resumable(&target, digest).await;
    }
    result
}
