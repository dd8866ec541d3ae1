//! The MARC mapping against the test catalogue's ground truth (tests/zebra/records, written
//! by tests/zebra/make-records.py): every record's flavour, titles, year, ISBNs, disc count
//! and kind, book and disc barcodes and host link, from MARCXML and from ISO 2709.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;

use common::{manifest, records_dir, strings};
use serde_json::Value;
use spindle_integrations::bib::{BibRecord, Flavour, nfc};
use spindle_integrations::marc::{Record, parse_iso2709, parse_marcxml, write_iso2709};

fn catalogue() -> Vec<Record> {
    let mut all = Vec::new();
    for f in ["marc21.xml", "unimarc.xml"] {
        let text = std::fs::read_to_string(records_dir().join(f)).expect("records");
        all.extend(parse_marcxml(&text).expect("parse"));
    }
    all
}

fn check(bib: &BibRecord, m: &Value) {
    let id = m["id"].as_str().unwrap_or_default();
    let want_flavour = if m["flavour"] == "marc21" {
        Flavour::Marc21
    } else {
        Flavour::Unimarc
    };
    assert_eq!(bib.flavour, want_flavour, "{id} flavour");
    assert_eq!(
        bib.deleted,
        m["deleted"].as_bool().unwrap_or(false),
        "{id} deleted"
    );
    assert_eq!(
        bib.title,
        nfc(m["title"].as_str().unwrap_or_default()),
        "{id} title"
    );
    if let Some(v) = m["vernacular"].as_str() {
        assert_eq!(bib.title_vernacular.as_deref(), Some(v), "{id} vernacular");
    }
    if let Some(p) = m["pinyin"].as_str() {
        assert_eq!(bib.title_pinyin.as_deref(), Some(p), "{id} pinyin");
    }
    assert_eq!(bib.year, m["year"].as_i64().map(|y| y as i32), "{id} year");
    if let Some(r) = m["responsibility"].as_str() {
        assert_eq!(
            bib.responsibility.as_deref(),
            Some(r),
            "{id} responsibility"
        );
    }
    if m["series"].is_array() {
        assert_eq!(bib.series, strings(&m["series"]), "{id} series");
    }
    if m["subjects"].is_array() {
        assert_eq!(bib.subjects, strings(&m["subjects"]), "{id} subjects");
    }
    let valid: BTreeSet<String> = bib
        .isbns
        .iter()
        .filter(|e| !e.cancelled)
        .filter_map(|e| e.isbn13.clone())
        .collect();
    assert_eq!(
        valid,
        strings(&m["isbn13"]).into_iter().collect(),
        "{id} isbn13"
    );
    for raw in strings(&m["raw_isbns"]) {
        assert!(
            bib.isbns
                .iter()
                .any(|e| e.digits.as_deref() == Some(raw.as_str()) && e.isbn13.is_none()),
            "{id}: the wrong ISBN {raw} is kept as a raw key"
        );
        assert!(
            bib.isbn_forms().contains(&raw),
            "{id}: {raw} is a lookup form"
        );
    }
    assert_eq!(
        i64::from(bib.discs.count),
        m["discs"].as_i64().unwrap_or(-1),
        "{id} disc count ({:?})",
        bib.discs
    );
    assert_eq!(
        bib.discs.kind.map(|k| k.as_str()),
        m["kind"].as_str(),
        "{id} disc kind"
    );
    assert_eq!(
        bib.barcodes(false),
        strings(&m["book_barcodes"]),
        "{id} book barcodes"
    );
    assert_eq!(
        bib.barcodes(true),
        strings(&m["disc_barcodes"]),
        "{id} disc barcodes"
    );
    assert_eq!(
        bib.host.as_ref().and_then(|h| h.id.clone()),
        m["host"].as_str().map(str::to_string),
        "{id} host"
    );
    if let Some(clc) = m["clc"].as_str() {
        assert!(
            bib.classification.iter().any(|c| c.value == clc),
            "{id} classification {:?}",
            bib.classification
        );
    }
}

#[test]
fn every_record_maps_to_its_ground_truth() {
    let records = catalogue();
    let manifest = manifest();
    assert_eq!(records.len(), manifest.len());
    assert!(manifest.len() >= 40);
    for (r, m) in records.iter().zip(&manifest) {
        assert_eq!(r.control("001"), m["id"].as_str());
        check(&BibRecord::from_marc(r), m);
    }
}

#[test]
fn iso2709_carries_the_same_records() {
    let records = catalogue();
    let mut bytes = Vec::new();
    for r in &records {
        bytes.extend(write_iso2709(r));
    }
    let back = parse_iso2709(&bytes).expect("parse");
    assert_eq!(back.len(), records.len());
    for (a, b) in records.iter().zip(&back) {
        assert_eq!(BibRecord::from_marc(a), BibRecord::from_marc(b));
    }
}

#[test]
fn the_committed_catalogue_is_what_the_generator_writes() {
    let dir = tempfile_dir();
    let script = records_dir().join("../make-records.py");
    let status = std::process::Command::new("python3")
        .arg(&script)
        .arg(&dir)
        .status()
        .expect("python3");
    assert!(status.success());
    for f in ["marc21.xml", "unimarc.xml", "manifest.json"] {
        let made = std::fs::read(dir.join(f)).expect("made");
        let committed = std::fs::read(records_dir().join(f)).expect("committed");
        assert!(
            made == committed,
            "{f} differs from make-records.py's output: regenerate it"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("spindle-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}
