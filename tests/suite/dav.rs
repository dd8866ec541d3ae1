//! A disc as a read-only WebDAV drive (issue 19, part 1), on both backend pairs: OPTIONS,
//! PROPFIND at depths 0 and 1 on every folder of a real Rock Ridge + Joliet disc (Chinese
//! names, spaces, `#`, `?`, `&`, `%`, a symlink, an empty file) checked against bsdtar's
//! extraction, hrefs inside the collection, GET and Range with the file routes' ETags, every
//! write refused with nothing changed, a closed disc opened only through a signed link in the
//! path, and `rclone copy` of the whole disc equal to bsdtar's extraction byte for byte.

use crate::common;

use std::collections::BTreeMap;
use std::process::Command;

use anyhow::{Context, Result, bail, ensure};
use common::discs::{Ref, Tool, extract, fixture, sha, utf8, walk};
use common::{Backend, PART, TestApp, header, sha256_hex, wait_indexed};
use reqwest::Method;
use serde_json::{Value, json};

on_both_backends!(a_disc_is_a_read_only_webdav_drive);

fn method(name: &str) -> Result<Method> {
    Ok(Method::from_bytes(name.as_bytes())?)
}

/// One PROPFIND answer's members: (href, decoded path inside the disc, properties).
struct Member {
    href: String,
    path: String,
    dir: bool,
    length: Option<u64>,
    modified: Option<String>,
    etag: Option<String>,
}

