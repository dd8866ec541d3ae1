//! ISBNs as catalogues hold them: a parse that succeeds round-trips through both forms.
#![no_main]

use libfuzzer_sys::fuzz_target;
use spindle_integrations::isbn::Isbn;

fuzz_target!(|raw: &str| {
    if let Ok(isbn) = Isbn::parse(raw) {
        let thirteen = isbn.isbn13();
        assert_eq!(thirteen.len(), 13);
        if let Some(ten) = isbn.isbn10() {
            assert_eq!(Isbn::parse(&ten).map(|i| i.isbn13()).ok(), Some(thirteen));
        }
    }
});
