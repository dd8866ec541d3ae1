//! Who may read a disc. Staff by their token (their own member's discs; admins all); readers
//! because the disc is open, because their address is in the owning member's network ranges
//! (behind a trusted proxy: the address it vouches for), or because they hold a signed,
//! expiring link for the disc or for all of a member's discs (off campus, or through a proxy
//! such as EZproxy). A signed link, once used, is kept in a cookie so the disc's pages and
//! files open too. Nobody is ever given a storage URL.

use base64::Engine as _;

use crate::auth::Staff;
use crate::db::discs::DiscRow;
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};

pub const ACCESS_COOKIE: &str = "spindle_access";
/// The longest a signed link may live.
pub const MAX_LINK_SECS: i64 = 366 * 86_400;

/// What a signed link opens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Disc(i64),
    Member(i64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub scope: Scope,
    /// Unix seconds.
    pub expires: i64,
}

fn mac(secret: &[u8], payload: &str) -> String {
    crate::auth::hmac_hex(secret, &[payload.as_bytes()], 20)
}

/// `<payload>.<hmac>`, the payload `d<id>.<expires>` or `m<id>.<expires>` in base64url.
pub fn sign(secret: &[u8], grant: &Grant) -> String {
    let payload = match grant.scope {
        Scope::Disc(id) => format!("d{id}.{}", grant.expires),
        Scope::Member(id) => format!("m{id}.{}", grant.expires),
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
    format!("{b64}.{}", mac(secret, &payload))
}

/// A token opening `scope` for `secs` (an allowed lifetime), and when it expires.
fn signed(secret: &[u8], scope: Scope, secs: i64) -> AppResult<(String, i64)> {
    if !(1..=MAX_LINK_SECS).contains(&secs) {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidExpiry,
            detail!("err_expiry_range", max = MAX_LINK_SECS),
        ));
    }
    let expires = crate::db::now() + secs;
    Ok((sign(secret, &Grant { scope, expires }), expires))
}

/// A signed link's token opening one disc for `secs`, made by its member's staff: the
/// token and when it expires.
pub async fn sign_for_disc(
    db: &crate::db::Db,
    secret: &[u8],
    staff: &Staff,
    id: i64,
    secs: i64,
) -> AppResult<(String, i64)> {
    let disc = crate::db::discs::get(db, id).await?.ok_or_else(|| {
        AppError::not_found(ErrorCode::DiscNotFound, detail!("err_no_disc", id = id))
    })?;
    if !staff.may_act_for(disc.member_id) {
        return Err(AppError::forbidden(detail!("err_disc_of_other_member")));
    }
    signed(secret, Scope::Disc(id), secs)
}

/// A signed link's token opening all of a member's discs for `secs`, made by its staff.
pub async fn sign_for_member(
    db: &crate::db::Db,
    secret: &[u8],
    staff: &Staff,
    code: &str,
    secs: i64,
) -> AppResult<(String, i64)> {
    let member = crate::members::get(db, code).await?;
    if !staff.may_act_for(member.id) {
        return Err(AppError::forbidden(detail!("err_other_members_discs")));
    }
    signed(secret, Scope::Member(member.id), secs)
}

/// The grant a token carries, if its signature is ours and it has not expired.
pub fn verify(secret: &[u8], token: &str, now: i64) -> Option<Grant> {
    if token.len() > 200 {
        return None;
    }
    let (b64, sig) = token.split_once('.')?;
    let payload = String::from_utf8(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(b64)
            .ok()?,
    )
    .ok()?;
    let expected = mac(secret, &payload);
    if expected.is_empty() || !crate::auth::same_token(&expected, sig) {
        return None;
    }
    let (scope, expires) = payload.split_once('.')?;
    let expires: i64 = expires.parse().ok()?;
    if expires <= now {
        return None;
    }
    let id: i64 = scope.get(1..)?.parse().ok()?;
    let scope = match scope.as_bytes().first()? {
        b'd' => Scope::Disc(id),
        b'm' => Scope::Member(id),
        _ => return None,
    };
    Some(Grant { scope, expires })
}

