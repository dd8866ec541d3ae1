//! An SRU 1.1 / 1.2 / 2.0 client for catalogue lookups: CQL in, MARC records out. It reads
//! both response namespaces, turns diagnostics into typed errors, pages by
//! `numberOfRecords` (YAZ servers never send `nextRecordPosition`) and treats diagnostic 61
//! as the end, knows a YAZ 404 HTML page for a wrong database path, caps the response size,
//! times out, retries transient failures with backoff, and limits concurrent requests per
//! catalogue.

use std::sync::Arc;

use roxmltree::{Document, Node, ParsingOptions};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use crate::http::FetchError;
use crate::marc::{self, MarcError, Record};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum SruVersion {
    #[serde(rename = "1.1")]
    V1_1,
    #[serde(rename = "1.2")]
    V1_2,
    #[serde(rename = "2.0")]
    V2_0,
}

/// `"1.2"` or `1.2`: a version written as a number in JSON is accepted too.
impl<'de> Deserialize<'de> for SruVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Given {
            Text(String),
            Number(f64),
        }
        let text = match Given::deserialize(d)? {
            Given::Text(t) => t,
            Given::Number(n) => format!("{n:.1}"),
        };
        match text.trim() {
            "1.1" => Ok(Self::V1_1),
            "1.2" => Ok(Self::V1_2),
            "2.0" | "2" => Ok(Self::V2_0),
            other => Err(serde::de::Error::custom(format!(
                "SRU version {other:?}: 1.1, 1.2 or 2.0"
            ))),
        }
    }
}

impl SruVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V1_1 => "1.1",
            Self::V1_2 => "1.2",
            Self::V2_0 => "2.0",
        }
    }
}

/// The CQL index names a catalogue uses for each kind of lookup (they differ per server:
/// `bath.isbn` or `alma.isbn`, `local.barcode` or `dc.barcode`…). The barcode index is
/// `none` unless given: no barcode lookup is made.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SruIndexes {
    pub isbn: String,
    pub barcode: String,
    pub record_id: String,
    pub title: String,
    pub date: String,
}

