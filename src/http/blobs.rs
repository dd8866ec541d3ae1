//! `/blobs/{sha256}`: does the consortium already hold these bytes?

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::ApiPath;
use crate::app::AppState;
use crate::auth::Staff;
use crate::error::AppResult;

pub fn router() -> Router<AppState> {
    Router::new().route("/blobs/{sha256}", get(show).head(exists))
}

#[derive(Serialize)]
struct BlobView {
    sha256: String,
    size: i64,
    stored_at: i64,
}

async fn exists(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(sha): ApiPath<String>,
) -> AppResult<Response> {
    let blob = crate::uploads::stored_blob(&state.uploads, &sha).await?;
    let mut response = StatusCode::OK.into_response();
    response
        .headers_mut()
        .insert("spindle-blob-size", HeaderValue::from(blob.size));
    Ok(response)
}

async fn show(
    State(state): State<AppState>,
    _staff: Staff,
    ApiPath(sha): ApiPath<String>,
) -> AppResult<Json<impl Serialize>> {
    let blob = crate::uploads::stored_blob(&state.uploads, &sha).await?;
    Ok(Json(BlobView {
        sha256: blob.sha256,
        size: blob.size,
        stored_at: blob.created_at,
    }))
}
