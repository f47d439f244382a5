//! SQLite through sqlx: opening (WAL, foreign keys, migrations from `migrations/`) and
//! every query the server makes, in one place.

use super::error::{AppError, AppResult};
use crate::config::RunConfig;
use crate::server::status::RunStatus;
use serde::Serialize;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{FromRow, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

pub async fn open(path: &Path) -> Result<SqlitePool, sqlx::Error> {
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
    pub fn config(&self) -> AppResult<RunConfig> {
        serde_json::from_str(&self.config).map_err(|e| AppError::Internal(format!("run {} has an unreadable config: {e}", self.id)))
    }
}

fn arch_name(a: crate::config::Arch) -> &'static str {
    match a {
        crate::config::Arch::Unet => "unet",
        crate::config::Arch::Deeplab => "deeplab",
    }
}

/// Where a new run comes from: nowhere, a run it clones, or a study cell.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin {
    pub parent: Option<i64>,
    pub study: Option<i64>,
}

pub async fn insert_run(db: &SqlitePool, config: &RunConfig, tags: &str, origin: Origin) -> AppResult<i64> {
    let two = config.algorithm != crate::config::Algorithm::Suponly;
    let id = sqlx::query(
        "INSERT INTO runs (name, config, task, algorithm, arch_t1, arch_t2, label_ratio, seed, tags, status, parent_id, study_id, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?)",
    )
    .bind(&config.name)
    .bind(serde_json::to_string(config).map_err(|e| AppError::Internal(e.to_string()))?)
    .bind(serde_json::to_value(config.task).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default())
    .bind(config.algorithm.to_string())
    .bind(arch_name(config.t1.arch))
    .bind(two.then(|| arch_name(config.t2.arch)))
    .bind(config.data.label_ratio)
    .bind(config.seed as i64)
    .bind(tags)
    .bind(origin.parent)
    .bind(origin.study)
    .bind(now_ms())
    .execute(db)
    .await?
    .last_insert_rowid();
    Ok(id)
}

pub async fn get_run(db: &SqlitePool, id: i64) -> AppResult<RunRow> {
    sqlx::query_as::<_, RunRow>("SELECT * FROM runs WHERE id = ?").bind(id).fetch_optional(db).await?.ok_or_else(|| AppError::NotFound(format!("no run {id}")))
}

