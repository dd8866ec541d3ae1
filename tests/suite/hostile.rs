//! Hostile input, on both backend pairs: bodies and headers past their limits, injection
//! attempts through every search and lookup field, paths that try to leave a disc, tampered
//! signed links, the security headers every page carries, and no secret in the logs.

use crate::common;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use anyhow::{Context, Result};
use common::{Backend, TestApp, iso_image};
use serde_json::{Value, json};

on_both_backends!(limits_injection_and_headers);

fn with_query(url: String, pairs: &[(&str, &str)]) -> Result<reqwest::Url> {
    Ok(reqwest::Url::parse_with_params(&url, pairs)?)
}

/// Sends raw bytes and returns the status line's code (0 if the server closed without one).
fn raw(app: &TestApp, request: &[u8]) -> Result<u16> {
    let addr = app.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    // The server may answer and close before reading all of a refused request.
    let _ = s.write_all(request);
    let mut head = [0u8; 64];
    let n = s.read(&mut head).unwrap_or(0);
    let line = String::from_utf8_lossy(&head[..n]);
    Ok(line
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0))
}

async fn limits_injection_and_headers(backend: Backend) -> Result<()> {
    // Every attempt below with a made-up SUSHI key is a refused credential: the lock-out
    // (tested in `rate_limits`) would stop the test's own staff token before the end.
    let app = TestApp::on(backend)
        .config(move |c| c.limits.auth_failures_per_minute = 0)
        .start()
        .await?;
    let a = app.librarian("A").await?;
    let admin = app.admin().await?;
    app.set_networks(&admin, "A", &["127.0.0.0/8"]).await?;
    let disc = app
        .disc(
            &a,
            &iso_image(3000, 501),
            json!({"label": "Hostile test disc"}),
        )
        .await?;
    common::wait_indexed(&app, Some(&a), disc).await?;
    spindle::search::catch_up(&app.state.db).await?;
    // The disc is found by its words before any of the attempts below, so that an attempt
    // that matched everything would show it.
    let r = app
        .client
        .get(with_query(app.url("/search"), &[("q", "Hostile")])?)
        .send()
        .await?;
    assert!(r.text().await?.contains("Hostile test disc"));
    let c = &app.client;
    let staff = common::staff_client(&app, &a).await?;

    // ---- bodies and headers past their limits ----
    let big = format!("{{\"label\": \"{}\"}}", "x".repeat(3 * 1024 * 1024));
    let r = c
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&a)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await?;
    assert_eq!(r.status(), 413);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "body-too-large", "{v}");
    let r = c
        .post(app.url("/staff/sign-in"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={}", "x".repeat(3 * 1024 * 1024)))
        .send()
        .await?;
    assert_eq!(r.status(), 413);
    let huge_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(512 * 1024)
    );
    assert_eq!(raw(&app, huge_header.as_bytes())?, 431);
    let many: String = (0..200).map(|i| format!("X-H{i}: v\r\n")).collect();
    let many = format!("GET /healthz HTTP/1.1\r\nHost: x\r\n{many}\r\n");
    assert_eq!(raw(&app, many.as_bytes())?, 431);
    // A range past the end cannot be satisfied (416); one whose last byte comes before its
    // first is no valid range at all and is ignored, as RFC 9110 says (the whole image).
    let range = |spec: &'static str| {
        c.get(app.url(&format!("/api/v1/discs/{disc}/image")))
            .header("range", spec)
            .send()
    };
    assert_eq!(range("bytes=99999999-").await?.status(), 416);
    assert_eq!(range("bytes=99999999-1").await?.status(), 200);

    // NUL in text: refused in JSON, in tus metadata and in the address (PostgreSQL takes no
    // NUL in text, and SQLite would cut the text short).
    let r = c
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&a)
        .json(&json!({"sha256": common::random_hex(32), "label": "a\u{0}b"}))
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await?["code"], "invalid-character");
    let r = app
        .tus(reqwest::Method::POST, "/api/v1/uploads", &a)
        .header("Upload-Length", "100")
        .header(
            "Upload-Metadata",
            common::metadata(&common::random_hex(32), "a\0.iso"),
        )
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "invalid-metadata");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("filename"),
        "{v}"
    );

    // ---- injection through every search and lookup field ----
    let attempts = [
        "' OR '1'='1",
        "\"; DROP TABLE discs; --",
        "%",
        "_",
        "*",
        "\\",
        "NEAR(a b)",
        "a AND OR NOT",
        "\"unbalanced",
        "(((",
        "<script>alert(1)</script>",
        "\u{0}",
        "光盘' --",
    ];
    let long = "q".repeat(10_000);
    for q in attempts.iter().copied().chain([long.as_str()]) {
        let r = c
            .get(with_query(app.url("/search"), &[("q", q)])?)
            .send()
            .await?;
        let status = r.status().as_u16();
        let html = r.text().await?;
        assert!(
            status == 200 || status == 400,
            "search {q:?}: {status} {html}"
        );
        assert!(!html.contains("<script>alert(1)"), "unescaped: {q:?}");
        if status == 200 && q != "%" && q != "_" && q != "*" {
            assert!(
                !html.contains("Hostile test disc"),
                "search {q:?} matched everything"
            );
        }
        for (path, key) in [
            ("/api/v1/lookup", "isbn"),
            ("/api/v1/lookup", "barcode"),
            ("/api/v1/lookup", "record"),
        ] {
            let r = c
                .get(with_query(app.url(path), &[("member", "A"), (key, q)])?)
                .send()
                .await?;
            let status = r.status().as_u16();
            assert!(
                status == 200 || status == 400 || status == 404,
                "lookup {key}={q:?}: {status}"
            );
        }
        // The resolver links take the identifier in the path.
        let segment: String = q.bytes().map(|b| format!("%{b:02X}")).collect();
        for path in [
            format!("/r/isbn/{segment}"),
            format!("/r/A/barcode/{segment}"),
            format!("/r/A/record/{segment}"),
        ] {
            let status = c.get(app.url(&path)).send().await?.status().as_u16();
            assert!([400, 404].contains(&status), "{path}: {status}");
        }
        for report in ["pr", "ir"] {
            let r = c
                .get(with_query(
                    app.url(&format!("/sushi/r51/reports/{report}")),
                    &[("customer_id", q), ("api_key", q), ("begin_date", q)],
                )?)
                .send()
                .await?;
            assert!(
                r.status().is_client_error(),
                "SUSHI {report} {q:?}: {}",
                r.status()
            );
        }
        let r = staff
            .get(with_query(
                app.url("/staff/discs"),
                &[("member", q), ("tab", q)],
            )?)
            .send()
            .await?;
        let status = r.status().as_u16();
        let html = r.text().await?;
        assert!(
            [200, 400, 403, 404].contains(&status),
            "staff discs {q:?}: {status}"
        );
        assert!(!html.contains("<script>alert(1)"), "unescaped: {q:?}");
    }
    // The disc, its record and its files are all still there.
    let r = c
        .get(with_query(app.url("/search"), &[("q", "Hostile")])?)
        .send()
        .await?;
    assert!(r.text().await?.contains("Hostile test disc"));

    // ---- paths that try to leave the disc, ids that are not ids ----
    for path in [
        format!("/api/v1/discs/{disc}/files/../../../../etc/passwd"),
        format!("/api/v1/discs/{disc}/files/%2e%2e/%2e%2e/etc/passwd"),
        format!("/api/v1/discs/{disc}/files/data.bin%00.txt"),
        format!("/discs/{disc}/browse/..%2f..%2fetc"),
        "/api/v1/discs/1%20OR%201=1".to_string(),
        "/api/v1/discs/-1".to_string(),
        "/api/v1/discs/99999999999999999999999".to_string(),
        "/discs/1'/browse/".to_string(),
    ] {
        let r = c.get(app.url(&path)).send().await?;
        let status = r.status().as_u16();
        assert!(
            [400, 404].contains(&status),
            "{path}: {status} {}",
            r.text().await?
        );
    }

    // ---- signed links: tampered, truncated, re-signed scope ----
    let v: Value = c
        .post(app.url(&format!("/api/v1/discs/{disc}/signed-links")))
        .bearer_auth(&a)
        .json(&json!({"expires_in_secs": 600}))
        .send()
        .await?
        .json()
        .await?;
    let token = v["token"].as_str().context("token")?.to_string();
    app.set_networks(&admin, "A", &["198.51.100.0/24"]).await?;
    let outside = |t: String| {
        let url = app.url(&format!("/api/v1/discs/{disc}/image?access={t}"));
        async move { anyhow::Ok(reqwest::get(url).await?.status().as_u16()) }
    };
    assert_eq!(outside(token.clone()).await?, 200);
    let mut flipped = token.clone().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
    for t in [
        String::from_utf8(flipped)?,
        token[..token.len() - 3].to_string(),
        token.replacen('.', "", 1),
        format!("{token}x"),
        String::new(),
    ] {
        assert_eq!(outside(t.clone()).await?, 403, "{t}");
    }

    // ---- security headers on pages; nosniff on the API ----
    for path in [
        "/search".to_string(),
        format!("/discs/{disc}"),
        format!("/discs/{disc}/browse/"),
        "/staff/sign-in".to_string(),
        "/discs/99999999".to_string(),
    ] {
        let r = reqwest::get(app.url(&path)).await?;
        for (name, want) in [
            ("x-frame-options", "DENY"),
            ("x-content-type-options", "nosniff"),
            ("referrer-policy", "same-origin"),
        ] {
            assert_eq!(common::header(&r, name), want, "{path} {name}");
        }
        assert!(
            common::header(&r, "content-security-policy").contains("default-src 'self'")
                || common::header(&r, "content-security-policy").contains("default-src 'none'"),
            "{path}: {}",
            common::header(&r, "content-security-policy")
        );
    }
    let r = c
        .get(app.url(&format!("/api/v1/discs/{disc}")))
        .bearer_auth(&a)
        .send()
        .await?;
    assert_eq!(common::header(&r, "x-content-type-options"), "nosniff");
    Ok(())
}

