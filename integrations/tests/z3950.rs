//! The Z39.50 client against the real Zebra (started by scripts/test.sh; it answers Z39.50 on
//! the same port as SRU), compared with the SRU client on the same records; and against
//! servers that misbehave in ways Zebra will not (close mid-Present, never answer, garbage).

mod common;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use common::{ids, manifest, strings};
use spindle_integrations::egress::Egress;
use spindle_integrations::isbn::Isbn;
use spindle_integrations::lookup::{Catalogue, LookupError};
use spindle_integrations::sru::{SruClient, SruConfig};
use spindle_integrations::z3950::{Syntax, Z3950Client, Z3950Config, Z3950Error, ber, pdu};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn zebra_port() -> u16 {
    let url = std::env::var("SPINDLE_TEST_ZEBRA_URL").unwrap_or_else(|_| {
        panic!("SPINDLE_TEST_ZEBRA_URL is not set: run the suite with scripts/test.sh, which starts Zebra on loopback")
    });
    url.rsplit(':')
        .next()
        .and_then(|p| p.trim_end_matches('/').parse().ok())
        .expect("the Zebra URL's port")
}

fn z_config(db: &str) -> Z3950Config {
    Z3950Config {
        host: "127.0.0.1".into(),
        port: zebra_port(),
        database: db.into(),
        syntax: if db == "unimarc" {
            Syntax::Unimarc
        } else {
            Syntax::Usmarc
        },
        ..Z3950Config::default()
    }
}

fn z(db: &str, tweak: impl FnOnce(&mut Z3950Config)) -> Catalogue {
    let mut c = z_config(db);
    c.attributes.barcode = Some(1028); // the test catalogue's barcode index (bib1.att's 1028)
    tweak(&mut c);
    Catalogue::Z3950(Z3950Client::new(c, &Egress::allow_all()).expect("client"))
}

fn sru(db: &str) -> Catalogue {
    let url = std::env::var("SPINDLE_TEST_ZEBRA_URL").expect("zebra");
    let mut c = SruConfig {
        url: format!("{url}/{db}"),
        ..SruConfig::default()
    };
    c.indexes.barcode = "local.barcode".into();
    Catalogue::Sru(SruClient::new(c, &Egress::allow_all()).expect("client"))
}

/// Every record of the test catalogue is found by its barcodes, ISBNs and id over Z39.50, with
/// the same records (ids and fields) as over SRU.
#[tokio::test]
async fn every_lookup_finds_what_sru_finds() {
    let mut checked = 0;
    for m in manifest() {
        let id = m["id"].as_str().unwrap_or_default().to_string();
        let db = m["flavour"].as_str().unwrap_or_default();
        let (zc, sc) = (z(db, |_| {}), sru(db));
        for b in strings(&m["book_barcodes"])
            .into_iter()
            .chain(strings(&m["disc_barcodes"]))
        {
            let (zf, q) = zc
                .by_barcode(&b)
                .await
                .expect("z")
                .expect("a barcode lookup");
            let (sf, _) = sc
                .by_barcode(&b)
                .await
                .expect("sru")
                .expect("a barcode lookup");
            assert!(
                ids(&zf).contains(&id),
                "{id}: barcode {b} ({q}) found {:?}",
                ids(&zf)
            );
            assert_eq!(ids(&zf), ids(&sf), "{id}: barcode {b}");
            checked += 1;
        }
        for isbn in strings(&m["isbn13"]) {
            let forms = Isbn::lookup_forms(&isbn);
            let (zf, q) = zc.by_isbns(&forms).await.expect("z");
            let (sf, _) = sc.by_isbns(&forms).await.expect("sru");
            assert!(ids(&zf).contains(&id), "{id}: {q} found {:?}", ids(&zf));
            assert_eq!(ids(&zf), ids(&sf), "{id}: ISBN {isbn}");
            assert!(q.starts_with("@") && q.contains("@attr 1=7"), "{q}");
            checked += 1;
        }
        let (zf, _) = zc.by_record_id(&id).await.expect("z");
        let (sf, _) = sc.by_record_id(&id).await.expect("sru");
        assert_eq!(ids(&zf), BTreeSet::from([id.clone()]));
        // The same record, field for field, whether it came as ISO 2709 or MARCXML.
        assert_eq!(zf[0].fields, sf[0].fields, "{id}");
        checked += 1;
    }
    assert!(checked > 80, "{checked} lookups");
}

