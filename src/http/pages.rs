//! Pages for staff and their static assets. The browser uploader lives here: one page, its
//! script and the two vendored libraries it runs on (assets/vendor/README.md), all served
//! from Spindle itself under a strict content security policy.

use axum::Router;
use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use spindle_image::{SAMPLE_HEAD, SAMPLE_TAIL};

use crate::app::AppState;
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::http::web::StaffPage;

const ASSETS: [(&str, &str, &[u8]); 12] = [
    (
        "upload.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/upload.js"),
    ),
    (
        "spindle.css",
        "text/css; charset=utf-8",
        include_bytes!("../../assets/spindle.css"),
    ),
    (
        "vendor/hash-wasm/sha256.umd.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/hash-wasm/sha256.umd.min.js"),
    ),
    (
        "vendor/tus-js-client/tus.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/tus-js-client/tus.min.js"),
    ),
    (
        "play.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/play.js"),
    ),
    (
        "vendor/hls.js/hls.light.min.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/hls.js/hls.light.min.js"),
    ),
    (
        "run.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/run.js"),
    ),
    (
        "vendor/v86/libv86.js",
        "text/javascript; charset=utf-8",
        include_bytes!("../../assets/vendor/v86/libv86.js"),
    ),
    (
        "vendor/v86/v86.wasm",
        "application/wasm",
        include_bytes!("../../assets/vendor/v86/v86.wasm"),
    ),
    (
        "vendor/v86/seabios.bin",
        "application/octet-stream",
        include_bytes!("../../assets/vendor/v86/seabios.bin"),
    ),
    (
        "vendor/v86/vgabios.bin",
        "application/octet-stream",
        include_bytes!("../../assets/vendor/v86/vgabios.bin"),
    ),
    (
        "vendor/v86/LICENSE",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/vendor/v86/LICENSE"),
    ),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/librarian/upload", get(upload_page))
        .route("/assets/{*path}", get(asset))
}

/// The browser uploader, for signed-in staff: its script calls the API with the session
/// cookie and the session's form token (see [`super::extract::CSRF_HEADER`]).
async fn upload_page(page: StaffPage) -> Response {
    // A librarian uploads for their own member; an admin names one.
    let member = match page.staff.member_code.as_deref() {
        Some(code) => format!("value=\"{}\" readonly", crate::http::web::escape_html(code)),
        None => String::new(),
    };
    // The uploader's words in the page's language, for its script (a JSON data block, which
    // the page's CSP does not run); `<` escaped so no text can close the element.
    let words = crate::i18n::section(page.lang.code(), "upload_")
        .to_string()
        .replace('<', "\\u003c");
    let html = include_str!("../../assets/upload.html")
        .replace("{{LANG}}", page.lang.code())
        .replace(
            "{{BASE}}",
            &crate::http::web::escape_html(&crate::site::base()),
        )
        .replace("{{WORDS}}", &words)
        .replace("{{SAMPLE_HEAD}}", &SAMPLE_HEAD.to_string())
        .replace("{{SAMPLE_TAIL}}", &SAMPLE_TAIL.to_string())
        .replace("{{CSRF}}", &crate::http::web::escape_html(&page.csrf))
        .replace("{{MEMBER}}", &member);
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response();
    crate::http::web::security_headers(&mut response);
    response
}

async fn asset(Path(path): Path<String>) -> AppResult<Response> {
    let (_, kind, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == path)
        .ok_or_else(|| {
            AppError::not_found(
                ErrorCode::AssetNotFound,
                detail!("err_no_asset", path = path),
            )
        })?;
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, *kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        *body,
    )
        .into_response();
    crate::http::web::security_headers(&mut response);
    Ok(response)
}
