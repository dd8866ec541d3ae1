//! Fixity on both backend pairs: every stored blob is re-hashed and recorded as verified; a
//! blob whose bytes are changed behind Spindle's back (a flipped byte, a truncated object, a
//! deleted one) is flagged with the reason, in /metrics, on the admin dashboard and by
//! `spindle fsck` (exit status 1), never deleted; restoring the right bytes clears the flag.

use crate::common;

use std::process::Command;

use anyhow::{Context, Result};
use common::{Backend, TestApp, child_env, iso_image, sha256_hex, staff_client};
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use serde_json::json;
use spindle::config::StorageBackend;
use spindle_storage::Digest;

on_both_backends!(fixity_finds_changed_bytes);
on_both_backends!(passes_at_once_share_the_blobs);
on_both_backends!(a_lease_is_one_holders_until_it_lapses);

/// Where a blob's bytes live, whatever the backend, to change them the way a failing disk or
/// an operator's mistake would.
fn raw_store(app: &TestApp) -> Result<(Box<dyn ObjectStore>, String)> {
    let config = &app.state.config;
    Ok(match config.storage.backend {
        StorageBackend::Local => (
            Box::new(object_store::local::LocalFileSystem::new_with_prefix(
                config.local_storage_path(),
            )?),
            String::new(),
        ),
        StorageBackend::S3 => {
            let s3 = &config.storage.s3;
            (
                Box::new(
                    object_store::aws::AmazonS3Builder::new()
                        .with_endpoint(s3.endpoint.clone().context("endpoint")?)
                        .with_allow_http(true)
                        .with_bucket_name(&s3.bucket)
                        .with_access_key_id(s3.access_key_id.clone().context("key")?)
                        .with_secret_access_key(s3.secret_access_key.clone().context("secret")?)
                        .with_region(&s3.region)
                        .build()?,
                ),
                s3.prefix.clone(),
            )
        }
    })
}

pub(crate) async fn put_raw(app: &TestApp, sha: &str, bytes: Vec<u8>) -> Result<()> {
    let (store, prefix) = raw_store(app)?;
    let digest: Digest = sha.parse()?;
    store
        .put(&digest.object_path(&prefix), PutPayload::from(bytes))
        .await?;
    Ok(())
}

async fn delete_raw(app: &TestApp, sha: &str) -> Result<()> {
    let (store, prefix) = raw_store(app)?;
    let digest: Digest = sha.parse()?;
    store.delete(&digest.object_path(&prefix)).await?;
    Ok(())
}

async fn check_all(app: &TestApp) -> Result<spindle::fixity::Report> {
    let checker = spindle::fixity::Checker {
        node: app.state.node.clone(),
        lease: std::time::Duration::from_secs(60),
        rate: None,
    };
    spindle::fixity::run(
        &app.state.db,
        &app.state.blobs,
        &app.state.metrics,
        &checker,
        i64::MAX,
        100,
    )
    .await
    .map_err(|e| anyhow::anyhow!("{}", e.message()))
}

