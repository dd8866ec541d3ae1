//! What a newcomer meets first (issue 17): the home page (the consortium in figures, its
//! members by name, the discs this reader may open, newest and most used), signed links that
//! open pages rather than JSON, and a disc launched off campus by a signed link whose start
//! page loads its images, styles, scripts and audio in headless Chromium.

use crate::common;

use std::process::Command;

use anyhow::{Context, Result, ensure};
use base64::Engine as _;
use common::browser::Browser;
use common::{Backend, TestApp, iso_image, wait_indexed};
use serde_json::{Value, json};
use spindle::calendar::Day;
use spindle::usage::rollup;

on_both_backends!(
    the_home_page_shows_what_a_reader_may_open,
    a_launched_disc_works_off_campus,
    text_on_chinese_discs_reads_right,
    every_page_fits_a_phone
);

/// The text of `id`'s element in `html` (up to its closing tag), or "" when absent.
fn section<'a>(html: &'a str, id: &str) -> &'a str {
    let Some(start) = html.find(&format!("id=\"{id}\"")) else {
        return "";
    };
    let rest = &html[start..];
    let end = rest
        .find("</ol>")
        .or_else(|| rest.find("</ul>"))
        .unwrap_or(rest.len());
    &rest[..end]
}

async fn page(client: &reqwest::Client, url: String, from: &str) -> Result<String> {
    let r = client
        .get(url)
        .header("X-Forwarded-For", from)
        .send()
        .await?;
    ensure!(r.status() == 200, "{}", r.status());
    Ok(r.text().await?)
}

