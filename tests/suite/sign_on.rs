//! Campus sign-on against a real CAS server (django-mama-cas, started by scripts/peers.sh with
//! the test campus's people): a librarian, an admin and a reader sign in through the real
//! redirects and login form in headless Chromium; a person no rule names gets no rights until
//! an admin grants them; the CAS server's single logout ends Spindle's sessions. And what is
//! refused: a replayed ticket, a ticket for another member's service URL, a ticket brought
//! without starting from Spindle, a librarian setting sign-on, shapeless settings, an idle
//! session.

use crate::common;

use anyhow::{Context, Result, ensure};
use common::browser::Browser;
use common::{Backend, TestApp, iso_image};
use fantoccini::Locator;
use serde_json::{Value, json};

on_both_backends!(
    cas_in_chromium,
    cas_refusals,
    a_campus_behind_one_address,
    personal_tokens,
    sign_on_settings_in_chromium
);

use common::cas::{SIGNED_IN_STAFF_PAGE, back, cas_url};

/// The people of the test campus this test signs in as (each test makes its own).
struct People {
    lib: (String, String),
    boss: (String, String),
    student: (String, String),
    other: (String, String),
}

/// PKU and THU, both signing on with the test CAS: `lib` is PKU's librarian by name,
/// anyone in `library-admins` an admin; PKU's readers may sign in, THU's may not.
async fn campus(app: &TestApp) -> Result<(String, People)> {
    let people = People {
        lib: common::cas::person("wang.lib", &["staff"]).await?,
        boss: common::cas::person("li.admin", &["staff", "library-admins"]).await?,
        student: common::cas::person("zhang.student", &["student"]).await?,
        other: common::cas::person("zhao.other", &["alum"]).await?,
    };
    app.member("PKU").await?;
    app.member("THU").await?;
    let admin = app.admin().await?;
    for (code, readers) in [("PKU", true), ("THU", false)] {
        let r = app
            .client
            .put(app.url(&format!("/api/v1/members/{code}/identity")))
            .bearer_auth(&admin)
            .json(&json!({
                "kind": "cas",
                "cas": {"base_url": format!("{}/", cas_url()), "protocol": "3.0"},
                "staff": [
                    {"user": people.lib.0, "role": "librarian"},
                    {"attribute": "affiliation", "value": "library-admins", "role": "admin"},
                ],
                "readers": readers,
            }))
            .send()
            .await?;
        ensure!(
            r.status() == 200,
            "{code}: {} {}",
            r.status(),
            r.text().await?
        );
        let v: Value = r.json().await?;
        ensure!(
            v["cas"]["base_url"] == cas_url(),
            "trailing slash trimmed: {v}"
        );
        ensure!(
            v["service_url"] == app.url(&format!("/sso/{code}/cas")),
            "{v}"
        );
    }
    Ok((admin, people))
}

/// Fills the CAS server's own login form (whatever page Chromium is on) and submits it.
async fn cas_form(b: &Browser, user: &str, password: &str) -> Result<()> {
    b.wait_for_id(30, "the CAS login form", "id_username")
        .await?;
    b.client
        .find(Locator::Id("id_username"))
        .await?
        .send_keys(user)
        .await?;
    b.client
        .find(Locator::Id("id_password"))
        .await?
        .send_keys(password)
        .await?;
    b.click("form input[type=submit], form button[type=submit]")
        .await
}

/// A fetch from the page with the session's form token, as Spindle's own scripts call the API.
async fn page_fetch(b: &Browser, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
    let script = "const [m, p, body] = arguments; \
        const c = document.querySelector('input[name=csrf]').value; \
        const init = {method: m, headers: {'x-spindle-csrf': c, 'content-type': 'application/json'}}; \
        if (body !== null) init.body = JSON.stringify(body); \
        return fetch(p, init).then(async r => ({status: r.status, body: await r.text()}));";
    Ok(b.client
        .execute(
            script,
            vec![json!(method), json!(path), body.unwrap_or(Value::Null)],
        )
        .await?)
}

async fn staff_sign_in(b: &Browser, app: &TestApp, user: &str, password: &str) -> Result<()> {
    b.client.goto(&app.url("/staff/sign-in")).await?;
    b.click("#sign-on-PKU").await?;
    cas_form(b, user, password).await
}

