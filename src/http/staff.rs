//! Staff pages: sign-in (a token exchanged for a session cookie), sign-out, and the
//! statistics dashboards with their CSV exports.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;
use serde_json::json;

use super::route::expensive;
use crate::app::AppState;
use crate::auth::{Role, authenticate};
use crate::dashboard;
use crate::detail;
use crate::error::{AppError, ErrorCode};
use crate::http::web::{
    self, CSRF_COOKIE, Lang, STAFF_COOKIE, StaffPage, render, safe_next, same_token,
};
use crate::members::Member;

pub fn router(s: &AppState) -> Router<AppState> {
    Router::new()
        .route("/staff/sign-in", get(sign_in_form).post(sign_in))
        .route("/staff/sign-out", post(sign_out))
        .route("/staff/stats", get(stats))
        .route("/staff/review", get(review))
        .route("/staff/review/{disc}/{record}/{decision}", post(decide))
        .route("/staff/stats/{file}", expensive(s, get(stats_csv)))
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn sign_in_page(
    state: &AppState,
    lang: Lang,
    next: &str,
    error: Option<&str>,
    status: StatusCode,
) -> Response {
    // The members whose campus sign-on staff may use.
    let sign_on = match crate::db::identity::offered(&state.db).await {
        Ok(o) => o,
        Err(e) => return AppError::from(e).into_response(),
    };
    // A fresh form token, also in a cookie: the form must come from this page (a login
    // form posted from another site would carry no matching cookie).
    let form_token = crate::auth::random_hex(16);
    let mut response = render(
        status,
        "sign_in.html",
        lang,
        json!({"form_token": form_token, "next": next, "next_enc": crate::opac::enc(next), "error": error, "sign_on": sign_on, "lang_url": crate::site::here(format!("/staff/sign-in?lang={}", if lang == Lang::Zh { "en" } else { "zh" }))}),
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        web::set_cookie(state, CSRF_COOKIE, &form_token, "/staff", 3600),
    );
    response
}

async fn sign_in_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Query(q): Query<NextQuery>,
) -> Response {
    let lang = Lang::from_request(&headers, &uri);
    sign_in_page(
        &state,
        lang,
        &safe_next(q.next.as_deref()),
        None,
        StatusCode::OK,
    )
    .await
}

#[derive(Deserialize)]
struct SignIn {
    token: String,
    csrf: String,
    next: Option<String>,
}

async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: axum::http::Uri,
    Form(form): Form<SignIn>,
) -> Response {
    let lang = Lang::from_request(&headers, &uri);
    let next = safe_next(form.next.as_deref());
    let cookie_token = web::cookie(&headers, CSRF_COOKIE).unwrap_or("");
    if cookie_token.is_empty() || !same_token(cookie_token, &form.csrf) {
        return web::message(
            StatusCode::FORBIDDEN,
            lang,
            "403",
            "This form did not come from Spindle's sign-in page; open the page and sign in again.",
        );
    }
    let staff = match authenticate(&state.db, form.token.trim()).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            let words = lang.words();
            let error = words["bad_token"].as_str().unwrap_or("");
            return sign_in_page(&state, lang, &next, Some(error), StatusCode::UNAUTHORIZED).await;
        }
        Err(e) => return AppError::from(e).into_response(),
    };
    let session =
        match crate::auth::open_session(&state.db, &staff, state.config.auth.staff_secs(), None)
            .await
        {
            Ok(s) => s,
            Err(e) => return e.into_response(),
        };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, next)]).into_response();
    let h = response.headers_mut();
    h.append(
        header::SET_COOKIE,
        web::set_cookie(
            &state,
            STAFF_COOKIE,
            &session,
            "/",
            state.config.auth.staff_secs(),
        ),
    );
    h.append(
        header::SET_COOKIE,
        web::set_cookie(&state, CSRF_COOKIE, "", "/staff", 0),
    );
    response
}

#[derive(Deserialize)]
struct SignOut {
    csrf: String,
}

async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    page: StaffPage,
    Form(form): Form<SignOut>,
) -> Response {
    if let Some(refused) = page.form_refusal(&form.csrf) {
        return refused;
    }
    if let Some(id) = web::cookie(&headers, STAFF_COOKIE)
        && let Err(e) = crate::auth::close_session(&state.db, id).await
    {
        return e.into_response();
    }
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, "/staff/sign-in")],
    )
        .into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        web::set_cookie(&state, STAFF_COOKIE, "", "/", 0),
    );
    response
}

