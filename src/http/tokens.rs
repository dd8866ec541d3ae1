//! Staff's own pages about who acts: personal API tokens (made from the signed-in page or the
//! API for the CLI and scripts, with a name and an expiry; listed; revoked), and the people who
//! signed in by a campus sign-on, where admins grant or take back roles.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::web::{self, Lang, StaffPage, render};
use super::{ApiJson, ApiPath};
use crate::app::AppState;
use crate::auth::{self, Staff};
use crate::db::tokens::Listed;
use crate::error::AppResult;

pub fn api() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tokens", get(list).post(create))
        .route("/api/v1/tokens/{id}", axum::routing::delete(revoke))
}

pub fn pages() -> Router<AppState> {
    Router::new()
        .route("/staff/tokens", get(page).post(create_from_page))
        .route("/staff/tokens/{id}/revoke", post(revoke_from_page))
}

fn listed(t: &Listed) -> Value {
    json!({
        "id": t.id,
        "name": t.label,
        "role": t.role,
        "member": t.member_code,
        "created_at": t.created_at,
        "last_used_at": t.last_used_at,
        "expires_at": t.expires_at,
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    name: String,
    /// Days until it expires (default 365, at most 730).
    expires_in_days: Option<i64>,
}

async fn list(State(state): State<AppState>, staff: Staff) -> AppResult<Json<Value>> {
    let tokens = auth::personal_tokens(&state.db, &staff).await?;
    Ok(Json(
        json!({"tokens": tokens.iter().map(listed).collect::<Vec<_>>()}),
    ))
}

async fn create(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(body): ApiJson<NewToken>,
) -> AppResult<Response> {
    let (token, id, expires) =
        auth::create_personal(&state.db, &staff, &body.name, body.expires_in_days).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            json!({"id": id, "token": token, "name": body.name.trim(), "role": staff.role.as_str(),
            "member": staff.member_code, "expires_at": expires}),
        ),
    )
        .into_response())
}

