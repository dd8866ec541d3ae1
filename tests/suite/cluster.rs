//! Issue 22, item 1: `scripts/cluster.sh` starts a cluster on loopback — PostgreSQL, a
//! three-node Garage (replication 3, three zones), two Spindle nodes, nginx in front of the
//! Spindle nodes and of the Garage nodes — and `down` stops what it started. Judged by use: the
//! printed lines are services that answer; an upload whose PATCHes alternate between the two
//! nodes completes with the right hash; both nodes and the balancer serve the image byte-exact;
//! every Garage node holds a copy; after `down` nothing listens on any of the ports. And the
//! first of item 2's drills: a node killed with SIGKILL mid-PATCH, the upload finished through
//! the other node once the lease has run out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

use crate::common::{self, header, iso_image, metadata, sha256_hex};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/cluster.sh");

/// A cluster started by the script, brought down when dropped.
struct Cluster {
    dir: PathBuf,
    up: bool,
}

impl Cluster {
    fn down(&mut self) -> Result<()> {
        let out = Command::new(SCRIPT).arg("down").arg(&self.dir).output()?;
        self.up = false;
        ensure!(
            out.status.success(),
            "cluster.sh down: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if self.up {
            let _ = Command::new(SCRIPT).arg("down").arg(&self.dir).output();
        }
    }
}

/// The `KIND URL` lines the script prints, by kind.
fn services(stdout: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in stdout.lines() {
        if let Some((kind, url)) = line.split_once(' ') {
            out.entry(kind.to_string())
                .or_default()
                .push(url.to_string());
        }
    }
    out
}

fn port_of(url: &str) -> Result<u16> {
    url.rsplit(':')
        .next()
        .and_then(|p| p.split('/').next())
        .and_then(|p| p.parse().ok())
        .with_context(|| format!("no port in {url}"))
}

