//! The event writer: a bounded queue that never blocks a request, and a task that stores
//! events in batches (at least every `stats.flush_ms`, on request, and at shutdown). While the
//! database refuses them (a restart, a failover) the events are held, up to `stats.queue`
//! beside the queue, and written once it answers again.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::calendar::now_ms;
use crate::config::Config;
use crate::db::Db;
use crate::db::usage::EventRow;
use crate::metrics::Metrics;

enum Msg {
    Event(Box<EventRow>),
    Flush(oneshot::Sender<()>),
}

/// The bounded queue to the event writer.
pub struct Recorder {
    tx: mpsc::Sender<Msg>,
    last_warning: AtomicI64,
}

impl Recorder {
    /// Starts the writer (on the current runtime).
    pub(super) fn start(
        db: Db,
        config: &Config,
        recorded: prometheus_client::metrics::counter::Counter,
        dropped: prometheus_client::metrics::counter::Counter,
    ) -> Self {
        let (tx, rx) = mpsc::channel(config.stats.queue.max(1));
        let every = Duration::from_millis(config.stats.flush_ms.max(10));
        let held = Held {
            max: config.stats.queue.max(1000),
            zone: config.stats.time_zone.clone(),
            recorded,
            dropped,
        };
        tokio::spawn(write_forever(db, rx, every, held));
        Self {
            tx,
            last_warning: AtomicI64::new(0),
        }
    }

    /// Queues an event; when the queue is full the event is dropped, counted and logged
    /// (at most once a minute), and the request goes on.
    pub fn record(&self, event: EventRow, metrics: &Metrics) {
        if self.tx.try_send(Msg::Event(Box::new(event))).is_err() {
            metrics.usage_dropped.inc();
            let now = now_ms();
            let last = self.last_warning.load(Ordering::Relaxed);
            if now - last > 60_000
                && self
                    .last_warning
                    .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
            {
                tracing::warn!(
                    "usage queue full: events are being dropped (see spindle_usage_events_dropped)"
                );
            }
        }
    }

    /// Waits until every event queued before this call is written.
    pub async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Msg::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

/// How long the writer waits after a failed write before trying again: doubling from the
/// first, up to the last.
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Tries at shutdown while the database refuses the last events (about 8 s in all).
const TRIES_AT_SHUTDOWN: u32 = 6;

async fn write_forever(db: Db, mut rx: mpsc::Receiver<Msg>, every: Duration, held: Held) {
    let mut batch: Vec<EventRow> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // While the database refuses writes (a restart, a failover): when to try again, and the
    // pause after that.
    let mut retry: Option<(tokio::time::Instant, Duration)> = None;
    loop {
        let (open, ticked) = tokio::select! {
            msg = rx.recv() => match msg {
                Some(Msg::Event(e)) => { batch.push(*e); (true, false) }
                Some(Msg::Flush(done)) => { waiting.push(done); (true, false) }
                None => (false, false),
            },
            _ = tick.tick() => (true, true),
        };
        // Take whatever else is already queued, then write if it is time (or asked).
        while let Ok(msg) = rx.try_recv() {
            match msg {
                Msg::Event(e) => batch.push(*e),
                Msg::Flush(done) => waiting.push(done),
            }
        }
        let due = retry.is_none_or(|(at, _)| tokio::time::Instant::now() >= at);
        if !batch.is_empty()
            && due
            && (ticked || !open || !waiting.is_empty() || batch.len() >= 1000)
        {
            retry = match held.write(&db, &batch).await {
                Ok(()) => {
                    batch.clear();
                    None
                }
                Err(e) => {
                    let pause = retry.map_or(RETRY_FIRST, |(_, p)| (p * 2).min(RETRY_MAX));
                    if retry.is_none() {
                        tracing::warn!(error = %e, events = batch.len(), "writing usage events; holding them and retrying");
                    }
                    held.bound(&mut batch);
                    Some((tokio::time::Instant::now() + pause, pause))
                }
            };
        }
        // A flush waits for the try due now, if any: not for the database to come back.
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        if !open {
            held.last_tries(&db, batch).await;
            return;
        }
    }
}

/// What the writer does with events it could not write yet.
struct Held {
    /// The most events held while the database refuses them (`stats.queue`): past that the
    /// oldest are dropped and counted.
    max: usize,
    zone: crate::calendar::Zone,
    recorded: prometheus_client::metrics::counter::Counter,
    dropped: prometheus_client::metrics::counter::Counter,
}

impl Held {
    /// Writes `events`; a day they fall in that was already rolled up is rolled again (they
    /// arrive late after an outage: the rollup must not have passed them by).
    async fn write(&self, db: &Db, events: &[EventRow]) -> Result<(), crate::db::DbError> {
        let now = now_ms();
        let mut late: Vec<String> = events
            .iter()
            .map(|e| self.zone.day(e.ts_ms))
            .filter(|d| crate::usage::rollup::closed(&self.zone, *d, now))
            .map(|d| d.to_string())
            .collect();
        late.sort();
        late.dedup();
        crate::db::usage::insert_events(db, events, &late).await?;
        self.recorded.inc_by(events.len() as u64);
        Ok(())
    }

