//! The SRU client against a real Zebra (started by scripts/test.sh with the test catalogue),
//! and against deliberately broken servers for what Zebra will not do (hang, 500, garbage).

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{ids, manifest, strings};
use spindle_integrations::bib::BibRecord;
use spindle_integrations::isbn::Isbn;
use spindle_integrations::sru::{SruClient, SruConfig, SruError, SruVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn zebra() -> String {
    std::env::var("SPINDLE_TEST_ZEBRA_URL").unwrap_or_else(|_| {
        panic!("SPINDLE_TEST_ZEBRA_URL is not set: run the suite with scripts/test.sh, which starts Zebra on loopback")
    })
}

fn client(db: &str, tweak: impl FnOnce(&mut SruConfig)) -> SruClient {
    let mut c = SruConfig {
        url: format!("{}/{db}", zebra()),
        ..SruConfig::default()
    };
    c.indexes.barcode = "local.barcode".into();
    tweak(&mut c);
    SruClient::new(c, &spindle_integrations::egress::Egress::allow_all()).expect("client")
}

#[tokio::test]
async fn every_isbn_and_barcode_finds_its_record() {
    for m in manifest() {
        let id = m["id"].as_str().unwrap_or_default().to_string();
        let sru = client(m["flavour"].as_str().unwrap_or_default(), |_| {});
        for isbn in strings(&m["isbn13"]) {
            let parsed = Isbn::parse(&isbn).expect("manifest ISBN");
            let mut forms = vec![parsed.isbn13()];
            forms.extend(parsed.isbn10());
            let found = ids(&sru.by_isbns(&forms).await.expect("search"));
            assert!(found.contains(&id), "{id}: ISBN {isbn} found {found:?}");
        }
        for raw in strings(&m["raw_isbns"]) {
            let found = ids(&sru
                .by_isbns(std::slice::from_ref(&raw))
                .await
                .expect("search"));
            assert!(
                found.contains(&id),
                "{id}: raw ISBN key {raw} found {found:?}"
            );
        }
        for b in strings(&m["book_barcodes"])
            .into_iter()
            .chain(strings(&m["disc_barcodes"]))
        {
            let found = ids(&sru.by_barcode(&b).await.expect("search"));
            assert!(found.contains(&id), "{id}: barcode {b} found {found:?}");
        }
        let records = sru.by_record_id(&id).await.expect("search");
        assert_eq!(ids(&records), BTreeSet::from([id.clone()]));
        // What came over SRU maps like the file it was indexed from.
        let bib = BibRecord::from_marc(&records[0]);
        assert_eq!(
            i64::from(bib.discs.count),
            m["discs"].as_i64().unwrap_or(-1),
            "{id}"
        );
    }
}

#[tokio::test]
async fn servers_match_isbns_only_as_catalogued() {
    let sru = client("marc21", |_| {});
    // 100001 stores only the ISBN-10: the ISBN-13 alone finds nothing, both forms find the
    // book and its separately catalogued disc (773 $z).
    let alone = sru
        .by_isbns(&["9780131465275".into()])
        .await
        .expect("search");
    assert!(alone.is_empty());
    let both = sru
        .by_isbns(&["9780131465275".into(), "0131465279".into()])
        .await
        .expect("search");
    assert_eq!(
        ids(&both),
        BTreeSet::from(["100001".to_string(), "100010".to_string()])
    );
    let hyphenated = sru
        .by_isbns(&["0-13-146527-9".into()])
        .await
        .expect("search");
    assert!(
        hyphenated.is_empty(),
        "hyphens split into words on the server"
    );
}

#[tokio::test]
async fn title_year_and_vernacular() {
    let sru = client("marc21", |_| {});
    let found = sru
        .by_title_year("Laboratory manual for general physics", Some(2014))
        .await
        .expect("search");
    assert_eq!(ids(&found), BTreeSet::from(["100013".to_string()]));
    let found = sru
        .by_title_year("数据库原理与应用教程", None)
        .await
        .expect("search");
    assert_eq!(ids(&found), BTreeSet::from(["100021".to_string()]));
    let uni = client("unimarc", |_| {});
    let found = uni
        .by_title_year("大学英语听说教程", Some(2010))
        .await
        .expect("search");
    assert_eq!(ids(&found), BTreeSet::from(["012010000116".to_string()]));
}

#[tokio::test]
async fn every_version_gives_the_same_answer() {
    let mut answers = Vec::new();
    for v in [SruVersion::V1_1, SruVersion::V1_2, SruVersion::V2_0] {
        let sru = client("unimarc", |c| c.version = v);
        answers.push(ids(&sru.by_barcode("G00101001").await.expect("search")));
    }
    assert_eq!(
        answers[0],
        BTreeSet::from(["012015000101".to_string(), "012015000112".to_string()])
    );
    assert!(answers.iter().all(|a| *a == answers[0]), "{answers:?}");
}

#[tokio::test]
async fn paging_follows_number_of_records() {
    let sru = client("unimarc", |c| c.page_size = 3);
    let count = sru
        .search("local.material=光盘", 1, 0)
        .await
        .expect("count")
        .total;
    assert!(count > 6, "enough hits to page: {count}");
    let all = sru
        .search_all("local.material=光盘", 1000)
        .await
        .expect("all");
    assert_eq!(all.len() as u64, count);
    assert_eq!(ids(&all).len() as u64, count, "no page repeated");
    // Past the end the server says diagnostic 61.
    let past = sru.search("local.material=光盘", count as u32 + 5, 3).await;
    assert!(
        matches!(past, Err(SruError::Diagnostic { code: 61, .. })),
        "{past:?}"
    );
}

#[tokio::test]
async fn diagnostics_and_wrong_paths_are_typed() {
    let sru = client("marc21", |_| {});
    let e = sru
        .search("dc.foo=bar", 1, 1)
        .await
        .expect_err("unknown index");
    assert!(matches!(e, SruError::Diagnostic { code: 16, .. }), "{e}");
    let e = sru
        .search("dc.date>=2015", 1, 1)
        .await
        .expect_err(">= on YAZ");
    assert!(matches!(e, SruError::Diagnostic { code: 19, .. }), "{e}");
    let e = sru.search("dc.title=(", 1, 1).await.expect_err("syntax");
    assert!(matches!(e, SruError::Diagnostic { code: 10, .. }), "{e}");
    let wrong = client("nosuchdb", |_| {});
    let e = wrong.search("rec.id=1", 1, 1).await.expect_err("404");
    assert!(matches!(e, SruError::WrongDatabase(_)), "{e}");
    assert!(e.to_string().contains("database path"));
}

/// A server that answers every connection with `response` (or never, when None), counting
/// connections.
async fn stub(
    responses: Vec<Option<Vec<u8>>>,
) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = count.clone();
    tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let n = seen.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let response = responses.get(n.min(responses.len() - 1)).cloned().flatten();
            let mut buf = [0u8; 4096];
            let _ = sock.read(&mut buf).await;
            match response {
                Some(r) => {
                    let _ = sock.write_all(&r).await;
                    let _ = sock.shutdown().await;
                }
                None => held.push(sock), // hang: keep the socket open, say nothing
            }
        }
    });
    (format!("http://{addr}/db"), count)
}

