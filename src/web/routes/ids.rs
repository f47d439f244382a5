//! Ids in paths as extractors: a handler that takes a [`RunId`] or a [`StudyId`] never sees
//! anything but a positive integer; anything else is a 400 naming what it is not, as JSON
//! under `/api/` and as a page elsewhere, before the handler runs.

use super::positive_id;
use crate::web::error::AppError;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

/// The `{id}` of a run route.
#[derive(Debug, Clone, Copy)]
pub struct RunId(pub i64);

/// The `{id}` of a study route.
#[derive(Debug, Clone, Copy)]
pub struct StudyId(pub i64);

async fn id_param<S: Send + Sync>(parts: &mut Parts, state: &S, what: &str) -> Result<i64, Response> {
    let api = parts.uri.path().starts_with("/api/");
    let reject = |e: AppError| if api { e.into_response() } else { e.into_html() };
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state).await.map_err(|e| reject(AppError::BadRequest(e.body_text())))?;
    positive_id(params.get("id").map(String::as_str).unwrap_or(""), what).map_err(reject)
}

impl<S: Send + Sync> FromRequestParts<S> for RunId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        id_param(parts, state, "run").await.map(Self)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for StudyId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        id_param(parts, state, "study").await.map(Self)
    }
}
