//! Range headers against any length: parsing never panics, and satisfiable ranges lie
//! inside the representation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle::http::range::{RangeRequest, parse_range};

fuzz_target!(|input: (&str, u64)| {
    let (header, length) = input;
    if let RangeRequest::Partial(ranges) = parse_range(header, length) {
        for r in ranges {
            assert!(r.start < r.end && r.end <= length);
        }
    }
});
