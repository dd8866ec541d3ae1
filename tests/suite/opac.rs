//! OPAC links on both backend pairs against the real Zebra: the resolver (one disc, a set,
//! one image linked by two members), the CORS lookup, and the 856 export read back by our
//! parser and by YAZ's own `yaz-marcdump`; and the widget on an OPAC-shaped page in
//! headless Chromium.

use crate::common;

use anyhow::{Result, bail};
use common::catalogue::{configure, linked, register};
use common::{Backend, PART, TestApp, header, iso_image, sha256_hex};
use serde_json::{Value, json};
use spindle_integrations::marc::{parse_iso2709, parse_marcxml};

async fn setup_member(app: &TestApp, code: &str, db: &str) -> Result<String> {
    app.member(code).await?;
    let token = app.librarian(code).await?;
    configure(app, &token, code, db).await?;
    Ok(token)
}

/// Uploads `data`, registers it as an open disc and waits until it is linked.
async fn disc(app: &TestApp, token: &str, data: &[u8], mut extra: Value) -> Result<i64> {
    app.upload(token, data, 2 * PART as usize).await?;
    extra["open"] = json!(true);
    let id = register(app, token, &sha256_hex(data), extra).await?;
    let v = linked(app, token, id).await?;
    if v["link_status"] != "linked" {
        bail!("disc {id}: {v}");
    }
    Ok(id)
}

