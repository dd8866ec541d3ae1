//! The statistics dashboards: the consortium's (for its admins) or one member's (for its
//! librarians and the admins). The figures the consortium publishes side by side by year
//! (members, records, discs, bytes stored, views, downloads, launches), the last twelve
//! months as a table and an SVG chart drawn here, the most used discs, the members compared,
//! and the content classes. Every table is also CSV.

use std::collections::HashMap;

use serde::Serialize;

use crate::calendar::{Day, Zone};
use crate::db::usage::By;
use crate::db::{self, Db, members::Member};
use crate::error::AppResult;
use crate::usage::count::{CONSORTIUM, UNATTRIBUTED};
use crate::usage::now_ms;

#[derive(Debug, Serialize, Default, Clone)]
pub struct YearRow {
    pub year: String,
    pub members: i64,
    pub records: i64,
    pub discs: i64,
    pub bytes: i64,
    pub bytes_text: String,
    pub views: i64,
    pub downloads: i64,
    pub launches: i64,
}

#[derive(Debug, Serialize, Default, Clone)]
pub struct MonthRow {
    pub month: String,
    pub views: i64,
    pub downloads: i64,
    pub launches: i64,
}

#[derive(Debug, Serialize, Clone)]
pub struct TopRow {
    pub disc: i64,
    pub name: String,
    pub member: String,
    pub views: i64,
    pub downloads: i64,
    pub launches: i64,
}

#[derive(Debug, Serialize, Clone)]
pub struct LeagueRow {
    pub code: String,
    pub name: String,
    pub discs: i64,
    pub views: i64,
    pub downloads: i64,
    pub launches: i64,
}

#[derive(Debug, Serialize, Clone)]
pub struct ClassRow {
    pub class: String,
    pub views: i64,
    pub downloads: i64,
    pub launches: i64,
}

#[derive(Debug, Serialize)]
pub struct Dashboard {
    pub years: Vec<YearRow>,
    pub months: Vec<MonthRow>,
    pub top: Vec<TopRow>,
    pub league: Vec<LeagueRow>,
    pub classes: Vec<ClassRow>,
}

/// 1.2 TB, 41 GB, 512 MB…
pub fn bytes_text(n: i64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB", "PB"];
    let mut v = n as f64;
    let mut i = 0;
    while v >= 1000.0 && i < units.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    if i == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[i])
    }
}

fn usage_map(rows: Vec<(String, i64, i64, i64)>) -> HashMap<String, (i64, i64, i64)> {
    rows.into_iter()
        .map(|(k, v, d, l)| (k, (v, d, l)))
        .collect()
}

/// Whose usage a dashboard shows: the member's, or everything used (attributed, each event
/// once, and unattributed).
fn scopes(member: Option<&Member>) -> Vec<i64> {
    match member {
        Some(m) => vec![m.id],
        None => vec![CONSORTIUM, UNATTRIBUTED],
    }
}

/// Today so far, live (not final until the day closes and is rolled up): for the page only,
/// as it reads today's raw events.
pub async fn today(db: &Db, zone: &Zone, member: Option<&Member>) -> AppResult<MonthRow> {
    let (views, downloads, launches) =
        crate::usage::rollup::today_so_far(db, zone, &scopes(member)).await?;
    Ok(MonthRow {
        month: zone.today().to_string(),
        views,
        downloads,
        launches,
    })
}

