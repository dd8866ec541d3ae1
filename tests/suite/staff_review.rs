//! The review queue as a page, on both backend pairs: a disc whose catalogue answer is not
//! certain (title and year against the real Zebra catalogue) waits there with its candidate
//! and the reasons; a decision needs the session's form token; accepting links the disc.

use crate::common;

use anyhow::{Context, Result};
use common::catalogue::{configure, linked, register};
use common::{Backend, PART, TestApp, form_token, iso_image, sha256_hex, staff_client};
use serde_json::json;

on_both_backends!(review_from_the_page);

async fn review_from_the_page(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("ZZU").await?;
    app.member("CNU").await?;
    let zzu = app.librarian("ZZU").await?;
    let cnu = app.librarian("CNU").await?;
    configure(&app, &zzu, "ZZU", "marc21").await?;
    let data = iso_image(1000, 91);
    app.upload(&zzu, &data, (2 * PART) as usize).await?;
    let disc = register(
        &app,
        &zzu,
        &sha256_hex(&data),
        json!({"title": "Laboratory manual for general physics", "year": 2014}),
    )
    .await?;
    let v = linked(&app, &zzu, disc).await?;
    assert_eq!(v["link_status"], "review", "{v}");

    let librarian = staff_client(&app, &zzu).await?;
    let html = librarian
        .get(app.url("/staff/review"))
        .send()
        .await?
        .text()
        .await?;
    let section = html
        .split(&format!("id=\"disc-{disc}\""))
        .nth(1)
        .context("the disc waits on the page")?;
    assert!(
        section.contains("Laboratory manual for general physics"),
        "{section}"
    );
    assert!(section.contains("100013"), "{section}");
    let action = section
        .split("action=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("the accept form")?
        .to_string();
    assert!(action.ends_with("/accept"), "{action}");
    let csrf = form_token(&html)?;

    // Without the session's form token: refused, nothing decided.
    let r = librarian
        .post(app.url(&action))
        .form(&[("csrf", "forged"), ("member", "ZZU")])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let v = linked(&app, &zzu, disc).await?;
    assert_eq!(v["link_status"], "review");
    // Another member's librarian cannot decide for ZZU.
    let other = staff_client(&app, &cnu).await?;
    let other_page = other
        .get(app.url("/staff/review"))
        .send()
        .await?
        .text()
        .await?;
    let other_csrf = form_token(&other_page)?;
    let r = other
        .post(app.url(&action))
        .form(&[("csrf", other_csrf.as_str())])
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    assert_eq!(
        other
            .get(app.url("/staff/review?member=ZZU"))
            .send()
            .await?
            .status(),
        403
    );
    // With it: linked, and the queue is empty.
    let r = librarian
        .post(app.url(&action))
        .form(&[("csrf", csrf.as_str()), ("member", "ZZU")])
        .send()
        .await?;
    assert_eq!(r.status(), 303);
    assert_eq!(common::header(&r, "location"), "/staff/review?member=ZZU");
    let v = linked(&app, &zzu, disc).await?;
    assert_eq!(v["link_status"], "linked", "{v}");
    let html = librarian
        .get(app.url("/staff/review"))
        .send()
        .await?
        .text()
        .await?;
    assert!(html.contains("id=\"empty\""), "{html}");
    Ok(())
}
