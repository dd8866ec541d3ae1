//! An OAI-PMH 2.0 harvester for bulk and incremental catalogue sync: ListRecords with
//! `from`/`until`, resumption tokens (the list ends at an empty or absent token, as pyoai
//! omits it), deleted records, `noRecordsMatch` as an empty harvest, and a restart from the
//! last datestamp seen after `badResumptionToken` (an expired token).

use roxmltree::{Document, Node, ParsingOptions};
use serde::{Deserialize, Serialize};

use crate::http::FetchError;
use crate::marc::{self, Record};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OaiConfig {
    /// The provider's base URL, e.g. `https://opac.example.edu/cgi-bin/koha/oai.pl`.
    pub url: String,
    /// MARCXML, not oai_dc (which loses 300 $e / 215 $e): `marc21` or `marcxml`.
    pub metadata_prefix: String,
    pub set: Option<String>,
    pub timeout_secs: u64,
    pub max_response_bytes: usize,
    /// Restarts after badResumptionToken before giving up.
    pub max_restarts: u32,
    /// Pages (requests) at most per harvest.
    pub max_pages: u32,
}

impl Default for OaiConfig {
    fn default() -> Self {
        Self {
            url: String::new(),
            metadata_prefix: "marc21".into(),
            set: None,
            timeout_secs: 30,
            max_response_bytes: 64 * 1024 * 1024,
            max_restarts: 3,
            max_pages: 100_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OaiError {
    #[error("the provider did not answer within {0} s")]
    Timeout(u64),
    #[error("cannot reach the provider: {0}")]
    Unreachable(String),
    #[error("the provider answered HTTP {0}")]
    Http(u16),
    #[error("OAI-PMH error {code}: {message}")]
    Protocol { code: String, message: String },
    #[error("the provider's answer is not valid OAI-PMH: {0}")]
    Malformed(String),
    #[error("the provider's answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the provider is misconfigured: {0}")]
    Config(String),
    #[error("resumption tokens kept expiring ({0} restarts)")]
    TooManyRestarts(u32),
    /// Its address is one Spindle does not connect to (see `egress`).
    #[error("{0}")]
    Refused(String),
}

#[derive(Debug, Clone)]
pub struct OaiRecord {
    pub identifier: String,
    pub datestamp: String,
    pub deleted: bool,
    pub record: Option<Record>,
}

#[derive(Debug, Clone, Default)]
pub struct Harvest {
    /// One entry per identifier (a restart may see a record twice; the later one wins).
    pub records: Vec<OaiRecord>,
    pub requests: u32,
    pub restarts: u32,
}

pub struct OaiClient {
    http: crate::http::Fetcher,
    config: OaiConfig,
}

/// One ListRecords answer: its records and the resumption token, if more follow.
pub struct Page {
    pub records: Vec<OaiRecord>,
    pub token: Option<String>,
}

fn local<'a>(n: &Node<'a, '_>) -> &'a str {
    n.tag_name().name()
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| c.is_element() && local(c) == name)
}

fn text(n: Option<Node<'_, '_>>) -> String {
    n.and_then(|n| n.text())
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// Reads a ListRecords response (or the OAI-PMH error it carries).
pub fn parse_page(body: &str) -> Result<Page, OaiError> {
    let doc = Document::parse_with_options(
        body,
        ParsingOptions {
            allow_dtd: false,
            nodes_limit: 20_000_000,
        },
    )
    .map_err(|e| OaiError::Malformed(e.to_string()))?;
    let root = doc.root_element();
    if local(&root) != "OAI-PMH" {
        return Err(OaiError::Malformed(format!(
            "root element <{}>",
            local(&root)
        )));
    }
    if let Some(e) = child(root, "error") {
        return Err(OaiError::Protocol {
            code: e.attribute("code").unwrap_or_default().to_string(),
            message: text(Some(e)),
        });
    }
    let list =
        child(root, "ListRecords").ok_or_else(|| OaiError::Malformed("no ListRecords".into()))?;
    let mut records = Vec::new();
    for rec in list
        .children()
        .filter(|n| n.is_element() && local(n) == "record")
    {
        let header = child(rec, "header")
            .ok_or_else(|| OaiError::Malformed("a record without a header".into()))?;
        let deleted = header.attribute("status") == Some("deleted");
        let record = match child(rec, "metadata") {
            Some(m) if !deleted => marc::records_in(m)
                .map_err(|e| OaiError::Malformed(e.to_string()))?
                .into_iter()
                .next(),
            _ => None,
        };
        records.push(OaiRecord {
            identifier: text(child(header, "identifier")),
            datestamp: text(child(header, "datestamp")),
            deleted,
            record,
        });
    }
    let token = child(list, "resumptionToken")
        .map(|t| text(Some(t)))
        .filter(|t| !t.is_empty());
    Ok(Page { records, token })
}

impl OaiClient {
    pub fn new(config: OaiConfig, egress: &crate::egress::Egress) -> Result<Self, OaiError> {
        let http = crate::http::Fetcher::new(
            &config.url,
            egress,
            config.timeout_secs,
            config.max_response_bytes,
        )
        .map_err(OaiError::Config)?;
        Ok(Self { http, config })
    }

    async fn page(&self, params: &[(&str, String)]) -> Result<Page, OaiError> {
        let url = reqwest::Url::parse_with_params(&self.config.url, params)
            .map_err(|e| OaiError::Config(e.to_string()))?;
        let fetched = self.http.get(url).await.map_err(|e| match e {
            FetchError::Timeout => OaiError::Timeout(self.config.timeout_secs),
            FetchError::Unreachable(m) => OaiError::Unreachable(m),
            FetchError::TooLarge(n) => OaiError::TooLarge(n),
            FetchError::Refused(m) => OaiError::Refused(m),
        })?;
        if !(200..300).contains(&fetched.status) {
            return Err(OaiError::Http(fetched.status));
        }
        parse_page(&fetched.text)
    }

    fn first_params(&self, from: Option<&str>, until: Option<&str>) -> Vec<(&'static str, String)> {
        let mut p = vec![
            ("verb", "ListRecords".to_string()),
            ("metadataPrefix", self.config.metadata_prefix.clone()),
        ];
        if let Some(s) = &self.config.set {
            p.push(("set", s.clone()));
        }
        if let Some(f) = from {
            p.push(("from", f.to_string()));
        }
        if let Some(u) = until {
            p.push(("until", u.to_string()));
        }
        p
    }

    /// Every record changed in [from, until] (both optional, as the provider's granularity).
    pub async fn list_records(
        &self,
        from: Option<&str>,
        until: Option<&str>,
    ) -> Result<Harvest, OaiError> {
        let mut harvest = Harvest::default();
        let mut params = self.first_params(from, until);
        let mut latest: Option<String> = None;
        loop {
            if harvest.requests >= self.config.max_pages {
                return Err(OaiError::Config(format!(
                    "more than {} pages",
                    self.config.max_pages
                )));
            }
            harvest.requests += 1;
            let page = match self.page(&params).await {
                Ok(p) => p,
                Err(OaiError::Protocol { code, .. }) if code == "noRecordsMatch" => break,
                Err(OaiError::Protocol { code, .. }) if code == "badResumptionToken" => {
                    harvest.restarts += 1;
                    if harvest.restarts > self.config.max_restarts {
                        return Err(OaiError::TooManyRestarts(harvest.restarts - 1));
                    }
                    // Start again from the newest datestamp seen: what changed at that
                    // instant may not all have been read.
                    let restart_from = latest.clone().or_else(|| from.map(str::to_string));
                    params = self.first_params(restart_from.as_deref(), until);
                    continue;
                }
                Err(e) => return Err(e),
            };
            for r in page.records {
                if latest.as_deref().is_none_or(|l| r.datestamp.as_str() > l) {
                    latest = Some(r.datestamp.clone());
                }
                match harvest
                    .records
                    .iter_mut()
                    .find(|x| x.identifier == r.identifier)
                {
                    Some(existing) => *existing = r,
                    None => harvest.records.push(r),
                }
            }
            match page.token {
                Some(t) => {
                    params = vec![("verb", "ListRecords".to_string()), ("resumptionToken", t)]
                }
                None => break,
            }
        }
        Ok(harvest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_tokens_and_errors() {
        let page = r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><ListRecords><record><header status="deleted"><identifier>a</identifier><datestamp>2024-01-02</datestamp></header></record><resumptionToken completeListSize="2" cursor="0"></resumptionToken></ListRecords></OAI-PMH>"#;
        let p = parse_page(page).expect("page");
        assert!(p.token.is_none(), "an empty token ends the list");
        assert!(p.records[0].deleted && p.records[0].record.is_none());
        let err = r#"<OAI-PMH xmlns="http://www.openarchives.org/OAI/2.0/"><error code="badArgument">no</error></OAI-PMH>"#;
        assert!(
            matches!(parse_page(err), Err(OaiError::Protocol { code, .. }) if code == "badArgument")
        );
        assert!(matches!(parse_page("<html/>"), Err(OaiError::Malformed(_))));
    }
}
