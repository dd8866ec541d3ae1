//! The linkers: each claims a disc from the queue (leased, off the request path), looks it
//! up (barcode, then record id, then ISBN in both forms, then title + year), resolves a
//! separately catalogued disc to its host book, scores and stores the outcome.

use spindle_integrations::bib::BibRecord;
use spindle_integrations::isbn::Isbn;
use spindle_integrations::lookup::{Catalogue, Found, LookupError};
use spindle_integrations::marc::{Record, write_marcxml};

use super::Linking;
use super::score::{AUTO_LINK, Candidate, record_id, score, summary_row};
use crate::db::{
    self,
    catalogue::{NewBibRecord, NewLink},
    discs::DiscRow,
};
use crate::state::{LinkState, LinkStatus};

/// The lookups in order, the first that finds anything winning. One the catalogue refuses
/// (an index or attribute it does not support) is noted and the next is tried: a bad barcode
/// index must not keep a disc with a good ISBN from linking.
async fn lookups(
    client: &Catalogue,
    disc: &DiscRow,
    notes: &mut Vec<String>,
) -> Result<Vec<(Record, &'static str, String)>, LookupError> {
    fn hits(found: Found, method: &'static str) -> Vec<(Record, &'static str, String)> {
        let (records, q) = found;
        records
            .into_iter()
            .map(|r| (r, method, q.clone()))
            .collect()
    }
    let mut refused = |what: &str, e: LookupError| -> Result<(), LookupError> {
        if e.query_refused() {
            notes.push(format!("the {what} lookup failed ({e}); tried the next"));
            Ok(())
        } else {
            Err(e)
        }
    };
    if let Some(b) = &disc.barcode {
        match client.by_barcode(b).await {
            Ok(Some(found)) if !found.0.is_empty() => return Ok(hits(found, "barcode")),
            Ok(_) => {}
            Err(e) => refused("barcode", e)?,
        }
    }
    if let Some(id) = &disc.record_id {
        match client.by_record_id(id).await {
            Ok(found) if !found.0.is_empty() => return Ok(hits(found, "record-id")),
            Ok(_) => {}
            Err(e) => refused("record id", e)?,
        }
    }
    if let Some(isbn) = &disc.isbn {
        match client.by_isbns(&Isbn::lookup_forms(isbn)).await {
            Ok(found) if !found.0.is_empty() => return Ok(hits(found, "isbn")),
            Ok(_) => {}
            Err(e) => refused("ISBN", e)?,
        }
    }
    if let Some(title) = &disc.title_hint {
        let year = disc.year_hint.and_then(|y| i32::try_from(y).ok());
        match client.by_title_year(title, year).await {
            Ok(found) => return Ok(hits(found, "title-year")),
            Err(e) => refused("title", e)?,
        }
    }
    Ok(Vec::new())
}

/// The host book of a disc record: among the records already fetched, else asked for.
async fn host_record(
    client: &Catalogue,
    fetched: &[Record],
    host_id: &str,
) -> Result<Option<Record>, LookupError> {
    if let Some(r) = fetched.iter().find(|r| record_id(r) == host_id) {
        return Ok(Some(r.clone()));
    }
    Ok(client.by_record_id(host_id).await?.0.into_iter().next())
}

async fn candidates(
    client: &Catalogue,
    disc: &DiscRow,
) -> Result<(Vec<Candidate>, Vec<String>), LookupError> {
    let mut notes = Vec::new();
    let mut out: Vec<Candidate> = Vec::new();
    let found = lookups(client, disc, &mut notes).await?;
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

/// Links one disc (the linker's work for one queue entry).
async fn link_disc(linking: &Linking, disc_id: i64) -> Result<(), crate::db::DbError> {
    let Some(disc) = db::discs::get(&linking.db, disc_id).await? else {
        return Ok(());
    };
    let Some(cat) = db::catalogue::get(&linking.db, disc.member_id).await? else {
        return db::catalogue::store_outcome(
            &linking.db,
            disc_id,
            &[],
            &[],
            LinkStatus::NoCatalogue,
            None,
        )
        .await;
    };
    if disc.barcode.is_none()
        && disc.isbn.is_none()
        && disc.record_id.is_none()
        && disc.title_hint.is_none()
    {
        let why =
            "the disc has no barcode, ISBN, record id or title to look up; add one and relink";
        return db::catalogue::store_outcome(
            &linking.db,
            disc_id,
            &[],
            &[],
            LinkStatus::Unmatched,
            Some(why),
        )
        .await;
    }
    let outcome =
        match linking
            .clients
            .get(disc.member_id, &cat.kind, &cat.settings, &linking.egress)
        {
            Ok(client) => candidates(&client, &disc).await,
            Err(e) => Err(e),
        };
    let (cands, notes) = match outcome {
        Ok(v) => v,
        Err(e) if e.try_later() => {
            tracing::warn!(disc = disc_id, error = %e, "catalogue lookup failed; will retry");
            return db::catalogue::retry_later(&linking.db, disc_id, 60, &e.to_string()).await;
        }
        Err(e) => {
            tracing::info!(disc = disc_id, error = %e, "catalogue lookup failed");
            return db::catalogue::store_outcome(
                &linking.db,
                disc_id,
                &[],
                &[],
                LinkStatus::Failed,
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
        (0, _) => LinkStatus::Unmatched,
        (_, 1) if cands[0].score >= AUTO_LINK => LinkStatus::Linked,
        _ => LinkStatus::Review,
    };
    let links: Vec<NewLink> = cands
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let mut why = c.why.clone();
            why.extend(notes.iter().cloned());
            if status == LinkStatus::Review && sure > 1 {
                why.push(format!("{sure} records are equally likely"));
            }
            NewLink {
                bib: i,
                state: if status == LinkStatus::Linked && i == 0 {
                    LinkState::Linked
                } else {
                    LinkState::Review
                },
                score: c.score,
                method: c.method.to_string(),
                query: c.query.clone(),
                explanation: why.join("; "),
            }
        })
        .filter(|l| status != LinkStatus::Linked || l.state == LinkState::Linked)
        .collect();
    let error = (status == LinkStatus::Unmatched).then(|| {
        if notes.is_empty() {
            "the catalogue has no record for this disc's identifiers".to_string()
        } else {
            notes.join("; ")
        }
    });
    db::catalogue::store_outcome(
        &linking.db,
        disc_id,
        &rows,
        &links,
        status,
        error.as_deref(),
    )
    .await
}

/// Runs the linkers until the process stops.
pub async fn run(linking: std::sync::Arc<Linking>) {
    let linking: &Linking = &linking;
    crate::queue::drain_forever(
        "a disc to link",
        &linking.wake,
        || db::catalogue::claim_disc(&linking.db, 300),
        |id: i64| async move {
            if let Err(e) = link_disc(linking, id).await {
                tracing::warn!(disc = id, error = %e, "cannot record a linking outcome");
            }
            linking.done.inc();
        },
    )
    .await;
}
