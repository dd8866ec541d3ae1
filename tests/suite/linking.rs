//! Linking discs to records in each member's own catalogue, against the real Zebra with the
//! test catalogue, on both backend pairs: every record of the ground-truth manifest is found
//! by its barcodes and ISBNs and linked as expected; what is uncertain waits for review;
//! librarians decide; a misconfigured catalogue fails clearly without touching another member.

use crate::common;

use anyhow::Result;
use common::catalogue::{configure, configure_as, linked, manifest, register, strings, zebra};
use common::{Backend, PART, TestApp, iso_image, sha256_hex};
use serde_json::{Value, json};

fn linked_ids(v: &Value) -> Vec<String> {
    v["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["state"] == "linked")
        .filter_map(|l| l["record_id"].as_str().map(str::to_string))
        .collect()
}

fn review_ids(v: &Value) -> Vec<String> {
    let mut ids: Vec<String> = v["links"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|l| l["state"] == "review")
        .filter_map(|l| l["record_id"].as_str().map(str::to_string))
        .collect();
    ids.sort();
    ids
}

async fn every_manifest_record_links(backend: Backend) -> Result<()> {
    every_manifest_record_links_over(backend, "sru").await
}

/// Issue 20: the same discs, the same links, over Z39.50 from the same Zebra.
async fn every_manifest_record_links_over_z3950(backend: Backend) -> Result<()> {
    every_manifest_record_links_over(backend, "z3950").await
}

/// Issue 20, item 2: the same again with the records in MARC-8 (MARC21, leader/09 still saying
/// UTF-8, as YAZ writes it) and GBK (CNMARC, field 100 still saying Unicode): the same links
/// and the same titles as the UTF-8 originals, and the explanation says how the text was read.
async fn every_manifest_record_links_in_marc8_and_gbk(backend: Backend) -> Result<()> {
    every_manifest_record_links_over(backend, "z3950-legacy").await
}

async fn every_manifest_record_links_over(backend: Backend, protocol: &str) -> Result<()> {
    let app = TestApp::start(backend).await?;
    for (code, db) in [("ZZU", "marc21"), ("CNU", "unimarc")] {
        app.member(code).await?;
        let token = app.librarian(code).await?;
        configure_as(&app, &token, code, db, protocol).await?;
    }
    let tokens = [
        ("marc21", app.librarian("ZZU").await?),
        ("unimarc", app.librarian("CNU").await?),
    ];
    let image = iso_image(2000, 77);
    for (_, t) in &tokens {
        app.upload(t, &image, 2 * PART as usize).await?;
    }
    let sha = sha256_hex(&image);
    let mut checked = 0;
    // Discs that must end up waiting for a librarian, per member code.
    let mut expect_review: Vec<(&str, i64)> = Vec::new();
    for m in manifest() {
        let flavour = m["flavour"].as_str().unwrap_or_default();
        let token = &tokens
            .iter()
            .find(|(f, _)| *f == flavour)
            .expect("flavour")
            .1;
        let id = m["id"].as_str().unwrap_or_default().to_string();
        if m["host"].is_string() {
            continue; // a disc record: its barcode belongs to the host's holdings too
        }
        let deleted = m["deleted"].as_bool().unwrap_or(false);
        let has_discs = m["discs"].as_i64().unwrap_or(0) > 0;
        for barcode in strings(&m["book_barcodes"])
            .into_iter()
            .chain(strings(&m["disc_barcodes"]))
        {
            let disc = register(&app, token, &sha, json!({"barcode": barcode})).await?;
            let v = linked(&app, token, disc).await?;
            if has_discs {
                assert_eq!(v["link_status"], "linked", "{id} by barcode {barcode}: {v}");
                assert_eq!(
                    linked_ids(&v),
                    vec![id.clone()],
                    "{id} by barcode {barcode}"
                );
                let link = &v["links"][0];
                assert_eq!(link["method"], "barcode");
                assert!(
                    link["explanation"]
                        .as_str()
                        .unwrap_or_default()
                        .contains("holdings"),
                    "{link}"
                );
                assert_eq!(link["disc_count"], m["discs"]);
                assert_eq!(
                    link["opac_url"],
                    format!("https://opac.example.edu/record/{id}")
                );
            } else {
                // A barcode match on a record that mentions no disc (floppies, cassettes)
                // still links: the librarian named the item.
                assert_eq!(v["link_status"], "linked", "{id} by barcode {barcode}: {v}");
            }
            checked += 1;
        }
        for isbn in strings(&m["isbn13"])
            .into_iter()
            .chain(strings(&m["raw_isbns"]))
        {
            let disc = register(&app, token, &sha, json!({"isbn": isbn})).await?;
            let v = linked(&app, token, disc).await?;
            match (deleted, has_discs) {
                (true, _) => {
                    assert_eq!(v["link_status"], "unmatched", "{id} deleted: {v}");
                    assert!(
                        v["link_error"]
                            .as_str()
                            .unwrap_or_default()
                            .contains("deleted"),
                        "{v}"
                    );
                }
                (false, true) => {
                    assert_eq!(v["link_status"], "linked", "{id} by ISBN {isbn}: {v}");
                    assert_eq!(linked_ids(&v), vec![id.clone()], "{id} by ISBN {isbn}");
                    assert_eq!(v["links"][0]["method"], "isbn");
                    assert_eq!(v["links"][0]["title"], m["title"], "{id} by ISBN {isbn}");
                    let explanation = v["links"][0]["explanation"].as_str().unwrap_or_default();
                    let plain = m["title"].as_str().is_some_and(str::is_ascii);
                    if protocol == "z3950-legacy" && !plain {
                        assert!(explanation.contains("but its bytes are"), "{explanation}");
                    } else if protocol != "z3950-legacy" {
                        assert!(!explanation.contains("its bytes"), "{explanation}");
                    }
                }
                (false, false) => {
                    assert_eq!(
                        v["link_status"], "review",
                        "{id} without disc evidence: {v}"
                    );
                    assert_eq!(review_ids(&v), vec![id.clone()]);
                    expect_review.push((if flavour == "marc21" { "ZZU" } else { "CNU" }, disc));
                    let explanation = v["links"][0]["explanation"].as_str().unwrap_or_default();
                    assert!(
                        explanation.contains("does not mention a disc"),
                        "{explanation}"
                    );
                    // Issue 20, item 5: and names what it does list.
                    let tags = strings(&m["tags"]);
                    for (tag, kind) in [
                        ("floppy-not-disc", "a floppy"),
                        ("cassette-not-disc", "a cassette"),
                    ] {
                        if tags.iter().any(|t| t == tag) {
                            assert!(
                                explanation.contains(kind)
                                    && explanation.contains("not an optical disc"),
                                "{id}: {explanation}"
                            );
                        }
                    }
                }
            }
            checked += 1;
        }
    }
    assert!(checked > 60, "{checked} lookups");

    let zzu = &tokens[0].1;
    // The separately catalogued disc (100010, 773 $w) resolves to its host book.
    let disc = register(&app, zzu, &sha, json!({"barcode": "D100001"})).await?;
    let v = linked(&app, zzu, disc).await?;
    assert_eq!(linked_ids(&v), ["100001"]);
    assert!(
        v["links"][0]["explanation"]
            .as_str()
            .unwrap_or_default()
            .contains("host book 100001"),
        "{v}"
    );
    // The same title in two years: the year decides; without it, a librarian does.
    let disc = register(
        &app,
        zzu,
        &sha,
        json!({"title": "Laboratory manual for general physics", "year": 2014}),
    )
    .await?;
    let v = linked(&app, zzu, disc).await?;
    expect_review.push(("ZZU", disc));
    assert_eq!(
        v["link_status"], "review",
        "title + year is never automatic"
    );
    assert_eq!(review_ids(&v), ["100013"]);
    let two = register(
        &app,
        zzu,
        &sha,
        json!({"title": "Laboratory manual for general physics"}),
    )
    .await?;
    let v = linked(&app, zzu, two).await?;
    expect_review.push(("ZZU", two));
    assert_eq!(review_ids(&v), ["100012", "100013"]);
    // Disc 2 of a one-disc book is doubtful.
    let disc = register(
        &app,
        zzu,
        &sha,
        json!({"barcode": "B100005", "disc_number": 2}),
    )
    .await?;
    let v = linked(&app, zzu, disc).await?;
    expect_review.push(("ZZU", disc));
    assert_eq!(v["link_status"], "review", "{v}");
    // Nothing known: unmatched, and said so.
    let disc = register(&app, zzu, &sha, json!({"barcode": "NO-SUCH-BARCODE"})).await?;
    let v = linked(&app, zzu, disc).await?;
    assert_eq!(v["link_status"], "unmatched");

    // The review queue holds exactly the uncertain discs; a librarian decides.
    let queue: Value = app
        .client
        .get(app.url("/api/v1/members/ZZU/review"))
        .bearer_auth(zzu)
        .send()
        .await?
        .json()
        .await?;
    let in_queue: Vec<i64> = queue
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["disc"].as_i64())
        .collect();
    let mut want: Vec<i64> = expect_review
        .iter()
        .filter(|(m, _)| *m == "ZZU")
        .map(|(_, d)| *d)
        .collect();
    want.sort_unstable();
    let mut got = in_queue.clone();
    got.sort_unstable();
    got.dedup();
    assert_eq!(
        got, want,
        "the review queue holds exactly the uncertain discs"
    );
    let cnu_queue: Value = app
        .client
        .get(app.url("/api/v1/members/CNU/review"))
        .bearer_auth(&tokens[1].1)
        .send()
        .await?
        .json()
        .await?;
    let mut cnu_got: Vec<i64> = cnu_queue
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["disc"].as_i64())
        .collect();
    cnu_got.sort_unstable();
    let mut cnu_want: Vec<i64> = expect_review
        .iter()
        .filter(|(m, _)| *m == "CNU")
        .map(|(_, d)| *d)
        .collect();
    cnu_want.sort_unstable();
    assert_eq!(
        cnu_got, cnu_want,
        "CNU's queue: the floppy and cassette books"
    );
    assert_eq!(cnu_want.len(), 2);
    let item = queue
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["disc"] == two)
        .expect("item");
    let accept = item["candidates"][1]["accept_url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let reject = item["candidates"][0]["reject_url"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let other = app.librarian("CNU").await?;
    let r = app
        .client
        .post(app.url(&accept))
        .bearer_auth(&other)
        .send()
        .await?;
    assert_eq!(r.status(), 403, "another member's librarian cannot decide");
    let r: Value = app
        .client
        .post(app.url(&reject))
        .bearer_auth(zzu)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(r["link_status"], "review");
    let r: Value = app
        .client
        .post(app.url(&accept))
        .bearer_auth(zzu)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(r["link_status"], "linked");
    let v = linked(&app, zzu, two).await?;
    assert_eq!(linked_ids(&v), ["100013"]);
    assert!(v["links"].as_array().into_iter().flatten().any(|l| {
        l["decided_by"]
            .as_str()
            .unwrap_or_default()
            .starts_with("librarian:ZZU")
    }));
    Ok(())
}

