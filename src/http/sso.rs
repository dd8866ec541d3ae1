//! Signing in with a member's campus sign-on: the way out to its CAS server or OpenID provider
//! and back, the CAS server's single logout, a reader's sign-out; and the API that sets a
//! member's sign-on and lists the people who signed in as staff.

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Form, Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::web::{self, Lang, render};
use super::{ApiJson, ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::{self, Role, Staff};
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::identity::{self, CasAnswer, Identity, Kind, Provider};

/// The cookie that carries a sign-in from Spindle's page to the identity provider and back:
/// whether it is staff or a reader, where to go after and, for OpenID Connect, the state, the
/// nonce and the PKCE verifier. Without it, a ticket or code is not taken (another site cannot
/// sign a browser in as someone else by sending it to the way back).
const FLOW_COOKIE: &str = "spindle_sso";
/// A reader's sign-on session.
pub const READER_COOKIE: &str = "spindle_reader";
/// How long the way out to the CAS server and back may take.
const FLOW_SECS: i64 = 600;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/sso/{code}/sign-in", get(start))
        .route("/sso/{code}/cas", get(cas_return).post(cas_logout))
        .route("/sso/{code}/oidc", get(oidc_return))
        .route("/sso/{code}/proxy", get(proxy_return))
        .route("/sso/sign-out", post(reader_sign_out))
}

pub fn api() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/members/{code}/identity",
            get(get_identity).put(put_identity).delete(delete_identity),
        )
        .route("/api/v1/people", get(people))
        .route("/api/v1/people/{id}/role", put(grant))
}

/// The address the CAS server sends the browser back to, and posts logout requests to; with
/// `kind` "oidc", the OpenID client's redirect URI; with "proxy", the address the signing-in
/// proxy must guard (it authenticates the person there and passes them on in headers).
pub(super) fn service_url(state: &AppState, code: &str, kind: Kind) -> String {
    format!(
        "{}/sso/{}/{}",
        state.config.public_url(),
        crate::opac::enc(code),
        kind.as_str()
    )
}

#[derive(Deserialize)]
struct StartQuery {
    #[serde(rename = "as")]
    who: Option<String>,
    next: Option<String>,
}

fn page_error(lang: Lang, uri: &Uri, e: AppError) -> Response {
    super::reader::error_page(e, lang, uri)
}

/// The member and its sign-on of `kind` (any kind when `None`), or the page that says it has
/// none.
async fn member_identity(
    state: &AppState,
    code: &str,
    kind: Option<Kind>,
) -> AppResult<(crate::members::Member, Identity)> {
    let member = crate::members::get(&state.db, code).await?;
    let id = identity::configured(&state.db, member.id)
        .await?
        .filter(|id| kind.is_none_or(|k| k == id.kind) && id.provider().is_some())
        .ok_or_else(|| no_sign_on(&member.name))?;
    Ok((member, id))
}

/// The way back without what the provider should have sent along.
fn missing(what: &str) -> AppError {
    AppError::bad_request(
        ErrorCode::SignOnRefused,
        detail!("err_sign_on_refused", code = "-", reason = what),
    )
}

fn no_sign_on(member: &str) -> AppError {
    AppError::not_found(
        ErrorCode::NotFound,
        detail!("err_sign_on_none", member = member),
    )
}

