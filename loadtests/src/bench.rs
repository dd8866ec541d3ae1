//! The scenarios of `loadtests/run.sh`: each runs for a bounded time against one URL (Spindle
//! or the baseline serving the same bytes) and prints one JSON line, which the script turns
//! into the table of ratios.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use futures::StreamExt;
use object_store::{ObjectStore, ObjectStoreExt};
use serde_json::json;
use tokio::sync::Semaphore;

/// One connection per client, kept alive between requests: N clients are N connections.
fn connection() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .no_gzip()
        .http1_only()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(600))
        .build()?)
}

/// Latencies in microseconds, merged from every task.
#[derive(Default)]
struct Latencies(Vec<u32>);

impl Latencies {
    fn add(&mut self, d: Duration) {
        self.0.push(d.as_micros().min(u32::MAX as u128) as u32);
    }

    fn percentile(&mut self, p: f64) -> f64 {
        if self.0.is_empty() {
            return 0.0;
        }
        self.0.sort_unstable();
        let i = ((self.0.len() - 1) as f64 * p).round() as usize;
        self.0[i] as f64 / 1000.0
    }
}

#[derive(Default)]
struct Outcome {
    requests: u64,
    bytes: u64,
    errors: u64,
    first_error: Option<String>,
    latencies: Latencies,
}

fn report(name: &str, url: &str, conns: usize, secs: f64, mut o: Outcome) {
    let line = json!({
        "scenario": name,
        "url": url,
        "conns": conns,
        "secs": secs,
        "requests": o.requests,
        "bytes": o.bytes,
        "errors": o.errors,
        "first_error": o.first_error,
        "mb_per_s": o.bytes as f64 / secs / 1e6,
        "req_per_s": o.requests as f64 / secs,
        "p50_ms": o.latencies.percentile(0.50),
        "p99_ms": o.latencies.percentile(0.99),
        "max_ms": o.latencies.percentile(1.0),
    });
    println!("{line}");
}

/// Adds up the tasks' outcomes.
async fn gather(tasks: Vec<tokio::task::JoinHandle<Result<Outcome>>>) -> Result<Outcome> {
    let mut all = Outcome::default();
    for t in tasks {
        let o = t.await??;
        all.requests += o.requests;
        all.bytes += o.bytes;
        all.errors += o.errors;
        all.first_error = all.first_error.or(o.first_error);
        all.latencies.0.extend(o.latencies.0);
    }
    Ok(all)
}

/// Whole-body GETs of `url` over `conns` connections, one after another on each, for `secs`.
/// Bytes of a body cut off by the deadline count; the request does not.
/// With `verify`, every byte is compared with that file's (smoke runs: a timed run would
/// have the client read the file too).
pub async fn stream(
    url: &str,
    conns: usize,
    secs: f64,
    expect_len: Option<u64>,
    verify: Option<&Path>,
) -> Result<()> {
    let reference = verify.map(Reference::open).transpose()?;
    let expect_len = expect_len.or(reference.as_ref().map(|r| r.len));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let client = connection()?;
        let url = url.to_string();
        let reference = reference.clone();
        tasks.push(tokio::spawn(async move {
            let mut o = Outcome::default();
            while Instant::now() < deadline {
                let t = Instant::now();
                let mut r = client.get(&url).send().await?;
                if r.status() != 200 {
                    o.errors += 1;
                    o.first_error.get_or_insert(format!("HTTP {}", r.status()));
                    continue;
                }
                let mut n = 0u64;
                let mut cut = false;
                while let Some(chunk) = r.chunk().await? {
                    if let Some(at) = reference.as_ref().and_then(|f| f.differs(n, &chunk)) {
                        o.errors += 1;
                        o.first_error
                            .get_or_insert(format!("the body differs from the file at byte {at}"));
                    }
                    n += chunk.len() as u64;
                    if Instant::now() >= deadline {
                        cut = true;
                        break;
                    }
                }
                o.bytes += n;
                if !cut {
                    if expect_len.is_some_and(|l| l != n) {
                        o.errors += 1;
                        o.first_error
                            .get_or_insert(format!("body of {n} bytes, expected {expect_len:?}"));
                    }
                    o.requests += 1;
                    o.latencies.add(t.elapsed());
                }
            }
            Ok(o)
        }));
    }
    let o = gather(tasks).await?;
    report("stream", url, conns, started.elapsed().as_secs_f64(), o);
    Ok(())
}

/// The file a body must equal, read at the offsets the body's bytes came from.
#[derive(Clone)]
struct Reference {
    file: Arc<std::fs::File>,
    len: u64,
}

impl Reference {
    fn open(path: &Path) -> Result<Self> {
        let file = std::fs::File::open(path)
            .with_context(|| format!("the reference file {}", path.display()))?;
        let len = file.metadata()?.len();
        Ok(Self {
            file: Arc::new(file),
            len,
        })
    }

