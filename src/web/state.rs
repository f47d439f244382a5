//! The one application state every handler gets.

use crate::runs::manager::RunManager;
use sqlx::SqlitePool;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

#[derive(Clone)]
pub struct AppState {
    pub db: SqlitePool,
    pub runs: Arc<RunManager>,
    pub data_dir: PathBuf,
    /// Folders whose sub-folders may be used as datasets (canonical paths).
    pub dataset_roots: Arc<Vec<PathBuf>>,
    /// Required on every request when set (non-loopback binds).
    pub token: Option<Arc<String>>,
    /// Extra host names accepted in `Host` (lower case); see `security::host_allowed`.
    pub allowed_hosts: Arc<Vec<String>>,
    /// Live event streams open now (`routes::live`), bounded by `MAX_LIVE_CLIENTS`.
    pub live_clients: Arc<AtomicUsize>,
    /// Uploads being received now (`routes::datasets::MAX_UPLOADS_AT_ONCE` permits).
    pub uploads: Arc<tokio::sync::Semaphore>,
}
