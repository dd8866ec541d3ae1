//! The server's background loops, run by the server itself with short intervals — nothing
//! here calls them: the indexers, the usage rollup of closed days, and fixity at a bounded
//! rate (above 0), on both backend pairs.

use crate::common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail, ensure};
use common::{Backend, TestApp, iso_image, sha256_hex};
use serde_json::json;
use spindle::usage::{Action, Visitor};

on_both_backends!(the_server_runs_its_own_loops);

/// The value of an unlabelled metric once `want` holds of it (the loops run on their own
/// clock; this waits for an outcome, it does not time one).
async fn wait_metric(app: &TestApp, name: &str, want: impl Fn(f64) -> bool) -> Result<f64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = None;
    while Instant::now() < deadline {
        last = common::metric_value(&app.metrics().await?, name);
        if let Some(v) = last
            && want(v)
        {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    bail!("{name} is {last:?} after 60 s")
}

async fn the_server_runs_its_own_loops(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend)
        .config(|c| {
            c.stats.rollup_interval_secs = 1;
            c.fixity.interval_secs = 1;
            c.fixity.reverify_days = 0;
            c.fixity.rate_mb_per_s = 1;
        })
        .start()
        .await?;
    app.member("A").await?;
    let a = app.librarian("A").await?;
    let data = iso_image(300_000, 91);
    let id = app.disc(&a, &data, json!({})).await?;

    // Indexing: the server's own indexers.
    let v = common::wait_indexed(&app, Some(&a), id).await?;
    ensure!(v["image"]["status"] == "indexed", "{v}");

    // The search refresh: the disc is searched once its image is read, and searched again when
    // the image is indexed again (found through the indexing time its discs keep).
    let searched_at = || async {
        anyhow::Ok(spindle::db::on_pool!(&app.state.db, pool => {
            sqlx::query_scalar::<_, Option<i64>>("SELECT searched_at FROM discs WHERE id = $1")
                .bind(id)
                .fetch_one(pool)
                .await?
        }))
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while !spindle::db::search::stale(&app.state.db, 10)
        .await?
        .is_empty()
    {
        ensure!(
            Instant::now() < deadline,
            "the disc was not searched within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first = searched_at().await?.context("searched")?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let sha = sha256_hex(&data);
    let at = spindle::db::now();
    spindle::db::images::fail(&app.state.db, &sha, "test", "indexed again").await?;
    while searched_at().await?.is_none_or(|t| t < at) {
        ensure!(
            Instant::now() < deadline,
            "an image indexed again at {at} left its disc searched at {first}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Fixity: the server's passes verify the blob (at 1 MB/s), and a later pass finds a byte
    // changed behind its back.
    wait_metric(&app, "spindle_fixity_verified_total", |n| n >= 1.0).await?;
    let (_, recent, failing) = spindle::db::blobs::fixity_counts(&app.state.db, 0).await?;
    ensure!(
        (recent, failing) == (1, 0),
        "{recent} recent, {failing} failing"
    );
    let mut flipped = data.clone();
    flipped[150_000] ^= 0x01;
    crate::fixity::put_raw(&app, &sha256_hex(&data), flipped).await?;
    wait_metric(&app, "spindle_blobs_failing_fixity", |n| n == 1.0).await?;

    // Rollup: a reader's use yesterday (a closed day) is rolled up by the server's loop.
    let a_id = spindle::db::members::by_code(&app.state.db, "A")
        .await?
        .context("member")?
        .id;
    spindle::db::usage::set_networks(&app.state.db, a_id, &["192.0.2.0/24".into()]).await?;
    app.state.usage.networks.invalidate();
    let zone = &app.state.config.stats.time_zone;
    let yesterday = zone.today().prev();
    let at = zone.start_ms(yesterday) + 10 * 3_600_000;
    let reader = Visitor {
        ip: "192.0.2.10".parse()?,
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0".into()),
        cookie: None,
    };
    app.record_planned(vec![
        (
            &reader,
            at,
            Action::Landing,
            id,
            format!("GET /api/v1/discs/{id}"),
            200,
        ),
        (
            &reader,
            at + 5_000,
            Action::Image,
            id,
            format!("GET /api/v1/discs/{id}/image"),
            200,
        ),
    ])
    .await?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let f = crate::stats::day_totals(&app, a_id, &yesterday.to_string()).await?;
        // Landing + image: two investigations, one request, one session.
        if (f.tii, f.tir, f.uii, f.uir) == (2, 1, 1, 1) {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "yesterday was not rolled up within 60 s: {f:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

on_both_backends!(writers_at_once_wait_their_turn);

/// The search refresh (whose first write reads the full-text index before it writes) beside
/// other writers: each waits for the write lock rather than failing. On SQLite a transaction
/// begun deferred that reads first cannot wait — it failed at once with "database is locked"
/// (seen in CI as a flaky page test) until write transactions began IMMEDIATE.
async fn writers_at_once_wait_their_turn(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let mut tasks = Vec::new();
    for w in 0..4i64 {
        let db = app.state.db.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..40i64 {
                let text = format!("title {w} {i}");
                spindle::db::search::replace(&db, 1_000_000 + w, &[("title", text)], 0).await?;
            }
            anyhow::Ok(())
        }));
    }
    for t in tasks {
        t.await??;
    }
    let hits = spindle::db::search::find(
        &app.state.db,
        spindle::db::search::Matching::Contains {
            needle: "title 3 39",
            field: None,
        },
        10,
    )
    .await?;
    ensure!(
        hits == vec![(1_000_003, "title".to_string())],
        "the last write of writer 3 is what its disc says: {hits:?}"
    );
    Ok(())
}
