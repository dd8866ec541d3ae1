//! Each disc as a read-only WebDAV collection (RFC 4918, class 1), so that Windows
//! (`net use Z: http://…`), macOS Finder and Linux (davfs2, gvfs, rclone) mount it as a drive
//! and run its programs: `/dav/discs/{id}/…`, and off campus with a signed link in the path,
//! `/dav/g/{grant}/discs/{id}/…` (WebDAV clients keep no cookies).
//!
//! OPTIONS, PROPFIND at depth 0 and 1 (infinity is refused with `propfind-finite-depth`), GET
//! and HEAD through the same code as the file routes (Range, the same ETags), PROPPATCH
//! answered 207 with 403 for every property; every other method (PUT, DELETE, MKCOL, COPY,
//! MOVE, LOCK, UNLOCK…) is 405 and changes nothing. Written here rather than with the
//! `dav-server` crate: its GET reads through a seek-and-read file interface (a ranged store
//! read per 16 KiB unless buffered) with its own Range and ETag rules, where this answers
//! GET with the file routes' exact RFC 9110 semantics.

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::any;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

use super::download;
use super::route::counted;
use super::track::Counted::Drive;
use crate::access::Viewer;
use crate::app::AppState;
use crate::browse::{self, Found, dav::DavEntry};
use crate::detail;
use crate::discs::parse_id;
use crate::error::{AppError, AppResult, ErrorCode};

const ALLOW: &str = "OPTIONS, GET, HEAD, PROPFIND, PROPPATCH";

/// Everything but RFC 3986's unreserved characters is percent-encoded in an href segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Mounting a disc (the first PROPFIND of its root in a session) is a launch; a file's GET
/// is a file request.
pub fn router(s: &AppState) -> Router<AppState> {
    Router::new()
        .route("/dav/discs/{id}", counted(s, Drive, any(dav)))
        .route("/dav/discs/{id}/", counted(s, Drive, any(dav)))
        .route("/dav/discs/{id}/{*path}", counted(s, Drive, any(dav)))
        .route("/dav/g/{grant}/discs/{id}", counted(s, Drive, any(dav)))
        .route("/dav/g/{grant}/discs/{id}/", counted(s, Drive, any(dav)))
        .route(
            "/dav/g/{grant}/discs/{id}/{*path}",
            counted(s, Drive, any(dav)),
        )
}

/// What a request names: the disc, the path inside it, the signed link in the path (each
/// route names what it has; the rest default).
#[derive(serde::Deserialize)]
struct Target {
    id: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    grant: Option<String>,
}

async fn dav(
    State(state): State<AppState>,
    mut viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    Path(target): Path<Target>,
    body: Bytes,
) -> Response {
    if let Some(token) = &target.grant {
        let now = crate::calendar::now_secs();
        viewer.grant = crate::access::verify(&state.link_secret, token, now);
    }
    let answer = match method.as_str() {
        "OPTIONS" => Ok(options()),
        "GET" | "HEAD" => get(&state, &viewer, &method, &headers, &target).await,
        "PROPFIND" => propfind(&state, &viewer, &headers, &target, &body).await,
        "PROPPATCH" => proppatch(&state, &viewer, &target, &body).await,
        _ => Err(AppError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            detail!("err_read_only_drive", method = method.as_str()),
        )
        .with_header(header::ALLOW, HeaderValue::from_static(ALLOW))),
    };
    answer.unwrap_or_else(|e| e.into_response())
}

fn options() -> Response {
    let mut r = StatusCode::OK.into_response();
    let h = r.headers_mut();
    h.insert("dav", HeaderValue::from_static("1"));
    h.insert("ms-author-via", HeaderValue::from_static("DAV"));
    h.insert(header::ALLOW, HeaderValue::from_static(ALLOW));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(0));
    r
}

async fn get(
    state: &AppState,
    viewer: &Viewer,
    method: &Method,
    headers: &HeaderMap,
    target: &Target,
) -> AppResult<Response> {
    let id = parse_id(&target.id)?;
    let path = target.path.trim_end_matches('/');
    match browse::at(&state.db, &state.content_rows, viewer, id, path).await? {
        Found::File(rep) => download::serve(state, method == Method::GET, headers, &rep).await,
        // A browser that opens a folder of the drive is shown the disc's folder page.
        Found::Dir(listing) => {
            let to = format!("/discs/{id}/browse/{}", encode_path(&listing.path));
            let mut r = StatusCode::SEE_OTHER.into_response();
            r.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&to).map_err(|e| AppError::internal("location", &e))?,
            );
            Ok(r)
        }
    }
}

