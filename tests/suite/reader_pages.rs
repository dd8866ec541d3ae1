//! The readers' pages, on both backend pairs: from an OPAC's resolver link to a disc's page
//! (its records in both members' real catalogues, with links back to each OPAC; its facts;
//! its set), its folders, a refusal that says how to get access, a signed link that opens,
//! markup in names shown as text, hostile paths; and the whole walk in headless Chromium:
//! open a folder, download a file (bytes checked against bsdtar's extraction), launch the
//! start page (its relative image loads), play an audio track.

use crate::common;

use anyhow::{Context, Result, bail, ensure};
use common::browser::Browser;
use common::catalogue::{configure, linked, register};
use common::discs::{Tool, extract, fixture, sha};
use common::{Backend, PART, TestApp, iso_image};
use serde_json::{Value, json};

on_both_backends!(disc_pages, a_search_past_its_cap);

/// The discs a search page lists, by id.
fn hits(html: &str) -> Vec<String> {
    html.split("<ol id=\"hits\"")
        .nth(1)
        .unwrap_or("")
        .split("</ol>")
        .next()
        .unwrap_or("")
        .split("href=\"/discs/")
        .skip(1)
        .filter_map(|s| s.split('"').next().map(str::to_string))
        .collect()
}

/// A query matching more than `search.max_matches` lists that many, says there were more and
/// asks the reader to narrow it; one within the cap says nothing of the kind.
async fn a_search_past_its_cap(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend)
        .config(|c| c.search.max_matches = 2)
        .start()
        .await?;
    let token = app.librarian("A").await?;
    for (k, label) in ["Cap shelf one", "Cap shelf two", "Cap shelf three"]
        .into_iter()
        .enumerate()
    {
        app.disc(
            &token,
            &iso_image(1000, 90 + k as u64),
            json!({"label": label, "open": true}),
        )
        .await?;
    }
    spindle::search::catch_up(&app.state.db).await?;
    let http = common::http();
    let page = |path: &str| {
        let (http, url) = (http.clone(), app.url(path));
        async move { anyhow::Ok(http.get(url).send().await?.text().await?) }
    };
    let summary = |html: &str| -> String {
        html.split("<p id=\"summary\">")
            .nth(1)
            .and_then(|s| s.split("</p>").next())
            .unwrap_or("")
            .to_string()
    };
    let html = page("/search?q=cap%20shelf").await?;
    assert_eq!(hits(&html).len(), 2, "{html}");
    assert_eq!(
        summary(&html),
        "2+ discs found · too many to list all: narrow the search",
        "{html}"
    );
    let html = page("/search?q=cap%20shelf%20two&lang=zh").await?;
    assert_eq!(hits(&html).len(), 1, "{html}");
    assert_eq!(summary(&html), "1 张光盘", "{html}");
    Ok(())
}

struct Shelf {
    web_sha: String,
    cnu: String,
    web: i64,
    web_cnu: i64,
    set1: i64,
    set2: i64,
    audio: i64,
    marked: i64,
}

async fn put(app: &TestApp, token: &str, bytes: &[u8]) -> Result<String> {
    app.upload(token, bytes, (2 * PART) as usize).await?;
    Ok(sha(bytes))
}

async fn linked_disc(app: &TestApp, token: &str, sha: &str, extra: Value) -> Result<i64> {
    let id = register(app, token, sha, extra).await?;
    let v = linked(app, token, id).await?;
    if v["link_status"] != "linked" {
        bail!("disc {id}: {v}");
    }
    Ok(id)
}

