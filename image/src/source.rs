//! Positioned reads of an image: the `ReadAt` trait the parsers use, implemented for byte
//! slices, local files, strided sector views (raw CD tracks) and blobs in the object store
//! (ranged gets through a bounded block cache with read-ahead).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use futures::TryStreamExt;
use tokio::runtime::Handle;

use super::ImageError;
use spindle_storage::{BlobStore, Digest};

/// Reads at an absolute offset. Implementations are synchronous: parsers run on a blocking
/// thread, never on the async executor.
pub trait ReadAt: Send + Sync {
    fn size(&self) -> u64;

    /// Fills `buf` from `offset`; reading past the end is `ImageError::Truncated`.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ImageError>;

    /// Reads `len` bytes at `offset` into a fresh buffer.
    fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>, ImageError> {
        let mut buf = vec![0; len];
        self.read_exact_at(offset, &mut buf)?;
        Ok(buf)
    }
}

pub(crate) fn check_bounds(offset: u64, len: usize, size: u64) -> Result<(), ImageError> {
    let end = offset.saturating_add(len as u64);
    if end > size {
        return Err(ImageError::Truncated { needed: end, size });
    }
    Ok(())
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ImageError> {
        check_bounds(offset, buf.len(), self.size())?;
        let start = offset as usize;
        buf.copy_from_slice(&self[start..start + buf.len()]);
        Ok(())
    }
}

impl ReadAt for Vec<u8> {
    fn size(&self) -> u64 {
        self.as_slice().size()
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ImageError> {
        self.as_slice().read_exact_at(offset, buf)
    }
}

/// The first and last bytes of an image and its size: what a browser sends so the server can
/// name the format before the upload starts. `detect` reads nothing else, and a read
/// outside the two samples is an error rather than invented bytes.
pub struct Sampled {
    size: u64,
    head: Vec<u8>,
    tail: Vec<u8>,
}

/// Bytes from the start that `detect` needs: the volume descriptors and recognition
/// sequence up to sector 48, a raw track's sector 16, and a whole CUE sheet.
pub const SAMPLE_HEAD: usize = 96 * 1024;
/// Bytes from the end: the trailers of NRG, DMG and VHD.
pub const SAMPLE_TAIL: usize = 4096;

impl Sampled {
    /// `head` holds the first bytes, `tail` the last; `None` when they cannot come from a
    /// file of `size` bytes.
    pub fn new(size: u64, head: Vec<u8>, tail: Vec<u8>) -> Option<Self> {
        let fits = head.len() as u64 <= size && tail.len() as u64 <= size;
        let whole = head.len() as u64 == size;
        (fits && (whole || !head.is_empty())).then_some(Self { size, head, tail })
    }
}

impl ReadAt for Sampled {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ImageError> {
        check_bounds(offset, buf.len(), self.size)?;
        let end = offset + buf.len() as u64;
        let tail_start = self.size - self.tail.len() as u64;
        if end <= self.head.len() as u64 {
            self.head.read_exact_at(offset, buf)
        } else if offset >= tail_start {
            self.tail.read_exact_at(offset - tail_start, buf)
        } else {
            Err(ImageError::Io(format!(
                "bytes {offset}..{end} were not in the sample"
            )))
        }
    }
}

/// A local image file (the CLI's pre-flight check and benchmarks).
pub struct FileSource {
    file: std::fs::File,
    size: u64,
}

impl FileSource {
    pub fn open(path: &std::path::Path) -> std::io::Result<Self> {
        let file = std::fs::File::open(path)?;
        let size = file.metadata()?.len();
        Ok(Self { file, size })
    }
}

impl ReadAt for FileSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ImageError> {
        use std::os::unix::fs::FileExt;
        check_bounds(offset, buf.len(), self.size)?;
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| ImageError::Io(e.to_string()))
    }
}

/// How the logical sectors of a track sit in the bytes of its file: `stride` bytes per
/// sector, `payload` bytes of user data `skip` bytes into each. A plain ISO is stride 2048,
/// skip 0; a raw MODE1/2352 track is stride 2352, skip 16; MODE2/2352 (XA form 1) stride
/// 2352, skip 24 — all with 2048-byte payloads. A file in XA form 2 sectors (a VCD's MPEG
/// video) has 2324-byte payloads, skip 24 in a 2352-byte sector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SectorLayout {
    /// Byte offset of logical sector 0 in the part.
    pub base: u64,
    pub stride: u64,
    pub skip: u64,
    /// User-data bytes per sector (layouts stored before form 2 was read have none: 2048).
    #[serde(default = "SectorLayout::sector")]
    pub payload: u64,
}