async fn the_home_page_shows_what_a_reader_may_open(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend).behind_loopback_proxy().start().await?;
    let a = app.librarian("ZZU").await?;
    let b = app.librarian("CNU").await?;
    let admin = app.admin().await?;
    app.set_networks(&admin, "ZZU", &["10.1.0.0/16"]).await?;
    let open_a = app
        .disc(
            &a,
            &iso_image(1000, 171),
            json!({"label": "Open of ZZU", "open": true}),
        )
        .await?;
    let closed_a = app
        .disc(&a, &iso_image(1000, 172), json!({"label": "Closed of ZZU"}))
        .await?;
    let closed_b = app
        .disc(&b, &iso_image(1000, 173), json!({"label": "Closed of CNU"}))
        .await?;
    let outside = "203.0.113.9";
    let inside = "10.1.2.3";
    let anon = common::http();

    let html = page(&anon, app.url("/"), outside).await?;
    // The consortium in figures and its members by name (not by code).
    assert!(html.contains(r#"id="disc-count">3<"#), "{html}");
    assert!(html.contains(r#"id="member-count">2<"#), "{html}");
    assert!(html.contains("ZZU library") && html.contains("CNU library"));
    assert!(html.contains(r#"<a class="brand" href="/">"#));
    assert!(html.contains(r#"action="/search""#));
    // Outside every range: the open disc only.
    let newest = section(&html, "newest");
    assert!(newest.contains(&format!("/discs/{open_a}\"")), "{newest}");
    for hidden in [closed_a, closed_b] {
        assert!(!newest.contains(&format!("/discs/{hidden}\"")), "{newest}");
    }
    // Nothing used yet: the empty state says when counts appear.
    assert!(section(&html, "most-used").is_empty());
    assert!(html.contains("after the day closes"));
    // In ZZU's range: ZZU's closed disc too, newest first, never CNU's.
    let html = page(&anon, app.url("/"), inside).await?;
    let newest = section(&html, "newest");
    let (at_closed, at_open) = (
        newest
            .find(&format!("/discs/{closed_a}\""))
            .context("closed A listed")?,
        newest
            .find(&format!("/discs/{open_a}\""))
            .context("open A listed")?,
    );
    assert!(at_closed < at_open, "newest first: {newest}");
    assert!(!newest.contains(&format!("/discs/{closed_b}\"")));
    // In Chinese.
    let zh = page(&anon, app.url("/?lang=zh"), outside).await?;
    assert!(
        zh.contains("联盟图书馆随书光盘") && zh.contains("最近添加"),
        "{zh}"
    );

    // A member-wide signed link opens the home page, not JSON, and lists CNU's closed disc.
    let r = app
        .client
        .post(app.url("/api/v1/members/CNU/signed-links"))
        .bearer_auth(&b)
        .json(&json!({"expires_in_secs": 600}))
        .send()
        .await?;
    ensure!(r.status() == 201);
    let link: Value = r.json().await?;
    let url = link["url"].as_str().context("url")?;
    assert_eq!(
        url,
        app.url(&format!(
            "/?access={}",
            link["token"].as_str().context("token")?
        ))
    );
    let kept = common::http_builder().cookie_store(true).build()?;
    let r = kept
        .get(url)
        .header("X-Forwarded-For", outside)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(common::header(&r, "content-type").starts_with("text/html"));
    let html = r.text().await?;
    assert!(
        section(&html, "newest").contains(&format!("/discs/{closed_b}\"")),
        "{html}"
    );
    // The link was kept: the disc's page opens without it.
    let disc_page = page(&kept, app.url(&format!("/discs/{closed_b}")), outside).await?;
    assert!(disc_page.contains("Closed of CNU"));
    // A disc's signed link opens the disc's page.
    let r = app
        .client
        .post(app.url(&format!("/api/v1/discs/{closed_a}/signed-links")))
        .bearer_auth(&a)
        .json(&json!({"expires_in_secs": 600}))
        .send()
        .await?;
    let link: Value = r.json().await?;
    let url = link["url"].as_str().context("url")?;
    assert!(
        url.starts_with(&app.url(&format!("/discs/{closed_a}?access="))),
        "{url}"
    );
    let r = anon
        .get(url)
        .header("X-Forwarded-For", outside)
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(common::header(&r, "content-type").starts_with("text/html"));
    assert!(r.text().await?.contains("id=\"facts\""));

    // Most used, once the day is rolled up: the open disc (three downloads) ahead of ZZU's
    // closed one (one), and the closed one only for readers who may open it.
    for (disc, times, from) in [(open_a, 3, outside), (closed_a, 1, inside)] {
        for _ in 0..times {
            // A fresh client each time: separate sessions, no double-click filtering.
            let r = common::http()
                .get(app.url(&format!("/api/v1/discs/{disc}/image")))
                .header("X-Forwarded-For", from)
                .header("User-Agent", format!("reader-{}", common::random_hex(4)))
                .send()
                .await?;
            assert_eq!(r.status(), 200);
            r.bytes().await?;
        }
    }
    app.events_today().await?;
    rollup::rollup_day(
        &app.state.db,
        &app.state.config.stats.time_zone,
        Day::today(),
    )
    .await?;
    let html = page(&anon, app.url("/"), inside).await?;
    let used = section(&html, "most-used");
    let (first, second) = (
        used.find(&format!("/discs/{open_a}\""))
            .context("open A used")?,
        used.find(&format!("/discs/{closed_a}\""))
            .context("closed A used")?,
    );
    assert!(first < second, "{used}");
    let html = page(&anon, app.url("/"), outside).await?;
    let used = section(&html, "most-used");
    assert!(used.contains(&format!("/discs/{open_a}\"")), "{used}");
    assert!(!used.contains(&format!("/discs/{closed_a}\"")), "{used}");
    Ok(())
}

/// A start page that uses every kind of subresource by relative links: a style sheet (the
/// body's colour), a script (marks the body), an image and an audio file (half a second of
/// silence as 16-bit PCM WAV).
fn web_disc(dir: &std::path::Path) -> Result<Vec<u8>> {
    let tree = dir.join("tree");
    std::fs::create_dir_all(tree.join("css"))?;
    std::fs::create_dir_all(tree.join("media"))?;
    std::fs::write(
        tree.join("index.html"),
        r#"<!doctype html><html><head><link rel="stylesheet" href="css/site.css">
<script src="media/app.js"></script></head>
<body><h1>Course disc</h1><img src="media/logo.png" alt="logo">
<audio src="media/tone.wav" preload="auto"></audio></body></html>"#,
    )?;
    std::fs::write(
        tree.join("css/site.css"),
        "body { background-color: rgb(1, 2, 3); }\n",
    )?;
    std::fs::write(
        tree.join("media/app.js"),
        "document.addEventListener('DOMContentLoaded', () => { document.body.dataset.js = 'ran'; });\n",
    )?;
    // A 1×1 PNG (the fixture tree's logo).
    let png = base64::engine::general_purpose::STANDARD.decode(
        "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==",
    )?;
    std::fs::write(tree.join("media/logo.png"), png)?;
    let samples = 4000u32;
    let mut wav = Vec::new();
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + samples * 2).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
    wav.extend_from_slice(&1u16.to_le_bytes()); // mono
    wav.extend_from_slice(&8000u32.to_le_bytes());
    wav.extend_from_slice(&16000u32.to_le_bytes());
    wav.extend_from_slice(&2u16.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(samples * 2).to_le_bytes());
    wav.resize(wav.len() + samples as usize * 2, 0);
    std::fs::write(tree.join("media/tone.wav"), wav)?;
    let iso = dir.join("web.iso");
    let out = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-r", "-J", "-V", "COURSE", "-o"])
        .arg(&iso)
        .arg(&tree)
        .output()
        .context("xorriso (scripts/peers.sh installs it)")?;
    ensure!(
        out.status.success(),
        "xorriso: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(std::fs::read(iso)?)
}

/// Off campus with a signed link, a launched disc's start page loads everything it links
/// to, though it runs sandboxed (an opaque origin, to which Chromium sends no cookie): the
/// launch carries the link in the page's path. The link opens no other disc that way.
async fn a_launched_disc_works_off_campus(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let cnu = app.librarian("CNU").await?;
    let dir = tempfile::tempdir()?;
    let disc = app
        .disc(
            &cnu,
            &web_disc(dir.path())?,
            json!({"label": "Course disc"}),
        )
        .await?;
    let other = app
        .disc(&cnu, &iso_image(1000, 174), json!({"label": "Other"}))
        .await?;
    wait_indexed(&app, Some(&cnu), disc).await?;
    // No member's ranges hold this browser's address (127.0.0.1): it is off campus.
    let r = reqwest::get(app.url(&format!("/api/v1/discs/{disc}/files/index.html"))).await?;
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(app.url(&format!("/api/v1/discs/{disc}/signed-links")))
        .bearer_auth(&cnu)
        .json(&json!({"expires_in_secs": 600}))
        .send()
        .await?;
    let link: Value = r.json().await?;
    let url = link["url"].as_str().context("url")?.to_string();
    let token = link["token"].as_str().context("token")?.to_string();

    let browser = Browser::start().await?;
    let c = &browser.client;
    c.goto(&url).await?;
    browser.wait_for_id(30, "the disc page", "facts").await?;
    browser.click("#launch").await?;
    let loaded = browser
        .wait_js(
            30,
            "the start page with its style, script, image and audio",
            "const i = document.querySelector('img'); const a = document.querySelector('audio');
             if (!i || !a) return null;
             const style = getComputedStyle(document.body).backgroundColor;
             return i.complete && i.naturalWidth > 0 && a.readyState >= 1 && a.duration > 0.4
                 && document.body.dataset.js === 'ran' && style === 'rgb(1, 2, 3)'
               ? location.pathname : null;",
        )
        .await?;
    browser.screenshot("launched-off-campus").await?;
    assert_eq!(
        loaded,
        json!(format!("/g/{token}/api/v1/discs/{disc}/files/index.html"))
    );
    browser.close().await?;
    // The link in the path opens its disc and no other, nor anything that is not a disc.
    let plain = common::http();
    let r = plain
        .get(app.url(&format!(
            "/g/{token}/api/v1/discs/{disc}/files/css/site.css"
        )))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.text().await?,
        "body { background-color: rgb(1, 2, 3); }\n"
    );
    let r = plain
        .get(app.url(&format!("/g/{token}/api/v1/discs/{other}/files/")))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = plain
        .get(app.url(&format!("/g/{token}/staff/stats")))
        .send()
        .await?;
    assert_eq!(r.status(), 404);
    let r = plain
        .get(app.url(&format!("/g/{token}x/api/v1/discs/{disc}/files/index.html")))
        .send()
        .await?;
    assert_eq!(r.status(), 403, "a tampered link opens nothing");
    Ok(())
}

/// COUNTER as a new reader meets it (CoP R5.1): a fresh browser's double-click — the first
/// click brings no cookie, the second the cookie the first was given — is one request in one
/// session (§7.2, §7.3); three identical searches within 30 s are three searches (§7.6: a
/// search counts each time it runs; §7.2 names no searches); a HEAD on a refused disc is no
/// No_License (a HEAD uses nothing); `/status` leaves out a Registry_Record it does not have.
#[tokio::test]
async fn counter_rules_a_new_reader_meets() -> Result<()> {
    let app = TestApp::start(Backend::SqliteLocal).await?;
    let a = app.librarian("ZZU").await?;
    let member = spindle::db::members::by_code(&app.state.db, "ZZU")
        .await?
        .context("ZZU")?
        .id;
    let admin = app.admin().await?;
    app.set_networks(&admin, "ZZU", &["127.0.0.0/8"]).await?;
    let b = app.librarian("CNU").await?;
    let open = app
        .disc(&a, &iso_image(1000, 181), json!({"open": true}))
        .await?;
    let closed = app.disc(&b, &iso_image(1000, 182), json!({})).await?;
    let browser = common::http_builder()
        .cookie_store(true)
        .user_agent("Mozilla/5.0 (X11; Linux x86_64) Chrome/131.0")
        .build()?;
    for _ in 0..2 {
        let r = browser
            .get(app.url(&format!("/api/v1/discs/{open}/image")))
            .send()
            .await?;
        assert_eq!(r.status(), 200);
        r.bytes().await?;
    }
    for _ in 0..3 {
        let r = browser.get(app.url("/search?q=disc")).send().await?;
        assert_eq!(r.status(), 200);
    }
    let r = browser
        .head(app.url(&format!("/api/v1/discs/{closed}/image")))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let events = app.events_today().await?;
    let actions: Vec<&str> = events.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        ["image", "image", "search", "search", "search"],
        "{events:#?}"
    );
    // The click that set the cookie and the click that brought it back: one visitor.
    assert_eq!(events[0].dc_key, events[1].dc_key);
    assert_eq!(events[0].session_key, events[1].session_key);
    let today = Day::today();
    rollup::rollup_day(&app.state.db, &app.state.config.stats.time_zone, today).await?;
    let day = today.to_string();
    let facts = spindle::db::usage::monthly(&app.state.db, member, &day, &day).await?;
    let image: Vec<(i64, i64, i64, i64)> = facts
        .iter()
        .filter(|f| f.disc_id == open)
        .map(|f| (f.tii, f.tir, f.uii, f.uir))
        .collect();
    assert_eq!(image, [(1, 1, 1, 1)]);
    assert!(facts.iter().all(|f| f.no_license == 0), "{facts:?}");
    let searches = spindle::db::usage::monthly_searches(&app.state.db, member, &day, &day).await?;
    assert_eq!(searches, [(day[..7].to_string(), 3)]);
    let status: Value = reqwest::get(app.url("/sushi/r51/status"))
        .await?
        .json()
        .await?;
    assert!(status[0].get("Registry_Record").is_none(), "{status}");
    Ok(())
}

/// What an operator reads: `spindle serve` names the home page; one access-log line per
/// request at `info` (JSON here: method, path with links redacted, status, bytes actually
/// sent, duration, the client's address); `/metrics` as the OpenMetrics text it is, with
/// latency histograms by route and the queues' depths.
#[tokio::test]
async fn what_an_operator_reads() -> Result<()> {
    let d =
        common::server::Deployment::new(Backend::SqliteLocal, &[("SPINDLE_LOG__FORMAT", "json")])
            .await?;
    let server = d.start(None).await?;
    let base = server.base.clone();
    let disc = d.disc(&base, &iso_image(1000, 191)).await?;
    let r = common::http()
        .post(format!("{base}/api/v1/discs/{disc}/signed-links"))
        .bearer_auth(&d.librarian)
        .json(&json!({"expires_in_secs": 600}))
        .send()
        .await?;
    let token = r.json::<Value>().await?["token"]
        .as_str()
        .context("token")?
        .to_string();
    let c = common::http();
    let home = c.get(format!("{base}/")).send().await?;
    assert_eq!(home.status(), 200);
    home.bytes().await?;
    let image = c
        .get(format!("{base}/api/v1/discs/{disc}/image?access={token}"))
        .header("range", "bytes=0-99")
        .send()
        .await?;
    assert_eq!(image.status(), 206);
    image.bytes().await?;
    let r = c
        .get(format!("{base}/g/{token}/api/v1/discs/{disc}/files/"))
        .send()
        .await?;
    r.bytes().await?;
    let metrics = c.get(format!("{base}/metrics")).send().await?;
    assert_eq!(metrics.status(), 200);
    assert_eq!(
        common::header(&metrics, "content-type"),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let text = metrics.text().await?;
    assert!(text.ends_with("# EOF\n"), "OpenMetrics ends with # EOF");
    assert!(
        text.contains(
            r#"spindle_http_request_duration_seconds_bucket{le="0.001",method="GET",route="/"}"#
        ) || text.contains(
            r#"spindle_http_request_duration_seconds_bucket{method="GET",route="/",le="0.001"}"#
        ),
        "{text}"
    );
    assert!(text.contains("spindle_index_queue "), "{text}");
    assert!(text.contains("spindle_link_queue "), "{text}");
    server.terminate()?;

    let log = std::fs::read_to_string(d.dir.path().join("server.log"))?;
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["target"] == "spindle::access")
        .collect();
    let find = |path: &str| {
        lines
            .iter()
            .find(|v| {
                v["fields"]["path"]
                    .as_str()
                    .is_some_and(|p| p.starts_with(path))
            })
            .cloned()
    };
    let home = lines
        .iter()
        .find(|v| v["fields"]["path"] == "/")
        .context("a line for the home page")?;
    assert_eq!(home["level"], "INFO");
    assert_eq!(home["fields"]["method"], "GET");
    assert_eq!(home["fields"]["status"], 200);
    assert!(
        home["fields"]["bytes"].as_u64().is_some_and(|b| b > 500),
        "{home}"
    );
    assert_eq!(home["fields"]["client"], "127.0.0.1");
    assert!(home["fields"]["ms"].is_u64());
    let image = find(&format!("/api/v1/discs/{disc}/image")).context("the image's line")?;
    assert_eq!(
        image["fields"]["path"],
        format!("/api/v1/discs/{disc}/image?access=<redacted>")
    );
    assert_eq!(image["fields"]["status"], 206);
    assert_eq!(image["fields"]["bytes"], 100);
    assert!(
        !log.contains(&token),
        "the signed link is never written to the log"
    );
    // Every request has its line (the upload's included), none twice for one request.
    let created = lines
        .iter()
        .filter(|v| v["fields"]["method"] == "POST")
        .count();
    assert!(created >= 3, "upload, register, link: {created}");
    Ok(())
}

/// Text on Chinese discs is GBK more often than UTF-8, and Taiwanese discs' Big5 must not be
/// read as GBK: text and HTML files that do not declare their charset are served with the
/// one their bytes are in; a page that declares its own keeps it; Chromium shows the text.
async fn text_on_chinese_discs_reads_right(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let lib = app.librarian("TW").await?;
    let dir = tempfile::tempdir()?;
    let tree = dir.path().join("tree");
    std::fs::create_dir_all(&tree)?;
    let simplified =
        "说明：这是随书光盘。请先阅读本文件，然后运行安装程序。光盘中包含练习题和答案。";
    let traditional =
        "說明：這是隨書光碟。請先閱讀本檔案，然後執行安裝程式。光碟中包含練習題和答案。";
    let write = |name: &str, bytes: &[u8]| std::fs::write(tree.join(name), bytes);
    write("gbk.txt", &encoding_rs::GBK.encode(simplified).0)?;
    write("big5.txt", &encoding_rs::BIG5.encode(traditional).0)?;
    write("utf8.txt", simplified.as_bytes())?;
    let page = format!("<html><body><p id=\"t\">{simplified}</p></body></html>");
    write("page.htm", &encoding_rs::GBK.encode(&page).0)?;
    let declared = format!(
        "<html><head><meta charset=\"gbk\"></head><body><p id=\"t\">{simplified}</p></body></html>"
    );
    write("declared.htm", &encoding_rs::GBK.encode(&declared).0)?;
    let iso = dir.path().join("text.iso");
    let out = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-r", "-J", "-V", "TEXT", "-o"])
        .arg(&iso)
        .arg(&tree)
        .output()
        .context("xorriso (scripts/peers.sh installs it)")?;
    ensure!(
        out.status.success(),
        "xorriso: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let disc = app
        .disc(&lib, &std::fs::read(&iso)?, json!({"open": true}))
        .await?;
    wait_indexed(&app, Some(&lib), disc).await?;
    for (name, content_type, text) in [
        ("gbk.txt", "text/plain; charset=gb18030", simplified),
        ("big5.txt", "text/plain; charset=Big5", traditional),
        ("utf8.txt", "text/plain; charset=utf-8", simplified),
        ("page.htm", "text/html; charset=gb18030", simplified),
        ("declared.htm", "text/html", simplified),
    ] {
        let r = reqwest::get(app.url(&format!("/api/v1/discs/{disc}/files/{name}"))).await?;
        assert_eq!(r.status(), 200);
        assert_eq!(common::header(&r, "content-type"), content_type, "{name}");
        let bytes = r.bytes().await?;
        let encoding = match content_type.split("charset=").nth(1) {
            Some(label) => encoding_rs::Encoding::for_label(label.as_bytes()).context("label")?,
            None => encoding_rs::GBK,
        };
        assert!(encoding.decode(&bytes).0.contains(text), "{name}");
    }
    // What a reader sees: the page's text, not mojibake.
    let browser = Browser::start().await?;
    for name in ["page.htm", "declared.htm", "big5.txt"] {
        browser
            .client
            .goto(&app.url(&format!("/api/v1/discs/{disc}/files/{name}")))
            .await?;
        let shown = browser
            .wait_js(
                10,
                name,
                "return document.body ? document.body.innerText : null;",
            )
            .await?;
        let want = if name == "big5.txt" {
            traditional
        } else {
            simplified
        };
        assert!(
            shown.as_str().is_some_and(|s| s.contains(want)),
            "{name}: {shown}"
        );
    }
    browser.close().await?;
    Ok(())
}

/// Refused off campus, a reader is told whose disc it is, which disc, and the ways in its
/// library offers (set by the library's librarian: proxy, VPN, whom to ask) — in Chinese on
/// the Chinese page; a library that set nothing still names itself and the disc.
#[tokio::test]
async fn the_refusal_names_the_library_and_the_ways_in() -> Result<()> {
    let app = TestApp::start(Backend::SqliteLocal).await?;
    let a = app.librarian("ZZU").await?;
    let disc = app
        .disc(
            &a,
            &iso_image(1000, 201),
            json!({"label": "大学英语 听力 1"}),
        )
        .await?;
    // Nothing set: the library and the disc are still named.
    let r = reqwest::get(app.url(&format!("/discs/{disc}?lang=zh"))).await?;
    assert_eq!(r.status(), 403);
    let html = r.text().await?;
    assert!(html.contains("此光盘仅供ZZU library读者使用"), "{html}");
    assert!(html.contains("大学英语 听力 1"));
    assert!(!html.contains("id=\"via-proxy\""));
    // Bad values are refused, saying which.
    let put = |body: Value| {
        app.client
            .put(app.url("/api/v1/members/ZZU/off-campus"))
            .bearer_auth(&a)
            .json(&body)
            .send()
    };
    let r = put(json!({"proxy_prefix": "javascript:alert(1)//"})).await?;
    assert_eq!(r.status(), 422);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "invalid-off-campus");
    assert!(
        v["detail"]
            .as_str()
            .is_some_and(|d| d.contains("proxy_prefix")),
        "{v}"
    );
    let r = put(json!({
        "proxy_prefix": "https://ezproxy.zzu.example/login?url=",
        "vpn_url": "https://vpn.zzu.example/",
        "contact": "图书馆数字资源部 0371-12345678"
    }))
    .await?;
    assert_eq!(r.status(), 200);
    let saved: Value = app
        .client
        .get(app.url("/api/v1/members/ZZU/off-campus"))
        .bearer_auth(&a)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(saved["vpn_url"], "https://vpn.zzu.example/");
    // The refusal, on the disc page and a folder page alike.
    for path in [format!("/discs/{disc}"), format!("/discs/{disc}/browse/")] {
        let r = reqwest::get(app.url(&format!("{path}?lang=zh"))).await?;
        assert_eq!(r.status(), 403);
        let html = r.text().await?;
        let page = app.url(&path);
        let encoded: String = form_urlencoded::byte_serialize(page.as_bytes()).collect();
        assert!(
            html.contains(&format!(
                "href=\"https://ezproxy.zzu.example/login?url={}\"",
                encoded.replace('&', "&amp;")
            )),
            "{html}"
        );
        assert!(html.contains("href=\"https://vpn.zzu.example/\""));
        assert!(
            html.contains("咨询图书馆： 图书馆数字资源部 0371-12345678"),
            "{html}"
        );
        assert!(
            !html.contains("this disc is for readers"),
            "no English on the Chinese page"
        );
    }
    Ok(())
}

/// Every page at 390 px (a phone) in Chromium: nothing wider than the screen but a table or
/// chart in its own scrolling box, every column of every table still there, the staff
/// navigation on one line (it scrolls sideways).
async fn every_page_fits_a_phone(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("ZZU").await?;
    let disc = app
        .disc(
            &a,
            &common::discs::fixture("rr-joliet.iso"),
            json!({"open": true, "label": "Course disc"}),
        )
        .await?;
    wait_indexed(&app, Some(&a), disc).await?;
    let browser = Browser::start().await?;
    browser.client.set_window_size(390, 844).await?;
    const CHECK: &str = "
        const over = [...document.querySelectorAll('body *')].filter((e) => {
          const r = e.getBoundingClientRect();
          if (r.width === 0 || r.right <= document.documentElement.clientWidth + 1) return false;
          // Inside a box that scrolls sideways is fine: that is how a wide table is read.
          for (let p = e; p; p = p.parentElement) {
            const s = getComputedStyle(p);
            if ((s.overflowX === 'auto' || s.overflowX === 'scroll') && p.getBoundingClientRect().right <= document.documentElement.clientWidth + 1) return false;
          }
          return true;
        }).map((e) => e.tagName + (e.id ? '#' + e.id : '') + ' ' + Math.round(e.getBoundingClientRect().right));
        const hidden = [...document.querySelectorAll('th, td')].filter((c) => getComputedStyle(c).display === 'none').length;
        const nav = document.querySelector('.bar nav');
        const navRows = nav ? new Set([...nav.children].map((c) => { const r = c.getBoundingClientRect(); return Math.round((r.top + r.bottom) / 2); })).size : 0;
        return document.readyState === 'complete' ? {over, hidden, navRows} : null;";
    let mut pages = vec![
        "/".to_string(),
        "/search?q=Course".to_string(),
        format!("/discs/{disc}"),
        format!("/discs/{disc}/browse/"),
    ];
    let mut staff = false;
    for path in [
        "/staff/stats",
        "/staff/discs",
        "/staff/settings",
        "/librarian/upload",
    ] {
        pages.push(path.to_string());
    }
    let mut problems = Vec::new();
    for path in &pages {
        if (path.starts_with("/staff") || path.starts_with("/librarian")) && !staff {
            browser
                .sign_in(
                    &app.url(path),
                    &a,
                    "return document.querySelector('main') ? true : null;",
                )
                .await?;
            staff = true;
        }
        browser.client.goto(&app.url(path)).await?;
        let v = browser.wait_js(30, path, CHECK).await?;
        if v["over"].as_array().is_some_and(|o| !o.is_empty())
            || v["hidden"] != 0
            || v["navRows"].as_u64().is_some_and(|rows| rows > 1)
        {
            problems.push(format!("{path}: {v}"));
        }
        let name = format!("phone{}", path.replace(['/', '?', '='], "-"));
        browser.screenshot(&name).await?;
    }
    browser.close().await?;
    assert!(problems.is_empty(), "{problems:#?}");
    Ok(())
}

/// A real nginx running `deploy/nginx-spindle.conf` as written — only its ports, certificate
/// and (for a base path) its `location` changed — in front of `upstream`, answering HTTPS on
/// `tls_port`; stopped when the guard drops. Returns the plain-HTTP port too.
async fn nginx_in_front(
    upstream: &str,
    tls_port: u16,
    work: &std::path::Path,
    location: &str,
) -> Result<(common::nginx::Nginx, u16)> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cert = work.join("cert.pem");
    let key = work.join("key.pem");
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()?;
    ensure!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plain_port = common::nginx::free_port()?;
    let mut site = std::fs::read_to_string(root.join("deploy/nginx-spindle.conf"))?;
    for (from, to) in [
        (
            "server 127.0.0.1:8080;".to_string(),
            format!("server {upstream};"),
        ),
        (
            "listen 443 ssl http2;".to_string(),
            format!("listen 127.0.0.1:{tls_port} ssl http2;"),
        ),
        (
            "listen 80;".to_string(),
            format!("listen 127.0.0.1:{plain_port};"),
        ),
        (
            "/etc/ssl/spindle/fullchain.pem".to_string(),
            cert.display().to_string(),
        ),
        (
            "/etc/ssl/spindle/privkey.pem".to_string(),
            key.display().to_string(),
        ),
        (
            "location / {".to_string(),
            format!("location {location} {{"),
        ),
    ] {
        ensure!(site.contains(&from), "the example no longer says {from}");
        site = site.replace(&from, &to);
    }
    let probe = common::http_builder()
        .danger_accept_invalid_certs(true)
        .build()?;
    let health = format!("https://127.0.0.1:{tls_port}{}healthz", location);
    let nginx = common::nginx::start(work, &site, &health, &probe).await?;
    Ok((nginx, plain_port))
}

/// An image uploaded by tus in one PATCH through the proxy: created at `api` (the address
/// readers use, with any base path), patched at the Location it answers (resolved against
/// `origin`). Returns that Location as given.
async fn tus_in_one_patch(
    http: &reqwest::Client,
    origin: &str,
    api: &str,
    token: &str,
    bytes: &[u8],
    name: &str,
) -> Result<String> {
    let r = http
        .post(format!("{api}/api/v1/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", bytes.len().to_string())
        .header(
            "Upload-Metadata",
            common::metadata(&common::sha256_hex(bytes), name),
        )
        .send()
        .await?;
    ensure!(r.status() == 201, "{}: {}", r.status(), r.text().await?);
    let location = common::header(&r, "location");
    let target = if location.starts_with("http") {
        location.clone()
    } else {
        format!("{origin}{location}")
    };
    let r = http
        .patch(&target)
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .body(bytes.to_vec())
        .send()
        .await?;
    ensure!(r.status() == 204, "{}: {}", r.status(), r.text().await?);
    Ok(location)
}

/// nginx, stopped by SIGTERM, which the master passes on to its workers (SIGKILL would
/// orphan them).
/// The deployment kit, tried: `deploy/spindle.service` passes `systemd-analyze verify`, and
/// a real nginx running `deploy/nginx-spindle.conf` as written (only its ports and certificate
/// changed) in front of Spindle ends TLS, passes a 34 MiB tus PATCH (nginx's default would
/// answer 413), streams a Range of a closed disc byte for byte, and forwards the reader's
/// address, which is what decides access (the trusted proxy's own does not).
#[tokio::test]
async fn the_deployment_kit_works_behind_a_real_nginx() -> Result<()> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir()?;
    // The unit, pointing at this build's binary.
    let unit = std::fs::read_to_string(root.join("deploy/spindle.service"))?;
    ensure!(unit.contains("/usr/local/bin/spindle"));
    let unit = unit.replace("/usr/local/bin/spindle", env!("CARGO_BIN_EXE_spindle"));
    let unit_path = work.path().join("spindle.service");
    std::fs::write(&unit_path, unit)?;
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit_path)
        .output()
        .context("systemd-analyze (scripts/peers.sh installs it)")?;
    let said = String::from_utf8_lossy(&out.stderr);
    ensure!(out.status.success(), "systemd-analyze verify: {said}");
    ensure!(
        !said.contains("Unknown") && !said.contains("rror"),
        "{said}"
    );

    // Spindle on loopback, trusting nginx (127.0.0.1) for the reader's address.
    let tls_port = common::nginx::free_port()?;
    let app = TestApp::on(Backend::SqliteLocal)
        .behind_loopback_proxy()
        .config(move |c| c.http.public_url = Some(format!("https://127.0.0.1:{tls_port}")))
        .start()
        .await?;
    let upstream = app
        .url("")
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let (_nginx, plain_port) = nginx_in_front(&upstream, tls_port, work.path(), "/").await?;
    let base = format!("https://127.0.0.1:{tls_port}");
    let reader = |from: &str| {
        common::http_builder()
            .danger_accept_invalid_certs(true)
            .local_address(from.parse::<std::net::IpAddr>().ok())
            .redirect(reqwest::redirect::Policy::none())
            .build()
    };
    let staff = reader("127.0.0.5")?;
    // Plain HTTP is sent to HTTPS.
    let r = staff
        .get(format!("http://127.0.0.1:{plain_port}/discs/1"))
        .send()
        .await?;
    assert_eq!(r.status(), 301);
    assert!(common::header(&r, "location").starts_with("https://"));

    // A tus upload of a 34 MiB disc in one PATCH, through nginx.
    let lib = app.librarian("ZZU").await?;
    let admin = app.admin().await?;
    let bytes = iso_image(34 << 20, 211);
    let sha = common::sha256_hex(&bytes);
    tus_in_one_patch(&staff, &base, &base, &lib, &bytes, "big.iso").await?;
    let r = staff
        .post(format!("{base}/api/v1/discs"))
        .bearer_auth(&lib)
        .json(&json!({"sha256": sha, "filename": "big.iso"}))
        .send()
        .await?;
    assert!(r.status().is_success(), "{}", r.text().await?);
    let disc = r.json::<Value>().await?["id"].as_i64().context("id")?;
    // The closed disc opens for ZZU's range, which holds 127.0.0.3 but not nginx's 127.0.0.1.
    app.set_networks(&admin, "ZZU", &["127.0.0.3/32"]).await?;
    let inside = reader("127.0.0.3")?;
    let r = inside
        .get(format!("{base}/api/v1/discs/{disc}/image"))
        .header("range", "bytes=1000000-1999999")
        .send()
        .await?;
    assert_eq!(r.status(), 206);
    assert_eq!(&r.bytes().await?[..], &bytes[1_000_000..2_000_000]);
    let r = reader("127.0.0.4")?
        .get(format!("{base}/api/v1/discs/{disc}/image"))
        .send()
        .await?;
    assert_eq!(
        r.status(),
        403,
        "the reader's own address decides, not nginx's"
    );
    Ok(())
}

/// The dashboard on day one (item 11): empty tables say so, today's use shows live (marked
/// not final) before the day closes, and days are the consortium's — in Beijing (UTC+8) an
/// event is counted on Beijing's date, which for eight hours of every day is UTC's next one.
/// The expected day is worked out here by adding eight hours, not by the zone code.
#[tokio::test]
async fn the_dashboard_counts_today_in_the_consortiums_time() -> Result<()> {
    let app = TestApp::on(Backend::SqliteLocal)
        .config(|c| {
            c.stats.time_zone =
                spindle::calendar::Zone::parse("Asia/Shanghai").expect("a time zone")
        })
        .start()
        .await?;
    let member = app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let staff = common::staff_client(&app, &token).await?;
    let html = staff
        .get(app.url("/staff/stats"))
        .send()
        .await?
        .text()
        .await?;
    for empty in ["id=\"no-usage-yet\"", "id=\"no-months\""] {
        ensure!(html.contains(empty), "{empty}: {html}");
    }
    ensure!(html.contains("id=\"today-downloads\">0<"), "{html}");
    ensure!(html.contains("(Asia/Shanghai)"), "{html}");

    // This machine is LIB's campus: its readers' use is LIB's.
    let admin = app.admin().await?;
    let r = app
        .client
        .put(app.url("/api/v1/members/LIB/networks"))
        .bearer_auth(&admin)
        .json(&json!({"cidrs": ["127.0.0.0/8"]}))
        .send()
        .await?;
    ensure!(r.status() == 200, "{}", r.status());
    let bytes = iso_image(600, 91);
    app.upload(&token, &bytes, bytes.len()).await?;
    let sha = common::discs::sha(&bytes);
    let id = common::catalogue::register(&app, &token, &sha, json!({"open": true})).await?;
    let r = app
        .client
        .get(app.url(&format!("/api/v1/discs/{id}/image")))
        .header("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0")
        .send()
        .await?;
    ensure!(r.status() == 200, "{}", r.status());
    r.bytes().await?;
    app.state.usage.recorder.flush().await;
    let html = staff
        .get(app.url("/staff/stats?member=LIB"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(html.contains("id=\"today-downloads\">1<"), "{html}");
    ensure!(html.contains("not final"), "{html}");

    // The event's day, by hand: its moment plus eight hours, read as a UTC date.
    let now = spindle::usage::now_ms();
    let events = spindle::db::usage::events_between(&app.state.db, now - 600_000, now + 1).await?;
    let event = events
        .iter()
        .find(|e| e.action == "image")
        .context("the download's event")?;
    let beijing_day = Day::of_ms(event.ts_ms + 8 * 3_600_000);
    ensure!(
        html.contains(&format!("id=\"h-today\">Today so far · {beijing_day}<")),
        "{html}"
    );
    let zone = &app.state.config.stats.time_zone;
    rollup::rollup_day(&app.state.db, zone, beijing_day).await?;
    let day = beijing_day.to_string();
    let facts = spindle::db::usage::monthly(&app.state.db, member, &day, &day).await?;
    ensure!(
        facts.iter().map(|f| f.downloads).sum::<i64>() == 1,
        "Beijing's {day}: {facts:?}"
    );
    // The UTC day that is not Beijing's holds none of it (every day has 8 such hours; at
    // other hours the two dates agree and this is the same day).
    let utc_day = Day::of_ms(event.ts_ms);
    if utc_day != beijing_day {
        rollup::rollup_day(&app.state.db, zone, utc_day).await?;
        let d = utc_day.to_string();
        let facts = spindle::db::usage::monthly(&app.state.db, member, &d, &d).await?;
        ensure!(facts.is_empty(), "UTC's {d}: {facts:?}");
    }
    Ok(())
}

/// Spindle under a path of the library's site (item 15): `http.base_path = "/spindle"` behind
/// the example nginx with `location /spindle/`. Every address on every page (links, forms,
/// styles, scripts, images), each followed and found; redirects, cookies, the API's
/// addresses, the OpenAPI document's server, the widget and tus all carry the prefix; the
/// same paths without it are not Spindle's.
#[tokio::test]
async fn spindle_under_a_base_path_behind_nginx() -> Result<()> {
    let work = tempfile::tempdir()?;
    let tls_port = common::nginx::free_port()?;
    let site = format!("https://127.0.0.1:{tls_port}");
    let public = format!("{site}/spindle");
    let app = TestApp::on(Backend::SqliteLocal)
        .behind_loopback_proxy()
        .config({
            let public = public.clone();
            move |c| {
                c.http.base_path = "/spindle".into();
                c.http.public_url = Some(public);
            }
        })
        .start()
        .await?;
    let upstream = app.base.trim_start_matches("http://").to_string();
    let (_nginx, _) = nginx_in_front(&upstream, tls_port, work.path(), "/spindle/").await?;
    let client = || {
        common::http_builder()
            .danger_accept_invalid_certs(true)
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
    };

    // An open web disc and an uploaded one, through the prefix.
    app.member("ZZU").await?;
    let lib = app.librarian("ZZU").await?;
    let bytes = common::discs::fixture("rr-joliet.iso");
    let sha = common::sha256_hex(&bytes);
    let http = client()?;
    let location = tus_in_one_patch(&http, &site, &public, &lib, &bytes, "web.iso").await?;
    ensure!(
        location.starts_with("/spindle/api/v1/uploads/"),
        "{location}"
    );
    let r = http
        .post(format!("{public}/api/v1/discs"))
        .bearer_auth(&lib)
        .json(&json!({"sha256": sha, "filename": "web.iso", "open": true}))
        .send()
        .await?;
    ensure!(r.status() == 201, "{}", r.status());
    ensure!(
        common::header(&r, "location").starts_with("/spindle/api/v1/discs/"),
        "{:?}",
        r.headers()
    );
    let disc: Value = r.json().await?;
    let id = disc["id"].as_i64().context("id")?;
    wait_indexed(&app, Some(&lib), id).await?;
    let disc: Value = http
        .get(format!("{public}/api/v1/discs/{id}"))
        .bearer_auth(&lib)
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        disc["image_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("/spindle/api/v1/")),
        "{disc}"
    );
    ensure!(
        disc["image"]["files_url"]
            .as_str()
            .is_some_and(|u| u.starts_with("/spindle/")),
        "{disc}"
    );
    let r = http
        .get(format!("{public}/api/v1/discs/{id}/launch"))
        .send()
        .await?;
    ensure!(r.status() == 303, "{}", r.status());
    ensure!(
        common::header(&r, "location").starts_with("/spindle/api/v1/discs/"),
        "{:?}",
        r.headers()
    );

    // Staff sign in through the prefix: the form posts there, the cookie is the prefix's,
    // the redirect stays inside it.
    let staff = client()?;
    let page = staff.get(format!("{public}/staff/sign-in")).send().await?;
    ensure!(
        page.headers()
            .get_all("set-cookie")
            .iter()
            .all(|c| c.to_str().is_ok_and(|c| c.contains("Path=/spindle/"))),
        "{:?}",
        page.headers()
    );
    let page = page.text().await?;
    ensure!(page.contains("action=\"/spindle/staff/sign-in\""), "{page}");
    let csrf = common::form_token(&page)?;
    let r = staff
        .post(format!("{public}/staff/sign-in"))
        .form(&[
            ("token", lib.as_str()),
            ("csrf", &csrf),
            ("next", "/staff/discs"),
        ])
        .send()
        .await?;
    ensure!(r.status() == 303, "{}", r.status());
    ensure!(
        common::header(&r, "location") == "/spindle/staff/discs",
        "{:?}",
        r.headers()
    );

    // Every page, every address on it: under the prefix, and there.
    let attr = regex::Regex::new(r#"(?:href|src|action|data-[a-z-]+)="(/[^"]*)""#)?;
    let pages = [
        (&http, "/".to_string()),
        (&http, "/search?q=RR".to_string()),
        (&http, format!("/discs/{id}")),
        (&http, format!("/discs/{id}/browse/")),
        (&http, format!("/discs/{id}/browse/pages/")),
        (&staff, "/staff/stats".to_string()),
        (&staff, "/staff/discs".to_string()),
        (&staff, "/staff/review".to_string()),
        (&staff, "/staff/settings".to_string()),
        (&staff, "/staff/export".to_string()),
        (&staff, "/librarian/upload".to_string()),
    ];
    let mut followed = std::collections::BTreeSet::new();
    for (who, path) in pages {
        let r = who.get(format!("{public}{path}")).send().await?;
        ensure!(r.status() == 200, "{path}: {}", r.status());
        let html = r.text().await?;
        ensure!(html.contains("data-base=\"/spindle\""), "{path}: {html}");
        for c in attr.captures_iter(&html) {
            let address = c[1].replace("&amp;", "&");
            ensure!(
                address.starts_with("/spindle/") || address == "/spindle",
                "{path} names {address} outside the base path"
            );
            if c[0].starts_with("action") || !followed.insert(address.clone()) {
                continue;
            }
            let r = who.get(format!("{site}{address}")).send().await?;
            let status = r.status().as_u16();
            ensure!(
                status != 404 && status < 500,
                "{path} → {address}: {status}"
            );
        }
    }
    ensure!(followed.len() > 30, "{followed:?}");
    // The widget tag names the prefix, and the script finds Spindle from its own address.
    let settings = staff
        .get(format!("{public}/staff/settings"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        settings.contains(&format!("{public}/widget.js")),
        "{settings}"
    );
    let widget = http
        .get(format!("{public}/widget.js"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        widget.contains("pathname.replace(/\\/widget\\.js$/"),
        "{widget}"
    );

    // The API describes itself at the prefix.
    let doc: Value = http
        .get(format!("{public}/api/v1/openapi.json"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        doc["servers"][0]["url"] == "/spindle/",
        "{}",
        doc["servers"]
    );
    // A problem's type is the prefix's.
    let problem: Value = http
        .get(format!("{public}/api/v1/discs/999999"))
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        problem["type"]
            .as_str()
            .is_some_and(|t| t.starts_with("/spindle/api/v1/problems#")),
        "{problem}"
    );
    // An address under the prefix that names nothing is named back as it was asked.
    let r = http
        .get(format!("{public}/api/v1/no-such-thing"))
        .send()
        .await?;
    ensure!(r.status() == 404, "{}", r.status());
    let problem: Value = r.json().await?;
    ensure!(
        problem["code"] == "no-route"
            && problem["detail"]
                .as_str()
                .is_some_and(|d| d.contains("/spindle/api/v1/no-such-thing")),
        "{problem}"
    );
    // Outside the prefix is not Spindle's, asked directly.
    let r = app
        .client
        .get(format!("{}/discs/{id}", app.base))
        .send()
        .await?;
    ensure!(r.status() == 404, "{}", r.status());
    let r = app
        .client
        .get(format!("{}/spindle/discs/{id}", app.base))
        .send()
        .await?;
    ensure!(r.status() == 200, "{}", r.status());
    Ok(())
}
