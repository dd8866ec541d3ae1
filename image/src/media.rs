//! The audio and video a reader can play from a disc, found when the image is read: a Video
//! CD's sequences (`MPEGAV/AVSEQnn.DAT`) and a Super Video CD's (`MPEG2/`), a DVD's titles
//! (their cells in the title set's VOB pieces, in the order the IFO files give), and the
//! audio and video files of a data disc, named by their extension. A title is the byte
//! ranges of disc files that make it, in order, with what could be learnt cheaply of it: the
//! duration (a DVD's program chain, an MPEG program stream's first and last presentation
//! time stamps), the picture size and the codec. Reading is bounded: IFO files of at most
//! `MAX_IFO` bytes, `PROBE` bytes from each end of an MPEG stream, at most `MAX_PROBED`
//! streams per disc.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::{Entry, EntryKind, ImageError, Index, Parts};

const MAX_IFO: u64 = 1 << 20;
const PROBE: u64 = 256 * 1024;
const MAX_PROBED: usize = 200;
const MAX_TITLES: usize = 10_000;
const DVD_SECTOR: u64 = 2048;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Video,
    Audio,
}

/// Which kind of disc a title comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standard {
    Vcd,
    Svcd,
    DvdVideo,
    /// A file on a data disc.
    File,
}

/// A run of bytes of one file on the disc.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    pub path: String,
    pub offset: u64,
    pub len: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Title {
    pub kind: MediaKind,
    pub standard: Standard,
    /// A name for the title: its file's path, or `Title n` on a DVD.
    pub name: String,
    pub pieces: Vec<Piece>,
    /// The container as its bytes or name say: `mpeg-ps`, `avi`, `asf`, `rm`, `flv`, `mp4`…
    pub container: String,
    pub duration_ms: Option<u64>,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub video_codec: Option<String>,
}