async fn propfind(app: &TestApp, url: &str, depth: &str, base: &str) -> Result<Vec<Member>> {
    let r = app
        .client
        .request(method("PROPFIND")?, app.url(url))
        .header("depth", depth)
        .header("content-type", "application/xml")
        .body(r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:allprop/></D:propfind>"#)
        .send()
        .await?;
    ensure!(r.status() == 207, "PROPFIND {url}: {}", r.status());
    let text = r.text().await?;
    let doc = roxmltree::Document::parse(&text)?;
    let mut out = Vec::new();
    for resp in doc
        .descendants()
        .filter(|n| n.has_tag_name(("DAV:", "response")))
    {
        let find = |name: &str| {
            resp.descendants()
                .find(|n| n.has_tag_name(("DAV:", name)))
                .and_then(|n| n.text())
                .map(str::to_string)
        };
        let href = find("href").context("href")?;
        let inside = href
            .strip_prefix(base)
            .with_context(|| format!("{href} is outside {base}"))?;
        let path = percent_encoding::percent_decode_str(inside.trim_end_matches('/'))
            .decode_utf8()?
            .into_owned();
        out.push(Member {
            path,
            dir: resp
                .descendants()
                .any(|n| n.has_tag_name(("DAV:", "collection"))),
            length: find("getcontentlength").and_then(|l| l.parse().ok()),
            modified: find("getlastmodified"),
            etag: find("getetag"),
            href,
        });
    }
    Ok(out)
}

async fn a_disc_is_a_read_only_webdav_drive(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let iso = fixture("rr-joliet.iso");
    app.upload(&token, &iso, 2 * PART as usize).await?;
    let r = app
        .client
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&token)
        .json(&json!({"sha256": sha256_hex(&iso), "open": true}))
        .send()
        .await?;
    ensure!(r.status() == 201, "{}", r.status());
    let id = r.json::<Value>().await?["id"].as_i64().context("id")?;
    wait_indexed(&app, None, id).await?;
    let base = format!("/dav/discs/{id}/");

    let r = app
        .client
        .request(Method::OPTIONS, app.url(&base))
        .send()
        .await?;
    ensure!(r.status() == 200, "{}", r.status());
    ensure!(
        header(&r, "dav") == "1" && header(&r, "ms-author-via") == "DAV",
        "{r:?}"
    );

    // Every folder at depth 1, from the root down: the tree is bsdtar's, symlinks as what
    // they point to.
    let theirs = extract(
        &common::discs::fixtures().join("rr-joliet.iso"),
        Tool::Bsdtar,
    );
    let reference = walk(theirs.path(), &utf8);
    let mut seen: BTreeMap<String, Member> = BTreeMap::new();
    let mut folders = vec![base.clone()];
    while let Some(folder) = folders.pop() {
        let members = propfind(&app, &folder, "1", &base).await?;
        ensure!(
            members.first().map(|m| m.href.as_str()) == Some(folder.as_str()),
            "the folder itself comes first"
        );
        for m in members.into_iter().skip(1) {
            if m.dir {
                ensure!(m.href.ends_with('/'), "{}", m.href);
                folders.push(m.href.clone());
            }
            seen.insert(m.path.clone(), m);
        }
    }
    ensure!(
        seen.keys().collect::<Vec<_>>() == reference.keys().collect::<Vec<_>>(),
        "ours {:?}\ntheirs {:?}",
        seen.keys().collect::<Vec<_>>(),
        reference.keys().collect::<Vec<_>>()
    );
    for (path, want) in &reference {
        let m = &seen[path];
        let want = match want {
            Ref::Symlink(target) => &reference[target],
            other => other,
        };
        match want {
            Ref::Dir => ensure!(m.dir, "{path}"),
            Ref::File { size, sha256 } => {
                ensure!(!m.dir && m.length == Some(*size), "{path}: {:?}", m.length);
                let modified = m.modified.as_deref().context("getlastmodified")?;
                let when = httpdate::parse_http_date(modified)?;
                ensure!(
                    when == std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000),
                    "{path}: {modified}"
                );
                let r = app.client.get(app.url(&m.href)).send().await?;
                ensure!(r.status() == 200, "GET {}: {}", m.href, r.status());
                let etag = header(&r, "etag");
                ensure!(
                    m.etag.as_deref() == Some(etag.as_str()),
                    "{path}: PROPFIND {:?}, GET {etag}",
                    m.etag
                );
                ensure!(&sha(&r.bytes().await?) == sha256, "{path}: bytes differ");
            }
            Ref::Symlink(_) => bail!("{path}: a symlink to a symlink"),
        }
    }
    // The file routes give the same ETag; Range works as there.
    let file = &seen["data.bin"];
    let api = app
        .client
        .head(app.url(&format!("/api/v1/discs/{id}/files/data.bin")))
        .send()
        .await?;
    ensure!(file.etag.as_deref() == Some(header(&api, "etag").as_str()));
    let r = app
        .client
        .get(app.url(&file.href))
        .header("range", "bytes=1000-1999")
        .send()
        .await?;
    ensure!(r.status() == 206, "{}", r.status());
    ensure!(header(&r, "content-range") == "bytes 1000-1999/300000");

    // Depth 0 is the member itself; no Depth (infinity) is refused as RFC 4918 says.
    let root = propfind(&app, &base, "0", &base).await?;
    ensure!(root.len() == 1 && root[0].dir, "depth 0");
    for depth in [None, Some("infinity")] {
        let mut q = app.client.request(method("PROPFIND")?, app.url(&base));
        if let Some(d) = depth {
            q = q.header("depth", d);
        }
        let r = q.send().await?;
        ensure!(r.status() == 403, "{depth:?}: {}", r.status());
        ensure!(r.text().await?.contains("propfind-finite-depth"));
    }

    // Counting: mounting the disc is one launch however often the client asks for its root
    // (four times so far); each file's GET is a file request, a later range of it is not.
    let events = app.events_today().await?;
    let count = |action: &str| events.iter().filter(|e| e.action == action).count();
    ensure!(count("launch") == 1, "{events:#?}");
    let files = reference
        .values()
        .filter(|r| !matches!(r, Ref::Dir))
        .count();
    ensure!(
        count("file") == files,
        "{} file events for {files} files",
        count("file")
    );

    // Every write is refused and changes nothing, for readers and staff alike.
    let weird = seen["weird #1 ?&%.txt"].href.clone();
    for (verb, url) in [
        ("PUT", format!("{base}new.txt")),
        ("PUT", weird.clone()),
        ("DELETE", weird.clone()),
        ("MKCOL", format!("{base}newdir/")),
        ("COPY", weird.clone()),
        ("MOVE", weird.clone()),
        ("LOCK", weird.clone()),
        ("UNLOCK", weird.clone()),
        ("POST", weird.clone()),
    ] {
        for staff in [false, true] {
            let mut q = app
                .client
                .request(method(verb)?, app.url(&url))
                .header("destination", app.url(&format!("{base}moved.txt")))
                .body("x");
            if staff {
                q = q.bearer_auth(&token);
            }
            let r = q.send().await?;
            ensure!(r.status() == 405, "{verb} {url}: {}", r.status());
        }
    }
    let r = app
        .client
        .request(method("PROPPATCH")?, app.url(&weird))
        .body(r#"<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:" xmlns:Z="urn:z"><D:set><D:prop><Z:Win32FileAttributes>00000020</Z:Win32FileAttributes></D:prop></D:set></D:propertyupdate>"#)
        .send()
        .await?;
    ensure!(r.status() == 207, "{}", r.status());
    let text = r.text().await?;
    ensure!(
        text.contains("Win32FileAttributes") && text.contains("403 Forbidden"),
        "{text}"
    );
    let after = propfind(&app, &base, "1", &base).await?;
    ensure!(after.len() == 1 + reference.keys().filter(|k| !k.contains('/')).count());
    ensure!(
        !after
            .iter()
            .any(|m| m.path.contains("new") || m.path.contains("moved"))
    );

    // A closed disc: refused off campus, opened by a signed link in the path, which opens
    // nothing else.
    let closed = common::iso_image(120_000, 61);
    app.upload(&token, &closed, 2 * PART as usize).await?;
    let r = app
        .client
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&token)
        .json(&json!({"sha256": sha256_hex(&closed)}))
        .send()
        .await?;
    let closed_id = r.json::<Value>().await?["id"].as_i64().context("id")?;
    wait_indexed(&app, Some(&token), closed_id).await?;
    let r = app
        .client
        .request(
            method("PROPFIND")?,
            app.url(&format!("/dav/discs/{closed_id}/")),
        )
        .header("depth", "1")
        .send()
        .await?;
    ensure!(r.status() == 403, "{}", r.status());
    let r = app
        .client
        .post(app.url(&format!("/api/v1/discs/{closed_id}/signed-links")))
        .bearer_auth(&token)
        .json(&json!({"expires_in_secs": 600}))
        .send()
        .await?;
    let grant = r.json::<Value>().await?["token"]
        .as_str()
        .context("token")?
        .to_string();
    let granted = format!("/dav/g/{grant}/discs/{closed_id}/");
    let members = propfind(&app, &granted, "1", &granted).await?;
    ensure!(members.len() > 1, "the closed disc opens through its link");
    // The link opens its own disc and no other closed one.
    let other = common::iso_image(100_000, 62);
    app.upload(&token, &other, 2 * PART as usize).await?;
    let r = app
        .client
        .post(app.url("/api/v1/discs"))
        .bearer_auth(&token)
        .json(&json!({"sha256": sha256_hex(&other)}))
        .send()
        .await?;
    let other_id = r.json::<Value>().await?["id"].as_i64().context("id")?;
    wait_indexed(&app, Some(&token), other_id).await?;
    let r = app
        .client
        .request(
            method("PROPFIND")?,
            app.url(&format!("/dav/g/{grant}/discs/{other_id}/")),
        )
        .header("depth", "0")
        .send()
        .await?;
    ensure!(
        r.status() == 403,
        "another closed disc through the link: {}",
        r.status()
    );
    let forged = format!("/dav/g/{}x/discs/{closed_id}/", &grant[..grant.len() - 1]);
    let r = app
        .client
        .request(method("PROPFIND")?, app.url(&forged))
        .header("depth", "0")
        .send()
        .await?;
    ensure!(r.status() == 403, "a forged link: {}", r.status());

    // rclone copies the whole disc over WebDAV: bsdtar's extraction, byte for byte (the
    // symlink arrives as the file it points to).
    let dest = tempfile::tempdir()?;
    let out = Command::new("rclone")
        .args(["copy", "--config", "/dev/null", ":webdav:"])
        .arg(dest.path())
        .arg(format!("--webdav-url={}", app.url(&base)))
        .output()
        .context("rclone is not installed: scripts/peers.sh installs it")?;
    ensure!(
        out.status.success(),
        "rclone: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copied = walk(dest.path(), &utf8);
    let expected: BTreeMap<String, Ref> = resolved(&reference)
        .into_iter()
        // rclone makes no empty folders.
        .filter(|(p, r)| {
            *r != Ref::Dir || reference.keys().any(|k| k.starts_with(&format!("{p}/")))
        })
        .collect();
    ensure!(
        copied == expected,
        "rclone {copied:#?}\nbsdtar {expected:#?}"
    );
    Ok(())
}

