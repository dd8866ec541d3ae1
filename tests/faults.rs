//! Fault drills: the database and the object store going away and coming back under a
//! running Spindle, a full disk, a catalogue that hangs, a server killed mid-download, and
//! the usage events a crash may lose. Each drill uses peers of its own (a private
//! PostgreSQL cluster, a private Garage node, a small tmpfs) so that it can stop and kill
//! them without disturbing the other tests.

mod common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::peers::{PrivateGarage, PrivatePostgres};
use common::{Backend, PART, TestApp, iso_image, sha256_hex};
use serde_json::{Value, json};

/// Status and machine code of an answer.
async fn answer(r: reqwest::Response) -> Result<(u16, String)> {
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    Ok((
        status,
        body["code"].as_str().unwrap_or_default().to_string(),
    ))
}

/// Polls `f` until it gives `want`, for at most `secs`; returns how long that took.
async fn until<F, Fut>(secs: u64, want: u16, mut f: F) -> Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<u16>>,
{
    let started = Instant::now();
    let mut last = 0;
    while started.elapsed() < Duration::from_secs(secs) {
        last = f().await.unwrap_or(0);
        if last == want {
            return Ok(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    anyhow::bail!("still {last} after {secs}s, waiting for {want}")
}

/// PostgreSQL stops under a running Spindle: requests that need it fail at once with 503
/// `database-unavailable` (and Retry-After), readiness says so, an upload keeps its stored
/// offset; when PostgreSQL is back, the same process serves again and the upload completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_a_running_server() -> Result<()> {
    let pg = PrivatePostgres::start()?;
    let url = pg.url();
    let app = TestApp::start_with(Backend::PostgresGarage, |c| {
        c.database.url = Some(url);
        c.database.connect_timeout_secs = 2;
    })
    .await?;
    let a = app.librarian("A").await?;
    let disc = app.disc(&a, &iso_image(3000, 301), json!({})).await?;
    let show = || {
        app.client
            .get(app.url(&format!("/api/v1/discs/{disc}")))
            .bearer_auth(&a)
            .send()
    };
    assert_eq!(show().await?.status(), 200);
    let data = iso_image(3 * PART as usize, 302);
    let sha = sha256_hex(&data);
    let r = app.create_upload(&a, &sha, data.len() as u64).await?;
    let location = common::header(&r, "location");
    let r = app
        .patch(&a, &location, 0, data[..PART as usize].to_vec())
        .await?;
    assert_eq!(r.status(), 204);

    pg.stop("fast")?;
    let started = Instant::now();
    let r = show().await?;
    let retry_after = common::header(&r, "retry-after");
    let (status, code) = answer(r).await?;
    assert_eq!((status, code.as_str()), (503, "database-unavailable"));
    assert_eq!(retry_after, "5");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "the refusal took {:?}",
        started.elapsed()
    );
    let (status, _) = answer(app.client.get(app.url("/readyz")).send().await?).await?;
    assert_eq!(status, 503);
    let r = app
        .patch(
            &a,
            &location,
            PART,
            data[PART as usize..2 * PART as usize].to_vec(),
        )
        .await?;
    let (status, code) = answer(r).await?;
    assert_eq!((status, code.as_str()), (503, "database-unavailable"));
    // Pages say it in words, not JSON.
    let page = app.client.get(app.url("/search?q=x")).send().await?;
    assert_eq!(page.status(), 503);

    pg.start_again()?;
    let back = until(30, 200, || async { Ok(show().await?.status().as_u16()) }).await?;
    println!("drill: PostgreSQL back, requests served again after {back:?}");
    assert_eq!(app.head_offset(&a, &location).await?, PART);
    let r = app
        .patch(&a, &location, PART, data[PART as usize..].to_vec())
        .await?;
    assert_eq!(r.status(), 204);
    let stored = app.disc(&a, &data, json!({})).await?;
    let got = app
        .client
        .get(app.url(&format!("/api/v1/discs/{stored}/image")))
        .bearer_auth(&a)
        .send()
        .await?
        .bytes()
        .await?;
    assert_eq!(sha256_hex(&got), sha);

    // A crash of PostgreSQL (no checkpoint) is the same to Spindle.
    pg.stop("immediate")?;
    assert_eq!(answer(show().await?).await?.0, 503);
    pg.start_again()?;
    until(30, 200, || async { Ok(show().await?.status().as_u16()) }).await?;
    Ok(())
}

/// Garage is killed under a running Spindle, mid-download and mid-upload: the download's
/// body breaks (never a short body that looks whole), new requests get 503
/// `storage-unavailable` within the retry budget, the upload keeps its committed parts and
/// no blob of it is visible; with Garage back the download resumes with Range to identical
/// bytes and the upload completes with the right hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garage_killed_mid_download_and_mid_upload() -> Result<()> {
    let mut garage = PrivateGarage::start()?;
    let (endpoint, bucket, key, secret) = (
        garage.endpoint.clone(),
        garage.bucket.clone(),
        garage.key_id.clone(),
        garage.secret.clone(),
    );
    let app = TestApp::start_with(Backend::PostgresGarage, |c| {
        let s3 = &mut c.storage.s3;
        s3.endpoint = Some(endpoint);
        s3.bucket = bucket;
        s3.access_key_id = Some(key);
        s3.secret_access_key = Some(secret);
        s3.prefix = String::new();
        s3.retry_timeout_secs = 3;
    })
    .await?;
    let a = app.librarian("A").await?;
    // Larger than what Spindle reads ahead (two 16 MiB pieces) plus the sockets' buffers.
    let image = iso_image(96 * 1024 * 1024, 303);
    let sha = sha256_hex(&image);
    let disc = app.disc(&a, &image, json!({})).await?;
    let image_url = app.url(&format!("/api/v1/discs/{disc}/image"));

    // A download under way: read 5 MiB of it, then Garage dies.
    let mut download = app.client.get(&image_url).bearer_auth(&a).send().await?;
    assert_eq!(download.status(), 200);
    let etag = common::header(&download, "etag");
    let mut got = Vec::new();
    while got.len() < 5 * 1024 * 1024 {
        got.extend_from_slice(&download.chunk().await?.context("body ended early")?);
    }
    // An upload under way: one part committed.
    let upload = iso_image(3 * PART as usize, 304);
    let upload_sha = sha256_hex(&upload);
    let r = app
        .create_upload(&a, &upload_sha, upload.len() as u64)
        .await?;
    let location = common::header(&r, "location");
    let r = app
        .patch(&a, &location, 0, upload[..PART as usize].to_vec())
        .await?;
    assert_eq!(r.status(), 204);

    garage.kill()?;
    // The rest of the body cannot come: the stream must fail, not end as if complete.
    let mut broke = false;
    loop {
        match download.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => break,
            Err(_) => {
                broke = true;
                break;
            }
        }
    }
    assert!(
        broke && got.len() < image.len(),
        "the body ended cleanly after {} of {} bytes",
        got.len(),
        image.len()
    );
    let have = got.len().min(image.len());
    assert!(
        got[..have] == image[..have],
        "the bytes before the break are wrong"
    );

    let started = Instant::now();
    let r = app.client.get(&image_url).bearer_auth(&a).send().await?;
    let (status, code) = answer(r).await?;
    assert_eq!((status, code.as_str()), (503, "storage-unavailable"));
    let refused_in = started.elapsed();
    assert!(refused_in < Duration::from_secs(20), "took {refused_in:?}");
    assert_eq!(
        app.client.get(app.url("/readyz")).send().await?.status(),
        503
    );
    let r = app
        .patch(
            &a,
            &location,
            PART,
            upload[PART as usize..2 * PART as usize].to_vec(),
        )
        .await?;
    let (status, code) = answer(r).await?;
    assert_eq!((status, code.as_str()), (503, "storage-unavailable"));
    let blob = app
        .client
        .get(app.url(&format!("/api/v1/blobs/{upload_sha}")))
        .bearer_auth(&a)
        .send()
        .await?;
    assert_eq!(
        blob.status(),
        404,
        "no blob of a half-stored upload is visible"
    );

    garage.start_again()?;
    let back = until(30, 200, || async {
        Ok(app
            .client
            .get(app.url("/readyz"))
            .send()
            .await?
            .status()
            .as_u16())
    })
    .await?;
    println!("drill: Garage killed; refused in {refused_in:?}; ready again {back:?} after restart");
    // Resume the download where it broke, only if the image is still the same one.
    let r = app
        .client
        .get(&image_url)
        .bearer_auth(&a)
        .header("range", format!("bytes={have}-"))
        .header("if-range", &etag)
        .send()
        .await?;
    assert_eq!(r.status(), 206);
    got.truncate(have);
    got.extend_from_slice(&r.bytes().await?);
    assert_eq!(sha256_hex(&got), sha, "the resumed download differs");

    let offset = app.head_offset(&a, &location).await?;
    assert_eq!(offset, PART, "the committed part survived");
    let r = app
        .patch(&a, &location, offset, upload[offset as usize..].to_vec())
        .await?;
    assert_eq!(r.status(), 204);
    let stored = app.disc(&a, &upload, json!({})).await?;
    let bytes = app
        .client
        .get(app.url(&format!("/api/v1/discs/{stored}/image")))
        .bearer_auth(&a)
        .send()
        .await?
        .bytes()
        .await?;
    assert_eq!(sha256_hex(&bytes), upload_sha);
    Ok(())
}