async fn misconfigured_catalogues_fail_clearly(backend: Backend) -> Result<()> {
    misconfigured_catalogues_fail_clearly_over(backend, "sru").await
}

/// Issue 20: the same over Z39.50.
async fn misconfigured_catalogues_fail_clearly_over_z3950(backend: Backend) -> Result<()> {
    misconfigured_catalogues_fail_clearly_over(backend, "z3950").await
}

async fn misconfigured_catalogues_fail_clearly_over(
    backend: Backend,
    protocol: &str,
) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("BAD").await?;
    app.member("ZZU").await?;
    let bad = app.librarian("BAD").await?;
    let good = app.librarian("ZZU").await?;
    configure_as(&app, &bad, "BAD", "nosuchdb", protocol).await?;
    configure_as(&app, &good, "ZZU", "marc21", protocol).await?;
    let image = iso_image(2000, 78);
    app.upload(&bad, &image, 2 * PART as usize).await?;
    let sha = sha256_hex(&image);
    let d_bad = register(&app, &bad, &sha, json!({"barcode": "B100001"})).await?;
    let d_good = register(&app, &good, &sha, json!({"barcode": "B100001"})).await?;
    let v = linked(&app, &bad, d_bad).await?;
    assert_eq!(v["link_status"], "failed");
    let said = if protocol == "sru" {
        "database path"
    } else {
        "nosuchdb"
    };
    assert!(
        v["link_error"].as_str().unwrap_or_default().contains(said),
        "{v}"
    );
    assert!(
        v["links"].as_array().is_some_and(|l| l.is_empty()),
        "nothing half-linked"
    );
    let v = linked(&app, &good, d_good).await?;
    assert_eq!(
        v["link_status"], "linked",
        "the other member is not affected"
    );

    // Fixing the catalogue queues the failed disc again.
    configure_as(&app, &bad, "BAD", "marc21", protocol).await?;
    let v = linked(&app, &bad, d_bad).await?;
    assert_eq!(v["link_status"], "linked", "{v}");

    // Bad settings are refused at the door.
    let r = app
        .client
        .put(app.url("/api/v1/members/BAD/catalogue"))
        .bearer_auth(&bad)
        .json(&json!({"kind": "sru", "sru": {"url": "ftp://x"}}))
        .send()
        .await?;
    assert_eq!(r.status(), 422);
    let r = app.client.put(app.url("/api/v1/members/BAD/catalogue")).bearer_auth(&bad)
        .json(&json!({"kind": "sru", "sru": {"url": "http://x/db"}, "opac_record_url": "https://opac/no-placeholder"})).send().await?;
    assert_eq!(r.status(), 422);
    let r = app
        .client
        .put(app.url("/api/v1/members/ZZU/catalogue"))
        .bearer_auth(&bad)
        .json(&json!({"kind": "sru", "sru": {"url": "http://x/db"}}))
        .send()
        .await?;
    assert_eq!(r.status(), 403);

    // A disc with nothing to look up by says so.
    let d = register(&app, &good, &sha, json!({"label": "no identifiers"})).await?;
    let v = linked(&app, &good, d).await?;
    assert_eq!(v["link_status"], "unmatched");
    assert!(
        v["link_error"]
            .as_str()
            .unwrap_or_default()
            .contains("no barcode, ISBN"),
        "{v}"
    );

    // A member without a catalogue: discs say so.
    app.member("NONE").await?;
    let none = app.librarian("NONE").await?;
    let d = register(&app, &none, &sha, json!({"barcode": "X"})).await?;
    let v = linked(&app, &none, d).await?;
    assert_eq!(v["link_status"], "no-catalogue");
    Ok(())
}

