//! Browsing a disc: a directory's listing, the whole tree, one file streamed from inside the
//! image, an audio track as WAV, a directory as a streamed ZIP, the launch target, and the
//! facts about the image that the disc's JSON view shows.

pub mod dav;
mod lookup;

use serde::Serialize;
use spindle_image::SectorLayout;
use spindle_storage::Digest;

use crate::access::Viewer;
use crate::content::{self, Content, Representation, Segment, unix_time};
use crate::db::{
    self, Db,
    discs::DiscRow,
    images::{FileRow, ImageRow},
};
use crate::detail;
use crate::discs::{self, ContentRows, file_url};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::images::{self, Layout};
use crate::state::FileKind;
use crate::zipstream::{ZipEntry, ZipPlan};

#[derive(Debug, Serialize)]
pub struct EntryView {
    pub name: String,
    pub path: String,
    pub kind: FileKind,
    pub size: i64,
    pub mtime: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    pub url: String,
}

fn entry_view(disc: i64, row: FileRow) -> EntryView {
    let content_type =
        (row.kind == FileKind::File).then(|| content::file_content_type(&row.name).0);
    EntryView {
        url: file_url(disc, &row.path),
        name: row.name,
        path: row.path,
        kind: row.kind,
        size: row.size,
        mtime: row.mtime,
        target: row.target,
        content_type,
    }
}

#[derive(Debug, Serialize)]
pub struct Listing {
    pub disc: i64,
    pub path: String,
    pub parent: Option<String>,
    pub entries: Vec<EntryView>,
}

pub enum Found {
    Dir(Listing),
    File(Box<Representation>),
}

async fn open(
    db: &Db,
    rows: &ContentRows,
    viewer: &Viewer,
    id: i64,
) -> AppResult<(DiscRow, ImageRow)> {
    let disc = discs::content_readable(db, rows, viewer, id).await?;
    let image = lookup::indexed(db, rows, &disc.sha256).await?;
    Ok((disc, image))
}

async fn listing(db: &Db, disc: &DiscRow, dir: &str) -> AppResult<Listing> {
    let mut rows = db::images::children(db, &disc.sha256, dir).await?;
    // Directories first, then by name, the way file managers show a disc.
    rows.sort_by(|a, b| {
        (a.kind != FileKind::Dir, &a.name).cmp(&(b.kind != FileKind::Dir, &b.name))
    });
    let parent = (!dir.is_empty()).then(|| {
        let up = dir.rsplit_once('/').map_or("", |(d, _)| d);
        file_url(disc.id, up)
    });
    Ok(Listing {
        disc: disc.id,
        path: dir.to_string(),
        parent,
        entries: rows.into_iter().map(|r| entry_view(disc.id, r)).collect(),
    })
}

/// What is at `raw_path` on a disc: a directory's listing, or a file ready to stream.
pub async fn at(
    db: &Db,
    rows: &ContentRows,
    viewer: &Viewer,
    id: i64,
    raw_path: &str,
) -> AppResult<Found> {
    let (disc, image) = open(db, rows, viewer, id).await?;
    let path = lookup::clean_path(raw_path)?;
    if path.is_empty() {
        return Ok(Found::Dir(listing(db, &disc, "").await?));
    }
    let row = lookup::resolve(db, &disc.sha256, &path).await?;
    if row.kind == FileKind::Dir {
        return Ok(Found::Dir(listing(db, &disc, &row.path).await?));
    }
    Ok(Found::File(Box::new(
        file_representation(db, &disc, &image, &row).await?,
    )))
}

#[derive(Debug, Serialize)]
pub struct Tree {
    pub disc: i64,
    pub entries: Vec<EntryView>,
}

pub async fn tree(db: &Db, rows: &ContentRows, viewer: &Viewer, id: i64) -> AppResult<Tree> {
    let (disc, _) = open(db, rows, viewer, id).await?;
    let mut rows = db::images::all_files(db, &disc.sha256).await?;
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(Tree {
        disc: disc.id,
        entries: rows.into_iter().map(|r| entry_view(disc.id, r)).collect(),
    })
}

