//! Readers' pages: a disc's page (its records in every member's catalogue with links back to
//! each OPAC, its facts, download, launch, audio tracks, the other discs of its set) and its
//! folders. Access as for the API (open, the member's ranges, a signed link); a refused
//! reader gets a page that says how to get access.

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;

use super::disc_page::entry_json;
use super::route::{counted, expensive};
use super::track::Counted;
use crate::access::Viewer;
use crate::app::AppState;
use crate::browse::{self, Found};
use crate::discs::{browse_url, file_url, parse_id};
use crate::error::AppError;
use crate::http::web::{Lang, render};

/// A disc's page is its landing page, its folders are browses.
pub fn router(s: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(home_page))
        .route(
            "/search",
            expensive(s, counted(s, Counted::Search, get(search_page))),
        )
        .route("/discs/{id}", counted(s, Counted::Landing, get(disc_page)))
        .route(
            "/discs/{id}/browse",
            counted(s, Counted::Tree, get(browse_root)),
        )
        .route(
            "/discs/{id}/browse/",
            counted(s, Counted::Tree, get(browse_root)),
        )
        .route(
            "/discs/{id}/browse/{*path}",
            counted(s, Counted::Tree, get(browse_path)),
        )
}

pub(super) fn lang_url(uri: &Uri, lang: Lang) -> String {
    let other = if lang == Lang::Zh { "en" } else { "zh" };
    crate::site::here(format!("{}?lang={other}", uri.path()))
}

/// An error as a page: refusals say how to get access.
pub(super) fn error_page(e: AppError, lang: Lang, uri: &Uri) -> Response {
    let status = e.status();
    let words = lang.words();
    let title = match status.as_u16() {
        403 => words["refused"].as_str().unwrap_or("403").to_string(),
        404 => words["not_found"].as_str().unwrap_or("404").to_string(),
        s => s.to_string(),
    };
    let text = if status == StatusCode::FORBIDDEN {
        words["refused_help"].as_str().unwrap_or("").to_string()
    } else {
        e.detail(lang.code())
    };
    render(
        status,
        "message.html",
        lang,
        json!({"title": title, "text": text, "detail": e.detail(lang.code()), "lang_url": lang_url(uri, lang)}),
    )
}

/// A folder's page, with its trailing slash.
pub(super) fn folder_url(disc: i64, path: &str) -> String {
    if path.is_empty() {
        crate::site::here(format!("/discs/{disc}/browse/"))
    } else {
        format!("{}/", browse_url(disc, path))
    }
}

#[derive(serde::Deserialize)]
struct SearchQuery {
    q: Option<String>,
    member: Option<String>,
    class: Option<String>,
    page: Option<usize>,
}

fn search_url(q: &str, member: Option<&str>, class: Option<&str>, page: usize) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    s.append_pair("q", q);
    if let Some(m) = member {
        s.append_pair("member", m);
    }
    if let Some(c) = class {
        s.append_pair("class", c);
    }
    if page > 1 {
        s.append_pair("page", &page.to_string());
    }
    crate::site::here(format!("/search?{}", s.finish()))
}

async fn search_page(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    uri: Uri,
    axum::extract::Query(q): axum::extract::Query<SearchQuery>,
) -> Response {
    let lang = Lang::from_request(&headers, &uri);
    let query: String = q.q.unwrap_or_default().trim().chars().take(200).collect();
    let member = q.member.as_deref().filter(|m| !m.is_empty());
    let class = q.class.as_deref().filter(|c| !c.is_empty());
    let mut ctx = json!({"q": query, "lang_url": crate::site::here(format!("/search?q={}&lang={}", percent_encoding::utf8_percent_encode(&query, percent_encoding::NON_ALPHANUMERIC), if lang == Lang::Zh { "en" } else { "zh" }))});
    if !query.is_empty() {
        let r = match crate::search::search(
            &state.db,
            state.config.search.max_matches,
            &viewer,
            &query,
            member,
            class,
            q.page.unwrap_or(1),
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return error_page(e.into(), lang, &uri),
        };
        let facet = |list: &[(String, usize)],
                     on: Option<&str>,
                     is_member: bool|
         -> Vec<serde_json::Value> {
            list.iter()
                .map(|(name, count)| {
                    let selected = on == Some(name.as_str());
                    let (m, c) = if is_member {
                        ((!selected).then_some(name.as_str()), class)
                    } else {
                        (member, (!selected).then_some(name.as_str()))
                    };
                    json!({"name": name, "count": count, "on": selected, "url": search_url(&query, m, c, 1)})
                })
                .collect()
        };
        ctx["members"] = json!(facet(&r.members, member, true));
        ctx["classes"] = json!(facet(&r.classes, class, false));
        ctx["total"] = json!(r.total);
        ctx["truncated"] = json!(r.truncated);
        ctx["page"] = json!(r.page);
        ctx["pages"] = json!(r.pages);
        ctx["first"] = json!((r.page - 1) * crate::search::PAGE + 1);
        ctx["prev_url"] =
            json!((r.page > 1).then(|| search_url(&query, member, class, r.page - 1)));
        ctx["next_url"] =
            json!((r.page < r.pages).then(|| search_url(&query, member, class, r.page + 1)));
        ctx["hits"] = json!(r.hits);
        // Members by name, in the hits and the facet (read by the search itself).
        ctx["member_names"] = json!(r.member_names);
    }
    render(StatusCode::OK, "search.html", lang, ctx)
}

