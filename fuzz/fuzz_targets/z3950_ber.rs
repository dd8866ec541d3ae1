//! What a Z39.50 server sends: a stream of BER-encoded APDUs (Init, Search, Present and Close
//! responses, with records and diagnostics inside). Read as the client reads its connection —
//! one whole APDU at a time, decoded, each record parsed as MARC — any input is either read
//! or refused, never a panic, an overflow or unbounded work. Seeded with real Zebra sessions
//! (fuzz/seeds/z3950, captured between yaz-client and the test Zebra).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_integrations::marc;
use spindle_integrations::z3950::{ber, pdu};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some(n)) = ber::complete_len(rest) {
        assert!(n > 0 && n <= rest.len(), "a length past the input");
        if let Ok(pdu::Response::Present {
            records: pdu::Records::Some(list),
            ..
        }) = pdu::decode(&rest[..n])
        {
            for r in list {
                if let pdu::Retrieved::Record { data, .. } = r {
                    let _ = marc::parse_iso2709(&data);
                }
            }
        }
        rest = &rest[n..];
    }
});