    /// The first offset at which `bytes`, read at `at`, differ from the file; None if equal.
    fn differs(&self, at: u64, bytes: &[u8]) -> Option<u64> {
        use std::os::unix::fs::FileExt;
        let mut mine = vec![0u8; bytes.len()];
        if self.file.read_exact_at(&mut mine, at).is_err() {
            return Some(at);
        }
        mine.iter()
            .zip(bytes)
            .position(|(a, b)| a != b)
            .map(|i| at + i as u64)
    }
}

/// A small fast generator for offsets (xorshift64*), seeded per task.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Random `block`-aligned ranges of a `size`-byte body over `conns` connections for `secs`:
/// an emulator's access pattern. Each answer must be 206 with exactly `block` bytes.
/// With `verify`, each range's bytes are compared with that file's.
pub async fn ranges(
    url: &str,
    size: u64,
    block: u64,
    conns: usize,
    secs: f64,
    verify: Option<&Path>,
) -> Result<()> {
    let reference = verify.map(Reference::open).transpose()?;
    if size < block {
        bail!("the body ({size} bytes) is smaller than one range ({block})");
    }
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..conns {
        let client = connection()?;
        let url = url.to_string();
        let reference = reference.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
            let mut o = Outcome::default();
            let blocks = size / block;
            while Instant::now() < deadline {
                let start = rng.next() % blocks * block;
                let t = Instant::now();
                let r = client
                    .get(&url)
                    .header("Range", format!("bytes={start}-{}", start + block - 1))
                    .send()
                    .await?;
                let status = r.status();
                let body = r.bytes().await?;
                if status != 206 || body.len() as u64 != block {
                    o.errors += 1;
                    o.first_error
                        .get_or_insert(format!("HTTP {status} with {} bytes", body.len()));
                    continue;
                }
                if let Some(at) = reference.as_ref().and_then(|f| f.differs(start, &body)) {
                    o.errors += 1;
                    o.first_error.get_or_insert(format!(
                        "range {start}: differs from the file at byte {at}"
                    ));
                    continue;
                }
                o.latencies.add(t.elapsed());
                o.requests += 1;
                o.bytes += block;
            }
            Ok(o)
        }));
    }
    let o = gather(tasks).await?;
    report("ranges", url, conns, started.elapsed().as_secs_f64(), o);
    Ok(())
}

/// GETs at a fixed rate (open loop) spread over `urls`, for `secs`. Latency is measured from
/// when each request was due, so a server that falls behind shows it (no coordinated
/// omission). At most `max_inflight` requests are outstanding; one that cannot start counts
/// as an error.
/// With `expect_text`, every answer's body must contain it (a page, not an error page).
pub async fn rate(
    urls: &[String],
    rps: f64,
    secs: f64,
    max_inflight: usize,
    expect_text: Option<&str>,
) -> Result<()> {
    let expect_text: Option<Arc<str>> = expect_text.map(Arc::from);
    if urls.is_empty() || rps <= 0.0 {
        bail!("give at least one URL and a positive rate");
    }
    let client = reqwest::Client::builder()
        .no_gzip()
        .http1_only()
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(30))
        .build()?;
    // Warm the connection pool and the server's caches.
    for u in urls {
        client.get(u).send().await?.bytes().await?;
    }
    let total = (rps * secs).round() as u64;
    let mut ticker = tokio::time::interval(Duration::from_secs_f64(1.0 / rps));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let permits = Arc::new(Semaphore::new(max_inflight));
    let refused = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(total as usize);
    for i in 0..total {
        let due = ticker.tick().await;
        let Ok(permit) = permits.clone().try_acquire_owned() else {
            refused.fetch_add(1, Ordering::Relaxed);
            continue;
        };
        let client = client.clone();
        let url = urls[i as usize % urls.len()].clone();
        let expect_text = expect_text.clone();
        tasks.push(tokio::spawn(async move {
            let _permit = permit;
            let r = client.get(&url).send().await;
            let mut o = Outcome::default();
            match r {
                Ok(r) if r.status() == 200 => {
                    let body = r.bytes().await?;
                    o.latencies.add(due.elapsed());
                    o.requests = 1;
                    o.bytes = body.len() as u64;
                    if let Some(text) = expect_text.as_deref()
                        && !body.windows(text.len()).any(|w| w == text.as_bytes())
                    {
                        o.errors = 1;
                        o.first_error = Some(format!("no \"{text}\" in the answer from {url}"));
                    }
                }
                Ok(r) => {
                    o.errors = 1;
                    o.first_error = Some(format!("HTTP {} from {url}", r.status()));
                }
                Err(e) => {
                    o.errors = 1;
                    o.first_error = Some(e.to_string());
                }
            }
            Ok(o)
        }));
    }
    let mut o = gather(tasks).await?;
    let secs = started.elapsed().as_secs_f64();
    let late = refused.load(Ordering::Relaxed);
    o.errors += late;
    if late > 0 {
        o.first_error
            .get_or_insert(format!("{late} requests could not start"));
    }
    report("rate", &urls.join(" "), max_inflight, secs, o);
    Ok(())
}

