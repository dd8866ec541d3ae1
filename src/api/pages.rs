//! Pages for staff and their static assets. The browser uploader lives here: one page, its
//! script and the two vendored libraries it runs on (assets/vendor/README.md), all served
//! from Spindle itself under a strict content security policy.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use spindle_storage::image::{SAMPLE_HEAD, SAMPLE_TAIL};

use crate::app::AppState;
use crate::error::{AppError, AppResult};

/// The page loads only its own scripts; WebAssembly (the hasher) may be compiled, nothing
/// may be evaluated, framed or posted elsewhere.
const PAGE_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
    style-src 'self'; img-src 'self'; connect-src 'self'; form-action 'self'; \
    frame-ancestors 'none'; base-uri 'none'";

const ASSETS: [(&str, &str, &str); 4] = [
    (
        "upload.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/upload.js"),
    ),
    (
        "spindle.css",
        "text/css; charset=utf-8",
        include_str!("../../assets/spindle.css"),
    ),
    (
        "vendor/hash-wasm/sha256.umd.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/vendor/hash-wasm/sha256.umd.min.js"),
    ),
    (
        "vendor/tus-js-client/tus.min.js",
        "text/javascript; charset=utf-8",
        include_str!("../../assets/vendor/tus-js-client/tus.min.js"),
    ),
];

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/librarian/upload", get(upload_page))
        .route("/assets/{*path}", get(asset))
}

fn page_headers(response: &mut Response) {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(PAGE_CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
}

async fn upload_page() -> Response {
    let html = include_str!("../../assets/upload.html")
        .replace("{{SAMPLE_HEAD}}", &SAMPLE_HEAD.to_string())
        .replace("{{SAMPLE_TAIL}}", &SAMPLE_TAIL.to_string());
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        html,
    )
        .into_response();
    page_headers(&mut response);
    response
}

async fn asset(Path(path): Path<String>) -> AppResult<Response> {
    let (_, kind, body) = ASSETS
        .iter()
        .find(|(name, _, _)| *name == path)
        .ok_or_else(|| AppError::not_found("asset-not-found", format!("no asset {path}")))?;
    let mut response = (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, *kind),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        *body,
    )
        .into_response();
    page_headers(&mut response);
    Ok(response)
}
