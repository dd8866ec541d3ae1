//! Rolling closed days into COUNTER figures, idempotently (a day rolled again replaces its
//! figures with the same numbers), and the background job that does it for every day that
//! has closed, deletes raw events once their month is long closed, and deletes day keys.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use super::count::{self, DOUBLE_CLICK_MS};
use super::{DAY_MS, day_of, day_start_ms, now_ms};
use crate::app::App;
use crate::db::{self, DbError};

/// What rolling one day did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rolled {
    pub day: String,
    pub events: usize,
    pub facts: usize,
}

/// A day is closed once its last click can no longer be merged with a later one.
pub fn closed(day: &str, now_ms: i64) -> bool {
    day_start_ms(day).is_some_and(|start| now_ms >= start + DAY_MS + DOUBLE_CLICK_MS + 5_000)
}

/// Rolls up one day (`YYYY-MM-DD`, UTC).
pub async fn rollup_day(app: &App, day: &str) -> Result<Rolled, DbError> {
    let Some(start) = day_start_ms(day) else {
        return Err(DbError::Invalid(format!(
            "{day:?} is not a day (YYYY-MM-DD)"
        )));
    };
    let events =
        db::usage::events_between(&app.db, start, start + DAY_MS + DOUBLE_CLICK_MS).await?;
    let discs: Vec<i64> = events
        .iter()
        .filter_map(|e| e.disc_id)
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    let attrs: HashMap<i64, (String, String)> = db::usage::disc_attributes(&app.db, &discs)
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
    let in_day = events.iter().filter(|e| e.ts_ms < start + DAY_MS).count();
    let (facts, searches) = count::count_day(&events, start, start + DAY_MS, &attrs);
    db::usage::replace_day(&app.db, day, in_day as i64, &facts, &searches).await?;
    Ok(Rolled {
        day: day.to_string(),
        events: in_day,
        facts: facts.len(),
    })
}

/// The days that have closed and are not rolled up yet, from the first day with events
/// (or the first day ever rolled).
pub async fn pending_days(app: &App, now: i64) -> Result<Vec<String>, DbError> {
    let rolled = db::usage::rolled_days(&app.db).await?;
    let first_event = db::usage::first_event_ms(&app.db).await?;
    let start = match (rolled.first().and_then(|d| day_start_ms(d)), first_event) {
        (Some(a), Some(b)) => a.min(b - b.rem_euclid(DAY_MS)),
        (Some(a), None) => a,
        (None, Some(b)) => b - b.rem_euclid(DAY_MS),
        (None, None) => return Ok(Vec::new()),
    };
    let done: HashSet<String> = rolled.into_iter().collect();
    let mut out = Vec::new();
    let mut t = start;
    while closed(&day_of(t), now) {
        let day = day_of(t);
        if !done.contains(&day) {
            out.push(day);
        }
        t += DAY_MS;
    }
    Ok(out)
}

/// The last month whose every day is rolled up (`YYYY-MM`), and the first month with any.
pub async fn months_available(app: &App) -> Result<Option<(String, String)>, DbError> {
    let rolled = db::usage::rolled_days(&app.db).await?;
    let (Some(first), Some(last)) = (rolled.first(), rolled.last()) else {
        return Ok(None);
    };
    let done: HashSet<&str> = rolled.iter().map(String::as_str).collect();
    // Walk from the first rolled day; the last complete month ends where a day is missing.
    let mut t = day_start_ms(first).unwrap_or(0);
    let end = day_start_ms(last).unwrap_or(0);
    let mut last_complete: Option<String> = None;
    while t <= end {
        let day = day_of(t);
        if !done.contains(day.as_str()) {
            break;
        }
        let next = day_of(t + DAY_MS);
        if next[..7] != day[..7] {
            last_complete = Some(day[..7].to_string());
        }
        t += DAY_MS;
    }
    Ok(last_complete.map(|l| (first[..7].to_string(), l)))
}

/// Rolls every closed day not rolled yet; deletes keys older than two days and raw events
/// older than their retention.
pub async fn catch_up(app: &App) -> Result<Vec<Rolled>, DbError> {
    let now = now_ms();
    let mut out = Vec::new();
    for day in pending_days(app, now).await? {
        let rolled = rollup_day(app, &day).await?;
        tracing::info!(day = %rolled.day, events = rolled.events, facts = rolled.facts, "usage day rolled up");
        out.push(rolled);
    }
    db::usage::purge_keys(&app.db, &day_of(now - 2 * DAY_MS)).await?;
    let keep = app.config.stats.raw_retention_days as i64 * DAY_MS;
    // Raw events stay while their month may still be corrected: the retention counts from
    // the end of the month they belong to.
    let month_start = {
        let today = day_of(now);
        day_start_ms(&format!("{}-01", &today[..7])).unwrap_or(now)
    };
    db::usage::purge_events(&app.db, month_start - keep).await?;
    Ok(out)
}

pub async fn run_forever(app: crate::app::AppState) {
    let every = Duration::from_secs(app.config.stats.rollup_interval_secs.max(1));
    loop {
        if let Err(e) = catch_up(&app).await {
            tracing::warn!(error = %e, "usage rollup failed; trying again later");
        }
        tokio::time::sleep(every).await;
    }
}
