//! The API's description of itself: the OpenAPI 3.1 document (`openapi.json`, beside this
//! file, held to the routes by `tests/suite/api_contract.rs`) and the problem types, every stable
//! error code with its title, which a problem document's `type` points into.

use axum::http::{HeaderMap, HeaderValue, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use crate::app::AppState;
use crate::error::ErrorCode;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/problems", get(list))
}

const OPENAPI: &str = include_str!("openapi.json");

async fn openapi() -> Response {
    let base = crate::site::base();
    // Under a base path the document names it as its server, so its paths resolve there.
    let body = if base.is_empty() {
        OPENAPI.to_string()
    } else {
        match serde_json::from_str::<serde_json::Value>(OPENAPI) {
            Ok(mut doc) => {
                doc["servers"] = serde_json::json!([{"url": format!("{base}/")}]);
                doc.to_string()
            }
            Err(_) => OPENAPI.to_string(),
        }
    };
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

#[derive(Serialize)]
struct ProblemType {
    code: ErrorCode,
    title: &'static str,
}

async fn list(headers: HeaderMap, uri: Uri) -> Json<Vec<ProblemType>> {
    let lang = super::web::Lang::from_request(&headers, &uri).code();
    Json(
        ErrorCode::ALL
            .iter()
            .map(|&code| ProblemType {
                code,
                title: code.title(lang),
            })
            .collect(),
    )
}
