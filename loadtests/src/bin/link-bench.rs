//! Linking benchmark: registers N discs by ISBN against a running Spindle whose member has a
//! catalogue configured, waits until every disc has been through the catalogue, and prints
//! the end-to-end time, the rate and how the discs ended (linked / review / other).
//!
//!   spindle-link-bench --base http://127.0.0.1:PORT --token T --sha256 HEX --isbns file [--count 1000]

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use futures::{StreamExt, stream};
use serde_json::{Value, json};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    base: String,
    #[arg(long)]
    token: String,
    /// An image already uploaded (every disc registers on it).
    #[arg(long)]
    sha256: String,
    /// One ISBN per line.
    #[arg(long)]
    isbns: PathBuf,
    #[arg(long, default_value_t = 1000)]
    count: usize,
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    spindle_storage::install_tls_provider();
    let args = Args::parse();
    let isbns: Vec<String> = std::fs::read_to_string(&args.isbns)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(args.count)
        .map(str::to_string)
        .collect();
    if isbns.len() < args.count {
        bail!("only {} ISBNs in {}", isbns.len(), args.isbns.display());
    }
    let client = reqwest::Client::new();
    let started = Instant::now();
    let ids: Vec<Result<i64>> = stream::iter(isbns.iter().enumerate())
        .map(|(i, isbn)| {
            let client = client.clone();
            let url = format!("{}/api/v1/discs", args.base);
            let body = json!({"sha256": args.sha256, "isbn": isbn, "barcode": format!("LB{i:06}")});
            let token = args.token.clone();
            async move {
                let r = client
                    .post(url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await?;
                if r.status() != 201 {
                    bail!("register {isbn}: {}", r.status());
                }
                let v: Value = r.json().await?;
                v["id"].as_i64().context("id")
            }
        })
        .buffer_unordered(args.concurrency)
        .collect()
        .await;
    let ids: Vec<i64> = ids.into_iter().collect::<Result<_>>()?;
    let registered = started.elapsed();
    let mut outcome: BTreeMap<String, usize> = BTreeMap::new();
    let mut pending = ids.clone();
    while !pending.is_empty() {
        let mut still = Vec::new();
        for id in pending {
            let v: Value = client
                .get(format!("{}/api/v1/discs/{id}", args.base))
                .bearer_auth(&args.token)
                .send()
                .await?
                .json()
                .await?;
            match v["link_status"].as_str() {
                Some("pending") => still.push(id),
                Some(s) => *outcome.entry(s.to_string()).or_default() += 1,
                None => bail!("disc {id}: {v}"),
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            bail!("{} discs still pending after 30 min", pending.len());
        }
    }
    let total = started.elapsed();
    println!("| discs | registered in | all linked in | discs/s | outcome |");
    println!("|---:|---:|---:|---:|---|");
    println!(
        "| {} | {:.1} s | {:.1} s | {:.0} | {:?} |",
        ids.len(),
        registered.as_secs_f64(),
        total.as_secs_f64(),
        ids.len() as f64 / total.as_secs_f64(),
        outcome
    );
    Ok(())
}
