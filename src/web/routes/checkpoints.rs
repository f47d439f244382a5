//! Checkpoint list and downloads: one file per checkpoint with Content-Length, byte ranges
//! (206), an ETag (the SHA-256) and Content-Disposition; `best` and `latest` have stable URLs.

use super::ids::RunId;
use crate::store::{self as db, CheckpointRow};
use crate::web::error::{AppError, AppResult};
use crate::web::state::AppState;
use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tower::ServiceExt;
use tower_http::services::ServeFile;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/runs/{id}/checkpoints", get(list)).route("/api/runs/{id}/checkpoints/{which}", get(download))
}

#[derive(Serialize)]
struct CheckpointView {
    #[serde(flatten)]
    row: CheckpointRow,
    url: String,
}

async fn list(State(s): State<AppState>, RunId(id): RunId) -> AppResult<Json<Vec<CheckpointView>>> {
    db::get_run(&s.db, id).await?;
    let rows = db::checkpoints(&s.db, id).await?;
    Ok(Json(
        rows.into_iter()
            .map(|row| {
                let which = if row.best { "best".to_string() } else { row.step.to_string() };
                CheckpointView { url: format!("/api/runs/{id}/checkpoints/{which}"), row }
            })
            .collect(),
    ))
}

/// `which`: a step number, `best` or `latest`.
async fn download(State(s): State<AppState>, RunId(id): RunId, Path((_, which)): Path<(String, String)>, req: Request) -> AppResult<Response> {
    let run = db::get_run(&s.db, id).await?;
    let rows = db::checkpoints(&s.db, id).await?;
    let row = match which.as_str() {
        "best" => rows.into_iter().find(|r| r.best),
        "latest" => rows.into_iter().filter(|r| !r.best).max_by_key(|r| r.step),
        step => {
            let step: i64 = step.parse().map_err(|_| AppError::BadRequest(format!("'{step}' is not a step, 'best' or 'latest'")))?;
            rows.into_iter().find(|r| !r.best && r.step == step)
        }
    }
    .ok_or_else(|| AppError::NotFound(format!("run {id} has no checkpoint '{which}'")))?;
    // Only files the database knows, inside the data directory, are ever served.
    let path = s.data_dir.join(&row.path).canonicalize()?;
    let root = s.data_dir.canonicalize()?;
    if !path.starts_with(&root) {
        return Err(AppError::Forbidden("checkpoint outside the data directory".into()));
    }
    let etag = format!("\"{}\"", row.sha256);
    if req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    let mut res = ServeFile::new(&path).oneshot(req).await.map_err(|e| AppError::Internal(e.to_string()))?.map(Body::new);
    let name =
        format!("flawmap-run{}-{}-{}.safetensors", id, slug(&run.name), if row.best { format!("best-step{}", row.step) } else { format!("step{}", row.step) });
    let h = res.headers_mut();
    h.insert(header::ETAG, HeaderValue::from_str(&etag).map_err(|e| AppError::Internal(e.to_string()))?);
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")).map_err(|e| AppError::Internal(e.to_string()))?);
    Ok(res)
}

fn slug(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect()
}