async fn fixity_finds_changed_bytes(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("A").await?;
    let a = app.librarian("A").await?;
    let admin = app.admin().await?;
    let one = iso_image(200_000, 71);
    let two = iso_image(300_000, 72);
    let three = iso_image(100_000, 73);
    let mut ids = Vec::new();
    for (data, barcode) in [(&one, "F-1"), (&two, "F-2"), (&three, "F-3")] {
        ids.push(app.disc(&a, data, json!({ "barcode": barcode })).await?);
    }
    let image = |id: i64| {
        app.client
            .get(app.url(&format!("/api/v1/discs/{id}/image")))
            .bearer_auth(&a)
            .send()
    };
    let (sha1, sha2, sha3) = (sha256_hex(&one), sha256_hex(&two), sha256_hex(&three));

    // All whole: every blob verified, none flagged.
    let report = check_all(&app).await?;
    assert_eq!(report.checked, 3);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.bytes, (one.len() + two.len() + three.len()) as u64);
    let (blobs, recent, failing) = spindle::db::blobs::fixity_counts(&app.state.db, 0).await?;
    assert_eq!((blobs, recent, failing), (3, 3, 0));
    // Verified blobs are not due again until `reverify_days` have passed.
    let due =
        spindle::db::blobs::due_for_fixity(&app.state.db, spindle::db::now() - 60, 10).await?;
    assert!(due.is_empty(), "{due:?}");

    // One flipped byte, one object cut short, one deleted.
    let mut flipped = one.clone();
    flipped[100_000] ^= 0x01;
    put_raw(&app, &sha1, flipped).await?;
    put_raw(&app, &sha2, two[..150_000].to_vec()).await?;
    delete_raw(&app, &sha3).await?;
    let report = check_all(&app).await?;
    assert_eq!(report.checked, 3);
    let why = |sha: &str| {
        report
            .failed
            .iter()
            .find(|(s, _)| s == sha)
            .map(|(_, w)| w.clone())
            .unwrap_or_default()
    };
    assert!(why(&sha1).contains("hash to"), "{:?}", report.failed);
    assert!(why(&sha2).contains("150000 bytes"), "{:?}", report.failed);
    assert!(why(&sha3).contains("missing"), "{:?}", report.failed);

    // Reported: /metrics, the admin dashboard, `spindle fsck`.
    let metrics = app.metrics().await?;
    assert!(
        metrics.contains("spindle_blobs_failing_fixity 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spindle_fixity_failures_total 3"),
        "{metrics}"
    );
    assert!(
        metrics.contains("spindle_fixity_verified_total 3"),
        "{metrics}"
    );
    let staff = staff_client(&app, &admin).await?;
    let page = staff
        .get(app.url("/staff/stats"))
        .send()
        .await?
        .text()
        .await?;
    let section = page
        .split("id=\"fixity-failed\"")
        .nth(1)
        .context("the failing blobs are listed")?;
    for sha in [&sha1, &sha2, &sha3] {
        assert!(section.contains(sha.as_str()), "{sha}: {section}");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_spindle"))
        .args(["fsck", "--all", "--rate", "0"])
        .envs(child_env(&app.state.config))
        .env("SPINDLE_LOG__FILTER", "error")
        .output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    for sha in [&sha1, &sha2, &sha3] {
        assert!(stdout.contains(&format!("FAILED {sha}")), "{stdout}");
    }
    assert!(stdout.contains("3 blobs checked"), "{stdout}");

    // None of their bytes are served (they are not the image, nor match its ETag); the
    // content rows are cached for 2 s.
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = image(ids[0]).await?;
    assert_eq!(r.status(), 503);
    let v: serde_json::Value = r.json().await?;
    assert_eq!(v["code"], "image-failed-fixity", "{v}");
    let r = app
        .client
        .get(app.url(&format!("/api/v1/discs/{}/files/", ids[1])))
        .bearer_auth(&a)
        .send()
        .await?;
    assert_eq!(r.status(), 503);

    // Nothing was deleted: the flipped object is still there to be looked at.
    let (store, prefix) = raw_store(&app)?;
    let digest: Digest = sha1.parse()?;
    assert_eq!(
        store.head(&digest.object_path(&prefix)).await?.size,
        one.len() as u64
    );

    // Restored from a backup: the flags clear.
    put_raw(&app, &sha1, one.clone()).await?;
    put_raw(&app, &sha2, two.clone()).await?;
    put_raw(&app, &sha3, three.clone()).await?;
    let report = check_all(&app).await?;
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let (_, _, failing) = spindle::db::blobs::fixity_counts(&app.state.db, 0).await?;
    let listed = spindle::db::blobs::failing(&app.state.db, 10).await?;
    assert_eq!(failing, 0);
    assert!(listed.is_empty());
    let metrics = app.metrics().await?;
    assert!(
        metrics.contains("spindle_blobs_failing_fixity 0"),
        "{metrics}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let bytes = image(ids[0]).await?.bytes().await?;
    assert_eq!(sha256_hex(&bytes), sha1, "served again once restored");
    Ok(())
}

/// Two passes at once on one database (two nodes' checkers) re-hash each blob once between
/// them; a pass never takes a blob another pass holds a live claim on, takes it once the claim
/// has lapsed, and never takes again a blob it has done.
async fn passes_at_once_share_the_blobs(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("A").await?;
    let a = app.librarian("A").await?;
    for i in 0..6 {
        app.disc(&a, &iso_image(150_000 + i * 4096, 80 + i as u64), json!({}))
            .await?;
    }
    let checker = |node: &str| spindle::fixity::Checker {
        node: node.to_string(),
        lease: std::time::Duration::from_secs(60),
        // Slow enough that the two passes overlap.
        rate: Some(2_000_000),
    };
    let (one, two) = (checker("node-1:1:aa"), checker("node-2:2:bb"));
    let state = &app.state;
    let (r1, r2) = tokio::try_join!(
        spindle::fixity::run(&state.db, &state.blobs, &state.metrics, &one, i64::MAX, 100),
        spindle::fixity::run(&state.db, &state.blobs, &state.metrics, &two, i64::MAX, 100),
    )
    .map_err(|e| anyhow::anyhow!("{}", e.message()))?;
    let (blobs, _, _) = spindle::db::blobs::fixity_counts(&state.db, 0).await?;
    assert_eq!(blobs, 6);
    assert_eq!(
        r1.checked + r2.checked,
        6,
        "checked {} and {}",
        r1.checked,
        r2.checked
    );
    assert!(
        r1.checked > 0 && r2.checked > 0,
        "{} and {}",
        r1.checked,
        r2.checked
    );

    // Claims by hand: a live claim keeps other passes off, a lapsed one does not, and a blob
    // checked since a pass found it due is not taken by that pass.
    let db = &state.db;
    let now = spindle::calendar::now_ms();
    let due = spindle::db::blobs::due_for_fixity(db, i64::MAX, 10).await?;
    assert_eq!(due.len(), 6);
    let claim = |blob: usize, pass: &'static str, at: i64| {
        spindle::db::blobs::claim_for_fixity(db, &due[blob], pass, at, at + 1_000)
    };
    assert!(claim(0, "p1", now).await?);
    assert!(!claim(0, "p2", now + 999).await?, "p2 took p1's live claim");
    // p1 dies holding it; once the claim has lapsed p2 may take it, and p1 may no longer renew.
    assert!(claim(0, "p2", now + 1_000).await?);
    let sha = &due[0].sha256;
    assert!(!spindle::db::blobs::renew_fixity_claim(db, sha, "p1", now + 5_000).await?);
    assert!(spindle::db::blobs::renew_fixity_claim(db, sha, "p2", now + 5_000).await?);
    spindle::db::blobs::record_fixity(db, sha, spindle::db::now(), None).await?;
    // Checked since p3 found it due (p3's list is older than the check): p3 leaves it.
    assert!(!claim(0, "p3", now + 6_000).await?, "p3 checked it again");
    // A claim ended without a check (the store could not be asked) frees the blob at once.
    assert!(claim(1, "p1", now).await?);
    spindle::db::blobs::end_fixity_claim(db, &due[1].sha256, "p1").await?;
    assert!(claim(1, "p2", now + 1).await?);
    Ok(())
}

