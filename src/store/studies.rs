//! Studies: a name and a config (JSON); their runs are ordinary runs with `study_id` set.

use super::{RunRow, StoreError, StoreResult, json, now_ms};
use crate::runs::status::RunStatus;
use crate::study::StudyConfig;
use serde::Serialize;
use sqlx::{FromRow, SqlitePool};

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct StudyRow {
    pub id: i64,
    pub name: String,
    #[serde(skip)]
    pub config: String,
    pub created_at: i64,
}

impl StudyRow {
    pub fn config(&self) -> StoreResult<StudyConfig> {
        serde_json::from_str(&self.config).map_err(|e| StoreError::Corrupt(format!("study {} has an unreadable config: {e}", self.id)))
    }
}

pub async fn get(db: &SqlitePool, id: i64) -> StoreResult<StudyRow> {
    sqlx::query_as::<_, StudyRow>("SELECT id, name, config, created_at FROM studies WHERE id = ?")
        .bind(id)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no study {id}")))
}

pub async fn list(db: &SqlitePool) -> StoreResult<Vec<StudyRow>> {
    Ok(sqlx::query_as::<_, StudyRow>("SELECT id, name, config, created_at FROM studies ORDER BY id DESC").fetch_all(db).await?)
}

pub async fn find_by_name(db: &SqlitePool, name: &str) -> StoreResult<Option<StudyRow>> {
    Ok(sqlx::query_as::<_, StudyRow>("SELECT id, name, config, created_at FROM studies WHERE name = ? ORDER BY id DESC LIMIT 1")
        .bind(name)
        .fetch_optional(db)
        .await?)
}

pub async fn insert(db: &SqlitePool, config: &StudyConfig) -> StoreResult<i64> {
    Ok(sqlx::query("INSERT INTO studies (name, config, created_at) VALUES (?, ?, ?)")
        .bind(&config.name)
        .bind(json(config)?)
        .bind(now_ms())
        .execute(db)
        .await?
        .last_insert_rowid())
}

pub async fn set_config(db: &SqlitePool, id: i64, config: &StudyConfig) -> StoreResult<()> {
    sqlx::query("UPDATE studies SET config = ? WHERE id = ?").bind(json(config)?).bind(id).execute(db).await?;
    Ok(())
}

pub async fn delete(db: &SqlitePool, id: i64) -> StoreResult<()> {
    sqlx::query("DELETE FROM studies WHERE id = ?").bind(id).execute(db).await?;
    Ok(())
}

/// The study's runs, by ratio, seed and creation.
pub async fn runs(db: &SqlitePool, id: i64) -> StoreResult<Vec<RunRow>> {
    Ok(sqlx::query_as::<_, RunRow>("SELECT * FROM runs WHERE study_id = ? ORDER BY label_ratio, seed, id").bind(id).fetch_all(db).await?)
}

/// Runs an earlier process left queued, running or stopping become interrupted (a
/// headless `flawmap study` taking its study over); returns how many.
pub async fn interrupt_runs(db: &SqlitePool, id: i64) -> StoreResult<u64> {
    Ok(sqlx::query("UPDATE runs SET status = ? WHERE study_id = ? AND status IN (?, ?, ?)")
        .bind(RunStatus::Interrupted)
        .bind(id)
        .bind(RunStatus::Queued)
        .bind(RunStatus::Running)
        .bind(RunStatus::Stopping)
        .execute(db)
        .await?
        .rows_affected())
}
