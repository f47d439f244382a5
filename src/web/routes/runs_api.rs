//! /api/runs: create, list, get, stop, resume, clone; metrics and events.

use super::ids::RunId;
use crate::config::{Algorithm, RunConfig};
use crate::engine::events::EvalReport;
use crate::runs::datasets::confine_config;
use crate::store::{self as db, RunRow, Series};
use crate::web::error::{AppError, AppResult};
use crate::web::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/runs", get(list).post(create))
        .route("/api/runs/{id}", get(show).delete(delete))
        .route("/api/runs/{id}/stop", post(stop))
        .route("/api/runs/{id}/resume", post(resume))
        .route("/api/runs/{id}/evaluate", post(evaluate))
        .route("/api/runs/{id}/clone", post(clone_run))
        .route("/api/runs/{id}/metrics", get(metrics))
        .route("/api/runs/{id}/events", get(events))
        .route("/api/presets/{name}", get(preset))
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    pub status: Option<String>,
    pub tag: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RunView {
    #[serde(flatten)]
    pub row: RunRow,
    pub config: serde_json::Value,
    /// The engine's description of the latest start: device, labelled/unlabelled split,
    /// probes, class names (null before the run starts).
    pub info: Option<serde_json::Value>,
}

fn view(row: RunRow) -> RunView {
    let config = serde_json::from_str(&row.config).unwrap_or_default();
    let info = row.info.as_deref().and_then(|i| serde_json::from_str(i).ok());
    RunView { row, config, info }
}

async fn list(State(s): State<AppState>, Query(q): Query<ListQuery>) -> AppResult<Json<Vec<RunView>>> {
    let rows = db::list_runs(&s.db, q.status.as_deref().filter(|v| !v.is_empty()), q.tag.as_deref().filter(|v| !v.is_empty())).await?;
    Ok(Json(rows.into_iter().map(view).collect()))
}

/// POST body: a full config, or a preset on the built-in set; `pair` queues a GCT and a
/// SupOnly run on the same split.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRun {
    pub config: Option<serde_json::Value>,
    pub preset: Option<String>,
    #[serde(default)]
    pub tags: String,
}

#[derive(Debug, Serialize)]
pub struct Created {
    pub ids: Vec<i64>,
}

/// Parse a config from JSON with field-level errors (validated by [`create_runs`]).
pub fn parse_config(v: serde_json::Value) -> AppResult<RunConfig> {
    serde_json::from_value(v).map_err(|e| AppError::InvalidConfig(vec![crate::config::FieldError { field: "config".into(), message: e.to_string() }]))
}

pub fn preset_configs(name: &str) -> AppResult<Vec<RunConfig>> {
    match name {
        "gct" => Ok(vec![RunConfig::shapes_demo(Algorithm::Gct)]),
        "suponly" => Ok(vec![RunConfig::shapes_demo(Algorithm::Suponly)]),
        "pair" => Ok(vec![RunConfig::shapes_demo(Algorithm::Gct), RunConfig::shapes_demo(Algorithm::Suponly)]),
        other => Err(AppError::BadRequest(format!("unknown preset '{other}' (gct, suponly, pair)"))),
    }
}

pub async fn create_runs(s: &AppState, configs: Vec<RunConfig>, tags: &str) -> AppResult<Vec<i64>> {
    let mut ids = Vec::new();
    // Checked before any is queued, so a pair is queued whole or not at all; the one
    // validation on the way from the request to the trainer.
    let mut valid = Vec::new();
    for c in configs {
        valid.push(confine_config(c, &s.dataset_roots)?.validated()?);
    }
    for c in &valid {
        ids.push(s.runs.create(c, tags, db::Origin::default()).await?);
    }
    Ok(ids)
}

async fn create(State(s): State<AppState>, Json(body): Json<CreateRun>) -> AppResult<(StatusCode, Json<Created>)> {
    let configs = match (body.config, body.preset) {
        (Some(c), None) => vec![parse_config(c)?],
        (None, Some(p)) => preset_configs(&p)?,
        _ => {
            return Err(AppError::BadRequest("give exactly one of 'config' or 'preset'".into()));
        }
    };
    let ids = create_runs(&s, configs, &clean_tags(&body.tags)).await?;
    Ok((StatusCode::CREATED, Json(Created { ids })))
}

