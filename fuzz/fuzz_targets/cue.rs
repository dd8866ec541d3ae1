//! A CUE sheet and one BIN file: the bytes before the first NUL are the sheet, the rest the
//! BIN it may name as "a.bin".
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_image::{Limits, Parts, ReadAt, index, parse_cue};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == 0).unwrap_or(data.len());
    let (sheet, bin) = data.split_at(split);
    if let Ok(text) = std::str::from_utf8(sheet) {
        let _ = parse_cue(text);
    }
    let sheet = sheet.to_vec();
    let bin = bin.to_vec();
    let _ = index(
        &Parts {
            main: &sheet,
            named: vec![("a.bin".into(), &bin as &dyn ReadAt)],
        },
        &Limits::default(),
    );
});
