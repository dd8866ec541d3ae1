//! Discs read over HTTP, on both backend pairs: registration checks the format from the
//! bytes, the image is indexed off the request path, and every listing, file, WAV track and
//! ZIP equals what bsdtar or 7-Zip make of the same image.

use crate::common;

use std::collections::BTreeMap;

use anyhow::{Result, ensure};
use common::discs::{Ref, Tool, assert_same, extract, fixture, reference, sha, utf8, walk};
use common::{Backend, PART, TestApp, header, sha256_hex, wait_indexed};
use serde_json::{Value, json};

pub(crate) async fn register(app: &TestApp, token: &str, body: Value) -> Result<reqwest::Response> {
    app.prove_body(token, &body).await?;
    Ok(app
        .client
        .post(app.url("/api/v1/discs"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?)
}

/// Uploads `name` from the fixtures; returns its SHA-256.
pub(crate) async fn put(app: &TestApp, token: &str, name: &str) -> Result<String> {
    let data = fixture(name);
    app.upload(token, &data, 2 * PART as usize).await?;
    Ok(sha256_hex(&data))
}

async fn get(app: &TestApp, path: &str) -> Result<reqwest::Response> {
    Ok(app.client.get(app.url(path)).send().await?)
}

/// Every entry of a disc through the API: the tree for the listing, each file's URL for bytes.
async fn ours_over_http(app: &TestApp, id: i64) -> Result<BTreeMap<String, Ref>> {
    let tree: Value = get(app, &format!("/api/v1/discs/{id}/tree"))
        .await?
        .json()
        .await?;
    let mut out = BTreeMap::new();
    for e in tree["entries"].as_array().into_iter().flatten() {
        let path = e["path"].as_str().unwrap_or_default().to_string();
        let r = match e["kind"].as_str() {
            Some("dir") => Ref::Dir,
            Some("symlink") => Ref::Symlink(e["target"].as_str().unwrap_or_default().into()),
            _ => {
                let url = e["url"].as_str().unwrap_or_default();
                let resp = get(app, url).await?;
                ensure!(resp.status() == 200, "{url}: {}", resp.status());
                let bytes = resp.bytes().await?;
                Ref::File {
                    size: bytes.len() as u64,
                    sha256: sha(&bytes),
                }
            }
        };
        out.insert(path, r);
    }
    Ok(out)
}

async fn browse_a_web_disc(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let sha = put(&app, &token, "rr-joliet.iso").await?;
    let r = register(
        &app,
        &token,
        json!({"sha256": sha, "filename": "web.iso", "open": true}),
    )
    .await?;
    ensure!(r.status() == 201, "register: {}", r.status());
    let id = r.json::<Value>().await?["id"].as_i64().unwrap_or_default();
    let disc = wait_indexed(&app, None, id).await?;
    let image = &disc["image"];
    assert_eq!(image["status"], "indexed", "{image}");
    assert_eq!(image["volume_label"], "RR_JOLIET");
    assert_eq!(image["formats"], json!(["iso9660", "joliet", "rock-ridge"]));
    assert_eq!(image["content_class"], "Multimedia");
    // autorun.inf: open=setup.exe (not for a browser), shellexecute=index.html.
    let launch_url = format!("/api/v1/discs/{id}/files/index.html");
    assert_eq!(image["launch_url"], launch_url.as_str());
    assert!(image["ranged_reads"].as_i64().unwrap_or(0) >= 1);

    // The listing and every file's bytes equal bsdtar's extraction.
    let theirs = reference("rr-joliet.iso", Tool::Bsdtar);
    assert_eq!(
        image["file_count"].as_u64(),
        Some(
            theirs
                .values()
                .filter(|r| matches!(r, Ref::File { .. }))
                .count() as u64
        )
    );
    assert_same(
        "rr-joliet.iso over HTTP",
        &ours_over_http(&app, id).await?,
        &theirs,
    );

    // Directory listings: directories first, parent link, percent-encoded URLs.
    let root: Value = get(&app, &format!("/api/v1/discs/{id}/files/"))
        .await?
        .json()
        .await?;
    let names: Vec<&str> = root["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(&names[..4], ["a", "img", "pages", "中文目录"]);
    let weird = root["entries"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == "weird #1 ?&%.txt")
        .expect("weird name");
    assert_eq!(
        weird["url"],
        format!("/api/v1/discs/{id}/files/weird%20%231%20%3F&%25.txt")
    );
    let r = get(&app, weird["url"].as_str().unwrap_or_default()).await?;
    assert_eq!(r.text().await?, "hash and query\n");
    let sub: Value = get(
        &app,
        &format!("/api/v1/discs/{id}/files/%E4%B8%AD%E6%96%87%E7%9B%AE%E5%BD%95"),
    )
    .await?
    .json()
    .await?;
    assert_eq!(sub["entries"][0]["name"], "说明.txt");
    assert_eq!(sub["parent"], format!("/api/v1/discs/{id}/files/"));

    // A page opens in the browser, sandboxed; its relative links resolve inside the disc.
    let r = get(&app, &launch_url).await?;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "text/html; charset=utf-8");
    assert!(header(&r, "content-disposition").starts_with("inline;"));
    assert!(header(&r, "content-security-policy").starts_with("sandbox"));
    assert_eq!(header(&r, "x-content-type-options"), "nosniff");
    let r = app
        .client
        .get(app.url(&format!("/api/v1/discs/{id}/launch")))
        .send()
        .await?;
    assert_eq!(
        r.url().path(),
        launch_url,
        "launch redirects to the start page"
    );
    let page = get(&app, &format!("/api/v1/discs/{id}/files/pages/a.html")).await?;
    assert!(page.text().await?.contains("../index.html"));
    let png = get(&app, &format!("/api/v1/discs/{id}/files/img/logo.png")).await?;
    assert_eq!(header(&png, "content-type"), "image/png");
    let exe = get(&app, &format!("/api/v1/discs/{id}/files/setup.exe")).await?;
    assert!(header(&exe, "content-disposition").starts_with("attachment;"));
    // The symlink serves its target.
    let link = get(&app, &format!("/api/v1/discs/{id}/files/start.html")).await?;
    assert!(link.text().await?.contains("Disc start page"));

    // One file with the same Range/ETag/HEAD semantics as a whole image.
    let url = format!("/api/v1/discs/{id}/files/data.bin");
    let whole = get(&app, &url).await?;
    let etag = header(&whole, "etag");
    let whole = whole.bytes().await?;
    assert_eq!(whole.len(), 300_000);
    let r = app
        .client
        .get(app.url(&url))
        .header("range", "bytes=1000-1999,299990-")
        .send()
        .await?;
    assert_eq!(r.status(), 206);
    assert!(header(&r, "content-type").starts_with("multipart/byteranges"));
    let r = app
        .client
        .get(app.url(&url))
        .header("range", "bytes=123456-123457")
        .send()
        .await?;
    assert_eq!(r.status(), 206);
    assert_eq!(header(&r, "content-range"), "bytes 123456-123457/300000");
    assert_eq!(&r.bytes().await?[..], &whole[123_456..123_458]);
    let r = app
        .client
        .get(app.url(&url))
        .header("if-none-match", &etag)
        .send()
        .await?;
    assert_eq!(r.status(), 304);
    let r = app.client.head(app.url(&url)).send().await?;
    assert_eq!(header(&r, "content-length"), "300000");
    let r = app
        .client
        .get(app.url(&url))
        .header("range", "bytes=300000-")
        .send()
        .await?;
    assert_eq!(r.status(), 416);
    assert_eq!(header(&r, "content-range"), "bytes */300000");

    // Paths outside the disc, or that do not exist, are simply not found (a NUL in the
    // address is refused before, with 400). Sent raw: an HTTP client would resolve the dot
    // segments itself.
    let host = app.base.trim_start_matches("http://").to_string();
    for bad in [
        "pages/../../etc/passwd",
        "pages/%2e%2e/index.html",
        "..",
        "nope.txt",
        "a%00b",
        "pages//a.html",
    ] {
        let head = format!(
            "GET /api/v1/discs/{id}/files/{bad} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        );
        let expected = if bad.contains("%00") { 400 } else { 404 };
        assert_eq!(
            common::raw_request(&app, head, Vec::new()).await?,
            expected,
            "{bad}"
        );
    }
    let v: Value = get(&app, &format!("/api/v1/discs/{id}/files/a%00b"))
        .await?
        .json()
        .await?;
    assert_eq!(v["code"], "invalid-character");
    Ok(())
}

async fn zip_of_a_directory(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let sha = put(&app, &token, "rr-joliet.iso").await?;
    let r = register(&app, &token, json!({"sha256": sha, "open": true})).await?;
    let id = r.json::<Value>().await?["id"].as_i64().unwrap_or_default();
    wait_indexed(&app, None, id).await?;
    let theirs = reference("rr-joliet.iso", Tool::Bsdtar);
    for (path, tool) in [
        ("", Tool::Bsdtar),
        ("", Tool::SevenZip),
        ("a/b", Tool::Bsdtar),
    ] {
        let url = if path.is_empty() {
            format!("/api/v1/discs/{id}/zip")
        } else {
            format!("/api/v1/discs/{id}/zip/{path}")
        };
        let r = get(&app, &url).await?;
        assert_eq!(r.status(), 200);
        assert_eq!(header(&r, "content-type"), "application/zip");
        // Its length is known before it is made (a progress bar), and it has an entity tag.
        let length: usize = header(&r, "content-length").parse()?;
        let etag = header(&r, "etag");
        let whole = r.bytes().await?;
        assert_eq!(whole.len(), length);
        // A resumed download: the rest from any byte, if it is still the same archive.
        for from in [1, length / 3, length - 22] {
            let r = app
                .client
                .get(app.url(&url))
                .header("range", format!("bytes={from}-"))
                .header("if-range", &etag)
                .send()
                .await?;
            assert_eq!(r.status(), 206);
            assert_eq!(
                header(&r, "content-range"),
                format!("bytes {from}-{}/{length}", length - 1)
            );
            assert_eq!(
                &r.bytes().await?[..],
                &whole[from..],
                "the rest from {from}"
            );
        }
        let r = app
            .client
            .get(app.url(&url))
            .header("range", "bytes=100-199")
            .send()
            .await?;
        assert_eq!(r.status(), 206);
        assert_eq!(&r.bytes().await?[..], &whole[100..200]);
        let r = app
            .client
            .get(app.url(&url))
            .header("range", format!("bytes={length}-"))
            .send()
            .await?;
        assert_eq!(r.status(), 416);
        assert_eq!(header(&r, "content-range"), format!("bytes */{length}"));
        let r = app
            .client
            .get(app.url(&url))
            .header("range", "bytes=10-")
            .header("if-range", "\"another\"")
            .send()
            .await?;
        assert_eq!(r.status(), 200, "another archive: the whole");
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("out.zip");
        std::fs::write(&file, &whole)?;
        // Files keep their real time for a reader in Beijing: the UTC field, not the zoneless
        // DOS time (read as local time by extractors).
        let beijing = dir.path().join("beijing");
        std::fs::create_dir(&beijing)?;
        let out = std::process::Command::new("bsdtar")
            .env("TZ", "Asia/Shanghai")
            .arg("-xf")
            .arg(&file)
            .arg("-C")
            .arg(&beijing)
            .output()?;
        anyhow::ensure!(out.status.success(), "bsdtar: {out:?}");
        for name in ["index.html", "a/b/c/d/e/f/g/h/i/j/k/l/deep.txt"] {
            let Some(rest) = name.strip_prefix(&if path.is_empty() {
                String::new()
            } else {
                format!("{path}/")
            }) else {
                continue;
            };
            let meta = std::fs::metadata(beijing.join(rest))?;
            let mtime = meta
                .modified()?
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            assert_eq!(mtime, 1_700_000_000, "{name}");
        }
        let extracted = extract(&file, tool);
        let got = walk(extracted.path(), &utf8);
        // Symlinks are left out of ZIPs; everything else is there, byte for byte.
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let want: BTreeMap<String, Ref> = theirs
            .iter()
            .filter(|(p, r)| p.starts_with(&prefix) && !matches!(r, Ref::Symlink(_)))
            .map(|(p, r)| (p[prefix.len()..].to_string(), r.clone()))
            .collect();
        assert_same(&format!("zip of {path:?}"), &got, &want);
    }
    let r = get(&app, &format!("/api/v1/discs/{id}/zip/index.html")).await?;
    assert_eq!(r.status(), 404);
    Ok(())
}

async fn bin_cue_with_audio(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let cue = put(&app, &token, "disc.cue").await?;
    let mut parts = Vec::new();
    for n in 1..=3 {
        let name = format!("disc (Track {n}).bin");
        parts.push(json!({"name": name, "sha256": put(&app, &token, &name).await?}));
    }
    // A CUE sheet without the BIN files it names is refused, naming the missing file.
    let r = register(&app, &token, json!({"sha256": cue, "parts": parts[..2]})).await?;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "image-part-missing");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("disc (Track 3).bin"),
        "{v}"
    );

    let r = register(
        &app,
        &token,
        json!({"sha256": cue, "filename": "disc.cue", "parts": parts, "open": true}),
    )
    .await?;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await?["id"].as_i64().unwrap_or_default();
    let disc = wait_indexed(&app, None, id).await?;
    let image = &disc["image"];
    assert_eq!(image["status"], "indexed", "{image}");
    assert_eq!(image["formats"][0], "cue");
    let tracks: Vec<i64> = image["tracks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["number"].as_i64())
        .collect();
    assert_eq!(tracks, [2, 3]);

    // The data track's files equal bsdtar's extraction of the ISO it was made from.
    assert_same(
        "disc.cue over HTTP",
        &ours_over_http(&app, id).await?,
        &reference("track1.iso", Tool::Bsdtar),
    );

    // Track 2 as WAV: a 44-byte header, then exactly the PCM sox made; Range works across both.
    let url = image["tracks"][0]["url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let r = get(&app, &url).await?;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-type"), "audio/wav");
    let wav = r.bytes().await?;
    let pcm = fixture("tone440.raw");
    assert_eq!(&wav[..4], b"RIFF");
    assert_eq!(&wav[8..16], b"WAVEfmt ");
    assert_eq!(
        u32::from_le_bytes([wav[40], wav[41], wav[42], wav[43]]) as usize,
        pcm.len()
    );
    assert!(wav[44..] == pcm[..], "track 2 PCM differs");
    // The whole file, header included, is what bchunk writes for the same track (from the
    // single-BIN sheet of the same disc), and sox reads it as CD audio.
    let fx = common::discs::fixtures();
    let theirs = common::discs::bchunk(&fx.join("single.bin"), &fx.join("single.cue"), "t");
    assert!(
        wav[..] == std::fs::read(theirs.path().join("t02.wav"))?[..],
        "the WAV differs from bchunk's"
    );
    let saved = theirs.path().join("ours.wav");
    std::fs::write(&saved, &wav)?;
    let mut read = Vec::new();
    for flag in ["-r", "-c", "-b", "-s"] {
        let out = std::process::Command::new("soxi")
            .arg(flag)
            .arg(&saved)
            .output()?;
        anyhow::ensure!(out.status.success(), "soxi {flag}");
        read.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let frames = (pcm.len() / 4).to_string();
    assert_eq!(
        read,
        ["44100", "2", "16", frames.as_str()],
        "rate, channels, bits, samples"
    );
    let r = app
        .client
        .get(app.url(&url))
        .header("range", "bytes=40-99")
        .send()
        .await?;
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await?[..], &wav[40..100]);
    let r = get(&app, &format!("/api/v1/discs/{id}/tracks/9.wav")).await?;
    assert_eq!(r.status(), 404);

    // The BIN files can be taken whole.
    let r = get(
        &app,
        &format!("/api/v1/discs/{id}/parts/disc%20(Track%202).bin"),
    )
    .await?;
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await?[..] == fixture("disc (Track 2).bin")[..]);
    Ok(())
}

