//! The statistics dashboards: staff sign-in (session cookie, form tokens), who sees what, the
//! figures on the page and in the CSV exports, markup in names shown as text; and the same
//! walked in a real headless Chromium, with screenshots.

use crate::common;

use anyhow::{Context, Result};
use common::browser::Browser;
use common::{Backend, TestApp, iso_image};
use serde_json::json;
use spindle::calendar::{Day, Month};
use spindle::usage::{Action, Visitor, rollup};

on_both_backends!(sign_in_and_dashboards);

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/// Two members (one with markup in its name), two discs of A, and last month's usage:
/// 3 views, 2 downloads and 1 launch by a reader in A's range, 1 download by nobody's.
async fn setup(app: &TestApp) -> Result<(String, String, String, String)> {
    let a = app.librarian("A").await?;
    let admin = app.admin().await?;
    spindle::db::members::insert(&app.state.db, "XSS", "<script>alert(1)</script> Library")
        .await?
        .map_err(|_| anyhow::anyhow!("member"))?;
    let b = app.librarian("XSS").await?;
    let a_id = spindle::db::members::by_code(&app.state.db, "A")
        .await?
        .context("A")?
        .id;
    spindle::db::usage::set_networks(&app.state.db, a_id, &["192.0.2.0/24".into()]).await?;
    app.state.usage.networks.invalidate();
    let d1 = app
        .disc(
            &a,
            &iso_image(2000, 61),
            json!({"label": "Physics <b>lab</b> disc"}),
        )
        .await?;
    let d2 = app.disc(&a, &iso_image(2000, 62), json!({})).await?;
    let last_month = Month::current().prev().to_string();
    let at = |h: i64| {
        Day::parse(&format!("{last_month}-10"))
            .expect("day")
            .start_ms()
            + h * 3_600_000
    };
    let v = Visitor {
        ip: "192.0.2.5".parse()?,
        user_agent: Some(FIREFOX.into()),
        cookie: None,
    };
    let nobody = Visitor {
        ip: "203.0.113.1".parse()?,
        ..v.clone()
    };
    let plan = [
        (
            &v,
            at(9),
            Action::Landing,
            d1,
            format!("GET /api/v1/discs/{d1}"),
        ),
        (
            &v,
            at(9) + 60_000,
            Action::Browse,
            d1,
            format!("GET /api/v1/discs/{d1}/files/"),
        ),
        (
            &v,
            at(9) + 120_000,
            Action::Image,
            d1,
            format!("GET /api/v1/discs/{d1}/image"),
        ),
        (
            &v,
            at(10),
            Action::Launch,
            d1,
            format!("GET /api/v1/discs/{d1}/launch"),
        ),
        (
            &v,
            at(11),
            Action::Landing,
            d2,
            format!("GET /api/v1/discs/{d2}"),
        ),
        (
            &v,
            at(11) + 1000,
            Action::File,
            d2,
            format!("GET /api/v1/discs/{d2}/files/data.bin"),
        ),
        (
            &nobody,
            at(12),
            Action::Image,
            d1,
            format!("GET /api/v1/discs/{d1}/image"),
        ),
    ];
    // Launches answer 303, the rest 200.
    app.record_planned(
        plan.into_iter()
            .map(|(who, ts, action, disc, url)| {
                let status = if action == Action::Launch { 303 } else { 200 };
                (who, ts, action, disc, url, status)
            })
            .collect(),
    )
    .await?;
    rollup::catch_up(&app.state.db, &app.state.config.stats).await?;
    Ok((a, b, admin, last_month))
}

async fn status(c: &reqwest::Client, app: &TestApp, path: &str) -> Result<u16> {
    Ok(c.get(app.url(path)).send().await?.status().as_u16())
}

async fn body(c: &reqwest::Client, app: &TestApp, path: &str) -> Result<String> {
    Ok(c.get(app.url(path)).send().await?.text().await?)
}

