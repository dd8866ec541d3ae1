//! Telling image formats apart from their bytes (never from a file name), and naming the
//! formats Spindle recognises but does not read.

use super::{ImageError, ReadAt, SECTOR, SectorLayout, cue, udf};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Detected {
    /// ISO 9660 at sector 16, possibly an ISO/UDF bridge.
    Iso { udf: bool },
    /// UDF without ISO 9660 descriptors.
    Udf,
    /// A raw 2352-byte-sector track (BIN, IMG, MDF) without its CUE sheet.
    Raw { layout: SectorLayout },
    /// A CUE sheet; its FILE lines name the other parts of the disc.
    Cue(String),
}

const SYNC: [u8; 12] = [
    0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0,
];
/// CUE sheets are small; anything bigger that looks like text is not one.
const MAX_CUE_BYTES: u64 = 64 * 1024;

fn bytes_at(r: &dyn ReadAt, offset: u64, len: usize) -> Option<Vec<u8>> {
    (offset + len as u64 <= r.size())
        .then(|| r.read_vec(offset, len).ok())
        .flatten()
}

fn magic_name(head: &[u8], tail: &[u8]) -> Option<&'static str> {
    let starts = |m: &[u8]| head.starts_with(m);
    let tail_at = |from_end: usize, m: &[u8]| {
        tail.len() >= from_end && tail[tail.len() - from_end..].starts_with(m)
    };
    Some(match () {
        _ if starts(b"MEDIA DESCRIPTOR") => {
            "Alcohol 120% descriptor (MDS); upload the MDF as a CUE + BIN instead"
        }
        _ if starts(b"[CloneCD]") => "CloneCD control file (CCD)",
        _ if tail_at(12, b"NER5") || tail_at(8, b"NERO") => "Nero image (NRG)",
        _ if starts(b"PK\x03\x04") => "ZIP archive (not a disc image)",
        _ if starts(b"Rar!") => "RAR archive (not a disc image)",
        _ if starts(b"7z\xBC\xAF\x27\x1C") => "7-Zip archive (not a disc image)",
        _ if starts(b"\x1F\x8B") => "gzip-compressed file (decompress the image first)",
        _ if starts(b"\xFD7zXZ\x00") => "xz-compressed file (decompress the image first)",
        _ if starts(b"BZh") => "bzip2-compressed file (decompress the image first)",
        _ if starts(b"IsZ!") => "compressed ISO (ISZ)",
        _ if starts(b"CISO") => "compressed ISO (CSO)",
        _ if starts(b"DAA\0") => "PowerISO image (DAA)",
        _ if starts(b"ECM\0") => "ECM-encoded image",
        _ if tail_at(512, b"koly") => "Apple disk image (DMG)",
        _ if tail_at(512, b"conectix") => "virtual hard disk (VHD)",
        _ => return None,
    })
}

fn text(bytes: &[u8]) -> Option<String> {
    if bytes.contains(&0) {
        return None;
    }
    match std::str::from_utf8(bytes) {
        Ok(s) => Some(s.to_string()),
        Err(_) => encoding_rs::GBK
            .decode_without_bom_handling_and_without_replacement(bytes)
            .map(|s| s.into_owned()),
    }
}

pub fn detect(r: &dyn ReadAt) -> Result<Detected, ImageError> {
    let size = r.size();
    if size == 0 {
        return Err(ImageError::Unsupported("an empty file".into()));
    }
    if bytes_at(r, 16 * SECTOR + 1, 5).as_deref() == Some(b"CD001") {
        return Ok(Detected::Iso {
            udf: udf::has_vrs(r),
        });
    }
    if udf::has_vrs(r) {
        return Ok(Detected::Udf);
    }
    let head = r.read_vec(0, size.min(MAX_CUE_BYTES) as usize)?;
    if head.starts_with(&SYNC) && head.len() > 16 {
        for skip in [16u64, 24] {
            let at = 16 * 2352 + skip + 1;
            if bytes_at(r, at, 5).as_deref() == Some(b"CD001") {
                return Ok(Detected::Raw {
                    layout: SectorLayout::raw(0, 2352, skip),
                });
            }
        }
        return Err(ImageError::Unsupported(
            "raw 2352-byte-sector image without its CUE sheet (upload the CUE sheet with it)"
                .into(),
        ));
    }
    let tail = r.read_vec(size.saturating_sub(512), size.min(512) as usize)?;
    if let Some(name) = magic_name(&head, &tail) {
        return Err(ImageError::Unsupported(name.into()));
    }
    if size <= MAX_CUE_BYTES
        && let Some(t) = text(&head)
    {
        return match cue::parse_cue(&t) {
            Ok(sheet) if !sheet.files.is_empty() => Ok(Detected::Cue(t)),
            Ok(_) => Err(ImageError::Unrecognised),
            Err(e) if looks_like_cue(&t) => Err(e),
            Err(_) => Err(ImageError::Unrecognised),
        };
    }
    Err(ImageError::Unrecognised)
}

fn looks_like_cue(t: &str) -> bool {
    t.lines().any(|l| {
        let l = l.trim_start().to_ascii_uppercase();
        l.starts_with("FILE ") || l.starts_with("TRACK ")
    })
}
