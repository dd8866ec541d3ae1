//! A ZIP of a directory of a disc, streamed as it is written: stored entries (disc content is
//! mostly compressed already), CRC-32 computed on the way through, sizes and CRC in data
//! descriptors, ZIP64 where a size or offset needs it. No temporary file, bounded memory.

use bytes::{BufMut, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use spindle_storage::BlobStore;
use tokio::sync::mpsc;

use crate::content::Content;

pub struct ZipEntry {
    /// `/`-separated path inside the archive; directories end without a slash here.
    pub name: String,
    pub is_dir: bool,
    pub mtime: Option<i64>,
    pub content: Content,
}

const LIMIT32: u64 = 0xFFFF_FFFF;

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
    crc: u32,
    size: u64,
    offset: u64,
    time: u16,
    date: u16,
}

/// The archive's bytes. Reading stops early (and the producer with it) if the client goes.
pub fn stream(
    store: BlobStore,
    entries: Vec<ZipEntry>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    tokio::spawn(async move {
        if let Err(e) = write(&store, entries, &tx).await {
            tracing::warn!(error = %e, "ZIP stream failed; closing the connection");
            let _ = tx.send(Err(e)).await;
        }
    });
    tokio_stream_from(rx)
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
    futures::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

async fn send(
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
    bytes: Bytes,
    offset: &mut u64,
) -> Result<(), std::io::Error> {
    *offset += bytes.len() as u64;
    tx.send(Ok(bytes))
        .await
        .map_err(|_| std::io::Error::other("client went away"))
}

async fn write(
    store: &BlobStore,
    entries: Vec<ZipEntry>,
    tx: &mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), std::io::Error> {
    let mut offset = 0u64;
    let mut written = Vec::with_capacity(entries.len());
    for e in entries {
        let (time, date) = dos_datetime(e.mtime);
        let name = if e.is_dir {
            format!("{}/", e.name)
        } else {
            e.name.clone()
        };
        let size = if e.is_dir { 0 } else { e.content.len() };
        let zip64 = size >= LIMIT32;
        let start = offset;
        let mut h = BytesMut::with_capacity(30 + name.len() + 20);
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
        h.put_u16_le(if zip64 { 20 } else { 0 });
        h.put_slice(name.as_bytes());
        if zip64 {
            h.put_u16_le(1);
            h.put_u16_le(16);
            h.put_u64_le(0);
            h.put_u64_le(0);
        }
        send(tx, h.freeze(), &mut offset).await?;
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
                send(tx, chunk, &mut offset).await?;
            }
            if got != size {
                return Err(std::io::Error::other(format!(
                    "{}: {got} bytes read of {size}",
                    e.name
                )));
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
            send(tx, d.freeze(), &mut offset).await?;
        }
        written.push(Written {
            name,
            is_dir: e.is_dir,
            crc,
            size,
            offset: start,
            time,
            date,
        });
    }
    let cd_start = offset;
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
        send(tx, c.freeze(), &mut offset).await?;
    }
    let cd_size = offset - cd_start;
    let count = written.len() as u64;
    let mut end = BytesMut::with_capacity(98);
    if count >= 0xFFFF || cd_start >= LIMIT32 || cd_size >= LIMIT32 {
        let record_at = offset;
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
    send(tx, end.freeze(), &mut offset).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dos_times() {
        // 2023-11-14 22:13:20 UTC
        let (time, date) = dos_datetime(Some(1_700_000_000));
        assert_eq!(date, (43 << 9) | (11 << 5) | 14);
        assert_eq!(time, (22 << 11) | (13 << 5) | 10);
        assert_eq!(dos_datetime(Some(0)).1, (1 << 5) | 1);
    }
}
