//! Playing a disc's titles in the browser. A browser decodes neither a VCD's MPEG-1 nor a
//! DVD's MPEG-2 (nor WMV, RM, AVI…), so a title is transcoded by ffmpeg to H.264 + AAC and
//! served as HLS: a VOD playlist that states the whole duration from the start (so seeking
//! and the progress bar work), and segments made when first asked for.
//!
//! A request for segment `n` is answered from the store if it is there; else it waits for a
//! transcode that will reach `n` soon; else it starts one *at* `n` (`-ss`, with timestamps
//! offset to where the segment sits in the title), so a reader who seeks ahead is not kept
//! waiting for everything before. Readers of a title share its transcodes; every finished
//! segment is stored under its own SHA-256 and recorded by (image, title, profile, number),
//! so the next reader costs nothing; least recently played segments go past `cache_mib`.
//! At most `max_jobs` ffmpegs run at once, `queue` requests wait beyond that; a transcode
//! stops when nobody has asked anything of it for `idle_secs`, or when it is [`LEAD_SECS`]
//! ahead of the furthest segment asked of it. A segment is stored only once ffmpeg has
//! closed it (listed it in its playlist, begun the next, or ended well), so a transcode that
//! dies leaves nothing half-made; why it died is kept for a while and told to the readers.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use spindle_image::media::MediaKind;
use spindle_storage::{BlobStore, Digest};
use tokio::io::AsyncReadExt as _;
use tokio::sync::{Semaphore, watch};

use crate::browse::{Origin, Playable};
use crate::config::MediaConfig;
use crate::content::Representation;
use crate::db::media::TitleKey;
use crate::db::{self, Db};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};

/// A segment is waited for, rather than transcoded afresh, when a running transcode is at
/// most this many segments short of it.
const AHEAD: i64 = 3;
/// How far (in seconds of the title) a transcode may run ahead of the furthest segment its
/// readers have asked for.
const LEAD_SECS: u32 = 120;
/// Why a transcode failed is told to readers for this long; then it is tried again.
const FAILURE_MEMORY: Duration = Duration::from_secs(600);
/// The longest title believed (a header may claim anything).
const MAX_DURATION_MS: u64 = 12 * 3600 * 1000;
/// How much of ffmpeg's complaints is kept.
const STDERR_KEPT: usize = 4096;
/// The bit rate of transcoded audio (AAC, stereo).
pub const AUDIO_BITS_PER_SEC: u64 = 128_000;
/// Audio containers every current browser plays as they are.
const AS_IS: [&str; 4] = ["mp3", "wav", "aac", "flac"];

/// Where ffmpeg and ffprobe read a title's bytes (with Range): a URL valid while the lease
/// lives. The HTTP wing provides it (a loopback-only listener).
pub trait Source: Send + Sync {
    fn open(&self, rep: Representation) -> std::io::Result<Lease>;
}

pub struct Lease {
    pub url: String,
    /// Dropping it ends the URL.
    pub release: Box<dyn Send + Sync>,
}

#[derive(Debug, Clone, Default)]
struct Progress {
    /// Segments before this one are stored (or were found stored).
    next: i64,
    /// Set when the transcode has ended.
    end: Option<End>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum End {
    /// ffmpeg reached the end of the title.
    Finished,
    /// Stopped on purpose: nobody watching, or another transcode got there first.
    Stopped,
    /// Why it failed.
    Failed(String),
}

struct Job {
    start: i64,
    progress: watch::Sender<Progress>,
    /// When a reader last asked anything of it.
    wanted: Mutex<Instant>,
    /// The furthest segment a reader has asked of it.
    furthest: AtomicI64,
}

impl Job {
    fn want(&self, n: i64) {
        if let Ok(mut w) = self.wanted.lock() {
            *w = Instant::now();
        }
        self.furthest.fetch_max(n, Ordering::Relaxed);
    }

    /// So far ahead of every reader that going on would only fill the store.
    fn far_ahead(&self, lead: i64) -> bool {
        self.progress.borrow().next > self.furthest.load(Ordering::Relaxed) + lead
    }

