//! One router per resource, merged into the app.

pub mod checkpoints;
pub mod datasets;
pub mod form;
pub mod live;
pub mod pages;
pub mod runs_api;
pub mod snapshots;
pub mod studies_api;
pub mod study_pages;
