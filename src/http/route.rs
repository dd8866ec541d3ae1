//! What a route is, declared where the route is: how a reader's request on it is counted
//! (`counted`), whether in-browser players on other origins may read it by range
//! (`for_players`, which counts them too when they are usage), whether it costs far more than a
//! page (`expensive`). Each wraps the route's method router in the middleware that acts on it,
//! so the route list exists once.

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
/// CUE parts) on the configured player origins may read by range, counted as `counted` when
/// it is usage (in the same layer: a route layer is cloned and its future boxed on every
/// request, and these routes serve a player's every range). It answers OPTIONS (the players'
/// preflight; to anyone else, just what it allows), which is never usage.
pub fn for_players(
    state: &AppState,
    counted: Option<Counted>,
    route: MethodRouter<AppState>,
) -> MethodRouter<AppState> {
    route
        .options(options)
        .layer(from_fn_with_state((state.clone(), counted), player_bytes))
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
async fn player_bytes(
    State((state, counted)): State<(AppState, Option<Counted>)>,
    request: Request,
    next: Next,
) -> Response {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .filter(|o| {
            o.to_str()
                .is_ok_and(|o| state.config.http.player_origins.iter().any(|p| p == o))
        })
        .cloned();
    let preflight = request.method() == Method::OPTIONS;
    let mut response = match (&origin, counted) {
        (Some(_), _) if preflight => {
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
        }
        (_, Some(what)) if !preflight => track(State((state, what)), request, next).await,
        _ => next.run(request).await,
    };
    let Some(origin) = origin else {
        return response;
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
