//! The browser uploader's planning step, with the CLI's rules: `POST /images/probe` names a
//! file's format from a sample of its bytes (the first `SAMPLE_HEAD` and last `SAMPLE_TAIL`
//! bytes), and `POST /upload-plans` turns the chosen files (with a manifest or file-name
//! patterns) into the rows `spindle upload` would make, each checked before anything moves.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use axum::body::Bytes;
use axum::http::{HeaderMap, Uri};
use axum::routing::post;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use spindle_image::{self as image, SAMPLE_HEAD, SAMPLE_TAIL, Sampled};

use super::web::Lang;
use super::{ApiJson, ApiQuery};
use crate::app::AppState;
use crate::auth::Staff;
use crate::detail;
use crate::error::{AppError, AppResult, ErrorCode, Message};
use spindle_client::plan::{self, Probed, Row, Shelf};

/// More files than a librarian drops at once.
const MAX_FILES: usize = 10_000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/images/probe", post(probe))
        .route("/api/v1/upload-plans", post(make_plan))
}

#[derive(Deserialize)]
struct ProbeQuery {
    /// The file's size in bytes.
    size: u64,
}

/// The body is the file's first `min(size, SAMPLE_HEAD)` bytes followed by its last
/// `min(size, SAMPLE_TAIL)` bytes; anything else is refused, so the answer is always the one
/// the whole file would get.
async fn probe(
    _staff: Staff,
    ApiQuery(q): ApiQuery<ProbeQuery>,
    body: Bytes,
) -> AppResult<Json<Probed>> {
    let head_len = q.size.min(SAMPLE_HEAD as u64) as usize;
    let tail_len = q.size.min(SAMPLE_TAIL as u64) as usize;
    if body.len() != head_len + tail_len {
        return Err(AppError::bad_request(
            ErrorCode::InvalidSample,
            detail!(
                "err_sample",
                size = q.size,
                head = head_len,
                tail = tail_len,
                want = head_len + tail_len,
                got = body.len()
            ),
        ));
    }
    let sampled = Sampled::new(q.size, body[..head_len].to_vec(), body[head_len..].to_vec())
        .ok_or_else(|| {
            AppError::unprocessable(ErrorCode::UnrecognisedImage, detail!("err_empty_file"))
        })?;
    let probed = tokio::task::spawn_blocking(move || plan::probe(&sampled))
        .await
        .map_err(|e| AppError::internal("format detection task", &e))?
        .map_err(|e| AppError::from(&e))?;
    Ok(Json(probed))
}

#[derive(Deserialize)]
struct PlanFile {
    /// The file's name, or its path inside a dropped folder.
    path: String,
    size: u64,
    /// The probe's answer, or its error message.
    #[serde(default)]
    probe: Option<Probed>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct PlanRequest {
    files: Vec<PlanFile>,
    /// File-name patterns such as `{barcode}.iso` (used when there is no manifest).
    #[serde(default)]
    patterns: Vec<String>,
    /// A manifest CSV's text; its paths name the chosen files.
    #[serde(default)]
    manifest: Option<String>,
}

#[derive(Serialize)]
struct PlanView {
    rows: Vec<RowView>,
    /// Chosen files no row uses (not in the manifest, nor a CUE sheet's part).
    unused: Vec<PathBuf>,
    discs: usize,
    bytes: u64,
    invalid: usize,
}

/// A row of the plan, with why it cannot be uploaded said in the uploader's language.
#[derive(Serialize)]
struct RowView {
    #[serde(flatten)]
    row: Row,
    invalid: Option<String>,
}

/// The files a browser chose, as it reported them.
struct Reported(HashMap<PathBuf, (u64, Result<Probed, Message>)>);

impl Shelf for Reported {
    fn probe(&self, path: &Path) -> Result<(u64, Probed), Message> {
        match self.0.get(path) {
            None => Err(detail!("plan_not_chosen", path = path.display())),
            Some((size, probed)) => probed.clone().map(|p| (*size, p)),
        }
    }

    fn part(&self, cue: &Path, name: &str) -> Option<(PathBuf, u64)> {
        let dir = cue.parent().unwrap_or(Path::new(""));
        let siblings: Vec<(&PathBuf, u64, String)> = self
            .0
            .iter()
            .filter(|(p, _)| p.parent().unwrap_or(Path::new("")) == dir && p.as_path() != cue)
            .map(|(p, (size, _))| {
                let file = p
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                (p, *size, file)
            })
            .collect();
        let i = image::match_part(name, siblings.iter().map(|(_, _, n)| n.as_str()))?;
        Some((siblings[i].0.clone(), siblings[i].1))
    }
}

async fn make_plan(
    _staff: Staff,
    headers: HeaderMap,
    uri: Uri,
    ApiJson(req): ApiJson<PlanRequest>,
) -> AppResult<Json<PlanView>> {
    let lang = Lang::from_request(&headers, &uri).code();
    if req.files.len() > MAX_FILES {
        return Err(AppError::bad_request(
            ErrorCode::TooManyFiles,
            detail!("err_too_many_files", max = MAX_FILES),
        ));
    }
    let mut shelf = HashMap::new();
    for f in &req.files {
        let probed = match (&f.probe, &f.error) {
            (Some(p), _) => Ok(p.clone()),
            (None, Some(e)) => Err(detail!("plan_as_reported", why = e)),
            (None, None) => Err(detail!("plan_not_probed")),
        };
        if shelf
            .insert(PathBuf::from(&f.path), (f.size, probed))
            .is_some()
        {
            return Err(AppError::bad_request(
                ErrorCode::DuplicateFile,
                detail!("err_listed_twice", path = &f.path),
            ));
        }
    }
    let shelf = Reported(shelf);
    let mut rows = match &req.manifest {
        Some(text) => plan::from_manifest_text(text, Path::new(""))
            .map_err(|m| AppError::unprocessable(ErrorCode::InvalidManifest, m))?,
        None => {
            let patterns = req
                .patterns
                .iter()
                .filter(|p| !p.trim().is_empty())
                .map(|p| plan::pattern_regex(p.trim()))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| AppError::bad_request(ErrorCode::InvalidPattern, m))?;
            plan::from_paths(shelf.0.keys().cloned().collect(), &patterns)
        }
    };
    plan::validate(&mut rows, &shelf);
    let mut used: Vec<&Path> = rows.iter().map(|r| r.path.as_path()).collect();
    used.extend(
        rows.iter()
            .flat_map(|r| r.parts.iter().map(|(_, p)| p.as_path())),
    );
    let mut unused: Vec<PathBuf> = shelf
        .0
        .keys()
        .filter(|p| !used.contains(&p.as_path()))
        .cloned()
        .collect();
    unused.sort();
    let valid = rows.iter().filter(|r| r.invalid.is_none());
    Ok(Json(PlanView {
        discs: valid.clone().count(),
        bytes: valid.map(|r| r.bytes).sum(),
        invalid: rows.iter().filter(|r| r.invalid.is_some()).count(),
        rows: rows
            .into_iter()
            .map(|row| RowView {
                invalid: row.invalid.as_ref().map(|m| m.render(lang)),
                row,
            })
            .collect(),
        unused,
    }))
}
