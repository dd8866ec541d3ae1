//! The request bodies of Spindle's JSON API that this client sends, defined once: the server
//! reads the same types (`spindle::discs` uses [`RegisterDisc`]), so a field the client sends
//! is a field the server knows.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/discs`: registers a stored image as one of a member's discs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterDisc {
    pub sha256: String,
    /// The member code; librarians may omit it (their own), admins must give it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filename: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isbn: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub barcode: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disc_number: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open: Option<bool>,
    /// Title (and year) to look the book up by when it has no barcode, ISBN or record id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub year: Option<i64>,
    /// For a CUE sheet: the BIN files it names, already uploaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub parts: Vec<PartRef>,
}

/// A part named in a disc registration: the file name a CUE sheet uses, and its blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PartRef {
    pub name: String,
    pub sha256: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the client writes the server reads back unchanged, and absent fields are left
    /// out rather than sent as null.
    #[test]
    fn a_registration_round_trips() {
        let r = RegisterDisc {
            sha256: "ab".repeat(32),
            isbn: Some("9787040396638".into()),
            disc_number: Some(2),
            parts: vec![PartRef {
                name: "disc.bin".into(),
                sha256: "cd".repeat(32),
            }],
            ..Default::default()
        };
        let text = serde_json::to_string(&r).unwrap_or_default();
        assert!(!text.contains("null"), "{text}");
        let back: RegisterDisc = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, r);
        assert!(serde_json::from_str::<RegisterDisc>(r#"{"sha256":"x","colour":1}"#).is_err());
    }
}
