//! Serving: the listener, background tasks (the upload sweeper, the image indexers) and
//! graceful shutdown.

use std::future::Future;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::app::AppState;
use crate::uploads;

/// Serves until `shutdown` resolves, then lets requests in flight finish for up to the
/// configured grace period.
pub async fn serve(
    state: AppState,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tokio::spawn(sweep_forever(state.clone()));
    let indexers = tokio::spawn(crate::images::run(state.clone()));
    let linkers = tokio::spawn(crate::linking::run(state.clone()));
    let resync = tokio::spawn(crate::linking::resync_forever(
        state.clone(),
        state.config.catalogue.resync_hours,
    ));
    let grace = Duration::from_secs(state.config.http.shutdown_grace_secs);
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stopping_tx.send(());
    };
    let rollup = tokio::spawn(crate::usage::rollup::run_forever(state.clone()));
    let search = tokio::spawn(crate::search::run_forever(state.clone()));
    let fixity = tokio::spawn(crate::fixity::run_forever(state.clone()));
    let router = crate::api::router(state.clone());
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(signal);
    let result = tokio::select! {
        r = server => r,
        _ = async {
            let _ = stopping_rx.await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_secs = grace.as_secs(), "requests still running after the grace period; stopping anyway");
            Ok(())
        }
    };
    sweeper.abort();
    indexers.abort();
    linkers.abort();
    resync.abort();
    rollup.abort();
    search.abort();
    fixity.abort();
    crate::images::release_claims(&state).await;
    // Usage recorded by the requests that just finished is written before the pool closes.
    state.usage.recorder.flush().await;
    state.db.close().await;
    result
}

async fn sweep_forever(state: AppState) {
    let mut tick =
        tokio::time::interval(Duration::from_secs(state.config.upload.sweep_interval_secs));
    loop {
        tick.tick().await;
        match uploads::sweep(&state).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(expired = n, "aborted expired uploads"),
            Err(e) => tracing::warn!(error = %e, "upload sweep failed"),
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
