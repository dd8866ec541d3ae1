//! Backup and restore, on both backend pairs, as an operator runs them: `spindle backup`
//! while the server serves, again (only new blobs copied), `spindle restore` onto a fresh
//! database and store, `spindle fsck --all` over the result, and the restored server serving
//! the same discs byte for byte to the same tokens. A backup whose blob was altered restores
//! everything else and names that blob; a restore onto a database in use is refused.

use crate::common;

use anyhow::Result;
use common::server::{Deployment, Server, spindle, text};
use common::{Backend, PART, iso_image, sha256_hex};
use serde_json::Value;

on_both_backends!(backup_and_restore);

/// A fresh, empty database and store on `backend`: the environment for a `spindle` child.
async fn empty_target(backend: Backend, dir: &std::path::Path) -> Result<Vec<(String, String)>> {
    let mut config = spindle::config::Config::default();
    common::configure(&mut config, backend, dir).await?;
    Ok(common::child_env(&config))
}

async fn discs(base: &str, token: &str) -> Result<Vec<(i64, String)>> {
    discs_of(&common::http(), base, token).await
}

async fn discs_of(client: &reqwest::Client, base: &str, token: &str) -> Result<Vec<(i64, String)>> {
    let v: Value = client
        .get(format!("{base}/api/v1/discs?member=A"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let mut out: Vec<(i64, String)> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|d| {
            (
                d["id"].as_i64().unwrap_or_default(),
                d["sha256"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    out.sort();
    Ok(out)
}

/// Runs `spindle backup --to` while a reader downloads the discs and lists them, and proves
/// the backup was online: requests were answered, right, while it ran.
async fn while_readers_read(
    base: &str,
    d: &Deployment,
    discs: &[(i64, String)],
    to: &str,
) -> Result<std::process::Output> {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    let running = Arc::new(AtomicBool::new(true));
    let reader = {
        let (running, base, token) = (running.clone(), base.to_string(), d.librarian.clone());
        let discs = discs.to_vec();
        tokio::spawn(async move {
            let client = common::http();
            let mut during = 0u32;
            for (id, sha) in discs.iter().cycle() {
                let started = running.load(Ordering::SeqCst);
                let r = client
                    .get(format!("{base}/api/v1/discs/{id}/image"))
                    .bearer_auth(&token)
                    .send()
                    .await?;
                anyhow::ensure!(r.status() == 200, "image {id}: {}", r.status());
                anyhow::ensure!(
                    &sha256_hex(&r.bytes().await?) == sha,
                    "image {id}: wrong bytes"
                );
                let listed = discs_of(&client, &base, &token).await?;
                anyhow::ensure!(listed.len() == discs.len(), "listing: {listed:?}");
                let still = running.load(Ordering::SeqCst);
                if started && still {
                    during += 1;
                }
                if !still {
                    return Ok(during);
                }
            }
            Ok(during)
        })
    };
    // Let the reader begin before the backup does.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let (dir, env) = (d.dir.path().to_path_buf(), d.env.clone());
    let to = to.to_string();
    let o =
        tokio::task::spawn_blocking(move || spindle(&dir, &env, &["backup", "--to", &to])).await?;
    running.store(false, std::sync::atomic::Ordering::SeqCst);
    let during = reader.await??;
    anyhow::ensure!(
        during >= 1,
        "no request was answered while the backup ran: it was not shown to be online"
    );
    Ok(o)
}

async fn backup_and_restore(backend: Backend) -> Result<()> {
    let d = Deployment::new(backend, &[]).await?;
    let server = d.start(None).await?;
    let images = [
        iso_image(2 * PART as usize + 12_345, 401),
        iso_image(3000, 402),
        iso_image(PART as usize, 403),
    ];
    for image in &images {
        d.disc(&server.base, image).await?;
    }
    let before = discs(&server.base, &d.librarian).await?;
    assert_eq!(before.len(), 3);

    // Online: the server keeps serving while the backup runs.
    let folder = tempfile::tempdir()?;
    let to = folder.path().join("backup");
    let to_arg = to.display().to_string();
    let o = while_readers_read(&server.base, &d, &before, &to_arg).await?;
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("backed up 3 blobs"), "{}", text(&o));
    let o = spindle(d.dir.path(), &d.env, &["backup", "--to", &to_arg]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("backed up 0 blobs (0 bytes), 3 already there"),
        "{}",
        text(&o)
    );
    let manifest = std::fs::read_to_string(to.join("MANIFEST"))?;
    for image in &images {
        assert!(manifest.contains(&sha256_hex(image)), "{manifest}");
    }
    drop(server);

    // Restore onto a fresh database and store, verify, serve.
    let target_dir = tempfile::tempdir()?;
    let env = empty_target(backend, &target_dir.path().join("data")).await?;
    let o = spindle(target_dir.path(), &env, &["restore", "--from", &to_arg]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("restored 3 blobs"), "{}", text(&o));
    let o = spindle(target_dir.path(), &env, &["fsck", "--all"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("3 blobs checked"), "{}", text(&o));
    let restored = Server::start(target_dir.path(), &env).await?;
    assert_eq!(discs(&restored.base, &d.librarian).await?, before);
    for (id, sha) in &before {
        let bytes = common::http()
            .get(format!("{}/api/v1/discs/{id}/image", restored.base))
            .bearer_auth(&d.librarian)
            .send()
            .await?
            .bytes()
            .await?;
        assert_eq!(&sha256_hex(&bytes), sha);
    }
    drop(restored);
    // Not over a database in use.
    let o = spindle(target_dir.path(), &env, &["restore", "--from", &to_arg]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("a restore needs an empty database"),
        "{}",
        text(&o)
    );

    // A backup blob altered on its medium: everything else is restored, that one is named,
    // and fsck then reports it missing.
    let bad = sha256_hex(&images[1]);
    let file = to.join("blobs").join(&bad[..2]).join(&bad);
    let mut bytes = std::fs::read(&file)?;
    bytes[100] ^= 1;
    std::fs::write(&file, bytes)?;
    let third = tempfile::tempdir()?;
    let env = empty_target(backend, &third.path().join("data")).await?;
    let o = spindle(third.path(), &env, &["restore", "--from", &to_arg]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("FAILED {bad}: the backup's bytes hash to")),
        "{}",
        text(&o)
    );
    assert!(text(&o).contains("restored 2 blobs"), "{}", text(&o));
    let o = spindle(third.path(), &env, &["fsck", "--all"]);
    assert!(!o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains(&format!("FAILED {bad}: the object is missing")),
        "{}",
        text(&o)
    );
    Ok(())
}
