//! CUE sheets and their BIN files: the sheet's grammar, where each track's sectors sit in
//! its file (INDEX 00/01 and PREGAP honoured), the ISO 9660 or UDF inside the first data
//! track, and the audio tracks as PCM ranges.

use super::{AudioTrack, ImageError, Index, Limits, Parts, ReadAt, SECTOR, SectorLayout, Source};

const FORMAT: &str = "CUE sheet";
/// 99:59:74, the longest address a CD can carry.
const MAX_CD_FRAMES: u64 = 100 * 60 * 75;
const MAX_TRACKS: usize = 99;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackMode {
    Audio,
    Mode1_2048,
    Mode1_2352,
    Mode2_2336,
    Mode2_2352,
}

impl TrackMode {
    fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_uppercase().as_str() {
            "AUDIO" => Self::Audio,
            "MODE1/2048" => Self::Mode1_2048,
            "MODE1/2352" => Self::Mode1_2352,
            "MODE2/2336" => Self::Mode2_2336,
            "MODE2/2352" => Self::Mode2_2352,
            _ => return None,
        })
    }

    pub fn sector_size(self) -> u64 {
        match self {
            Self::Mode1_2048 => 2048,
            Self::Mode2_2336 => 2336,
            _ => 2352,
        }
    }

    /// Where the 2048 bytes of user data start in each sector; None for audio.
    fn skip(self) -> Option<u64> {
        match self {
            Self::Audio => None,
            Self::Mode1_2048 => Some(0),
            Self::Mode1_2352 => Some(16),
            Self::Mode2_2336 => Some(8),
            Self::Mode2_2352 => Some(24),
        }
    }

    /// Whether each sector carries an XA subheader (Mode 2), saying form 1 or form 2.
    fn has_subheader(self) -> bool {
        matches!(self, Self::Mode2_2336 | Self::Mode2_2352)
    }

    fn label(self) -> &'static str {
        match self {
            Self::Audio => "audio",
            Self::Mode1_2048 => "mode1/2048",
            Self::Mode1_2352 => "mode1/2352",
            Self::Mode2_2336 => "mode2/2336",
            Self::Mode2_2352 => "mode2/2352",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CueTrack {
    pub number: u32,
    pub mode: TrackMode,
    /// PREGAP frames: silence not stored in the file.
    pub pregap: u32,
    /// (index number, frames from the start of the file)
    pub indexes: Vec<(u32, u64)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CueFile {
    pub name: String,
    pub tracks: Vec<CueTrack>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CueSheet {
    pub files: Vec<CueFile>,
}

fn malformed(line: usize, detail: impl std::fmt::Display) -> ImageError {
    ImageError::malformed(FORMAT, format!("line {line}: {detail}"))
}

/// Splits a line into words, keeping quoted strings whole.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        let mut w = String::new();
        if c == '"' {
            chars.next();
            for c in chars.by_ref() {
                if c == '"' {
                    break;
                }
                w.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() {
                    break;
                }
                w.push(c);
                chars.next();
            }
        }
        out.push(w);
    }
    out
}

/// `mm:ss:ff` to frames (75 per second); none for minutes so many the frames overflow.
fn msf(s: &str) -> Option<u64> {
    let mut it = s.split(':').map(|p| p.parse::<u64>().ok());
    let (m, sec, f) = (it.next()??, it.next()??, it.next()??);
    if it.next().is_some() || sec >= 60 || f >= 75 {
        return None;
    }
    m.checked_mul(60)?
        .checked_add(sec)?
        .checked_mul(75)?
        .checked_add(f)
}

pub fn parse_cue(text: &str) -> Result<CueSheet, ImageError> {
    let mut files: Vec<CueFile> = Vec::new();
    let mut tracks = 0usize;
    for (i, line) in text.trim_start_matches('\u{feff}').lines().enumerate() {
        let n = i + 1;
        let w = words(line);
        let Some(cmd) = w.first() else { continue };
        match cmd.to_ascii_uppercase().as_str() {
            "FILE" => {
                let (Some(name), Some(kind)) = (w.get(1), w.get(2)) else {
                    return Err(malformed(n, "FILE needs a name and a type"));
                };
                if !kind.eq_ignore_ascii_case("BINARY") {
                    return Err(ImageError::Unsupported(format!(
                        "CUE sheet with a {kind} file (only BINARY files are read)"
                    )));
                }
                if name.is_empty() {
                    return Err(malformed(n, "FILE with an empty name"));
                }
                files.push(CueFile {
                    name: name.clone(),
                    tracks: Vec::new(),
                });
            }
            "TRACK" => {
                let file = files
                    .last_mut()
                    .ok_or_else(|| malformed(n, "TRACK before any FILE"))?;
                let number = w
                    .get(1)
                    .and_then(|s| s.parse::<u32>().ok())
                    .filter(|t| (1..=99).contains(t))
                    .ok_or_else(|| malformed(n, "track number must be 1 to 99"))?;
                let mode_word = w.get(2).map(String::as_str).unwrap_or_default();
                let mode = TrackMode::parse(mode_word).ok_or_else(|| {
                    ImageError::Unsupported(format!("CUE track mode {mode_word:?}"))
                })?;
                tracks += 1;
                if tracks > MAX_TRACKS {
                    return Err(malformed(n, "more than 99 tracks"));
                }
                file.tracks.push(CueTrack {
                    number,
                    mode,
                    pregap: 0,
                    indexes: Vec::new(),
                });
            }
            "INDEX" | "PREGAP" => {
                let track = files
                    .last_mut()
                    .and_then(|f| f.tracks.last_mut())
                    .ok_or_else(|| malformed(n, format!("{cmd} outside a TRACK")))?;
                if cmd.eq_ignore_ascii_case("PREGAP") {
                    let frames = w
                        .get(1)
                        .and_then(|s| msf(s))
                        .ok_or_else(|| malformed(n, "bad PREGAP time"))?;
                    track.pregap = u32::try_from(frames).unwrap_or(u32::MAX);
                    continue;
                }
                let number = w
                    .get(1)
                    .and_then(|s| s.parse::<u32>().ok())
                    .filter(|x| *x <= 99)
                    .ok_or_else(|| malformed(n, "bad INDEX number"))?;
                let frames = w
                    .get(2)
                    .and_then(|s| msf(s))
                    .filter(|f| *f <= MAX_CD_FRAMES)
                    .ok_or_else(|| malformed(n, "bad INDEX time (mm:ss:ff)"))?;
                if track.indexes.len() >= 100 {
                    return Err(malformed(n, "too many INDEX lines"));
                }
                track.indexes.push((number, frames));
            }
            "REM" | "TITLE" | "PERFORMER" | "SONGWRITER" | "CATALOG" | "CDTEXTFILE" | "ISRC"
            | "FLAGS" | "POSTGAP" => {}
            other => return Err(malformed(n, format!("unknown command {other:?}"))),
        }
    }
    if tracks == 0 {
        return Err(ImageError::malformed(FORMAT, "no TRACK"));
    }
    for f in &files {
        for t in &f.tracks {
            if !t.indexes.iter().any(|(i, _)| *i == 1) {
                return Err(ImageError::malformed(
                    FORMAT,
                    format!("track {} has no INDEX 01", t.number),
                ));
            }
            if t.indexes.windows(2).any(|w| w[0].1 > w[1].1) {
                return Err(ImageError::malformed(
                    FORMAT,
                    format!("track {} has indexes out of order", t.number),
                ));
            }
        }
    }
    Ok(CueSheet { files })
}

/// Which of `candidates` a CUE sheet's FILE line means: the same name, else the same name
/// ignoring case, else the same last component of a Windows or Unix path (ignoring case).
pub fn match_part<'a>(
    cue_name: &str,
    candidates: impl Iterator<Item = &'a str> + Clone,
) -> Option<usize> {
    let base = |s: &str| s.rsplit(['/', '\\']).next().unwrap_or(s).to_lowercase();
    let tests: [&dyn Fn(&str) -> bool; 3] = [
        &|p| p == cue_name,
        &|p| p.eq_ignore_ascii_case(cue_name),
        &|p| base(p) == base(cue_name),
    ];
    tests.iter().find_map(|t| candidates.clone().position(t))
}

