//! A member's catalogue, whichever protocol it speaks: the lookups linking makes (barcode,
//! record id, ISBN forms, title and year), each answering the records found and the query
//! as sent (CQL for SRU, prefix notation for Z39.50) for the librarian's explanation.

use crate::marc::Record;
use crate::sru::{SruClient, SruError};
use crate::z3950::{Z3950Client, Z3950Error};

#[derive(Clone)]
pub enum Catalogue {
    Sru(SruClient),
    Z3950(Z3950Client),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Sru(#[from] SruError),
    #[error(transparent)]
    Z3950(#[from] Z3950Error),
}

impl LookupError {
    /// The catalogue could not be reached or did not answer: try the disc again later
    /// rather than record an outcome.
    pub fn try_later(&self) -> bool {
        match self {
            Self::Sru(e) => matches!(
                e,
                SruError::Timeout(_) | SruError::Unreachable(_) | SruError::Http { .. }
            ),
            Self::Z3950(e) => e.transient(),
        }
    }

    /// The catalogue refused this one query (an index or attribute it does not support):
    /// the other lookups may still work.
    pub fn query_refused(&self) -> bool {
        match self {
            // 16 unsupported index, 4/10 query syntax (a CQL index the server cannot map).
            Self::Sru(SruError::Diagnostic { code, .. }) => matches!(code, 4 | 10 | 16 | 19),
            Self::Z3950(Z3950Error::Diagnostic { code, .. }) => (113..=123).contains(code),
            _ => false,
        }
    }
}

/// Records found and the query that found them.
pub type Found = (Vec<Record>, String);

impl Catalogue {
    /// The barcode lookup, when the catalogue has one configured (`None` otherwise).
    pub async fn by_barcode(&self, barcode: &str) -> Result<Option<Found>, LookupError> {
        match self {
            Self::Sru(c) => {
                let ix = &c.config().indexes.barcode;
                if ix.is_empty() || ix == "none" {
                    return Ok(None);
                }
                let q = c.barcode_cql(barcode);
                Ok(Some((c.search_all(&q, 100).await?, q)))
            }
            Self::Z3950(c) => match c.barcode_query(barcode) {
                Some(q) => Ok(Some((c.search(&q, 100).await?.records, q.pqf()))),
                None => Ok(None),
            },
        }
    }

    pub async fn by_record_id(&self, id: &str) -> Result<Found, LookupError> {
        match self {
            Self::Sru(c) => {
                let q = c.record_id_cql(id);
                Ok((c.search_all(&q, 10).await?, q))
            }
            Self::Z3950(c) => {
                let q = c.record_id_query(id);
                Ok((c.search(&q, 10).await?.records, q.pqf()))
            }
        }
    }

    /// Records carrying any of the ISBN forms (servers match only the form as catalogued).
    pub async fn by_isbns(&self, forms: &[String]) -> Result<Found, LookupError> {
        match self {
            Self::Sru(_) if forms.is_empty() => Ok((Vec::new(), String::new())),
            Self::Sru(c) => {
                let q = c.isbn_cql(forms);
                Ok((c.search_all(&q, 100).await?, q))
            }
            Self::Z3950(c) => match c.isbn_query(forms) {
                Some(q) => Ok((c.search(&q, 100).await?.records, q.pqf())),
                None => Ok((Vec::new(), String::new())),
            },
        }
    }

    /// Title words and the year: the fallback when a book has no usable identifier.
    pub async fn by_title_year(
        &self,
        title: &str,
        year: Option<i32>,
    ) -> Result<Found, LookupError> {
        match self {
            Self::Sru(c) => {
                let q = c.title_year_cql(title, year);
                Ok((c.search_all(&q, 50).await?, q))
            }
            Self::Z3950(c) => {
                let q = c.title_year_query(title, year);
                Ok((c.search(&q, 50).await?.records, q.pqf()))
            }
        }
    }
}

/// One thing a catalogue check tried, and what it met.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// What was tried, e.g. `ISBN index bath.isbn` or `Bib-1 use attribute 7 (ISBN)`.
    pub check: String,
    pub ok: bool,
    /// What happened, in the librarian's words.
    pub detail: String,
}

/// What a catalogue check found: each step, and whether all of them worked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProbeReport {
    pub ok: bool,
    pub checks: Vec<Check>,
}

/// Title words common in a university library, tried until one finds a record to see the
/// record syntax returned.
const SAMPLE_TITLES: [&str; 6] = ["the", "a", "教程", "设计", "英语", "中国"];