    fn idle(&self) -> Duration {
        self.wanted.lock().map_or(Duration::ZERO, |w| w.elapsed())
    }
}

pub struct Media {
    config: MediaConfig,
    work_dir: PathBuf,
    source: Arc<dyn Source>,
    jobs: Mutex<HashMap<TitleKey, Vec<Arc<Job>>>>,
    failed: Mutex<HashMap<TitleKey, (Instant, String)>>,
    /// Where titles really end, in segments, as transcodes that reached the end found (a
    /// header may claim hours that are not there): nothing past it is transcoded again.
    ends: Mutex<HashMap<TitleKey, i64>>,
    slots: Arc<Semaphore>,
    waiting: AtomicUsize,
    started: Counter,
    running: Gauge,
}

/// A stored segment to send.
pub struct Segment {
    pub digest: Digest,
    pub size: u64,
}

impl Media {
    /// `started` and `running` are the metrics it keeps (`spindle_transcodes_*`).
    pub fn new(
        config: MediaConfig,
        work_dir: PathBuf,
        source: Arc<dyn Source>,
        started: Counter,
        running: Gauge,
    ) -> Self {
        let slots = Arc::new(Semaphore::new(config.max_jobs));
        Self {
            config,
            work_dir,
            source,
            jobs: Mutex::default(),
            failed: Mutex::default(),
            ends: Mutex::default(),
            slots,
            waiting: AtomicUsize::new(0),
            started,
            running,
        }
    }

    /// ffmpeg processes this node has started (transcodes, not probes).
    pub fn transcodes_started(&self) -> u64 {
        self.started.get()
    }

    /// Transcodes running or queued now.
    pub fn transcodes_running(&self) -> i64 {
        self.running.get()
    }

    pub fn segment_secs(&self) -> u32 {
        self.config.segment_secs
    }

    /// Which transcode a title gets: the profile names everything that changes the bytes.
    pub fn key(&self, t: &Playable) -> TitleKey {
        let profile = match t.kind {
            MediaKind::Video => format!(
                "h264-aac-{}s-{}",
                self.config.segment_secs, self.config.preset
            ),
            MediaKind::Audio => format!("aac-{}s", self.config.segment_secs),
        };
        // A CD track and a title may share a number.
        let profile = match t.origin {
            Origin::Title => profile,
            Origin::Track => format!("cdda-{profile}"),
        };
        TitleKey {
            image: t.image.clone(),
            title: t.number as i64,
            profile,
        }
    }

    /// The title's duration: from the index, else from ffprobe (once; a duration found is
    /// kept, a failure only remembered for a while, so nothing wrong stays cached).
    pub async fn duration_ms(&self, db: &Db, t: &Playable) -> AppResult<u64> {
        if let Some(ms) = t.duration_ms.filter(|ms| *ms > 0) {
            return Ok(ms.min(MAX_DURATION_MS));
        }
        let number = t.number as i64;
        if let Some(ms) = db::media::probed(db, &t.image, number).await? {
            return Ok(ms.min(MAX_DURATION_MS));
        }
        let key = self.key(t);
        if let Some(why) = self.failure(&key) {
            return Err(cannot_play(t.number, &why));
        }
        match self.probe(t).await {
            Ok(ms) => {
                db::media::save_probe(db, &t.image, number, ms, db::now()).await?;
                Ok(ms.min(MAX_DURATION_MS))
            }
            Err(why) => {
                self.remember_failure(&key, &why);
                Err(cannot_play(t.number, &why))
            }
        }
    }

    /// Whether browsers play the title's own bytes (an MP3, a WAV…), with no transcode.
    pub fn plays_as_is(t: &Playable) -> bool {
        t.kind == MediaKind::Audio && AS_IS.contains(&t.container.as_str())
    }

