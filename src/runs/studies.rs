//! Studies on the server side: stored as a config, expanded into ordinary runs (one per
//! cell, tagged `study-<id>`) that go through the normal queue; their table and
//! diagnostics are computed from the runs' recorded evaluations. Shared by the API, the
//! pages and the headless `flawmap study`.

use super::manager::RunManager;
use super::{RunsError, RunsResult};
use crate::config::{Algorithm, TaskKind};
use crate::engine::events::{EvalReport, ModelEval, RunInfo, StepMetrics};
use crate::runs::status::RunStatus;
use crate::store::{self, Origin, RunRow, Series};
use crate::study::budget::{self, RatioBudget};
use crate::study::diagnostics::Diagnostics;
use crate::study::{CellResult, ModelChoice, StudyConfig, StudyTable};
use serde::Serialize;
use sqlx::SqlitePool;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Study changes (create, sync, stop, resume, extend, delete) run one at a time: each
/// reads the study's runs and then queues or changes some, and two at once would queue a
/// cell twice or lose an extension.
static CHANGES: Mutex<()> = Mutex::const_new(());

pub use crate::store::studies::StudyRow;

pub async fn get(db: &SqlitePool, id: i64) -> RunsResult<StudyRow> {
    Ok(store::studies::get(db, id).await?)
}

pub async fn list(db: &SqlitePool) -> RunsResult<Vec<StudyRow>> {
    Ok(store::studies::list(db).await?)
}

pub async fn find_by_name(db: &SqlitePool, name: &str) -> RunsResult<Option<StudyRow>> {
    Ok(store::studies::find_by_name(db, name).await?)
}

/// The study's runs, by ratio, seed and creation.
pub async fn runs(db: &SqlitePool, id: i64) -> RunsResult<Vec<RunRow>> {
    Ok(store::studies::runs(db, id).await?)
}

/// Store a study (its dataset path already confined) and queue its runs.
pub async fn create(db: &SqlitePool, manager: &Arc<RunManager>, config: &StudyConfig) -> RunsResult<i64> {
    config.validate()?;
    let _one_at_a_time = CHANGES.lock().await;
    let id = store::studies::insert(db, config).await?;
    sync_locked(db, manager, id).await?;
    Ok(id)
}

/// Queue a run for every cell that has none yet; returns how many were queued. Finished
/// cells are never redone, so this is how a study resumes and grows.
pub async fn sync(db: &SqlitePool, manager: &Arc<RunManager>, id: i64) -> RunsResult<usize> {
    let _one_at_a_time = CHANGES.lock().await;
    sync_locked(db, manager, id).await
}

async fn sync_locked(db: &SqlitePool, manager: &Arc<RunManager>, id: i64) -> RunsResult<usize> {
    let config = get(db, id).await?.config()?;
    let existing = runs(db, id).await?;
    let mut queued = 0;
    for cell in config.cells() {
        if !existing.iter().any(|r| is_cell(r, cell.algorithm, cell.label_ratio, cell.seed)) {
            let config = cell.config.validated()?;
            manager.create(&config, &format!("study-{id}"), Origin { parent: None, study: Some(id) }).await?;
            queued += 1;
        }
    }
    Ok(queued)
}

/// Stop every queued or running run of the study (each gracefully, with a checkpoint).
pub async fn stop(db: &SqlitePool, manager: &Arc<RunManager>, id: i64) -> RunsResult<usize> {
    get(db, id).await?;
    let _one_at_a_time = CHANGES.lock().await;
    let mut n = 0;
    for r in runs(db, id).await? {
        if r.status.is_stoppable() {
            // A run may finish between the read and the stop: that is not an error here.
            if manager.stop(r.id).await.is_ok() {
                n += 1;
            }
        }
    }
    Ok(n)
}

