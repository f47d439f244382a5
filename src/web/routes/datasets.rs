//! Dataset uploads: `POST /api/datasets` (multipart: `file` = a zipped folder, optional
//! `name`) answers JSON; `POST /datasets` (the new-run page's form) redirects back to the
//! form with the dataset chosen. `GET /api/datasets` lists uploads, `DELETE
//! /api/datasets/{name}` removes one that no active run reads.

use crate::runs::status::RunStatus;
use crate::runs::uploads::{self, Uploaded};
use crate::store as db;
use crate::web::BODY_LIMIT;
use crate::web::error::{AppError, AppResult};
use crate::web::state::AppState;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{delete, post};
use axum::{Json, Router};
use tokio::io::AsyncWriteExt;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/datasets", post(upload_api).get(list)).route("/api/datasets/{name}", delete(remove)).route("/datasets", post(upload_page))
}

/// A temporary file that is removed when dropped, whatever happened.
struct TempFile(std::path::PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Uploads received at once: each may hold up to `BODY_LIMIT` in `tmp/` (outside the
/// quota, until it is unpacked) and has no timeout, so their number is bounded.
pub const MAX_UPLOADS_AT_ONCE: usize = 2;

/// Stream the `file` field to a temporary file (never whole in memory), then unpack it.
async fn receive(s: &AppState, mut form: Multipart) -> AppResult<Uploaded> {
    let _slot = s
        .uploads
        .clone()
        .try_acquire_owned()
        .map_err(|_| AppError::Unavailable(format!("{MAX_UPLOADS_AT_ONCE} uploads are being received: try again when one has finished")))?;
    let too_large = || AppError::PayloadTooLarge(format!("an upload may be at most {} MiB", BODY_LIMIT >> 20));
    let body_error = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE { too_large() } else { AppError::BadRequest(format!("bad multipart body: {e}")) }
    };
    let tmp_dir = s.data_dir.join("tmp");
    tokio::fs::create_dir_all(&tmp_dir).await?;
    let (mut name, mut archive) = (String::from("upload"), None);
    while let Some(mut field) = form.next_field().await.map_err(body_error)? {
        match field.name() {
            Some("name") => name = field.text().await.map_err(body_error)?.chars().take(200).collect(),
            Some("file") => {
                if name == "upload"
                    && let Some(f) = field.file_name()
                {
                    name = f.trim_end_matches(".zip").chars().take(200).collect();
                }
                let tmp = TempFile(tmp_dir.join(format!("upload-{}-{}.zip", std::process::id(), unique())));
                let mut out = tokio::fs::File::create(&tmp.0).await?;
                let mut written = 0usize;
                while let Some(chunk) = field.chunk().await.map_err(body_error)? {
                    written += chunk.len();
                    if written > BODY_LIMIT {
                        return Err(too_large());
                    }
                    out.write_all(&chunk).await?;
                }
                out.flush().await?;
                archive = Some(tmp);
            }
            _ => {}
        }
    }
    let archive = archive.ok_or_else(|| AppError::BadRequest("no 'file' field with a zip archive".into()))?;
    let dir = s.data_dir.join("uploads");
    // One unpack at a time: each checks the quota against what the others left.
    static UNPACKING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = UNPACKING.lock().await;
    Ok(tokio::task::spawn_blocking(move || uploads::unpack(&archive.0, &name, &dir, uploads::Limits::default()))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))??)
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

async fn upload_api(State(s): State<AppState>, form: Multipart) -> AppResult<(StatusCode, Json<Uploaded>)> {
    Ok((StatusCode::CREATED, Json(receive(&s, form).await?)))
}

async fn upload_page(State(s): State<AppState>, form: Multipart) -> Response {
    match receive(&s, form).await {
        Ok(u) => {
            let q = format!("/runs/new?kind={}&path={}", u.layout, urlencode(&u.path));
            Redirect::to(&q).into_response()
        }
        Err(e) => e.into_html(),
    }
}

async fn list(State(s): State<AppState>) -> AppResult<Json<Vec<Uploaded>>> {
    let dir = s.data_dir.join("uploads");
    Ok(Json(tokio::task::spawn_blocking(move || uploads::list(&dir)).await.map_err(|e| AppError::Internal(e.to_string()))?))
}

/// Delete an upload (204); 409 while a queued or running run reads it.
async fn remove(State(s): State<AppState>, Path(name): Path<String>) -> AppResult<StatusCode> {
    let folder = uploads::folder_of(&s.data_dir.join("uploads"), &name)?.canonicalize()?;
    for status in RunStatus::ALL.into_iter().filter(|s| s.is_active()) {
        for run in db::list_runs(&s.db, Some(status.as_str()), None).await? {
            let uses = run.config().ok().is_some_and(|c| c.data.source.folders().iter().any(|path| std::path::Path::new(path).starts_with(&folder)));
            if uses {
                return Err(AppError::Conflict(format!("run {} ({status}) reads this dataset: stop it first", run.id)));
            }
        }
    }
    tokio::fs::remove_dir_all(&folder).await?;
    Ok(StatusCode::NO_CONTENT)
}

fn urlencode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_./".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}
