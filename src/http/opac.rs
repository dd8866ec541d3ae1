//! OPAC-facing routes: the resolver (`/r/...`), the JSON lookup with CORS, the widget, and
//! the per-member MARC export with 856 links.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::route::expensive;
use super::{ApiPath, ApiQuery};
use crate::app::AppState;
use crate::auth::Staff;
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::opac::{self, Format, Key, Resolved};

const WIDGET: &str = include_str!("../../assets/widget.js");

pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/r/isbn/{isbn}", get(by_isbn))
        .route("/r/{member}/record/{id}", get(by_record))
        .route("/r/{member}/barcode/{barcode}", get(by_barcode))
        .route("/widget.js", get(widget))
}

pub fn router(s: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/lookup", get(lookup).options(preflight))
        .route(
            "/api/v1/members/{code}/export.xml",
            expensive(s, get(export_xml)),
        )
        .route(
            "/api/v1/members/{code}/export.mrc",
            expensive(s, get(export_mrc)),
        )
}

#[derive(Deserialize)]
struct DiscQuery {
    disc: Option<i64>,
}

async fn resolved(state: &AppState, key: Key, disc: Option<i64>) -> AppResult<Response> {
    let mut result = opac::resolve(&state.db, &state.config.public_url(), &key).await?;
    if let (Some(n), Resolved::Many(found)) = (disc, &mut result) {
        found.discs.retain(|d| d.disc_number == n);
        if let [one] = found.discs.as_slice() {
            result = Resolved::One(one.disc.clone());
        }
    }
    Ok(match result {
        Resolved::One(url) => (StatusCode::SEE_OTHER, [(header::LOCATION, url)]).into_response(),
        Resolved::Many(found) if found.discs.is_empty() => {
            return Err(AppError::not_found(
                ErrorCode::NoDisc,
                detail!("err_not_in_set"),
            ));
        }
        Resolved::Many(found) => (StatusCode::MULTIPLE_CHOICES, Json(found)).into_response(),
    })
}

async fn by_isbn(
    State(s): State<AppState>,
    ApiPath(isbn): ApiPath<String>,
    ApiQuery(q): ApiQuery<DiscQuery>,
) -> AppResult<Response> {
    resolved(&s, Key::Isbn(isbn), q.disc).await
}

async fn by_record(
    State(s): State<AppState>,
    ApiPath((member, id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<DiscQuery>,
) -> AppResult<Response> {
    resolved(&s, Key::Record { member, id }, q.disc).await
}

async fn by_barcode(
    State(s): State<AppState>,
    ApiPath((member, barcode)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<DiscQuery>,
) -> AppResult<Response> {
    resolved(&s, Key::Barcode { member, barcode }, q.disc).await
}

#[derive(Deserialize)]
struct LookupQuery {
    isbn: Option<String>,
    member: Option<String>,
    record: Option<String>,
    barcode: Option<String>,
}

fn cors(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, OPTIONS"),
    );
    h.insert(header::VARY, HeaderValue::from_static("Origin"));
    r
}

/// For OPAC pages: which discs belong to a book, with their links. Anyone may ask (it says
/// that a disc exists, nothing more); CORS is open so any OPAC can call it.
async fn lookup(State(s): State<AppState>, ApiQuery(q): ApiQuery<LookupQuery>) -> Response {
    let key = match (q.isbn, q.member, q.record, q.barcode) {
        (Some(i), _, _, _) => Key::Isbn(i),
        (None, Some(member), Some(id), _) => Key::Record { member, id },
        (None, Some(member), None, Some(barcode)) => Key::Barcode { member, barcode },
        _ => {
            return cors(
                AppError::bad_request(ErrorCode::InvalidLookup, detail!("err_lookup_args"))
                    .into_response(),
            );
        }
    };
    cors(
        match opac::lookup(&s.db, &s.config.public_url(), &key).await {
            Ok(found) => Json(found).into_response(),
            Err(e) => e.into_response(),
        },
    )
}

async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    cors(r)
}

/// The widget with its words in every language of the catalogue (`widget_` messages): it
/// shows them in the OPAC page's language.
async fn widget() -> Response {
    static SCRIPT: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let script = SCRIPT.get_or_init(|| {
        let words: serde_json::Map<String, serde_json::Value> = crate::i18n::LANGUAGES
            .iter()
            .map(|(code, _)| (code.to_string(), crate::i18n::section(code, "widget_")))
            .collect();
        WIDGET.replace(
            "/*SPINDLE_WORDS*/null",
            &serde_json::Value::Object(words).to_string(),
        )
    });
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
            (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        ],
        script.as_str(),
    )
        .into_response()
}

pub(super) async fn export(
    s: AppState,
    staff: Staff,
    code: String,
    format: Format,
) -> AppResult<Response> {
    let bytes = opac::export(&s.db, &s.config.public_url(), &staff, &code, format).await?;
    let (ctype, ext) = match format {
        Format::MarcXml => ("application/marcxml+xml; charset=utf-8", "xml"),
        Format::Iso2709(_) => ("application/marc", "mrc"),
    };
    let disposition = format!("attachment; filename=\"spindle-856-{code}.{ext}\"");
    let mut r = bytes.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(r)
}

async fn export_xml(
    State(s): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<Response> {
    export(s, staff, code, Format::MarcXml).await
}

#[derive(Deserialize)]
struct ExportQuery {
    charset: Option<String>,
}

async fn export_mrc(
    State(s): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> AppResult<Response> {
    let set = opac::export_charset(q.charset.as_deref())?;
    export(s, staff, code, Format::Iso2709(set)).await
}