async fn resync_follows_the_catalogue(backend: Backend) -> Result<()> {
    resync_follows_the_catalogue_over(backend, "sru").await
}

/// Issue 20: the same over Z39.50.
async fn resync_follows_the_catalogue_over_z3950(backend: Backend) -> Result<()> {
    resync_follows_the_catalogue_over(backend, "z3950").await
}

async fn resync_follows_the_catalogue_over(backend: Backend, protocol: &str) -> Result<()> {
    let app = TestApp::start(backend).await?;
    app.member("ZZU").await?;
    let zzu = app.librarian("ZZU").await?;
    configure_as(&app, &zzu, "ZZU", "marc21", protocol).await?;
    let image = iso_image(2000, 79);
    app.upload(&zzu, &image, 2 * PART as usize).await?;
    let disc = register(
        &app,
        &zzu,
        &sha256_hex(&image),
        json!({"barcode": "B100001"}),
    )
    .await?;
    let first = linked(&app, &zzu, disc).await?;
    assert_eq!(first["link_status"], "linked");
    let url = app.url("/api/v1/members/ZZU/catalogue/resync");
    let r = app.client.post(&url).bearer_auth(&zzu).send().await?;
    assert_eq!(r.status(), 200);
    let report: Value = r.json().await?;
    assert_eq!(
        (
            report["checked"].as_i64(),
            report["refreshed"].as_i64(),
            report["gone"].as_i64()
        ),
        (Some(1), Some(1), Some(0)),
        "{report}"
    );
    // The library's system no longer has the record (here: the catalogue now points at a
    // database without it): the disc goes back to review, saying why.
    configure_as(&app, &zzu, "ZZU", "unimarc", protocol).await?;
    let report: Value = app
        .client
        .post(&url)
        .bearer_auth(&zzu)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        (report["gone"].as_i64(), report["discs_to_review"].as_i64()),
        (Some(1), Some(1)),
        "{report}"
    );
    let v = linked(&app, &zzu, disc).await?;
    assert_eq!(v["link_status"], "review");
    let why = v["links"][0]["explanation"].as_str().unwrap_or_default();
    assert!(why.contains("no longer has this record"), "{v}");
    app.member("OTHER").await?;
    let other = app.librarian("OTHER").await?;
    assert_eq!(
        app.client
            .post(&url)
            .bearer_auth(&other)
            .send()
            .await?
            .status(),
        403
    );

    // The record is back (the catalogue points at the database that has it). Saving the
    // settings re-queues only failed discs, so this one waits in review; relink looks it up
    // again now and links it to the same record. Only the owner may ask.
    configure_as(&app, &zzu, "ZZU", "marc21", protocol).await?;
    let v = linked(&app, &zzu, disc).await?;
    assert_eq!(v["link_status"], "review", "{v}");
    let relink = app.url(&format!("/api/v1/discs/{disc}/relink"));
    let r = app.client.post(&relink).bearer_auth(&other).send().await?;
    assert_eq!(r.status(), 403);
    assert_eq!(linked(&app, &zzu, disc).await?["link_status"], "review");
    let r = app.client.post(&relink).bearer_auth(&zzu).send().await?;
    assert_eq!(r.status(), 202);
    let v = linked(&app, &zzu, disc).await?;
    assert_eq!(v["link_status"], "linked", "{v}");
    assert_eq!(linked_ids(&v), linked_ids(&first), "{v}");
    assert!(
        review_ids(&v).is_empty(),
        "the gone record's review is settled: {v}"
    );
    assert!(
        v["links"][0]["title"].is_string() && v["links"][0]["title"] == first["links"][0]["title"],
        "{v}"
    );
    Ok(())
}