async fn shelf(app: &TestApp) -> Result<Shelf> {
    app.member("ZZU").await?;
    app.member("CNU").await?;
    let zzu = app.librarian("ZZU").await?;
    let cnu = app.librarian("CNU").await?;
    configure(app, &zzu, "ZZU", "marc21").await?;
    configure(app, &cnu, "CNU", "unimarc").await?;
    let admin = app.admin().await?;
    let r = app
        .client
        .put(app.url("/api/v1/members/ZZU/networks"))
        .bearer_auth(&admin)
        .json(&json!({"cidrs": ["127.0.0.0/8"]}))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200);
    // The web disc: ZZU's record by ISBN; CNU holds the same image under its own record.
    let web_sha = put(app, &zzu, &fixture("rr-joliet.iso")).await?;
    let web = linked_disc(app, &zzu, &web_sha, json!({"isbn": "9780596514327"})).await?;
    let web_cnu = linked_disc(app, &cnu, &web_sha, json!({"barcode": "G00101001"})).await?;
    // A two-disc set of one record.
    let s1 = put(app, &zzu, &iso_image(1000, 81)).await?;
    let s2 = put(app, &zzu, &iso_image(1000, 82)).await?;
    let set1 = linked_disc(
        app,
        &zzu,
        &s1,
        json!({"barcode": "D100004-1", "disc_number": 1}),
    )
    .await?;
    let set2 = linked_disc(
        app,
        &zzu,
        &s2,
        json!({"barcode": "D100004-2", "disc_number": 2}),
    )
    .await?;
    // An audio CD (CUE + BINs), and a disc whose label is markup.
    let mut parts = Vec::new();
    for n in [
        "disc (Track 1).bin",
        "disc (Track 2).bin",
        "disc (Track 3).bin",
    ] {
        parts.push(json!({"name": n, "sha256": put(app, &zzu, &fixture(n)).await?}));
    }
    let cue = put(app, &zzu, &fixture("disc.cue")).await?;
    let audio = register(
        app,
        &zzu,
        &cue,
        json!({"parts": parts, "label": "Audio & data"}),
    )
    .await?;
    let marked_sha = put(app, &zzu, &iso_image(1000, 83)).await?;
    let marked = register(
        app,
        &zzu,
        &marked_sha,
        json!({"label": "<img src=x onerror=alert(1)> Disc", "open": true}),
    )
    .await?;
    for id in [web, audio, set1] {
        common::wait_indexed(app, Some(&zzu), id).await?;
    }
    Ok(Shelf {
        cnu,
        web,
        web_sha,
        web_cnu,
        set1,
        set2,
        audio,
        marked,
    })
}

