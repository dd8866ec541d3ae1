//! Resumable uploads over tus, against SQLite + local directory and PostgreSQL + Garage:
//! the happy path, deduplication, lying uploads, offsets, expiry, termination, a client
//! that disconnects mid-body, and the protocol's own rules.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use anyhow::Result;
use common::{Backend, PART, TestApp, header, image, iso_image, sha256_hex};
use reqwest::Method;
use spindle_storage::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

on_both_backends!(
    upload_in_parts_then_download,
    existing_blob_costs_no_transfer,
    lying_uploads_leave_nothing_visible,
    offsets_and_lifecycle,
    client_disconnect_keeps_whole_parts,
    tus_protocol_rules,
    other_members_uploads_are_forbidden,
    a_refusal_is_heard_while_the_body_is_still_coming,
    open_uploads_are_capped_per_member,
    knowing_a_hash_is_not_holding_the_bytes,
);

async fn blob_visible(app: &TestApp, sha: &str) -> Result<bool> {
    let digest: Digest = sha.parse()?;
    Ok(app.state.blobs.size(&digest).await?.is_some())
}

async fn upload_in_parts_then_download(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let token = app.librarian("PKU").await?;
    let data = iso_image(2 * PART as usize + 12_345, 1);
    let sha = sha256_hex(&data);

    let r = app.create_upload(&token, &sha, data.len() as u64).await?;
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "tus-resumable"), "1.0.0");
    assert!(!header(&r, "upload-expires").is_empty());
    let location = header(&r, "location");
    assert!(location.starts_with("/api/v1/uploads/"));

    // One whole part plus 100 bytes: the offset advances by whole parts only.
    let r = app
        .patch(&token, &location, 0, data[..PART as usize + 100].to_vec())
        .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "upload-offset"), PART.to_string());
    assert_eq!(app.head_offset(&token, &location).await?, PART);
    assert!(
        !blob_visible(&app, &sha).await?,
        "nothing visible before the last byte"
    );

    let r = app
        .patch(&token, &location, PART, data[PART as usize..].to_vec())
        .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "upload-offset"), data.len().to_string());
    assert!(blob_visible(&app, &sha).await?);

    let r = app
        .client
        .head(app.url(&format!("/api/v1/blobs/{sha}")))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "spindle-blob-size"), data.len().to_string());

    let status: serde_json::Value = app
        .tus(Method::GET, &location, &token)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(status["sha256"], sha.as_str());
    assert_eq!(status["complete"], true);

    let r = app
        .client
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"sha256": sha, "filename": "光盘 1.iso", "isbn": "978-7-111-54742-6", "barcode": "C0001"}))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let disc: serde_json::Value = r.json().await?;
    assert_eq!(disc["isbn"], "9787111547426");
    assert_eq!(disc["isbn10"], "711154742X");
    let r = app
        .client
        .get(app.url(disc["image_url"].as_str().unwrap()))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "etag"), format!("\"{sha}\""));
    assert_eq!(
        header(&r, "content-disposition"),
        "attachment; filename=\"__ 1.iso\"; filename*=UTF-8''%E5%85%89%E7%9B%98%201.iso"
    );
    let body = r.bytes().await?;
    assert_eq!(body.len(), data.len());
    assert!(body.as_ref() == data.as_slice(), "downloaded bytes differ");

    let metrics = app.metrics().await?;
    assert!(
        metrics.contains(&format!("spindle_image_bytes_sent_total {}", data.len())),
        "{metrics}"
    );
    assert!(
        metrics.contains("spindle_uploads_finished_total{outcome=\"complete\"} 1"),
        "{metrics}"
    );
    Ok(())
}