/// The Spindle CLI against the cluster's database and store, as node 1.
fn cli(dir: &Path, args: &[&str]) -> Result<String> {
    let env = std::fs::read_to_string(dir.join("spindle.env"))?;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_spindle"));
    for line in env.lines() {
        if let Some((k, v)) = line.split_once('=') {
            cmd.env(k, v);
        }
    }
    let out = cmd
        .env("SPINDLE_LOG__FILTER", "warn")
        .arg("--data-dir")
        .arg(dir.join("node1"))
        .args(args)
        .output()?;
    ensure!(
        out.status.success(),
        "spindle {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

#[tokio::test]
async fn the_cluster_script_starts_a_cluster_that_works_and_stops_it() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("cluster");
    // Fixity every second at 16 MB/s with 3 s claims, and the rollup every second, so that the
    // drills see both run on both nodes.
    let (mut cluster, s) = cluster_up(
        &dir,
        &[
            ("SPINDLE_FIXITY__INTERVAL_SECS", "1"),
            ("SPINDLE_FIXITY__LEASE_SECS", "3"),
            ("SPINDLE_FIXITY__RATE_MB_PER_S", "16"),
            ("SPINDLE_STATS__ROLLUP_INTERVAL_SECS", "1"),
        ],
    )?;
    let one = |k: &str| -> Result<String> {
        match s.get(k).map(Vec::as_slice) {
            Some([u]) => Ok(u.clone()),
            other => anyhow::bail!("{k}: {other:?}"),
        }
    };
    let (lb, s3, pg) = (one("LB")?, one("S3")?, one("PG")?);
    let nodes = s.get("NODE").cloned().unwrap_or_default();
    let garages = s.get("GARAGE").cloned().unwrap_or_default();
    ensure!(nodes.len() == 2 && garages.len() == 3, "{s:?}");
    // The database's address without its password.
    ensure!(pg.starts_with("postgres://spindle:…@"), "{pg}");
    let http = common::http();
    for n in nodes.iter().chain([&lb]) {
        let r = http.get(format!("{n}/readyz")).send().await?;
        ensure!(r.status() == 200, "{n}: {}", r.status());
    }
    // Garage's S3 balancer answers (an unsigned request is refused with an S3 error).
    let r = http.get(format!("{s3}/spindle")).send().await?;
    ensure!(r.status() == 403, "{s3}: {}", r.status());

    cli(&dir, &["member", "add", "CL", "--name", "Cluster library"])?;
    let token = cli(
        &dir,
        &["token", "create", "--role", "librarian", "--member", "CL"],
    )?;
    // One upload, its PATCHes sent to the two nodes in turn (8 MiB parts, the default).
    let data = iso_image(3 * 8 * 1024 * 1024 + 12_345, 2201);
    let sha = sha256_hex(&data);
    let (id, patches) = upload(
        &http,
        &token,
        &nodes,
        &data,
        "cluster.iso",
        serde_json::json!({}),
    )
    .await?;
    ensure!(patches >= 4, "the PATCHes went to both nodes ({patches})");
    for base in nodes.iter().chain([&lb]) {
        ensure!(
            served_sha(&http, base, id).await? == sha,
            "{base} served other bytes"
        );
    }
    // Every Garage node holds the object's data (replication 3): each one's data directory
    // holds about the image's size (its blocks; the image's random bytes do not compress).
    for n in 1..=3 {
        let held = dir_size(&dir.join(format!("garage/n{n}/data")))?;
        ensure!(
            held * 10 >= data.len() as u64 * 9,
            "Garage node {n} holds {held} of {} bytes",
            data.len()
        );
    }

    // Issue 22, item 2: background work done once. Four more discs through the balancer;
    // every image is read by one node or the other, and the nodes' counts add up to the
    // images, none read twice.
    let mut ids = vec![id];
    for seed in 0..4 {
        let data = iso_image(1024 * 1024 + seed * 4096, 2210 + seed as u64);
        ids.push(
            upload(
                &http,
                &token,
                std::slice::from_ref(&lb),
                &data,
                "small.iso",
                serde_json::json!({}),
            )
            .await?
            .0,
        );
    }
    for id in &ids {
        let mut status = serde_json::Value::Null;
        // Generous: this waits for an outcome under the suite's load, it does not time one.
        for _ in 0..1800 {
            status = http
                .get(format!("{lb}/api/v1/discs/{id}"))
                .send()
                .await?
                .json::<serde_json::Value>()
                .await?["image"]["status"]
                .clone();
            if status == "indexed" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        ensure!(status == "indexed", "disc {id}: {status}");
    }
    let read = settled_work(&http, &nodes, "index").await?;
    ensure!(
        read.iter().sum::<u64>() == ids.len() as u64,
        "images read per node {read:?} for {} images",
        ids.len()
    );
    println!(
        "drill: {} images read once between the two nodes: {read:?}",
        ids.len()
    );

    // Linking too: with the member's catalogue set (the test Zebra) and both nodes' queues
    // empty, six discs registered by ISBN are each looked up once between the nodes.
    let r = http
        .put(format!("{lb}/api/v1/members/CL/catalogue"))
        .bearer_auth(&token)
        .json(&serde_json::json!({"kind": "sru", "sru": {"url": format!("{}/marc21", common::catalogue::zebra())}}))
        .send()
        .await?;
    ensure!(r.status() == 200, "catalogue: {}", r.status());
    let isbns: Vec<String> = common::catalogue::manifest()
        .iter()
        .filter(|m| {
            m["flavour"] == "marc21" && m["deleted"] != true && m["discs"].as_i64().unwrap_or(0) > 0
        })
        .filter_map(|m| common::catalogue::strings(&m["isbn13"]).first().cloned())
        .take(6)
        .collect();
    ensure!(isbns.len() == 6, "{isbns:?}");
    let before = settled_work(&http, &nodes, "link").await?;
    let mut linked_ids = Vec::new();
    for (i, isbn) in isbns.iter().enumerate() {
        let data = iso_image(1024 * 1024 + 8192 * i, 2220 + i as u64);
        let (disc, _) = upload(
            &http,
            &token,
            std::slice::from_ref(&lb),
            &data,
            "linked.iso",
            serde_json::json!({"isbn": isbn}),
        )
        .await?;
        linked_ids.push(disc);
    }
    for disc in &linked_ids {
        let mut v = serde_json::Value::Null;
        // Generous: this waits for an outcome under the suite's load, it does not time one.
        for _ in 0..1200 {
            v = http
                .get(format!("{lb}/api/v1/discs/{disc}"))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            if v["link_status"] != "pending" {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        ensure!(v["link_status"] == "linked", "disc {disc}: {v}");
    }
    // A linker counts its disc just after recording the outcome: wait for the counts to reach
    // the discs, then they must not be more.
    let mut done = Vec::new();
    for _ in 0..50 {
        let after = settled_work(&http, &nodes, "link").await?;
        done = after.iter().zip(&before).map(|(a, b)| a - b).collect();
        if done.iter().sum::<u64>() >= linked_ids.len() as u64 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    ensure!(
        done.iter().sum::<u64>() == linked_ids.len() as u64,
        "discs looked up per node {done:?} for {} discs",
        linked_ids.len()
    );
    println!(
        "drill: {} discs linked once between the two nodes: {done:?}",
        linked_ids.len()
    );

    let drill = Drill {
        dir: &dir,
        http: http.clone(),
        nodes: &nodes,
        lb: &lb,
        token: &token,
        pg: sqlx::postgres::PgPoolOptions::new()
            .max_connections(2)
            .connect(&cluster_var(&dir, "CLUSTER_PG")?)
            .await?,
    };
    shared_tokens_and_sessions(&drill).await?;
    usage_counted_once(&drill).await?;
    fixity_once(&drill).await?;

    // Issue 22, item 2: a node killed with SIGKILL in the middle of a PATCH. The upload goes
    // on through the other node from the last whole part the dead one stored, once the dead
    // node's lease has run out (refused with 423 and Retry-After until then), and ends with
    // the right hash; the balancer meanwhile answers from the living node.
    let data = iso_image(4 * 8 * 1024 * 1024 + 777, 2202);
    let sha = sha256_hex(&data);
    let part = 8 * 1024 * 1024;
    let location = create_upload(&http, &token, &nodes[0], &data, "killed.iso").await?;
    let offset_on = |node: String| {
        let (http, token, location) = (&http, &token, &location);
        async move {
            let r = http
                .head(format!("{node}{location}"))
                .bearer_auth(token)
                .header("Tus-Resumable", "1.0.0")
                .send()
                .await?;
            ensure!(r.status() == 200, "HEAD on {node}: {}", r.status());
            anyhow::Ok(header(&r, "upload-offset").parse::<usize>()?)
        }
    };
    // Node 2 receives a PATCH of everything: one part and a half arrive, then the body stalls.
    let (tx, patch) = stalled_patch(
        &http,
        &token,
        &format!("{}{location}", nodes[1]),
        data.len(),
    );
    tx.send(data[..part + part / 2].to_vec()).await?;
    let mut stored = 0;
    for _ in 0..400 {
        stored = offset_on(nodes[0].clone()).await?;
        if stored >= part {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    ensure!(
        stored == part,
        "node 2 stored the first whole part ({stored})"
    );
    let pid: i32 = std::fs::read_to_string(dir.join("pids/spindle-2.pid"))?
        .trim()
        .parse()?;
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()?;
    ensure!(killed.success(), "kill -9 {pid}");
    let killed_at = std::time::Instant::now();
    drop(tx);
    let _ = patch.await;
    for _ in 0..10 {
        let r = http.get(format!("{lb}/readyz")).send().await?;
        ensure!(
            r.status() == 200,
            "the balancer with a node dead: {}",
            r.status()
        );
    }
    let mut offset = offset_on(nodes[0].clone()).await?;
    ensure!(
        offset == part,
        "the whole part survives the kill ({offset})"
    );
    // An empty PATCH asks for the upload without sending data: 423 while the dead node's
    // lease runs, then the rest goes to node 1.
    let patch_on_1 = |offset: usize, body: Vec<u8>| {
        http.patch(format!("{}{location}", nodes[0]))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(body)
            .send()
    };
    let mut refused = 0;
    loop {
        let r = patch_on_1(offset, Vec::new()).await?;
        match r.status().as_u16() {
            204 => break,
            423 => {
                ensure!(
                    !header(&r, "retry-after").is_empty(),
                    "423 says when to retry"
                );
                ensure!(
                    killed_at.elapsed() < std::time::Duration::from_secs(30),
                    "the dead node's lease was not handed over"
                );
                refused += 1;
                tokio::time::sleep(std::time::Duration::from_millis(250)).await;
            }
            other => anyhow::bail!("empty PATCH on node 1: {other} {}", r.text().await?),
        }
    }
    let handed_over = killed_at.elapsed();
    // Not before the dead node's lease (10 s) ran out, and not long after.
    ensure!(refused > 0, "node 1 wrote while node 2's lease was alive");
    ensure!(
        handed_over < std::time::Duration::from_secs(16),
        "the lease took {handed_over:?} to hand over"
    );
    while offset < data.len() {
        let r = patch_on_1(offset, data[offset..].to_vec()).await?;
        ensure!(
            r.status() == 204,
            "PATCH on node 1 at {offset}: {}",
            r.status()
        );
        offset = header(&r, "upload-offset").parse()?;
    }
    println!(
        "drill: node killed mid-PATCH; the other node took the upload after {handed_over:?} ({refused} refusals while the lease ran)"
    );
    register_served(&http, &token, &lb, &sha, "killed.iso")
        .await
        .context("the upload finished on node 1")?;

    // A Garage node killed mid-download: the one that served the download's last piece (the
    // reader pauses until Spindle's read-ahead has its pieces, so the node is known from
    // nginx's log). The rest comes from the other two through the S3 balancer, byte-exact;
    // an upload while it is down is stored by the other two (quorum) and reads back.
    let data = iso_image(96 * 1024 * 1024, 2203);
    let sha = sha256_hex(&data);
    let (id, _) = drill.upload(&data, "big.iso").await?;
    // Its fixity check reads it too: done first, so that every GET of it below is the download's.
    drill
        .until("the big image re-hashed", || async {
            Ok(drill.verified(&sha).await?.then_some(()))
        })
        .await?;
    let mut download = http
        .get(format!("{lb}/api/v1/discs/{id}/image"))
        .send()
        .await?;
    ensure!(download.status() == 200, "download: {}", download.status());
    let mut got = Vec::new();
    while got.len() < 20 * 1024 * 1024 {
        got.extend_from_slice(&download.chunk().await?.context("the body ended early")?);
    }
    let log = dir.join("nginx/access.log");
    let gets = || -> Result<Vec<String>> {
        Ok(std::fs::read_to_string(&log)?
            .lines()
            .filter(|l| {
                l.contains(&format!(
                    "GET /spindle/sha256/{}/{}/{sha}",
                    &sha[..2],
                    &sha[2..4]
                ))
            })
            .map(str::to_string)
            .collect())
    };
    let mut seen = gets()?.len();
    for _ in 0..40 {
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        let now = gets()?.len();
        if now == seen && now > 0 {
            break;
        }
        seen = now;
    }
    let last = gets()?
        .last()
        .cloned()
        .context("no GET of the image reached Garage")?;
    let serving = port_of(last.rsplit(' ').next().unwrap_or_default())?;
    let node = garages
        .iter()
        .position(|g| port_of(g).is_ok_and(|p| p == serving))
        .context("the serving port is none of the Garage nodes'")?
        + 1;
    let pid = std::fs::read_to_string(dir.join(format!("pids/garage-{node}.pid")))?;
    ensure!(
        Command::new("kill")
            .args(["-9", pid.trim()])
            .status()?
            .success(),
        "kill -9 Garage node {node}"
    );
    while let Some(chunk) = download.chunk().await? {
        got.extend_from_slice(&chunk);
    }
    ensure!(
        got.len() == data.len() && sha256_hex(&got) == sha,
        "the download with Garage node {node} killed: {} of {} bytes, or other bytes",
        got.len(),
        data.len()
    );
    let more = iso_image(2 * 8 * 1024 * 1024 + 5, 2204);
    let (id, _) = drill.upload(&more, "while-down.iso").await?;
    ensure!(
        served_sha(&http, &lb, id).await? == sha256_hex(&more),
        "uploaded with a Garage node down"
    );
    println!(
        "drill: Garage node {node} killed after serving the download's last piece; download and a new upload completed"
    );
    garage_node_killed_mid_upload(&drill, &garages, node).await?;

    let ports: Vec<u16> = nodes
        .iter()
        .chain(&garages)
        .chain([&lb, &s3])
        .map(|u| port_of(u))
        .collect::<Result<_>>()?;
    cluster.down()?;
    for p in ports {
        ensure!(
            std::net::TcpStream::connect(("127.0.0.1", p)).is_err(),
            "port {p} still answers after down"
        );
    }
    Ok(())
}

fn dir_size(dir: &Path) -> Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_size(&entry.path())?
        } else {
            meta.len()
        };
    }
    Ok(total)
}

/// Uploads `data` in 8 MiB PATCHes (the nodes' part size) sent to each of `bases` in turn,
/// and registers it as an open disc with `extra` fields: the disc's id and the PATCHes sent.
async fn upload(
    http: &reqwest::Client,
    token: &str,
    bases: &[String],
    data: &[u8],
    name: &str,
    extra: serde_json::Value,
) -> Result<(i64, usize)> {
    let mut fields = serde_json::json!({"open": true});
    if let (Some(f), Some(e)) = (fields.as_object_mut(), extra.as_object()) {
        f.extend(e.clone());
    }
    common::upload_disc(http, token, bases, data, 8 * 1024 * 1024, name, fields).await
}

/// Creates a tus upload of `data` on `base`: its address (the path).
async fn create_upload(
    http: &reqwest::Client,
    token: &str,
    base: &str,
    data: &[u8],
    name: &str,
) -> Result<String> {
    let r = http
        .post(format!("{base}/api/v1/uploads"))
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Length", data.len().to_string())
        .header("Upload-Metadata", metadata(&sha256_hex(data), name))
        .send()
        .await?;
    ensure!(r.status() == 201, "create: {}", r.status());
    Ok(header(&r, "location"))
}

/// A PATCH of a whole upload of `len` bytes from offset 0 to `url`, whose body is what is sent
/// on the channel (the body stalls until more is sent, and ends when the sender is dropped).
fn stalled_patch(
    http: &reqwest::Client,
    token: &str,
    url: &str,
    len: usize,
) -> (
    tokio::sync::mpsc::Sender<Vec<u8>>,
    tokio::task::JoinHandle<reqwest::Result<reqwest::Response>>,
) {
    let (tx, rx) = tokio::sync::mpsc::channel::<Vec<u8>>(4);
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, std::io::Error>(b), rx))
    });
    let patch = http
        .patch(url)
        .bearer_auth(token)
        .header("Tus-Resumable", "1.0.0")
        .header("Upload-Offset", "0")
        .header("Content-Type", "application/offset+octet-stream")
        .header("Content-Length", len.to_string())
        .body(reqwest::Body::wrap_stream(body))
        .send();
    (tx, tokio::spawn(patch))
}

