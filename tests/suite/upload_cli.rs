//! `spindle upload`, the real binary against a running server on both backend pairs: a
//! manifest of real fixture images (and bad rows), the report, a rerun that does only what is
//! left, a second member who transfers nothing, an interrupted run that resumes, a file that
//! changes after hashing, and a token without rights.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use anyhow::Result;
use common::discs::{fixture, fixtures};
use common::{Backend, TestApp};
use serde_json::Value;

/// `spindle upload` against the test server, with short waits and few retries, in English
/// whatever this machine's locale.
fn client(app: &TestApp, token: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spindle"));
    cmd.env("SPINDLE_LANG", "en");
    cmd.arg("upload").args([
        "--server",
        &app.base,
        "--token",
        token,
        "--wait-link-secs",
        "5",
        "--retries",
        "2",
    ]);
    cmd
}

fn upload(app: &TestApp, token: &str, args: &[&str]) -> Output {
    client(app, token)
        .args(args)
        .output()
        .expect("run spindle upload")
}

fn report(prefix: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(prefix.with_extension("json")).expect("report");
    serde_json::from_str(&text).expect("json")
}

fn copy_fixtures(dir: &Path, names: &[&str]) {
    for n in names {
        std::fs::copy(fixtures().join(n), dir.join(n)).expect("copy fixture");
    }
}

fn by_row(rows: &[Value], row: i64) -> &Value {
    rows.iter().find(|r| r["row"] == row).expect("row")
}