impl Title {
    pub fn len(&self) -> u64 {
        self.pieces.iter().map(|p| p.len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Containers by file extension: (extension, kind, container).
const BY_EXTENSION: &[(&str, MediaKind, &str)] = &[
    ("mpg", MediaKind::Video, "mpeg-ps"),
    ("mpeg", MediaKind::Video, "mpeg-ps"),
    ("vob", MediaKind::Video, "mpeg-ps"),
    ("dat", MediaKind::Video, "mpeg-ps"),
    ("avi", MediaKind::Video, "avi"),
    ("wmv", MediaKind::Video, "asf"),
    ("asf", MediaKind::Video, "asf"),
    ("rm", MediaKind::Video, "rm"),
    ("rmvb", MediaKind::Video, "rm"),
    ("flv", MediaKind::Video, "flv"),
    ("mp4", MediaKind::Video, "mp4"),
    ("m4v", MediaKind::Video, "mp4"),
    ("mov", MediaKind::Video, "mp4"),
    ("3gp", MediaKind::Video, "mp4"),
    ("mkv", MediaKind::Video, "matroska"),
    ("webm", MediaKind::Video, "matroska"),
    ("ts", MediaKind::Video, "mpeg-ts"),
    ("mp3", MediaKind::Audio, "mp3"),
    ("wma", MediaKind::Audio, "asf"),
    ("ra", MediaKind::Audio, "rm"),
    ("ram", MediaKind::Audio, "rm"),
    ("wav", MediaKind::Audio, "wav"),
    ("ogg", MediaKind::Audio, "ogg"),
    ("m4a", MediaKind::Audio, "mp4"),
    ("aac", MediaKind::Audio, "aac"),
    ("flac", MediaKind::Audio, "flac"),
    ("mid", MediaKind::Audio, "midi"),
    ("midi", MediaKind::Audio, "midi"),
];

/// Reads `len` bytes at `offset` of a disc file.
type Read<'a> = dyn Fn(&Entry, u64, usize) -> Result<Vec<u8>, ImageError> + 'a;

/// The playable titles of an indexed disc.
pub fn find(index: &Index, parts: &Parts<'_>) -> Vec<Title> {
    let read = |e: &Entry, offset: u64, len: usize| {
        let mut buf = vec![0u8; len];
        index.read_entry(parts, e, offset, &mut buf)?;
        Ok(buf)
    };
    find_with(index, &read)
}

fn find_with(index: &Index, read: &Read<'_>) -> Vec<Title> {
    // Each file with its path in capitals, worked out once: disc standards name their files
    // in capitals, rippers do not always keep them.
    let files: Vec<(String, &Entry)> = index
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::File)
        .map(|e| (e.path.to_ascii_uppercase(), e))
        .collect();
    let mut titles = Vec::new();
    let mut claimed: HashSet<&str> = HashSet::new();

    // Video CD and Super Video CD sequences, in their numbered order.
    for (folder, standard) in [("MPEGAV/", Standard::Vcd), ("MPEG2/", Standard::Svcd)] {
        let mut seqs: Vec<&(String, &Entry)> = files
            .iter()
            .filter(|(p, _)| p.starts_with(folder) && (p.ends_with(".DAT") || p.ends_with(".MPG")))
            .collect();
        seqs.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, e) in seqs {
            claimed.insert(&e.path);
            titles.push(whole_file(e, MediaKind::Video, standard, "mpeg-ps"));
        }
    }

    // DVD-Video: each title set's entry program chains, over its VOB pieces.
    let mut sets: Vec<(u32, &Entry)> = files
        .iter()
        .filter_map(|(p, e)| {
            let n = p.strip_prefix("VIDEO_TS/VTS_")?.strip_suffix("_0.IFO")?;
            Some((n.parse().ok()?, *e))
        })
        .collect();
    sets.sort_by_key(|(n, _)| *n);
    for (set, ifo) in sets {
        let prefix = format!("VIDEO_TS/VTS_{set:02}_");
        let mut vobs: Vec<(u32, &Entry)> = files
            .iter()
            .filter_map(|(p, e)| {
                let n: u32 = p
                    .strip_prefix(&prefix)?
                    .strip_suffix(".VOB")?
                    .parse()
                    .ok()?;
                (1..=9).contains(&n).then_some((n, *e))
            })
            .collect();
        vobs.sort_by_key(|(n, _)| *n);
        let Ok(bytes) = read(ifo, 0, ifo.size.min(MAX_IFO) as usize) else {
            continue;
        };
        let pieces: Vec<&Entry> = vobs.iter().map(|(_, e)| *e).collect();
        for (i, t) in dvd::titles(&bytes).into_iter().enumerate() {
            let pieces = dvd::pieces(&pieces, &t.cells);
            if pieces.is_empty() {
                continue;
            }
            claimed.extend(vobs.iter().map(|(_, e)| e.path.as_str()));
            titles.push(Title {
                kind: MediaKind::Video,
                standard: Standard::DvdVideo,
                name: format!("Title {set}.{}", i + 1),
                pieces,
                container: "mpeg-ps".into(),
                duration_ms: Some(t.duration_ms),
                width: t.width,
                height: t.height,
                video_codec: Some(t.codec.into()),
            });
        }
    }

    // Audio and video files of a data disc (VOBs of a DVD and VCD sequences are its titles).
    for (upper, e) in &files {
        if titles.len() >= MAX_TITLES {
            break;
        }
        if claimed.contains(e.path.as_str()) || upper.starts_with("VIDEO_TS/") {
            continue;
        }
        let ext = e.path.rsplit_once('.').map(|(_, x)| x.to_ascii_lowercase());
        let Some((_, kind, container)) = ext
            .as_deref()
            .and_then(|x| BY_EXTENSION.iter().find(|(e, _, _)| *e == x))
        else {
            continue;
        };
        if e.size == 0 {
            continue;
        }
        titles.push(whole_file(e, *kind, Standard::File, container));
    }

    // What an MPEG program stream's time stamps and sequence header say, for the first
    // streams.
    let by_path: HashMap<&str, &Entry> = files.iter().map(|(_, e)| (e.path.as_str(), *e)).collect();
    let mut probed = 0;
    for t in &mut titles {
        if t.container != "mpeg-ps" || t.duration_ms.is_some() || probed >= MAX_PROBED {
            continue;
        }
        probed += 1;
        if let Some(found) = probe_ps(t, &by_path, read) {
            t.duration_ms = found.duration_ms;
            t.width = found.width;
            t.height = found.height;
            t.video_codec = found.codec.map(str::to_string);
        }
    }
    titles
}

fn whole_file(e: &Entry, kind: MediaKind, standard: Standard, container: &str) -> Title {
    Title {
        kind,
        standard,
        name: e.path.clone(),
        pieces: vec![Piece {
            path: e.path.clone(),
            offset: 0,
            len: e.size,
        }],
        container: container.into(),
        duration_ms: None,
        width: None,
        height: None,
        video_codec: None,
    }
}

struct PsFacts {
    duration_ms: Option<u64>,
    width: Option<u32>,
    height: Option<u32>,
    codec: Option<&'static str>,
}

/// The first `PROBE` bytes of a title's first piece and the last of its last.
fn probe_ps(t: &Title, by_path: &HashMap<&str, &Entry>, read: &Read<'_>) -> Option<PsFacts> {
    let entry = |p: &Piece| by_path.get(p.path.as_str()).copied();
    let first = t.pieces.first()?;
    let last = t.pieces.last()?;
    let head_len = first.len.min(PROBE);
    let head = read(entry(first)?, first.offset, head_len as usize).ok()?;
    let tail_len = last.len.min(PROBE);
    let tail = read(
        entry(last)?,
        last.offset + last.len - tail_len,
        tail_len as usize,
    )
    .ok()?;
    let start = ps::stamps(&head).min();
    let end = ps::stamps(&tail).max();
    let sequence = ps::sequence(&head);
    Some(PsFacts {
        duration_ms: match (start, end) {
            (Some(a), Some(b)) if b > a => Some((b - a) / 90),
            _ => None,
        },
        width: sequence.map(|s| s.0),
        height: sequence.map(|s| s.1),
        codec: sequence.map(|s| s.2),
    })
}

/// MPEG program streams (ISO/IEC 11172-1 and 13818-1): audio and video packets' presentation
/// time stamps, and the video sequence header.
mod ps {
    /// The 33-bit time stamp in five bytes (`xxxx` then three marked runs).
    fn timestamp(b: &[u8]) -> u64 {
        (u64::from(b[0] & 0x0E) << 29)
            | (u64::from(b[1]) << 22)
            | (u64::from(b[2] & 0xFE) << 14)
            | (u64::from(b[3]) << 7)
            | (u64::from(b[4]) >> 1)
    }

