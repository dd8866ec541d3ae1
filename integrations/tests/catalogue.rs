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

/// The catalogue converted by YAZ (`yaz-marcdump`) into ISO 2709 in the sets older systems
/// send: `file` names the source, `to` the character set.
fn converted_by_yaz(file: &str, to: &str) -> Vec<u8> {
    let out = std::process::Command::new("yaz-marcdump")
        .args(["-i", "marcxml", "-o", "marc", "-f", "utf-8", "-t", to])
        .arg(records_dir().join(file))
        .output()
        .expect("yaz-marcdump (scripts/peers.sh installs yaz)");
    assert!(
        out.status.success(),
        "yaz-marcdump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Each record of an ISO 2709 file, with `at`'s byte of its leader set to `to`.
fn with_leader_byte(mut bytes: Vec<u8>, at: usize, to: u8) -> Vec<u8> {
    let mut start = 0;
    while start + 24 < bytes.len() {
        bytes[start + at] = to;
        let Some(end) = bytes[start..].iter().position(|&b| b == 0x1D) else {
            break;
        };
        start += end + 1;
    }
    bytes
}

/// Whether every character of the record has a GB 2312 code (GBK's two-byte codes whose
/// bytes are both 0xA1..=0xFE, with ASCII).
fn fits_gb2312(r: &Record) -> bool {
    let text = spindle_integrations::marc::write_marcxml(std::slice::from_ref(r));
    let (bytes, _, unmappable) = encoding_rs::GBK.encode(&text);
    if unmappable {
        return false;
    }
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] < 0x80 {
            i += 1;
            continue;
        }
        let ok = (0xA1..=0xF7).contains(&bytes[i])
            && bytes.get(i + 1).is_some_and(|b| (0xA1..=0xFE).contains(b));
        if !ok {
            return false;
        }
        i += 2;
    }
    true
}

#[test]
fn records_in_marc8_gbk_and_gb2312_read_as_their_utf8_originals() {
    let originals = catalogue();
    let original = |r: &Record| {
        originals
            .iter()
            .find(|o| o.control("001") == r.control("001"))
            .map(BibRecord::from_marc)
            .expect("the same record id")
    };
    // MARC21 in MARC-8: diacritics (Müller) and the CJK 880 titles come back as the UTF-8
    // originals. YAZ leaves leader/09 saying UTF-8; with it blank, as MARC-8 records should
    // say, the label is right and nothing is noted.
    let yaz = converted_by_yaz("marc21.xml", "marc8");
    for (bytes, label_lies) in [(yaz.clone(), true), (with_leader_byte(yaz, 9, b' '), false)] {
        let marc8 = parse_iso2709(&bytes).expect("YAZ's ISO 2709 parses");
        assert!(marc8.len() > 20);
        let mut non_ascii = 0;
        for r in &marc8 {
            let bib = BibRecord::from_marc(r);
            let was = original(r);
            let plain = was.title.is_ascii()
                && was.title_vernacular.is_none()
                && was.authors.iter().all(|a| a.is_ascii());
            non_ascii += usize::from(!plain);
            assert_eq!(bib, was, "{:?} in MARC-8", r.control("001"));
            if label_lies && !plain {
                let note = r.charset_note.clone().unwrap_or_default();
                assert!(note.contains("UTF-8, but its bytes are MARC-8"), "{note}");
            } else if !label_lies {
                assert_eq!(r.charset_note, None, "{:?}", r.control("001"));
            }
        }
        assert!(non_ascii >= 2, "the MARC-8 records carry more than ASCII");
    }
    // CNMARC in GBK and in GB 2312. YAZ leaves 100 $a/26-29 saying Unicode ("50"): a label
    // that lies, as real exports do. The bytes decide, and the record says so.
    for set in ["gbk", "gb2312"] {
        let mut compared = 0;
        let bytes = converted_by_yaz("unimarc.xml", set);
        for r in parse_iso2709(&bytes).expect("YAZ's ISO 2709 parses") {
            let was = original(&r);
            let fits = originals
                .iter()
                .find(|o| o.control("001") == r.control("001"))
                .is_some_and(fits_gb2312);
            if set == "gb2312" && !fits {
                continue; // YAZ cannot write its traditional characters in GB 2312
            }
            assert_eq!(
                BibRecord::from_marc(&r),
                was,
                "{:?} in {set}",
                r.control("001")
            );
            if !was.title.is_ascii() {
                let note = r.charset_note.clone().unwrap_or_default();
                assert!(note.contains("says its text is UTF-8"), "{note}");
                assert!(note.contains("GB 18030"), "{note}");
            }
            compared += 1;
        }
        assert!(compared >= 15, "{compared} records compared in {set}");
    }
    // UTF-8 records whose leader/09 says MARC-8: read as UTF-8, and said so.
    for o in originals
        .iter()
        .filter(|o| o.fields("245").next().is_some())
    {
        let mut bytes = write_iso2709(o);
        bytes[9] = b' ';
        let back = parse_iso2709(&bytes).expect("parse");
        assert_eq!(BibRecord::from_marc(&back[0]), BibRecord::from_marc(o));
        let ascii = std::str::from_utf8(&bytes).is_ok_and(|t| t.is_ascii());
        assert_eq!(back[0].charset_note.is_some(), !ascii);
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
