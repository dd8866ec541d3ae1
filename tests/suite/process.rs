//! The `spindle` binary as an operator runs it: the CLI, configuration layers, fail-fast
//! start-up, and a server killed with SIGKILL mid-upload that resumes after a restart.
#![allow(clippy::unwrap_used)]

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use common::server::{Server, spindle, text};
use common::{Backend, PART, configure, header, iso_image, sha256_hex};
use spindle::config::Config;

#[test]
fn members_tokens_and_config_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let none: Vec<(String, String)> = vec![];

    let o = spindle(
        d,
        &none,
        &["member", "add", "PKU", "--name", "北京大学图书馆"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        d.join("spindle-data/spindle.db").exists(),
        "embedded default: SQLite under the data folder"
    );
    let o = spindle(d, &none, &["member", "add", "PKU", "--name", "again"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("already exists"), "{}", text(&o));
    let o = spindle(d, &none, &["member", "list"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("PKU\t北京大学图书馆"));

    let o = spindle(
        d,
        &none,
        &["token", "create", "--role", "librarian", "--member", "PKU"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    assert!(token.starts_with("spindle_") && token.len() > 40, "{token}");
    // Only the hash is stored: every file of the database (the WAL too, whether or not it was
    // checkpointed when the CLI closed it) holds the hash and not the token.
    let mut db = Vec::new();
    for e in std::fs::read_dir(d.join("spindle-data")).unwrap() {
        let e = e.unwrap();
        if e.file_name().to_string_lossy().starts_with("spindle.db") {
            db.extend(std::fs::read(e.path()).unwrap());
        }
    }
    let hash = spindle::auth::hash_token(&token);
    assert!(
        db.windows(hash.len()).any(|w| w == hash.as_bytes()),
        "the token's hash is not where the search looks"
    );
    assert!(
        !db.windows(token.len()).any(|w| w == token.as_bytes()),
        "the raw token is in the database"
    );
    let o = spindle(d, &none, &["token", "create", "--role", "librarian"]);
    assert!(
        !o.status.success() && text(&o).contains("--member"),
        "{}",
        text(&o)
    );
    let o = spindle(
        d,
        &none,
        &["token", "create", "--role", "librarian", "--member", "NOPE"],
    );
    assert!(
        !o.status.success() && text(&o).contains("no member"),
        "{}",
        text(&o)
    );
    let o = spindle(d, &none, &["token", "create", "--role", "admin"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = spindle(d, &none, &["token", "revoke", "1"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = spindle(d, &none, &["token", "revoke", "1"]);
    assert!(!o.status.success());

    let o = spindle(d, &none, &["check-config"]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("storage (local directory"),
        "{}",
        text(&o)
    );

    // Layers: file, then environment, then flags; secrets are redacted.
    std::fs::write(
        d.join("spindle.toml"),
        "[http]\nlisten = \"127.0.0.1:9000\"\n[storage.s3]\nsecret_access_key = \"topsecret\"\n",
    )
    .unwrap();
    let env = vec![(
        "SPINDLE_DATABASE__URL".to_string(),
        "postgres://u:hunter2@db/spindle".to_string(),
    )];
    let o = spindle(d, &env, &["print-config"]);
    let shown = text(&o);
    assert!(o.status.success(), "{shown}");
    assert!(shown.contains("listen = \"127.0.0.1:9000\""), "{shown}");
    assert!(
        shown.contains("postgres://u:<redacted>@db/spindle"),
        "{shown}"
    );
    assert!(
        !shown.contains("topsecret") && !shown.contains("hunter2"),
        "{shown}"
    );
    let o = spindle(d, &env, &["print-config", "--data-dir", "/srv/spindle"]);
    assert!(
        text(&o).contains("data_dir = \"/srv/spindle\""),
        "{}",
        text(&o)
    );

    // Unknown keys and bad values fail with a message naming them.
    std::fs::write(d.join("spindle.toml"), "[http]\nlisen = \"x\"\n").unwrap();
    let o = spindle(d, &none, &["print-config"]);
    assert!(
        !o.status.success() && text(&o).contains("lisen"),
        "{}",
        text(&o)
    );
    std::fs::write(d.join("spindle.toml"), "[upload]\npart_size = 1024\n").unwrap();
    let o = spindle(d, &none, &["print-config"]);
    assert!(
        !o.status.success() && text(&o).contains("part_size"),
        "{}",
        text(&o)
    );
    std::fs::remove_file(d.join("spindle.toml")).unwrap();
    let o = spindle(d, &none, &["--config", "missing.toml", "print-config"]);
    assert!(
        !o.status.success() && text(&o).contains("missing.toml"),
        "{}",
        text(&o)
    );
}

#[test]
fn start_up_fails_fast_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let env = vec![
        (
            "SPINDLE_DATABASE__URL".to_string(),
            "postgres://spindle@127.0.0.1:1/none".to_string(),
        ),
        (
            "SPINDLE_DATABASE__CONNECT_TIMEOUT_SECS".to_string(),
            "2".to_string(),
        ),
    ];
    let o = spindle(dir.path(), &env, &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("cannot open the database"),
        "{}",
        text(&o)
    );

    let env = vec![
        ("SPINDLE_STORAGE__BACKEND".to_string(), "s3".to_string()),
        ("SPINDLE_STORAGE__S3__BUCKET".to_string(), "b".to_string()),
        (
            "SPINDLE_STORAGE__S3__ENDPOINT".to_string(),
            "http://127.0.0.1:1".to_string(),
        ),
        (
            "SPINDLE_STORAGE__S3__ACCESS_KEY_ID".to_string(),
            "k".to_string(),
        ),
        (
            "SPINDLE_STORAGE__S3__SECRET_ACCESS_KEY".to_string(),
            "s".to_string(),
        ),
    ];
    let o = spindle(dir.path(), &env, &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!o.status.success());
    assert!(text(&o).contains("storage (s3 bucket b"), "{}", text(&o));

    // A store directory that cannot be created.
    let env = vec![(
        "SPINDLE_STORAGE__LOCAL__PATH".to_string(),
        "/proc/spindle-cannot-write".to_string(),
    )];
    let o = spindle(dir.path(), &env, &["serve", "--listen", "127.0.0.1:0"]);
    assert!(!o.status.success());
    assert!(
        text(&o).contains("storage (local) is not usable: creating /proc/spindle-cannot-write"),
        "{}",
        text(&o)
    );
}

async fn killed_mid_upload_resumes_after_restart(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::default();
    configure(&mut config, backend, &dir.path().join("data")).await?;
    let env = common::child_env(&config);
    let o = spindle(dir.path(), &env, &["member", "add", "PKU", "--name", "PKU"]);
    assert!(o.status.success(), "{}", text(&o));
    let o = spindle(
        dir.path(),
        &env,
        &["token", "create", "--role", "librarian", "--member", "PKU"],
    );
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();

    let data = iso_image(3 * PART as usize + 99, 21);
    let sha = sha256_hex(&data);
    let server = Server::start(dir.path(), &env).await?;
    let client = common::http();
    let r = client
        .post(format!("{}/api/v1/uploads", server.base))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", data.len().to_string())
        .header("Upload-Metadata", common::metadata(&sha, "disc.iso"))
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let location = header(&r, "location");

    // Stream the whole image slowly and kill the server after two parts are committed.
    let url = format!("{}{location}", server.base);
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(tokio_stream_from(rx));
    let upload = tokio::spawn(
        client
            .patch(&url)
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", "0")
            .header("Content-Type", "application/offset+octet-stream")
            .body(body)
            .send(),
    );
    for chunk in data[..2 * PART as usize + 1000].chunks(256 * 1024) {
        tx.send(Ok(chunk.to_vec())).await?;
    }
    let head = |base: String| {
        let client = client.clone();
        let token = token.clone();
        let location = location.clone();
        async move {
            let r = client
                .head(format!("{base}{location}"))
                .bearer_auth(&token)
                .header("Tus-Resumable", "1.0.0")
                .send()
                .await?;
            anyhow::Ok(header(&r, "upload-offset").parse::<u64>().unwrap_or(0))
        }
    };
    let mut committed = 0;
    for _ in 0..200 {
        committed = head(server.base.clone()).await?;
        if committed == 2 * PART {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(committed, 2 * PART, "two parts committed before the kill");
    server.kill9()?;
    drop(tx);
    let _ = upload.await;

    // Restart on the same database and store: the upload continues from the stored offset.
    let server = Server::start(dir.path(), &env).await?;
    assert_eq!(head(server.base.clone()).await?, 2 * PART);
    // The dead process's lease runs out within LEASE_SECS: until then the server answers
    // 423 (before reading a body), so probe with empty PATCHes, then send the rest.
    let patch = |body: Vec<u8>| {
        client
            .patch(format!("{}{location}", server.base))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", (2 * PART).to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(body)
            .send()
    };
    let mut status = 0;
    for _ in 0..60 {
        status = patch(vec![]).await?.status().as_u16();
        if status != 423 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(
        status, 204,
        "the upload is free again after the lease ran out"
    );
    let status = patch(data[2 * PART as usize..].to_vec())
        .await?
        .status()
        .as_u16();
    assert_eq!(status, 204);
    let r = client
        .get(format!("{}/api/v1/blobs/{sha}", server.base))
        .bearer_auth(&token)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let r = client
        .post(format!("{}/api/v1/discs", server.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"sha256": sha}))
        .send()
        .await?;
    let disc: serde_json::Value = r.json().await?;
    let got = client
        .get(format!(
            "{}{}",
            server.base,
            disc["image_url"].as_str().context("image url")?
        ))
        .bearer_auth(&token)
        .send()
        .await?
        .bytes()
        .await?;
    assert!(
        got.as_ref() == data.as_slice(),
        "the resumed upload stored other bytes"
    );
    Ok(())
}

fn tokio_stream_from<T: Send + 'static>(
    mut rx: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> + Send + 'static {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// `spindle upload` keeps going through a server restart: the transfer fails, the client
/// waits (the dead node's lease answers 423 for a few seconds), resumes from the stored
/// offset and finishes.
async fn upload_client_survives_a_server_restart(backend: Backend) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = Config::default();
    configure(&mut config, backend, &dir.path().join("data")).await?;
    let env = common::child_env(&config);
    assert!(
        spindle(dir.path(), &env, &["member", "add", "PKU", "--name", "PKU"])
            .status
            .success()
    );
    let o = spindle(
        dir.path(),
        &env,
        &["token", "create", "--role", "librarian", "--member", "PKU"],
    );
    let token = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let shelf = dir.path().join("shelf");
    std::fs::create_dir(&shelf)?;
    let iso = iso_image(40 << 20, 31);
    std::fs::write(shelf.join("PKU-1.iso"), &iso)?;
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0")?;
        l.local_addr()?.port()
    };
    let server = Server::start_on(dir.path(), &env, port).await?;
    let report = dir.path().join("report");
    let client = Command::new(env!("CARGO_BIN_EXE_spindle"))
        .args([
            "upload",
            "--server",
            &server.base,
            "--token",
            &token,
            "--dir",
        ])
        .arg(&shelf)
        .args([
            "--pattern",
            "{barcode}.iso",
            "--max-rate",
            "8000000",
            "--retries",
            "8",
            "--wait-link-secs",
            "1",
            "--report",
        ])
        .arg(&report)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // Kill the server once some of the image is on it.
    let state_file = shelf.join(".spindle-upload-state.json");
    let http = common::http();
    let mut killed = false;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if let Some((_, offset)) = common::state_upload(&http, &state_file, &token).await
            && offset > 0
        {
            killed = true;
            break;
        }
    }
    assert!(killed, "the transfer started");
    // kill9 reaps the process, so its port is free (the server binds with
    // SO_REUSEADDR): the restart needs no pause.
    server.kill9()?;
    let _server = Server::start_on(dir.path(), &env, port).await?;
    let out = tokio::task::spawn_blocking(move || client.wait_with_output()).await??;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.with_extension("json"))?)?;
    assert_eq!(rows[0]["outcome"], "uploaded", "{rows}");
    assert_eq!(rows[0]["sha256"], sha256_hex(&iso));
    assert!(rows[0]["disc"].is_i64());
    Ok(())
}

on_both_backends!(
    killed_mid_upload_resumes_after_restart,
    upload_client_survives_a_server_restart,
    operator_commands_do_what_they_say
);

/// The operator's commands, judged by what they change, not by their exit status: `migrate`
/// makes a fresh database usable with auto-migration off; `network set` admits readers from
/// the range (and refuses a bad one, changing nothing); `sushi-key create` prints a key the
/// SUSHI API takes; `stats rollup --day` rolls the day's events into figures; `resync` finds a
/// record the catalogue no longer has.
async fn operator_commands_do_what_they_say(backend: Backend) -> Result<()> {
    use common::server::Deployment;
    use serde_json::{Value, json};

    // migrate: with auto-migration off a fresh database is refused until it is migrated.
    let fresh = tempfile::tempdir()?;
    let mut config = Config::default();
    configure(&mut config, backend, &fresh.path().join("data")).await?;
    let mut env = common::child_env(&config);
    env.push(("SPINDLE_DATABASE__AUTO_MIGRATE".into(), "false".into()));
    let o = spindle(fresh.path(), &env, &["member", "add", "M", "--name", "M"]);
    anyhow::ensure!(
        !o.status.success() && text(&o).contains("migrate"),
        "an unmigrated database must be refused, naming the cure: {}",
        text(&o)
    );
    for _ in 0..2 {
        let o = spindle(fresh.path(), &env, &["migrate"]);
        anyhow::ensure!(o.status.success(), "migrate: {}", text(&o));
    }
    let o = spindle(fresh.path(), &env, &["member", "add", "M", "--name", "M"]);
    anyhow::ensure!(o.status.success(), "after migrate: {}", text(&o));

    let d = Deployment::new(
        backend,
        &[
            ("SPINDLE_HTTP__TRUSTED_PROXIES", "[\"127.0.0.1/32\"]"),
            ("SPINDLE_LINKING__ALLOW_NETWORKS", "[\"127.0.0.0/8\"]"),
        ],
    )
    .await?;
    let run = |args: &[&str]| spindle(d.dir.path(), &d.env, args);

    // network set, before the server reads the ranges.
    let o = run(&["network", "set", "A", "198.51.100.0/24"]);
    anyhow::ensure!(o.status.success(), "network set: {}", text(&o));
    let o = run(&["network", "set", "A", "198.51.100.0/24", "not-a-range"]);
    anyhow::ensure!(
        !o.status.success() && text(&o).contains("not-a-range"),
        "a bad range is named: {}",
        text(&o)
    );
    let server = d.start(None).await?;
    let base = server.base.clone();
    let client = common::http();
    let catalogue = client
        .put(format!("{base}/api/v1/members/A/catalogue"))
        .bearer_auth(&d.librarian)
        .json(&json!({
            "kind": "sru",
            "sru": {"url": format!("{}/marc21", common::catalogue::zebra()), "timeout_secs": 5,
                    "indexes": {"barcode": "local.barcode"}},
        }))
        .send()
        .await?;
    anyhow::ensure!(
        catalogue.status() == 200,
        "catalogue: {}",
        catalogue.status()
    );
    let disc = d
        .disc_with(&base, &iso_image(3000, 431), json!({"barcode": "B100001"}))
        .await?;
    let from = |ip: &str| {
        client
            .get(format!("{base}/api/v1/discs/{disc}/image"))
            .header("x-forwarded-for", ip)
            // A browser's: a request without a user agent counts as a robot's.
            .header(
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Firefox/133.0",
            )
            .send()
    };
    anyhow::ensure!(
        from("198.51.100.7").await?.status() == 200,
        "inside A's range"
    );
    anyhow::ensure!(
        from("203.0.113.9").await?.status() == 403,
        "outside every range"
    );

    // sushi-key create: the key opens A's SUSHI, a changed one does not.
    let o = run(&["sushi-key", "create", "--member", "A"]);
    anyhow::ensure!(o.status.success(), "sushi-key: {}", text(&o));
    let key = String::from_utf8_lossy(&o.stdout).trim().to_string();
    let status = |k: String| {
        client
            .get(format!(
                "{base}/sushi/r51/members?customer_id=A&api_key={k}"
            ))
            .send()
    };
    anyhow::ensure!(status(key.clone()).await?.status() == 200, "the key: {key}");
    anyhow::ensure!(
        status(format!("{key}x")).await?.status() == 401,
        "a changed key"
    );

    // stats rollup --day: today's reader request (the image) becomes figures.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while d.events_for(disc).await? < 1 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no usage event written"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let today = d.config.stats.time_zone.today().to_string();
    let o = run(&["stats", "rollup", "--day", &today]);
    anyhow::ensure!(
        o.status.success() && text(&o).contains(&format!("{today}: ")),
        "rollup: {}",
        text(&o)
    );
    let db = spindle::db::Db::connect(&d.config.database_url(), 1, Duration::from_secs(5)).await?;
    let a = spindle::db::members::by_code(&db, "A")
        .await?
        .context("A")?
        .id;
    let facts = spindle::db::usage::monthly(&db, a, &today, &today).await?;
    db.close().await;
    anyhow::ensure!(
        facts.iter().map(|f| f.tir).sum::<i64>() == 1,
        "one request rolled up: {facts:?} ({})",
        text(&o)
    );

    // resync: linked from the marc21 database; pointed at one without the record, the
    // command reports it gone and the disc goes to review.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let v: Value = client
            .get(format!("{base}/api/v1/discs/{disc}"))
            .bearer_auth(&d.librarian)
            .send()
            .await?
            .json()
            .await?;
        if v["link_status"] == "linked" {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline && v["link_status"] == "pending",
            "not linked: {v}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let o = run(&["resync"]);
    anyhow::ensure!(o.status.success(), "resync: {}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout)?;
    anyhow::ensure!(
        report["checked"] == 1 && report["refreshed"] == 1 && report["gone"] == 0,
        "{report}"
    );
    let r = client
        .put(format!("{base}/api/v1/members/A/catalogue"))
        .bearer_auth(&d.librarian)
        .json(&json!({
            "kind": "sru",
            "sru": {"url": format!("{}/unimarc", common::catalogue::zebra()), "timeout_secs": 5,
                    "indexes": {"barcode": "local.barcode"}},
        }))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "catalogue: {}", r.status());
    let o = run(&["resync"]);
    anyhow::ensure!(o.status.success(), "resync: {}", text(&o));
    let report: Value = serde_json::from_slice(&o.stdout)?;
    anyhow::ensure!(
        report["gone"] == 1 && report["discs_to_review"] == 1,
        "{report}"
    );
    let v: Value = client
        .get(format!("{base}/api/v1/discs/{disc}"))
        .bearer_auth(&d.librarian)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(v["link_status"] == "review", "{v}");
    drop(server);
    Ok(())
}

on_both_backends!(operators_list_and_remove_from_the_command_line);

/// What an operator sees and undoes from the CLI beside a running server: tokens with their
/// kind, role, member, last use and expiry; SUSHI keys listed (never the key) and revoked;
/// networks listed; a member added by mistake removed with everything that configured it,
/// while a member holding discs is refused and keeps everything.
async fn operators_list_and_remove_from_the_command_line(backend: Backend) -> Result<()> {
    let app = common::TestApp::start(backend).await?;
    let env = common::child_env(&app.state.config);
    let dir = tempfile::tempdir()?;
    let cli = |args: &[&str]| {
        let o = spindle(dir.path(), &env, args);
        (o.status.success(), text(&o))
    };
    let pku = app.librarian("PKU").await?;
    app.disc(&pku, &iso_image(3000, 811), serde_json::json!({}))
        .await?;
    let (ok, out) = cli(&["member", "add", "OOPS", "--name", "Added by mistake"]);
    anyhow::ensure!(ok, "{out}");
    let (ok, out) = cli(&[
        "token",
        "create",
        "--role",
        "librarian",
        "--member",
        "OOPS",
        "--label",
        "oops desk",
        "--expires-days",
        "30",
    ]);
    anyhow::ensure!(ok, "{out}");
    let oops_token = out
        .lines()
        .find(|l| l.starts_with("spindle_"))
        .context("the token")?
        .to_string();
    let people_as = |token: String| {
        app.client
            .get(app.url("/api/v1/people"))
            .bearer_auth(token)
            .send()
    };
    let r = people_as(oops_token.clone()).await?;
    anyhow::ensure!(r.status() == 200, "the new token works: {}", r.status());
    let (ok, out) = cli(&["token", "list"]);
    anyhow::ensure!(ok, "{out}");
    let oops = out
        .lines()
        .find(|l| l.contains("oops desk"))
        .context("the OOPS token listed")?;
    let cols: Vec<&str> = oops.split('\t').collect();
    anyhow::ensure!(
        cols.len() == 9 && cols[1] == "operator" && cols[2] == "librarian" && cols[3] == "OOPS",
        "{oops}"
    );
    anyhow::ensure!(cols[7] != "-", "last used is shown: {oops}");
    let in_30_days = spindle::calendar::now_secs() + 30 * 86_400;
    let expires = app.state.config.stats.time_zone.when(in_30_days);
    anyhow::ensure!(
        cols[8].get(..10) == expires.get(..10),
        "expires in 30 days ({expires}): {oops}"
    );

    let (ok, out) = cli(&["sushi-key", "create", "--member", "OOPS"]);
    anyhow::ensure!(ok, "{out}");
    let key = out
        .lines()
        .find(|l| l.starts_with("spindle_"))
        .context("the key")?
        .to_string();
    let (ok, out) = cli(&["sushi-key", "list"]);
    anyhow::ensure!(ok && out.contains("OOPS") && !out.contains(&key), "{out}");
    let key_id = out
        .lines()
        .find(|l| l.contains("\tOOPS\t"))
        .and_then(|l| l.split('\t').next())
        .context("the key's id")?
        .to_string();
    let report = |key: &str| {
        app.client
            .get(app.url(&format!(
                "/sushi/r51/reports?customer_id=OOPS&api_key={key}"
            )))
            .send()
    };
    anyhow::ensure!(report(&key).await?.status() == 200);
    let (ok, out) = cli(&["sushi-key", "revoke", &key_id]);
    anyhow::ensure!(ok, "{out}");
    anyhow::ensure!(report(&key).await?.status() == 401, "a revoked key");
    let (ok, _) = cli(&["sushi-key", "revoke", &key_id]);
    anyhow::ensure!(!ok, "revoking twice is an error");

    let (ok, out) = cli(&["network", "set", "OOPS", "198.51.100.0/24", "2001:db8::/32"]);
    anyhow::ensure!(ok, "{out}");
    let (ok, out) = cli(&["network", "list", "OOPS"]);
    anyhow::ensure!(
        ok && out.contains("OOPS\t198.51.100.0/24") && out.contains("OOPS\t2001:db8::/32"),
        "{out}"
    );
    let (ok, out) = cli(&["network", "list", "NOPE"]);
    anyhow::ensure!(!ok && out.contains("no member"), "{out}");

    // PKU holds a disc: refused, and nothing of it goes.
    let (ok, out) = cli(&["member", "remove", "PKU"]);
    anyhow::ensure!(!ok && out.contains("1 discs"), "{out}");
    let (ok, out) = cli(&["member", "list"]);
    anyhow::ensure!(ok && out.contains("\tPKU\t"), "{out}");
    // OOPS holds nothing: it goes, with its token, key and networks.
    let (ok, out) = cli(&["member", "remove", "OOPS"]);
    anyhow::ensure!(ok, "{out}");
    let (_, out) = cli(&["member", "list"]);
    anyhow::ensure!(!out.contains("OOPS"), "{out}");
    let (_, out) = cli(&["token", "list", "--all"]);
    anyhow::ensure!(!out.contains("oops desk"), "{out}");
    let (_, out) = cli(&["network", "list"]);
    anyhow::ensure!(!out.contains("198.51.100.0/24"), "{out}");
    let r = people_as(oops_token).await?;
    anyhow::ensure!(r.status() == 401, "its token is gone: {}", r.status());
    Ok(())
}
