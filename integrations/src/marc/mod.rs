//! MARC records as data: a leader, control fields and data fields with subfields, read from
//! MARCXML or ISO 2709 and written back (for export). Tags are data here; what they mean
//! (MARC21 or UNIMARC) is the business of `crate::bib`.

pub mod charset;
mod iso2709;
mod xml;

pub use iso2709::{parse_iso2709, parse_iso2709_in, write_iso2709, write_iso2709_in};
pub use xml::{parse_marcxml, records_in, write_marcxml};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subfield {
    pub code: char,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Control {
        tag: String,
        value: String,
    },
    Data {
        tag: String,
        ind1: char,
        ind2: char,
        subfields: Vec<Subfield>,
    },
}

impl Field {
    pub fn tag(&self) -> &str {
        match self {
            Self::Control { tag, .. } | Self::Data { tag, .. } => tag,
        }
    }

    pub fn subfields(&self) -> &[Subfield] {
        match self {
            Self::Data { subfields, .. } => subfields,
            Self::Control { .. } => &[],
        }
    }

    /// Values of subfield `code`, in order.
    pub fn values(&self, code: char) -> impl Iterator<Item = &str> {
        self.subfields()
            .iter()
            .filter(move |s| s.code == code)
            .map(|s| s.value.as_str())
    }

    pub fn first(&self, code: char) -> Option<&str> {
        self.values(code).next()
    }

    pub fn indicators(&self) -> (char, char) {
        match self {
            Self::Data { ind1, ind2, .. } => (*ind1, *ind2),
            Self::Control { .. } => (' ', ' '),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Record {
    pub leader: String,
    pub fields: Vec<Field>,
    /// Set when the record's text was read in another character set than it names (or it
    /// names none): what was found, for the librarian.
    pub charset_note: Option<String>,
}

impl Record {
    pub fn control(&self, tag: &str) -> Option<&str> {
        self.fields.iter().find_map(|f| match f {
            Field::Control { tag: t, value } if t == tag => Some(value.as_str()),
            _ => None,
        })
    }

    pub fn fields<'a>(&'a self, tag: &'a str) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields.iter().filter(move |f| f.tag() == tag)
    }

    /// Data fields whose tag matches `pred`.
    pub fn fields_where<'a>(
        &'a self,
        pred: impl Fn(&str) -> bool + 'a,
    ) -> impl Iterator<Item = &'a Field> + 'a {
        self.fields
            .iter()
            .filter(move |f| matches!(f, Field::Data { .. }) && pred(f.tag()))
    }

    /// Every value of `tag` $`code`.
    pub fn values<'a>(&'a self, tag: &'a str, code: char) -> impl Iterator<Item = &'a str> + 'a {
        self.fields(tag).flat_map(move |f| f.values(code))
    }

    pub fn first<'a>(&'a self, tag: &'a str, code: char) -> Option<&'a str> {
        self.fields(tag).find_map(|f| f.first(code))
    }

    /// Leader position `i`, or ' ' when the leader is short.
    pub fn leader_at(&self, i: usize) -> char {
        self.leader.chars().nth(i).unwrap_or(' ')
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MarcError {
    #[error("malformed MARCXML: {0}")]
    Xml(String),
    #[error("malformed ISO 2709 record at byte {offset}: {detail}")]
    Iso2709 { offset: usize, detail: String },
    #[error("the document holds more than {0} records")]
    TooMany(usize),
}

/// Most records one document may hold (a harvest page, a search page).
pub const MAX_RECORDS: usize = 10_000;
