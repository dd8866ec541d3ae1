//! The consortium's members as routes and pages ask for them: one by code, all of them,
//! their campus network ranges (which decide whose readers an address is) and the ways in
//! they offer readers off campus.

use crate::auth::{Role, Staff};
pub use crate::db::members::{Member, OffCampus};
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

/// A member's ways in from off campus (its librarians and admins).
pub async fn off_campus(db: &Db, staff: &Staff, code: &str) -> AppResult<(Member, OffCampus)> {
    let m = get(db, code).await?;
    if !staff.may_act_for(m.id) {
        return Err(AppError::forbidden(detail!("err_other_members_settings")));
    }
    let o = db::members::off_campus(db, m.id).await?;
    Ok((m, o))
}

/// Sets a member's ways in from off campus (its librarians and admins); empty values clear.
pub async fn set_off_campus(
    db: &Db,
    staff: &Staff,
    code: &str,
    given: OffCampus,
) -> AppResult<OffCampus> {
    let m = get(db, code).await?;
    if !staff.may_act_for(m.id) {
        return Err(AppError::forbidden(detail!("err_other_members_settings")));
    }
    let clean = |v: Option<String>| v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty());
    let o = OffCampus {
        proxy_prefix: clean(given.proxy_prefix),
        vpn_url: clean(given.vpn_url),
        contact: clean(given.contact),
    };
    for (field, url) in [("proxy_prefix", &o.proxy_prefix), ("vpn_url", &o.vpn_url)] {
        if let Some(u) = url {
            let parsed = reqwest::Url::parse(&u.replace("{url}", ""));
            let web = parsed.is_ok_and(|p| matches!(p.scheme(), "http" | "https") && p.has_host());
            if !web || u.len() > 500 || u.chars().any(char::is_control) {
                return Err(AppError::unprocessable(
                    ErrorCode::InvalidOffCampus,
                    detail!("err_off_campus_url", field = field),
                ));
            }
        }
    }
    if let Some(c) = &o.contact
        && (c.chars().count() > 200 || c.chars().any(char::is_control))
    {
        return Err(AppError::unprocessable(
            ErrorCode::InvalidOffCampus,
            detail!("err_off_campus_contact"),
        ));
    }
    db::members::set_off_campus(db, m.id, &o).await?;
    Ok(o)
}

/// `url` through a member's proxy: put where the prefix says `{url}`, else appended,
/// percent-encoded (EZproxy's `login?url=` and WebVPN prefixes take it so).
pub fn proxied(prefix: &str, url: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(url.as_bytes()).collect();
    if prefix.contains("{url}") {
        prefix.replace("{url}", &encoded)
    } else {
        format!("{prefix}{encoded}")
    }
}

/// What a reader refused a closed disc is told: whose it is, which disc, and the member's
/// ways in (its proxy with this page's address, its VPN, whom to ask). Catalogue titles and
/// members' names are public; nothing of the disc's content is said.
#[derive(Debug, serde::Serialize)]
pub struct Refusal {
    /// The member's campus sign-on for readers, back to this page.
    pub sign_on_url: Option<String>,
    pub member: String,
    pub member_code: String,
    pub title: String,
    pub proxy_url: Option<String>,
    pub vpn_url: Option<String>,
    pub contact: Option<String>,
}

/// Why a reader is refused a closed disc and how they may get in, on the page at `page_url`
/// (whose path within Spindle is `path`).
pub async fn refusal(
    db: &Db,
    disc_id: i64,
    page_url: &str,
    path: &str,
) -> AppResult<Option<Refusal>> {
    let Some(disc) = db::discs::get(db, disc_id).await? else {
        return Ok(None);
    };
    let Some(m) = find(db, &disc.member_code).await? else {
        return Ok(None);
    };
    let o = db::members::off_campus(db, m.id).await?;
    let sign_on_url = crate::identity::reader_sign_on_url(db, m.id, &m.code, path).await?;
    Ok(Some(Refusal {
        sign_on_url,
        member: m.name,
        member_code: m.code,
        title: db::search::hits(db, &[disc_id])
            .await?
            .into_iter()
            .next()
            .map_or(disc.filename, |h| h.title),
        proxy_url: o.proxy_prefix.as_deref().map(|p| proxied(p, page_url)),
        vpn_url: o.vpn_url,
        contact: o.contact,
    }))
}

#[cfg(test)]
mod tests {
    use super::proxied;

    #[test]
    fn proxies_take_the_address_encoded() {
        let url = "https://spindle.example.edu/discs/7?lang=zh";
        assert_eq!(
            proxied("https://ezproxy.lib.example.edu/login?url=", url),
            "https://ezproxy.lib.example.edu/login?url=https%3A%2F%2Fspindle.example.edu%2Fdiscs%2F7%3Flang%3Dzh"
        );
        assert_eq!(
            proxied("https://webvpn.example.edu/go?to={url}&x=1", "http://a/b"),
            "https://webvpn.example.edu/go?to=http%3A%2F%2Fa%2Fb&x=1"
        );
    }
}
