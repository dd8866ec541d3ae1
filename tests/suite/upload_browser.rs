//! The browser uploader (`/librarian/upload`) in a real headless Chromium: real fixture
//! images chosen through the page's file input with a manifest, hashed in the page by
//! hash-wasm, deduplicated, sent by tus-js-client, registered; the per-row report is the
//! CLI's. An upload paused under Chromium's own network throttling and continued after a
//! page reload resumes from the server's offset; a wrong token or an ended session is refused
//! before anything moves.

use crate::common;

use std::path::Path;

use anyhow::{Context, Result};
use common::browser::Browser;
use common::discs::{fixture, fixtures, sha};
use common::{Backend, TestApp, header, iso_image};
use fantoccini::Locator;
use serde_json::Value;

on_both_backends!(
    a_shelf_with_a_manifest_is_planned_hashed_deduplicated_sent_and_reported,
    a_paused_upload_continues_after_a_reload_from_the_servers_offset,
    a_wrong_token_or_an_ended_session_is_refused_before_anything_moves
);

fn copy_fixtures(dir: &Path, names: &[&str]) {
    for n in names {
        std::fs::copy(fixtures().join(n), dir.join(n)).expect("copy fixture");
    }
}

/// Opens the uploader (signing in with `token` when the browser has no session yet) and
/// chooses `files` through its file input.
async fn choose(browser: &Browser, app: &TestApp, token: &str, files: &[&Path]) -> Result<()> {
    let c = &browser.client;
    let upload = app.url("/librarian/upload");
    c.goto(&upload).await?;
    let at = browser
        .wait_js(
            30,
            "the uploader or the sign-in form",
            "return document.getElementById('uploader') ? 'uploader' \
               : (document.getElementById('token') ? 'sign-in' : null);",
        )
        .await?;
    if at == "sign-in" {
        browser
            .sign_in(
                &upload,
                token,
                "return document.getElementById('uploader') ? true : null;",
            )
            .await?;
    }
    pick(c, files).await
}

async fn pick(c: &fantoccini::Client, files: &[&Path]) -> Result<()> {
    let paths: Vec<String> = files.iter().map(|p| p.display().to_string()).collect();
    c.find(Locator::Id("files"))
        .await?
        .send_keys(&paths.join("\n"))
        .await?;
    Ok(())
}

async fn report(browser: &Browser) -> Result<Vec<Value>> {
    browser
        .wait_js(
            180,
            "the report",
            "return document.getElementById('report').dataset.state || null;",
        )
        .await?;
    let text = browser
        .client
        .execute(
            "return document.getElementById('report-json').value;",
            vec![],
        )
        .await?;
    Ok(serde_json::from_str(text.as_str().unwrap_or("[]"))?)
}

fn row(rows: &[Value], n: i64) -> &Value {
    rows.iter()
        .find(|r| r["row"] == n)
        .unwrap_or_else(|| panic!("no row {n} in {rows:?}"))
}

async fn blob_size(app: &TestApp, token: &str, sha: &str) -> Result<Option<u64>> {
    let r = app
        .client
        .head(app.url(&format!("/api/v1/blobs/{sha}")))
        .bearer_auth(token)
        .send()
        .await?;
    Ok((r.status() == 200).then(|| header(&r, "spindle-blob-size").parse().unwrap_or(0)))
}

