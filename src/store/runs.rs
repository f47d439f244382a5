//! A run's row: creating it, reading it, and every change of its status, each a single
//! conditional statement so that two requests at once cannot both win.

use super::{StoreError, StoreResult, json, now_ms};
use crate::config::RunConfig;
use crate::runs::status::RunStatus;
use serde::Serialize;
use sqlx::{FromRow, SqlitePool};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub name: String,
    pub config: String,
    pub task: String,
    pub algorithm: String,
    pub arch_t1: String,
    pub arch_t2: Option<String>,
    pub label_ratio: f64,
    pub seed: i64,
    pub tags: String,
    pub status: RunStatus,
    pub parent_id: Option<i64>,
    pub resume_from: Option<String>,
    pub device: Option<String>,
    pub total_iterations: Option<i64>,
    pub current_step: i64,
    pub best_t1: Option<f64>,
    pub best_t2: Option<f64>,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    #[serde(skip)]
    pub info: Option<String>,
    pub study_id: Option<i64>,
}

impl RunRow {
    pub fn config(&self) -> StoreResult<RunConfig> {
        serde_json::from_str(&self.config).map_err(|e| StoreError::Corrupt(format!("run {} has an unreadable config: {e}", self.id)))
    }
}

/// Where a new run comes from: nowhere, a run it clones, or a study cell.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin {
    pub parent: Option<i64>,
    pub study: Option<i64>,
}

