//! Evidence that a book comes with discs, from the wordings catalogues use: MARC21 300 $e
//! (`1 CD-ROM (4 3/4 in.)`, `2 sound discs`), CNMARC 215 $e (`1光盘`, `光盘2张(DVD)`, `CD 2枚`),
//! ISBN qualifiers (`CNY29.00(含光盘)`), notes (`Accompanied by a CD-ROM`, `随书附赠光盘一张`).
//! RDA carrier types (337/338), 007 and the kind named in parentheses refine the kind: a
//! "computer disc" that a note calls a DVD-ROM is a DVD-ROM, a sound disc in MP3 an MP3 CD.
//! Floppies and cassettes are not discs; what a record says about them is kept, to explain
//! why it is not linked by itself.

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiscKind {
    CdRom,
    /// DVD-ROM (data).
    Dvd,
    DvdVideo,
    Vcd,
    /// Audio CD.
    Audio,
    Mp3,
    /// Not optical: named so the record's words can be explained, never counted as a disc.
    Floppy,
    Cassette,
}

impl DiscKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CdRom => "cd-rom",
            Self::Dvd => "dvd",
            Self::DvdVideo => "dvd-video",
            Self::Vcd => "vcd",
            Self::Audio => "audio",
            Self::Mp3 => "mp3",
            Self::Floppy => "floppy",
            Self::Cassette => "cassette",
        }
    }

    /// What a librarian calls it.
    pub fn label(self) -> &'static str {
        match self {
            Self::CdRom => "CD-ROM",
            Self::Dvd => "DVD-ROM",
            Self::DvdVideo => "DVD-Video",
            Self::Vcd => "VCD",
            Self::Audio => "audio CD",
            Self::Mp3 => "MP3 CD",
            Self::Floppy => "floppy",
            Self::Cassette => "cassette",
        }
    }

    /// Whether `finer` says more than `self` about the same disc, each with how firmly it was
    /// said ([`ASSUMED`] < [`FAMILY`] < [`NAMED`]): a named kind refines a family ("optical
    /// disc"), a family refines an assumption; an MP3 CD refines an audio disc and a DVD-Video a
    /// DVD whatever the words.
    fn refined_by(self, firmness: u8, finer: Self, finer_firmness: u8) -> bool {
        finer_firmness > firmness
            || matches!(
                (self, finer),
                (Self::Audio, Self::Mp3) | (Self::Dvd, Self::DvdVideo)
            )
    }
}

/// How firmly a kind is known: assumed (nothing named one), a family, named.
const ASSUMED: u8 = 0;
const FAMILY: u8 = 1;
const NAMED: u8 = 2;

fn firmness(generic: bool) -> u8 {
    if generic { FAMILY } else { NAMED }
}

/// What one piece of text says about discs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mention {
    pub count: u32,
    /// The kind when the text names one (a bare `光盘` names none).
    pub kind: Option<DiscKind>,
    /// The kind is only a family ("optical disc", "videodisc", "sound disc"): a finer word
    /// elsewhere in the record wins.
    pub generic: bool,
}

const NOT_DISCS: [&str; 10] = [
    "软盘",
    "磁带",
    "磁盘",
    "floppy",
    "diskette",
    "cassette",
    "录音带",
    "computer disk ",
    "computer disks",
    "盒",
];
const DISC_WORDS: [&str; 14] = [
    "光盘",
    "光碟",
    "cd",
    "dvd",
    "vcd",
    "videodisc",
    "video disc",
    "optical disc",
    "sound disc",
    "disque",
    "disc",
    "disk",
    "mp3",
    "ディスク",
];

fn normalise(text: &str) -> String {
    text.nfkc().collect::<String>().to_lowercase()
}

/// Text with parenthesised remarks kept apart (they carry the kind, not the count) and
/// dimensions (`4 3/4 in.`, `12cm`) removed.
fn split_parens(seg: &str) -> (String, String) {
    let mut outer = String::new();
    let mut inner = String::new();
    let mut depth = 0;
    for c in seg.chars() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth = (depth - 1).max(0),
            c if depth > 0 => inner.push(c),
            c => outer.push(c),
        }
        if depth > 0 && (c == '(' || c == '[') {
            inner.push(' ');
        }
    }
    (outer, inner)
}

fn strip_dimensions(s: &str) -> String {
    static DIMENSIONS: std::sync::LazyLock<Option<regex::Regex>> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"\d+(\s+\d+/\d+)?\s*(in\.?|inch|cm|mm)|\d+/\d+\s*in").ok()
    });
    match DIMENSIONS.as_ref() {
        Some(re) => re.replace_all(s, " ").into_owned(),
        None => s.to_string(),
    }
}

