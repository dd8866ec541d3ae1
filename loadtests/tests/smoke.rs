//! The harness works: `loadtests/run.sh` in its smoke mode (a small image, one second per
//! measurement, a few slow readers) against Spindle on SQLite + the local store and on
//! PostgreSQL + Garage, beside nginx and object_store. Every scenario must produce its
//! measurement without an error; the timings are not judged here (a shared CI machine says
//! nothing about them) but the table with its ratios is printed.

use std::path::Path;
use std::process::Command;

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
    for (backend, side, case) in expected {
        let r = find(backend, side, case);
        assert_eq!(r["errors"].as_u64().unwrap_or(0), 0, "{r}");
        // A whole-image case measures bytes: on a busy machine no download of 16 at once may
        // finish within the smoke run's one second (one cut at the deadline is not a request).
        if let Some(n) = r.get("requests") {
            let whole_image = case.starts_with("image-");
            let bytes = r["bytes"].as_u64().unwrap_or(0);
            assert!(
                n.as_u64().unwrap_or(0) > 0 || (whole_image && bytes > 0),
                "nothing was measured: {r}"
            );
        }
        if case.starts_with("events") {
            assert!(r["recorded"].as_u64().unwrap_or(0) > 0, "{r}");
            assert_eq!(r["dropped"], 0, "{r}");
        }
        if case.starts_with("memory") {
            assert!(r["peak_kib"].as_u64().unwrap_or(0) >= r["idle_kib"].as_u64().unwrap_or(0));
        }
    }
    assert!(
        stdout.contains("| whole image, 1 stream | MB/s vs nginx |"),
        "{stdout}"
    );
}
