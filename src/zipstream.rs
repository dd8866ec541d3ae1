//! A ZIP of a directory of a disc, streamed as it is written: stored entries (disc content is
//! mostly compressed already), CRC-32 computed on the way through, sizes and CRC in data
//! descriptors, ZIP64 where a size or offset needs it, each file's time also as UTC (the
//! extended-timestamp field, since the DOS time has no zone). No temporary file, bounded
//! memory. Every size is known before the first byte, so the archive's length is too
//! ([`length`]), and any byte range of it can be streamed (what comes before is read for its
//! CRC-32s, not sent).

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use spindle_storage::BlobStore;
use tokio::sync::mpsc;

use crate::content::Content;

/// A folder's archive, before a byte of it is made: its file name, a strong entity tag (the
/// same bytes for the same image, folder and layout), when its image was stored, its entries.
pub struct ZipPlan {
    pub filename: String,
    pub etag: String,
    pub stored_at: i64,
    pub entries: Vec<ZipEntry>,
}

pub struct ZipEntry {
    /// `/`-separated path inside the archive; directories end without a slash here.
    pub name: String,
    pub is_dir: bool,
    pub mtime: Option<i64>,
    pub content: Content,
}

const LIMIT32: u64 = 0xFFFF_FFFF;
/// The extended-timestamp extra field (0x5455, Info-ZIP): flags (modification time only) and
/// the time as Unix seconds, in the local header and the central directory alike.
const UT_LEN: u64 = 9;

fn put_utc_time(b: &mut BytesMut, mtime: i64) {
    b.put_u16_le(0x5455);
    b.put_u16_le(5);
    b.put_u8(1);
    b.put_u32_le(mtime.clamp(0, i64::from(i32::MAX)) as u32);
}

/// The name an entry is stored under (folders end with `/`).
/// The entry's name in the archive: `/` separates folders, and a `\\` (which extractors on
/// Windows take for a separator, so `..\\..\\x` would climb out of the target folder) is
/// never one. Indexes clean names already; images indexed before they did are cleaned here.
fn stored_name(e: &ZipEntry) -> String {
    let name = e.name.replace('\\', "_");
    if e.is_dir { format!("{name}/") } else { name }
}

fn entry_size(e: &ZipEntry) -> u64 {
    if e.is_dir { 0 } else { e.content.len() }
}

/// The archive's exact length in bytes, as [`stream`] writes it.
pub fn length(entries: &[ZipEntry]) -> u64 {
    let mut offset = 0u64;
    let mut central = 0u64;
    for e in entries {
        let name = stored_name(e).len() as u64;
        let size = entry_size(e);
        let zip64 = size >= LIMIT32;
        let ut = if e.mtime.is_some() { UT_LEN } else { 0 };
        let start = offset;
        offset += 30 + name + if zip64 { 20 } else { 0 } + ut + size;
        if !e.is_dir {
            offset += if zip64 { 24 } else { 16 };
        }
        let big_offset = start >= LIMIT32;
        let zip64_extra = if zip64 || big_offset {
            4 + if zip64 { 16 } else { 0 } + if big_offset { 8 } else { 0 }
        } else {
            0
        };
        central += 46 + name + zip64_extra + ut;
    }
    let count = entries.len() as u64;
    let end = if count >= 0xFFFF || offset >= LIMIT32 || central >= LIMIT32 {
        56 + 20 + 22
    } else {
        22
    };
    offset + central + end
}

/// MS-DOS date and time (UTC; the format has no zone), clamped to 1980–2107.
fn dos_datetime(mtime: Option<i64>) -> (u16, u16) {
    let t = mtime
        .unwrap_or(315_532_800)
        .clamp(315_532_800, 4_354_819_199);
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    // Civil from days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let date = (((year - 1980) << 9) | (month << 5) | day) as u16;
    let time = (((secs / 3600) << 11) | (((secs / 60) % 60) << 5) | ((secs % 60) / 2)) as u16;
    (time, date)
}

struct Written {
    name: String,
    is_dir: bool,
    mtime: Option<i64>,
    crc: u32,
    size: u64,
    offset: u64,
    time: u16,
    date: u16,
}

/// The archive's bytes in `window` (the whole is `0..length(&entries)`). Reading stops
/// early (and the producer with it) if the client goes.
pub fn stream(
    store: BlobStore,
    entries: Vec<ZipEntry>,
    window: std::ops::Range<u64>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        let mut sink = Sink {
            tx,
            offset: 0,
            window,
        };
        match write(&store, entries, &mut sink).await {
            Ok(()) | Err(Stop::Done) => {}
            Err(Stop::Failed(e)) => {
                tracing::warn!(error = %e, "ZIP stream failed; closing the connection");
                let _ = sink.tx.send(Err(e)).await;
            }
        }
    });
    tokio_stream_from(rx)
}

