//! The character sets ISO 2709 records arrive in, and how Spindle tells which one a record
//! uses. A record names its set — MARC21 in leader/09 (`a` UTF-8, blank MARC-8), UNIMARC and
//! CNMARC in field 100 $a positions 26–29 (`50` Unicode, `0120` ISO 646 + GB 2312) — but
//! catalogues export records whose label lies (a GBK record marked Unicode, a UTF-8 record
//! with a blank leader/09). The bytes decide: text that is not valid in the named set is read
//! in the set it is valid in, and the record carries a note saying so.
//!
//! MARC-8 follows ISO 2022: G0 (bytes 0x21–0x7E) holds Basic Latin unless an escape names
//! another set; G1 (0xA1–0xFE) holds ANSEL, whose combining marks come *before* their base
//! letter. The table (`marc8.tsv`) is the Library of Congress mapping as YAZ decodes it, made
//! by `scripts/gen-marc8-table.py`.

use std::collections::HashMap;
use std::sync::LazyLock;

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Charset {
    Utf8,
    Marc8,
    /// GB 18030, which contains GBK and GB 2312.
    Gb18030,
    /// ISO 8859-1 (read as Windows-1252, its superset), what some Z39.50 servers negotiate.
    Latin1,
}

impl Charset {
    pub fn name(self) -> &'static str {
        match self {
            Self::Utf8 => "UTF-8",
            Self::Marc8 => "MARC-8",
            Self::Gb18030 => "GB 18030 (GBK, GB 2312)",
            Self::Latin1 => "ISO 8859-1",
        }
    }

    /// The set a name denotes (as servers name them in Z39.50 negotiation).
    pub fn named(name: &str) -> Option<Self> {
        let n: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        Some(match n.as_str() {
            "utf8" => Self::Utf8,
            "marc8" => Self::Marc8,
            "gb18030" | "gbk" | "gb2312" | "cp936" | "euccn" => Self::Gb18030,
            "iso88591" | "latin1" | "windows1252" | "cp1252" => Self::Latin1,
            _ => return None,
        })
    }
}

/// Whether a 100 $a is UNIMARC's general processing data (a date, then fixed positions up
/// to the character sets at 26-29), not a MARC21 name.
pub fn coded_100a(a: &[u8]) -> bool {
    a.len() >= 30 && a.is_ascii() && a[..8].iter().all(u8::is_ascii_digit)
}

/// What a record's label says, from its raw leader and its raw UNIMARC 100 $a (when the
/// record has one and it is coded data, not a MARC21 name: see [`coded_100a`]).
pub fn labelled(leader: &[u8], unimarc_100a: Option<&[u8]>) -> Option<Charset> {
    if let Some(a) = unimarc_100a.filter(|a| coded_100a(a)) {
        let g0 = &a[26..28];
        let g1 = &a[28..30];
        return match (g0, g1) {
            (b"50", _) => Some(Charset::Utf8),
            (_, b"20") => Some(Charset::Gb18030),
            _ => None,
        };
    }
    match leader.get(9) {
        Some(b'a') => Some(Charset::Utf8),
        Some(b' ') => Some(Charset::Marc8),
        _ => None,
    }
}

/// The set the record's text is read in, and a note when that is not what the label says.
pub fn choose(label: Option<Charset>, text: &[&[u8]]) -> (Charset, Option<String>) {
    let escapes = text.iter().any(|t| t.contains(&0x1B));
    // Plain ASCII reads the same in every set (MARC-8's escapes are ASCII too: they are not).
    if !escapes && text.iter().all(|t| t.is_ascii()) {
        return (label.unwrap_or(Charset::Utf8), None);
    }
    let utf8 = text.iter().all(|t| std::str::from_utf8(t).is_ok());
    // Decoding the whole record as GB 18030 is the dear test: made at most once.
    let gb_cell = std::cell::OnceCell::new();
    let gb = || *gb_cell.get_or_init(|| looks_gb(text));
    let fits = |c: Charset| match c {
        Charset::Utf8 => utf8 && !escapes,
        // MARC-8 has no byte sequence that is also multi-byte UTF-8 in real records, and
        // escapes name its other sets; text valid as UTF-8 without them is UTF-8.
        Charset::Marc8 => escapes || !utf8,
        Charset::Gb18030 => !utf8 && gb(),
        // Any byte is Latin-1; text valid as UTF-8 beyond ASCII is UTF-8.
        Charset::Latin1 => !utf8 && !escapes,
    };
    if let Some(l) = label
        && fits(l)
    {
        return (l, None);
    }
    let found = if utf8 && !escapes {
        Charset::Utf8
    } else if escapes {
        Charset::Marc8
    } else if gb() {
        Charset::Gb18030
    } else {
        Charset::Marc8
    };
    let note = match label {
        Some(l) => format!(
            "the record says its text is {}, but its bytes are {}: read as {}",
            l.name(),
            found.name(),
            found.name()
        ),
        None => format!(
            "the record does not name its character set: read as {}",
            found.name()
        ),
    };
    (found, Some(note))
}

