//! Operations: liveness, readiness and Prometheus metrics.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::app::AppState;
use crate::detail;
use crate::error::{AppError, AppResult};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready when the database answers and the store can be reached.
async fn readyz(State(state): State<AppState>) -> AppResult<&'static str> {
    state.db.ping().await?;
    state.blobs.ping().await?;
    Ok("ready\n")
}

/// Prometheus metrics, for the addresses in `http.metrics_from` only (the client address as
/// the trusted proxies give it: a reader's request forwarded by the campus proxy is refused).
async fn metrics(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> AppResult<impl IntoResponse> {
    let allowed = state
        .usage
        .client_of(request.extensions(), request.headers())
        .is_some_and(|ip| state.usage.metrics_from.iter().any(|n| n.contains(&ip)));
    if !allowed {
        return Err(AppError::forbidden(detail!("err_metrics_scraper")));
    }
    crate::queue::measure(&state.db, &state.metrics).await;
    Ok((
        StatusCode::OK,
        [(header::CONTENT_TYPE, crate::metrics::Metrics::CONTENT_TYPE)],
        state.metrics.render(),
    ))
}
