//! Fault drills: the database and the object store going away and coming back under a
//! running Spindle, a full disk, a catalogue that hangs, a server killed mid-download, and
//! the usage events a crash may lose. Each drill uses peers of its own (a private
//! PostgreSQL cluster, a private Garage node, a small tmpfs) so that it can stop and kill
//! them without disturbing the other tests.

use crate::common;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use common::peers::{PrivateGarage, PrivatePostgres};
use common::server::Deployment;
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

/// Reads the rest of a body into `got`; true if it broke off (an error) rather than ended.
async fn drain(body: &mut reqwest::Response, got: &mut Vec<u8>) -> bool {
    loop {
        match body.chunk().await {
            Ok(Some(c)) => got.extend_from_slice(&c),
            Ok(None) => return false,
            Err(_) => return true,
        }
    }
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
    let app = TestApp::on(Backend::PostgresGarage)
        .config(move |c| {
            c.database.url = Some(url);
            c.database.connect_timeout_secs = 2;
        })
        .start()
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
    let refused_in = started.elapsed();
    assert!(
        refused_in < Duration::from_secs(10),
        "the refusal took {refused_in:?}"
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
    println!(
        "drill: PostgreSQL stopped, refused in {refused_in:?}; served again {back:?} after its restart"
    );
    assert_eq!(app.head_offset(&a, &location).await?, PART);
    let r = app
        .patch(&a, &location, PART, data[PART as usize..].to_vec())
        .await?;
    assert_eq!(r.status(), 204);
    let stored = app.disc(&a, &data, json!({})).await?;
    let got = app.image_bytes(&a, stored).await?;
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
    let app = TestApp::on(Backend::PostgresGarage)
        .config(move |c| {
            let s3 = &mut c.storage.s3;
            s3.endpoint = Some(endpoint);
            s3.bucket = bucket;
            s3.access_key_id = Some(key);
            s3.secret_access_key = Some(secret);
            s3.prefix = String::new();
            s3.retry_timeout_secs = 3;
        })
        .start()
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
    let broke = drain(&mut download, &mut got).await;
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
    let bytes = app.image_bytes(&a, stored).await?;
    assert_eq!(sha256_hex(&bytes), upload_sha);
    Ok(())
}

/// A tmpfs of `mib` MiB mounted for the drill (root only: the suite runs as root here, and
/// fails loudly otherwise), unmounted when dropped.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(mib: u64) -> Result<Self> {
        let dir = tempfile::Builder::new()
            .prefix("spindle-drill-disk")
            .tempdir()?;
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mib}m"), "tmpfs"])
            .arg(dir.path())
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "the disk-full drill mounts a small tmpfs and needs root: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(Self { dir })
    }

    fn path(&self) -> &std::path::Path {
        self.dir.path()
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(self.dir.path())
            .status();
    }
}

/// The local store's disk fills up mid-upload: the PATCH gets 507 `storage-full` with a
/// message saying so, the upload keeps what was committed, discs already stored still read
/// whole; once space is freed the upload resumes and completes with the right hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn local_disk_full_mid_upload() -> Result<()> {
    let disk = SmallDisk::mount(24)?;
    let objects = disk.path().join("objects");
    let staging = disk.path().join("staging");
    let app = TestApp::on(Backend::SqliteLocal)
        .config(move |c| {
            c.storage.local.path = Some(objects);
            c.storage.local.staging_path = Some(staging);
        })
        .start()
        .await?;
    let a = app.librarian("A").await?;
    let small = iso_image(3000, 305);
    let first = app.disc(&a, &small, json!({})).await?;
    // Leave about 11 MiB: two parts of the next upload fit, the third does not.
    let filler = disk.path().join("filler");
    std::fs::write(&filler, vec![7u8; 12 * 1024 * 1024])?;

    let data = iso_image(3 * PART as usize, 306);
    let sha = sha256_hex(&data);
    let r = app.create_upload(&a, &sha, data.len() as u64).await?;
    assert_eq!(r.status(), 201);
    let location = common::header(&r, "location");
    let mut offset = 0u64;
    let mut refused = None;
    while offset < data.len() as u64 {
        let end = (offset + PART).min(data.len() as u64);
        let r = app
            .patch(
                &a,
                &location,
                offset,
                data[offset as usize..end as usize].to_vec(),
            )
            .await?;
        if r.status() != 204 {
            let status = r.status().as_u16();
            let body: Value = r.json().await?;
            refused = Some((status, body));
            break;
        }
        offset = common::header(&r, "upload-offset").parse()?;
    }
    let (status, body) = refused.context("the upload fitted on a full disk")?;
    assert_eq!(status, 507, "{body}");
    assert_eq!(body["code"], "storage-full");
    assert!(
        body["detail"].as_str().unwrap_or_default().contains("full"),
        "{body}"
    );
    let kept = app.head_offset(&a, &location).await?;
    assert!(
        kept < data.len() as u64 && kept % PART == 0,
        "offset {kept}"
    );
    let blob = app
        .client
        .get(app.url(&format!("/api/v1/blobs/{sha}")))
        .bearer_auth(&a)
        .send()
        .await?;
    assert_eq!(blob.status(), 404, "no blob of the half-stored upload");
    let got = app.image_bytes(&a, first).await?;
    assert_eq!(sha256_hex(&got), sha256_hex(&small));

    std::fs::remove_file(&filler)?;
    let mut offset = app.head_offset(&a, &location).await?;
    while offset < data.len() as u64 {
        let r = app
            .patch(&a, &location, offset, data[offset as usize..].to_vec())
            .await?;
        assert_eq!(r.status(), 204);
        offset = common::header(&r, "upload-offset").parse()?;
    }
    let disc = app.disc(&a, &data, json!({})).await?;
    let got = app.image_bytes(&a, disc).await?;
    assert_eq!(sha256_hex(&got), sha);
    drop(app);
    Ok(())
}