/// Whether `bytes` read as GB text: they decode as GB 18030, and more of their two-byte
/// characters have both bytes in GB 2312's range (0xA1..) than look like a MARC-8 diacritic
/// before an ASCII letter (`M\xe8uller` is valid GBK too, as 鑥).
fn looks_gb(text: &[&[u8]]) -> bool {
    let (mut gb2312, mut ansel_like) = (0usize, 0usize);
    for bytes in text {
        if encoding_rs::GB18030.decode_without_bom_handling(bytes).1 {
            return false;
        }
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] < 0x80 {
                i += 1;
                continue;
            }
            match bytes.get(i + 1) {
                Some(&b) if b >= 0xA1 => gb2312 += 1,
                Some(&b) if b < 0x80 => ansel_like += 1,
                _ => {}
            }
            i += 2;
        }
    }
    gb2312 > ansel_like
}

/// `bytes` as text in `set`; what cannot be decoded becomes U+FFFD.
pub fn decode(set: Charset, bytes: &[u8]) -> String {
    if bytes.is_ascii() && !(set == Charset::Marc8 && bytes.contains(&0x1B)) {
        return String::from_utf8_lossy(bytes).into_owned();
    }
    match set {
        Charset::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
        Charset::Gb18030 => encoding_rs::GB18030
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
        Charset::Marc8 => marc8(bytes),
        Charset::Latin1 => encoding_rs::WINDOWS_1252
            .decode_without_bom_handling(bytes)
            .0
            .into_owned(),
    }
}

/// Set, 7-bit code (three bytes packed for EACC) → Unicode text.
static MARC8: LazyLock<HashMap<(u8, u32), String>> = LazyLock::new(|| {
    let mut m = HashMap::new();
    for line in include_str!("marc8.tsv").lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut cols = line.split('\t');
        let (Some(set), Some(code), Some(text)) = (cols.next(), cols.next(), cols.next()) else {
            continue;
        };
        let (Some(&set), Ok(code)) = (set.as_bytes().first(), u32::from_str_radix(code, 16)) else {
            continue;
        };
        let text: String = text
            .split(' ')
            .filter_map(|u| u32::from_str_radix(u, 16).ok().and_then(char::from_u32))
            .collect();
        m.insert((set, code), text);
    }
    m
});

const BASIC_LATIN: u8 = b'B';
const ANSEL: u8 = b'E';
const EACC: u8 = b'1';

