//! Running a disc in the browser (v86, an x86 PC in WebAssembly, vendored under
//! `assets/vendor/v86`): the run page, the disc as the emulator's CD-ROM (loading it boots the
//! disc: one launch), an environment's boot disk, and the environments API for admins.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::route::counted;
use super::track::Counted;
use super::{ApiJson, ApiPath, download};
use crate::access::Viewer;
use crate::app::AppState;
use crate::auth::Staff;
use crate::content::{Content, Representation, unix_time};
use crate::db::discs::DiscRow;
use crate::discs::{self, parse_id};
use crate::environments::{self as envs, EnvironmentInput};
use crate::error::{AppError, AppResult};
use crate::http::web::{Lang, render};

/// The API's routes (under `/api/v1`).
pub fn router(s: &AppState) -> Router<AppState> {
    Router::new()
        .route("/api/v1/environments", get(list))
        .route(
            "/api/v1/environments/{code}",
            get(show).put(put).delete(delete),
        )
        .route(
            "/api/v1/discs/{id}/cdrom",
            counted(s, Counted::Boot, get(cdrom)),
        )
        .route("/api/v1/discs/{id}/environments/{code}/disk", get(disk))
}

/// The run pages: a bootable disc by itself, or any disc in an environment.
pub fn pages() -> Router<AppState> {
    Router::new()
        .route(
            "/discs/{id}/run",
            get(|s, v, h, u, Path(id): Path<String>| run_page(s, v, h, u, id, None)),
        )
        .route(
            "/discs/{id}/run/{env}",
            get(|s, v, h, u, Path((id, env)): Path<(String, String)>| {
                run_page(s, v, h, u, id, Some(env))
            }),
        )
}

async fn list(State(state): State<AppState>, staff: Staff) -> AppResult<Response> {
    Ok(Json(envs::list(&state.db, &staff).await?).into_response())
}

async fn show(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<Response> {
    Ok(Json(envs::get(&state.db, &staff, &code).await?).into_response())
}

async fn put(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
    ApiJson(input): ApiJson<EnvironmentInput>,
) -> AppResult<Response> {
    let max = state.config.launch.emulation_max_bytes;
    let view = envs::put(&state.db, &staff, max, &code, &input).await?;
    Ok(Json(view).into_response())
}

async fn delete(
    State(state): State<AppState>,
    staff: Staff,
    ApiPath(code): ApiPath<String>,
) -> AppResult<Response> {
    envs::delete(&state.db, &staff, &code).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// The disc, if the viewer may read it and the browser can run it.
async fn runnable(state: &AppState, viewer: &Viewer, id: &str) -> AppResult<DiscRow> {
    let disc =
        discs::content_readable(&state.db, &state.content_rows, viewer, parse_id(id)?).await?;
    let image = discs::image_view(&state.db, &disc).await?.ok_or_else(|| {
        AppError::unprocessable(
            crate::error::ErrorCode::CannotEmulate,
            crate::detail!("err_emulation_sectors", id = disc.id),
        )
    })?;
    envs::emulatable(&disc, &image, state.config.launch.emulation_max_bytes)?;
    Ok(disc)
}

/// The disc as the emulator's CD-ROM: its image's bytes, with Range. Loading it is booting
/// the disc, counted as a launch (a range request after the first is not counted again).
async fn cdrom(
    State(state): State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    ApiPath(id): ApiPath<String>,
) -> AppResult<Response> {
    let disc = runnable(&state, &viewer, &id).await?;
    let mut rep =
        Representation::of_disc(&disc).map_err(|e| AppError::internal("stored disc digest", &e))?;
    rep.inline = true;
    download::serve(&state, method == Method::GET, &headers, &rep).await
}

/// An environment's boot disk, for a reader who may run this disc in it. The disk is only
/// read: the page runs it in memory, so nothing a reader does reaches the next one.
async fn disk(
    State(state): State<AppState>,
    viewer: Viewer,
    method: Method,
    headers: HeaderMap,
    ApiPath((id, code)): ApiPath<(String, String)>,
) -> AppResult<Response> {
    let disc = runnable(&state, &viewer, &id).await?;
    let env = envs::for_disc(&state.db, &disc, &code).await?;
    let blob = crate::db::blobs::get(&state.db, &env.sha256)
        .await?
        .ok_or_else(|| AppError::internal("environment disk", &env.sha256))?;
    let digest = blob
        .sha256
        .parse()
        .map_err(|e| AppError::internal("environment disk digest", &e))?;
    let rep = Representation {
        etag: blob.sha256.clone(),
        size: blob.size as u64,
        last_modified: unix_time(blob.created_at),
        filename: format!("{}.img", env.code),
        content_type: "application/octet-stream".into(),
        inline: true,
        sandbox: false,
        content: Content::whole_blob(digest, blob.size as u64),
    };
    download::serve(&state, method == Method::GET, &headers, &rep).await
}

async fn run_page(
    State(state): State<AppState>,
    viewer: Viewer,
    headers: HeaderMap,
    uri: Uri,
    id: String,
    env: Option<String>,
) -> Response {
    let lang = Lang::from_request(&headers, &uri);
    let result = async {
        let disc = runnable(&state, &viewer, &id).await?;
        let d = disc.id;
        let query = super::extract::query_token(&uri)
            .map(|token| format!("?access={token}"))
            .unwrap_or_default();
        let environment = match &env {
            Some(code) => {
                let e = envs::for_disc(&state.db, &disc, code).await?;
                Some(json!({
                    "code": e.code,
                    "name": e.name,
                    "licence": e.licence,
                    "disk": e.disk,
                    "memory_mib": e.memory_mib,
                    "url": crate::site::here(format!("/api/v1/discs/{d}/environments/{}/disk{query}", e.code)),
                }))
            }
            None => {
                let image = discs::image_view(&state.db, &disc).await?;
                if !image.as_ref().is_some_and(envs::boots_by_itself) {
                    return Err(AppError::unprocessable(
                        crate::error::ErrorCode::CannotEmulate,
                        crate::detail!("err_not_bootable", id = d),
                    ));
                }
                None
            }
        };
        // The member's other discs of this set, to swap into the drive.
        let set: Vec<serde_json::Value> = discs::related(&state.db, &disc)
            .await?
            .iter()
            .filter(|r| r.member_id == disc.member_id && r.sha256 != disc.sha256)
            .map(|r| json!({"id": r.id, "disc_number": r.disc_number, "cdrom": crate::site::here(format!("/api/v1/discs/{}/cdrom{query}", r.id))}))
            .collect();
        let title = discs::title(&state.db, d).await?;
        Ok::<_, AppError>(render(
            StatusCode::OK,
            "run.html",
            lang,
            json!({
                "title": title,
                "disc": d,
                "disc_number": disc.disc_number,
                "size": disc.size,
                "cdrom": crate::site::here(format!("/api/v1/discs/{d}/cdrom{query}")),
                "environment": environment,
                "set": set,
                "lang_url": super::reader::lang_url(&uri, lang),
            }),
        ))
    }
    .await;
    match result {
        Ok(mut page) => {
            // v86 paces its CPU with a tiny worker it makes from a blob: (its only one).
            page.headers_mut().insert(
                axum::http::header::CONTENT_SECURITY_POLICY,
                axum::http::HeaderValue::from_static(RUN_CSP),
            );
            page
        }
        Err(e) => super::reader::error_page(e, lang, &uri),
    }
}

/// The pages' policy, with the one worker v86 needs.
const RUN_CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; \
    worker-src blob:; style-src 'self'; img-src 'self' data:; media-src 'self' blob:; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