fn no_redirects() -> reqwest::Client {
    common::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

async fn resolver_lookup_and_export(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let zzu = setup_member(&app, "ZZU", "marc21").await?;
    let cnu = setup_member(&app, "CNU", "unimarc").await?;
    let d1 = disc(
        &app,
        &zzu,
        &iso_image(1000, 1),
        json!({"barcode": "D100004-1", "disc_number": 1}),
    )
    .await?;
    let d2 = disc(
        &app,
        &zzu,
        &iso_image(1000, 2),
        json!({"barcode": "D100004-2", "disc_number": 2}),
    )
    .await?;
    let shared = iso_image(1000, 3);
    let d3 = disc(&app, &zzu, &shared, json!({"isbn": "9780596514327"})).await?;
    // Another member links the same image to its own record: still one disc for readers.
    let d4 = disc(&app, &cnu, &shared, json!({"barcode": "G00101001"})).await?;
    let http = no_redirects();
    let get = |path: String| http.get(app.url(&path)).send();

    // A set: a chooser; one of its discs by number: straight there.
    let r = get("/r/ZZU/record/100004".into()).await?;
    assert_eq!(r.status(), 300);
    let v: Value = r.json().await?;
    let ids: Vec<i64> = v["discs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["id"].as_i64())
        .collect();
    assert_eq!(ids, [d1, d2]);
    let r = get("/r/ZZU/record/100004?disc=2".into()).await?;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), format!("{}/discs/{d2}", app.base));
    let r = get("/r/ZZU/barcode/D100004-1".into()).await?;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), format!("{}/discs/{d1}", app.base));
    // Either ISBN form reaches the disc; the image two members hold resolves once.
    for isbn in ["9780596514327", "0596514328", "978-0-596-51432-7"] {
        let r = get(format!("/r/isbn/{isbn}")).await?;
        assert_eq!(r.status(), 303, "{isbn}");
        assert!(
            header(&r, "location").ends_with(&format!("/discs/{d3}")),
            "{isbn}"
        );
    }
    let r = get("/r/CNU/record/012015000101".into()).await?;
    assert_eq!(r.status(), 303);
    assert_eq!(header(&r, "location"), format!("{}/discs/{d4}", app.base));
    let r = get("/r/isbn/9787115379504".into()).await?;
    assert_eq!(r.status(), 303, "CNU's record's ISBN");
    assert_eq!(get("/r/isbn/9780000000002".into()).await?.status(), 404);
    assert_eq!(get("/r/isbn/hello".into()).await?.status(), 404);
    assert_eq!(
        get("/r/ZZU/record/100004?disc=9".into()).await?.status(),
        404
    );

    // The lookup answers any OPAC origin.
    let r = http
        .get(app.url("/api/v1/lookup?isbn=0596514328"))
        .header("origin", "https://opac.example.edu")
        .send()
        .await?;
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    let v: Value = r.json().await?;
    assert_eq!(v["discs"][0]["id"], d3);
    assert!(
        v["discs"][0]["browse"]
            .as_str()
            .unwrap_or_default()
            .ends_with(&format!("/discs/{d3}/browse/"))
    );
    let r = http
        .request(reqwest::Method::OPTIONS, app.url("/api/v1/lookup"))
        .header("origin", "https://x")
        .send()
        .await?;
    assert_eq!(r.status(), 204);
    assert_eq!(header(&r, "access-control-allow-origin"), "*");
    let r = http.get(app.url("/api/v1/lookup")).send().await?;
    assert_eq!(r.status(), 400);

    // The 856 export: the member's linked records, one 856 per disc, resolver URLs only.
    let xml = app
        .client
        .get(app.url("/api/v1/members/ZZU/export.xml"))
        .bearer_auth(&zzu)
        .send()
        .await?;
    assert_eq!(xml.status(), 200);
    let records = parse_marcxml(&xml.text().await?)?;
    let mut by_id: Vec<(String, Vec<String>)> = records
        .iter()
        .map(|r| {
            let urls = r
                .fields("856")
                .filter_map(|f| f.first('u').map(str::to_string))
                .collect();
            (r.control("001").unwrap_or_default().to_string(), urls)
        })
        .collect();
    by_id.sort();
    assert_eq!(by_id.len(), 2);
    assert_eq!(by_id[0].0, "100002");
    assert_eq!(by_id[1].0, "100004");
    assert_eq!(by_id[1].1.len(), 2, "one 856 per disc of the set");
    for (_, urls) in &by_id {
        for u in urls {
            let path = u.strip_prefix(&app.base).expect("a Spindle URL");
            let r = get(path.to_string()).await?;
            assert!(r.status() == 303 || r.status() == 300, "{u} resolves");
            assert!(!u.contains("sha256"), "never a storage URL");
        }
    }
    let f856 = records[0].fields("856").next().expect("856");
    assert_eq!(f856.indicators(), ('4', '2'));
    let mrc = app
        .client
        .get(app.url("/api/v1/members/ZZU/export.mrc"))
        .bearer_auth(&zzu)
        .send()
        .await?
        .bytes()
        .await?;
    assert_eq!(parse_iso2709(&mrc)?.len(), 2);
    // YAZ reads the ISO 2709 export too.
    let dumped = read_by_yaz(&mrc, &[])?;
    assert_eq!(dumped.len(), 2);
    assert_eq!(
        dumped
            .iter()
            .map(|r| r.fields("856").count())
            .sum::<usize>(),
        3
    );
    // UNIMARC members get UNIMARC 856s.
    let uni = app
        .client
        .get(app.url("/api/v1/members/CNU/export.xml"))
        .bearer_auth(&cnu)
        .send()
        .await?
        .text()
        .await?;
    let uni = parse_marcxml(&uni)?;
    assert_eq!(
        uni[0].fields("856").next().map(|f| f.indicators()),
        Some(('4', ' '))
    );
    assert!(uni[0].fields("200").next().is_some());
    // In GB 18030, as many Chinese systems load records: the leader and 100 $a/26-29 say so,
    // YAZ reads it back to the same text, and so does Spindle, finding nothing to correct.
    let gb = app
        .client
        .get(app.url("/api/v1/members/CNU/export.mrc?charset=gb18030"))
        .bearer_auth(&cnu)
        .send()
        .await?;
    assert_eq!(gb.status(), 200);
    let gb = gb.bytes().await?;
    assert_eq!(gb[9], b' ', "leader/09 blank: not UTF-8");
    assert!(
        std::str::from_utf8(&gb).is_err(),
        "GB 18030 bytes, not UTF-8"
    );
    let dumped = read_by_yaz(&gb, &["-f", "gb18030", "-t", "utf-8"])?;
    let ours = parse_iso2709(&gb)?;
    for back in [&dumped[0], &ours[0]] {
        assert_eq!(back.first("200", 'a'), uni[0].first("200", 'a'));
        assert_eq!(back.first("200", 'a').map(|t| t.is_ascii()), Some(false));
        assert_eq!(back.fields("856").count(), uni[0].fields("856").count());
        let coded = back.first("100", 'a').unwrap_or_default();
        assert_eq!(coded.get(26..30), Some("0120"), "{coded}");
    }
    assert_eq!(ours[0].charset_note, None, "the label matches the bytes");
    let r = app
        .client
        .get(app.url("/api/v1/members/CNU/export.mrc?charset=latin1"))
        .bearer_auth(&cnu)
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    assert!(r.text().await?.contains("utf-8 or gb18030"));
    let r = app
        .client
        .get(app.url("/api/v1/members/ZZU/export.xml"))
        .bearer_auth(&cnu)
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    Ok(())
}