fn chinese_number(c: char) -> Option<u32> {
    Some(match c {
        '一' => 1,
        '二' | '两' => 2,
        '三' => 3,
        '四' => 4,
        '五' => 5,
        '六' => 6,
        '七' => 7,
        '八' => 8,
        '九' => 9,
        '十' => 10,
        _ => return None,
    })
}

const ENGLISH: [(&str, u32); 10] = [
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
];

/// The first count in a segment: digits, a Chinese numeral, or an English number word.
fn first_count(s: &str) -> Option<u32> {
    let mut digits = String::new();
    for (i, c) in s.char_indices() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        // Digits inside a word such as "mp3" are not a count.
        if !digits.is_empty() {
            break;
        }
        if let Some(n) = chinese_number(c) {
            return Some(n);
        }
        if c.is_alphabetic() && (i == 0 || !s[..i].ends_with(|p: char| p.is_alphanumeric())) {
            let rest = &s[i..];
            if let Some((_, n)) = ENGLISH.iter().find(|(w, _)| {
                rest.starts_with(w) && !rest[w.len()..].starts_with(|p: char| p.is_alphabetic())
            }) {
                return Some(*n);
            }
        }
    }
    digits.parse().ok().filter(|n| (1..=99).contains(n))
}

/// The kind a text names, the finest first, and whether it is only a family.
fn kind_of(text: &str) -> Option<(DiscKind, bool)> {
    let has = |words: &[&str]| words.iter().any(|w| text.contains(w));
    let video = has(&["videodisc", "video disc", "视频", "影碟"]);
    Some(if has(&["mp3"]) {
        (DiscKind::Mp3, false)
    } else if has(&["vcd", "video cd"]) {
        (DiscKind::Vcd, false)
    } else if has(&["dvd-video", "dvd video"]) || (video && has(&["dvd"])) {
        (DiscKind::DvdVideo, false)
    } else if has(&["dvd"]) {
        (DiscKind::Dvd, false)
    } else if has(&["cd-rom", "cd rom", "cdrom"]) {
        (DiscKind::CdRom, false)
    } else if has(&["audio cd", "cd-da", "音乐cd", "音频"]) {
        (DiscKind::Audio, false)
    } else if has(&["sound disc", "audio disc", "audio"]) {
        (DiscKind::Audio, true)
    } else if video {
        (DiscKind::DvdVideo, true)
    } else if has(&["optical disc", "computer disc"]) {
        (DiscKind::CdRom, true)
    } else {
        return None;
    })
}

/// The pieces of a physical description (`1 CD-ROM + 1 floppy`, `光盘1张；磁带2盒`).
fn segments(normalised: &str) -> impl Iterator<Item = &str> {
    normalised.split(['+', ';', '；', '，', '、'])
}

/// The kind of a piece that names a medium other than an optical disc (a floppy, a cassette).
fn not_disc(seg: &str) -> Option<DiscKind> {
    let padded = format!("{seg} ");
    if padded.contains("optical") || !NOT_DISCS.iter().any(|n| padded.contains(n)) {
        return None;
    }
    let tape = ["磁带", "cassette", "录音带", "盒"]
        .iter()
        .any(|w| seg.contains(w));
    Some(if tape {
        DiscKind::Cassette
    } else {
        DiscKind::Floppy
    })
}

/// The media that are not discs a text names (`软盘2张`, `1 cassette`), as (kind, segment).
pub fn not_discs(text: &str) -> Vec<(DiscKind, String)> {
    segments(&normalise(text))
        .filter_map(|seg| not_disc(seg).map(|k| (k, seg.trim().to_string())))
        .collect()
}

