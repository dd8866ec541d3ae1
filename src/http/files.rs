//! `/discs/{id}/…` inside the image: listings and files, the whole tree, audio tracks as WAV,
//! CUE parts, a directory as ZIP, and the launch redirect.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use super::header_str;
use super::range::{ByteRange, Conditions, Decision, Validators, evaluate};
use super::route::{counted, expensive, for_players};
use super::track::Counted::{Files, Item, Launch, Tree, Zip};
use super::{ApiPath, download};
use crate::access::Viewer;
use crate::app::AppState;
use crate::browse::{self, Found};
use crate::detail;
use crate::discs::parse_id;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::zipstream;

pub fn router(s: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/discs/{id}/files", counted(s, Files, get(root)))
        .route("/api/v1/discs/{id}/files/", counted(s, Files, get(root)))
        .route(
            "/api/v1/discs/{id}/files/{*path}",
            for_players(s, Some(Files), get(file)),
        )
        .route("/api/v1/discs/{id}/tree", counted(s, Tree, get(tree)))
        .route(
            "/api/v1/discs/{id}/tracks/{track}",
            for_players(s, Some(Item), get(track)),
        )
        .route(
            "/api/v1/discs/{id}/titles/{title}",
            for_players(s, Some(Item), get(title)),
        )
        .route(
            "/api/v1/discs/{id}/parts/{name}",
            for_players(s, Some(Item), get(part)),
        )
        .route(
            "/api/v1/discs/{id}/zip",
            expensive(s, counted(s, Zip, get(zip_root))),
        )
        .route(
            "/api/v1/discs/{id}/zip/{*path}",
            expensive(s, counted(s, Zip, get(zip))),
        )
        .route("/api/v1/discs/{id}/launch", counted(s, Launch, get(launch)))
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
    // A CUE sheet's part is a blob of its own, whole: the store may serve it.
    match rep.content.sole_blob() {
        Some(digest) => {
            let digest = *digest;
            download::serve_blob(&state, method == Method::GET, &headers, &rep, &digest).await
        }
        None => download::serve(&state, method == Method::GET, &headers, &rep).await,
    }
}

async fn zip_root(
    state: State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    zip_response(state, viewer, method, headers, id, String::new()).await
}

async fn zip(
    state: State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    ApiPath((id, path)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    zip_response(state, viewer, method, headers, id, path).await
}

/// A streamed ZIP. Every size is known before it starts, so it has a length (a progress bar)
/// and an entity tag, and a single range of it can be asked for (a resumed download; what
/// comes before is read for its checksums, not sent).
async fn zip_response(
    State(state): State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    id: String,
    path: String,
) -> AppResult<Response> {
    let plan = browse::zip(
        &state.db,
        &state.content_rows,
        &viewer,
        parse_id(&id)?,
        &path,
    )
    .await?;
    let length = zipstream::length(&plan.entries);
    let last_modified =
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(plan.stored_at.max(0) as u64);
    let conditions = Conditions {
        if_match: header_str(&headers, "if-match"),
        if_none_match: header_str(&headers, "if-none-match"),
        if_modified_since: header_str(&headers, "if-modified-since"),
        if_unmodified_since: header_str(&headers, "if-unmodified-since"),
        if_range: header_str(&headers, "if-range"),
        range: header_str(&headers, "range"),
    };
    let validators = Validators {
        etag: &plan.etag,
        last_modified,
        length,
    };
    let is_get = method == Method::GET;
    let (status, window) = match evaluate(&conditions, &validators, is_get) {
        Decision::NotModified => (StatusCode::NOT_MODIFIED, None),
        Decision::PreconditionFailed => {
            return Err(AppError::new(
                StatusCode::PRECONDITION_FAILED,
                ErrorCode::PreconditionFailed,
                detail!("err_precondition"),
            ));
        }
        Decision::Unsatisfiable => {
            let mut e = AppError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                ErrorCode::RangeNotSatisfiable,
                detail!("err_range", size = length),
            );
            if let Ok(v) = HeaderValue::from_str(&format!("bytes */{length}")) {
                e = e.with_header(header::CONTENT_RANGE, v);
            }
            return Err(e);
        }
        // One range only: an archive is not worth multipart framing; several ranges get the
        // whole (RFC 9110 14.2 allows ignoring Range).
        Decision::Partial(ranges) if ranges.len() == 1 => (
            StatusCode::PARTIAL_CONTENT,
            Some(ranges[0].start..ranges[0].end),
        ),
        Decision::Partial(_) | Decision::Full => (StatusCode::OK, Some(0..length)),
    };
    let send = window.clone().filter(|_| is_get);
    let body = match send {
        Some(w) => Body::from_stream(zipstream::stream(state.blobs.clone(), plan.entries, w)),
        None => Body::empty(),
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        download::content_disposition(&plan.filename, false),
    );
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", plan.etag)) {
        h.insert(header::ETAG, v);
    }
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(last_modified)) {
        h.insert(header::LAST_MODIFIED, v);
    }
    if let Some(w) = window {
        if status == StatusCode::PARTIAL_CONTENT {
            let range = ByteRange {
                start: w.start,
                end: w.end,
            };
            if let Ok(v) = HeaderValue::from_str(&range.content_range(length)) {
                h.insert(header::CONTENT_RANGE, v);
            }
        }
        h.insert(header::CONTENT_LENGTH, HeaderValue::from(w.end - w.start));
    }
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
