//! ISO 2709 (the binary MARC exchange format): a 24-byte leader, a directory of 12-byte
//! entries, fields ended by 0x1E, subfields introduced by 0x1F, records ended by 0x1D.
//! Text is read in the character set the record names and its bytes bear out (UTF-8, MARC-8,
//! GB 18030: see `charset`); records are written in UTF-8 or GB 18030.

use super::charset::{self, Charset};
use super::{Field, MAX_RECORDS, MarcError, Record, Subfield};

const FT: u8 = 0x1E;
const SF: u8 = 0x1F;
const RT: u8 = 0x1D;

fn err(offset: usize, detail: impl Into<String>) -> MarcError {
    MarcError::Iso2709 {
        offset,
        detail: detail.into(),
    }
}

fn num(b: &[u8], at: usize, offset: usize) -> Result<usize, MarcError> {
    std::str::from_utf8(b)
        .ok()
        .filter(|s| s.bytes().all(|c| c.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            err(
                offset + at,
                format!("{:?} is not a number", String::from_utf8_lossy(b)),
            )
        })
}

fn one(data: &[u8], offset: usize, sent_in: Option<Charset>) -> Result<Record, MarcError> {
    if data.len() < 25 {
        return Err(err(offset, "shorter than a leader"));
    }
    let base = num(&data[12..17], 12, offset)?;
    if base < 25 || base > data.len() {
        return Err(err(
            offset + 12,
            format!("base address {base} outside the record"),
        ));
    }
    let leader = String::from_utf8_lossy(&data[..24]).into_owned();
    let directory = &data[24..base - 1];
    if !directory.len().is_multiple_of(12) {
        return Err(err(
            offset + 24,
            "directory is not a whole number of entries",
        ));
    }
    let mut raw: Vec<(String, &[u8])> = Vec::with_capacity(directory.len() / 12);
    for (i, e) in directory.chunks_exact(12).enumerate() {
        let at = 24 + i * 12;
        let tag = String::from_utf8_lossy(&e[..3]).into_owned();
        let len = num(&e[3..7], at + 3, offset)?;
        let start = base + num(&e[7..12], at + 7, offset)?;
        // `data` ends with the record terminator, which no field may take in.
        let end = start
            .checked_add(len)
            .filter(|&x| x < data.len())
            .ok_or_else(|| err(offset + at, format!("field {tag} runs past the record")))?;
        let body = &data[start..end];
        raw.push((tag, body.strip_suffix(&[FT]).unwrap_or(body)));
    }
    // The character set: what the record says (leader/09, or UNIMARC 100 $a/26-29 when the
    // record is UNIMARC: it has no 245 and its 100 $a is coded data), checked against the bytes.
    let unimarc_100a = (!raw.iter().any(|(t, _)| t == "245"))
        .then(|| raw.iter().find(|(t, _)| t == "100"))
        .flatten()
        .and_then(|(_, b)| b.split(|&c| c == SF).nth(1))
        .and_then(|a| a.strip_prefix(b"a"))
        .filter(|a| charset::coded_100a(a));
    let label = sent_in.or_else(|| charset::labelled(&data[..24], unimarc_100a));
    let bodies: Vec<&[u8]> = raw.iter().map(|(_, b)| *b).collect();
    let (set, note) = charset::choose(label, &bodies);
    let text = |b: &[u8]| charset::decode(set, b);
    let mut fields = Vec::with_capacity(raw.len());
    for (tag, body) in raw {
        let control = tag.as_bytes().first() == Some(&b'0') && tag.as_bytes().get(1) == Some(&b'0');
        if control {
            fields.push(Field::Control {
                tag,
                value: text(body),
            });
            continue;
        }
        let (ind1, ind2) = match body {
            [a, b, ..] if *a != SF && *b != SF => (char::from(*a), char::from(*b)),
            _ => (' ', ' '),
        };
        let rest = if body.len() >= 2 && body[0] != SF {
            &body[2..]
        } else {
            body
        };
        let subfields = rest
            .split(|&b| b == SF)
            .filter(|s| !s.is_empty())
            .map(|s| {
                // A subfield code is one byte in every set a record may use; a code that is
                // not ASCII (a damaged record) is read as one UTF-8 character when it is one.
                let code_len = std::str::from_utf8(&s[..s.len().min(4)])
                    .ok()
                    .and_then(|t| t.chars().next())
                    .map_or(1, char::len_utf8);
                let code_len = code_len.min(s.len());
                Subfield {
                    code: String::from_utf8_lossy(&s[..code_len])
                        .chars()
                        .next()
                        .unwrap_or(' '),
                    value: text(&s[code_len..]),
                }
            })
            .collect();
        fields.push(Field::Data {
            tag,
            ind1,
            ind2,
            subfields,
        });
    }
    Ok(Record {
        leader,
        fields,
        charset_note: note,
    })
}