    /// The duration ffprobe reads from the title's bytes, or why it could not. Audio whose
    /// headers give none (RealAudio 14.4 has no timestamps) is decoded and its samples counted.
    async fn probe(&self, t: &Playable) -> Result<u64, String> {
        let lease = self
            .source
            .open(t.rep.clone())
            .map_err(|e| format!("cannot serve the title to ffprobe: {e}"))?;
        let hide = |text: &str| hide_url(text, &lease.url);
        let probe = tokio::process::Command::new(&self.config.ffprobe)
            .args(["-v", "error", "-show_entries", "format=duration", "-of"])
            .arg("default=noprint_wrappers=1:nokey=1")
            .arg(&lease.url)
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let out = self
            .bounded(probe, "ffprobe")
            .await?
            .map_err(|e| format!("cannot run ffprobe: {e}"))?;
        let said = String::from_utf8_lossy(&out.stdout);
        match said.trim().parse::<f64>() {
            Ok(secs) if out.status.success() && secs.is_finite() && secs > 0.0 => {
                return Ok((secs * 1000.0).round() as u64);
            }
            _ if !out.status.success() || t.kind == MediaKind::Video => {
                return Err(hide(&last_line(&String::from_utf8_lossy(&out.stderr))));
            }
            _ => {}
        }
        // 8 kHz mono 16-bit: 16,000 bytes a second, counted as they come.
        let decode = tokio::process::Command::new(&self.config.ffmpeg)
            .args(["-nostdin", "-v", "error", "-threads", "1", "-i"])
            .arg(&lease.url)
            .args([
                "-map", "0:a:0", "-ac", "1", "-ar", "8000", "-f", "s16le", "-",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run ffmpeg: {e}"))?;
        let count = async move {
            let mut child = decode;
            let mut bytes = 0u64;
            if let Some(mut out) = child.stdout.take() {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(got) = out.read(&mut buf).await {
                    if got == 0 {
                        break;
                    }
                    bytes += got as u64;
                }
            }
            (child.wait().await, bytes)
        };
        let (status, bytes) = self.bounded(count, "decoding the audio").await?;
        match status {
            Ok(s) if s.success() && bytes >= 16 => Ok(bytes / 16),
            _ => Err("no audio could be decoded".into()),
        }
    }

    /// `work`, given at most `wait_secs`.
    async fn bounded<T>(&self, work: impl Future<Output = T>, what: &str) -> Result<T, String> {
        tokio::time::timeout(Duration::from_secs(self.config.wait_secs), work)
            .await
            .map_err(|_| format!("{what} took too long"))
    }

    /// The title's VOD playlist: every segment listed from the start, with the end marked.
    /// `query` (a signed link's, or empty) is carried on each segment's address.
    pub fn playlist(&self, duration_ms: u64, query: &str) -> String {
        let seg_ms = u64::from(self.config.segment_secs) * 1000;
        let count = duration_ms.div_ceil(seg_ms).max(1);
        let mut m3u8 = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n",
            self.config.segment_secs + 1
        );
        for n in 0..count {
            let len = (duration_ms - n * seg_ms).min(seg_ms);
            m3u8.push_str(&format!(
                "#EXTINF:{}.{:03},\nhls/{n}.ts{query}\n",
                len / 1000,
                len % 1000
            ));
        }
        m3u8.push_str("#EXT-X-ENDLIST\n");
        m3u8
    }

    /// Segment `n` of a title lasting `duration_ms`: stored, made by a running transcode, or
    /// made by one started for it.
    pub async fn segment(
        self: &Arc<Self>,
        db: &Db,
        blobs: &BlobStore,
        t: &Playable,
        duration_ms: u64,
        n: i64,
    ) -> AppResult<Segment> {
        let key = self.key(t);
        let count = duration_ms.div_ceil(u64::from(self.config.segment_secs) * 1000) as i64;
        let end = self.ends.lock().ok().and_then(|e| e.get(&key).copied());
        if !(0..count.max(1)).contains(&n) || end.is_some_and(|end| n >= end) {
            return Err(no_segment(t.number, n));
        }
        // A transcode that ends without making `n` (overtaken by another, whose segments are
        // then stored, or stopped as idle) is followed by another look, until `wait_secs`.
        let deadline = Instant::now() + Duration::from_secs(self.config.wait_secs);
        while Instant::now() < deadline {
            if let Some(row) = db::media::segment(db, &key, n).await? {
                db::media::touch_segment(db, &key, n, db::now()).await?;
                let digest: Digest = row
                    .sha256
                    .parse()
                    .map_err(|_| AppError::internal("stored segment key", &row.sha256))?;
                return Ok(Segment {
                    digest,
                    size: row.size as u64,
                });
            }
            if let Some(why) = self.failure(&key) {
                return Err(cannot_play(t.number, &why));
            }
            let job = match self.job_reaching(&key, n) {
                Some(job) => job,
                None => self.start(db, blobs, &key, t, n)?,
            };
            job.want(n);
            let mut progress = job.progress.subscribe();
            let waited = tokio::time::timeout(
                deadline.saturating_duration_since(Instant::now()),
                progress.wait_for(|p| p.next > n || p.end.is_some()),
            )
            .await;
            match waited {
                Err(_) => return Err(preparing()),
                Ok(Err(_)) => {}
                Ok(Ok(p)) if p.next <= n => match &p.end {
                    Some(End::Failed(why)) => return Err(cannot_play(t.number, why)),
                    // The title ends before the index said it would.
                    Some(End::Finished) => return Err(no_segment(t.number, n)),
                    _ => {}
                },
                Ok(Ok(_)) => {}
            }
        }
        Err(preparing())
    }

    fn failure(&self, key: &TitleKey) -> Option<String> {
        let mut failed = self.failed.lock().ok()?;
        match failed.get(key) {
            Some((at, _)) if at.elapsed() > FAILURE_MEMORY => {
                failed.remove(key);
                None
            }
            Some((_, why)) => Some(why.clone()),
            None => None,
        }
    }

    /// A transcode of `key` running (or queued) that has begun at or before `n` and is at
    /// most [`AHEAD`] segments short of it.
    fn job_reaching(&self, key: &TitleKey, n: i64) -> Option<Arc<Job>> {
        let jobs = self.jobs.lock().ok()?;
        jobs.get(key)?
            .iter()
            .find(|j| {
                let p = j.progress.borrow();
                p.end.is_none() && j.start <= n && n < p.next + AHEAD
            })
            .cloned()
    }

    /// Starts (or queues) a transcode of `t` from segment `n`.
    fn start(
        self: &Arc<Self>,
        db: &Db,
        blobs: &BlobStore,
        key: &TitleKey,
        t: &Playable,
        n: i64,
    ) -> AppResult<Arc<Job>> {
        let queued = self.waiting.load(Ordering::Relaxed);
        if self.slots.available_permits() == 0 && queued >= self.config.queue {
            return Err(preparing());
        }
        let lease = self
            .source
            .open(t.rep.clone())
            .map_err(|e| AppError::internal("serving a title to ffmpeg", &e))?;
        let (progress, _) = watch::channel(Progress { next: n, end: None });
        let job = Arc::new(Job {
            start: n,
            progress,
            wanted: Mutex::new(Instant::now()),
            furthest: AtomicI64::new(n),
        });
        if let Ok(mut jobs) = self.jobs.lock() {
            jobs.entry(key.clone()).or_default().push(job.clone());
            self.running
                .set(jobs.values().map(Vec::len).sum::<usize>() as i64);
        }
        let run = Run {
            media: self.clone(),
            db: db.clone(),
            blobs: blobs.clone(),
            key: key.clone(),
            kind: t.kind,
            job: job.clone(),
            lease,
        };
        tokio::spawn(run.go());
        Ok(job)
    }

    fn remember_failure(&self, key: &TitleKey, why: &str) {
        tracing::warn!(image = %key.image, title = key.title, profile = %key.profile, error = %why, "cannot play a title");
        if let Ok(mut failed) = self.failed.lock() {
            failed.insert(key.clone(), (Instant::now(), why.to_string()));
        }
    }

    fn finish(&self, key: &TitleKey, job: &Arc<Job>, end: End) {
        match &end {
            End::Failed(why) => self.remember_failure(key, why),
            End::Finished => {
                let next = job.progress.borrow().next;
                if let Ok(mut ends) = self.ends.lock() {
                    let e = ends.entry(key.clone()).or_insert(next);
                    *e = (*e).min(next);
                }
            }
            End::Stopped => {}
        }
        job.progress.send_modify(|p| p.end = Some(end));
        if let Ok(mut jobs) = self.jobs.lock()
            && let Some(list) = jobs.get_mut(key)
        {
            list.retain(|j| !Arc::ptr_eq(j, job));
            if list.is_empty() {
                jobs.remove(key);
            }
            self.running
                .set(jobs.values().map(Vec::len).sum::<usize>() as i64);
        }
    }

    fn ffmpeg_args(
        &self,
        kind: MediaKind,
        url: &str,
        from: i64,
        dir: &std::path::Path,
    ) -> Vec<String> {
        let c = &self.config;
        let secs = i64::from(c.segment_secs);
        let (offset, start, length) = (
            (from * secs).to_string(),
            from.to_string(),
            secs.to_string(),
        );
        let threads = c.threads.to_string();
        let audio_rate = AUDIO_BITS_PER_SEC.to_string();
        let key_frames = format!("expr:gte(t,n_forced*{secs})");
        let (segments, playlist) = (
            dir.join("seg%d.ts").display().to_string(),
            dir.join("out.m3u8").display().to_string(),
        );
        let mut args: Vec<&str> = vec![
            "-nostdin",
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-threads",
            &threads,
            "-ss",
            &offset,
            "-i",
            url,
        ];
        match kind {
            MediaKind::Video => args.extend([
                "-map",
                "0:v:0",
                "-map",
                "0:a:0?",
                "-sn",
                "-dn",
                "-filter_threads",
                &threads,
                "-vf",
                "yadif=deint=interlaced,scale=trunc(iw/2)*2:trunc(ih/2)*2,format=yuv420p",
                "-c:v",
                "libx264",
                "-preset",
                &c.preset,
                "-crf",
                "23",
                "-threads",
                &threads,
                "-force_key_frames",
                &key_frames,
                "-sc_threshold",
                "0",
            ]),
            // Timestamps from the samples: some audio (RealAudio 14.4) has none of its own.
            MediaKind::Audio => args.extend([
                "-map",
                "0:a:0",
                "-vn",
                "-sn",
                "-dn",
                "-af",
                "asetpts=N/SR/TB",
            ]),
        }
        args.extend([
            "-c:a",
            "aac",
            "-b:a",
            &audio_rate,
            "-ac",
            "2",
            "-output_ts_offset",
            &offset,
            "-f",
            "hls",
            "-hls_time",
            &length,
            "-hls_list_size",
            "0",
            "-hls_segment_type",
            "mpegts",
            // The playlist is written to a temporary name and renamed: never seen half-written.
            "-hls_flags",
            "temp_file",
            "-start_number",
            &start,
            "-hls_segment_filename",
            &segments,
            &playlist,
        ]);
        args.into_iter().map(String::from).collect()
    }
}

/// One transcode: ffmpeg started (once a slot is free), its segments stored as they finish.
struct Run {
    media: Arc<Media>,
    db: Db,
    blobs: BlobStore,
    key: TitleKey,
    kind: MediaKind,
    job: Arc<Job>,
    lease: Lease,
}

impl Run {
    async fn go(self) {
        let media = self.media.clone();
        let (key, job) = (self.key.clone(), self.job.clone());
        media.waiting.fetch_add(1, Ordering::Relaxed);
        let permit = media.slots.clone().acquire_owned().await;
        media.waiting.fetch_sub(1, Ordering::Relaxed);
        let end = match permit {
            Err(e) => End::Failed(format!("no transcode slot: {e}")),
            // Everyone who wanted it gave up while it was queued.
            Ok(_) if job.idle() > Duration::from_secs(media.config.idle_secs) => End::Stopped,
            Ok(_permit) => self.transcode().await.unwrap_or_else(End::Failed),
        };
        media.finish(&key, &job, end);
    }