async fn resync_by_oai_pmh(backend: Backend) -> Result<()> {
    let oai = std::env::var("SPINDLE_TEST_OAI_FLAKY_URL").unwrap_or_else(|_| {
        panic!("SPINDLE_TEST_OAI_FLAKY_URL is not set: run the suite with scripts/test.sh")
    });
    let app = TestApp::start(backend).await?;
    app.member("ZZU").await?;
    let zzu = app.librarian("ZZU").await?;
    configure(&app, &zzu, "ZZU", "marc21").await?;
    let image = iso_image(2000, 80);
    app.upload(&zzu, &image, 2 * PART as usize).await?;
    let sha = sha256_hex(&image);
    let kept = register(&app, &zzu, &sha, json!({"barcode": "B100001"})).await?;
    let withdrawn = register(&app, &zzu, &sha, json!({"barcode": "B100002"})).await?;
    for d in [kept, withdrawn] {
        assert_eq!(linked(&app, &zzu, d).await?["link_status"], "linked");
    }
    // The same catalogue also has an OAI-PMH feed, in which the library has since withdrawn
    // 100002 (and whose resumption tokens expire once).
    let r = app
        .client
        .put(app.url("/api/v1/members/ZZU/catalogue"))
        .bearer_auth(&zzu)
        .json(&json!({
            "kind": "sru",
            "sru": {"url": format!("{}/marc21", zebra()), "indexes": {"barcode": "local.barcode"}},
            "oai": {"url": oai, "metadata_prefix": "marc21"}
        }))
        .send()
        .await?;
    assert_eq!(r.status(), 200);
    let url = app.url("/api/v1/members/ZZU/catalogue/resync");
    let report: Value = app
        .client
        .post(&url)
        .bearer_auth(&zzu)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(
        report["harvested"].as_u64(),
        Some(manifest().len() as u64),
        "{report}"
    );
    assert_eq!(
        (
            report["checked"].as_i64(),
            report["refreshed"].as_i64(),
            report["gone"].as_i64()
        ),
        (Some(2), Some(1), Some(1)),
        "{report}"
    );
    assert_eq!(linked(&app, &zzu, kept).await?["link_status"], "linked");
    let v = linked(&app, &zzu, withdrawn).await?;
    assert_eq!(v["link_status"], "review");
    let why = v["links"][0]["explanation"].as_str().unwrap_or_default();
    assert!(
        why.contains("OAI-PMH feed reports this record deleted"),
        "{v}"
    );
    // The next re-sync harvests only what changed since (from the last datestamp on).
    let again: Value = app
        .client
        .post(&url)
        .bearer_auth(&zzu)
        .send()
        .await?
        .json()
        .await?;
    let n = again["harvested"].as_u64().unwrap_or(u64::MAX);
    assert!(n < 5, "incremental: {again}");
    Ok(())
}