#[derive(Deserialize)]
struct StatsQuery {
    member: Option<String>,
}

/// Whose figures: a librarian sees their own member's; an admin the consortium's or, with
/// `?member=`, any member's.
pub(super) async fn scope(
    state: &AppState,
    page: &StaffPage,
    asked: Option<&str>,
) -> Result<Option<Member>, Response> {
    let asked = asked.map(str::trim).filter(|m| !m.is_empty());
    let code = match (page.staff.role, asked, page.staff.member_code.as_deref()) {
        (Role::Admin, None, _) => return Ok(None),
        (Role::Admin, Some(c), _) => c.to_string(),
        (Role::Librarian, Some(c), Some(own)) if c != own => {
            let words = page.lang.words();
            return Err(web::message(
                StatusCode::FORBIDDEN,
                page.lang,
                "403",
                words["forbidden"].as_str().unwrap_or(""),
            ));
        }
        (Role::Librarian, _, Some(own)) => own.to_string(),
        (Role::Librarian, _, None) => return Ok(None),
    };
    match crate::members::find(&state.db, &code).await {
        Ok(Some(m)) => Ok(Some(m)),
        Ok(None) => Err(web::message(
            StatusCode::NOT_FOUND,
            page.lang,
            "404",
            &format!("No member {code}."),
        )),
        Err(e) => Err(e.into_response()),
    }
}

async fn stats(
    State(state): State<AppState>,
    page: StaffPage,
    Query(q): Query<StatsQuery>,
) -> Response {
    let member = match scope(&state, &page, q.member.as_deref()).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let zone = &state.config.stats.time_zone;
    let (d, today) = match tokio::try_join!(
        dashboard::build(&state.db, zone, member.as_ref()),
        dashboard::today(&state.db, zone, member.as_ref())
    ) {
        Ok(both) => both,
        Err(e) => return e.into_response(),
    };
    let words = page.lang.words();
    let word = |k: &str| words[k].as_str().unwrap_or("").to_string();
    let chart = super::chart::chart(
        &d.months,
        &[&word("views"), &word("downloads"), &word("launches")],
    );
    let members = if page.staff.role == Role::Admin {
        match crate::members::list(&state.db).await {
            Ok(m) => m,
            Err(e) => return e.into_response(),
        }
    } else {
        Vec::new()
    };
    // The consortium's view shows whether the stored images are still whole.
    let fixity = if page.staff.role == Role::Admin && member.is_none() {
        match crate::fixity::summary(&state.db, &state.config.fixity, 50).await {
            Ok(s) => Some(json!({
                "blobs": s.blobs,
                "recent": s.recent,
                "failing": s.failing,
                "failed": s.failed.iter().map(|b| json!({
                    "sha256": b.sha256,
                    "size": b.size,
                    "fixity_error": b.fixity_error,
                    "when": state.config.stats.time_zone.when(b.fixity_failed_at),
                })).collect::<Vec<_>>(),
            })),
            Err(e) => return e.into_response(),
        }
    } else {
        None
    };
    let code = member.as_ref().map(|m| m.code.clone());
    let query = code
        .as_ref()
        .map(|c| format!("?member={}", crate::opac::enc(c)))
        .unwrap_or_default();
    let other = if page.lang == Lang::Zh { "en" } else { "zh" };
    let lang_url = if query.is_empty() {
        crate::site::here(format!("/staff/stats?lang={other}"))
    } else {
        crate::site::here(format!("/staff/stats{query}&lang={other}"))
    };
    render(
        StatusCode::OK,
        "stats.html",
        page.lang,
        json!({
            "csrf": page.csrf,
            "scope_name": member.as_ref().map_or_else(|| state.config.stats.consortium_name.clone(), |m| format!("{} · {}", m.code, m.name)),
            "member": code,
            "members": members,
            "query": query,
            "lang_url": lang_url,
            "today": today,
            "time_zone": state.config.stats.time_zone.name(),
            "used_ever": d.years.iter().any(|y| y.views + y.downloads + y.launches > 0),
            "used_months": d.months.iter().any(|m| m.views + m.downloads + m.launches > 0),
            "years": d.years,
            "months": d.months,
            "chart": chart,
            "top": d.top,
            "league": d.league,
            "classes": d.classes,
            "sushi_url": format!("{}/sushi/r51", state.config.public_url()),
            "fixity": fixity,
        }),
    )
}

