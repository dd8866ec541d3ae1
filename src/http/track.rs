//! The middleware that turns a reader's request on a counted route into a usage event, after
//! the response is decided: which action it was (from what the route is, declared with it,
//! and the answer), whether it counts (GET; a download only without Range or from byte 0; a
//! launch at its redirect; a page's images and scripts are not downloads), and the refusals.
//! Staff requests (with a bearer token) are not usage. A reader without the session cookie
//! gets one.

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;

use super::header_str;
use crate::access::ReadNote;
use crate::app::AppState;
use crate::usage::{Action, Visitor, now_ms};

pub const SESSION_COOKIE: &str = "spindle_session";

/// What a counted route is: declared with the route (`route::counted`), read here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// A disc's page or record: the landing page.
    Landing,
    /// A disc's files: a folder's listing is a browse, a file's bytes a file request.
    Files,
    /// A disc's tree or folder page: a browse.
    Tree,
    /// An audio track or a CUE sheet's part: a file request.
    Item,
    /// The whole image.
    Image,
    /// A zip of the disc's files: a whole-image request.
    Zip,
    /// Opening the disc's start page.
    Launch,
    /// Starting to play a title (its HLS playlist): a launch, as the service Spindle
    /// succeeds counted 在线播放; its segments are not counted again.
    Play,
    /// Booting a disc in the browser (the emulator loading it as its CD-ROM): a launch; its
    /// later ranges are not counted again.
    Boot,
    /// A search run.
    Search,
    /// A disc as a WebDAV drive: mounting it (the first PROPFIND of its root in a session)
    /// is a launch, a file's GET a file request.
    Drive,
}

fn disc_in_path(path: &str) -> Option<i64> {
    path.strip_prefix("/api/v1/discs/")
        .or_else(|| path.strip_prefix("/discs/"))?
        .split('/')
        .next()?
        .parse()
        .ok()
}

/// A WebDAV drive's address names its disc's root: `/dav/[g/{grant}/]discs/{id}[/]`.
fn is_drive_root(path: &str) -> bool {
    drive_path(path).is_some_and(|p| p.is_empty())
}

/// The path inside the disc a drive's address names (percent-encoded, as the file routes'
/// events keep it), if it is a drive's address.
fn drive_path(path: &str) -> Option<String> {
    let rest = path.strip_prefix("/dav/")?;
    let rest = match rest.strip_prefix("g/") {
        Some(granted) => granted.split_once('/')?.1,
        None => rest,
    };
    let rest = rest.strip_prefix("discs/")?;
    let (id, inside) = rest.split_once('/').unwrap_or((rest, ""));
    id.parse::<i64>().ok()?;
    Some(inside.trim_end_matches('/').to_string())
}