async fn a_shelf_with_a_manifest_is_planned_hashed_deduplicated_sent_and_reported(
    backend: Backend,
) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("A").await?;
    let b = app.librarian("B").await?;
    // Member B already holds level1.iso: A's copy must not move a byte.
    let level1 = fixture("level1.iso");
    app.disc(&b, &level1, serde_json::json!({})).await?;

    let dir = tempfile::tempdir()?;
    let d = dir.path();
    let cue_set = [
        "disc.cue",
        "disc (Track 1).bin",
        "disc (Track 2).bin",
        "disc (Track 3).bin",
    ];
    copy_fixtures(d, &["rr-joliet.iso", "level1.iso"]);
    copy_fixtures(d, &cue_set);
    std::fs::write(d.join("notes.txt"), "not a disc")?;
    // Saved by Excel on Chinese Windows: GBK, which the page must not read as UTF-8.
    let (manifest, _, lossy) = encoding_rs::GBK.encode(
        "path,isbn,barcode,record_id,disc_number,label\n\
         rr-joliet.iso,,A-0001,,1,<b>Web</b> disc\n\
         level1.iso,9780596514327,,,,\n\
         disc.cue,,A-0002,,,\"Audio, and data（音频）\"\n\
         notes.txt,,A-0003,,,\n\
         rr-joliet.iso,,A-0001,,1,again\n\
         level1.iso,9780596514328,A-0004,,,\n\
         missing.iso,,A-0005,,,\n",
    );
    assert!(!lossy);
    std::fs::write(d.join("manifest.csv"), &manifest)?;
    let mut chosen: Vec<std::path::PathBuf> =
        ["rr-joliet.iso", "level1.iso", "notes.txt", "manifest.csv"]
            .iter()
            .chain(cue_set.iter())
            .map(|n| d.join(n))
            .collect();
    chosen.sort();
    let chosen: Vec<&Path> = chosen.iter().map(|p| p.as_path()).collect();

    let browser = Browser::start().await?;
    choose(&browser, &app, &a, &chosen).await?;
    let summary = browser
        .wait_js(
            60,
            "the plan",
            "const s = document.getElementById('plan-summary').textContent; \
             return /discs to upload/.test(s) ? s : null;",
        )
        .await?;
    assert!(
        summary
            .as_str()
            .unwrap_or_default()
            .starts_with("3 discs to upload"),
        "{summary}"
    );
    // The plan names the problems before anything moves, and shows markup as text.
    let plan_text = browser
        .client
        .find(Locator::Id("rows"))
        .await?
        .text()
        .await?;
    assert!(
        plan_text.contains("not a recognised disc image"),
        "{plan_text}"
    );
    assert!(plan_text.contains("duplicate of row 1"), "{plan_text}");
    assert!(plan_text.contains("ISBN 9780596514328"), "{plan_text}");
    assert!(
        plan_text.contains("not among the chosen files"),
        "{plan_text}"
    );
    assert!(plan_text.contains("label <b>Web</b> disc"), "{plan_text}");
    let bold = browser.client.find_all(Locator::Css("#rows b")).await?;
    assert!(bold.is_empty(), "a label became markup");

    browser.click("#start").await?;
    let rows = report(&browser).await?;
    browser.screenshot("librarian-upload").await?;
    assert_eq!(rows.len(), 7, "{rows:?}");

    let joliet = fixture("rr-joliet.iso");
    let r1 = row(&rows, 1);
    assert_eq!(r1["outcome"], "uploaded", "{r1}");
    assert_eq!(r1["sha256"], sha(&joliet));
    assert_eq!(r1["bytes_sent"].as_u64(), Some(joliet.len() as u64));
    assert_eq!(r1["link_status"], "no-catalogue");

    let r2 = row(&rows, 2);
    assert_eq!(r2["outcome"], "already-present", "{r2}");
    assert_eq!(r2["bytes_sent"].as_u64(), Some(0));
    assert_eq!(r2["sha256"], sha(&level1));
    // B uploaded these bytes: the page answered the server's challenge from the file (sending
    // none of it) before A could register them.
    assert!(r2["disc"].is_i64() && r2["error"].is_null(), "{r2}");
    let member_a = spindle::db::members::by_code(&app.state.db, "A")
        .await?
        .context("A")?;
    assert!(spindle::db::holders::holds(&app.state.db, member_a.id, &sha(&level1)).await?);

    let r3 = row(&rows, 3);
    let cue_bytes: u64 = cue_set.iter().map(|n| fixture(n).len() as u64).sum();
    assert_eq!(r3["outcome"], "uploaded", "{r3}");
    assert_eq!(r3["bytes_sent"].as_u64(), Some(cue_bytes));
    assert_eq!(r3["sha256"], sha(&fixture("disc.cue")));

    for (n, why) in [
        (4, "not a recognised disc image"),
        (5, "duplicate of row 1"),
        (6, "ISBN 9780596514328"),
        (7, "not among the chosen files"),
    ] {
        let r = row(&rows, n);
        assert_eq!(r["outcome"], "failed", "{r}");
        assert!(r["error"].as_str().unwrap_or_default().contains(why), "{r}");
    }

    // What the page reported is what the server holds: every part, byte for byte (the
    // server checks each upload's SHA-256 against the one the page computed).
    for n in [
        "rr-joliet.iso",
        "disc.cue",
        "disc (Track 1).bin",
        "disc (Track 3).bin",
    ] {
        let bytes = fixture(n);
        assert_eq!(
            blob_size(&app, &a, &sha(&bytes)).await?,
            Some(bytes.len() as u64),
            "{n}"
        );
    }
    let disc: Value = app
        .client
        .get(app.url(&format!("/api/v1/discs/{}", r1["disc"])))
        .bearer_auth(&a)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(disc["barcode"], "A-0001", "{disc}");
    assert_eq!(disc["label"], "<b>Web</b> disc", "{disc}");
    let disc3: Value = app
        .client
        .get(app.url(&format!("/api/v1/discs/{}", r3["disc"])))
        .bearer_auth(&a)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(disc3["label"], "Audio, and data（音频）", "{disc3}");

    // The CSV report is the CLI's, downloaded through the page's own link.
    browser.click("#report-csv").await?;
    let csv = browser.downloaded("spindle-upload-report.csv").await?;
    assert!(
        csv.starts_with(
            "\u{feff}row,path,sha256,bytes,bytes_sent,outcome,member,disc,link_status,warning,error\n"
        ),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 8, "{csv}");
    assert!(csv.contains(",already-present,A,"), "{csv}");

    // Choosing the same shelf again does only what is left: nothing moves.
    choose(&browser, &app, &a, &chosen).await?;
    browser
        .wait_js(
            60,
            "the second plan",
            "return /discs to upload/.test(document.getElementById('plan-summary').textContent);",
        )
        .await?;
    browser.click("#start").await?;
    let again = report(&browser).await?;
    for n in [1, 2, 3] {
        let r = row(&again, n);
        assert_eq!(r["outcome"], "already-present", "{r}");
        assert_eq!(r["bytes_sent"].as_u64(), Some(0));
        assert_eq!(r["disc"], row(&rows, n)["disc"], "registered once");
    }

    // The same page in Chinese: every word from the catalogue's zh-CN messages.
    browser
        .client
        .goto(&app.url("/librarian/upload?lang=zh"))
        .await?;
    let zh = browser
        .wait_js(
            30,
            "the uploader in Chinese",
            "const h = document.querySelector('h1'); \
             return h && h.textContent === '上传光盘' ? \
               [document.documentElement.lang, document.title, \
                document.getElementById('start').textContent].join('|') : null;",
        )
        .await?;
    assert_eq!(zh, "zh-CN|Spindle · 上传光盘|上传", "{zh}");
    pick(&browser.client, &chosen).await?;
    let summary = browser
        .wait_js(
            60,
            "the plan in Chinese",
            "const s = document.getElementById('plan-summary').textContent; \
             return /待上传光盘/.test(s) ? s : null;",
        )
        .await?;
    assert!(
        summary
            .as_str()
            .unwrap_or_default()
            .starts_with("待上传光盘 3 张"),
        "{summary}"
    );
    browser.close().await
}

