//! `spindle-load`: the load generator of `loadtests/run.sh`. It uploads an image with tus
//! from disk with bounded memory, downloads images with N concurrent streams (verifying the
//! SHA-256 of what came back), and runs the bounded scenarios of [`bench`] against Spindle or
//! a baseline serving the same bytes (nginx, object_store against the same S3 server).

mod bench;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use base64::Engine as _;
use clap::{Parser, Subcommand};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;

#[derive(Parser)]
#[command(name = "spindle-load")]
struct Cli {
    /// Base URL of the Spindle server
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: String,
    /// Staff bearer token (upload and download)
    #[arg(long, env = "SPINDLE_TOKEN", default_value = "")]
    token: String,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Upload a file with tus (hashing it first, as the CLI does) and register it as a disc
    Upload {
        file: PathBuf,
        /// Bytes per PATCH request (a multiple of the server's part size)
        #[arg(long, default_value_t = 256 * 1024 * 1024)]
        chunk: u64,
        /// Register the disc as open to every reader
        #[arg(long)]
        open: bool,
    },
    /// Download a disc image with N concurrent streams and verify it
    Download {
        disc: i64,
        #[arg(long, default_value_t = 1)]
        streams: usize,
    },
    /// Whole-body GETs over N connections for a while (JSON line out)
    Stream {
        url: String,
        #[arg(long, default_value_t = 1)]
        conns: usize,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// The body's length, checked on every complete response
        #[arg(long)]
        expect_len: Option<u64>,
        /// A file every body must equal, byte for byte (smoke runs)
        #[arg(long)]
        verify: Option<PathBuf>,
    },
    /// Random aligned ranges of a body over N connections (JSON line out)
    Ranges {
        url: String,
        /// The body's length
        #[arg(long)]
        size: u64,
        #[arg(long, default_value_t = 65536)]
        block: u64,
        #[arg(long, default_value_t = 16)]
        conns: usize,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        /// A file each range must equal at its offset (smoke runs)
        #[arg(long)]
        verify: Option<PathBuf>,
    },
    /// GETs at a fixed rate, round-robin over the URLs, with latency percentiles (JSON out)
    Rate {
        urls: Vec<String>,
        #[arg(long, default_value_t = 500.0)]
        rps: f64,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
        #[arg(long, default_value_t = 512)]
        max_inflight: usize,
        /// Text every answer's body must contain
        #[arg(long)]
        expect_text: Option<String>,
    },
    /// N downloads held open, each read slowly (JSON line out)
    Slow {
        url: String,
        #[arg(long, default_value_t = 1000)]
        conns: usize,
        #[arg(long, default_value_t = 20.0)]
        secs: f64,
        #[arg(long, default_value_t = 256 * 1024)]
        bytes_per_sec: u64,
    },
    /// object_store's own GETs from an S3 server: the baseline for Spindle on S3 (JSON out)
    Objget {
        #[command(flatten)]
        s3: bench::S3Args,
        /// The object's key
        object: String,
        /// Random ranges of this size instead of whole GETs
        #[arg(long)]
        block: Option<u64>,
        #[arg(long, default_value_t = 1)]
        conns: usize,
        #[arg(long, default_value_t = 10.0)]
        secs: f64,
    },
    /// Deletes every object under a prefix of an S3 bucket (a harness run's leftovers)
    Objclean {
        #[command(flatten)]
        s3: bench::S3Args,
        prefix: String,
    },
}

#[tokio::main]
async fn main() -> Result<()> {
    spindle_storage::install_tls_provider();
    let cli = Cli::parse();
    let client = reqwest::Client::builder().no_gzip().build()?;
    match cli.command {
        Cmd::Upload { file, chunk, open } => {
            upload(&client, &cli.base, &cli.token, &file, chunk, open).await
        }
        Cmd::Download { disc, streams } => {
            download(&client, &cli.base, &cli.token, disc, streams).await
        }
        Cmd::Stream {
            url,
            conns,
            secs,
            expect_len,
            verify,
        } => bench::stream(&url, conns, secs, expect_len, verify.as_deref()).await,
        Cmd::Ranges {
            url,
            size,
            block,
            conns,
            secs,
            verify,
        } => bench::ranges(&url, size, block, conns, secs, verify.as_deref()).await,
        Cmd::Rate {
            urls,
            rps,
            secs,
            max_inflight,
            expect_text,
        } => bench::rate(&urls, rps, secs, max_inflight, expect_text.as_deref()).await,
        Cmd::Slow {
            url,
            conns,
            secs,
            bytes_per_sec,
        } => bench::slow(&url, conns, secs, bytes_per_sec).await,
        Cmd::Objget {
            s3,
            object,
            block,
            conns,
            secs,
        } => bench::objget(&s3, &object, block, conns, secs).await,
        Cmd::Objclean { s3, prefix } => bench::objclean(&s3, &prefix).await,
    }
}

