//! Text that readers and librarians' browsers send: signed access links (`?access=` and the
//! cookie), a manifest CSV and file-name patterns (the browser uploader's plan), network
//! ranges. None may panic; a link must never verify unless it was signed with the key.
#![no_main]

use libfuzzer_sys::fuzz_target;

const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(grant) = spindle::access::verify(KEY, text, 1_000) {
        // Only a token we signed verifies: signing its grant again gives the same token.
        assert_eq!(spindle::access::sign(KEY, &grant), text);
    }
    let _ = spindle_client::plan::from_manifest_text(text, std::path::Path::new(""));
    if text.len() < 200 {
        let _ = spindle_client::plan::pattern_regex(text);
    }
    let _ = spindle::usage::parse_cidrs(&text.lines().map(String::from).collect::<Vec<_>>());
});
