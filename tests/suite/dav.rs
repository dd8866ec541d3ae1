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
    let expected: BTreeMap<String, Ref> = reference
        .iter()
        .map(|(p, r)| match r {
            Ref::Symlink(t) => (p.clone(), reference[t].clone()),
            other => (p.clone(), other.clone()),
        })
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
