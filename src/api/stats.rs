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
use crate::auth::{Role, Staff, generate_token};
use crate::db;
use crate::error::{AppError, AppResult, ErrorCode};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/members/{code}/networks", get(networks).put(set_networks))
        .route("/sushi-keys", post(create_key))
}

async fn member(state: &AppState, code: &str) -> AppResult<db::members::Member> {
    db::members::by_code(&state.db, code).await?.ok_or_else(|| {
        AppError::not_found(ErrorCode::MemberNotFound, format!("no member {code:?}"))
    })
}

async fn networks(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<Response> {
    let m = member(&state, &code).await?;
    if !staff.may_act_for(m.id) {
        return Err(AppError::forbidden("another member's settings"));
    }
    let cidrs = member_cidrs(&state, m.id).await?;
    Ok(Json(json!({"member": m.code, "cidrs": cidrs})).into_response())
}

/// A member's network ranges.
pub(super) async fn member_cidrs(state: &AppState, member_id: i64) -> AppResult<Vec<String>> {
    Ok(db::usage::networks(&state.db)
        .await?
        .into_iter()
        .filter(|(id, _)| *id == member_id)
        .map(|(_, c)| c)
        .collect())
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
    let (m, cidrs) = replace_networks(&state, &staff, &code, &body.cidrs).await?;
    Ok(Json(json!({"member": m.code, "cidrs": cidrs})).into_response())
}

/// Replaces a member's network ranges (consortium admins only), returning them normalised.
pub(super) async fn replace_networks(
    state: &AppState,
    staff: &Staff,
    code: &str,
    given: &[String],
) -> AppResult<(db::members::Member, Vec<String>)> {
    if staff.role != Role::Admin {
        return Err(AppError::forbidden(
            "network ranges decide whose usage is whose: consortium admins set them",
        ));
    }
    let m = member(state, code).await?;
    if given.len() > 1000 {
        return Err(AppError::unprocessable(
            ErrorCode::TooManyNetworks,
            "at most 1000 ranges per member",
        ));
    }
    let nets = crate::usage::parse_cidrs(given)
        .map_err(|e| AppError::unprocessable(ErrorCode::InvalidNetwork, e))?;
    let mut cidrs: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
    cidrs.sort();
    cidrs.dedup();
    db::usage::set_networks(&state.db, m.id, &cidrs).await?;
    state.usage.networks.invalidate();
    Ok((m, cidrs))
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
    let member_id = match body.member.as_deref().or(staff.member_code.as_deref()) {
        Some(code) => {
            let m = member(&state, code).await?;
            if !staff.may_act_for(m.id) {
                return Err(AppError::forbidden("another member's usage"));
            }
            Some(m.id)
        }
        None => None,
    };
    let (key, hash) = generate_token();
    db::usage::insert_sushi_key(&state.db, member_id, &hash).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"api_key": key, "member": body.member.or(staff.member_code)})),
    )
        .into_response())
}