/// Every record in `data` (records ended by 0x1D; stray whitespace between them skipped).
pub fn parse_iso2709(data: &[u8]) -> Result<Vec<Record>, MarcError> {
    parse_iso2709_in(data, None)
}

/// As [`parse_iso2709`], with the set the records were sent in when the sender said so
/// outside the records (Z39.50 negotiation): it stands in for each record's own label, and
/// the bytes still have the last word.
pub fn parse_iso2709_in(data: &[u8], sent_in: Option<Charset>) -> Result<Vec<Record>, MarcError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        while pos < data.len() && data[pos].is_ascii_whitespace() {
            pos += 1;
        }
        if pos >= data.len() {
            break;
        }
        if data.len() - pos < 5 {
            return Err(err(pos, "trailing bytes after the last record"));
        }
        let declared = num(&data[pos..pos + 5], 0, pos)?;
        let end = data[pos..]
            .iter()
            .position(|&b| b == RT)
            .map(|i| pos + i + 1)
            .ok_or_else(|| err(pos, "no record terminator"))?;
        // Trust the terminator over the length: producers miscount multi-byte text.
        if declared < 24 {
            return Err(err(pos, format!("record length {declared}")));
        }
        if out.len() >= MAX_RECORDS {
            return Err(MarcError::TooMany(MAX_RECORDS));
        }
        out.push(one(&data[pos..end], pos, sent_in)?);
        pos = end;
    }
    Ok(out)
}

/// The most a field (with its terminator) and a record may hold: the directory gives a field's
/// length in four digits, the leader a record's in five.
const MAX_FIELD: usize = 9_999;
const MAX_RECORD: usize = 99_999;

/// One record in ISO 2709, UTF-8: see [`write_iso2709_in`].
pub fn write_iso2709(record: &Record) -> Vec<u8> {
    write_iso2709_in(record, Charset::Utf8)
}

