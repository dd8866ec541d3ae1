//! The harness works: `loadtests/run.sh` in its smoke mode (a small image, one second per
//! measurement, a few slow readers) against Spindle on SQLite + the local store and on
//! PostgreSQL + Garage, beside nginx and object_store. Every scenario must produce its
//! measurement without an error, every byte served under load is compared with the file it
//! must be, pages must be pages, and memory per slow download is bounded; the timings are not
//! judged here (a shared CI machine says nothing about them) but the table with its ratios is
//! printed.

use std::path::Path;
use std::process::Command;

/// Slow readers in the smoke run (run.sh's SLOW_CONNS there).
const SLOW_CONNS: usize = 20;
/// What one slow download may hold in the server, whatever the image's size: a bound with room
/// for a shared machine, far under the smoke images (24 MiB, 16 MiB) that buffering would show.
const MAX_KIB_PER_SLOW_DOWNLOAD: f64 = 4096.0;

#[test]
fn the_harness_runs_every_scenario_against_both_backends() {
    for var in ["SPINDLE_TEST_PG_URL", "SPINDLE_TEST_S3_ENDPOINT"] {
        assert!(
            std::env::var(var).is_ok(),
            "{var} is not set: run the suite with scripts/test.sh, which starts PostgreSQL and Garage"
        );
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = tempfile::tempdir().expect("tempdir");
    let results = out.path().join("results.jsonl");
    let run = Command::new("bash")
        .arg(root.join("loadtests/run.sh"))
        .env("SMOKE", "1")
        .env("SLOW_CONNS", SLOW_CONNS.to_string())
        .env("SERVER_BIN", env!("CARGO_BIN_EXE_spindle-under-test"))
        .env("LOAD_BIN", env!("CARGO_BIN_EXE_spindle-load"))
        .env("OUT", &results)
        .output()
        .expect("run loadtests/run.sh");
    let stdout = String::from_utf8_lossy(&run.stdout);
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "run.sh failed:\n{stdout}\n{stderr}");
    println!("{stdout}");

    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&results)
        .expect("results")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    let find = |backend: &str, side: &str, case: &str| {
        rows.iter()
            .find(|r| r["backend"] == backend && r["side"] == side && r["case"] == case)
            .unwrap_or_else(|| panic!("no measurement {backend} {side} {case}"))
    };
    let mut expected = vec![("all", "baseline", "ingest")];
    for case in [
        "image-1",
        "image-16",
        "ranges-64k",
        "file-1",
        "file-16",
        "listing-rate",
    ] {
        expected.push(("all", "nginx", case));
    }
    for backend in ["local", "s3"] {
        for case in [
            "ingest",
            "image-1",
            "image-16",
            "ranges-64k",
            "file-1",
            "file-16",
            "events-downloads",
            "disc-page-rate",
            "listing-rate",
            "folder-page-rate",
            "events-pages",
            "memory-big",
            "memory-small",
        ] {
            expected.push((backend, "spindle", case));
        }
    }
    for case in ["image-1", "image-16", "ranges-64k"] {
        expected.push(("s3", "objget", case));
    }
    // Every figure the table is made of must be there and must be able to fail: a key that is
    // missing is a failure, not a zero.
    let num = |r: &serde_json::Value, key: &str| -> f64 {
        r[key]
            .as_f64()
            .unwrap_or_else(|| panic!("no `{key}` in {r}"))
    };
    for (backend, side, case) in expected {
        let r = find(backend, side, case);
        if case == "ingest" {
            assert!(num(r, "mb_per_s") > 0.0, "{r}");
            continue;
        }
        if case.starts_with("events") {
            assert!(num(r, "recorded") > 0.0, "{r}");
            assert_eq!(num(r, "dropped"), 0.0, "{r}");
            continue;
        }
        assert_eq!(num(r, "errors"), 0.0, "{r}");
        let requests = num(r, "requests");
        let bytes = num(r, "bytes");
        if case.starts_with("memory") {
            // Every slow download was open while memory was sampled, and the server held a
            // bounded amount per download: far less than the image (a server that buffered
            // images would hold at least the bytes already sent to each slow reader).
            assert_eq!(
                requests, SLOW_CONNS as f64,
                "every slow download opened: {r}"
            );
            assert!(num(r, "samples") >= 1.0, "memory sampled while open: {r}");
            let per = num(r, "per_download_kib");
            assert!(
                per <= MAX_KIB_PER_SLOW_DOWNLOAD,
                "{per} KiB per download: {r}"
            );
            assert!(bytes > 0.0, "{r}");
            continue;
        }
        // A whole-body case measures bytes: on a busy machine no download of 16 at once may
        // finish within the smoke run's one second (one cut at the deadline is not a request).
        let whole_body = case.starts_with("image-") || case.starts_with("file-");
        assert!(
            requests > 0.0 || (whole_body && bytes > 0.0),
            "nothing was measured: {r}"
        );
    }
    assert!(
        stdout.contains("| whole image, 1 stream | MB/s vs nginx |"),
        "{stdout}"
    );
}
