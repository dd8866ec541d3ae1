//! The HTTP wing: the JSON routes and the pages (one module per endpoint group, each with its
//! own `router()`), every middleware, the extractors, the templates and the server. Domain
//! modules never import from here; handlers extract, call one domain function, map the
//! result and set headers.

use std::time::Instant;

use axum::Router;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse as _, Response};
use serde::de::DeserializeOwned;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

use crate::app::AppState;
use crate::error::{AppError, ErrorCode};
use crate::metrics::RequestLabels;

mod access;
mod blobs;
mod catalogue;
mod chart;
mod discs;
pub(crate) mod download;
mod extract;
mod files;
mod layers;
mod librarian;
mod meta;
mod opac;
mod ops;
mod pages;
mod reader;
mod route;
pub mod server;
mod shelf;
mod staff;
mod stats;
mod sushi;
mod track;
mod uploads;
pub mod web;

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(blobs::router())
        .merge(uploads::router())
        .merge(discs::router(&state))
        .merge(files::router(&state))
        .merge(catalogue::router())
        .merge(opac::router(&state))
        .merge(shelf::router())
        .merge(stats::router())
        .merge(access::router())
        .merge(meta::router())
        .fallback(no_route)
        .method_not_allowed_fallback(wrong_method);
    Router::new()
        .merge(ops::router())
        .merge(opac::public_router())
        .merge(pages::router())
        .merge(sushi::router(&state))
        .merge(staff::router(&state))
        .merge(librarian::router())
        .merge(reader::router(&state))
        .nest("/api/v1", api)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            layers::remember_link,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), layers::limit))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .layer(middleware::from_fn(refuse_nul))
        // Every answer, JSON included, is what its Content-Type says and nothing else.
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(middleware::from_fn(close_after_refusal))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request| {
                tracing::debug_span!(
                    "request",
                    method = %request.method(),
                    uri = %loggable_uri(request.uri()),
                    version = ?request.version(),
                )
            }),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(CatchPanicLayer::new())
        .with_state(state)
}

/// Query parameters whose values are credentials: never logged.
const SECRET_PARAMS: [&str; 4] = ["access", "api_key", "token", "csrf"];

/// The path and query as the log shows them: credentials in the query are redacted.
pub(crate) fn loggable_uri(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_string();
    };
    let shown: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET_PARAMS.contains(&k.to_ascii_lowercase().as_str()) => {
                format!("{k}=<redacted>")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{}?{}", uri.path(), shown.join("&"))
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

/// `Path` whose rejections (a segment that is not UTF-8 once decoded, say) are problem
/// documents rather than axum's plain text.
pub(crate) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|rejection| {
                AppError::bad_request(ErrorCode::InvalidPath, rejection.body_text())
            })
    }
}

/// `Query` whose rejections are problem documents rather than axum's plain text.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|rejection| {
                AppError::bad_request(ErrorCode::InvalidQuery, rejection.body_text())
            })
    }
}

/// An address under `/api/v1` that names no resource.
async fn no_route(uri: axum::http::Uri) -> AppError {
    AppError::not_found(
        ErrorCode::NoRoute,
        format!("there is no resource at {}", uri.path()),
    )
}

/// A resource under `/api/v1` asked with a method it does not answer (axum adds `Allow`).
async fn wrong_method(method: axum::http::Method) -> AppError {
    AppError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        format!("this resource does not answer {method}"),
    )
}

/// `Json` whose rejections are Spindle's JSON errors rather than axum's plain text.
pub(crate) struct ApiJson<T>(pub T);

/// Whether any string (or key) in a JSON value holds a NUL, which no text column accepts
/// (PostgreSQL refuses it outright; SQLite would cut the text short).
fn holds_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(a) => a.iter().any(holds_nul),
        serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// A NUL in the path or the query (`%00`) is refused before any handler sees it: no text in
/// Spindle may hold one.
async fn refuse_nul(request: Request, next: Next) -> Response {
    let in_uri = request
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().as_bytes().windows(3).any(|w| w == b"%00"));
    if in_uri {
        return AppError::bad_request(
            ErrorCode::InvalidCharacter,
            "the address may not contain NUL (%00)",
        )
        .into_response();
    }
    next.run(request).await
}

/// The most a JSON or form body may hold (axum's default body limit, which applies to every
/// extractor that buffers a body; uploads stream and are bounded by their declared length).
pub(crate) const JSON_LIMIT: usize = 2 * 1024 * 1024;

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => {
                if holds_nul(&v) {
                    return Err(AppError::bad_request(
                        ErrorCode::InvalidCharacter,
                        "text may not contain NUL characters",
                    ));
                }
                serde_json::from_value(v).map(ApiJson).map_err(|e| {
                    AppError::unprocessable(
                        ErrorCode::InvalidJson,
                        format!("Failed to deserialize the JSON body: {e}"),
                    )
                })
            }
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::BodyTooLarge,
                    format!("a JSON body may hold at most {JSON_LIMIT} bytes"),
                ))
            }
            Err(rejection) if rejection.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Err(AppError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::WrongContentType,
                    rejection.body_text(),
                ))
            }
            Err(rejection) => Err(AppError::new(
                rejection.status(),
                ErrorCode::InvalidJson,
                rejection.body_text(),
            )),
        }
    }
}
