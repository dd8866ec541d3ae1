//! Evidence that a book comes with discs, from the wordings catalogues use: MARC21 300 $e
//! (`1 CD-ROM (4 3/4 in.)`, `2 sound discs`), CNMARC 215 $e (`1光盘`, `光盘2张(DVD)`, `CD 2枚`),
//! ISBN qualifiers (`CNY29.00(含光盘)`), notes (`Accompanied by a CD-ROM`, `随书附赠光盘一张`).
//! Floppies and cassettes are not discs.

use serde::Serialize;
use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DiscKind {
    CdRom,
    Dvd,
    DvdVideo,
    Audio,
    Mp3,
}

impl DiscKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::CdRom => "cd-rom",
            Self::Dvd => "dvd",
            Self::DvdVideo => "dvd-video",
            Self::Audio => "audio",
            Self::Mp3 => "mp3",
        }
    }
}

/// What one piece of text says about discs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mention {
    pub count: u32,
    /// The kind when the text names one (a bare `光盘` names none).
    pub kind: Option<DiscKind>,
}

const NOT_DISCS: [&str; 9] = [
    "软盘",
    "磁带",
    "磁盘",
    "floppy",
    "diskette",
    "cassette",
    "录音带",
    "computer disk ",
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

fn kind_of(text: &str) -> Option<DiscKind> {
    if text.contains("mp3") {
        Some(DiscKind::Mp3)
    } else if text.contains("dvd-video")
        || text.contains("videodisc")
        || text.contains("video disc")
        || text.contains("vcd")
    {
        Some(DiscKind::DvdVideo)
    } else if text.contains("dvd") {
        Some(DiscKind::Dvd)
    } else if text.contains("sound disc")
        || text.contains("audio")
        || text.contains("音频")
        || text.contains("cd-da")
    {
        Some(DiscKind::Audio)
    } else if text.contains("cd-rom") || text.contains("cd rom") || text.contains("optical disc") {
        Some(DiscKind::CdRom)
    } else {
        None
    }
}

/// What `text` says about discs: None when it does not mention one (or mentions only
/// floppies or cassettes).
pub fn mention(text: &str) -> Option<Mention> {
    let text = normalise(text);
    let mut total = 0u32;
    let mut kind = None;
    for seg in text.split(['+', ';', '；', '，', '、']) {
        let padded = format!("{seg} ");
        if NOT_DISCS.iter().any(|n| padded.contains(n)) && !padded.contains("optical") {
            continue;
        }
        if !DISC_WORDS.iter().any(|w| seg.contains(w)) {
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
        kind = kind.or_else(|| kind_of(&outer)).or_else(|| kind_of(&inner));
    }
    (total > 0).then_some(Mention { count: total, kind })
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct DiscEvidence {
    pub count: u32,
    pub kind: Option<DiscKind>,
    /// Where the count came from, e.g. `215$e: 光盘2张(DVD)`.
    pub sources: Vec<String>,
}

impl DiscEvidence {
    /// Combines mentions in order of authority: the first source with a count decides the
    /// count; the first that names a kind decides the kind (CD-ROM when none does).
    pub fn from_sources<'a>(sources: impl IntoIterator<Item = (String, &'a str)>) -> Self {
        let mut ev = Self::default();
        for (label, text) in sources {
            let Some(m) = mention(text) else { continue };
            if ev.count == 0 {
                ev.count = m.count;
            }
            if ev.kind.is_none() {
                ev.kind = m.kind;
            }
            ev.sources.push(format!("{label}: {text}"));
        }
        if ev.count > 0 && ev.kind.is_none() {
            ev.kind = Some(DiscKind::CdRom);
        }
        ev
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
    }
}
