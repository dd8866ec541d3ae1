//! The consortium's members as routes and pages ask for them: one by code, all of them, and
//! their campus network ranges (which decide whose readers an address is).

use crate::auth::{Role, Staff};
pub use crate::db::members::Member;
use crate::db::{self, Db};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};

/// The member with this code, if there is one.
pub async fn find(db: &Db, code: &str) -> AppResult<Option<Member>> {
    Ok(db::members::by_code(db, code).await?)
}

/// The member with this code; a missing one is `member-not-found`.
pub async fn get(db: &Db, code: &str) -> AppResult<Member> {
    find(db, code).await?.ok_or_else(|| {
        AppError::not_found(
            ErrorCode::MemberNotFound,
            detail!("err_no_member", code = code),
        )
    })
}

/// Every member, by code.
pub async fn list(db: &Db) -> AppResult<Vec<Member>> {
    Ok(db::members::list(db).await?)
}

/// A member's network ranges.
pub async fn networks(db: &Db, member_id: i64) -> AppResult<Vec<String>> {
    Ok(db::usage::networks(db)
        .await?
        .into_iter()
        .filter(|(id, _)| *id == member_id)
        .map(|(_, c)| c)
        .collect())
}

/// Replaces a member's network ranges (consortium admins only), returning them normalised.
pub async fn replace_networks(
    db: &Db,
    usage: &crate::usage::Usage,
    staff: &Staff,
    code: &str,
    given: &[String],
) -> AppResult<(Member, Vec<String>)> {
    if staff.role != Role::Admin {
        return Err(AppError::forbidden(detail!("err_networks_admin")));
    }
    let m = get(db, code).await?;
    if given.len() > 1000 {
        return Err(AppError::unprocessable(
            ErrorCode::TooManyNetworks,
            detail!("err_too_many_networks"),
        ));
    }
    let nets = crate::usage::parse_cidrs(given).map_err(|e| {
        AppError::unprocessable(
            ErrorCode::InvalidNetwork,
            detail!("err_network", reason = e),
        )
    })?;
    let mut cidrs: Vec<String> = nets.iter().map(|n| n.to_string()).collect();
    cidrs.sort();
    cidrs.dedup();
    db::usage::set_networks(db, m.id, &cidrs).await?;
    usage.networks.invalidate();
    Ok((m, cidrs))
}