fn find_part<'a>(parts: &'a Parts<'_>, name: &str) -> Option<(u32, &'a dyn ReadAt)> {
    let i = match_part(name, parts.named.iter().map(|(n, _)| n.as_str()))?;
    Some((i as u32 + 1, parts.named[i].1))
}

struct Placed {
    number: u32,
    mode: TrackMode,
    part: u32,
    start: u64,
    data: u64,
    end: u64,
    pregap: u32,
}

/// Where each track's bytes are. Between two index points the sectors are the size of the
/// track the earlier point belongs to.
fn place(sheet: &CueSheet, parts: &Parts<'_>) -> Result<Vec<(Placed, &'static str)>, ImageError> {
    let mut placed = Vec::new();
    for file in &sheet.files {
        let (part, reader) = find_part(parts, &file.name)
            .ok_or_else(|| ImageError::MissingPart(file.name.clone()))?;
        let size = reader.size();
        let big_sectors = file.tracks.iter().any(|t| t.mode.sector_size() != SECTOR);
        if big_sectors && size > MAX_CD_FRAMES * 2352 {
            return Err(ImageError::Limit(format!(
                "{:?} is {size} bytes, more than a CD can hold",
                file.name
            )));
        }
        let mut cursor_frames = 0u64;
        let mut cursor_bytes = 0u64;
        let mut sector = file.tracks.first().map_or(2352, |t| t.mode.sector_size());
        let mut at = |frames: u64, next_sector: u64| -> Result<u64, ImageError> {
            if frames < cursor_frames {
                return Err(ImageError::malformed(FORMAT, "tracks out of order"));
            }
            cursor_bytes += (frames - cursor_frames) * sector;
            cursor_frames = frames;
            sector = next_sector;
            if cursor_bytes > size {
                return Err(ImageError::malformed(
                    FORMAT,
                    format!(
                        "{:?} is {size} bytes but a track starts at byte {cursor_bytes}",
                        file.name
                    ),
                ));
            }
            Ok(cursor_bytes)
        };
        let mut file_tracks = Vec::new();
        for t in &file.tracks {
            let mut start = None;
            let mut data = 0;
            for &(idx, frames) in &t.indexes {
                let b = at(frames, t.mode.sector_size())?;
                start.get_or_insert(b);
                if idx == 1 {
                    data = b;
                }
            }
            let start = start.unwrap_or(data);
            let idx0 = t.indexes.first().map_or(0, |i| i.1);
            let idx1 = t.indexes.iter().find(|i| i.0 == 1).map_or(idx0, |i| i.1);
            file_tracks.push(Placed {
                number: t.number,
                mode: t.mode,
                part,
                start,
                data,
                end: size,
                pregap: t.pregap + u32::try_from(idx1 - idx0).unwrap_or(0),
            });
        }
        for i in 1..file_tracks.len() {
            let next_start = file_tracks[i].start;
            file_tracks[i - 1].end = next_start;
        }
        placed.extend(file_tracks.into_iter().map(|p| {
            let label = p.mode.label();
            (p, label)
        }));
    }
    Ok(placed)
}

