//! Serving: the listener, background tasks (the upload sweeper, the image indexers) and
//! graceful shutdown.

use std::convert::Infallible;
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
    let indexers = tokio::spawn(crate::images::run(state.indexer.clone()));
    let linkers = tokio::spawn(crate::linking::run(state.linking.clone()));
    let resync = tokio::spawn(crate::linking::resync_forever(
        state.linking.clone(),
        state.config.catalogue.resync_hours,
    ));
    let grace = Duration::from_secs(state.config.http.shutdown_grace_secs);
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight");
        let _ = stopping_tx.send(());
    };
    let rollup = tokio::spawn(crate::usage::rollup::run_forever(
        state.db.clone(),
        state.config.stats.clone(),
        state.node.clone(),
        state.metrics.work("rollup"),
    ));
    let learn_at = crate::search::learn_before_serving(&state.db).await;
    let search = tokio::spawn(crate::search::run_forever(state.db.clone(), learn_at));
    let fixity = tokio::spawn({
        let s = state.clone();
        async move {
            crate::fixity::run_forever(&s.db, &s.blobs, &s.metrics, &s.config.fixity, &s.node).await
        }
    });
    let app = crate::http::app(state.clone());
    let header_timeout = Duration::from_secs(state.config.http.header_read_timeout_secs);
    let server = accept_loop(listener, app, header_timeout, signal);
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
    crate::images::release_claims(&state.indexer).await;
    // Another node rolls up now rather than once this node's lease lapses.
    if let Err(e) =
        crate::db::leases::release(&state.db, crate::usage::rollup::LEASE, &state.node).await
    {
        tracing::warn!(error = %e, "giving back the usage rollup's lease");
    }
    // Usage recorded by the requests that just finished is written before the pool closes.
    state.usage.recorder.flush().await;
    state.db.close().await;
    result
}

/// How much a connection buffers: what hyper queues of a response before it stops asking
/// the body for more (a whole block beyond this at most), and the most it reads of a request
/// at once. hyper's default (408 KiB) let a download on a slow line hold two 256 KiB blocks;
/// with this it holds one. Request heads are far below it.
const CONNECTION_BUFFER: usize = 128 * 1024;

/// Accepts connections until `shutdown` resolves, then waits for the open ones to finish
/// their requests. HTTP/1 connections must send a request's head within `header_timeout`
/// (also while idle between requests), so a client that connects and trickles, or says
/// nothing, cannot hold a connection (axum's own `serve` sets no timer, so it has no such
/// limit).
async fn accept_loop<App>(
    listener: TcpListener,
    app: App,
    header_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()>
where
    App: tower::Service<
            axum::extract::Request,
            Response = axum::response::Response,
            Error = Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    App::Future: Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tower::ServiceExt as _;
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    // HTTP/1.1 only: a reverse proxy or a browser speaks it to Spindle (HTTP/2 needs TLS,
    // which the proxy ends). hyper's HTTP/1 server applies the head timeout from the first
    // byte; its version-sniffing `auto` server would wait for that byte without one.
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(CONNECTION_BUFFER);
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = &mut shutdown => break,
        };
        // Each answer's last segment goes out at once rather than after the previous one's ACK
        // (Nagle): a short range's tail waited out the client's delayed ACK (nginx's
        // `tcp_nodelay on`, its default, does the same).
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "TCP_NODELAY not set");
        }
        // Each request carries its peer's address, as axum's `ConnectInfo`.
        let app = app.clone();
        let service = hyper::service::service_fn(move |request: hyper::Request<_>| {
            let mut request = request.map(axum::body::Body::new);
            request
                .extensions_mut()
                .insert(axum::extract::ConnectInfo(peer));
            app.clone().oneshot(request)
        });
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::trace!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

async fn sweep_forever(state: AppState) {
    let mut tick =
        tokio::time::interval(Duration::from_secs(state.config.upload.sweep_interval_secs));
    loop {
        tick.tick().await;
        match uploads::sweep(&state.uploads).await {
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