async fn cas_in_chromium(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let (admin, people) = campus(&app).await?;
    let pku = app.librarian("PKU").await?;
    let disc = app.disc(&pku, &iso_image(600_000, 71), json!({})).await?;
    let disc_page = app.url(&format!("/discs/{disc}"));

    // A reader off campus is refused, offered PKU's sign-on, signs in and is back on the disc.
    let reader = Browser::start().await?;
    reader.client.goto(&disc_page).await?;
    reader.wait_for_id(30, "the refusal", "via-sign-on").await?;
    reader.click("#via-sign-on").await?;
    cas_form(&reader, &people.student.0, &people.student.1).await?;
    let there = reader
        .wait_js(
            30,
            "the disc page after signing in",
            "return (location.pathname.startsWith('/discs/') && !document.getElementById('via-sign-on') && document.querySelector('h1')) ? location.pathname : null;",
        )
        .await?;
    ensure!(there == json!(format!("/discs/{disc}")), "{there}");
    // The reader's use counts for PKU (COUNTER: the signed-in user's institution).
    let pku_id = spindle::db::members::by_code(&app.state.db, "PKU")
        .await?
        .context("PKU")?
        .id;
    let events = app.events_today().await?;
    let landing = events
        .iter()
        .filter(|e| e.disc_id == Some(disc) && e.status == 200)
        .collect::<Vec<_>>();
    ensure!(!landing.is_empty(), "no counted view: {events:?}");
    ensure!(
        landing
            .iter()
            .all(|e| e.members.split(',').any(|m| m == pku_id.to_string())),
        "{landing:?}"
    );

    // The librarian named by a rule signs in and sees PKU's figures.
    let lib = Browser::start().await?;
    staff_sign_in(&lib, &app, &people.lib.0, &people.lib.1).await?;
    let path = lib
        .wait_js(30, "the staff page", SIGNED_IN_STAFF_PAGE)
        .await?;
    ensure!(path == json!("/staff/stats"), "{path}");
    let own = page_fetch(&lib, "GET", "/api/v1/members/PKU/identity", None).await?;
    ensure!(own["status"] == 200, "{own}");
    let other = page_fetch(&lib, "GET", "/api/v1/members/THU/identity", None).await?;
    ensure!(other["status"] == 403, "{other}");
    let set = page_fetch(
        &lib,
        "PUT",
        "/api/v1/members/PKU/identity",
        Some(json!({"kind": "cas", "cas": {"base_url": "https://evil.example/cas"}, "staff": [{"user": "x", "role": "admin"}]})),
    )
    .await?;
    ensure!(
        set["status"] == 403,
        "a librarian cannot set sign-on: {set}"
    );

    // The librarian makes a personal token for the upload CLI on their page, uses it, and
    // revokes it there.
    lib.client.goto(&app.url("/staff/tokens")).await?;
    lib.wait_for_id(30, "the tokens page", "name").await?;
    lib.client
        .find(Locator::Id("name"))
        .await?
        .send_keys("upload CLI")
        .await?;
    lib.click("form[action$='/staff/tokens'] button[type=submit]")
        .await?;
    let made = lib
        .wait_js(
            30,
            "the new token",
            "const t = document.getElementById('new-token'); return t ? t.textContent : null;",
        )
        .await?;
    let made = made.as_str().context("token text")?.to_string();
    let r = app
        .client
        .get(app.url("/api/v1/members/PKU/identity"))
        .bearer_auth(&made)
        .send()
        .await?;
    ensure!(
        r.status() == 200,
        "the personal token acts as PKU's librarian: {}",
        r.status()
    );
    let r = app
        .client
        .get(app.url("/api/v1/members/THU/identity"))
        .bearer_auth(&made)
        .send()
        .await?;
    ensure!(r.status() == 403, "and only as that: {}", r.status());
    lib.click("#tokens button[type=submit]").await?;
    lib.wait_for_id(30, "the list without it", "no-tokens")
        .await?;
    let r = app
        .client
        .get(app.url("/api/v1/tokens"))
        .bearer_auth(&made)
        .send()
        .await?;
    ensure!(r.status() == 401, "revoked: {}", r.status());

    // The admin (by attribute) sees everyone who signed in as staff.
    let adm = Browser::start().await?;
    staff_sign_in(&adm, &app, &people.boss.0, &people.boss.1).await?;
    adm.wait_js(30, "the staff page", SIGNED_IN_STAFF_PAGE)
        .await?;
    let listing = page_fetch(&adm, "GET", "/api/v1/people", None).await?;
    ensure!(listing["status"] == 200, "{listing}");
    let list: Value = serde_json::from_str(listing["body"].as_str().unwrap_or(""))?;
    let role_of = |list: &Value, who: &str| {
        list["people"]
            .as_array()
            .and_then(|a| a.iter().find(|p| p["subject"] == who).cloned())
    };
    ensure!(
        role_of(&list, &people.lib.0).is_some_and(|p| p["rule_role"] == "librarian"),
        "{list}"
    );
    ensure!(
        role_of(&list, &people.boss.0).is_some_and(|p| p["rule_role"] == "admin"),
        "{list}"
    );
    ensure!(
        role_of(&list, &people.student.0).is_none(),
        "readers are not kept: {list}"
    );

    // Someone no rule names signs in and gets no rights until an admin grants them.
    let nobody = Browser::start().await?;
    staff_sign_in(&nobody, &app, &people.other.0, &people.other.1).await?;
    nobody
        .wait_js(
            30,
            "the no-rights page",
            &format!(
                "return document.body.innerText.includes('{}') ? true : null;",
                people.other.0
            ),
        )
        .await?;
    nobody.client.goto(&app.url("/staff/stats")).await?;
    let back = nobody
        .wait_js(
            30,
            "the sign-in page",
            "return document.getElementById('sign-on-PKU') ? location.pathname : null;",
        )
        .await?;
    ensure!(back == json!("/staff/sign-in"), "{back}");
    let r = app
        .client
        .get(app.url("/api/v1/people?member=PKU"))
        .bearer_auth(&admin)
        .send()
        .await?;
    let list: Value = r.json().await?;
    let zhao = role_of(&list, &people.other.0).context("the other person recorded")?;
    ensure!(
        zhao["rule_role"].is_null() && zhao["granted_role"].is_null(),
        "{zhao}"
    );
    let r = app
        .client
        .put(app.url(&format!("/api/v1/people/{}/role", zhao["id"])))
        .bearer_auth(&pku)
        .json(&json!({"role": "librarian"}))
        .send()
        .await?;
    ensure!(
        r.status() == 403,
        "a librarian cannot grant: {}",
        r.status()
    );
    // The admin grants the role on the people page.
    adm.client.goto(&app.url("/staff/people")).await?;
    let row = format!("#person-{}", zhao["id"]);
    adm.wait_js(
        30,
        "the people page",
        &format!("return document.querySelector('{row} select') ? true : null;"),
    )
    .await?;
    adm.client
        .execute(
            &format!("document.querySelector('{row} select').value = 'librarian';"),
            vec![],
        )
        .await?;
    adm.click(&format!("{row} button[type=submit]")).await?;
    adm.wait_js(
        30,
        "the grant shown",
        &format!("const r = document.querySelector('{row}'); return r && r.children[4].textContent === 'librarian' ? true : null;"),
    )
    .await?;
    // Still signed in at the CAS server: the next sign-in comes straight back, now with rights.
    nobody.client.goto(&app.url("/staff/sign-in")).await?;
    nobody.click("#sign-on-PKU").await?;
    nobody
        .wait_js(30, "the staff page after the grant", SIGNED_IN_STAFF_PAGE)
        .await?;

    // Single logout: signing out at the CAS server ends the reader's and the librarian's
    // Spindle sessions (the CAS server POSTs a logoutRequest for each ticket).
    for b in [&reader, &lib] {
        b.client.goto(&format!("{}/logout", cas_url())).await?;
        b.wait_for_id(30, "the CAS login page", "id_username")
            .await?;
    }
    reader.client.goto(&disc_page).await?;
    reader
        .wait_for_id(30, "the refusal again", "via-sign-on")
        .await?;
    lib.client.goto(&app.url("/staff/stats")).await?;
    lib.wait_for_id(30, "the sign-in page again", "sign-on-PKU")
        .await?;
    // The reader signs in again from the refusal and signs out on the disc page.
    reader.click("#via-sign-on").await?;
    cas_form(&reader, &people.student.0, &people.student.1).await?;
    reader
        .wait_for_id(30, "signed in on the disc page", "signed-on")
        .await?;
    reader.click("#reader-sign-out").await?;
    reader
        .wait_js(
            30,
            "the home page",
            "return location.pathname === '/' ? true : null;",
        )
        .await?;
    reader.client.goto(&disc_page).await?;
    reader
        .wait_for_id(30, "the refusal after signing out", "via-sign-on")
        .await?;
    // The admin, who did not sign out, is still in.
    adm.client.goto(&app.url("/staff/stats")).await?;
    adm.wait_js(30, "the admin's page", SIGNED_IN_STAFF_PAGE)
        .await?;
    for b in [reader, lib, adm, nobody] {
        b.close().await?;
    }
    Ok(())
}