async fn existing_blob_costs_no_transfer(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("PKU").await?;
    let b = app.librarian("THU").await?;
    let data = image(PART as usize / 2, 2);
    let sha = sha256_hex(&data);

    let r = app
        .client
        .head(app.url(&format!("/api/v1/blobs/{sha}")))
        .bearer_auth(&b)
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    app.upload(&a, &data, data.len()).await?;
    let r = app
        .client
        .head(app.url(&format!("/api/v1/blobs/{sha}")))
        .bearer_auth(&b)
        .send()
        .await?;
    assert_eq!(r.status(), 200);

    // Another member declares the same bytes: the upload is complete before it starts.
    let r = app.create_upload(&b, &sha, data.len() as u64).await?;
    assert_eq!(r.status(), 201);
    assert_eq!(header(&r, "upload-offset"), data.len().to_string());
    assert_eq!(header(&r, "spindle-blob-exists"), "true");
    // ...but not with another size.
    let r = app.create_upload(&b, &sha, data.len() as u64 + 1).await?;
    assert_eq!(r.status(), 422);
    let e: serde_json::Value = r.json().await?;
    assert_eq!(e["code"], "size-mismatch");

    let r = app
        .client
        .head(app.url("/api/v1/blobs/not-hex"))
        .bearer_auth(&b)
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    let r = app
        .client
        .head(app.url(&format!("/api/v1/blobs/{sha}")))
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    Ok(())
}

async fn lying_uploads_leave_nothing_visible(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let token = app.librarian("PKU").await?;
    let data = image(PART as usize + 999, 3);
    let real = sha256_hex(&data);

    // Declares another hash.
    let claimed = sha256_hex(b"something else");
    let r = app
        .create_upload(&token, &claimed, data.len() as u64)
        .await?;
    let location = header(&r, "location");
    let r = app.patch(&token, &location, 0, data.clone()).await?;
    assert_eq!(r.status(), 422);
    let e: serde_json::Value = r.json().await?;
    assert_eq!(e["code"], "hash-mismatch");
    assert!(!blob_visible(&app, &claimed).await? && !blob_visible(&app, &real).await?);
    let r = app.tus(Method::HEAD, &location, &token).send().await?;
    assert_eq!(r.status(), 410, "a failed upload is gone");
    let r = app
        .client
        .head(app.url(&format!("/api/v1/blobs/{claimed}")))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(r.status(), 404);

    // Sends more bytes than declared: refused from Content-Length before the body is read...
    let r = app
        .create_upload(&token, &real, data.len() as u64 - 10)
        .await?;
    let location = header(&r, "location");
    let head = common::patch_head(
        &app,
        &location,
        &token,
        0,
        &format!("Content-Length: {}", data.len()),
    );
    assert_eq!(common::raw_request(&app, head, vec![]).await?, 413);
    // ...and, when the length is not announced, as soon as the bytes run past it.
    let head = common::patch_head(&app, &location, &token, 0, "Transfer-Encoding: chunked");
    let mut chunked = Vec::new();
    for c in data.chunks(64 * 1024) {
        chunked.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        chunked.extend_from_slice(c);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(common::raw_request(&app, head, chunked).await?, 413);
    // The whole first part was fine and is kept; the lie never reaches the store.
    assert_eq!(app.head_offset(&token, &location).await?, PART);
    assert!(!blob_visible(&app, &real).await?);

    // Sends fewer bytes than declared and stops: nothing is complete.
    let r = app
        .create_upload(&token, &real, data.len() as u64 + 10)
        .await?;
    let location = header(&r, "location");
    let r = app.patch(&token, &location, 0, data.clone()).await?;
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "upload-offset"), PART.to_string());
    assert!(!blob_visible(&app, &real).await?);

    // Bad declarations are refused before any byte moves.
    for (meta, code) in [
        ("filename ZGlzYy5pc28=", "missing-sha256"),
        ("sha256 bm90LWhleA==", "invalid-sha256"),
        ("sha256 !!!", "invalid-metadata"),
    ] {
        let r = app
            .tus(Method::POST, "/api/v1/uploads", &token)
            .header("Upload-Length", "10")
            .header("Upload-Metadata", meta)
            .send()
            .await?;
        assert_eq!(r.status(), 400, "{meta}");
        let e: serde_json::Value = r.json().await?;
        assert_eq!(e["code"], code, "{meta}");
    }
    for (length, status) in [
        ("0", 400),
        ("-1", 400),
        ("abc", 400),
        ("99999999999999", 413),
    ] {
        let r = app
            .tus(Method::POST, "/api/v1/uploads", &token)
            .header("Upload-Length", length)
            .header("Upload-Metadata", common::metadata(&real, "x.iso"))
            .send()
            .await?;
        assert_eq!(r.status(), status, "Upload-Length {length}");
    }
    Ok(())
}

