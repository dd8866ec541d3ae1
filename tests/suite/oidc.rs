//! Campus sign-on by OpenID Connect against a real provider (oidc-provider, started by
//! scripts/peers.sh, which requires PKCE of every client): a reader, a librarian and an admin
//! sign in through the real redirects and login form in headless Chromium, and a person no
//! rule names gets no rights. Refused, each for the one thing wrong with it: an ID token for
//! another client, an expired one, one with another nonce, one from another issuer, an
//! unsigned one, one signed by a key the provider does not publish; a way back with another
//! state, without the sign-in's cookie, with the provider's error, or with a code the provider
//! will not redeem for Spindle (a wrong client secret). The secret is never answered back, and
//! an update without it keeps it.

use crate::common;

use anyhow::{Context, Result, ensure};
use common::browser::Browser;
use common::cas::{SIGNED_IN_STAFF_PAGE, back, browserish};
use common::oidc::{client_for, code_for, issuer, person, tamper};
use common::{Backend, TestApp, iso_image};
use fantoccini::Locator;
use serde_json::{Value, json};

on_both_backends!(oidc_in_chromium, oidc_refusals);

struct People {
    lib: (String, String),
    boss: (String, String),
    student: (String, String),
    other: (String, String),
}

/// BNU signs on with the test provider: `lib` is its librarian by name, anyone in the group
/// `library-admins` an admin, and its readers may sign in. Answers the admin's token, the
/// people and the client's id.
async fn campus(app: &TestApp) -> Result<(String, People, String)> {
    let people = People {
        lib: person("chen.lib", &["library-staff"]).await?,
        boss: person("sun.admin", &["library-staff", "library-admins"]).await?,
        student: person("zhou.student", &["student"]).await?,
        other: person("wu.alum", &["alum"]).await?,
    };
    app.member("BNU").await?;
    let admin = app.admin().await?;
    let (client_id, secret) = client_for(app, "BNU").await?;
    let r = app
        .client
        .put(app.url("/api/v1/members/BNU/identity"))
        .bearer_auth(&admin)
        .json(&json!({
            "kind": "oidc",
            "oidc": {"issuer": format!("{}/", issuer()), "client_id": client_id, "client_secret": secret, "scopes": ["profile", "groups"]},
            "staff": [
                {"user": people.lib.0, "role": "librarian"},
                {"attribute": "groups", "value": "library-admins", "role": "admin"},
            ],
            "readers": true,
        }))
        .send()
        .await?;
    ensure!(r.status() == 200, "{} {}", r.status(), r.text().await?);
    let v: Value = r.json().await?;
    ensure!(
        v["oidc"]["issuer"] == issuer(),
        "trailing slash trimmed: {v}"
    );
    ensure!(
        v["oidc"]["scopes"] == json!(["openid", "profile", "groups"]),
        "{v}"
    );
    ensure!(v["service_url"] == app.url("/sso/BNU/oidc"), "{v}");
    ensure!(
        v["oidc"].get("client_secret").is_none(),
        "secret answered: {v}"
    );
    Ok((admin, people, client_id))
}

/// Fills the provider's login form (whatever page Chromium is on) and submits it.
async fn provider_form(b: &Browser, login: &str, password: &str) -> Result<()> {
    b.wait_for_id(30, "the provider's login form", "login")
        .await?;
    b.client
        .find(Locator::Id("login"))
        .await?
        .send_keys(login)
        .await?;
    b.client
        .find(Locator::Id("password"))
        .await?
        .send_keys(password)
        .await?;
    b.click("#submit").await
}