async fn a_paused_upload_continues_after_a_reload_from_the_servers_offset(
    backend: Backend,
) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("A").await?;
    let dir = tempfile::tempdir()?;
    let big = iso_image(24 << 20, 77);
    let path = dir.path().join("big.iso");
    std::fs::write(&path, &big)?;

    let browser = Browser::start().await?;
    choose(&browser, &app, &a, &[&path]).await?;
    browser
        .wait_js(
            60,
            "the plan",
            "return /1 discs to upload/.test(document.getElementById('plan-summary').textContent);",
        )
        .await?;
    // About 2 MB/s: the 24 MiB image takes over ten seconds, so a pause
    // made once the first part is on the server lands well before the end
    // even on a loaded machine.
    browser.throttle(Some(2_000_000)).await?;
    browser.click("#start").await?;
    let url = browser
        .wait_js(
            60,
            "the upload's URL",
            "for (let i = 0; i < localStorage.length; i++) { \
               const k = localStorage.key(i); \
               if (k.startsWith('tus::')) return JSON.parse(localStorage.getItem(k)).uploadUrl; } \
             return null;",
        )
        .await?;
    let url = url.as_str().context("upload URL")?.to_string();
    let offset = || async {
        let r = app
            .client
            .head(&url)
            .bearer_auth(&a)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await?;
        anyhow::Ok(header(&r, "upload-offset").parse::<u64>().unwrap_or(0))
    };
    // Wait for at least one whole part to be on the server, then pause.
    let mut at = 0;
    for _ in 0..3000 {
        at = offset().await?;
        if at > 0 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(at > 0, "no part reached the server in 60 s");
    browser.click("#pause").await?;
    browser
        .wait_js(
            30,
            "the uploader paused",
            "return document.getElementById('pause').disabled && \
                    !document.getElementById('resume').disabled ? true : null;",
        )
        .await?;

    // A reload loses the page but not the upload: the same file again resumes.
    browser.throttle(None).await?;
    browser.client.goto(&app.url("/librarian/upload")).await?;
    browser
        .wait_for_id(30, "the uploader, still signed in", "uploader")
        .await?;
    pick(&browser.client, &[&path]).await?;
    browser
        .wait_js(
            60,
            "the plan after the reload",
            "return /1 discs to upload/.test(document.getElementById('plan-summary').textContent);",
        )
        .await?;
    // The page that sent the first parts is gone, so what the server holds
    // now is what the resumed upload must start from.
    let paused_at = offset().await?;
    assert!(paused_at >= at && paused_at > 0, "{paused_at} {at}");
    assert!(
        paused_at < big.len() as u64,
        "the pause came too late to test anything"
    );
    browser.click("#start").await?;
    let rows = report(&browser).await?;
    let r = row(&rows, 1);
    assert_eq!(r["outcome"], "uploaded", "{r}");
    assert_eq!(
        r["bytes_sent"].as_u64(),
        Some(big.len() as u64 - paused_at),
        "only what the server lacked was sent: {r}"
    );
    assert_eq!(r["sha256"], sha(&big));
    assert_eq!(
        blob_size(&app, &a, &sha(&big)).await?,
        Some(big.len() as u64)
    );
    browser.close().await
}