    /// The presentation time stamp (90 kHz) of every audio and video packet in `bytes`
    /// whose header is whole, MPEG-1 or MPEG-2.
    pub fn stamps(bytes: &[u8]) -> impl Iterator<Item = u64> + '_ {
        (0..bytes.len()).filter_map(move |i| {
            let w = bytes.get(i..i + 4)?;
            if w[..3] != [0, 0, 1] || !(0xC0..=0xEF).contains(&w[3]) {
                return None;
            }
            let h = bytes.get(i + 6..)?;
            // A PTS, or PTS and DTS, starts 0010 or 0011 and ends its first byte with a marker.
            let pts = |at: usize| {
                let b = h.get(at..at + 5)?;
                (b[0] & 0xE1 == 0x21).then(|| timestamp(b))
            };
            if h.first()? & 0xC0 == 0x80 {
                // MPEG-2 PES: two flag bytes and a header length, then the PTS if flagged.
                return (h.get(1)? & 0x80 != 0).then(|| pts(3)).flatten();
            }
            // MPEG-1: stuffing, an optional buffer size, then the time stamps.
            let mut j = 0;
            while j < 16 && *h.get(j)? == 0xFF {
                j += 1;
            }
            if h.get(j)? & 0xC0 == 0x40 {
                j += 2;
            }
            pts(j)
        })
    }

