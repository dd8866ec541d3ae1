//! Bytes whose encoding nobody declared: a disc's text files (their charset sniffed before
//! they are served) and a manifest CSV from Excel (UTF-8 or GB18030, then parsed). Neither may
//! panic; a sniffed charset is always one a browser knows.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for (whole, html) in [(true, false), (false, true)] {
        if let Some(label) = spindle::charset::sniff(data, whole, html) {
            assert!(encoding_rs::Encoding::for_label(label.as_bytes()).is_some(), "{label}");
        }
    }
    if let Ok(text) = spindle_client::plan::decode_manifest(data) {
        let _ = spindle_client::plan::from_manifest_text(&text, std::path::Path::new("/shelf"));
    }
});
