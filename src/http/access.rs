//! Signed, expiring links for readers outside the member's networks: for one disc, or for
//! every disc of a member (for a proxy such as EZproxy, or a course page). Staff of the
//! member (or admins) make them; the token goes in `?access=` on any disc URL.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
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
        .route("/discs/{id}/signed-links", post(for_disc))
        .route("/members/{code}/signed-links", post(for_member))
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