async fn disc_pages(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let s = shelf(&app).await?;
    let http = common::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = |path: String| {
        let http = http.clone();
        let url = app.url(&path);
        async move {
            let r = http.get(url).send().await?;
            let status = r.status().as_u16();
            let csp = r
                .headers()
                .get("content-security-policy")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            anyhow::Ok((status, csp, r.text().await?))
        }
    };

    // Search: what the discs' records, labels, identifiers and files say.
    spindle::search::catch_up(&app.state.db).await?;
    // The words common in the search text, learned as a node does (PostgreSQL only: there the
    // trigram index is asked for a query's rarest words); every search below runs with them.
    let common = spindle::db::search::learn_common_words(&app.state.db).await?;
    if app.state.db.dialect() == "postgres" {
        ensure!(common > 0, "the shelf's copies share words: {common}");
    } else {
        ensure!(common == 0, "SQLite learns none: {common}");
    }
    let web_id = s.web.to_string();
    let cnu_id = s.web_cnu.to_string();
    for q in ["9780596514327", "0596514328", "978-0-596-51432-7"] {
        let (status, _, html) = page(format!("/search?q={q}")).await?;
        assert_eq!(status, 200);
        assert_eq!(
            hits(&html),
            std::slice::from_ref(&web_id),
            "ISBN {q}: {html}"
        );
    }
    // An ISBN is looked up exactly among the forms the refresh kept (migration 0018 keeps
    // them too, from the search text it finds: the same keys).
    let isbn_keys = || async {
        anyhow::Ok(spindle::db::on_pool!(&app.state.db, pool => {
            sqlx::query_as::<_, (String, i64)>(
                "SELECT isbn, CAST(disc_id AS BIGINT) FROM search_isbns ORDER BY 1, 2",
            )
            .fetch_all(pool)
            .await?
        }))
    };
    let kept = isbn_keys().await?;
    ensure!(
        kept.iter()
            .any(|(k, d)| k == "0596514328" && d.to_string() == web_id),
        "the ISBN-10 form is kept: {kept:?}"
    );
    common::refill(&app, "search_isbns", "0018_create_search_isbns").await?;
    ensure!(
        isbn_keys().await? == kept,
        "0018's backfill makes the refresh's keys"
    );
    // Each searched disc's listed facts, kept by the refresh: what a list of its hits shows
    // from the disc's own rows now, and what migration 0019 fills for the discs searched.
    type Listed = (i64, i64, bool, i64, Option<String>, String);
    let listed = || async {
        anyhow::Ok(spindle::db::on_pool!(&app.state.db, pool => {
            sqlx::query_as::<_, Listed>(
                "SELECT CAST(disc_id AS BIGINT), member_id, is_open, disc_number, content_class,
                        title FROM search_discs ORDER BY 1",
            )
            .fetch_all(pool)
            .await?
        }))
    };
    let kept = listed().await?;
    let ids: Vec<i64> = kept.iter().map(|r| r.0).collect();
    let mut now: Vec<Listed> = spindle::db::search::hits(&app.state.db, &ids)
        .await?
        .into_iter()
        .map(|h| {
            (
                h.id,
                h.member_id,
                h.is_open,
                h.disc_number,
                h.content_class,
                h.title,
            )
        })
        .collect();
    now.sort_by_key(|r| r.0);
    // What the shelf was made with, known here and not read back through the facts' SQL:
    // each disc's member, its number in its set, whether it is open (CNU's copy closed), and
    // the record's title or, unlinked, the label it is listed under.
    let members: Vec<(String, i64)> = spindle::db::on_pool!(&app.state.db, pool => {
        sqlx::query_as("SELECT code, CAST(id AS BIGINT) FROM members")
            .fetch_all(pool)
            .await?
    });
    let member = |code: &str| members.iter().find(|m| m.0 == code).map(|m| m.1);
    let (zzu, cnu) = (
        member("ZZU").context("member ZZU")?,
        member("CNU").context("member CNU")?,
    );
    let row = |id: i64| kept.iter().find(|r| r.0 == id);
    // (disc, member, open, number in its set, title listed)
    type Made<'a> = (i64, i64, bool, Option<i64>, Option<&'a str>);
    let expected: [Made; 5] = [
        (s.web, zzu, false, None, Some("Learning data structures")),
        (s.web_cnu, cnu, false, None, None),
        (s.set1, zzu, false, Some(1), None),
        (s.set2, zzu, false, Some(2), None),
        (
            s.marked,
            zzu,
            true,
            None,
            Some("<img src=x onerror=alert(1)> Disc"),
        ),
    ];
    for (id, member, open, number, title) in expected {
        let r = row(id).ok_or_else(|| anyhow::anyhow!("disc {id} is not listed: {kept:?}"))?;
        ensure!(
            r.1 == member
                && r.2 == open
                && number.is_none_or(|n| r.3 == n)
                && title.is_none_or(|t| r.5 == t),
            "disc {id} listed as {r:?}, made as member {member}, open {open}, number {number:?}, title {title:?}"
        );
    }
    ensure!(
        kept == now,
        "the refresh lists each disc as it is: {kept:?} {now:?}"
    );
    common::refill(&app, "search_discs", "0019_create_search_discs").await?;
    ensure!(
        listed().await? == kept,
        "0019's backfill makes the refresh's rows"
    );
    // A Chinese title, by a part of it (no word splitter needed), and an English one.
    let (_, _, html) = page("/search?q=%E7%A8%8B%E5%BA%8F%E8%AE%BE%E8%AE%A1".into()).await?;
    assert_eq!(
        hits(&html),
        std::slice::from_ref(&cnu_id),
        "程序设计: {html}"
    );
    assert!(html.contains("1 disc found"), "{html}");
    assert!(
        html.contains("Library readers"),
        "a closed disc's badge: {html}"
    );
    let (_, _, html) = page("/search?q=data%20STRUCTURES".into()).await?;
    assert!(hits(&html).contains(&web_id), "{html}");
    // Its words in another order, or joined by what a wildcard would match, are not the
    // phrase: on PostgreSQL the index is asked for the words and the phrase checks what it finds.
    for q in ["STRUCTURES%20data", "data_STRUCTURES", "data%25STRUCTURES"] {
        let (_, _, html) = page(format!("/search?q={q}")).await?;
        assert!(!hits(&html).contains(&web_id), "{q}: {html}");
    }
    // A file on the disc: the matching name shown, highlighted, for the copy this reader may
    // open (ZZU's, in its ranges); CNU's closed copy is not found by what is inside it (its
    // files are its readers' to know), though its catalogue record is (程序设计 above).
    let (_, _, html) = page("/search?q=LOGO.png".into()).await?;
    let found = hits(&html);
    assert!(
        found.contains(&web_id) && !found.contains(&cnu_id),
        "{html}"
    );
    assert!(html.contains("File: <mark>logo.png</mark>"), "{html}");
    assert!(html.contains("ZZU library (2)"), "members by name: {html}");
    assert!(html.contains("You may open it"), "{html}");
    let (_, _, html) = page("/search?q=logo.png&member=CNU".into()).await?;
    assert!(hits(&html).is_empty(), "{html}");
    assert!(html.contains("No disc matches"), "{html}");
    let (_, _, html) = page("/search?q=logo.png&lang=zh".into()).await?;
    assert!(html.contains("文件: <mark>logo.png</mark>"), "{html}");
    let (_, _, html) = page("/search?q=D100004".into()).await?;
    assert_eq!(hits(&html).len(), 2, "by barcode: {html}");
    // Markup and wildcards are text; nothing matches them.
    let (status, _, html) = page("/search?q=%3Cscript%3Ealert(1)%3C%2Fscript%3E".into()).await?;
    assert_eq!(status, 200);
    assert!(
        html.contains("&lt;script&gt;alert(1)") && !html.contains("<script>alert"),
        "{html}"
    );
    // As a wildcard "l%o" would find logo.png; as text it finds nothing.
    let (_, _, html) = page("/search?q=l%25o".into()).await?;
    assert!(hits(&html).is_empty(), "% is not a wildcard: {html}");
    let (_, _, html) = page("/search?q=l_go".into()).await?;
    assert!(hits(&html).is_empty(), "_ is not a wildcard: {html}");
    let (status, _, _) = page(format!("/search?q={}", "x".repeat(5000))).await?;
    assert_eq!(status, 200);
    // Each search run is a Searches_Platform event; the empty form is not.
    page("/search".into()).await?;
    app.state.usage.recorder.flush().await;
    let events = spindle::db::usage::events_between(&app.state.db, 0, i64::MAX).await?;
    let searches = events.iter().filter(|e| e.action == "search").count();
    assert_eq!(searches, 16, "{events:#?}");
    assert!(
        events
            .iter()
            .filter(|e| e.action == "search")
            .all(|e| e.disc_id.is_none())
    );

    // The OPAC's link: straight to the disc's page.
    let r = http
        .get(app.url("/r/isbn/978-0-596-51432-7"))
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(
        common::header(&r, "location"),
        format!("{}/discs/{}", app.base, s.web)
    );

    let (status, csp, html) = page(format!("/discs/{}", s.web)).await?;
    assert_eq!(status, 200, "{html}");
    assert!(
        csp.contains("default-src 'none'") && csp.contains("media-src 'self'"),
        "{csp}"
    );
    // The book's records in both catalogues, each linking back into its OPAC.
    let records = html.split("id=\"records\"").nth(1).context("records")?;
    assert!(
        records.contains("<strong>ZZU library</strong>")
            && records.contains("<strong>CNU library</strong>"),
        "{records}"
    );
    assert!(
        records.matches("https://opac.example.edu/record/").count() >= 2,
        "{records}"
    );
    // The book as ZZU's catalogue describes it (record 100002), the library by name with a
    // link into its OPAC, who may open the disc.
    let book = between(&html, "id=\"book\"", "</dl>")?;
    for fact in ["O&#x27;Reilly", "2007", "QA76.9 .L5 2007"] {
        assert!(book.contains(fact), "{fact}: {book}");
    }
    assert!(
        html.contains("<p class=\"responsibility\">Li Ming.</p>"),
        "{html}"
    );
    let holding = between(&html, "id=\"holding\"", "</p>")?;
    assert!(
        holding.contains("href=\"https://opac.example.edu/record/")
            && holding.contains(">ZZU library</a>")
            && holding.contains("For the readers of ZZU library")
            && !holding.contains("Open to all"),
        "{holding}"
    );
    // The first level of files inline, a folder ZIP, a permalink and a citation; the
    // technical facts folded away.
    let files = between(&html, "id=\"files\"", "</table>")?;
    assert!(
        files.contains(&format!("href=\"/discs/{}/browse/pages/\"", s.web))
            && files.contains(&format!(
                "href=\"/api/v1/discs/{}/files/index.html\"",
                s.web
            ))
            && files.contains("text/html"),
        "{files}"
    );
    assert!(html.contains(&format!("id=\"zip\" href=\"/api/v1/discs/{}/zip\"", s.web)));
    let permalink = format!("{}/discs/{}", app.base, s.web);
    assert!(
        html.contains(&format!("id=\"permalink\" href=\"{permalink}\"")),
        "{html}"
    );
    let citation = between(&html, "id=\"citation\"", "</p>")?;
    assert_eq!(
        citation.trim_start_matches('>').trim(),
        format!(
            "Li Ming. Learning data structures [disc]. O&#x27;Reilly, 2007. ZZU library. {permalink}"
        )
    );
    let technical = between(&html, "<details id=\"technical\">", "</details>")?;
    assert!(
        technical.contains("RR_JOLIET") && technical.contains(&s.web_sha),
        "{technical}"
    );
    assert!(html.contains(&format!("href=\"/api/v1/discs/{}/launch\"", s.web)));
    assert!(html.contains(&format!("href=\"/discs/{}/browse/\"", s.web)));
    assert!(html.contains(&format!("href=\"/api/v1/discs/{}/image\"", s.web)));
    // A set: each disc leads to the other.
    let (_, _, html) = page(format!("/discs/{}", s.set1)).await?;
    assert!(
        html.contains(&format!("href=\"/discs/{}\"", s.set2)),
        "{html}"
    );
    // Audio tracks play from the page.
    let (_, _, html) = page(format!("/discs/{}", s.audio)).await?;
    assert!(
        html.contains(&format!("src=\"/api/v1/discs/{}/tracks/2.wav\"", s.audio)),
        "{html}"
    );
    assert!(html.contains("Audio &amp; data"));
    // Markup in a label is text.
    let (_, _, html) = page(format!("/discs/{}", s.marked)).await?;
    assert!(
        html.contains("&lt;img src=x onerror=alert(1)&gt; Disc"),
        "{html}"
    );
    assert!(!html.contains("<img src=x"));

    // Folders: directories first, files to the API, hostile paths nowhere.
    let (status, _, html) = page(format!("/discs/{}/browse/", s.web)).await?;
    assert_eq!(status, 200);
    assert!(
        html.contains(&format!("href=\"/discs/{}/browse/pages/\"", s.web)),
        "{html}"
    );
    assert!(html.contains(&format!(
        "href=\"/api/v1/discs/{}/files/index.html\"",
        s.web
    )));
    // The top folder is named as one, each entry has its type and date, the folder has a ZIP.
    assert!(
        html.contains("<h1>The disc&#x27;s top folder</h1>"),
        "{html}"
    );
    let listing = between(&html, "id=\"listing\"", "</table>")?;
    assert!(listing.contains("<td>text/html</td>"), "{listing}");
    assert!(
        regex::Regex::new(r"<td>\d{4}-\d{2}-\d{2}</td>")?.is_match(listing),
        "dates: {listing}"
    );
    assert!(html.contains(&format!(
        "id=\"zip\" class=\"button\" href=\"/api/v1/discs/{}/zip\"",
        s.web
    )));
    let (status, _, html) = page(format!("/discs/{}/browse/pages/", s.web)).await?;
    assert_eq!(status, 200);
    assert!(html.contains("<h1>pages</h1>"), "{html}");
    assert!(
        html.contains(&format!("href=\"/api/v1/discs/{}/zip/pages\"", s.web)),
        "{html}"
    );
    assert!(
        html.contains(&format!("href=\"/discs/{}/browse/\"", s.web)),
        "the way up: {html}"
    );
    for hostile in [
        "../../etc/passwd",
        "pages/../../x",
        &"a".repeat(5000),
        "%00",
    ] {
        let (status, _, _) = page(format!("/discs/{}/browse/{hostile}", s.web)).await?;
        assert!(status == 404 || status == 400, "{hostile}: {status}");
    }
    let (status, _, _) = page("/discs/999999".into()).await?;
    assert_eq!(status, 404);

    // CNU's copy: this reader is not in CNU's ranges; the page says how to get access, and
    // CNU's signed link opens it.
    let (status, _, html) = page(format!("/discs/{}", s.web_cnu)).await?;
    assert_eq!(status, 403);
    assert!(
        html.contains("This disc is for readers of CNU library"),
        "{html}"
    );
    assert!(
        html.contains("from the library&#x27;s network, on campus"),
        "{html}"
    );
    let r = app
        .client
        .post(app.url(&format!("/api/v1/discs/{}/signed-links", s.web_cnu)))
        .bearer_auth(&s.cnu)
        .json(&json!({"expires_in_secs": 600}))
        .send()
        .await?;
    let token = r.json::<Value>().await?["token"]
        .as_str()
        .context("token")?
        .to_string();
    let (status, _, html) = page(format!("/discs/{}?access={token}", s.web_cnu)).await?;
    assert_eq!(status, 200);
    // CNU's copy leads with CNU's CNMARC record: its series, subjects and the disc's own
    // shelf mark (the 905 of the item in the 光盘库).
    assert!(
        html.contains("<h1 id=\"disc-title\">C++程序设计教程</h1>"),
        "{html}"
    );
    let book = between(&html, "id=\"book\"", "</dl>")?;
    for fact in [
        "人民邮电出版社",
        "高等学校计算机教材",
        "<li>C语言 -- 程序设计 -- 教材</li>",
        "TP312C++/123",
    ] {
        assert!(book.contains(fact), "{fact}: {book}");
    }
    assert!(
        html.contains("<p class=\"responsibility\">张伟, 刘芳编著</p>"),
        "{html}"
    );

    walk_in_chromium(&app, &s, &token).await?;
    Ok(())
}