async fn manifest_run_rerun_and_second_member(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("A").await?;
    app.member("B").await?;
    let a = app.librarian("A").await?;
    let b = app.librarian("B").await?;
    let dir = tempfile::tempdir()?;
    let d = dir.path();
    copy_fixtures(
        d,
        &[
            "rr-joliet.iso",
            "level1.iso",
            "disc.cue",
            "disc (Track 1).bin",
            "disc (Track 2).bin",
            "disc (Track 3).bin",
        ],
    );
    std::fs::write(d.join("notes.txt"), "not a disc")?;
    std::fs::write(
        d.join("manifest.csv"),
        "path,isbn,barcode,record_id,disc_number,label\n\
         rr-joliet.iso,,A-0001,,1,Web disc\n\
         level1.iso,9780596514327,,,,\n\
         disc.cue,,A-0002,,,\"Audio, and data\"\n\
         notes.txt,,A-0003,,,\n\
         rr-joliet.iso,,A-0001,,1,again\n\
         level1.iso,9780596514328,A-0004,,,\n\
         missing.iso,,A-0005,,,\n",
    )?;
    let manifest = d.join("manifest.csv");
    let prefix = d.join("report");
    let out = upload(
        &app,
        &a,
        &[
            "--manifest",
            manifest.to_str().unwrap_or_default(),
            "--report",
            prefix.to_str().unwrap_or_default(),
        ],
    );
    assert!(!out.status.success(), "invalid rows make the run fail");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("plan: 3 discs to upload"), "{stderr}");
    let rows = report(&prefix);
    assert_eq!(rows.len(), 7);
    for n in [1, 2, 3] {
        let r = by_row(&rows, n);
        assert_eq!(r["outcome"], "uploaded", "{r}");
        assert_eq!(r["link_status"], "no-catalogue");
        assert!(r["disc"].is_i64());
    }
    assert_eq!(
        by_row(&rows, 3)["bytes_sent"].as_u64(),
        Some(
            [
                "disc.cue",
                "disc (Track 1).bin",
                "disc (Track 2).bin",
                "disc (Track 3).bin"
            ]
            .iter()
            .map(|n| fixture(n).len() as u64)
            .sum()
        )
    );
    assert!(
        by_row(&rows, 4)["error"]
            .as_str()
            .unwrap_or_default()
            .contains("not a recognised disc image")
    );
    assert!(
        by_row(&rows, 5)["error"]
            .as_str()
            .unwrap_or_default()
            .contains("duplicate of row 1")
    );
    assert!(
        by_row(&rows, 6)["error"]
            .as_str()
            .unwrap_or_default()
            .contains("check digit")
    );
    assert!(
        by_row(&rows, 7)["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot read")
    );
    let csv = std::fs::read_to_string(prefix.with_extension("csv"))?;
    assert_eq!(csv.lines().count(), 8);
    assert!(csv.contains(",uploaded,"));
    // The CUE disc was registered with its BIN files and reads as one disc.
    let cue_disc = by_row(&rows, 3)["disc"].as_i64().unwrap_or_default();
    let v = common::wait_indexed(&app, Some(&a), cue_disc).await?;
    assert_eq!(v["image"]["formats"][0], "cue", "{v}");

    // Again: nothing is sent, nothing is registered twice.
    let out = upload(
        &app,
        &a,
        &[
            "--manifest",
            manifest.to_str().unwrap_or_default(),
            "--report",
            prefix.to_str().unwrap_or_default(),
        ],
    );
    assert!(!out.status.success());
    let again = report(&prefix);
    for n in [1, 2, 3] {
        assert_eq!(by_row(&again, n)["bytes_sent"], 0, "{}", by_row(&again, n));
        assert_eq!(by_row(&again, n)["outcome"], "already-present");
        assert_eq!(by_row(&again, n)["disc"], by_row(&rows, n)["disc"]);
    }
    let listed: Value = app
        .client
        .get(app.url("/api/v1/discs"))
        .bearer_auth(&a)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(listed.as_array().map(Vec::len), Some(3));
    for n in [1, 2, 3] {
        assert_eq!(by_row(&again, n)["member"], "A");
    }

    // The same manifest, the same state file, for another member: B's own discs of the same
    // images (nothing sent), not A's disc ids again (which B may not touch).
    let out = upload(
        &app,
        &b,
        &[
            "--manifest",
            manifest.to_str().unwrap_or_default(),
            "--report",
            prefix.to_str().unwrap_or_default(),
        ],
    );
    assert!(!out.status.success(), "rows 4-7 are still invalid");
    let for_b = report(&prefix);
    for n in [1, 2, 3] {
        let r = by_row(&for_b, n);
        assert_eq!(r["outcome"], "already-present", "{r}");
        assert_eq!(r["bytes_sent"], 0, "{r}");
        assert_eq!(r["member"], "B", "{r}");
        assert!(r["error"].is_null(), "{r}");
        assert_ne!(r["disc"], by_row(&rows, n)["disc"], "{r}");
    }
    let csv = std::fs::read_to_string(prefix.with_extension("csv"))?;
    assert!(
        csv.lines()
            .nth(1)
            .is_some_and(|l| l.contains(",already-present,B,")),
        "{csv}"
    );

    // Another member with the same images, as a folder with a file-name pattern: zero bytes.
    let dir_b = tempfile::tempdir()?;
    for (from, to) in [("rr-joliet.iso", "B-100.iso"), ("level1.iso", "B-200.iso")] {
        std::fs::copy(d.join(from), dir_b.path().join(to))?;
    }
    let prefix_b = dir_b.path().join("report");
    let out = upload(
        &app,
        &b,
        &[
            "--dir",
            dir_b.path().to_str().unwrap_or_default(),
            "--pattern",
            "{barcode}.iso",
            "--report",
            prefix_b.to_str().unwrap_or_default(),
            "--json",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    // One JSON line per row, each a row of the report (an empty output is no pass).
    let lines: Vec<Value> = stdout
        .lines()
        .map(serde_json::from_str::<Value>)
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("--json prints JSON lines: {e}: {stdout}"))?;
    let rows_printed = lines.iter().filter(|l| l["event"] == "row").count();
    assert_eq!(rows_printed, 2, "a JSON line per row: {stdout}");
    assert!(
        lines
            .last()
            .is_some_and(|l| l["event"] == "done" && l["rows"] == 2),
        "the last line sums the run up: {stdout}"
    );
    let rows_b = report(&prefix_b);
    assert_eq!(rows_b.len(), 2);
    for r in &rows_b {
        assert_eq!(r["bytes_sent"], 0, "{r}");
        assert_eq!(r["outcome"], "already-present");
    }
    let v: Value = app
        .client
        .get(app.url(&format!("/api/v1/discs/{}", rows_b[0]["disc"])))
        .bearer_auth(&b)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(v["barcode"], "B-100", "the pattern gave the barcode");

    // A manifest with an unknown column is refused whole, before anything moves.
    std::fs::write(d.join("bad.csv"), "path,barcod\nlevel1.iso,X\n")?;
    let out = upload(
        &app,
        &a,
        &["--manifest", d.join("bad.csv").to_str().unwrap_or_default()],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown columns [\"barcod\"]"));
    Ok(())
}