async fn formats_and_failures(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;

    // Recognised but unsupported formats, and non-images, are refused at registration.
    let mut nrg = common::image(40_000, 3);
    nrg.extend_from_slice(b"NER5\0\0\0\0\0\0\0\0");
    let mut zip = b"PK\x03\x04".to_vec();
    zip.extend(common::image(5000, 4));
    for (data, code, words) in [
        (nrg, "unsupported-image-format", "Nero"),
        (zip, "unsupported-image-format", "ZIP"),
        (
            common::image(70_000, 5),
            "unsupported-image-format",
            "not a recognised disc image",
        ),
    ] {
        app.upload(&token, &data, 2 * PART as usize).await?;
        let r = register(&app, &token, json!({"sha256": sha256_hex(&data)})).await?;
        assert_eq!(r.status(), 422);
        let v: Value = r.json().await?;
        assert_eq!(v["code"], code);
        assert!(
            v["detail"].as_str().unwrap_or_default().contains(words),
            "{v}"
        );
    }
    // Parts belong to CUE sheets only.
    let iso = put(&app, &token, "level1.iso").await?;
    let r = register(
        &app,
        &token,
        json!({"sha256": iso, "parts": [{"name": "x.bin", "sha256": iso}]}),
    )
    .await?;
    assert_eq!(r.status(), 422);

    // A truncated image registers (its descriptors are there) but cannot be read: the disc
    // says why, and browsing answers 409 with the reason rather than a partial tree.
    let mut cut = fixture("rr-joliet.iso");
    cut.truncate(cut.len() / 2);
    app.upload(&token, &cut, 2 * PART as usize).await?;
    let r = register(
        &app,
        &token,
        json!({"sha256": sha256_hex(&cut), "open": true}),
    )
    .await?;
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await?["id"].as_i64().unwrap_or_default();
    let disc = wait_indexed(&app, None, id).await?;
    assert_eq!(disc["image"]["status"], "failed");
    assert_eq!(disc["image"]["error_code"], "image-truncated");
    let r = get(&app, &format!("/api/v1/discs/{id}/files/")).await?;
    assert_eq!(r.status(), 409);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "image-not-readable");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("truncated"),
        "{v}"
    );

    // Content classes: DVD-Video is Audiovisual, an audio CD is Sound.
    let dvd = put(&app, &token, "dvd.iso").await?;
    let r = register(&app, &token, json!({"sha256": dvd, "open": true})).await?;
    let id = r.json::<Value>().await?["id"].as_i64().unwrap_or_default();
    let v = wait_indexed(&app, None, id).await?;
    assert_eq!(v["image"]["content_class"], "Audiovisual");
    assert_eq!(v["image"]["formats"][0], "udf-1.02");
    let cue = put(&app, &token, "audio.cue").await?;
    let bin = put(&app, &token, "audio.bin").await?;
    let r = register(
        &app,
        &token,
        json!({"sha256": cue, "parts": [{"name": "audio.bin", "sha256": bin}], "open": true}),
    )
    .await?;
    let id = r.json::<Value>().await?["id"].as_i64().unwrap_or_default();
    let v = wait_indexed(&app, None, id).await?;
    assert_eq!(v["image"]["content_class"], "Sound");
    assert_eq!(v["image"]["launch_url"], Value::Null);
    let r = get(&app, &format!("/api/v1/discs/{id}/launch")).await?;
    assert_eq!(r.status(), 404);
    Ok(())
}

