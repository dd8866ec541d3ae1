//! `storage.s3.redirect_downloads` on the real Garage: after the access decision and the
//! count, a whole image and a CUE sheet's part answer 307 to a presigned address of the object
//! in the store, which a real client (curl) follows, with Range and If-Range answered by Garage
//! itself, byte-exact; a HEAD stays a HEAD; files inside the image are still relayed; a reader
//! who may not open the disc gets 403 and no address; the download is counted once, as a
//! relayed one is; an address past its time is refused by the store.

use crate::common;

use anyhow::{Context, Result, ensure};
use common::discs::fixture;
use common::{Backend, TestApp, header, iso_image, sha256_hex};
use serde_json::json;

/// A request without following redirects, from an address in or out of A's ranges.
async fn ask(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    from: &str,
    range: Option<&str>,
) -> Result<reqwest::Response> {
    let client = common::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let mut r = client
        .request(method, app.url(path))
        .header("x-forwarded-for", from);
    if let Some(range) = range {
        r = r.header("range", range);
    }
    Ok(r.send().await?)
}

/// Follows `path` with curl (-L), Range as given; answers curl's status line and the bytes.
fn curl(url: &str, extra: &[&str]) -> Result<(String, Vec<u8>)> {
    let dir = tempfile::tempdir()?;
    let out = dir.path().join("body");
    let o = std::process::Command::new("curl")
        .args(["-sS", "-L", "-H", "x-forwarded-for: 198.51.100.7", "-o"])
        .arg(&out)
        .args(["-w", "%{http_code} %{num_redirects} %{url_effective}"])
        .args(extra)
        .arg(url)
        .output()
        .context("curl")?;
    ensure!(
        o.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    Ok((String::from_utf8(o.stdout)?, std::fs::read(&out)?))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whole_images_and_parts_come_from_the_store() -> Result<()> {
    let app = TestApp::on(Backend::PostgresGarage)
        .behind_loopback_proxy()
        .without_limits()
        .config(|c| {
            c.storage.s3.redirect_downloads = true;
            c.storage.s3.redirect_secs = 8;
        })
        .start()
        .await?;
    let lib = app.librarian("A").await?;
    let admin = app.admin().await?;
    app.set_networks(&admin, "A", &["198.51.100.0/24"]).await?;
    let image = iso_image(3 * 1024 * 1024, 57);
    let disc = app.disc(&lib, &image, json!({})).await?;
    common::wait_indexed(&app, Some(&lib), disc).await?;
    let path = format!("/api/v1/discs/{disc}/image");
    let inside = "198.51.100.7";

    // Refused: no address to the store.
    let r = ask(&app, reqwest::Method::GET, &path, "192.0.2.1", None).await?;
    ensure!(
        r.status() == 403 && header(&r, "location").is_empty(),
        "{}",
        r.status()
    );

    // Admitted: a redirect to Garage, signed, for this object, not to be kept.
    let r = ask(&app, reqwest::Method::GET, &path, inside, None).await?;
    ensure!(r.status() == 307, "{}", r.status());
    let location = header(&r, "location");
    ensure!(
        location.starts_with(&std::env::var("SPINDLE_TEST_S3_ENDPOINT")?)
            && location.contains("X-Amz-Signature=")
            && location.contains(&sha256_hex(&image)),
        "{location}"
    );
    ensure!(header(&r, "cache-control").contains("no-store"));
    // Garage serves it whole, under the image's name.
    let got = common::http().get(&location).send().await?;
    ensure!(got.status() == 200, "{}", got.status());
    let disposition = header(&got, "content-disposition");
    ensure!(disposition.contains("attachment"), "{disposition}");
    let etag = header(&got, "etag");
    ensure!(got.bytes().await?[..] == image[..], "the image, byte-exact");

    // curl follows the redirect with its Range; Garage answers it, and If-Range with the
    // store's validator (the one a client saw on the store's answer).
    let (line, body) = curl(&app.url(&path), &["-r", "1000-200999"])?;
    ensure!(line.starts_with("206 1 "), "{line}");
    ensure!(body[..] == image[1000..201000], "the range, byte-exact");
    let (line, body) = curl(
        &app.url(&path),
        &["-r", "5-9", "-H", &format!("If-Range: {etag}")],
    )?;
    ensure!(
        line.starts_with("206 1 ") && body[..] == image[5..10],
        "{line}"
    );
    // With a validator that is not the store's, Garage still answers the range (it does not
    // evaluate If-Range, as AWS S3 does not document it): harmless, since an object's key is
    // its SHA-256 and its bytes never change. Either answer must be the image's bytes.
    let (line, body) = curl(&app.url(&path), &["-r", "5-9", "-H", "If-Range: \"other\""])?;
    ensure!(
        (line.starts_with("206 1 ") && body[..] == image[5..10])
            || (line.starts_with("200 1 ") && body[..] == image[..]),
        "{line}"
    );

    // A HEAD stays a HEAD.
    let r = ask(&app, reqwest::Method::HEAD, &path, inside, None).await?;
    ensure!(r.status() == 307, "HEAD: {}", r.status());
    let head = common::http().head(header(&r, "location")).send().await?;
    ensure!(
        head.status() == 200 && header(&head, "content-length") == image.len().to_string(),
        "HEAD at the store: {}",
        head.status()
    );

    // A file inside the image is an extent of it: relayed, as before.
    let r = ask(
        &app,
        reqwest::Method::GET,
        &format!("/api/v1/discs/{disc}/files/data.bin"),
        inside,
        None,
    )
    .await?;
    ensure!(r.status() == 200, "a file inside: {}", r.status());

    // A CUE sheet's part is a blob of its own: redirected too.
    let cue = crate::browse::put(&app, &lib, "disc.cue").await?;
    let mut parts = Vec::new();
    for n in 1..=3 {
        let name = format!("disc (Track {n}).bin");
        parts.push(json!({"name": name, "sha256": crate::browse::put(&app, &lib, &name).await?}));
    }
    let r = crate::browse::register(
        &app,
        &lib,
        json!({"sha256": cue, "filename": "disc.cue", "parts": parts, "open": true}),
    )
    .await?;
    ensure!(r.status() == 201, "{}", r.status());
    let cue_disc = r.json::<serde_json::Value>().await?["id"]
        .as_i64()
        .context("id")?;
    let part = format!("/api/v1/discs/{cue_disc}/parts/disc%20(Track%202).bin");
    let (line, body) = curl(&app.url(&part), &[])?;
    ensure!(line.starts_with("200 1 "), "{line}");
    ensure!(
        body == fixture("disc (Track 2).bin"),
        "the part, byte-exact"
    );

    // Counted as relayed downloads are: a download counts when it has no Range or its range
    // starts at byte 0 — here the first GET of the image and curl's whole part; none of the
    // ranges starts at 0, a HEAD is never counted, and the refusal is a no-licence event.
    let events = app.events_today().await?;
    let images: Vec<_> = events
        .iter()
        .filter(|e| e.action == "image" && e.disc_id == Some(disc))
        .collect();
    ensure!(images.len() == 1, "image downloads counted: {images:?}");
    let parts_counted = events
        .iter()
        .filter(|e| e.disc_id == Some(cue_disc) && e.action == "file")
        .count();
    ensure!(parts_counted == 1, "{events:?}");

    // An address past its time is refused by the store itself.
    tokio::time::sleep(std::time::Duration::from_secs(9)).await;
    // (AWS says 403 "Request has expired", Garage 400 "Date is too old".)
    let late = common::http().get(&location).send().await?;
    let status = late.status().as_u16();
    let said = late.text().await?;
    ensure!(
        matches!(status, 400 | 403) && (said.contains("expired") || said.contains("too old")),
        "expired: {status} {said}"
    );
    Ok(())
}
