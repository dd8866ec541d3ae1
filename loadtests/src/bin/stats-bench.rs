//! Statistics benchmarks.
//!
//! `events`: readers (each its own session cookie, a browser's user agent) view a disc and
//! download its image in a loop against a running Spindle for a fixed time; prints the
//! requests, the download rate, and the usage events the server recorded and dropped (from
//! its /metrics) per second.
//!
//! `rollup`: writes N synthetic events (sessions, double-clicks, robots, several members)
//! spread over D days straight into a database through Spindle's own batch writer, then
//! times the rollup of every day, as the server's job does it.
//!
//!   spindle-stats-bench events --base http://127.0.0.1:PORT --disc 1 --secs 10 --concurrency 32
//!   spindle-stats-bench rollup --database sqlite:///tmp/x.db --events 10000000 --days 30

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use futures::StreamExt;
use spindle::calendar::Day;
use spindle::db::usage::EventRow;
use spindle::usage::{DAY_MS, rollup};

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Events {
        #[arg(long)]
        base: String,
        #[arg(long)]
        disc: i64,
        #[arg(long, default_value_t = 10)]
        secs: u64,
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Only landing views (no downloads): the recorder's own ceiling
        #[arg(long)]
        views_only: bool,
    },
    Rollup {
        /// sqlite://PATH or postgres://…
        #[arg(long)]
        database: String,
        #[arg(long, default_value_t = 10_000_000)]
        events: u64,
        #[arg(long, default_value_t = 30)]
        days: u64,
    },
}

const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

async fn metric(client: &reqwest::Client, base: &str, name: &str) -> Result<u64> {
    let text = client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .with_context(|| format!("{name} not in /metrics"))
}

