//! File names as discs record them: ISO 9660 bytes (ASCII, or the GBK of old Chinese discs),
//! Joliet UCS-2, UDF OSTA CS0; and the cleaning that makes any of them a safe path segment.

use encoding_rs::GBK;

/// How a tree's byte names are decoded. Chosen once per tree, so one odd name cannot make a
/// GBK disc half mojibake.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Charset {
    Utf8,
    Gbk,
    Latin1,
}

/// UTF-8 when every name with high bytes is valid UTF-8; else GBK when every one decodes as
/// GBK; else Latin-1 (which never fails, and never pretends).
pub(crate) fn choose_charset<'a>(names: impl Iterator<Item = &'a [u8]>) -> Charset {
    let mut utf8 = true;
    let mut gbk = true;
    for n in names.filter(|n| !n.is_ascii()) {
        utf8 &= std::str::from_utf8(n).is_ok();
        gbk &= GBK
            .decode_without_bom_handling_and_without_replacement(n)
            .is_some();
        if !utf8 && !gbk {
            break;
        }
    }
    if utf8 {
        Charset::Utf8
    } else if gbk {
        Charset::Gbk
    } else {
        Charset::Latin1
    }
}

pub(crate) fn decode(raw: &[u8], charset: Charset) -> String {
    match charset {
        Charset::Utf8 => String::from_utf8_lossy(raw).into_owned(),
        Charset::Gbk => GBK.decode_without_bom_handling(raw).0.into_owned(),
        Charset::Latin1 => raw.iter().map(|&b| char::from(b)).collect(),
    }
}

/// UCS-2 / UTF-16 big-endian (Joliet); unpaired surrogates become U+FFFD.
pub(crate) fn utf16be(raw: &[u8]) -> String {
    let units: Vec<u16> = raw
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    String::from_utf16_lossy(&units)
}

/// OSTA Compressed Unicode (UDF d-characters): a compression id byte, then 8- or 16-bit units.
pub(crate) fn cs0(raw: &[u8]) -> String {
    match raw.split_first() {
        Some((8, rest)) => rest.iter().map(|&b| char::from(b)).collect(),
        Some((16, rest)) => utf16be(rest),
        // 254/255 mark "empty" names in UDF 2.00+ for deleted entries; anything else is junk.
        Some((_, rest)) => rest.iter().map(|&b| char::from(b)).collect(),
        None => String::new(),
    }
}

/// A UDF dstring: CS0 with the used length in its last byte.
pub(crate) fn dstring(field: &[u8]) -> String {
    let Some((&len, body)) = field.split_last() else {
        return String::new();
    };
    let len = usize::from(len).min(body.len());
    cs0(&body[..len])
}

/// Strips the `;1` version and the lone trailing dot of ISO 9660 identifiers.
pub(crate) fn strip_iso_version(name: &str) -> &str {
    let name = match name.rfind(';') {
        Some(i) if name[i + 1..].chars().all(|c| c.is_ascii_digit()) => &name[..i],
        _ => name,
    };
    name.strip_suffix('.')
        .filter(|n| !n.is_empty())
        .unwrap_or(name)
}

/// Makes a recorded name a safe path segment: no `/` and no `\` (a separator to Windows and
/// to many ZIP extractors), no NUL or control characters, never empty, `.` or `..`. None
/// means the entry cannot be named and is skipped.
pub(crate) fn clean(name: &str) -> Option<String> {
    let cleaned: String = name
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    let trimmed = cleaned.trim_end_matches([' ', '\0']);
    match trimmed {
        "" | "." | ".." => None,
        _ => Some(trimmed.to_string()),
    }
}

/// Space-padded ISO 9660 volume identifiers; None when blank.
pub(crate) fn padded(s: String) -> Option<String> {
    let t = s.trim_matches(|c: char| c == ' ' || c == '\0').to_string();
    (!t.is_empty()).then_some(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gbk_names_are_detected_and_decoded() {
        let (gbk, _, _) = GBK.encode("中文光盘");
        let names: Vec<&[u8]> = vec![b"README.TXT", &gbk];
        let cs = choose_charset(names.iter().copied());
        assert_eq!(cs, Charset::Gbk);
        assert_eq!(decode(&gbk, cs), "中文光盘");
        let utf8 = "中文".as_bytes();
        assert_eq!(choose_charset([utf8].into_iter()), Charset::Utf8);
        assert_eq!(
            choose_charset([&[0xFFu8, 0xFF][..]].into_iter()),
            Charset::Latin1
        );
    }

    #[test]
    fn names_are_cleaned() {
        assert_eq!(clean("a/b\0c"), Some("a_b_c".into()));
        assert_eq!(clean(".."), None);
        assert_eq!(clean("..\\..\\win.ini"), Some(".._.._win.ini".into()));
        assert_eq!(clean(""), None);
        assert_eq!(strip_iso_version("README.TXT;1"), "README.TXT");
        assert_eq!(strip_iso_version("NOEXT.;1"), "NOEXT");
        assert_eq!(cs0(&[16, 0x4E, 0x2D, 0xD8, 0x00]), "中\u{FFFD}");
    }
}