/// Whoever is asking for a disc: staff (by token), and as a reader the members whose ranges
/// hold their address and the signed link they bring (in the query or the cookie).
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    pub staff: Option<Staff>,
    pub members: Vec<i64>,
    /// The member whose campus sign-on the reader signed in with.
    pub signed_on: Option<i64>,
    pub grant: Option<Grant>,
    /// The signed link's token that verified as `grant`: a launched page's addresses carry it
    /// in their path, since its sandboxed subresources are sent without the cookie.
    pub link: Option<String>,
    /// The disc this viewer was asked about, for whoever counts the request.
    pub read: ReadNote,
}

/// The disc a viewer was last asked about and whether it is open, noted where access is
/// decided (admitted or refused) so the request can be counted against it.
#[derive(Debug, Clone, Default)]
pub struct ReadNote(std::sync::Arc<std::sync::Mutex<Option<(i64, bool)>>>);

impl ReadNote {
    pub fn note(&self, disc_id: i64, is_open: bool) {
        if let Ok(mut n) = self.0.lock() {
            *n = Some((disc_id, is_open));
        }
    }

    pub fn get(&self) -> Option<(i64, bool)> {
        self.0.lock().ok().and_then(|n| *n)
    }
}

impl Viewer {
    /// Whether this viewer may open a disc of `member` numbered `disc` (open or not), as
    /// [`Self::may_read`] decides, without the disc's row.
    pub fn may_open(&self, member: i64, disc: i64, is_open: bool) -> bool {
        if is_open {
            return true;
        }
        if let Some(s) = &self.staff {
            return s.may_act_for(member);
        }
        let granted = self.grant.as_ref().is_some_and(|g| match g.scope {
            Scope::Disc(id) => id == disc,
            Scope::Member(m) => m == member,
        });
        granted || self.members.contains(&member)
    }

    /// The signed link a reader needs in the address of this disc's files, when only the
    /// link opens it (a closed disc, and the reader neither staff nor in its member's ranges).
    pub fn link_needed_for(&self, disc: &DiscRow) -> Option<&str> {
        if disc.is_open || self.staff.is_some() || self.members.contains(&disc.member_id) {
            return None;
        }
        self.link.as_deref()
    }

    /// May this viewer read the disc? The refusal says how to get access.
    pub fn may_read(&self, disc: &DiscRow) -> AppResult<()> {
        if disc.is_open {
            return Ok(());
        }
        if let Some(s) = &self.staff {
            return if s.may_act_for(disc.member_id) {
                Ok(())
            } else {
                Err(AppError::forbidden(detail!("err_disc_of_other_member")))
            };
        }
        let granted = self.grant.as_ref().is_some_and(|g| match g.scope {
            Scope::Disc(id) => id == disc.id,
            Scope::Member(m) => m == disc.member_id,
        });
        if granted || self.members.contains(&disc.member_id) {
            return Ok(());
        }
        Err(AppError::new(
            axum::http::StatusCode::FORBIDDEN,
            ErrorCode::NotAdmitted,
            detail!("err_not_admitted", member = &disc.member_code),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_links_verify_only_untampered_and_unexpired() {
        let secret = b"0123456789abcdef0123456789abcdef";
        let g = Grant {
            scope: Scope::Disc(42),
            expires: 2_000,
        };
        let t = sign(secret, &g);
        assert_eq!(verify(secret, &t, 1_000), Some(g.clone()));
        assert_eq!(verify(secret, &t, 2_000), None, "expired");
        assert_eq!(verify(b"another secret", &t, 1_000), None);
        // Change the disc, keep the signature.
        let (_, sig) = t.split_once('.').expect("dot");
        let forged = format!(
            "{}.{sig}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("d43.2000")
        );
        assert_eq!(verify(secret, &forged, 1_000), None);
        let later = format!(
            "{}.{sig}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("d42.9999999999")
        );
        assert_eq!(verify(secret, &later, 1_000), None);
        for junk in ["", ".", "x.y", "%%%.abc", &"a".repeat(500)] {
            assert_eq!(verify(secret, junk, 1_000), None, "{junk}");
        }
        let m = Grant {
            scope: Scope::Member(7),
            expires: 5_000,
        };
        assert_eq!(verify(secret, &sign(secret, &m), 1), Some(m));
    }
}
