//! tus `Upload-Metadata` headers: parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|header: &str| {
    let _ = spindle::uploads::parse_metadata(header);
});
