//! Study pages: the list, the new-study form (a TOML editor with the built-in presets) and
//! a study's page with the paper-style table, its chart, diagnostics and actions.

// The templates compare a &str with a String through to_string() (askama cannot compare
// them directly); the generated code trips clippy's cmp_owned.
#![allow(clippy::cmp_owned)]

use super::ids::StudyId;
use super::pages::{PageResult, html_err, page};
use super::studies_api::{CreateStudy, TableQuery, parse_study, table_for};
use crate::config::{Algorithm, FieldError};
use crate::runs::studies::{self, Progress};
use crate::study::StudyConfig;
use crate::study::config::ratio_label;
use crate::study::table::algorithm_label;
use crate::web::error::AppError;
use crate::web::state::AppState;
use askama::Template;
use axum::Router;
use axum::extract::{Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use serde::Deserialize;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/studies", get(list_page).post(create_from_form))
        .route("/studies/new", get(new_page))
        .route("/studies/{id}", get(study_page))
        .route("/studies/{id}/{action}", post(action))
}

struct StudyLine {
    id: i64,
    name: String,
    task: String,
    grid: String,
    progress: Progress,
}

#[derive(Template)]
#[template(path = "studies.html")]
struct StudiesPage {
    studies: Vec<StudyLine>,
}

async fn list_page(State(s): State<AppState>) -> PageResult {
    let mut studies = Vec::new();
    for row in studies::list(&s.db).await.map_err(html_err)? {
        // One unreadable study (written by an older version) must not hide the others.
        let config = match row.config() {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!("study list: {e}");
                continue;
            }
        };
        let runs = studies::runs(&s.db, row.id).await.map_err(html_err)?;
        studies.push(StudyLine {
            id: row.id,
            name: row.name,
            task: format!("{:?}", config.run.task).to_lowercase(),
            grid: format!("{} ratios x {} algorithms x {} seeds", config.label_ratios.len(), config.algorithms.len(), config.seeds.len()),
            progress: studies::progress(&config, &runs),
        });
    }
    page(StudiesPage { studies })
}

#[derive(Template)]
#[template(path = "new_study.html")]
struct NewStudyPage {
    toml: String,
    /// The preset in the editor: "paper" (the built-in study) or "quick"; empty after a
    /// refused post, which shows the posted text.
    preset: &'static str,
    errors: Vec<FieldError>,
    datasets: Vec<String>,
}

#[derive(Deserialize)]
struct NewStudyQuery {
    preset: Option<String>,
}

/// The editor starts from the built-in study at the paper's budget (hours on a 2-core CPU)
/// or, with `?preset=quick`, at the demo's (half an hour, too short for GCT's gain at 1/8).
async fn new_page(State(s): State<AppState>, Query(q): Query<NewStudyQuery>) -> PageResult {
    let (preset, config) = match q.preset.as_deref() {
        None | Some("paper") => ("paper", StudyConfig::shapes_paper()),
        Some("quick") => ("quick", StudyConfig::shapes_quick()),
        Some(other) => return Err(AppError::BadRequest(format!("unknown preset '{other}': use paper or quick")).into_html()),
    };
    let toml = toml::to_string(&config).map_err(|e| AppError::Internal(e.to_string()).into_html())?;
    page(NewStudyPage { toml, preset, errors: Vec::new(), datasets: crate::runs::datasets::list(&s.dataset_roots) })
}

#[derive(Deserialize)]
struct NewStudyForm {
    toml: String,
}

async fn create_from_form(State(s): State<AppState>, Form(f): Form<NewStudyForm>) -> PageResult {
    let result = match parse_study(CreateStudy { config: None, toml: Some(f.toml.clone()) }, &s.dataset_roots) {
        Ok(config) => studies::create(&s.db, &s.runs, &config).await.map_err(AppError::from),
        Err(e) => Err(e),
    };
    let errors = match result {
        Ok(id) => return Ok(Redirect::to(&format!("/studies/{id}")).into_response()),
        Err(AppError::InvalidConfig(errors)) => errors,
        Err(e @ AppError::Forbidden(_)) => vec![FieldError { field: "run.data.source.path".into(), message: e.to_string() }],
        Err(e) => return Err(e.into_html()),
    };
    let mut res = page(NewStudyPage { toml: f.toml, preset: "", errors, datasets: crate::runs::datasets::list(&s.dataset_roots) })?;
    *res.status_mut() = axum::http::StatusCode::UNPROCESSABLE_ENTITY;
    Ok(res)
}

struct RunLink {
    id: i64,
    seed: i64,
    status: String,
}

struct Cell {
    text: String,
    best: bool,
    runs: Vec<RunLink>,
}

