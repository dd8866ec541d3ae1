//! Playing titles in the browser (issue 18): a real VCD (vcdimager, BIN/CUE) and a real DVD
//! (dvdauthor, genisoimage) and a data disc's WMV, served as HLS transcoded by a real ffmpeg:
//! the playlist states the whole duration, a segment asked for ahead of everything is made
//! from there, a second reader costs no ffmpeg, ffprobe reads the served stream at the
//! source's length, and headless Chromium plays each title and seeks to 80%.

use crate::common;

use anyhow::{Context, Result, ensure};
use common::browser::Browser;
use common::discs::{ffprobe_seconds, fixture};
use common::{Backend, PART, TestApp, header, sha256_hex, wait_indexed};
use serde_json::{Value, json};
use spindle::db::media::TitleKey;

on_both_backends!(
    a_video_cd_plays_as_hls,
    cd_audio_tracks_play_compact,
    least_recently_played_segments_go_first
);

async fn put(app: &TestApp, token: &str, name: &str) -> Result<String> {
    let data = fixture(name);
    app.upload(token, &data, 2 * PART as usize).await?;
    Ok(sha256_hex(&data))
}

async fn register(app: &TestApp, token: &str, body: Value) -> Result<i64> {
    app.prove_body(token, &body).await?;
    let r = app
        .client
        .post(app.url("/api/v1/discs"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    ensure!(r.status() == 201, "register: {}", r.status());
    r.json::<Value>().await?["id"]
        .as_i64()
        .context("the new disc's id")
}

/// A server whose segments last one second, so a four-second VCD has four.
async fn app(backend: Backend) -> Result<TestApp> {
    TestApp::on(backend)
        .config(|c| {
            c.media.segment_secs = 1;
            c.media.max_jobs = 1;
        })
        .start()
        .await
}

/// The open VCD (BIN/CUE): its id and the image's SHA-256 (the CUE sheet's).
async fn vcd(app: &TestApp, token: &str) -> Result<(i64, String)> {
    let cue = put(app, token, "vcd.cue").await?;
    let bin = put(app, token, "vcd.bin").await?;
    let id = register(
        app,
        token,
        json!({"sha256": cue, "parts": [{"name": "vcd.bin", "sha256": bin}], "open": true}),
    )
    .await?;
    wait_indexed(app, None, id).await?;
    Ok((id, cue))
}

async fn a_video_cd_plays_as_hls(backend: Backend) -> Result<()> {
    let app = app(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let (id, image) = vcd(&app, &token).await?;
    let disc: Value = app
        .client
        .get(app.url(&format!("/api/v1/discs/{id}")))
        .send()
        .await?
        .json()
        .await?;
    let title = &disc["image"]["media"][0];
    ensure!(title["play"] == format!("/discs/{id}/play/1"), "{title}");
    let hls = title["hls"].as_str().context("an HLS address")?.to_string();
    ensure!(
        hls == format!("/api/v1/discs/{id}/titles/1/hls.m3u8"),
        "{title}"
    );

    // The playlist lists the whole title from the start and ends.
    let r = app.client.get(app.url(&hls)).send().await?;
    ensure!(r.status() == 200, "playlist: {}", r.status());
    ensure!(
        header(&r, "content-type") == "application/vnd.apple.mpegurl",
        "{r:?}"
    );
    let playlist = r.text().await?;
    let listed: f64 = playlist
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| l.trim_end_matches(',').parse::<f64>().ok())
        .sum();
    let source = ffprobe_seconds(common::discs::fixtures().join("vcd.mpg").as_os_str());
    ensure!(
        (listed - source).abs() < 0.2,
        "{listed} s listed, {source} s made\n{playlist}"
    );
    ensure!(playlist.contains("hls/3.ts\n"), "{playlist}");
    ensure!(
        playlist.trim_end().ends_with("#EXT-X-ENDLIST"),
        "{playlist}"
    );
    ensure!(
        app.state.media.transcodes_started() == 0,
        "a playlist transcodes nothing"
    );

    // A reader who jumps to the last second gets it made from there, not from the start.
    let segment = |n: i64| app.url(&format!("/api/v1/discs/{id}/titles/1/hls/{n}.ts"));
    let r = app.client.get(segment(3)).send().await?;
    ensure!(
        r.status() == 200,
        "segment 3: {} {}",
        r.status(),
        r.text().await?
    );
    ensure!(header(&r, "content-type") == "video/mp2t", "{r:?}");
    let last = r.bytes().await?;
    ensure!(last.len() > 1000 && last[0] == 0x47, "an MPEG-TS segment");
    let key = TitleKey {
        image: image.clone(),
        title: 1,
        profile: "h264-aac-1s-veryfast".into(),
    };
    let stored = spindle::db::media::stored(&app.state.db, &key).await?;
    ensure!(stored == [3], "only what was asked for is made: {stored:?}");
    ensure!(app.state.media.transcodes_started() == 1);

    // ffprobe reads the served stream at the source's length.
    let served = ffprobe_seconds(std::ffi::OsStr::new(&app.url(&hls)));
    ensure!(
        (served - source).abs() < 1.0,
        "{served} s served, {source} s made"
    );
    // A reader from the start waits for each segment as it is made; the transcode from the
    // start stops where the one from the last second began.
    let mut first = Vec::new();
    for n in 0..4 {
        let r = app.client.get(segment(n)).send().await?;
        ensure!(r.status() == 200, "segment {n}: {}", r.status());
        first.push(r.bytes().await?);
    }
    let stored = spindle::db::media::stored(&app.state.db, &key).await?;
    ensure!(stored == [0, 1, 2, 3], "{stored:?}");
    ensure!(first[3] == last, "segment 3 was not made twice");
    let made = app.state.media.transcodes_started();
    ensure!(
        made == 2,
        "{made} transcodes for a reader at the end and one at the start"
    );

    // A second reader is served from the store: no ffmpeg, the same bytes, with Range.
    for (n, bytes) in first.iter().enumerate() {
        let r = app.client.get(segment(n as i64)).send().await?;
        ensure!(r.status() == 200, "segment {n}: {}", r.status());
        ensure!(r.bytes().await? == bytes, "segment {n} changed");
    }
    let r = app
        .client
        .get(segment(3))
        .header("range", "bytes=0-187")
        .send()
        .await?;
    ensure!(r.status() == 206, "{}", r.status());
    ensure!(r.bytes().await? == last[..188], "the same bytes");
    ensure!(
        app.state.media.transcodes_started() == made,
        "the second reader started ffmpeg"
    );

    // Segments past the end, and names that are not segments, are not found.
    for bad in ["4.ts", "-1.ts", "x.ts", "1.mp4"] {
        let r = app
            .client
            .get(app.url(&format!("/api/v1/discs/{id}/titles/1/hls/{bad}")))
            .send()
            .await?;
        ensure!(r.status() == 404, "{bad}: {}", r.status());
        let problem: Value = r.json().await?;
        ensure!(problem["code"] == "segment-not-found", "{problem}");
    }

    // Loading the playlist starts a play: one launch each time (this test's, ffprobe's);
    // the 16 segment and range reads after it are not counted again.
    let events = app.events_today().await?;
    let actions: Vec<&str> = events
        .iter()
        .filter(|e| e.action != "landing")
        .map(|e| e.action.as_str())
        .collect();
    ensure!(actions == ["launch", "launch"], "{events:#?}");

    // Another member's copy of the same disc, closed: a reader with its signed link plays
    // it (the link carried from the playlist to every segment) from the segments already
    // made; a reader without is refused.
    app.member("OTHER").await?;
    let other = app.librarian("OTHER").await?;
    let bin = sha256_hex(&fixture("vcd.bin"));
    let copy = register(
        &app,
        &other,
        json!({"sha256": image, "parts": [{"name": "vcd.bin", "sha256": bin}]}),
    )
    .await?;
    wait_indexed(&app, Some(&other), copy).await?;
    let r = app
        .client
        .post(app.url(&format!("/api/v1/discs/{copy}/signed-links")))
        .bearer_auth(&other)
        .json(&json!({"expires_in_secs": 600}))
        .send()
        .await?;
    ensure!(r.status() == 201, "{}", r.text().await?);
    let access = r.json::<Value>().await?["token"]
        .as_str()
        .context("a token")?
        .to_string();
    let hls = format!("/api/v1/discs/{copy}/titles/1/hls.m3u8");
    ensure!(
        get(&app, &hls).await?.status() == 403,
        "a closed disc's playlist"
    );
    let segment3 = format!("/api/v1/discs/{copy}/titles/1/hls/3.ts");
    ensure!(
        get(&app, &segment3).await?.status() == 403,
        "a closed disc's segment"
    );
    let r = get(&app, &format!("{hls}?access={access}")).await?;
    ensure!(r.status() == 200, "{}", r.status());
    let playlist = r.text().await?;
    ensure!(
        playlist.contains(&format!("hls/3.ts?access={access}\n")),
        "{playlist}"
    );
    let r = get(&app, &format!("{segment3}?access={access}")).await?;
    ensure!(r.status() == 200, "{}", r.status());
    ensure!(r.bytes().await? == last, "the same segment, stored once");
    ensure!(
        app.state.media.transcodes_started() == made,
        "no ffmpeg for the copy"
    );

    let dvd = put(&app, &token, "dvd-video.iso").await?;
    let dvd = register(&app, &token, json!({"sha256": dvd, "open": true})).await?;
    wait_indexed(&app, None, dvd).await?;
    let browser = Browser::start().await?;
    plays_in_chromium(&app, &browser, id, 1, 4.0).await?;
    plays_in_chromium(&app, &browser, dvd, 1, 3.0).await?;
    browser.close().await?;
    Ok(())
}

/// Opens the player page, plays, checks the picture moves, seeks to 80% and plays on.
async fn plays_in_chromium(
    app: &TestApp,
    browser: &Browser,
    id: i64,
    title: usize,
    seconds: f64,
) -> Result<()> {
    browser
        .client
        .goto(&app.url(&format!("/discs/{id}/play/{title}")))
        .await?;
    browser
        .wait_js(
            30,
            "the player",
            "return window.spindlePlayer ? true : null;",
        )
        .await?;
    browser
        .client
        .execute(
            "window.spindlePlayer.video.play().catch(function () {}); return true;",
            vec![],
        )
        .await?;
    let state = browser
        .wait_js(
            60,
            "the title playing",
            "var v = window.spindlePlayer.video; \
             if (v.error) { return {error: v.error.code}; } \
             return v.currentTime > 0.5 && v.videoWidth > 0 \
               ? {time: v.currentTime, width: v.videoWidth, duration: v.duration} : null;",
        )
        .await?;
    ensure!(state.get("error").is_none(), "{id}/{title}: {state}");
    let duration = state["duration"].as_f64().unwrap_or_default();
    ensure!(
        (duration - seconds).abs() < 1.0,
        "{id}/{title}: the player knows the whole length from the start: {state}"
    );
    let to = 0.8 * duration;
    browser
        .client
        .execute(
            &format!("window.spindlePlayer.video.currentTime = {to}; return true;"),
            vec![],
        )
        .await?;
    let after = browser
        .wait_js(
            60,
            "playing on after the seek",
            &format!(
                "var v = window.spindlePlayer.video; \
                 if (v.error) {{ return {{error: v.error.code}}; }} \
                 return (v.currentTime > {to} + 0.2 || v.ended) ? {{time: v.currentTime, ended: v.ended}} : null;"
            ),
        )
        .await?;
    ensure!(after.get("error").is_none(), "{id}/{title}: {after}");
    let status = browser
        .client
        .execute(
            "return document.getElementById('status').className;",
            vec![],
        )
        .await?;
    ensure!(
        status != "caution",
        "{id}/{title}: the page reports a failure"
    );
    Ok(())
}

on_both_backends!(data_disc_files_and_hostile_media_play_or_fail_clearly);

/// The number (1-based) of the title named `name` in a disc's JSON.
fn title_number(disc: &Value, name: &str) -> Result<usize> {
    disc["image"]["media"]
        .as_array()
        .and_then(|m| m.iter().position(|t| t["name"] == name))
        .map(|i| i + 1)
        .with_context(|| format!("no title {name} in {}", disc["image"]["media"]))
}

async fn open_disc(app: &TestApp, token: &str, fixture_name: &str) -> Result<(i64, Value)> {
    let sha = put(app, token, fixture_name).await?;
    let id = register(app, token, json!({"sha256": sha, "open": true})).await?;
    let disc = wait_indexed(app, None, id).await?;
    Ok((id, disc))
}

async fn get(app: &TestApp, path: &str) -> Result<reqwest::Response> {
    Ok(app.client.get(app.url(path)).send().await?)
}

/// The seconds a playlist lists.
async fn listed(app: &TestApp, id: i64, n: usize) -> Result<f64> {
    let r = get(app, &format!("/api/v1/discs/{id}/titles/{n}/hls.m3u8")).await?;
    ensure!(
        r.status() == 200,
        "{id}/{n}: {} {}",
        r.status(),
        r.text().await?
    );
    Ok(r.text()
        .await?
        .lines()
        .filter_map(|l| l.strip_prefix("#EXTINF:"))
        .filter_map(|l| l.trim_end_matches(',').parse::<f64>().ok())
        .sum())
}

/// A refusal to play: 422 `cannot-play`, saying ffmpeg's reason and nothing of how it was
/// reached.
async fn cannot_play(app: &TestApp, path: &str) -> Result<()> {
    let r = get(app, path).await?;
    ensure!(r.status() == 422, "{path}: {}", r.status());
    let problem: Value = r.json().await?;
    let detail = problem["detail"].as_str().unwrap_or_default();
    ensure!(problem["code"] == "cannot-play", "{problem}");
    ensure!(detail.contains("Invalid data found"), "{problem}");
    ensure!(!detail.contains("127.0.0.1"), "{problem}");
    Ok(())
}

fn key(image: &str, title: i64) -> TitleKey {
    TitleKey {
        image: image.to_string(),
        title,
        profile: "h264-aac-1s-veryfast".into(),
    }
}

async fn data_disc_files_and_hostile_media_play_or_fail_clearly(backend: Backend) -> Result<()> {
    let app = app(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;

    // Every audio and video file of a data disc plays, at its length: durations ffprobe
    // finds (or, for RealAudio 14.4, decoding finds), transcoded to HLS.
    let (media, disc) = open_disc(&app, &token, "media.iso").await?;
    let names = [
        "audio/track.mp3",
        "audio/track.ra",
        "audio/track.wma",
        "课件/lesson.avi",
        "课件/lesson.flv",
        "课件/lesson.rm",
        "课件/lesson.wmv",
    ];
    for name in names {
        let n = title_number(&disc, name)?;
        let seconds = listed(&app, media, n).await?;
        ensure!((seconds - 2.0).abs() < 0.3, "{name}: {seconds} s listed");
        let r = get(&app, &format!("/api/v1/discs/{media}/titles/{n}/hls/0.ts")).await?;
        ensure!(r.status() == 200, "{name}: {}", r.status());
    }
    for name in ["课件/lesson.wmv", "audio/track.wma"] {
        let n = title_number(&disc, name)?;
        let hls = app.url(&format!("/api/v1/discs/{media}/titles/{n}/hls.m3u8"));
        let served = ffprobe_seconds(std::ffi::OsStr::new(&hls));
        ensure!((served - 2.0).abs() < 1.0, "{name}: {served} s served");
    }
    // An MP3 plays as it is; a WMA is transcoded.
    let mp3 = title_number(&disc, "audio/track.mp3")?;
    let page = get(&app, &format!("/discs/{media}/play/{mp3}"))
        .await?
        .text()
        .await?;
    ensure!(
        page.contains(&format!(
            "data-direct=\"/api/v1/discs/{media}/titles/{mp3}\""
        )),
        "{page}"
    );
    // The folder page offers each audio file's player beside its download (issue 17).
    let folder = get(&app, &format!("/discs/{media}/browse/audio/"))
        .await?
        .text()
        .await?;
    ensure!(
        folder.contains(&format!(
            "<a class=\"play\" href=\"/discs/{media}/play/{mp3}\">"
        )),
        "{folder}"
    );
    let wma = title_number(&disc, "audio/track.wma")?;
    let page = get(&app, &format!("/discs/{media}/play/{wma}"))
        .await?
        .text()
        .await?;
    ensure!(!page.contains("data-direct"), "{page}");

    // A file no demuxer opens, and a VCD sequence of random bytes: a clear refusal on the
    // playlist and on every segment, and nothing stored.
    let (hostile, disc) = open_disc(&app, &token, "media-hostile.iso").await?;
    let broken = title_number(&disc, "broken.wmv")?;
    cannot_play(
        &app,
        &format!("/api/v1/discs/{hostile}/titles/{broken}/hls.m3u8"),
    )
    .await?;
    cannot_play(
        &app,
        &format!("/api/v1/discs/{hostile}/titles/{broken}/hls/0.ts"),
    )
    .await?;
    let hostile_sha = disc["sha256"].as_str().context("sha256")?.to_string();
    let stored =
        spindle::db::media::stored(&app.state.db, &key(&hostile_sha, broken as i64)).await?;
    ensure!(stored.is_empty(), "{stored:?}");
    let (fake, disc) = open_disc(&app, &token, "fake-vcd.iso").await?;
    cannot_play(&app, &format!("/api/v1/discs/{fake}/titles/1/hls.m3u8")).await?;
    let fake_sha = disc["sha256"].as_str().context("sha256")?.to_string();
    ensure!(
        spindle::db::media::stored(&app.state.db, &key(&fake_sha, 1))
            .await?
            .is_empty()
    );

    // An AVI whose headers claim ten hours: listed as claimed, but once a transcode has
    // found where it really ends, nothing past that starts ffmpeg again.
    let long = title_number(&disc_of(&app, hostile).await?, "long.avi")?;
    let claimed = listed(&app, hostile, long).await?;
    ensure!((claimed - 36_000.0).abs() < 1.0, "{claimed} s listed");
    let r = get(
        &app,
        &format!("/api/v1/discs/{hostile}/titles/{long}/hls/0.ts"),
    )
    .await?;
    ensure!(r.status() == 200, "{}", r.status());
    idle(&app).await?;
    let before = app.state.media.transcodes_started();
    for n in [20_000, 35_999] {
        let r = get(
            &app,
            &format!("/api/v1/discs/{hostile}/titles/{long}/hls/{n}.ts"),
        )
        .await?;
        ensure!(r.status() == 404, "segment {n}: {}", r.status());
    }
    ensure!(
        app.state.media.transcodes_started() == before,
        "ffmpeg ran past the end"
    );

    // Eight readers at once, each from its own segment, on one transcode slot: every one
    // is served (transcodes overtaking each other hand over, nobody is refused).
    let dvd = put(&app, &token, "dvd-video.iso").await?;
    let dvd = register(&app, &token, json!({"sha256": dvd, "open": true})).await?;
    wait_indexed(&app, None, dvd).await?;
    let readers = (0..8).map(|k| {
        let app = &app;
        async move {
            let mut sizes = Vec::new();
            for n in (k % 3)..3 {
                let r = get(app, &format!("/api/v1/discs/{dvd}/titles/1/hls/{n}.ts")).await?;
                ensure!(r.status() == 200, "reader {k}, segment {n}: {}", r.status());
                sizes.push(r.bytes().await?.len());
            }
            Ok::<_, anyhow::Error>(sizes)
        }
    });
    futures::future::try_join_all(readers).await?;
    idle(&app).await?;

    // A DVD whose VOB is cut short plays what is there.
    let (cut, _) = open_disc(&app, &token, "dvd-cut.iso").await?;
    let r = get(&app, &format!("/api/v1/discs/{cut}/titles/1/hls/0.ts")).await?;
    ensure!(r.status() == 200, "{}", r.status());
    idle(&app).await?;

    let browser = Browser::start().await?;
    let disc = disc_of(&app, media).await?;
    plays_in_chromium(
        &app,
        &browser,
        media,
        title_number(&disc, "课件/lesson.wmv")?,
        2.0,
    )
    .await?;
    audio_goes_on(&app, &browser, media, mp3).await?;
    // A title that cannot be played says why on its page.
    browser
        .client
        .goto(&app.url(&format!("/discs/{hostile}/play/{broken}")))
        .await?;
    let said = browser
        .wait_js(
            30,
            "the reason on the page",
            "var s = document.getElementById('status'); \
             return s && s.className === 'caution' ? s.textContent : null;",
        )
        .await?;
    let said = said.as_str().unwrap_or_default();
    ensure!(said.contains("Invalid data found"), "{said}");
    browser.close().await?;
    Ok(())
}

async fn disc_of(app: &TestApp, id: i64) -> Result<Value> {
    Ok(get(app, &format!("/api/v1/discs/{id}"))
        .await?
        .json()
        .await?)
}

/// No transcode is left running (none is stuck).
async fn idle(app: &TestApp) -> Result<()> {
    for _ in 0..200 {
        if app.state.media.transcodes_running() == 0 {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("a transcode is still running after 10 s")
}

/// The audio titles play one after another: the first (an MP3, as it is) ends and the page
/// goes on to the next (RealAudio, transcoded), which plays.
async fn audio_goes_on(app: &TestApp, browser: &Browser, id: i64, first: usize) -> Result<()> {
    browser
        .client
        .goto(&app.url(&format!("/discs/{id}/play/{first}?autoplay=1")))
        .await?;
    let next = format!("/discs/{id}/play/{}", first + 1);
    let state = browser
        .wait_js(
            60,
            "the next title playing",
            &format!(
                "if (location.pathname !== '{next}' || !window.spindlePlayer) {{ return null; }} \
                 var v = window.spindlePlayer.video; \
                 if (v.error) {{ return {{error: v.error.code}}; }} \
                 return v.currentTime > 0.5 ? {{time: v.currentTime, duration: v.duration}} : null;"
            ),
        )
        .await?;
    ensure!(state.get("error").is_none(), "{state}");
    Ok(())
}

/// An audio CD's tracks play compact (AAC at 128 kb/s, a tenth of the WAV's bytes), at their
/// length, with the WAV still there to download; in Chromium one track goes on to the next.
async fn cd_audio_tracks_play_compact(backend: Backend) -> Result<()> {
    let app = app(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let cue = put(&app, &token, "audio.cue").await?;
    let bin = put(&app, &token, "audio.bin").await?;
    let id = register(
        &app,
        &token,
        json!({"sha256": cue, "parts": [{"name": "audio.bin", "sha256": bin}], "open": true}),
    )
    .await?;
    let disc = wait_indexed(&app, None, id).await?;
    let tracks = disc["image"]["tracks"]
        .as_array()
        .context("tracks")?
        .clone();
    ensure!(tracks.len() >= 2, "{tracks:?}");
    let page = get(&app, &format!("/discs/{id}")).await?.text().await?;
    ensure!(
        page.contains(&format!("href=\"/discs/{id}/listen/1\"")),
        "{page}"
    );
    for t in &tracks {
        let n = t["number"].as_i64().context("number")?;
        let seconds = t["seconds"].as_f64().context("seconds")?;
        let hls = format!("/api/v1/discs/{id}/tracks/{n}/hls.m3u8");
        let r = get(&app, &hls).await?;
        ensure!(r.status() == 200, "{hls}: {}", r.status());
        let playlist = r.text().await?;
        let count = playlist.matches("#EXTINF:").count();
        let mut compact = 0;
        for k in 0..count {
            let r = get(&app, &format!("/api/v1/discs/{id}/tracks/{n}/hls/{k}.ts")).await?;
            ensure!(r.status() == 200, "track {n} segment {k}: {}", r.status());
            compact += r.bytes().await?.len();
        }
        let wav = get(&app, &format!("/api/v1/discs/{id}/tracks/{n}.wav"))
            .await?
            .bytes()
            .await?
            .len();
        ensure!(
            compact * 5 < wav,
            "track {n}: {compact} bytes compact, {wav} as WAV"
        );
        let served = ffprobe_seconds(std::ffi::OsStr::new(&app.url(&hls)));
        ensure!(
            (served - seconds).abs() < 1.0,
            "track {n}: {served} s served, {seconds} s on the disc"
        );
        let page = get(&app, &format!("/discs/{id}/listen/{n}"))
            .await?
            .text()
            .await?;
        ensure!(page.contains("id=\"compact\""), "{page}");
        ensure!(
            page.contains(&format!("href=\"/api/v1/discs/{id}/tracks/{n}.wav\"")),
            "the WAV stays for download: {page}"
        );
    }
    let r = get(&app, &format!("/api/v1/discs/{id}/tracks/99/hls.m3u8")).await?;
    ensure!(r.status() == 404, "{}", r.status());

    let browser = Browser::start().await?;
    browser
        .client
        .goto(&app.url(&format!("/discs/{id}/listen/1?autoplay=1")))
        .await?;
    let next = format!("/discs/{id}/listen/2");
    let state = browser
        .wait_js(
            90,
            "track 2 playing after track 1",
            &format!(
                "if (location.pathname !== '{next}' || !window.spindlePlayer) {{ return null; }} \
                 var v = window.spindlePlayer.video; \
                 if (v.error) {{ return {{error: v.error.code}}; }} \
                 return v.currentTime > 0.5 ? {{time: v.currentTime}} : null;"
            ),
        )
        .await?;
    ensure!(state.get("error").is_none(), "{state}");
    browser.close().await?;
    Ok(())
}

/// The segment cache keeps to its size: the least recently played segments go first, their
/// bytes with them unless something else (an uploaded blob of the same bytes) needs them.
async fn least_recently_played_segments_go_first(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("LIB").await?;
    let token = app.librarian("LIB").await?;
    let (db, blobs) = (&app.state.db, &app.state.blobs);
    let key = key(&"ab".repeat(32), 1);
    let bytes: Vec<Vec<u8>> = (0..3).map(|n| common::image(1000, 90 + n)).collect();
    // Segment 0's bytes are also an uploaded blob.
    app.upload(&token, &bytes[0], 2 * PART as usize).await?;
    let mut digests = Vec::new();
    for (n, b) in bytes.iter().enumerate() {
        let digest = blobs.put_small(b).await?;
        spindle::db::media::insert_segment(
            db,
            &key,
            n as i64,
            &digest.to_hex(),
            1000,
            10 * (n as i64 + 1),
        )
        .await?;
        digests.push(digest);
    }
    // Segment 0 is played again: segment 1 is now the least recently played.
    spindle::db::media::touch_segment(db, &key, 0, 1000).await?;
    ensure!(
        spindle::media::evict(db, blobs, 3000).await? == 0,
        "under the cap"
    );
    ensure!(spindle::media::evict(db, blobs, 2000).await? == 1);
    ensure!(spindle::db::media::stored(db, &key).await? == [0, 2]);
    ensure!(
        blobs.size(&digests[1]).await?.is_none(),
        "segment 1's bytes went"
    );
    ensure!(blobs.size(&digests[2]).await? == Some(1000));
    ensure!(spindle::media::evict(db, blobs, 0).await? == 2);
    ensure!(spindle::db::media::stored(db, &key).await?.is_empty());
    ensure!(blobs.size(&digests[2]).await?.is_none());
    ensure!(
        blobs.size(&digests[0]).await? == Some(1000),
        "an uploaded blob's bytes stay"
    );
    Ok(())
}
