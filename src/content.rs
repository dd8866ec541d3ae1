//! Content that can be streamed by byte range: a whole stored blob, a file inside an image
//! (its extents, through the sector layout of its track), or a WAV made of a header built on
//! the fly and the PCM of an audio track. Memory stays bounded whatever the length.

use std::ops::Range;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use futures::{StreamExt, TryStreamExt, stream};
use spindle_image::SectorLayout;
use spindle_storage::{BlobStore, ByteStream, Digest, StorageError};

use crate::db::discs::DiscRow;

#[derive(Debug, Clone)]
pub enum Segment {
    Inline(Bytes),
    Zeros(u64),
    /// `len` logical bytes from `offset` of a stored blob read through `layout`.
    Stored {
        digest: Digest,
        layout: SectorLayout,
        offset: u64,
        len: u64,
    },
}

impl Segment {
    fn len(&self) -> u64 {
        match self {
            Self::Inline(b) => b.len() as u64,
            Self::Zeros(n) => *n,
            Self::Stored { len, .. } => *len,
        }
    }

    /// The part `[from, to)` of this segment.
    fn slice(&self, from: u64, to: u64) -> Self {
        match self {
            Self::Inline(b) => Self::Inline(b.slice(from as usize..to as usize)),
            Self::Zeros(_) => Self::Zeros(to - from),
            Self::Stored {
                digest,
                layout,
                offset,
                ..
            } => Self::Stored {
                digest: *digest,
                layout: *layout,
                offset: offset + from,
                len: to - from,
            },
        }
    }

    async fn open(self, store: &BlobStore) -> Result<ByteStream, StorageError> {
        const ZERO_CHUNK: u64 = 64 * 1024;
        Ok(match self {
            Self::Inline(b) => stream::once(async move { Ok(b) }).boxed(),
            Self::Zeros(n) => {
                let zeros = Bytes::from(vec![0u8; ZERO_CHUNK.min(n) as usize]);
                let chunks = n.div_ceil(ZERO_CHUNK);
                stream::iter((0..chunks).map(move |i| {
                    let len = (n - i * ZERO_CHUNK).min(ZERO_CHUNK) as usize;
                    Ok(zeros.slice(..len))
                }))
                .boxed()
            }
            Self::Stored {
                digest,
                layout,
                offset,
                len,
            } => {
                let (lo, hi) = layout.span(offset, len);
                let raw = store.read_range(&digest, lo..hi).await?;
                if layout.is_plain() {
                    raw
                } else {
                    destride(raw, layout, lo, len)
                }
            }
        })
    }
}

/// Keeps only the logical bytes (each raw sector's payload) of a stream that starts at
/// physical byte `start`, `want` of them.
fn destride(raw: ByteStream, layout: SectorLayout, start: u64, want: u64) -> ByteStream {
    let mut pos = start;
    let mut left = want;
    raw.map_ok(move |chunk| {
        let mut out = BytesMut::with_capacity(chunk.len());
        for piece in layout.payload_in(pos, chunk.len()) {
            let n = (piece.len() as u64).min(left) as usize;
            out.extend_from_slice(&chunk[piece.start..piece.start + n]);
            left -= n as u64;
            if left == 0 {
                break;
            }
        }
        pos += chunk.len() as u64;
        out.freeze()
    })
    .try_filter(|b| std::future::ready(!b.is_empty()))
    .boxed()
}

/// What is being served, with the facts its response headers need.
#[derive(Clone)]
pub struct Representation {
    /// A strong validator: the image's SHA-256, plus the file or track within it.
    pub etag: String,
    pub size: u64,
    pub last_modified: SystemTime,
    pub filename: String,
    pub content_type: String,
    /// `inline` (the browser shows it) rather than `attachment`.
    pub inline: bool,
    /// Disc content (HTML and the like) served under a sandboxing CSP.
    pub sandbox: bool,
    pub content: Content,
}

impl Representation {
    pub fn of_disc(disc: &DiscRow) -> Result<Self, spindle_storage::DigestParseError> {
        let digest: Digest = disc.sha256.parse()?;
        Ok(Self {
            etag: digest.to_hex(),
            size: disc.size as u64,
            last_modified: unix_time(disc.stored_at),
            filename: disc.filename.clone(),
            content_type: image_content_type(&disc.filename).to_string(),
            inline: false,
            sandbox: false,
            content: Content::whole_blob(digest, disc.size as u64),
        })
    }
}

pub fn unix_time(secs: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64)
}

fn image_content_type(filename: &str) -> &'static str {
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("iso") => "application/x-iso9660-image",
        Some("cue") => "application/x-cue",
        _ => "application/octet-stream",
    }
}

/// The type of a file on a disc, by its name, and whether a browser should show it inline
/// (HTML, PDF, images, audio, video, text) rather than save it.
pub fn file_content_type(name: &str) -> (String, bool) {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let inline = matches!(mime.type_().as_str(), "text" | "image" | "audio" | "video")
        || mime.essence_str() == "application/pdf"
        || mime.essence_str() == "application/xhtml+xml";
    (mime.essence_str().to_string(), inline)
}

