//! A Z39.50 client for catalogue lookups (Init, Search, Present, Close over TCP with BER):
//! the protocol most Chinese library systems (汇文 Libsys, 图创 Interlib, ILAS, 金盘, Aleph)
//! offer for copy cataloguing. Bib-1 use attributes per lookup, USMARC, UNIMARC or MARCXML
//! records, connect / per-answer / whole-request timeouts, a few connections kept per
//! catalogue, the address checked before connecting (see [`crate::egress`]), and Bib-1
//! diagnostics turned into sentences a librarian can act on.

pub mod ber;
pub mod pdu;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;

use crate::marc::charset::Charset;
use crate::marc::{self, Record};
use pdu::{Diagnostic, Records, Response, Retrieved, Rpn};

/// The Bib-1 use attributes for each kind of lookup. Not given, each is Bib-1's own number;
/// the barcode has none in Bib-1, so it is looked up only when the librarian names one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Z3950Attributes {
    pub isbn: u32,
    pub issn: u32,
    pub title: u32,
    pub record_id: u32,
    pub date: u32,
    pub barcode: Option<u32>,
}

impl Default for Z3950Attributes {
    fn default() -> Self {
        Self {
            isbn: 7,
            issn: 8,
            title: 4,
            record_id: 12,
            date: 31,
            barcode: None,
        }
    }
}