/// Registers the finished upload `sha` as an open disc and checks that `base` serves its
/// bytes: the disc's id.
async fn register_served(
    http: &reqwest::Client,
    token: &str,
    base: &str,
    sha: &str,
    name: &str,
) -> Result<i64> {
    let id = common::register_disc(
        http,
        token,
        base,
        sha,
        name,
        serde_json::json!({"open": true}),
    )
    .await?;
    ensure!(
        served_sha(http, base, id).await? == sha,
        "disc {id} is served with other bytes"
    );
    Ok(id)
}

/// The SHA-256 of a disc's image as `base` serves it.
async fn served_sha(http: &reqwest::Client, base: &str, id: i64) -> Result<String> {
    let got = http
        .get(format!("{base}/api/v1/discs/{id}/image"))
        .send()
        .await?
        .bytes()
        .await?;
    Ok(sha256_hex(&got))
}

/// Each node's count of finished `work` items, once both nodes' queues are empty.
async fn settled_work(http: &reqwest::Client, nodes: &[String], work: &str) -> Result<Vec<u64>> {
    let metric = |text: &str, name: &str| -> Result<u64> {
        let v =
            common::metric_value(text, name).with_context(|| format!("no {name} in /metrics"))?;
        Ok(v as u64)
    };
    let queue = if work == "index" {
        "spindle_index_queue"
    } else {
        "spindle_link_queue"
    };
    let done = format!("spindle_background_work_done_total{{work=\"{work}\"}}");
    // Generous: this waits for the queues to empty under the suite's load, it does not time it.
    for _ in 0..1200 {
        let mut counts = Vec::new();
        let mut waiting = 0;
        for node in nodes {
            let text = http
                .get(format!("{node}/metrics"))
                .send()
                .await?
                .text()
                .await?;
            waiting += metric(&text, queue)?;
            counts.push(metric(&text, &done)?);
        }
        if waiting == 0 {
            return Ok(counts);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    anyhow::bail!("the {work} queue did not empty")
}

/// What the drills below share: the cluster's folder, its nodes, its balancer, a librarian's
/// token and a connection to its database (to see leases and claims, and to move a drill's
/// usage into a closed day).
struct Drill<'a> {
    dir: &'a Path,
    http: reqwest::Client,
    nodes: &'a [String],
    lb: &'a str,
    token: &'a str,
    pg: sqlx::PgPool,
}

/// A `export NAME='value'` line of DIR/cluster.env.
fn cluster_var(dir: &Path, name: &str) -> Result<String> {
    let env = std::fs::read_to_string(dir.join("cluster.env"))?;
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("export {name}=")))
        .map(|v| v.trim_matches(|c| c == '\'' || c == '"').to_string())
        .with_context(|| format!("no {name} in cluster.env"))
}