async fn closed_discs_stay_closed(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("A").await?;
    app.member("B").await?;
    let a = app.librarian("A").await?;
    let b = app.librarian("B").await?;
    let sha = put(&app, &a, "level1.iso").await?;
    let r = register(&app, &a, json!({"sha256": sha})).await?;
    let id = r.json::<Value>().await?["id"].as_i64().unwrap_or_default();
    wait_indexed(&app, Some(&a), id).await?;
    for path in [
        "files/",
        "files/README.TXT",
        "tree",
        "zip",
        "launch",
        "tracks/1.wav",
    ] {
        let url = app.url(&format!("/api/v1/discs/{id}/{path}"));
        assert_eq!(
            app.client.get(&url).send().await?.status(),
            403,
            "{path} anonymous, outside the member's ranges"
        );
        assert_eq!(
            app.client.get(&url).bearer_auth(&b).send().await?.status(),
            403,
            "{path} other member"
        );
    }
    let r = app
        .client
        .get(app.url(&format!("/api/v1/discs/{id}/files/README.TXT")))
        .bearer_auth(&a)
        .send()
        .await?;
    assert_eq!(r.text().await?, "one\n");
    Ok(())
}

/// A Video CD uploaded as its BIN/CUE: the file route serves the MPEG stream from the form 2
/// sectors, whole and by range, byte for byte what ffmpeg made; the same disc ripped to an ISO
/// is indexed and says that its video was lost.
async fn a_video_cd_serves_its_video_files(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let cue = put(&app, &token, "vcd.cue").await?;
    let bin = put(&app, &token, "vcd.bin").await?;
    let r = register(
        &app,
        &token,
        json!({"sha256": cue, "parts": [{"name": "vcd.bin", "sha256": bin}], "open": true}),
    )
    .await?;
    ensure!(r.status() == 201, "register: {}", r.status());
    let id = r.json::<Value>().await?["id"].as_i64().unwrap_or_default();
    let disc = wait_indexed(&app, None, id).await?;
    let formats = disc["image"]["formats"].to_string();
    ensure!(formats.contains("\"vcd\""), "{formats}");
    let vcd = id;
    // The disc lists its sequence as a title to play, with what ffprobe would say of it.
    let media = &disc["image"]["media"];
    ensure!(media.as_array().map(Vec::len) == Some(1), "{media}");
    let title = &media[0];
    ensure!(
        title["kind"] == "video" && title["standard"] == "vcd",
        "{title}"
    );
    ensure!(title["width"] == 352 && title["height"] == 288, "{title}");
    let seconds = title["seconds"].as_f64().unwrap_or_default();
    ensure!((seconds - 4.0).abs() < 0.1, "{title}");
    ensure!(
        title["files"][0] == format!("/api/v1/discs/{id}/files/MPEGAV/AVSEQ01.DAT"),
        "{title}"
    );
    let page = get(&app, &format!("/discs/{id}")).await?.text().await?;
    ensure!(
        page.contains("MPEGAV/AVSEQ01.DAT</span> · 0:04 · 352×288"),
        "{page}"
    );
    let path = format!("/api/v1/discs/{id}/files/MPEGAV/AVSEQ01.DAT");
    let dat = get(&app, &path).await?.bytes().await?;
    let mpg = fixture("vcd.mpg");
    ensure!(dat.len() % 2324 == 0, "{} bytes", dat.len());
    let at = dat
        .windows(4096)
        .position(|w| w == &mpg[..4096])
        .ok_or_else(|| anyhow::anyhow!("the MPEG stream is not in the served file"))?;
    ensure!(dat[at..at + mpg.len()] == mpg[..], "the stream differs");
    // A range across several sectors' payloads.
    let (lo, hi) = (at as u64 + 5000, at as u64 + 12_000);
    let r = app
        .client
        .get(app.url(&path))
        .header("Range", format!("bytes={lo}-{hi}"))
        .send()
        .await?;
    ensure!(r.status() == 206, "{}", r.status());
    let part = r.bytes().await?;
    ensure!(
        part[..] == dat[lo as usize..=hi as usize],
        "the range differs"
    );

    // The title as one file is the sequence's bytes.
    let title = get(&app, &format!("/api/v1/discs/{id}/titles/1")).await?;
    ensure!(title.status() == 200, "{}", title.status());
    ensure!(title.bytes().await? == dat, "title 1 is AVSEQ01.DAT");
    let r = get(&app, &format!("/api/v1/discs/{id}/titles/2")).await?;
    ensure!(r.status() == 404, "{}", r.status());
    ensure!(r.json::<Value>().await?["code"] == "title-not-found");

    let rip = put(&app, &token, "vcd-rip.iso").await?;
    let r = register(&app, &token, json!({"sha256": rip, "open": true})).await?;
    let id = r.json::<Value>().await?["id"].as_i64().unwrap_or_default();
    let disc = wait_indexed(&app, None, id).await?;
    let image = &disc["image"];
    ensure!(image["status"] == "indexed", "{image}");
    ensure!(
        image["formats"].to_string().contains("vcd-video-lost"),
        "{image}"
    );
    ensure!(
        image["warnings"].to_string().contains("upload the BIN/CUE"),
        "{image}"
    );
    // The disc's page says so to readers and librarians, in their language.
    let page = get(&app, &format!("/discs/{id}?lang=zh"))
        .await?
        .text()
        .await?;
    ensure!(
        page.contains("id=\"video-lost\"") && page.contains("视频不在其中"),
        "{page}"
    );
    let page = get(&app, &format!("/discs/{vcd}")).await?.text().await?;
    ensure!(!page.contains("video-lost"), "the playable VCD: {page}");
    Ok(())
}