pub(crate) fn index(text: &str, parts: &Parts<'_>, limits: &Limits) -> Result<Index, ImageError> {
    let sheet = parse_cue(text)?;
    let placed = place(&sheet, parts)?;
    let mut formats = vec!["cue".to_string()];
    for (_, label) in &placed {
        if !formats.iter().any(|f| f == label) {
            formats.push((*label).to_string());
        }
    }
    let mut index = Index {
        formats: Vec::new(),
        view: "none".into(),
        volume_label: None,
        boot: Vec::new(),
        sources: Vec::new(),
        entries: Vec::new(),
        tracks: Vec::new(),
        warnings: Vec::new(),
        media: Vec::new(),
    };
    if let Some(first) = placed.iter().position(|(p, _)| p.mode != TrackMode::Audio) {
        let data = &placed[first].0;
        let skip = data.mode.skip().unwrap_or(0);
        let stride = data.mode.sector_size();
        let layout = SectorLayout::raw(data.data, stride, skip);
        // The file system's addresses run on into the data tracks after the first one in the
        // same file (a VCD's video sits in track 2 and after): the view covers them too.
        let end = placed[first..]
            .iter()
            .take_while(|(p, _)| {
                p.part == data.part && p.mode != TrackMode::Audio && p.mode.sector_size() == stride
            })
            .last()
            .map_or(data.end, |(p, _)| p.end);
        let sectors = (end - data.data) / stride;
        let reader = parts
            .named
            .get(data.part as usize - 1)
            .map(|(_, r)| *r)
            .ok_or_else(|| ImageError::malformed(FORMAT, "data track without its file"))?;
        let mut inner = super::sector_image(reader, layout, sectors, true, limits)?;
        for s in &mut inner.sources {
            *s = Source {
                part: data.part,
                layout: s.layout,
            };
        }
        if data.mode.has_subheader() {
            read_form2_files(&mut inner, reader, data.part, layout);
        }
        formats.append(&mut inner.formats);
        index = inner;
    }
    index.formats = formats;
    index.tracks = placed
        .iter()
        .filter(|(p, _)| p.mode == TrackMode::Audio)
        .map(|(p, _)| AudioTrack {
            number: p.number,
            part: p.part,
            offset: p.data,
            len: (p.end - p.data) / 4 * 4,
            pregap_frames: p.pregap,
        })
        .collect();
    Ok(index)
}