/// Issue 20: Z39.50 settings read back with the same field names (Bib-1 defaults filled in,
/// the password never answered and kept when a PUT leaves it out); a wrong database fails the
/// disc with a message naming it; an attribute the server does not support does not sink a
/// disc that also has an ISBN; `"version": 1.2` as a number is an SRU version.
async fn z3950_settings_and_a_bad_attribute(backend: Backend) -> Result<()> {
    let app = TestApp::start(backend).await?;
    let member = app.member("ZZU").await?;
    let zzu = app.librarian("ZZU").await?;
    let port = common::catalogue::zebra_port();
    let put = |body: Value| {
        let (app, zzu) = (&app, &zzu);
        async move {
            app.client
                .put(app.url("/api/v1/members/ZZU/catalogue"))
                .bearer_auth(zzu)
                .json(&body)
                .send()
                .await
        }
    };
    let get = || async {
        let v: Value = app
            .client
            .get(app.url("/api/v1/members/ZZU/catalogue"))
            .bearer_auth(&zzu)
            .send()
            .await?
            .json()
            .await?;
        anyhow::Ok(v)
    };
    let r = put(
        json!({"kind": "z3950", "z3950": {"host": "127.0.0.1", "port": port,
        "database": "nosuchdb", "user": "u", "password": "secret-pw"}}),
    )
    .await?;
    assert_eq!(r.status(), 200, "{}", r.text().await?);
    let v = get().await?;
    assert_eq!(v["kind"], "z3950");
    assert!(v.get("sru").is_none(), "{v}");
    let z = &v["z3950"];
    assert_eq!(
        (
            z["host"].as_str(),
            z["port"].as_u64(),
            z["database"].as_str()
        ),
        (Some("127.0.0.1"), Some(u64::from(port)), Some("nosuchdb"))
    );
    assert_eq!(z["syntax"], "usmarc");
    assert_eq!(
        z["attributes"],
        json!({"isbn": 7, "issn": 8, "title": 4, "record_id": 12, "date": 31, "barcode": null})
    );
    assert!(
        z["password"].is_null() && !v.to_string().contains("secret-pw"),
        "{v}"
    );

    let image = iso_image(2000, 79);
    app.upload(&zzu, &image, 2 * PART as usize).await?;
    let sha = sha256_hex(&image);
    let d = register(&app, &zzu, &sha, json!({"isbn": "9780596514327"})).await?;
    let v = linked(&app, &zzu, d).await?;
    assert_eq!(v["link_status"], "failed", "{v}");
    let why = v["link_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("nosuchdb") && why.contains("Bib-1 diagnostic"),
        "{v}"
    );

    // The right database, with a barcode attribute the server does not support: the disc
    // with a barcode and an ISBN links by its ISBN, and says what the barcode lookup met.
    let r = put(
        json!({"kind": "z3950", "z3950": {"host": "127.0.0.1", "port": port,
        "database": "marc21", "user": "u", "attributes": {"barcode": 9999}}}),
    )
    .await?;
    assert_eq!(r.status(), 200);
    let d = register(
        &app,
        &zzu,
        &sha,
        json!({"isbn": "9780596514327", "barcode": "NOT-ASKED"}),
    )
    .await?;
    let v = linked(&app, &zzu, d).await?;
    assert_eq!(v["link_status"], "linked", "{v}");
    assert_eq!(linked_ids(&v), ["100002"]);
    assert_eq!(v["links"][0]["method"], "isbn");
    assert!(
        v["links"][0]["query"]
            .as_str()
            .unwrap_or_default()
            .contains("@attr 1=7"),
        "{v}"
    );
    let why = v["links"][0]["explanation"].as_str().unwrap_or_default();
    assert!(
        why.contains("barcode lookup failed") && why.contains("9999"),
        "{v}"
    );
    // The password was kept: same host and user, none given.
    let stored = spindle::db::catalogue::get(&app.state.db, member)
        .await?
        .expect("stored");
    assert!(
        stored.settings.contains("secret-pw"),
        "kept for the same host and user"
    );

    // Both blocks, or the wrong one, are refused; an SRU version may be a number.
    for bad in [
        json!({"kind": "z3950", "sru": {"url": "http://x/db"}}),
        json!({"kind": "z3950", "z3950": {"host": "h", "database": "d"}, "sru": {"url": "http://x/db"}}),
        json!({"kind": "z3950", "z3950": {"host": "h"}}),
        json!({"kind": "z3950", "z3950": {"host": "h", "database": "d", "syntax": "marc8"}}),
    ] {
        let r = put(bad.clone()).await?;
        assert_eq!(r.status(), 422, "{bad}");
    }
    let r =
        put(json!({"kind": "sru", "sru": {"url": format!("{}/marc21", zebra()), "version": 1.2}}))
            .await?;
    assert_eq!(r.status(), 200, "{}", r.text().await?);
    let v = get().await?;
    assert_eq!(v["sru"]["version"], "1.2");
    // No barcode index unless the librarian names one: a disc with a barcode and an ISBN is
    // looked up by its ISBN only (no query names a barcode index only one catalogue has).
    assert_eq!(v["sru"]["indexes"]["barcode"], "none", "{v}");
    let d = register(
        &app,
        &zzu,
        &sha,
        json!({"isbn": "9780596514327", "barcode": "B100002"}),
    )
    .await?;
    let v = linked(&app, &zzu, d).await?;
    assert_eq!(linked_ids(&v), ["100002"], "{v}");
    assert_eq!(v["links"][0]["method"], "isbn", "{v}");
    assert!(!v.to_string().contains("barcode="), "{v}");
    Ok(())
}

