//! Linking discs to their bibliographic records in the member's own catalogue: the member's
//! catalogue settings, the queue of discs to link (leased, off the request path), the
//! lookups (barcode, then record id, then ISBN in both forms, then title + year), the
//! scoring, the resolution of a separately catalogued disc to its host book, and the
//! librarian's review of what was not certain. Every decision keeps the query that found
//! the record and why it scored as it did.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use spindle_integrations::bib::BibRecord;
use spindle_integrations::isbn::Isbn;
use spindle_integrations::marc::{Record, write_marcxml};
use spindle_integrations::oai::{OaiClient, OaiConfig};
use spindle_integrations::sru::{SruClient, SruConfig, SruError, cql_term};

use crate::app::{App, AppState};
use crate::auth::Staff;
use crate::db::{
    self,
    catalogue::{LinkRow, NewBibRecord, NewLink},
    discs::DiscRow,
};
use crate::error::{AppError, AppResult, ErrorCode};

/// A member's catalogue as configured through the API.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueSettings {
    /// `sru` (Koha/Zebra, Evergreen, FOLIO mod-z3950, Alma and any YAZ-based server).
    pub kind: String,
    pub sru: SruConfig,
    /// The member's OPAC record page, with `{id}` for the record id, e.g.
    /// `https://opac.example.edu/cgi-bin/koha/opac-detail.pl?biblionumber={id}`.
    pub opac_record_url: Option<String>,
    /// An OAI-PMH provider for the same records (Koha's oai.pl, FOLIO edge-oai-pmh): the
    /// re-sync then harvests changes incrementally instead of asking for each record.
    #[serde(default)]
    pub oai: Option<OaiConfig>,
}

/// One SRU client per member (so its concurrency limit is per catalogue), rebuilt when the
/// stored settings change.
#[derive(Default)]
pub struct Clients(Mutex<HashMap<i64, (String, SruClient)>>);

impl Clients {
    fn get(&self, member_id: i64, stored: &str) -> Result<SruClient, SruError> {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((s, c)) = map.get(&member_id)
            && s == stored
        {
            return Ok(c.clone());
        }
        let settings: SruConfig =
            serde_json::from_str(stored).map_err(|e| SruError::Config(e.to_string()))?;
        let client = SruClient::new(settings)?;
        map.insert(member_id, (stored.to_string(), client.clone()));
        Ok(client)
    }
}

fn check_template(t: &str) -> AppResult<()> {
    if !(t.starts_with("http://") || t.starts_with("https://")) || !t.contains("{id}") {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidCatalogue,
            "opac_record_url must be an http(s) URL with {id} where the record id goes",
        ));
    }
    Ok(())
}

pub async fn put_catalogue(
    app: &App,
    staff: &Staff,
    code: &str,
    settings: CatalogueSettings,
) -> AppResult<u64> {
    let member = member_for(app, staff, code).await?;
    if settings.kind != "sru" {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidCatalogue,
            format!(
                "catalogue kind {:?} is not supported (sru is)",
                settings.kind
            ),
        ));
    }
    SruClient::new(settings.sru.clone())
        .map_err(|e| AppError::unprocessable(ErrorCode::InvalidCatalogue, e.to_string()))?;
    if let Some(t) = &settings.opac_record_url {
        check_template(t)?;
    }
    let oai = match &settings.oai {
        Some(o) => {
            OaiClient::new(o.clone())
                .map_err(|e| AppError::unprocessable(ErrorCode::InvalidCatalogue, e.to_string()))?;
            Some(serde_json::to_string(o).map_err(|e| AppError::internal("catalogue json", &e))?)
        }
        None => None,
    };
    let json = serde_json::to_string(&settings.sru)
        .map_err(|e| AppError::internal("catalogue json", &e))?;
    let queued = db::catalogue::put(
        &app.db,
        member.id,
        &settings.kind,
        &json,
        settings.opac_record_url.as_deref(),
        oai.as_deref(),
    )
    .await?;
    app.link_wake.notify_waiters();
    Ok(queued)
}

