//! The test harness: a `TestApp` started in-process on an ephemeral port over a chosen
//! backend pair, with an isolated database and key prefix per test, plus tus helpers.
//!
//! The real peers (PostgreSQL, Garage) are started by `scripts/test.sh`, which exports
//! `SPINDLE_TEST_PG_URL` and `SPINDLE_TEST_S3_*`. A test that needs a peer that is not
//! there fails with a message saying so: it never passes by skipping.
#![allow(dead_code, clippy::unwrap_used)]

pub mod browser;
pub mod cas;
pub mod catalogue;
pub mod discs;
pub mod nginx;
pub mod oidc;
pub mod peers;
pub mod server;

use std::time::Duration;

use anyhow::{Context, Result, bail, ensure};
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};
use spindle::app::{App, AppState};
use spindle::auth::generate_token;
use spindle::config::{Config, MIB, StorageBackend};
use spindle::db;
use tempfile::TempDir;

pub const PART: u64 = 5 * MIB;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    SqliteLocal,
    PostgresGarage,
}

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the suite with scripts/test.sh, which starts PostgreSQL and Garage on loopback")
    })
}

/// A client builder for the tests: reqwest is built without a crypto provider, so ring's is
/// made the process's first (as the server and the CLI do).
pub fn http_builder() -> reqwest::ClientBuilder {
    spindle_storage::install_tls_provider();
    reqwest::Client::builder()
}

/// [`http_builder`] with its defaults.
pub fn http() -> reqwest::Client {
    http_builder().build().expect("an HTTP client")
}

pub fn random_hex(n: usize) -> String {
    let mut b = vec![0u8; n];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// A fresh PostgreSQL database on the test server; returns its URL.
pub async fn fresh_pg_database() -> Result<String> {
    let admin = required_env("SPINDLE_TEST_PG_URL");
    let name = format!("spindle_t_{}", random_hex(6));
    let pool = sqlx::PgPool::connect(&admin)
        .await
        .context("connecting to the test PostgreSQL")?;
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await?;
    pool.close().await;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b)
        .context("SPINDLE_TEST_PG_URL has no database")?;
    Ok(format!("{base}/{name}"))
}

/// Points `config` at the given backends, each isolated for this test.
pub async fn configure(config: &mut Config, backend: Backend, dir: &std::path::Path) -> Result<()> {
    config.data_dir = dir.to_path_buf();
    config.upload.part_size = PART;
    config.upload.max_size = 100 * PART;
    config.database.max_connections = 5;
    // The test catalogues (Zebra, the OAI-PMH providers, stubs) listen on loopback, which
    // linking refuses unless the operator allows it (`egress` tests run without this).
    config.linking.allow_networks = vec!["127.0.0.0/8".into()];
    match backend {
        Backend::SqliteLocal => {}
        Backend::PostgresGarage => {
            config.database.url = Some(fresh_pg_database().await?);
            config.storage.backend = StorageBackend::S3;
            let s3 = &mut config.storage.s3;
            s3.endpoint = Some(required_env("SPINDLE_TEST_S3_ENDPOINT"));
            s3.bucket = required_env("SPINDLE_TEST_S3_BUCKET");
            s3.access_key_id = Some(required_env("SPINDLE_TEST_S3_KEY_ID"));
            s3.secret_access_key = Some(required_env("SPINDLE_TEST_S3_SECRET"));
            s3.region = "garage".into();
            s3.prefix = format!("test-{}", random_hex(6));
        }
    }
    Ok(())
}