async fn stats_csv(
    State(state): State<AppState>,
    page: StaffPage,
    Path(file): Path<String>,
    Query(q): Query<StatsQuery>,
) -> Response {
    let Some(table) = file.strip_suffix(".csv") else {
        return AppError::not_found(ErrorCode::NoSuchTable, detail!("err_no_table"))
            .into_response();
    };
    let member = match scope(&state, &page, q.member.as_deref()).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    if table == "members" && member.is_some() {
        return AppError::not_found(ErrorCode::NoSuchTable, detail!("err_members_table"))
            .into_response();
    }
    let d = match dashboard::build(&state.db, &state.config.stats.time_zone, member.as_ref()).await
    {
        Ok(d) => d,
        Err(e) => return e.into_response(),
    };
    let Some(body) = dashboard::csv(&d, table) else {
        return AppError::not_found(ErrorCode::NoSuchTable, detail!("err_no_table"))
            .into_response();
    };
    let name = format!(
        "spindle-{}-{table}.csv",
        member.as_ref().map_or("consortium", |m| m.code.as_str())
    );
    let mut response = (StatusCode::OK, body).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        crate::http::download::content_disposition(&name, false),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The one member a page is about: a librarian's own; an admin names one with `?member=`,
/// else the first member by code.
pub(super) async fn one_member(
    state: &AppState,
    page: &StaffPage,
    asked: Option<&str>,
) -> Result<Member, Response> {
    if let Some(m) = scope(state, page, asked).await? {
        return Ok(m);
    }
    match crate::members::list(&state.db).await {
        Ok(members) => members.into_iter().next().ok_or_else(|| {
            web::message(
                StatusCode::NOT_FOUND,
                page.lang,
                "404",
                "There are no members yet: add one with `spindle member add`.",
            )
        }),
        Err(e) => Err(e.into_response()),
    }
}

async fn review(
    State(state): State<AppState>,
    page: StaffPage,
    Query(q): Query<StatsQuery>,
) -> Response {
    let member = match one_member(&state, &page, q.member.as_deref()).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let items = match crate::linking::review_queue(&state.linking, &page.staff, &member.code).await
    {
        Ok(i) => i,
        Err(e) => return e.into_response(),
    };
    render(
        StatusCode::OK,
        "review.html",
        page.lang,
        json!({
            "csrf": page.csrf,
            "member": member.code,
            "items": items,
            "lang_url": crate::site::here(format!("/staff/review?member={}&lang={}", member.code, if page.lang == Lang::Zh { "en" } else { "zh" })),
        }),
    )
}

#[derive(Deserialize)]
struct DecisionForm {
    csrf: String,
    member: Option<String>,
}

/// A librarian's decision from the review page (the form's token must be the session's).
async fn decide(
    State(state): State<AppState>,
    page: StaffPage,
    Path((disc, record, decision)): Path<(String, String, String)>,
    Form(form): Form<DecisionForm>,
) -> Response {
    if let Some(refused) = page.form_refusal(&form.csrf) {
        return refused;
    }
    let accept = match decision.as_str() {
        "accept" => true,
        "reject" => false,
        _ => {
            return web::message(
                StatusCode::NOT_FOUND,
                page.lang,
                "404",
                "Decisions are accept or reject.",
            );
        }
    };
    let (Ok(disc), Ok(record)) = (crate::discs::parse_id(&disc), record.parse::<i64>()) else {
        return web::message(
            StatusCode::NOT_FOUND,
            page.lang,
            "404",
            "No such disc or record.",
        );
    };
    if let Err(e) = crate::linking::decide(&state.linking, &page.staff, disc, record, accept).await
    {
        return web::message_for(page.lang, &e);
    }
    let back = match form.member.as_deref().filter(|m| !m.is_empty()) {
        Some(m) => crate::site::here(format!("/staff/review?member={}", crate::opac::enc(m))),
        None => "/staff/review".to_string(),
    };
    (StatusCode::SEE_OTHER, [(header::LOCATION, back)]).into_response()
}