async fn offsets_and_lifecycle(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let token = app.librarian("PKU").await?;
    let data = image(2 * PART as usize, 4);
    let sha = sha256_hex(&data);
    let r = app.create_upload(&token, &sha, data.len() as u64).await?;
    let location = header(&r, "location");

    // Errors found from the headers are answered before the body is read (and the
    // connection is then closed rather than drained), so these send small bodies or go raw.
    let r = app
        .patch(&token, &location, 5, data[5..100].to_vec())
        .await?;
    assert_eq!(r.status(), 409);
    let e: serde_json::Value = r.json().await?;
    assert_eq!(e["code"], "offset-mismatch");
    let head = common::patch_head(
        &app,
        &location,
        &token,
        5,
        &format!("Content-Length: {}", data.len() - 5),
    );
    assert_eq!(
        common::raw_request(&app, head, data[5..].to_vec()).await?,
        409
    );

    let r = app
        .patch(
            &token,
            "/api/v1/uploads/00000000000000000000000000000000",
            0,
            vec![1],
        )
        .await?;
    assert_eq!(r.status(), 404);
    let r = app
        .patch(&token, "/api/v1/uploads/../../etc", 0, vec![1])
        .await?;
    assert_eq!(r.status(), 404);

    // Termination frees it; afterwards it is gone.
    app.patch(&token, &location, 0, data[..PART as usize].to_vec())
        .await?;
    let r = app.tus(Method::DELETE, &location, &token).send().await?;
    assert_eq!(r.status(), 204);
    let r = app
        .patch(&token, &location, PART, data[PART as usize..].to_vec())
        .await?;
    assert_eq!(r.status(), 410);
    assert!(!blob_visible(&app, &sha).await?);

    // Expiry: the sweeper aborts it, later requests get 410.
    let r = app.create_upload(&token, &sha, data.len() as u64).await?;
    let location = header(&r, "location");
    app.patch(&token, &location, 0, data[..PART as usize].to_vec())
        .await?;
    let id = location.rsplit('/').next().unwrap();
    spindle::db::on_pool!(&app.state.db, pool => {
        sqlx::query("UPDATE uploads SET expires_at = 0 WHERE id = $1").bind(id).execute(pool).await?;
    });
    let r = app.tus(Method::HEAD, &location, &token).send().await?;
    assert_eq!(r.status(), 410, "expired before the sweep");
    assert_eq!(spindle::uploads::sweep(&app.state.uploads).await?, 1);
    let r = app
        .patch(&token, &location, PART, data[PART as usize..].to_vec())
        .await?;
    assert_eq!(r.status(), 410);
    let e: serde_json::Value = r.json().await?;
    assert_eq!(e["code"], "upload-expired");
    if backend == Backend::SqliteLocal {
        let staging = app.state.config.local_staging_path();
        assert_eq!(
            std::fs::read_dir(staging)?.count(),
            0,
            "expired staging files are removed"
        );
    }
    Ok(())
}