    async fn transcode(&self) -> Result<End, String> {
        let media = &self.media;
        let dir = media
            .work_dir
            .join(format!("t-{}", crate::auth::random_hex(8)));
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| format!("cannot make {}: {e}", dir.display()))?;
        let result = self.run_ffmpeg(&dir).await;
        if let Err(e) = tokio::fs::remove_dir_all(&dir).await {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove a transcode's work folder");
        }
        result
    }

    async fn run_ffmpeg(&self, dir: &std::path::Path) -> Result<End, String> {
        let media = &self.media;
        let args = media.ffmpeg_args(self.kind, &self.lease.url, self.job.start, dir);
        let mut child = tokio::process::Command::new(&media.config.ffmpeg)
            .args(&args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", media.config.ffmpeg.display()))?;
        media.started.inc();
        tracing::info!(image = %self.key.image, title = self.key.title, profile = %self.key.profile, start = self.job.start, "transcode started");
        let stderr = child.stderr.take().map(|mut err| {
            tokio::spawn(async move {
                let mut kept = Vec::new();
                let mut buf = [0u8; 1024];
                while let Ok(got) = err.read(&mut buf).await {
                    if got == 0 {
                        break;
                    }
                    kept.extend_from_slice(&buf[..got]);
                    if kept.len() > STDERR_KEPT {
                        kept.drain(..kept.len() - STDERR_KEPT);
                    }
                }
                String::from_utf8_lossy(&kept).into_owned()
            })
        });
        let idle_limit = Duration::from_secs(media.config.idle_secs);
        // Readers are let run this far ahead: then a transcode stops, and one starts again
        // where they are when they get there.
        let lead = i64::from(LEAD_SECS.div_ceil(media.config.segment_secs));
        let mut tick = tokio::time::interval(Duration::from_millis(150));
        let status = loop {
            tokio::select! {
                status = child.wait() => break Some(status),
                _ = tick.tick() => {
                    match self.collect(dir, false).await {
                        Ok(true) => {}
                        // Another transcode has already made what comes next.
                        Ok(false) => break None,
                        Err(e) => return Err(e),
                    }
                    if self.job.idle() > idle_limit {
                        tracing::info!(image = %self.key.image, title = self.key.title, "transcode stopped: nobody is watching");
                        break None;
                    }
                    if self.job.far_ahead(lead) {
                        tracing::debug!(image = %self.key.image, title = self.key.title, "transcode stopped: far ahead of its readers");
                        break None;
                    }
                }
            }
        };
        let Some(status) = status else {
            // Stopped on purpose: what it finished is stored, the rest is dropped.
            let _ = child.kill().await;
            return Ok(End::Stopped);
        };
        let status = status.map_err(|e| format!("ffmpeg: {e}"))?;
        let complaints = match stderr {
            Some(task) => task.await.unwrap_or_default(),
            None => String::new(),
        };
        if !status.success() {
            return Err(hide_url(&last_line(&complaints), &self.lease.url));
        }
        // Stopped short of the end where another transcode's segments begin: where the title
        // ends is not known from this one.
        Ok(if self.collect(dir, true).await? {
            End::Finished
        } else {
            End::Stopped
        })
    }

    /// Stores the segments ffmpeg has finished, in order: a segment is finished once ffmpeg
    /// lists it in its playlist (written whole, after the segment is closed), once the next
    /// has begun, or (`all`) once ffmpeg has ended well. `Ok(false)` when the next segment to
    /// make is already stored (another transcode got there first).
    async fn collect(&self, dir: &std::path::Path, all: bool) -> Result<bool, String> {
        let listed = tokio::fs::read_to_string(dir.join("out.m3u8"))
            .await
            .unwrap_or_default();
        loop {
            let next = self.job.progress.borrow().next;
            let name = format!("seg{next}.ts");
            let this = dir.join(&name);
            let after = dir.join(format!("seg{}.ts", next + 1));
            let ready = tokio::fs::try_exists(&this).await.unwrap_or(false)
                && (all
                    || listed.lines().any(|l| l == name)
                    || tokio::fs::try_exists(&after).await.unwrap_or(false));
            if !ready {
                return Ok(true);
            }
            let bytes = tokio::fs::read(&this)
                .await
                .map_err(|e| format!("reading {}: {e}", this.display()))?;
            self.store(next, &bytes)
                .await
                .map_err(|e| format!("storing segment {next}: {e}"))?;
            let _ = tokio::fs::remove_file(&this).await;
            self.job.progress.send_modify(|p| p.next = next + 1);
            if db::media::segment(&self.db, &self.key, next + 1)
                .await
                .ok()
                .flatten()
                .is_some()
            {
                return Ok(false);
            }
        }
    }

    /// Stores one segment (unless another transcode has already).
    async fn store(&self, n: i64, bytes: &[u8]) -> Result<(), String> {
        let digest = self
            .blobs
            .put_small(bytes)
            .await
            .map_err(|e| e.to_string())?;
        let fresh = db::media::insert_segment(
            &self.db,
            &self.key,
            n,
            &digest.to_hex(),
            bytes.len() as i64,
            db::now(),
        )
        .await
        .map_err(|e| e.to_string())?;
        if fresh {
            self.evict().await;
        }
        Ok(())
    }

    /// Keeps the stored segments under `cache_mib`.
    async fn evict(&self) {
        let cap = self.media.config.cache_mib * crate::config::MIB;
        if let Err(e) = evict(&self.db, &self.blobs, cap).await {
            tracing::warn!(error = %e, "evicting media segments");
        }
    }
}

/// Removes the least recently played segments until those stored take at most `cap` bytes
/// (their rows, then the bytes nothing else needs); answers how many went.
pub async fn evict(db: &Db, blobs: &BlobStore, cap: u64) -> Result<usize, db::DbError> {
    let cap = i64::try_from(cap).unwrap_or(i64::MAX);
    let mut removed = 0;
    loop {
        let excess = db::media::total_size(db).await? - cap;
        if excess <= 0 {
            return Ok(removed);
        }
        let (gone, unneeded) = db::media::evict_oldest(db, excess).await?;
        removed += gone;
        for sha in unneeded {
            if let Ok(digest) = sha.parse::<Digest>()
                && let Err(e) = blobs.delete(&digest).await
            {
                tracing::warn!(sha256 = %sha, error = %e, "an evicted segment's bytes stay");
            }
        }
        if gone == 0 {
            return Ok(removed);
        }
    }
}

fn last_line(text: &str) -> String {
    let line = text
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("ffmpeg failed without saying why");
    line.chars().take(300).collect()
}

/// ffmpeg names its input in its complaints: the loopback address is nobody's business.
fn hide_url(text: &str, url: &str) -> String {
    text.replace(&format!("{url}: "), "")
        .replace(url, "the title")
}

fn cannot_play(title: usize, why: &str) -> AppError {
    AppError::unprocessable(
        ErrorCode::CannotPlay,
        detail!("err_cannot_play", title = title, why = why),
    )
}

fn no_segment(title: usize, n: i64) -> AppError {
    AppError::not_found(
        ErrorCode::SegmentNotFound,
        detail!("err_no_segment", title = title, segment = n),
    )
}

fn preparing() -> AppError {
    AppError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Preparing,
        detail!("err_preparing"),
    )
    .with_header(
        axum::http::header::RETRY_AFTER,
        axum::http::HeaderValue::from_static("2"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nowhere;
    impl Source for Nowhere {
        fn open(&self, _: Representation) -> std::io::Result<Lease> {
            Err(std::io::Error::other("no source in unit tests"))
        }
    }

    fn media(segment_secs: u32) -> Media {
        let config = MediaConfig {
            segment_secs,
            ..MediaConfig::default()
        };
        Media::new(
            config,
            PathBuf::from("unused"),
            Arc::new(Nowhere),
            Counter::default(),
            Gauge::default(),
        )
    }

    #[test]
    fn playlists_state_the_whole_duration_and_end() {
        let m3u8 = media(4).playlist(10_500, "?access=x");
        let lines: Vec<&str> = m3u8.lines().collect();
        assert_eq!(lines[0], "#EXTM3U");
        assert!(lines.contains(&"#EXT-X-PLAYLIST-TYPE:VOD"));
        assert!(lines.contains(&"#EXT-X-TARGETDURATION:5"));
        let durations: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix("#EXTINF:"))
            .collect();
        assert_eq!(durations, ["4.000,", "4.000,", "2.500,"]);
        assert!(lines.contains(&"hls/2.ts?access=x"));
        assert_eq!(lines.last(), Some(&"#EXT-X-ENDLIST"));
        // A title shorter than a segment is one segment.
        assert_eq!(
            media(4).playlist(900, "").matches("#EXTINF:0.900,").count(),
            1
        );
    }

    #[test]
    fn ffmpeg_starts_where_asked_and_keeps_the_title_clock() {
        let m = media(4);
        let args = m.ffmpeg_args(
            MediaKind::Video,
            "http://127.0.0.1:9/s/k",
            5,
            std::path::Path::new("/w"),
        );
        let at = |flag: &str| {
            args.iter()
                .position(|a| a == flag)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        assert_eq!(at("-ss").as_deref(), Some("20"));
        assert_eq!(at("-output_ts_offset").as_deref(), Some("20"));
        assert_eq!(at("-start_number").as_deref(), Some("5"));
        assert_eq!(at("-hls_time").as_deref(), Some("4"));
        assert_eq!(
            at("-force_key_frames").as_deref(),
            Some("expr:gte(t,n_forced*4)")
        );
        assert!(args.iter().position(|a| a == "-ss") < args.iter().position(|a| a == "-i"));
        assert_eq!(last_line("a\nInvalid data found\n\n"), "Invalid data found");
    }
}