/// The reader's session cookie, if it has the shape Spindle gives it.
fn cookie_value(headers: &axum::http::HeaderMap) -> Option<String> {
    crate::http::web::cookie(headers, SESSION_COOKIE)
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

pub async fn track(
    State((state, route)): State<(AppState, Counted)>,
    mut request: Request,
    next: Next,
) -> Response {
    // Staff calling the API (a token, or a page of theirs with the session's form token) are
    // not readers.
    let reader = !request.headers().contains_key(header::AUTHORIZATION)
        && !request.headers().contains_key(super::extract::CSRF_HEADER);
    if !reader {
        return next.run(request).await;
    }
    let headers = request.headers();
    let method = request.method().clone();
    // The address and headers are kept as received (sharing the request's bytes).
    let uri = request.uri().clone();
    let (path, query) = (uri.path(), uri.query());
    let cookie = cookie_value(headers);
    let (peer, forwarded) = state.usage.origin(request.extensions(), headers);
    let found = match state.usage.reader(&state.db, peer, forwarded).await {
        Ok(Some(r)) => super::sso::with_sign_on(&state, headers, r).await.map(Some),
        other => other,
    };
    let reader = match found {
        Ok(r) => r,
        Err(e) => {
            tracing::warn!(error = %e, "working out the reader's members");
            None
        }
    };
    let user_agent = headers.get(header::USER_AGENT).cloned();
    let user_agent = || user_agent.as_ref().and_then(|v| v.to_str().ok());
    let range = headers.get(header::RANGE).cloned();
    let range = range.as_ref().and_then(|v| v.to_str().ok());
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
    // The viewer notes the disc it was asked about (see `discs::readable`).
    let note = ReadNote::default();
    request.extensions_mut().insert(note.clone());
    let mut response = next.run(request).await;
    let read = note.get();

    // A download redirected to the store is counted as the download it starts (the store
    // answers 200, or 206 for the Range sent along).
    let status = match response.extensions().get::<super::download::Redirected>() {
        Some(_) if range.is_some() => 206,
        Some(_) => 200,
        None => response.status().as_u16(),
    };
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let get = method == Method::GET;
    let mounted = route == Counted::Drive
        && status == 207
        && method.as_str() == "PROPFIND"
        && is_drive_root(path);
    let action = match (route, status) {
        // A HEAD asks about a resource without using it: never counted, even refused.
        _ if method == Method::HEAD => None,
        (_, 401 | 403) => Some(Action::NoLicense),
        _ if mounted => Some(Action::Launch),
        (Counted::Drive, s) if get && starts_download(range, s) => Some(Action::File),
        _ if !get => None,
        (Counted::Landing, 200 | 304) => Some(Action::Landing),
        (Counted::Tree, 200 | 304) => Some(Action::Browse),
        (Counted::Files, 200 | 304) if is_json => Some(Action::Browse),
        (Counted::Files, _) if subresource || via_launch => None,
        (Counted::Files | Counted::Item, s) if starts_download(range, s) => Some(Action::File),
        (Counted::Image, s) if starts_download(range, s) => Some(Action::Image),
        (Counted::Boot, s) if starts_download(range, s) => Some(Action::Launch),
        (Counted::Zip, s) if starts_download(range, s) => Some(Action::Image),
        (Counted::Launch, 303) | (Counted::Play, 200) => Some(Action::Launch),
        // A search run (a facet or a page that runs it again counts again, CoP §7.6).
        (Counted::Search, 200) if searched => Some(Action::Search),
        _ => None,
    };
    let disc = read.map(|(d, _)| d).or_else(|| {
        (route != Counted::Search)
            .then(|| disc_in_path(path))
            .flatten()
    });
    // A reader without a session cookie is given one, and counted as bringing it already;
    // not on a range from the middle of a download (a player's or a download manager's next
    // piece): nothing of it is counted, and the answer that started it brought the cookie.
    let continues = status == 206 && !starts_download(range, status);
    let new_cookie = match (&cookie, &reader) {
        (None, Some(r)) if action.is_some() || !continues => {
            match state
                .usage
                .first_cookie(&state.db, r.ip, user_agent(), now_ms())
                .await
            {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(error = %e, "making a session cookie");
                    None
                }
            }
        }
        _ => None,
    };
    if let (Some(action), Some(reader)) = (action, reader) {
        let access_type = match read {
            Some((_, true)) => "Free_To_Read",
            _ => "Controlled",
        };
        let visitor = Visitor {
            ip: reader.ip,
            user_agent: user_agent().map(str::to_string),
            cookie: cookie.clone().or_else(|| new_cookie.clone()),
        };
        let file_path = match route {
            Counted::Files | Counted::Item => {
                path.split_once("/files/").map(|(_, p)| p.to_string())
            }
            Counted::Drive => drive_path(path),
            _ => None,
        };
        let again = mounted
            && !state
                .usage
                .first_mount(&visitor, disc.unwrap_or(0), now_ms());
        if again {
            return response;
        }
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
                if route == Counted::Search {
                    format!("{method} {path}?{}", query.unwrap_or(""))
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
            "{SESSION_COOKIE}={c}; Path={}; HttpOnly; SameSite=Lax{}",
            crate::site::here("/"),
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
        assert_eq!(disc_in_path("/api/v1/discs/42/image"), Some(42));
        assert!(is_drive_root("/dav/discs/42/") && is_drive_root("/dav/discs/42"));
        assert!(is_drive_root("/dav/g/tok.en/discs/42/"));
        assert!(!is_drive_root("/dav/discs/42/a.txt") && !is_drive_root("/dav/discs/x/"));
        assert_eq!(
            drive_path("/dav/g/t/discs/7/a/b%20c.txt").as_deref(),
            Some("a/b%20c.txt")
        );
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