async fn cas_refusals(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend).without_limits().start().await?;
    let (admin, people) = campus(&app).await?;

    // A ticket is good once: the second use is refused by the CAS server, and said so.
    let c = common::cas::browserish()?;
    let back =
        common::cas::ticket_for(&c, &app, "PKU", "staff", &people.lib.0, &people.lib.1).await?;
    ensure!(back.starts_with(&app.url("/sso/PKU/cas?ticket=")), "{back}");
    let r = c.get(&back).send().await?;
    ensure!(r.status() == 200, "first use: {}", r.status());
    ensure!(
        r.text().await?.contains("/staff/stats"),
        "onwards to the staff page"
    );
    let stats = c.get(app.url("/staff/stats")).send().await?;
    ensure!(stats.status() == 200, "signed in: {}", stats.status());
    c.get(app.url("/sso/PKU/sign-in?as=staff")).send().await?;
    let r = c.get(&back).send().await?;
    ensure!(r.status() == 401, "replayed: {}", r.status());
    ensure!(
        r.text().await?.contains("INVALID_TICKET"),
        "the CAS server's reason shown"
    );

    // A ticket issued for THU's service address is not one for PKU's.
    let c2 = common::cas::browserish()?;
    let thu =
        common::cas::ticket_for(&c2, &app, "THU", "staff", &people.lib.0, &people.lib.1).await?;
    let ticket = thu.split("ticket=").nth(1).context("ticket")?;
    c2.get(app.url("/sso/PKU/sign-in?as=staff")).send().await?;
    let r = c2
        .get(app.url(&format!("/sso/PKU/cas?ticket={ticket}")))
        .send()
        .await?;
    ensure!(
        r.status() == 401,
        "another service's ticket: {}",
        r.status()
    );
    ensure!(r.text().await?.contains("INVALID_SERVICE"));
    ensure!(
        c2.get(app.url("/staff/stats")).send().await?.status() == 303,
        "no session from a refused ticket"
    );

    // A ticket brought by a browser that did not start signing in here (another site sending
    // someone to the way back) is not even asked about.
    let c3 = common::cas::browserish()?;
    let fresh =
        common::cas::ticket_for(&c3, &app, "PKU", "staff", &people.lib.0, &people.lib.1).await?;
    let r = common::http_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(&fresh)
        .send()
        .await?;
    ensure!(r.status() == 400, "no flow cookie: {}", r.status());
    let r = c3.get(app.url("/sso/PKU/cas")).send().await?;
    ensure!(r.status() == 400, "no ticket: {}", r.status());

    // THU's readers do not sign in here; PKU's do, and their session opens PKU's discs only.
    let r = c3.get(app.url("/sso/THU/sign-in?as=reader")).send().await?;
    ensure!(r.status() == 403, "THU readers: {}", r.status());
    let r = c3.get(app.url("/sso/NOPE/sign-in")).send().await?;
    ensure!(r.status() == 404, "no such member: {}", r.status());

    // Settings: shapeless rules and OpenID Connect (not yet here) are refused with the reason.
    for (body, says) in [
        (
            json!({"kind": "cas", "cas": {"base_url": "not a url"}}),
            "base_url",
        ),
        (
            json!({"kind": "cas", "cas": {"base_url": "https://x/cas"}, "staff": [{"role": "admin"}]}),
            "staff rule 1",
        ),
        (json!({"kind": "oidc"}), "needs an \\\"oidc\\\" object"),
        (
            json!({"kind": "cas", "cas": {"base_url": "https://x/cas"}, "extra": 1}),
            "extra",
        ),
    ] {
        let r = app
            .client
            .put(app.url("/api/v1/members/PKU/identity"))
            .bearer_auth(&admin)
            .json(&body)
            .send()
            .await?;
        let status = r.status();
        let text = r.text().await?;
        ensure!(
            status == 422 && text.contains(says),
            "{body}: {status} {text}"
        );
    }

    // Single logout: a request naming no ticket of ours ends nothing; junk is a 400.
    let r = c
        .post(app.url("/sso/PKU/cas"))
        .form(&[("logoutRequest", "<samlp:LogoutRequest xmlns:samlp=\"urn:oasis:names:tc:SAML:2.0:protocol\"><samlp:SessionIndex>ST-not-ours</samlp:SessionIndex></samlp:LogoutRequest>")])
        .send()
        .await?;
    ensure!(r.status() == 200, "{}", r.status());
    ensure!(
        c.get(app.url("/staff/stats")).send().await?.status() == 200,
        "still signed in"
    );
    let r = c
        .post(app.url("/sso/PKU/cas"))
        .form(&[("logoutRequest", "<html>")])
        .send()
        .await?;
    ensure!(r.status() == 400, "{}", r.status());

    // A session idle past staff_idle_minutes (default two hours) has ended.
    spindle::db::on_pool!(&app.state.db, pool => {
        sqlx::query("UPDATE staff_sessions SET last_seen_at = last_seen_at - 7201")
            .execute(pool)
            .await?;
    });
    ensure!(
        c.get(app.url("/staff/stats")).send().await?.status() == 303,
        "an idle session ends"
    );

    // Removing a member's sign-on takes the choice off the sign-in page.
    let r = app
        .client
        .delete(app.url("/api/v1/members/THU/identity"))
        .bearer_auth(&admin)
        .send()
        .await?;
    ensure!(r.status() == 204);
    let page = app
        .client
        .get(app.url("/staff/sign-in"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        page.contains("sign-on-PKU") && !page.contains("sign-on-THU"),
        "{page}"
    );
    Ok(())
}