/// Where an image's bytes are: its layout, and the blob of each part (0 is the image
/// itself, the others its CUE sheet's files). Read once per request, however many files
/// the request streams.
struct Parts {
    layout: Layout,
    digests: Vec<(u32, Digest)>,
}

impl Parts {
    async fn of(db: &Db, image: &ImageRow) -> AppResult<Self> {
        let parse = |hex: &str| -> AppResult<Digest> {
            hex.parse()
                .map_err(|e| AppError::internal("stored digest", &e))
        };
        let layout = images::layout(image);
        let mut digests = vec![(0, parse(&image.sha256)?)];
        let has_parts =
            layout.sources.iter().any(|s| s.part > 0) || layout.tracks.iter().any(|t| t.part > 0);
        if has_parts {
            for p in db::images::parts(db, &image.sha256).await? {
                let part = u32::try_from(p.position)
                    .map_err(|e| AppError::internal("part position", &e))?;
                digests.push((part, parse(&p.part_sha256)?));
            }
        }
        Ok(Self { layout, digests })
    }

    fn digest(&self, part: u32) -> AppResult<Digest> {
        self.digests
            .iter()
            .find(|(n, _)| *n == part)
            .map(|(_, d)| *d)
            .ok_or_else(|| AppError::internal("image part", &part))
    }

    fn file_content(&self, row: &FileRow) -> AppResult<Content> {
        let source = self
            .layout
            .sources
            .get(row.source as usize)
            .copied()
            .ok_or_else(|| AppError::internal("file source", &row.source))?;
        let digest = self.digest(source.part)?;
        let segments = lookup::extents(row)?
            .into_iter()
            .map(|(offset, len)| match offset {
                Some(offset) => Segment::Stored {
                    digest,
                    layout: source.layout,
                    offset,
                    len,
                },
                None => Segment::Zeros(len),
            })
            .collect();
        let content = Content::new(segments);
        if content.len() != row.size as u64 {
            return Err(AppError::internal(
                "file extents",
                &format!(
                    "{} bytes of extents for a {}-byte file",
                    content.len(),
                    row.size
                ),
            ));
        }
        Ok(content)
    }
}

fn short_hash(s: &str) -> String {
    Digest::of(s.as_bytes()).to_hex()[..16].to_string()
}

async fn file_representation(
    db: &Db,
    disc: &DiscRow,
    image: &ImageRow,
    row: &FileRow,
) -> AppResult<Representation> {
    let (content_type, inline) = content::file_content_type(&row.name);
    Ok(Representation {
        etag: format!("{}-{}", image.sha256, short_hash(&row.path)),
        size: row.size as u64,
        last_modified: unix_time(row.mtime.filter(|t| *t > 0).unwrap_or(disc.stored_at)),
        filename: row.name.clone(),
        content_type,
        inline,
        sandbox: true,
        content: Parts::of(db, image).await?.file_content(row)?,
    })
}

/// A title a reader can play: what it is, and its bytes as one file.
pub struct Playable {
    /// The image's SHA-256.
    pub image: String,
    /// A title of `image.media`, or a CD audio track.
    pub origin: Origin,
    /// The title's number on the disc (`image.media[number - 1]`), or the track's number.
    pub number: usize,
    pub kind: spindle_image::media::MediaKind,
    /// `mpeg-ps`, `asf`, `mp3`… as the index named it.
    pub container: String,
    /// As the index found it; a data disc's files may have none.
    pub duration_ms: Option<u64>,
    pub rep: Representation,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Title,
    Track,
}

/// A title a reader can play (`image.media[n - 1]`) as one file: a VCD's sequence, or a
/// DVD title's cells joined across its VOB pieces into one MPEG program stream.
pub async fn title(
    db: &Db,
    rows: &ContentRows,
    viewer: &Viewer,
    id: i64,
    raw: &str,
) -> AppResult<Representation> {
    Ok(playable(db, rows, viewer, id, raw).await?.rep)
}

