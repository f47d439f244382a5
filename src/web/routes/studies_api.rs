//! /api/studies: create, list, get, stop, resume, extend; the table (JSON, CSV, Markdown)
//! and per-run diagnostics.

use super::ids::StudyId;
use crate::config::{Algorithm, FieldError};
use crate::runs::datasets::confine_config;
use crate::runs::studies::{self, Progress, RunDiagnostics, StudyRow};
use crate::study::{ModelChoice, StudyConfig, StudyTable};
use crate::web::error::{AppError, AppResult};
use crate::web::state::AppState;
use axum::extract::{Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/studies", get(list).post(create))
        .route("/api/studies/{id}", get(show).delete(delete))
        .route("/api/studies/{id}/table", get(table))
        .route("/api/studies/{id}/diagnostics", get(diagnostics))
        .route("/api/studies/{id}/stop", post(stop))
        .route("/api/studies/{id}/resume", post(resume))
        .route("/api/studies/{id}/extend", post(extend))
}

/// POST body: the study config as JSON, or the text of a study TOML file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateStudy {
    pub config: Option<serde_json::Value>,
    pub toml: Option<String>,
}

/// Parse, validate and confine a study config (its dataset must be under a dataset root).
pub fn parse_study(body: CreateStudy, roots: &[std::path::PathBuf]) -> AppResult<StudyConfig> {
    let mut config = match (body.config, body.toml) {
        (Some(c), None) => StudyConfig::from_json(c)?,
        (None, Some(t)) => StudyConfig::from_toml(&t)?,
        _ => {
            return Err(AppError::BadRequest("give exactly one of 'config' or 'toml'".into()));
        }
    };
    config.run = confine_config(config.run, roots)?;
    Ok(config)
}

#[derive(Debug, Serialize)]
pub struct StudyView {
    #[serde(flatten)]
    pub row: StudyRow,
    pub config: StudyConfig,
    pub progress: Progress,
    pub runs: Vec<StudyRun>,
}

#[derive(Debug, Serialize)]
pub struct StudyRun {
    pub id: i64,
    pub algorithm: String,
    pub label_ratio: f64,
    pub seed: i64,
    pub status: String,
    pub current_step: i64,
    pub total_iterations: Option<i64>,
}

async fn view(s: &AppState, row: StudyRow) -> AppResult<StudyView> {
    let config = row.config()?;
    let runs = studies::runs(&s.db, row.id).await?;
    let progress = studies::progress(&config, &runs);
    let runs = runs
        .into_iter()
        .map(|r| StudyRun {
            id: r.id,
            algorithm: r.algorithm,
            label_ratio: r.label_ratio,
            seed: r.seed,
            status: r.status.to_string(),
            current_step: r.current_step,
            total_iterations: r.total_iterations,
        })
        .collect();
    Ok(StudyView { row, config, progress, runs })
}

async fn list(State(s): State<AppState>) -> AppResult<Json<Vec<StudyView>>> {
    let mut out = Vec::new();
    for row in studies::list(&s.db).await? {
        // One unreadable study (written by an older version) must not hide the others.
        match view(&s, row).await {
            Ok(v) => out.push(v),
            Err(e) => tracing::warn!("study list: {e}"),
        }
    }
    Ok(Json(out))
}

#[derive(Debug, Serialize)]
struct Created {
    id: i64,
}

async fn create(State(s): State<AppState>, Json(body): Json<CreateStudy>) -> AppResult<(StatusCode, Json<Created>)> {
    let config = parse_study(body, &s.dataset_roots)?;
    let id = studies::create(&s.db, &s.runs, &config).await?;
    Ok((StatusCode::CREATED, Json(Created { id })))
}

async fn show(State(s): State<AppState>, StudyId(id): StudyId) -> AppResult<Json<StudyView>> {
    let row = studies::get(&s.db, id).await?;
    Ok(Json(view(&s, row).await?))
}

#[derive(Debug, Deserialize)]
pub struct TableQuery {
    pub metric: Option<String>,
    pub model: Option<String>,
    /// json (default), csv or md.
    pub format: Option<String>,
}

/// The table the query asks for (metric defaults to the task's headline, model to T1).
pub async fn table_for(s: &AppState, id: i64, q: &TableQuery) -> AppResult<(StudyRow, StudyTable)> {
    let row = studies::get(&s.db, id).await?;
    let config = row.config()?;
    let metric = q.metric.clone().filter(|m| !m.is_empty()).unwrap_or_else(|| studies::metrics_for(&config.run)[0].to_string());
    let model = match q.model.as_deref().filter(|m| !m.is_empty()) {
        None => ModelChoice::T1,
        Some(m) => ModelChoice::parse(m).ok_or_else(|| AppError::BadRequest(format!("model '{m}' is not one of t1, t2, mean, best")))?,
    };
    let runs = studies::runs(&s.db, id).await?;
    let table = studies::table(&s.db, &config, &runs, &metric, model).await?;
    Ok((row, table))
}

async fn table(State(s): State<AppState>, StudyId(id): StudyId, Query(q): Query<TableQuery>) -> AppResult<Response> {
    let (_, table) = table_for(&s, id, &q).await?;
    let file = |ext: &str| format!("attachment; filename=\"study-{id}-{}-{}.{ext}\"", table.metric, table.model.key());
    Ok(match q.format.as_deref().unwrap_or("json") {
        "json" => Json(table).into_response(),
        "csv" => ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, file("csv"))], table.to_csv()).into_response(),
        "md" => ([(header::CONTENT_TYPE, "text/markdown; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, file("md"))], table.to_markdown())
            .into_response(),
        other => {
            return Err(AppError::BadRequest(format!("format '{other}' is not one of json, csv, md")));
        }
    })
}

async fn diagnostics(State(s): State<AppState>, StudyId(id): StudyId) -> AppResult<Json<Vec<RunDiagnostics>>> {
    let row = studies::get(&s.db, id).await?;
    let runs = studies::runs(&s.db, row.id).await?;
    Ok(Json(studies::diagnostics(&s.db, &row.config()?, &runs).await?))
}

#[derive(Debug, Serialize)]
struct Changed {
    runs: usize,
}

/// 204; 409 while some of its runs are queued or running.
async fn delete(State(s): State<AppState>, StudyId(id): StudyId) -> AppResult<StatusCode> {
    studies::delete(&s.db, &s.runs, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stop(State(s): State<AppState>, StudyId(id): StudyId) -> AppResult<Json<Changed>> {
    Ok(Json(Changed { runs: studies::stop(&s.db, &s.runs, id).await? }))
}

async fn resume(State(s): State<AppState>, StudyId(id): StudyId) -> AppResult<Json<Changed>> {
    Ok(Json(Changed { runs: studies::resume(&s.db, &s.runs, id).await? }))
}

/// POST body of /extend: what to add; everything optional.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Extend {
    #[serde(default)]
    pub label_ratios: Vec<f64>,
    #[serde(default)]
    pub algorithms: Vec<Algorithm>,
    #[serde(default)]
    pub seeds: Vec<u64>,
}

async fn extend(State(s): State<AppState>, StudyId(id): StudyId, Json(body): Json<Extend>) -> AppResult<Json<Changed>> {
    if body.label_ratios.is_empty() && body.algorithms.is_empty() && body.seeds.is_empty() {
        return Err(AppError::InvalidConfig(vec![FieldError { field: "seeds".into(), message: "give label_ratios, algorithms or seeds to add".into() }]));
    }
    Ok(Json(Changed { runs: studies::extend(&s.db, &s.runs, id, &body.label_ratios, &body.algorithms, &body.seeds).await? }))
}
