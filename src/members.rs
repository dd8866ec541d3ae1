//! The consortium's members as routes and pages ask for them: one by code, all of them, and
//! their campus network ranges (which decide whose readers an address is).

use crate::app::App;
use crate::auth::{Role, Staff};
use crate::db;
pub use crate::db::members::Member;
use crate::error::{AppError, AppResult, ErrorCode};

/// The member with this code, if there is one.
pub async fn find(app: &App, code: &str) -> AppResult<Option<Member>> {
    Ok(db::members::by_code(&app.db, code).await?)
}

/// The member with this code; a missing one is `member-not-found`.
pub async fn get(app: &App, code: &str) -> AppResult<Member> {
    find(app, code).await?.ok_or_else(|| {
        AppError::not_found(ErrorCode::MemberNotFound, format!("no member {code:?}"))
    })
}

/// Every member, by code.
pub async fn list(app: &App) -> AppResult<Vec<Member>> {
    Ok(db::members::list(&app.db).await?)
}

/// A member's network ranges.
pub async fn networks(app: &App, member_id: i64) -> AppResult<Vec<String>> {
    Ok(db::usage::networks(&app.db)
        .await?
        .into_iter()
        .filter(|(id, _)| *id == member_id)
        .map(|(_, c)| c)
        .collect())
}

/// Replaces a member's network ranges (consortium admins only), returning them normalised.
pub async fn replace_networks(
    app: &App,
    staff: &Staff,
    code: &str,
    given: &[String],
) -> AppResult<(Member, Vec<String>)> {
    if staff.role != Role::Admin {
        return Err(AppError::forbidden(
            "network ranges decide whose usage is whose: consortium admins set them",
        ));
    }
    let m = get(app, code).await?;
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
    db::usage::set_networks(&app.db, m.id, &cidrs).await?;
    app.usage.networks.invalidate();
    Ok((m, cidrs))
}