impl Z3950Attributes {
    /// The lookup a use attribute serves, for messages.
    fn name_of(&self, use_attr: i64) -> Option<&'static str> {
        let is = |v: u32| i64::from(v) == use_attr;
        if self.barcode.is_some_and(is) {
            Some("barcode")
        } else if is(self.isbn) {
            Some("ISBN")
        } else if is(self.record_id) {
            Some("record id")
        } else if is(self.title) {
            Some("title")
        } else if is(self.date) {
            Some("date")
        } else if is(self.issn) {
            Some("ISSN")
        } else {
            None
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Syntax {
    Usmarc,
    Unimarc,
    Xml,
}

impl Syntax {
    /// The name the settings use.
    pub fn name(self) -> &'static str {
        match self {
            Self::Usmarc => "usmarc",
            Self::Unimarc => "unimarc",
            Self::Xml => "xml",
        }
    }

    fn oid(self) -> &'static [u64] {
        match self {
            Self::Usmarc => pdu::USMARC,
            Self::Unimarc => pdu::UNIMARC,
            Self::Xml => pdu::XML,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Z3950Config {
    pub host: String,
    pub port: u16,
    pub database: String,
    pub syntax: Syntax,
    /// The element set name asked for in Present (`F`, full, unless the server wants another).
    pub element_set: String,
    pub attributes: Z3950Attributes,
    /// For servers that ask for an account in Init (idAuthentication idPass).
    pub user: Option<String>,
    pub group: Option<String>,
    /// Never answered back by the API.
    pub password: Option<String>,
    pub page_size: u32,
    pub connect_timeout_secs: u64,
    /// The whole lookup: connecting, searching and every Present.
    pub timeout_secs: u64,
    pub retries: u32,
    pub max_response_bytes: usize,
    pub max_concurrent: usize,
    /// Propose UTF-8 in Init (character set negotiation). A server that agrees sends its
    /// records in UTF-8; one that names another set has its records read in that set; one
    /// that ignores the proposal is read by each record's label and bytes. Off for a server
    /// that cannot bear the proposal.
    pub negotiate_charset: bool,
}

impl Default for Z3950Config {
    fn default() -> Self {
        Self {
            host: String::new(),
            port: 210,
            database: String::new(),
            syntax: Syntax::Usmarc,
            element_set: "F".into(),
            attributes: Z3950Attributes::default(),
            user: None,
            group: None,
            password: None,
            page_size: 20,
            connect_timeout_secs: 5,
            timeout_secs: 10,
            retries: 2,
            max_response_bytes: 16 * 1024 * 1024,
            max_concurrent: 4,
            negotiate_charset: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Z3950Error {
    #[error("the catalogue did not answer within {0} s")]
    Timeout(u64),
    #[error("cannot reach the catalogue: {0}")]
    Unreachable(String),
    #[error("the catalogue closed the connection {0}")]
    Closed(String),
    #[error("the catalogue refused the connection (Init): {0}")]
    InitRefused(String),
    #[error("{message} (Bib-1 diagnostic {code}{})", addinfo.as_deref().map(|a| format!(": {a}")).unwrap_or_default())]
    Diagnostic {
        code: i64,
        message: String,
        addinfo: Option<String>,
    },
    #[error("the catalogue's answer is not valid Z39.50: {0}")]
    Malformed(String),
    #[error("the catalogue's answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the catalogue is misconfigured: {0}")]
    Config(String),
    /// Its address is one Spindle does not connect to (see `egress`).
    #[error("{0}")]
    Refused(String),
}

impl Z3950Error {
    /// Worth another try: the network or the server's state, not the request.
    pub fn transient(&self) -> bool {
        match self {
            Self::Timeout(_) | Self::Unreachable(_) | Self::Closed(_) => true,
            // 2: temporary system error. (109, "database unavailable", is what YAZ servers
            // say for a database name they do not have: the settings, not the moment.)
            Self::Diagnostic { code, .. } => *code == 2,
            _ => false,
        }
    }
}

impl From<ber::BerError> for Z3950Error {
    fn from(e: ber::BerError) -> Self {
        Self::Malformed(e.to_string())
    }
}

/// What a Bib-1 diagnostic means for a librarian (the common ones; others by number).
fn explain(d: &Diagnostic, database: &str, attrs: &Z3950Attributes) -> Z3950Error {
    let attr = || {
        let n = d
            .addinfo
            .as_deref()
            .and_then(|a| a.trim().parse::<i64>().ok());
        match n.and_then(|n| attrs.name_of(n).map(|name| (n, name))) {
            Some((n, name)) => format!("use attribute {n} (the {name} lookup)"),
            None => format!(
                "use attribute {}",
                d.addinfo.as_deref().unwrap_or("(not named)")
            ),
        }
    };
    let message = if !d.bib1 {
        "the catalogue reported an error in a diagnostic set Spindle does not know".to_string()
    } else {
        match d.condition {
            1 => "the catalogue reported a permanent system error".into(),
            2 => "the catalogue reported a temporary system error; it will be tried again".into(),
            3 | 10 | 108 => "the catalogue cannot run this kind of search".into(),
            13 => "the catalogue says the records asked for are out of range".into(),
            14 => "the catalogue could not present the records".into(),
            109 => format!(
                "the catalogue has no database {database:?} available: check the database name"
            ),
            113 | 121 => "the catalogue does not support Bib-1 attributes as sent".into(),
            114 => format!(
                "the catalogue does not support searching by {}: set a different attribute or leave this lookup out",
                attr()
            ),
            115..=123 => format!("the catalogue does not accept {} as sent", attr()),
            235 => format!(
                "the catalogue has no database {database:?}: check the database name"
            ),
            236 => format!("the catalogue refuses access to the database {database:?}"),
            238 | 239 => "the catalogue cannot send records in the record syntax asked for: try usmarc, unimarc or xml".into(),
            1010 | 1011 | 1014 => "the catalogue refused the account: check the user and password".into(),
            n => format!("the catalogue reported Bib-1 diagnostic {n}"),
        }
    };
    Z3950Error::Diagnostic {
        code: d.condition,
        message,
        addinfo: d.addinfo.clone(),
    }
}

/// One initialised association.
struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    last_used: Instant,
    /// The set records come in, when negotiated in Init.
    records_in: Option<Charset>,
}

/// An idle connection older than this is not reused (servers drop idle associations).
const IDLE: Duration = Duration::from_secs(30);

impl Conn {
    async fn send(&mut self, apdu: &[u8]) -> Result<(), Z3950Error> {
        self.stream
            .write_all(apdu)
            .await
            .map_err(|e| Z3950Error::Closed(format!("while Spindle was sending ({e})")))
    }

    /// The next whole APDU, at most `limit` bytes.
    async fn receive(&mut self, limit: usize, during: &str) -> Result<Response, Z3950Error> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            if let Some(n) = ber::complete_len(&self.buf)? {
                let rest = self.buf.split_off(n);
                let apdu = std::mem::replace(&mut self.buf, rest);
                return Ok(pdu::decode(&apdu)?);
            }
            if self.buf.len() > limit {
                return Err(Z3950Error::TooLarge(limit));
            }
            let n = self
                .stream
                .read(&mut chunk)
                .await
                .map_err(|e| Z3950Error::Closed(format!("during {during} ({e})")))?;
            if n == 0 {
                return Err(Z3950Error::Closed(format!("during {during}")));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn exchange(
        &mut self,
        apdu: &[u8],
        limit: usize,
        during: &str,
    ) -> Result<Response, Z3950Error> {
        self.send(apdu).await?;
        match self.receive(limit, during).await? {
            Response::Close { reason, message } => Err(Z3950Error::Closed(format!(
                "during {during} (Close, reason {reason}{})",
                message.map(|m| format!(": {m}")).unwrap_or_default()
            ))),
            r => Ok(r),
        }
    }
}

/// One page of results.
#[derive(Debug, Clone)]
pub struct Page {
    pub total: u64,
    pub records: Vec<Record>,
}

#[derive(Clone)]
pub struct Z3950Client {
    config: Arc<Z3950Config>,
    egress: crate::egress::Egress,
    permits: Arc<Semaphore>,
    idle: Arc<Mutex<Vec<Conn>>>,
}

/// What the server said about itself at Init.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Greeting {
    pub implementation: String,
    /// The character set negotiated in Init, when the server took part.
    pub charset: Option<pdu::Negotiated>,
}

impl Z3950Client {
    pub fn new(config: Z3950Config, egress: &crate::egress::Egress) -> Result<Self, Z3950Error> {
        let bare = bare_host(&config.host);
        if bare.is_empty()
            || bare.contains(['/', ':', ' ', '[', ']'])
                && bare.parse::<std::net::Ipv6Addr>().is_err()
        {
            return Err(Z3950Error::Config(format!(
                "{:?} is not a host name or address",
                config.host
            )));
        }
        if config.port == 0 {
            return Err(Z3950Error::Config("the port must be 1 to 65535".into()));
        }
        if config.database.trim().is_empty() {
            return Err(Z3950Error::Config("the database name is empty".into()));
        }
        if config.page_size == 0 || config.max_concurrent == 0 || config.timeout_secs == 0 {
            return Err(Z3950Error::Config(
                "page_size, max_concurrent and timeout_secs must be positive".into(),
            ));
        }
        Ok(Self {
            egress: egress.clone(),
            permits: Arc::new(Semaphore::new(config.max_concurrent)),
            idle: Arc::new(Mutex::new(Vec::new())),
            config: Arc::new(config),
        })
    }

    pub fn config(&self) -> &Z3950Config {
        &self.config
    }

    fn limit(&self) -> usize {
        self.config.max_response_bytes
    }

    /// Resolves the host, checks every address against the egress rule (before any
    /// connection is made), connects to the first that answers and runs Init.
    async fn connect(&self) -> Result<(Conn, Greeting), Z3950Error> {
        let c = &self.config;
        let host = bare_host(&c.host);
        let secs = c.connect_timeout_secs.max(1);
        let addrs: Vec<std::net::SocketAddr> = tokio::time::timeout(
            Duration::from_secs(secs),
            tokio::net::lookup_host((host, c.port)),
        )
        .await
        .map_err(|_| Z3950Error::Timeout(secs))?
        .map_err(|e| Z3950Error::Unreachable(format!("{host}: {e}")))?
        .collect();
        for a in &addrs {
            self.egress
                .check(host, a.ip())
                .map_err(|r| Z3950Error::Refused(r.to_string()))?;
        }
        let mut last = Z3950Error::Unreachable(format!("{host} has no address"));
        for a in addrs {
            match tokio::time::timeout(Duration::from_secs(secs), TcpStream::connect(a)).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    let mut conn = Conn {
                        stream,
                        buf: Vec::new(),
                        last_used: Instant::now(),
                        records_in: None,
                    };
                    let init = pdu::init_request(&pdu::InitRequest {
                        message_size: i64::try_from(c.max_response_bytes).unwrap_or(i64::MAX),
                        user: c.user.as_deref(),
                        group: c.group.as_deref(),
                        password: c.password.as_deref(),
                        propose_utf8: c.negotiate_charset,
                    });
                    return match conn.exchange(&init, self.limit(), "Init").await? {
                        Response::Init {
                            accepted: true,
                            implementation,
                            options,
                            charset,
                        } => {
                            if !(options.first() == Some(&true) && options.get(1) == Some(&true)) {
                                return Err(Z3950Error::InitRefused(
                                    "the server does not offer both search and present".into(),
                                ));
                            }
                            conn.records_in = charset
                                .as_ref()
                                .filter(|n| n.records)
                                .and_then(|n| Charset::named(&n.charset));
                            Ok((
                                conn,
                                Greeting {
                                    implementation,
                                    charset,
                                },
                            ))
                        }
                        Response::Init { implementation, .. } => {
                            Err(Z3950Error::InitRefused(if c.user.is_some() {
                                format!(
                                    "{implementation} refused the session: check the user and password"
                                )
                            } else {
                                format!(
                                    "{implementation} refused the session: it may need a user and password"
                                )
                            }))
                        }
                        other => Err(Z3950Error::Malformed(format!(
                            "{} in answer to Init",
                            describe(&other)
                        ))),
                    };
                }
                Ok(Err(e)) => last = Z3950Error::Unreachable(format!("{a}: {e}")),
                Err(_) => last = Z3950Error::Timeout(secs),
            }
        }
        Err(last)
    }

    /// An idle connection young enough to reuse, else a new one.
    async fn checkout(&self) -> Result<(Conn, bool), Z3950Error> {
        let reused = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            idle.retain(|c| c.last_used.elapsed() < IDLE);
            idle.pop()
        };
        match reused {
            Some(c) => Ok((c, true)),
            None => Ok((self.connect().await?.0, false)),
        }
    }

    fn checkin(&self, mut conn: Conn) {
        conn.last_used = Instant::now();
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < self.config.max_concurrent {
            idle.push(conn);
        }
    }

    /// Init alone: what the server is, for checking settings.
    pub async fn greet(&self) -> Result<Greeting, Z3950Error> {
        let secs = self.config.timeout_secs;
        let (conn, greeting) = tokio::time::timeout(Duration::from_secs(secs), self.connect())
            .await
            .map_err(|_| Z3950Error::Timeout(secs))??;
        self.checkin(conn);
        Ok(greeting)
    }

    /// Search, then Present pages until `limit` records or the result set's end.
    async fn run(&self, conn: &mut Conn, query: &Rpn, limit: usize) -> Result<Page, Z3950Error> {
        let c = &self.config;
        let request = pdu::search_request(c.database.trim(), query);
        let total = match conn.exchange(&request, self.limit(), "Search").await? {
            Response::Search {
                records: Records::Diagnostics(d),
                ..
            } => return Err(self.diagnostic(&d)),
            Response::Search { success: false, .. } => {
                return Err(Z3950Error::Diagnostic {
                    code: 0,
                    message: "the catalogue says the search failed and gave no reason".into(),
                    addinfo: None,
                });
            }
            Response::Search { count, .. } => u64::try_from(count).unwrap_or(0),
            other => {
                return Err(Z3950Error::Malformed(format!(
                    "{} in answer to Search",
                    describe(&other)
                )));
            }
        };
        let want = (total.min(limit as u64)) as usize;
        let mut records = Vec::new();
        while records.len() < want {
            let start = records.len() as i64 + 1;
            let count = (want - records.len()).min(c.page_size as usize) as i64;
            let request = pdu::present_request(start, count, c.element_set.trim(), c.syntax.oid());
            let got = match conn.exchange(&request, self.limit(), "Present").await? {
                Response::Present {
                    records: Records::Diagnostics(d),
                    ..
                } => return Err(self.diagnostic(&d)),
                Response::Present {
                    records: Records::Some(r),
                    ..
                } => r,
                Response::Present { .. } => Vec::new(),
                other => {
                    return Err(Z3950Error::Malformed(format!(
                        "{} in answer to Present",
                        describe(&other)
                    )));
                }
            };
            if got.is_empty() {
                break;
            }
            for r in got {
                records.push(self.record(r, conn.records_in)?);
            }
        }
        Ok(Page {
            total,
            records: records.into_iter().flatten().collect(),
        })
    }

    fn diagnostic(&self, d: &[Diagnostic]) -> Z3950Error {
        match d.first() {
            Some(d) => explain(d, self.config.database.trim(), &self.config.attributes),
            None => Z3950Error::Malformed("an empty list of diagnostics".into()),
        }
    }

    /// A retrieved record as MARC (ISO 2709 in any MARC syntax the server names, or
    /// MARCXML); a surrogate diagnostic for one record is an error for the lookup.
    fn record(&self, r: Retrieved, records_in: Option<Charset>) -> Result<Vec<Record>, Z3950Error> {
        match r {
            Retrieved::Diagnostic(d) => Err(self.diagnostic(&[d])),
            Retrieved::Record { syntax, data } if Retrieved::is_marc(&syntax) => {
                marc::parse_iso2709_in(&data, records_in)
                    .map_err(|e| Z3950Error::Malformed(e.to_string()))
            }
            Retrieved::Record { syntax, data } if syntax == pdu::XML => {
                marc::parse_marcxml(&String::from_utf8_lossy(&data))
                    .map_err(|e| Z3950Error::Malformed(e.to_string()))
            }
            Retrieved::Record { syntax, .. } => Err(Z3950Error::Malformed(format!(
                "a record in syntax {}, not MARC",
                syntax
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(".")
            ))),
        }
    }

    /// One lookup on a pooled connection, within the whole-request timeout; a reused
    /// connection the server has dropped meanwhile is replaced once, silently.
    async fn search_once(&self, query: &Rpn, limit: usize) -> Result<Page, Z3950Error> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Z3950Error::Config("client closed".into()))?;
        let secs = self.config.timeout_secs;
        let work = async {
            let (mut conn, reused) = self.checkout().await?;
            let mut result = self.run(&mut conn, query, limit).await;
            if reused && matches!(result, Err(Z3950Error::Closed(_))) {
                conn = self.connect().await?.0;
                result = self.run(&mut conn, query, limit).await;
            }
            // A connection is kept only after a clean exchange; after anything else the
            // stream's position in the conversation is unknown.
            if result.is_ok() || matches!(result, Err(Z3950Error::Diagnostic { .. })) {
                self.checkin(conn);
            }
            result
        };
        tokio::time::timeout(Duration::from_secs(secs), work)
            .await
            .map_err(|_| Z3950Error::Timeout(secs))?
    }

