//! The middleware that turns a reader's request on a disc into a usage event, after the
//! response is decided: which action it was (from the route and the answer), whether it
//! counts (GET; a download only without Range or from byte 0; a launch at its redirect; a
//! page's images and scripts are not downloads), and the refusals. Staff requests (with a
//! bearer token) are not usage. A reader without the session cookie gets one.

use std::cell::Cell;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{Action, Visitor, now_ms};
use crate::api::header_str;
use crate::app::AppState;

pub const SESSION_COOKIE: &str = "spindle_session";

tokio::task_local! {
    /// The disc a request read and whether it is open, noted by `discs::readable`.
    static READ: Cell<Option<(i64, bool)>>;
}

/// Called where reader access to a disc is decided: remembers the disc for the event.
pub fn note_read(disc_id: i64, is_open: bool) {
    let _ = READ.try_with(|c| c.set(Some((disc_id, is_open))));
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Route {
    Landing,
    Files,
    Tree,
    Item,
    Image,
    Zip,
    Launch,
    Search,
}

fn route_of(path: &str) -> Option<Route> {
    // The readers' pages: a disc's page is its landing page, its folders are browses.
    match path {
        "/search" => return Some(Route::Search),
        "/discs/{id}" => return Some(Route::Landing),
        "/discs/{id}/browse" | "/discs/{id}/browse/" | "/discs/{id}/browse/{*path}" => {
            return Some(Route::Tree);
        }
        _ => {}
    }
    let rest = path.strip_prefix("/api/v1/discs/{id}")?;
    Some(match rest {
        "" => Route::Landing,
        "/files" | "/files/" | "/files/{*path}" => Route::Files,
        "/tree" => Route::Tree,
        "/tracks/{track}" | "/parts/{name}" => Route::Item,
        "/image" => Route::Image,
        "/zip" | "/zip/{*path}" => Route::Zip,
        "/launch" => Route::Launch,
        _ => return None,
    })
}

fn disc_in_path(path: &str) -> Option<i64> {
    path.strip_prefix("/api/v1/discs/")
        .or_else(|| path.strip_prefix("/discs/"))?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// The reader's session cookie, if it has the shape Spindle gives it.
fn cookie_value(headers: &axum::http::HeaderMap) -> Option<String> {
    crate::web::cookie(headers, SESSION_COOKIE)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(str::to_string)
}

/// A download counts once: without Range, or when its (first) range starts at byte 0.
fn starts_download(range: Option<&str>, status: u16) -> bool {
    match status {
        200 | 304 => true,
        206 => range.is_some_and(|r| {
            r.trim()
                .strip_prefix("bytes=")
                .is_some_and(|spec| spec.trim_start().starts_with("0-"))
        }),
        _ => false,
    }
}

pub async fn track(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .and_then(|p| route_of(p.as_str()));
    // Staff calling the API (a token, or a page of theirs with the session's form token) are
    // not readers.
    let reader = !request.headers().contains_key(header::AUTHORIZATION)
        && !request.headers().contains_key(crate::auth::CSRF_HEADER);
    let (Some(route), true) = (route, reader) else {
        return next.run(request).await;
    };
    let headers = request.headers();
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let query = request.uri().query().map(str::to_string);
    let cookie = cookie_value(headers);
    let new_cookie = cookie.is_none().then(|| crate::auth::random_hex(16));
    let (peer, forwarded) = state.usage.origin(request.extensions(), headers);
    let reader = match state.usage.reader(&state.db, peer, forwarded).await {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "working out the reader's members");
            None
        }
    };
    let user_agent = header_str(headers, "user-agent").map(str::to_string);
    let range = header_str(headers, "range").map(str::to_string);
    // A disc page's images, scripts and styles are part of viewing it, not downloads; the
    // page a launch opens is counted by the launch.
    let subresource = matches!(
        header_str(headers, "sec-fetch-dest"),
        Some("image" | "script" | "style" | "font" | "track" | "manifest")
    );
    let searched = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv.starts_with("q=") && kv.len() > 2));
    let via_launch = request
        .uri()
        .query()
        .is_some_and(|q| q.split('&').any(|kv| kv == "via=launch"));

    // The access decision (the `Viewer`) uses the same reader.
    if let Some(r) = &reader {
        request.extensions_mut().insert(r.clone());
    }
    let (mut response, read) = READ
        .scope(Cell::new(None), async {
            let response = next.run(request).await;
            (response, READ.with(Cell::get))
        })
        .await;

    let status = response.status().as_u16();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let get = method == Method::GET;
    let action = match (route, status) {
        (_, 401 | 403) => Some(Action::NoLicense),
        _ if !get => None,
        (Route::Landing, 200 | 304) => Some(Action::Landing),
        (Route::Tree, 200 | 304) => Some(Action::Browse),
        (Route::Files, 200 | 304) if is_json => Some(Action::Browse),
        (Route::Files, _) if subresource || via_launch => None,
        (Route::Files | Route::Item, s) if starts_download(range.as_deref(), s) => {
            Some(Action::File)
        }
        (Route::Image, s) if starts_download(range.as_deref(), s) => Some(Action::Image),
        (Route::Zip, 200) => Some(Action::Image),
        (Route::Launch, 303) => Some(Action::Launch),
        // A search run (a facet or a page that runs it again counts again, CoP §7.6).
        (Route::Search, 200) if searched => Some(Action::Search),
        _ => None,
    };
    let disc = read.map(|(d, _)| d).or_else(|| {
        (route != Route::Search)
            .then(|| disc_in_path(&path))
            .flatten()
    });
    if let (Some(action), Some(reader)) = (action, reader) {
        let access_type = match read {
            Some((_, true)) => "Free_To_Read",
            _ => "Controlled",
        };
        // A cookie counts once the browser sends it back; until then the reader is its
        // address and agent (a client that keeps no cookies stays that).
        let visitor = Visitor {
            ip: reader.ip,
            user_agent,
            cookie: cookie.clone(),
        };
        let file_path = matches!(route, Route::Files | Route::Item)
            .then(|| path.split_once("/files/").map(|(_, p)| p.to_string()))
            .flatten();
        match state
            .usage
            .event(
                &state.db,
                &visitor,
                &reader.members,
                now_ms(),
                action,
                disc,
                file_path,
                // Two searches are the same click only with the same query.
                if route == Route::Search {
                    format!("{method} {path}?{}", query.as_deref().unwrap_or(""))
                } else {
                    format!("{method} {path}")
                },
                status,
                access_type,
            )
            .await
        {
            Ok(event) => state.usage.recorder.record(event, &state.metrics),
            Err(e) => {
                state.metrics.usage_dropped.inc();
                tracing::warn!(error = %e, "usage event not recorded");
            }
        }
    }
    if let Some(c) = new_cookie {
        let secure = state
            .config
            .http
            .public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"));
        let value = format!(
            "{SESSION_COOKIE}={c}; Path=/; HttpOnly; SameSite=Lax{}",
            if secure { "; Secure" } else { "" }
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_and_counting_rules() {
        assert!(route_of("/api/v1/discs/{id}") == Some(Route::Landing));
        assert!(route_of("/api/v1/discs/{id}/files/{*path}") == Some(Route::Files));
        assert!(route_of("/api/v1/discs").is_none());
        assert_eq!(disc_in_path("/api/v1/discs/42/image"), Some(42));
        assert!(starts_download(None, 200));
        assert!(starts_download(Some("bytes=0-"), 206));
        assert!(starts_download(Some("bytes=0-99,200-300"), 206));
        assert!(!starts_download(Some("bytes=1048576-"), 206));
        assert!(!starts_download(Some("bytes=-500"), 206));
        assert!(!starts_download(None, 404));
        let mut h = axum::http::HeaderMap::new();
        h.insert(
            "cookie",
            axum::http::HeaderValue::from_static(
                "a=b; spindle_session=0123456789abcdef0123456789abcdef",
            ),
        );
        assert_eq!(
            cookie_value(&h),
            Some("0123456789abcdef0123456789abcdef".into())
        );
        h.insert(
            "cookie",
            axum::http::HeaderValue::from_static("spindle_session=<script>"),
        );
        assert_eq!(cookie_value(&h), None);
    }
}
