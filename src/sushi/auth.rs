//! Who a SUSHI request is for: `customer_id` + `api_key` (CoP §8.2; no IP authentication),
//! and the keys staff make for their harvesters.

use super::Service;
use super::{Exception, Params};
use crate::auth::{Role, Staff, hash_token};
use crate::db;
use crate::detail;
use crate::error::{AppError, AppResult};
use crate::usage::count::CONSORTIUM;

/// The global report's customer id (usage attributed to no institution): not offered.
const GLOBAL: &str = "0000000000000000";

/// Whose usage a request is for.
#[derive(Debug, Clone)]
pub struct Customer {
    pub customer_id: String,
    pub name: String,
    /// The figures' scope: a member id, or 0 for the consortium.
    pub scope: i64,
}

/// A member's key opens its own usage; the consortium's key opens the consortium's and every
/// member's.
pub async fn authorize(svc: &Service<'_>, params: &Params) -> Result<Customer, Exception> {
    let customer_id = params
        .get("customer_id")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Exception::with(1030, "customer_id is required"))?;
    let holder = match params
        .get("api_key")
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        Some(key) => db::usage::sushi_key(svc.db, &hash_token(key))
            .await?
            .ok_or_else(|| Exception::new(2020))?,
        None if params.contains_key("requestor_id") => {
            return Err(Exception::with(
                2000,
                "this platform authenticates with api_key",
            ));
        }
        None => return Err(Exception::with(2020, "api_key is required")),
    };
    if customer_id == GLOBAL {
        return Err(Exception::new(2011));
    }
    let stats = &svc.config.stats;
    if customer_id == stats.consortium_customer_id {
        return match holder {
            None => Ok(Customer {
                customer_id: customer_id.to_string(),
                name: stats.consortium_name.clone(),
                scope: CONSORTIUM,
            }),
            Some(_) => Err(Exception::with(2010, customer_id.to_string())),
        };
    }
    let member = db::members::by_code(svc.db, customer_id)
        .await?
        .ok_or_else(|| Exception::with(2010, customer_id.to_string()))?;
    if holder.is_some_and(|m| m != member.id) {
        return Err(Exception::with(2010, customer_id.to_string()));
    }
    Ok(Customer {
        customer_id: member.code,
        name: member.name,
        scope: member.id,
    })
}

/// A new SUSHI API key for a member's usage (a librarian's own, or any for an admin) or, with
/// no member, the consortium's (admins only). Answers the key (shown once; only its hash is
/// kept) and the member it opens.
pub async fn create_key(
    db: &crate::db::Db,
    staff: &Staff,
    member: Option<&str>,
) -> AppResult<(String, Option<String>)> {
    let code = member.or(staff.member_code.as_deref());
    let member_id = match code {
        Some(code) => {
            let m = crate::members::get(db, code).await?;
            if !staff.may_act_for(m.id) {
                return Err(AppError::forbidden(detail!("err_other_members_usage")));
            }
            Some(m.id)
        }
        None if staff.role == Role::Admin => None,
        None => return Err(AppError::forbidden(detail!("err_consortium_key"))),
    };
    let (key, hash) = crate::auth::generate_token();
    db::usage::insert_sushi_key(db, member_id, &hash).await?;
    Ok((key, code.map(str::to_string)))
}
