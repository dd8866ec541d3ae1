//! The catalogue peers for the linking and OPAC tests: the real Zebra started by
//! scripts/test.sh, the test catalogue's ground-truth manifest, and helpers that configure a
//! member's catalogue, register discs and wait for them to be linked.

use std::time::Duration;

use anyhow::{Result, bail};
use serde_json::{Value, json};

use super::TestApp;

pub fn zebra() -> String {
    std::env::var("SPINDLE_TEST_ZEBRA_URL").unwrap_or_else(|_| {
        panic!("SPINDLE_TEST_ZEBRA_URL is not set: run the suite with scripts/test.sh, which starts Zebra on loopback")
    })
}

/// The test Zebra's port, where it answers Z39.50 as well as SRU.
pub fn zebra_port() -> u16 {
    zebra()
        .rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("the Zebra URL's port")
}

pub fn manifest() -> Vec<Value> {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/zebra/records/manifest.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("manifest")).expect("json")
}

pub fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

pub async fn configure(app: &TestApp, token: &str, code: &str, db: &str) -> Result<()> {
    configure_as(app, token, code, db, "sru").await
}

/// The member's catalogue is the test Zebra's database `db`, over SRU or Z39.50 (`z3950`:
/// the same server and port, the record syntax of the database's flavour, the barcode index
/// named, as a librarian would for a catalogue that has one).
pub async fn configure_as(
    app: &TestApp,
    token: &str,
    code: &str,
    db: &str,
    protocol: &str,
) -> Result<()> {
    let body = if protocol.starts_with("z3950") {
        let port = zebra_port();
        json!({
            "kind": "z3950",
            "z3950": {
                "host": "127.0.0.1", "port": port, "database": db,
                "syntax": if db == "unimarc" { "unimarc" } else { "usmarc" },
                "attributes": {"barcode": 1028}, "timeout_secs": 5,
                // "z3950-legacy": the same records as older systems send them — MARC21 in
                // MARC-8, CNMARC in GBK — by element sets the test Zebra converts with YAZ.
                "element_set": match (protocol, db) {
                    ("z3950-legacy", "unimarc") => "gbk",
                    ("z3950-legacy", _) => "marc8",
                    _ => "F",
                }
            },
            "opac_record_url": "https://opac.example.edu/record/{id}"
        })
    } else {
        json!({
            "kind": "sru",
            "sru": {"url": format!("{}/{db}", zebra()), "timeout_secs": 5,
                    "indexes": {"barcode": "local.barcode"}},
            "opac_record_url": "https://opac.example.edu/record/{id}"
        })
    };
    let r = app
        .client
        .put(app.url(&format!("/api/v1/members/{code}/catalogue")))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    if r.status() != 200 {
        bail!("catalogue: {} {}", r.status(), r.text().await?);
    }
    Ok(())
}

pub async fn register(app: &TestApp, token: &str, sha: &str, extra: Value) -> Result<i64> {
    let mut body = json!({"sha256": sha});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    app.prove_body(token, &body).await?;
    let r = app
        .client
        .post(app.url("/api/v1/discs"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await?;
    // 200: the same disc was registered before (the host-resolution check reuses one).
    if r.status() != 201 && r.status() != 200 {
        bail!("register {extra}: {} {}", r.status(), r.text().await?);
    }
    Ok(r.json::<Value>().await?["id"].as_i64().unwrap_or_default())
}

/// Waits until the disc has been through its catalogue; returns its JSON.
pub async fn linked(app: &TestApp, token: &str, id: i64) -> Result<Value> {
    // Generous: this waits for an outcome under the suite's load, it does not time one.
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while std::time::Instant::now() < deadline {
        let v: Value = app
            .client
            .get(app.url(&format!("/api/v1/discs/{id}")))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        if v["link_status"] != "pending" {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("disc {id} still pending after 90 s")
}
