//! The HTTP side of a bulk upload: does the consortium hold these bytes, a resumable tus
//! transfer (resume from the server's offset, retries with backoff, the server's verified
//! hash), and registering the disc.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

use crate::api::{PartRef, RegisterDisc};
use crate::words::say;
use spindle_i18n::{Message, detail};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub retries: u32,
}

/// What the server said, as a row outcome.
#[derive(Debug)]
pub enum Failure {
    /// Worth trying again (network, 5xx, 423 locked).
    Transient(String),
    /// The row fails with this reason.
    Final(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transient(m) | Self::Final(m) => f.write_str(m),
        }
    }
}

async fn reason(r: reqwest::Response) -> String {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or_default();
    match (body["code"].as_str(), body["detail"].as_str()) {
        (Some(c), Some(m)) => format!("{status} {c}: {m}"),
        _ => status.to_string(),
    }
}

async fn classify(r: reqwest::Response) -> Failure {
    let status = r.status().as_u16();
    let why = reason(r).await;
    if status >= 500 || status == 423 || status == 429 {
        Failure::Transient(why)
    } else {
        Failure::Final(why)
    }
}

fn net(e: reqwest::Error) -> Failure {
    Failure::Transient(say(detail!("cli_network", error = e)))
}

impl Client {
    /// Runs `op` until it succeeds, fails for good, or the retries are spent.
    pub async fn retrying<T, F, Fut>(&self, what: Message, mut op: F) -> Result<T, Failure>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Failure>>,
    {
        let mut attempt = 0;
        loop {
            match op().await {
                Err(Failure::Transient(m)) if attempt < self.retries => {
                    attempt += 1;
                    let wait = Duration::from_millis(500 * (1 << attempt.min(6)));
                    let secs = format!("{:.1}", wait.as_secs_f64());
                    let what = say(what.clone());
                    eprintln!(
                        "  {}",
                        say(detail!("cli_retrying", what = what, why = m, secs = secs))
                    );
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    pub async fn blob_exists(&self, sha: &str) -> Result<bool, Failure> {
        let r = self
            .http
            .head(format!("{}/api/v1/blobs/{sha}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .map_err(net)?;
        match r.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => Err(classify(r).await),
        }
    }

    pub async fn part_size(&self) -> Result<u64, Failure> {
        let r = self
            .http
            .request(
                reqwest::Method::OPTIONS,
                format!("{}/api/v1/uploads", self.base),
            )
            .send()
            .await
            .map_err(net)?;
        r.headers()
            .get("spindle-part-size")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| {
                Failure::Final("the server did not say its part size (is it Spindle?)".into())
            })
    }

    /// Creates a tus upload; returns its URL (or None when the server holds the bytes).
    pub async fn create(&self, sha: &str, name: &str, len: u64) -> Result<Option<String>, Failure> {
        let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
        let r = self
            .http
            .post(format!("{}/api/v1/uploads", self.base))
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Length", len.to_string())
            .header(
                "Upload-Metadata",
                format!("sha256 {},filename {}", b64(sha), b64(name)),
            )
            .send()
            .await
            .map_err(net)?;
        if r.status() != 201 {
            return Err(classify(r).await);
        }
        if r.headers().get("spindle-blob-exists").is_some() {
            return Ok(None);
        }
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| Failure::Final("no Location for the upload".into()))?;
        Ok(Some(if location.starts_with("http") {
            location.to_string()
        } else {
            format!("{}{location}", self.base)
        }))
    }

    /// The server's offset for an upload; None when it no longer exists (expired, finished).
    pub async fn offset(&self, url: &str) -> Result<Option<u64>, Failure> {
        let r = self
            .http
            .head(url)
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await
            .map_err(net)?;
        match r.status().as_u16() {
            200 | 204 => Ok(r
                .headers()
                .get("upload-offset")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok())),
            404 | 410 => Ok(None),
            _ => Err(classify(r).await),
        }
    }

    /// Sends `[offset, offset + len)` of the file; returns the server's new offset.
    pub async fn patch(
        &self,
        url: &str,
        path: &Path,
        offset: u64,
        len: u64,
    ) -> Result<u64, Failure> {
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| cannot_read(path, e))?;
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| cannot_read(path, e))?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            file.take(len),
            256 * 1024,
        ));
        let r = self
            .http
            .patch(url)
            .bearer_auth(&self.token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .header("Content-Length", len.to_string())
            .body(body)
            .send()
            .await
            .map_err(net)?;
        if r.status() != 204 {
            return Err(classify(r).await);
        }
        r.headers()
            .get("upload-offset")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Failure::Final("no Upload-Offset in the answer".into()))
    }

    /// Shows the server that `member` (the token's own when None) holds the bytes `sha` that
    /// are in `path`: asks for a challenge and, unless they are held already, answers the
    /// SHA-256 of each range it names from the file. No bytes are sent.
    pub async fn prove(&self, sha: &str, path: &Path, member: Option<&str>) -> Result<(), Failure> {
        let body = serde_json::json!({ "member": member });
        let r = self
            .http
            .post(format!("{}/api/v1/blobs/{sha}/challenges", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(net)?;
        match r.status().as_u16() {
            200 => return Ok(()),
            201 => {}
            _ => return Err(classify(r).await),
        }
        let v: Value = r.json().await.map_err(net)?;
        let id = v["id"]
            .as_str()
            .ok_or_else(|| Failure::Final("no challenge id in the answer".into()))?;
        let mut answers = Vec::new();
        let mut file = tokio::fs::File::open(path)
            .await
            .map_err(|e| cannot_read(path, e))?;
        for range in v["ranges"].as_array().into_iter().flatten() {
            let (Some(offset), Some(length)) = (range["offset"].as_u64(), range["length"].as_u64())
            else {
                return Err(Failure::Final(
                    "a challenge range without offset or length".into(),
                ));
            };
            // Ranges are at most 64 KiB; a longer one is not the server's to ask.
            let length = usize::try_from(length)
                .ok()
                .filter(|l| *l <= 1 << 20)
                .ok_or_else(|| Failure::Final("a challenge range over 1 MiB".into()))?;
            let mut buf = vec![0u8; length];
            file.seek(std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| cannot_read(path, e))?;
            file.read_exact(&mut buf)
                .await
                .map_err(|e| cannot_read(path, e))?;
            answers.push(hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&buf)));
        }
        let r = self
            .http
            .post(format!("{}/api/v1/blobs/{sha}/challenges/{id}", self.base))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({ "member": member, "answers": answers }))
            .send()
            .await
            .map_err(net)?;
        if r.status() == 200 {
            Ok(())
        } else {
            // A wrong answer is final: the file is not the stored bytes.
            Err(match classify(r).await {
                Failure::Transient(m) | Failure::Final(m) => Failure::Final(m),
            })
        }
    }

    /// Registers the disc; returns its id and member (an earlier registration of the same
    /// disc counts).
    pub async fn register(&self, body: RegisterDisc) -> Result<crate::state::Registered, Failure> {
        let r = self
            .http
            .post(format!("{}/api/v1/discs", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .map_err(net)?;
        if !r.status().is_success() {
            return Err(classify(r).await);
        }
        let v: Value = r.json().await.map_err(net)?;
        let disc = v["id"]
            .as_i64()
            .ok_or_else(|| Failure::Final("no disc id in the answer".into()))?;
        Ok(crate::state::Registered {
            disc,
            member: v["member"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// The disc's linking status, waiting up to `wait` for the catalogue lookup.
    /// The disc's catalogue status and its image's formats, once both are settled (linking
    /// no longer pending, the image read or failed) or `wait` has passed.
    pub async fn link_status(
        &self,
        id: i64,
        wait: Duration,
    ) -> Result<(String, Vec<String>), Failure> {
        let started = std::time::Instant::now();
        loop {
            let r = self
                .http
                .get(format!("{}/api/v1/discs/{id}", self.base))
                .bearer_auth(&self.token)
                .send()
                .await
                .map_err(net)?;
            if !r.status().is_success() {
                return Err(classify(r).await);
            }
            let v: Value = r.json().await.map_err(net)?;
            let status = v["link_status"].as_str().unwrap_or("unknown").to_string();
            let image = v["image"]["status"].as_str().unwrap_or("pending");
            let read = matches!(image, "indexed" | "failed");
            if (status != "pending" && read) || started.elapsed() >= wait {
                let formats = v["image"]["formats"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|f| f.as_str().map(str::to_string))
                    .collect();
                return Ok((status, formats));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub fn disc_body(
        &self,
        row: &super::plan::Row,
        sha: &str,
        member: Option<&str>,
        parts: &[(String, String)],
    ) -> RegisterDisc {
        RegisterDisc {
            sha256: sha.to_string(),
            filename: row
                .path
                .file_name()
                .map(|n| n.to_string_lossy().to_string()),
            isbn: row.isbn.clone(),
            barcode: row.barcode.clone(),
            record_id: row.record_id.clone(),
            label: row.label.clone(),
            disc_number: row.disc_number,
            member: member.map(str::to_string),
            parts: parts
                .iter()
                .map(|(name, sha)| PartRef {
                    name: name.clone(),
                    sha256: sha.clone(),
                })
                .collect(),
            ..Default::default()
        }
    }
}

pub(crate) fn cannot_read(path: &Path, e: std::io::Error) -> Failure {
    Failure::Final(say(detail!(
        "cli_cannot_read",
        path = path.display(),
        error = e
    )))
}
