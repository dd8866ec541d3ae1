//! Garbage collection on both backend pairs: a blob nothing needs is removed (rows and bytes),
//! while a disc's image, the BIN parts of a registered CUE sheet, and a blob another upload of
//! the same bytes is still sending stay; a dry run removes nothing; `spindle gc` does the same
//! from the command line.

use crate::common;

use std::process::Command;

use anyhow::{Context, Result};
use common::discs::fixture;
use common::{Backend, PART, TestApp, child_env, iso_image, metadata, sha256_hex};
use reqwest::Method;
use serde_json::json;

on_both_backends!(gc_removes_only_what_nothing_needs);

async fn held(app: &TestApp, token: &str, sha: &str) -> Result<bool> {
    let r = app
        .client
        .head(app.url(&format!("/api/v1/blobs/{sha}")))
        .bearer_auth(token)
        .send()
        .await?;
    Ok(r.status() == 200)
}

/// Everything stored up to now counts as past its grace period.
async fn collect(app: &TestApp, dry_run: bool) -> Result<Vec<String>> {
    let report = spindle::gc::run(&app.state.db, &app.state.blobs, -5, dry_run)
        .await
        .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    assert!(report.bytes_left.is_empty(), "{:?}", report.bytes_left);
    let mut removed: Vec<String> = report.removed.into_iter().map(|(s, _)| s).collect();
    removed.sort();
    Ok(removed)
}

async fn gc_removes_only_what_nothing_needs(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("A").await?;
    let a = app.librarian("A").await?;

    // A disc; a registered CUE sheet with its three BINs; an image uploaded and never
    // registered; and bytes one upload finished while another upload of them is half-way.
    let disc_bytes = iso_image(150_000, 81);
    let disc = app.disc(&a, &disc_bytes, json!({"barcode": "G-1"})).await?;
    let cue = fixture("disc.cue");
    app.upload(&a, &cue, 2 * PART as usize).await?;
    let mut parts = Vec::new();
    let mut bins = Vec::new();
    for n in 1..=3 {
        let name = format!("disc (Track {n}).bin");
        let bytes = fixture(&name);
        app.upload(&a, &bytes, 2 * PART as usize).await?;
        bins.push(sha256_hex(&bytes));
        parts.push(json!({"name": name, "sha256": sha256_hex(&bytes)}));
    }
    let r = app
        .client
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&a)
        .json(&json!({"sha256": sha256_hex(&cue), "filename": "disc.cue", "parts": parts}))
        .send()
        .await?;
    assert_eq!(r.status(), 201, "{}", r.text().await?);
    let orphan = iso_image(120_000, 82);
    app.upload(&a, &orphan, 2 * PART as usize).await?;
    let shared = common::image(3 * PART as usize, 83);
    let r = app
        .tus(Method::POST, "/api/v1/uploads", &a)
        .header("Upload-Length", shared.len().to_string())
        .header("Upload-Metadata", metadata(&sha256_hex(&shared), "x.iso"))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let half_way = common::header(&r, "location");
    let r = app
        .patch(&a, &half_way, 0, shared[..PART as usize].to_vec())
        .await?;
    assert_eq!(r.status(), 204);
    app.upload(&a, &shared, 2 * PART as usize).await?;
    let (orphan_sha, shared_sha) = (sha256_hex(&orphan), sha256_hex(&shared));
    assert!(held(&app, &a, &orphan_sha).await?);
    assert!(held(&app, &a, &shared_sha).await?);

    // A dry run names the orphan and removes nothing.
    assert_eq!(collect(&app, true).await?, vec![orphan_sha.clone()]);
    assert!(held(&app, &a, &orphan_sha).await?);

    // The orphan goes, rows and bytes; everything something needs stays and still reads.
    assert_eq!(collect(&app, false).await?, vec![orphan_sha.clone()]);
    assert!(!held(&app, &a, &orphan_sha).await?);
    let digest: spindle_storage::Digest = orphan_sha.parse()?;
    assert_eq!(
        app.state.blobs.size(&digest).await?,
        None,
        "the bytes are gone"
    );
    for sha in bins
        .iter()
        .chain([&sha256_hex(&cue), &sha256_hex(&disc_bytes), &shared_sha])
    {
        assert!(held(&app, &a, sha).await?, "{sha} must stay");
    }
    let image = app.image_bytes(&a, disc).await?;
    assert!(image == disc_bytes, "the disc still downloads whole");
    // Uploading the orphan's bytes again stores them again.
    app.upload(&a, &orphan, 2 * PART as usize).await?;
    assert!(held(&app, &a, &orphan_sha).await?);

    // Once the other upload of the shared bytes is given up, nothing needs them either: the
    // command line removes them (and the re-uploaded orphan), naming each.
    let r = app.tus(Method::DELETE, &half_way, &a).send().await?;
    assert_eq!(r.status(), 204);
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let out = Command::new(env!("CARGO_BIN_EXE_spindle"))
        .args(["gc", "--grace-days", "0"])
        .envs(child_env(&app.state.config))
        .env("SPINDLE_LOG__FILTER", "error")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // (An upload that ended within the grace period would still protect its bytes; with a
    // grace period of 0 days nothing does.)
    for sha in [&shared_sha, &orphan_sha] {
        assert!(stdout.contains(&format!("REMOVED {sha}")), "{stdout}");
    }
    let line = stdout.lines().last().context("a summary")?.to_string();
    assert!(line.starts_with("2 blobs"), "{stdout}");
    assert!(!held(&app, &a, &shared_sha).await?);
    for sha in bins
        .iter()
        .chain([&sha256_hex(&cue), &sha256_hex(&disc_bytes)])
    {
        assert!(held(&app, &a, sha).await?, "{sha} must stay");
    }
    Ok(())
}