pub fn clean_tags(raw: &str) -> String {
    raw.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| t.chars().filter(|c| c.is_alphanumeric() || "-_.".contains(*c)).collect::<String>())
        .collect::<Vec<_>>()
        .join(",")
}

/// The configs a preset would queue, to edit and POST back.
async fn preset(Path(name): Path<String>) -> AppResult<Json<Vec<RunConfig>>> {
    Ok(Json(preset_configs(&name)?))
}

async fn show(State(s): State<AppState>, RunId(id): RunId) -> AppResult<Json<RunView>> {
    Ok(Json(view(db::get_run(&s.db, id).await?)))
}

/// 204; 409 while the run is queued or running.
async fn delete(State(s): State<AppState>, RunId(id): RunId) -> AppResult<StatusCode> {
    s.runs.delete(id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn stop(State(s): State<AppState>, RunId(id): RunId) -> AppResult<Json<RunView>> {
    Ok(Json(view(s.runs.stop(id).await?)))
}

/// 202: the evaluation runs after the current iteration and arrives as an `eval` event.
async fn evaluate(State(s): State<AppState>, RunId(id): RunId) -> AppResult<(StatusCode, Json<RunView>)> {
    Ok((StatusCode::ACCEPTED, Json(view(s.runs.evaluate(id).await?))))
}

async fn resume(State(s): State<AppState>, RunId(id): RunId) -> AppResult<Json<RunView>> {
    Ok(Json(view(s.runs.resume(id).await?)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloneRun {
    /// The edited config; absent: the parent's config unchanged.
    pub config: Option<serde_json::Value>,
    #[serde(default)]
    pub tags: Option<String>,
}

async fn clone_run(State(s): State<AppState>, RunId(id): RunId, Json(body): Json<CloneRun>) -> AppResult<(StatusCode, Json<Created>)> {
    let parent = db::get_run(&s.db, id).await?;
    let config = match body.config {
        Some(c) => parse_config(c)?,
        None => parent.config()?,
    };
    let config = confine_config(config, &s.dataset_roots)?.validated()?;
    let tags = body.tags.map(|t| clean_tags(&t)).unwrap_or(parent.tags.clone());
    let new = s.runs.create(&config, &tags, db::Origin { parent: Some(parent.id), study: None }).await?;
    Ok((StatusCode::CREATED, Json(Created { ids: vec![new] })))
}

#[derive(Debug, Deserialize)]
pub struct Since {
    #[serde(default)]
    pub since: i64,
}

async fn metrics(State(s): State<AppState>, RunId(id): RunId, Query(q): Query<Since>) -> AppResult<Json<serde_json::Value>> {
    let run = db::get_run(&s.db, id).await?;
    let parse = |v: Vec<String>| v.into_iter().filter_map(|j| serde_json::from_str::<serde_json::Value>(&j).ok()).collect::<Vec<_>>();
    let steps = parse(db::series(&s.db, Series::Steps, id, q.since).await?);
    let mut evals = parse(db::series(&s.db, Series::Evals, id, q.since).await?);
    // Unreadable config: the sentence still comes, with "class k" for the names.
    let names = run.config().map(|c| c.class_names()).unwrap_or_default();
    evals.iter_mut().for_each(|e| fill_class_verdict(e, &names));
    Ok(Json(serde_json::json!({ "steps": steps, "evals": evals })))
}

/// Evaluations recorded before the engine wrote its sentence on missed classes get it on
/// read, from their stored IoUs, so older runs' pages say it too.
fn fill_class_verdict(eval: &mut serde_json::Value, names: &[String]) {
    if eval.get("class_verdict").is_some_and(|v| !v.is_null()) {
        return;
    }
    let Ok(report) = serde_json::from_value::<EvalReport>(eval.clone()) else { return };
    if let (Some(verdict), Some(obj)) = (report.class_verdict(names), eval.as_object_mut()) {
        obj.insert("class_verdict".into(), verdict.into());
    }
}

async fn events(State(s): State<AppState>, RunId(id): RunId) -> AppResult<Json<Vec<db::EventRow>>> {
    db::get_run(&s.db, id).await?;
    Ok(Json(db::events(&s.db, id).await?))
}
