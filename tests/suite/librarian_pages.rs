//! The librarian's pages on both backend pairs, against the real Zebra catalogue: their discs
//! with reading and linking status and unfinished uploads; the member settings (catalogue
//! connector and OPAC template, network ranges for admins) through forms that need the
//! session's form token; the 856 export; and the API reached with the session cookie plus
//! the form token header (the browser uploader's way), never the cookie alone. In Chromium,
//! the pages are walked and screenshotted.

use crate::common;

use anyhow::{Context, Result};
use common::browser::Browser;
use common::catalogue::{configure, linked, register};
use common::discs::fixture;
use common::{Backend, PART, TestApp, form_token, image, iso_image, sha256_hex, staff_client};
use serde_json::{Value, json};

on_both_backends!(librarian_pages);

async fn page(c: &reqwest::Client, app: &TestApp, path: &str) -> Result<(u16, String)> {
    let r = c.get(app.url(path)).send().await?;
    Ok((r.status().as_u16(), r.text().await?))
}

async fn catalogue(app: &TestApp, token: &str, code: &str) -> Result<Value> {
    Ok(app
        .client
        .get(app.url(&format!("/api/v1/members/{code}/catalogue")))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?)
}

async fn networks(app: &TestApp, token: &str, code: &str) -> Result<Value> {
    Ok(app
        .client
        .get(app.url(&format!("/api/v1/members/{code}/networks")))
        .bearer_auth(token)
        .send()
        .await?
        .json::<Value>()
        .await?["cidrs"]
        .clone())
}

