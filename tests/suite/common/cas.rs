//! The test CAS server (django-mama-cas, started by scripts/peers.sh): its address, and a
//! sign-in through its real login form without a browser.

use anyhow::{Context, Result, bail, ensure};

use super::TestApp;

pub fn cas_url() -> String {
    std::env::var("SPINDLE_TEST_CAS_URL").unwrap_or_else(|_| {
        panic!("SPINDLE_TEST_CAS_URL is not set: run the suite with scripts/test.sh, which starts the CAS server")
    })
}

/// A client that keeps cookies (Spindle's and the CAS server's) and follows no redirects.
pub fn browserish() -> Result<reqwest::Client> {
    Ok(super::http_builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

/// Starts signing in at `member` on Spindle as `who` ("staff" or "reader") and answers where
/// Spindle sends the browser: the identity provider's login.
pub async fn start_sign_in(
    c: &reqwest::Client,
    app: &TestApp,
    member: &str,
    who: &str,
) -> Result<String> {
    let r = c
        .get(app.url(&format!("/sso/{member}/sign-in?as={who}&next=/")))
        .send()
        .await?;
    ensure!(
        r.status() == 303,
        "start: {} {}",
        r.status(),
        r.text().await?
    );
    Ok(super::header(&r, "location"))
}

/// The script that answers the page's path once it is a signed-in staff page (it has the
/// sign-out form), else null: for `Browser::wait_js`.
pub const SIGNED_IN_STAFF_PAGE: &str = "return document.querySelector('form[action$=\"/staff/sign-out\"]') ? location.pathname : null;";

/// Starts signing in at `member` on Spindle, logs in at the CAS server's form, and returns
/// the address the CAS server sends the browser back to (with its ticket), not yet visited.
pub async fn ticket_for(
    c: &reqwest::Client,
    app: &TestApp,
    member: &str,
    who: &str,
    user: &str,
    password: &str,
) -> Result<String> {
    let login = start_sign_in(c, app, member, who).await?;
    ensure!(
        login.starts_with(&format!("{}/login?service=", cas_url())),
        "{login}"
    );
    let page = c.get(&login).send().await?.text().await?;
    let csrf = page
        .split("name=\"csrfmiddlewaretoken\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .context("the CAS form's token")?
        .to_string();
    let r = c
        .post(&login)
        .header("referer", &login)
        .form(&[
            ("csrfmiddlewaretoken", csrf.as_str()),
            ("username", user),
            ("password", password),
        ])
        .send()
        .await?;
    let back = super::header(&r, "location");
    if !back.contains("ticket=ST-") {
        bail!(
            "the CAS server did not send a ticket back: {} {back}",
            r.status()
        );
    }
    Ok(back)
}

/// A person of the test campus made for this test alone (`{name}-{random}`, in `groups`,
/// released as `affiliation`): the user name and password.
pub async fn person(name: &str, groups: &[&str]) -> Result<(String, String)> {
    let user = format!("{name}-{}", super::random_hex(4));
    let password = format!("pw-{}", super::random_hex(8));
    let base = cas_url();
    let root = base
        .strip_suffix("/cas")
        .context("the CAS URL ends in /cas")?;
    let r = super::http()
        .post(format!("{root}/test/people"))
        .form(&[
            ("user", user.as_str()),
            ("password", password.as_str()),
            ("display", name),
            ("groups", &groups.join(",")),
        ])
        .send()
        .await?;
    ensure!(
        r.status() == 200,
        "making {user} at the CAS server: {}",
        r.status()
    );
    Ok((user, password))
}

/// Sends a request to the way back and answers its status, its page and whether it set a
/// session cookie.
pub async fn back(request: reqwest::RequestBuilder) -> Result<(u16, String, bool)> {
    let r = request.send().await?;
    let status = r.status().as_u16();
    let session = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| {
            (v.starts_with("spindle_reader=") || v.starts_with("spindle_staff="))
                && !v.contains("Max-Age=0")
        });
    Ok((status, r.text().await?, session))
}
