//! WebDAV request bodies (PROPFIND and PROPPATCH XML from any client): parsed or refused,
//! never a panic; every property named has a local name.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle::http::dav::{Asked, parse_propertyupdate, parse_propfind};

fuzz_target!(|body: &[u8]| {
    if let Ok(Asked::Props(props)) = parse_propfind(body) {
        assert!(props.iter().all(|(_, local)| !local.is_empty()));
    }
    if let Ok(props) = parse_propertyupdate(body) {
        assert!(props.iter().all(|(_, local)| !local.is_empty()));
    }
});
