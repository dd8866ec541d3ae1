//! Disc-image readers: ISO 9660 (with Joliet, Rock Ridge and El Torito), UDF 1.02–2.60 and
//! BIN/CUE. Each parser works over positioned reads (`ReadAt`) and produces one `Index`: the
//! formats found, the volume label, the boot record, every file with its extents, and the
//! audio tracks. Nothing here loads an image whole, and every count and depth is bounded.

mod content;
mod cue;
mod detect;
mod iso9660;
mod le;
pub mod media;
mod names;
mod source;
mod time;
mod tree;
mod udf;

use serde::{Deserialize, Serialize};

pub use content::{autorun, autorun_program, content_class, launch_target};
pub use cue::{CueSheet, CueTrack, TrackMode, match_part, parse_cue};
pub use detect::{Detected, detect};
pub use iso9660::VIDEO_LOST;
pub use source::{
    BlobSource, CACHE_BLOCK, FORM2_PAYLOAD, FileSource, ReadAt, SAMPLE_HEAD, SAMPLE_TAIL, SECTOR,
    Sampled, SectorLayout, SectorView,
};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    /// A known format Spindle does not read (NRG, MDS, CCD, …), or a file that is not an image.
    #[error("unsupported image format: {0}")]
    Unsupported(String),
    #[error("not a recognised disc image (no ISO 9660, UDF or CUE sheet found)")]
    Unrecognised,
    #[error("image is truncated: byte {needed} is needed but the image has {size} bytes")]
    Truncated { needed: u64, size: u64 },
    #[error("malformed {format}: {detail}")]
    Malformed {
        format: &'static str,
        detail: String,
    },
    #[error("{0}")]
    Limit(String),
    #[error("the CUE sheet names {0:?}, which was not uploaded with the disc")]
    MissingPart(String),
    #[error("reading the image: {0}")]
    Io(String),
}

impl ImageError {
    pub(crate) fn malformed(format: &'static str, detail: impl Into<String>) -> Self {
        Self::Malformed {
            format,
            detail: detail.into(),
        }
    }

    /// What went wrong, as the language catalogue says it (the `Display` text is English).
    pub fn message(&self) -> spindle_i18n::Message {
        use spindle_i18n::detail;
        match self {
            Self::Unsupported(format) => detail!("err_image_unsupported", format = format),
            Self::Unrecognised => detail!("err_image_unrecognised"),
            Self::Truncated { needed, size } => {
                detail!("err_image_truncated", needed = needed, size = size)
            }
            Self::Malformed { format, detail } => {
                detail!("err_image_malformed", format = format, reason = detail)
            }
            Self::Limit(reason) => detail!("err_image_limit", reason = reason),
            Self::MissingPart(name) => detail!("err_image_part_missing", name = name),
            Self::Io(reason) => detail!("err_image_read", reason = reason),
        }
    }
}

/// Bounds on what one image may make the indexer do.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_entries: usize,
    pub max_depth: usize,
    pub max_dir_bytes: u64,
    pub max_path_bytes: usize,
    pub max_extents_per_file: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: 2_000_000,
            max_depth: 128,
            max_dir_bytes: 64 * 1024 * 1024,
            max_path_bytes: 4096,
            max_extents_per_file: 100_000,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
}

/// A run of a file's bytes: `offset` in the logical sectors of its source, or zeros (a sparse
/// or unrecorded UDF extent) when `offset` is None.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extent {
    pub offset: Option<u64>,
    pub len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// `/`-separated path from the root, without a leading slash.
    pub path: String,
    pub kind: EntryKind,
    pub size: u64,
    /// Modification time, Unix seconds.
    pub mtime: Option<i64>,
    /// Index into `Index::sources`.
    pub source: u32,
    pub extents: Vec<Extent>,
    /// Symlink target as recorded (Rock Ridge SL, UDF symlink).
    pub target: Option<String>,
}

