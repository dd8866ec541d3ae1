//! Readers outside the member's networks: signed, expiring links for one disc, or for every
//! disc of a member (for a proxy such as EZproxy, or a course page), made by the member's
//! staff (or admins), the token in `?access=` on any disc URL; and the member's off-campus
//! routes (proxy, VPN, contact) that the refusal page offers.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::{ApiJson, ApiPath};
use crate::access;
use crate::app::AppState;
use crate::auth::Staff;
use crate::error::AppResult;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/discs/{id}/signed-links", post(for_disc))
        .route("/api/v1/members/{code}/signed-links", post(for_member))
        .route(
            "/api/v1/members/{code}/off-campus",
            get(off_campus).put(set_off_campus),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OffCampusBody {
    proxy_prefix: Option<String>,
    vpn_url: Option<String>,
    contact: Option<String>,
}

async fn off_campus(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<Json<crate::members::OffCampus>> {
    let (_, o) = crate::members::off_campus(&state.db, &staff, &code).await?;
    Ok(Json(o))
}

async fn set_off_campus(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<OffCampusBody>,
) -> AppResult<Json<crate::members::OffCampus>> {
    let given = crate::members::OffCampus {
        proxy_prefix: body.proxy_prefix,
        vpn_url: body.vpn_url,
        contact: body.contact,
    };
    Ok(Json(
        crate::members::set_off_campus(&state.db, &staff, &code, given).await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LinkBody {
    /// How long the link opens the disc(s), in seconds (at most a year).
    expires_in_secs: i64,
}

async fn for_disc(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LinkBody>,
) -> AppResult<Response> {
    let id = crate::discs::parse_id(&id)?;
    let (token, expires) = access::sign_for_disc(
        &state.db,
        &state.link_secret,
        &staff,
        id,
        body.expires_in_secs,
    )
    .await?;
    let url = format!("{}/discs/{id}?access={token}", state.config.public_url());
    Ok((
        StatusCode::CREATED,
        Json(json!({"url": url, "token": token, "expires": expires})),
    )
        .into_response())
}

async fn for_member(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<LinkBody>,
) -> AppResult<Response> {
    let (token, expires) = access::sign_for_member(
        &state.db,
        &state.link_secret,
        &staff,
        &code,
        body.expires_in_secs,
    )
    .await?;
    // The link opens the home page (the discs the link opens are listed there) and keeps
    // the grant in a cookie for the member's disc pages.
    let url = format!("{}/?access={token}", state.config.public_url());
    Ok((
        StatusCode::CREATED,
        Json(json!({"url": url, "token": token, "expires": expires, "use": "append ?access=<token> to any of the member's disc URLs"})),
    )
        .into_response())
}