pub async fn get_catalogue(app: &App, staff: &Staff, code: &str) -> AppResult<CatalogueSettings> {
    let member = member_for(app, staff, code).await?;
    let row = db::catalogue::get(&app.db, member.id)
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::CatalogueNotFound,
                format!("member {code} has no catalogue configured"),
            )
        })?;
    Ok(CatalogueSettings {
        kind: row.kind,
        sru: serde_json::from_str(&row.settings)
            .map_err(|e| AppError::internal("stored catalogue", &e))?,
        opac_record_url: row.opac_record_url,
        oai: match row.oai_settings {
            Some(o) => Some(
                serde_json::from_str(&o).map_err(|e| AppError::internal("stored catalogue", &e))?,
            ),
            None => None,
        },
    })
}

async fn member_for(app: &App, staff: &Staff, code: &str) -> AppResult<db::members::Member> {
    let member = db::members::by_code(&app.db, code).await?.ok_or_else(|| {
        AppError::not_found(ErrorCode::MemberNotFound, format!("no member {code:?}"))
    })?;
    if !staff.may_act_for(member.id) {
        return Err(AppError::forbidden(
            "librarians manage their own member only",
        ));
    }
    Ok(member)
}

/// A candidate record and how it was found.
struct Candidate {
    bib: BibRecord,
    marc: Record,
    method: &'static str,
    query: String,
    score: i64,
    why: Vec<String>,
}

/// At or above this a single candidate is linked without asking anyone.
const AUTO_LINK: i64 = 70;

fn record_id(r: &Record) -> String {
    r.control("001").unwrap_or_default().trim().to_string()
}

async fn lookups(
    client: &SruClient,
    disc: &DiscRow,
) -> Result<Vec<(Record, &'static str, String)>, SruError> {
    let ix = &client.config().indexes;
    if let Some(b) = &disc.barcode {
        let found = client.by_barcode(b).await?;
        if !found.is_empty() {
            let q = format!("{}={}", ix.barcode, cql_term(b));
            return Ok(found
                .into_iter()
                .map(|r| (r, "barcode", q.clone()))
                .collect());
        }
    }
    if let Some(id) = &disc.record_id {
        let found = client.by_record_id(id).await?;
        if !found.is_empty() {
            let q = format!("{}={}", ix.record_id, cql_term(id));
            return Ok(found
                .into_iter()
                .map(|r| (r, "record-id", q.clone()))
                .collect());
        }
    }
    if let Some(isbn) = &disc.isbn {
        let forms = Isbn::lookup_forms(isbn);
        let found = client.by_isbns(&forms).await?;
        if !found.is_empty() {
            let q = forms
                .iter()
                .map(|f| format!("{}={f}", ix.isbn))
                .collect::<Vec<_>>()
                .join(" or ");
            return Ok(found.into_iter().map(|r| (r, "isbn", q.clone())).collect());
        }
    }
    if let Some(title) = &disc.title_hint {
        let year = disc.year_hint.and_then(|y| i32::try_from(y).ok());
        let found = client.by_title_year(title, year).await?;
        let mut q = format!("{}={}", ix.title, cql_term(title));
        if let Some(y) = year {
            q.push_str(&format!(" and {}={y}", ix.date));
        }
        return Ok(found
            .into_iter()
            .map(|r| (r, "title-year", q.clone()))
            .collect());
    }
    Ok(Vec::new())
}