async fn revoke(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<i64>,
) -> AppResult<StatusCode> {
    auth::revoke_personal(&state.db, &staff, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in page: the caller's tokens, the form to make one, and a new token once.
async fn show(
    state: &AppState,
    page: &StaffPage,
    made: Option<Value>,
    status: StatusCode,
) -> Response {
    let tokens = match auth::personal_tokens(&state.db, &page.staff).await {
        Ok(t) => t,
        Err(e) => return web::message_for(page.lang, &e),
    };
    let zone = &state.config.stats.time_zone;
    let when = |t: Option<i64>| t.map(|t| zone.when(t));
    let rows: Vec<Value> = tokens
        .iter()
        .map(|t| {
            json!({"id": t.id, "name": t.label, "created": zone.when(t.created_at),
                "last_used": when(t.last_used_at), "expires": when(t.expires_at)})
        })
        .collect();
    render(
        status,
        "tokens.html",
        page.lang,
        json!({
            "csrf": page.csrf,
            "tokens": rows,
            "made": made,
            "role": page.staff.role.as_str(),
            "member": page.staff.member_code,
            "lang_url": crate::site::here(format!("/staff/tokens?lang={}", if page.lang == Lang::Zh { "en" } else { "zh" })),
        }),
    )
}

async fn page(State(state): State<AppState>, page: StaffPage) -> Response {
    show(&state, &page, None, StatusCode::OK).await
}

#[derive(Deserialize)]
struct TokenForm {
    csrf: String,
    name: String,
    days: Option<String>,
}

async fn create_from_page(
    State(state): State<AppState>,
    page: StaffPage,
    Form(form): Form<TokenForm>,
) -> Response {
    if let Some(refused) = page.form_refusal(&form.csrf) {
        return refused;
    }
    let days = match form
        .days
        .as_deref()
        .map(str::trim)
        .filter(|d| !d.is_empty())
    {
        None => None,
        Some(d) => match d.parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => Some(0),
        },
    };
    match auth::create_personal(&state.db, &page.staff, &form.name, days).await {
        Ok((token, _, expires)) => {
            let made = json!({"token": token, "name": form.name.trim(),
                "expires": state.config.stats.time_zone.when(expires)});
            show(&state, &page, Some(made), StatusCode::CREATED).await
        }
        Err(e) => web::message_for(page.lang, &e),
    }
}

#[derive(Deserialize)]
struct RevokeForm {
    csrf: String,
}

async fn revoke_from_page(
    State(state): State<AppState>,
    page: StaffPage,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(form): Form<RevokeForm>,
) -> Response {
    if let Some(refused) = page.form_refusal(&form.csrf) {
        return refused;
    }
    let Ok(id) = id.parse::<i64>() else {
        return web::message(StatusCode::NOT_FOUND, page.lang, "404", "No such token.");
    };
    match auth::revoke_personal(&state.db, &page.staff, id).await {
        Ok(()) => (
            StatusCode::SEE_OTHER,
            [(
                axum::http::header::LOCATION,
                crate::site::here("/staff/tokens"),
            )],
        )
            .into_response(),
        Err(e) => web::message_for(page.lang, &e),
    }
}

pub fn people_pages() -> Router<AppState> {
    Router::new()
        .route("/staff/people", get(people_page))
        .route("/staff/people/{id}/role", post(grant_from_page))
}

#[derive(Deserialize)]
struct PeopleQuery {
    member: Option<String>,
}

/// The people who signed in as staff by a campus sign-on, with their roles and last sign-in;
/// admins grant or take back roles here.
async fn people_page(
    State(state): State<AppState>,
    page: StaffPage,
    axum::extract::Query(q): axum::extract::Query<PeopleQuery>,
) -> Response {
    let asked = q.member.as_deref().filter(|m| !m.trim().is_empty());
    let people = match crate::identity::people(&state.db, &page.staff, asked).await {
        Ok(p) => p,
        Err(e) => return web::message_for(page.lang, &e),
    };
    let zone = &state.config.stats.time_zone;
    let rows: Vec<Value> = people
        .iter()
        .map(|p| {
            json!({"id": p.id, "subject": p.subject, "name": p.display_name, "member": p.member_code,
                "rule_role": p.rule_role, "granted_role": p.granted_role,
                "last": zone.when(p.last_sign_in_at), "first": zone.when(p.created_at)})
        })
        .collect();
    render(
        StatusCode::OK,
        "people.html",
        page.lang,
        json!({
            "csrf": page.csrf,
            "people": rows,
            "admin": page.staff.role == crate::auth::Role::Admin,
            "lang_url": crate::site::here(format!("/staff/people?lang={}", if page.lang == Lang::Zh { "en" } else { "zh" })),
        }),
    )
}

#[derive(Deserialize)]
struct GrantForm {
    csrf: String,
    role: String,
}

async fn grant_from_page(
    State(state): State<AppState>,
    page: StaffPage,
    axum::extract::Path(id): axum::extract::Path<String>,
    Form(form): Form<GrantForm>,
) -> Response {
    if let Some(refused) = page.form_refusal(&form.csrf) {
        return refused;
    }
    let Ok(id) = id.parse::<i64>() else {
        return web::message(StatusCode::NOT_FOUND, page.lang, "404", "No such person.");
    };
    let role = crate::auth::Role::parse(&form.role);
    if role.is_none() && form.role != "none" {
        return web::message(
            StatusCode::UNPROCESSABLE_ENTITY,
            page.lang,
            "422",
            "A role is librarian, admin or none.",
        );
    }
    match crate::identity::grant(&state.db, &page.staff, id, role).await {
        Ok(_) => (
            StatusCode::SEE_OTHER,
            [(
                axum::http::header::LOCATION,
                crate::site::here("/staff/people"),
            )],
        )
            .into_response(),
        Err(e) => web::message_for(page.lang, &e),
    }
}