/// A named lease: one holder at a time, renewed by its holder, taken by another only once it
/// has lapsed, given back at once by `release`.
async fn a_lease_is_one_holders_until_it_lapses(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let db = &app.state.db;
    use spindle::db::leases::{holder, release, take};
    assert!(take(db, "job", "a", 1_000, 5_000).await?);
    assert!(
        !take(db, "job", "b", 4_999, 9_000).await?,
        "b took a live lease"
    );
    assert!(
        take(db, "job", "a", 4_000, 8_000).await?,
        "a could not renew"
    );
    assert_eq!(holder(db, "job").await?, Some(("a".into(), 8_000)));
    assert!(!take(db, "job", "b", 7_999, 9_000).await?);
    assert!(
        take(db, "job", "b", 8_000, 12_000).await?,
        "b could not take a lapsed lease"
    );
    assert!(
        !take(db, "job", "a", 8_001, 12_000).await?,
        "a took it back"
    );
    release(db, "job", "a").await?;
    assert_eq!(
        holder(db, "job").await?,
        Some(("b".into(), 12_000)),
        "a released b's lease"
    );
    release(db, "job", "b").await?;
    assert!(
        take(db, "job", "a", 8_002, 12_000).await?,
        "a released lease is free"
    );
    // Other names are other leases.
    assert!(take(db, "other", "b", 8_002, 12_000).await?);
    Ok(())
}