pub const SECTOR: u64 = 2048;
/// User-data bytes of a Mode 2 Form 2 sector.
pub const FORM2_PAYLOAD: u64 = 2324;

impl SectorLayout {
    pub const PLAIN: Self = Self {
        base: 0,
        stride: SECTOR,
        skip: 0,
        payload: SECTOR,
    };

    fn sector() -> u64 {
        SECTOR
    }

    /// 2048-byte logical sectors in `stride`-byte raw sectors from `base`, `skip` bytes in.
    pub const fn raw(base: u64, stride: u64, skip: u64) -> Self {
        Self {
            base,
            stride,
            skip,
            payload: SECTOR,
        }
    }

    /// The same sectors read as XA form 2: 2324 bytes of user data each.
    pub const fn form2(self) -> Self {
        Self {
            payload: FORM2_PAYLOAD,
            ..self
        }
    }

    pub fn is_plain(&self) -> bool {
        self.stride == self.payload && self.skip == 0
    }

    /// Physical pieces holding logical bytes `[offset, offset + len)`, in order. For a plain
    /// layout this is one piece; otherwise one per sector touched (callers batch the reads).
    pub fn pieces(&self, offset: u64, len: u64) -> impl Iterator<Item = (u64, u64)> + '_ {
        let plain = self.is_plain();
        let end = offset.saturating_add(len);
        let mut pos = offset;
        std::iter::from_fn(move || {
            if pos >= end {
                return None;
            }
            if plain {
                let piece = (self.base + pos, end - pos);
                pos = end;
                return Some(piece);
            }
            let sector = pos / self.payload;
            let within = pos % self.payload;
            let take = (self.payload - within).min(end - pos);
            let physical = self.base + sector * self.stride + self.skip + within;
            pos += take;
            Some((physical, take))
        })
    }

    /// Which bytes of a run of `len` physical bytes starting at physical byte `start` are
    /// sector payload (logical data), as ranges within the run, in order: what a stream of
    /// raw sectors keeps. Headers and error-correction bytes between payloads are left out.
    pub fn payload_in(&self, start: u64, len: usize) -> impl Iterator<Item = Range<usize>> + '_ {
        let mut i = 0usize;
        std::iter::from_fn(move || {
            while i < len {
                let pos = start + i as u64;
                let rest = (len - i) as u64;
                let rel = pos.saturating_sub(self.base) % self.stride;
                if pos >= self.base && rel >= self.skip && rel < self.skip + self.payload {
                    let n = (self.skip + self.payload - rel).min(rest) as usize;
                    let piece = i..i + n;
                    i += n;
                    return Some(piece);
                }
                // Skip to the next payload: the rest of this sector's header or trailer.
                let gap = if pos < self.base {
                    self.base - pos
                } else if rel < self.skip {
                    self.skip - rel
                } else {
                    self.stride - rel
                };
                i += gap.min(rest) as usize;
            }
            None
        })
    }

    /// The physical span (first byte, one past the last) that holds logical `[offset, +len)`.
    pub fn span(&self, offset: u64, len: u64) -> (u64, u64) {
        if len == 0 {
            return (self.base, self.base);
        }
        let first = self.pieces(offset, 1).next().map_or(self.base, |p| p.0);
        let last = offset + len - 1;
        let last_phys = self.pieces(last, 1).next().map_or(self.base, |p| p.0);
        (first, last_phys + 1)
    }
}

/// The logical sectors of a raw track (their payloads, end to end), read through its layout.
pub struct SectorView<'a> {
    inner: &'a dyn ReadAt,
    layout: SectorLayout,
    size: u64,
}

impl<'a> SectorView<'a> {
    /// `sectors` logical sectors, or as many as the part holds.
    pub fn new(inner: &'a dyn ReadAt, layout: SectorLayout, sectors: u64) -> Self {
        let available = inner.size().saturating_sub(layout.base) / layout.stride;
        Self {
            inner,
            layout,
            size: sectors.min(available) * layout.payload,
        }
    }
}

