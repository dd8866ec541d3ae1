//! `/blobs/{sha256}`: does the consortium already hold these bytes? And the challenges by
//! which a member shows it holds bytes it did not upload (`crate::possession`).

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use spindle_storage::Digest;

use super::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::Staff;
use crate::error::{AppError, AppResult, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/blobs/{sha256}", get(show).head(exists))
        .route("/api/v1/blobs/{sha256}/challenges", post(challenge))
        .route("/api/v1/blobs/{sha256}/challenges/{id}", post(answer))
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChallengeRequest {
    /// The member to prove for (admins name one; a librarian's own by default).
    member: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Answers {
    member: Option<String>,
    /// The SHA-256 of each range, in the challenge's order, hex.
    answers: Vec<String>,
}

fn digest_of(sha: &str) -> AppResult<Digest> {
    sha.parse().map_err(|e| {
        AppError::unprocessable(
            ErrorCode::InvalidSha256,
            crate::detail!("err_sha256", field = "sha256", reason = e),
        )
    })
}

/// POST `/blobs/{sha}/challenges`: 201 with ranges to hash from the member's own copy, or
/// 200 `held` when the member holds the bytes already.
async fn challenge(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(sha): ApiPath<String>,
    ApiJson(req): ApiJson<ChallengeRequest>,
) -> AppResult<Response> {
    let digest = digest_of(&sha)?;
    let member = crate::discs::member_for(&state.db, &staff, req.member.as_deref()).await?;
    let c = crate::possession::challenge(&state.db, &state.blobs, &member, &digest).await?;
    let status = if c.held {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, Json(c)).into_response())
}

/// POST `/blobs/{sha}/challenges/{id}`: the answers; 200 `held` when right.
async fn answer(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath((sha, id)): ApiPath<(String, String)>,
    ApiJson(req): ApiJson<Answers>,
) -> AppResult<Response> {
    let digest = digest_of(&sha)?;
    let member = crate::discs::member_for(&state.db, &staff, req.member.as_deref()).await?;
    let c = crate::possession::answer(&state.db, &member, &digest, &id, &req.answers).await?;
    Ok(Json(c).into_response())
}