on_both_backends!(
    resolver_lookup_and_export,
    widget_shows_the_disc_on_an_opac_page_in_chromium
);

/// ISO 2709 bytes as YAZ's `yaz-marcdump` reads them (`args`: its character-set options),
/// back as MARCXML records.
fn read_by_yaz(mrc: &[u8], args: &[&str]) -> Result<Vec<spindle_integrations::marc::Record>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("export.mrc");
    std::fs::write(&path, mrc)?;
    let out = std::process::Command::new("yaz-marcdump")
        .args(args)
        .args(["-i", "marc", "-o", "marcxml"])
        .arg(&path)
        .output()?;
    anyhow::ensure!(
        out.status.success(),
        "yaz-marcdump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(parse_marcxml(&String::from_utf8_lossy(&out.stdout))?)
}

/// A page shaped like a Koha OPAC record page, served from another origin.
fn opac_page(spindle: &str, lang: &str) -> String {
    format!(
        r#"<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>OPAC – Learning data structures</title></head>
<body><div id="opac-detail"><h1 class="title">Learning data structures / Li Ming.</h1>
<ul class="results_summary"><li><span class="label">ISBN: </span><span class="isbn">０５９６５１４３２８ (pbk.)</span></li>
<li><span class="label">Publisher: </span>O'Reilly, 2007</li></ul>
<div id="holdings"><table><tr><td>B100002</td><td>Available</td></tr></table></div>
<script src="{spindle}/widget.js" data-isbn-selector=".isbn"></script>
</div></body></html>"#
    )
}

async fn serve_page(html: String) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let html = html.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = sock.read(&mut buf).await;
                let resp = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                    html.len()
                );
                let _ = sock.write_all(resp.as_bytes()).await;
            });
        }
    });
    Ok(format!(
        "http://{addr}/cgi-bin/koha/opac-detail.pl?biblionumber=2"
    ))
}

async fn widget_shows_the_disc_on_an_opac_page_in_chromium(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let zzu = setup_member(&app, "ZZU", "marc21").await?;
    let id = disc(
        &app,
        &zzu,
        &iso_image(1000, 9),
        json!({"isbn": "9780596514327"}),
    )
    .await?;
    // The widget speaks the OPAC page's language, from Spindle's catalogue.
    for (lang, words) in [
        ("zh", ["随书光盘", "浏览", "在线运行"]),
        ("en", ["Accompanying disc", "Browse", "Launch"]),
    ] {
        let page = serve_page(opac_page(&app.base, lang)).await?;
        let dom = dump_dom(&page).await?;
        assert!(
            dom.contains("spindle-discs"),
            "the widget rendered nothing:\n{dom}"
        );
        assert!(
            dom.contains(&format!("{}/discs/{id}/browse/?lang={lang}", app.base)),
            "{dom}"
        );
        assert!(
            dom.contains(&format!("{}/api/v1/discs/{id}/launch", app.base)),
            "{dom}"
        );
        for word in words {
            assert!(dom.contains(word), "{lang}: no {word:?} in\n{dom}");
        }
    }
    Ok(())
}

/// The page's DOM after its scripts ran, as headless Chromium sees it.
async fn dump_dom(page: &str) -> Result<String> {
    let chromium = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .unwrap_or_else(|| panic!("Chromium is not installed: scripts/peers.sh installs it"));
    let profile = tempfile::tempdir()?;
    let out = tokio::process::Command::new(chromium)
        .args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(["--virtual-time-budget=10000", "--dump-dom"])
        .arg(page)
        .output()
        .await?;
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}