/// No secret reaches the log, even at `debug`: staff tokens (bearer and sign-in form),
/// signed links, SUSHI keys, the session cookie, the S3 secret and the database password.
async fn no_secret_in_the_log(backend: Backend) -> Result<()> {
    use common::server::Deployment;
    let d = Deployment::new(backend, &[("SPINDLE_LOG__FILTER", "debug")]).await?;
    let server = d.start(None).await?;
    let base = server.base.clone();
    let disc = d.disc(&base, &iso_image(3000, 520)).await?;
    let client = common::http();
    let link: Value = client
        .post(format!("{base}/api/v1/discs/{disc}/signed-links"))
        .bearer_auth(&d.librarian)
        .json(&json!({"expires_in_secs": 600}))
        .send()
        .await?
        .json()
        .await?;
    let access = link["token"].as_str().context("link")?.to_string();
    let key: Value = client
        .post(format!("{base}/api/v1/sushi-keys"))
        .bearer_auth(&d.librarian)
        .json(&json!({"member": "A"}))
        .send()
        .await?
        .json()
        .await?;
    let api_key = key["api_key"].as_str().context("key")?.to_string();
    for url in [
        format!("{base}/api/v1/discs/{disc}/image?access={access}"),
        format!("{base}/discs/{disc}?access={access}"),
        format!(
            "{base}/sushi/r51/reports/pr?customer_id=A&api_key={api_key}&begin_date=2026-01&end_date=2026-01"
        ),
        format!("{base}/sushi/r51/status?customer_id=A&api_key=wrong{api_key}"),
    ] {
        client.get(url).send().await?;
    }
    client
        .get(format!("{base}/api/v1/discs/{disc}"))
        .bearer_auth(format!("{}x", d.librarian))
        .send()
        .await?;
    let staff = common::http_builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = staff
        .get(format!("{base}/staff/sign-in"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = common::form_token(&page)?;
    let r = staff
        .post(format!("{base}/staff/sign-in"))
        .form(&[
            ("token", d.librarian.as_str()),
            ("csrf", &csrf),
            ("next", "/staff/stats"),
        ])
        .send()
        .await?;
    let cookie = common::header(&r, "set-cookie");
    let session = cookie
        .split(';')
        .next()
        .and_then(|c| c.split_once('='))
        .map(|(_, v)| v.to_string())
        .context("session cookie")?;
    staff.get(format!("{base}/staff/stats")).send().await?;
    let o = common::server::spindle(d.dir.path(), &d.env, &["print-config"]);
    drop(server);

    let log = std::fs::read_to_string(d.dir.path().join("server.log"))? + &common::server::text(&o);
    assert!(log.contains("DEBUG"), "the log was not at debug level");
    let mut secrets = vec![
        ("librarian token", d.librarian.clone()),
        ("admin token", d.admin.clone()),
        ("signed link", access),
        ("SUSHI key", api_key),
        ("session", session),
        ("form token", csrf),
    ];
    if let Some(s3) = &d.config.storage.s3.secret_access_key
        && d.config.storage.backend == spindle::config::StorageBackend::S3
    {
        secrets.push(("S3 secret", s3.clone()));
    }
    if backend == Backend::PostgresGarage {
        let url = d.config.database.url.clone().context("database url")?;
        let parsed = reqwest::Url::parse(&url)?;
        let password = parsed
            .password()
            .context("the test PostgreSQL has no password: scripts/peers.sh starts it with one")?
            .to_string();
        // The password is needed: the same address without it is refused, so the check below
        // is about a real secret.
        let mut bare = parsed.clone();
        bare.set_password(None)
            .map_err(|()| anyhow::anyhow!("cannot drop the password"))?;
        anyhow::ensure!(
            sqlx::PgPool::connect(bare.as_str()).await.is_err(),
            "PostgreSQL let us in without the password"
        );
        secrets.push(("database password", password));
    }
    for (what, secret) in secrets {
        assert!(
            !log.contains(&secret),
            "the {what} is in the log:\n{}",
            log.lines()
                .filter(|l| l.contains(&secret))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    Ok(())
}

on_both_backends!(no_secret_in_the_log);

/// Reads until the server closes the connection; returns what it sent and how long it took,
/// or fails if the connection is still open after `limit`.
fn until_closed(s: &mut TcpStream, limit: Duration) -> Result<(String, Duration)> {
    let started = std::time::Instant::now();
    s.set_read_timeout(Some(limit))?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => anyhow::bail!("still open after {:?}: {e}", started.elapsed()),
        }
    }
    Ok((
        String::from_utf8_lossy(&got).into_owned(),
        started.elapsed(),
    ))
}

/// Slow and silent clients cannot hold connections: a request head must arrive within
/// `http.header_read_timeout_secs` (also between keep-alive requests), and an upload body
/// that stops bringing bytes is ended after `upload.body_idle_timeout_secs` with 408, its
/// whole parts kept.
async fn slow_clients_are_cut_off(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend)
        .config(move |c| {
            c.http.header_read_timeout_secs = 2;
            c.upload.body_idle_timeout_secs = 2;
        })
        .start()
        .await?;
    let a = app.librarian("A").await?;
    let addr = app.base.trim_start_matches("http://").to_string();
    let limit = Duration::from_secs(15);

    // Connects and says nothing.
    let mut silent = TcpStream::connect(&addr)?;
    let (_, took) = until_closed(&mut silent, limit)?;
    println!("silent connection closed after {took:?}");
    // Sends its head a byte at a time (slowloris).
    let mut slow = TcpStream::connect(&addr)?;
    let mut writer = slow.try_clone()?;
    let trickle = std::thread::spawn(move || {
        for b in b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: "
            .iter()
            .chain([b'a'; 100].iter())
        {
            if writer.write_all(&[*b]).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    let (said, took) = until_closed(&mut slow, limit)?;
    assert!(!said.contains("200 OK"), "{said}");
    assert!(took < Duration::from_secs(10), "{took:?}");
    let _ = trickle.join();
    // Idle between keep-alive requests.
    let mut idle = TcpStream::connect(&addr)?;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")?;
    let (said, took) = until_closed(&mut idle, limit)?;
    assert!(said.starts_with("HTTP/1.1 200"), "{said}");
    println!("idle keep-alive connection closed after {took:?}");

    // An upload body that stalls after one part and a little more.
    let data = iso_image(3 * common::PART as usize, 530);
    let r = app
        .create_upload(&a, &common::sha256_hex(&data), data.len() as u64)
        .await?;
    let location = common::header(&r, "location");
    let head = common::patch_head(
        &app,
        &location,
        &a,
        0,
        &format!("Content-Length: {}", data.len()),
    );
    let mut upload = TcpStream::connect(&addr)?;
    upload.write_all(head.as_bytes())?;
    upload.write_all(&data[..common::PART as usize + 100])?;
    let (said, took) = until_closed(&mut upload, limit)?;
    assert!(said.starts_with("HTTP/1.1 408"), "{said}");
    assert!(said.contains("body-idle"), "{said}");
    println!("stalled upload body ended after {took:?}");
    assert_eq!(app.head_offset(&a, &location).await?, common::PART);
    Ok(())
}

on_both_backends!(slow_clients_are_cut_off);

/// Rate limits per address: refused credentials lock the address out of presenting any (the
/// right one included) for the rest of the minute; expensive requests are capped; other
/// addresses and cheap requests are unaffected.
async fn rate_limits(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend)
        .config(move |c| {
            c.http.trusted_proxies = vec!["127.0.0.1/32".into()];
            c.limits.auth_failures_per_minute = 5;
            c.limits.expensive_per_minute = 10;
        })
        .start()
        .await?;
    let a = app.librarian("A").await?;
    let disc = app.disc(&a, &iso_image(3000, 540), json!({})).await?;
    let from = |ip: &str| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("x-forwarded-for", ip.parse().expect("an address"));
        common::http_builder()
            .default_headers(h)
            .redirect(reqwest::redirect::Policy::none())
            .build()
    };
    let disc_json = app.url(&format!("/api/v1/discs/{disc}"));

    // Bearer tokens.
    let guesser = from("192.0.2.10")?;
    for i in 0..5 {
        let r = guesser
            .get(&disc_json)
            .bearer_auth(format!("spindle_guess{i}"))
            .send()
            .await?;
        assert_eq!(r.status(), 401, "guess {i}");
    }
    let r = guesser
        .get(&disc_json)
        .bearer_auth("spindle_guess6")
        .send()
        .await?;
    assert_eq!(r.status(), 429);
    let wait: u64 = common::header(&r, "retry-after").parse()?;
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(r.json::<Value>().await?["code"], "too-many-attempts");
    let r = guesser.get(&disc_json).bearer_auth(&a).send().await?;
    assert_eq!(
        r.status(),
        429,
        "the right token gains nothing once locked out"
    );
    let r = from("192.0.2.11")?
        .get(&disc_json)
        .bearer_auth(&a)
        .send()
        .await?;
    assert_eq!(r.status(), 200, "another address is not affected");

    // The sign-in form and SUSHI keys count the same way.
    let mut h = reqwest::header::HeaderMap::new();
    h.insert("x-forwarded-for", "192.0.2.12".parse()?);
    let signer = common::http_builder()
        .default_headers(h)
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    // Each answer carries the form (and its token) for the next try.
    let mut page = signer
        .get(app.url("/staff/sign-in"))
        .send()
        .await?
        .text()
        .await?;
    let mut statuses = Vec::new();
    for i in 0..7 {
        let csrf = common::form_token(&page).unwrap_or_default();
        let r = signer
            .post(app.url("/staff/sign-in"))
            .form(&[
                ("token", format!("spindle_nope{i}").as_str()),
                ("csrf", &csrf),
                ("next", "/staff/stats"),
            ])
            .send()
            .await?;
        statuses.push(r.status().as_u16());
        let body = r.text().await?;
        if body.contains("name=\"csrf\"") {
            page = body;
        }
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429, 429]);
    let harvester = from("192.0.2.13")?;
    let mut statuses = Vec::new();
    for i in 0..6 {
        let url = app.url(&format!(
            "/sushi/r51/reports/pr?customer_id=A&api_key=wrong{i}&begin_date=2026-01&end_date=2026-01"
        ));
        statuses.push(harvester.get(url).send().await?.status().as_u16());
    }
    assert_eq!(statuses, [401, 401, 401, 401, 401, 429]);

    // Expensive requests are capped per address; pages are not.
    let searcher = from("192.0.2.20")?;
    for i in 0..10 {
        let r = searcher
            .get(app.url(&format!("/search?q=x{i}")))
            .send()
            .await?;
        assert_eq!(r.status(), 200, "search {i}");
    }
    let r = searcher.get(app.url("/search?q=more")).send().await?;
    assert_eq!(r.status(), 429);
    assert_eq!(r.json::<Value>().await?["code"], "slow-down");
    let r = from("192.0.2.21")?
        .get(app.url("/search?q=x"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let r = searcher.get(app.url("/healthz")).send().await?;
    assert_eq!(r.status(), 200);
    Ok(())
}

on_both_backends!(rate_limits);

/// CORS only where it is meant: the OPAC lookup and SUSHI for any origin, a disc's bytes
/// (by range) for the configured player origins; never credentials, never elsewhere.
async fn cors_only_where_intended(backend: Backend) -> Result<()> {
    const PLAYER: &str = "https://player.example.org";
    const EVIL: &str = "https://evil.example.net";
    let app = TestApp::on(backend)
        .config(move |c| {
            c.http.player_origins = vec![PLAYER.into()];
        })
        .start()
        .await?;
    let a = app.librarian("A").await?;
    let admin = app.admin().await?;
    app.set_networks(&admin, "A", &["127.0.0.0/8"]).await?;
    let disc = app.disc(&a, &iso_image(3000, 550), json!({})).await?;
    common::wait_indexed(&app, Some(&a), disc).await?;
    let acao = |r: &reqwest::Response| common::header(r, "access-control-allow-origin");
    let get = |path: String, origin: &'static str| {
        app.client
            .get(app.url(&path))
            .header("origin", origin)
            .header("range", "bytes=0-99")
            .send()
    };

    // Anyone's: the OPAC lookup and SUSHI.
    let r = get("/api/v1/lookup?member=A&isbn=9787302123456".into(), EVIL).await?;
    assert_eq!(acao(&r), "*");
    let r = get("/sushi/r51/status".into(), EVIL).await?;
    assert_eq!(acao(&r), "*");
    // A disc's bytes: the player's origin only, by range, with the range headers exposed.
    for path in [
        format!("/api/v1/discs/{disc}/image"),
        format!("/api/v1/discs/{disc}/files/data.bin"),
    ] {
        let r = get(path.clone(), PLAYER).await?;
        assert_eq!(r.status(), 206, "{path}");
        assert_eq!(acao(&r), PLAYER, "{path}");
        assert!(common::header(&r, "access-control-expose-headers").contains("content-range"));
        assert!(common::header(&r, "vary").to_lowercase().contains("origin"));
        let r = get(path.clone(), EVIL).await?;
        assert_eq!(acao(&r), "", "{path} from another origin");
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(&path))
            .header("origin", PLAYER)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "range")
            .send()
            .await?;
        assert_eq!(preflight.status(), 204);
        assert_eq!(acao(&preflight), PLAYER);
        assert!(common::header(&preflight, "access-control-allow-headers").contains("range"));
        let preflight = app
            .client
            .request(reqwest::Method::OPTIONS, app.url(&path))
            .header("origin", EVIL)
            .header("access-control-request-method", "GET")
            .send()
            .await?;
        assert_eq!(acao(&preflight), "");
    }
    // Nowhere else, whatever the origin; never with credentials.
    for path in [
        format!("/api/v1/discs/{disc}"),
        format!("/api/v1/discs/{disc}/tree"),
        format!("/api/v1/discs/{disc}/zip"),
        format!("/discs/{disc}"),
        "/api/v1/members/A/export.xml".to_string(),
        "/staff/stats".to_string(),
        "/metrics".to_string(),
    ] {
        for origin in [PLAYER, EVIL] {
            let r = app
                .client
                .get(app.url(&path))
                .bearer_auth(&a)
                .header("origin", origin)
                .send()
                .await?;
            assert_eq!(acao(&r), "", "{path} from {origin}");
            assert_eq!(common::header(&r, "access-control-allow-credentials"), "");
        }
    }
    let r = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/uploads"))
        .header("origin", EVIL)
        .header("access-control-request-method", "POST")
        .send()
        .await?;
    assert_eq!(acao(&r), "", "uploads are Spindle's own pages' only");
    Ok(())
}

