//! A real headless Chromium driven over WebDriver: Debian's `chromedriver` (the same build
//! as its `chromium`), started per test on a free loopback port, and fantoccini as the client.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

pub struct Browser {
    pub client: Client,
    pub driver_url: String,
    driver: tokio::process::Child,
    _profile: tempfile::TempDir,
    downloads: tempfile::TempDir,
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

impl Browser {
    pub async fn start() -> Result<Self> {
        let port = free_port()?;
        let mut driver = tokio::process::Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .arg("--allowed-ips=127.0.0.1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("chromedriver is not installed: scripts/peers.sh installs chromium-driver")?;
        let driver_url = format!("http://127.0.0.1:{port}");
        let http = super::http();
        let mut up = false;
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{driver_url}/status")).send().await
                && r.status().is_success()
            {
                up = true;
                break;
            }
            if let Some(status) = driver.try_wait()? {
                bail!("chromedriver exited at start: {status}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if !up {
            bail!("chromedriver did not answer on {driver_url}");
        }
        let profile = tempfile::tempdir()?;
        let downloads = tempfile::tempdir()?;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--window-size=1280,1600",
                    "--autoplay-policy=no-user-gesture-required",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "prefs": {
                    "download.default_directory": downloads.path(),
                    "download.prompt_for_download": false,
                },
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&driver_url)
            .await
            .context("starting a Chromium session")?;
        Ok(Self {
            client,
            driver_url,
            driver,
            _profile: profile,
            downloads,
        })
    }

    /// Chromium's own network throttling (DevTools' emulation), through chromedriver's
    /// vendor command; `None` lifts it.
    pub async fn throttle(&self, upload_bytes_per_sec: Option<u64>) -> Result<()> {
        let sid = self
            .client
            .session_id()
            .await?
            .context("no WebDriver session")?;
        let url = format!(
            "{}/session/{sid}/chromium/network_conditions",
            self.driver_url
        );
        let http = super::http();
        let r = match upload_bytes_per_sec {
            Some(rate) => {
                http.post(&url)
                    .json(&json!({"network_conditions": {
                        "offline": false, "latency": 0,
                        "download_throughput": -1, "upload_throughput": rate,
                    }}))
                    .send()
                    .await?
            }
            None => http.delete(&url).send().await?,
        };
        if !r.status().is_success() {
            bail!("network conditions: {} {}", r.status(), r.text().await?);
        }
        Ok(())
    }

    /// Opens `url` (a staff page), signs in with `token` on the sign-in page it leads to, and
    /// waits for the page to be back.
    pub async fn sign_in(&self, url: &str, token: &str, ready_js: &str) -> Result<()> {
        self.client.goto(url).await?;
        self.wait_js(
            30,
            "the sign-in form",
            "return document.getElementById('token') ? true : null;",
        )
        .await?;
        self.client
            .find(Locator::Id("token"))
            .await?
            .send_keys(token)
            .await?;
        self.click("form button[type=submit]").await?;
        self.wait_js(30, "the page after signing in", ready_js)
            .await?;
        Ok(())
    }

    /// Clicks the first element `css` selects.
    pub async fn click(&self, css: &str) -> Result<()> {
        self.client.find(Locator::Css(css)).await?.click().await?;
        Ok(())
    }

    /// Waits up to `secs` for `script` (a function body returning a value) to return
    /// something other than null/false; returns it.
    pub async fn wait_js(&self, secs: u64, what: &str, script: &str) -> Result<Value> {
        let until = std::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let v = self.client.execute(script, vec![]).await?;
            if !(v.is_null() || v == Value::Bool(false)) {
                return Ok(v);
            }
            if std::time::Instant::now() > until {
                let page = self
                    .client
                    .find(Locator::Css("body"))
                    .await?
                    .text()
                    .await
                    .unwrap_or_default();
                bail!("waited {secs} s for {what}; the page says:\n{page}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits up to `secs` for an element with this id on the page.
    pub async fn wait_for_id(&self, secs: u64, what: &str, id: &str) -> Result<()> {
        let script = format!("return document.getElementById('{id}') ? true : null;");
        self.wait_js(secs, what, &script).await.map(|_| ())
    }

    /// The text of a file the page downloaded, once Chromium has finished writing it (no
    /// partial `.crdownload` left, and the same bytes on two looks 100 ms apart).
    pub async fn downloaded(&self, name: &str) -> Result<String> {
        let path = self.downloads.path().join(name);
        let mut last: Option<String> = None;
        for _ in 0..200 {
            let partial = std::fs::read_dir(self.downloads.path())?
                .filter_map(|e| e.ok())
                .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"));
            let now = std::fs::read_to_string(&path)
                .ok()
                .filter(|t| !t.is_empty());
            if !partial && now.is_some() && now == last {
                return Ok(now.unwrap_or_default());
            }
            last = now;
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("Chromium did not finish downloading {name}")
    }

    /// Writes a screenshot of the page under target/screenshots for a person to look at.
    pub async fn screenshot(&self, name: &str) -> Result<std::path::PathBuf> {
        let png = self.client.screenshot().await?;
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir)?;
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png)?;
        Ok(path)
    }

    pub async fn close(mut self) -> Result<()> {
        self.client.clone().close().await?;
        let _ = self.driver.kill().await;
        Ok(())
    }
}