/// The environment for a `spindle` child process on the same backends as `config`.
pub fn child_env(config: &Config) -> Vec<(String, String)> {
    let mut env = vec![
        (
            "SPINDLE_DATA_DIR".into(),
            config.data_dir.display().to_string(),
        ),
        (
            "SPINDLE_UPLOAD__PART_SIZE".into(),
            config.upload.part_size.to_string(),
        ),
        (
            "SPINDLE_UPLOAD__MAX_SIZE".into(),
            config.upload.max_size.to_string(),
        ),
    ];
    if let Some(url) = &config.database.url {
        env.push(("SPINDLE_DATABASE__URL".into(), url.clone()));
    }
    if config.storage.backend == StorageBackend::S3 {
        let s3 = &config.storage.s3;
        env.extend([
            ("SPINDLE_STORAGE__BACKEND".into(), "s3".into()),
            (
                "SPINDLE_STORAGE__S3__ENDPOINT".into(),
                s3.endpoint.clone().unwrap_or_default(),
            ),
            ("SPINDLE_STORAGE__S3__BUCKET".into(), s3.bucket.clone()),
            (
                "SPINDLE_STORAGE__S3__ACCESS_KEY_ID".into(),
                s3.access_key_id.clone().unwrap_or_default(),
            ),
            (
                "SPINDLE_STORAGE__S3__SECRET_ACCESS_KEY".into(),
                s3.secret_access_key.clone().unwrap_or_default(),
            ),
            ("SPINDLE_STORAGE__S3__REGION".into(), s3.region.clone()),
            ("SPINDLE_STORAGE__S3__PREFIX".into(), s3.prefix.clone()),
        ]);
    }
    env
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub backend: Backend,
    /// The bytes of every upload this test sent, by SHA-256: what a member that holds them
    /// answers a proof-of-possession challenge from.
    uploaded: std::sync::Mutex<std::collections::HashMap<String, std::sync::Arc<Vec<u8>>>>,
    _dir: TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

/// How a test wants its server: the backend pair and any settings of its own, applied in
/// order over the test defaults. `TestApp::on(backend).config(|c| …).start()`.
pub struct Builder {
    backend: Backend,
    tweaks: Vec<Tweak>,
}

/// One change to a test server's configuration.
type Tweak = Box<dyn FnOnce(&mut Config)>;

impl Builder {
    /// Changes the configuration (after the test defaults and the backend's settings).
    pub fn config(mut self, tweak: impl FnOnce(&mut Config) + 'static) -> Self {
        self.tweaks.push(Box::new(tweak));
        self
    }

    /// Believes `X-Forwarded-For` from loopback, as behind a campus proxy: the tests can then
    /// speak as any client address.
    pub fn behind_loopback_proxy(self) -> Self {
        self.config(|c| c.http.trusted_proxies = vec!["127.0.0.1/32".into()])
    }

    /// Turns off the per-address limits on refused credentials and expensive requests, for
    /// tests that make many of either on purpose.
    pub fn without_limits(self) -> Self {
        self.config(|c| {
            c.limits.auth_failures_per_minute = 0;
            c.limits.expensive_per_minute = 0;
            c.limits.expensive_per_minute_member_network = 0;
        })
    }

    pub async fn start(self) -> Result<TestApp> {
        let dir = tempfile::tempdir()?;
        let mut config = Config::default();
        configure(&mut config, self.backend, dir.path()).await?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        // The app's own idea of where it listens (its public URL in links) is the real port.
        config.http.listen = listener.local_addr()?;
        for tweak in self.tweaks {
            tweak(&mut config);
        }
        let state = App::start(config).await?.into_state();
        let base = format!("http://{}", listener.local_addr()?);
        let (tx, rx) = tokio::sync::oneshot::channel();
        tokio::spawn(spindle::http::server::serve(
            state.clone(),
            listener,
            async {
                let _ = rx.await;
            },
        ));
        let client = http_builder().no_gzip().build()?;
        let app = TestApp {
            base,
            client,
            state,
            backend: self.backend,
            uploaded: Default::default(),
            _dir: dir,
            stop: Some(tx),
        };
        app.wait_ready().await?;
        Ok(app)
    }
}

impl TestApp {
    /// Today's usage events, once the recorder has written what it holds.
    pub async fn events_today(&self) -> Result<Vec<spindle::db::usage::EventRow>> {
        self.state.usage.recorder.flush().await;
        let today = spindle::calendar::Day::today();
        Ok(spindle::db::usage::events_between(
            &self.state.db,
            today.start_ms(),
            spindle::usage::now_ms() + 1,
        )
        .await?)
    }

    /// A server on `backend` with the test defaults.
    pub async fn start(backend: Backend) -> Result<Self> {
        Self::on(backend).start().await
    }

    /// A server on `backend`, configured further before it starts.
    pub fn on(backend: Backend) -> Builder {
        Builder {
            backend,
            tweaks: Vec::new(),
        }
    }

    async fn wait_ready(&self) -> Result<()> {
        for _ in 0..100 {
            if let Ok(r) = self.client.get(self.url("/readyz")).send().await
                && r.status() == 200
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("the app did not become ready")
    }

    /// `path` on this app (under its `http.base_path`, when it has one).
    pub fn url(&self, path: &str) -> String {
        format!("{}{}{}", self.base, self.state.config.http.base_path, path)
    }

    pub async fn member(&self, code: &str) -> Result<i64> {
        Ok(
            db::members::insert(&self.state.db, code, &format!("{code} library"))
                .await?
                .map_err(|_| anyhow::anyhow!("member exists"))?
                .id,
        )
    }

    /// A member and a librarian token for it.
    pub async fn librarian(&self, code: &str) -> Result<String> {
        let id = match db::members::by_code(&self.state.db, code).await? {
            Some(m) => m.id,
            None => self.member(code).await?,
        };
        let (token, hash) = generate_token();
        db::tokens::insert(&self.state.db, Some(id), "librarian", &hash, None).await?;
        Ok(token)
    }

    pub async fn admin(&self) -> Result<String> {
        let (token, hash) = generate_token();
        db::tokens::insert(&self.state.db, None, "admin", &hash, None).await?;
        Ok(token)
    }

    pub fn tus(&self, method: reqwest::Method, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
    }

    /// POST /uploads; returns the response (201 expected).
    pub async fn create_upload(
        &self,
        token: &str,
        sha256: &str,
        length: u64,
    ) -> Result<reqwest::Response> {
        Ok(self
            .tus(reqwest::Method::POST, "/api/v1/uploads", token)
            .header("Upload-Length", length.to_string())
            .header("Upload-Metadata", metadata(sha256, "disc.iso"))
            .send()
            .await?)
    }

    pub async fn patch(
        &self,
        token: &str,
        location: &str,
        offset: u64,
        body: Vec<u8>,
    ) -> Result<reqwest::Response> {
        Ok(self
            .tus(reqwest::Method::PATCH, location, token)
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(body)
            .send()
            .await?)
    }

    pub async fn head_offset(&self, token: &str, location: &str) -> Result<u64> {
        let r = self
            .tus(reqwest::Method::HEAD, location, token)
            .send()
            .await?;
        if r.status() != 200 {
            bail!("HEAD {location}: {}", r.status());
        }
        Ok(header(&r, "upload-offset").parse()?)
    }

    /// A disc's whole image as `token` downloads it (failing on any status but 200).
    pub async fn image_bytes(&self, token: &str, disc: i64) -> Result<bytes::Bytes> {
        let r = self
            .client
            .get(self.url(&format!("/api/v1/discs/{disc}/image")))
            .bearer_auth(token)
            .send()
            .await?;
        if r.status() != 200 {
            bail!("image of disc {disc}: {} {}", r.status(), r.text().await?);
        }
        Ok(r.bytes().await?)
    }

    /// Uploads `data` in one PATCH per `chunk` bytes and returns the upload's location.
    pub async fn upload(&self, token: &str, data: &[u8], chunk: usize) -> Result<String> {
        let sha = sha256_hex(data);
        if let Ok(mut known) = self.uploaded.lock() {
            known
                .entry(sha.clone())
                .or_insert_with(|| std::sync::Arc::new(data.to_vec()));
        }
        let r = self.create_upload(token, &sha, data.len() as u64).await?;
        if r.status() != 201 {
            bail!("create: {} {}", r.status(), r.text().await?);
        }
        let location = header(&r, "location");
        let mut offset = header(&r, "upload-offset").parse::<usize>()?;
        while offset < data.len() {
            let end = (offset + chunk).min(data.len());
            let r = self
                .patch(token, &location, offset as u64, data[offset..end].to_vec())
                .await?;
            if r.status() != 204 {
                bail!("patch at {offset}: {} {}", r.status(), r.text().await?);
            }
            offset = header(&r, "upload-offset").parse()?;
        }
        Ok(location)
    }

    /// Sets a member's network ranges through the API (as `admin`).
    pub async fn set_networks(&self, admin: &str, code: &str, cidrs: &[&str]) -> Result<()> {
        let r = self
            .client
            .put(self.url(&format!("/api/v1/members/{code}/networks")))
            .bearer_auth(admin)
            .json(&serde_json::json!({ "cidrs": cidrs }))
            .send()
            .await?;
        ensure!(
            r.status() == 200,
            "networks: {} {}",
            r.status(),
            r.text().await?
        );
        Ok(())
    }

    /// The server's /metrics text.
    pub async fn metrics(&self) -> Result<String> {
        Ok(self
            .client
            .get(self.url("/metrics"))
            .send()
            .await?
            .text()
            .await?)
    }

    /// Writes planned usage events (visitor, time, action, disc, URL key, status) as the
    /// server would: each attributed by the members' network ranges, keyed and pseudonymised
    /// by the recorder, then written in one batch.
    pub async fn record_planned(
        &self,
        plan: Vec<(
            &spindle::usage::Visitor,
            i64,
            spindle::usage::Action,
            i64,
            String,
            u16,
        )>,
    ) -> Result<()> {
        let usage = &self.state.usage;
        let mut events = Vec::new();
        for (who, ts, action, disc, url, status) in plan {
            let members = usage.networks.members_for(&self.state.db, who.ip).await?;
            events.push(
                usage
                    .event(
                        &self.state.db,
                        who,
                        &members,
                        ts,
                        action,
                        Some(disc),
                        None,
                        url,
                        status,
                        "Controlled",
                    )
                    .await?,
            );
        }
        spindle::db::usage::insert_events(&self.state.db, &events, &[]).await?;
        Ok(())
    }

    /// Uploads and registers a disc; returns its id.
    pub async fn disc(&self, token: &str, data: &[u8], extra: serde_json::Value) -> Result<i64> {
        self.upload(token, data, (2 * PART) as usize).await?;
        let mut body = serde_json::json!({ "sha256": sha256_hex(data), "filename": "disc.iso" });
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        // Bytes another member uploaded first: this member shows it holds them too.
        self.prove(token, data, body["member"].as_str()).await?;
        let r = self
            .client
            .post(self.url("/api/v1/discs"))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("register: {} {}", r.status(), r.text().await?);
        }
        let v: serde_json::Value = r.json().await?;
        v["id"].as_i64().context("disc id")
    }

    /// Shows that the member a registration `body` is for holds its image and parts, from the
    /// bytes this test uploaded (hashes it never uploaded are left for the server to refuse).
    pub async fn prove_body(&self, token: &str, body: &serde_json::Value) -> Result<()> {
        let shas = std::iter::once(&body["sha256"])
            .chain(
                body["parts"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| &p["sha256"]),
            )
            .filter_map(|s| s.as_str());
        for sha in shas {
            let bytes = self.uploaded.lock().ok().and_then(|k| k.get(sha).cloned());
            if let Some(bytes) = bytes {
                self.prove(token, &bytes, body["member"].as_str()).await?;
            }
        }
        Ok(())
    }

    /// Answers a proof-of-possession challenge on `data`'s hash from `data` (nothing to answer
    /// when the member holds the bytes already).
    pub async fn prove(&self, token: &str, data: &[u8], member: Option<&str>) -> Result<()> {
        let sha = sha256_hex(data);
        let r = self
            .client
            .post(self.url(&format!("/api/v1/blobs/{sha}/challenges")))
            .bearer_auth(token)
            .json(&serde_json::json!({ "member": member }))
            .send()
            .await?;
        match r.status().as_u16() {
            200 => return Ok(()),
            201 => {}
            s => bail!("challenge: {s} {}", r.text().await?),
        }
        let c: serde_json::Value = r.json().await?;
        let answers = answers_from(&c, data)?;
        let id = c["id"].as_str().context("challenge id")?;
        let r = self
            .client
            .post(self.url(&format!("/api/v1/blobs/{sha}/challenges/{id}")))
            .bearer_auth(token)
            .json(&serde_json::json!({ "member": member, "answers": answers }))
            .send()
            .await?;
        ensure!(
            r.status() == 200,
            "answer: {} {}",
            r.status(),
            r.text().await?
        );
        Ok(())
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// The SHA-256 of each range a challenge names, read from `data`.
pub fn answers_from(challenge: &serde_json::Value, data: &[u8]) -> Result<Vec<String>> {
    challenge["ranges"]
        .as_array()
        .context("ranges")?
        .iter()
        .map(|r| {
            let at = r["offset"].as_u64().context("offset")? as usize;
            let len = r["length"].as_u64().context("length")? as usize;
            Ok(sha256_hex(
                data.get(at..at + len).context("range inside the data")?,
            ))
        })
        .collect()
}

/// The head of a tus PATCH, for raw-socket tests; `extra` is one more header line.
pub fn patch_head(app: &TestApp, location: &str, token: &str, offset: u64, extra: &str) -> String {
    let host = app.base.trim_start_matches("http://");
    format!(
        "PATCH {location} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\nTus-Resumable: 1.0.0\r\n\
         Upload-Offset: {offset}\r\nContent-Type: application/offset+octet-stream\r\n{extra}\r\n\r\n"
    )
}

/// Sends `head` and `body` on a raw connection (writing in the background, so a server that
/// answers early and stops reading cannot deadlock the test) and returns the status code.
pub async fn raw_request(app: &TestApp, head: String, body: Vec<u8>) -> Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(app.base.trim_start_matches("http://")).await?;
    let (mut rd, mut wr) = stream.into_split();
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
        wr
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = tokio::time::timeout(Duration::from_secs(30), rd.read(&mut chunk)).await??;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    writer.abort();
    let text = String::from_utf8_lossy(&buf);
    let status = text.split(' ').nth(1).context("no status line")?;
    Ok(status.parse()?)
}

pub fn header(r: &reqwest::Response, name: &str) -> String {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

/// Uploads `data` with tus over plain HTTP: created on the first of `bases`, its PATCHes of
/// `chunk` bytes sent to each base in turn (one base, or the nodes of a cluster), then
/// registered as a disc named `name` with `extra` fields: the disc's id and how many PATCHes
/// were sent.
pub async fn upload_disc(
    http: &reqwest::Client,
    token: &str,
    bases: &[String],
    data: &[u8],
    chunk: usize,
    name: &str,
    extra: serde_json::Value,
) -> Result<(i64, usize)> {
    let sha = sha256_hex(data);
    let r = http
        .post(format!("{}/api/v1/uploads", bases[0]))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", data.len().to_string())
        .header("Upload-Metadata", metadata(&sha, name))
        .send()
        .await?;
    ensure!(r.status() == 201, "create: {}", r.status());
    let location = header(&r, "location");
    let (mut offset, mut patches) = (0usize, 0usize);
    while offset < data.len() {
        let end = (offset + chunk).min(data.len());
        let base = &bases[patches % bases.len()];
        let r = http
            .patch(format!("{base}{location}"))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(data[offset..end].to_vec())
            .send()
            .await?;
        ensure!(
            r.status() == 204,
            "PATCH at {offset} on {base}: {} {}",
            r.status(),
            r.text().await?
        );
        offset = header(&r, "upload-offset").parse()?;
        patches += 1;
    }
    let id = register_disc(http, token, &bases[0], &sha, name, extra).await?;
    Ok((id, patches))
}

/// Registers uploaded bytes as a disc named `name`, with `extra` fields.
pub async fn register_disc(
    http: &reqwest::Client,
    token: &str,
    base: &str,
    sha: &str,
    name: &str,
    extra: serde_json::Value,
) -> Result<i64> {
    let mut body = serde_json::json!({"sha256": sha, "filename": name});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let r = http
        .post(format!("{base}/api/v1/discs"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    ensure!(r.status().is_success(), "register: {}", r.status());
    r.json::<serde_json::Value>().await?["id"]
        .as_i64()
        .context("disc id")
}

/// The value of an unlabelled (or fully labelled) metric in /metrics text, e.g.
/// `spindle_fixity_verified_total` or `spindle_background_work_done_total{work="index"}`.
pub fn metric_value(text: &str, name: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse::<f64>().ok())
    })
}

pub fn metadata(sha256: &str, filename: &str) -> String {
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    format!("sha256 {},filename {}", b64(sha256), b64(filename))
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// Deterministic but non-repeating bytes (so that a misplaced part changes the hash).
pub fn image(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        out.extend_from_slice(&state.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// A real ISO 9660 image (made by xorriso) holding `data.bin` = `image(len, seed)`: the
/// service reads every registered image, so registered bytes must be a disc. Cached per
/// (len, seed), so one test process always gets the same bytes for the same arguments.
pub fn iso_image(len: usize, seed: u64) -> Vec<u8> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Isos = Mutex<HashMap<(usize, u64), Vec<u8>>>;
    static CACHE: OnceLock<Isos> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().expect("cache").get(&(len, seed)) {
        return v.clone();
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("src");
    std::fs::create_dir(&src).expect("mkdir");
    std::fs::write(src.join("data.bin"), image(len, seed)).expect("write");
    let out = dir.path().join("out.iso");
    let status = std::process::Command::new("xorriso")
        .args([
            "-as",
            "mkisofs",
            "-quiet",
            "-iso-level",
            "3",
            "-r",
            "-J",
            "-V",
        ])
        .arg(format!("SEED{seed}"))
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .stderr(std::process::Stdio::null())
        .status()
        .expect("run xorriso (scripts/peers.sh installs it)");
    assert!(status.success(), "xorriso failed");
    let bytes = std::fs::read(out).expect("read iso");
    cache
        .lock()
        .expect("cache")
        .insert((len, seed), bytes.clone());
    bytes
}

/// The tus upload a `spindle upload` state file records as under way, and the server's
/// offset for it (None until there is one).
pub async fn state_upload(
    client: &reqwest::Client,
    state_file: &std::path::Path,
    token: &str,
) -> Option<(String, u64)> {
    let text = std::fs::read_to_string(state_file).ok()?;
    let state: serde_json::Value = serde_json::from_str(&text).ok()?;
    let url = state["files"]
        .as_object()?
        .values()
        .find_map(|f| f["upload"].as_str().map(str::to_string))?;
    let r = client
        .head(&url)
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await
        .ok()?;
    let offset = header(&r, "upload-offset").parse().unwrap_or(0);
    Some((url, offset))
}

/// Waits until the disc's image has been read; returns the disc's JSON.
pub async fn wait_indexed(
    app: &TestApp,
    token: Option<&str>,
    id: i64,
) -> Result<serde_json::Value> {
    // Generous: indexing shares two cores with the rest of the suite (and, in CI, with the
    // 4.5 GiB drills); this waits for an outcome, it does not time one.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    let mut last = serde_json::Value::Null;
    while std::time::Instant::now() < deadline {
        let mut req = app.client.get(app.url(&format!("/api/v1/discs/{id}")));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let v: serde_json::Value = req.send().await?.json().await?;
        match v["image"]["status"].as_str() {
            Some("indexed") | Some("failed") => return Ok(v),
            _ => tokio::time::sleep(Duration::from_millis(25)).await,
        }
        last = v;
    }
    bail!("disc {id} was not indexed within 90 s; last answer: {last}")
}

/// Runs an async test body once per backend pair, as `<name>::sqlite_local` and
/// `<name>::postgres_garage`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite_local() -> anyhow::Result<()> {
                    super::$name($crate::common::Backend::SqliteLocal).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres_garage() -> anyhow::Result<()> {
                    super::$name($crate::common::Backend::PostgresGarage).await
                }
            }
        )*
    };
}

/// The form token in a page (the first `name="csrf"` field).
pub fn form_token(html: &str) -> Result<String> {
    html.split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .map(str::to_string)
        .context("no form token on the page")
}

/// A cookie-keeping client signed in to the staff pages with `token`, through the form.
pub async fn staff_client(app: &TestApp, token: &str) -> Result<reqwest::Client> {
    sign_in_with(app, token, http_builder()).await
}

/// A client built from `builder` (with a cookie store and no redirects), signed in to the
/// staff pages with `token`.
pub async fn sign_in_with(
    app: &TestApp,
    token: &str,
    builder: reqwest::ClientBuilder,
) -> Result<reqwest::Client> {
    let (c, r) = sign_in_form(app, token, builder, "/staff/stats").await?;
    anyhow::ensure!(r.status() == 303, "sign-in: {}", r.status());
    Ok(c)
}

/// The sign-in form as a browser sends it (its form token from the page), asking to go to
/// `next` afterwards: the client and the form's answer, whatever it is.
pub async fn sign_in_form(
    app: &TestApp,
    token: &str,
    builder: reqwest::ClientBuilder,
    next: &str,
) -> Result<(reqwest::Client, reqwest::Response)> {
    let c = builder
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = c
        .get(app.url("/staff/sign-in"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = form_token(&page)?;
    let r = c
        .post(app.url("/staff/sign-in"))
        .form(&[("token", token), ("csrf", &csrf), ("next", next)])
        .send()
        .await?;
    Ok((c, r))
}

/// Empties `table` and runs the INSERT that migration `name` fills it with (as it would on a
/// database migrated with data in it).
pub async fn refill(app: &TestApp, table: &str, name: &str) -> Result<()> {
    let migration =
        std::fs::read_to_string(format!("migrations/{}/{name}.sql", app.state.db.dialect()))?;
    let backfill = &migration[migration
        .find("INSERT")
        .ok_or_else(|| anyhow::anyhow!("no INSERT in {name}"))?..];
    spindle::db::on_pool!(&app.state.db, pool => {
        sqlx::query(&format!("DELETE FROM {table}")).execute(pool).await?;
        sqlx::query(backfill).execute(pool).await?;
    });
    Ok(())
}