/// One record in ISO 2709 with correct lengths and offsets, its text in `set` (UTF-8, or
/// GB 18030; MARC-8 and Latin-1 are read, never written, and asking for them writes UTF-8) and its label to
/// match: leader/09 `a` for UTF-8 and blank otherwise, and in a UNIMARC record the character
/// sets of 100 $a/26-29 (`50  ` Unicode, `0120` ISO 646 + GB 2312 as CNMARC writes it).
/// Whatever the record holds it is written: a tag as three ASCII characters (`?` for any
/// other), an indicator that is not ASCII as a blank; a field longer than the format can say is
/// cut at a character boundary, and when the record would still be too long, data fields are
/// left out from the end, keeping the control fields and the 856 links the export exists for.
pub fn write_iso2709_in(record: &Record, set: Charset) -> Vec<u8> {
    let set = if set == Charset::Gb18030 {
        Charset::Gb18030
    } else {
        Charset::Utf8
    };
    let unimarc = !record.fields.iter().any(|f| f.tag() == "245");
    let mut fields: Vec<(String, Vec<u8>)> = record
        .fields
        .iter()
        .map(|f| encode_field(&labelled_100(f, unimarc, set), set))
        .collect();
    let size = |fields: &[(String, Vec<u8>)]| {
        24 + fields.iter().map(|(_, b)| 12 + b.len()).sum::<usize>() + 2
    };
    while size(&fields) > MAX_RECORD {
        let Some(i) = fields
            .iter()
            .rposition(|(tag, _)| !tag.starts_with("00") && tag != "856")
            .or_else(|| fields.len().checked_sub(1))
        else {
            break;
        };
        fields.remove(i);
    }
    let mut directory = Vec::new();
    let mut body = Vec::new();
    for (tag, bytes) in &fields {
        directory.extend_from_slice(format!("{tag}{:04}{:05}", bytes.len(), body.len()).as_bytes());
        body.extend_from_slice(bytes);
    }
    directory.push(FT);
    let base = 24 + directory.len();
    let total = base + body.len() + 1;
    let mut leader: Vec<u8> = record
        .leader
        .chars()
        .map(|c| {
            if c.is_ascii() && !c.is_ascii_control() {
                c as u8
            } else {
                b' '
            }
        })
        .chain(std::iter::repeat(b' '))
        .take(24)
        .collect();
    leader[..5].copy_from_slice(format!("{total:05}").as_bytes());
    leader[9] = if set == Charset::Utf8 { b'a' } else { b' ' };
    leader[12..17].copy_from_slice(format!("{base:05}").as_bytes());
    let mut out = leader;
    out.extend_from_slice(&directory);
    out.extend_from_slice(&body);
    out.push(RT);
    out
}

/// A UNIMARC 100 field with positions 26-29 of its coded data saying `set`; any other field
/// as it is.
fn labelled_100(f: &Field, unimarc: bool, set: Charset) -> std::borrow::Cow<'_, Field> {
    use std::borrow::Cow;
    let Field::Data {
        tag,
        ind1,
        ind2,
        subfields,
    } = f
    else {
        return Cow::Borrowed(f);
    };
    let coded = |s: &Subfield| s.code == 'a' && charset::coded_100a(s.value.as_bytes());
    if !unimarc || tag != "100" || !subfields.first().is_some_and(coded) {
        return Cow::Borrowed(f);
    }
    let mut subfields = subfields.clone();
    let label = if set == Charset::Gb18030 {
        "0120"
    } else {
        "50  "
    };
    subfields[0].value.replace_range(26..30, label);
    Cow::Owned(Field::Data {
        tag: tag.clone(),
        ind1: *ind1,
        ind2: *ind2,
        subfields,
    })
}