/// Sends the browser to the member's CAS server or OpenID provider, remembering who is signing
/// in and where to.
async fn start(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    ApiPath(code): ApiPath<String>,
    Query(q): Query<StartQuery>,
) -> Response {
    let lang = Lang::from_request(&headers, &uri);
    let (member, id) = match member_identity(&state, &code, None).await {
        Ok(found) => found,
        Err(e) => return page_error(lang, &uri, e),
    };
    let staff = q.who.as_deref() == Some("staff");
    if !staff && !id.readers {
        return page_error(
            lang,
            &uri,
            AppError::forbidden(detail!("err_sign_on_no_readers")),
        );
    }
    let next = if staff {
        web::safe_next(q.next.as_deref())
    } else {
        web::safe_local(q.next.as_deref())
    };
    let who = if staff { "staff" } else { "reader" };
    let (flow, login) = match id.provider() {
        Some(Provider::Cas(cas)) => {
            let mut login = format!("{}/login?service=", cas.base_url);
            login.push_str(&crate::opac::enc(&service_url(&state, &code, Kind::Cas)));
            (format!("{who}.{}", crate::opac::enc(&next)), login)
        }
        Some(Provider::Oidc(oidc)) => {
            let (sign_in, nonce) = (auth::random_hex(16), auth::random_hex(16));
            let (verifier, challenge) = crate::oidc::pkce();
            let redirect = service_url(&state, &code, Kind::Oidc);
            let login = match state
                .sign_on
                .oidc_authorize_url(oidc, &redirect, &sign_in, &nonce, &challenge)
                .await
            {
                Ok(url) => url,
                Err(e) => return page_error(lang, &uri, e),
            };
            let flow = format!(
                "{who}.{}.{sign_in}.{nonce}.{verifier}",
                crate::opac::enc(&next)
            );
            (flow, login)
        }
        Some(Provider::Proxy(_)) => {
            let guarded = format!("/sso/{}/proxy", crate::opac::enc(&code));
            (
                format!("{who}.{}", crate::opac::enc(&next)),
                crate::site::here(guarded),
            )
        }
        None => return page_error(lang, &uri, no_sign_on(&member.name)),
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, login)]).into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        web::set_lax_cookie(&state, FLOW_COOKIE, &flow, "/sso", FLOW_SECS),
    );
    response
}

