//! Links from library OPACs into Spindle that never rot: resolver URLs by ISBN, by member +
//! record id and by member + barcode; a JSON lookup for OPAC pages (and the widget); and the
//! per-member MARC export that adds 856 fields pointing at the resolver, in the flavour the
//! member's catalogue uses. Never a storage URL.

use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Serialize;
use spindle_integrations::isbn::Isbn;
use spindle_integrations::marc::charset::Charset;
use spindle_integrations::marc::{
    Field, Record, Subfield, parse_marcxml, write_iso2709_in, write_marcxml,
};

use crate::auth::Staff;
use crate::db::{self, Db, discs::DiscRow};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};

/// Percent-encodes one path segment or query value.
pub(crate) fn enc(s: &str) -> String {
    utf8_percent_encode(s, NON_ALPHANUMERIC).to_string()
}

/// What an OPAC identifier resolves to.
#[derive(Debug, Clone)]
pub enum Key {
    Isbn(String),
    Record { member: String, id: String },
    Barcode { member: String, barcode: String },
}

impl Key {
    /// The stable resolver path for this key.
    pub fn path(&self) -> String {
        match self {
            Self::Isbn(i) => format!("/r/isbn/{}", enc(i)),
            Self::Record { member, id } => format!("/r/{}/record/{}", enc(member), enc(id)),
            Self::Barcode { member, barcode } => {
                format!("/r/{}/barcode/{}", enc(member), enc(barcode))
            }
        }
    }
}

#[derive(Debug, Serialize)]
pub struct DiscLinks {
    pub id: i64,
    pub member: String,
    pub disc_number: i64,
    pub label: Option<String>,
    pub open: bool,
    pub disc: String,
    pub browse: String,
    pub download: String,
    pub launch: String,
}

#[derive(Debug, Serialize)]
pub struct Lookup {
    pub resolver: String,
    pub discs: Vec<DiscLinks>,
}

async fn discs_for(db: &Db, key: &Key) -> AppResult<Vec<DiscRow>> {
    Ok(match key {
        Key::Isbn(raw) => {
            let forms = Isbn::lookup_forms(raw);
            if forms.is_empty() {
                return Err(AppError::not_found(
                    ErrorCode::NotAnIsbn,
                    detail!("err_not_isbn", value = raw),
                ));
            }
            db::resolve::by_isbn(db, &forms).await?
        }
        Key::Record { member, id } => db::resolve::by_record(db, member, id).await?,
        Key::Barcode { member, barcode } => db::resolve::by_barcode(db, member, barcode).await?,
    })
}

fn links(base: &str, d: &DiscRow) -> DiscLinks {
    DiscLinks {
        id: d.id,
        member: d.member_code.clone(),
        disc_number: d.disc_number,
        label: d.label.clone(),
        open: d.is_open,
        // The reader's pages: the disc's page and its folders.
        disc: format!("{base}/discs/{}", d.id),
        browse: format!("{base}/discs/{}/browse/", d.id),
        download: format!("{base}/api/v1/discs/{}/image", d.id),
        launch: format!("{base}/api/v1/discs/{}/launch", d.id),
    }
}

/// One disc image per disc number: the same image linked from several members' records
/// is one disc for a reader (the open copy first, then the oldest).
fn distinct(mut discs: Vec<DiscRow>) -> Vec<DiscRow> {
    discs.sort_by_key(|d| (d.disc_number, !d.is_open, d.id));
    let mut out: Vec<DiscRow> = Vec::new();
    for d in discs {
        if !out.iter().any(|o| o.sha256 == d.sha256) {
            out.push(d);
        }
    }
    out
}

pub async fn lookup(db: &Db, public_url: &str, key: &Key) -> AppResult<Lookup> {
    let base = public_url;
    let discs = distinct(discs_for(db, key).await?);
    Ok(Lookup {
        resolver: format!("{base}{}", key.path()),
        discs: discs.iter().map(|d| links(base, d)).collect(),
    })
}

