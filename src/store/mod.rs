//! SQLite through sqlx: opening (WAL, foreign keys, migrations from `migrations/`) and
//! every SQL statement of the dashboard, in one place, with typed rows and its own error
//! type. `runs` (a run's row and its state changes), `records` (what a run leaves behind:
//! events, metrics, evaluations, snapshots, checkpoints), `studies`.

pub mod records;
pub mod runs;
pub mod studies;

pub use records::*;
pub use runs::*;

use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

/// What can go wrong in the store. The web layer maps it to status codes.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("database migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The row asked for does not exist (the message names it).
    #[error("{0}")]
    NotFound(String),
    /// A stored value that cannot be read back (e.g. a config written by another version).
    #[error("{0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub async fn open(path: &Path) -> StoreResult<SqlitePool> {
    let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(10));
    let pool = SqlitePoolOptions::new().max_connections(8).connect_with(options).await?;
    sqlx::migrate!("./migrations").run(&pool).await?;
    Ok(pool)
}

/// A value as JSON for a TEXT column.
fn json<T: serde::Serialize>(value: &T) -> StoreResult<String> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("cannot store as JSON: {e}")))
}
