//! What a run leaves behind: its event log, step metrics, evaluations, probes, snapshot
//! layers and checkpoints; written by the recorder, read by the pages and the API.

use super::{StoreError, StoreResult, json, now_ms};
use crate::engine::events::{EvalReport, RunInfo, StepMetrics};
use crate::runs::status::RunStatus;
use serde::Serialize;
use sqlx::{FromRow, SqlitePool};

pub async fn add_event(db: &SqlitePool, id: i64, kind: &str, message: &str) -> StoreResult<()> {
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

pub async fn events(db: &SqlitePool, run: i64) -> StoreResult<Vec<EventRow>> {
    Ok(sqlx::query_as::<_, EventRow>("SELECT id, at, kind, message FROM run_events WHERE run_id = ? ORDER BY id").bind(run).fetch_all(db).await?)
}

/// JSON blobs (step metrics or evaluations) of a run after `since`.
pub async fn series(db: &SqlitePool, table: Series, run: i64, since: i64) -> StoreResult<Vec<String>> {
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
pub async fn run_info(db: &SqlitePool, run: i64) -> StoreResult<Option<RunInfo>> {
    let json: Option<String> = sqlx::query_scalar("SELECT info FROM runs WHERE id = ?").bind(run).fetch_optional(db).await?.flatten();
    Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
}

#[derive(Debug, Clone, FromRow, Serialize)]
pub struct ProbeRow {
    pub idx: i64,
    pub name: String,
    pub labeled: bool,
}

pub async fn probes(db: &SqlitePool, run: i64) -> StoreResult<Vec<ProbeRow>> {
    Ok(sqlx::query_as::<_, ProbeRow>("SELECT idx, name, labeled FROM probes WHERE run_id = ? ORDER BY idx").bind(run).fetch_all(db).await?)
}

pub async fn snapshot_steps(db: &SqlitePool, run: i64) -> StoreResult<Vec<i64>> {
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

pub async fn layers(db: &SqlitePool, run: i64, step: i64) -> StoreResult<Vec<LayerRow>> {
    Ok(sqlx::query_as::<_, LayerRow>(&format!("{LAYER_COLUMNS} WHERE run_id = ? AND step = ? ORDER BY probe, layer"))
        .bind(run)
        .bind(step)
        .fetch_all(db)
        .await?)
}

pub async fn layer(db: &SqlitePool, run: i64, step: i64, probe: i64, name: &str) -> StoreResult<LayerRow> {
    sqlx::query_as::<_, LayerRow>(&format!("{LAYER_COLUMNS} WHERE run_id = ? AND step = ? AND probe = ? AND layer = ?"))
        .bind(run)
        .bind(step)
        .bind(probe)
        .bind(name)
        .fetch_optional(db)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("no layer {name} of probe {probe} at step {step}")))
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

pub async fn checkpoints(db: &SqlitePool, run: i64) -> StoreResult<Vec<CheckpointRow>> {
    Ok(sqlx::query_as::<_, CheckpointRow>(&format!("{CHECKPOINT_COLUMNS} WHERE run_id = ? ORDER BY best, step")).bind(run).fetch_all(db).await?)
}

/// The newest periodic checkpoint (what a resume starts from).
pub async fn latest_checkpoint(db: &SqlitePool, run: i64) -> StoreResult<Option<CheckpointRow>> {
    Ok(sqlx::query_as::<_, CheckpointRow>(&format!("{CHECKPOINT_COLUMNS} WHERE run_id = ? AND best = 0 ORDER BY step DESC LIMIT 1"))
        .bind(run)
        .fetch_optional(db)
        .await?)
}

/// A (re)start: the history after the starting step is dropped, at once, the probes
/// replaced and the run's start recorded.
pub async fn restart(db: &SqlitePool, id: i64, info: &RunInfo) -> StoreResult<()> {
    let from = info.start_step as i64;
    let mut tx = db.begin().await?;
    for table in ["step_metrics", "evaluations", "snapshot_layers"] {
        sqlx::query(&format!("DELETE FROM {table} WHERE run_id = ? AND step > ?")).bind(id).bind(from).execute(&mut *tx).await?;
    }
    sqlx::query("DELETE FROM checkpoints WHERE run_id = ? AND step > ? AND best = 0").bind(id).bind(from).execute(&mut *tx).await?;
    sqlx::query("DELETE FROM probes WHERE run_id = ?").bind(id).execute(&mut *tx).await?;
    for (i, p) in info.probes.iter().enumerate() {
        sqlx::query("INSERT INTO probes (run_id, idx, name, labeled) VALUES (?, ?, ?, ?)")
            .bind(id)
            .bind(i as i64)
            .bind(&p.name)
            .bind(p.labeled)
            .execute(&mut *tx)
            .await?;
    }
    sqlx::query(
        "UPDATE runs SET device = ?, total_iterations = ?, current_step = ?, info = ?, started_at = COALESCE(started_at, ?), error = NULL WHERE id = ?",
    )
    .bind(&info.device)
    .bind(info.total_iterations as i64)
    .bind(from)
    .bind(json(info)?)
    .bind(now_ms())
    .bind(id)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

pub async fn add_step(db: &SqlitePool, id: i64, m: &StepMetrics) -> StoreResult<()> {
    sqlx::query("INSERT OR REPLACE INTO step_metrics (run_id, step, data) VALUES (?, ?, ?)").bind(id).bind(m.step as i64).bind(json(m)?).execute(db).await?;
    sqlx::query("UPDATE runs SET current_step = ? WHERE id = ?").bind(m.step as i64).bind(id).execute(db).await?;
    Ok(())
}

/// An evaluation, and each model's best score so far.
pub async fn add_evaluation(db: &SqlitePool, id: i64, r: &EvalReport) -> StoreResult<()> {
    sqlx::query("INSERT OR REPLACE INTO evaluations (run_id, step, data) VALUES (?, ?, ?)").bind(id).bind(r.step as i64).bind(json(r)?).execute(db).await?;
    let score = |m: &str| r.models.iter().find(|x| x.model == m).map(|x| x.score).filter(|s| s.is_finite());
    sqlx::query("UPDATE runs SET best_t1 = MAX(COALESCE(best_t1, -1e300), COALESCE(?, -1e300)), best_t2 = CASE WHEN ? IS NULL THEN best_t2 ELSE MAX(COALESCE(best_t2, -1e300), ?) END WHERE id = ?")
        .bind(score("T1"))
        .bind(score("T2"))
        .bind(score("T2"))
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// The latest evaluation's JSON.
pub async fn last_evaluation(db: &SqlitePool, run: i64) -> StoreResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT data FROM evaluations WHERE run_id = ? ORDER BY step DESC LIMIT 1").bind(run).fetch_optional(db).await?)
}

/// A checkpoint file as written (path relative to the data directory).
pub struct NewCheckpoint {
    pub step: i64,
    pub best: bool,
    pub path: String,
    pub bytes: i64,
    pub sha256: String,
}

/// Record a checkpoint, with the evaluation of its step when there is one.
pub async fn add_checkpoint(db: &SqlitePool, id: i64, c: &NewCheckpoint) -> StoreResult<()> {
    let metrics: Option<String> =
        sqlx::query_scalar("SELECT data FROM evaluations WHERE run_id = ? AND step = ?").bind(id).bind(c.step).fetch_optional(db).await?;
    sqlx::query("INSERT OR REPLACE INTO checkpoints (run_id, step, best, path, bytes, sha256, metrics, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .bind(id)
        .bind(c.step)
        .bind(c.best)
        .bind(&c.path)
        .bind(c.bytes)
        .bind(&c.sha256)
        .bind(metrics)
        .bind(now_ms())
        .execute(db)
        .await?;
    Ok(())
}

/// A run's final state (finished, stopped, failed) as the engine reported it.
pub async fn finish(db: &SqlitePool, id: i64, status: RunStatus, error: Option<&str>) -> StoreResult<()> {
    sqlx::query("UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?").bind(status).bind(now_ms()).bind(error).bind(id).execute(db).await?;
    Ok(())
}

/// A snapshot layer as written to disk (path relative to the data directory).
pub struct NewLayer {
    pub step: i64,
    pub probe: i64,
    pub layer: String,
    pub kind: &'static str,
    pub path: String,
    pub vmin: Option<f64>,
    pub vmax: Option<f64>,
    pub auroc: Option<f64>,
}

/// A snapshot's layers, all or none.
pub async fn add_layers(db: &SqlitePool, id: i64, layers: &[NewLayer]) -> StoreResult<()> {
    let mut tx = db.begin().await?;
    for w in layers {
        sqlx::query("INSERT OR REPLACE INTO snapshot_layers (run_id, step, probe, layer, kind, path, vmin, vmax, auroc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(id)
            .bind(w.step)
            .bind(w.probe)
            .bind(&w.layer)
            .bind(w.kind)
            .bind(&w.path)
            .bind(w.vmin)
            .bind(w.vmax)
            .bind(w.auroc)
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}
