//! What a route is, declared where the route is: how a reader's request on it is counted
//! (`counted`), whether in-browser players on other origins may read it by range
//! (`for_players`, or `counted_for_players` for both in one layer), whether it costs far more
//! than a page (`expensive`). Each wraps the route's method router in the middleware that acts
//! on it, so the route list exists once.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{Next, from_fn_with_state};
use axum::response::{IntoResponse as _, Response};
use axum::routing::MethodRouter;

use super::track::{Counted, track};
use crate::app::AppState;

/// A route whose readers' requests are usage (COUNTER), counted as `what`.
pub fn counted(
    state: &AppState,
    what: Counted,
    route: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    route.layer(from_fn_with_state((state.clone(), what), track))
}

/// A route of a disc's bytes that in-browser players (the image, its files, audio tracks,
/// CUE parts) on the configured player origins may read by range. It answers OPTIONS (the
/// players' preflight; to anyone else, just what it allows).
pub fn for_players(state: &AppState, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route
        .options(options)
        .layer(from_fn_with_state(state.clone(), player_cors))
}

/// A route both `counted` as `what` and `for_players`, in one layer rather than two: a
/// route layer is cloned and its future boxed on every request, and these routes serve a
/// player's every range. The preflight and `OPTIONS` are not usage, as with the two layers.
pub fn counted_for_players(
    state: &AppState,
    what: Counted,
    route: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    route.options(options).layer(from_fn_with_state(
        (state.clone(), what),
        counted_player_bytes,
    ))
}

async fn options() -> Response {
    (
        StatusCode::NO_CONTENT,
        [(
            header::ALLOW,
            HeaderValue::from_static("GET, HEAD, OPTIONS"),
        )],
    )
        .into_response()
}

/// A route that costs far more than a page (full-text search, zips built on the fly, COUNTER
/// reports, exports, statistics tables): rate-limited per address (`limits.expensive_per_minute`).
pub fn expensive(state: &AppState, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    route.layer(from_fn_with_state(state.clone(), super::layers::expensive))
}

/// CORS for players served from another origin (`http.player_origins`, e.g. an emulator
/// site): they may read a disc's bytes by range, without credentials, so only what the
/// reader's address (or a signed link in the URL) admits. Any other origin, and every other
/// route but the OPAC lookup and SUSHI, gets no CORS headers at all.
async fn player_cors(State(state): State<AppState>, request: Request, next: Next) -> Response {
    with_player_cors(&state, request, async |r| next.run(r).await).await
}

async fn counted_player_bytes(
    State((state, what)): State<(AppState, Counted)>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::OPTIONS {
        return with_player_cors(&state, request, async |r| next.run(r).await).await;
    }
    let counting = state.clone();
    with_player_cors(&state, request, async move |r| {
        track(State((counting, what)), r, next).await
    })
    .await
}

async fn with_player_cors(
    state: &AppState,
    request: Request,
    next: impl AsyncFnOnce(Request) -> Response,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| state.config.http.player_origins.iter().any(|p| p == o))
        .map(str::to_string);
    let Some(origin) = origin else {
        return next(request).await;
    };
    let Ok(origin) = HeaderValue::from_str(&origin) else {
        return next(request).await;
    };
    let mut response = if request.method() == Method::OPTIONS {
        let mut r = StatusCode::NO_CONTENT.into_response();
        let h = r.headers_mut();
        h.insert(
            header::ACCESS_CONTROL_ALLOW_METHODS,
            HeaderValue::from_static("GET, HEAD"),
        );
        h.insert(
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("range, if-range"),
        );
        h.insert(
            header::ACCESS_CONTROL_MAX_AGE,
            HeaderValue::from_static("600"),
        );
        r
    } else {
        next(request).await
    };
    let h = response.headers_mut();
    h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static("content-range, content-length, accept-ranges, etag"),
    );
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    response
}
