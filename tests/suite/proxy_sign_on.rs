//! Campus sign-on through a proxy in front (how SAML/CARSI reaches Spindle): a real nginx
//! authenticates people (HTTP Basic standing in for the Shibboleth SP's session) on the
//! address Spindle says to guard, and passes them on in `X-Remote-User` and
//! `eduPersonScopedAffiliation`, from its own address (127.0.0.2), the only one Spindle
//! trusts. A reader and a librarian sign in through it; the same headers sent straight to
//! Spindle from anywhere else are removed before any handler and sign nobody in; a person of
//! another institution is refused whatever they are called.

use crate::common;

use anyhow::{Context, Result, ensure};
use common::cas::{back, browserish};
use common::{Backend, TestApp, iso_image};
use serde_json::json;

on_both_backends!(proxy_headers);

/// The people nginx knows: (user, password, the scoped affiliations it releases).
const PEOPLE: [(&str, &str, &str); 3] = [
    (
        "alice",
        "a-pass",
        "student@a.example.edu;member@a.example.edu",
    ),
    ("carol", "c-pass", "staff@a.example.edu"),
    ("bob", "b-pass", "student@b.example.edu"),
];

/// nginx in front of `upstream`: `/sso/{member}/proxy` needs a signed-in person, whose user
/// and affiliation it sets; everywhere else it clears both, so no client can send its own.
fn site(port: u16, upstream: &str, users: &std::path::Path) -> String {
    let map: String = PEOPLE
        .iter()
        .map(|(user, _, aff)| format!("    {user} \"{aff}\";\n"))
        .collect();
    format!(
        "map $remote_user $affiliation {{\n    default \"\";\n{map}}}\n\
         server {{\n  listen 127.0.0.1:{port};\n\
           location / {{\n    proxy_pass http://{upstream};\n    proxy_bind 127.0.0.2;\n\
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
             proxy_set_header X-Remote-User \"\";\n\
             proxy_set_header eduPersonScopedAffiliation \"\";\n  }}\n\
           location ~ ^/sso/[^/]+/proxy$ {{\n    auth_basic \"campus\";\n\
             auth_basic_user_file {users};\n\
             proxy_pass http://{upstream};\n    proxy_bind 127.0.0.2;\n\
             proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
             proxy_set_header X-Remote-User $remote_user;\n\
             proxy_set_header eduPersonScopedAffiliation $affiliation;\n  }}\n}}\n",
        users = users.display()
    )
}

/// An htpasswd file of [`PEOPLE`], hashed by openssl (apr1, which nginx reads).
fn htpasswd(path: &std::path::Path) -> Result<()> {
    let mut lines = String::new();
    for (user, password, _) in PEOPLE {
        let out = std::process::Command::new("openssl")
            .args(["passwd", "-apr1", password])
            .output()?;
        ensure!(out.status.success(), "openssl passwd");
        lines.push_str(&format!("{user}:{}", String::from_utf8(out.stdout)?));
    }
    std::fs::write(path, lines)?;
    Ok(())
}

