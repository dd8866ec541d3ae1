//! Retrying a catalogue request that failed for a reason worth another try (the network, the
//! server's moment), with exponential backoff: 400 ms, 800 ms, … up to 12.8 s.

use std::future::Future;
use std::time::Duration;

/// Runs `op` until it succeeds, fails for good, or has been retried `retries` times.
pub(crate) async fn with_backoff<T, E, Fut>(
    retries: u32,
    what: &str,
    transient: impl Fn(&E) -> bool,
    mut op: impl FnMut() -> Fut,
) -> Result<T, E>
where
    E: std::fmt::Display,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        match op().await {
            Err(e) if transient(&e) && attempt < retries => {
                attempt += 1;
                tracing::debug!(error = %e, attempt, "{what} request failed; retrying");
                tokio::time::sleep(Duration::from_millis(200 * (1 << attempt.min(6)))).await;
            }
            other => return other,
        }
    }
}
