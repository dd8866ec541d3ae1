//! Keeping linked records fresh: asking each catalogue again (SRU) or harvesting what
//! changed (OAI-PMH), every few hours and on a librarian's request.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use spindle_integrations::bib::BibRecord;
use spindle_integrations::lookup::Catalogue;
use spindle_integrations::marc::{Record, write_marcxml};
use spindle_integrations::oai::{OaiClient, OaiConfig};

use super::Linking;
use super::score::{Candidate, record_id, summary_row};
use super::settings::member_for;
use crate::auth::Staff;
use crate::db::{self};
use crate::error::AppResult;

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
    linking: &Linking,
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
            db::catalogue::refresh_record(&linking.db, &row).await?;
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
                db::catalogue::record_gone(&linking.db, rec.bib_record_id, why).await?;
        }
    }
    Ok(())
}

/// Asks the catalogue (SRU or Z39.50) for each linked record by its id.
async fn resync_by_lookup(
    linking: &Linking,
    client: &Catalogue,
    records: &[db::catalogue::LinkedRecord],
    report: &mut ResyncReport,
) -> AppResult<()> {
    for rec in records {
        report.checked += 1;
        match client.by_record_id(&rec.record_id).await {
            Ok((found, _)) => {
                let fresh = found.into_iter().find(|r| record_id(r) == rec.record_id);
                apply(linking, rec, fresh, report).await?;
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
    linking: &Linking,
    member_id: i64,
    cfg: OaiConfig,
    from: Option<String>,
    records: &[db::catalogue::LinkedRecord],
    report: &mut ResyncReport,
) -> AppResult<()> {
    let client = match OaiClient::new(cfg, &linking.egress) {
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
                &linking.db,
                linked.bib_record_id,
                "the catalogue's OAI-PMH feed reports this record deleted (re-sync)",
            )
            .await?;
        } else {
            apply(linking, linked, fresh, report).await?;
        }
    }
    if let Some(l) = latest {
        db::catalogue::set_harvested_to(&linking.db, member_id, &l).await?;
    }
    Ok(())
}

/// Fetches linked records again from their members' catalogues: the stored facts are
/// refreshed, and a record the catalogue deleted (or no longer has) sends its discs back to
/// review, saying why. A catalogue that cannot be reached is reported and left alone.
pub async fn resync(linking: &Linking, member_id: Option<i64>) -> AppResult<ResyncReport> {
    let mut report = ResyncReport::default();
    let all = db::catalogue::linked_records(&linking.db, member_id).await?;
    let mut members: Vec<i64> = all.iter().map(|r| r.member_id).collect();
    members.dedup();
    for m in members {
        let records: Vec<_> = all.iter().filter(|r| r.member_id == m).cloned().collect();
        let Some(cat) = db::catalogue::get(&linking.db, m).await? else {
            continue;
        };
        match cat
            .oai_settings
            .as_deref()
            .map(serde_json::from_str::<OaiConfig>)
        {
            Some(Ok(cfg)) => {
                resync_by_oai(
                    linking,
                    m,
                    cfg,
                    cat.oai_harvested_to.clone(),
                    &records,
                    &mut report,
                )
                .await?
            }
            Some(Err(e)) => report.errors.push(format!("stored OAI-PMH settings: {e}")),
            None => match linking
                .clients
                .get(m, &cat.kind, &cat.settings, &linking.egress)
            {
                Ok(client) => resync_by_lookup(linking, &client, &records, &mut report).await?,
                Err(e) => report.errors.push(e.to_string()),
            },
        }
    }
    Ok(report)
}

/// Re-syncs every `hours` hours (never when 0).
pub async fn resync_forever(linking: Arc<Linking>, hours: u64) {
    if hours == 0 {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(hours * 3600));
    tick.tick().await;
    loop {
        tick.tick().await;
        match resync(&linking, None).await {
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

pub async fn resync_member(
    linking: &Linking,
    staff: &Staff,
    code: &str,
) -> AppResult<ResyncReport> {
    let member = member_for(linking, staff, code).await?;
    resync(linking, Some(member.id)).await
}
