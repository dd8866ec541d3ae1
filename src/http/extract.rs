//! Who is asking: the extractors for staff (a bearer token, or the session cookie together
//! with the session's form token) and for readers (the `Viewer`: their members by address,
//! the signed link they bring in the query or its cookie). The decisions are the domain's
//! (`auth`, `access`); this reads them off the request.

use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use super::web;
use crate::access::{ACCESS_COOKIE, ReadNote, Viewer, verify};
use crate::app::AppState;
use crate::auth::{self, Staff};
use crate::error::{AppError, ErrorCode};

/// The header a page's script sends with the session's form token, so that Spindle's own
/// pages (the browser uploader) may call the API with the session cookie. A cookie alone
/// never authorises an API call: another site can make a browser send the cookie, but not
/// this header with the right value.
pub const CSRF_HEADER: &str = "x-spindle-csrf";

/// The staff member behind a session cookie, when the request also carries the session's
/// form token in [`CSRF_HEADER`]; None without that header.
async fn session(parts: &Parts, state: &AppState) -> Result<Option<Staff>, AppError> {
    let Some(form_token) = parts.headers.get(CSRF_HEADER) else {
        return Ok(None);
    };
    let refused = || {
        AppError::unauthenticated(
            ErrorCode::SessionEnded,
            "the staff session has ended or the form token does not match it: sign in again",
        )
    };
    let form_token = form_token.to_str().map_err(|_| refused())?;
    let Some((staff, csrf)) = staff_session(state, &parts.headers).await? else {
        return Err(refused());
    };
    if auth::same_token(&csrf, form_token) {
        Ok(Some(staff))
    } else {
        Err(refused())
    }
}

/// The staff member signed in with the request's session cookie, and the session's form
/// token.
pub async fn staff_session(
    state: &AppState,
    headers: &axum::http::HeaderMap,
) -> Result<Option<(Staff, String)>, AppError> {
    let Some(id) = web::cookie(headers, web::STAFF_COOKIE) else {
        return Ok(None);
    };
    Ok(auth::session_staff(&state.db, id).await?)
}

fn bearer(parts: &Parts) -> Result<Option<&str>, AppError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        AppError::unauthenticated(
            ErrorCode::InvalidToken,
            "the Authorization header is not valid text",
        )
    })?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim())),
        _ => Err(AppError::unauthenticated(
            ErrorCode::InvalidToken,
            "use `Authorization: Bearer <token>`",
        )),
    }
}

impl FromRequestParts<AppState> for Staff {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        match Option::<Staff>::from_request_parts(parts, state).await? {
            Some(staff) => Ok(staff),
            None => Err(AppError::unauthenticated(
                ErrorCode::MissingToken,
                "this needs a staff token: `Authorization: Bearer <token>`",
            )),
        }
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Staff {
    type Rejection = AppError;

    /// No Authorization header: None. A header with a bad or revoked token: 401, never a
    /// silent fall-back to anonymous.
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Option<Self>, AppError> {
        let Some(token) = bearer(parts)? else {
            return session(parts, state).await;
        };
        match auth::authenticate(&state.db, token).await? {
            Some(staff) => Ok(Some(staff)),
            None => Err(AppError::unauthenticated(
                ErrorCode::InvalidToken,
                "the token is unknown or has been revoked",
            )),
        }
    }
}

pub(super) fn query_token(uri: &axum::http::Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == "access").then(|| v.to_string())
    })
}

impl FromRequestParts<AppState> for Viewer {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let staff =
            <Staff as OptionalFromRequestParts<AppState>>::from_request_parts(parts, state).await?;
        let read = parts
            .extensions
            .get::<ReadNote>()
            .cloned()
            .unwrap_or_default();
        if staff.is_some() {
            return Ok(Viewer {
                staff,
                read,
                ..Viewer::default()
            });
        }
        // The usage middleware has worked the reader out already on the routes it counts.
        let reader = match parts.extensions.get::<crate::usage::Reader>() {
            Some(r) => Some(r.clone()),
            None => {
                let (peer, header) = state.usage.origin(&parts.extensions, &parts.headers);
                state.usage.reader(&state.db, peer, header).await?
            }
        };
        let members = reader.map(|r| r.members).unwrap_or_default();
        let now = crate::db::now();
        let secret = &state.link_secret;
        let query_grant = query_token(&parts.uri).and_then(|t| verify(secret, &t, now));
        let cookie_grant =
            web::cookie(&parts.headers, ACCESS_COOKIE).and_then(|t| verify(secret, t, now));
        Ok(Viewer {
            staff: None,
            members,
            grant: query_grant.or(cookie_grant),
            read,
        })
    }
}
