//! Spindle mounted under a path of the library's site (`http.base_path`, e.g. `/spindle`
//! behind `location /spindle/ { proxy_pass http://127.0.0.1:8080; }`). Requests arrive with
//! the prefix; it is taken off before routing, so every route is written as if at the root,
//! and put back on every address Spindle gives out: pages (`{{ base }}` in templates),
//! the addresses built in code (`crate::site::here`), redirects (`Location`, rewritten at the edge) and
//! the scripts (`<html data-base>`). A request outside the prefix is not Spindle's: 404.

use axum::extract::Request;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

use crate::error::{AppError, ErrorCode};
use crate::site::BASE;

/// Serves `request` under `base` (already validated: "" or `/x[/y…]` without a trailing `/`):
/// the prefix taken off before `next` routes it, and put back on the redirect it answers.
pub(super) async fn under(
    base: &str,
    mut request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    if base.is_empty() {
        return next(request).await;
    }
    let uri = request.uri();
    let rest = match uri.path().strip_prefix(base) {
        Some("") => "/",
        Some(rest) if rest.starts_with('/') => rest,
        _ => {
            return AppError::not_found(
                ErrorCode::NoRoute,
                crate::detail!("err_no_route", path = uri.path()),
            )
            .into_response();
        }
    };
    let target = match uri.query() {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_string(),
    };
    // What was asked, prefix and all, for whatever names it back (a 404's problem): axum's
    // router keeps an `OriginalUri` already there instead of taking the rewritten one.
    let asked = axum::extract::OriginalUri(uri.clone());
    match target.parse() {
        Ok(inner) => *request.uri_mut() = inner,
        Err(_) => return axum::http::StatusCode::BAD_REQUEST.into_response(),
    }
    request.extensions_mut().insert(asked);
    let mut response = BASE.scope(base.to_string(), next(request)).await;
    // Redirects name root-relative addresses of the routes: the prefix goes on here, once.
    if let Some(location) = response
        .headers()
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .filter(|l| l.starts_with('/') && !l.starts_with("//"))
        .filter(|l| !l.starts_with(&format!("{base}/")) && *l != base)
        .and_then(|l| HeaderValue::from_str(&format!("{base}{l}")).ok())
    {
        response.headers_mut().insert(header::LOCATION, location);
    }
    response
}
