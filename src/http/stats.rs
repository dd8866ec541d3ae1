//! Staff endpoints of the statistics: a member's network ranges (which readers are
//! attributed to it, set by consortium admins only, since they decide whose usage is whose)
//! and SUSHI API keys (a member's own, or the consortium's).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::Staff;
use crate::detail;
use crate::error::{AppError, AppResult};
use crate::members;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/members/{code}/networks",
            get(networks).put(set_networks),
        )
        .route("/api/v1/sushi-keys", post(create_key))
}

async fn networks(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<Response> {
    let m = members::get(&state.db, &code).await?;
    if !staff.may_act_for(m.id) {
        return Err(AppError::forbidden(detail!("err_other_members_settings")));
    }
    let cidrs = members::networks(&state.db, m.id).await?;
    Ok(Json(json!({"member": m.code, "cidrs": cidrs})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NetworksBody {
    cidrs: Vec<String>,
}

async fn set_networks(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<NetworksBody>,
) -> AppResult<Response> {
    let (m, cidrs) =
        members::replace_networks(&state.db, &state.usage, &staff, &code, &body.cidrs).await?;
    Ok(Json(json!({"member": m.code, "cidrs": cidrs})).into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct KeyBody {
    /// The member whose usage the key opens; absent: the consortium's key (admins only).
    member: Option<String>,
}

async fn create_key(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(body): ApiJson<KeyBody>,
) -> AppResult<Response> {
    let (key, member) = crate::sushi::create_key(&state.db, &staff, body.member.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"api_key": key, "member": member})),
    )
        .into_response())
}