fn score(c: &mut Candidate, disc: &DiscRow) {
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
            "the ISBN matches, but the record does not mention a disc".to_string(),
        ),
        _ => (40, "only the title (and year) match".to_string()),
    };
    c.score = base;
    c.why.push(why);
    if bib.discs.count > 0 {
        let kind = bib.discs.kind.map_or("disc", |k| k.as_str());
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

/// Looks the disc up, resolves disc records to their host books, scores and decides.
/// The host book of a disc record: among the records already fetched, else asked for.
async fn host_record(
    client: &SruClient,
    fetched: &[Record],
    host_id: &str,
) -> Result<Option<Record>, SruError> {
    if let Some(r) = fetched.iter().find(|r| record_id(r) == host_id) {
        return Ok(Some(r.clone()));
    }
    Ok(client.by_record_id(host_id).await?.into_iter().next())
}

async fn candidates(
    client: &SruClient,
    disc: &DiscRow,
) -> Result<(Vec<Candidate>, Vec<String>), SruError> {
    let mut notes = Vec::new();
    let mut out: Vec<Candidate> = Vec::new();
    let found = lookups(client, disc).await?;
    // A host book is usually among the hits already (its barcode or ISBN is the disc's too).
    let fetched: Vec<Record> = found.iter().map(|(r, _, _)| r.clone()).collect();
    for (marc, method, query) in found {
        let bib = BibRecord::from_marc(&marc);
        let id = record_id(&marc);
        if bib.deleted {
            notes.push(format!(
                "record {id} is deleted in the catalogue; not linked"
            ));
            continue;
        }
        let mut why = Vec::new();
        let (bib, marc) = match bib
            .host
            .as_ref()
            .and_then(|h| h.id.clone())
            .filter(|_| bib.disc_record)
        {
            Some(host_id) => match host_record(client, &fetched, &host_id).await? {
                Some(host) => {
                    why.push(format!(
                        "found {id}, the disc's own record; linked its host book {host_id}"
                    ));
                    // The host carries the book; the disc record carries the disc facts.
                    let mut host_bib = BibRecord::from_marc(&host);
                    if host_bib.discs.count == 0 {
                        host_bib.discs = bib.discs.clone();
                    }
                    (host_bib, host)
                }
                None => {
                    why.push(format!(
                        "found {id}, a disc record whose host {host_id} is not in the catalogue"
                    ));
                    (bib, marc)
                }
            },
            None => (bib, marc),
        };
        let rid = record_id(&marc);
        if let Some(existing) = out.iter_mut().find(|c| record_id(&c.marc) == rid) {
            existing.why.extend(why);
            continue;
        }
        let mut c = Candidate {
            bib,
            marc,
            method,
            query,
            score: 0,
            why,
        };
        score(&mut c, disc);
        out.push(c);
    }
    // A disc record found by barcode scores like its host's holdings entry: both carry it.
    out.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| record_id(&a.marc).cmp(&record_id(&b.marc)))
    });
    Ok((out, notes))
}

fn summary_row<'a>(
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

/// Links one disc (the linker's work for one queue entry).
async fn link_disc(app: &App, disc_id: i64) -> Result<(), crate::db::DbError> {
    let Some(disc) = db::discs::get(&app.db, disc_id).await? else {
        return Ok(());
    };
    let Some(cat) = db::catalogue::get(&app.db, disc.member_id).await? else {
        return db::catalogue::store_outcome(&app.db, disc_id, &[], &[], "no-catalogue", None)
            .await;
    };
    if disc.barcode.is_none()
        && disc.isbn.is_none()
        && disc.record_id.is_none()
        && disc.title_hint.is_none()
    {
        let why =
            "the disc has no barcode, ISBN, record id or title to look up; add one and relink";
        return db::catalogue::store_outcome(&app.db, disc_id, &[], &[], "unmatched", Some(why))
            .await;
    }
    let outcome = match app.catalogues.get(disc.member_id, &cat.settings) {
        Ok(client) => candidates(&client, &disc).await,
        Err(e) => Err(e),
    };
    let (cands, notes) = match outcome {
        Ok(v) => v,
        Err(e)
            if matches!(
                e,
                SruError::Timeout(_) | SruError::Unreachable(_) | SruError::Http { .. }
            ) =>
        {
            tracing::warn!(disc = disc_id, error = %e, "catalogue lookup failed; will retry");
            return db::catalogue::retry_later(&app.db, disc_id, 60, &e.to_string()).await;
        }
        Err(e) => {
            tracing::info!(disc = disc_id, error = %e, "catalogue lookup failed");
            return db::catalogue::store_outcome(
                &app.db,
                disc_id,
                &[],
                &[],
                "failed",
                Some(&e.to_string()),
            )
            .await;
        }
    };
    let isbns: Vec<String> = cands.iter().map(|c| c.bib.isbn_forms().join(" ")).collect();
    let summaries: Vec<String> = cands
        .iter()
        .map(|c| serde_json::to_string(&c.bib).unwrap_or_default())
        .collect();
    let marcs: Vec<String> = cands
        .iter()
        .map(|c| write_marcxml(std::slice::from_ref(&c.marc)))
        .collect();
    let rids: Vec<String> = cands.iter().map(|c| record_id(&c.marc)).collect();
    let rows: Vec<NewBibRecord<'_>> = cands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            summary_row(
                disc.member_id,
                c,
                &isbns[i],
                &summaries[i],
                &marcs[i],
                &rids[i],
            )
        })
        .collect();
    let sure = cands.iter().filter(|c| c.score >= AUTO_LINK).count();
    let status = match (cands.len(), sure) {
        (0, _) => "unmatched",
        (_, 1) if cands[0].score >= AUTO_LINK => "linked",
        _ => "review",
    };
    let links: Vec<NewLink> = cands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut why = c.why.clone();
            why.extend(notes.iter().cloned());
            if status == "review" && sure > 1 {
                why.push(format!("{sure} records are equally likely"));
            }
            NewLink {
                bib: i,
                state: if status == "linked" && i == 0 {
                    "linked"
                } else {
                    "review"
                },
                score: c.score,
                method: c.method.to_string(),
                query: c.query.clone(),
                explanation: why.join("; "),
            }
        })
        .filter(|l| status != "linked" || l.state == "linked")
        .collect();
    let error = (status == "unmatched").then(|| {
        if notes.is_empty() {
            "the catalogue has no record for this disc's identifiers".to_string()
        } else {
            notes.join("; ")
        }
    });
    db::catalogue::store_outcome(&app.db, disc_id, &rows, &links, status, error.as_deref()).await
}