/// Why writing stopped before the end: the window is sent, or something failed.
enum Stop {
    Done,
    Failed(std::io::Error),
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Self {
        Stop::Failed(e)
    }
}

/// Where the archive's bytes go: the part of them inside `window` to the client.
struct Sink {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
    offset: u64,
    window: std::ops::Range<u64>,
}

impl Sink {
    async fn send(&mut self, bytes: Bytes) -> Result<(), Stop> {
        let start = self.offset;
        let end = start + bytes.len() as u64;
        self.offset = end;
        let from = self.window.start.max(start);
        let to = self.window.end.min(end);
        if from < to {
            let part = bytes.slice((from - start) as usize..(to - start) as usize);
            self.tx
                .send(Ok(part))
                .await
                .map_err(|_| Stop::Failed(std::io::Error::other("client went away")))?;
        }
        if end >= self.window.end {
            return Err(Stop::Done);
        }
        Ok(())
    }
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn write(store: &BlobStore, entries: Vec<ZipEntry>, tx: &mut Sink) -> Result<(), Stop> {
    let mut written = Vec::with_capacity(entries.len());
    for e in entries {
        let (time, date) = dos_datetime(e.mtime);
        let name = stored_name(&e);
        let size = entry_size(&e);
        let zip64 = size >= LIMIT32;
        let start = tx.offset;
        let ut = if e.mtime.is_some() { UT_LEN as u16 } else { 0 };
        let mut h = BytesMut::with_capacity(30 + name.len() + 20 + usize::from(ut));
        h.put_u32_le(0x0403_4b50);
        h.put_u16_le(if zip64 { 45 } else { 20 });
        h.put_u16_le(if e.is_dir { 0x0800 } else { 0x0808 }); // UTF-8 names; data descriptor
        h.put_u16_le(0); // stored
        h.put_u16_le(time);
        h.put_u16_le(date);
        h.put_u32_le(0);
        h.put_u32_le(if zip64 { LIMIT32 as u32 } else { 0 });
        h.put_u32_le(if zip64 { LIMIT32 as u32 } else { 0 });
        h.put_u16_le(name.len() as u16);
        h.put_u16_le(if zip64 { 20 } else { 0 } + ut);
        h.put_slice(name.as_bytes());
        if zip64 {
            h.put_u16_le(1);
            h.put_u16_le(16);
            h.put_u64_le(0);
            h.put_u64_le(0);
        }
        if let Some(t) = e.mtime {
            put_utc_time(&mut h, t);
        }
        tx.send(h.freeze()).await?;
        let mut crc = crc32fast::Hasher::new();
        if !e.is_dir && size > 0 {
            let mut body = e
                .content
                .open(store, 0..size)
                .await
                .map_err(std::io::Error::other)?;
            let mut got = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(std::io::Error::other)?;
                crc.update(&chunk);
                got += chunk.len() as u64;
                tx.send(chunk).await?;
            }
            if got != size {
                return Err(Stop::Failed(std::io::Error::other(format!(
                    "{}: {got} bytes read of {size}",
                    e.name
                ))));
            }
        }
        let crc = crc.finalize();
        if !e.is_dir {
            let mut d = BytesMut::with_capacity(24);
            d.put_u32_le(0x0807_4b50);
            d.put_u32_le(crc);
            if zip64 {
                d.put_u64_le(size);
                d.put_u64_le(size);
            } else {
                d.put_u32_le(size as u32);
                d.put_u32_le(size as u32);
            }
            tx.send(d.freeze()).await?;
        }
        written.push(Written {
            name,
            is_dir: e.is_dir,
            mtime: e.mtime,
            crc,
            size,
            offset: start,
            time,
            date,
        });
    }
    let cd_start = tx.offset;
    for w in &written {
        let big_size = w.size >= LIMIT32;
        let big_offset = w.offset >= LIMIT32;
        let mut extra = BytesMut::new();
        if big_size || big_offset {
            let fields = if big_size { 16 } else { 0 } + if big_offset { 8 } else { 0 };
            extra.put_u16_le(1);
            extra.put_u16_le(fields);
            if big_size {
                extra.put_u64_le(w.size);
                extra.put_u64_le(w.size);
            }
            if big_offset {
                extra.put_u64_le(w.offset);
            }
        }
        if let Some(t) = w.mtime {
            put_utc_time(&mut extra, t);
        }
        let mut c = BytesMut::with_capacity(46 + w.name.len() + extra.len());
        c.put_u32_le(0x0201_4b50);
        c.put_u16_le(0x0300 | 45); // made by Unix, spec 4.5
        c.put_u16_le(if big_size || big_offset { 45 } else { 20 });
        c.put_u16_le(if w.is_dir { 0x0800 } else { 0x0808 });
        c.put_u16_le(0);
        c.put_u16_le(w.time);
        c.put_u16_le(w.date);
        c.put_u32_le(w.crc);
        let size32 = if big_size {
            LIMIT32 as u32
        } else {
            w.size as u32
        };
        c.put_u32_le(size32);
        c.put_u32_le(size32);
        c.put_u16_le(w.name.len() as u16);
        c.put_u16_le(extra.len() as u16);
        c.put_u16_le(0); // comment
        c.put_u16_le(0); // disk
        c.put_u16_le(0); // internal attributes
        let mode: u32 = if w.is_dir { 0o040_755 } else { 0o100_644 };
        c.put_u32_le((mode << 16) | (u32::from(w.is_dir) * 0x10));
        c.put_u32_le(if big_offset {
            LIMIT32 as u32
        } else {
            w.offset as u32
        });
        c.put_slice(w.name.as_bytes());
        c.put_slice(&extra);
        tx.send(c.freeze()).await?;
    }
    let cd_size = tx.offset - cd_start;
    let count = written.len() as u64;
    let mut end = BytesMut::with_capacity(98);
    if count >= 0xFFFF || cd_start >= LIMIT32 || cd_size >= LIMIT32 {
        let record_at = tx.offset;
        end.put_u32_le(0x0606_4b50);
        end.put_u64_le(44);
        end.put_u16_le(0x0300 | 45);
        end.put_u16_le(45);
        end.put_u32_le(0);
        end.put_u32_le(0);
        end.put_u64_le(count);
        end.put_u64_le(count);
        end.put_u64_le(cd_size);
        end.put_u64_le(cd_start);
        end.put_u32_le(0x0706_4b50);
        end.put_u32_le(0);
        end.put_u64_le(record_at);
        end.put_u32_le(1);
    }
    end.put_u32_le(0x0605_4b50);
    end.put_u16_le(0);
    end.put_u16_le(0);
    end.put_u16_le(count.min(0xFFFF) as u16);
    end.put_u16_le(count.min(0xFFFF) as u16);
    end.put_u32_le(cd_size.min(LIMIT32) as u32);
    end.put_u32_le(cd_start.min(LIMIT32) as u32);
    end.put_u16_le(0);
    tx.send(end.freeze()).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content::Content;