/// The properties PROPFIND can be asked for, in `DAV:`.
const LIVE: [&str; 6] = [
    "displayname",
    "resourcetype",
    "getcontentlength",
    "getlastmodified",
    "getetag",
    "getcontenttype",
];

/// What a PROPFIND body asks for.
#[derive(Debug)]
pub enum Asked {
    All,
    Names,
    /// (namespace, local name) of each property.
    Props(Vec<(String, String)>),
}

fn bad_xml(why: &str) -> AppError {
    AppError::bad_request(ErrorCode::InvalidField, detail!("err_dav_body", why = why))
}

/// The property names inside `<prop>` under the body's root (`propfind` or `propertyupdate`).
fn props_in(doc: &roxmltree::Document) -> Vec<(String, String)> {
    doc.descendants()
        .filter(|n| n.is_element() && n.tag_name().name() == "prop")
        .flat_map(|p| p.children().filter(|c| c.is_element()))
        .map(|c| {
            (
                c.tag_name().namespace().unwrap_or_default().to_string(),
                c.tag_name().name().to_string(),
            )
        })
        .collect()
}

/// A PROPFIND body (untrusted bytes): what it asks for, or why it is refused.
pub fn parse_propfind(body: &[u8]) -> Result<Asked, String> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Asked::All);
    }
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_string())?;
    let doc = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    if root.tag_name().name() != "propfind" || root.tag_name().namespace() != Some("DAV:") {
        return Err("the body is not a DAV:propfind".into());
    }
    let has = |name: &str| {
        root.children()
            .any(|c| c.is_element() && c.tag_name().name() == name)
    };
    Ok(if has("propname") {
        Asked::Names
    } else if has("prop") {
        Asked::Props(props_in(&doc))
    } else {
        Asked::All
    })
}

/// A PROPPATCH body (untrusted bytes): the (namespace, name) of every property it would set
/// or remove, or why it is refused.
pub fn parse_propertyupdate(body: &[u8]) -> Result<Vec<(String, String)>, String> {
    let text = std::str::from_utf8(body).map_err(|_| "not UTF-8".to_string())?;
    let doc = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
    if doc.root_element().tag_name().name() != "propertyupdate" {
        return Err("the body is not a DAV:propertyupdate".into());
    }
    Ok(props_in(&doc))
}

async fn propfind(
    state: &AppState,
    viewer: &Viewer,
    headers: &HeaderMap,
    target: &Target,
    body: &[u8],
) -> AppResult<Response> {
    let children = match super::header_str(headers, "depth").map(str::trim) {
        Some("0") => false,
        Some("1") => true,
        // No Depth means infinity (RFC 4918 §9.1), which a disc of 100,000 files is not
        // given in one answer.
        _ => {
            return Ok(xml(
                StatusCode::FORBIDDEN,
                "<D:error xmlns:D=\"DAV:\"><D:propfind-finite-depth/></D:error>".into(),
            ));
        }
    };
    let asked = parse_propfind(body).map_err(|why| bad_xml(&why))?;
    let id = parse_id(&target.id)?;
    let entries = browse::dav::entries(
        &state.db,
        &state.content_rows,
        viewer,
        id,
        &target.path,
        children,
    )
    .await?;
    let base = base(target, id);
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\">",
    );
    for e in &entries {
        out.push_str("<D:response><D:href>");
        out.push_str(&base);
        out.push_str(&encode_path(&e.path));
        if e.is_dir && !e.path.is_empty() {
            out.push('/');
        }
        out.push_str("</D:href>");
        match &asked {
            Asked::All => propstat(
                &mut out,
                e,
                &LIVE.map(|p| ("DAV:".to_string(), p.to_string())),
            ),
            Asked::Names => {
                out.push_str("<D:propstat><D:prop>");
                for p in LIVE {
                    out.push_str(&format!("<D:{p}/>"));
                }
                out.push_str("</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>");
            }
            Asked::Props(props) => propstat(&mut out, e, props),
        }
        out.push_str("</D:response>");
    }
    out.push_str("</D:multistatus>\n");
    Ok(xml(StatusCode::MULTI_STATUS, out))
}