/// [`title`], with what the title is.
pub async fn playable(
    db: &Db,
    rows: &ContentRows,
    viewer: &Viewer,
    id: i64,
    raw: &str,
) -> AppResult<Playable> {
    let (disc, image) = open(db, rows, viewer, id).await?;
    let not_found = || {
        AppError::not_found(
            ErrorCode::TitleNotFound,
            detail!("err_no_title", id = id, title = raw),
        )
    };
    let number: usize = raw
        .split_once('.')
        .map_or(raw, |(n, _)| n)
        .parse()
        .map_err(|_| not_found())?;
    let parts = Parts::of(db, &image).await?;
    let t = number
        .checked_sub(1)
        .and_then(|i| parts.layout.media.get(i))
        .ok_or_else(not_found)?;
    // A DVD title's cells often come back to the same VOB: each file is looked up once.
    let mut files: Vec<(&str, Content)> = Vec::new();
    let mut content = Content::default();
    for piece in &t.pieces {
        let file = match files.iter().find(|(path, _)| *path == piece.path) {
            Some((_, file)) => file,
            None => {
                let row = lookup::resolve(db, &disc.sha256, &piece.path).await?;
                files.push((&piece.path, parts.file_content(&row)?));
                &files[files.len() - 1].1
            }
        };
        content.append(file.slice(piece.offset, piece.offset + piece.len));
    }
    let extension = match t.container.as_str() {
        "mpeg-ps" => "mpg",
        _ => t.name.rsplit_once('.').map_or("bin", |(_, x)| x),
    };
    let filename = format!("title{number:02}.{}", extension.to_ascii_lowercase());
    let (content_type, _) = content::file_content_type(&filename);
    Ok(Playable {
        image: image.sha256.clone(),
        origin: Origin::Title,
        number,
        kind: t.kind,
        container: t.container.clone(),
        duration_ms: t.duration_ms,
        rep: Representation {
            etag: format!("{}-m{number}", image.sha256),
            size: content.len(),
            last_modified: unix_time(disc.stored_at),
            filename,
            content_type,
            inline: true,
            sandbox: true,
            content,
        },
    })
}

/// An audio track as a WAV file: a 44-byte header built on the fly, then the track's PCM.
pub async fn track(
    db: &Db,
    rows: &ContentRows,
    viewer: &Viewer,
    id: i64,
    raw: &str,
) -> AppResult<Representation> {
    Ok(playable_track(db, rows, viewer, id, raw).await?.rep)
}

/// [`track`], as a title to play (its WAV transcoded to something compact).
pub async fn playable_track(
    db: &Db,
    rows: &ContentRows,
    viewer: &Viewer,
    id: i64,
    raw: &str,
) -> AppResult<Playable> {
    let (disc, image) = open(db, rows, viewer, id).await?;
    let not_found = || {
        AppError::not_found(
            ErrorCode::TrackNotFound,
            detail!("err_no_track", id = id, track = raw),
        )
    };
    let number: u32 = raw
        .strip_suffix(".wav")
        .unwrap_or(raw)
        .parse()
        .map_err(|_| not_found())?;
    let parts = Parts::of(db, &image).await?;
    let t = parts
        .layout
        .tracks
        .iter()
        .find(|t| t.number == number)
        .ok_or_else(not_found)?;
    let digest = parts.digest(t.part)?;
    let len = u32::try_from(t.len).map_err(|_| AppError::internal("track length", &t.len))?;
    let content = Content::new(vec![
        Segment::Inline(content::wav_header(len)),
        Segment::Stored {
            digest,
            layout: SectorLayout::PLAIN,
            offset: t.offset,
            len: t.len,
        },
    ]);
    Ok(Playable {
        image: image.sha256.clone(),
        origin: Origin::Track,
        number: number as usize,
        kind: spindle_image::media::MediaKind::Audio,
        container: "cdda".into(),
        // 44,100 stereo 16-bit frames a second: 176.4 bytes a millisecond.
        duration_ms: Some(t.len * 10 / 1764),
        rep: Representation {
            etag: format!("{}-t{number}", image.sha256),
            size: content.len(),
            last_modified: unix_time(disc.stored_at),
            filename: format!("track{number:02}.wav"),
            content_type: "audio/wav".into(),
            inline: true,
            sandbox: false,
            content,
        },
    })
}

