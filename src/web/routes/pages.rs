//! Server-rendered pages (askama). They read without JavaScript; scripts under static/
//! add live charts and the interactive inspector.

// The templates compare a &str with a String through to_string() (askama cannot compare
// them directly); the generated code trips clippy's cmp_owned.
#![allow(clippy::cmp_owned)]

use super::form::{self, Field, Group};
use super::ids::RunId;
use super::runs_api::{clean_tags, create_runs, preset_configs};
use crate::config::{Algorithm, FieldError, RunConfig, TaskKind};
use crate::runs::datasets;
use crate::runs::status::RunStatus;
use crate::store::{self as db, CheckpointRow, EventRow, RunRow, now_ms};
use crate::web::error::AppError;
use crate::web::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(runs_page))
        .route("/runs.csv", get(runs_csv))
        .route("/runs/new", get(new_page))
        .route("/runs", post(create_from_form))
        .route("/runs/preset", post(create_preset))
        .route("/runs/{id}", get(run_page))
        .route("/runs/{id}/inspect", get(inspect_page))
        .route("/compare", get(compare_page))
        .route("/runs/{id}/{action}", post(run_action))
}

pub(super) type PageResult = Result<Response, Response>;

/// Render a page; a template error is a 500 page. (Both arms are responses: the error is as
/// large as the page, by design.)
#[allow(clippy::result_large_err)]
pub(super) fn page<T: Template>(t: T) -> PageResult {
    t.render().map(|h| Html(h).into_response()).map_err(|e| AppError::Internal(e.to_string()).into_html())
}

pub(super) fn html_err(e: impl Into<AppError>) -> Response {
    e.into().into_html()
}

struct RunLine {
    id: i64,
    name: String,
    status: String,
    task: String,
    algorithm: String,
    archs: String,
    label_ratio: String,
    step: i64,
    total: i64,
    eta: String,
    best_t1: String,
    best_t2: String,
    tags: String,
}

fn fmt_score(v: Option<f64>) -> String {
    v.map(|s| format!("{s:.4}")).unwrap_or_else(|| "-".into())
}

fn line(r: &RunRow) -> RunLine {
    let total = r.total_iterations.unwrap_or(0);
    let eta = match (r.status, r.started_at) {
        (RunStatus::Running, Some(t0)) if r.current_step > 0 && total > r.current_step => {
            let per = (now_ms() - t0) as f64 / r.current_step as f64;
            format!("~{}s left", ((total - r.current_step) as f64 * per / 1000.0).round())
        }
        _ => String::new(),
    };
    RunLine {
        id: r.id,
        name: r.name.clone(),
        status: r.status.to_string(),
        task: r.task.clone(),
        algorithm: r.algorithm.clone(),
        archs: format!("{} / {}", r.arch_t1, r.arch_t2.clone().unwrap_or_else(|| "-".into())),
        label_ratio: format!("{:.4}", r.label_ratio),
        step: r.current_step,
        total,
        eta,
        best_t1: fmt_score(r.best_t1),
        best_t2: fmt_score(r.best_t2),
        tags: r.tags.clone(),
    }
}

#[derive(Template)]
#[template(path = "runs.html")]
struct RunsPage {
    runs: Vec<RunLine>,
    statuses: Vec<&'static str>,
    status: String,
    tag: String,
}

#[derive(Deserialize)]
struct RunsQuery {
    status: Option<String>,
    tag: Option<String>,
}

async fn runs_page(State(s): State<AppState>, Query(q): Query<RunsQuery>) -> PageResult {
    let status = q.status.unwrap_or_default();
    let tag = q.tag.unwrap_or_default();
    let rows = db::list_runs(&s.db, Some(status.as_str()).filter(|v| !v.is_empty()), Some(tag.as_str()).filter(|v| !v.is_empty())).await.map_err(html_err)?;
    page(RunsPage { runs: rows.iter().map(line).collect(), statuses: RunStatus::ALL.iter().map(|s| s.as_str()).collect(), status, tag })
}

async fn runs_csv(State(s): State<AppState>) -> Result<Response, AppError> {
    let rows = db::list_runs(&s.db, None, None).await?;
    let mut out = String::from("id,name,status,task,algorithm,arch_t1,arch_t2,label_ratio,seed,step,total_iterations,best_t1,best_t2,tags\n");
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    for r in rows {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
            r.id,
            q(&r.name),
            r.status,
            r.task,
            r.algorithm,
            r.arch_t1,
            r.arch_t2.unwrap_or_default(),
            r.label_ratio,
            r.seed,
            r.current_step,
            r.total_iterations.map(|t| t.to_string()).unwrap_or_default(),
            r.best_t1.map(|v| v.to_string()).unwrap_or_default(),
            r.best_t2.map(|v| v.to_string()).unwrap_or_default(),
            q(&r.tags)
        ));
    }
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8"), (header::CONTENT_DISPOSITION, "attachment; filename=\"flawmap-runs.csv\"")], out).into_response())
}