/// The properties asked for that `e` has (200), and those it has not (404).
fn propstat(out: &mut String, e: &DavEntry, props: &[(String, String)]) {
    let name = e.path.rsplit('/').next().unwrap_or_default();
    let mut found = String::new();
    let mut missing = String::new();
    for (ns, local) in props {
        let value = if ns != "DAV:" {
            None
        } else {
            match local.as_str() {
                "displayname" => Some(escape(name)),
                "resourcetype" => Some(if e.is_dir {
                    "<D:collection/>".into()
                } else {
                    String::new()
                }),
                "getcontentlength" if !e.is_dir => Some(e.size.to_string()),
                "getlastmodified" => {
                    Some(httpdate::fmt_http_date(crate::content::unix_time(e.mtime)))
                }
                "getetag" => e.etag.as_ref().map(|t| escape(&format!("\"{t}\""))),
                "getcontenttype" if !e.is_dir => {
                    Some(escape(&crate::content::file_content_type(name).0))
                }
                _ => None,
            }
        };
        match value {
            Some(v) if v.is_empty() => found.push_str(&format!("<D:{local}/>")),
            Some(v) => found.push_str(&format!("<D:{local}>{v}</D:{local}>")),
            None if ns == "DAV:" => missing.push_str(&format!("<D:{local}/>")),
            None => missing.push_str(&format!(
                "<x:{} xmlns:x=\"{}\"/>",
                escape(local),
                escape(ns)
            )),
        }
    }
    if !found.is_empty() {
        out.push_str(&format!(
            "<D:propstat><D:prop>{found}</D:prop><D:status>HTTP/1.1 200 OK</D:status></D:propstat>"
        ));
    }
    if !missing.is_empty() {
        out.push_str(&format!("<D:propstat><D:prop>{missing}</D:prop><D:status>HTTP/1.1 404 Not Found</D:status></D:propstat>"));
    }
}

/// PROPPATCH on a read-only drive: 207, every property refused with 403 (RFC 4918 §9.2).
async fn proppatch(
    state: &AppState,
    viewer: &Viewer,
    target: &Target,
    body: &[u8],
) -> AppResult<Response> {
    let id = parse_id(&target.id)?;
    let entries = browse::dav::entries(
        &state.db,
        &state.content_rows,
        viewer,
        id,
        &target.path,
        false,
    )
    .await?;
    let asked = parse_propertyupdate(body).map_err(|why| bad_xml(&why))?;
    let mut props = String::new();
    for (ns, local) in asked {
        props.push_str(&format!(
            "<x:{} xmlns:x=\"{}\"/>",
            escape(&local),
            escape(&ns)
        ));
    }
    let href = format!(
        "{}{}",
        base(target, id),
        entries
            .first()
            .map(|e| encode_path(&e.path))
            .unwrap_or_default()
    );
    Ok(xml(
        StatusCode::MULTI_STATUS,
        format!(
            "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<D:multistatus xmlns:D=\"DAV:\"><D:response><D:href>{href}</D:href><D:propstat><D:prop>{props}</D:prop><D:status>HTTP/1.1 403 Forbidden</D:status></D:propstat><D:responsedescription>{}</D:responsedescription></D:response></D:multistatus>\n",
            escape("this drive is read-only")
        ),
    ))
}

/// The collection's own address, as the client used it (with its signed link, if any).
fn base(target: &Target, id: i64) -> String {
    match &target.grant {
        Some(g) => crate::site::here(format!(
            "/dav/g/{}/discs/{id}/",
            utf8_percent_encode(g, SEGMENT)
        )),
        None => crate::site::here(format!("/dav/discs/{id}/")),
    }
}

fn encode_path(path: &str) -> String {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| utf8_percent_encode(s, SEGMENT).to_string())
        .collect::<Vec<_>>()
        .join("/")
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn xml(status: StatusCode, body: String) -> Response {
    let mut r = Response::new(Body::from(body));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/xml; charset=utf-8"),
    );
    r
}
