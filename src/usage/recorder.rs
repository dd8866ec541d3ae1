//! The event writer: a bounded queue that never blocks a request, and a task that stores
//! events in batches (at least every `stats.flush_ms`, on request, and at shutdown).

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
        tokio::spawn(write_forever(db, rx, every, recorded, dropped));
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

async fn write_forever(
    db: Db,
    mut rx: mpsc::Receiver<Msg>,
    every: Duration,
    recorded: prometheus_client::metrics::counter::Counter,
    dropped: prometheus_client::metrics::counter::Counter,
) {
    let mut batch: Vec<EventRow> = Vec::new();
    let mut waiting: Vec<oneshot::Sender<()>> = Vec::new();
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
        if !batch.is_empty() && (ticked || !open || !waiting.is_empty() || batch.len() >= 1000) {
            write_batch(&db, &mut batch, &recorded, &dropped).await;
        }
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
        if !open {
            return;
        }
    }
}

async fn write_batch(
    db: &Db,
    batch: &mut Vec<EventRow>,
    recorded: &prometheus_client::metrics::counter::Counter,
    dropped: &prometheus_client::metrics::counter::Counter,
) {
    let events = std::mem::take(batch);
    let n = events.len() as u64;
    // One retry after a pause: a database restarting loses at most one batch.
    for attempt in 0..2 {
        match crate::db::usage::insert_events(db, &events).await {
            Ok(()) => {
                recorded.inc_by(n);
                return;
            }
            Err(e) if attempt == 0 => {
                tracing::warn!(error = %e, events = n, "writing usage events; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(e) => {
                tracing::error!(error = %e, events = n, "usage events lost: the database refused them");
                dropped.inc_by(n);
            }
        }
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
        let event = EventRow {
            id: 0,
            ts_ms: 0,
            action: "landing".into(),
            disc_id: Some(1),
            file_path: None,
            url_key: "GET /".into(),
            status: 200,
            members: String::new(),
            dc_key: String::new(),
            dc_key_prev: None,
            session_key: String::new(),
            robot: false,
            access_type: "Controlled".into(),
        };
        for _ in 0..3 {
            recorder.record(event.clone(), &metrics);
        }
        assert_eq!(metrics.usage_dropped.get(), 2);
        assert!(recorder.last_warning.load(Ordering::Relaxed) > 0, "logged");
    }
}