impl Default for SruIndexes {
    fn default() -> Self {
        Self {
            isbn: "bath.isbn".into(),
            // Barcode indexes differ per system and many have none: ask the librarian.
            barcode: "none".into(),
            record_id: "rec.id".into(),
            title: "dc.title".into(),
            date: "dc.date".into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SruConfig {
    /// The database URL, e.g. `http://opac.example.edu:9998/biblios`.
    pub url: String,
    pub version: SruVersion,
    pub record_schema: String,
    pub page_size: u32,
    pub timeout_secs: u64,
    pub retries: u32,
    pub max_response_bytes: usize,
    pub max_concurrent: usize,
    pub indexes: SruIndexes,
}

impl Default for SruConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            version: SruVersion::V1_2,
            record_schema: "marcxml".into(),
            page_size: 50,
            timeout_secs: 10,
            retries: 2,
            max_response_bytes: 16 * 1024 * 1024,
            max_concurrent: 4,
            indexes: SruIndexes::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SruError {
    #[error("the catalogue did not answer within {0} s")]
    Timeout(u64),
    #[error("cannot reach the catalogue: {0}")]
    Unreachable(String),
    #[error("the catalogue has no database at {0} (HTTP 404): check the database path")]
    WrongDatabase(String),
    #[error("the catalogue answered HTTP {status}: {detail}")]
    Http { status: u16, detail: String },
    #[error("SRU diagnostic {code} ({message}{})", details.as_deref().map(|d| format!(": {d}")).unwrap_or_default())]
    Diagnostic {
        code: u32,
        message: String,
        details: Option<String>,
    },
    #[error("the catalogue's answer is not a valid SRU response: {0}")]
    Malformed(String),
    #[error("the catalogue's answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the catalogue is misconfigured: {0}")]
    Config(String),
    /// Its address is one Spindle does not connect to (see `egress`).
    #[error("{0}")]
    Refused(String),
}

/// A failed GET, as an SRU error (`secs`: the timeout that ran out).
fn fetch_error(e: FetchError, secs: u64) -> SruError {
    match e {
        FetchError::Timeout => SruError::Timeout(secs),
        FetchError::Unreachable(m) => SruError::Unreachable(m),
        FetchError::TooLarge(n) => SruError::TooLarge(n),
        FetchError::Refused(m) => SruError::Refused(m),
    }
}

impl SruError {
    /// Worth another try: the network or the server, not the request.
    fn transient(&self) -> bool {
        matches!(self, Self::Timeout(_) | Self::Unreachable(_))
            || matches!(self, Self::Http { status, .. } if *status >= 500)
    }
}

impl From<MarcError> for SruError {
    fn from(e: MarcError) -> Self {
        Self::Malformed(e.to_string())
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page {
    pub total: u64,
    pub records: Vec<Record>,
}

/// Diagnostic 61: "first record position out of range", the end of the list.
const END_OF_LIST: u32 = 61;

#[derive(Clone)]
pub struct SruClient {
    http: crate::http::Fetcher,
    config: Arc<SruConfig>,
    permits: Arc<Semaphore>,
}

/// A CQL term, quoted when it needs to be.
pub fn cql_term(term: &str) -> String {
    let plain = !term.is_empty()
        && term
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_' | '+'));
    if plain {
        term.to_string()
    } else {
        format!("\"{}\"", term.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

fn local<'a>(n: &Node<'a, '_>) -> &'a str {
    n.tag_name().name()
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.is_element() && local(c) == name)
}

fn text_of(n: Option<Node<'_, '_>>) -> Option<String> {
    n.and_then(|n| n.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// Reads a searchRetrieve response of any SRU version.
pub fn parse_response(body: &str) -> Result<Page, SruError> {
    let doc = Document::parse_with_options(
        body,
        ParsingOptions {
            allow_dtd: false,
            nodes_limit: 10_000_000,
        },
    )
    .map_err(|e| SruError::Malformed(e.to_string()))?;
    let root = doc.root_element();
    if local(&root) != "searchRetrieveResponse" {
        return Err(SruError::Malformed(format!(
            "root element <{}>",
            local(&root)
        )));
    }
    if let Some(d) = root
        .descendants()
        .find(|n| n.is_element() && local(n) == "diagnostic")
    {
        let uri = text_of(child(d, "uri")).unwrap_or_default();
        let code = uri
            .rsplit('/')
            .next()
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        return Err(SruError::Diagnostic {
            code,
            message: text_of(child(d, "message")).unwrap_or_else(|| uri.clone()),
            details: text_of(child(d, "details")),
        });
    }
    let total = text_of(child(root, "numberOfRecords"))
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| SruError::Malformed("no numberOfRecords".into()))?;
    let mut records = Vec::new();
    if let Some(list) = child(root, "records") {
        for rec in list
            .children()
            .filter(|n| n.is_element() && local(n) == "record")
        {
            let Some(data) = child(rec, "recordData") else {
                continue;
            };
            let inline = marc::records_in(data)?;
            if inline.is_empty() {
                // recordPacking=string / recordXMLEscaping=string: the record is text.
                if let Some(t) = data.text().filter(|t| !t.trim().is_empty()) {
                    records.extend(marc::parse_marcxml(t)?);
                }
            } else {
                records.extend(inline);
            }
        }
    }
    Ok(Page { total, records })
}

impl SruClient {
    pub fn new(config: SruConfig, egress: &crate::egress::Egress) -> Result<Self, SruError> {
        let http = crate::http::Fetcher::new(
            &config.url,
            egress,
            config.timeout_secs,
            config.max_response_bytes,
        )
        .map_err(SruError::Config)?;
        if config.page_size == 0 || config.max_concurrent == 0 {
            return Err(SruError::Config(
                "page_size and max_concurrent must be positive".into(),
            ));
        }
        Ok(Self {
            http,
            permits: Arc::new(Semaphore::new(config.max_concurrent)),
            config: Arc::new(config),
        })
    }

    pub fn config(&self) -> &SruConfig {
        &self.config
    }

    fn params(&self, cql: &str, start: u32, max: u32) -> Vec<(&'static str, String)> {
        let c = &self.config;
        let mut p = vec![
            ("version", c.version.as_str().to_string()),
            ("query", cql.to_string()),
            ("startRecord", start.to_string()),
            ("maximumRecords", max.to_string()),
            ("recordSchema", c.record_schema.clone()),
        ];
        match c.version {
            SruVersion::V2_0 => p.push(("recordXMLEscaping", "xml".into())),
            _ => {
                p.push(("operation", "searchRetrieve".into()));
                p.push(("recordPacking", "xml".into()));
            }
        }
        p
    }

    async fn fetch_once(&self, cql: &str, start: u32, max: u32) -> Result<String, SruError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SruError::Config("client closed".into()))?;
        let secs = self.config.timeout_secs;
        let url = reqwest::Url::parse_with_params(&self.config.url, self.params(cql, start, max))
            .map_err(|e| SruError::Config(format!("{:?}: {e}", self.config.url)))?;
        let fetched = self.http.get(url).await.map_err(|e| fetch_error(e, secs))?;
        if fetched.status == 404 {
            return Err(SruError::WrongDatabase(self.config.url.clone()));
        }
        if !(200..300).contains(&fetched.status) {
            let detail: String = fetched.text.chars().take(200).collect();
            return Err(SruError::Http {
                status: fetched.status,
                detail,
            });
        }
        if fetched.html {
            return Err(SruError::Malformed("an HTML page instead of XML".into()));
        }
        Ok(fetched.text)
    }

    /// The server's explain record: whether the URL is an SRU database at all.
    pub async fn explain(&self) -> Result<(), SruError> {
        let secs = self.config.timeout_secs;
        let params = [
            ("operation", "explain"),
            ("version", self.config.version.as_str()),
        ];
        let url = reqwest::Url::parse_with_params(&self.config.url, params)
            .map_err(|e| SruError::Config(format!("{:?}: {e}", self.config.url)))?;
        let fetched = self.http.get(url).await.map_err(|e| fetch_error(e, secs))?;
        match fetched.status {
            404 => Err(SruError::WrongDatabase(self.config.url.clone())),
            200..300 if !fetched.html && fetched.text.contains("explainResponse") => Ok(()),
            200..300 => Err(SruError::Malformed(
                "no explainResponse: the address is not an SRU database".into(),
            )),
            status => Err(SruError::Http {
                status,
                detail: fetched.text.chars().take(200).collect(),
            }),
        }
    }

    /// One page: `max` records from position `start` (1-based).
    pub async fn search(&self, cql: &str, start: u32, max: u32) -> Result<Page, SruError> {
        crate::retry::with_backoff(self.config.retries, "SRU", SruError::transient, || async {
            parse_response(&self.fetch_once(cql, start, max).await?)
        })
        .await
    }

    /// Every record the query finds, up to `limit`, paging by `numberOfRecords`.
    pub async fn search_all(&self, cql: &str, limit: usize) -> Result<Vec<Record>, SruError> {
        let mut out = Vec::new();
        let mut start = 1u32;
        loop {
            let want = self.config.page_size.min((limit - out.len()).max(1) as u32);
            let page = match self.search(cql, start, want).await {
                Ok(p) => p,
                Err(SruError::Diagnostic {
                    code: END_OF_LIST, ..
                }) => break,
                Err(e) => return Err(e),
            };
            let got = page.records.len();
            out.extend(page.records);
            start += got as u32;
            if got == 0 || u64::from(start) > page.total || out.len() >= limit {
                break;
            }
        }
        out.truncate(limit);
        Ok(out)
    }

    /// The CQL for any of the ISBN forms (servers match only the form as catalogued).
    pub fn isbn_cql(&self, forms: &[String]) -> String {
        forms
            .iter()
            .map(|t| format!("{}={}", self.config.indexes.isbn, cql_term(t)))
            .collect::<Vec<_>>()
            .join(" or ")
    }

    pub fn barcode_cql(&self, barcode: &str) -> String {
        format!("{}={}", self.config.indexes.barcode, cql_term(barcode))
    }

    pub fn record_id_cql(&self, id: &str) -> String {
        format!("{}={}", self.config.indexes.record_id, cql_term(id))
    }

    pub fn title_year_cql(&self, title: &str, year: Option<i32>) -> String {
        let mut cql = format!("{}={}", self.config.indexes.title, cql_term(title));
        if let Some(y) = year {
            cql.push_str(&format!(" and {}={y}", self.config.indexes.date));
        }
        cql
    }

    /// Records carrying any of the ISBN forms (ask for ISBN-13 and ISBN-10).
    pub async fn by_isbns(&self, forms: &[String]) -> Result<Vec<Record>, SruError> {
        if forms.is_empty() {
            return Ok(Vec::new());
        }
        self.search_all(&self.isbn_cql(forms), 100).await
    }

    pub async fn by_barcode(&self, barcode: &str) -> Result<Vec<Record>, SruError> {
        self.search_all(&self.barcode_cql(barcode), 100).await
    }

    pub async fn by_record_id(&self, id: &str) -> Result<Vec<Record>, SruError> {
        self.search_all(&self.record_id_cql(id), 10).await
    }

    /// Title words and the year: the fallback when a book has no usable identifier.
    pub async fn by_title_year(
        &self,
        title: &str,
        year: Option<i32>,
    ) -> Result<Vec<Record>, SruError> {
        self.search_all(&self.title_year_cql(title, year), 50).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_namespaces_and_diagnostics() {
        let v12 = r#"<zs:searchRetrieveResponse xmlns:zs="http://www.loc.gov/zing/srw/"><zs:version>1.2</zs:version><zs:numberOfRecords>3</zs:numberOfRecords></zs:searchRetrieveResponse>"#;
        assert_eq!(parse_response(v12).expect("1.2").total, 3);
        let diag = r#"<zs:searchRetrieveResponse xmlns:zs="http://docs.oasis-open.org/ns/search-ws/sruResponse"><zs:diagnostics xmlns:diag="http://docs.oasis-open.org/ns/search-ws/diagnostic"><diag:diagnostic><diag:uri>info:srw/diagnostic/1/16</diag:uri><diag:message>Unsupported index</diag:message></diag:diagnostic></zs:diagnostics></zs:searchRetrieveResponse>"#;
        assert!(matches!(
            parse_response(diag),
            Err(SruError::Diagnostic { code: 16, .. })
        ));
        assert!(matches!(
            parse_response("<html/>"),
            Err(SruError::Malformed(_))
        ));
        assert!(matches!(
            parse_response("not xml"),
            Err(SruError::Malformed(_))
        ));
        assert_eq!(cql_term("978-7-115"), "978-7-115");
        assert_eq!(cql_term("a \"b\""), "\"a \\\"b\\\"\"");
    }
}