/// A davfs2 mount of a unit's disc, unmounted when dropped. davfs2 1.6 needs `buf_size 64`
/// on Linux 6.16 and later (its own FUSE protocol code; reading a folder fails with EINVAL
/// otherwise: alisarctl/davfs2#22).
struct Davfs {
    dir: tempfile::TempDir,
}

impl Davfs {
    fn mount(url: &str) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let mnt = dir.path().join("mnt");
        let cache = dir.path().join("cache");
        std::fs::create_dir(&mnt)?;
        std::fs::create_dir(&cache)?;
        // mount.davfs runs as the davfs2 user once mounted: its cache must be reachable.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
        std::fs::set_permissions(&cache, std::fs::Permissions::from_mode(0o777))?;
        let conf = dir.path().join("davfs2.conf");
        std::fs::write(
            &conf,
            format!(
                "use_locks 0\nask_auth 0\nbuf_size 64\ncache_dir {}\n",
                cache.display()
            ),
        )?;
        let out = Command::new("mount")
            .args(["-t", "davfs", url])
            .arg(&mnt)
            .arg("-o")
            .arg(format!("ro,conf={}", conf.display()))
            .stdin(std::process::Stdio::null())
            .output()
            .context("mount: davfs2 is not installed (scripts/peers.sh installs it)")?;
        ensure!(
            out.status.success(),
            "mount -t davfs {url} (the suite runs as root for this): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(Self { dir })
    }

    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("mnt")
    }
}