#[derive(Template)]
#[template(path = "new_run.html")]
struct NewRunPage {
    essentials: Vec<Field>,
    advanced: Vec<Group>,
    advanced_open: bool,
    advanced_count: usize,
    errors: Vec<FieldError>,
    datasets: Vec<String>,
    tags: String,
    /// Largest upload in bytes (the page refuses bigger files before sending them).
    max_upload: usize,
}

fn new_run_page(s: &AppState, config: &RunConfig, typed: &[(String, String)], errors: Vec<FieldError>) -> NewRunPage {
    let get = |k: &str| typed.iter().find(|(f, _)| f == k).map(|(_, v)| v.clone());
    let built = form::build(config, typed, &errors);
    NewRunPage {
        advanced_count: built.advanced_count(),
        essentials: built.essentials,
        advanced: built.advanced,
        advanced_open: built.advanced_open,
        errors,
        datasets: datasets::list(&s.dataset_roots),
        tags: get("tags").unwrap_or_default(),
        max_upload: crate::web::BODY_LIMIT,
    }
}

#[derive(Deserialize)]
struct NewQuery {
    /// Preselected dataset (after an upload).
    kind: Option<String>,
    path: Option<String>,
}

async fn new_page(State(s): State<AppState>, Query(q): Query<NewQuery>) -> PageResult {
    // An uploaded restoration set preselects the task it most likely is for.
    let task = match q.kind.as_deref() {
        Some("pairs") => Some(TaskKind::Lowlight),
        Some("photos") => Some(TaskKind::Denoising),
        _ => None,
    };
    let config = RunConfig::shapes_demo(Algorithm::Gct).with_task_defaults(task.unwrap_or(TaskKind::Segmentation));
    let typed: Vec<(String, String)> =
        [("data.source.kind", q.kind), ("data.source.path", q.path)].into_iter().filter_map(|(k, v)| v.map(|v| (k.to_string(), v))).collect();
    page(new_run_page(&s, &config, &typed, Vec::new()))
}

async fn create_from_form(State(s): State<AppState>, Form(fields): Form<Vec<(String, String)>>) -> PageResult {
    let tags = fields.iter().find(|(k, _)| k == "tags").map(|(_, v)| clean_tags(v)).unwrap_or_default();
    let result = form::parse(&fields).map_err(AppError::InvalidConfig);
    let result = match result {
        Ok(c) => create_runs(&s, vec![c], &tags).await,
        Err(e) => Err(e),
    };
    match result {
        Ok(ids) => Ok(Redirect::to(&format!("/runs/{}", ids[0])).into_response()),
        Err(AppError::InvalidConfig(errors)) => {
            let mut p = new_run_page(&s, &RunConfig::shapes_demo(Algorithm::Gct), &fields, errors);
            p.tags = tags;
            let mut res = page(p)?;
            *res.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(res)
        }
        Err(e @ AppError::Forbidden(_)) => {
            let errors = vec![FieldError { field: "data.source.path".into(), message: e.to_string() }];
            let mut res = page(new_run_page(&s, &RunConfig::shapes_demo(Algorithm::Gct), &fields, errors))?;
            *res.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
            Ok(res)
        }
        Err(e) => Err(e.into_html()),
    }
}

#[derive(Deserialize)]
struct PresetForm {
    preset: String,
}

async fn create_preset(State(s): State<AppState>, Form(f): Form<PresetForm>) -> PageResult {
    let configs = preset_configs(&f.preset).map_err(html_err)?;
    let tags = if f.preset == "pair" { format!("pair-{}", now_ms()) } else { String::new() };
    let ids = create_runs(&s, configs, &tags).await.map_err(html_err)?;
    Ok(Redirect::to(&format!("/runs/{}", ids[0])).into_response())
}

