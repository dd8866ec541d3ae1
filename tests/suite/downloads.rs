//! Disc registration and image downloads on both backend pairs: RFC 9110 Range and
//! conditionals case by case over real HTTP, and who may take which image.
#![allow(clippy::unwrap_used)]

use crate::common;

use anyhow::Result;
use common::{Backend, PART, TestApp, header, iso_image, sha256_hex};
use serde_json::json;

on_both_backends!(ranges_and_conditionals, access_to_images, registering_discs);

async fn ranges_and_conditionals(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let token = app.librarian("PKU").await?;
    let data = iso_image(PART as usize + 4321, 11);
    let n = data.len() as u64;
    let id = app.disc(&token, &data, json!({})).await?;
    let url = app.url(&format!("/api/v1/discs/{id}/image"));
    let etag = format!("\"{}\"", sha256_hex(&data));
    let get = |headers: Vec<(&'static str, String)>| {
        let mut rb = app.client.get(&url).bearer_auth(&token);
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        rb.send()
    };

    // Single, open-ended and suffix ranges: (Range, status, expected slice).
    let cases: Vec<(String, u16, std::ops::Range<usize>)> = vec![
        ("bytes=0-0".into(), 206, 0..1),
        ("bytes=10-19".into(), 206, 10..20),
        (format!("bytes={}-", n - 5), 206, n as usize - 5..n as usize),
        ("bytes=-7".into(), 206, n as usize - 7..n as usize),
        (format!("bytes=100-{}", n + 1000), 206, 100..n as usize),
        (format!("bytes=-{}", n + 10), 206, 0..n as usize),
        ("bytes=0-4,2-9".into(), 206, 0..10), // overlapping ranges merge into one part
    ];
    for (range, status, slice) in cases {
        let r = get(vec![("range", range.clone())]).await?;
        assert_eq!(r.status(), status, "{range}");
        assert_eq!(
            header(&r, "content-range"),
            format!("bytes {}-{}/{n}", slice.start, slice.end - 1),
            "{range}"
        );
        assert_eq!(
            header(&r, "content-length"),
            slice.len().to_string(),
            "{range}"
        );
        assert!(r.headers().get("content-encoding").is_none());
        assert!(r.bytes().await?.as_ref() == &data[slice], "{range}");
    }

    // Unsatisfiable: 416 with the length.
    for range in [
        format!("bytes={n}-"),
        "bytes=-0".to_string(),
        format!("bytes={}-{}", n + 1, n + 5),
    ] {
        let r = get(vec![("range", range.clone())]).await?;
        assert_eq!(r.status(), 416, "{range}");
        assert_eq!(
            header(&r, "content-range"),
            format!("bytes */{n}"),
            "{range}"
        );
        let e: serde_json::Value = r.json().await?;
        assert_eq!(e["code"], "range-not-satisfiable");
    }

    // Malformed or foreign units are ignored: the whole image, 200.
    for range in [
        "bytes=5-1",
        "bytes=abc",
        "lines=1-2",
        "bytes=1-2-3",
        "bytes 0-1",
    ] {
        let r = get(vec![("range", range.into())]).await?;
        assert_eq!(r.status(), 200, "{range}");
        assert_eq!(header(&r, "content-length"), n.to_string());
    }

    // Multiple ranges: multipart/byteranges with exact framing.
    let r = get(vec![("range", format!("bytes=0-9,{}-{}", n - 10, n - 1))]).await?;
    assert_eq!(r.status(), 206);
    let ct = header(&r, "content-type");
    let boundary = ct
        .strip_prefix("multipart/byteranges; boundary=")
        .unwrap()
        .to_string();
    let declared: usize = header(&r, "content-length").parse()?;
    let body = r.bytes().await?;
    assert_eq!(body.len(), declared);
    let mut expected = Vec::new();
    for (s, e) in [(0u64, 9u64), (n - 10, n - 1)] {
        expected.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-Type: application/x-iso9660-image\r\nContent-Range: bytes {s}-{e}/{n}\r\n\r\n").as_bytes(),
        );
        expected.extend_from_slice(&data[s as usize..=e as usize]);
    }
    expected.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    assert!(
        body.as_ref() == expected.as_slice(),
        "multipart body differs"
    );

    // Validators and conditionals.
    let r = get(vec![]).await?;
    assert_eq!(header(&r, "etag"), etag);
    assert_eq!(header(&r, "accept-ranges"), "bytes");
    let last_modified = header(&r, "last-modified");
    assert!(httpdate::parse_http_date(&last_modified).is_ok());
    drop(r);
    let r = get(vec![("if-none-match", etag.clone())]).await?;
    assert_eq!(r.status(), 304);
    let r = get(vec![("if-modified-since", last_modified.clone())]).await?;
    assert_eq!(r.status(), 304);
    let r = get(vec![("if-match", "\"other\"".into())]).await?;
    assert_eq!(r.status(), 412);
    let r = get(vec![
        ("if-range", etag.clone()),
        ("range", "bytes=0-9".into()),
    ])
    .await?;
    assert_eq!(r.status(), 206);
    let r = get(vec![
        ("if-range", "\"stale\"".into()),
        ("range", "bytes=0-9".into()),
    ])
    .await?;
    assert_eq!(r.status(), 200, "a stale If-Range gets the whole image");
    let r = get(vec![
        ("if-range", last_modified.clone()),
        ("range", "bytes=0-9".into()),
    ])
    .await?;
    assert_eq!(r.status(), 206);

    // HEAD: the headers of a GET, no body, and Range ignored.
    let r = app
        .client
        .head(&url)
        .bearer_auth(&token)
        .header("range", "bytes=0-9")
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-length"), n.to_string());
    assert_eq!(header(&r, "etag"), etag);

    // A download resumed with Range after an interruption gives identical bytes.
    let first = get(vec![("range", "bytes=0-999999".into())])
        .await?
        .bytes()
        .await?;
    let rest = get(vec![
        ("range", "bytes=1000000-".into()),
        ("if-range", etag.clone()),
    ])
    .await?
    .bytes()
    .await?;
    assert!([first.as_ref(), rest.as_ref()].concat() == data);
    Ok(())
}