/// A whole campus behind one NAT address: a student's wrong tokens lock out neither the
/// librarian signed in by CAS nor a token already proven from that address (a new one is
/// locked, so guessing still gains nothing); expensive requests have the member network's
/// larger allowance, and a proven token its own.
async fn a_campus_behind_one_address(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend)
        .config(|c| {
            c.http.trusted_proxies = vec!["127.0.0.1/32".into()];
            c.limits.auth_failures_per_minute = 5;
            c.limits.expensive_per_minute = 10;
            c.limits.expensive_per_minute_member_network = 30;
        })
        .start()
        .await?;
    let (admin, people) = campus(&app).await?;
    app.set_networks(&admin, "PKU", &["198.51.100.0/24"])
        .await?;
    let working = app.librarian("PKU").await?;
    let fresh = app.librarian("PKU").await?;
    let from = |ip: &'static str, cookies: bool| {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            reqwest::header::HeaderValue::from_static(ip),
        );
        common::http_builder()
            .default_headers(h)
            .cookie_store(cookies)
            .redirect(reqwest::redirect::Policy::none())
            .build()
    };
    let me = app.url("/api/v1/people");
    // The librarian at work behind the campus address, and one signed in by CAS.
    let desk = from("198.51.100.7", false)?;
    ensure!(desk.get(&me).bearer_auth(&working).send().await?.status() == 200);
    let sso = from("198.51.100.7", true)?;
    let back =
        common::cas::ticket_for(&sso, &app, "PKU", "staff", &people.lib.0, &people.lib.1).await?;
    ensure!(sso.get(&back).send().await?.status() == 200);
    let page = sso
        .get(app.url("/staff/stats"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = common::form_token(&page)?;

    // A student behind the same address tries tokens.
    let student = from("198.51.100.7", false)?;
    for i in 0..5 {
        let r = student
            .get(&me)
            .bearer_auth(format!("spindle_guess{i}"))
            .send()
            .await?;
        ensure!(r.status() == 401, "guess {i}: {}", r.status());
    }
    let r = student
        .get(&me)
        .bearer_auth("spindle_guess5")
        .send()
        .await?;
    ensure!(
        r.status() == 429,
        "the guesser is locked out: {}",
        r.status()
    );
    let r = student.get(&me).bearer_auth(&fresh).send().await?;
    ensure!(
        r.status() == 429,
        "a token not proven here gains nothing: {}",
        r.status()
    );
    let r = desk.get(&me).bearer_auth(&working).send().await?;
    ensure!(
        r.status() == 200,
        "the proven token goes on: {}",
        r.status()
    );
    let r = sso.get(app.url("/staff/stats")).send().await?;
    ensure!(
        r.status() == 200,
        "the CAS librarian's pages: {}",
        r.status()
    );
    let r = sso.get(&me).header("x-spindle-csrf", &csrf).send().await?;
    ensure!(
        r.status() == 200,
        "the CAS librarian's API calls: {}",
        r.status()
    );

    // Searches: the campus address has 30 a minute, an address elsewhere 10, and the proven
    // token its own 10 whatever the address has used.
    let search = |c: &reqwest::Client, i: usize| c.get(app.url(&format!("/search?q=x{i}"))).send();
    for i in 0..30 {
        let r = search(&student, i).await?;
        ensure!(r.status() == 200, "campus search {i}: {}", r.status());
    }
    ensure!(
        search(&student, 30).await?.status() == 429,
        "the campus's 31st"
    );
    let outside = from("192.0.2.50", false)?;
    for i in 0..10 {
        ensure!(
            search(&outside, i).await?.status() == 200,
            "outside search {i}"
        );
    }
    ensure!(
        search(&outside, 10).await?.status() == 429,
        "outside's 11th"
    );
    for i in 0..10 {
        let r = desk
            .get(app.url(&format!("/search?q=y{i}")))
            .bearer_auth(&working)
            .send()
            .await?;
        ensure!(
            r.status() == 200,
            "the proven token's search {i}: {}",
            r.status()
        );
    }
    let r = desk
        .get(app.url("/search?q=y10"))
        .bearer_auth(&working)
        .send()
        .await?;
    ensure!(r.status() == 429, "the token's 11th: {}", r.status());
    Ok(())
}

/// Personal tokens over the API: made with a name and an expiry (a year unless asked, two at
/// most), listed and revoked by their owner only, acting with the owner's role and member.
async fn personal_tokens(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let a = app.librarian("A").await?;
    let b = app.librarian("B").await?;
    let make = |token: &str, body: Value| {
        app.client
            .post(app.url("/api/v1/tokens"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let r = make(&a, json!({"name": " nightly upload "})).await?;
    ensure!(r.status() == 201, "{}", r.status());
    let v: Value = r.json().await?;
    ensure!(
        v["name"] == "nightly upload" && v["role"] == "librarian" && v["member"] == "A",
        "{v}"
    );
    let year = spindle::calendar::now_secs() + 365 * 86_400;
    let expires = v["expires_at"].as_i64().context("expires_at")?;
    ensure!(
        (year - 5..=year + 5).contains(&expires),
        "a year by default: {v}"
    );
    let mine = v["token"].as_str().context("token")?.to_string();
    let id = v["id"].as_i64().context("id")?;
    for (body, says) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "x", "expires_in_days": 0}), "730"),
        (json!({"name": "x", "expires_in_days": 731}), "730"),
        (json!({"name": "x", "scope": "all"}), "scope"),
    ] {
        let r = make(&a, body.clone()).await?;
        let status = r.status();
        let text = r.text().await?;
        ensure!(
            status == 422 && text.contains(says),
            "{body}: {status} {text}"
        );
    }
    // It acts as A's librarian, and lists and revokes what its owner made.
    let r = app
        .client
        .get(app.url("/api/v1/members/A/off-campus"))
        .bearer_auth(&mine)
        .send()
        .await?;
    ensure!(r.status() == 200, "{}", r.status());
    ensure!(listed(&app, &a).await? == vec![id]);
    ensure!(
        listed(&app, &mine).await? == vec![id],
        "the personal token sees its siblings"
    );
    ensure!(listed(&app, &b).await?.is_empty(), "B sees none of A's");
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&b)
        .send()
        .await?;
    ensure!(r.status() == 404, "B cannot revoke A's: {}", r.status());
    let r = app
        .client
        .delete(app.url(&format!("/api/v1/tokens/{id}")))
        .bearer_auth(&a)
        .send()
        .await?;
    ensure!(r.status() == 204, "{}", r.status());
    let r = app
        .client
        .get(app.url("/api/v1/tokens"))
        .bearer_auth(&mine)
        .send()
        .await?;
    ensure!(r.status() == 401, "revoked: {}", r.status());
    // An expired one is refused like a revoked one.
    let v: Value = make(&a, json!({"name": "short", "expires_in_days": 1}))
        .await?
        .json()
        .await?;
    let short = v["token"].as_str().context("token")?.to_string();
    spindle::db::tokens::set_expiry(&app.state.db, v["id"].as_i64().context("id")?, 1).await?;
    let r = app
        .client
        .get(app.url("/api/v1/tokens"))
        .bearer_auth(&short)
        .send()
        .await?;
    ensure!(r.status() == 401, "expired: {}", r.status());
    Ok(())
}