async fn walk_in_chromium(app: &TestApp, s: &Shelf, cnu_token: &str) -> Result<()> {
    let browser = Browser::start().await?;
    let c = &browser.client;
    // Search by ISBN from the search box, then the hit.
    c.goto(&app.url("/search")).await?;
    c.find(fantoccini::Locator::Id("q"))
        .await?
        .send_keys("9780596514327")
        .await?;
    browser.click("form.search button[type=submit]").await?;
    browser.wait_for_id(30, "the hits", "hits").await?;
    browser.screenshot("reader-search").await?;
    browser.click("#hits a").await?;
    browser
        .wait_js(
            30,
            "the disc page",
            "return document.getElementById('facts') ? location.pathname : null;",
        )
        .await?;
    browser.screenshot("reader-disc").await?;
    // Open a folder, and come back to the top.
    browser.click("#browse").await?;
    browser.wait_for_id(30, "the listing", "listing").await?;
    browser.click("a.dir[href$='/pages/']").await?;
    browser
        .wait_js(
            30,
            "the pages folder",
            "return location.pathname.endsWith('/browse/pages/') ? true : null;",
        )
        .await?;
    browser.screenshot("reader-browse").await?;
    browser.click("a[rel=up]").await?;
    browser
        .wait_js(
            30,
            "the top folder",
            "return location.pathname.endsWith('/browse/') ? true : null;",
        )
        .await?;
    // Download one file: the bytes are bsdtar's.
    browser
        .click("a.download[href$='/files/index.html']")
        .await?;
    let got = browser.downloaded("index.html").await?;
    let reference = extract(
        &common::discs::fixtures().join("rr-joliet.iso"),
        Tool::Bsdtar,
    );
    let expected = std::fs::read_to_string(reference.path().join("index.html"))?;
    assert_eq!(got, expected);
    // Launch: the start page opens and its relative image loads.
    c.goto(&app.url(&format!("/discs/{}", s.web))).await?;
    browser.click("#launch").await?;
    browser
        .wait_js(
            30,
            "the launched page's image",
            "const i = document.querySelector('img'); return i && i.complete && i.naturalWidth > 0 ? location.pathname : null;",
        )
        .await?;
    // Play an audio track.
    c.goto(&app.url(&format!("/discs/{}", s.audio))).await?;
    c.execute("document.querySelector('audio').play();", vec![])
        .await?;
    browser
        .wait_js(
            30,
            "the track playing",
            "const a = document.querySelector('audio'); return a.error ? 'error ' + a.error.code : (a.currentTime > 0 ? a.currentTime : null);",
        )
        .await
        .and_then(|v| if v.is_string() { bail!("audio: {v}") } else { Ok(v) })?;
    // Outside the member's ranges: refused, then opened by a signed link.
    c.goto(&app.url(&format!("/discs/{}", s.web_cnu))).await?;
    browser
        .wait_js(30, "the refusal", "return document.querySelector('h1') ? document.querySelector('h1').textContent : null;")
        .await?;
    browser.screenshot("reader-refused").await?;
    c.goto(&app.url(&format!("/discs/{}?access={cnu_token}", s.web_cnu)))
        .await?;
    browser
        .wait_for_id(30, "the disc by its link", "facts")
        .await?;
    // The link's cookie opens the disc's folders too.
    c.goto(&app.url(&format!("/discs/{}/browse/", s.web_cnu)))
        .await?;
    browser.wait_for_id(30, "its folder", "listing").await?;
    browser.close().await
}

/// The text of `html` after the first `start` up to the next `end`.
fn between<'a>(html: &'a str, start: &str, end: &str) -> Result<&'a str> {
    let rest = html
        .split_once(start)
        .map(|(_, r)| r)
        .with_context(|| format!("{start} in {html}"))?;
    Ok(rest.split_once(end).map_or(rest, |(b, _)| b))
}
