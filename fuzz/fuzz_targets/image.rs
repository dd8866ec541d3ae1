//! Any bytes as a disc image: detection, then ISO 9660 / UDF / raw-sector indexing. The
//! index must be an error or hold only extents inside the image. The same bytes also go
//! through the browser uploader's path: only a head and a tail sample of a (claimed larger)
//! file, as `POST /api/v1/shelf/probe` receives them, detected without the middle.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_image::{Limits, Parts, SAMPLE_HEAD, SAMPLE_TAIL, Sampled, detect, index};

fuzz_target!(|data: &[u8]| {
    sampled(data);
    let image = data.to_vec();
    let limits = Limits {
        max_entries: 10_000,
        ..Limits::default()
    };
    if let Ok(ix) = index(&Parts { main: &image, named: vec![] }, &limits) {
        for e in &ix.entries {
            for x in &e.extents {
                if let Some(o) = x.offset {
                    assert!(o + x.len <= image.len() as u64 * 2, "extent far past the end");
                }
            }
            let mut buf = vec![0u8; e.size.min(4096) as usize];
            let _ = ix.read_entry(&Parts { main: &image, named: vec![] }, e, 0, &mut buf);
        }
    }
});

/// The uploader's samples of a file of which `data` is the whole, or (with the middle missing)
/// the first and last bytes of a file up to 4 GiB larger, its size taken from the last byte.
fn sampled(data: &[u8]) {
    let missing = u64::from(data.last().copied().unwrap_or(0)) << 24;
    let size = data.len() as u64 + missing;
    let head_len = (size.min(SAMPLE_HEAD as u64) as usize).min(data.len());
    let tail_len = (size.min(SAMPLE_TAIL as u64) as usize).min(data.len());
    let head = data[..head_len].to_vec();
    let tail = data[data.len() - tail_len..].to_vec();
    if let Some(s) = Sampled::new(size, head, tail) {
        let _ = detect(&s);
    }
}