    /// Drops the oldest events past `max`, counted and logged.
    fn bound(&self, batch: &mut Vec<EventRow>) {
        if batch.len() > self.max {
            let over = batch.len() - self.max;
            batch.drain(..over);
            self.dropped.inc_by(over as u64);
            tracing::error!(
                events = over,
                "usage events lost: the database refused them for too long"
            );
        }
    }

    /// At shutdown: a few more tries, then what is left is lost, counted and logged.
    async fn last_tries(&self, db: &Db, batch: Vec<EventRow>) {
        if batch.is_empty() {
            return;
        }
        let mut pause = RETRY_FIRST;
        for _ in 0..TRIES_AT_SHUTDOWN {
            match self.write(db, &batch).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, events = batch.len(), "writing usage events at shutdown; retrying")
                }
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(RETRY_MAX);
        }
        self.dropped.inc_by(batch.len() as u64);
        tracing::error!(
            events = batch.len(),
            "usage events lost at shutdown: the database refused them"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, _stalled_writer) = mpsc::channel(1);
        let recorder = Recorder {
            tx,
            last_warning: AtomicI64::new(0),
        };
        let metrics = Metrics::default();
        let event = event_at(0);
        for _ in 0..3 {
            recorder.record(event.clone(), &metrics);
        }
        assert_eq!(metrics.usage_dropped.get(), 2);
        assert!(recorder.last_warning.load(Ordering::Relaxed) > 0, "logged");
    }

    fn event_at(ts_ms: i64) -> EventRow {
        EventRow {
            id: 0,
            ts_ms,
            action: "landing".into(),
            disc_id: Some(1),
            file_path: None,
            url_key: format!("GET /{ts_ms}"),
            status: 200,
            members: String::new(),
            dc_key: String::new(),
            dc_key_prev: None,
            session_key: String::new(),
            robot: false,
            access_type: "Controlled".into(),
        }
    }

    /// The database refuses events for a while (their table gone): the writer holds them,
    /// loses none, and writes them once it takes them again; one of them falls in a day
    /// rolled up already, which is then rolled again.
    #[tokio::test]
    async fn events_wait_out_a_database_that_refuses_them() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite:{}", dir.path().join("t.db").display());
        let db = Db::connect(&url, 2, Duration::from_secs(5)).await.unwrap();
        db.migrate().await.unwrap();
        let Db::Sqlite(pool) = &db else {
            panic!("sqlite")
        };
        let config = Config::default();
        let zone = config.stats.time_zone.clone();
        let old = zone.start_ms(zone.day(now_ms()).prev().prev()) + 3_600_000;
        let old_day = zone.day(old).to_string();
        sqlx::query("INSERT INTO usage_days (day, events, rolled_at) VALUES ($1, 0, 0)")
            .bind(&old_day)
            .execute(pool)
            .await
            .unwrap();
        sqlx::query("ALTER TABLE usage_events RENAME TO usage_events_away")
            .execute(pool)
            .await
            .unwrap();
        let metrics = Metrics::default();
        let recorder = Recorder::start(
            db.clone(),
            &config,
            metrics.usage_recorded.clone(),
            metrics.usage_dropped.clone(),
        );
        recorder.record(event_at(now_ms()), &metrics);
        recorder.record(event_at(old), &metrics);
        recorder.flush().await;
        // Refused several times over (retries at 0.25, 0.5, 1 s ...).
        tokio::time::sleep(Duration::from_millis(1500)).await;
        recorder.record(event_at(now_ms()), &metrics);
        recorder.flush().await;
        assert_eq!(metrics.usage_recorded.get(), 0);
        assert_eq!(metrics.usage_dropped.get(), 0, "nothing given up");
        sqlx::query("ALTER TABLE usage_events_away RENAME TO usage_events")
            .execute(pool)
            .await
            .unwrap();
        let mut stored = 0;
        for _ in 0..100 {
            stored = sqlx::query_scalar::<_, i64>("SELECT COUNT(*) FROM usage_events")
                .fetch_one(pool)
                .await
                .unwrap();
            if stored == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(stored, 3, "every event held was written");
        assert_eq!(metrics.usage_recorded.get(), 3);
        let rolled: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM usage_days WHERE day = $1")
            .bind(&old_day)
            .fetch_one(pool)
            .await
            .unwrap();
        assert_eq!(rolled, 0, "the late event's day is to be rolled again");
    }
}