    /// The first video sequence header's picture size, and whether the stream is MPEG-2
    /// (a sequence extension follows) or MPEG-1.
    pub fn sequence(bytes: &[u8]) -> Option<(u32, u32, &'static str)> {
        let at = bytes.windows(4).position(|w| w == [0, 0, 1, 0xB3])?;
        let h = bytes.get(at + 4..at + 7)?;
        let width = (u32::from(h[0]) << 4) | (u32::from(h[1]) >> 4);
        let height = ((u32::from(h[1]) & 0x0F) << 8) | u32::from(h[2]);
        let rest = bytes.get(at + 12..(at + 400).min(bytes.len()))?;
        let mpeg2 = rest
            .windows(5)
            .any(|w| w[..4] == [0, 0, 1, 0xB5] && w[4] >> 4 == 1);
        Some((
            width,
            height,
            if mpeg2 { "mpeg2video" } else { "mpeg1video" },
        ))
    }
}

/// DVD-Video title set information (`VTS_nn_0.IFO`): its entry program chains, their cells
/// and playing time, and the title set's picture.
mod dvd {
    use super::{DVD_SECTOR, Entry, Piece};

    pub struct DvdTitle {
        pub cells: Vec<(u64, u64)>,
        pub duration_ms: u64,
        pub width: Option<u32>,
        pub height: Option<u32>,
        pub codec: &'static str,
    }

    fn be16(b: &[u8], at: usize) -> Option<usize> {
        Some(usize::from(u16::from_be_bytes(
            b.get(at..at + 2)?.try_into().ok()?,
        )))
    }

    fn be32(b: &[u8], at: usize) -> Option<u64> {
        Some(u64::from(u32::from_be_bytes(
            b.get(at..at + 4)?.try_into().ok()?,
        )))
    }

    fn bcd(b: u8) -> u64 {
        u64::from(b >> 4) * 10 + u64::from(b & 0x0F)
    }

    /// A playback time: hours, minutes, seconds in BCD, then frames with the rate in the top
    /// two bits (01: 25 fps, 11: 29.97).
    fn time_ms(t: &[u8]) -> u64 {
        let secs = bcd(t[0]) * 3600 + bcd(t[1]) * 60 + bcd(t[2]);
        let fps = if t[3] >> 6 == 1 { 25.0 } else { 29.97 };
        let frames = bcd(t[3] & 0x3F) as f64;
        secs * 1000 + (frames / fps * 1000.0) as u64
    }

    /// The entry program chains of a title set, each as its cells' sector ranges (first,
    /// last, inclusive) in the title set's VOBs. Only the first angle of an angle block.
    pub fn titles(ifo: &[u8]) -> Vec<DvdTitle> {
        parse(ifo).unwrap_or_default()
    }

    fn parse(ifo: &[u8]) -> Option<Vec<DvdTitle>> {
        if !ifo.starts_with(b"DVDVIDEO-VTS") {
            return None;
        }
        let attr = ifo.get(0x200..0x202)?;
        let codec = if attr[0] >> 6 == 1 {
            "mpeg2video"
        } else {
            "mpeg1video"
        };
        let lines = if (attr[0] >> 4) & 3 == 1 { 576 } else { 480 };
        let (width, height) = match (attr[1] >> 3) & 7 {
            0 => (720, lines),
            1 => (704, lines),
            2 => (352, lines),
            3 => (352, lines / 2),
            _ => (0, 0),
        };
        let pgcit = usize::try_from(be32(ifo, 0xCC)? * DVD_SECTOR).ok()?;
        let count = be16(ifo, pgcit)?;
        let mut out = Vec::new();
        for i in 0..count.min(999) {
            let srp = pgcit + 8 + 8 * i;
            if ifo.get(srp)? & 0x80 == 0 {
                continue; // not an entry PGC of a title
            }
            let pgc = pgcit + usize::try_from(be32(ifo, srp + 4)?).ok()?;
            let cells = usize::from(*ifo.get(pgc + 3)?);
            let duration_ms = time_ms(ifo.get(pgc + 4..pgc + 8)?);
            let table = pgc + be16(ifo, pgc + 0xE8)?;
            let mut ranges = Vec::new();
            for c in 0..cells {
                let cell = ifo.get(table + 24 * c..table + 24 * c + 24)?;
                let (mode, kind) = (cell[0] >> 6, (cell[0] >> 4) & 3);
                if kind == 1 && mode != 1 {
                    continue; // a later angle of an angle block
                }
                let first = be32(cell, 8)?;
                let last = be32(cell, 20)?;
                if last >= first {
                    ranges.push((first, last));
                }
            }
            out.push(DvdTitle {
                cells: ranges,
                duration_ms,
                width: (width > 0).then_some(width),
                height: (height > 0).then_some(height),
                codec,
            });
        }
        Some(out)
    }