async fn oidc_in_chromium(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let (admin, people, _) = campus(&app).await?;
    let bnu = app.librarian("BNU").await?;
    let disc = app.disc(&bnu, &iso_image(600_000, 73), json!({})).await?;
    let disc_page = app.url(&format!("/discs/{disc}"));

    // A reader off campus is refused, offered BNU's sign-on, signs in and is back on the disc.
    let reader = Browser::start().await?;
    reader.client.goto(&disc_page).await?;
    reader.wait_for_id(30, "the refusal", "via-sign-on").await?;
    reader.click("#via-sign-on").await?;
    provider_form(&reader, &people.student.0, &people.student.1).await?;
    let there = reader
        .wait_js(
            30,
            "the disc page after signing in",
            "return (location.pathname.startsWith('/discs/') && document.getElementById('signed-on')) ? location.pathname : null;",
        )
        .await?;
    ensure!(there == json!(format!("/discs/{disc}")), "{there}");
    let bnu_id = spindle::db::members::by_code(&app.state.db, "BNU")
        .await?
        .context("BNU")?
        .id;
    let events = app.events_today().await?;
    ensure!(
        events.iter().any(|e| e.disc_id == Some(disc)
            && e.status == 200
            && e.members.split(',').any(|m| m == bnu_id.to_string())),
        "the reader's view counts for BNU: {events:?}"
    );

    // The librarian by name, the admin by group; someone no rule names gets no rights.
    for (who, expect_rights) in [
        (&people.lib, true),
        (&people.boss, true),
        (&people.other, false),
    ] {
        let b = Browser::start().await?;
        b.client.goto(&app.url("/staff/sign-in")).await?;
        b.click("#sign-on-BNU").await?;
        provider_form(&b, &who.0, &who.1).await?;
        if expect_rights {
            let path = b
                .wait_js(30, "the staff page", SIGNED_IN_STAFF_PAGE)
                .await?;
            ensure!(path == json!("/staff/stats"), "{}: {path}", who.0);
        } else {
            b.wait_js(
                30,
                "the no-rights page",
                &format!(
                    "return document.body.innerText.includes('{}') ? true : null;",
                    who.0
                ),
            )
            .await?;
            b.client.goto(&app.url("/staff/stats")).await?;
            b.wait_for_id(30, "the sign-in page", "sign-on-BNU").await?;
        }
        b.close().await?;
    }
    let r = app
        .client
        .get(app.url("/api/v1/people?member=BNU"))
        .bearer_auth(&admin)
        .send()
        .await?;
    let list: Value = r.json().await?;
    let role = |who: &str| {
        list["people"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["subject"] == who))
            .map(|p| p["rule_role"].clone())
    };
    ensure!(role(&people.lib.0) == Some(json!("librarian")), "{list}");
    ensure!(role(&people.boss.0) == Some(json!("admin")), "{list}");
    ensure!(role(&people.other.0) == Some(Value::Null), "{list}");
    ensure!(
        role(&people.student.0).is_none(),
        "readers are not kept: {list}"
    );
    reader.close().await?;
    Ok(())
}