#[tokio::test]
async fn title_year_vernacular_and_paging() {
    let zc = z("marc21", |_| {});
    let (found, q) = zc
        .by_title_year("Laboratory manual for general physics", Some(2014))
        .await
        .expect("search");
    assert_eq!(ids(&found), BTreeSet::from(["100013".to_string()]), "{q}");
    let (found, _) = zc
        .by_title_year("数据库原理与应用教程", None)
        .await
        .expect("search");
    assert_eq!(ids(&found), BTreeSet::from(["100021".to_string()]));
    let (found, _) = z("unimarc", |_| {})
        .by_title_year("大学英语听说教程", Some(2010))
        .await
        .expect("search");
    assert_eq!(ids(&found), BTreeSet::from(["012010000116".to_string()]));
    // Presents page by page_size: with pages of 2, every hit once.
    let small = Z3950Client::new(
        Z3950Config {
            page_size: 2,
            ..z_config("unimarc")
        },
        &Egress::allow_all(),
    )
    .expect("client");
    let q = pdu::Rpn::Term {
        attributes: vec![(1, 1031)],
        term: "光盘".into(),
    };
    let page = small.search(&q, 1000).await.expect("search");
    assert!(page.total > 6, "enough hits to page: {}", page.total);
    assert_eq!(page.records.len() as u64, page.total);
    assert_eq!(
        ids(&page.records).len() as u64,
        page.total,
        "no record twice"
    );
}

#[tokio::test]
async fn diagnostics_say_what_is_wrong() {
    // An attribute the server does not support names the lookup it serves.
    let zc = z("marc21", |c| c.attributes.barcode = Some(9999));
    let e = zc.by_barcode("B100001").await.expect_err("114");
    assert!(
        matches!(
            e,
            LookupError::Z3950(Z3950Error::Diagnostic { code: 114, .. })
        ),
        "{e}"
    );
    assert!(e.query_refused() && !e.try_later(), "{e}");
    assert!(e.to_string().contains("the barcode lookup"), "{e}");
    // A database the server does not have.
    let wrong = z("nosuchdb", |_| {});
    let e = wrong.by_record_id("100001").await.expect_err("no database");
    let LookupError::Z3950(Z3950Error::Diagnostic { code, .. }) = &e else {
        panic!("{e}");
    };
    assert!(matches!(code, 109 | 235), "{e}");
    assert!(e.to_string().contains("nosuchdb"), "{e}");
    // The pooled connection survives a diagnostic and answers the next lookup.
    let (found, _) = zc.by_record_id("100001").await.expect("after a diagnostic");
    assert_eq!(ids(&found), BTreeSet::from(["100001".to_string()]));
}

#[tokio::test]
async fn refused_addresses_are_never_connected() {
    let (port, seen) = stub(Behaviour::Silent).await;
    let c = Z3950Client::new(
        Z3950Config {
            host: "127.0.0.1".into(),
            port,
            database: "x".into(),
            ..Z3950Config::default()
        },
        &Egress::default(),
    )
    .expect("client");
    let e = c.greet().await.expect_err("loopback is refused");
    assert!(matches!(e, Z3950Error::Refused(_)), "{e}");
    assert!(e.to_string().contains("127.0.0.1"), "{e}");
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert_eq!(seen.load(Ordering::SeqCst), 0, "no connection was made");
}

#[derive(Clone, Copy)]
enum Behaviour {
    /// Accepts and never answers.
    Silent,
    /// Answers Init and Search like a server with one hit, then closes during Present.
    CloseInPresent,
    /// Answers Init with bytes that are not BER.
    Garbage,
    /// Refuses Init.
    RefuseInit,
}

fn init_response(accepted: bool) -> Vec<u8> {
    let mut c = Vec::new();
    ber::bits(&mut c, ber::CONTEXT, 3, 3, &[0, 1, 2]);
    ber::bits(&mut c, ber::CONTEXT, 4, 16, &[0, 1]);
    ber::integer(&mut c, ber::CONTEXT, 5, 1 << 20);
    ber::integer(&mut c, ber::CONTEXT, 6, 1 << 20);
    ber::boolean(&mut c, ber::CONTEXT, 12, accepted);
    ber::primitive(&mut c, ber::CONTEXT, 111, b"Stub");
    let mut out = Vec::new();
    ber::constructed(&mut out, ber::CONTEXT, 21, &c);
    out
}

fn search_response(count: i64) -> Vec<u8> {
    let mut c = Vec::new();
    ber::integer(&mut c, ber::CONTEXT, 23, count);
    ber::integer(&mut c, ber::CONTEXT, 24, 0);
    ber::integer(&mut c, ber::CONTEXT, 25, 1);
    ber::boolean(&mut c, ber::CONTEXT, 22, true);
    let mut out = Vec::new();
    ber::constructed(&mut out, ber::CONTEXT, 23, &c);
    out
}

