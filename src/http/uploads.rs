//! `/uploads`: resumable uploads over tus 1.0 (core, creation, termination, expiration).

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;

use super::{ApiPath, header_str};
use crate::app::AppState;
use crate::auth::Staff;
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::uploads::{self, UploadStatus};

const TUS_VERSION: &str = "1.0.0";
const TUS_EXTENSIONS: &str = "creation,termination,expiration";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/uploads", post(create).options(options))
        .route(
            "/api/v1/uploads/{id}",
            get(show)
                .head(head)
                .patch(patch)
                .delete(terminate)
                .options(options),
        )
        .route_layer(middleware::from_fn(tus_protocol))
}

/// Every tus response carries `Tus-Resumable`; every request but OPTIONS must declare the
/// version it speaks (412 otherwise, with the versions we do).
async fn tus_protocol(request: Request, next: Next) -> Response {
    let declared = header_str(request.headers(), "tus-resumable").map(str::to_owned);
    let mut response = if request.method() != Method::OPTIONS
        && request.method() != Method::GET
        && declared.as_deref() != Some(TUS_VERSION)
    {
        AppError::new(
            StatusCode::PRECONDITION_FAILED,
            ErrorCode::TusVersion,
            detail!("err_tus_version", version = TUS_VERSION),
        )
        .with_header(
            HeaderName::from_static("tus-version"),
            HeaderValue::from_static(TUS_VERSION),
        )
        .into_response()
    } else {
        next.run(request).await
    };
    response
        .headers_mut()
        .insert("tus-resumable", HeaderValue::from_static(TUS_VERSION));
    response
}

async fn options(State(state): State<AppState>) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let h = response.headers_mut();
    h.insert("tus-version", HeaderValue::from_static(TUS_VERSION));
    h.insert("tus-extension", HeaderValue::from_static(TUS_EXTENSIONS));
    h.insert(
        "tus-max-size",
        HeaderValue::from(state.config.upload.max_size),
    );
    // Not part of tus: a PATCH advances the offset by whole parts of this size (or to the end).
    h.insert(
        "spindle-part-size",
        HeaderValue::from(state.config.upload.part_size),
    );
    response
}

fn parse_u64(headers: &HeaderMap, name: &str, code: ErrorCode) -> AppResult<Option<u64>> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|s| s.parse().ok())
            .map(Some)
            .ok_or_else(|| AppError::bad_request(code, detail!("err_not_integer", name = name))),
    }
}

fn status_headers(response: &mut Response, status: &UploadStatus) {
    let h = response.headers_mut();
    h.insert("upload-offset", HeaderValue::from(status.offset));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(expires) = status.expires_at {
        let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(expires.max(0) as u64);
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(when)) {
            h.insert("upload-expires", v);
        }
    }
}

async fn create(
    State(state): State<AppState>,
    staff: Staff,
    headers: HeaderMap,
) -> AppResult<Response> {
    let length = parse_u64(&headers, "upload-length", ErrorCode::InvalidUploadLength)?;
    let status = uploads::create(
        &state.uploads,
        &staff,
        length,
        header_str(&headers, "upload-metadata"),
    )
    .await?;
    let mut response = StatusCode::CREATED.into_response();
    status_headers(&mut response, &status);
    let h = response.headers_mut();
    h.insert(
        header::LOCATION,
        HeaderValue::from_str(&format!("/api/v1/uploads/{}", status.id))
            .map_err(|e| AppError::internal("location header", &e))?,
    );
    if status.already_stored {
        h.insert("spindle-blob-exists", HeaderValue::from_static("true"));
    }
    Ok(response)
}

async fn head(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let status = uploads::status(&state.uploads, &staff, &id).await?;
    let mut response = StatusCode::OK.into_response();
    status_headers(&mut response, &status);
    let h = response.headers_mut();
    h.insert("upload-length", HeaderValue::from(status.length));
    if !status.metadata.is_empty()
        && let Ok(v) = HeaderValue::from_str(&status.metadata)
    {
        h.insert("upload-metadata", v);
    }
    Ok(response)
}

#[derive(Serialize)]
struct UploadView {
    id: String,
    sha256: String,
    length: u64,
    offset: u64,
    complete: bool,
    expires_at: Option<i64>,
}

/// Not part of tus: the upload as JSON, for clients that want to confirm the stored hash.
async fn show(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let s = uploads::status(&state.uploads, &staff, &id).await?;
    Ok(Json(UploadView {
        complete: s.offset == s.length && s.expires_at.is_none(),
        id: s.id,
        sha256: s.sha256,
        length: s.length,
        offset: s.offset,
        expires_at: s.expires_at,
    })
    .into_response())
}

async fn patch(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    body: Body,
) -> AppResult<Response> {
    if header_str(&headers, "content-type") != Some("application/offset+octet-stream") {
        return Err(AppError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::WrongContentType,
            detail!("err_patch_type"),
        ));
    }
    let offset =
        parse_u64(&headers, "upload-offset", ErrorCode::InvalidUploadOffset)?.ok_or_else(|| {
            AppError::bad_request(
                ErrorCode::InvalidUploadOffset,
                detail!("err_offset_required"),
            )
        })?;
    let content_length = parse_u64(&headers, "content-length", ErrorCode::InvalidContentLength)?;
    let status = uploads::append(
        &state.uploads,
        &staff,
        &id,
        offset,
        content_length,
        body.into_data_stream(),
    )
    .await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    status_headers(&mut response, &status);
    Ok(response)
}

async fn terminate(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    uploads::terminate(&state.uploads, &staff, &id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}