/// Runs the linkers until the process stops.
pub async fn run(state: AppState) {
    let app: &App = &state;
    crate::queue::drain_forever(
        "a disc to link",
        &app.link_wake,
        || db::catalogue::claim_disc(&app.db, 300),
        |id: i64| async move {
            if let Err(e) = link_disc(app, id).await {
                tracing::warn!(disc = id, error = %e, "cannot record a linking outcome");
            }
        },
    )
    .await;
}

#[derive(Debug, Clone, Serialize)]
pub struct LinkView {
    /// Spindle's id of the fetched record (what a decision names).
    pub bib_record: i64,
    pub record_id: String,
    pub member: String,
    pub title: String,
    pub year: Option<i64>,
    pub disc_count: i64,
    pub disc_kind: Option<String>,
    pub state: String,
    pub score: i64,
    pub method: String,
    pub query: String,
    pub explanation: String,
    pub decided_by: Option<String>,
    /// The record in the member's OPAC, when the member gave a template.
    pub opac_url: Option<String>,
    pub accept_url: String,
    pub reject_url: String,
}

impl From<LinkRow> for LinkView {
    fn from(l: LinkRow) -> Self {
        let enc = crate::opac::enc(&l.record_id);
        Self {
            opac_url: l.opac_record_url.as_ref().map(|t| t.replace("{id}", &enc)),
            accept_url: format!(
                "/api/v1/discs/{}/links/{}/accept",
                l.disc_id, l.bib_record_id
            ),
            reject_url: format!(
                "/api/v1/discs/{}/links/{}/reject",
                l.disc_id, l.bib_record_id
            ),
            bib_record: l.bib_record_id,
            record_id: l.record_id,
            member: l.member_code,
            title: l.title,
            year: l.year,
            disc_count: l.disc_count,
            disc_kind: l.disc_kind,
            state: l.state,
            score: l.score,
            method: l.method,
            query: l.query,
            explanation: l.explanation,
            decided_by: l.decided_by,
        }
    }
}

pub async fn links(app: &App, disc_id: i64) -> AppResult<Vec<LinkView>> {
    Ok(db::catalogue::links_of(&app.db, disc_id)
        .await?
        .into_iter()
        .map(LinkView::from)
        .collect())
}

#[derive(Debug, Serialize)]
pub struct ReviewItem {
    pub disc: i64,
    pub disc_url: String,
    pub candidates: Vec<LinkView>,
}

