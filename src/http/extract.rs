//! Who is asking: the extractors for staff (a bearer token, or the session cookie together
//! with the session's form token) and for readers (the `Viewer`: their members by address,
//! the signed link they bring in the query or its cookie). The decisions are the domain's
//! (`auth`, `access`); this reads them off the request. And the API's own `Json`, `Path` and
//! `Query`, whose refusals are problem documents.

use axum::extract::{FromRequest, FromRequestParts, OptionalFromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use serde::de::DeserializeOwned;

use super::web;
use crate::access::{ACCESS_COOKIE, ReadNote, Viewer, verify};
use crate::app::AppState;
use crate::auth::{self, Staff};
use crate::detail;
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
    let refused =
        || AppError::unauthenticated(ErrorCode::SessionEnded, detail!("err_session_ended"));
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
    headers: &HeaderMap,
) -> Result<Option<(Staff, String)>, AppError> {
    let Some(id) = web::cookie(headers, web::STAFF_COOKIE) else {
        return Ok(None);
    };
    Ok(auth::session_staff(&state.db, id, state.config.auth.staff_idle_secs()).await?)
}

fn bearer(parts: &Parts) -> Result<Option<&str>, AppError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| {
        AppError::unauthenticated(ErrorCode::InvalidToken, detail!("err_auth_not_text"))
    })?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => Ok(Some(token.trim())),
        _ => Err(AppError::unauthenticated(
            ErrorCode::InvalidToken,
            detail!("err_auth_bearer"),
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
                detail!("err_token_needed"),
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
            Some(staff) => {
                if let Some(a) = parts.extensions.get::<super::layers::Accepted>() {
                    a.note();
                }
                Ok(Some(staff))
            }
            None => Err(AppError::unauthenticated(
                ErrorCode::InvalidToken,
                detail!("err_token_unknown"),
            )),
        }
    }
}

/// A signed link taken from the address's `/g/{token}` prefix before routing (`super::router`).
#[derive(Debug, Clone)]
pub(super) struct PathGrant(pub String);

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
                match state.usage.reader(&state.db, peer, header).await? {
                    Some(r) => Some(super::sso::with_sign_on(state, &parts.headers, r).await?),
                    None => None,
                }
            }
        };
        let signed_on = reader.as_ref().and_then(|r| r.signed_on);
        let members = reader.map(|r| r.members).unwrap_or_default();
        let now = crate::calendar::now_secs();
        let secret = &state.link_secret;
        // A link in the path (a launched disc's addresses), else the query, else the cookie.
        let (grant, link) = [
            parts.extensions.get::<PathGrant>().map(|g| g.0.clone()),
            query_token(&parts.uri),
            web::cookie(&parts.headers, ACCESS_COOKIE).map(str::to_string),
        ]
        .into_iter()
        .flatten()
        .find_map(|t| verify(secret, &t, now).map(|g| (g, t)))
        .unzip();
        Ok(Viewer {
            staff: None,
            members,
            signed_on,
            grant,
            link,
            read,
        })
    }
}

/// A header as text, or None when absent or not visible ASCII.
pub(crate) fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

/// `Path` whose rejections (a segment that is not UTF-8 once decoded, say) are problem
/// documents rather than axum's plain text.
pub(crate) struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        <axum::extract::Path<T> as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(|p| ApiPath(p.0))
            .map_err(|rejection| {
                AppError::bad_request(
                    ErrorCode::InvalidPath,
                    detail!("err_invalid_path", reason = rejection.body_text()),
                )
            })
    }
}

/// `Query` whose rejections are problem documents rather than axum's plain text.
pub(crate) struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, AppError> {
        <axum::extract::Query<T> as FromRequestParts<S>>::from_request_parts(parts, state)
            .await
            .map(|q| ApiQuery(q.0))
            .map_err(|rejection| {
                AppError::bad_request(
                    ErrorCode::InvalidQuery,
                    detail!("err_invalid_query", reason = rejection.body_text()),
                )
            })
    }
}

/// `Json` whose rejections are Spindle's JSON errors rather than axum's plain text.
pub(crate) struct ApiJson<T>(pub T);

/// Whether any string (or key) in a JSON value holds a NUL, which no text column accepts
/// (PostgreSQL refuses it outright; SQLite would cut the text short).
fn holds_nul(v: &serde_json::Value) -> bool {
    match v {
        serde_json::Value::String(s) => s.contains('\0'),
        serde_json::Value::Array(a) => a.iter().any(holds_nul),
        serde_json::Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

/// The most a JSON or form body may hold (axum's default body limit, which applies to every
/// extractor that buffers a body; uploads stream and are bounded by their declared length).
const JSON_LIMIT: usize = 2 * 1024 * 1024;

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &S) -> Result<Self, AppError> {
        match axum::Json::<serde_json::Value>::from_request(req, state).await {
            Ok(axum::Json(v)) => {
                if holds_nul(&v) {
                    return Err(AppError::bad_request(
                        ErrorCode::InvalidCharacter,
                        detail!("err_nul_text"),
                    ));
                }
                serde_json::from_value(v).map(ApiJson).map_err(|e| {
                    AppError::unprocessable(
                        ErrorCode::InvalidJson,
                        detail!("err_json_body", reason = e),
                    )
                })
            }
            Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(AppError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::BodyTooLarge,
                    detail!("err_json_too_large", max = JSON_LIMIT),
                ))
            }
            Err(rejection) if rejection.status() == StatusCode::UNSUPPORTED_MEDIA_TYPE => {
                Err(AppError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    ErrorCode::WrongContentType,
                    detail!("err_json_type", reason = rejection.body_text()),
                ))
            }
            Err(rejection) => Err(AppError::new(
                rejection.status(),
                ErrorCode::InvalidJson,
                detail!("err_json_unreadable", reason = rejection.body_text()),
            )),
        }
    }
}