/// The ids of the personal tokens `token` lists.
async fn listed(app: &TestApp, token: &str) -> Result<Vec<i64>> {
    let v: Value = app
        .client
        .get(app.url("/api/v1/tokens"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    Ok(v["tokens"]
        .as_array()
        .map(|a| a.iter().filter_map(|t| t["id"].as_i64()).collect())
        .unwrap_or_default())
}

/// Sets a field of the page's sign-on form by typing into it (after clearing it).
async fn type_into(b: &Browser, id: &str, text: &str) -> Result<()> {
    let field = b.client.find(Locator::Id(id)).await?;
    field.clear().await?;
    field.send_keys(text).await?;
    Ok(())
}

/// Chooses the sign-on kind in the form's select, as a person picking an option.
async fn choose_kind(b: &Browser, kind: &str) -> Result<()> {
    b.click(&format!("#sign_on_kind option[value='{kind}']"))
        .await
}

/// A screenshot of the settings page's sign-on section.
async fn sign_on_screenshot(b: &Browser, name: &str) -> Result<()> {
    b.client
        .execute(
            "document.getElementById('h-sign-on').scrollIntoView();",
            vec![],
        )
        .await?;
    b.screenshot(name).await?;
    Ok(())
}

/// Clicks `button` of the settings page and answers what the page that comes back says: its
/// notice or error, and the address to register. (The page clicked on is marked, so that what
/// it said before is not taken for the answer.)
async fn submit(b: &Browser, button: &str) -> Result<Value> {
    b.client
        .execute("window.spindleOld = true;", vec![])
        .await?;
    b.click(button).await?;
    b.wait_js(
        30,
        "the page after saving",
        "if (window.spindleOld) return null; \
         var n = document.getElementById('notice') || document.getElementById('error'); \
         if (!n) return null; var s = document.getElementById('sign-on-service'); \
         return [n.id, n.textContent, s ? s.textContent : null];",
    )
    .await
}

/// An admin sets a member's sign-on on the settings page in Chromium — CAS, then OpenID
/// Connect in Chinese (a shapeless rule refused with its line, what was typed kept), a proxy
/// kind this server has not configured refused, then removed — and each saved setting works:
/// people sign in through the real CAS server and OpenID provider by the rules typed there.
/// A librarian sees the member's sign-on and no form.
async fn sign_on_settings_in_chromium(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend).without_limits().start().await?;
    let lib_token = app.librarian("PKU").await?;
    let admin = app.admin().await?;
    let cas_lib = common::cas::person("gao.lib", &["staff"]).await?;
    let disc = app
        .disc(&lib_token, &iso_image(3000, 72), json!({}))
        .await?;
    let disc_page = app.url(&format!("/discs/{disc}"));
    let b = Browser::start().await?;
    b.sign_in(
        &app.url("/staff/settings?member=PKU"),
        &admin,
        "return document.getElementById('sign-on') ? true : null;",
    )
    .await?;
    ensure!(
        b.client.find(Locator::Id("sign-on-none")).await.is_ok(),
        "no sign-on yet, and the page says so"
    );

    // CAS, with a rule naming the librarian and readers allowed.
    choose_kind(&b, "cas").await?;
    type_into(&b, "cas_url", &format!("{}/", cas_url())).await?;
    type_into(&b, "sign_on_rules", &format!("librarian {}", cas_lib.0)).await?;
    b.click("#sign_on_readers").await?;
    let said = submit(&b, "#sign-on button[value=save]").await?;
    ensure!(
        said[0] == "notice" && said[1] == "Sign-on saved." && said[2] == app.url("/sso/PKU/cas"),
        "{said}"
    );
    sign_on_screenshot(&b, "settings-sign-on-cas").await?;
    let by_cas = common::cas::browserish()?;
    let way_back =
        common::cas::ticket_for(&by_cas, &app, "PKU", "staff", &cas_lib.0, &cas_lib.1).await?;
    ensure!(by_cas.get(&way_back).send().await?.status() == 200);
    ensure!(
        by_cas.get(app.url("/staff/discs")).send().await?.status() == 200,
        "the librarian the page's rule names signs in by CAS"
    );

    // OpenID Connect, in Chinese: a rule of no shape is refused with its line, and what was
    // typed stays on the page (the secret is never put back).
    let (client_id, secret) = common::oidc::client_for(&app, "PKU").await?;
    let reader = common::oidc::person("ma.reader", &["student"]).await?;
    b.client
        .goto(&app.url("/staff/settings?member=PKU&lang=zh"))
        .await?;
    b.wait_for_id(30, "the settings in Chinese", "sign-on")
        .await?;
    choose_kind(&b, "oidc").await?;
    type_into(&b, "oidc_issuer", &common::oidc::issuer()).await?;
    type_into(&b, "oidc_client_id", &client_id).await?;
    type_into(&b, "oidc_secret", &secret).await?;
    type_into(&b, "oidc_scopes", "profile groups").await?;
    type_into(&b, "sign_on_rules", "librarian x\nowner y").await?;
    let said = submit(&b, "#sign-on button[value=save]").await?;
    ensure!(
        said[0] == "error" && said[1].as_str().is_some_and(|s| s.contains("第 2 行")),
        "{said}"
    );
    let kept = b
        .client
        .execute(
            "return [document.getElementById('sign_on_kind').value, \
             document.getElementById('oidc_client_id').value, \
             document.getElementById('oidc_secret').value, document.getElementById('sign_on_rules').value];",
            vec![],
        )
        .await?;
    ensure!(
        kept == json!(["oidc", client_id, "", "librarian x\nowner y"]),
        "{kept}"
    );
    type_into(&b, "oidc_secret", &secret).await?;
    type_into(&b, "sign_on_rules", "librarian x").await?;
    let said = submit(&b, "#sign-on button[value=save]").await?;
    ensure!(
        said[0] == "notice"
            && said[1] == "统一身份认证已保存。"
            && said[2] == app.url("/sso/PKU/oidc"),
        "{said}"
    );
    sign_on_screenshot(&b, "settings-sign-on-oidc-zh").await?;
    let c = common::cas::browserish()?;
    let url = common::oidc::code_for(&c, &app, "PKU", "reader", &reader.0, &reader.1).await?;
    let (status, page, session) = back(c.get(&url)).await?;
    ensure!(
        status == 200 && session,
        "a reader signs in by the OpenID settings: {status} {page}"
    );
    let stored: Value = app
        .client
        .get(app.url("/api/v1/members/PKU/identity"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    ensure!(
        stored["oidc"]["client_id"] == client_id.as_str()
            && stored["oidc"].get("client_secret").is_none()
            && stored["oidc"]["scopes"] == json!(["openid", "profile", "groups"])
            && stored["readers"] == true,
        "{stored}"
    );
    // Saved again without typing the secret (as the page comes back): it is kept.
    b.client
        .goto(&app.url("/staff/settings?member=PKU"))
        .await?;
    b.wait_for_id(30, "the settings", "sign-on").await?;
    let said = submit(&b, "#sign-on button[value=save]").await?;
    ensure!(said[0] == "notice", "{said}");
    let by_oidc = common::cas::browserish()?;
    ensure!(by_oidc.get(&disc_page).send().await?.status() == 403);
    let url = common::oidc::code_for(&by_oidc, &app, "PKU", "reader", &reader.0, &reader.1).await?;
    let (status, _, session) = back(by_oidc.get(&url)).await?;
    ensure!(status == 200 && session, "the secret kept: {status}");
    ensure!(
        by_oidc.get(&disc_page).send().await?.status() == 200,
        "the signed-in reader opens PKU's closed disc"
    );

    // A signing-in proxy this server has no [auth.proxy] for is refused, saying why.
    choose_kind(&b, "proxy").await?;
    type_into(&b, "proxy_scope", "pku.edu.cn").await?;
    let said = submit(&b, "#sign-on button[value=save]").await?;
    ensure!(
        said[0] == "error" && said[1].as_str().is_some_and(|s| s.contains("[auth.proxy]")),
        "{said}"
    );

    // A librarian sees the sign-on, not the form.
    let lib = common::staff_client(&app, &lib_token).await?;
    let page = lib
        .get(app.url("/staff/settings"))
        .send()
        .await?
        .text()
        .await?;
    ensure!(
        page.contains("id=\"sign-on-summary\"")
            && !page.contains("id=\"sign-on\"")
            && page.contains(&common::oidc::issuer()),
        "the librarian's settings"
    );

    // Removed: the page says there is none, the way out refuses, and the sessions opened with
    // it have ended (the CAS librarian's and the OpenID reader's).
    b.client
        .goto(&app.url("/staff/settings?member=PKU"))
        .await?;
    b.wait_for_id(30, "the settings", "sign-on-remove").await?;
    let said = submit(&b, "#sign-on-remove").await?;
    ensure!(said[0] == "notice" && said[2].is_null(), "{said}");
    b.wait_for_id(5, "no sign-on", "sign-on-none").await?;
    let r = common::cas::browserish()?
        .get(app.url("/sso/PKU/sign-in?as=staff"))
        .send()
        .await?;
    ensure!(r.status() == 404, "removed: {}", r.status());
    let r = by_cas.get(app.url("/staff/discs")).send().await?;
    ensure!(r.status() == 303, "the librarian's session: {}", r.status());
    let r = by_oidc.get(&disc_page).send().await?;
    ensure!(r.status() == 403, "the reader's session: {}", r.status());
    b.close().await
}