/// Resume the study's stopped, failed and interrupted runs from their checkpoints and
/// queue the cells that have no run yet; finished runs stay as they are.
pub async fn resume(db: &SqlitePool, manager: &Arc<RunManager>, id: i64) -> RunsResult<usize> {
    let _one_at_a_time = CHANGES.lock().await;
    let mut n = sync_locked(db, manager, id).await?;
    let config = get(db, id).await?.config()?;
    let mut runs = runs(db, id).await?;
    // In the study's queue order (seed by seed), so partial results stay whole columns.
    let order = config.cells();
    runs.sort_by_key(|r| order.iter().position(|c| is_cell(r, c.algorithm, c.label_ratio, c.seed)).unwrap_or(usize::MAX));
    for r in runs {
        if r.status.is_resumable() {
            match manager.resume(r.id).await {
                Ok(_) => n += 1,
                // Resumed by someone else meanwhile: nothing to do.
                Err(RunsError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(n)
}

/// Whether a run is the study cell (algorithm, ratio, seed).
pub fn is_cell(r: &RunRow, algorithm: Algorithm, label_ratio: f64, seed: u64) -> bool {
    r.algorithm == algorithm.to_string() && r.label_ratio == label_ratio && r.seed == seed as i64
}

/// Delete a study that has no queued or running run, with its runs and their files.
pub async fn delete(db: &SqlitePool, manager: &Arc<RunManager>, id: i64) -> RunsResult<()> {
    let _one_at_a_time = CHANGES.lock().await;
    get(db, id).await?;
    let runs = runs(db, id).await?;
    if runs.iter().any(|r| r.status.is_active()) {
        return Err(RunsError::Conflict(format!("study {id} has queued or running runs: stop it before deleting it")));
    }
    for r in runs {
        manager.delete(r.id).await?;
    }
    Ok(store::studies::delete(db, id).await?)
}

/// Make the study and its unfinished runs use `device` (the CLI's --device on a resume).
pub async fn set_device(db: &SqlitePool, id: i64, device: crate::device::DeviceChoice) -> RunsResult<()> {
    let _one_at_a_time = CHANGES.lock().await;
    let mut config = get(db, id).await?.config()?;
    config.run.device = device;
    store::studies::set_config(db, id, &config).await?;
    for r in runs(db, id).await?.into_iter().filter(|r| r.status != RunStatus::Finished) {
        let mut c = r.config()?;
        c.device = device;
        store::set_config(db, r.id, &c).await?;
    }
    Ok(())
}

/// For a headless process that owns the study's runs (`flawmap study`): runs an earlier
/// process left queued, running or stopping are marked interrupted, so `resume` picks them
/// up from their checkpoints. The server recovers its runs at start instead.
pub async fn reclaim(db: &SqlitePool, id: i64) -> RunsResult<u64> {
    Ok(store::studies::interrupt_runs(db, id).await?)
}

/// Add ratios, algorithms or seeds; only the new cells are queued.
pub async fn extend(db: &SqlitePool, manager: &Arc<RunManager>, id: i64, ratios: &[f64], algorithms: &[Algorithm], seeds: &[u64]) -> RunsResult<usize> {
    let _one_at_a_time = CHANGES.lock().await;
    let config = get(db, id).await?.config()?.extended(ratios, algorithms, seeds);
    config.validate()?;
    store::studies::set_config(db, id, &config).await?;
    sync_locked(db, manager, id).await
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    pub cells: usize,
    pub finished: usize,
    pub active: usize,
    pub stopped: usize,
    pub failed: usize,
    /// Iterations done over iterations planned, all runs together.
    pub steps_done: i64,
    pub steps_total: i64,
    /// finished, running, stopped or failed (some runs failed and none is active).
    pub status: String,
}

pub fn progress(config: &StudyConfig, runs: &[RunRow]) -> Progress {
    let count = |of: fn(RunStatus) -> bool| runs.iter().filter(|r| of(r.status)).count();
    let mut p = Progress {
        cells: config.cell_count(),
        finished: count(|s| s == RunStatus::Finished),
        active: count(RunStatus::is_active),
        stopped: count(|s| matches!(s, RunStatus::Stopped | RunStatus::Interrupted)),
        failed: count(|s| s == RunStatus::Failed),
        steps_done: runs.iter().map(|r| r.current_step).sum(),
        // Runs that have not started do not know their length yet: use the study's budget.
        steps_total: runs.iter().map(|r| r.total_iterations.or(config.iterations.map(|n| n as i64)).unwrap_or(0).max(r.current_step)).sum::<i64>()
            + config.cell_count().saturating_sub(runs.len()) as i64 * config.iterations.unwrap_or(0) as i64,
        status: String::new(),
    };
    p.status = if p.finished == p.cells {
        "finished"
    } else if p.active > 0 {
        "running"
    } else if p.failed > 0 {
        "failed"
    } else {
        "stopped"
    }
    .into();
    p
}

/// The study's budget in epochs per label ratio, read from a started run of each ratio
/// (an epoch's length depends on the dataset, known once a run has loaded it).
pub fn budget(config: &StudyConfig, runs: &[RunRow]) -> Option<String> {
    let budgets: Vec<RatioBudget> = config
        .label_ratios
        .iter()
        .filter_map(|&ratio| {
            let info = runs.iter().filter(|r| r.label_ratio == ratio).find_map(|r| serde_json::from_str::<RunInfo>(r.info.as_deref()?).ok())?;
            Some(RatioBudget { label_ratio: ratio, total_iterations: info.total_iterations, iterations_per_epoch: info.iterations_per_epoch })
        })
        .collect();
    budget::describe(&budgets)
}

/// The metrics a study table can show for a run template, the headline first; binary
/// segmentation adds the salient-object metrics.
pub fn metrics_for(run: &crate::config::RunConfig) -> &'static [&'static str] {
    match run.task {
        TaskKind::Segmentation if run.data.num_classes == 2 => &["miou", "pixel_acc", "max_f", "mae"],
        TaskKind::Segmentation => &["miou", "pixel_acc"],
        TaskKind::Denoising | TaskKind::Lowlight => &["psnr", "ssim"],
    }
}

fn metric_of(m: &ModelEval, metric: &str) -> Option<f64> {
    match metric {
        "miou" => m.seg.as_ref().map(|s| s.miou),
        "pixel_acc" => m.seg.as_ref().map(|s| s.pixel_acc),
        "psnr" => m.psnr,
        "ssim" => m.ssim,
        "max_f" => m.sod.map(|s| s.max_f),
        "mae" => m.sod.map(|s| s.mae),
        _ => None,
    }
}

async fn final_eval(db: &SqlitePool, run: i64) -> RunsResult<Option<EvalReport>> {
    let data = store::last_evaluation(db, run).await?;
    Ok(data.and_then(|d| serde_json::from_str(&d).ok()))
}

/// The final validation metric of every finished run.
pub async fn results(db: &SqlitePool, runs: &[RunRow], metric: &str) -> RunsResult<Vec<(i64, CellResult)>> {
    let mut out = Vec::new();
    for r in runs.iter().filter(|r| r.status == RunStatus::Finished) {
        let Some(e) = final_eval(db, r.id).await? else {
            continue;
        };
        let value = |name: &str| e.models.iter().find(|m| m.model == name).and_then(|m| metric_of(m, metric));
        let (Some(t1), Ok(algorithm)) = (value("T1"), r.algorithm.parse::<Algorithm>()) else {
            continue;
        };
        out.push((r.id, CellResult { algorithm, label_ratio: r.label_ratio, seed: r.seed as u64, t1, t2: value("T2") }));
    }
    Ok(out)
}

/// The study's table for one metric and model choice.
pub async fn table(db: &SqlitePool, config: &StudyConfig, runs: &[RunRow], metric: &str, model: ModelChoice) -> RunsResult<StudyTable> {
    if !metrics_for(&config.run).contains(&metric) {
        return Err(RunsError::BadRequest(format!("metric '{metric}' is not one of {} for this study's task", metrics_for(&config.run).join(", "))));
    }
    let results: Vec<CellResult> = results(db, runs, metric).await?.into_iter().map(|(_, c)| c).collect();
    let mut ratios = config.label_ratios.clone();
    ratios.sort_by(f64::total_cmp);
    Ok(StudyTable::build(metric, model, config.seeds.len(), &ratios, &config.algorithms, &results))
}

/// Why GCT helps or not, per run with a flaw detector or a second model.
#[derive(Debug, Clone, Serialize)]
pub struct RunDiagnostics {
    pub run_id: i64,
    pub algorithm: String,
    pub label_ratio: f64,
    pub seed: i64,
    pub status: String,
    #[serde(flatten)]
    pub diagnostics: Diagnostics,
}

pub async fn diagnostics(db: &SqlitePool, config: &StudyConfig, runs: &[RunRow]) -> RunsResult<Vec<RunDiagnostics>> {
    let mut out = Vec::new();
    for r in runs.iter().filter(|r| r.algorithm != "suponly" && r.current_step > 0) {
        let steps: Vec<StepMetrics> = store::series(db, Series::Steps, r.id, 0).await?.iter().filter_map(|d| serde_json::from_str(d).ok()).collect();
        let evals: Vec<EvalReport> = store::series(db, Series::Evals, r.id, 0).await?.iter().filter_map(|d| serde_json::from_str(d).ok()).collect();
        out.push(RunDiagnostics {
            run_id: r.id,
            algorithm: r.algorithm.clone(),
            label_ratio: r.label_ratio,
            seed: r.seed,
            status: r.status.to_string(),
            diagnostics: Diagnostics::from_history(&steps, &evals, config.run.task == TaskKind::Segmentation, &config.run.class_names()),
        });
    }
    Ok(out)
}