/// Runs, newest first, optionally filtered by status and tag.
pub async fn list_runs(db: &SqlitePool, status: Option<&str>, tag: Option<&str>) -> AppResult<Vec<RunRow>> {
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

pub async fn add_event(db: &SqlitePool, id: i64, kind: &str, message: &str) -> AppResult<()> {
    sqlx::query("INSERT INTO run_events (run_id, at, kind, message) VALUES (?, ?, ?, ?)").bind(id).bind(now_ms()).bind(kind).bind(message).execute(db).await?;
    Ok(())
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct EventRow {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub message: String,
}

pub async fn events(db: &SqlitePool, run: i64) -> AppResult<Vec<EventRow>> {
    Ok(sqlx::query_as::<_, EventRow>("SELECT id, at, kind, message FROM run_events WHERE run_id = ? ORDER BY id").bind(run).fetch_all(db).await?)
}

/// JSON blobs (step metrics or evaluations) of a run after `since`.
pub async fn series(db: &SqlitePool, table: Series, run: i64, since: i64) -> AppResult<Vec<String>> {
    let sql = match table {
        Series::Steps => "SELECT data FROM step_metrics WHERE run_id = ? AND step > ? ORDER BY step",
        Series::Evals => "SELECT data FROM evaluations WHERE run_id = ? AND step > ? ORDER BY step",
    };
    Ok(sqlx::query_scalar::<_, String>(sql).bind(run).bind(since).fetch_all(db).await?)
}

#[derive(Debug, Clone, Copy)]
pub enum Series {
    Steps,
    Evals,
}

/// The engine's description of a run's latest start (device, split, probes, class names).
pub async fn run_info(db: &SqlitePool, run: i64) -> AppResult<Option<crate::engine::events::RunInfo>> {
    let json: Option<String> = sqlx::query_scalar("SELECT info FROM runs WHERE id = ?").bind(run).fetch_optional(db).await?.flatten();
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct ProbeRow {
    pub idx: i64,
    pub name: String,
    pub labeled: bool,
}

pub async fn probes(db: &SqlitePool, run: i64) -> AppResult<Vec<ProbeRow>> {
    Ok(sqlx::query_as::<_, ProbeRow>("SELECT idx, name, labeled FROM probes WHERE run_id = ? ORDER BY idx").bind(run).fetch_all(db).await?)
}

pub async fn snapshot_steps(db: &SqlitePool, run: i64) -> AppResult<Vec<i64>> {
    Ok(sqlx::query_scalar::<_, i64>("SELECT DISTINCT step FROM snapshot_layers WHERE run_id = ? ORDER BY step").bind(run).fetch_all(db).await?)
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct LayerRow {
    pub step: i64,
    pub probe: i64,
    pub layer: String,
    pub kind: String,
    #[serde(skip)]
    pub path: String,
    pub vmin: Option<f64>,
    pub vmax: Option<f64>,
    /// AUROC of this layer as a ranking of its model's wrong pixels in this image.
    pub auroc: Option<f64>,
}

const LAYER_COLUMNS: &str = "SELECT step, probe, layer, kind, path, vmin, vmax, auroc FROM snapshot_layers";

pub async fn layers(db: &SqlitePool, run: i64, step: i64) -> AppResult<Vec<LayerRow>> {
    Ok(sqlx::query_as::<_, LayerRow>(&format!("{LAYER_COLUMNS} WHERE run_id = ? AND step = ? ORDER BY probe, layer"))
        .bind(run)
        .bind(step)
        .fetch_all(db)
        .await?)
}

pub async fn layer(db: &SqlitePool, run: i64, step: i64, probe: i64, name: &str) -> AppResult<LayerRow> {
    sqlx::query_as::<_, LayerRow>(&format!("{LAYER_COLUMNS} WHERE run_id = ? AND step = ? AND probe = ? AND layer = ?"))
        .bind(run)
        .bind(step)
        .bind(probe)
        .bind(name)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("no layer {name} of probe {probe} at step {step}")))
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct CheckpointRow {
    pub step: i64,
    pub best: bool,
    #[serde(skip)]
    pub path: String,
    pub bytes: i64,
    pub sha256: String,
    pub metrics: Option<String>,
    pub created_at: i64,
}

const CHECKPOINT_COLUMNS: &str = "SELECT step, best, path, bytes, sha256, metrics, created_at FROM checkpoints";

pub async fn checkpoints(db: &SqlitePool, run: i64) -> AppResult<Vec<CheckpointRow>> {
    Ok(sqlx::query_as::<_, CheckpointRow>(&format!("{CHECKPOINT_COLUMNS} WHERE run_id = ? ORDER BY best, step")).bind(run).fetch_all(db).await?)
}

/// The newest periodic checkpoint (what a resume starts from).
pub async fn latest_checkpoint(db: &SqlitePool, run: i64) -> AppResult<Option<CheckpointRow>> {
    Ok(sqlx::query_as::<_, CheckpointRow>(&format!("{CHECKPOINT_COLUMNS} WHERE run_id = ? AND best = 0 ORDER BY step DESC LIMIT 1"))
        .bind(run)
        .fetch_optional(db)
        .await?)
}

/// Start-up: runs a crash left running are interrupted; returns queued runs to restart.
pub async fn recover(db: &SqlitePool) -> AppResult<Vec<i64>> {
    let n = sqlx::query("UPDATE runs SET status = 'interrupted', finished_at = ? WHERE status IN ('running', 'stopping')")
        .bind(now_ms())
        .execute(db)
        .await?
        .rows_affected();
    if n > 0 {
        tracing::warn!("{n} run(s) were left running by an earlier process: marked interrupted");
    }
    Ok(sqlx::query_scalar::<_, i64>("SELECT id FROM runs WHERE status = 'queued' ORDER BY id").fetch_all(db).await?)
}