    async fn bytes(entries: Vec<ZipEntry>, window: std::ops::Range<u64>) -> Vec<u8> {
        let mut out = Vec::new();
        let mut s = std::pin::pin!(stream(BlobStore::in_memory(), entries, window));
        while let Some(chunk) = s.next().await {
            out.extend_from_slice(&chunk.expect("chunk"));
        }
        out
    }

    fn entries() -> Vec<ZipEntry> {
        use crate::content::Segment;
        let file = |name: &str, mtime: Option<i64>, content: Content| ZipEntry {
            name: name.into(),
            is_dir: false,
            mtime,
            content,
        };
        vec![
            ZipEntry {
                name: "dir".into(),
                is_dir: true,
                mtime: Some(1_700_000_000),
                content: Content::default(),
            },
            file(
                "dir/a.txt",
                Some(1_700_000_000),
                Content::new(vec![Segment::Inline(Bytes::from_static(b"hello"))]),
            ),
            file(
                "dir/zeros.bin",
                None,
                Content::new(vec![Segment::Zeros(70_000)]),
            ),
            file("empty", Some(0), Content::default()),
        ]
    }

    #[tokio::test]
    async fn the_length_is_known_and_any_window_is_the_same_bytes() {
        let length = length(&entries());
        let whole = bytes(entries(), 0..length).await;
        assert_eq!(whole.len() as u64, length);
        assert_eq!(&whole[..4], b"PK\x03\x04");
        for (from, to) in [
            (0, 1),
            (1, length),
            (29, 31),
            (100, 70_100),
            (length - 22, length),
        ] {
            let part = bytes(entries(), from..to).await;
            assert_eq!(part, whole[from as usize..to as usize], "{from}..{to}");
        }
    }

    #[test]
    fn dos_times() {
        // 2023-11-14 22:13:20 UTC
        let (time, date) = dos_datetime(Some(1_700_000_000));
        assert_eq!(date, (43 << 9) | (11 << 5) | 14);
        assert_eq!(time, (22 << 11) | (13 << 5) | 10);
        assert_eq!(dos_datetime(Some(0)).1, (1 << 5) | 1);
    }
}
