//! The home page's facts: the consortium's members with their discs, how many discs and
//! catalogue titles it holds, and the discs this reader may open, newest and most used.

use serde::Serialize;

use crate::access::{Scope, Viewer};
use crate::calendar::Day;
use crate::db::home::Reach;
use crate::db::{self, Db, DbError};

/// How many discs each list shows.
const LISTED: i64 = 8;
/// "Most used" looks back this many days.
const USED_DAYS: u32 = 90;

#[derive(Debug, Serialize)]
pub struct MemberLine {
    pub code: String,
    pub name: String,
    pub discs: i64,
}

#[derive(Debug, Serialize)]
pub struct DiscLine {
    pub id: i64,
    pub title: String,
    pub member: String,
    pub disc_number: i64,
    pub content_class: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Home {
    pub members: Vec<MemberLine>,
    pub discs: i64,
    pub titles: i64,
    pub newest: Vec<DiscLine>,
    pub most_used: Vec<DiscLine>,
}

pub async fn home(db: &Db, viewer: &Viewer) -> Result<Home, DbError> {
    let all = viewer.staff.as_ref().is_some_and(|s| s.member_id.is_none());
    let mut members: Vec<i64> = viewer.members.clone();
    let mut discs = Vec::new();
    if let Some(m) = viewer.staff.as_ref().and_then(|s| s.member_id) {
        members.push(m);
    }
    match viewer.grant.as_ref().map(|g| &g.scope) {
        Some(Scope::Member(m)) => members.push(*m),
        Some(Scope::Disc(d)) => discs.push(*d),
        None => {}
    }
    let reach = Reach {
        all,
        members: &members,
        discs: &discs,
    };
    let names = db::members::list(db).await?;
    let counts = db::usage::discs_per_member(db).await?;
    let mut lines: Vec<MemberLine> = names
        .into_iter()
        .map(|m| MemberLine {
            discs: counts
                .iter()
                .find(|(id, _)| *id == m.id)
                .map_or(0, |(_, n)| *n),
            code: m.code,
            name: m.name,
        })
        .collect();
    lines.sort_by(|a, b| a.name.cmp(&b.name));
    let (disc_count, titles) = db::home::totals(db).await?;
    let since =
        Day::of_ms(crate::calendar::now_ms() - i64::from(USED_DAYS) * crate::calendar::DAY_MS);
    let newest = db::home::newest(db, &reach, LISTED).await?;
    let most_used = db::home::most_used(db, &reach, &since.to_string(), LISTED).await?;
    Ok(Home {
        members: lines,
        discs: disc_count,
        titles,
        newest: disc_lines(db, &newest).await?,
        most_used: disc_lines(db, &most_used).await?,
    })
}

/// The discs `ids` as lines, in the order given.
async fn disc_lines(db: &Db, ids: &[i64]) -> Result<Vec<DiscLine>, DbError> {
    let mut rows = db::search::hits(db, ids).await?;
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(i) = rows.iter().position(|r| r.id == *id) {
            let r = rows.swap_remove(i);
            out.push(DiscLine {
                id: r.id,
                title: r.title,
                member: r.member_code,
                disc_number: r.disc_number,
                content_class: r.content_class,
            });
        }
    }
    Ok(out)
}