#[derive(Deserialize)]
struct ReturnQuery {
    ticket: Option<String>,
    code: Option<String>,
    state: Option<String>,
    iss: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The page that moves the browser on after signing in. It is a page, not a redirect: the
/// way back from the identity provider is a navigation another site started, and a browser
/// does not send a SameSite=Strict cookie (the staff session's) along a redirect chain that
/// began elsewhere; a navigation from this page is Spindle's own.
fn onwards(lang: Lang, to: &str, who: &str) -> Response {
    let to = crate::site::here(to);
    render(
        StatusCode::OK,
        "signed_in.html",
        lang,
        json!({"to": to, "who": who}),
    )
}

/// The browser back from the CAS server with a ticket, or from the OpenID provider with a
/// code: staff get a session if a rule or an admin made them staff, readers one that names
/// the member. Whatever the outcome, the sign-in's cookie is spent.
async fn cas_return(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    ApiPath(code): ApiPath<String>,
    Query(q): Query<ReturnQuery>,
) -> Response {
    returned(&state, &headers, &uri, &code, Kind::Cas, &q).await
}

async fn oidc_return(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    ApiPath(code): ApiPath<String>,
    Query(q): Query<ReturnQuery>,
) -> Response {
    returned(&state, &headers, &uri, &code, Kind::Oidc, &q).await
}

/// The browser passed on by the signing-in proxy in front, with the person in its headers
/// (removed by a layer from every request that did not come from `http.trusted_proxies`).
async fn proxy_return(
    State(state): State<AppState>,
    headers: HeaderMap,
    uri: Uri,
    ApiPath(code): ApiPath<String>,
    Query(q): Query<ReturnQuery>,
) -> Response {
    returned(&state, &headers, &uri, &code, Kind::Proxy, &q).await
}

async fn returned(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    code: &str,
    kind: Kind,
    q: &ReturnQuery,
) -> Response {
    let lang = Lang::from_request(headers, uri);
    let mut response = match sign_in(state, headers, code, kind, q, lang).await {
        Ok(r) => r,
        Err(e) => page_error(lang, uri, e),
    };
    response.headers_mut().append(
        header::SET_COOKIE,
        web::set_lax_cookie(state, FLOW_COOKIE, "", "/sso", 0),
    );
    response
}

/// What the sign-in's cookie remembers.
struct Flow {
    staff: bool,
    next: String,
    /// OpenID Connect: the state, the nonce and the PKCE verifier sent.
    oidc: Option<(String, String, String)>,
}

fn flow(headers: &HeaderMap) -> AppResult<Flow> {
    let not_started =
        || AppError::bad_request(ErrorCode::SignOnRefused, detail!("err_sign_on_not_started"));
    let raw = web::cookie(headers, FLOW_COOKIE).ok_or_else(not_started)?;
    let parts: Vec<&str> = raw.split('.').collect();
    let (who, next, oidc) = match parts[..] {
        [who, next] => (who, next, None),
        [who, next, state, nonce, verifier] => (
            who,
            next,
            Some((state.to_string(), nonce.to_string(), verifier.to_string())),
        ),
        _ => return Err(not_started()),
    };
    let next = percent_encoding::percent_decode_str(next)
        .decode_utf8()
        .map_err(|_| not_started())?
        .into_owned();
    Ok(Flow {
        staff: who == "staff",
        next,
        oidc,
    })
}

async fn sign_in(
    state: &AppState,
    headers: &HeaderMap,
    code: &str,
    kind: Kind,
    q: &ReturnQuery,
    lang: Lang,
) -> AppResult<Response> {
    let flow = flow(headers)?;
    let (member, id) = member_identity(state, code, Some(kind)).await?;
    let back = service_url(state, code, kind);
    // CAS: the ticket, which its single logout names later; OpenID Connect: none.
    let (person, ticket) = match (id.provider(), &flow.oidc) {
        (Some(Provider::Cas(cas)), None) => {
            let ticket = q
                .ticket
                .as_deref()
                .filter(|t| {
                    !t.is_empty() && t.len() <= 256 && t.bytes().all(|b| b.is_ascii_graphic())
                })
                .ok_or_else(|| missing("no ticket"))?;
            match state.sign_on.validate(cas, &back, ticket).await? {
                CasAnswer::Success(p) => (p, Some(ticket)),
                CasAnswer::Failure(c, reason) => return Err(identity::refused(&c, &reason)),
            }
        }
        (Some(Provider::Oidc(oidc)), Some((sent_state, nonce, verifier))) => {
            if let Some(error) = &q.error {
                let reason = q.error_description.as_deref().unwrap_or("");
                return Err(identity::refused(error, reason));
            }
            if q.state.as_deref() != Some(sent_state.as_str()) {
                return Err(identity::refused(
                    "state",
                    "not the state this sign-in sent",
                ));
            }
            // RFC 9207: a provider that names itself must be this member's (no mix-up).
            if q.iss.as_deref().is_some_and(|i| i != oidc.issuer) {
                return Err(identity::refused("iss", "another provider answered"));
            }
            let code = q
                .code
                .as_deref()
                .filter(|c| !c.is_empty() && c.len() <= 2048)
                .ok_or_else(|| missing("no code"))?;
            let person = state
                .sign_on
                .oidc_person(oidc, &back, code, verifier, nonce)
                .await?;
            (person, None)
        }
        (Some(Provider::Proxy(proxy)), None) => {
            let config = &state.config.auth.proxy;
            let person = identity::proxy_person(config, headers).ok_or_else(|| {
                identity::refused(
                    "proxy",
                    "no signed-in person came through the trusted proxy with this request",
                )
            })?;
            if !proxy.vouches(&person, &config.member_attribute) {
                return Err(identity::refused(
                    "scope",
                    &format!(
                        "the proxy vouched for a person whose {} does not name {}",
                        config.member_attribute, proxy.scope
                    ),
                ));
            }
            (person, None)
        }
        _ => {
            return Err(AppError::bad_request(
                ErrorCode::SignOnRefused,
                detail!("err_sign_on_not_started"),
            ));
        }
    };
    if flow.staff {
        let staff = identity::staff_signed_in(&state.db, &member, &id, &person).await?;
        let secs = state.config.auth.staff_secs();
        let session = auth::open_session(&state.db, &staff, secs, ticket).await?;
        let mut r = onwards(
            lang,
            &web::safe_next(Some(&flow.next)),
            &person.display_name(),
        );
        r.headers_mut().append(
            header::SET_COOKIE,
            web::set_cookie(state, web::STAFF_COOKIE, &session, "/", secs),
        );
        return Ok(r);
    }
    if !id.readers {
        return Err(AppError::forbidden(detail!("err_sign_on_no_readers")));
    }
    let session = auth::random_hex(32);
    let secs = state.config.auth.reader_secs();
    crate::db::identity::create_reader_session(
        &state.db,
        &auth::hash_token(&session),
        member.id,
        ticket.map(auth::hash_token).as_deref(),
        crate::db::now() + secs,
    )
    .await?;
    let mut r = onwards(lang, &web::safe_local(Some(&flow.next)), &member.name);
    r.headers_mut().append(
        header::SET_COOKIE,
        web::set_lax_cookie(state, READER_COOKIE, &session, "/", secs),
    );
    Ok(r)
}

#[derive(Deserialize)]
struct LogoutForm {
    #[serde(rename = "logoutRequest")]
    logout_request: Option<String>,
}

/// The CAS server's single logout: the sessions opened with the ticket it names end. The
/// request proves nothing but knowledge of the ticket, which only the CAS server and the
/// browser that used it ever held.
async fn cas_logout(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
    Form(form): Form<LogoutForm>,
) -> AppResult<Response> {
    crate::members::get(&state.db, &code).await?;
    let Some(ticket) = form
        .logout_request
        .as_deref()
        .and_then(identity::logout_ticket)
    else {
        return Err(AppError::bad_request(
            ErrorCode::InvalidField,
            detail!("err_logout_request"),
        ));
    };
    let ended =
        crate::db::identity::end_sessions_of_ticket(&state.db, &auth::hash_token(&ticket)).await?;
    tracing::info!(member = %code, sessions = ended, "single logout from CAS");
    Ok(StatusCode::OK.into_response())
}

/// A reader signs out of their library's sign-on session.
async fn reader_sign_out(State(state): State<AppState>, headers: HeaderMap) -> AppResult<Response> {
    if let Some(id) = web::cookie(&headers, READER_COOKIE) {
        crate::db::identity::end_reader_session(&state.db, &auth::hash_token(id)).await?;
    }
    let mut response = (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, crate::site::here("/"))],
    )
        .into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        web::set_lax_cookie(&state, READER_COOKIE, "", "/", 0),
    );
    Ok(response)
}