async fn oidc_refusals(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend).without_limits().start().await?;
    let (admin, people, client_id) = campus(&app).await?;
    let (login, password) = (&people.student.0, &people.student.1);

    // The way that works, for comparison.
    let c = browserish()?;
    let url = code_for(&c, &app, "BNU", "reader", login, password).await?;
    ensure!(url.contains("code=") && url.contains("state="), "{url}");
    let (status, page, session) = back(c.get(&url)).await?;
    ensure!(status == 200 && session, "{status} {page}");
    // Visited again, the sign-in's cookie is spent.
    let (status, _, session) = back(c.get(&url)).await?;
    ensure!(status == 400 && !session, "the way back twice: {status}");

    // Each spoilt ID token is refused for what is wrong with it, and opens no session.
    for (mode, says) in [
        ("audience", "another client"),
        ("expired", "expired"),
        ("nonce", "nonce"),
        ("issuer", "issued by http://127.0.0.1:1/elsewhere"),
        ("unsigned", "not signed"),
        ("foreign-key", "signature does not verify"),
    ] {
        let c = browserish()?;
        tamper(&client_id, mode).await?;
        let url = code_for(&c, &app, "BNU", "reader", login, password).await?;
        let (status, page, session) = back(c.get(&url)).await?;
        ensure!(
            status == 401 && page.contains(says) && !session,
            "{mode}: {status} {page}"
        );
    }

    // Another state than the one sent, and no sign-in cookie at all.
    let c = browserish()?;
    let url = code_for(&c, &app, "BNU", "reader", login, password).await?;
    let forged = url.replace("state=", "state=0");
    let (status, page, session) = back(c.get(&forged)).await?;
    ensure!(
        status == 401 && page.contains("state") && !session,
        "{status} {page}"
    );
    let c = browserish()?;
    let url = code_for(&c, &app, "BNU", "reader", login, password).await?;
    let (status, _, session) = back(browserish()?.get(&url)).await?;
    ensure!(status == 400 && !session, "without the cookie: {status}");

    // The provider's own refusal, brought back with the sign-in's state.
    let c = browserish()?;
    let auth = common::cas::start_sign_in(&c, &app, "BNU", "reader").await?;
    let state = reqwest::Url::parse(&auth)?
        .query_pairs()
        .find(|(k, _)| k == "state")
        .map(|(_, v)| v.into_owned())
        .context("state")?;
    let (status, page, session) = back(c.get(app.url(&format!(
        "/sso/BNU/oidc?error=access_denied&error_description=End-User+aborted&state={state}"
    ))))
    .await?;
    ensure!(
        status == 401 && page.contains("access_denied") && !session,
        "{status} {page}"
    );

    // An update without the secret keeps it (the sign-in still works); a wrong secret is
    // refused by the provider's token endpoint, and so by Spindle.
    let put = |secret: Option<&str>| {
        let mut oidc = json!({"issuer": issuer(), "client_id": client_id, "scopes": ["groups"]});
        if let Some(s) = secret {
            oidc["client_secret"] = json!(s);
        }
        app.client
            .put(app.url("/api/v1/members/BNU/identity"))
            .bearer_auth(&admin)
            .json(&json!({"kind": "oidc", "oidc": oidc, "readers": true}))
            .send()
    };
    ensure!(
        put(None).await?.status() == 200,
        "update without the secret"
    );
    let got: Value = app
        .client
        .get(app.url("/api/v1/members/BNU/identity"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        got["oidc"]["client_id"] == client_id.as_str()
            && got["oidc"].get("client_secret").is_none(),
        "{got}"
    );
    let c = browserish()?;
    let url = code_for(&c, &app, "BNU", "reader", login, password).await?;
    let (status, page, session) = back(c.get(&url)).await?;
    ensure!(status == 200 && session, "the kept secret: {status} {page}");
    ensure!(put(Some("not-the-secret")).await?.status() == 200, "update");
    let c = browserish()?;
    let url = code_for(&c, &app, "BNU", "reader", login, password).await?;
    let (status, page, session) = back(c.get(&url)).await?;
    ensure!(
        status == 401 && page.contains("invalid_client") && !session,
        "a wrong secret: {status} {page}"
    );

    // Shapeless settings, and a provider that is not there.
    for bad in [
        json!({"kind": "oidc"}),
        json!({"kind": "oidc", "oidc": {"issuer": "ftp://x", "client_id": "a"}}),
        json!({"kind": "oidc", "oidc": {"issuer": "https://x", "client_id": ""}}),
        json!({"kind": "oidc", "oidc": {"issuer": "https://x", "client_id": "a", "scopes": ["a b"]}}),
    ] {
        let r = app
            .client
            .put(app.url("/api/v1/members/BNU/identity"))
            .bearer_auth(&admin)
            .json(&bad)
            .send()
            .await?;
        ensure!(r.status() == 422, "{bad}: {}", r.status());
    }
    let r = app
        .client
        .put(app.url("/api/v1/members/BNU/identity"))
        .bearer_auth(&admin)
        .json(&json!({"kind": "oidc", "oidc": {"issuer": "http://127.0.0.1:1", "client_id": "a"}, "readers": true}))
        .send()
        .await?;
    ensure!(r.status() == 200, "{}", r.status());
    let r = browserish()?
        .get(app.url("/sso/BNU/sign-in?as=reader&next=/"))
        .send()
        .await?;
    ensure!(r.status() == 502, "a provider not there: {}", r.status());
    Ok(())
}