struct Row {
    label: &'static str,
    cells: Vec<Cell>,
}

struct CompareLink {
    ratio: String,
    seed: i64,
    gct: i64,
    suponly: i64,
}

struct DiagLine {
    run: i64,
    algorithm: String,
    ratio: String,
    seed: i64,
    status: String,
    auroc: String,
    confidence: String,
    target: String,
    /// F / confidence: share of one-right pixels where the map is lower on the right model.
    one_right: String,
    /// Share of dc's class-changing copies on labelled pixels that were right.
    dc_right: String,
    top_decile: String,
    fd_loss: String,
    dc: String,
    fc: String,
    fc_to_sup: String,
    agreement: String,
    notes: Vec<String>,
}

#[derive(Template)]
#[template(path = "study.html")]
struct StudyPage {
    id: i64,
    /// Every algorithm, for the extend form (`Algorithm::ALL`).
    algorithms: Vec<&'static str>,
    name: String,
    progress: Progress,
    metric: String,
    model: String,
    metrics: Vec<&'static str>,
    metric_label: String,
    model_label: &'static str,
    header: Vec<String>,
    rows: Vec<Row>,
    delta: Option<Vec<String>>,
    compares: Vec<CompareLink>,
    diagnostics: Vec<DiagLine>,
    /// Segmentation: share of pixels where T1 and T2 agree; restoration: their mean |difference|.
    agreement_label: &'static str,
    table_json: String,
    markdown: String,
    /// Which SupOnly baseline the table compares with (empty without SupOnly).
    protocol: String,
    /// The budget in epochs per ratio, once a run has started.
    budget: String,
    config_toml: String,
    can_stop: bool,
    can_resume: bool,
}

fn opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "–".into())
}

fn pct(v: f64) -> String {
    format!("{:.1} %", 100.0 * v)
}

async fn study_page(State(s): State<AppState>, StudyId(id): StudyId, Query(q): Query<TableQuery>) -> PageResult {
    let (row, table) = table_for(&s, id, &q).await.map_err(html_err)?;
    let config = row.config().map_err(html_err)?;
    let runs = studies::runs(&s.db, id).await.map_err(html_err)?;
    let progress = studies::progress(&config, &runs);
    let links = |a: Algorithm, r: f64| -> Vec<RunLink> {
        runs.iter()
            .filter(|x| x.algorithm == a.to_string() && x.label_ratio == r)
            .map(|x| RunLink { id: x.id, seed: x.seed, status: x.status.to_string() })
            .collect()
    };
    let rows = table
        .rows
        .iter()
        .map(|row| Row {
            label: algorithm_label(row.algorithm),
            cells: table
                .ratios
                .iter()
                .zip(&row.cells)
                .map(|(&r, c)| Cell {
                    text: c.as_ref().map(|c| table.cell_text(c)).unwrap_or_else(|| "–".into()),
                    best: c.as_ref().is_some_and(|c| c.best),
                    runs: links(row.algorithm, r),
                })
                .collect(),
        })
        .collect();
    let delta = table.delta.as_ref().map(|d| d.iter().map(|d| d.as_ref().map(|d| table.delta_text(d)).unwrap_or_else(|| "–".into())).collect());
    let mut compares = Vec::new();
    for &r in &table.ratios {
        for &seed in &config.seeds {
            let find = |a| runs.iter().find(|x| studies::is_cell(x, a, r, seed)).map(|x| x.id);
            if let (Some(gct), Some(suponly)) = (find(Algorithm::Gct), find(Algorithm::Suponly)) {
                compares.push(CompareLink { ratio: ratio_label(r), seed: seed as i64, gct, suponly });
            }
        }
    }
    let diagnostics = studies::diagnostics(&s.db, &config, &runs)
        .await
        .map_err(html_err)?
        .into_iter()
        .map(|d| {
            let g = &d.diagnostics;
            DiagLine {
                run: d.run_id,
                algorithm: d.algorithm,
                ratio: ratio_label(d.label_ratio),
                seed: d.seed,
                status: d.status,
                auroc: format!("{} → {}", opt(g.auroc_first, |v| format!("{v:.3}")), opt(g.auroc_last, |v| format!("{v:.3}"))),
                confidence: opt(g.confidence_auroc_last, |v| format!("{v:.3}")),
                target: match (g.target_auroc_last, g.target_coarse_auroc_last) {
                    (Some(t), Some(c)) => format!("{t:.3} / {c:.3}"),
                    (t, _) => opt(t, |v| format!("{v:.3}")),
                },
                dc_right: match (g.dc_right_share, g.dc_right_share_with_c) {
                    (Some(f), Some(c)) => format!("{f:.2} / {c:.2}"),
                    (f, _) => opt(f, |v| format!("{v:.2}")),
                },
                one_right: match (g.arbitration_last, g.confidence_arbitration_last) {
                    (Some(f), Some(c)) => format!("{f:.2} / {c:.2}"),
                    _ => "–".into(),
                },
                top_decile: format!("{} / {}", opt(g.top_decile_last, pct), opt(g.confidence_top_decile_last, pct)),
                fd_loss: format!("{} → {}", opt(g.fd_loss_first, |v| format!("{v:.4}")), opt(g.fd_loss_last, |v| format!("{v:.4}"))),
                dc: format!("{} / {}", opt(g.dc_share_t1, pct), opt(g.dc_share_t2, pct)),
                fc: opt(g.fc_share, pct),
                fc_to_sup: opt(g.fc_to_sup, |v| format!("{v:.2}")),
                agreement: opt(g.agreement_last, |v| if config.run.task == crate::config::TaskKind::Segmentation { pct(v) } else { format!("{v:.4}") }),
                notes: g.notes.clone(),
            }
        })
        .collect();
    let budget = studies::budget(&config, &runs);
    page(StudyPage {
        algorithms: Algorithm::ALL.iter().map(|a| a.name()).collect(),
        id,
        name: row.name.clone(),
        metric: table.metric.clone(),
        model: table.model.key().into(),
        metrics: studies::metrics_for(&config.run).to_vec(),
        metric_label: table.metric_label(),
        model_label: table.model.label(),
        header: table.ratios.iter().map(|&r| ratio_label(r)).collect(),
        rows,
        delta,
        compares,
        diagnostics,
        agreement_label: match config.run.task {
            crate::config::TaskKind::Segmentation => "agreement",
            crate::config::TaskKind::Denoising | crate::config::TaskKind::Lowlight => "T1 − T2 mean |diff|",
        },
        table_json: serde_json::to_string(&table).unwrap_or_default(),
        markdown: [Some(table.to_markdown()), config.baseline_protocol().map(|p| format!("{p}.")), budget.as_ref().map(|b| format!("Budget: {b}."))]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join("\n"),
        protocol: config.baseline_protocol().unwrap_or_default(),
        budget: budget.unwrap_or_default(),
        config_toml: toml::to_string(&config).unwrap_or_default(),
        can_stop: progress.active > 0,
        can_resume: progress.finished < progress.cells && progress.active == 0,
        progress,
    })
}

