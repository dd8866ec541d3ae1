//! The OAI-PMH harvester against real pyoai providers serving the test catalogue (started by
//! scripts/test.sh): full and incremental harvests, deleted records, noRecordsMatch, and a
//! restart after an expired resumption token.

mod common;

use std::collections::BTreeSet;

use common::manifest;
use spindle_integrations::bib::BibRecord;
use spindle_integrations::oai::{OaiClient, OaiConfig, OaiError};

fn url(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} is not set: run the suite with scripts/test.sh, which starts the OAI-PMH providers")
    })
}

fn client(var: &str) -> OaiClient {
    OaiClient::new(
        OaiConfig {
            url: url(var),
            timeout_secs: 10,
            ..OaiConfig::default()
        },
        &spindle_integrations::egress::Egress::allow_all(),
    )
    .expect("client")
}

#[tokio::test]
async fn a_full_harvest_has_every_record_and_the_deletions() {
    let h = client("SPINDLE_TEST_OAI_URL")
        .list_records(None, None)
        .await
        .expect("harvest");
    let m = manifest();
    assert_eq!(h.records.len(), m.len());
    assert_eq!(
        h.requests as usize,
        m.len().div_ceil(10),
        "ten per page, resumption tokens followed"
    );
    assert_eq!(h.restarts, 0);
    for (r, want) in h.records.iter().zip(&m) {
        let id = want["id"].as_str().unwrap_or_default();
        assert!(
            r.identifier.ends_with(&format!(":{id}")),
            "{} vs {id}",
            r.identifier
        );
        if want["deleted"].as_bool().unwrap_or(false) {
            assert!(r.deleted && r.record.is_none(), "{id} is a deleted header");
        } else {
            let bib = BibRecord::from_marc(r.record.as_ref().expect("metadata"));
            assert_eq!(bib.id.as_deref(), Some(id));
            assert_eq!(
                i64::from(bib.discs.count),
                want["discs"].as_i64().unwrap_or(-1),
                "{id}"
            );
        }
    }
}

#[tokio::test]
async fn incremental_harvests_use_from_and_until() {
    let oai = client("SPINDLE_TEST_OAI_URL");
    // Record i has datestamp 2024-01-01 + i days.
    let h = oai
        .list_records(Some("2024-01-11T00:00:00Z"), Some("2024-01-20T00:00:00Z"))
        .await
        .expect("harvest");
    let m = manifest();
    let want: BTreeSet<String> = m[10..20]
        .iter()
        .map(|r| r["id"].as_str().unwrap_or_default().to_string())
        .collect();
    let got: BTreeSet<String> = h
        .records
        .iter()
        .map(|r| {
            r.identifier
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    assert_eq!(got, want);
    let none = oai
        .list_records(Some("2030-01-01T00:00:00Z"), None)
        .await
        .expect("noRecordsMatch is empty");
    assert!(none.records.is_empty());
}

#[tokio::test]
async fn an_expired_token_restarts_from_the_last_datestamp() {
    let h = client("SPINDLE_TEST_OAI_FLAKY_URL")
        .list_records(None, None)
        .await
        .expect("harvest");
    assert_eq!(h.restarts, 1);
    assert_eq!(
        h.records.len(),
        manifest().len(),
        "nothing lost, nothing twice"
    );
    let ids: BTreeSet<&str> = h.records.iter().map(|r| r.identifier.as_str()).collect();
    assert_eq!(ids.len(), h.records.len());
}

#[tokio::test]
async fn provider_errors_are_typed() {
    let bad = OaiClient::new(
        OaiConfig {
            url: url("SPINDLE_TEST_OAI_URL"),
            metadata_prefix: "mods".into(),
            ..OaiConfig::default()
        },
        &spindle_integrations::egress::Egress::allow_all(),
    )
    .expect("client");
    let e = bad
        .list_records(None, None)
        .await
        .expect_err("unknown format");
    assert!(
        matches!(&e, OaiError::Protocol { code, .. } if code == "cannotDisseminateFormat"),
        "{e}"
    );
    let gone = OaiClient::new(
        OaiConfig {
            url: "http://127.0.0.1:9/".into(),
            timeout_secs: 2,
            ..OaiConfig::default()
        },
        &spindle_integrations::egress::Egress::allow_all(),
    )
    .expect("client");
    assert!(matches!(
        gone.list_records(None, None).await,
        Err(OaiError::Unreachable(_) | OaiError::Timeout(_))
    ));
    assert!(
        OaiClient::new(
            OaiConfig::default(),
            &spindle_integrations::egress::Egress::allow_all()
        )
        .is_err()
    );
}