    /// Every record the query finds, up to `limit`, retrying transient failures.
    pub async fn search(&self, query: &Rpn, limit: usize) -> Result<Page, Z3950Error> {
        crate::retry::with_backoff(self.config.retries, "Z39.50", Z3950Error::transient, || {
            self.search_once(query, limit)
        })
        .await
    }

    fn term(use_attr: u32, term: &str) -> Rpn {
        Rpn::Term {
            attributes: vec![(1, i64::from(use_attr))],
            term: term.to_string(),
        }
    }

    /// The query for any of the ISBN forms (servers match only the form as catalogued).
    pub fn isbn_query(&self, forms: &[String]) -> Option<Rpn> {
        Rpn::any_of(&[(1, i64::from(self.config.attributes.isbn))], forms)
    }

    /// The barcode query, when the librarian named the barcode's attribute.
    pub fn barcode_query(&self, barcode: &str) -> Option<Rpn> {
        self.config
            .attributes
            .barcode
            .map(|a| Self::term(a, barcode))
    }

    pub fn record_id_query(&self, id: &str) -> Rpn {
        Self::term(self.config.attributes.record_id, id)
    }

    /// Title words (structure: word list) and the year.
    pub fn title_year_query(&self, title: &str, year: Option<i32>) -> Rpn {
        let a = &self.config.attributes;
        let t = Rpn::Term {
            attributes: vec![(1, i64::from(a.title)), (4, 6)],
            term: title.to_string(),
        };
        match year {
            Some(y) => Rpn::And(Box::new(t), Box::new(Self::term(a.date, &y.to_string()))),
            None => t,
        }
    }
}

/// The host without the brackets an IPv6 address may come in, as in a URL (`[::1]`).
fn bare_host(host: &str) -> &str {
    let host = host.trim();
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

fn describe(r: &Response) -> String {
    match r {
        Response::Init { .. } => "an InitResponse".into(),
        Response::Search { .. } => "a SearchResponse".into(),
        Response::Present { .. } => "a PresentResponse".into(),
        Response::Close { .. } => "a Close".into(),
        Response::Other(tag) => format!("APDU [{tag}]"),
    }
}