async fn sign_in_and_dashboards(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let (a, b, admin, last_month) = setup(&app).await?;

    // Without a session: to the sign-in page, and back afterwards.
    let plain = common::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let r = plain.get(app.url("/staff/stats?member=A")).send().await?;
    assert_eq!(r.status(), 303);
    assert_eq!(
        common::header(&r, "location"),
        "/staff/sign-in?next=%2Fstaff%2Fstats%3Fmember%3DA"
    );
    // A form posted without its token (from another site) is refused.
    let r = plain
        .post(app.url("/staff/sign-in"))
        .form(&[("token", a.as_str()), ("csrf", "forged")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    // A wrong token is told so, and no session is made.
    let c = common::http_builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = c.get(app.url("/staff/sign-in")).send().await?;
    let cookie = common::header(&page, "set-cookie");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(page.headers().get("content-security-policy").is_some());
    let text = page.text().await?;
    // The help names the tokens' real prefix.
    assert!(text.contains("begins with spindle_"), "{text}");
    let csrf = text
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("csrf")?;
    let r = c
        .post(app.url("/staff/sign-in"))
        .form(&[("token", "spt_wrong"), ("csrf", csrf)])
        .send()
        .await?;
    assert_eq!(r.status(), 401);
    assert!(r.text().await?.contains("unknown or has been revoked"));

    // A librarian: their own member's figures, nobody else's.
    let la = common::staff_client(&app, &a).await?;
    let html = body(&la, &app, "/staff/stats").await?;
    assert!(html.contains("A · A library"), "{html}");
    // Last month: 3 views, 2 downloads, 1 launch for A (the unattributed download is not A's).
    let row = html
        .split(&format!("<th scope=\"row\">{last_month}</th>"))
        .nth(1)
        .context("month row")?;
    assert!(row.starts_with("<td>3</td><td>2</td><td>1</td>"), "{row}");
    assert!(
        html.contains("Physics &lt;b&gt;lab&lt;"),
        "labels are escaped: {html}"
    );
    assert!(!html.contains("<b>lab</b>"));
    // The most used discs link to their pages, not to the JSON API.
    assert!(html.contains("<a href=\"/discs/"), "{html}");
    assert!(!html.contains("href=\"/api/v1/discs/"), "{html}");
    assert!(html.contains("<svg"), "the chart");
    assert_eq!(status(&la, &app, "/staff/stats?member=XSS").await?, 403);
    let csv = la.get(app.url("/staff/stats/months.csv")).send().await?;
    assert_eq!(
        common::header(&csv, "content-type"),
        "text/csv; charset=utf-8"
    );
    let csv = csv.text().await?;
    assert!(
        csv.starts_with("\u{feff}month,views,downloads,launches\r\n"),
        "{csv}"
    );
    assert!(csv.contains(&format!("{last_month},3,2,1\r\n")), "{csv}");
    let top = body(&la, &app, "/staff/stats/top.csv").await?;
    assert!(top.contains("Physics <b>lab</b> disc,A,2,1,1"), "{top}");
    assert_eq!(status(&la, &app, "/staff/stats/members.csv").await?, 404);
    assert_eq!(status(&la, &app, "/staff/stats/nope.csv").await?, 404);

    // An admin: the consortium (all usage), the league table, any member.
    let lc = common::staff_client(&app, &admin).await?;
    let html = body(&lc, &app, "/staff/stats").await?;
    let row = html
        .split(&format!("<th scope=\"row\">{last_month}</th>"))
        .nth(1)
        .context("month row")?;
    assert!(row.starts_with("<td>3</td><td>3</td><td>1</td>"), "{row}");
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Library"),
        "{html}"
    );
    assert!(!html.contains("<script>alert(1)</script>"));
    let league = body(&lc, &app, "/staff/stats/members.csv").await?;
    let lines: Vec<&str> = league.lines().collect();
    assert_eq!(lines[1], "A,A library,2,3,2,1", "{league}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("XSS,<script>alert(1)</script> Library,0,0,0,0")),
        "{league}"
    );
    let years = body(&lc, &app, "/staff/stats/years.csv").await?;
    let this_year = &Day::today().year().to_string();
    assert!(
        years
            .lines()
            .any(|l| l.starts_with(&format!("{this_year},2,0,2,"))),
        "{years}"
    );
    assert_eq!(status(&lc, &app, "/staff/stats?member=A").await?, 200);
    assert_eq!(status(&lc, &app, "/staff/stats?member=NOPE").await?, 404);
    let b_client = common::staff_client(&app, &b).await?;
    assert_eq!(status(&b_client, &app, "/staff/stats?member=A").await?, 403);

    // Signing out needs the session's form token; afterwards the session is gone.
    let r = la
        .post(app.url("/staff/sign-out"))
        .form(&[("csrf", "forged")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let page = body(&la, &app, "/staff/stats").await?;
    let token = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("csrf")?
        .to_string();
    let r = la
        .post(app.url("/staff/sign-out"))
        .form(&[("csrf", token.as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(status(&la, &app, "/staff/stats").await?, 303);
    // Revoking a token ends its sessions.
    let admin_id = spindle::db::tokens::by_hash(&app.state.db, &spindle::auth::hash_token(&admin))
        .await?
        .context("admin")?
        .id;
    spindle::db::tokens::revoke(&app.state.db, admin_id).await?;
    assert_eq!(status(&lc, &app, "/staff/stats").await?, 303);

    in_chromium(&app, &a, &last_month).await?;
    Ok(())
}

/// Sign in through the form, read the dashboard in Chinese, switch to English, download a
/// CSV: in a real browser, with screenshots for people to look at.
async fn in_chromium(app: &TestApp, token: &str, last_month: &str) -> Result<()> {
    let browser = Browser::start().await?;
    let c = &browser.client;
    browser
        .sign_in(
            &app.url("/staff/stats?lang=zh"),
            token,
            "return document.getElementById('months') ? document.title : null;",
        )
        .await?;
    c.goto(&app.url("/staff/stats?lang=zh")).await?;
    let title = browser
        .wait_js(
            30,
            "the Chinese dashboard",
            "return document.documentElement.lang === 'zh-CN' ? document.title : null;",
        )
        .await?;
    assert!(
        title.as_str().unwrap_or_default().starts_with("使用统计"),
        "{title}"
    );
    browser.screenshot("staff-stats-zh").await?;
    let cells = c
        .execute(
            "const row = [...document.querySelectorAll('#months tr')].find(r => r.querySelector('th').textContent === arguments[0]); \
             return [...row.querySelectorAll('td')].map(td => td.textContent);",
            vec![json!(last_month)],
        )
        .await?;
    assert_eq!(cells, json!(["3", "2", "1"]));
    browser.click("a[hreflang=en]").await?;
    browser
        .wait_js(
            30,
            "English",
            "return document.documentElement.lang === 'en' ? true : null;",
        )
        .await?;
    browser.screenshot("staff-stats-en").await?;
    browser
        .click("a.csv[href^='/staff/stats/months.csv']")
        .await?;
    let csv = browser.downloaded("spindle-A-months.csv").await?;
    assert!(csv.contains(&format!("{last_month},3,2,1")), "{csv}");
    browser.close().await
}
