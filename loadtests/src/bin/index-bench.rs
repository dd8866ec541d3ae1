//! Indexing benchmark: reads an image of many files and directories with Spindle's readers
//! (straight from the file, through the local object store, and through an S3 store such as
//! Garage when `--s3-*` is given) beside `bsdtar -tf` listing the same image, and prints the
//! times, the ratios and how many ranged reads each store path needed.
//!
//!   spindle-index-bench --image big-tree.iso [--runs 5] [--s3-endpoint URL --s3-bucket B …]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};
use clap::Parser;
use spindle_image::{self as image, BlobSource, FileSource, Limits, Parts, ReadAt};
use spindle_storage::{BlobStore, Digest, LocalConfig, S3Config};

#[derive(Parser)]
struct Args {
    /// The image to read.
    #[arg(long)]
    image: PathBuf,
    /// Runs of each reader; the median is reported.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    #[arg(long)]
    s3_endpoint: Option<String>,
    #[arg(long, default_value = "")]
    s3_bucket: String,
    #[arg(long, default_value = "")]
    s3_key_id: String,
    #[arg(long, default_value = "")]
    s3_secret: String,
    #[arg(long, default_value = "garage")]
    s3_region: String,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time_runs(runs: usize, mut f: impl FnMut() -> Result<u64>) -> Result<(Duration, u64)> {
    let mut times = Vec::new();
    let mut reads = 0;
    for _ in 0..runs {
        let t = Instant::now();
        reads = f()?;
        times.push(t.elapsed());
    }
    Ok((median(times), reads))
}

fn index_with(source: &dyn ReadAt) -> Result<usize> {
    let ix = image::index(
        &Parts {
            main: source,
            named: vec![],
        },
        &Limits::default(),
    )?;
    Ok(ix.entries.len())
}

fn main() -> Result<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let bytes_len = std::fs::metadata(&args.image)?.len();

    // bsdtar: the reference listing.
    let (bsdtar, _) = time_runs(args.runs, || {
        let out = Command::new("bsdtar")
            .arg("-tf")
            .arg(&args.image)
            .output()?;
        ensure!(out.status.success(), "bsdtar failed");
        Ok(out.stdout.iter().filter(|&&b| b == b'\n').count() as u64)
    })?;
    let listed = Command::new("bsdtar")
        .arg("-tf")
        .arg(&args.image)
        .output()?;
    let bsdtar_entries = listed.stdout.iter().filter(|&&b| b == b'\n').count();

    // Spindle straight from the file (the CLI's pre-flight path).
    let file = FileSource::open(&args.image)?;
    let mut entries = 0;
    let (direct, _) = time_runs(args.runs, || {
        entries = index_with(&file)?;
        Ok(0)
    })?;

    // Through object stores: what the service's indexer does.
    let data = std::fs::read(&args.image)?;
    let dir = tempfile::tempdir()?;
    let mut stores = vec![(
        "local store",
        BlobStore::local(&LocalConfig {
            root: dir.path().join("blobs"),
            staging: dir.path().join("staging"),
        })?,
    )];
    if let Some(endpoint) = &args.s3_endpoint {
        let config = S3Config {
            endpoint: Some(endpoint.clone()),
            bucket: args.s3_bucket.clone(),
            region: args.s3_region.clone(),
            access_key_id: Some(args.s3_key_id.clone()),
            secret_access_key: Some(args.s3_secret.clone()),
            prefix: format!("index-bench-{}", std::process::id()),
            ..S3Config::default()
        };
        stores.push(("S3 (Garage)", BlobStore::s3(&config)?));
    }
    let mut rows = Vec::new();
    for (name, store) in &stores {
        let digest: Digest = runtime
            .block_on(store.put_small(&data))
            .context("storing the image")?;
        let (t, reads) = time_runs(args.runs, || {
            let src = BlobSource::new(store.clone(), digest, bytes_len, runtime.handle().clone());
            let n = runtime.block_on(async {
                tokio::task::spawn_blocking(move || index_with(&src).map(|n| (n, src.requests())))
                    .await
            })??;
            ensure!(
                n.0 == entries,
                "{name}: {} entries, direct read {entries}",
                n.0
            );
            Ok(n.1)
        })?;
        rows.push((*name, t, reads));
    }

    println!(
        "image: {} ({} bytes), {entries} entries (bsdtar lists {bsdtar_entries} incl. '.')",
        args.image.display(),
        bytes_len
    );
    println!("median of {} runs\n", args.runs);
    println!("| reader | time | vs bsdtar -tf | ranged reads |");
    println!("|---|---:|---:|---:|");
    println!(
        "| bsdtar -tf (reference) | {:.1} ms | 1.00 | - |",
        bsdtar.as_secs_f64() * 1e3
    );
    let ratio = |d: Duration| d.as_secs_f64() / bsdtar.as_secs_f64();
    println!(
        "| Spindle, file | {:.1} ms | {:.2} | - |",
        direct.as_secs_f64() * 1e3,
        ratio(direct)
    );
    for (name, t, reads) in rows {
        println!(
            "| Spindle, {name} | {:.1} ms | {:.2} | {reads} |",
            t.as_secs_f64() * 1e3,
            ratio(t)
        );
    }
    Ok(())
}
