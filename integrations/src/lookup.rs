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
