//! `/members/{code}/catalogue` (a member's ILS connector and OPAC template), the review queue,
//! and the librarian's decisions on a disc's candidate records.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use super::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::Staff;
use crate::detail;
use crate::discs::parse_id;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::linking::{self, CatalogueSettings};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/members/{code}/catalogue", get(show).put(put))
        .route("/api/v1/members/{code}/review", get(review))
        .route("/api/v1/discs/{id}/links/{record}/{decision}", post(decide))
        .route("/api/v1/discs/{id}/relink", post(relink))
        .route("/api/v1/members/{code}/catalogue/resync", post(resync))
        .route("/api/v1/members/{code}/catalogue/check", post(check))
}

async fn show(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<Response> {
    Ok(Json(linking::get_catalogue(&state.linking, &staff, &code).await?).into_response())
}

async fn put(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
    ApiJson(settings): ApiJson<CatalogueSettings>,
) -> AppResult<Response> {
    let queued = linking::put_catalogue(&state.linking, &staff, &code, settings).await?;
    Ok(Json(json!({ "member": code, "discs_queued": queued })).into_response())
}

/// Tries the stored settings against the catalogue: 200 with what works and what does not.
async fn check(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<Response> {
    Ok(Json(linking::check_catalogue(&state.linking, &staff, &code).await?).into_response())
}

async fn review(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<Response> {
    Ok(Json(linking::review_queue(&state.linking, &staff, &code).await?).into_response())
}

async fn decide(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath((id, record, decision)): ApiPath<(String, String, String)>,
) -> AppResult<Response> {
    let accept = match decision.as_str() {
        "accept" => true,
        "reject" => false,
        _ => {
            return Err(AppError::not_found(
                ErrorCode::NotFound,
                detail!("err_decision"),
            ));
        }
    };
    let record: i64 = record.parse().map_err(|_| {
        AppError::not_found(
            ErrorCode::LinkNotFound,
            detail!("err_no_candidate", record = record),
        )
    })?;
    let status = linking::decide(&state.linking, &staff, parse_id(&id)?, record, accept).await?;
    Ok(Json(json!({ "link_status": status })).into_response())
}

async fn relink(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    linking::relink(&state.linking, &staff, parse_id(&id)?).await?;
    Ok(StatusCode::ACCEPTED.into_response())
}

/// Fetches the member's linked records again now (the periodic re-sync does it daily).
async fn resync(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<Response> {
    Ok(Json(linking::resync_member(&state.linking, &staff, &code).await?).into_response())
}