/// The reader's members: those whose networks hold their address, and the member their
/// sign-on session names if the request brings a live one (access to its closed discs, and
/// COUNTER's institution for what they use).
pub async fn with_sign_on(
    state: &AppState,
    headers: &HeaderMap,
    mut reader: crate::usage::Reader,
) -> Result<crate::usage::Reader, crate::db::DbError> {
    let Some(id) = web::cookie(headers, READER_COOKIE).filter(|v| v.len() == 64) else {
        return Ok(reader);
    };
    let member = crate::db::identity::reader_session(
        &state.db,
        &auth::hash_token(id),
        state.config.auth.reader_idle_secs(),
    )
    .await?;
    if let Some(m) = member {
        if !reader.members.contains(&m) {
            reader.members.push(m);
        }
        reader.signed_on = Some(m);
    }
    Ok(reader)
}

async fn get_identity(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<Json<Identity>> {
    identity::get(&state.db, &staff, &code)
        .await?
        .map(Json)
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::NotFound,
                detail!("err_sign_on_none", member = &code),
            )
        })
}

async fn put_identity(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
    ApiJson(body): ApiJson<Identity>,
) -> AppResult<Json<serde_json::Value>> {
    let id = identity::set(&state.db, &state.config.auth.proxy, &staff, &code, body).await?;
    let mut answer = json!(id);
    // Where the provider sends browsers back: CAS's service URL, OpenID's redirect URI.
    answer["service_url"] = json!(service_url(&state, &code, id.kind));
    Ok(Json(answer))
}

async fn delete_identity(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<StatusCode> {
    if identity::remove(&state.db, &staff, &code).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::not_found(
            ErrorCode::NotFound,
            detail!("err_sign_on_none", member = &code),
        ))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PeopleQuery {
    member: Option<String>,
}

/// The people who signed in as staff: a librarian sees their member's, an admin everyone's
/// (or one member's).
async fn people(
    State(state): State<AppState>,
    staff: Staff,
    ApiQuery(q): ApiQuery<PeopleQuery>,
) -> AppResult<Json<serde_json::Value>> {
    let rows = identity::people(&state.db, &staff, q.member.as_deref()).await?;
    Ok(Json(json!({"people": rows})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantBody {
    /// "librarian", "admin", or null to take back what an admin granted.
    role: Option<Role>,
}

async fn grant(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<GrantBody>,
) -> AppResult<Json<crate::db::identity::PersonRow>> {
    Ok(Json(
        identity::grant(&state.db, &staff, id, body.role).await?,
    ))
}