pub enum Resolved {
    /// One disc: go to it.
    One(String),
    /// A set (or several editions): a chooser.
    Many(Lookup),
}

pub async fn resolve(db: &Db, public_url: &str, key: &Key) -> AppResult<Resolved> {
    let found = lookup(db, public_url, key).await?;
    match found.discs.len() {
        0 => Err(AppError::not_found(
            ErrorCode::NoDisc,
            detail!("err_no_linked_disc"),
        )),
        1 => Ok(Resolved::One(found.discs[0].disc.clone())),
        _ => Ok(Resolved::Many(found)),
    }
}

/// Which export format: MARCXML (always UTF-8), or ISO 2709 in UTF-8 or GB 18030 (what
/// many Chinese systems load), labelled to match.
#[derive(Debug, Clone, Copy)]
pub enum Format {
    MarcXml,
    Iso2709(Charset),
}

/// The ISO 2709 export's character set from `?charset=` (UTF-8 when not given).
pub fn export_charset(asked: Option<&str>) -> AppResult<Charset> {
    match asked.map(str::to_ascii_lowercase).as_deref() {
        None | Some("utf-8" | "utf8") => Ok(Charset::Utf8),
        Some("gb18030") => Ok(Charset::Gb18030),
        Some(other) => Err(AppError::bad_request(
            ErrorCode::InvalidField,
            detail!("err_export_charset", charset = other),
        )),
    }
}

/// The member's linked records, each with one 856 per disc pointing at the resolver.
pub async fn export(
    db: &Db,
    public_url: &str,
    staff: &Staff,
    code: &str,
    format: Format,
) -> AppResult<Vec<u8>> {
    let member = db::members::by_code(db, code).await?.ok_or_else(|| {
        AppError::not_found(
            ErrorCode::MemberNotFound,
            detail!("err_no_member", code = code),
        )
    })?;
    if !staff.may_act_for(member.id) {
        return Err(AppError::forbidden(detail!("err_export_own")));
    }
    let base = public_url;
    let rows = db::resolve::export_rows(db, member.id).await?;
    let mut records: Vec<Record> = Vec::new();
    let mut current: Option<i64> = None;
    for row in rows {
        if current != Some(row.bib_record_id) {
            let mut parsed =
                parse_marcxml(&row.marc).map_err(|e| AppError::internal("stored MARC", &e))?;
            let Some(mut rec) = parsed.pop() else {
                continue;
            };
            // Earlier Spindle links are replaced, other 856s kept.
            rec.fields.retain(|f| {
                !(f.tag() == "856"
                    && f.subfields()
                        .iter()
                        .any(|s| s.code == 'u' && s.value.starts_with(base)))
            });
            records.push(rec);
            current = Some(row.bib_record_id);
        }
        let Some(rec) = records.last_mut() else {
            continue;
        };
        let id = rec.control("001").unwrap_or_default().trim().to_string();
        let url = format!(
            "{base}{}",
            Key::Record {
                member: code.to_string(),
                id
            }
            .path()
        );
        let url = if row.disc_number > 1 {
            format!("{url}?disc={}", row.disc_number)
        } else {
            url
        };
        let note = format!(
            "随书光盘 {} / Accompanying disc {}",
            row.disc_number, row.disc_number
        );
        // MARC21: 856 42 with $3 naming the disc; UNIMARC: 856 4_ without $3.
        let sub = |code: char, value: String| Subfield { code, value };
        let mut subfields = vec![sub('u', url), sub('z', note)];
        let ind2 = if row.flavour == "unimarc" {
            ' '
        } else {
            subfields.insert(0, sub('3', format!("Disc {}", row.disc_number)));
            '2'
        };
        rec.fields.push(Field::Data {
            tag: "856".into(),
            ind1: '4',
            ind2,
            subfields,
        });
    }
    Ok(match format {
        Format::MarcXml => write_marcxml(&records).into_bytes(),
        Format::Iso2709(set) => records
            .iter()
            .flat_map(|r| write_iso2709_in(r, set))
            .collect(),
    })
}
