//! Staff authentication: bearer tokens, stored hashed, scoped to a member (librarian) or to
//! the whole consortium (admin).

use base64::Engine as _;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use crate::db::{self, Db, DbError};

const TOKEN_PREFIX: &str = "spindle_";
/// last_used_at is advisory; writing it more often than this would add a write per request.
const TOUCH_INTERVAL_SECS: i64 = 3600;

/// A staff role, ordered by reach (an admin acts for every member).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
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

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "librarian" => Some(Role::Librarian),
            "admin" => Some(Role::Admin),
            _ => None,
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
            role: Role::parse(&row.role).unwrap_or(Role::Librarian),
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

/// The staff member signed in with this browser session id, and the session's form token
/// (a session idle for `idle_secs` has ended).
pub async fn session_staff(
    db: &Db,
    session: &str,
    idle_secs: i64,
) -> Result<Option<(Staff, String)>, DbError> {
    if session.len() != 64 {
        return Ok(None);
    }
    Ok(db::tokens::by_session(db, &hash_token(session), idle_secs)
        .await?
        .map(|(row, csrf)| (Staff::of(&row), csrf)))
}

/// Whether two secrets are equal, in time that does not depend on where they differ.
pub fn same_token(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Opens a staff member's browser session after they signed in (with their token, or the
/// campus sign-on's `ticket`), for `lifetime_secs`: the session id for the cookie (only its
/// hash is stored, as is the ticket's).
pub async fn open_session(
    db: &crate::db::Db,
    staff: &Staff,
    lifetime_secs: i64,
    ticket: Option<&str>,
) -> crate::error::AppResult<String> {
    let session = random_hex(32);
    let csrf = random_hex(16);
    crate::db::tokens::create_session(
        db,
        &hash_token(&session),
        staff.token_id,
        &csrf,
        crate::db::now() + lifetime_secs,
        ticket.map(hash_token).as_deref(),
    )
    .await?;
    Ok(session)
}

/// Ends the browser session with this id (signing out).
pub async fn close_session(db: &crate::db::Db, session: &str) -> crate::error::AppResult<()> {
    Ok(crate::db::tokens::delete_session(db, &hash_token(session)).await?)
}

/// The longest a personal token may live, and how long one lives unless asked.
pub const PERSONAL_MAX_DAYS: i64 = 730;
pub const PERSONAL_DEFAULT_DAYS: i64 = 365;

/// A personal token made by staff for the CLI and scripts: the caller's role and member, their
/// own (listed and revoked by them), expiring after `days`. The token (shown once) and its id.
pub async fn create_personal(
    db: &Db,
    staff: &Staff,
    name: &str,
    days: Option<i64>,
) -> crate::error::AppResult<(String, i64, i64)> {
    use crate::error::{AppError, ErrorCode};
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidField,
            crate::detail!("err_token_name"),
        ));
    }
    let days = days.unwrap_or(PERSONAL_DEFAULT_DAYS);
    if !(1..=PERSONAL_MAX_DAYS).contains(&days) {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidExpiry,
            crate::detail!("err_token_days", max = PERSONAL_MAX_DAYS),
        ));
    }
    let owner = owner_of(db, staff).await?;
    let (token, hash) = generate_token();
    let expires = db::now() + days * 86_400;
    let id = db::tokens::insert_personal(
        db,
        owner,
        staff.member_id,
        staff.role.as_str(),
        &hash,
        name,
        expires,
    )
    .await?;
    Ok((token, id, expires))
}

async fn owner_of(db: &Db, staff: &Staff) -> crate::error::AppResult<db::tokens::Owner> {
    db::tokens::owner(db, staff.token_id).await?.ok_or_else(|| {
        crate::error::AppError::unauthenticated(
            crate::error::ErrorCode::InvalidToken,
            crate::detail!("err_token_unknown"),
        )
    })
}

/// The caller's personal tokens.
pub async fn personal_tokens(
    db: &Db,
    staff: &Staff,
) -> crate::error::AppResult<Vec<db::tokens::Listed>> {
    let owner = owner_of(db, staff).await?;
    Ok(db::tokens::personal(db, owner).await?)
}

/// Revokes one of the caller's personal tokens; anyone else's (or none) is a 404.
pub async fn revoke_personal(db: &Db, staff: &Staff, id: i64) -> crate::error::AppResult<()> {
    let owner = owner_of(db, staff).await?;
    if db::tokens::revoke_personal(db, owner, id).await? {
        Ok(())
    } else {
        Err(crate::error::AppError::not_found(
            crate::error::ErrorCode::NotFound,
            crate::detail!("err_no_token", id = id),
        ))
    }
}