async fn rights_are_the_servers(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("A").await?;
    app.member("B").await?;
    let a = app.librarian("A").await?;
    let dir = tempfile::tempdir()?;
    copy_fixtures(dir.path(), &["level1.iso"]);
    let prefix = dir.path().join("report");
    let out = upload(
        &app,
        &a,
        &[
            "--dir",
            dir.path().to_str().unwrap_or_default(),
            "--member",
            "B",
            "--report",
            prefix.to_str().unwrap_or_default(),
        ],
    );
    assert!(!out.status.success());
    let rows = report(&prefix);
    assert_eq!(rows[0]["outcome"], "failed");
    assert!(
        rows[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("403"),
        "{}",
        rows[0]
    );
    // The same refusal for a librarian whose locale is Chinese: the command's lines and the
    // server's detail in the report are in Chinese; the report's codes stay as they are.
    let shelf = tempfile::tempdir()?;
    copy_fixtures(shelf.path(), &["level1.iso"]);
    let out = client(&app, &a)
        .env_remove("SPINDLE_LANG")
        .env("LC_ALL", "zh_CN.UTF-8")
        .args([
            "--dir",
            shelf.path().to_str().unwrap_or_default(),
            "--member",
            "B",
            "--report",
            prefix.to_str().unwrap_or_default(),
        ])
        .output()?;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("计划：上传 1 张光盘（0.4 MB），0 行无效"),
        "{stderr}"
    );
    assert!(
        stderr.contains("第 1 行") && stderr.contains("：失败"),
        "{stderr}"
    );
    assert!(stderr.contains("完成：共 1 行，1 行失败"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("有些行失败了"));
    let rows = report(&prefix);
    assert_eq!(rows[0]["outcome"], "failed");
    let error = rows[0]["error"].as_str().unwrap_or_default();
    assert!(error.starts_with("403 Forbidden forbidden: "), "{error}");
    assert!(
        error
            .chars()
            .any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)),
        "the server's detail in Chinese: {error}"
    );
    // A manifest the plan refuses, said in Chinese with `--lang zh`.
    std::fs::write(
        shelf.path().join("m.csv"),
        "path,disc_number\nlevel1.iso,0\n",
    )?;
    let out = client(&app, &a)
        .args(["--lang", "zh", "--dry-run", "--manifest"])
        .arg(shelf.path().join("m.csv"))
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("disc_number 须为 1 到 999 之间的数字"),
        "{stderr}"
    );
    // A manifest Excel on Chinese Windows saved (GBK, a quoted label with a comma and a line
    // break), planned with --dry-run --json: one event per row, Chinese intact.
    std::fs::copy(
        shelf.path().join("level1.iso"),
        shelf.path().join("光盘 一.iso"),
    )?;
    let (gbk, _, lossy) = encoding_rs::GBK.encode(
        "path,barcode,label\r\n光盘 一.iso,GB-1,\"随书光盘，第一张\n（练习）\"\r\nlevel1.iso,GB-2,英语\r\n",
    );
    assert!(!lossy);
    std::fs::write(shelf.path().join("gbk.csv"), &gbk)?;
    let out = client(&app, &a)
        .args(["--dry-run", "--json", "--manifest"])
        .arg(shelf.path().join("gbk.csv"))
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let planned: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["event"] == "planned")
        .collect();
    assert_eq!(planned.len(), 2, "{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        planned[0]["path"]
            .as_str()
            .unwrap_or_default()
            .ends_with("/光盘 一.iso")
    );
    assert_eq!(planned[0]["label"], "随书光盘，第一张\n（练习）");
    assert_eq!(planned[0]["barcode"], "GB-1");
    assert_eq!(planned[0]["format"], "iso9660");
    assert_eq!(planned[1]["label"], "英语");
    assert_eq!(planned[1]["row"], 2);
    // The same with Excel's UTF-8 BOM; and bytes that are neither are refused, saying so.
    let utf8 = "\u{feff}path,label\n光盘 一.iso,中文\n";
    std::fs::write(shelf.path().join("bom.csv"), utf8)?;
    let out = client(&app, &a)
        .args(["--dry-run", "--json", "--manifest"])
        .arg(shelf.path().join("bom.csv"))
        .output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"label\":\"中文\""));
    std::fs::write(
        shelf.path().join("bad.csv"),
        b"path,label\nx.iso,\xff\xff\xff\n",
    )?;
    let out = client(&app, &a)
        .args(["--dry-run", "--manifest"])
        .arg(shelf.path().join("bad.csv"))
        .output()?;
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("neither UTF-8 nor GB18030"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = upload(
        &app,
        "spindle_not-a-token",
        &[
            "--dir",
            dir.path().to_str().unwrap_or_default(),
            "--report",
            prefix.to_str().unwrap_or_default(),
        ],
    );
    assert!(!out.status.success());
    assert!(
        report(&prefix)[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("401")
    );
    Ok(())
}

/// A disc image big enough to interrupt: xorriso over incompressible bytes.
fn big_iso(dir: &Path, mb: usize) -> PathBuf {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).expect("mkdir");
    std::fs::write(src.join("data.bin"), common::image(mb << 20, 99)).expect("write");
    let out = dir.join("big.iso");
    let status = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-r", "-o"])
        .arg(&out)
        .arg(&src)
        .stderr(Stdio::null())
        .status()
        .expect("xorriso");
    assert!(status.success());
    std::fs::remove_dir_all(&src).expect("rm");
    out
}