impl ReadAt for SectorView<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ImageError> {
        check_bounds(offset, buf.len(), self.size)?;
        let mut filled = 0usize;
        for (phys, len) in self.layout.pieces(offset, buf.len() as u64) {
            let len = len as usize;
            self.inner
                .read_exact_at(phys, &mut buf[filled..filled + len])?;
            filled += len;
        }
        Ok(())
    }
}

/// Block size of the blob cache: big enough that a directory or a descriptor run costs one
/// ranged get, small enough that a cache of `capacity` blocks stays a few MiB.
pub const CACHE_BLOCK: u64 = 64 * 1024;

/// A stored blob read through ranged gets. A miss fetches the missing block plus up to
/// `read_ahead` following blocks in one request; at most `capacity` blocks stay cached
/// (least recently used evicted), so memory is bounded whatever the image size.
pub struct BlobSource {
    store: BlobStore,
    digest: Digest,
    size: u64,
    handle: Handle,
    capacity: usize,
    read_ahead: u64,
    cache: Mutex<Cache>,
    requests: AtomicU64,
    bytes_fetched: AtomicU64,
}

#[derive(Default)]
struct Cache {
    blocks: HashMap<u64, (Bytes, u64)>,
    tick: u64,
}

impl Cache {
    fn get(&mut self, block: u64) -> Option<Bytes> {
        self.tick += 1;
        let tick = self.tick;
        self.blocks.get_mut(&block).map(|(b, t)| {
            *t = tick;
            b.clone()
        })
    }

    fn put(&mut self, block: u64, bytes: Bytes, capacity: usize) {
        while self.blocks.len() >= capacity {
            let Some(oldest) = self
                .blocks
                .iter()
                .min_by_key(|(_, (_, t))| *t)
                .map(|(k, _)| *k)
            else {
                break;
            };
            self.blocks.remove(&oldest);
        }
        self.tick += 1;
        self.blocks.insert(block, (bytes, self.tick));
    }
}

impl BlobSource {
    /// Must be used from a blocking thread (`spawn_blocking`): reads block on `handle`.
    pub fn new(store: BlobStore, digest: Digest, size: u64, handle: Handle) -> Self {
        Self {
            store,
            digest,
            size,
            handle,
            capacity: 64,
            read_ahead: 3,
            cache: Mutex::new(Cache::default()),
            requests: AtomicU64::new(0),
            bytes_fetched: AtomicU64::new(0),
        }
    }

