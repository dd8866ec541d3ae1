//! Running a disc in the browser (issue 19, part 2): v86 in headless Chromium boots an El
//! Torito disc made at test time with xorriso + isolinux (its boot message read from the
//! emulated text screen), and an environment (a FAT floppy made with mkfs.fat + syslinux +
//! mtools) boots with a disc attached as a CD-ROM of the disc's size. Environments are the
//! admins' to make and are offered only to the members allowed them; a boot is one launch;
//! the disc JSON lists every way to launch a disc.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};
use common::browser::Browser;
use common::discs::fixture;
use common::{Backend, TestApp, sha256_hex, wait_indexed};
use serde_json::{Value, json};

on_both_backends!(discs_run_in_the_browser);

fn run(cmd: &mut Command) -> Result<()> {
    let out = cmd
        .output()
        .with_context(|| format!("{cmd:?} (scripts/peers.sh installs it)"))?;
    ensure!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// A bootable CD: isolinux says `message` and waits at its prompt.
fn boot_iso(dir: &Path, message: &str) -> Result<PathBuf> {
    let tree = dir.join("cd");
    std::fs::create_dir_all(tree.join("isolinux"))?;
    std::fs::copy(
        "/usr/lib/ISOLINUX/isolinux.bin",
        tree.join("isolinux/isolinux.bin"),
    )
    .context("isolinux.bin (Debian isolinux)")?;
    std::fs::copy(
        "/usr/lib/syslinux/modules/bios/ldlinux.c32",
        tree.join("isolinux/ldlinux.c32"),
    )
    .context("ldlinux.c32 (Debian syslinux-common)")?;
    std::fs::write(
        tree.join("isolinux/isolinux.cfg"),
        format!("SAY {message}\nPROMPT 1\nTIMEOUT 0\n"),
    )?;
    std::fs::write(tree.join("readme.txt"), "a bootable disc\n")?;
    let iso = dir.join("boot.iso");
    run(Command::new("xorriso")
        .args([
            "-as", "mkisofs", "-quiet", "-r", "-J", "-V", "BOOTDISC", "-o",
        ])
        .arg(&iso)
        .args([
            "-b",
            "isolinux/isolinux.bin",
            "-c",
            "isolinux/boot.cat",
            "-no-emul-boot",
            "-boot-load-size",
            "4",
            "-boot-info-table",
        ])
        .arg(&tree))?;
    Ok(iso)
}

/// A FAT disk of `kib` KiB that syslinux boots, saying `message`: 1440 is a floppy, more
/// a hard disk (one FAT volume from sector 0, which the BIOS boots as it boots a floppy).
fn boot_disk(dir: &Path, kib: u32, message: &str) -> Result<PathBuf> {
    let img = dir.join(format!("disk-{kib}.img"));
    // One sector per cluster; a hard disk's are too many for FAT12.
    let fat = if kib > 2880 { "16" } else { "12" };
    run(Command::new("mkfs.fat")
        .args(["-C", "-F", fat, "-s", "1", "-n", "SPINDLE"])
        .arg(&img)
        .arg(kib.to_string()))?;
    run(Command::new("syslinux").arg("--install").arg(&img))?;
    let cfg = dir.join(format!("syslinux-{kib}.cfg"));
    std::fs::write(&cfg, format!("SAY {message}\nPROMPT 1\nTIMEOUT 0\n"))?;
    run(Command::new("mcopy")
        .arg("-i")
        .arg(&img)
        .arg(&cfg)
        .arg("::syslinux.cfg"))?;
    Ok(img)
}

/// The emulated text screen, once it shows `text`.
async fn screen_shows(browser: &Browser, text: &str) -> Result<String> {
    let script = format!(
        "const t = document.querySelector('#screen .text-screen'); \
         return t && t.innerText.includes({text:?}) ? t.innerText : null;"
    );
    let v = browser
        .wait_js(
            60,
            &format!("the emulated screen to show {text:?}"),
            &script,
        )
        .await?;
    Ok(v.as_str().unwrap_or_default().to_string())
}

async fn disc_json(app: &TestApp, token: &str, id: i64) -> Result<Value> {
    let r = app
        .client
        .get(app.url(&format!("/api/v1/discs/{id}")))
        .bearer_auth(token)
        .send()
        .await?;
    ensure!(r.status() == 200, "{}", r.status());
    Ok(r.json().await?)
}

fn kinds(disc: &Value) -> Vec<(String, String)> {
    disc["launches"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| {
                    (
                        l["kind"].as_str().unwrap_or_default().to_string(),
                        l["url"].as_str().unwrap_or_default().to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn discs_run_in_the_browser(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("A").await?;
    app.member("B").await?;
    let a = app.librarian("A").await?;
    let b = app.librarian("B").await?;
    let admin = app.admin().await?;
    let work = tempfile::tempdir()?;

    // A bootable disc boots by itself.
    let iso = std::fs::read(boot_iso(work.path(), "SPINDLE BOOT OK")?)?;
    let boot = app.disc(&a, &iso, json!({"open": true})).await?;
    wait_indexed(&app, None, boot).await?;
    let v = disc_json(&app, &a, boot).await?;
    let launches = kinds(&v);
    ensure!(
        launches.contains(&("emulator".into(), format!("/discs/{boot}/run")))
            && launches.iter().any(|(k, _)| k == "drive"),
        "{launches:?}"
    );
    let browser = Browser::start().await?;
    browser
        .client
        .goto(&app.url(&format!("/discs/{boot}/run")))
        .await?;
    let text = screen_shows(&browser, "SPINDLE BOOT OK").await?;
    ensure!(text.contains("ISOLINUX"), "{text}");
    // The keyboard reaches the emulated computer: typed at isolinux's prompt.
    browser
        .client
        .find(fantoccini::Locator::Css("#screen"))
        .await?
        .send_keys("spindle")
        .await?;
    screen_shows(&browser, "boot: spindle").await?;
    let events = app.events_today().await?;
    ensure!(
        events
            .iter()
            .filter(|e| e.action == "launch" && e.disc_id == Some(boot))
            .count()
            == 1,
        "one boot, one launch: {events:#?}"
    );

    // Environments are the admins' to make.
    let floppy = std::fs::read(boot_disk(work.path(), 1440, "SPINDLE ENV OK")?)?;
    app.upload(&a, &floppy, floppy.len()).await?;
    let env = json!({
        "name": "Boot floppy", "licence": "Made by the test; no licence needed.",
        "sha256": sha256_hex(&floppy), "disk": "floppy", "members": ["A"],
    });
    let put = |token: &str, body: &Value| {
        app.client
            .put(app.url("/api/v1/environments/dos-test"))
            .bearer_auth(token)
            .json(body)
            .send()
    };
    let r = put(&a, &env).await?;
    ensure!(
        r.status() == 403,
        "a librarian makes an environment: {}",
        r.status()
    );
    let mut wrong = env.clone();
    wrong["disk"] = json!("harddisk");
    wrong["sha256"] = json!(sha256_hex(&iso[..iso.len() - 1]));
    let r = put(&admin, &wrong).await?;
    ensure!(r.status() == 422, "no such blob: {}", r.status());
    let r = put(&admin, &env).await?;
    ensure!(r.status() == 200, "{}: {}", r.status(), r.text().await?);
    let saved: Value = r.json().await?;
    ensure!(
        saved["members"] == json!(["A"]) && saved["size"] == 1_474_560,
        "{saved}"
    );

    // A's librarian sees it, B's does not; B's discs are not offered it.
    let seen = |token: String| {
        let app = &app;
        async move {
            let r = app
                .client
                .get(app.url("/api/v1/environments"))
                .bearer_auth(token)
                .send()
                .await?;
            anyhow::Ok(r.json::<Value>().await?)
        }
    };
    ensure!(seen(a.clone()).await?[0]["code"] == "dos-test");
    ensure!(seen(b.clone()).await? == json!([]));
    let r = app
        .client
        .get(app.url("/api/v1/environments/dos-test"))
        .bearer_auth(&b)
        .send()
        .await?;
    ensure!(r.status() == 404, "{}", r.status());

    let plain_iso = common::iso_image(300_000, 91);
    let isbn = "9780596514328";
    let plain = app
        .disc(
            &a,
            &plain_iso,
            json!({"open": true, "isbn": isbn, "disc_number": 1}),
        )
        .await?;
    wait_indexed(&app, None, plain).await?;
    let second_iso = common::iso_image(500_000, 93);
    let second = app
        .disc(
            &a,
            &second_iso,
            json!({"open": true, "isbn": isbn, "disc_number": 2}),
        )
        .await?;
    wait_indexed(&app, None, second).await?;
    let b_disc = app
        .disc(&b, &common::iso_image(200_000, 92), json!({"open": true}))
        .await?;
    wait_indexed(&app, None, b_disc).await?;
    let launches = kinds(&disc_json(&app, &a, plain).await?);
    ensure!(
        launches.contains(&("emulator".into(), format!("/discs/{plain}/run/dos-test")))
            && !launches
                .iter()
                .any(|(_, u)| u == &format!("/discs/{plain}/run")),
        "a plain disc runs in the environment only: {launches:?}"
    );
    let launches = kinds(&disc_json(&app, &b, b_disc).await?);
    ensure!(
        !launches.iter().any(|(k, _)| k == "emulator"),
        "B is not offered A's environment: {launches:?}"
    );
    let page = app
        .client
        .get(app.url(&format!("/discs/{b_disc}")))
        .send()
        .await?
        .text()
        .await?;
    ensure!(!page.contains("dos-test") && page.contains("run-on-your-computer"));
    for (path, status) in [
        (format!("/discs/{b_disc}/run/dos-test"), 404),
        (
            format!("/api/v1/discs/{b_disc}/environments/dos-test/disk"),
            404,
        ),
        (format!("/discs/{plain}/run"), 422),
    ] {
        let r = app.client.get(app.url(&path)).send().await?;
        ensure!(r.status() == status, "{path}: {}", r.status());
    }

    // The environment boots with the disc in the drive, a CD-ROM of the disc's size.
    browser
        .client
        .goto(&app.url(&format!("/discs/{plain}/run/dos-test")))
        .await?;
    screen_shows(&browser, "SPINDLE ENV OK").await?;
    let size = browser
        .wait_js(
            30,
            "the CD-ROM",
            "const c = window.spindleEmulator.v86.cpu.devices.cdrom; \
             return c && c.buffer ? c.buffer.byteLength : null;",
        )
        .await?;
    ensure!(
        size.as_u64() == Some(plain_iso.len() as u64),
        "CD-ROM of {size} bytes for a {}-byte disc",
        plain_iso.len()
    );
    let page = browser.client.source().await?;
    ensure!(
        page.contains("Made by the test; no licence needed."),
        "the licence note"
    );
    // The set's second disc goes into the drive.
    browser
        .client
        .execute(
            "const s = document.getElementById('swap'); s.selectedIndex = 1; \
             s.dispatchEvent(new Event('change'));",
            vec![],
        )
        .await?;
    let want = second_iso.len();
    browser
        .wait_js(
            30,
            "the second disc in the drive",
            &format!(
                "const c = window.spindleEmulator.v86.cpu.devices.cdrom; \
                 return c.buffer && c.buffer.byteLength === {want};"
            ),
        )
        .await?;

    // A hard disk environment boots too.
    let hd = std::fs::read(boot_disk(work.path(), 8192, "SPINDLE HD OK")?)?;
    app.upload(&a, &hd, 2 * common::PART as usize).await?;
    let r = app
        .client
        .put(app.url("/api/v1/environments/hd-test"))
        .bearer_auth(&admin)
        .json(&json!({
            "name": "Boot disk", "licence": "Made by the test.", "sha256": sha256_hex(&hd),
            "disk": "harddisk", "memory_mib": 32, "members": ["A"],
        }))
        .send()
        .await?;
    ensure!(r.status() == 200, "{}: {}", r.status(), r.text().await?);
    browser
        .client
        .goto(&app.url(&format!("/discs/{plain}/run/hd-test")))
        .await?;
    screen_shows(&browser, "SPINDLE HD OK").await?;
    browser.close().await?;

    // The environment's disk is what the admin uploaded, whatever ran on it.
    let r = app
        .client
        .get(app.url(&format!("/api/v1/discs/{plain}/environments/dos-test/disk")))
        .send()
        .await?;
    ensure!(sha256_hex(&r.bytes().await?) == sha256_hex(&floppy));
    let r = app
        .client
        .delete(app.url("/api/v1/environments/dos-test"))
        .bearer_auth(&admin)
        .send()
        .await?;
    ensure!(r.status() == 204, "{}", r.status());
    Ok(())
}

/// The disc page's launch is what the disc is for (its start page, else the player, else
/// booting it, else the drive), and "Run on your computer" gives the drive's address (with a
/// reader's signed link in the path, which a WebDAV client then mounts), the program
/// `autorun.inf` starts and what Windows may refuse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_disc_page_offers_what_the_disc_is_for() -> Result<()> {
    let app = TestApp::start(Backend::SqliteLocal).await?;
    app.member("A").await?;
    let a = app.librarian("A").await?;
    let first = |disc: &Value| kinds(disc).first().map(|(k, _)| k.clone());

    // A web disc whose autorun.inf also names a program.
    let web = app
        .disc(&a, &fixture("rr-joliet.iso"), json!({"open": true}))
        .await?;
    wait_indexed(&app, None, web).await?;
    let v = disc_json(&app, &a, web).await?;
    ensure!(first(&v).as_deref() == Some("page"), "{v}");
    ensure!(v["image"]["program_url"] == format!("/api/v1/discs/{web}/files/setup.exe"));
    let page = app
        .client
        .get(app.url(&format!("/discs/{web}?lang=en")))
        .send()
        .await?
        .text()
        .await?;
    let dav = app.url(&format!("/dav/discs/{web}/"));
    ensure!(
        page.contains(&format!(
            "id=\"launch\" data-kind=\"page\" href=\"/api/v1/discs/{web}/launch\""
        )),
        "{page}"
    );
    for want in [
        format!("<code id=\"drive-url\">{dav}</code>"),
        format!("net use Z: \"{dav}\""),
        "<code id=\"drive-program\">Z:\\setup.exe</code>".to_string(),
        "FileSizeLimitInBytes".to_string(),
    ] {
        ensure!(page.contains(&want), "{want} is not on the page:\n{page}");
    }

    // A video disc plays; a disc of files only is a drive.
    let dvd = app
        .disc(&a, &fixture("dvd-video.iso"), json!({"open": true}))
        .await?;
    wait_indexed(&app, None, dvd).await?;
    let v = disc_json(&app, &a, dvd).await?;
    ensure!(
        kinds(&v).first() == Some(&("player".to_string(), format!("/discs/{dvd}/play/1"))),
        "{v}"
    );
    let files = common::iso_image(100_000, 94);
    let closed = app.disc(&a, &files, json!({})).await?;
    wait_indexed(&app, Some(&a), closed).await?;
    let v = disc_json(&app, &a, closed).await?;
    ensure!(first(&v).as_deref() == Some("drive"), "{v}");

    // Off campus, a closed disc's signed link goes into the drive's path.
    let r = app
        .client
        .post(app.url(&format!("/api/v1/discs/{closed}/signed-links")))
        .bearer_auth(&a)
        .json(&json!({"expires_in_secs": 600}))
        .send()
        .await?;
    let token = r.json::<Value>().await?["token"]
        .as_str()
        .context("token")?
        .to_string();
    let reader = common::http();
    let page = reader
        .get(app.url(&format!("/discs/{closed}?access={token}")))
        .send()
        .await?
        .text()
        .await?;
    let granted = app.url(&format!("/dav/g/{token}/discs/{closed}/"));
    ensure!(
        page.contains(&format!("<code id=\"drive-url\">{granted}</code>")),
        "{page}"
    );
    let r = reader
        .request(reqwest::Method::from_bytes(b"PROPFIND")?, &granted)
        .header("depth", "1")
        .send()
        .await?;
    ensure!(
        r.status() == 207,
        "the address on the page mounts: {}",
        r.status()
    );
    Ok(())
}
