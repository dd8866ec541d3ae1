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
use crate::access::{Grant, MAX_LINK_SECS, Scope, sign};
use crate::app::AppState;
use crate::auth::Staff;
use crate::db;
use crate::error::{AppError, AppResult, ErrorCode};

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

fn expiry(body: &LinkBody) -> AppResult<i64> {
    if !(1..=MAX_LINK_SECS).contains(&body.expires_in_secs) {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidExpiry,
            format!("expires_in_secs must be from 1 to {MAX_LINK_SECS}"),
        ));
    }
    Ok(db::now() + body.expires_in_secs)
}

async fn for_disc(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<LinkBody>,
) -> AppResult<Response> {
    let id = crate::discs::parse_id(&id)?;
    let disc = db::discs::get(&state.db, id)
        .await?
        .ok_or_else(|| AppError::not_found(ErrorCode::DiscNotFound, format!("no disc {id}")))?;
    if !staff.may_act_for(disc.member_id) {
        return Err(AppError::forbidden("this disc belongs to another member"));
    }
    let expires = expiry(&body)?;
    let token = sign(
        &state.link_secret,
        &Grant {
            scope: Scope::Disc(id),
            expires,
        },
    );
    let url = format!(
        "{}/api/v1/discs/{id}?access={token}",
        state.config.public_url()
    );
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
    let member = db::members::by_code(&state.db, &code)
        .await?
        .ok_or_else(|| {
            AppError::not_found(ErrorCode::MemberNotFound, format!("no member {code:?}"))
        })?;
    if !staff.may_act_for(member.id) {
        return Err(AppError::forbidden("another member's discs"));
    }
    let expires = expiry(&body)?;
    let token = sign(
        &state.link_secret,
        &Grant {
            scope: Scope::Member(member.id),
            expires,
        },
    );
    Ok((StatusCode::CREATED, Json(json!({"token": token, "expires": expires, "use": "append ?access=<token> to any of the member's disc URLs"}))).into_response())
}