async fn access_to_images(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("PKU").await?;
    let b = app.librarian("THU").await?;
    let admin = app.admin().await?;
    let closed = app
        .disc(&a, &iso_image(3000, 12), json!({"barcode": "X1"}))
        .await?;
    let open = app
        .disc(
            &a,
            &iso_image(3000, 13),
            json!({"barcode": "X2", "open": true}),
        )
        .await?;
    let img = |id: i64| app.url(&format!("/api/v1/discs/{id}/image"));

    let status = |r: reqwest::Response| r.status().as_u16();
    assert_eq!(
        status(app.client.get(img(closed)).bearer_auth(&a).send().await?),
        200
    );
    assert_eq!(
        status(
            app.client
                .get(img(closed))
                .bearer_auth(&admin)
                .send()
                .await?
        ),
        200
    );
    assert_eq!(
        status(app.client.get(img(closed)).bearer_auth(&b).send().await?),
        403
    );
    // A reader outside the member's ranges, without a signed link.
    assert_eq!(status(app.client.get(img(closed)).send().await?), 403);
    assert_eq!(
        status(
            app.client
                .get(img(closed))
                .bearer_auth("spindle_forged")
                .send()
                .await?
        ),
        401
    );
    assert_eq!(status(app.client.get(img(open)).send().await?), 200);
    assert_eq!(
        status(
            app.client
                .get(app.url(&format!("/api/v1/discs/{closed}")))
                .bearer_auth(&b)
                .send()
                .await?
        ),
        403
    );
    // Ids that are not discs are simply not found, whatever their shape.
    for path in [
        "/api/v1/discs/999999/image",
        "/api/v1/discs/abc/image",
        "/api/v1/discs/-1",
        "/api/v1/discs/0",
    ] {
        let r = app
            .client
            .get(app.url(path))
            .bearer_auth(&admin)
            .send()
            .await?;
        assert_eq!(r.status(), 404, "{path}");
        let e: serde_json::Value = r.json().await?;
        assert_eq!(e["code"], "disc-not-found");
    }
    // Lists are per member.
    let r = app
        .client
        .get(app.url("/api/v1/discs"))
        .bearer_auth(&a)
        .send()
        .await?;
    assert_eq!(
        r.json::<serde_json::Value>()
            .await?
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let r = app
        .client
        .get(app.url("/api/v1/discs?member=PKU"))
        .bearer_auth(&b)
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    Ok(())
}

async fn registering_discs(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("PKU").await?;
    let b = app.librarian("THU").await?;
    let admin = app.admin().await?;
    let data = iso_image(5000, 14);
    let sha = sha256_hex(&data);
    app.upload(&a, &data, data.len()).await?;
    let post = |token: &str, body: serde_json::Value| {
        app.client
            .post(app.url("/api/v1/discs"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let code = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        (status, v["code"].as_str().unwrap_or_default().to_string())
    };

    let r = post(
        &a,
        json!({"sha256": sha, "barcode": "B1", "isbn": "9787111547426"}),
    )
    .await?;
    assert_eq!(r.status(), 201);
    assert!(header(&r, "location").starts_with("/api/v1/discs/"));
    // The same registration again is answered with the existing disc.
    let r = post(&a, json!({"sha256": sha, "barcode": "B1"})).await?;
    assert_eq!(r.status(), 200);
    // Another member registers the same bytes (showing it holds them): stored once, linked
    // twice.
    app.prove(&b, &data, None).await?;
    assert_eq!(
        post(&b, json!({"sha256": sha, "barcode": "B1"}))
            .await?
            .status(),
        201
    );
    let other = iso_image(5001, 15);
    app.upload(&a, &other, other.len()).await?;
    assert_eq!(
        code(post(&a, json!({"sha256": sha256_hex(&other), "barcode": "B1"})).await?).await,
        (409, "disc-conflict".into())
    );
    assert_eq!(
        post(
            &a,
            json!({"sha256": sha256_hex(&other), "barcode": "B1", "disc_number": 2})
        )
        .await?
        .status(),
        201
    );

    // Without a barcode, the same image with the same identifiers is the same disc (a rerun
    // of a bulk upload); other identifiers, or no ISBN at all, make another disc.
    let id_of = |r: reqwest::Response| async move {
        let status = r.status().as_u16();
        let v: serde_json::Value = r.json().await.unwrap_or_default();
        (status, v["id"].as_i64().unwrap_or_default())
    };
    let plain = json!({"sha256": sha256_hex(&other), "isbn": "9787111547426"});
    let (status, first) = id_of(post(&a, plain.clone()).await?).await;
    assert_eq!(status, 201);
    assert_eq!(id_of(post(&a, plain).await?).await, (200, first));
    let no_isbn = json!({"sha256": sha256_hex(&other)});
    let (status, second) = id_of(post(&a, no_isbn.clone()).await?).await;
    assert_eq!(status, 201);
    assert_ne!(second, first);
    assert_eq!(id_of(post(&a, no_isbn).await?).await, (200, second));
    let (status, third) = id_of(
        post(
            &a,
            json!({"sha256": sha256_hex(&other), "isbn": "9787111547426", "disc_number": 2}),
        )
        .await?,
    )
    .await;
    assert_eq!(status, 201);
    assert!(third != first && third != second);

    assert_eq!(
        code(post(&a, json!({"sha256": sha, "isbn": "ISBN 12345"})).await?).await,
        (422, "invalid-isbn".into())
    );
    // A misprinted check digit is kept as catalogued, as a raw key.
    let r = post(
        &a,
        json!({"sha256": sha, "isbn": "978-7-111-54742-7", "barcode": "B9"}),
    )
    .await?;
    assert_eq!(r.status(), 201);
    let v: serde_json::Value = r.json().await?;
    assert_eq!(v["isbn"], "9787111547427");
    assert_eq!(v["isbn10"], serde_json::Value::Null);
    assert_eq!(
        code(post(&a, json!({"sha256": sha256_hex(b"nope")})).await?).await,
        (422, "blob-not-found".into())
    );
    assert_eq!(
        code(post(&a, json!({"sha256": "xyz"})).await?).await,
        (422, "invalid-sha256".into())
    );
    assert_eq!(
        code(post(&a, json!({"sha256": sha, "member": "THU"})).await?).await,
        (403, "forbidden".into())
    );
    assert_eq!(
        code(post(&admin, json!({"sha256": sha})).await?).await,
        (422, "member-required".into())
    );
    assert_eq!(
        code(post(&admin, json!({"sha256": sha, "member": "NOPE"})).await?).await,
        (422, "unknown-member".into())
    );
    assert_eq!(
        post(
            &admin,
            json!({"sha256": sha, "member": "THU", "barcode": "B9"})
        )
        .await?
        .status(),
        201
    );
    assert_eq!(
        code(post(&a, json!({"sha256": sha, "filename": "../../etc/passwd"})).await?).await,
        (422, "invalid-field".into())
    );
    assert_eq!(
        code(post(&a, json!({"sha256": sha, "label": "x".repeat(5000)})).await?).await,
        (422, "invalid-field".into())
    );
    assert_eq!(
        code(post(&a, json!({"sha256": sha, "disc_number": 0})).await?).await,
        (422, "invalid-field".into())
    );
    assert_eq!(
        code(post(&a, json!({"sha256": sha, "unknown": 1})).await?).await,
        (422, "invalid-json".into())
    );
    let r = app
        .client
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&a)
        .body("{not json")
        .header("content-type", "application/json")
        .send()
        .await?;
    assert_eq!(code(r).await, (400, "invalid-json".into()));
    let r = app
        .client
        .post(app.url("/api/v1/discs"))
        .json(&json!({"sha256": sha}))
        .send()
        .await?;
    assert_eq!(code(r).await, (401, "missing-token".into()));
    Ok(())
}