    /// Ranged gets issued so far (for the indexing benchmark and logs).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    pub fn bytes_fetched(&self) -> u64 {
        self.bytes_fetched.load(Ordering::Relaxed)
    }

    fn fetch(&self, first: u64, count: u64) -> Result<Vec<Bytes>, ImageError> {
        let start = first * CACHE_BLOCK;
        let end = ((first + count) * CACHE_BLOCK).min(self.size);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes_fetched.fetch_add(end - start, Ordering::Relaxed);
        let data: Vec<Bytes> = self
            .handle
            .block_on(async {
                let stream = self.store.read_range(&self.digest, start..end).await?;
                stream.try_collect::<Vec<Bytes>>().await
            })
            .map_err(|e| ImageError::Io(e.to_string()))?;
        let mut joined = Vec::with_capacity((end - start) as usize);
        for chunk in data {
            joined.extend_from_slice(&chunk);
        }
        if joined.len() as u64 != end - start {
            return Err(ImageError::Io(format!(
                "short read: wanted {} bytes at {start}, got {}",
                end - start,
                joined.len()
            )));
        }
        let joined = Bytes::from(joined);
        Ok((0..count)
            .map(|i| {
                let lo = ((i * CACHE_BLOCK) as usize).min(joined.len());
                let hi = (((i + 1) * CACHE_BLOCK) as usize).min(joined.len());
                joined.slice(lo..hi)
            })
            .collect())
    }

    fn block(&self, block: u64) -> Result<Bytes, ImageError> {
        if let Some(b) = self.cache_lock().get(block) {
            return Ok(b);
        }
        let last_block = self.size.div_ceil(CACHE_BLOCK);
        let count = (1 + self.read_ahead).min(last_block - block).max(1);
        let fetched = self.fetch(block, count)?;
        let mut cache = self.cache_lock();
        let mut first = Bytes::new();
        for (i, bytes) in fetched.into_iter().enumerate() {
            if i == 0 {
                first = bytes.clone();
            }
            cache.put(block + i as u64, bytes, self.capacity);
        }
        Ok(first)
    }

    fn cache_lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        // A poisoned cache only means another reader panicked mid-insert; the map is intact.
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ReadAt for BlobSource {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), ImageError> {
        check_bounds(offset, buf.len(), self.size)?;
        let mut filled = 0usize;
        while filled < buf.len() {
            let pos = offset + filled as u64;
            let block = self.block(pos / CACHE_BLOCK)?;
            let within = (pos % CACHE_BLOCK) as usize;
            let take = (block.len().saturating_sub(within)).min(buf.len() - filled);
            if take == 0 {
                return Err(ImageError::Truncated {
                    needed: pos + 1,
                    size: self.size,
                });
            }
            buf[filled..filled + take].copy_from_slice(&block[within..within + take]);
            filled += take;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream side (`payload_in`, over any split of the physical bytes) keeps exactly
    /// the bytes the positioned side (`pieces`) reads, for a raw track after a pregap.
    #[test]
    fn payload_in_keeps_what_pieces_reads_whatever_the_split() {
        for raw in [
            SectorLayout::raw(300, 2352, 24),
            SectorLayout::raw(300, 2352, 24).form2(),
        ] {
            pieces_and_payload_agree(raw);
        }
    }

    fn pieces_and_payload_agree(raw: SectorLayout) {
        let (offset, len) = (2000u64, 5000u64);
        let want: Vec<u64> = raw
            .pieces(offset, len)
            .flat_map(|(p, n)| p..p + n)
            .collect();
        let (lo, hi) = raw.span(offset, len);
        for split in [1usize, 7, 24, 2352, 4096, (hi - lo) as usize] {
            let mut got = Vec::new();
            let mut at = 0u64;
            // Start a little before the span, as a store read of whole blocks does.
            let start = lo - 100;
            while start + at < hi {
                let n = (split as u64).min(hi - start - at) as usize;
                for r in raw.payload_in(start + at, n) {
                    got.extend((r.start as u64..r.end as u64).map(|i| start + at + i));
                }
                at += n as u64;
            }
            let got: Vec<u64> = got.into_iter().filter(|p| *p >= lo).collect();
            assert_eq!(got.len() as u64, len, "split {split}");
            assert_eq!(got, want, "split {split}");
        }
    }

    #[test]
    fn raw_layout_maps_each_sector_past_its_header() {
        let raw = SectorLayout::raw(0, 2352, 16);
        let pieces: Vec<_> = raw.pieces(2040, 20).collect();
        assert_eq!(pieces, vec![(16 + 2040, 8), (2352 + 16, 12)]);
        assert_eq!(raw.span(2040, 20), (2056, 2352 + 16 + 12));
        // XA form 2: 2324 bytes a sector, 24 bytes in.
        let form2: Vec<_> = SectorLayout::raw(0, 2352, 24)
            .form2()
            .pieces(2320, 10)
            .collect();
        assert_eq!(form2, vec![(24 + 2320, 4), (2352 + 24, 6)]);
        let plain: Vec<_> = SectorLayout::PLAIN.pieces(5, 10_000).collect();
        assert_eq!(plain, vec![(5, 10_000)]);
    }

    #[test]
    fn sector_view_reads_user_data_only() {
        let mut raw = vec![0xEEu8; 2352 * 3];
        for s in 0..3 {
            let start = s * 2352 + 16;
            raw[start..start + 2048].fill(s as u8);
        }
        let view = SectorView::new(&raw, SectorLayout::raw(0, 2352, 16), 10);
        assert_eq!(view.size(), 3 * 2048);
        let got = view.read_vec(2047, 3).expect("read");
        assert_eq!(got, vec![0, 1, 1]);
        assert!(matches!(
            view.read_vec(3 * 2048 - 1, 2),
            Err(ImageError::Truncated { .. })
        ));
    }
}