impl Catalogue {
    /// Checks the settings against the catalogue, as a librarian saving them would want: the
    /// server and database answer (SRU explain; Z39.50 Init and a search), each lookup's index
    /// or attribute is supported (one search each: no hits is fine, a diagnostic is not), and a
    /// record found comes back in a syntax Spindle reads.
    pub async fn probe(&self) -> ProbeReport {
        let mut checks = Vec::new();
        let mut push = |check: String, result: Result<String, String>| {
            let (ok, detail) = match result {
                Ok(d) => (true, d),
                Err(d) => (false, d),
            };
            checks.push(Check { check, ok, detail });
        };
        let searched = |r: Result<u64, LookupError>| match r {
            Ok(n) => Ok(format!("supported ({n} records for the test term)")),
            Err(e) => Err(e.to_string()),
        };
        match self {
            Self::Sru(c) => {
                let reached = c.explain().await;
                let fatal = reached
                    .as_ref()
                    .is_err_and(|e| !matches!(e, SruError::Malformed(_)));
                push(
                    format!("SRU database {}", c.config().url),
                    reached
                        .map(|()| "answers explain".to_string())
                        .map_err(|e| e.to_string()),
                );
                if fatal {
                    return finish(checks);
                }
                let ix = &c.config().indexes;
                let mut probes = vec![
                    ("ISBN", &ix.isbn, c.isbn_cql(&["9780000000002".to_string()])),
                    ("record id", &ix.record_id, c.record_id_cql("0")),
                    ("title", &ix.title, c.title_year_cql("spindle", None)),
                    ("date", &ix.date, format!("{}=2000", ix.date)),
                ];
                if !ix.barcode.is_empty() && ix.barcode != "none" {
                    probes.push(("barcode", &ix.barcode, c.barcode_cql("0")));
                }
                for (what, index, cql) in probes {
                    let r = c.search(&cql, 1, 0).await.map(|p| p.total);
                    push(
                        format!("{what} index {index}"),
                        searched(r.map_err(LookupError::from)),
                    );
                }
            }
            Self::Z3950(c) => {
                let cfg = c.config();
                let server = format!("Z39.50 server {}:{}", cfg.host, cfg.port);
                match c.greet().await {
                    Ok(g) => {
                        push(
                            server,
                            Ok(format!(
                                "accepts the connection (Init): {}",
                                g.implementation
                            )),
                        );
                        push(
                            "character set".to_string(),
                            Ok(negotiation_said(&g, cfg.negotiate_charset)),
                        );
                    }
                    Err(e) => {
                        push(server, Err(e.to_string()));
                        return finish(checks);
                    }
                }
                let a = &cfg.attributes;
                let attribute = |n: u32, what: &str| format!("Bib-1 use attribute {n} ({what})");
                let mut probes = Vec::new();
                if let Some(q) = c.isbn_query(&["9780000000002".to_string()]) {
                    probes.push((attribute(a.isbn, "ISBN"), q));
                }
                probes.push((attribute(a.record_id, "record id"), c.record_id_query("0")));
                probes.push((
                    attribute(a.title, "title"),
                    c.title_year_query("spindle", None),
                ));
                probes.push((
                    attribute(a.date, "date of publication"),
                    c.title_year_query("spindle", Some(2000)),
                ));
                if let (Some(n), Some(q)) = (a.barcode, c.barcode_query("0")) {
                    probes.push((attribute(n, "barcode"), q));
                }
                for (i, (what, q)) in probes.into_iter().enumerate() {
                    let r = c
                        .search(&q, 0)
                        .await
                        .map(|p| p.total)
                        .map_err(LookupError::from);
                    // The first search also says whether the database exists: a missing one
                    // (109, 235, 236), or anything but a refused query, ends the check here.
                    if i == 0 {
                        let db = match &r {
                            Err(e) if !e.query_refused() => Err(e.to_string()),
                            _ => Ok("found".to_string()),
                        };
                        let fatal = db.is_err();
                        push(format!("database {}", cfg.database), db);
                        if fatal {
                            return finish(checks);
                        }
                    }
                    push(what, searched(r));
                }
            }
        }
        let mut sample = Ok(NO_SAMPLE.to_string());
        for t in SAMPLE_TITLES {
            match self.one_by_title(t).await {
                Ok(Some(r)) => {
                    sample = Ok(syntax_seen(&r, self.syntax_asked()));
                    break;
                }
                Ok(None) => {}
                Err(e) => {
                    sample = Err(e.to_string());
                    break;
                }
            }
        }
        push("records".to_string(), sample);
        finish(checks)
    }

    /// The first record whose title has `word`, fetched alone.
    async fn one_by_title(&self, word: &str) -> Result<Option<Record>, LookupError> {
        let records = match self {
            Self::Sru(c) => c.search(&c.title_year_cql(word, None), 1, 1).await?.records,
            Self::Z3950(c) => c.search(&c.title_year_query(word, None), 1).await?.records,
        };
        Ok(records.into_iter().next())
    }

    /// The record schema or syntax the settings ask for, as a librarian wrote it.
    fn syntax_asked(&self) -> &str {
        match self {
            Self::Sru(c) => &c.config().record_schema,
            Self::Z3950(c) => c.config().syntax.name(),
        }
    }
}

/// What character set negotiation came to, in words.
fn negotiation_said(g: &crate::z3950::Greeting, proposed: bool) -> String {
    match (&g.charset, proposed) {
        (Some(n), _) if n.records => format!("negotiated: records come in {}", n.charset),
        (Some(n), _) => format!(
            "the server chose {} for terms and messages; records are read by their labels and bytes",
            n.charset
        ),
        (None, true) => {
            "the server does not negotiate: records are read by their labels and bytes".into()
        }
        (None, false) => {
            "not proposed (negotiate_charset is off): records are read by their labels and bytes"
                .into()
        }
    }
}

/// Not a failure: a catalogue may hold none of the sample words.
const NO_SAMPLE: &str =
    "no record came back for a common title word, so the record syntax was not seen";

fn finish(checks: Vec<Check>) -> ProbeReport {
    ProbeReport {
        ok: checks.iter().all(|c| c.ok),
        checks,
    }
}

/// What a sample record says about the syntax it came in.
fn syntax_seen(r: &Record, asked: &str) -> String {
    let flavour = match crate::bib::BibRecord::from_marc(r).flavour {
        crate::bib::Flavour::Marc21 => "MARC21",
        crate::bib::Flavour::Unimarc => "UNIMARC",
    };
    let mut s = format!("records come back as {asked}, read as {flavour}");
    if let Some(note) = &r.charset_note {
        s.push_str(&format!("; {note}"));
    }
    s
}