async fn a_wrong_token_or_an_ended_session_is_refused_before_anything_moves(
    backend: Backend,
) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("A").await?;
    let dir = tempfile::tempdir()?;
    copy_fixtures(dir.path(), &["level1.iso"]);
    let browser = Browser::start().await?;
    let c = &browser.client;

    // A wrong token never reaches the uploader.
    let wrong = browser
        .sign_in(
            &app.url("/librarian/upload"),
            "not-a-token",
            "const e = document.getElementById('error'); return e ? e.textContent : null;",
        )
        .await;
    assert!(wrong.is_ok(), "{wrong:?}");
    assert!(c.find(Locator::Id("uploader")).await.is_err());

    // Signed in, then the session ends (signed out elsewhere): the page's calls are refused
    // at the first step and nothing moves.
    browser
        .sign_in(
            &app.url("/librarian/upload"),
            &a,
            "return document.getElementById('uploader') ? true : null;",
        )
        .await?;
    let cookie = c.get_named_cookie("spindle_staff").await?;
    spindle::db::tokens::delete_session(&app.state.db, &spindle::auth::hash_token(cookie.value()))
        .await?;
    pick(c, &[&dir.path().join("level1.iso")]).await?;
    let error = browser
        .wait_js(
            30,
            "the refusal",
            "const e = document.getElementById('error'); return e.hidden ? null : e.textContent;",
        )
        .await?;
    assert!(
        error.as_str().unwrap_or_default().contains("sign in again"),
        "{error}"
    );
    let rows = c
        .execute(
            "return document.getElementById('rows').children.length;",
            vec![],
        )
        .await?;
    assert_eq!(rows, Value::from(0));
    assert_eq!(
        spindle::db::uploads::count_pending(&app.state.db).await?,
        0,
        "no upload was created"
    );
    browser.close().await
}