impl Drop for Davfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.root()).output();
    }
}

/// Bytes free to an unprivileged writer on the filesystem holding `dir`, as df reports them.
fn free_bytes(dir: &std::path::Path) -> Result<u64> {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(dir)
        .output()?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .with_context(|| format!("df {}", dir.display()))
}

/// Symlinks as the files they point to: what a WebDAV client sees of the reference tree.
fn resolved(reference: &BTreeMap<String, Ref>) -> BTreeMap<String, Ref> {
    reference
        .iter()
        .map(|(p, r)| match r {
            Ref::Symlink(t) => (p.clone(), reference[t].clone()),
            other => (p.clone(), other.clone()),
        })
        .collect()
}

/// Linux's own WebDAV file system mounts a disc: every file's SHA-256 through the mount is
/// bsdtar's; a 4.5 GiB file in two ISO 9660 extents, on a closed disc mounted through a
/// signed link, reads right at its start, across the extent boundary and at its end. The same
/// folder as a ZIP64 is extracted right by bsdtar, 7-Zip and Python's zipfile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn davfs2_mounts_a_disc() -> Result<()> {
    let app = TestApp::on(Backend::SqliteLocal)
        .config(|c| c.upload.max_size = 5 << 30)
        .start()
        .await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let id = app
        .disc(&token, &fixture("rr-joliet.iso"), json!({"open": true}))
        .await?;
    wait_indexed(&app, None, id).await?;

    let theirs = extract(
        &common::discs::fixtures().join("rr-joliet.iso"),
        Tool::Bsdtar,
    );
    let reference = resolved(&walk(theirs.path(), &utf8));
    let mount = Davfs::mount(&app.url(&format!("/dav/discs/{id}/")))?;
    let mut mounted = walk(&mount.root(), &utf8);
    drop(mount);
    // davfs2's own local folder for files it could not upload, not the server's.
    mounted.remove("lost+found");
    ensure!(
        mounted == reference,
        "davfs2 {mounted:#?}\nbsdtar {reference:#?}"
    );

    // The big disc: a sparse 4.5 GiB source with marks, made into ISO 9660 level 3 (two
    // extents) by xorriso, uploaded by the CLI (nothing held in memory).
    let work = tempfile::tempdir()?;
    let src = work.path().join("src");
    let shelf = work.path().join("shelf");
    std::fs::create_dir_all(&src)?;
    std::fs::create_dir_all(&shelf)?;
    const HUGE: u64 = 4_831_838_208;
    let marks: [(u64, &[u8]); 3] = [
        (0, b"start of huge"),
        (0xFFFF_F800 - 7, b"across the extents"),
        (HUGE - 11, b"end of huge"),
    ];
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(src.join("huge.bin"))?;
        f.set_len(HUGE)?;
        for (at, bytes) in marks {
            f.write_all_at(bytes, at)?;
        }
    }
    // The stored blob and davfs2's cache each hold the 4.5 GiB for real; the image on the
    // shelf is written sparse (as make-images.sh does). Too little room fails here, by name,
    // not as an I/O error from inside the mount.
    let free = free_bytes(work.path())?;
    ensure!(
        free >= 12 << 30,
        "this test needs 12 GiB free under {} (the stored image and davfs2's cache), {free} bytes are",
        work.path().display()
    );
    let status = Command::new("sh")
        .arg("-c")
        .arg(
            "xorriso -as mkisofs -iso-level 3 -r -J -V BIG -o - \"$1\" 2>/dev/null \
             | cp --sparse=always /dev/stdin \"$2\"",
        )
        .arg("sh")
        .arg(&src)
        .arg(shelf.join("BIG-1.iso"))
        .status()?;
    ensure!(status.success(), "xorriso");
    let prefix = work.path().join("report");
    let out = Command::new(env!("CARGO_BIN_EXE_spindle"))
        .env("SPINDLE_LANG", "en")
        .args(["upload", "--server", &app.base, "--token", &token, "--dir"])
        .arg(&shelf)
        .args(["--pattern", "{barcode}.iso", "--report"])
        .arg(&prefix)
        .output()?;
    ensure!(
        out.status.success(),
        "spindle upload: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(prefix.with_extension("json"))?)?;
    let big = rows
        .first()
        .and_then(|r| r["disc"].as_i64())
        .context("the report names the disc")?;
    wait_indexed(&app, Some(&token), big).await?;
    let r = app
        .client
        .post(app.url(&format!("/api/v1/discs/{big}/signed-links")))
        .bearer_auth(&token)
        .json(&json!({"expires_in_secs": 600}))
        .send()
        .await?;
    let grant = r.json::<Value>().await?["token"]
        .as_str()
        .context("token")?
        .to_string();
    let r = app
        .client
        .request(method("PROPFIND")?, app.url(&format!("/dav/discs/{big}/")))
        .header("depth", "0")
        .send()
        .await?;
    ensure!(r.status() == 403, "closed without the link: {}", r.status());
    let mount = Davfs::mount(&app.url(&format!("/dav/g/{grant}/discs/{big}/")))?;
    let huge = mount.root().join("huge.bin");
    ensure!(
        std::fs::metadata(&huge)?.len() == HUGE,
        "size through the mount"
    );
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::open(&huge)?;
        for (at, bytes) in marks {
            let mut got = vec![0u8; bytes.len() + 16];
            let start = at.saturating_sub(8);
            let n = f.read_at(&mut got, start)?;
            let mut want = vec![0u8; got.len()];
            want[(at - start) as usize..][..bytes.len()].copy_from_slice(bytes);
            let want = &want[..n.min(want.len())];
            ensure!(&got[..n] == want, "bytes at {at} through the mount");
            ensure!(n as u64 == (HUGE - start).min(got.len() as u64));
        }
    }
    drop(mount);

    // ZIP64: the same folder as a ZIP (its file is over 4 GiB), saved sparse, extracted by
    // bsdtar, 7-Zip and Python's zipfile; each checks the CRC-32 and must give the source's
    // bytes, and zipfile reads the 64-bit size.
    let zip = work.path().join("big.zip");
    let mut r = app
        .client
        .get(app.url(&format!("/api/v1/discs/{big}/zip")))
        .bearer_auth(&token)
        .send()
        .await?;
    ensure!(r.status() == 200, "zip: {}", r.status());
    let announced = r.content_length();
    let mut total = 0u64;
    {
        use std::io::{Seek as _, SeekFrom, Write as _};
        let mut f = std::fs::File::create(&zip)?;
        while let Some(chunk) = r.chunk().await? {
            if chunk.iter().all(|b| *b == 0) {
                f.seek(SeekFrom::Current(i64::try_from(chunk.len())?))?;
            } else {
                f.write_all(&chunk)?;
            }
            total += chunk.len() as u64;
        }
        f.set_len(total)?;
    }
    ensure!(
        announced == Some(total),
        "{announced:?} announced, {total} sent"
    );
    let hashed = |script: &str| -> Result<String> {
        let out = Command::new("bash")
            .arg("-c")
            .arg(format!("set -o pipefail; {script}"))
            .arg("bash")
            .arg(&zip)
            .arg(src.join("huge.bin"))
            .output()?;
        ensure!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
    };
    let source = hashed("sha256sum < \"$2\" | cut -d' ' -f1")?;
    let bsdtar = hashed("bsdtar -xOf \"$1\" huge.bin | sha256sum | cut -d' ' -f1")?;
    let seven = hashed("7z x -so \"$1\" huge.bin | sha256sum | cut -d' ' -f1")?;
    let python = hashed(
        "python3 -c 'import hashlib, sys, zipfile
z = zipfile.ZipFile(sys.argv[1]); i = z.getinfo(\"huge.bin\"); h = hashlib.sha256()
with z.open(i) as f:
    while b := f.read(1 << 20): h.update(b)
print(i.file_size, h.hexdigest())' \"$1\"",
    )?;
    ensure!(bsdtar == source, "bsdtar {bsdtar}, source {source}");
    ensure!(seven == source, "7-Zip {seven}, source {source}");
    ensure!(
        python == format!("{HUGE} {source}"),
        "zipfile {python}, source {HUGE} {source}"
    );
    Ok(())
}