async fn proxy_headers(backend: Backend) -> Result<()> {
    let app = TestApp::on(backend)
        .without_limits()
        .config(|c| {
            c.http.trusted_proxies = vec!["127.0.0.2/32".into()];
            c.auth.proxy.user_header = "X-Remote-User".into();
            c.auth.proxy.attribute_headers = vec!["eduPersonScopedAffiliation".into()];
            c.auth.proxy.member_attribute = "eduPersonScopedAffiliation".into();
        })
        .start()
        .await?;
    let lib = app.librarian("A").await?;
    let admin = app.admin().await?;
    app.set_networks(&admin, "A", &["198.51.100.0/24"]).await?;
    let disc = app.disc(&lib, &iso_image(3000, 71), json!({})).await?;
    let r = app
        .client
        .put(app.url("/api/v1/members/A/identity"))
        .bearer_auth(&admin)
        .json(&json!({
            "kind": "proxy",
            "proxy": {"scope": "A.example.edu"},
            "staff": [{"attribute": "eduPersonScopedAffiliation", "value": "staff@a.example.edu", "role": "librarian"}],
            "readers": true,
        }))
        .send()
        .await?;
    ensure!(r.status() == 200, "A's sign-on: {}", r.status());
    let v: serde_json::Value = r.json().await?;
    ensure!(v["proxy"]["scope"] == "a.example.edu", "{v}");
    ensure!(v["service_url"] == app.url("/sso/A/proxy"), "{v}");
    // A scope that is no domain is refused with the reason.
    let r = app
        .client
        .put(app.url("/api/v1/members/A/identity"))
        .bearer_auth(&admin)
        .json(&json!({"kind": "proxy", "proxy": {"scope": "*@a"}}))
        .send()
        .await?;
    ensure!(r.status() == 422, "a bad scope: {}", r.status());
    ensure!(r.text().await?.contains("proxy.scope"));

    let work = tempfile::tempdir()?;
    let users = work.path().join("users");
    htpasswd(&users)?;
    let port = common::nginx::free_port()?;
    let upstream = app.url("").trim_start_matches("http://").to_string();
    let front = format!("http://127.0.0.1:{port}");
    let _nginx = common::nginx::start(
        work.path(),
        &site(port, &upstream, &users),
        &format!("{front}/healthz"),
        &common::http(),
    )
    .await?;

    // A reader off campus: refused, offered A's sign-on, sent to the guarded address, signed
    // in there by the proxy, and then A's closed disc opens.
    let c = browserish()?;
    let page = format!("/discs/{disc}");
    let r = c.get(format!("{front}{page}")).send().await?;
    ensure!(r.status() == 403, "before: {}", r.status());
    ensure!(
        r.text().await?.contains("/sso/A/sign-in?as=reader"),
        "the refusal offers A's sign-on"
    );
    let r = c
        .get(format!("{front}/sso/A/sign-in?as=reader&next={page}"))
        .send()
        .await?;
    ensure!(r.status() == 303, "out: {}", r.status());
    ensure!(common::header(&r, "location") == "/sso/A/proxy");
    let guarded = format!("{front}/sso/A/proxy");
    let r = c.get(&guarded).send().await?;
    ensure!(r.status() == 401, "nginx asks who: {}", r.status());
    let r = c
        .get(&guarded)
        .basic_auth("alice", Some("a-pass"))
        .send()
        .await?;
    ensure!(r.status() == 200, "signed in: {}", r.status());
    ensure!(r.text().await?.contains(&page), "onwards to the disc");
    let r = c.get(format!("{front}{page}")).send().await?;
    ensure!(r.status() == 200, "after: {}", r.status());

    // The same headers sent straight to Spindle, from an address it does not trust: removed
    // before any handler, so the way back finds nobody, and no session is opened.
    let forger = browserish()?;
    forger
        .get(app.url("/sso/A/sign-in?as=reader"))
        .send()
        .await?;
    let (status, said, session) = back(
        forger
            .get(app.url("/sso/A/proxy"))
            .header("X-Remote-User", "alice")
            .header("eduPersonScopedAffiliation", "student@a.example.edu"),
    )
    .await?;
    ensure!(
        status == 401
            && said.contains("no signed-in person came through the trusted proxy")
            && !session,
        "forged: {status} {said}"
    );
    ensure!(
        forger.get(app.url(&page)).send().await?.status() == 403,
        "no session from forged headers"
    );
    // Someone of another institution, signed in at the proxy, is not A's.
    let other = browserish()?;
    other
        .get(format!("{front}/sso/A/sign-in?as=reader"))
        .send()
        .await?;
    let (status, said, session) =
        back(other.get(&guarded).basic_auth("bob", Some("b-pass"))).await?;
    ensure!(
        status == 401 && said.contains("does not name a.example.edu") && !session,
        "another institution: {status} {said}"
    );

    // Staff: the rule makes carol A's librarian; alice, named by no rule, has no rights.
    let carol = browserish()?;
    let r = carol
        .get(format!("{front}/sso/A/sign-in?as=staff&next=/staff/discs"))
        .send()
        .await?;
    ensure!(common::header(&r, "location") == "/sso/A/proxy");
    let r = carol
        .get(&guarded)
        .basic_auth("carol", Some("c-pass"))
        .send()
        .await?;
    ensure!(r.status() == 200, "carol: {}", r.status());
    let r = carol.get(format!("{front}/staff/discs")).send().await?;
    ensure!(r.status() == 200, "carol's staff page: {}", r.status());
    let people: serde_json::Value = app
        .client
        .get(app.url("/api/v1/people?member=A"))
        .bearer_auth(&admin)
        .send()
        .await?
        .json()
        .await?;
    let listed = people["people"]
        .as_array()
        .context("people")?
        .iter()
        .find(|p| p["subject"] == "carol")
        .context("carol listed")?;
    ensure!(listed["rule_role"] == "librarian", "{listed}");
    let alice = browserish()?;
    alice
        .get(format!("{front}/sso/A/sign-in?as=staff"))
        .send()
        .await?;
    let (status, _, session) =
        back(alice.get(&guarded).basic_auth("alice", Some("a-pass"))).await?;
    ensure!(status == 403 && !session, "alice as staff: {status}");
    Ok(())
}
