//! Staff authentication: bearer tokens, stored hashed, scoped to a member (librarian) or to
//! the whole consortium (admin).

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::app::AppState;
use crate::db::{self, Db, DbError};
use crate::error::{AppError, ErrorCode};

const TOKEN_PREFIX: &str = "spindle_";
/// last_used_at is advisory; writing it more often than this would add a write per request.
const TOUCH_INTERVAL_SECS: i64 = 3600;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Librarian,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Librarian => "librarian",
            Role::Admin => "admin",
        }
    }
}

/// An authenticated member of staff.
#[derive(Debug, Clone)]
pub struct Staff {
    pub token_id: i64,
    pub role: Role,
    /// The member a librarian belongs to; None for consortium admins.
    pub member_id: Option<i64>,
    pub member_code: Option<String>,
}

impl Staff {
    /// Admins act for every member; a librarian only for their own.
    /// Who decided, as recorded next to a decision: `librarian:PKU#12` or `admin#3`.
    pub fn label(&self) -> String {
        match (&self.role, &self.member_code) {
            (Role::Librarian, Some(code)) => format!("librarian:{code}#{}", self.token_id),
            _ => format!("admin#{}", self.token_id),
        }
    }

    fn of(row: &db::tokens::TokenRow) -> Self {
        Self {
            token_id: row.id,
            role: if row.role == "admin" {
                Role::Admin
            } else {
                Role::Librarian
            },
            member_id: row.member_id,
            member_code: row.member_code.clone(),
        }
    }

    pub fn may_act_for(&self, member_id: i64) -> bool {
        self.role == Role::Admin || self.member_id == Some(member_id)
    }
}

/// A new random token (256 bits, URL-safe) and the hash that is stored.
pub fn generate_token() -> (String, String) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let token = format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    );
    let hash = hash_token(&token);
    (token, hash)
}

/// HMAC-SHA256 of the concatenated `pieces` under `key`, its first `bytes` bytes as hex
/// (empty only if the key were refused, which HMAC never does).
pub fn hmac_hex(key: &[u8], pieces: &[&[u8]], bytes: usize) -> String {
    use hmac::{KeyInit, Mac};
    let Ok(mut mac) = hmac::Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    for p in pieces {
        mac.update(p);
    }
    let out = mac.finalize().into_bytes();
    hex::encode(&out[..bytes.min(out.len())])
}

/// `bytes` random bytes as hex: session and upload ids, form tokens, keys.
pub fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// Tokens carry 256 random bits, so a plain SHA-256 is enough to store them safely.
pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

pub async fn authenticate(db: &Db, token: &str) -> Result<Option<Staff>, DbError> {
    if !token.starts_with(TOKEN_PREFIX) || token.len() > 128 {
        return Ok(None);
    }
    let Some(row) = db::tokens::by_hash(db, &hash_token(token)).await? else {
        return Ok(None);
    };
    if row
        .last_used_at
        .is_none_or(|t| t < db::now() - TOUCH_INTERVAL_SECS)
    {
        db::tokens::touch(db, row.id).await?;
    }
    Ok(Some(Staff::of(&row)))
}

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
    let Some((staff, csrf)) = staff_session(&state.db, &parts.headers).await? else {
        return Err(refused());
    };
    if crate::web::same_token(&csrf, form_token) {
        Ok(Some(staff))
    } else {
        Err(refused())
    }
}

/// The staff member signed in with the request's session cookie, and the session's form
/// token.
pub async fn staff_session(
    db: &Db,
    headers: &axum::http::HeaderMap,
) -> Result<Option<(Staff, String)>, DbError> {
    let Some(id) =
        crate::web::cookie(headers, crate::web::STAFF_COOKIE).filter(|id| id.len() == 64)
    else {
        return Ok(None);
    };
    Ok(db::tokens::by_session(db, &hash_token(id))
        .await?
        .map(|(row, csrf)| (Staff::of(&row), csrf)))
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
        match authenticate(&state.db, token).await? {
            Some(staff) => Ok(Some(staff)),
            None => Err(AppError::unauthenticated(
                ErrorCode::InvalidToken,
                "the token is unknown or has been revoked",
            )),
        }
    }
}

/// Opens a staff member's browser session after they signed in with their token, for
/// `lifetime_secs`: the session id for the cookie (only its hash is stored).
pub async fn open_session(
    app: &crate::app::App,
    staff: &Staff,
    lifetime_secs: i64,
) -> crate::error::AppResult<String> {
    let session = random_hex(32);
    let csrf = random_hex(16);
    crate::db::tokens::create_session(
        &app.db,
        &hash_token(&session),
        staff.token_id,
        &csrf,
        crate::db::now() + lifetime_secs,
    )
    .await?;
    Ok(session)
}

/// Ends the browser session with this id (signing out).
pub async fn close_session(app: &crate::app::App, session: &str) -> crate::error::AppResult<()> {
    Ok(crate::db::tokens::delete_session(&app.db, &hash_token(session)).await?)
}