/// litmus, the WebDAV conformance suite, against a disc: its `init` (OPTIONS) passes, and
/// each suite's first step (making its own collection) is refused cleanly: no server error,
/// nothing made.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn litmus_meets_a_read_only_drive() -> Result<()> {
    let app = TestApp::start(Backend::SqliteLocal).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let id = app
        .disc(&token, &fixture("rr-joliet.iso"), json!({"open": true}))
        .await?;
    wait_indexed(&app, None, id).await?;
    let base = format!("/dav/discs/{id}/");
    let before = propfind(&app, &base, "1", &base).await?;
    // litmus writes its traces (debug.log, child.log) where it runs.
    let logs = tempfile::tempdir()?;
    let out = Command::new("litmus")
        .current_dir(logs.path())
        .arg("--keep-going")
        .arg(app.url(&base))
        .env("TESTS", "basic copymove props locks http")
        .output()
        .context("litmus is not installed: scripts/peers.sh installs it")?;
    let text = String::from_utf8_lossy(&out.stdout);
    println!("{text}");
    let suites = ["basic", "copymove", "props", "locks", "http"];
    for suite in suites {
        let part = text
            .split(&format!("-> running `{suite}':"))
            .nth(1)
            .and_then(|t| t.split("<- summary").next())
            .with_context(|| format!("litmus ran no `{suite}`:\n{text}"))?;
        ensure!(
            part.contains("init.................. pass"),
            "{suite}: {part}"
        );
        ensure!(
            part.contains("begin................. FAIL (Could not create new collection")
                && part.contains("405 Method Not Allowed"),
            "{suite}: the collection is refused cleanly: {part}"
        );
    }
    ensure!(
        !(500..600).any(|c| text.contains(&format!(": {c} "))),
        "no server error: {text}"
    );
    let after = propfind(&app, &base, "1", &base).await?;
    ensure!(
        after.iter().map(|m| &m.href).collect::<Vec<_>>()
            == before.iter().map(|m| &m.href).collect::<Vec<_>>(),
        "nothing made"
    );
    Ok(())
}
