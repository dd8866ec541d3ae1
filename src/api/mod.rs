//! HTTP routes: one module per endpoint group, each with its own `router()`.

use std::time::Instant;

use axum::Router;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::error::AppError;
use crate::metrics::RequestLabels;

mod access;
mod blobs;
mod catalogue;
mod discs;
pub(crate) mod download;
mod files;
mod librarian;
mod opac;
mod ops;
mod pages;
mod reader;
mod shelf;
mod staff;
mod stats;
mod sushi;
mod uploads;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(blobs::router())
        .merge(uploads::router())
        .merge(discs::router())
        .merge(files::router())
        .merge(catalogue::router())
        .merge(opac::router())
        .merge(shelf::router())
        .merge(stats::router())
        .merge(access::router());
    Router::new()
        .merge(ops::router())
        .merge(opac::public_router())
        .merge(pages::router())
        .merge(sushi::router())
        .merge(staff::router())
        .merge(librarian::router())
        .merge(reader::router())
        .nest("/api/v1", api)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::usage::track::track,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::access::remember_link,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(middleware::from_fn(close_after_refusal))
        .layer(TraceLayer::new_for_http())
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(CatchPanicLayer::new())
        .with_state(state)
}

/// A request refused before its body was read (a wrong token on a PATCH or a probe) leaves
/// the body unread, and the server then drops the connection: the refusal says so
/// (`Connection: close`), so the client does not send its next request down it.
async fn close_after_refusal(request: Request, next: Next) -> Response {
    let headers = request.headers();
    let has_body = headers.contains_key(header::TRANSFER_ENCODING)
        || headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > 0);
    let mut response = next.run(request).await;
    let status = response.status();
    if has_body && (status.is_client_error() || status.is_server_error()) {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let started = Instant::now();
    let response = next.run(request).await;
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method,
            route,
            status: response.status().as_u16(),
        })
        .inc();
    tracing::debug!(
        elapsed_ms = started.elapsed().as_millis() as u64,
        "answered"
    );
    response
}

/// A header as text, or None when absent or not visible ASCII.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Json` whose rejections are Spindle's JSON errors rather than axum's plain text.
pub(crate) struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(ApiJson(v)),
            Err(rejection) => Err(AppError::new(
                rejection.status(),
                "invalid-json",
                rejection.body_text(),
            )),
        }
    }
}
