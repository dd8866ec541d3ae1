//! `/discs`: register a disc, read it, list a member's discs, download its image.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::route::{counted, for_players};
use super::track::Counted;
use super::{ApiJson, ApiPath, ApiQuery, download};
use crate::access::Viewer;
use crate::app::AppState;
use crate::auth::Staff;
use crate::content::Representation;
use crate::discs::{self, RegisterDisc, Registered};
use crate::error::{AppError, AppResult};

pub fn router(s: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/discs", get(list).post(register))
        .route(
            "/api/v1/discs/{id}",
            counted(s, Counted::Landing, get(show)),
        )
        .route(
            "/api/v1/discs/{id}/image",
            for_players(s, Some(Counted::Image), get(image)),
        )
}

async fn register(
    State(state): State<AppState>,
    staff: Staff,
    ApiJson(req): ApiJson<RegisterDisc>,
) -> AppResult<Response> {
    Ok(
        match discs::register(
            &state.db,
            &state.blobs,
            &state.indexer,
            &state.linking,
            &staff,
            req,
        )
        .await?
        {
            Registered::Created(view) => {
                let location = format!("/api/v1/discs/{}", view.id);
                (
                    StatusCode::CREATED,
                    [(header::LOCATION, location)],
                    Json(view),
                )
                    .into_response()
            }
            Registered::Existing(view) => (StatusCode::OK, Json(view)).into_response(),
        },
    )
}

async fn show(
    State(state): State<AppState>,
    viewer: Viewer,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let disc = discs::readable(&state.db, &viewer, discs::parse_id(&id)?).await?;
    let image = discs::image_view(&state.db, &disc).await?;
    let links = crate::linking::links(&state.linking, disc.id).await?;
    let launches = match &image {
        Some(i) => {
            let max = state.config.launch.emulation_max_bytes;
            crate::environments::launches(&state.db, max, &disc, i).await?
        }
        None => Vec::new(),
    };
    let mut view = discs::DiscView::from(disc);
    view.image = image;
    view.launches = Some(launches);
    view.links = Some(links);
    Ok(Json(view).into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    member: Option<String>,
    after: Option<i64>,
    limit: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    staff: Staff,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> AppResult<Response> {
    let views = discs::list(
        &state.db,
        &staff,
        q.member.as_deref(),
        q.after.unwrap_or(0),
        q.limit.unwrap_or(100),
    )
    .await?;
    Ok(Json(views).into_response())
}

/// GET and HEAD of the whole image, with Range, conditionals and resumption.
async fn image(
    State(state): State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let disc = discs::content_readable(
        &state.db,
        &state.content_rows,
        &viewer,
        discs::parse_id(&id)?,
    )
    .await?;
    let digest: spindle_storage::Digest = disc
        .sha256
        .parse()
        .map_err(|e| AppError::internal("stored disc digest", &e))?;
    download::serve_blob(
        &state,
        method == Method::GET,
        &headers,
        &Representation::of_disc(&disc)
            .map_err(|e| AppError::internal("stored disc digest", &e))?,
        &digest,
    )
    .await
}