/// Reads one whole APDU from the socket (or None at its end).
async fn read_apdu(sock: &mut tokio::net::TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Ok(Some(n)) = ber::complete_len(buf) {
            let rest = buf.split_off(n);
            return Some(std::mem::replace(buf, rest));
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn stub(behaviour: Behaviour) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((mut sock, _)) = listener.accept().await {
            seen.fetch_add(1, Ordering::SeqCst);
            match behaviour {
                Behaviour::Silent => held.push(sock),
                Behaviour::Garbage => {
                    // An HTTP answer: 'H' reads as a tag and 'T' (84) as a length, so with
                    // enough bytes it is a whole value, and not a Z39.50 APDU.
                    let mut page = b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec();
                    page.resize(200, b'x');
                    let _ = sock.write_all(&page).await;
                }
                Behaviour::RefuseInit => {
                    let mut buf = Vec::new();
                    if read_apdu(&mut sock, &mut buf).await.is_some() {
                        let _ = sock.write_all(&init_response(false)).await;
                    }
                }
                Behaviour::CloseInPresent => {
                    tokio::spawn(async move {
                        let mut buf = Vec::new();
                        while let Some(apdu) = read_apdu(&mut sock, &mut buf).await {
                            let answer = match apdu.first() {
                                Some(0xB4) => init_response(true),
                                Some(0xB6) => search_response(1),
                                // Present: half an answer, then the connection ends.
                                _ => {
                                    let _ = sock.write_all(&[0xB9, 0x82, 0x01, 0x00, 0x88]).await;
                                    return;
                                }
                            };
                            if sock.write_all(&answer).await.is_err() {
                                return;
                            }
                        }
                    });
                }
            }
        }
    });
    (port, count)
}

fn stub_client(port: u16, tweak: impl FnOnce(&mut Z3950Config)) -> Z3950Client {
    let mut c = Z3950Config {
        host: "127.0.0.1".into(),
        port,
        database: "stub".into(),
        timeout_secs: 2,
        retries: 1,
        ..Z3950Config::default()
    };
    tweak(&mut c);
    Z3950Client::new(c, &Egress::allow_all()).expect("client")
}

#[tokio::test]
async fn misbehaving_servers_give_clear_errors() {
    let q = pdu::Rpn::Term {
        attributes: vec![(1, 12)],
        term: "1".into(),
    };
    // Never answers: the whole-request timeout, retried once (two connections), then said.
    let (port, seen) = stub(Behaviour::Silent).await;
    let e = stub_client(port, |_| {})
        .search(&q, 10)
        .await
        .expect_err("silent");
    assert_eq!(e, Z3950Error::Timeout(2));
    assert!(e.transient());
    assert_eq!(seen.load(Ordering::SeqCst), 2, "one retry");
    // Closes in the middle of a Present: retried, then said, and worth trying later.
    let (port, _) = stub(Behaviour::CloseInPresent).await;
    let e = stub_client(port, |_| {})
        .search(&q, 10)
        .await
        .expect_err("closed");
    assert!(
        matches!(&e, Z3950Error::Closed(m) if m.contains("Present")),
        "{e}"
    );
    assert!(LookupError::Z3950(e).try_later());
    // Not Z39.50 at all.
    let (port, _) = stub(Behaviour::Garbage).await;
    let e = stub_client(port, |_| {})
        .greet()
        .await
        .expect_err("garbage");
    assert!(matches!(e, Z3950Error::Malformed(_)), "{e}");
    // Init refused: the account is the likely cause, and said.
    let (port, _) = stub(Behaviour::RefuseInit).await;
    let e = stub_client(port, |c| c.user = Some("u".into()))
        .greet()
        .await
        .expect_err("refused");
    assert!(
        matches!(&e, Z3950Error::InitRefused(m) if m.contains("user and password")),
        "{e}"
    );
    // Nothing listening.
    let free = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = free.local_addr().expect("addr").port();
    drop(free);
    let e = stub_client(port, |c| c.retries = 0)
        .greet()
        .await
        .expect_err("closed port");
    assert!(matches!(e, Z3950Error::Unreachable(_)), "{e}");
}

#[tokio::test]
async fn settings_are_checked() {
    for bad in [
        Z3950Config::default(),
        Z3950Config {
            host: "http://x/".into(),
            database: "d".into(),
            ..Z3950Config::default()
        },
        Z3950Config {
            host: "x".into(),
            database: " ".into(),
            ..Z3950Config::default()
        },
        Z3950Config {
            host: "x".into(),
            database: "d".into(),
            port: 0,
            ..Z3950Config::default()
        },
    ] {
        assert!(
            matches!(
                Z3950Client::new(bad.clone(), &Egress::allow_all()),
                Err(Z3950Error::Config(_))
            ),
            "{bad:?}"
        );
    }
    let greeting = Z3950Client::new(z_config("marc21"), &Egress::allow_all())
        .expect("client")
        .greet()
        .await
        .expect("Init");
    assert!(greeting.implementation.contains("Zebra"), "{greeting:?}");
    // An IPv6 address, bare or bracketed as in a URL, is a host; half a bracket is not.
    for (host, ok) in [
        ("::1", true),
        ("[::1]", true),
        ("[::1", false),
        ("::1]", false),
    ] {
        let c = Z3950Config {
            host: host.into(),
            database: "d".into(),
            ..Z3950Config::default()
        };
        assert_eq!(
            Z3950Client::new(c, &Egress::allow_all()).is_ok(),
            ok,
            "{host}"
        );
    }
}