pub async fn build(db: &Db, zone: &Zone, member: Option<&Member>) -> AppResult<Dashboard> {
    let scopes = scopes(member);
    let ever = "0000-00-00";
    let this_month = zone.month();
    let twelve = this_month.back(11).first_day().to_string();

    let by_year = usage_map(db::usage::usage_by(db, &scopes, By::Year, ever, 1000).await?);
    let this_year = zone.today().year();
    let first_year = db::usage::first_member_at(db)
        .await?
        .map(|s| zone.day(s.saturating_mul(1000)).year())
        .into_iter()
        .chain(by_year.keys().filter_map(|y| y.parse().ok()))
        .min()
        .unwrap_or(this_year);
    let mut years = Vec::new();
    for y in first_year..=this_year {
        let end = if y == this_year {
            now_ms() / 1000 + 1
        } else {
            Day::from_ymd(y + 1, 1, 1).map_or(i64::MAX, |d| zone.start_ms(d) / 1000)
        };
        let (members, records, discs, bytes) =
            db::usage::holdings(db, member.map(|m| m.id), end).await?;
        let (views, downloads, launches) = by_year.get(&y.to_string()).copied().unwrap_or_default();
        years.push(YearRow {
            year: y.to_string(),
            members,
            records,
            discs,
            bytes,
            bytes_text: bytes_text(bytes),
            views,
            downloads,
            launches,
        });
    }

    let by_month = usage_map(db::usage::usage_by(db, &scopes, By::Month, &twelve, 100).await?);
    let months: Vec<MonthRow> = (0..12)
        .rev()
        .map(|back| {
            let month = this_month.back(back).to_string();
            let (views, downloads, launches) = by_month.get(&month).copied().unwrap_or_default();
            MonthRow {
                month,
                views,
                downloads,
                launches,
            }
        })
        .collect();

    let top_rows = db::usage::usage_by(db, &scopes, By::Disc, &twelve, 20).await?;
    let ids: Vec<i64> = top_rows
        .iter()
        .filter_map(|(k, ..)| k.parse().ok())
        .collect();
    let names: HashMap<i64, String> = db::usage::disc_names(db, &ids)
        .await?
        .into_iter()
        .map(|(id, name, title)| (id, title.map_or(name.clone(), |t| format!("{t} ({name})"))))
        .collect();
    let mut top = Vec::new();
    for (key, views, downloads, launches) in top_rows {
        let Ok(disc) = key.parse::<i64>() else {
            continue;
        };
        let member = db::discs::get(db, disc)
            .await?
            .map(|d| d.member_code)
            .unwrap_or_default();
        top.push(TopRow {
            disc,
            name: names
                .get(&disc)
                .cloned()
                .unwrap_or_else(|| format!("#{disc}")),
            member,
            views,
            downloads,
            launches,
        });
    }

    let mut league = Vec::new();
    if member.is_none() {
        let all = db::members::list(db).await?;
        let ids: Vec<i64> = all.iter().map(|m| m.id).collect();
        let used = usage_map(db::usage::usage_by(db, &ids, By::Member, &twelve, 100_000).await?);
        let discs: HashMap<i64, i64> = db::usage::discs_per_member(db).await?.into_iter().collect();
        for m in all {
            let (views, downloads, launches) =
                used.get(&m.id.to_string()).copied().unwrap_or_default();
            league.push(LeagueRow {
                discs: discs.get(&m.id).copied().unwrap_or(0),
                code: m.code,
                name: m.name,
                views,
                downloads,
                launches,
            });
        }
        league.sort_by(|a, b| {
            (b.downloads + b.launches, b.views, &a.code).cmp(&(
                a.downloads + a.launches,
                a.views,
                &b.code,
            ))
        });
    }

    let classes = db::usage::usage_by(db, &scopes, By::Class, &twelve, 100)
        .await?
        .into_iter()
        .map(|(class, views, downloads, launches)| ClassRow {
            class,
            views,
            downloads,
            launches,
        })
        .collect();
    Ok(Dashboard {
        years,
        months,
        top,
        league,
        classes,
    })
}

fn cell(s: &str) -> String {
    // A leading =, +, - or @ would be a formula to a spreadsheet.
    let s = if s.starts_with(['=', '+', '-', '@']) {
        format!("'{s}")
    } else {
        s.to_string()
    };
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s
    }
}

/// One table as CSV (UTF-8 with a byte-order mark, so spreadsheets read Chinese names).
pub fn csv(d: &Dashboard, table: &str) -> Option<String> {
    let (header, rows): (&str, Vec<Vec<String>>) = match table {
        "years" => (
            "year,members,records,discs,bytes,views,downloads,launches",
            d.years
                .iter()
                .map(|y| {
                    vec![
                        y.year.clone(),
                        y.members.to_string(),
                        y.records.to_string(),
                        y.discs.to_string(),
                        y.bytes.to_string(),
                        y.views.to_string(),
                        y.downloads.to_string(),
                        y.launches.to_string(),
                    ]
                })
                .collect(),
        ),
        "months" => (
            "month,views,downloads,launches",
            d.months
                .iter()
                .map(|m| {
                    vec![
                        m.month.clone(),
                        m.views.to_string(),
                        m.downloads.to_string(),
                        m.launches.to_string(),
                    ]
                })
                .collect(),
        ),
        "top" => (
            "disc,name,member,views,downloads,launches",
            d.top
                .iter()
                .map(|t| {
                    vec![
                        t.disc.to_string(),
                        t.name.clone(),
                        t.member.clone(),
                        t.views.to_string(),
                        t.downloads.to_string(),
                        t.launches.to_string(),
                    ]
                })
                .collect(),
        ),
        "members" => (
            "member,name,discs,views,downloads,launches",
            d.league
                .iter()
                .map(|l| {
                    vec![
                        l.code.clone(),
                        l.name.clone(),
                        l.discs.to_string(),
                        l.views.to_string(),
                        l.downloads.to_string(),
                        l.launches.to_string(),
                    ]
                })
                .collect(),
        ),
        "classes" => (
            "class,views,downloads,launches",
            d.classes
                .iter()
                .map(|c| {
                    vec![
                        c.class.clone(),
                        c.views.to_string(),
                        c.downloads.to_string(),
                        c.launches.to_string(),
                    ]
                })
                .collect(),
        ),
        _ => return None,
    };
    let mut out = String::from("\u{feff}");
    out.push_str(header);
    out.push_str("\r\n");
    for r in rows {
        out.push_str(&r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(","));
        out.push_str("\r\n");
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_cells() {
        assert_eq!(bytes_text(41_000_000_000_000), "41.0 TB");
        assert_eq!(bytes_text(512), "512 B");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("光盘, 1"), "\"光盘, 1\"");
    }
}