impl Drill<'_> {
    /// Uploads `data` through the balancer as an open disc: its id and the PATCHes sent.
    async fn upload(&self, data: &[u8], name: &str) -> Result<(i64, usize)> {
        upload(
            &self.http,
            self.token,
            &[self.lb.to_string()],
            data,
            name,
            serde_json::json!({}),
        )
        .await
    }

    /// `work` items node `n` (0 or 1) finished since it started (0 before its first).
    async fn done(&self, n: usize, work: &str) -> Result<u64> {
        let text = self
            .http
            .get(format!("{}/metrics", self.nodes[n]))
            .send()
            .await?
            .text()
            .await?;
        let name = format!("spindle_background_work_done_total{{work=\"{work}\"}}");
        Ok(common::metric_value(&text, &name).unwrap_or(0.0) as u64)
    }

    /// The node (0 or 1) whose process is the one a lease holder names (`host:pid:…`).
    fn node_of(&self, holder: &str) -> Result<usize> {
        let pid = holder
            .split(':')
            .nth(1)
            .with_context(|| format!("no pid in {holder}"))?;
        (0..2)
            .find(|n| {
                std::fs::read_to_string(self.dir.join(format!("pids/spindle-{}.pid", n + 1)))
                    .is_ok_and(|p| p.trim() == pid)
            })
            .with_context(|| format!("{holder} is neither node"))
    }

    fn kill(&self, n: usize) -> Result<()> {
        let pid = std::fs::read_to_string(self.dir.join(format!("pids/spindle-{}.pid", n + 1)))?;
        ensure!(
            Command::new("kill")
                .args(["-9", pid.trim()])
                .status()?
                .success(),
            "kill -9 node {}",
            n + 1
        );
        Ok(())
    }

    fn restart(&self, which: &str) -> Result<()> {
        let out = Command::new(SCRIPT)
            .arg("restart")
            .arg(self.dir)
            .arg(which)
            .output()?;
        ensure!(
            out.status.success(),
            "cluster.sh restart {which}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    }

    /// Waits until `f` gives Some (generous: an outcome under the suite's load, not a time).
    async fn until<T, F, Fut>(&self, what: &str, mut f: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>>>,
    {
        for _ in 0..1200 {
            if let Some(v) = f().await? {
                return Ok(v);
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        anyhow::bail!("{what}: not within 120 s")
    }

    async fn verified(&self, sha: &str) -> Result<bool> {
        let at: Option<i64> = sqlx::query_scalar("SELECT verified_at FROM blobs WHERE sha256 = $1")
            .bind(sha)
            .fetch_one(&self.pg)
            .await?;
        Ok(at.is_some())
    }

    /// An anonymous reader's GET, sent to `base` from `ip` (the nodes trust the loopback
    /// balancer's X-Forwarded-For), read to the end; its status.
    async fn read_as(&self, base: &str, ip: &str, path: &str) -> Result<u16> {
        let r = self
            .http
            .get(format!("{base}{path}"))
            .header("X-Forwarded-For", ip)
            .header(
                "User-Agent",
                "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
            )
            .send()
            .await?;
        let status = r.status().as_u16();
        r.bytes().await?;
        Ok(status)
    }

    /// Waits until both nodes have written `n` usage events of `discs` (they write every
    /// second), and checks there are no more: each request recorded once, by the node that
    /// answered it.
    async fn events_of(&self, discs: &[i64], n: i64) -> Result<()> {
        let count = || async {
            let c: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM usage_events WHERE disc_id = ANY($1)")
                    .bind(discs)
                    .fetch_one(&self.pg)
                    .await?;
            anyhow::Ok(c)
        };
        self.until("the drill's usage events", || async {
            Ok((count().await? >= n).then_some(()))
        })
        .await?;
        tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
        let c = count().await?;
        ensure!(
            c == n,
            "{c} usage events for {n} requests of discs {discs:?}"
        );
        Ok(())
    }

    /// Moves the events of `discs` back `days` days (a closed day, for the rollup to take).
    async fn age_events(&self, discs: &[i64], days: i64) -> Result<()> {
        sqlx::query("UPDATE usage_events SET ts_ms = ts_ms - $2 WHERE disc_id = ANY($1)")
            .bind(discs)
            .bind(days * 86_400_000)
            .execute(&self.pg)
            .await?;
        Ok(())
    }

    /// The rolled-up figures of `day` for readers no member is attributed: (requests,
    /// unique requests, downloads), once the day is rolled.
    async fn rolled(&self, day: &str) -> Result<(i64, i64, i64)> {
        self.until(&format!("{day} rolled up"), || async {
            let rolled: Option<i64> =
                sqlx::query_scalar("SELECT events FROM usage_days WHERE day = $1")
                    .bind(day)
                    .fetch_optional(&self.pg)
                    .await?;
            Ok(rolled.map(|_| ()))
        })
        .await?;
        let (tir, uir, downloads): (i64, i64, i64) = sqlx::query_as(
            "SELECT CAST(COALESCE(SUM(tir), 0) AS BIGINT), CAST(COALESCE(SUM(uir), 0) AS BIGINT),
                    CAST(COALESCE(SUM(downloads), 0) AS BIGINT)
             FROM usage_daily WHERE day = $1 AND member_id = -1",
        )
        .bind(day)
        .fetch_one(&self.pg)
        .await?;
        Ok((tir, uir, downloads))
    }
}

/// The UTC day (the cluster's `stats.time_zone`) `days` days ago.
fn day_ago(days: i64) -> String {
    spindle::calendar::Day::of_ms(spindle::calendar::now_ms() - days * 86_400_000).to_string()
}

/// Issue 22, item 2, limits and caches: what must be shared between the nodes is. A personal
/// token made on one node works on the other and is refused by the first the moment the
/// second revokes it (no node caches tokens); a staff session opened on node 1 is good on
/// node 2, and signing out there ends it on node 1 (sessions and their CSRF keys live in the
/// database).
async fn shared_tokens_and_sessions(d: &Drill<'_>) -> Result<()> {
    let (one, two) = (&d.nodes[0], &d.nodes[1]);
    let r = d
        .http
        .post(format!("{one}/api/v1/tokens"))
        .bearer_auth(d.token)
        .json(&serde_json::json!({"name": "drill"}))
        .send()
        .await?;
    ensure!(r.status() == 201, "token on node 1: {}", r.status());
    let v: serde_json::Value = r.json().await?;
    let (token, id) = (
        v["token"].as_str().context("token")?.to_string(),
        v["id"].as_i64().context("id")?,
    );
    let list = |base: &str| {
        d.http
            .get(format!("{base}/api/v1/tokens"))
            .bearer_auth(&token)
            .send()
    };
    ensure!(list(two).await?.status() == 200, "node 1's token on node 2");
    let r = d
        .http
        .delete(format!("{two}/api/v1/tokens/{id}"))
        .bearer_auth(d.token)
        .send()
        .await?;
    ensure!(r.status() == 204, "revoke on node 2: {}", r.status());
    let r = list(one).await?;
    ensure!(
        r.status() == 401,
        "revoked on node 2, still good on node 1: {}",
        r.status()
    );

    let browser = reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = browser
        .get(format!("{one}/staff/sign-in"))
        .send()
        .await?
        .text()
        .await?;
    let csrf = common::form_token(&page)?;
    let r = browser
        .post(format!("{one}/staff/sign-in"))
        .form(&[
            ("token", d.token),
            ("csrf", &csrf),
            ("next", "/staff/discs"),
        ])
        .send()
        .await?;
    ensure!(r.status() == 303, "sign-in on node 1: {}", r.status());
    let session = r
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| {
            c.split(';')
                .next()
                .filter(|c| c.starts_with("spindle_staff="))
        })
        .context("no staff session cookie")?
        .to_string();
    let r = browser.get(format!("{two}/staff/discs")).send().await?;
    ensure!(
        r.status() == 200,
        "node 1's session on node 2: {}",
        r.status()
    );
    let csrf = common::form_token(&r.text().await?)?;
    let r = browser
        .post(format!("{two}/staff/sign-out"))
        .form(&[("csrf", &csrf)])
        .send()
        .await?;
    ensure!(r.status() == 303, "sign-out on node 2: {}", r.status());
    // The old cookie, sent again to node 1 by hand (the browser forgot it).
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?
        .get(format!("{one}/staff/discs"))
        .header(reqwest::header::COOKIE, &session)
        .send()
        .await?;
    ensure!(
        r.status() == 303,
        "signed out on node 2, still signed in on node 1: {}",
        r.status()
    );
    println!(
        "drill: a token revoked and a session ended on one node are refused by the other at once"
    );
    Ok(())
}

/// Issue 22, item 2: usage from both nodes counted once, and the rollup done once. A reader
/// downloads disc one from node 1 and again from node 2 a moment later (a double-click across
/// the nodes: one request, as the day keys are shared), and disc two from node 2: four events,
/// each written once by the node that answered. Moved into yesterday, the day is rolled up by
/// the one node holding the rollup's lease (the other rolls nothing) into two requests and two
/// downloads. Then the lease holder is killed: the other node takes the lease once it has
/// lapsed and rolls the next closed day; the killed node is started again.
async fn usage_counted_once(d: &Drill<'_>) -> Result<()> {
    let mut discs = Vec::new();
    for i in 0..2 {
        let data = iso_image(300_000 + 4096 * i, 2230 + i as u64);
        let (id, _) = d.upload(&data, "used.iso").await?;
        discs.push(id);
    }
    let (one, two) = (&d.nodes[0], &d.nodes[1]);
    let reader = "198.51.100.7";
    for (base, disc) in [(one, discs[0]), (two, discs[0]), (two, discs[1])] {
        let status = d
            .read_as(base, reader, &format!("/api/v1/discs/{disc}/image"))
            .await?;
        ensure!(status == 200, "download of {disc} from {base}: {status}");
    }
    let status = d
        .read_as(one, reader, &format!("/api/v1/discs/{}", discs[1]))
        .await?;
    ensure!(status == 200, "disc page from node 1: {status}");
    d.events_of(&discs, 4).await?;
    let rolled_before = [d.done(0, "rollup").await?, d.done(1, "rollup").await?];
    d.age_events(&discs, 1).await?;
    let yesterday = day_ago(1);
    let figures = d.rolled(&yesterday).await?;
    ensure!(
        figures == (2, 2, 2),
        "{yesterday}: (requests, unique requests, downloads) {figures:?}, not (2, 2, 2)"
    );
    let (holder, _) = spindle::db::leases::holder(
        &spindle::db::Db::Postgres(d.pg.clone()),
        spindle::usage::rollup::LEASE,
    )
    .await?
    .context("nobody holds the rollup's lease")?;
    let leader = d.node_of(&holder)?;
    let rolled = [
        d.done(0, "rollup").await? - rolled_before[0],
        d.done(1, "rollup").await? - rolled_before[1],
    ];
    ensure!(
        rolled[leader] == 1 && rolled[1 - leader] == 0,
        "days rolled per node {rolled:?}; node {} holds the lease",
        leader + 1
    );

    d.kill(leader)?;
    let other = 1 - leader;
    let rolled_before = d.done(other, "rollup").await?;
    let status = d
        .read_as(d.lb, reader, &format!("/api/v1/discs/{}/image", discs[1]))
        .await?;
    ensure!(
        status == 200,
        "download with node {} dead: {status}",
        leader + 1
    );
    d.events_of(&discs, 5).await?;
    // The newest event alone goes two days back.
    sqlx::query(
        "UPDATE usage_events SET ts_ms = ts_ms - 172800000
         WHERE id = (SELECT MAX(id) FROM usage_events WHERE disc_id = ANY($1))",
    )
    .bind(&discs)
    .execute(&d.pg)
    .await?;
    let two_days_ago = day_ago(2);
    let figures = d.rolled(&two_days_ago).await?;
    ensure!(figures == (1, 1, 1), "{two_days_ago}: {figures:?}");
    let took = d.done(other, "rollup").await? - rolled_before;
    ensure!(took == 1, "node {} rolled {took} days", other + 1);
    d.restart(&format!("spindle-{}", leader + 1))?;
    println!(
        "drill: usage from both nodes counted once ({yesterday}: 2 requests, one a double-click across the nodes); rolled by node {} alone; killed, node {} rolled {two_days_ago}",
        leader + 1,
        other + 1
    );
    Ok(())
}

/// Issue 22, item 2: fixity done once. Every blob stored so far was re-hashed once between the
/// two nodes (each claims the blob it reads). Then the node reading a 40 MiB image (at the
/// cluster's 16 MB/s) is killed mid-read: its claim lapses (3 s) and the other node checks the
/// blob; the killed node is started again.
async fn fixity_once(d: &Drill<'_>) -> Result<()> {
    let stored = || async {
        let (blobs, unverified): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), CAST(COALESCE(SUM(CASE WHEN verified_at IS NULL THEN 1 ELSE 0 END), 0) AS BIGINT) FROM blobs",
        )
        .fetch_one(&d.pg)
        .await?;
        anyhow::Ok((blobs, unverified))
    };
    let blobs = d
        .until("every blob re-hashed", || async {
            let (blobs, unverified) = stored().await?;
            Ok((unverified == 0).then_some(blobs))
        })
        .await?;
    // Each blob's recorded checks (a node restarted by the drill above lost its counters, so
    // the database says it), and who did them.
    let twice: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM blobs WHERE fixity_checks <> 1")
        .fetch_one(&d.pg)
        .await?;
    ensure!(
        twice == 0,
        "{twice} of {blobs} blobs were not re-hashed exactly once"
    );
    let by: Vec<String> = sqlx::query_scalar("SELECT fixity_claimed_by FROM blobs")
        .fetch_all(&d.pg)
        .await?;
    let mut checked = std::collections::BTreeMap::<String, usize>::new();
    for pass in by {
        let process = pass.split(':').take(2).collect::<Vec<_>>().join(":");
        *checked.entry(process).or_default() += 1;
    }
    let data = iso_image(40 * 1024 * 1024, 2240);
    let sha = sha256_hex(&data);
    d.upload(&data, "checked.iso").await?;
    let holder: String = d
        .until("a node reading the new blob", || async {
            let claim: Option<(Option<String>, Option<i64>)> = sqlx::query_as(
                "SELECT fixity_claimed_by, fixity_claimed_until FROM blobs WHERE sha256 = $1",
            )
            .bind(&sha)
            .fetch_optional(&d.pg)
            .await?;
            Ok(match claim {
                Some((Some(by), Some(until))) if until > spindle::calendar::now_ms() => Some(by),
                _ => None,
            })
        })
        .await?;
    ensure!(!d.verified(&sha).await?, "checked before the kill");
    let reader = d.node_of(&holder)?;
    let other = 1 - reader;
    let before = d.done(other, "fixity").await?;
    d.kill(reader)?;
    d.until("the other node checked the blob", || async {
        Ok(d.verified(&sha).await?.then_some(()))
    })
    .await?;
    let by: String = sqlx::query_scalar("SELECT fixity_claimed_by FROM blobs WHERE sha256 = $1")
        .bind(&sha)
        .fetch_one(&d.pg)
        .await?;
    ensure!(
        d.node_of(&by)? == other,
        "checked by {by}, not node {}",
        other + 1
    );
    ensure!(
        d.done(other, "fixity").await? == before + 1,
        "node {} did not count its check",
        other + 1
    );
    d.restart(&format!("spindle-{}", reader + 1))?;
    println!(
        "drill: {blobs} blobs re-hashed once between the nodes {checked:?}; node {} killed mid-read, node {} checked its blob",
        reader + 1,
        other + 1
    );
    Ok(())
}

/// The Spindle nodes' warnings and errors (the last 20 of each), for a failed drill's message.
fn log_warnings(dir: &Path) -> String {
    (1..=2)
        .map(|n| {
            let log = std::fs::read_to_string(dir.join(format!("node{n}/server.log")))
                .unwrap_or_default();
            let lines: Vec<&str> = log
                .lines()
                .filter(|l| l.contains("WARN") || l.contains("ERROR"))
                .collect();
            format!(
                "node {n}:\n{}",
                lines[lines.len().saturating_sub(20)..].join("\n")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Issue 22, item 2: a Garage node killed mid-upload — the one that stored the upload's last
/// part — and its rejoining. The node killed in the download drill is started again first
/// (`restart` returns once every running node counts it healthy). Then an upload sends a part
/// and a half through the balancer and stalls; the node that took the last part's PUT is
/// killed; the rest arrives, and the upload completes through the other two (quorum) with the
/// right hash. The killed node is started again, and is then needed: with another node killed,
/// an upload's quorum is the rejoined node and the third, and it completes and reads back.
async fn garage_node_killed_mid_upload(
    d: &Drill<'_>,
    garages: &[String],
    down: usize,
) -> Result<()> {
    d.restart(&format!("garage-{down}"))?;
    let data = iso_image(3 * 8 * 1024 * 1024 + 4321, 2250);
    let sha = sha256_hex(&data);
    let part = 8 * 1024 * 1024;
    let location = create_upload(&d.http, d.token, d.lb, &data, "garage-killed.iso").await?;
    let log = d.dir.join("nginx/access.log");
    let puts = || -> Result<Vec<String>> {
        Ok(std::fs::read_to_string(&log)?
            .lines()
            .filter(|l| l.contains("\"PUT /spindle/"))
            .map(str::to_string)
            .collect())
    };
    let puts_before = puts()?.len();
    let (tx, patch) = stalled_patch(&d.http, d.token, &format!("{}{location}", d.lb), data.len());
    tx.send(data[..part + part / 2].to_vec()).await?;
    let last = d
        .until("the first part stored", || async {
            let now = puts()?;
            Ok(now.get(puts_before..).and_then(|new| new.last().cloned()))
        })
        .await?;
    let serving = port_of(last.rsplit(' ').next().unwrap_or_default())?;
    let node = garages
        .iter()
        .position(|g| port_of(g).is_ok_and(|p| p == serving))
        .context("the PUT's port is none of the Garage nodes'")?
        + 1;
    let pid = std::fs::read_to_string(d.dir.join(format!("pids/garage-{node}.pid")))?;
    ensure!(
        Command::new("kill")
            .args(["-9", pid.trim()])
            .status()?
            .success(),
        "kill -9 Garage node {node}"
    );
    tx.send(data[part + part / 2..].to_vec()).await?;
    drop(tx);
    let r = patch.await??;
    ensure!(
        r.status() == 204,
        "the PATCH with Garage node {node} killed: {} {}\n{}",
        r.status(),
        r.text().await?,
        log_warnings(d.dir)
    );
    register_served(&d.http, d.token, d.lb, &sha, "garage-killed.iso")
        .await
        .with_context(|| format!("the upload with Garage node {node} killed"))?;
    d.restart(&format!("garage-{node}"))?;
    let other = (1..=3).find(|n| *n != node).context("a third node")?;
    let pid = std::fs::read_to_string(d.dir.join(format!("pids/garage-{other}.pid")))?;
    ensure!(
        Command::new("kill")
            .args(["-9", pid.trim()])
            .status()?
            .success(),
        "kill -9 Garage node {other}"
    );
    let more = iso_image(8 * 1024 * 1024 + 3, 2251);
    let (id, _) = d.upload(&more, "rejoined.iso").await?;
    ensure!(
        served_sha(&d.http, d.lb, id).await? == sha256_hex(&more),
        "uploaded with node {node} rejoined and node {other} down"
    );
    d.restart(&format!("garage-{other}"))?;
    println!(
        "drill: Garage node {node} killed after storing an upload's part; the upload completed; restarted, it made the quorum of the next upload with node {other} down"
    );
    garage_nodes_catch_up(d).await
}

/// The blocks stored under each Garage node's data directory, by hash (a compressed block's
/// file name ends in `.zst`).
fn garage_blocks(dir: &Path, n: usize) -> Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    let mut todo = vec![dir.join(format!("garage/n{n}/data"))];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                todo.push(entry.path());
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            let hash = name.strip_suffix(".zst").unwrap_or(&name);
            if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
                out.insert(hash.to_string());
            }
        }
    }
    Ok(out)
}

/// For each Garage node, the blocks another node holds that it lacks and that are still
/// referenced (`garage block info` on a node holding it: a block no object uses any more waits
/// on disk for Garage's collection, and is no node's to fetch).
fn garage_missing(dir: &Path) -> Result<BTreeMap<usize, Vec<String>>> {
    let held: Vec<BTreeSet<String>> = (1..=3)
        .map(|n| garage_blocks(dir, n))
        .collect::<Result<_>>()?;
    let mut referenced: BTreeMap<String, bool> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for n in 1..=3 {
        let mut missing = Vec::new();
        for (h, blocks) in held.iter().enumerate() {
            for hash in blocks.difference(&held[n - 1]) {
                if missing.contains(hash) {
                    continue;
                }
                if !referenced.contains_key(hash) {
                    let config = dir.join(format!("garage/n{}/garage.toml", h + 1));
                    let out = Command::new("garage")
                        .arg("-c")
                        .arg(&config)
                        .args(["block", "info", hash])
                        .output()?;
                    let text = String::from_utf8_lossy(&out.stdout).into_owned();
                    let rc = text
                        .lines()
                        .find_map(|l| l.strip_prefix("Refcount:"))
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .with_context(|| {
                            format!(
                                "garage block info {hash}: {text}{}",
                                String::from_utf8_lossy(&out.stderr)
                            )
                        })?;
                    referenced.insert(hash.clone(), rc > 0);
                }
                if referenced.get(hash) == Some(&true) {
                    missing.push(hash.clone());
                }
            }
        }
        out.insert(n, missing);
    }
    Ok(out)
}

/// Issue 22, item 2: the Garage nodes killed above catch up. Each missed the blocks written
/// while it was down (seen first: else this proves nothing); once their tables are synced
/// (`cluster.sh repair`), each fetches what it missed, and every node holds every block that
/// is still referenced.
async fn garage_nodes_catch_up(d: &Drill<'_>) -> Result<()> {
    let before = garage_missing(d.dir)?;
    ensure!(
        before.values().any(|m| !m.is_empty()),
        "no Garage node missed a block while it was down: {before:?}"
    );
    let started = std::time::Instant::now();
    let out = Command::new(SCRIPT).arg("repair").arg(d.dir).output()?;
    ensure!(
        out.status.success(),
        "cluster.sh repair: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Each node fetches a block 2 x its RPC timeout (30 s) after it learns of it; generous
    // beyond that: an outcome under the suite's load, not a time.
    let mut left = before.clone();
    while left.values().any(|m| !m.is_empty()) {
        ensure!(
            started.elapsed() < std::time::Duration::from_secs(300),
            "Garage nodes still missing blocks 300 s after the repair: {left:?} (before: {before:?})"
        );
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        left = garage_missing(d.dir)?;
    }
    let missed: Vec<String> = before
        .iter()
        .map(|(n, m)| format!("node {n} {}", m.len()))
        .collect();
    println!(
        "drill: Garage nodes caught up on the blocks they missed ({}) {:?} after `cluster.sh repair`",
        missed.join(", "),
        started.elapsed()
    );
    Ok(())
}

/// Starts a cluster under `dir` with `settings` (SPINDLE_* variables): its service lines.
fn cluster_up(
    dir: &Path,
    settings: &[(&str, &str)],
) -> Result<(Cluster, BTreeMap<String, Vec<String>>)> {
    let mut cmd = Command::new(SCRIPT);
    cmd.arg("up")
        .arg(dir)
        .env("CLUSTER_SPINDLE_BIN", env!("CARGO_BIN_EXE_spindle"));
    for (k, v) in settings {
        cmd.env(k, v);
    }
    let out = cmd.output()?;
    let cluster = Cluster {
        dir: dir.to_path_buf(),
        up: true,
    };
    ensure!(
        out.status.success(),
        "cluster.sh up: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Ok((cluster, services(&String::from_utf8(out.stdout)?)))
}

/// Issue 22, item 4: PostgreSQL failover under load. The cluster's database is a primary with
/// a synchronous streaming replica behind nginx's TCP proxy. With an upload half done and
/// readers and a librarian working through the balancer, the primary is stopped as a crash
/// would stop it and the replica promoted two seconds later (`cluster.sh failover`). The nodes
/// are not restarted: every answer during the switch is right or a 503 with Retry-After (none a
/// 500, none wrong bytes; writes meeting the unpromoted replica are such 503s), writes work
/// again once the replica is promoted, and the upload resumes from the offset it had stored and
/// completes with the right hash.
#[tokio::test]
async fn postgres_fails_over_without_a_restart() -> Result<()> {
    let tmp = tempfile::tempdir()?;
    let dir = tmp.path().join("cluster");
    let (mut cluster, s) = cluster_up(&dir, &[])?;
    let lb = s.get("LB").and_then(|v| v.first()).cloned().context("LB")?;
    let http = common::http();
    cli(&dir, &["member", "add", "FO", "--name", "Failover library"])?;
    let token = cli(
        &dir,
        &["token", "create", "--role", "librarian", "--member", "FO"],
    )?;
    let data = iso_image(2 * 1024 * 1024 + 77, 2260);
    let (disc, _) = upload(
        &http,
        &token,
        std::slice::from_ref(&lb),
        &data,
        "failover.iso",
        serde_json::json!({}),
    )
    .await?;

    // An upload with its first part stored.
    let big = iso_image(2 * 8 * 1024 * 1024 + 999, 2261);
    let sha = sha256_hex(&big);
    let part = 8 * 1024 * 1024;
    let location = create_upload(&http, &token, &lb, &big, "in-flight.iso").await?;
    let patch = |offset: usize, body: Vec<u8>| {
        http.patch(format!("{lb}{location}"))
            .bearer_auth(&token)
            .header("Tus-Resumable", "1.0.0")
            .header("Upload-Offset", offset.to_string())
            .header("Content-Type", "application/offset+octet-stream")
            .body(body)
            .send()
    };
    let r = patch(0, big[..part].to_vec()).await?;
    ensure!(r.status() == 204, "first part: {}", r.status());

    // The reader's downloads counted before the load: each range from byte 0 answered during
    // it is one more event, none lost to the failover.
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&cluster_var(&dir, "CLUSTER_PG")?)
        .await?;
    let downloads = |pg: sqlx::PgPool| async move {
        // Distinct clicks: a batch the old primary stored but could not acknowledge is
        // written again, and its copy is the same click (counted once by COUNTER's rules).
        sqlx::query_scalar::<_, i64>(
            "SELECT COUNT(*) FROM (SELECT DISTINCT ts_ms, url_key, dc_key FROM usage_events
             WHERE disc_id = $1 AND action = 'image') AS clicks",
        )
        .bind(disc)
        .fetch_one(&pg)
        .await
    };
    let counted_before = downloads(pg.clone()).await?;

    // Readers and a librarian at work: every answer checked.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let load = {
        let (http, lb, token, stop) = (http.clone(), lb.clone(), token.clone(), stop.clone());
        let head = data[..4096].to_vec();
        tokio::spawn(async move {
            let mut seen: BTreeMap<String, u64> = BTreeMap::new();
            let mut wrong = Vec::new();
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += 1;
                let (what, r) = match n % 3 {
                    0 => (
                        "page",
                        http.get(format!("{lb}/api/v1/discs/{disc}")).send().await,
                    ),
                    1 => (
                        "range",
                        http.get(format!("{lb}/api/v1/discs/{disc}/image"))
                            .header("Range", "bytes=0-4095")
                            .send()
                            .await,
                    ),
                    _ => (
                        "write",
                        http.post(format!("{lb}/api/v1/tokens"))
                            .bearer_auth(&token)
                            .json(&serde_json::json!({"name": format!("load {n}")}))
                            .send()
                            .await,
                    ),
                };
                let r = match r {
                    Ok(r) => r,
                    Err(e) => {
                        wrong.push(format!("{what}: {e}"));
                        continue;
                    }
                };
                let status = r.status().as_u16();
                let retry = r.headers().contains_key("retry-after");
                let body = r.bytes().await.unwrap_or_default();
                let right = match (what, status) {
                    ("page", 200) => serde_json::from_slice::<serde_json::Value>(&body)
                        .is_ok_and(|v| v["id"] == disc),
                    ("range", 206) => body[..] == head[..],
                    ("write", 201) => true,
                    (_, 503) => retry,
                    _ => false,
                };
                if !right {
                    wrong.push(format!(
                        "{what}: {status} {}",
                        String::from_utf8_lossy(&body[..body.len().min(200)])
                    ));
                }
                *seen.entry(format!("{what} {status}")).or_default() += 1;
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            (seen, wrong)
        })
    };
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    // Promoted two seconds after the primary stops: the nodes meanwhile reach a replica that
    // reads and refuses writes, which must be 503s, not 500s. (Off the runtime's thread: the
    // load runs on it meanwhile.)
    let failover_dir = dir.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(SCRIPT)
            .arg("failover")
            .arg(&failover_dir)
            .env("CLUSTER_PROMOTE_AFTER", "2")
            .output()
    })
    .await??;
    ensure!(
        out.status.success(),
        "cluster.sh failover: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let switched = std::time::Instant::now();
    // Writes work again on the promoted replica (generous: an outcome, not a time).
    let mut back = None;
    for _ in 0..600 {
        let r = http
            .post(format!("{lb}/api/v1/tokens"))
            .bearer_auth(&token)
            .json(&serde_json::json!({"name": "after"}))
            .send()
            .await?;
        if r.status() == 201 {
            back = Some(switched.elapsed());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let back = back.context("writes did not come back after the failover")?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (seen, wrong) = load.await?;
    ensure!(
        wrong.is_empty(),
        "wrong answers during the failover: {wrong:?}"
    );
    ensure!(
        seen.get("write 503").is_some_and(|n| *n > 0),
        "no write met the replica before its promotion: {seen:?}"
    );
    // Every range answered is counted: the nodes held the events the database refused, and
    // wrote them once the promoted replica took writes (generous: an outcome, not a time).
    let answered = seen.get("range 206").copied().unwrap_or(0) as i64;
    ensure!(
        answered > 0,
        "no download was answered during the load: {seen:?}"
    );
    pg.close().await;
    let pg = sqlx::postgres::PgPoolOptions::new()
        .max_connections(1)
        .connect(&cluster_var(&dir, "CLUSTER_PG")?)
        .await?;
    let mut counted = 0;
    for _ in 0..300 {
        counted = downloads(pg.clone()).await? - counted_before;
        if counted >= answered {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    ensure!(
        counted == answered,
        "{answered} downloads answered during the failover, {counted} counted\n{}",
        log_warnings(&dir)
    );

    // The upload goes on from the offset the old primary acknowledged.
    let r = http
        .head(format!("{lb}{location}"))
        .bearer_auth(&token)
        .header("Tus-Resumable", "1.0.0")
        .send()
        .await?;
    ensure!(r.status() == 200, "HEAD after the failover: {}", r.status());
    let mut offset: usize = header(&r, "upload-offset").parse()?;
    ensure!(
        offset == part,
        "the stored offset after the failover is {offset}"
    );
    while offset < big.len() {
        let r = patch(offset, big[offset..].to_vec()).await?;
        ensure!(r.status() == 204, "PATCH at {offset}: {}", r.status());
        offset = header(&r, "upload-offset").parse()?;
    }
    register_served(&http, &token, &lb, &sha, "in-flight.iso")
        .await
        .context("the upload finished after the failover")?;
    println!(
        "drill: PostgreSQL failed over; writes back after {back:?}; answers {seen:?}; {counted} downloads counted"
    );
    cluster.down()?;
    Ok(())
}