/// YAZ's own test server (`yaz-ztest`, from the yaz package scripts/peers.sh installs) on a
/// free loopback port, stopped when dropped.
struct Ztest(std::process::Child, u16);

impl Ztest {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let log = std::env::temp_dir().join(format!("spindle-ztest-{port}.log"));
        // Held by the guard at once, so it is killed and waited for on every path.
        let ztest = Self(
            std::process::Command::new("yaz-ztest")
                .arg("-l")
                .arg(&log)
                .arg(format!("tcp:127.0.0.1:{port}"))
                .spawn()
                .expect("yaz-ztest (scripts/peers.sh installs yaz)"),
            port,
        );
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return ztest;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("yaz-ztest did not listen on {port}");
    }
}

impl Drop for Ztest {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Character set negotiation with two real servers that answer it differently: Zebra takes the
/// proposed UTF-8 for records too; yaz-ztest names ISO-8859-1 for terms only. And yaz-ztest, a
/// second Z39.50 implementation, answers Init, Search and Present to Spindle's client: its hit
/// count is the leading number of the term, its records are its 24 built-in MARC21 records.
#[tokio::test]
async fn charset_negotiation_and_a_second_server() {
    let zebra = Z3950Client::new(z_config("marc21"), &Egress::allow_all()).expect("client");
    let g = zebra.greet().await.expect("Zebra's Init");
    assert_eq!(
        g.charset,
        Some(pdu::Negotiated {
            charset: "UTF-8".into(),
            records: true
        })
    );
    let quiet = Z3950Client::new(
        Z3950Config {
            negotiate_charset: false,
            ..z_config("marc21")
        },
        &Egress::allow_all(),
    )
    .expect("client");
    assert_eq!(quiet.greet().await.expect("Init").charset, None);
    // Negotiated UTF-8 and still the same records (the MARC-8 element set: the bytes decide).
    let marc8 = Catalogue::Z3950(
        Z3950Client::new(
            Z3950Config {
                element_set: "marc8".into(),
                ..z_config("marc21")
            },
            &Egress::allow_all(),
        )
        .expect("client"),
    );
    let (found, _) = marc8.by_record_id("100007").await.expect("100007");
    let bib = spindle_integrations::bib::BibRecord::from_marc(&found[0]);
    assert_eq!(bib.title, "Grundkurs Programmieren in Java für Anfänger");

    let ztest = Ztest::start();
    let client = Z3950Client::new(
        Z3950Config {
            host: "127.0.0.1".into(),
            port: ztest.1,
            database: "Default".into(),
            timeout_secs: 5,
            ..Z3950Config::default()
        },
        &Egress::allow_all(),
    )
    .expect("client");
    let g = client.greet().await.expect("yaz-ztest's Init");
    assert!(g.implementation.contains("YAZ"), "{}", g.implementation);
    assert_eq!(
        g.charset,
        Some(pdu::Negotiated {
            charset: "ISO-8859-1".into(),
            records: false
        })
    );
    let q = |term: &str| pdu::Rpn::Term {
        attributes: vec![(1, 4)],
        term: term.into(),
    };
    let page = client.search(&q("3"), 10).await.expect("a search");
    assert_eq!(page.total, 3);
    assert_eq!(page.records.len(), 3);
    for r in &page.records {
        let bib = spindle_integrations::bib::BibRecord::from_marc(r);
        assert!(!bib.title.is_empty(), "{r:?}");
        assert!(!bib.title.contains('\u{FFFD}'), "{}", bib.title);
    }
    // More hits than it has records: pages of Present until the limit, on one association.
    let page = client.search(&q("30"), 30).await.expect("a long search");
    assert_eq!((page.total, page.records.len()), (30, 30));
    assert_eq!(client.search(&q("0"), 10).await.expect("none").total, 0);
    // The check a librarian sees after saving says what was negotiated.
    let report = Catalogue::Z3950(client).probe().await;
    let said = serde_json::to_string(&report).expect("json");
    assert!(said.contains("ISO-8859-1"), "{said}");
}