fn marc8(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    // Combining marks seen before their base letter.
    let mut marks = String::new();
    let (mut g0, mut g1) = (BASIC_LATIN, ANSEL);
    let mut i = 0;
    let push = |out: &mut String, marks: &mut String, text: &str| {
        if !text.is_empty() && text.chars().all(is_combining_mark) {
            marks.push_str(text);
        } else {
            out.push_str(text);
            out.push_str(marks);
            marks.clear();
        }
    };
    while i < bytes.len() {
        let b = bytes[i];
        if b == 0x1B {
            // ESC ( F / ESC , F: G0; ESC ) F / ESC - F: G1; ESC $ F, ESC $ ( F, ESC $ , F:
            // G0 multi-byte; ESC $ ) F, ESC $ - F: G1 multi-byte; ESC g / b / p / s: G0.
            let rest = &bytes[i + 1..];
            let (consumed, which, set) = match rest {
                [b'$', b'(' | b',', f, ..] => (3, 0, *f),
                [b'$', b')' | b'-', f, ..] => (3, 1, *f),
                [b'$', f, ..] => (2, 0, *f),
                [b'(' | b',', f, ..] => (2, 0, *f),
                [b')' | b'-', f, ..] => (2, 1, *f),
                [b's', ..] => (1, 0, BASIC_LATIN),
                [f @ (b'g' | b'b' | b'p'), ..] => (1, 0, *f),
                _ => (0, 2, 0),
            };
            match which {
                0 => g0 = set,
                1 => g1 = set,
                _ => out.push('\u{FFFD}'),
            }
            i += 1 + consumed;
            continue;
        }
        if b < 0x20 || b == 0x7F || (0x80..0xA1).contains(&b) || b == 0xFF {
            // Controls (MARC-8's non-sorting marks and joiners among them) carry no text.
            i += 1;
            continue;
        }
        if b == 0x20 {
            push(&mut out, &mut marks, " ");
            i += 1;
            continue;
        }
        let set = if b < 0x80 { g0 } else { g1 };
        if set == EACC {
            let code = bytes.get(i..i + 3).map(|c| {
                (u32::from(c[0] & 0x7F) << 16)
                    | (u32::from(c[1] & 0x7F) << 8)
                    | u32::from(c[2] & 0x7F)
            });
            let text = code.and_then(|c| MARC8.get(&(EACC, c)));
            push(
                &mut out,
                &mut marks,
                text.map_or("\u{FFFD}", String::as_str),
            );
            i += 3;
            continue;
        }
        let code = u32::from(b & 0x7F);
        let text = if set == BASIC_LATIN {
            Some(char::from(code as u8).to_string())
        } else {
            MARC8.get(&(set, code)).cloned()
        };
        push(&mut out, &mut marks, text.as_deref().unwrap_or("\u{FFFD}"));
        i += 1;
    }
    out.push_str(&marks);
    out.nfc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marc8_latin_with_diacritics_and_cjk() {
        // ANSEL: the diaeresis (0xE8) before its base; ESC $ 1 … ESC ( B: EACC and back.
        assert_eq!(
            decode(Charset::Marc8, b"M\xe8uller, J\xe8urgen"),
            "Müller, Jürgen"
        );
        assert_eq!(
            decode(Charset::Marc8, b"Fran\xf0cais \xa5tude"),
            "Français Ætude"
        );
        assert_eq!(decode(Charset::Marc8, b"\x1b$1!0d\x1b(B and x"), "人 and x");
        assert_eq!(decode(Charset::Marc8, b"H\x1bb2\x1bsO"), "H₂O");
        // An unknown set or code is a replacement character, never a panic or a lost byte.
        assert_eq!(decode(Charset::Marc8, b"\x1b$1~~~\x1b(Bx"), "\u{FFFD}x");
        assert_eq!(decode(Charset::Marc8, b"\x1b$1!0"), "\u{FFFD}");
    }

    #[test]
    fn the_bytes_decide_when_the_label_lies() {
        let gbk = encoding_rs::GBK.encode("数据库原理").0.into_owned();
        let (set, note) = choose(Some(Charset::Utf8), &[&gbk]);
        assert_eq!(set, Charset::Gb18030);
        assert!(note.is_some_and(|n| n.contains("says its text is UTF-8")));
        assert_eq!(decode(set, &gbk), "数据库原理");
        let (set, note) = choose(Some(Charset::Marc8), &["Müller".as_bytes()]);
        assert_eq!((set, note.is_some()), (Charset::Utf8, true));
        let (set, note) = choose(Some(Charset::Marc8), &[b"M\xe8uller"]);
        assert_eq!((set, note), (Charset::Marc8, None));
        let (set, note) = choose(Some(Charset::Gb18030), &[&gbk]);
        assert_eq!((set, note), (Charset::Gb18030, None));
        assert_eq!(
            choose(Some(Charset::Marc8), &[b"plain"]),
            (Charset::Marc8, None)
        );
    }

    #[test]
    fn labels() {
        let cn = b"20150101d2015    em y0chiy0120    ea";
        assert_eq!(labelled(b"", Some(cn)), Some(Charset::Gb18030));
        let uni = b"20150101d2015    em y0chiy50      ea";
        assert_eq!(labelled(b"", Some(uni)), Some(Charset::Utf8));
        assert_eq!(
            labelled(b"00000nam  2200000 a 4500", None),
            Some(Charset::Marc8)
        );
        assert_eq!(
            labelled(b"00000nam a2200000 a 4500", None),
            Some(Charset::Utf8)
        );
    }
}
