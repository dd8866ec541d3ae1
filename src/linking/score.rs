//! How sure a candidate record is: the method that found it, what the record says about
//! its discs, and the row it is stored as.

use spindle_integrations::bib::BibRecord;
use spindle_integrations::marc::Record;

use crate::db::{catalogue::NewBibRecord, discs::DiscRow};

/// A candidate record and how it was found.
pub(super) struct Candidate {
    pub bib: BibRecord,
    pub marc: Record,
    pub method: &'static str,
    pub query: String,
    pub score: i64,
    pub why: Vec<String>,
}

/// At or above this a single candidate is linked without asking anyone.
pub(super) const AUTO_LINK: i64 = 70;

pub(super) fn record_id(r: &Record) -> String {
    r.control("001").unwrap_or_default().trim().to_string()
}

pub(super) fn score(c: &mut Candidate, disc: &DiscRow) {
    let bib = &c.bib;
    let (base, why) = match c.method {
        "barcode" => {
            let b = disc.barcode.as_deref().unwrap_or_default();
            if bib.holdings.iter().any(|h| h.barcode.as_deref() == Some(b)) {
                (100, format!("barcode {b} is on the record's holdings"))
            } else {
                (
                    60,
                    format!(
                        "the catalogue matched barcode {b}, but it is not on the record's holdings"
                    ),
                )
            }
        }
        "record-id" => (90, "the record id matches".to_string()),
        "isbn" if bib.discs.count > 0 => (
            80,
            "the ISBN matches and the record says it comes with a disc".to_string(),
        ),
        "isbn" => (
            45,
            match bib.discs.not_discs_explained() {
                Some(what) => format!("the ISBN matches, but the record does not mention a disc: {what}"),
                None => "the ISBN matches, but the record does not mention a disc".to_string(),
            },
        ),
        // Kept below AUTO_LINK on purpose, even for a single hit: a title (and year) is shared
        // by reprints, other editions and the book's own disc record, and one wrong link shows
        // a reader the wrong disc. The librarian confirms it in one click.
        _ => (
            40,
            "only the title (and year) match: a title is never linked without a librarian, since reprints and other editions share it".to_string(),
        ),
    };
    c.score = base;
    c.why.push(why);
    if let Some(note) = &c.marc.charset_note {
        c.why.push(note.clone());
    }
    if bib.discs.count > 0 {
        let kind = bib.discs.kind.map_or("disc", |k| k.label());
        c.why.push(format!(
            "the record says {} {kind}(s) [{}]",
            bib.discs.count,
            bib.discs.sources.join("; ")
        ));
        if i64::from(bib.discs.count) < disc.disc_number {
            c.score = c.score.min(AUTO_LINK - 1);
            c.why
                .push(format!("but this is disc {} of the set", disc.disc_number));
        }
    }
}

pub(super) fn summary_row<'a>(
    member_id: i64,
    c: &'a Candidate,
    isbns: &'a str,
    summary: &'a str,
    marc: &'a str,
    rid: &'a str,
) -> NewBibRecord<'a> {
    NewBibRecord {
        member_id,
        record_id: rid,
        flavour: match c.bib.flavour {
            spindle_integrations::bib::Flavour::Marc21 => "marc21",
            spindle_integrations::bib::Flavour::Unimarc => "unimarc",
        },
        title: &c.bib.title,
        year: c.bib.year.map(i64::from),
        isbns,
        disc_count: i64::from(c.bib.discs.count),
        disc_kind: c.bib.discs.kind.map(|k| k.as_str()),
        deleted: c.bib.deleted,
        summary,
        marc,
    }
}