async fn librarian_pages(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("A").await?;
    app.member("B").await?;
    let a = app.librarian("A").await?;
    let b = app.librarian("B").await?;
    let admin = app.admin().await?;
    configure(&app, &a, "A", "marc21").await?;

    // A linked disc (a real ISO; the ISBN is in the catalogue), one waiting for review, an
    // image that cannot be read whose label is markup, an unfinished upload; and B's disc.
    let iso = fixture("level1.iso");
    app.upload(&a, &iso, (2 * PART) as usize).await?;
    let linked_disc = register(
        &app,
        &a,
        &sha256_hex(&iso),
        json!({"isbn": "9780131465275", "filename": "level1.iso"}),
    )
    .await?;
    let review_data = iso_image(1000, 92);
    app.upload(&a, &review_data, (2 * PART) as usize).await?;
    let review_disc = register(
        &app,
        &a,
        &sha256_hex(&review_data),
        json!({"title": "Laboratory manual for general physics", "year": 2014}),
    )
    .await?;
    // Truncated: its descriptors are there, its directories are not.
    let mut junk = fixture("rr-joliet.iso");
    junk.truncate(junk.len() / 2);
    let junk_disc = app
        .disc(
            &a,
            &junk,
            json!({"label": format!("<script>alert(1)</script>{}", "长".repeat(333)), "barcode": "J-1"}),
        )
        .await?;
    assert_eq!(
        linked(&app, &a, linked_disc).await?["link_status"],
        "linked"
    );
    assert_eq!(
        linked(&app, &a, review_disc).await?["link_status"],
        "review"
    );
    // Longer than a label may be (1,026 bytes of 1,024): refused, nothing registered.
    let r = app
        .client
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&a)
        .json(&json!({"sha256": sha256_hex(&iso), "label": "长".repeat(342)}))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    let b_data = iso_image(1000, 94);
    let b_disc = app.disc(&b, &b_data, json!({"barcode": "B-ONLY"})).await?;
    let partial = image(3 * PART as usize, 95);
    let r = app
        .tus(reqwest::Method::POST, "/api/v1/uploads", &a)
        .header("Upload-Length", partial.len().to_string())
        .header(
            "Upload-Metadata",
            common::metadata(&sha256_hex(&partial), "half-done.iso"),
        )
        .send()
        .await?;
    assert_eq!(r.status(), 201);
    let location = common::header(&r, "location");
    let r = app
        .patch(&a, &location, 0, partial[..PART as usize].to_vec())
        .await?;
    assert_eq!(r.status(), 204);
    let v = common::wait_indexed(&app, Some(&a), junk_disc).await?;
    assert_eq!(v["image"]["status"], "failed", "{v}");

    // Their discs: every one of A's with its status, none of B's; markup is text.
    let la = staff_client(&app, &a).await?;
    let (status, html) = page(&la, &app, "/staff/discs").await?;
    assert_eq!(status, 200, "{html}");
    for id in [linked_disc, review_disc, junk_disc] {
        assert!(
            html.contains(&format!("href=\"/discs/{id}\"")),
            "{id}: {html}"
        );
    }
    assert!(!html.contains(&format!("href=\"/discs/{b_disc}\"")));
    assert!(!html.contains("B-ONLY"));
    assert!(
        html.contains(&format!(
            "&lt;script&gt;alert(1)&lt;/script&gt;{}",
            "长".repeat(333)
        )),
        "the whole 1,024-byte label (333 CJK characters), escaped: {html}"
    );
    assert!(!html.contains("<script>alert(1)"));
    assert!(
        html.contains("Programming in C"),
        "the linked record's title: {html}"
    );
    assert!(html.contains("Linked to a record"), "{html}");
    assert!(
        html.contains(&format!("/staff/review?member=A#disc-{review_disc}")),
        "{html}"
    );
    assert!(html.contains("Could not be read"), "{html}");
    let uploads = html
        .split("id=\"uploads\"")
        .nth(1)
        .context("the unfinished upload is listed")?;
    assert!(uploads.contains("half-done.iso"), "{uploads}");
    assert!(uploads.contains("(33%)"), "{uploads}");
    // Needs attention: the review and the unreadable image, not the linked disc.
    let (_, attention) = page(&la, &app, "/staff/discs?show=attention").await?;
    assert!(attention.contains(&format!("href=\"/discs/{review_disc}\"")));
    assert!(attention.contains(&format!("href=\"/discs/{junk_disc}\"")));
    assert!(!attention.contains(&format!("href=\"/discs/{linked_disc}\"")));
    // Another member's pages are refused; an admin sees any member's.
    for path in [
        "/staff/discs?member=B",
        "/staff/settings?member=B",
        "/staff/export?member=B",
        "/staff/export/marcxml.xml?member=B",
    ] {
        assert_eq!(page(&la, &app, path).await?.0, 403, "{path}");
    }
    let ad = staff_client(&app, &admin).await?;
    let (status, html) = page(&ad, &app, "/staff/discs?member=B").await?;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("href=\"/discs/{b_disc}\"")),
        "{html}"
    );
    // Without a session: to the sign-in page.
    let anonymous = common::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let r = anonymous.get(app.url("/staff/settings")).send().await?;
    assert_eq!(r.status(), 303);

    // Settings: the catalogue form shows what is stored and keeps the fields it does not show.
    let before = catalogue(&app, &a, "A").await?;
    let (status, html) = page(&la, &app, "/staff/settings").await?;
    assert_eq!(status, 200);
    let sru_url = before["sru"]["url"].as_str().context("stored url")?;
    assert!(html.contains(&format!("value=\"{sru_url}\"")), "{html}");
    let sru_barcode = before["sru"]["indexes"]["barcode"]
        .as_str()
        .context("stored barcode index")?;
    assert!(
        html.contains(&format!(
            "id=\"sru_barcode\" name=\"sru_barcode\" value=\"{sru_barcode}\""
        )),
        "{html}"
    );
    let csrf = form_token(&html)?;
    let form = |token: &str, opac: &str| {
        vec![
            ("csrf", token.to_string()),
            ("member", "A".to_string()),
            ("sru_url", sru_url.to_string()),
            ("sru_version", "1.2".to_string()),
            ("record_schema", "marcxml".to_string()),
            ("sru_barcode", sru_barcode.to_string()),
            ("opac_record_url", opac.to_string()),
            ("oai_url", String::new()),
            ("oai_prefix", String::new()),
            ("oai_set", String::new()),
        ]
    };
    let post = |c: &reqwest::Client, path: &str, body: Vec<(&'static str, String)>| {
        c.post(app.url(path)).form(&body).send()
    };
    // Without the session's form token: refused, nothing changed.
    let r = post(
        &la,
        "/staff/settings/catalogue",
        form("forged", "https://new.example.edu/r/{id}"),
    )
    .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(catalogue(&app, &a, "A").await?, before);
    // A template without {id}: the page again, with the reason and what was typed.
    let r = post(
        &la,
        "/staff/settings/catalogue",
        form(&csrf, "https://new.example.edu/r/"),
    )
    .await?;
    assert_eq!(r.status(), 422);
    let html = r.text().await?;
    assert!(html.contains("{id}"), "{html}");
    assert!(
        html.contains("value=\"https://new.example.edu/r/\""),
        "{html}"
    );
    assert_eq!(catalogue(&app, &a, "A").await?, before);
    // A good one is saved; the SRU timeout set through the API is kept.
    let r = post(
        &la,
        "/staff/settings/catalogue",
        form(&csrf, "https://new.example.edu/r/{id}"),
    )
    .await?;
    assert_eq!(r.status(), 303);
    let location = common::header(&r, "location");
    assert!(
        location.starts_with("/staff/settings?member=A&saved=catalogue"),
        "{location}"
    );
    let after = catalogue(&app, &a, "A").await?;
    assert_eq!(after["opac_record_url"], "https://new.example.edu/r/{id}");
    assert_eq!(after["sru"]["timeout_secs"], 5);
    assert_eq!(after["sru"]["url"], before["sru"]["url"]);
    assert_eq!(after["sru"]["indexes"], before["sru"]["indexes"]);
    let (_, html) = page(&la, &app, &location).await?;
    assert!(html.contains("id=\"notice\""), "{html}");
    // Issue 20, item 3: the saved settings were tried against the catalogue, shown on the page.
    assert!(html.contains("id=\"catalogue-check\""), "{html}");
    assert!(html.contains("bath.isbn"), "{html}");
    // Issue 20: the same form saves a Z39.50 catalogue (the SRU block goes), shows it back
    // without the password, and a missing database is named on the page.
    let zebra_port = common::catalogue::zebra_port().to_string();
    let z_form = |database: &str| {
        let mut f = form(&csrf, "https://new.example.edu/r/{id}");
        f.extend([
            ("kind", "z3950".to_string()),
            ("z_host", "127.0.0.1".to_string()),
            ("z_port", zebra_port.clone()),
            ("z_database", database.to_string()),
            ("z_syntax", "usmarc".to_string()),
            ("z_barcode", "1028".to_string()),
            ("z_user", "reader".to_string()),
            ("z_password", "z-secret".to_string()),
        ]);
        f
    };
    let r = post(&la, "/staff/settings/catalogue", z_form("")).await?;
    assert_eq!(r.status(), 422);
    assert!(
        r.text().await?.contains("database"),
        "the missing field is named"
    );
    let r = post(&la, "/staff/settings/catalogue", z_form("marc21")).await?;
    assert_eq!(r.status(), 303);
    let z = catalogue(&app, &a, "A").await?;
    assert_eq!(z["kind"], "z3950");
    assert!(z.get("sru").is_none(), "{z}");
    assert_eq!(z["z3950"]["database"], "marc21");
    assert_eq!(z["z3950"]["attributes"]["barcode"], 1028);
    let (_, html) = page(&la, &app, "/staff/settings").await?;
    assert!(
        html.contains("value=\"marc21\"") && !html.contains("z-secret"),
        "{html}"
    );
    let r = post(
        &la,
        "/staff/settings/catalogue",
        form(&csrf, "https://new.example.edu/r/{id}"),
    )
    .await?;
    assert_eq!(r.status(), 303, "back to SRU");
    assert_eq!(catalogue(&app, &a, "A").await?["kind"], "sru");
    // Network ranges: a librarian sees them, only an admin sets them.
    let set_ranges = |c: &reqwest::Client, token: &str, cidrs: &str| {
        post(
            c,
            "/staff/settings/networks",
            vec![
                ("csrf", token.to_string()),
                ("member", "A".into()),
                ("cidrs", cidrs.to_string()),
            ],
        )
    };
    let r = set_ranges(&la, &csrf, "0.0.0.0/0").await?;
    assert_eq!(r.status(), 403);
    assert_eq!(networks(&app, &admin, "A").await?, json!([]));
    let (_, html) = page(&ad, &app, "/staff/settings?member=A").await?;
    let admin_csrf = form_token(&html)?;
    let r = set_ranges(
        &ad,
        &admin_csrf,
        "10.1.0.0/16\r\n2001:db8::/32, 192.0.2.0/24",
    )
    .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(
        networks(&app, &admin, "A").await?,
        json!(["10.1.0.0/16", "192.0.2.0/24", "2001:db8::/32"])
    );
    let r = set_ranges(&ad, &admin_csrf, "10.1.0.0/16\n300.1.2.3/8").await?;
    assert_eq!(r.status(), 422);
    assert!(r.text().await?.contains("300.1.2.3/8"));
    assert_eq!(
        networks(&app, &admin, "A").await?.as_array().map(Vec::len),
        Some(3)
    );
    let (_, html) = page(&la, &app, "/staff/settings").await?;
    assert!(html.contains("<code>2001:db8::/32</code>"), "{html}");

    // The 856 export, from the page's links.
    let (status, html) = page(&la, &app, "/staff/export").await?;
    assert_eq!(status, 200);
    assert!(html.contains("id=\"linked\">1 discs"), "{html}");
    let r = la
        .get(app.url("/staff/export/marcxml.xml?member=A"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    assert!(common::header(&r, "content-disposition").contains("spindle-856-A.xml"));
    let xml = r.text().await?;
    assert!(xml.contains("tag=\"856\""), "{xml}");
    assert!(xml.contains(&app.url("/r/A/record/100001")), "{xml}");
    let r = la
        .get(app.url("/staff/export/iso2709.mrc?member=A"))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let mrc = r.bytes().await?;
    let declared: usize = std::str::from_utf8(&mrc[..5])?.parse()?;
    assert_eq!(declared, mrc.len(), "one record, its leader's length");
    assert_eq!(page(&la, &app, "/staff/export/other.txt").await?.0, 404);

    // The API with the session cookie: only with the session's form token in the header.
    let probe = |c: &reqwest::Client, header: Option<&str>| {
        let mut r = c
            .post(app.url(&format!("/api/v1/images/probe?size={}", iso.len())))
            .body([&iso[..98_304], &iso[iso.len() - 4096..]].concat());
        if let Some(h) = header {
            r = r.header("X-Spindle-Csrf", h);
        }
        r.send()
    };
    assert_eq!(probe(&la, None).await?.status(), 401, "the cookie alone");
    let r = probe(&la, Some("0123456789abcdef0123456789abcdef")).await?;
    assert_eq!(r.status(), 401);
    assert_eq!(r.json::<Value>().await?["code"], "session-ended");
    let r = probe(&la, Some(&csrf)).await?;
    assert_eq!(r.status(), 200, "{}", r.text().await?);
    // Another librarian's form token with A's cookie: refused.
    let lb = staff_client(&app, &b).await?;
    let (_, html) = page(&lb, &app, "/staff/discs").await?;
    let b_csrf = form_token(&html)?;
    assert_eq!(probe(&la, Some(&b_csrf)).await?.status(), 401);

    in_chromium(&app, &a).await?;
    Ok(())
}

/// The pages in a real browser, in both languages, with screenshots for people to look at.
async fn in_chromium(app: &TestApp, token: &str) -> Result<()> {
    let browser = Browser::start().await?;
    let c = &browser.client;
    browser
        .sign_in(
            &app.url("/staff/discs"),
            token,
            "return document.getElementById('discs') ? true : null;",
        )
        .await?;
    browser.screenshot("staff-discs").await?;
    browser.click("a[href='/staff/settings']").await?;
    browser.wait_for_id(30, "the settings", "catalogue").await?;
    browser.screenshot("staff-settings").await?;
    c.goto(&app.url("/staff/export?lang=zh")).await?;
    let title = browser
        .wait_js(
            30,
            "the export page in Chinese",
            "return document.documentElement.lang === 'zh-CN' ? document.title : null;",
        )
        .await?;
    assert!(
        title.as_str().unwrap_or_default().starts_with("856 导出"),
        "{title}"
    );
    browser.screenshot("staff-export-zh").await?;
    browser.close().await
}
