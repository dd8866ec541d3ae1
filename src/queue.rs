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

/// Who this process is to the other nodes, in the leases it holds: its host, its pid and a
/// random part (a process restarted with the same pid is someone else).
pub fn node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let host = if host.is_empty() { "node".into() } else { host };
    format!(
        "{host}:{}:{}",
        std::process::id(),
        crate::auth::random_hex(3)
    )
}

/// Runs `work` while holding a lease, renewing it with `renew` every `every`. When a renewal
/// finds the lease gone (it lapsed while this process stalled, and another node has the work)
/// the work is dropped and None returned; a renewal the database cannot answer is retried at
/// the next tick (the work goes on: the lease has time left).
pub async fn while_holding<T, R, RF>(
    what: &str,
    work: impl Future<Output = T>,
    every: Duration,
    mut renew: R,
) -> Option<T>
where
    R: FnMut() -> RF,
    RF: Future<Output = Result<bool, DbError>>,
{
    tokio::pin!(work);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            done = &mut work => return Some(done),
            _ = tick.tick() => match renew().await {
                Ok(true) => {}
                Ok(false) => {
                    tracing::warn!("lost the lease on {what} to another node; leaving it to them");
                    return None;
                }
                Err(e) => tracing::warn!(error = %e, "renewing the lease on {what}"),
            },
        }
    }
}