/// `conns` downloads of `url` held open for `secs`, each read at `bytes_per_sec`: readers on
/// slow links. The script samples the server's memory meanwhile.
pub async fn slow(url: &str, conns: usize, secs: f64, bytes_per_sec: u64) -> Result<()> {
    let client = reqwest::Client::builder()
        .no_gzip()
        .http1_only()
        .timeout(Duration::from_secs_f64(secs + 60.0))
        .build()?;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let open = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let client = client.clone();
        let url = url.to_string();
        let open = open.clone();
        tasks.push(tokio::spawn(async move {
            let mut o = Outcome::default();
            let mut r = match client.get(&url).send().await {
                Ok(r) if r.status() == 200 => r,
                Ok(r) => {
                    o.errors = 1;
                    o.first_error = Some(format!("HTTP {}", r.status()));
                    return Ok(o);
                }
                Err(e) => {
                    o.errors = 1;
                    o.first_error = Some(e.to_string());
                    return Ok(o);
                }
            };
            open.fetch_add(1, Ordering::Relaxed);
            let t = Instant::now();
            o.requests = 1;
            while Instant::now() < deadline {
                let Some(chunk) = r.chunk().await? else { break };
                o.bytes += chunk.len() as u64;
                let due = Duration::from_secs_f64(o.bytes as f64 / bytes_per_sec as f64);
                if let Some(wait) = due.checked_sub(t.elapsed()) {
                    tokio::time::sleep(
                        wait.min(deadline.saturating_duration_since(Instant::now())),
                    )
                    .await;
                }
            }
            Ok(o)
        }));
    }
    // Say when every download is open, for the script's memory sampling.
    let watch = open.clone();
    let announce = tokio::spawn(async move {
        while watch.load(Ordering::Relaxed) < conns as u64 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        eprintln!("all {conns} downloads open");
    });
    let o = gather(tasks).await?;
    announce.abort();
    report("slow", url, conns, started.elapsed().as_secs_f64(), o);
    Ok(())
}

/// Where the S3 baseline reads: the same server and bucket Spindle uses.
#[derive(clap::Args)]
pub struct S3Args {
    #[arg(long)]
    endpoint: String,
    #[arg(long)]
    bucket: String,
    #[arg(long, env = "AWS_ACCESS_KEY_ID")]
    key_id: String,
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY")]
    secret: String,
    #[arg(long, default_value = "garage")]
    region: String,
}

impl S3Args {
    fn store(&self) -> Result<Arc<dyn ObjectStore>> {
        Ok(Arc::new(
            object_store::aws::AmazonS3Builder::new()
                .with_endpoint(&self.endpoint)
                .with_allow_http(true)
                .with_bucket_name(&self.bucket)
                .with_access_key_id(&self.key_id)
                .with_secret_access_key(&self.secret)
                .with_region(&self.region)
                .build()?,
        ))
    }
}

/// Deletes every object under `prefix` (what a run of the harness stored in the bucket).
pub async fn objclean(s3: &S3Args, prefix: &str) -> Result<()> {
    if prefix.trim_matches('/').is_empty() {
        bail!("refusing to delete a whole bucket: give a prefix");
    }
    let store = s3.store()?;
    let prefix = object_store::path::Path::from(prefix);
    let keys: Vec<object_store::path::Path> = store
        .list(Some(&prefix))
        .map(|m| m.map(|m| m.location))
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    for key in &keys {
        store.delete(key).await?;
    }
    eprintln!("deleted {} objects under {prefix}", keys.len());
    Ok(())
}

/// The S3 baseline: object_store's own GETs of `object` from the same server Spindle uses,
/// whole (`block` = None) or random ranges, over `conns` concurrent tasks for `secs`.
pub async fn objget(
    s3: &S3Args,
    object: &str,
    block: Option<u64>,
    conns: usize,
    secs: f64,
) -> Result<()> {
    let store = s3.store()?;
    let path = object_store::path::Path::from(object);
    let size = store.head(&path).await.context("HEAD of the object")?.size;
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..conns {
        let store = store.clone();
        let path = path.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
            let mut o = Outcome::default();
            while Instant::now() < deadline {
                let t = Instant::now();
                match block {
                    Some(block) => {
                        let start = rng.next() % (size / block) * block;
                        let got = store.get_range(&path, start..start + block).await?;
                        if got.len() as u64 != block {
                            o.errors += 1;
                        }
                        o.bytes += got.len() as u64;
                    }
                    None => {
                        let mut s = store.get(&path).await?.into_stream();
                        let mut cut = false;
                        while let Some(chunk) = s.next().await {
                            o.bytes += chunk?.len() as u64;
                            if Instant::now() >= deadline {
                                cut = true;
                                break;
                            }
                        }
                        if cut {
                            break;
                        }
                    }
                }
                o.requests += 1;
                o.latencies.add(t.elapsed());
            }
            Ok(o)
        }));
    }
    let o = gather(tasks).await?;
    report(
        if block.is_some() {
            "objget-ranges"
        } else {
            "objget"
        },
        object,
        conns,
        started.elapsed().as_secs_f64(),
        o,
    );
    Ok(())
}