on_both_backends!(
    every_manifest_record_links,
    every_manifest_record_links_over_z3950,
    every_manifest_record_links_in_marc8_and_gbk,
    z3950_settings_and_a_bad_attribute,
    misconfigured_catalogues_fail_clearly,
    misconfigured_catalogues_fail_clearly_over_z3950,
    resync_follows_the_catalogue,
    resync_follows_the_catalogue_over_z3950,
    resync_by_oai_pmh
);

/// Issue 24, item 1: a catalogue address that leads into the server's own network. With no
/// `linking.allow_networks`, a loopback address (literal, or a name that resolves to it) is
/// refused before any connection — loopback listeners standing where the requests would go
/// receive nothing — for SRU linking and for an OAI-PMH harvest alike, and the disc's error
/// says which address and why, echoing nothing from there. The metadata and private
/// addresses are refused by the same check (unit tests in `egress`; nothing here sends a
/// request towards them). Allowing the network lets the same catalogue link.
#[tokio::test]
async fn catalogue_addresses_into_the_servers_network_are_refused() -> Result<()> {
    use std::sync::atomic::Ordering;
    let app = TestApp::on(Backend::SqliteLocal)
        .config(|c| c.linking.allow_networks = Vec::new())
        .start()
        .await?;
    app.member("ZZU").await?;
    let zzu = app.librarian("ZZU").await?;
    let (port, reached) = counting_listener("127.0.0.1").await?;
    let image = iso_image(1000, 93);
    app.upload(&zzu, &image, 2 * PART as usize).await?;
    let sha = sha256_hex(&image);
    for url in [
        format!("http://127.0.0.1:{port}/marc21"),
        format!("http://localhost:{port}/marc21"),
        format!("http://[::ffff:127.0.0.1]:{port}/marc21"),
    ] {
        let r = app
            .client
            .put(app.url("/api/v1/members/ZZU/catalogue"))
            .bearer_auth(&zzu)
            .json(&json!({
                "kind": "sru",
                "sru": {"url": url, "timeout_secs": 2}
            }))
            .send()
            .await?;
        anyhow::ensure!(r.status() == 200, "{url}: {}", r.status());
        let id = register(&app, &zzu, &sha, json!({"isbn": "9780596514327"})).await?;
        let v = linked(&app, &zzu, id).await?;
        let error = v["link_error"].as_str().unwrap_or_default();
        anyhow::ensure!(
            v["link_status"] == "failed"
                && error.contains("loopback address")
                && error.contains("linking.allow_networks"),
            "{url}: {v}"
        );
    }
    anyhow::ensure!(
        reached.load(Ordering::SeqCst) == 0,
        "{} connections reached the loopback listener",
        reached.load(Ordering::SeqCst)
    );

    // The operator allows 127.0.0.1: Zebra's address links. An OAI-PMH feed on another
    // loopback address (127.0.0.2, outside what is allowed) is refused at the harvest, and
    // its listener too receives nothing.
    let allowed = TestApp::on(Backend::SqliteLocal)
        .config(|c| c.linking.allow_networks = vec!["127.0.0.1/32".into()])
        .start()
        .await?;
    allowed.member("ZZU").await?;
    let zzu = allowed.librarian("ZZU").await?;
    configure(&allowed, &zzu, "ZZU", "marc21").await?;
    allowed.upload(&zzu, &image, 2 * PART as usize).await?;
    let id = register(&allowed, &zzu, &sha, json!({"isbn": "9780596514327"})).await?;
    anyhow::ensure!(linked(&allowed, &zzu, id).await?["link_status"] == "linked");
    let (feed_port, harvested) = counting_listener("127.0.0.2").await?;
    let r = allowed
        .client
        .put(allowed.url("/api/v1/members/ZZU/catalogue"))
        .bearer_auth(&zzu)
        .json(&json!({
            "kind": "sru",
            "sru": {"url": format!("{}/marc21", zebra())},
            "oai": {"url": format!("http://127.0.0.2:{feed_port}/oai"), "metadata_prefix": "marc21"}
        }))
        .send()
        .await?;
    anyhow::ensure!(r.status() == 200, "{}", r.status());
    let report: Value = allowed
        .client
        .post(allowed.url("/api/v1/members/ZZU/catalogue/resync"))
        .bearer_auth(&zzu)
        .send()
        .await?
        .json()
        .await?;
    anyhow::ensure!(
        report["errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e
                .as_str()
                .is_some_and(|e| e.contains("127.0.0.2 is 127.0.0.2, a loopback address")))),
        "{report}"
    );
    anyhow::ensure!(
        harvested.load(Ordering::SeqCst) == 0,
        "the feed was reached"
    );
    Ok(())
}