fn parse_list<T: std::str::FromStr>(raw: &str, field: &str) -> Result<Vec<T>, AppError> {
    raw.split(',')
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(|v| {
            // Ratios may be written as fractions (1/16).
            let v = match v.split_once('/') {
                Some((a, b)) => match (a.trim().parse::<f64>(), b.trim().parse::<f64>()) {
                    (Ok(a), Ok(b)) if b != 0.0 => (a / b).to_string(),
                    _ => v.to_string(),
                },
                None => v.to_string(),
            };
            v.parse::<T>().map_err(|_| AppError::InvalidConfig(vec![FieldError { field: field.into(), message: format!("'{v}' is not a valid value") }]))
        })
        .collect()
}

/// Stop, resume, or extend (form fields `label_ratios`, `seeds`: comma lists; `algorithm`:
/// repeated checkboxes).
async fn action(
    State(s): State<AppState>,
    StudyId(id): StudyId,
    Path((_, action)): Path<(String, String)>,
    Form(fields): Form<Vec<(String, String)>>,
) -> PageResult {
    let result = match action.as_str() {
        "stop" => studies::stop(&s.db, &s.runs, id).await,
        "resume" => studies::resume(&s.db, &s.runs, id).await,
        "delete" => {
            studies::delete(&s.db, &s.runs, id).await.map_err(html_err)?;
            return Ok(Redirect::to("/studies").into_response());
        }
        "extend" => {
            let get = |k: &str| fields.iter().filter(|(f, _)| f == k).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
            let ratios = parse_list::<f64>(&get("label_ratios").join(","), "label_ratios").map_err(html_err)?;
            let seeds = parse_list::<u64>(&get("seeds").join(","), "seeds").map_err(html_err)?;
            let algorithms =
                get("algorithm").iter().map(|a| a.parse::<Algorithm>()).collect::<Result<Vec<_>, _>>().map_err(|e| html_err(AppError::BadRequest(e)))?;
            studies::extend(&s.db, &s.runs, id, &ratios, &algorithms, &seeds).await
        }
        other => return Err(AppError::NotFound(format!("no action '{other}'")).into_html()),
    };
    result.map_err(html_err)?;
    Ok(Redirect::to(&format!("/studies/{id}")).into_response())
}
