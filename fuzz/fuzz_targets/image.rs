//! Any bytes as a disc image: detection, then ISO 9660 / UDF / raw-sector indexing. The
//! index must be an error or hold only extents inside the image.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_image::{Limits, Parts, index};

fuzz_target!(|data: &[u8]| {
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