/// The home page: the search box, the consortium in figures, the discs this reader may open
/// (newest and most used), the member libraries.
async fn home_page(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    let lang = Lang::from_request(&headers, &uri);
    match crate::home::home(&state.db, &viewer).await {
        Ok(home) => {
            let mut ctx = json!(home);
            ctx["lang_url"] = json!(lang_url(&uri, lang));
            render(StatusCode::OK, "home.html", lang, ctx)
        }
        Err(e) => error_page(e.into(), lang, &uri),
    }
}

pub(super) fn duration(seconds: f64) -> String {
    let s = seconds.round() as i64;
    format!("{}:{:02}", s / 60, s % 60)
}

async fn disc_page(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    let lang = Lang::from_request(&headers, &uri);
    match super::disc_page::disc_view(&state, &viewer, &headers, &id, lang, &uri).await {
        Ok(r) => r,
        Err(e) => refused_or_error(&state, &id, e, lang, &uri).await,
    }
}

/// A reader refused a closed disc is told whose it is, which disc, and the member's ways in
/// from off campus (its proxy with this page's address, its VPN, whom to ask); any other
/// error is the plain error page.
async fn refused_or_error(
    state: &AppState,
    id: &str,
    e: AppError,
    lang: Lang,
    uri: &Uri,
) -> Response {
    let Ok(id) = parse_id(id) else {
        return error_page(e, lang, uri);
    };
    if e.code() != crate::error::ErrorCode::NotAdmitted {
        return error_page(e, lang, uri);
    }
    let page_url = format!("{}{}", state.config.public_url(), uri.path());
    match crate::members::refusal(&state.db, id, &page_url, uri.path()).await {
        Ok(Some(refusal)) => {
            let mut ctx = json!(refusal);
            ctx["lang_url"] = json!(lang_url(uri, lang));
            render(StatusCode::FORBIDDEN, "refused.html", lang, ctx)
        }
        _ => error_page(e, lang, uri),
    }
}

async fn browse_root(
    state: State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    uri: Uri,
    Path(id): Path<String>,
) -> Response {
    browse_page(state, viewer, headers, uri, id, String::new()).await
}

async fn browse_path(
    state: State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    uri: Uri,
    Path((id, path)): Path<(String, String)>,
) -> Response {
    browse_page(state, viewer, headers, uri, id, path).await
}

async fn browse_page(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    uri: Uri,
    id: String,
    path: String,
) -> Response {
    let lang = Lang::from_request(&headers, &uri);
    let result = async {
        let id = parse_id(&id)?;
        let path = path.trim_end_matches('/').to_string();
        match browse::at(&state.db, &state.content_rows, &viewer, id, &path).await? {
            Found::Dir(listing) => {
                let disc = crate::discs::readable(&state.db, &viewer, id).await?;
                let title = crate::discs::title_of(&disc);
                let media = crate::discs::image_view(&state.db, &disc)
                    .await?
                    .map(|i| i.media)
                    .unwrap_or_default();
                let zone = &state.config.stats.time_zone;
                let mut crumbs = Vec::new();
                let mut so_far = String::new();
                for part in listing.path.split('/').filter(|p| !p.is_empty()) {
                    if !so_far.is_empty() {
                        so_far.push('/');
                    }
                    so_far.push_str(part);
                    crumbs.push(json!({"name": part, "url": folder_url(id, &so_far)}));
                }
                let entries: Vec<serde_json::Value> = listing
                    .entries
                    .iter()
                    .map(|e| entry_json(e, folder_url(id, &e.path), &media, zone))
                    .collect();
                Ok(render(
                    StatusCode::OK,
                    "browse.html",
                    lang,
                    json!({
                        "disc": id,
                        "title": title,
                        "path": listing.path,
                        "folder": listing.path.rsplit('/').next().filter(|n| !n.is_empty()),
                        "crumbs": crumbs,
                        "parent_url": (!listing.path.is_empty()).then(|| {
                            folder_url(id, listing.path.rsplit_once('/').map_or("", |(up, _)| up))
                        }),
                        "entries": entries,
                        "zip_url": crate::discs::zip_url(id, &listing.path),
                        "lang_url": lang_url(&uri, lang),
                    }),
                ))
            }
            // A file's place is the API's (its bytes, ranges, type); send the reader there.
            Found::File(_) => {
                Ok(axum::response::Redirect::to(&file_url(id, &path)).into_response())
            }
        }
    }
    .await;
    match result {
        Ok(r) => r,
        Err(e) => refused_or_error(&state, &id, e, lang, &uri).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(duration(0.0), "0:00");
        assert_eq!(duration(61.4), "1:01");
        assert_eq!(duration(3599.6), "60:00");
    }
}