/// What `text` says about discs: None when it does not mention one (or mentions only
/// floppies or cassettes).
pub fn mention(text: &str) -> Option<Mention> {
    let text = normalise(text);
    let mut total = 0u32;
    let mut kind = None;
    for seg in segments(&text) {
        if not_disc(seg).is_some() || !DISC_WORDS.iter().any(|w| seg.contains(w)) {
            continue;
        }
        let (outer, inner) = split_parens(seg);
        let outer = strip_dimensions(&outer);
        // The count comes from where the disc is named: `CNY29.00(含光盘)` names it inside
        // the parentheses (and the price outside is no count); `1 CD-ROM (4 3/4 in.)` outside.
        let named = if DISC_WORDS.iter().any(|w| outer.contains(w)) {
            &outer
        } else {
            &inner
        };
        let count = first_count(named).unwrap_or(1);
        total += count;
        // The whole segment names the kind: "1 audio disc (MP3)" is an MP3 CD.
        let here = kind_of(&format!("{outer} {inner}"));
        kind = match (kind, here) {
            (None, h) => h,
            (Some((k, g)), Some((h, hg))) if k.refined_by(firmness(g), h, firmness(hg)) => {
                Some((h, hg))
            }
            (k, _) => k,
        };
    }
    (total > 0).then_some(Mention {
        count: total,
        kind: kind.map(|(k, _)| k),
        generic: kind.is_some_and(|(_, g)| g),
    })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DiscEvidence {
    pub count: u32,
    pub kind: Option<DiscKind>,
    /// Where the count came from, e.g. `215$e: 光盘2张(DVD)`.
    pub sources: Vec<String>,
    /// What the record names that is not a disc, e.g. `215$e: 软盘2张` (a floppy).
    pub not_discs: Vec<(DiscKind, String)>,
    /// How firmly the kind is known ([`ASSUMED`], [`FAMILY`], [`NAMED`]).
    #[serde(skip)]
    firmness: u8,
}

impl DiscEvidence {
    /// Combines mentions in order of authority: the first source with a count decides the
    /// count; the first that names a kind decides the kind unless a later one refines it
    /// (CD-ROM when none names one).
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = (String, &'a str)>) -> Self {
        let mut ev = Self::default();
        for (label, text) in sources {
            ev.not_discs.extend(
                not_discs(text)
                    .into_iter()
                    .map(|(k, seg)| (k, format!("{label}: {seg}"))),
            );
            let Some(m) = mention(text) else { continue };
            if ev.count == 0 {
                ev.count = m.count;
            }
            if let Some(k) = m.kind {
                ev.refine(k, m.generic);
            }
            ev.sources.push(format!("{label}: {text}"));
        }
        if ev.count > 0 && ev.kind.is_none() {
            ev.kind = Some(DiscKind::CdRom);
            ev.firmness = ASSUMED;
        }
        ev
    }

    /// Takes `kind` when none is known yet or it says more than the one known.
    pub fn refine(&mut self, kind: DiscKind, generic: bool) {
        let f = firmness(generic);
        if self
            .kind
            .is_none_or(|k| k.refined_by(self.firmness, kind, f))
        {
            self.kind = Some(kind);
            self.firmness = f;
        }
    }

    /// Whether the kind was only assumed or is a family: 007 may say more.
    pub fn kind_is_generic(&self) -> bool {
        self.firmness < NAMED
    }

    /// For a record that mentions no disc: what it names instead, in words for the review
    /// queue ("the record lists 软盘2张 (215$e): a floppy, not an optical disc").
    pub fn not_discs_explained(&self) -> Option<String> {
        let (kind, source) = self.not_discs.first()?;
        let (label, seg) = source.split_once(": ").unwrap_or(("", source));
        Some(format!(
            "the record lists {seg} ({label}): a {}, not an optical disc",
            kind.label()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(text: &str) -> Option<(u32, Option<&'static str>)> {
        mention(text).map(|m| (m.count, m.kind.map(DiscKind::as_str)))
    }

    #[test]
    fn wordings() {
        assert_eq!(m("1 CD-ROM (4 3/4 in.)"), Some((1, Some("cd-rom"))));
        assert_eq!(
            m("2 sound discs (digital ; 4 3/4 in.)"),
            Some((2, Some("audio")))
        );
        assert_eq!(
            m("1 computer optical disc (4 3/4 in.)"),
            Some((1, Some("cd-rom")))
        );
        assert_eq!(m("2 CD-ROMs (4 3/4 in.)"), Some((2, Some("cd-rom"))));
        assert_eq!(m("1 videodisc (DVD)"), Some((1, Some("dvd-video"))));
        assert_eq!(m("1 CD (MP3)"), Some((1, Some("mp3"))));
        assert_eq!(m("1光盘"), Some((1, None)));
        assert_eq!(m("光盘1张"), Some((1, None)));
        assert_eq!(m("光盘1片"), Some((1, None)));
        assert_eq!(m("1张光盘"), Some((1, None)));
        assert_eq!(m("CD-ROM 1张"), Some((1, Some("cd-rom"))));
        assert_eq!(m("光盘1张(MP3)"), Some((1, Some("mp3"))));
        assert_eq!(m("光盘2张(DVD)"), Some((2, Some("dvd"))));
        assert_eq!(m("DVD光盘2张"), Some((2, Some("dvd"))));
        assert_eq!(m("光盘4张(CD)"), Some((4, None)));
        assert_eq!(m("CD 2枚"), Some((2, None)));
        assert_eq!(m("光碟1片"), Some((1, None)));
        assert_eq!(
            m("1 disque optique numérique (CD-ROM)"),
            Some((1, Some("cd-rom")))
        );
        assert_eq!(m("CNY29.00(含光盘)"), Some((1, None)));
        assert_eq!(m("CNY79.00(含2DVD)"), Some((2, Some("dvd"))));
        assert_eq!(m("随书附赠光盘一张"), Some((1, None)));
        assert_eq!(
            m("Accompanied by a CD-ROM (in pocket)."),
            Some((1, Some("cd-rom")))
        );
        assert_eq!(
            m("1 computer disk (3 1/2 in.) + 1 CD-ROM"),
            Some((1, Some("cd-rom")))
        );
        assert_eq!(m("软盘2张"), None);
        assert_eq!(m("磁带2盒"), None);
        assert_eq!(m("CNY25.00(含软盘)"), None);
        assert_eq!(m("320页"), None);
        assert_eq!(m("26cm"), None);
        // Issue 20, item 5: the finer word wins within a description.
        assert_eq!(m("1 audio disc (MP3)"), Some((1, Some("mp3"))));
        assert_eq!(m("1 videodisc (VCD)"), Some((1, Some("vcd"))));
        assert_eq!(m("VCD光盘2张"), Some((2, Some("vcd"))));
        assert_eq!(m("光盘1张(CD-ROM)"), Some((1, Some("cd-rom"))));
        assert_eq!(m("光盘1张(DVD-ROM)"), Some((1, Some("dvd"))));
        assert_eq!(m("1 computer disc (DVD-ROM)"), Some((1, Some("dvd"))));
        assert_eq!(m("2 audio CDs"), Some((2, Some("audio"))));
    }

    #[test]
    fn what_is_not_a_disc_is_named() {
        assert_eq!(
            not_discs("软盘2张"),
            [(DiscKind::Floppy, "软盘2张".to_string())]
        );
        assert_eq!(
            not_discs("磁带2盒"),
            [(DiscKind::Cassette, "磁带2盒".to_string())]
        );
        assert_eq!(
            not_discs("1 computer disk (3 1/2 in.) + 1 CD-ROM"),
            [(DiscKind::Floppy, "1 computer disk (3 1/2 in.)".to_string())]
        );
        assert!(not_discs("1 CD-ROM").is_empty());
        let ev = DiscEvidence::from_sources([("215$e".to_string(), "软盘2张")]);
        assert_eq!(ev.count, 0);
        assert_eq!(
            ev.not_discs_explained().as_deref(),
            Some("the record lists 软盘2张 (215$e): a floppy, not an optical disc")
        );
    }

    #[test]
    fn a_later_source_refines_a_family() {
        // 300 $e names a family, 338 the carrier, a note the kind: DVD-ROM, not CD-ROM.
        let ev = DiscEvidence::from_sources([
            ("300$e".to_string(), "1 computer disc (4 3/4 in.)"),
            ("338$a".to_string(), "computer disc"),
            ("538$a".to_string(), "System requirements: DVD-ROM drive."),
        ]);
        assert_eq!((ev.count, ev.kind), (1, Some(DiscKind::Dvd)));
        // A named kind is not overruled by a later family or another kind.
        let ev = DiscEvidence::from_sources([
            ("300$e".to_string(), "1 CD-ROM"),
            ("500$a".to_string(), "Accompanied by a videodisc."),
        ]);
        assert_eq!(ev.kind, Some(DiscKind::CdRom));
        // An audio disc a later note calls MP3 is an MP3 CD.
        let mut ev = DiscEvidence::from_sources([("300$e".to_string(), "1 sound disc")]);
        assert_eq!(ev.kind, Some(DiscKind::Audio));
        ev.refine(DiscKind::Mp3, false);
        assert_eq!(ev.kind, Some(DiscKind::Mp3));
        // No kind named: CD-ROM is assumed, and 007 (a sound disc) says more.
        let mut ev = DiscEvidence::from_sources([("300$e".to_string(), "1 disc")]);
        assert_eq!(ev.kind, Some(DiscKind::CdRom));
        assert!(ev.kind_is_generic());
        ev.refine(DiscKind::Audio, true);
        assert_eq!(ev.kind, Some(DiscKind::Audio));
    }
}