#[derive(Debug, Clone, Default)]
pub struct Content {
    segments: Vec<Segment>,
}

impl Content {
    pub fn new(segments: Vec<Segment>) -> Self {
        Self {
            segments: segments.into_iter().filter(|s| s.len() > 0).collect(),
        }
    }

    pub fn whole_blob(digest: Digest, size: u64) -> Self {
        Self::new(vec![Segment::Stored {
            digest,
            layout: SectorLayout::PLAIN,
            offset: 0,
            len: size,
        }])
    }

    /// The blob this content reads from its first byte on, plainly, when it is made of that
    /// alone (as [`Self::whole_blob`] makes it): the caller knows whether that is all of it.
    pub fn sole_blob(&self) -> Option<&Digest> {
        match &self.segments[..] {
            [
                Segment::Stored {
                    digest,
                    layout,
                    offset: 0,
                    ..
                },
            ] if layout.is_plain() => Some(digest),
            _ => None,
        }
    }

    pub fn len(&self) -> u64 {
        self.segments.iter().map(Segment::len).sum()
    }

    /// Bytes `[from, to)` of this content, as content of their own.
    pub fn slice(&self, from: u64, to: u64) -> Self {
        let mut out = Vec::new();
        let mut pos = 0;
        for s in &self.segments {
            let (lo, hi) = (pos, pos + s.len());
            pos = hi;
            if hi > from && lo < to {
                out.push(s.slice(from.max(lo) - lo, to.min(hi) - lo));
            }
        }
        Self::new(out)
    }

    /// This content followed by `more`.
    pub fn append(&mut self, more: Content) {
        self.segments.extend(more.segments);
    }

    pub fn is_empty(&self) -> bool {
        self.segments.is_empty()
    }

    /// Streams `range`. The first piece is opened before returning, so a missing or
    /// unreachable blob is an error status rather than a truncated body; the rest open lazily,
    /// one at a time.
    pub async fn open(
        &self,
        store: &BlobStore,
        range: Range<u64>,
    ) -> Result<ByteStream, StorageError> {
        let mut pieces = Vec::new();
        let mut pos = 0u64;
        for s in &self.segments {
            let (lo, hi) = (pos, pos + s.len());
            pos = hi;
            let from = range.start.max(lo);
            let to = range.end.min(hi);
            if from < to {
                pieces.push(s.slice(from - lo, to - lo));
            }
        }
        let mut pieces = pieces.into_iter();
        let Some(first) = pieces.next() else {
            return Ok(stream::empty().boxed());
        };
        let first = first.open(store).await?;
        let store = store.clone();
        let rest = stream::iter(pieces)
            .then(move |p| {
                let store = store.clone();
                async move { p.open(&store).await }
            })
            .try_flatten();
        Ok(first.chain(rest).boxed())
    }
}

/// A RIFF/WAVE header for CD audio (44.1 kHz, 16-bit, stereo, little-endian PCM).
pub fn wav_header(data_len: u32) -> Bytes {
    let mut h = Vec::with_capacity(44);
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes()); // PCM
    h.extend_from_slice(&2u16.to_le_bytes()); // channels
    h.extend_from_slice(&44_100u32.to_le_bytes());
    h.extend_from_slice(&(44_100u32 * 4).to_le_bytes()); // byte rate
    h.extend_from_slice(&4u16.to_le_bytes()); // block align
    h.extend_from_slice(&16u16.to_le_bytes()); // bits per sample
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    Bytes::from(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn collect(s: ByteStream) -> Vec<u8> {
        s.try_fold(Vec::new(), |mut v, b| async move {
            v.extend_from_slice(&b);
            Ok(v)
        })
        .await
        .expect("stream")
    }

    #[tokio::test]
    async fn ranges_cross_segments_and_destride_raw_sectors() {
        let store = BlobStore::in_memory();
        let mut raw = vec![0xEEu8; 2352 * 4];
        for s in 0..4 {
            raw[s * 2352 + 16..s * 2352 + 16 + 2048].fill(b'a' + s as u8);
        }
        let digest = store.put_small(&raw).await.expect("put");
        let content = Content::new(vec![
            Segment::Inline(Bytes::from_static(b"HEAD")),
            Segment::Stored {
                digest,
                layout: SectorLayout::raw(0, 2352, 16),
                offset: 2040,
                len: 2048 * 2,
            },
            Segment::Zeros(3),
        ]);
        assert_eq!(content.len(), 4 + 4096 + 3);
        let all = collect(content.open(&store, 0..content.len()).await.expect("open")).await;
        assert_eq!(&all[..4], b"HEAD");
        assert_eq!(&all[4..12], b"aaaaaaaa");
        assert!(all[12..12 + 2048].iter().all(|&b| b == b'b'));
        assert!(all[12 + 2048..4 + 4096].iter().all(|&b| b == b'c'));
        assert_eq!(&all[4 + 4096..], [0, 0, 0]);
        let mid = collect(content.open(&store, 2..10).await.expect("open")).await;
        assert_eq!(mid, b"ADaaaaaa");
    }
}
