//! Rolling closed days into COUNTER figures, idempotently (a day rolled again replaces its
//! figures with the same numbers), and the background job that does it for every day that
//! has closed, deletes raw events once their month is long closed, and deletes day keys.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::count::{self, DOUBLE_CLICK_MS};
use super::{DAY_MS, now_ms};
use crate::calendar::{Day, Month, Zone};
use crate::config::StatsConfig;
use crate::db::{self, Db, DbError};

/// What rolling one day did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rolled {
    pub day: Day,
    pub events: usize,
    pub facts: usize,
}

/// A day is closed once its last click can no longer be merged with a later one.
pub fn closed(zone: &Zone, day: Day, now_ms: i64) -> bool {
    now_ms >= zone.end_ms(day) + DOUBLE_CLICK_MS + 5_000
}

/// Rolls up one day (the consortium's: `stats.time_zone`).
pub async fn rollup_day(db: &Db, zone: &Zone, day: Day) -> Result<Rolled, DbError> {
    let (start, end) = (zone.start_ms(day), zone.end_ms(day));
    let (in_day, facts, searches) = count_between(db, start, end).await?;
    db::usage::replace_day(db, &day.to_string(), in_day as i64, &facts, &searches).await?;
    Ok(Rolled {
        day,
        events: in_day,
        facts: facts.len(),
    })
}

/// Today so far, counted by the rules a closed day is (not final: a later click may still
/// merge with one before it, and the day is rolled up once it closes): views, downloads and
/// launches of `scopes`.
pub async fn today_so_far(
    db: &Db,
    zone: &Zone,
    scopes: &[i64],
) -> Result<(i64, i64, i64), DbError> {
    let today = zone.today();
    let (_, facts, _) = count_between(db, zone.start_ms(today), zone.end_ms(today)).await?;
    Ok(facts
        .iter()
        .filter(|f| scopes.contains(&f.member_id))
        .fold((0, 0, 0), |(v, d, l), f| {
            (v + f.views, d + f.downloads, l + f.launches)
        }))
}

/// The events of `[start, end)` counted: how many there were, the figures, the searches.
async fn count_between(
    db: &Db,
    start: i64,
    end: i64,
) -> Result<(usize, Vec<db::usage::Fact>, Vec<(i64, i64)>), DbError> {
    let events = db::usage::events_between(db, start, end + DOUBLE_CLICK_MS).await?;
    let discs: Vec<i64> = events
        .iter()
        .filter_map(|e| e.disc_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let attrs: HashMap<i64, (String, String)> = db::usage::disc_attributes(db, &discs)
        .await?
        .into_iter()
        .map(|(id, class, year)| {
            (
                id,
                (
                    class.unwrap_or_else(|| "Multimedia".into()),
                    year.filter(|y| (1..=9999).contains(y))
                        .map_or_else(|| "0001".to_string(), |y| format!("{y:04}")),
                ),
            )
        })
        .collect();
    let in_day = events.iter().filter(|e| e.ts_ms < end).count();
    let (facts, searches) = count::count_day(&events, start, end, &attrs);
    Ok((in_day, facts, searches))
}

/// The days that have closed and are not rolled up yet, from the first day with events
/// (or the first day ever rolled).
pub async fn pending_days(db: &Db, zone: &Zone, now: i64) -> Result<Vec<Day>, DbError> {
    let rolled = rolled_days(db).await?;
    let first_event = db::usage::first_event_ms(db).await?.map(|ms| zone.day(ms));
    let Some(mut day) = rolled.first().copied().into_iter().chain(first_event).min() else {
        return Ok(Vec::new());
    };
    let done: HashSet<Day> = rolled.into_iter().collect();
    let mut out = Vec::new();
    while closed(zone, day, now) {
        if !done.contains(&day) {
            out.push(day);
        }
        day = day.next();
    }
    Ok(out)
}

/// The days rolled up so far, in order.
async fn rolled_days(db: &Db) -> Result<Vec<Day>, DbError> {
    db::usage::rolled_days(db)
        .await?
        .iter()
        .map(|d| {
            Day::parse(d)
                .ok_or_else(|| DbError::Invalid(format!("a rolled day {d:?} is not a day")))
        })
        .collect()
}

/// The first month with any day rolled up, and the last whose every day is.
pub async fn months_available(db: &Db) -> Result<Option<(Month, Month)>, DbError> {
    let rolled = rolled_days(db).await?;
    let (Some(&first), Some(&last)) = (rolled.first(), rolled.last()) else {
        return Ok(None);
    };
    let done: HashSet<Day> = rolled.into_iter().collect();
    // Walk from the first rolled day; the last complete month ends where a day is missing.
    let mut day = first;
    let mut last_complete: Option<Month> = None;
    while day <= last && done.contains(&day) {
        if day.next().month() != day.month() {
            last_complete = Some(day.month());
        }
        day = day.next();
    }
    Ok(last_complete.map(|l| (first.month(), l)))
}

/// Rolls every closed day not rolled yet; deletes keys older than two days and raw events
/// older than their retention.
pub async fn catch_up(db: &Db, stats: &StatsConfig) -> Result<Vec<Rolled>, DbError> {
    let now = now_ms();
    let zone = &stats.time_zone;
    let mut out = Vec::new();
    for day in pending_days(db, zone, now).await? {
        let rolled = rollup_day(db, zone, day).await?;
        tracing::info!(day = %rolled.day, events = rolled.events, facts = rolled.facts, "usage day rolled up");
        out.push(rolled);
    }
    db::usage::purge_keys(db, &zone.day(now - 2 * DAY_MS).to_string()).await?;
    let keep = stats.raw_retention_days as i64 * DAY_MS;
    // Raw events stay while their month may still be corrected: the retention counts from
    // the end of the month they belong to.
    let month_start = zone.start_ms(zone.day(now).month().first_day());
    db::usage::purge_events(db, month_start - keep).await?;
    Ok(out)
}

/// The lease of the node that rolls up (see `db::leases`): one node of a cluster at a time.
pub const LEASE: &str = "usage-rollup";

/// The server's rollup: every `stats.rollup_interval_secs`, [`catch_up`], on whichever node
/// holds [`LEASE`]. The holder keeps it from pass to pass (it outlasts the sleep between
/// them) and renews it while rolling; when the holder dies another node takes it once it has
/// lapsed, within two intervals. Days rolled are counted in `rolled`.
pub async fn run_forever(
    db: Db,
    stats: StatsConfig,
    node: String,
    rolled: prometheus_client::metrics::counter::Counter,
) {
    let every = Duration::from_secs(stats.rollup_interval_secs.max(1));
    let lease_ms = i64::try_from(every.as_millis()).unwrap_or(i64::MAX / 4) * 2 + 2_000;
    let take = || {
        let now = now_ms();
        db::leases::take(&db, LEASE, &node, now, now + lease_ms)
    };
    loop {
        match take().await {
            Ok(true) => {
                let pass = crate::queue::while_holding(
                    "the usage rollup",
                    catch_up(&db, &stats),
                    Duration::from_millis(lease_ms.unsigned_abs() / 3),
                    take,
                )
                .await;
                match pass {
                    Some(Ok(days)) => {
                        rolled.inc_by(days.len() as u64);
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "usage rollup failed; trying again later")
                    }
                    None => {}
                }
            }
            // Another node rolls up.
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot take the usage rollup's lease; trying again later")
            }
        }
        tokio::time::sleep(every).await;
    }
}