/// Where the logical sectors that entries point into live: a part of the disc (0 = the
/// uploaded image or CUE sheet's first file) and the sector layout inside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Source {
    pub part: u32,
    pub layout: SectorLayout,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Boot {
    pub platform: String,
    pub emulation: String,
    /// Byte offset and length of the boot image in the logical sectors of source 0.
    pub offset: u64,
    pub len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AudioTrack {
    pub number: u32,
    pub part: u32,
    /// Byte offset of INDEX 01 in the part, and the PCM length to the next track.
    pub offset: u64,
    pub len: u64,
    pub pregap_frames: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Index {
    /// What was found, e.g. `["iso9660", "joliet", "rock-ridge", "el-torito"]`, `["udf",
    /// "iso9660"]`, `["cue", "mode1/2352", "audio"]`.
    pub formats: Vec<String>,
    /// Which tree `entries` lists: "rock-ridge", "joliet", "iso9660", "udf", or "none".
    pub view: String,
    pub volume_label: Option<String>,
    pub boot: Vec<Boot>,
    pub sources: Vec<Source>,
    pub entries: Vec<Entry>,
    pub tracks: Vec<AudioTrack>,
    /// Non-fatal findings (names skipped or renamed, an unreadable UDF tree on a bridge disc).
    pub warnings: Vec<String>,
    /// The audio and video a reader can play (indexes stored before media were read have
    /// none until the image is read again).
    #[serde(default)]
    pub media: Vec<media::Title>,
}

impl Index {
    pub fn file_count(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.kind == EntryKind::File)
            .count() as u64
    }

    pub fn files_size(&self) -> u64 {
        self.entries
            .iter()
            .filter(|e| e.kind == EntryKind::File)
            .map(|e| e.size)
            .sum()
    }
}

/// A disc's parts as the indexer sees them: part 0 is the uploaded image (or CUE sheet);
/// the others are the files a CUE sheet names, by the name it uses.
pub struct Parts<'a> {
    pub main: &'a dyn ReadAt,
    pub named: Vec<(String, &'a dyn ReadAt)>,
}

/// Reads a disc's index. The format comes from the bytes, never from a file name.
pub fn index(parts: &Parts<'_>, limits: &Limits) -> Result<Index, ImageError> {
    let mut index = read_index(parts, limits)?;
    tag_video(&mut index);
    index.media = media::find(&index, parts);
    Ok(index)
}

/// Names the video disc standards a disc's files follow: `vcd` (`VCD/INFO.VCD`), `svcd`
/// (`SVCD/INFO.SVD`), `dvd-video` (`VIDEO_TS/VIDEO_TS.IFO`).
fn tag_video(index: &mut Index) {
    for (marker, tag) in [
        ("VCD/INFO.VCD", "vcd"),
        ("SVCD/INFO.SVD", "svcd"),
        ("VIDEO_TS/VIDEO_TS.IFO", "dvd-video"),
    ] {
        let found = index
            .entries
            .iter()
            .any(|e| e.kind == EntryKind::File && e.path.eq_ignore_ascii_case(marker));
        if found && !index.formats.iter().any(|f| f == tag) {
            index.formats.push(tag.into());
        }
    }
}

fn read_index(parts: &Parts<'_>, limits: &Limits) -> Result<Index, ImageError> {
    match detect(parts.main)? {
        Detected::Iso { udf } => sector_image(parts.main, SectorLayout::PLAIN, ALL, udf, limits),
        Detected::Udf => sector_image(parts.main, SectorLayout::PLAIN, ALL, true, limits),
        Detected::Raw { layout } => {
            let mut index = sector_image(parts.main, layout, ALL, true, limits)?;
            index.formats.insert(0, raw_format(layout).to_string());
            Ok(index)
        }
        Detected::Cue(text) => cue::index(&text, parts, limits),
    }
}

fn raw_format(layout: SectorLayout) -> &'static str {
    if layout.skip == 24 {
        "raw-mode2/2352"
    } else {
        "raw-mode1/2352"
    }
}

/// As many sectors as the part holds.
const ALL: u64 = u64::MAX / SECTOR;

/// An ISO 9660 and/or UDF file system in the first `sectors` logical sectors of `part` under
/// `layout` (reported as part 0; a CUE sheet renumbers it).
pub(crate) fn sector_image(
    part: &dyn ReadAt,
    layout: SectorLayout,
    sectors: u64,
    try_udf: bool,
    limits: &Limits,
) -> Result<Index, ImageError> {
    let view = SectorView::new(part, layout, sectors);
    let source = Source { part: 0, layout };
    let iso = iso9660::read(&view, limits);
    let mut warnings = Vec::new();
    if try_udf {
        match udf::read(&view, limits) {
            Ok(mut index) => {
                if let Ok(iso) = &iso {
                    index.formats.extend(iso.formats.iter().cloned());
                    index.boot = iso.boot.clone();
                }
                index.sources = vec![source];
                return Ok(index);
            }
            Err(e) if iso.is_ok() => {
                warnings.push(format!("UDF tree unreadable, using ISO 9660: {e}"))
            }
            Err(e) => return Err(e),
        }
    }
    let mut index = iso?;
    index.warnings.extend(warnings);
    index.sources = vec![source];
    Ok(index)
}

#[cfg(test)]
mod tests;

impl Index {
    /// Reads `buf.len()` bytes of `entry` from `offset` through the parts' readers (tests,
    /// the CLI and benchmarks; the service streams the same extents from the object store).
    pub fn read_entry(
        &self,
        parts: &Parts<'_>,
        entry: &Entry,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), ImageError> {
        let source = self
            .sources
            .get(entry.source as usize)
            .ok_or_else(|| ImageError::malformed("index", "entry without a source"))?;
        let part: &dyn ReadAt = match source.part {
            0 => parts.main,
            n => parts
                .named
                .get(n as usize - 1)
                .map(|(_, r)| *r)
                .ok_or_else(|| ImageError::malformed("index", "source without a part"))?,
        };
        let view = SectorView::new(part, source.layout, ALL);
        let mut pos = 0u64; // start of the current extent in the file
        let mut filled = 0usize;
        for e in &entry.extents {
            let (lo, hi) = (pos, pos + e.len);
            pos = hi;
            let want_lo = offset + filled as u64;
            if filled == buf.len() {
                break;
            }
            if want_lo >= hi {
                continue;
            }
            let take = ((hi - want_lo) as usize).min(buf.len() - filled);
            let dst = &mut buf[filled..filled + take];
            match e.offset {
                Some(o) => view.read_exact_at(o + (want_lo - lo), dst)?,
                None => dst.fill(0),
            }
            filled += take;
        }
        if filled < buf.len() {
            return Err(ImageError::Truncated {
                needed: offset + buf.len() as u64,
                size: pos,
            });
        }
        Ok(())
    }
}