#[derive(Template)]
#[template(path = "run.html")]
struct RunPage {
    run: RunLine,
    device: String,
    /// How the dataset's masks were read, from the engine's start report.
    masks: String,
    /// Binary segmentation: the page also charts the salient-object metrics.
    binary: bool,
    /// Segmentation: the class names as a JSON array, for the IoU-per-class table.
    classes_json: String,
    error: String,
    config_json: String,
    checkpoints: Vec<CheckpointRow>,
    events: Vec<EventRow>,
    can_stop: bool,
    can_resume: bool,
    parent: Option<i64>,
}

async fn run_page(State(s): State<AppState>, RunId(id): RunId) -> PageResult {
    let row = db::get_run(&s.db, id).await.map_err(html_err)?;
    let config: serde_json::Value = serde_json::from_str(&row.config).unwrap_or_default();
    let events = db::events(&s.db, id).await.map_err(html_err)?;
    let info = row.info.as_deref().and_then(|i| serde_json::from_str::<crate::engine::events::RunInfo>(i).ok());
    // Before the engine's start report, the names the config gives.
    let classes = info.as_ref().map(|i| i.class_names.clone()).or_else(|| row.config().ok().map(|c| c.class_names())).unwrap_or_default();
    page(RunPage {
        run: line(&row),
        device: row.device.clone().unwrap_or_default(),
        masks: info.and_then(|i| i.masks).unwrap_or_default(),
        classes_json: serde_json::to_string(&classes).unwrap_or_default(),
        binary: row.task == "segmentation" && config["data"]["num_classes"] == 2,
        error: row.error.clone().unwrap_or_default(),
        config_json: serde_json::to_string_pretty(&config).unwrap_or_default(),
        checkpoints: db::checkpoints(&s.db, id).await.map_err(html_err)?,
        events,
        can_stop: row.status.is_stoppable(),
        can_resume: row.status.is_resumable(),
        parent: row.parent_id,
    })
}

#[derive(Template)]
#[template(path = "inspect.html")]
struct InspectPage {
    run: RunLine,
    /// The flaw threshold the run trained with: the ξ slider's starting point.
    xi: f64,
    /// The run's dc margin (0 in the spec), so the recomputed masks follow its rule.
    dc_margin: f64,
    /// gct.dc_confidence_gate: the stored dc masks are gated; the page's recomputation is not.
    confidence_gate: bool,
}

async fn inspect_page(State(s): State<AppState>, RunId(id): RunId) -> PageResult {
    let row = db::get_run(&s.db, id).await.map_err(html_err)?;
    let gct = row.config().map(|c| c.gct).unwrap_or_default();
    page(InspectPage { run: line(&row), xi: gct.dc_threshold, dc_margin: gct.dc_margin, confidence_gate: gct.dc_confidence_gate })
}

#[derive(Template)]
#[template(path = "compare.html")]
struct ComparePage {
    a: RunLine,
    b: RunLine,
}

#[derive(Deserialize)]
struct CompareQuery {
    a: String,
    b: String,
}

async fn compare_page(State(s): State<AppState>, Query(q): Query<CompareQuery>) -> PageResult {
    let (a, b) = (super::positive_id(&q.a, "run").map_err(html_err)?, super::positive_id(&q.b, "run").map_err(html_err)?);
    let a = db::get_run(&s.db, a).await.map_err(html_err)?;
    let b = db::get_run(&s.db, b).await.map_err(html_err)?;
    page(ComparePage { a: line(&a), b: line(&b) })
}

async fn run_action(State(s): State<AppState>, RunId(id): RunId, Path((_, action)): Path<(String, String)>) -> PageResult {
    match action.as_str() {
        "stop" => {
            s.runs.stop(id).await.map_err(html_err)?;
        }
        "resume" => {
            s.runs.resume(id).await.map_err(html_err)?;
        }
        "evaluate" => {
            s.runs.evaluate(id).await.map_err(html_err)?;
        }
        "delete" => {
            s.runs.delete(id).await.map_err(html_err)?;
            return Ok(Redirect::to("/").into_response());
        }
        "clone" => {
            let row = db::get_run(&s.db, id).await.map_err(html_err)?;
            let config = row.config().map_err(html_err)?;
            let fields = form_fields(&config);
            let mut p = new_run_page(&s, &config, &fields, Vec::new());
            p.tags = row.tags;
            return page(p);
        }
        other => return Err(AppError::NotFound(format!("no action '{other}'")).into_html()),
    }
    Ok(Redirect::to(&format!("/runs/{id}")).into_response())
}

/// A config as form fields (for "clone with edits").
fn form_fields(config: &RunConfig) -> Vec<(String, String)> {
    form::build(config, &[], &[]).fields().map(|f| (f.key, f.value)).collect()
}
