//! MARC records as catalogues send them: ISO 2709 (MARC21 or UNIMARC/CNMARC) and MARCXML.
//! A record either parses or is refused; one that parses is read as the linker reads it
//! (ISBNs, barcodes, disc mentions) and survives writing out (in UTF-8 and in GB 18030) and
//! reading back. Its text may be in any set a record names or its bytes bear out (UTF-8,
//! MARC-8 with its escapes and EACC, GB 18030).
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_integrations::bib::BibRecord;
use spindle_integrations::marc::{self, Record};

fn read_like_the_linker(records: &[Record]) {
    for r in records {
        let bib = BibRecord::from_marc(r);
        let _ = bib.isbn_forms();
        let _ = bib.barcodes(true);
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(records) = marc::parse_iso2709(data) {
        read_like_the_linker(&records);
        for r in &records {
            let again = marc::parse_iso2709(&marc::write_iso2709(r));
            assert!(again.is_ok(), "a record we wrote does not read back: {again:?}");
            let gb = marc::write_iso2709_in(r, marc::charset::Charset::Gb18030);
            let again = marc::parse_iso2709(&gb);
            assert!(again.is_ok(), "a GB 18030 record we wrote does not read back: {again:?}");
        }
        let xml = marc::write_marcxml(&records);
        assert!(marc::parse_marcxml(&xml).is_ok(), "our MARCXML does not read back");
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(records) = marc::parse_marcxml(text) {
            read_like_the_linker(&records);
        }
        let _ = spindle_integrations::discs::mention(text);
    }
});