async fn sha256_file(path: &PathBuf) -> Result<(String, u64)> {
    let mut f = tokio::fs::File::open(path).await?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let k = f.read(&mut buf).await?;
        if k == 0 {
            break;
        }
        h.update(&buf[..k]);
        n += k as u64;
    }
    Ok((hex::encode(h.finalize()), n))
}

async fn upload(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    file: &PathBuf,
    chunk: u64,
    open: bool,
) -> Result<()> {
    let t0 = Instant::now();
    let (sha, len) = sha256_file(file).await?;
    let hash_secs = t0.elapsed().as_secs_f64();
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    let r = client
        .post(format!("{base}/api/v1/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", len.to_string())
        .header(
            "Upload-Metadata",
            format!("sha256 {},filename {}", b64(&sha), b64("load.iso")),
        )
        .send()
        .await?;
    if r.status() != 201 {
        bail!("create: {} {}", r.status(), r.text().await?);
    }
    let location = r
        .headers()
        .get("location")
        .context("location")?
        .to_str()?
        .to_string();
    let mut offset: u64 = r
        .headers()
        .get("upload-offset")
        .context("offset")?
        .to_str()?
        .parse()?;
    let t1 = Instant::now();
    while offset < len {
        let n = chunk.min(len - offset);
        let mut f = tokio::fs::File::open(file).await?;
        use tokio::io::AsyncSeekExt;
        f.seek(std::io::SeekFrom::Start(offset)).await?;
        let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(
            f.take(n),
            1 << 20,
        ));
        let r = client
            .patch(format!("{base}{location}"))
            .bearer_auth(token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .header("Content-Length", n.to_string())
            .body(body)
            .send()
            .await?;
        if r.status() != 204 {
            bail!("patch at {offset}: {} {}", r.status(), r.text().await?);
        }
        offset = r
            .headers()
            .get("upload-offset")
            .context("offset")?
            .to_str()?
            .parse()?;
    }
    let secs = t1.elapsed().as_secs_f64();
    let r = client
        .post(format!("{base}/api/v1/discs"))
        .bearer_auth(token)
        .json(&serde_json::json!({"sha256": sha, "filename": "load.iso", "open": open}))
        .send()
        .await?;
    let disc: serde_json::Value = r.json().await?;
    eprintln!(
        "upload: {len} bytes, local hash {hash_secs:.1} s, transfer {secs:.1} s = {:.0} MB/s; disc {}",
        len as f64 / secs / 1e6,
        disc["id"]
    );
    println!(
        "{}",
        serde_json::json!({"scenario": "upload", "bytes": len, "hash_secs": hash_secs,
            "secs": secs, "mb_per_s": len as f64 / secs / 1e6, "disc": disc["id"], "sha256": sha})
    );
    Ok(())
}

async fn download(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    disc: i64,
    streams: usize,
) -> Result<()> {
    let meta: serde_json::Value = client
        .get(format!("{base}/api/v1/discs/{disc}"))
        .bearer_auth(token)
        .send()
        .await?
        .json()
        .await?;
    let expected = meta["sha256"].as_str().context("sha256")?.to_string();
    let t = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..streams {
        let client = client.clone();
        let url = format!("{base}/api/v1/discs/{disc}/image");
        let token = token.to_string();
        tasks.push(tokio::spawn(async move {
            let r = client.get(url).bearer_auth(token).send().await?;
            let mut body = r.bytes_stream();
            let mut h = Sha256::new();
            let mut n = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk?;
                n += chunk.len() as u64;
                h.update(&chunk);
            }
            anyhow::Ok((hex::encode(h.finalize()), n))
        }));
    }
    let mut total = 0;
    for t in tasks {
        let (sha, n) = t.await??;
        if sha != expected {
            bail!("downloaded bytes hash to {sha}, expected {expected}");
        }
        total += n;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "download: {streams} stream(s), {total} bytes in {secs:.1} s = {:.0} MB/s, hashes verified",
        total as f64 / secs / 1e6
    );
    Ok(())
}
