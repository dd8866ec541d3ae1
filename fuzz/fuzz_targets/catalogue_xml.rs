//! Catalogue answers: SRU searchRetrieve responses (any version, records inline or as
//! escaped strings) and OAI-PMH ListRecords pages. Parsed or refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &str| {
    let _ = spindle_integrations::sru::parse_response(body);
    let _ = spindle_integrations::oai::parse_page(body);
});
