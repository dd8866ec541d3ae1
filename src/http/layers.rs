//! Middleware on every route that is not about one route's kind (those are declared with
//! the route, `route.rs`): refused-credential limits and the signed link kept in a cookie.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};

use super::extract::query_token;
use crate::access::{ACCESS_COOKIE, verify};
use crate::app::AppState;
use crate::error::{AppError, ErrorCode};

/// A signed link that opened a disc is kept in a cookie (for as long as it is valid), so the
/// disc's folders, files and pages, reached by relative links without it, open too.
pub async fn remember_link(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let now = crate::db::now();
    let path = request.uri().path();
    let kept = (path.starts_with("/api/v1/discs/") || path.starts_with("/discs/"))
        .then(|| query_token(request.uri()))
        .flatten()
        .and_then(|t| verify(&state.link_secret, &t, now).map(|g| (t, g)));
    let mut response = next.run(request).await;
    if let Some((token, grant)) = kept
        && (response.status().is_success() || response.status().is_redirection())
    {
        let secure = state.config.public_url().starts_with("https://");
        let value = format!(
            "{ACCESS_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
            grant.expires - now,
            if secure { "; Secure" } else { "" }
        );
        if let Ok(v) = axum::http::HeaderValue::from_str(&value) {
            response
                .headers_mut()
                .append(axum::http::header::SET_COOKIE, v);
        }
    }
    response
}

fn too_many(code: ErrorCode, message: &str, wait: u64) -> Response {
    let mut r = AppError::new(StatusCode::TOO_MANY_REQUESTS, code, message).into_response();
    if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// Whether the request brings a credential: a bearer token, a sign-in, a SUSHI key.
fn brings_credentials(request: &Request) -> bool {
    request.headers().contains_key(header::AUTHORIZATION)
        || (request.method() == Method::POST && request.uri().path() == "/staff/sign-in")
        || request.uri().query().is_some_and(|q| {
            // SUSHI parameter names are case-insensitive.
            q.split('&').any(|kv| {
                kv.get(..8)
                    .is_some_and(|k| k.eq_ignore_ascii_case("api_key="))
            })
        })
}

/// The middleware on every route: refuses an address that presented too many refused
/// credentials, and counts refused credentials.
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if !brings_credentials(&request) {
        // Downloads, ranges and pages: nothing to count.
        return next.run(request).await;
    }
    let Some(ip) = state
        .usage
        .client_of(request.extensions(), request.headers())
    else {
        return next.run(request).await;
    };
    if let Some(wait) = state.limits.auth_failures.over(ip) {
        return too_many(
            ErrorCode::TooManyAttempts,
            "too many refused credentials from this address; wait before trying again",
            wait,
        );
    }
    let response = next.run(request).await;
    if response.status() == StatusCode::UNAUTHORIZED {
        state.limits.auth_failures.hit(ip);
    }
    response
}

/// The middleware on the routes declared expensive (`api::route::expensive`): refuses an
/// address over `limits.expensive_per_minute`.
pub async fn expensive(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let ip = state
        .usage
        .client_of(request.extensions(), request.headers());
    if let Some(wait) = ip.and_then(|ip| state.limits.expensive.hit(ip)) {
        return too_many(
            ErrorCode::SlowDown,
            "too many searches, zips, reports or exports from this address; wait a moment",
            wait,
        );
    }
    next.run(request).await
}