pub async fn review_queue(app: &App, staff: &Staff, code: &str) -> AppResult<Vec<ReviewItem>> {
    let member = member_for(app, staff, code).await?;
    let mut out: Vec<ReviewItem> = Vec::new();
    for l in db::catalogue::review_queue(&app.db, member.id, 5000).await? {
        let disc = l.disc_id;
        match out.last_mut() {
            Some(item) if item.disc == disc => item.candidates.push(l.into()),
            _ => out.push(ReviewItem {
                disc,
                disc_url: format!("/api/v1/discs/{disc}"),
                candidates: vec![l.into()],
            }),
        }
    }
    Ok(out)
}

/// A librarian accepts or rejects one candidate; returns the disc's new link status.
pub async fn decide(
    app: &App,
    staff: &Staff,
    disc_id: i64,
    bib_record_id: i64,
    accept: bool,
) -> AppResult<String> {
    let disc = db::discs::get(&app.db, disc_id).await?.ok_or_else(|| {
        AppError::not_found(ErrorCode::DiscNotFound, format!("no disc {disc_id}"))
    })?;
    if !staff.may_act_for(disc.member_id) {
        return Err(AppError::forbidden(
            "librarians review their own member's discs only",
        ));
    }
    let by = staff.label();
    db::catalogue::decide(&app.db, disc_id, bib_record_id, accept, &by)
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::LinkNotFound,
                format!("disc {disc_id} has no candidate record {bib_record_id}"),
            )
        })
}

pub async fn relink(app: &App, staff: &Staff, disc_id: i64) -> AppResult<()> {
    let disc = db::discs::get(&app.db, disc_id).await?.ok_or_else(|| {
        AppError::not_found(ErrorCode::DiscNotFound, format!("no disc {disc_id}"))
    })?;
    if !staff.may_act_for(disc.member_id) {
        return Err(AppError::forbidden(
            "librarians relink their own member's discs only",
        ));
    }
    db::catalogue::requeue(&app.db, disc_id).await?;
    app.link_wake.notify_waiters();
    Ok(())
}

#[derive(Debug, Default, Serialize)]
pub struct ResyncReport {
    pub checked: u64,
    pub refreshed: u64,
    pub gone: u64,
    pub discs_to_review: u64,
    /// Records read from OAI-PMH providers (changes since the last harvest).
    pub harvested: u64,
    pub errors: Vec<String>,
}

/// A fresh copy of a linked record (None: the catalogue deleted it or no longer has it).
async fn apply(
    app: &App,
    rec: &db::catalogue::LinkedRecord,
    fresh: Option<Record>,
    report: &mut ResyncReport,
) -> AppResult<()> {
    match fresh.map(|m| (BibRecord::from_marc(&m), m)) {
        Some((bib, marc)) if !bib.deleted => {
            let c = Candidate {
                bib,
                marc,
                method: "resync",
                query: String::new(),
                score: 0,
                why: Vec::new(),
            };
            let isbns = c.bib.isbn_forms().join(" ");
            let summary = serde_json::to_string(&c.bib).unwrap_or_default();
            let xml = write_marcxml(std::slice::from_ref(&c.marc));
            let row = summary_row(rec.member_id, &c, &isbns, &summary, &xml, &rec.record_id);
            db::catalogue::refresh_record(&app.db, &row).await?;
            report.refreshed += 1;
        }
        deleted => {
            let why = if deleted.is_some() {
                "the catalogue marks this record deleted (re-sync)"
            } else {
                "the catalogue no longer has this record (re-sync)"
            };
            report.gone += 1;
            report.discs_to_review +=
                db::catalogue::record_gone(&app.db, rec.bib_record_id, why).await?;
        }
    }
    Ok(())
}

/// Asks the catalogue for each linked record by its id.
async fn resync_by_sru(
    app: &App,
    client: &SruClient,
    records: &[db::catalogue::LinkedRecord],
    report: &mut ResyncReport,
) -> AppResult<()> {
    for rec in records {
        report.checked += 1;
        match client.by_record_id(&rec.record_id).await {
            Ok(found) => {
                let fresh = found.into_iter().find(|r| record_id(r) == rec.record_id);
                apply(app, rec, fresh, report).await?;
            }
            Err(e) => report.errors.push(format!("record {}: {e}", rec.record_id)),
        }
    }
    Ok(())
}