async fn interrupted_runs_resume_and_changed_files_fail(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("A").await?;
    let a = app.librarian("A").await?;
    let work = tempfile::tempdir()?;
    let dir = work.path().join("shelf");
    std::fs::create_dir(&dir)?;
    let big = big_iso(&dir, 40);
    std::fs::rename(&big, dir.join("A-1.iso"))?;
    copy_fixtures(&dir, &["level1.iso"]);
    std::fs::rename(dir.join("level1.iso"), dir.join("A-2.iso"))?;
    let total = std::fs::metadata(dir.join("A-1.iso"))?.len();
    let prefix = work.path().join("report");
    let args = |extra: &[&str]| {
        let mut v: Vec<String> = [
            "--dir",
            dir.to_str().unwrap_or_default(),
            "--pattern",
            "{barcode}.iso",
            "--concurrency",
            "1",
            "--report",
            prefix.to_str().unwrap_or_default(),
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    // 8 MB/s: the 40 MB image takes about five seconds; stop the client after the first part.
    let mut child = client(&app, &a)
        .args(args(&["--max-rate", "8000000"]))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let state_file = dir.join(".spindle-upload-state.json");
    let mut interrupted = false;
    let mut upload_url = String::new();
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        if let Some((url, offset)) = common::state_upload(&app.client, &state_file, &a).await
            && offset > 0
        {
            child.kill()?;
            interrupted = true;
            upload_url = url;
            break;
        }
    }
    let _ = child.wait();
    assert!(interrupted, "the client was stopped mid-transfer");
    let r = app
        .client
        .head(&upload_url)
        .bearer_auth(&a)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await?;
    let offset_at_kill: u64 = common::header(&r, "upload-offset").parse().unwrap_or(0);
    // Resume, capped again, and change the second file on disk while the first is still
    // going up: it was hashed already, so its row fails and the first goes on.
    let mut child = client(&app, &a)
        .args(args(&["--max-rate", "8000000"]))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()?;
    // Once the first file is moving again the hashing is over: change the second file then.
    let mut changed = false;
    for _ in 0..400 {
        tokio::time::sleep(Duration::from_millis(25)).await;
        let r = app
            .client
            .head(&upload_url)
            .bearer_auth(&a)
            .header("Tus-Resumable", "1.0.0")
            .send()
            .await?;
        let now: u64 = common::header(&r, "upload-offset").parse().unwrap_or(0);
        if now > offset_at_kill {
            std::fs::write(
                dir.join("A-2.iso"),
                [fixture("level1.iso"), vec![0u8; 2048]].concat(),
            )?;
            changed = true;
            break;
        }
    }
    assert!(changed, "the second file was hashed");
    let status = tokio::task::spawn_blocking(move || child.wait()).await??;
    assert!(!status.success(), "a failed row fails the run");
    let rows = report(&prefix);
    let first = rows
        .iter()
        .find(|r| r["path"].as_str().unwrap_or_default().ends_with("A-1.iso"))
        .expect("A-1");
    assert_eq!(first["outcome"], "uploaded", "{first}");
    let sent = first["bytes_sent"].as_u64().unwrap_or(u64::MAX);
    assert!(sent < total, "resumed: {sent} of {total} bytes sent again");
    let v: Value = app
        .client
        .get(app.url(&format!("/api/v1/discs/{}", first["disc"])))
        .bearer_auth(&a)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(v["size"].as_u64(), Some(total));
    let second = rows
        .iter()
        .find(|r| r["path"].as_str().unwrap_or_default().ends_with("A-2.iso"))
        .expect("A-2");
    assert_eq!(second["outcome"], "failed", "{second}");
    assert!(
        second["error"]
            .as_str()
            .unwrap_or_default()
            .contains("changed since it was hashed"),
        "{second}"
    );
    // The next run hashes the new version and finishes the job.
    let out = client(&app, &a).args(args(&[])).output()?;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows = report(&prefix);
    assert!(rows.iter().all(|r| r["outcome"] != "failed"), "{rows:?}");
    Ok(())
}

/// A Video CD ripped to an ISO uploads and registers, and the run tells the librarian its
/// video was lost (in the report's `warning` and on the row's line), in their language.
async fn a_vcd_ripped_to_an_iso_is_reported(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("A").await?;
    let a = app.librarian("A").await?;
    let dir = tempfile::tempdir()?;
    copy_fixtures(dir.path(), &["vcd-rip.iso"]);
    let prefix = dir.path().join("report");
    let out = client(&app, &a)
        .args(["--lang", "zh", "--dir"])
        .arg(dir.path())
        .arg("--report")
        .arg(&prefix)
        .output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let rows = report(&prefix);
    assert_eq!(rows[0]["outcome"], "uploaded", "{}", rows[0]);
    let warning = rows[0]["warning"].as_str().unwrap_or_default();
    assert!(warning.contains("视频已丢失"), "{}", rows[0]);
    assert!(stderr.contains(warning), "{stderr}");
    let csv = std::fs::read_to_string(prefix.with_extension("csv"))?;
    assert!(csv.starts_with(
        "\u{feff}row,path,sha256,bytes,bytes_sent,outcome,member,disc,link_status,warning,error\n"
    ));
    assert!(csv.contains(warning), "{csv}");
    Ok(())
}

on_both_backends!(
    a_vcd_ripped_to_an_iso_is_reported,
    manifest_run_rerun_and_second_member,
    rights_are_the_servers,
    interrupted_runs_resume_and_changed_files_fail
);