/// A client that sends a part and a half and then vanishes: the whole part is kept and the
/// upload resumes from it.
async fn client_disconnect_keeps_whole_parts(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let token = app.librarian("PKU").await?;
    let data = image(2 * PART as usize + 7, 5);
    let sha = sha256_hex(&data);
    let r = app.create_upload(&token, &sha, data.len() as u64).await?;
    let location = header(&r, "location");

    let addr = app.base.trim_start_matches("http://").to_string();
    let mut tcp = tokio::net::TcpStream::connect(&addr).await?;
    let head = format!(
        "PATCH {location} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\nContent-Length: {}\r\n\r\n",
        data.len()
    );
    tcp.write_all(head.as_bytes()).await?;
    tcp.write_all(&data[..PART as usize * 3 / 2]).await?;
    tcp.flush().await?;
    // The whole part is committed while the request is still open.
    let mut offset = 0;
    for _ in 0..300 {
        let r = app.tus(Method::HEAD, &location, &token).send().await?;
        if r.status() == 200 {
            offset = header(&r, "upload-offset").parse()?;
            if offset == PART {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(offset, PART, "the first part while the request is open");
    drop(tcp);

    // The half part after it is dropped with the connection.
    let mut offset = 0;
    for _ in 0..100 {
        let r = app.tus(Method::HEAD, &location, &token).send().await?;
        if r.status() == 200 {
            offset = header(&r, "upload-offset").parse()?;
            if offset == PART {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(offset, PART);
    let r = app
        .patch(&token, &location, PART, data[PART as usize..].to_vec())
        .await?;
    assert_eq!(r.status(), 204, "{}", r.text().await?);
    assert!(blob_visible(&app, &sha).await?);
    let digest: Digest = sha.parse()?;
    assert!(app.state.blobs.read_all(&digest).await?.as_ref() == data.as_slice());
    Ok(())
}

async fn tus_protocol_rules(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let token = app.librarian("PKU").await?;

    let r = app
        .client
        .request(Method::OPTIONS, app.url("/api/v1/uploads"))
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "tus-version"), "1.0.0");
    assert_eq!(
        header(&r, "tus-extension"),
        "creation,termination,expiration"
    );
    assert_eq!(header(&r, "spindle-part-size"), PART.to_string());
    assert!(header(&r, "tus-max-size").parse::<u64>()? > 0);

    let r = app
        .client
        .post(app.url("/api/v1/uploads"))
        .bearer_auth(&token)
        .header("Upload-Length", "10")
        .send()
        .await?;
    assert_eq!(r.status(), 412, "no Tus-Resumable");
    assert_eq!(header(&r, "tus-version"), "1.0.0");

    let data = image(1000, 6);
    let r = app.create_upload(&token, &sha256_hex(&data), 1000).await?;
    let location = header(&r, "location");
    let r = app
        .tus(Method::PATCH, &location, &token)
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/octet-stream")
        .body(data.clone())
        .send()
        .await?;
    assert_eq!(r.status(), 415);
    let r = app
        .tus(Method::PATCH, &location, &token)
        .header("Content-Type", "application/offset+octet-stream")
        .body(data.clone())
        .send()
        .await?;
    assert_eq!(r.status(), 400, "no Upload-Offset");
    let r = app.patch(&token, &location, 0, data.clone()).await?;
    assert_eq!(r.status(), 204);
    // A completed upload answers an empty PATCH at its end, and refuses more bytes.
    let r = app.patch(&token, &location, 1000, vec![]).await?;
    assert_eq!(r.status(), 204);
    let r = app.patch(&token, &location, 1000, vec![1]).await?;
    assert_eq!(r.status(), 413);
    let r = app.tus(Method::DELETE, &location, &token).send().await?;
    assert_eq!(r.status(), 409);
    Ok(())
}

async fn other_members_uploads_are_forbidden(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("PKU").await?;
    let b = app.librarian("THU").await?;
    let admin = app.admin().await?;
    let data = image(1000, 7);
    let r = app.create_upload(&a, &sha256_hex(&data), 1000).await?;
    let location = header(&r, "location");

    let r = app.tus(Method::HEAD, &location, &b).send().await?;
    assert_eq!(r.status(), 403);
    let r = app.patch(&b, &location, 0, data.clone()).await?;
    assert_eq!(r.status(), 403);
    let r = app.tus(Method::DELETE, &location, &b).send().await?;
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .head(app.url(&location))
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    assert_eq!(header(&r, "www-authenticate"), "Bearer");
    let r = app
        .client
        .head(app.url(&location))
        .header("Tus-Resumable", "1.0.0")
        .bearer_auth("spindle_not-a-real-token")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .head(app.url(&location))
        .header("Tus-Resumable", "1.0.0")
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    // The admin may act for every member.
    assert_eq!(app.head_offset(&admin, &location).await?, 0);
    Ok(())
}

/// A PATCH refused before its body is read (here: an upload that does not exist) is answered
/// after the server has read the rest of the body, so a client that writes its whole part
/// before reading (as most HTTP clients do) hears the 404 instead of a broken pipe, and the
/// connection stays usable. The race this closes made `offsets_and_lifecycle` fail in CI.
async fn a_refusal_is_heard_while_the_body_is_still_coming(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let token = app.librarian("PKU").await?;
    let location = "/api/v1/uploads/00000000000000000000000000000000";
    let body = vec![7u8; 6 * 1024 * 1024];
    let stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await?;
    let (mut rd, mut wr) = stream.into_split();
    let head = common::patch_head(
        &app,
        location,
        &token,
        0,
        &format!("Content-Length: {}", body.len()),
    );
    wr.write_all(head.as_bytes()).await?;
    // Slowly enough that the handler has long answered before the last byte is sent.
    for piece in body.chunks(256 * 1024) {
        wr.write_all(piece).await?;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let first = read_response(&mut rd, true).await?;
    assert!(first.starts_with("HTTP/1.1 404"), "{first}");
    assert!(first.contains("application/problem+json"), "{first}");
    assert!(
        !first.to_ascii_lowercase().contains("connection: close"),
        "the whole body was read, so the connection is kept: {first}"
    );
    // The same connection carries the next request.
    let head = format!(
        "HEAD {location} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\r\n"
    );
    wr.write_all(head.as_bytes()).await?;
    let second = read_response(&mut rd, false).await?;
    assert!(second.starts_with("HTTP/1.1 404"), "{second}");
    Ok(())
}

/// One response's head and, `with_body`, its (Content-Length) body, off a raw connection.
async fn read_response(rd: &mut tokio::net::tcp::OwnedReadHalf, with_body: bool) -> Result<String> {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), rd.read(&mut byte)).await??;
        anyhow::ensure!(n == 1, "the connection closed mid-answer: {buf:?}");
        buf.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    if !with_body {
        return Ok(head);
    }
    let mut body = vec![0u8; length];
    tokio::time::timeout(Duration::from_secs(30), rd.read_exact(&mut body)).await??;
    Ok(head + &String::from_utf8_lossy(&body))
}

/// Issue 24, item 4: one librarian cannot open uploads without end. A member's open uploads
/// and the bytes they announced but did not send are capped: past either, 429 with a code
/// naming the cap, and nothing is created; ending an upload makes room; another member is
/// not held back by this one's uploads.
async fn open_uploads_are_capped_per_member(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend)
        .config(|c| {
            c.upload.max_open_per_member = 3;
            c.upload.max_pending_bytes_per_member = 10 * PART;
        })
        .start()
        .await?;
    let token = app.librarian("PKU").await?;
    let sha = |n: u8| sha256_hex(&[n; 16]);
    let open_count = |app: &TestApp| {
        let db = app.state.db.clone();
        async move {
            let member = spindle::db::members::by_code(&db, "PKU")
                .await?
                .map(|m| m.id);
            anyhow::Ok(spindle::db::uploads::open_of(&db, member, 0).await?.0)
        }
    };
    let mut locations = Vec::new();
    for n in 0..3 {
        let r = app.create_upload(&token, &sha(n), PART).await?;
        assert_eq!(r.status(), 201);
        locations.push(header(&r, "location"));
    }
    let r = app.create_upload(&token, &sha(3), PART).await?;
    assert_eq!(r.status(), 429);
    let problem: serde_json::Value = r.json().await?;
    assert_eq!(problem["code"], "too-many-uploads", "{problem}");
    assert_eq!(open_count(&app).await?, 3, "nothing was created");
    // Another member's librarian still uploads.
    let other = app.librarian("THU").await?;
    assert_eq!(
        app.create_upload(&other, &sha(9), PART).await?.status(),
        201
    );
    // Cancelling one makes room; a large one then passes the bytes cap.
    let r = app
        .tus(Method::DELETE, &locations[0], &token)
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    let r = app.create_upload(&token, &sha(4), 9 * PART).await?;
    assert_eq!(r.status(), 429);
    let problem: serde_json::Value = r.json().await?;
    assert_eq!(problem["code"], "too-many-bytes-pending", "{problem}");
    assert!(
        problem["detail"]
            .as_str()
            .is_some_and(|d| d.contains("max_pending_bytes_per_member")),
        "{problem}"
    );
    assert_eq!(open_count(&app).await?, 2);
    let r = app.create_upload(&token, &sha(4), 8 * PART).await?;
    assert_eq!(r.status(), 201);
    Ok(())
}

/// Issue 24, item 5: a member may register only bytes it holds. Another member's image, known
/// by its SHA-256 alone, is refused with nothing created until the member answers a challenge
/// from its own copy; wrong answers prove nothing and each challenge is answered once; an
/// admin is not asked.
async fn knowing_a_hash_is_not_holding_the_bytes(backend: Backend) -> Result<()> {
    use serde_json::{Value, json};
    let app = TestApp::start(backend).await?;
    let pku = app.librarian("PKU").await?;
    let thu = app.librarian("THU").await?;
    let data = iso_image(2 * spindle::config::MIB as usize, 24);
    let sha = sha256_hex(&data);
    app.disc(&pku, &data, json!({"open": false})).await?;

    let register = |token: String| {
        let app = &app;
        let sha = sha.clone();
        async move {
            app.client
                .post(app.url("/api/v1/discs"))
                .bearer_auth(token)
                .json(&json!({"sha256": sha, "filename": "theirs.iso", "open": true}))
                .send()
                .await
        }
    };
    let thu_discs = || async {
        let r = app
            .client
            .get(app.url("/api/v1/discs"))
            .bearer_auth(&thu)
            .send()
            .await?;
        anyhow::Ok(r.json::<Value>().await?.as_array().map_or(0, Vec::len))
    };
    let r = register(thu.clone()).await?;
    assert_eq!(r.status(), 403);
    let problem: Value = r.json().await?;
    assert_eq!(problem["code"], "possession-unproven");
    assert!(problem["detail"].as_str().unwrap().contains(&sha));
    assert_eq!(thu_discs().await?, 0, "nothing registered");

    // Announcing the bytes to tus is not holding them either.
    let r = app.create_upload(&thu, &sha, data.len() as u64).await?;
    assert_eq!(r.status(), 201);
    assert_eq!(register(thu.clone()).await?.status(), 403);

    let challenge = |token: String| {
        let app = &app;
        let sha = sha.clone();
        async move {
            let r = app
                .client
                .post(app.url(&format!("/api/v1/blobs/{sha}/challenges")))
                .bearer_auth(token)
                .json(&json!({}))
                .send()
                .await?;
            anyhow::Ok((r.status().as_u16(), r.json::<Value>().await?))
        }
    };
    let answer = |token: String, id: String, answers: Vec<String>| {
        let app = &app;
        let sha = sha.clone();
        async move {
            let r = app
                .client
                .post(app.url(&format!("/api/v1/blobs/{sha}/challenges/{id}")))
                .bearer_auth(token)
                .json(&json!({ "answers": answers }))
                .send()
                .await?;
            anyhow::Ok((r.status().as_u16(), r.json::<Value>().await?))
        }
    };

    // The member that uploaded holds the bytes: nothing to answer.
    let (status, held) = challenge(pku.clone()).await?;
    assert_eq!((status, &held["held"]), (200, &json!(true)), "{held}");

    let (status, c) = challenge(thu.clone()).await?;
    assert_eq!(status, 201, "{c}");
    assert_eq!(c["held"], false);
    let ranges = c["ranges"].as_array().unwrap();
    assert_eq!(ranges.len(), 8, "{c}");
    for r in ranges {
        let (at, len) = (r["offset"].as_u64().unwrap(), r["length"].as_u64().unwrap());
        assert_eq!(len, 64 * 1024);
        assert!(at + len <= data.len() as u64);
        // Not the zeros of the ISO's system area or padding, which anyone could hash.
        let bytes = &data[at as usize..(at + len) as usize];
        assert!(
            bytes.iter().any(|b| *b != bytes[0]),
            "a uniform range at {at}"
        );
    }
    let expires = c["expires_at"].as_i64().unwrap() - spindle::db::now();
    assert!((590..=600).contains(&expires), "expires in {expires} s");
    let right = common::answers_from(&c, &data)?;
    let id = c["id"].as_str().unwrap().to_string();

    // Another member cannot answer this member's challenge.
    let (status, p) = answer(pku.clone(), id.clone(), right.clone()).await?;
    assert_eq!((status, &p["code"]), (404, &json!("challenge-not-found")));

    // One wrong answer proves nothing, and the challenge is spent.
    let mut wrong = right.clone();
    wrong[3] = sha256_hex(b"a guess");
    let (status, p) = answer(thu.clone(), id.clone(), wrong).await?;
    assert_eq!(
        (status, &p["code"]),
        (403, &json!("possession-not-proven")),
        "{p}"
    );
    let (status, p) = answer(thu.clone(), id.clone(), right.clone()).await?;
    assert_eq!(
        (status, &p["code"]),
        (404, &json!("challenge-not-found")),
        "{p}"
    );
    assert_eq!(register(thu.clone()).await?.status(), 403);

    // Too few answers are refused as such.
    let (_, c) = challenge(thu.clone()).await?;
    let id = c["id"].as_str().unwrap().to_string();
    let (status, p) = answer(thu.clone(), id, vec![sha256_hex(b"one")]).await?;
    assert_eq!((status, &p["code"]), (422, &json!("invalid-field")), "{p}");

    // Answered from the bytes themselves: the member holds them and may register.
    let (_, c) = challenge(thu.clone()).await?;
    let id = c["id"].as_str().unwrap().to_string();
    let (status, p) = answer(thu.clone(), id, common::answers_from(&c, &data)?).await?;
    assert_eq!((status, &p["held"]), (200, &json!(true)), "{p}");
    let (status, _) = challenge(thu.clone()).await?;
    assert_eq!(status, 200, "held now");
    let r = register(thu.clone()).await?;
    assert_eq!(r.status(), 201);
    assert_eq!(thu_discs().await?, 1);

    // A consortium admin acts for every member and is not asked.
    app.member("ZZU").await?;
    let admin = app.admin().await?;
    let r = app
        .client
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&admin)
        .json(&json!({"sha256": sha, "member": "ZZU"}))
        .send()
        .await?;
    assert_eq!(r.status(), 201);

    // Bad input: a malformed hash, a blob nobody stored.
    let r = app
        .client
        .post(app.url("/api/v1/blobs/xyz/challenges"))
        .bearer_auth(&thu)
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    let r = app
        .client
        .post(app.url(&format!("/api/v1/blobs/{}/challenges", sha256_hex(b"none"))))
        .bearer_auth(&thu)
        .json(&json!({}))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    Ok(())
}
