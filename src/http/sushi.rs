//! The COUNTER_SUSHI R5.1 API under `/sushi/r51/`: `status` (public), `members`, `reports`
//! and the PR, PR_P1, IR and IR_M1 reports, with `customer_id` + `api_key`. Errors are one
//! COUNTER Exception object with the HTTP status COUNTER gives it; a report's own
//! exceptions travel in its header. Usage of this API is never counted.

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use bytes::Bytes;
use futures::StreamExt;
use serde::Serialize;

use tower_http::set_header::SetResponseHeaderLayer;

use super::route::expensive;
use crate::app::AppState;
use crate::sushi::{self, Answer, Exception, Params, Report, Spooled};

pub fn router(s: &AppState) -> Router<AppState> {
    Router::new()
        .route("/sushi/r51/status", get(status))
        .route("/sushi/r51/members", get(members))
        .route("/sushi/r51/reports", get(list))
        .route("/sushi/r51/reports/{id}", expensive(s, get(report)))
        // Harvesters and dashboards in browsers may read it from any origin: the key is in
        // the query, no cookie is involved (so no credentials are allowed).
        .layer(SetResponseHeaderLayer::overriding(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            HeaderValue::from_static("*"),
        ))
}

/// Query parameters with lower-cased names; a repeated name keeps its first value.
fn service(state: &AppState) -> sushi::Service<'_> {
    sushi::Service {
        db: &state.db,
        config: &state.config,
    }
}

fn params(raw: Option<String>) -> Params {
    let mut out: Params = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
        out.entry(k.to_ascii_lowercase())
            .or_insert_with(|| v.into_owned());
    }
    out
}

fn answer<T: Serialize>(result: Result<T, Exception>) -> Response {
    let response = match result {
        Ok(v) => Json(v).into_response(),
        Err(e) => {
            let (_, status) = e.message_and_status();
            (status, Json(e)).into_response()
        }
    };
    harvested(response)
}

/// An answer no cache keeps, readable from any origin.
fn harvested(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Harvesters run from anywhere (CoP §8: no IP restriction); the API is read-only.
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

async fn status(State(state): State<AppState>) -> Response {
    answer(Ok(sushi::status(&service(&state)).await))
}

/// An answer that needed the key: when it is not an exception, the key was accepted (see
/// `layers::limit`).
fn keyed<T: Serialize>(
    result: Result<T, Exception>,
    accepted: Option<Extension<super::layers::Accepted>>,
) -> Response {
    if result.is_ok()
        && let Some(Extension(a)) = accepted
    {
        a.note();
    }
    answer(result)
}

async fn members(
    State(state): State<AppState>,
    accepted: Option<Extension<super::layers::Accepted>>,
    RawQuery(q): RawQuery,
) -> Response {
    keyed(sushi::members(&service(&state), &params(q)).await, accepted)
}

async fn list(
    State(state): State<AppState>,
    accepted: Option<Extension<super::layers::Accepted>>,
    RawQuery(q): RawQuery,
) -> Response {
    keyed(sushi::list(&service(&state), &params(q)).await, accepted)
}

async fn report(
    State(state): State<AppState>,
    accepted: Option<Extension<super::layers::Accepted>>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let Some(r) = Report::from_path(&id.to_ascii_lowercase()) else {
        return not_found().await;
    };
    match sushi::report(&service(&state), r, &params(q)).await {
        Ok(Answer::Document(d)) => keyed(Ok(d), accepted),
        Ok(Answer::Spooled(s)) => {
            if let Some(Extension(a)) = accepted {
                a.note();
            }
            harvested(spooled(s))
        }
        Err(e) => keyed::<()>(Err(e), accepted),
    }
}

/// An Item Report read from its spool file as it is sent: the file is closed (and gone) when
/// the answer ends.
fn spooled(s: Spooled) -> Response {
    let len = s.head.len() as u64 + s.items_len + Spooled::TAIL.len() as u64;
    let items =
        tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(s.items), 64 * 1024);
    let body = futures::stream::iter([Ok(Bytes::from(s.head))])
        .chain(items)
        .chain(futures::stream::iter([Ok::<_, std::io::Error>(
            Bytes::from_static(Spooled::TAIL),
        )]));
    let mut response = Response::new(Body::from_stream(body));
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    response
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(serde_json::json!({"Code": 0, "Message": "no such SUSHI path; this platform serves /r51/status, /r51/members, /r51/reports and /r51/reports/{pr,pr_p1,ir,ir_m1}"})),
    )
        .into_response()
}