async fn events(
    base: String,
    disc: i64,
    secs: u64,
    concurrency: usize,
    views_only: bool,
) -> Result<()> {
    let client = reqwest::Client::builder().user_agent(FIREFOX).build()?;
    let recorded0 = metric(&client, &base, "spindle_usage_events_recorded_total").await?;
    let dropped0 = metric(&client, &base, "spindle_usage_events_dropped_total").await?;
    let requests = Arc::new(AtomicU64::new(0));
    let bytes = Arc::new(AtomicU64::new(0));
    let until = Instant::now() + Duration::from_secs(secs);
    let started = Instant::now();
    futures::stream::iter(0..concurrency)
        .for_each_concurrent(concurrency, |i| {
            let client = client.clone();
            let base = base.clone();
            let requests = requests.clone();
            let bytes = bytes.clone();
            async move {
                let cookie = format!("spindle_session={:032x}", i as u128 + 1);
                while Instant::now() < until {
                    let mut paths = vec![format!("/api/v1/discs/{disc}")];
                    if !views_only {
                        paths.push(format!("/api/v1/discs/{disc}/image"));
                    }
                    for path in paths {
                        let Ok(r) = client
                            .get(format!("{base}{path}"))
                            .header("cookie", &cookie)
                            .send()
                            .await
                        else {
                            continue;
                        };
                        let mut body = r.bytes_stream();
                        while let Some(Ok(chunk)) = body.next().await {
                            bytes.fetch_add(chunk.len() as u64, Ordering::Relaxed);
                        }
                        requests.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        })
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    // The writer flushes at least every stats.flush_ms.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let recorded = metric(&client, &base, "spindle_usage_events_recorded_total").await? - recorded0;
    let dropped = metric(&client, &base, "spindle_usage_events_dropped_total").await? - dropped0;
    let n = requests.load(Ordering::Relaxed);
    println!(
        "| readers | requests | requests/s | download MB/s | events recorded/s | events dropped |"
    );
    println!("|---:|---|---:|---:|---:|---:|");
    println!(
        "| {concurrency} | {} | {:.0} | {:.0} | {:.0} | {dropped} |",
        if views_only {
            "landing views"
        } else {
            "landing view + 8 MiB image"
        },
        n as f64 / elapsed,
        bytes.load(Ordering::Relaxed) as f64 / elapsed / 1e6,
        recorded as f64 / elapsed,
    );
    anyhow::ensure!(
        recorded == n,
        "{n} counted requests but {recorded} events recorded"
    );
    Ok(())
}

/// A small deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn synthetic(rng: &mut Rng, day_start: i64, id: i64) -> EventRow {
    let session = rng.below(20_000);
    let disc = (rng.below(5_000) + 1) as i64;
    let ts = day_start + rng.below(DAY_MS as u64) as i64;
    let (action, url) = match rng.below(10) {
        0..=3 => ("landing", format!("GET /api/v1/discs/{disc}")),
        4..=5 => (
            "browse",
            format!("GET /api/v1/discs/{disc}/files/d{}/", rng.below(4)),
        ),
        6..=7 => (
            "file",
            format!("GET /api/v1/discs/{disc}/files/f{}", rng.below(20)),
        ),
        8 => ("image", format!("GET /api/v1/discs/{disc}/image")),
        _ => ("launch", format!("GET /api/v1/discs/{disc}/launch")),
    };
    let member = session % 45 + 1;
    EventRow {
        id,
        ts_ms: ts,
        action: action.into(),
        disc_id: Some(disc),
        file_path: None,
        // Keys as the recorder makes them: 32 hex digits.
        dc_key: format!(
            "{:016x}{:016x}",
            session,
            disc as u64 * 131 + url.len() as u64
        ),
        dc_key_prev: None,
        session_key: format!("{:016x}{:016x}", session, ts / 3_600_000),
        url_key: url,
        status: if action == "launch" { 303 } else { 200 },
        members: format!(",{member},"),
        robot: rng.below(50) == 0,
        access_type: "Controlled".into(),
    }
}

async fn rollup_bench(database: String, events: u64, days: u64) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut config = spindle::config::Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    config.database.url = Some(database.clone());
    let app = spindle::app::App::start(config).await?;
    let first_day = Day::of_ms(spindle::usage::now_ms() - (days as i64 + 2) * DAY_MS);
    let start = first_day.start_ms();
    let per_day = events / days;
    let mut rng = Rng(0x5EED_1234_ABCD_0001);
    let t = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    let mut written = 0u64;
    for d in 0..days as i64 {
        for _ in 0..per_day {
            batch.push(synthetic(&mut rng, start + d * DAY_MS, 0));
            if batch.len() == 10_000 {
                spindle::db::usage::insert_events(&app.db, &batch, &[]).await?;
                written += batch.len() as u64;
                batch.clear();
            }
        }
    }
    spindle::db::usage::insert_events(&app.db, &batch, &[]).await?;
    written += batch.len() as u64;
    let write_secs = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut facts = 0;
    let mut slowest = 0f64;
    for d in 0..days as i64 {
        let day = Day::of_ms(start + d * DAY_MS);
        let t_day = Instant::now();
        facts += rollup::rollup_day(&app.db, &app.config.stats.time_zone, day)
            .await?
            .facts;
        slowest = slowest.max(t_day.elapsed().as_secs_f64());
    }
    let roll_secs = t.elapsed().as_secs_f64();
    println!(
        "| database | events | days | written in | events/s written | rolled up in | events/s rolled | slowest day | daily figures |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {} | {written} | {days} | {write_secs:.1} s | {:.0} | {roll_secs:.1} s | {:.0} | {slowest:.2} s | {facts} |",
        app.db.dialect(),
        written as f64 / write_secs,
        written as f64 / roll_secs
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<()> {
    spindle_storage::install_tls_provider();
    match Args::parse().command {
        Command::Events {
            base,
            disc,
            secs,
            concurrency,
            views_only,
        } => events(base, disc, secs, concurrency, views_only).await,
        Command::Rollup {
            database,
            events,
            days,
        } => rollup_bench(database, events, days).await,
    }
}
