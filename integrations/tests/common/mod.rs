//! The test catalogue (tests/zebra/records, written by tests/zebra/make-records.py) and its
//! ground-truth manifest, shared by the MARC, SRU and OAI-PMH tests.
#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::Value;

pub fn records_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/zebra/records")
}

pub fn manifest() -> Vec<Value> {
    let text = std::fs::read_to_string(records_dir().join("manifest.json")).expect("manifest");
    serde_json::from_str(&text).expect("json")
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// The 001s of the records found.
pub fn ids(records: &[spindle_integrations::marc::Record]) -> std::collections::BTreeSet<String> {
    records
        .iter()
        .filter_map(|r| r.control("001").map(str::to_string))
        .collect()
}
