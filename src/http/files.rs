//! `/discs/{id}/…` inside the image: listings and files, the whole tree, audio tracks as WAV,
//! CUE parts, a directory as ZIP, and the launch redirect.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::route::{counted, expensive, for_players};
use super::track::Counted::{Files, Item, Launch, Tree, Zip};
use super::{ApiPath, download};
use crate::access::Viewer;
use crate::app::AppState;
use crate::browse::{self, Found};
use crate::discs::parse_id;
use crate::error::AppResult;
use crate::zipstream;

pub fn router(s: &AppState) -> Router<AppState> {
    Router::new()
        .route("/discs/{id}/files", counted(s, Files, get(root)))
        .route("/discs/{id}/files/", counted(s, Files, get(root)))
        .route(
            "/discs/{id}/files/{*path}",
            for_players(s, counted(s, Files, get(file))),
        )
        .route("/discs/{id}/tree", counted(s, Tree, get(tree)))
        .route(
            "/discs/{id}/tracks/{track}",
            for_players(s, counted(s, Item, get(track))),
        )
        .route(
            "/discs/{id}/titles/{title}",
            for_players(s, counted(s, Item, get(title))),
        )
        .route(
            "/discs/{id}/parts/{name}",
            for_players(s, counted(s, Item, get(part))),
        )
        .route(
            "/discs/{id}/zip",
            expensive(s, counted(s, Zip, get(zip_root))),
        )
        .route(
            "/discs/{id}/zip/{*path}",
            expensive(s, counted(s, Zip, get(zip))),
        )
        .route("/discs/{id}/launch", counted(s, Launch, get(launch)))
}

async fn found(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
    found: Found,
) -> AppResult<Response> {
    match found {
        Found::Dir(listing) => Ok(Json(listing).into_response()),
        Found::File(rep) => download::serve(state, method == Method::GET, headers, &rep).await,
    }
}

async fn root(
    State(state): State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let f = browse::at(&state.db, &state.content_rows, &viewer, parse_id(&id)?, "").await?;
    found(&state, &method, &headers, f).await
}

/// A directory's listing (JSON) or a file's bytes, with Range and conditionals.
async fn file(
    State(state): State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    ApiPath((id, path)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    let f = browse::at(
        &state.db,
        &state.content_rows,
        &viewer,
        parse_id(&id)?,
        &path,
    )
    .await?;
    found(&state, &method, &headers, f).await
}

async fn tree(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    Ok(
        Json(browse::tree(&state.db, &state.content_rows, &viewer, parse_id(&id)?).await?)
            .into_response(),
    )
}

async fn track(
    State(state): State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    ApiPath((id, track)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    let rep = browse::track(
        &state.db,
        &state.content_rows,
        &viewer,
        parse_id(&id)?,
        &track,
    )
    .await?;
    download::serve(&state, method == Method::GET, &headers, &rep).await
}

/// A title to play, as one file (a DVD title's cells across its VOBs), with Range.
async fn title(
    State(state): State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    ApiPath((id, title)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    let rep = browse::title(
        &state.db,
        &state.content_rows,
        &viewer,
        parse_id(&id)?,
        &title,
    )
    .await?;
    download::serve(&state, method == Method::GET, &headers, &rep).await
}

async fn part(
    State(state): State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    ApiPath((id, name)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    let rep = browse::part(
        &state.db,
        &state.content_rows,
        &viewer,
        parse_id(&id)?,
        &name,
    )
    .await?;
    download::serve(&state, method == Method::GET, &headers, &rep).await
}

async fn zip_root(
    state: State<AppState>,
    viewer: Viewer,
    method: Method,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    zip_response(state, viewer, method, id, String::new()).await
}

async fn zip(
    state: State<AppState>,
    viewer: Viewer,
    method: Method,
    ApiPath((id, path)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    zip_response(state, viewer, method, id, path).await
}

/// A streamed ZIP: its length is not known in advance, so no Range and no Content-Length.
async fn zip_response(
    State(state): State<AppState>,
    viewer: Viewer,
    method: Method,
    id: String,
    path: String,
) -> AppResult<Response> {
    let (filename, entries) = browse::zip(
        &state.db,
        &state.content_rows,
        &viewer,
        parse_id(&id)?,
        &path,
    )
    .await?;
    let body = if method == Method::GET {
        Body::from_stream(zipstream::stream(state.blobs.clone(), entries))
    } else {
        Body::empty()
    };
    let mut response = Response::new(body);
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        download::content_disposition(&filename, false),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("none"));
    Ok(response)
}

async fn launch(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let url = browse::launch(&state.db, &state.content_rows, &viewer, parse_id(&id)?).await?;
    Ok((StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response())
}