/// A DVD-Video disc made by dvdauthor: each title, its cells joined from the VOBs, plays in
/// ffprobe from Spindle's URL for as long as the stream it was made from.
async fn a_dvd_serves_its_titles_as_one_stream_each(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let sha = put(&app, &token, "dvd-video.iso").await?;
    let r = register(&app, &token, json!({"sha256": sha, "open": true})).await?;
    let id = r.json::<Value>().await?["id"].as_i64().unwrap_or_default();
    let disc = wait_indexed(&app, None, id).await?;
    let media = &disc["image"]["media"];
    ensure!(media.as_array().map(Vec::len) == Some(2), "{media}");
    for n in 1..=2 {
        let title = &media[n - 1];
        ensure!(
            title["standard"] == "dvd-video" && title["video_codec"] == "mpeg2video",
            "{title}"
        );
        let url = app.url(&format!("/api/v1/discs/{id}/titles/{n}"));
        ensure!(
            title["url"] == format!("/api/v1/discs/{id}/titles/{n}"),
            "{title}"
        );
        let served = common::discs::ffprobe_seconds(url.as_ref());
        let source = common::discs::fixtures().join(format!("title{n}.mpg"));
        let made = common::discs::ffprobe_seconds(source.as_os_str());
        ensure!(
            (served - made).abs() < 0.1,
            "title {n}: ffprobe says {served} s, made {made} s"
        );
        let listed = title["seconds"].as_f64().unwrap_or_default();
        ensure!(
            (listed - made).abs() < 0.1,
            "title {n}: listed {listed} s, made {made} s"
        );
        let whole = app.client.get(&url).send().await?.bytes().await?;
        ensure!(whole.len() as u64 == title["bytes"].as_u64().unwrap_or_default());
        let r = app
            .client
            .get(&url)
            .header("Range", "bytes=1000-70000")
            .send()
            .await?;
        ensure!(r.status() == 206, "{}", r.status());
        ensure!(
            r.bytes().await? == whole[1000..=70000],
            "title {n}: the range differs"
        );
    }
    Ok(())
}

on_both_backends!(
    a_video_cd_serves_its_video_files,
    a_dvd_serves_its_titles_as_one_stream_each,
    browse_a_web_disc,
    zip_of_a_directory,
    bin_cue_with_audio,
    formats_and_failures,
    closed_discs_stay_closed
);
