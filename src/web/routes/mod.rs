//! One router per resource, merged into the app.

pub mod checkpoints;
pub mod datasets;
pub mod form;
pub mod ids;
pub mod live;
pub mod pages;
pub mod runs_api;
pub mod snapshots;
pub mod studies_api;
pub mod study_pages;

use crate::web::error::{AppError, AppResult};

/// A positive integer id from a path segment; anything else is a 400 naming what it is not.
pub fn positive_id(raw: &str, what: &str) -> AppResult<i64> {
    raw.parse::<i64>().ok().filter(|&i| i > 0).ok_or_else(|| AppError::BadRequest(format!("'{raw}' is not a {what} id")))
}
