//! Who may read a closed disc, on both backend pairs: readers from the member's network
//! ranges; forwarded addresses only from trusted proxies; signed, expiring links for one disc
//! or all of a member's discs (kept in a cookie so the disc's files open too); forged,
//! tampered and expired links refused with a message that says how to get access.

use crate::common;

use std::time::Duration;

use anyhow::{Context, Result};
use common::{Backend, TestApp, iso_image};
use serde_json::{Value, json};

on_both_backends!(network_ranges_and_signed_links);

async fn link(app: &TestApp, token: &str, path: &str, secs: i64) -> Result<Value> {
    let r = app
        .client
        .post(app.url(path))
        .bearer_auth(token)
        .json(&json!({ "expires_in_secs": secs }))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 201, "{}", r.text().await?);
    Ok(r.json().await?)
}

async fn network_ranges_and_signed_links(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("A").await?;
    let b = app.librarian("B").await?;
    let admin = app.admin().await?;
    let d1 = app.disc(&a, &iso_image(3000, 71), json!({})).await?;
    let d2 = app.disc(&a, &iso_image(3000, 72), json!({})).await?;
    let bd = app.disc(&b, &iso_image(3000, 73), json!({})).await?;
    common::wait_indexed(&app, Some(&a), d1).await?;
    let reader = common::http();
    let status = |url: String, h: Option<(&'static str, String)>| {
        let mut r = reader.get(url);
        if let Some((k, v)) = h {
            r = r.header(k, v);
        }
        async move { anyhow::Ok(r.send().await?.status().as_u16()) }
    };
    let disc_url = |d: i64, rest: &str| app.url(&format!("/api/v1/discs/{d}{rest}"));

    // Outside every range: refused, with how to get access.
    let r = reader.get(disc_url(d1, "/image")).send().await?;
    assert_eq!(r.status(), 403);
    let v: Value = r.json().await?;
    assert_eq!(v["code"], "not-admitted");
    assert!(
        v["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("library's network"),
        "{v}"
    );

    // In A's range (the tests' client is 127.0.0.1): A's discs open, B's do not.
    app.set_networks(&admin, "A", &["127.0.0.0/8", "2001:db8::/32"])
        .await?;
    for rest in ["", "/image", "/files/", "/files/data.bin", "/tree", "/zip"] {
        assert_eq!(status(disc_url(d1, rest), None).await?, 200, "{rest}");
    }
    assert_eq!(status(disc_url(d2, "/image"), None).await?, 200);
    assert_eq!(status(disc_url(bd, "/image"), None).await?, 403);

    // A forwarded address counts only from a trusted proxy.
    app.set_networks(&admin, "A", &["198.51.100.0/24"]).await?;
    let forwarded = Some(("x-forwarded-for", "198.51.100.7".to_string()));
    assert_eq!(
        status(disc_url(d1, "/image"), forwarded.clone()).await?,
        403,
        "spoofed"
    );
    drop(app);
    let app = TestApp::on(backend).behind_loopback_proxy().start().await?;
    let a = app.librarian("A").await?;
    let admin = app.admin().await?;
    let d1 = app.disc(&a, &iso_image(3000, 71), json!({})).await?;
    let d2 = app.disc(&a, &iso_image(3000, 72), json!({})).await?;
    app.set_networks(&admin, "A", &["198.51.100.0/24"]).await?;
    let disc_url = |d: i64, rest: &str| app.url(&format!("/api/v1/discs/{d}{rest}"));
    assert_eq!(
        status(disc_url(d1, "/image"), forwarded.clone()).await?,
        200,
        "via the proxy"
    );
    assert_eq!(
        status(
            disc_url(d1, "/image"),
            Some(("x-forwarded-for", "203.0.113.9".into()))
        )
        .await?,
        403
    );
    // A chain: the proxy appends the reader's address; whatever the reader put first is
    // not believed.
    assert_eq!(
        status(
            disc_url(d1, "/image"),
            Some(("x-forwarded-for", "198.51.100.7, 203.0.113.9".into()))
        )
        .await?,
        403
    );

    // A signed link for one disc: that disc (and, by its cookie, its files), no other.
    let l = link(&app, &a, &format!("/api/v1/discs/{d1}/signed-links"), 60).await?;
    let url = l["url"].as_str().context("url")?.to_string();
    let token = l["token"].as_str().context("token")?.to_string();
    assert!(
        url.ends_with(&format!("/discs/{d1}?access={token}")) && !url.contains("/api/"),
        "{url}"
    );
    let jar = common::http_builder().cookie_store(true).build()?;
    let r = jar.get(&url).send().await?;
    assert_eq!(r.status(), 200);
    let cookies: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("spindle_access=") && c.contains("HttpOnly")),
        "{cookies:?}"
    );
    assert_eq!(
        jar.get(disc_url(d1, "/files/data.bin"))
            .send()
            .await?
            .status(),
        200,
        "by the cookie"
    );
    assert_eq!(
        jar.get(disc_url(d2, "/image")).send().await?.status(),
        403,
        "another disc"
    );
    // Tampered: another disc's id under this signature, or a changed signature.
    let (payload, sig) = token.split_once('.').context("token shape")?;
    let mut bad_sig = sig.to_string();
    bad_sig.replace_range(0..1, if sig.starts_with('0') { "1" } else { "0" });
    for forged in [
        format!("{payload}.{bad_sig}"),
        "garbage".to_string(),
        payload.to_string(),
    ] {
        assert_eq!(
            status(disc_url(d1, &format!("?access={forged}")), None).await?,
            403,
            "{forged}"
        );
    }
    assert_eq!(
        status(disc_url(d2, &format!("?access={token}")), None).await?,
        403
    );

    // A member-wide link opens every disc of the member; an expired one nothing.
    let m = link(&app, &a, "/api/v1/members/A/signed-links", 60).await?;
    let mt = m["token"].as_str().context("token")?;
    for d in [d1, d2] {
        assert_eq!(
            status(disc_url(d, &format!("/image?access={mt}")), None).await?,
            200
        );
    }
    let short = link(&app, &a, &format!("/api/v1/discs/{d2}/signed-links"), 1).await?;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        status(short["url"].as_str().context("url")?.to_string(), None).await?,
        403,
        "expired"
    );

    // Only the member's staff make links, and only for a while.
    let b = app.librarian("B").await?;
    let r = app
        .client
        .post(app.url(&format!("/api/v1/discs/{d1}/signed-links")))
        .bearer_auth(&b)
        .json(&json!({"expires_in_secs": 60}))
        .send()
        .await?;
    assert_eq!(r.status(), 403);
    let r = app
        .client
        .post(app.url(&format!("/api/v1/discs/{d1}/signed-links")))
        .bearer_auth(&a)
        .json(&json!({"expires_in_secs": 400 * 86_400}))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    Ok(())
}