/// A CUE sheet's BIN file, whole.
pub async fn part(
    db: &Db,
    rows: &ContentRows,
    viewer: &Viewer,
    id: i64,
    name: &str,
) -> AppResult<Representation> {
    let disc = discs::content_readable(db, rows, viewer, id).await?;
    let p = db::images::parts(db, &disc.sha256)
        .await?
        .into_iter()
        .find(|p| p.name == name)
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::PartNotFound,
                detail!("err_no_part", id = id, name = name),
            )
        })?;
    let digest: Digest = p
        .part_sha256
        .parse()
        .map_err(|e| AppError::internal("stored digest", &e))?;
    let filename = p
        .name
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(&p.name)
        .to_string();
    Ok(Representation {
        etag: digest.to_hex(),
        size: p.size as u64,
        last_modified: unix_time(disc.stored_at),
        filename,
        content_type: "application/octet-stream".into(),
        inline: false,
        sandbox: false,
        content: Content::whole_blob(digest, p.size as u64),
    })
}

/// Most files one ZIP may carry; a whole 2,000,000-entry disc is better taken as its image.
const MAX_ZIP_ENTRIES: usize = 100_000;

/// The entries of a directory (the whole disc for "") for a streamed ZIP, and its file name.
pub async fn zip(
    db: &Db,
    rows: &ContentRows,
    viewer: &Viewer,
    id: i64,
    raw_path: &str,
) -> AppResult<ZipPlan> {
    let (disc, image) = open(db, rows, viewer, id).await?;
    let path = lookup::clean_path(raw_path)?;
    if !path.is_empty() {
        let row = lookup::resolve(db, &disc.sha256, &path).await?;
        if row.kind != FileKind::Dir {
            return Err(AppError::not_found(
                ErrorCode::DirNotFound,
                detail!("err_not_a_dir", path = path),
            ));
        }
    }
    let mut rows = db::images::subtree(db, &disc.sha256, &path).await?;
    if rows.len() > MAX_ZIP_ENTRIES {
        return Err(AppError::unprocessable(
            ErrorCode::ZipTooLarge,
            detail!(
                "err_zip_too_large",
                entries = rows.len(),
                max = MAX_ZIP_ENTRIES
            ),
        ));
    }
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    let strip = if path.is_empty() { 0 } else { path.len() + 1 };
    let parts = Parts::of(db, &image).await?;
    let mut entries = Vec::with_capacity(rows.len());
    for row in rows.into_iter().filter(|r| r.kind != FileKind::Symlink) {
        let content = if row.kind == FileKind::File {
            parts.file_content(&row)?
        } else {
            Content::default()
        };
        entries.push(ZipEntry {
            name: row.path[strip..].to_string(),
            is_dir: row.kind == FileKind::Dir,
            mtime: row.mtime,
            content,
        });
    }
    let base = if path.is_empty() {
        image
            .volume_label
            .clone()
            .unwrap_or_else(|| format!("disc-{id}"))
    } else {
        path.rsplit('/').next().unwrap_or(&path).to_string()
    };
    // The same image, folder and archive layout make the same bytes.
    let etag = {
        use sha2::Digest as _;
        hex::encode(sha2::Sha256::digest(format!(
            "{}\0{path}\0zip-2",
            disc.sha256
        )))
    };
    Ok(ZipPlan {
        filename: format!("{base}.zip"),
        etag,
        stored_at: disc.stored_at,
        entries,
    })
}

/// Where the Launch button goes: the file URL of the disc's launch target.
pub async fn launch(db: &Db, rows: &ContentRows, viewer: &Viewer, id: i64) -> AppResult<String> {
    let (disc, image) = open(db, rows, viewer, id).await?;
    image
        .launch_path
        .as_deref()
        // The page a launch opens is counted by the launch, not again as a download. Opened
        // by a signed link alone, its address carries the link: the page runs sandboxed, so
        // its images, styles and scripts are requested without the link's cookie.
        .map(|p| {
            let prefix = viewer
                .link_needed_for(&disc)
                .map(|t| format!("/g/{t}"))
                .unwrap_or_default();
            crate::site::here(format!(
                "{prefix}{}?via=launch",
                discs::file_path(disc.id, p)
            ))
        })
        .ok_or_else(|| AppError::not_found(ErrorCode::NoLaunchTarget, detail!("err_no_launch")))
}