/// Harvests what changed since the last harvest and applies it to the linked records; a
/// deleted header sends its discs back to review. The record id is the 001, or for a
/// deleted header the identifier's last `:` segment (`oai:host:12345`).
async fn resync_by_oai(
    app: &App,
    member_id: i64,
    cfg: OaiConfig,
    from: Option<String>,
    records: &[db::catalogue::LinkedRecord],
    report: &mut ResyncReport,
) -> AppResult<()> {
    let client = match OaiClient::new(cfg) {
        Ok(c) => c,
        Err(e) => {
            report.errors.push(e.to_string());
            return Ok(());
        }
    };
    let harvest = match client.list_records(from.as_deref(), None).await {
        Ok(h) => h,
        Err(e) => {
            report.errors.push(format!("OAI-PMH harvest: {e}"));
            return Ok(());
        }
    };
    report.harvested += harvest.records.len() as u64;
    let mut latest = from;
    for r in &harvest.records {
        if latest.as_deref().is_none_or(|l| r.datestamp.as_str() > l) {
            latest = Some(r.datestamp.clone());
        }
        let id = match &r.record {
            Some(m) => record_id(m),
            None => r
                .identifier
                .rsplit(':')
                .next()
                .unwrap_or_default()
                .to_string(),
        };
        let Some(linked) = records.iter().find(|l| l.record_id == id) else {
            continue;
        };
        report.checked += 1;
        let fresh = if r.deleted { None } else { r.record.clone() };
        if r.deleted {
            report.gone += 1;
            report.discs_to_review += db::catalogue::record_gone(
                &app.db,
                linked.bib_record_id,
                "the catalogue's OAI-PMH feed reports this record deleted (re-sync)",
            )
            .await?;
        } else {
            apply(app, linked, fresh, report).await?;
        }
    }
    if let Some(l) = latest {
        db::catalogue::set_harvested_to(&app.db, member_id, &l).await?;
    }
    Ok(())
}

/// Fetches linked records again from their members' catalogues: the stored facts are
/// refreshed, and a record the catalogue deleted (or no longer has) sends its discs back to
/// review, saying why. A catalogue that cannot be reached is reported and left alone.
pub async fn resync(app: &App, member_id: Option<i64>) -> AppResult<ResyncReport> {
    let mut report = ResyncReport::default();
    let all = db::catalogue::linked_records(&app.db, member_id).await?;
    let mut members: Vec<i64> = all.iter().map(|r| r.member_id).collect();
    members.dedup();
    for m in members {
        let records: Vec<_> = all.iter().filter(|r| r.member_id == m).cloned().collect();
        let Some(cat) = db::catalogue::get(&app.db, m).await? else {
            continue;
        };
        match cat
            .oai_settings
            .as_deref()
            .map(serde_json::from_str::<OaiConfig>)
        {
            Some(Ok(cfg)) => {
                resync_by_oai(
                    app,
                    m,
                    cfg,
                    cat.oai_harvested_to.clone(),
                    &records,
                    &mut report,
                )
                .await?
            }
            Some(Err(e)) => report.errors.push(format!("stored OAI-PMH settings: {e}")),
            None => match app.catalogues.get(m, &cat.settings) {
                Ok(client) => resync_by_sru(app, &client, &records, &mut report).await?,
                Err(e) => report.errors.push(e.to_string()),
            },
        }
    }
    Ok(report)
}

/// Re-syncs every `hours` hours (never when 0).
pub async fn resync_forever(state: AppState, hours: u64) {
    if hours == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(hours * 3600));
    tick.tick().await;
    loop {
        tick.tick().await;
        match resync(&state, None).await {
            Ok(r) => tracing::info!(
                checked = r.checked,
                refreshed = r.refreshed,
                gone = r.gone,
                errors = r.errors.len(),
                "catalogue re-sync"
            ),
            Err(e) => tracing::warn!(error = e.message(), "catalogue re-sync failed"),
        }
    }
}

pub async fn resync_member(app: &App, staff: &Staff, code: &str) -> AppResult<ResyncReport> {
    let member = member_for(app, staff, code).await?;
    resync(app, Some(member.id)).await
}