fn http(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

fn stub_client(url: String) -> SruClient {
    SruClient::new(
        SruConfig {
            url,
            timeout_secs: 1,
            retries: 1,
            max_response_bytes: 64 * 1024,
            ..SruConfig::default()
        },
        &spindle_integrations::egress::Egress::allow_all(),
    )
    .expect("client")
}

#[tokio::test]
async fn broken_servers_give_clear_errors() {
    let ok = br#"<zs:searchRetrieveResponse xmlns:zs="http://www.loc.gov/zing/srw/"><zs:numberOfRecords>0</zs:numberOfRecords></zs:searchRetrieveResponse>"#;

    let (url, _) = stub(vec![None]).await;
    let started = Instant::now();
    let e = stub_client(url)
        .search("rec.id=1", 1, 1)
        .await
        .expect_err("hangs");
    assert!(matches!(e, SruError::Timeout(1)), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "one retry, bounded: {:?}",
        started.elapsed()
    );

    let (url, _) = stub(vec![Some(http(
        "500 Internal Server Error",
        "text/html",
        b"<html>boom</html>",
    ))])
    .await;
    let e = stub_client(url)
        .search("rec.id=1", 1, 1)
        .await
        .expect_err("500");
    assert!(matches!(e, SruError::Http { status: 500, .. }), "{e}");

    let (url, _) = stub(vec![Some(http(
        "200 OK",
        "text/xml",
        b"<zs:searchRetrieveResponse><unclosed>",
    ))])
    .await;
    let e = stub_client(url)
        .search("rec.id=1", 1, 1)
        .await
        .expect_err("malformed");
    assert!(matches!(e, SruError::Malformed(_)), "{e}");

    let (url, _) = stub(vec![Some(http(
        "200 OK",
        "text/html",
        b"<html><body>Login</body></html>",
    ))])
    .await;
    let e = stub_client(url)
        .search("rec.id=1", 1, 1)
        .await
        .expect_err("html");
    assert!(matches!(e, SruError::Malformed(_)), "{e}");

    let big = vec![b'x'; 200 * 1024];
    let (url, _) = stub(vec![Some(http("200 OK", "text/xml", &big))]).await;
    let e = stub_client(url)
        .search("rec.id=1", 1, 1)
        .await
        .expect_err("too large");
    assert!(matches!(e, SruError::TooLarge(_)), "{e}");

    // A 503 then a good answer: retried once, and the answer is used.
    let (url, count) = stub(vec![
        Some(http("503 Service Unavailable", "text/plain", b"busy")),
        Some(http("200 OK", "text/xml", ok)),
    ])
    .await;
    let page = stub_client(url)
        .search("rec.id=1", 1, 1)
        .await
        .expect("retried");
    assert_eq!(page.total, 0);
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 2);

    assert!(matches!(
        SruClient::new(
            SruConfig::default(),
            &spindle_integrations::egress::Egress::allow_all()
        ),
        Err(SruError::Config(_))
    ));
}
