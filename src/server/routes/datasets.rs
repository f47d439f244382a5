//! Dataset uploads: `POST /api/datasets` (multipart: `file` = a zipped folder, optional
//! `name`) answers JSON; `POST /datasets` (the new-run page's form) redirects back to the
//! form with the dataset chosen.

use crate::server::error::{AppError, AppResult};
use crate::server::state::AppState;
use crate::server::uploads::{Uploaded, unpack};
use axum::extract::{Multipart, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use axum::{Json, Router};

pub fn router() -> Router<AppState> {
    Router::new().route("/api/datasets", post(upload_api)).route("/datasets", post(upload_page))
}

async fn receive(s: &AppState, mut form: Multipart) -> AppResult<Uploaded> {
    let (mut name, mut bytes) = (String::from("upload"), None);
    while let Some(field) = form.next_field().await.map_err(|e| AppError::BadRequest(format!("bad multipart body: {e}")))? {
        match field.name() {
            Some("name") => name = field.text().await.map_err(|e| AppError::BadRequest(e.to_string()))?,
            Some("file") => {
                if name == "upload"
                    && let Some(f) = field.file_name()
                {
                    name = f.trim_end_matches(".zip").to_string();
                }
                bytes = Some(field.bytes().await.map_err(|e| AppError::PayloadTooLarge(format!("upload failed: {e}")))?);
            }
            _ => {}
        }
    }
    let bytes = bytes.ok_or_else(|| AppError::BadRequest("no 'file' field with a zip archive".into()))?;
    let dir = s.data_dir.join("uploads");
    tokio::task::spawn_blocking(move || unpack(&bytes, &name, &dir)).await.map_err(|e| AppError::Internal(e.to_string()))?
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

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| if b.is_ascii_alphanumeric() || b"-_./".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect()
}
