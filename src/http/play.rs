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

use super::route::for_players;
use super::track::Counted::Play;
use super::{ApiPath, download};
use crate::access::Viewer;
use crate::app::AppState;
use crate::browse::Origin::{Title, Track};
use crate::browse::{self, Origin, Playable};
use crate::content::{Content, Representation, unix_time};
use crate::dashboard::bytes_text;
use crate::detail;
use crate::discs::parse_id;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::http::web::{Lang, render};

/// The API's routes (under `/api/v1`).
pub fn router(s: &AppState) -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/discs/{id}/titles/{title}/hls.m3u8",
            for_players(s, Some(Play), get(|s, v, u, p| playlist(s, v, u, p, Title))),
        )
        .route(
            "/api/v1/discs/{id}/titles/{title}/hls/{segment}",
            for_players(s, None, get(|s, v, m, h, p| segment(s, v, m, h, p, Title))),
        )
        .route(
            "/api/v1/discs/{id}/tracks/{track}/hls.m3u8",
            for_players(s, Some(Play), get(|s, v, u, p| playlist(s, v, u, p, Track))),
        )
        .route(
            "/api/v1/discs/{id}/tracks/{track}/hls/{segment}",
            for_players(s, None, get(|s, v, m, h, p| segment(s, v, m, h, p, Track))),
        )
}

/// The player pages: a title's, a CD audio track's.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route(
            "/discs/{id}/play/{title}",
            get(|s, v, h, u, p| player(s, v, h, u, p, Title)),
        )
        .route(
            "/discs/{id}/listen/{track}",
            get(|s, v, h, u, p| player(s, v, h, u, p, Track)),
        )
}

async fn playable(
    state: &AppState,
    viewer: &Viewer,
    id: &str,
    number: &str,
    origin: Origin,
) -> AppResult<Playable> {
    let (db, rows, id) = (&state.db, &state.content_rows, parse_id(id)?);
    match origin {
        Origin::Title => browse::playable(db, rows, viewer, id, number).await,
        Origin::Track => browse::playable_track(db, rows, viewer, id, number).await,
    }
}

async fn playlist(
    State(state): State<AppState>,
    viewer: Viewer,
    uri: Uri,
    ApiPath((id, number)): ApiPath<(String, String)>,
    origin: Origin,
) -> AppResult<Response> {
    let t = playable(&state, &viewer, &id, &number, origin).await?;
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
    ApiPath((id, number, segment)): ApiPath<(String, String, String)>,
    origin: Origin,
) -> AppResult<Response> {
    let t = playable(&state, &viewer, &id, &number, origin).await?;
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

/// The player: the title in a `<video>`, the disc's other titles (or tracks) to go to, and a
/// download (a CD track's WAV, beside the compact stream that plays).
async fn player(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    uri: Uri,
    Path((id, number)): Path<(String, String)>,
    origin: Origin,
) -> Response {
    let lang = Lang::from_request(&headers, &uri);
    let result = async {
        let t = playable(&state, &viewer, &id, &number, origin).await?;
        let disc = crate::discs::readable(&state.db, &viewer, parse_id(&id)?).await?;
        let image = crate::discs::image_view(&state.db, &disc).await?;
        let (d, n) = (disc.id, t.number);
        let track_word = lang.words()["track"].as_str().unwrap_or("Track").to_string();
        let titles: Vec<serde_json::Value> = match origin {
            Origin::Title => image
                .iter()
                .flat_map(|i| i.media.iter())
                .zip(1..)
                .map(|(m, k)| json!({"number": k, "name": m.name, "url": crate::site::here(format!("/discs/{d}/play/{k}"))}))
                .collect(),
            Origin::Track => image
                .iter()
                .flat_map(|i| i.tracks.iter())
                .map(|tr| {
                    let k = tr.number;
                    json!({"number": k, "name": format!("{} {k} · {}", track_word, super::reader::duration(tr.seconds)), "url": crate::site::here(format!("/discs/{d}/listen/{k}"))})
                })
                .collect(),
        };
        let at = titles.iter().position(|v| v["number"] == n);
        let name = at
            .and_then(|i| titles[i]["name"].as_str())
            .unwrap_or_default()
            .to_string();
        let next = at.and_then(|i| titles.get(i + 1)).map(|v| v["url"].clone());
        let previous = at
            .and_then(|i| i.checked_sub(1))
            .and_then(|i| titles.get(i))
            .map(|v| v["url"].clone());
        let (playlist, download) = match origin {
            Origin::Title => (
                crate::site::here(format!("/api/v1/discs/{d}/titles/{n}/hls.m3u8")),
                crate::site::here(format!("/api/v1/discs/{d}/titles/{n}")),
            ),
            Origin::Track => (
                crate::site::here(format!("/api/v1/discs/{d}/tracks/{n}/hls.m3u8")),
                crate::site::here(format!("/api/v1/discs/{d}/tracks/{n}.wav")),
            ),
        };
        // A CD track plays compact (AAC at 128 kb/s); what that saves against its WAV.
        let compact = (origin == Origin::Track).then(|| {
            let secs = t.duration_ms.unwrap_or(0) / 1000;
            let aac = secs * crate::media::AUDIO_BITS_PER_SEC / 8;
            json!({
                "bytes": bytes_text(i64::try_from(aac).unwrap_or(i64::MAX)),
                "original": bytes_text(i64::try_from(t.rep.size).unwrap_or(i64::MAX)),
                "saved": 100 - (aac * 100).checked_div(t.rep.size).unwrap_or(100),
            })
        });
        let disc_title = crate::discs::title(&state.db, d).await?;
        Ok::<_, AppError>(render(
            StatusCode::OK,
            "play.html",
            lang,
            json!({
                "title": disc_title,
                "disc": d,
                "number": n,
                "name": name,
                "kind": t.kind,
                "playlist": playlist,
                "download": download,
                // What browsers play as it is (an MP3) is not transcoded.
                "direct": crate::media::Media::plays_as_is(&t).then(|| download.clone()),
                "compact": compact,
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
