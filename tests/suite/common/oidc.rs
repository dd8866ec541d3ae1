//! The test OpenID provider (oidc-provider, started by scripts/peers.sh): its issuer, a client
//! registered for a member's way back, people of its campus, a sign-in through its real login
//! form without a browser, and its hook that spoils one client's next ID token.

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

use super::TestApp;

pub fn issuer() -> String {
    std::env::var("SPINDLE_TEST_OIDC_URL").unwrap_or_else(|_| {
        panic!("SPINDLE_TEST_OIDC_URL is not set: run the suite with scripts/test.sh, which starts the OpenID provider")
    })
}

/// Registers a confidential client whose only redirect URI is `member`'s way back on `app`
/// (OpenID Connect Dynamic Client Registration): its id and secret.
pub async fn client_for(app: &TestApp, member: &str) -> Result<(String, String)> {
    let r = super::http()
        .post(format!("{}/reg", issuer()))
        .json(&json!({
            "redirect_uris": [app.url(&format!("/sso/{member}/oidc"))],
            "response_types": ["code"],
            "grant_types": ["authorization_code"],
            "token_endpoint_auth_method": "client_secret_basic",
        }))
        .send()
        .await?;
    ensure!(r.status() == 201, "registering a client: {}", r.status());
    let v: Value = r.json().await?;
    Ok((
        v["client_id"].as_str().context("client_id")?.to_string(),
        v["client_secret"]
            .as_str()
            .context("client_secret")?
            .to_string(),
    ))
}

/// A person of the provider's campus made for this test alone (`{name}-{random}`, released
/// with `groups`): the login and password.
pub async fn person(name: &str, groups: &[&str]) -> Result<(String, String)> {
    let login = format!("{name}-{}", super::random_hex(4));
    let password = format!("pw-{}", super::random_hex(8));
    let r = super::http()
        .post(format!("{}/test/people", issuer()))
        .json(&json!({"login": login, "password": password, "name": format!("{name} (test)"), "groups": groups}))
        .send()
        .await?;
    ensure!(r.status() == 204, "making {login}: {}", r.status());
    Ok((login, password))
}

/// Spoils `client`'s next ID token in the way `mode` names (see tests/oidc/provider.mjs).
pub async fn tamper(client: &str, mode: &str) -> Result<()> {
    let r = super::http()
        .post(format!("{}/test/tamper", issuer()))
        .json(&json!({"client_id": client, "mode": mode}))
        .send()
        .await?;
    ensure!(r.status() == 204, "tamper {mode}: {}", r.status());
    Ok(())
}

/// Starts signing in at `member` on Spindle, logs in at the provider's form, and returns the
/// address the provider sends the browser back to (with its code), not yet visited. `c` keeps
/// cookies and follows no redirects (`super::cas::browserish`).
pub async fn code_for(
    c: &reqwest::Client,
    app: &TestApp,
    member: &str,
    who: &str,
    login: &str,
    password: &str,
) -> Result<String> {
    let mut at = super::cas::start_sign_in(c, app, member, who).await?;
    ensure!(at.starts_with(&format!("{}/auth?", issuer())), "{at}");
    let back = app.url(&format!("/sso/{member}/oidc"));
    for _ in 0..10 {
        if at.starts_with(&back) {
            return Ok(at);
        }
        let r = if at.contains("/interaction/") {
            // The login form: answered by posting to the same address.
            let page = c.get(&at).send().await?;
            ensure!(page.status() == 200, "login form: {}", page.status());
            c.post(&at)
                .form(&[("login", login), ("password", password)])
                .send()
                .await?
        } else {
            c.get(&at).send().await?
        };
        let next = super::header(&r, "location");
        if next.is_empty() {
            bail!(
                "the provider stopped at {at}: {} {}",
                r.status(),
                r.text().await?
            );
        }
        at = if next.starts_with('/') {
            format!("{}{next}", issuer())
        } else {
            next
        };
    }
    bail!("no way back from the provider after ten redirects (at {at})")
}
