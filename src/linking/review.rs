//! A disc's links as readers and librarians see them, and the librarian's review of what
//! was not certain.

use serde::Serialize;

use super::Linking;
use super::settings::member_for;
use crate::auth::Staff;
use crate::db::{self, catalogue::LinkRow};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::state::{LinkState, LinkStatus};

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
    pub state: LinkState,
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
            accept_url: crate::site::here(format!(
                "/api/v1/discs/{}/links/{}/accept",
                l.disc_id, l.bib_record_id
            )),
            reject_url: crate::site::here(format!(
                "/api/v1/discs/{}/links/{}/reject",
                l.disc_id, l.bib_record_id
            )),
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

pub async fn links(linking: &Linking, disc_id: i64) -> AppResult<Vec<LinkView>> {
    Ok(db::catalogue::links_of(&linking.db, disc_id)
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

pub async fn review_queue(
    linking: &Linking,
    staff: &Staff,
    code: &str,
) -> AppResult<Vec<ReviewItem>> {
    let member = member_for(linking, staff, code).await?;
    let mut out: Vec<ReviewItem> = Vec::new();
    for l in db::catalogue::review_queue(&linking.db, member.id, 5000).await? {
        let disc = l.disc_id;
        match out.last_mut() {
            Some(item) if item.disc == disc => item.candidates.push(l.into()),
            _ => out.push(ReviewItem {
                disc,
                disc_url: crate::site::here(format!("/api/v1/discs/{disc}")),
                candidates: vec![l.into()],
            }),
        }
    }
    Ok(out)
}

/// A librarian accepts or rejects one candidate; returns the disc's new link status.
pub async fn decide(
    linking: &Linking,
    staff: &Staff,
    disc_id: i64,
    bib_record_id: i64,
    accept: bool,
) -> AppResult<LinkStatus> {
    let disc = db::discs::get(&linking.db, disc_id).await?.ok_or_else(|| {
        AppError::not_found(
            ErrorCode::DiscNotFound,
            detail!("err_no_disc", id = disc_id),
        )
    })?;
    if !staff.may_act_for(disc.member_id) {
        return Err(AppError::forbidden(detail!("err_review_own")));
    }
    let by = staff.label();
    db::catalogue::decide(&linking.db, disc_id, bib_record_id, accept, &by)
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::LinkNotFound,
                detail!(
                    "err_no_candidate_for",
                    disc = disc_id,
                    record = bib_record_id
                ),
            )
        })
}

pub async fn relink(linking: &Linking, staff: &Staff, disc_id: i64) -> AppResult<()> {
    let disc = db::discs::get(&linking.db, disc_id).await?.ok_or_else(|| {
        AppError::not_found(
            ErrorCode::DiscNotFound,
            detail!("err_no_disc", id = disc_id),
        )
    })?;
    if !staff.may_act_for(disc.member_id) {
        return Err(AppError::forbidden(detail!("err_relink_own")));
    }
    db::catalogue::requeue(&linking.db, disc_id).await?;
    linking.wake();
    Ok(())
}