/// The two planning endpoints the page uses, with what a broken or hostile page could send.
#[tokio::test]
async fn probe_and_plan_refuse_what_they_cannot_answer() -> Result<()> {
    let app = TestApp::start(Backend::SqliteLocal).await?;
    let a = app.librarian("A").await?;
    let probe = |size: usize, body: Vec<u8>, token: Option<&str>| {
        let mut req = app
            .client
            .post(app.url(&format!("/api/v1/images/probe?size={size}")))
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let sample = |bytes: &[u8]| {
        let head = &bytes[..bytes.len().min(96 * 1024)];
        let tail = &bytes[bytes.len().saturating_sub(4096)..];
        [head, tail].concat()
    };
    let iso = fixture("rr-joliet.iso");
    let r = probe(iso.len(), sample(&iso), Some(&a)).await?;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await?;
    assert_eq!(v["format"], "iso9660");
    assert_eq!(
        probe(iso.len(), sample(&iso), None).await?.status(),
        401,
        "anonymous"
    );
    let r = probe(iso.len(), sample(&iso)[..1000].to_vec(), Some(&a)).await?;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await?["code"], "invalid-sample");
    let r = probe(50_000, sample(&iso), Some(&a)).await?;
    assert_eq!(r.status(), 400, "more sample than a file of that size has");
    let mut zip = b"PK\x03\x04".to_vec();
    zip.resize(200_000, 7);
    let r = probe(zip.len(), sample(&zip), Some(&a)).await?;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "unsupported-image-format");
    assert!(
        v["detail"].as_str().unwrap_or_default().contains("ZIP"),
        "{v}"
    );
    let r = probe(0, Vec::new(), Some(&a)).await?;
    assert_eq!(r.status(), 422, "an empty file");
    let cue = fixture("disc.cue");
    let v: Value = probe(cue.len(), sample(&cue), Some(&a))
        .await?
        .json()
        .await?;
    assert_eq!(v["format"], "cue");
    assert_eq!(v["cue_files"].as_array().map(Vec::len), Some(3), "{v}");

    let plan = |body: Value| {
        app.client
            .post(app.url("/api/v1/upload-plans"))
            .bearer_auth(&a)
            .json(&body)
            .send()
    };
    let iso_probe = serde_json::json!({"format": "iso9660"});
    let r = plan(serde_json::json!({
        "files": [
            {"path": "shelf/0001.iso", "size": 10, "probe": iso_probe},
            {"path": "shelf/9787111547426_2.iso", "size": 20, "probe": iso_probe},
            {"path": "shelf/notes.txt", "size": 3, "error": "not a recognised disc image"},
        ],
        "patterns": ["{isbn}_{disc}.iso", "{barcode}.iso"],
    }))
    .await?;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await?;
    assert_eq!(v["discs"], 2, "{v}");
    assert_eq!(v["bytes"], 30);
    assert_eq!(v["rows"][0]["barcode"], "0001", "{v}");
    assert_eq!(v["rows"][1]["isbn"], "9787111547426");
    assert_eq!(v["rows"][1]["disc_number"], 2);
    assert_eq!(v["rows"][2]["invalid"], "not a recognised disc image");
    for (body, code) in [
        (
            serde_json::json!({"files": [{"path": "a.iso", "size": 1}], "patterns": ["{nope}.iso"]}),
            "invalid-pattern",
        ),
        (
            serde_json::json!({"files": [{"path": "a.iso", "size": 1}, {"path": "a.iso", "size": 1}]}),
            "duplicate-file",
        ),
        (
            serde_json::json!({"files": [], "manifest": "path,colour\na.iso,red\n"}),
            "invalid-manifest",
        ),
        (serde_json::json!({"files": "a.iso"}), "invalid-json"),
    ] {
        let r = plan(body).await?;
        let status = r.status();
        let v: Value = r.json().await?;
        assert_eq!(v["code"], code, "{v}");
        assert!(status == 400 || status == 422, "{status} {v}");
    }
    // Why a row or a pattern is refused, in the language the uploader's page asks for.
    let zh_plan = |body: Value| {
        app.client
            .post(app.url("/api/v1/upload-plans"))
            .bearer_auth(&a)
            .header("Accept-Language", "zh-CN")
            .json(&body)
            .send()
    };
    let v: Value = zh_plan(serde_json::json!({
        "files": [{"path": "a.iso", "size": 10, "probe": iso_probe}],
        "manifest": "path,disc_number,isbn\na.iso,0,\na.iso,1,9787111547420\nb.iso,,\n",
    }))
    .await?
    .json()
    .await?;
    let invalid: Vec<&str> = (0..3)
        .map(|i| v["rows"][i]["invalid"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(
        invalid,
        [
            "disc_number 须为 1 到 999 之间的数字",
            "ISBN 9787111547420：校验位不对",
            "b.iso 不在所选文件中"
        ],
        "{v}"
    );
    let v: Value = zh_plan(
        serde_json::json!({"files": [{"path": "a.iso", "size": 1}], "patterns": ["{nope}.iso"]}),
    )
    .await?
    .json()
    .await?;
    assert_eq!(
        v["detail"],
        "模式 {nope}.iso：未知字段 {nope}（可用 barcode、isbn、record_id、disc、label、any）",
        "{v}"
    );
    Ok(())
}