    /// The cells' sectors as byte ranges of the VOB pieces (`VTS_nn_1.VOB`, `_2`, … in order,
    /// one address space); adjacent ranges of one piece are joined. Cells past the pieces'
    /// end are left out.
    pub fn pieces(vobs: &[&Entry], cells: &[(u64, u64)]) -> Vec<Piece> {
        let mut out: Vec<Piece> = Vec::new();
        for &(first, last) in cells {
            let (mut lo, hi) = (first * DVD_SECTOR, (last + 1) * DVD_SECTOR);
            let mut base = 0u64;
            for v in vobs {
                let end = base + v.size;
                if lo < end && lo < hi {
                    let take = hi.min(end) - lo;
                    let offset = lo - base;
                    match out.last_mut() {
                        Some(p) if p.path == v.path && p.offset + p.len == offset => p.len += take,
                        _ => out.push(Piece {
                            path: v.path.clone(),
                            offset,
                            len: take,
                        }),
                    }
                    lo += take;
                }
                base = end;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, size: u64) -> Entry {
        Entry {
            path: path.into(),
            kind: EntryKind::File,
            size,
            mtime: None,
            source: 0,
            extents: Vec::new(),
            target: None,
        }
    }

    #[test]
    fn dvd_cells_span_vob_pieces_in_their_numbered_order() {
        let a = file("VIDEO_TS/VTS_01_1.VOB", 10 * 2048);
        let b = file("VIDEO_TS/VTS_01_2.VOB", 10 * 2048);
        let got = dvd::pieces(&[&a, &b], &[(8, 12), (13, 14)]);
        assert_eq!(
            got,
            vec![
                Piece {
                    path: a.path.clone(),
                    offset: 8 * 2048,
                    len: 2 * 2048
                },
                Piece {
                    path: b.path.clone(),
                    offset: 0,
                    len: 5 * 2048
                },
            ]
        );
        // A cell past the end of the pieces is left out, not invented.
        assert!(dvd::pieces(&[&a], &[(40, 50)]).is_empty());
    }

    #[test]
    fn mpeg_clocks_and_sequence_headers_are_read() {
        // An MPEG-1 video packet with PTS 90000 (one second) after stuffing and a buffer
        // size; an MPEG-2 audio packet with PTS 180000.
        let ts = |v: u64, lead: u8| {
            [
                lead | ((v >> 29) as u8 & 0x0E) | 1,
                (v >> 22) as u8,
                ((v >> 14) as u8 & 0xFE) | 1,
                (v >> 7) as u8,
                ((v << 1) as u8) | 1,
            ]
        };
        let mut bytes = vec![0, 0, 1, 0xE0, 0, 20, 0xFF, 0xFF, 0x40, 0x20];
        bytes.extend(ts(90_000, 0x20));
        bytes.extend([0, 0, 1, 0xC0, 0, 20, 0x81, 0x80, 5]);
        bytes.extend(ts(180_000, 0x20));
        assert_eq!(
            ps::stamps(&bytes).collect::<Vec<_>>(),
            vec![90_000, 180_000]
        );
        // Cut anywhere, a packet header says nothing rather than panicking.
        for cut in 0..bytes.len() {
            let _ = ps::stamps(&bytes[..cut]).count();
        }
        let seq = [0, 0, 1, 0xB3, 0x16, 0x01, 0x20, 0x13, 0, 0, 0, 0, 0, 0];
        assert_eq!(ps::sequence(&seq), Some((352, 288, "mpeg1video")));
        // Random bytes say nothing rather than something wrong.
        assert_eq!(ps::sequence(&[7u8; 64]), None);
        assert_eq!(dvd::titles(&[0u8; 4096]).len(), 0);
    }
}
