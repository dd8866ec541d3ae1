//! Playing a title in the page: its HLS playlist (loading it starts a play, counted as a
//! launch of the disc: a COUNTER request), its segments (transcoded on demand, see `crate::media`; not counted again),
//! and the player page (the browser's `<video>`, with the vendored hls.js where the browser
//! has no HLS of its own).

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use serde_json::json;

use super::route::{counted, for_players};
use super::track::Counted::Play;
use super::{ApiPath, download};
use crate::access::Viewer;
use crate::app::AppState;
use crate::browse::{self, Playable};
use crate::content::{Content, Representation, unix_time};
use crate::detail;
use crate::discs::parse_id;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::http::web::{Lang, render};

/// The API's routes (under `/api/v1`).
pub fn router(s: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/discs/{id}/titles/{title}/hls.m3u8",
            for_players(s, counted(s, Play, get(playlist))),
        )
        .route(
            "/discs/{id}/titles/{title}/hls/{segment}",
            for_players(s, get(segment)),
        )
}

/// The player page.
pub fn pages() -> Router<AppState> {
    Router::new().route("/discs/{id}/play/{title}", get(player))
}

async fn playable(state: &AppState, viewer: &Viewer, id: &str, title: &str) -> AppResult<Playable> {
    browse::playable(&state.db, &state.content_rows, viewer, parse_id(id)?, title).await
}

async fn playlist(
    State(state): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    ApiPath((id, title)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    let t = playable(&state, &viewer, &id, &title).await?;
    let duration_ms = state.media.duration_ms(&state.db, &t).await?;
    // A signed link in the playlist's address opens its segments too.
    let query = super::extract::query_token(&uri)
        .map(|token| format!("?access={token}"))
        .unwrap_or_default();
    let body = state.media.playlist(duration_ms, &query);
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/vnd.apple.mpegurl"),
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("private, no-cache"),
            ),
        ],
        body,
    )
        .into_response())
}

async fn segment(
    State(state): State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    ApiPath((id, title, segment)): ApiPath<(String, String, String)>,
) -> AppResult<Response> {
    let t = playable(&state, &viewer, &id, &title).await?;
    let n: i64 = segment
        .strip_suffix(".ts")
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::SegmentNotFound,
                detail!("err_no_segment", title = t.number, segment = &segment),
            )
        })?;
    let duration_ms = state.media.duration_ms(&state.db, &t).await?;
    let stored = state
        .media
        .segment(&state.db, &state.blobs, &t, duration_ms, n)
        .await?;
    let rep = Representation {
        etag: stored.digest.to_hex(),
        size: stored.size,
        last_modified: unix_time(0),
        filename: format!("title{:02}-{n}.ts", t.number),
        content_type: "video/mp2t".into(),
        inline: true,
        sandbox: false,
        content: Content::whole_blob(stored.digest, stored.size),
    };
    download::serve(&state, method == Method::GET, &headers, &rep).await
}

/// The player: the title in a `<video>`, the disc's other titles to go to, and a download.
async fn player(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    uri: Uri,
    Path((id, title)): Path<(String, String)>,
) -> Response {
    let lang = Lang::from_request(&headers, &uri);
    let result = async {
        let t = playable(&state, &viewer, &id, &title).await?;
        let disc = crate::discs::readable(&state.db, &viewer, parse_id(&id)?).await?;
        let image = crate::discs::image_view(&state.db, &disc).await?;
        let titles: Vec<serde_json::Value> = image
            .iter()
            .flat_map(|i| i.media.iter())
            .zip(1..)
            .map(|(m, n)| json!({"number": n, "name": m.name, "kind": m.kind, "url": format!("/discs/{}/play/{n}", disc.id)}))
            .collect();
        let name = titles
            .get(t.number - 1)
            .and_then(|v| v["name"].as_str())
            .unwrap_or_default()
            .to_string();
        let next = titles.get(t.number).map(|v| v["url"].clone());
        let previous = t
            .number
            .checked_sub(2)
            .and_then(|i| titles.get(i))
            .map(|v| v["url"].clone());
        let disc_title = crate::discs::title(&state.db, disc.id).await?;
        Ok::<_, AppError>(render(
            StatusCode::OK,
            "play.html",
            lang,
            json!({
                "title": disc_title,
                "disc": disc.id,
                "number": t.number,
                "name": name,
                "kind": t.kind,
                "playlist": format!("/api/v1/discs/{}/titles/{}/hls.m3u8", disc.id, t.number),
                "download": format!("/api/v1/discs/{}/titles/{}", disc.id, t.number),
                // What browsers play as it is (an MP3) is not transcoded.
                "direct": crate::media::Media::plays_as_is(&t)
                    .then(|| format!("/api/v1/discs/{}/titles/{}", disc.id, t.number)),
                "titles": titles,
                "next": next,
                "previous": previous,
                "lang_url": super::reader::lang_url(&uri, lang),
            }),
        ))
    }
    .await;
    result.unwrap_or_else(|e| super::reader::error_page(e, lang, &uri))
}