/// A listener on `ip` that accepts and counts connections: where a refused request would have
/// gone, so that "refused before any connection" is seen, not assumed.
async fn counting_listener(
    ip: &str,
) -> Result<(u16, std::sync::Arc<std::sync::atomic::AtomicUsize>)> {
    let listener = tokio::net::TcpListener::bind((ip, 0)).await?;
    let port = listener.local_addr()?.port();
    let reached = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = reached.clone();
    tokio::spawn(async move {
        while listener.accept().await.is_ok() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    Ok((port, reached))
}

/// Issue 20, item 3: settings that check themselves. The check tries what is saved against
/// the real Zebra — over SRU and over Z39.50 — and names what fails: a wrong database, an index
/// the server does not have, a Bib-1 attribute it does not support.
#[tokio::test]
async fn the_catalogue_check_names_what_fails() -> Result<()> {
    let app = TestApp::start(Backend::SqliteLocal).await?;
    app.member("ZZU").await?;
    let zzu = app.librarian("ZZU").await?;
    let port = common::catalogue::zebra_port();
    let check = |body: Value| {
        let (app, zzu) = (&app, &zzu);
        async move {
            let r = app
                .client
                .put(app.url("/api/v1/members/ZZU/catalogue"))
                .bearer_auth(zzu)
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "{body}: {}", r.status());
            let r = app
                .client
                .post(app.url("/api/v1/members/ZZU/catalogue/check"))
                .bearer_auth(zzu)
                .send()
                .await?;
            anyhow::ensure!(r.status() == 200, "check: {}", r.status());
            let v: Value = r.json().await?;
            anyhow::Ok(v)
        }
    };
    let failing = |v: &Value| -> Vec<String> {
        v["checks"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["ok"] == false)
            .map(|c| {
                format!(
                    "{}: {}",
                    c["check"].as_str().unwrap_or_default(),
                    c["detail"].as_str().unwrap_or_default()
                )
            })
            .collect()
    };
    // SRU, right: every index answers and a record comes back as MARC21.
    let v = check(
        json!({"kind": "sru", "sru": {"url": format!("{}/marc21", zebra()),
        "indexes": {"barcode": "local.barcode"}}}),
    )
    .await?;
    assert_eq!(v["ok"], true, "{v}");
    let text = v.to_string();
    for expected in [
        "bath.isbn",
        "rec.id",
        "dc.title",
        "dc.date",
        "local.barcode",
        "read as MARC21",
    ] {
        assert!(text.contains(expected), "{expected}: {v}");
    }
    // An index the server does not have is named; the rest still work.
    let v = check(
        json!({"kind": "sru", "sru": {"url": format!("{}/marc21", zebra()),
        "indexes": {"barcode": "koha.itembarcode"}}}),
    )
    .await?;
    assert_eq!(v["ok"], false, "{v}");
    let bad = failing(&v);
    assert_eq!(bad.len(), 1, "{v}");
    assert!(bad[0].contains("barcode index koha.itembarcode"), "{v}");
    // A wrong database path fails at the first step.
    let v = check(json!({"kind": "sru", "sru": {"url": format!("{}/nosuchdb", zebra())}})).await?;
    assert_eq!(v["ok"], false, "{v}");
    assert!(!failing(&v).is_empty(), "{v}");
    // Z39.50, right, with CNMARC in GBK whose label says Unicode: the syntax check says so.
    let v = check(
        json!({"kind": "z3950", "z3950": {"host": "127.0.0.1", "port": port,
        "database": "unimarc", "syntax": "unimarc", "element_set": "gbk",
        "attributes": {"barcode": 1028}}}),
    )
    .await?;
    assert_eq!(v["ok"], true, "{v}");
    let text = v.to_string();
    assert!(
        text.contains("Init") && text.contains("read as UNIMARC"),
        "{v}"
    );
    assert!(text.contains("negotiated: records come in UTF-8"), "{v}");
    // A wrong database is named, and nothing after it is tried.
    let v = check(
        json!({"kind": "z3950", "z3950": {"host": "127.0.0.1", "port": port,
        "database": "nosuchdb"}}),
    )
    .await?;
    let bad = failing(&v);
    assert_eq!(bad.len(), 1, "{v}");
    assert!(bad[0].starts_with("database nosuchdb"), "{v}");
    // An attribute the server does not support is named.
    let v = check(
        json!({"kind": "z3950", "z3950": {"host": "127.0.0.1", "port": port,
        "database": "marc21", "attributes": {"barcode": 9999}}}),
    )
    .await?;
    let bad = failing(&v);
    assert_eq!(bad.len(), 1, "{v}");
    assert!(bad[0].contains("attribute 9999 (barcode)"), "{v}");
    // Nothing listens: the server step fails and says so.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let v = check(
        json!({"kind": "z3950", "z3950": {"host": "127.0.0.1", "port": closed,
        "database": "marc21", "timeout_secs": 2, "retries": 0}}),
    )
    .await?;
    let bad = failing(&v);
    assert_eq!(bad.len(), 1, "{v}");
    assert!(bad[0].starts_with("Z39.50 server"), "{v}");
    Ok(())
}
