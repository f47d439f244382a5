//! The run service, without HTTP: the queue that starts trainings and stops them
//! (`manager`), the recorder that writes a run's events to the database and its files,
//! studies (grids of runs), a run's states, and the datasets runs read (confinement to the
//! dataset roots, uploads). The web layer and the CLI drive it; it reaches SQLite only
//! through `store`.

pub mod datasets;
pub mod manager;
pub mod recorder;
pub mod status;
pub mod studies;
pub mod uploads;

use crate::config::{ConfigErrors, FieldError};
use crate::store::StoreError;

/// What the run service refuses or fails at; the web layer maps each to a status code,
/// the CLI prints it.
#[derive(Debug, thiserror::Error)]
pub enum RunsError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("invalid config")]
    InvalidConfig(Vec<FieldError>),
    /// Not allowed in the run's (or study's) current state.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    /// Stored data this version cannot read (named, so the user can delete it).
    #[error("{0}")]
    Unreadable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type RunsResult<T> = Result<T, RunsError>;

impl From<StoreError> for RunsError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => Self::NotFound(m),
            StoreError::Corrupt(m) => Self::Unreadable(m),
            StoreError::Database(sqlx::Error::RowNotFound) => Self::NotFound("not found".into()),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<ConfigErrors> for RunsError {
    fn from(e: ConfigErrors) -> Self {
        Self::InvalidConfig(e.0)
    }
}

impl From<std::io::Error> for RunsError {
    fn from(e: std::io::Error) -> Self {
        match e.kind() {
            std::io::ErrorKind::NotFound => Self::NotFound("file not found".into()),
            _ => Self::Internal(format!("io: {e}")),
        }
    }
}