on_both_backends!(cors_only_where_intended);

on_both_backends!(backslash_names_stay_inside_a_zip);

/// Names with `\` (issue 24, item 2): a Rock Ridge name `..\..\..\win.ini` and a folder
/// `a\..\..\b` made by xorriso. To Windows and to many extractors `\` separates folders, so
/// a name kept as it was would climb out of the folder a ZIP is extracted to. The disc's
/// listing, its ZIP (as bsdtar and Python's zipfile read it) and a download's
/// Content-Disposition carry no backslash, and nothing extracts outside its folder.
async fn backslash_names_stay_inside_a_zip(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let dir = tempfile::tempdir()?;
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("a\\..\\..\\b"))?;
    std::fs::write(src.join("..\\..\\..\\win.ini"), b"[boot]\n")?;
    std::fs::write(src.join("a\\..\\..\\b").join("x.txt"), b"x\n")?;
    let iso = dir.path().join("out.iso");
    let status = std::process::Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-r", "-V", "BACKSLASH", "-o"])
        .arg(&iso)
        .arg(&src)
        .status()?;
    anyhow::ensure!(status.success(), "xorriso: {status}");
    let bytes = std::fs::read(&iso)?;
    app.upload(&token, &bytes, bytes.len()).await?;
    let sha = common::discs::sha(&bytes);
    let id = common::catalogue::register(&app, &token, &sha, json!({"open": true})).await?;
    common::wait_indexed(&app, Some(&token), id).await?;

    let listing: Value = app
        .client
        .get(app.url(&format!("/api/v1/discs/{id}/files/")))
        .send()
        .await?
        .json()
        .await?;
    let names: Vec<&str> = listing["entries"]
        .as_array()
        .context("entries")?
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    anyhow::ensure!(
        names.len() == 2 && names.iter().all(|n| !n.contains('\\')),
        "{listing}"
    );
    let win = names
        .iter()
        .find(|n| n.ends_with("win.ini"))
        .context("win.ini")?;
    let r = app
        .client
        .get(app.url(&format!("/api/v1/discs/{id}/files/{win}")))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "{}", r.status());
    let disposition = common::header(&r, "content-disposition");
    anyhow::ensure!(
        !disposition.contains('\\') && !disposition.to_ascii_lowercase().contains("%5c"),
        "{disposition}"
    );

    let zip = dir.path().join("disc.zip");
    let body = app
        .client
        .get(app.url(&format!("/api/v1/discs/{id}/zip")))
        .send()
        .await?
        .bytes()
        .await?;
    std::fs::write(&zip, &body)?;
    let python = std::process::Command::new("python3")
        .args([
            "-c",
            "import sys, zipfile; print('\\n'.join(zipfile.ZipFile(sys.argv[1]).namelist()))",
        ])
        .arg(&zip)
        .output()?;
    anyhow::ensure!(python.status.success(), "python3 zipfile: {python:?}");
    let listed = String::from_utf8(python.stdout)?;
    let entries: Vec<&str> = listed.lines().collect();
    anyhow::ensure!(entries.len() >= 3, "{listed}");
    for name in &entries {
        anyhow::ensure!(
            !name.contains('\\') && !name.split('/').any(|s| s == ".."),
            "{name} in {listed}"
        );
    }
    // bsdtar extracts everything inside its folder: nothing appears beside it.
    let extracted = common::discs::extract(&zip, common::discs::Tool::Bsdtar);
    let mut found = Vec::new();
    for e in walk(extracted.path())? {
        found.push(
            e.strip_prefix(extracted.path())?
                .to_string_lossy()
                .into_owned(),
        );
    }
    anyhow::ensure!(
        found.iter().any(|f| f.ends_with("win.ini")) && found.iter().all(|f| !f.contains('\\')),
        "{found:?}"
    );
    let beside: Vec<_> = std::fs::read_dir(extracted.path().parent().context("parent")?)?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("win.ini"))
        .collect();
    anyhow::ensure!(beside.is_empty(), "{beside:?}");
    Ok(())
}