/// The XA subheader's submode bit for form 2 (ECMA-130 and the CD-ROM XA specification).
const SUBMODE_FORM2: u8 = 0x20;

/// Files recorded in XA form 2 sectors (a VCD's `MPEGAV/AVSEQnn.DAT`, an SVCD's `MPEG2/`)
/// hold 2324 bytes per sector, not the 2048 the directory's size counts: each such file is
/// re-pointed at a form 2 reading of the same sectors, and its size becomes its sectors'
/// payload. A file is form 2 when the subheader of its first sector says so (both copies).
fn read_form2_files(index: &mut Index, reader: &dyn ReadAt, part: u32, layout: SectorLayout) {
    let form2_source = index.sources.len() as u32;
    let mut any = false;
    for entry in &mut index.entries {
        if entry.kind != super::EntryKind::File {
            continue;
        }
        let Some(first) = entry.extents.first().and_then(|e| e.offset) else {
            continue;
        };
        let sector = first / SECTOR;
        let at = layout.base + sector * layout.stride + layout.skip - 8;
        let mut sub = [0u8; 8];
        if reader.read_exact_at(at, &mut sub).is_err() || sub[..4] != sub[4..] {
            continue;
        }
        if sub[2] & SUBMODE_FORM2 == 0 {
            continue;
        }
        let mut size = 0;
        for e in &mut entry.extents {
            let sectors = e.len.div_ceil(SECTOR);
            e.len = sectors * layout.form2().payload;
            e.offset = e.offset.map(|o| o / SECTOR * layout.form2().payload);
            size += e.len;
        }
        entry.size = size;
        entry.source = form2_source;
        any = true;
    }
    if any {
        index.sources.push(Source {
            part,
            layout: layout.form2(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REDUMP: &str = "FILE \"disc (Track 1).bin\" BINARY\r\n  TRACK 01 MODE1/2352\r\n    INDEX 01 00:00:00\r\nFILE \"disc (Track 2).bin\" BINARY\r\n  TRACK 02 AUDIO\r\n    INDEX 00 00:00:00\r\n    INDEX 01 00:02:00\r\n";

    #[test]
    fn times_whose_frames_overflow_are_malformed_not_a_panic() {
        assert_eq!(msf("01:02:03"), Some((60 + 2) * 75 + 3));
        assert_eq!(msf("18446744073709551615:00:00"), None);
        let sheet = "FILE \"a.bin\" BINARY\n  TRACK 01 MODE1/2352\n    INDEX 01 18446744073709551615:00:00\n";
        assert!(parse_cue(sheet).is_err());
    }

    #[test]
    fn parses_a_redump_sheet() {
        let sheet = parse_cue(REDUMP).expect("parse");
        assert_eq!(sheet.files.len(), 2);
        assert_eq!(sheet.files[1].tracks[0].indexes, vec![(0, 0), (1, 150)]);
        assert_eq!(sheet.files[0].tracks[0].mode, TrackMode::Mode1_2352);
    }

    #[test]
    fn audio_track_starts_after_its_stored_pregap() {
        let bin1 = vec![0u8; 2352 * 20];
        let bin2 = vec![0u8; 2352 * 400];
        let parts = Parts {
            main: &Vec::<u8>::new(),
            named: vec![
                ("disc (Track 1).bin".into(), &bin1 as &dyn ReadAt),
                ("DISC (TRACK 2).BIN".into(), &bin2 as &dyn ReadAt),
            ],
        };
        let placed = place(&parse_cue(REDUMP).expect("parse"), &parts).expect("place");
        let audio = &placed[1].0;
        assert_eq!(
            (audio.part, audio.data, audio.end),
            (2, 150 * 2352, 400 * 2352)
        );
        assert_eq!(audio.pregap, 150);
    }

    #[test]
    fn bad_sheets_say_what_is_wrong() {
        let missing = Parts {
            main: &Vec::<u8>::new(),
            named: vec![],
        };
        let sheet = parse_cue(REDUMP).expect("parse");
        assert_eq!(
            place(&sheet, &missing).err(),
            Some(ImageError::MissingPart("disc (Track 1).bin".into()))
        );
        assert!(parse_cue("TRACK 01 AUDIO\n").is_err());
        assert!(parse_cue("FILE \"a.bin\" BINARY\nTRACK 01 AUDIO\nINDEX 01 00:61:00\n").is_err());
        assert!(matches!(
            parse_cue("FILE \"a.wav\" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:00:00\n"),
            Err(ImageError::Unsupported(_))
        ));
    }
}
