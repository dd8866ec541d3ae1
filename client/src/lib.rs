//! `spindle upload`: a shelf of discs from a folder or a manifest, as a client of the API
//! only. Every row is checked before anything moves and a plan is printed; files are hashed
//! locally (in parallel, bounded) and only bytes the consortium lacks are sent, with tus,
//! resumably (a state file survives Ctrl-C and lost networks); each disc is registered with
//! its identifiers so its record is linked; a per-row report (CSV and JSON) ends the run,
//! and the exit code says whether every row succeeded. Running it again does only what is
//! left.

pub mod api;
pub mod plan;
mod state;
mod transfer;
pub mod words;

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use serde::Serialize;
use sha2::{Digest as _, Sha256};

use plan::Row;
use spindle_i18n::detail;
use state::{FileState, State, fingerprint, key};
use transfer::{Client, Failure};
use words::say;

#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    /// A folder of disc images (searched recursively; CUE sheets bring their BIN files)
    #[arg(
        long,
        conflicts_with = "manifest",
        required_unless_present = "manifest"
    )]
    pub dir: Option<PathBuf>,
    /// A manifest CSV with the columns path, isbn, barcode, record_id, disc_number, label
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// File-name pattern for folders, e.g. "{barcode}.iso" or "{isbn}_{disc}.iso" (repeatable)
    #[arg(long = "pattern")]
    pub patterns: Vec<String>,
    /// The Spindle server
    #[arg(long, env = "SPINDLE_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// A staff token (librarian or admin)
    #[arg(long, env = "SPINDLE_TOKEN", hide_env_values = true)]
    pub token: String,
    /// The member the discs belong to (admins must say; librarians default to their own)
    #[arg(long)]
    pub member: Option<String>,
    /// Files transferred at once
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    /// Files hashed at once
    #[arg(long, default_value_t = 2)]
    pub hash_jobs: usize,
    /// State file (default: .spindle-upload-state.json next to the folder or manifest)
    #[arg(long)]
    pub state: Option<PathBuf>,
    /// Report prefix: writes PREFIX.csv and PREFIX.json (default: spindle-upload-report next to the state)
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Print the plan and stop
    #[arg(long)]
    pub dry_run: bool,
    /// One JSON object per event on stdout, for scripts
    #[arg(long)]
    pub json: bool,
    /// Tries per request before a row fails
    #[arg(long, default_value_t = 5)]
    pub retries: u32,
    /// How long to wait for each disc's catalogue lookup before reporting it pending
    #[arg(long, default_value_t = 30)]
    pub wait_link_secs: u64,
    /// Bytes per second at most, per transfer (0: as fast as the link allows)
    #[arg(long, default_value_t = 0)]
    pub max_rate: u64,
    /// The language of what this prints and of the server's error details: zh or en
    /// (default: SPINDLE_LANG, else the locale)
    #[arg(long)]
    pub lang: Option<String>,
}

/// A hash of one file: None when it was not hashed, Err with the reason when it could not be.
type Hashed = Option<Result<String, String>>;
/// A CUE sheet's file: its name in the sheet, its path, its hash.
type PartHash = (String, PathBuf, Hashed);

#[derive(Debug, Serialize, Clone)]
pub struct ReportRow {
    pub row: usize,
    pub path: String,
    pub sha256: Option<String>,
    pub bytes: u64,
    pub bytes_sent: u64,
    /// `uploaded`, `already-present` or `failed`.
    pub outcome: String,
    pub disc: Option<i64>,
    /// The member the disc was registered for (its code).
    pub member: Option<String>,
    /// The catalogue's answer: `linked`, `review`, `unmatched`, `no-catalogue`, `pending`…
    pub link_status: Option<String>,
    /// What the librarian should know of a disc that was stored and registered (a Video CD
    /// ripped to an ISO, which lost its video).
    pub warning: Option<String>,
    pub error: Option<String>,
}

struct Ui {
    json: bool,
    bar: Option<indicatif::ProgressBar>,
}

impl Ui {
    fn line(&self, text: &str, event: serde_json::Value) {
        if self.json {
            println!("{event}");
        } else if let Some(bar) = &self.bar {
            bar.println(text);
        } else {
            eprintln!("{text}");
        }
    }

    fn advance(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        }
    }
}

fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Runs a bulk upload; Ok(true) when every row succeeded.
pub async fn run(args: UploadArgs) -> anyhow::Result<bool> {
    let lang = words::choose(args.lang.as_deref());
    let base_dir = match (&args.dir, &args.manifest) {
        (Some(d), _) => d.clone(),
        (None, Some(m)) => m
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
        (None, None) => anyhow::bail!(say(detail!("cli_dir_or_manifest"))),
    };
    let mut rows = match (&args.dir, &args.manifest) {
        (Some(d), _) => {
            let patterns = args
                .patterns
                .iter()
                .map(|p| plan::pattern_regex(p).map_err(|m| anyhow::anyhow!(say(m))))
                .collect::<anyhow::Result<Vec<_>>>()?;
            plan::from_folder(d, &patterns)?
        }
        (None, Some(m)) => plan::from_manifest(m)?,
        (None, None) => unreachable!("checked above"),
    };
    plan::validate(&mut rows, &plan::LocalShelf);
    let valid: Vec<&Row> = rows.iter().filter(|r| r.invalid.is_none()).collect();
    let total: u64 = valid.iter().map(|r| r.bytes).sum();
    let ui_plain = Ui {
        json: args.json,
        bar: None,
    };
    ui_plain.line(
        &say(detail!("cli_plan", discs = valid.len(), bytes = mb(total), invalid = rows.len() - valid.len())),
        serde_json::json!({"event": "plan", "discs": valid.len(), "bytes": total, "invalid": rows.len() - valid.len()}),
    );
    for r in rows.iter().filter(|r| r.invalid.is_some()) {
        let why = r
            .invalid
            .as_ref()
            .map(|m| say(m.clone()))
            .unwrap_or_default();
        ui_plain.line(
            &format!(
                "  {}",
                say(detail!(
                    "cli_row_invalid",
                    row = r.row,
                    path = r.path.display(),
                    why = &why
                ))
            ),
            serde_json::json!({"event": "invalid", "row": r.row, "path": r.path, "error": why}),
        );
    }
    if args.dry_run {
        // What would be uploaded, row by row, for a script (or a person) to check first.
        for r in &valid {
            ui_plain.line(
                &format!(
                    "  {}",
                    say(detail!(
                        "cli_row_planned",
                        row = r.row,
                        path = r.path.display(),
                        format = &r.format,
                        bytes = mb(r.bytes)
                    ))
                ),
                serde_json::json!({
                    "event": "planned",
                    "row": r.row,
                    "path": r.path,
                    "label": r.label,
                    "isbn": r.isbn,
                    "barcode": r.barcode,
                    "record_id": r.record_id,
                    "disc_number": r.disc_number,
                    "format": r.format,
                    "bytes": r.bytes,
                    "parts": r.parts.iter().map(|(name, path)| serde_json::json!({"name": name, "path": path})).collect::<Vec<_>>(),
                }),
            );
        }
        return Ok(rows.iter().all(|r| r.invalid.is_none()));
    }

    let server = args.server.trim_end_matches('/').to_string();
    let state_path = args
        .state
        .clone()
        .unwrap_or_else(|| base_dir.join(".spindle-upload-state.json"));
    let state = Arc::new(Mutex::new(State::load(&state_path, &server)?));
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::ACCEPT_LANGUAGE,
        reqwest::header::HeaderValue::from_static(lang),
    );
    spindle_storage::install_tls_provider();
    let client = Arc::new(Client {
        http: reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .default_headers(headers)
            .build()?,
        base: server.clone(),
        token: args.token.clone(),
        retries: args.retries,
    });
    let part = client
        .retrying(detail!("cli_asking_part_size"), || client.part_size())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    // Small requests when the rate is capped, so the cap is smooth.
    let chunk = if args.max_rate > 0 { part } else { part * 4 };
    let max_rate = args.max_rate;

    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        b
    });
    let ui = Arc::new(Ui {
        json: args.json,
        bar,
    });

    // 1. Hash what is not hashed yet (or changed since), `hash_jobs` at a time.
    let hashing_started = Instant::now();
    let files: Vec<PathBuf> = valid
        .iter()
        .flat_map(|r| std::iter::once(r.path.clone()).chain(r.parts.iter().map(|(_, p)| p.clone())))
        .collect();
    let hashed: std::collections::HashMap<PathBuf, Result<String, String>> = stream::iter(files)
        .map(|path| {
            let state = state.clone();
            let ui = ui.clone();
            async move {
                if let Some(sha) = state.lock().ok().and_then(|s| s.current(&path).and_then(|f| f.sha256.clone())) {
                    return (path, Ok(sha));
                }
                let started = Instant::now();
                let p = path.clone();
                let result = tokio::task::spawn_blocking(move || {
                    let before = fingerprint(&p)?;
                    let sha = hash_file(&p)?;
                    Ok::<_, std::io::Error>((before, sha))
                })
                .await;
                match result {
                    Ok(Ok(((size, mtime), sha))) => {
                        let secs = started.elapsed().as_secs_f64().max(1e-6);
                        ui.line(
                            &say(detail!("cli_hashed", path = path.display(), size = mb(size), rate = format!("{:.0}", size as f64 / 1e6 / secs))),
                            serde_json::json!({"event": "hashed", "path": path, "sha256": sha, "bytes": size, "secs": secs}),
                        );
                        if let Ok(mut s) = state.lock() {
                            s.files.insert(key(&path), FileState { size, mtime_ns: mtime, sha256: Some(sha.clone()), upload: None, stored: false });
                            let _ = s.save();
                        }
                        (path, Ok(sha))
                    }
                    Ok(Err(e)) => {
                        let why = transfer::cannot_read(&path, e).to_string();
                        (path, Err(why))
                    }
                    Err(e) => (path, Err(e.to_string())),
                }
            }
        })
        .buffer_unordered(args.hash_jobs.max(1))
        .collect()
        .await;
    let hashing_secs = hashing_started.elapsed().as_secs_f64();
    ui.line(
        &say(detail!(
            "cli_hashing_done",
            secs = format!("{hashing_secs:.1}")
        )),
        serde_json::json!({"event": "hashing-done", "files": hashed.len(), "secs": hashing_secs}),
    );
    let sha_of = |p: &Path| hashed.get(p).cloned();

    // 2. Transfer what the consortium lacks, register, and ask the catalogue.
    let wait = Duration::from_secs(args.wait_link_secs);
    let member = args.member.clone();
    let reports: Vec<ReportRow> = stream::iter(rows.clone())
        .map(|row| {
            let client = client.clone();
            let state = state.clone();
            let ui = ui.clone();
            let member = member.clone();
            let main_sha = sha_of(&row.path);
            let part_shas: Vec<PartHash> = row
                .parts
                .iter()
                .map(|(n, p)| (n.clone(), p.clone(), sha_of(p)))
                .collect();
            async move {
                let mut rep = ReportRow {
                    row: row.row,
                    path: row.path.display().to_string(),
                    sha256: None,
                    bytes: row.bytes,
                    bytes_sent: 0,
                    outcome: "failed".into(),
                    disc: None,
                    member: None,
                    link_status: None,
                    warning: None,
                    error: row.invalid.as_ref().map(|m| say(m.clone())),
                };
                if row.invalid.is_some() {
                    return rep;
                }
                let result = upload_row(
                    &client,
                    &state,
                    &ui,
                    &row,
                    main_sha,
                    part_shas,
                    member.as_deref(),
                    (chunk, max_rate),
                    wait,
                    &mut rep,
                )
                .await;
                if let Err(e) = result {
                    rep.error = Some(e.to_string());
                    rep.outcome = "failed".into();
                }
                ui.line(
                    &row_line(&rep),
                    serde_json::json!({"event": "row", "report": rep}),
                );
                rep
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    if let Some(b) = &ui.bar {
        b.finish_and_clear();
    }
    let mut reports = reports;
    reports.sort_by_key(|r| r.row);

    // 3. The report.
    let prefix = args
        .report
        .clone()
        .unwrap_or_else(|| state_path.with_file_name("spindle-upload-report"));
    write_report(&prefix, &reports)?;
    let failed = reports.iter().filter(|r| r.outcome == "failed").count();
    let sent: u64 = reports.iter().map(|r| r.bytes_sent).sum();
    ui.line(
        &say(detail!(
            "cli_done",
            rows = reports.len(),
            failed = failed,
            sent = mb(sent),
            report = prefix.display()
        )),
        serde_json::json!({"event": "done", "rows": reports.len(), "failed": failed, "bytes_sent": sent}),
    );
    Ok(failed == 0)
}

#[allow(clippy::too_many_arguments)]
async fn upload_row(
    client: &Client,
    state: &Mutex<State>,
    ui: &Ui,
    row: &Row,
    main_sha: Hashed,
    parts: Vec<PartHash>,
    member: Option<&str>,
    chunk: (u64, u64),
    wait: Duration,
    rep: &mut ReportRow,
) -> Result<(), Failure> {
    let sha = main_sha
        .ok_or_else(|| Failure::Final(say(detail!("cli_not_hashed"))))?
        .map_err(Failure::Final)?;
    rep.sha256 = Some(sha.clone());
    let mut part_refs = Vec::new();
    let mut part_paths = Vec::new();
    let mut any_sent = false;
    for (name, path, psha) in parts {
        let psha = psha
            .ok_or_else(|| Failure::Final(say(detail!("cli_not_hashed"))))?
            .map_err(Failure::Final)?;
        let sent = ensure_stored(client, state, ui, &path, &psha, chunk).await?;
        any_sent |= sent > 0;
        rep.bytes_sent += sent;
        part_paths.push((path, psha.clone()));
        part_refs.push((name, psha));
    }
    let sent = ensure_stored(client, state, ui, &row.path, &sha, chunk).await?;
    any_sent |= sent > 0;
    rep.bytes_sent += sent;
    rep.outcome = if any_sent {
        "uploaded"
    } else {
        "already-present"
    }
    .into();
    // A disc this upload registered before for the same member is not registered twice.
    let scope = state::scope(member, &client.token);
    let known = state
        .lock()
        .ok()
        .and_then(|s| s.registered(&scope, &row.path).cloned());
    let registered = match known {
        Some(d) => d,
        None => {
            // Bytes the consortium held before this run: show the server this member holds
            // them too (it does when it sent them).
            let mine = part_paths
                .iter()
                .map(|(p, s)| (p.as_path(), s.as_str()))
                .chain([(row.path.as_path(), sha.as_str())]);
            for (path, psha) in mine {
                client
                    .retrying(detail!("cli_proving"), || client.prove(psha, path, member))
                    .await?;
            }
            let body = client.disc_body(row, &sha, member, &part_refs);
            client
                .retrying(detail!("cli_registering"), || client.register(body.clone()))
                .await?
        }
    };
    let disc = registered.disc;
    rep.disc = Some(disc);
    rep.member = Some(registered.member.clone());
    if let Ok(mut s) = state.lock() {
        s.register(&scope, &row.path, registered);
        let _ = s.save();
    }
    let (status, formats) = client
        .retrying(detail!("cli_asking_link"), || {
            client.link_status(disc, wait)
        })
        .await?;
    rep.link_status = Some(status);
    if formats.iter().any(|f| f == spindle_image::VIDEO_LOST) {
        rep.warning = Some(say(detail!("cli_vcd_video_lost")));
    }
    Ok(())
}

/// Makes sure the server holds `path` (hash `sha`); returns the bytes sent.
async fn ensure_stored(
    client: &Client,
    state: &Mutex<State>,
    ui: &Ui,
    path: &Path,
    sha: &str,
    (chunk, max_rate): (u64, u64),
) -> Result<u64, Failure> {
    let recorded = state.lock().ok().and_then(|s| s.current(path).cloned());
    let Some(mut fs) = recorded.filter(|f| f.sha256.as_deref() == Some(sha)) else {
        // Changed on disk since it was hashed: the next run hashes it anew.
        if let Ok(mut s) = state.lock() {
            s.files.remove(&key(path));
            let _ = s.save();
        }
        return Err(Failure::Final(say(detail!(
            "cli_changed_since_hashed",
            path = path.display()
        ))));
    };
    if fs.stored {
        return Ok(0);
    }
    if client
        .retrying(detail!("cli_checking_server"), || client.blob_exists(sha))
        .await?
    {
        fs.stored = true;
        save(state, path, &fs);
        return Ok(0);
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let size = fs.size;
    let mut offset = match &fs.upload {
        Some(url) => {
            client
                .retrying(detail!("cli_resuming"), || client.offset(url))
                .await?
        }
        None => None,
    };
    if offset.is_none() {
        match client
            .retrying(detail!("cli_creating_upload"), || {
                client.create(sha, &name, size)
            })
            .await?
        {
            None => {
                fs.stored = true;
                save(state, path, &fs);
                return Ok(0);
            }
            Some(url) => {
                fs.upload = Some(url);
                save(state, path, &fs);
                offset = Some(0);
            }
        }
    }
    let url = fs.upload.clone().unwrap_or_default();
    let mut at = offset.unwrap_or(0);
    let start = at;
    let started = Instant::now();
    ui.advance(at);
    while at < size {
        // Nothing goes to the server from a file that is no longer the one hashed.
        if fingerprint(path)
            .map(|(s, m)| (s, m) != (fs.size, fs.mtime_ns))
            .unwrap_or(true)
        {
            if let Ok(mut s) = state.lock() {
                s.files.remove(&key(path));
                let _ = s.save();
            }
            return Err(Failure::Final(say(detail!(
                "cli_changed_during_upload",
                path = path.display()
            ))));
        }
        let len = chunk.min(size - at);
        let next = match client.patch(&url, path, at, len).await {
            Ok(n) => n,
            Err(Failure::Transient(m)) => {
                // Resume from what the server has, after a pause.
                tokio::time::sleep(Duration::from_secs(1)).await;
                match client
                    .retrying(detail!("cli_resuming"), || client.offset(&url))
                    .await?
                {
                    Some(o) => {
                        ui.line(
                            &format!(
                                "  {}",
                                say(detail!(
                                    "cli_resuming_at",
                                    path = path.display(),
                                    why = m,
                                    offset = o
                                ))
                            ),
                            serde_json::json!({"event": "resume", "path": path, "offset": o}),
                        );
                        o
                    }
                    None => {
                        return Err(Failure::Final(say(detail!(
                            "cli_upload_expired",
                            path = path.display(),
                            why = m
                        ))));
                    }
                }
            }
            Err(e) => return Err(e),
        };
        ui.advance(next.saturating_sub(at));
        at = next;
        if max_rate > 0 {
            let due = Duration::from_secs_f64((at - start) as f64 / max_rate as f64);
            if let Some(pause) = due.checked_sub(started.elapsed()) {
                tokio::time::sleep(pause).await;
            }
        }
    }
    fs.stored = true;
    fs.upload = None;
    save(state, path, &fs);
    let secs = started.elapsed().as_secs_f64().max(1e-6);
    ui.line(
        &say(detail!(
            "cli_sent",
            path = path.display(),
            size = mb(size - start),
            rate = format!("{:.0}", (size - start) as f64 / 1e6 / secs)
        )),
        serde_json::json!({"event": "sent", "path": path, "bytes": size - start, "secs": secs}),
    );
    Ok(size - start)
}

/// A row's outcome as the librarian reads it; the report keeps the codes.
fn row_line(rep: &ReportRow) -> String {
    let outcome = match rep.outcome.as_str() {
        "uploaded" => detail!("cli_outcome_uploaded"),
        "already-present" => detail!("cli_outcome_already_present"),
        _ => detail!("cli_outcome_failed"),
    };
    let mut line = say(detail!(
        "cli_row",
        row = rep.row,
        path = &rep.path,
        outcome = say(outcome)
    ));
    if let Some(status) = rep.link_status.as_deref() {
        let link = match status {
            "linked" => detail!("link_linked"),
            "review" => detail!("link_review"),
            "unmatched" => detail!("link_unmatched"),
            "no-catalogue" => detail!("link_no-catalogue"),
            "failed" => detail!("link_failed"),
            "pending" => detail!("link_pending"),
            other => detail!("cli_link_other", status = other),
        };
        line.push_str(&say(detail!("cli_row_link", link = say(link))));
    }
    if let Some(warning) = rep.warning.as_deref() {
        line.push_str(&say(detail!("cli_row_error", error = warning)));
    }
    if let Some(error) = rep.error.as_deref() {
        line.push_str(&say(detail!("cli_row_error", error = error)));
    }
    line
}

fn save(state: &Mutex<State>, path: &Path, fs: &FileState) {
    if let Ok(mut s) = state.lock() {
        s.files.insert(key(path), fs.clone());
        let _ = s.save();
    }
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn write_report(prefix: &Path, rows: &[ReportRow]) -> anyhow::Result<()> {
    let mut csv = String::from(
        "row,path,sha256,bytes,bytes_sent,outcome,member,disc,link_status,warning,error\n",
    );
    for r in rows {
        let cells = [
            r.row.to_string(),
            csv_cell(&r.path),
            r.sha256.clone().unwrap_or_default(),
            r.bytes.to_string(),
            r.bytes_sent.to_string(),
            r.outcome.clone(),
            csv_cell(r.member.as_deref().unwrap_or_default()),
            r.disc.map(|d| d.to_string()).unwrap_or_default(),
            r.link_status.clone().unwrap_or_default(),
            csv_cell(r.warning.as_deref().unwrap_or_default()),
            csv_cell(r.error.as_deref().unwrap_or_default()),
        ];
        csv.push_str(&cells.join(","));
        csv.push('\n');
    }
    // With a byte-order mark, Excel reads the report as UTF-8 (Chinese paths stay readable).
    std::fs::write(prefix.with_extension("csv"), format!("\u{feff}{csv}"))?;
    std::fs::write(
        prefix.with_extension("json"),
        serde_json::to_vec_pretty(rows)?,
    )?;
    Ok(())
}