/// `text` in `set`, cut to at most `room` bytes at a character boundary.
fn encode_text(text: &str, set: Charset, room: usize) -> Vec<u8> {
    let whole = |t: &str| match set {
        Charset::Gb18030 => encoding_rs::GB18030.encode(t).0.into_owned(),
        _ => t.as_bytes().to_vec(),
    };
    let bytes = whole(text);
    if bytes.len() <= room {
        return bytes;
    }
    // The longest prefix of whole characters that fits (rare: only oversized fields).
    let ends: Vec<usize> = text
        .char_indices()
        .map(|(i, _)| i)
        .chain([text.len()])
        .collect();
    let (mut lo, mut hi) = (0, ends.len() - 1);
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        if whole(&text[..ends[mid]]).len() <= room {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    whole(&text[..ends[lo]])
}

/// A field's directory tag and its bytes in `set`, terminator included, at most
/// [`MAX_FIELD`] long.
fn encode_field(f: &Field, set: Charset) -> (String, Vec<u8>) {
    let room = MAX_FIELD - 1;
    let mut body = Vec::new();
    match f {
        Field::Control { value, .. } => body.extend(encode_text(value, set, room)),
        Field::Data {
            ind1,
            ind2,
            subfields,
            ..
        } => {
            for ind in [ind1, ind2] {
                body.push(if ind.is_ascii_graphic() {
                    *ind as u8
                } else {
                    b' '
                });
            }
            for s in subfields {
                let code = s.code.to_string();
                if body.len() + 1 + code.len() > room {
                    break;
                }
                body.push(SF);
                body.extend_from_slice(code.as_bytes());
                body.extend(encode_text(&s.value, set, room - body.len()));
            }
        }
    }
    body.push(FT);
    let tag: String = format!("{:0>3}", f.tag())
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .take(3)
        .collect();
    (tag, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_unicode_and_rejects_lies() {
        let rec = Record {
            charset_note: None,
            leader: "00000nam0 2200000   450 ".into(),
            fields: vec![
                Field::Control {
                    tag: "001".into(),
                    value: "012015000101".into(),
                },
                Field::Data {
                    tag: "215".into(),
                    ind1: ' ',
                    ind2: ' ',
                    subfields: vec![
                        Subfield {
                            code: 'a',
                            value: "320页".into(),
                        },
                        Subfield {
                            code: 'e',
                            value: "1光盘".into(),
                        },
                    ],
                },
            ],
        };
        let bytes = write_iso2709(&rec);
        let back = parse_iso2709(&bytes).expect("parse");
        assert_eq!(back[0].fields, rec.fields);
        assert_eq!(back[0].first("215", 'e'), Some("1光盘"));
        // A directory entry pointing past the record.
        let mut bad = bytes.clone();
        bad[24 + 12 + 3..24 + 12 + 7].copy_from_slice(b"9999");
        assert!(matches!(
            parse_iso2709(&bad),
            Err(MarcError::Iso2709 { .. })
        ));
        assert!(parse_iso2709(b"00010").is_err());
        assert!(parse_iso2709(&bytes[..bytes.len() - 1]).is_err());
    }

    /// What the fuzzer found: a record read leniently (a tag and an indicator that are not
    /// ASCII) must still be written as ISO 2709 that reads back; so must a record with a
    /// field or a total longer than the format can say.
    #[test]
    fn writes_what_it_read_and_what_does_not_fit() {
        let data = |tag: &str, ind1: char, value: String| Field::Data {
            tag: tag.into(),
            ind1,
            ind2: ' ',
            subfields: vec![Subfield { code: 'a', value }],
        };
        let rec = Record {
            charset_note: None,
            leader: "00000nam\u{c4}a2200000 a 4500".into(),
            fields: vec![
                Field::Control {
                    tag: "001".into(),
                    value: "1".into(),
                },
                data("2\u{fffd}5", '\u{c4}', "odd".into()),
                data("505", ' ', "长".repeat(4000)),
                data("520", ' ', "x".repeat(9_000)),
                data("521", ' ', "y".repeat(9_000)),
                data("856", '4', "http://discs.example.edu/r/A/record/1".into()),
            ],
        };
        let many: Vec<Field> = (0..10).flat_map(|_| rec.fields.clone()).collect();
        for fields in [rec.fields.clone(), many] {
            let rec = Record {
                fields,
                ..rec.clone()
            };
            let bytes = write_iso2709(&rec);
            assert!(bytes.len() <= MAX_RECORD, "{}", bytes.len());
            let back = parse_iso2709(&bytes).expect("reads back");
            assert_eq!(back.len(), 1);
            let r = &back[0];
            assert_eq!(r.control("001"), Some("1"));
            assert_eq!(r.fields("856").count(), rec.fields("856").count());
            let note = r.first("505", 'a').unwrap_or_default();
            assert!(
                note.len() < MAX_FIELD && note.starts_with("长"),
                "{}",
                note.len()
            );
            assert!(r.fields.iter().any(|f| f.tag() == "2?5"));
        }
    }
}
