//! Background work taken from a leased database queue (images to read, discs to link): one
//! loop shape for all of them, so waking, idling and database outages behave the same.

use std::future::Future;
use std::time::Duration;

use tokio::sync::Notify;

use crate::db::DbError;

/// How long an idle worker waits before looking again when nobody wakes it (work queued by
/// another node, or a lease run out).
const IDLE: Duration = Duration::from_secs(5);

/// Takes items with `claim` and does them with `work` until the process stops. When the queue
/// is empty it waits for `wake` (or `IDLE`); when the database fails it says so and waits.
pub async fn drain_forever<T, C, CF, W, WF>(what: &str, wake: &Notify, mut claim: C, mut work: W)
where
    C: FnMut() -> CF,
    CF: Future<Output = Result<Option<T>, DbError>>,
    W: FnMut(T) -> WF,
    WF: Future<Output = ()>,
{
    loop {
        match claim().await {
            Ok(Some(item)) => work(item).await,
            Ok(None) => {
                tokio::select! {
                    _ = wake.notified() => {}
                    _ = tokio::time::sleep(IDLE) => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot take {what} from the queue");
                tokio::time::sleep(IDLE).await;
            }
        }
    }
}

/// Sets the queue gauges from the database (at scrape time: the queues are shared by every
/// node, so each node reports the same depths). A failed count leaves the last value.
pub async fn measure(db: &crate::db::Db, metrics: &crate::metrics::Metrics) {
    match crate::db::images::queue_depths(db).await {
        Ok((images, discs)) => {
            metrics.index_queue.set(images);
            metrics.link_queue.set(discs);
        }
        Err(e) => tracing::warn!(error = %e, "counting the queues"),
    }
}
