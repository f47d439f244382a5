//! Studies end to end: through the API on a real server (shared splits, the table against
//! the runs' own evaluations, exports, diagnostics, pages, bad input), stop and resume of
//! a half-finished study, extension, and the headless `flawmap study`.

mod common;

use common::{get_json, start, tiny};
use flawmap::config::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// A study of tiny runs: 2 ratios x 2 algorithms x 1 seed.
fn study(name: &str, iterations: usize) -> Value {
    let mut run = tiny(Algorithm::Gct, iterations);
    run.train.eval_every = 2;
    run.train.checkpoint_every = 2;
    json!({
        "name": name,
        "label_ratios": [0.5, 0.25],
        "algorithms": ["gct", "suponly"],
        "seeds": [7],
        "iterations": iterations,
        "run": run,
    })
}

async fn wait_study(c: &reqwest::Client, base: &str, id: i64, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let s = get_json(c, &format!("{base}/api/studies/{id}")).await;
        if pred(&s) {
            return s;
        }
        assert!(t0.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}: {}", s["progress"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The final evaluation's T1 / T2 mIoU of a run, read from its own metrics.
async fn final_scores(c: &reqwest::Client, base: &str, run: i64) -> (f64, Option<f64>) {
    let m = get_json(c, &format!("{base}/api/runs/{run}/metrics")).await;
    let last = m["evals"].as_array().unwrap().last().unwrap().clone();
    let score = |name: &str| last["models"].as_array().unwrap().iter().find(|x| x["model"] == name).map(|x| x["seg"]["miou"].as_f64().unwrap());
    (score("T1").unwrap(), score("T2"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_study_runs_every_cell_on_shared_splits_and_tabulates_them() {
    let s = start("study_api", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let r = c.post(format!("{}/api/studies", s.base)).json(&json!({ "config": study("grid", 4) })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let done = wait_study(&c, &s.base, id, 300, "the study to finish", |v| v["progress"]["status"] == "finished").await;
    let runs = done["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 4);
    assert_eq!(done["progress"]["finished"], 4);

    // Same labelled images for both algorithms of a (ratio, seed); different across ratios.
    let mut splits: HashMap<String, Vec<Value>> = HashMap::new();
    let mut ids: HashMap<(String, String), i64> = HashMap::new();
    for r in runs {
        let run = get_json(&c, &format!("{}/api/runs/{}", s.base, r["id"])).await;
        assert_eq!(run["study_id"], id);
        assert!(run["tags"].as_str().unwrap().contains(&format!("study-{id}")));
        splits.entry(r["label_ratio"].to_string()).or_default().push(run["info"]["split"]["labeled"].clone());
        ids.insert((r["algorithm"].as_str().unwrap().to_string(), r["label_ratio"].to_string()), r["id"].as_i64().unwrap());
    }
    assert_eq!(splits.len(), 2);
    for labelled in splits.values() {
        assert_eq!(labelled.len(), 2);
        assert_eq!(labelled[0], labelled[1]);
    }
    assert_ne!(splits["0.5"][0], splits["0.25"][0]);

    // The table equals the runs' final evaluations: columns sorted by ratio.
    let t = get_json(&c, &format!("{}/api/studies/{id}/table", s.base)).await;
    assert_eq!(t["metric"], "miou");
    assert_eq!(t["ratios"], json!([0.25, 0.5]));
    for (col, ratio) in ["0.25", "0.5"].iter().enumerate() {
        let (g1, g2) = final_scores(&c, &s.base, ids[&("gct".into(), ratio.to_string())]).await;
        let (s1, s2) = final_scores(&c, &s.base, ids[&("suponly".into(), ratio.to_string())]).await;
        assert!(g2.is_some() && s2.is_none());
        let cell = |row: usize| t["rows"][row]["cells"][col].clone();
        assert_eq!(cell(0)["n"], 1);
        assert!((cell(0)["mean"].as_f64().unwrap() - g1).abs() < 1e-12);
        assert!((cell(1)["mean"].as_f64().unwrap() - s1).abs() < 1e-12);
        assert!(cell(0)["std"].is_null());
        assert!((t["delta"][col]["mean"].as_f64().unwrap() - (g1 - s1)).abs() < 1e-12);
        assert_eq!(cell(0)["best"], g1 >= s1);
        let t2 = get_json(&c, &format!("{}/api/studies/{id}/table?model=t2", s.base)).await;
        assert!((t2["rows"][0]["cells"][col]["mean"].as_f64().unwrap() - g2.unwrap()).abs() < 1e-12);
        // SupOnly has no T2: its cell stays T1.
        assert!((t2["rows"][1]["cells"][col]["mean"].as_f64().unwrap() - s1).abs() < 1e-12);
    }

    // Exports.
    let csv = c.get(format!("{}/api/studies/{id}/table?format=csv", s.base)).send().await.unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(csv.headers()["content-disposition"].to_str().unwrap().contains(&format!("study-{id}-miou-t1.csv")));
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 1 + 4 + 2, "{csv}");
    assert!(csv.lines().any(|l| l.starts_with("gct-suponly,0.25,miou,t1,1,")), "{csv}");
    let md = c.get(format!("{}/api/studies/{id}/table?format=md&metric=pixel_acc", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(md.starts_with("| pixel accuracy % (T1) | 1/4 | 1/2 |"), "{md}");
    assert!(md.contains("| GCT − SupOnly |"), "{md}");

    // Diagnostics for the GCT runs, from their recorded history.
    let d = get_json(&c, &format!("{}/api/studies/{id}/diagnostics", s.base)).await;
    let d = d.as_array().unwrap();
    assert_eq!(d.len(), 2);
    for x in d {
        assert_eq!(x["algorithm"], "gct");
        for k in [
            "auroc_last",
            "confidence_auroc_last",
            "target_auroc_last",
            "target_coarse_auroc_last",
            "image_auroc_last",
            "top_decile_last",
            "confidence_top_decile_last",
        ] {
            assert!(x[k].as_f64().is_some_and(|a| (0.0..=1.0).contains(&a)), "{k}: {x}");
        }
        assert!(x["dc_share_t1"].as_f64().is_some() && x["fc_share"].as_f64().is_some() && x["agreement_last"].as_f64().is_some(), "{x}");
    }

    // Pages.
    let page = c.get(format!("{}/studies/{id}", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("GCT − SupOnly") && page.contains("id=\"study-table\""));
    let compare = format!("/compare?a={}&amp;b={}", ids[&("gct".into(), "0.25".into())], ids[&("suponly".into(), "0.25".into())]);
    assert!(page.contains(&compare), "no compare link {compare}");
    assert!(page.contains("id=\"diagnostics\""));
    // F's ceilings and dc's direction have their columns.
    assert!(page.contains("at F&#39;s map") || page.contains("at F's map"), "no C-at-F's-map column");
    assert!(page.contains("dc copies right: F / C(·)") && page.contains("one right: F / confidence"), "no dc-direction columns");
    // The page names the baseline protocol its SupOnly row follows.
    assert!(page.contains("Baseline protocol:") && page.contains("labelled crops per iteration against GCT"), "no protocol line");
    // And its budget in the paper's unit, epochs per ratio, from what the runs recorded.
    let run = get_json(&c, &format!("{}/api/runs/{}", s.base, ids[&("gct".into(), "0.25".into())])).await;
    let epochs = run["info"]["total_iterations"].as_f64().unwrap() / run["info"]["iterations_per_epoch"].as_f64().unwrap();
    assert!(page.contains("Budget:") && page.contains(&format!("{epochs:.1} epochs at 1/4")), "no budget line for {epochs} epochs");
    let list = c.get(format!("{}/studies", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(list.contains("grid") && list.contains("2 ratios x 2 algorithms x 1 seeds"));
    let form = c.get(format!("{}/studies/new", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(form.contains("label_ratios = [0.0625, 0.125, 0.25, 0.5]"), "the form shows the built-in study");
    // The preset line marks the preset in the editor and links the other one.
    let presets = |page: &str| page.split("<p id=\"presets\">").nth(1).and_then(|p| p.split("</p>").next()).unwrap_or_default().to_string();
    assert!(form.contains("iterations = 1400"), "the paper's budget");
    let line = presets(&form);
    assert!(line.contains("<strong>the built-in study") && line.contains("href=\"/studies/new?preset=quick\""), "{line}");
    let quick = c.get(format!("{}/studies/new?preset=quick", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(quick.contains("iterations = 280") && quick.contains("shapes-quick"), "{quick}");
    let line = presets(&quick);
    assert!(line.contains("<strong>quick</strong>") && line.contains("href=\"/studies/new\""), "{line}");
    // An unknown preset is refused, and the page echoes it escaped.
    let r = c.get(format!("{}/studies/new?preset=%3Cb%3Ehuge", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let body = r.text().await.unwrap();
    assert!(body.contains("unknown preset") && body.contains("&lt;b&gt;huge") && !body.contains("<b>huge"), "{body}");

    // Bad input.
    let mut bad = study("bad", 4);
    bad["label_ratios"] = json!([0.5, 2.0]);
    bad["run"]["data"]["crop_size"] = json!(3);
    let r = c.post(format!("{}/api/studies", s.base)).json(&json!({ "config": bad })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fields: Vec<String> = r.json::<Value>().await.unwrap()["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap().to_string()).collect();
    assert!(fields.contains(&"label_ratios".into()) && fields.contains(&"run.data.crop_size".into()), "{fields:?}");
    let r = c.post(format!("{}/api/studies", s.base)).json(&json!({ "toml": "name = 1" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let mut outside = study("outside", 4);
    outside["run"]["data"]["source"] = json!({ "kind": "folder", "path": "/etc" });
    let r = c.post(format!("{}/api/studies", s.base)).json(&json!({ "config": outside })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    for (url, status) in [
        (format!("/api/studies/{}", id + 100), StatusCode::NOT_FOUND),
        ("/api/studies/x1".to_string(), StatusCode::BAD_REQUEST),
        (format!("/api/studies/{id}/table?metric=psnr"), StatusCode::BAD_REQUEST),
        (format!("/api/studies/{id}/table?model=t3"), StatusCode::BAD_REQUEST),
        (format!("/api/studies/{id}/table?format=xml"), StatusCode::BAD_REQUEST),
    ] {
        assert_eq!(c.get(format!("{}{url}", s.base)).send().await.unwrap().status(), status, "{url}");
    }
    let r = c.post(format!("{}/api/studies/{id}/extend", s.base)).json(&json!({})).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // Still alive, nothing queued by the bad requests.
    assert_eq!(get_json(&c, &format!("{}/api/studies", s.base)).await.as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denoising_study_reports_psnr_and_ssim_with_diagnostics() {
    let photos = common::fixtures().join("realdata/photos");
    let source = flawmap::config::DataSource::Photos { path: photos.display().to_string(), val_fraction: 0.2 };
    restoration_study("study_denoise", flawmap::config::TaskKind::Denoising, source, photos).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowlight_study_on_pairs_reports_psnr_and_ssim_with_diagnostics() {
    let pairs = common::fixtures().join("lowlight-pairs");
    let source = flawmap::config::DataSource::Pairs {
        path: pairs.display().to_string(),
        input_dir: "low".into(),
        target_dir: "high".into(),
        val_fraction: 0.25,
        val_path: None,
    };
    restoration_study("study_lowlight", flawmap::config::TaskKind::Lowlight, source, pairs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lowlight_study_on_darkened_photos_reports_psnr_and_ssim_with_diagnostics() {
    let photos = common::fixtures().join("realdata/photos");
    let source = flawmap::config::DataSource::Photos { path: photos.display().to_string(), val_fraction: 0.2 };
    restoration_study("study_darkened", flawmap::config::TaskKind::Lowlight, source, photos).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_study_on_0_255_salient_object_masks_reports_max_f_and_mae() {
    // The nuclei tiles with 0/255 masks, as salient-object sets ship them.
    let root = common::out_dir("study_sod_data");
    common::nuclei_0_255(&root);
    let s = start("study_sod", vec![root.clone()], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let mut run = tiny(Algorithm::Gct, 4);
    run.data.source = flawmap::config::DataSource::Folder { path: root.display().to_string(), val_fraction: 0.25 };
    run.data.num_classes = 2;
    run.train.eval_every = 2;
    let config = json!({ "name": "sod", "label_ratios": [0.5], "algorithms": ["gct", "suponly"], "seeds": [1], "iterations": 4, "run": run });
    let r = c.post(format!("{}/api/studies", s.base)).json(&json!({ "config": config })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let done = wait_study(&c, &s.base, id, 300, "the salient-object study to finish", |v| v["progress"]["status"] == "finished").await;
    // The masks were read as binary 0/255.
    let first = get_json(&c, &format!("{}/api/runs/{}", s.base, done["runs"][0]["id"])).await;
    assert!(first["info"]["masks"].as_str().is_some_and(|m| m.starts_with("binary, 0/255")), "{first}");
    // max F and MAE tables equal the runs' final salient-object scores.
    for key in ["max_f", "mae"] {
        let t = get_json(&c, &format!("{}/api/studies/{id}/table?metric={key}", s.base)).await;
        for (row, r) in done["runs"].as_array().unwrap().iter().enumerate() {
            let m = get_json(&c, &format!("{}/api/runs/{}/metrics", s.base, r["id"])).await;
            let last = m["evals"].as_array().unwrap().last().unwrap().clone();
            let want = last["models"][0]["sod"][key].as_f64().unwrap();
            let got = t["rows"][row]["cells"][0]["mean"].as_f64().unwrap();
            // Tables show fractions as percent.
            assert!((got - want).abs() < 1e-9 || (got - 100.0 * want).abs() < 1e-6, "{key}: {got} vs {want}");
        }
    }
    let page = c.get(format!("{}/studies/{id}?metric=max_f", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("max F"), "the study page offers max F");
}

/// A GCT-vs-SupOnly study of a restoration task through the API: PSNR and SSIM tables equal
/// to the runs' final evaluations, F's diagnostics, the restoration labels on the page.
async fn restoration_study(name: &str, task: flawmap::config::TaskKind, source: flawmap::config::DataSource, root: std::path::PathBuf) {
    let s = start(name, vec![root], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let mut run = tiny(Algorithm::Gct, 4).with_task_defaults(task); // Adam's lr (optimizer auto)
    run.data.source = source;
    run.train.eval_every = 2;
    let config = json!({ "name": name, "label_ratios": [0.5], "algorithms": ["gct", "suponly"], "seeds": [1], "iterations": 4, "run": run });
    let r = c.post(format!("{}/api/studies", s.base)).json(&json!({ "config": config })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    let done = wait_study(&c, &s.base, id, 300, "the restoration study to finish", |v| v["progress"]["status"] == "finished").await;

    // PSNR is the default metric, SSIM the other; both equal the runs' final evaluations.
    for (query, key) in [("", "psnr"), ("?metric=ssim", "ssim")] {
        let t = get_json(&c, &format!("{}/api/studies/{id}/table{query}", s.base)).await;
        assert_eq!(t["metric"], key);
        for (row, r) in done["runs"].as_array().unwrap().iter().enumerate() {
            assert_eq!(t["rows"][row]["algorithm"], r["algorithm"]);
            let m = get_json(&c, &format!("{}/api/runs/{}/metrics", s.base, r["id"])).await;
            let last = m["evals"].as_array().unwrap().last().unwrap().clone();
            let want = last["models"][0][key].as_f64().unwrap();
            assert!((t["rows"][row]["cells"][0]["mean"].as_f64().unwrap() - want).abs() < 1e-12, "{key}: {t}");
        }
    }
    let md = c.get(format!("{}/api/studies/{id}/table?format=md", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(md.starts_with("| PSNR dB (T1) | 1/2 |"), "{md}");
    assert_eq!(c.get(format!("{}/api/studies/{id}/table?metric=miou", s.base)).send().await.unwrap().status(), StatusCode::BAD_REQUEST);

    // F is scored on restoration as well, and the page says what "agreement" means here.
    let d = get_json(&c, &format!("{}/api/studies/{id}/diagnostics", s.base)).await;
    let gct = &d.as_array().unwrap()[0];
    assert!(gct["auroc_last"].as_f64().is_some_and(|a| (0.0..=1.0).contains(&a)), "{gct}");
    assert!(gct["agreement_last"].as_f64().is_some_and(|a| a >= 0.0), "{gct}");
    let page = c.get(format!("{}/studies/{id}", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("T1 − T2 mean |diff|") && page.contains("PSNR"), "restoration labels on the study page");
}

/// Rows of step metrics per run, straight from the database file.
async fn step_counts(db: &std::path::Path) -> HashMap<i64, i64> {
    let pool = flawmap::store::open(db).await.unwrap();
    let rows: Vec<(i64, i64)> = sqlx::query_as("SELECT run_id, COUNT(*) FROM step_metrics GROUP BY run_id").fetch_all(&pool).await.unwrap();
    rows.into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_finished_study_resumes_without_redoing_finished_runs_and_extends() {
    let s = start("study_resume", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let n = 30;
    let r = c.post(format!("{}/api/studies", s.base)).json(&json!({ "config": study("half", n) })).send().await.unwrap();
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    // Stop once the first run has finished and the second has trained a few iterations.
    wait_study(&c, &s.base, id, 300, "one finished run and one under way", |v| {
        v["runs"].as_array().unwrap().iter().any(|r| r["status"] == "finished")
            && v["runs"].as_array().unwrap().iter().any(|r| r["status"] == "running" && r["current_step"].as_i64().unwrap() >= 3)
    })
    .await;
    let r = c.post(format!("{}/api/studies/{id}/stop", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stopped = wait_study(&c, &s.base, id, 120, "the stop", |v| v["progress"]["active"] == 0).await;
    assert_eq!(stopped["progress"]["status"], "stopped");
    let before: Vec<Value> = stopped["runs"].as_array().unwrap().clone();
    let finished_before: Vec<(i64, Value)> = before.iter().filter(|r| r["status"] == "finished").map(|r| (r["id"].as_i64().unwrap(), r.clone())).collect();
    assert!(!finished_before.is_empty() && finished_before.len() < 4);
    let finished_at: HashMap<i64, Value> = {
        let mut m = HashMap::new();
        for (rid, _) in &finished_before {
            m.insert(*rid, get_json(&c, &format!("{}/api/runs/{rid}", s.base)).await["finished_at"].clone());
        }
        m
    };

    let r = c.post(format!("{}/api/studies/{id}/resume", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let done = wait_study(&c, &s.base, id, 300, "the resumed study to finish", |v| v["progress"]["status"] == "finished").await;
    assert_eq!(done["runs"].as_array().unwrap().len(), 4, "no cell was run twice");
    for (rid, at) in &finished_at {
        assert_eq!(&get_json(&c, &format!("{}/api/runs/{rid}", s.base)).await["finished_at"], at, "finished run {rid} was not redone");
    }
    // Every run has each step exactly once (the stopped one resumed from its checkpoint).
    let counts = step_counts(&s.data_dir.join("flawmap.db")).await;
    for r in done["runs"].as_array().unwrap() {
        assert_eq!(counts[&r["id"].as_i64().unwrap()], n as i64, "run {}", r["id"]);
    }

    // Extend by one seed: only the 4 new cells are queued.
    let r = c.post(format!("{}/api/studies/{id}/extend", s.base)).json(&json!({ "seeds": [8, 7] })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.json::<Value>().await.unwrap()["runs"], 4);
    let grown = get_json(&c, &format!("{}/api/studies/{id}", s.base)).await;
    assert_eq!(grown["config"]["seeds"], json!([7, 8]));
    assert_eq!(grown["progress"]["cells"], 8);
    assert_eq!(grown["runs"].as_array().unwrap().len(), 8);
    assert_eq!(grown["progress"]["finished"], 4);
    // Deleting is refused while runs are queued or running; then the study and its runs go.
    assert_eq!(c.delete(format!("{}/api/studies/{id}", s.base)).send().await.unwrap().status(), StatusCode::CONFLICT);
    c.post(format!("{}/api/studies/{id}/stop", s.base)).send().await.unwrap();
    wait_study(&c, &s.base, id, 120, "the final stop", |v| v["progress"]["active"] == 0).await;
    // Two resumes at once queue each run once.
    let (a, b) = tokio::join!(c.post(format!("{}/api/studies/{id}/resume", s.base)).send(), c.post(format!("{}/api/studies/{id}/resume", s.base)).send());
    let queued = a.unwrap().json::<Value>().await.unwrap()["runs"].as_i64().unwrap() + b.unwrap().json::<Value>().await.unwrap()["runs"].as_i64().unwrap();
    assert_eq!(queued, 4, "each of the 4 unfinished runs is resumed once");
    c.post(format!("{}/api/studies/{id}/stop", s.base)).send().await.unwrap();
    wait_study(&c, &s.base, id, 120, "the stop after resuming", |v| v["progress"]["active"] == 0).await;
    assert_eq!(c.delete(format!("{}/api/studies/{id}", s.base)).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(c.get(format!("{}/api/studies/{id}", s.base)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert!(get_json(&c, &format!("{}/api/runs?tag=study-{id}", s.base)).await.as_array().unwrap().is_empty());
}

#[test]
fn the_cli_runs_a_study_prints_its_table_and_resumes_it() {
    let dir = common::out_dir("study_cli");
    let mut run = tiny(Algorithm::Gct, 4);
    run.train.eval_every = 2;
    let study = flawmap::study::StudyConfig {
        name: "cli-study".into(),
        label_ratios: vec![0.25, 0.5],
        algorithms: vec![Algorithm::Gct, Algorithm::Suponly],
        seeds: vec![3],
        iterations: Some(4),
        run,
    };
    let text = toml::to_string(&study).unwrap();
    assert!(text.contains("seeds = [3]") && text.contains("label_ratios = [0.25, 0.5]"), "{text}");
    let cfg = dir.join("study.toml");
    std::fs::write(&cfg, &text).unwrap();
    let data = dir.join("data");
    let flawmap = || {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_flawmap"));
        c.arg("study").arg("--config").arg(&cfg).arg("--data-dir").arg(&data);
        c
    };
    let out = flawmap().output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("| mIoU % (T1) | 1/4 | 1/2 |"), "{stdout}");
    assert!(stdout.contains("| GCT |") && stdout.contains("| SupOnly |") && stdout.contains("| GCT − SupOnly |"), "{stdout}");
    assert!(stdout.contains("4/4 runs finished"), "{stdout}");
    assert_eq!(stdout.matches("the paper's protocol (train.suponly_batch = \"total\")").count(), 1, "the protocol, once: {stdout}");
    assert_eq!(stdout.matches("Budget: ").count(), 1, "the budget, once: {stdout}");

    let finished = || {
        tokio::runtime::Runtime::new().unwrap().block_on(async {
            let pool = flawmap::store::open(&data.join("flawmap.db")).await.unwrap();
            sqlx::query_as::<_, (i64, String, Option<i64>)>("SELECT id, status, finished_at FROM runs ORDER BY id").fetch_all(&pool).await.unwrap()
        })
    };
    let first = finished();
    assert_eq!(first.len(), 4);
    assert!(first.iter().all(|r| r.1 == "finished"));
    // Again: nothing is redone; with one more seed in the file, only its runs are added.
    let out = flawmap().output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("exists: resuming"));
    assert_eq!(finished(), first);
    std::fs::write(&cfg, text.replace("seeds = [3]", "seeds = [3, 4]")).unwrap();
    let out = flawmap().output().unwrap();
    assert!(out.status.success());
    let after = finished();
    assert_eq!(after.len(), 8);
    assert_eq!(&after[..4], &first[..]);

    // A changed budget is refused (the finished runs would not be comparable)...
    let longer = text.replace("seeds = [3]", "seeds = [3, 4]").replace("iterations = 4", "iterations = 5");
    assert_ne!(longer, text.replace("seeds = [3]", "seeds = [3, 4]"), "the budget is in the file");
    std::fs::write(&cfg, &longer).unwrap();
    let out = flawmap().output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--restart"), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(finished(), after);
    // ...unless --restart: the old runs and their files go, the study runs again from scratch.
    let old_dirs: Vec<_> = after.iter().map(|r| data.join("runs").join(r.0.to_string())).collect();
    assert!(old_dirs.iter().all(|d| d.exists()), "{old_dirs:?}");
    let out = flawmap().arg("--restart").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("deleted (--restart)"));
    let again = finished();
    assert_eq!(again.len(), 8);
    assert!(again.iter().all(|r| r.1 == "finished" && r.0 > after[7].0), "{again:?}");
    assert!(old_dirs.iter().all(|d| !d.exists()), "old run folders must be deleted");

    // An invalid study file: non-zero exit naming the field.
    std::fs::write(&cfg, text.replace("label_ratios = [0.25, 0.5]", "label_ratios = []")).unwrap();
    let out = flawmap().output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("label_ratios"));
}