pub async fn insert_run(db: &SqlitePool, config: &RunConfig, tags: &str, origin: Origin) -> StoreResult<i64> {
    let two = config.algorithm != crate::config::Algorithm::Suponly;
    let id = sqlx::query(
        "INSERT INTO runs (name, config, task, algorithm, arch_t1, arch_t2, label_ratio, seed, tags, status, parent_id, study_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&config.name)
    .bind(json(config)?)
    .bind(config.task.name())
    .bind(config.algorithm.name())
    .bind(config.t1.arch.name())
    .bind(two.then(|| config.t2.arch.name()))
    .bind(config.data.label_ratio)
    .bind(config.seed as i64)
    .bind(tags)
    .bind(RunStatus::Queued)
    .bind(origin.parent)
    .bind(origin.study)
    .bind(now_ms())
    .execute(db)
    .await?
    .last_insert_rowid();
    Ok(id)
}

pub async fn get_run(db: &SqlitePool, id: i64) -> StoreResult<RunRow> {
    sqlx::query_as::<_, RunRow>("SELECT * FROM runs WHERE id = ?")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no run {id}")))
}

/// Runs, newest first, optionally filtered by status and tag.
pub async fn list_runs(db: &SqlitePool, status: Option<&str>, tag: Option<&str>) -> StoreResult<Vec<RunRow>> {
    let rows = sqlx::query_as::<_, RunRow>(
        "SELECT * FROM runs WHERE (?1 IS NULL OR status = ?1)
           AND (?2 IS NULL OR ',' || tags || ',' LIKE '%,' || ?2 || ',%')
         ORDER BY id DESC",
    )
    .bind(status)
    .bind(tag)
    .fetch_all(db)
    .await?;
    Ok(rows)
}

/// Start-up: runs a crash left running are interrupted; returns queued runs to restart.
pub async fn recover(db: &SqlitePool) -> StoreResult<Vec<i64>> {
    let n = sqlx::query("UPDATE runs SET status = ?, finished_at = ? WHERE status IN (?, ?)")
        .bind(RunStatus::Interrupted)
        .bind(now_ms())
        .bind(RunStatus::Running)
        .bind(RunStatus::Stopping)
        .execute(db)
        .await?
        .rows_affected();
    if n > 0 {
        tracing::warn!("{n} run(s) were left running by an earlier process: marked interrupted");
    }
    Ok(sqlx::query_scalar::<_, i64>("SELECT id FROM runs WHERE status = ? ORDER BY id").bind(RunStatus::Queued).fetch_all(db).await?)
}

/// `from` to `to`, if the run is still in `from`: one conditional statement.
async fn move_status(db: &SqlitePool, id: i64, from: RunStatus, to: RunStatus) -> StoreResult<sqlx::sqlite::SqliteQueryResult> {
    Ok(sqlx::query("UPDATE runs SET status = ? WHERE id = ? AND status = ?").bind(to).bind(id).bind(from).execute(db).await?)
}

/// Queued to running, if still queued (a stop may have come first).
pub async fn start_queued(db: &SqlitePool, id: i64) -> StoreResult<bool> {
    let r = move_status(db, id, RunStatus::Queued, RunStatus::Running).await?;
    Ok(r.rows_affected() == 1)
}

/// Failed with `error`, whatever its state (a run that could not even start).
pub async fn mark_failed(db: &SqlitePool, id: i64, error: &str) -> StoreResult<()> {
    sqlx::query("UPDATE runs SET status = ?, error = ? WHERE id = ?").bind(RunStatus::Failed).bind(error).bind(id).execute(db).await?;
    Ok(())
}

/// Running or stopping to failed (a run whose final state never reached the database).
pub async fn fail_if_active(db: &SqlitePool, id: i64, error: &str) -> StoreResult<bool> {
    let r = sqlx::query("UPDATE runs SET status = ?, error = ?, finished_at = ? WHERE id = ? AND status IN (?, ?)")
        .bind(RunStatus::Failed)
        .bind(error)
        .bind(now_ms())
        .bind(id)
        .bind(RunStatus::Running)
        .bind(RunStatus::Stopping)
        .execute(db)
        .await?;
    Ok(r.rows_affected() > 0)
}

/// Queued to stopped, if still queued.
pub async fn stop_queued(db: &SqlitePool, id: i64) -> StoreResult<bool> {
    let r = move_status(db, id, RunStatus::Queued, RunStatus::Stopped).await?;
    Ok(r.rows_affected() == 1)
}

/// Running to stopping, if still running (it may have just finished).
pub async fn mark_stopping(db: &SqlitePool, id: i64) -> StoreResult<()> {
    move_status(db, id, RunStatus::Running, RunStatus::Stopping).await?;
    Ok(())
}

/// Delete a run that is not active (its records cascade); clones and resumes of it keep
/// their history and lose the link. False if it became active meanwhile.
pub async fn delete_inactive(db: &SqlitePool, id: i64) -> StoreResult<bool> {
    let mut tx = db.begin().await?;
    sqlx::query("UPDATE runs SET parent_id = NULL WHERE parent_id = ?").bind(id).execute(&mut *tx).await?;
    let gone = sqlx::query("DELETE FROM runs WHERE id = ? AND status NOT IN (?, ?, ?)")
        .bind(id)
        .bind(RunStatus::Queued)
        .bind(RunStatus::Running)
        .bind(RunStatus::Stopping)
        .execute(&mut *tx)
        .await?;
    if gone.rows_affected() == 0 {
        return Ok(false); // the transaction rolls back on drop
    }
    tx.commit().await?;
    Ok(true)
}

/// Stopped, failed or interrupted back to queued, to resume from `from` (a checkpoint path);
/// false if it was resumed or changed meanwhile.
pub async fn requeue(db: &SqlitePool, id: i64, from: Option<&str>) -> StoreResult<bool> {
    let r = sqlx::query(
        "UPDATE runs SET status = ?, resume_from = ?, error = NULL, finished_at = NULL
         WHERE id = ? AND status IN (?, ?, ?)",
    )
    .bind(RunStatus::Queued)
    .bind(from)
    .bind(id)
    .bind(RunStatus::Stopped)
    .bind(RunStatus::Failed)
    .bind(RunStatus::Interrupted)
    .execute(db)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Replace a run's stored config (a study's device change for its unfinished runs).
pub async fn set_config(db: &SqlitePool, id: i64, config: &RunConfig) -> StoreResult<()> {
    sqlx::query("UPDATE runs SET config = ? WHERE id = ?").bind(json(config)?).bind(id).execute(db).await?;
    Ok(())
}