fn walk(dir: &std::path::Path) -> Result<Vec<std::path::PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let path = e?.path();
        if path.is_dir() {
            out.extend(walk(&path)?);
        }
        out.push(path);
    }
    Ok(out)
}

/// Issue 24, item 6: a sign-in whose `next` carries CR LF is sent to the dashboard (a 303
/// always has a Location), and a path whose percent-encoding is not UTF-8 (an overlong `.`)
/// is refused with the API's problem document on every route, not an extractor's plain text.
#[tokio::test]
async fn header_breaking_next_and_overlong_utf8_paths() -> Result<()> {
    let app = TestApp::start(Backend::SqliteLocal).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let (_, r) =
        common::sign_in_form(&app, &token, common::http_builder(), "/staff/\r\nX-Evil: 1").await?;
    anyhow::ensure!(r.status() == 303, "{}", r.status());
    anyhow::ensure!(
        common::header(&r, "location") == "/staff/stats" && r.headers().get("x-evil").is_none(),
        "{:?}",
        r.headers()
    );
    for path in [
        "/api/v1/discs/1/files/%C0%AE%C0%AE/x",
        "/discs/1/browse/%C0%AE%C0%AE",
        "/api/v1/discs/%C0%AE",
        "/dav/discs/1/%E0%80%AE",
    ] {
        let r = app.client.get(app.url(path)).send().await?;
        anyhow::ensure!(r.status() == 400, "{path}: {}", r.status());
        let kind = common::header(&r, "content-type");
        anyhow::ensure!(
            kind.starts_with("application/problem+json"),
            "{path}: {kind}"
        );
        let problem: Value = r.json().await?;
        anyhow::ensure!(problem["code"] == "invalid-path", "{path}: {problem}");
    }
    Ok(())
}