/// A catalogue that accepts connections and never answers: matching times out, each disc
/// shows the reason and is tried again later, and readers' requests meanwhile are not held
/// up by it.
async fn hanging_catalogue(backend: Backend) -> Result<()> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = accepted.clone();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            sockets.push(socket); // read nothing, answer nothing, close nothing
        }
    });
    let app = TestApp::start(backend).await?;
    let a = app.librarian("A").await?;
    let admin = app.admin().await?;
    app.set_networks(&admin, "A", &["127.0.0.0/8"]).await?;
    let reader_disc = app.disc(&a, &iso_image(3000, 310), json!({})).await?;
    let r = app
        .client
        .put(app.url("/api/v1/members/A/catalogue"))
        .bearer_auth(&a)
        .json(&json!({
            "kind": "sru",
            "sru": {"url": format!("http://127.0.0.1:{port}/catalogue"), "timeout_secs": 5, "retries": 1,
                    "indexes": {"barcode": "local.barcode"}},
            "opac_record_url": "https://opac.example.edu/record/{id}"
        }))
        .send()
        .await?;
    assert_eq!(r.status(), 200, "{}", r.text().await?);
    let mut waiting = Vec::new();
    for (i, isbn) in ["9787302123456", "9780131103627", "9787040123456"]
        .iter()
        .enumerate()
    {
        waiting.push(
            app.disc(
                &a,
                &iso_image(3000, 311 + i as u64),
                json!({ "isbn": isbn }),
            )
            .await?,
        );
    }

    // While the linkers wait on the catalogue, readers are served as usual:
    // once a linker is connected and waiting, every reader page is answered
    // before any disc has waited out its timeout (5 s, then a retry).
    // Latency itself is judged in loadtests/, not here.
    for _ in 0..2400 {
        if accepted.load(std::sync::atomic::Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(
        accepted.load(std::sync::atomic::Ordering::SeqCst) > 0,
        "no linker reached the catalogue in 60 s"
    );
    let reader = common::http();
    let mut slowest = Duration::ZERO;
    for _ in 0..20 {
        let started = Instant::now();
        let r = reader
            .get(app.url(&format!("/discs/{reader_disc}")))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        r.bytes().await?;
        slowest = slowest.max(started.elapsed());
    }
    for id in &waiting {
        let v: Value = app
            .client
            .get(app.url(&format!("/api/v1/discs/{id}")))
            .bearer_auth(&a)
            .send()
            .await?
            .json()
            .await?;
        assert!(
            v["link_error"].is_null(),
            "the readers were not all answered while the catalogue hung: {v}"
        );
    }
    // Each disc waits out the timeout (and one retry), then is put back for a later try,
    // with the reason shown; it stays pending, since the catalogue may come back.
    for id in waiting {
        let mut v = Value::Null;
        for _ in 0..240 {
            v = app
                .client
                .get(app.url(&format!("/api/v1/discs/{id}")))
                .bearer_auth(&a)
                .send()
                .await?
                .json()
                .await?;
            if !v["link_error"].is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        assert_eq!(v["link_status"], "pending", "{v}");
        assert!(
            v["link_error"]
                .as_str()
                .unwrap_or_default()
                .contains("did not answer within 5 s"),
            "{v}"
        );
    }
    println!("drill: catalogue hung; slowest of 20 reader pages meanwhile {slowest:?}");
    held.abort();
    Ok(())
}

/// Issue 20: Z39.50 catalogues that misbehave. The real Zebra behind a proxy that cuts the
/// connection in the middle of its Present answer, and a listener that accepts and never
/// answers: each disc shows the reason and stays pending to be tried again — none is linked
/// (or failed) on half an answer. A diagnostic (a database the server does not have) fails
/// the disc with the server's sentence: that needs the settings fixed, not another try.
#[tokio::test]
async fn z3950_catalogues_that_misbehave_leave_discs_waiting() -> Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let zebra_port = common::catalogue::zebra_port();
    // The proxy: relays Init and Search both ways; on a Present request, relays the first
    // bytes of Zebra's answer and closes.
    let proxy = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let proxy_port = proxy.local_addr()?.port();
    let presents = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let cut = presents.clone();
    let relay = tokio::spawn(async move {
        while let Ok((mut client, _)) = proxy.accept().await {
            let cut = cut.clone();
            tokio::spawn(async move {
                let Ok(mut server) =
                    tokio::net::TcpStream::connect(("127.0.0.1", zebra_port)).await
                else {
                    return;
                };
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let Ok(n) = client.read(&mut buf).await else {
                        return;
                    };
                    if n == 0 || server.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                    // 0xB8: a presentRequest APDU ([24], constructed).
                    let present = buf[0] == 0xB8;
                    let Ok(m) = server.read(&mut buf).await else {
                        return;
                    };
                    if present {
                        cut.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let _ = client.write_all(&buf[..m.min(40)]).await;
                        return; // the connection ends mid-answer
                    }
                    if m == 0 || client.write_all(&buf[..m]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let silent_port = silent.local_addr()?.port();
    let held = tokio::spawn(async move {
        let mut sockets = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            sockets.push(socket);
        }
    });
    let app = TestApp::start(Backend::SqliteLocal).await?;
    let a = app.librarian("A").await?;
    let put = |port: u16, database: &str| {
        let (app, a) = (&app, &a);
        let body = json!({"kind": "z3950", "z3950": {"host": "127.0.0.1", "port": port,
            "database": database, "timeout_secs": 2, "retries": 1}});
        async move {
            let r = app
                .client
                .put(app.url("/api/v1/members/A/catalogue"))
                .bearer_auth(a)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "{}", r.status());
            anyhow::Ok(())
        }
    };
    let outcome = |id: i64| {
        let (app, a) = (&app, &a);
        async move {
            for _ in 0..240 {
                let v: Value = app
                    .client
                    .get(app.url(&format!("/api/v1/discs/{id}")))
                    .bearer_auth(a)
                    .send()
                    .await?
                    .json()
                    .await?;
                if !v["link_error"].is_null() || v["link_status"] != "pending" {
                    return anyhow::Ok(v);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            anyhow::bail!("disc {id}: no outcome in 60 s")
        }
    };
    // Each catalogue, and what the disc must show: cut mid-Present (the ISBN finds record
    // 100002, so a Present follows the Search) and never answering leave it pending, to be
    // tried again; the real server's diagnostic fails it with its sentence naming the
    // database. None is linked.
    let cases: [(u16, &str, &str, &[&str]); 3] = [
        (
            proxy_port,
            "marc21",
            "pending",
            &["closed the connection", "Present"],
        ),
        (
            silent_port,
            "marc21",
            "pending",
            &["did not answer within 2 s"],
        ),
        (zebra_port, "nosuchdb", "failed", &["nosuchdb"]),
    ];
    for (seed, (port, database, status, says)) in (331u64..).zip(cases) {
        put(port, database).await?;
        let disc = app
            .disc(&a, &iso_image(3000, seed), json!({"isbn": "9780596514327"}))
            .await?;
        let v = outcome(disc).await?;
        assert_eq!(v["link_status"], status, "{v}");
        let why = v["link_error"].as_str().unwrap_or_default();
        assert!(
            says.iter().all(|s| why.contains(s)),
            "{database} on {port}: {v}"
        );
        assert!(
            v["links"].as_array().is_none_or(Vec::is_empty),
            "nothing linked: {v}"
        );
    }
    assert!(
        presents.load(std::sync::atomic::Ordering::SeqCst) >= 2,
        "tried, then once more"
    );
    relay.abort();
    held.abort();
    Ok(())
}

/// `kill -9` of the server while a reader downloads: after the restart the reader resumes
/// with Range (and If-Range) and ends with the image's exact bytes.
async fn killed_mid_download_resumes_with_range(backend: Backend) -> Result<()> {
    let d = Deployment::new(backend, &[]).await?;
    let server = d.start(None).await?;
    let port = server.port;
    let image = iso_image(96 * 1024 * 1024, 320);
    let disc = d.disc(&server.base, &image).await?;
    let url = format!("{}/api/v1/discs/{disc}/image", server.base);
    let client = common::http();
    let mut r = client.get(&url).bearer_auth(&d.librarian).send().await?;
    assert_eq!(r.status(), 200);
    let etag = common::header(&r, "etag");
    let mut got = Vec::new();
    while got.len() < 8 * 1024 * 1024 {
        got.extend_from_slice(&r.chunk().await?.context("ended early")?);
    }
    server.kill9()?;
    let broke = drain(&mut r, &mut got).await;
    assert!(
        broke && got.len() < image.len(),
        "{} bytes, no break",
        got.len()
    );
    let server = d.start(Some(port)).await?;
    let r = client
        .get(&url)
        .bearer_auth(&d.librarian)
        .header("range", format!("bytes={}-", got.len()))
        .header("if-range", &etag)
        .send()
        .await?;
    assert_eq!(r.status(), 206);
    let had = got.len();
    got.extend_from_slice(&r.bytes().await?);
    assert_eq!(sha256_hex(&got), sha256_hex(&image));
    println!(
        "drill: killed after {had} bytes of {}; resumed to identical bytes",
        image.len()
    );
    drop(server);
    Ok(())
}

/// Usage events: a graceful stop (SIGTERM) writes every one; `kill -9` loses at most those of
/// the last `stats.flush_ms` (1 s here), never the ones before.
async fn usage_events_at_shutdown_and_crash(backend: Backend) -> Result<()> {
    let d = Deployment::new(backend, &[("SPINDLE_STATS__FLUSH_MS", "1000")]).await?;
    let server = d.start(None).await?;
    let disc = d.disc(&server.base, &iso_image(3000, 330)).await?;
    let client = common::http();
    let r = client
        .put(format!("{}/api/v1/members/A/networks", server.base))
        .bearer_auth(&d.admin)
        .json(&json!({"cidrs": ["127.0.0.0/8"]}))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let views = |base: String, n: usize| {
        let client = client.clone();
        async move {
            for _ in 0..n {
                let r = client.get(format!("{base}/discs/{disc}")).send().await?;
                anyhow::ensure!(r.status() == 200, "view: {}", r.status());
            }
            anyhow::Ok(())
        }
    };
    views(server.base.clone(), 20).await?;
    let status = server.terminate()?;
    assert!(status.success(), "graceful stop: {status}");
    assert_eq!(
        d.events_for(disc).await?,
        20,
        "a graceful stop writes every event"
    );

    let server = d.start(None).await?;
    views(server.base.clone(), 30).await?;
    // The writer flushes every flush_ms (1 s): wait for it to have written the 50 (on a
    // loaded machine that takes longer than a second; how long is loadtests' to judge).
    let mut written = 0;
    for _ in 0..600 {
        written = d.events_for(disc).await?;
        if written >= 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        written, 50,
        "the writer never wrote the events older than a flush"
    );
    views(server.base.clone(), 25).await?;
    server.kill9()?;
    let stored = d.events_for(disc).await?;
    assert!(
        (50..=75).contains(&stored),
        "{stored} events stored; the 50 older than the flush interval must all be there"
    );
    println!(
        "drill: kill -9 lost {} of the 25 events made in the last second (flush_ms = 1000)",
        75 - stored
    );
    Ok(())
}

on_both_backends!(
    hanging_catalogue,
    killed_mid_download_resumes_with_range,
    usage_events_at_shutdown_and_crash
);
