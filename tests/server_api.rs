//! The dashboard's API on a real server (ephemeral port, real SQLite file, real HTTP
//! client): a run's whole life, downloads, and bad input.

mod common;

use common::{get_json, out_dir, start, tiny, wait_run, zip_of};
use flawmap::config::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};

fn long_config() -> Value {
    let mut c = tiny(Algorithm::Gct, 100_000);
    c.train.checkpoint_every = 2;
    c.train.vis_every = 2;
    c.train.eval_every = 1000;
    serde_json::to_value(c).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_is_created_trained_stopped_resumed_and_downloaded() {
    let s = start("api_flow", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let r = c.post(format!("{}/api/runs", s.base)).json(&json!({ "config": long_config(), "tags": "test, api" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["ids"][0].as_i64().unwrap();
    let listed = get_json(&c, &format!("{}/api/runs?tag=api", s.base)).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);
    assert!(matches!(listed[0]["status"].as_str(), Some("queued" | "running")));

    wait_run(&c, &s.base, id, 120, "4 steps", |r| r["status"] == "running" && r["current_step"].as_i64() >= Some(4)).await;
    let m = get_json(&c, &format!("{}/api/runs/{id}/metrics", s.base)).await;
    assert!(m["steps"].as_array().unwrap().len() >= 4);
    let since = get_json(&c, &format!("{}/api/runs/{id}/metrics?since=3", s.base)).await;
    assert!(since["steps"].as_array().unwrap().iter().all(|s| s["step"].as_i64().unwrap() > 3));
    let snaps = get_json(&c, &format!("{}/api/runs/{id}/snapshots", s.base)).await;
    let step = snaps["steps"][0].as_i64().unwrap();
    let layers = get_json(&c, &format!("{}/api/runs/{id}/snapshots/{step}", s.base)).await;
    assert!(layers.as_array().unwrap().iter().any(|l| l["layer"] == "fc_mask"));
    // The per-image AUROC travels with its layer (F's raw map, the predictions), and only there.
    for l in layers.as_array().unwrap() {
        let scored = matches!(l["layer"].as_str(), Some("flaw_raw_t1" | "flaw_raw_t2" | "t1" | "t2"));
        assert!(l["auroc"].is_null() || (scored && (0.0..=1.0).contains(&l["auroc"].as_f64().unwrap())), "{l}");
    }
    assert!(layers.as_array().unwrap().iter().any(|l| l["layer"] == "flaw_raw_t1" && l["auroc"].is_f64()), "no scored flaw map");
    // A continuous layer as data (what the inspector's xi slider thresholds); pictures are not.
    let data = get_json(&c, &format!("{}/api/runs/{id}/snapshots/{step}/0/flaw_t1.json", s.base)).await;
    let (w, h) = (data["width"].as_u64().unwrap(), data["height"].as_u64().unwrap());
    assert_eq!(data["values"].as_array().unwrap().len() as u64, w * h);
    let picture = c.get(format!("{}/api/runs/{id}/snapshots/{step}/0/input.json", s.base)).send().await.unwrap();
    assert_eq!(picture.status(), StatusCode::BAD_REQUEST);
    let png = c.get(format!("{}/api/runs/{id}/snapshots/{step}/0/flaw_t1.png?cmap=inferno", s.base)).send().await.unwrap();
    assert_eq!(png.status(), StatusCode::OK);
    assert_eq!(&png.bytes().await.unwrap()[1..4], b"PNG");
    let values = get_json(&c, &format!("{}/api/runs/{id}/snapshots/{step}/0/values?x=3&y=4", s.base)).await;
    assert!(values["flaw_t1"].is_number() && values["input"].is_array());

    // Evaluate now: evaluations are scheduled every 1000 steps, so this one is on demand.
    let r = c.post(format!("{}/api/runs/{id}/evaluate", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let t0 = Instant::now();
    while get_json(&c, &format!("{}/api/runs/{id}/metrics", s.base)).await["evals"].as_array().unwrap().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(60), "the evaluation asked for never arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // An evaluation recorded before the engine wrote its missed-class sentence gets one on
    // read: the record is made into such a one, with T1 at IoU 0 on 'triangle' (class 3).
    let evals = get_json(&c, &format!("{}/api/runs/{id}/metrics", s.base)).await["evals"].clone();
    let step = evals[0]["step"].as_i64().unwrap();
    let pool = flawmap::store::open(&s.data_dir.join("flawmap.db")).await.unwrap();
    let older = "UPDATE evaluations SET data = json_remove(json_set(data, '$.models[0].seg.class_iou[3]', 0.0, '$.models[0].seg.class_in_truth[3]', json('true')), '$.class_verdict') WHERE run_id = ? AND step = ?";
    assert_eq!(sqlx::query(older).bind(id).bind(step).execute(&pool).await.unwrap().rows_affected(), 1);
    let stored: (String,) = sqlx::query_as("SELECT data FROM evaluations WHERE run_id = ? AND step = ?").bind(id).bind(step).fetch_one(&pool).await.unwrap();
    assert!(!stored.0.contains("class_verdict"), "the record now looks like an older one");
    let read = get_json(&c, &format!("{}/api/runs/{id}/metrics", s.base)).await;
    let sentence = read["evals"][0]["class_verdict"].as_str().unwrap_or_default();
    assert!(sentence.contains("T1") && sentence.contains("not learnt 'triangle' (IoU 0.00"), "{sentence:?}");

    let r = c.post(format!("{}/api/runs/{id}/stop", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let stopped = wait_run(&c, &s.base, id, 60, "stopped", |r| r["status"] == "stopped").await;
    let r = c.post(format!("{}/api/runs/{id}/evaluate", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT, "a stopped run cannot be evaluated now");
    let stop_step = stopped["current_step"].as_i64().unwrap();

    // Checkpoints: the list, a whole download checked against its SHA-256, a range, an ETag.
    let list = get_json(&c, &format!("{}/api/runs/{id}/checkpoints", s.base)).await;
    let latest = list.as_array().unwrap().iter().filter(|c| c["best"] == false).max_by_key(|c| c["step"].as_i64()).unwrap().clone();
    assert_eq!(latest["step"].as_i64().unwrap(), stop_step, "stop writes a checkpoint at the step it stopped");
    let r = c.get(format!("{}/api/runs/{id}/checkpoints/latest", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    assert!(r.headers()["content-disposition"].to_str().unwrap().contains(".safetensors"));
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    let body = r.bytes().await.unwrap();
    assert_eq!(body.len() as i64, latest["bytes"].as_i64().unwrap());
    let sha = format!("{:x}", Sha256::digest(&body));
    assert_eq!(sha, latest["sha256"].as_str().unwrap());
    assert_eq!(etag, format!("\"{sha}\""));
    let r = c.get(latest["url"].as_str().map(|u| format!("{}{u}", s.base)).unwrap()).header("range", "bytes=100-299").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap(), body.slice(100..300));
    let r = c.get(format!("{}/api/runs/{id}/checkpoints/latest", s.base)).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

    // Resume continues from the checkpoint; history is not duplicated.
    let r = c.post(format!("{}/api/runs/{id}/resume", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{}", r.text().await.unwrap());
    wait_run(&c, &s.base, id, 120, "progress after resume", |r| r["status"] == "running" && r["current_step"].as_i64() >= Some(stop_step + 2)).await;
    c.post(format!("{}/api/runs/{id}/stop", s.base)).send().await.unwrap();
    wait_run(&c, &s.base, id, 60, "stopped again", |r| r["status"] == "stopped").await;
    let m = get_json(&c, &format!("{}/api/runs/{id}/metrics", s.base)).await;
    let steps: Vec<i64> = m["steps"].as_array().unwrap().iter().map(|s| s["step"].as_i64().unwrap()).collect();
    assert!(steps.windows(2).all(|w| w[1] == w[0] + 1), "steps must run 1, 2, 3 ... once each: {steps:?}");
    let events = get_json(&c, &format!("{}/api/runs/{id}/events", s.base)).await;
    assert!(events.as_array().unwrap().iter().filter(|e| e["kind"] == "started").count() == 2);

    // A stop right after creation is never lost, whether the run is still queued or starting.
    for _ in 0..3 {
        let r = c.post(format!("{}/api/runs", s.base)).json(&json!({ "config": long_config() })).send().await.unwrap();
        let quick = r.json::<Value>().await.unwrap()["ids"][0].as_i64().unwrap();
        assert_eq!(c.post(format!("{}/api/runs/{quick}/stop", s.base)).send().await.unwrap().status(), StatusCode::OK);
        wait_run(&c, &s.base, quick, 60, "an immediate stop", |r| r["status"] == "stopped").await;
    }

    // Clone with an edit: a new queued run whose parent is this one.
    let mut edited = long_config();
    edited["name"] = json!("clone");
    let r = c.post(format!("{}/api/runs/{id}/clone", s.base)).json(&json!({ "config": edited })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let clone = r.json::<Value>().await.unwrap()["ids"][0].as_i64().unwrap();
    let run = get_json(&c, &format!("{}/api/runs/{clone}", s.base)).await;
    assert_eq!(run["parent_id"].as_i64(), Some(id));
    // A queued or running run cannot be deleted; a stopped one goes with its files, and
    // its clone stays (without the link).
    assert_eq!(c.delete(format!("{}/api/runs/{clone}", s.base)).send().await.unwrap().status(), StatusCode::CONFLICT);
    c.post(format!("{}/api/runs/{clone}/stop", s.base)).send().await.unwrap();
    let run_dir = s.data_dir.join("runs").join(id.to_string());
    assert!(run_dir.join("checkpoints").exists());
    assert_eq!(c.delete(format!("{}/api/runs/{id}", s.base)).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(c.get(format!("{}/api/runs/{id}", s.base)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(c.get(format!("{}/api/runs/{id}/checkpoints/latest", s.base)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert!(!run_dir.exists(), "the run's files are deleted");
    assert!(get_json(&c, &format!("{}/api/runs/{clone}", s.base)).await["parent_id"].is_null());
    assert_eq!(c.delete(format!("{}/api/runs/{id}", s.base)).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_the_right_4xx_and_the_server_stays_up() {
    let datasets = out_dir("api_bad_datasets");
    std::fs::create_dir_all(datasets.join("ok")).unwrap();
    let s = start("api_bad", vec![datasets.clone()], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let base = &s.base;

    let mut bad = long_config();
    bad["data"]["label_ratio"] = json!(7.0);
    bad["train"]["batch_labeled"] = json!(0);
    let r = c.post(format!("{base}/api/runs")).json(&json!({ "config": bad })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    let fields: Vec<&str> = body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert!(fields.contains(&"data.label_ratio") && fields.contains(&"train.batch_labeled"), "{fields:?}");

    assert_eq!(c.get(format!("{base}/api/runs/999")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    assert_eq!(c.get(format!("{base}/api/runs/abc")).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(c.get(format!("{base}/api/runs/-3")).send().await.unwrap().status(), StatusCode::BAD_REQUEST);
    assert_eq!(c.get(format!("{base}/runs/999")).send().await.unwrap().status(), StatusCode::NOT_FOUND);

    // Dataset paths outside the roots are refused, whatever their spelling.
    for path in ["/etc", "../../etc", "ok/../../..", "/tmp"] {
        let mut cfg = long_config();
        cfg["data"]["source"] = json!({ "kind": "folder", "path": path, "val_fraction": 0.25 });
        cfg["data"]["num_classes"] = json!(2);
        let r = c.post(format!("{base}/api/runs")).json(&json!({ "config": cfg })).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{path}");
    }
    // Downloads never leave the database's files: on a run that has checkpoints, names
    // that are paths are refused while its real checkpoint downloads.
    let r = c.post(format!("{base}/api/runs")).json(&json!({ "config": tiny(Algorithm::Gct, 2) })).send().await.unwrap();
    let id = r.json::<Value>().await.unwrap()["ids"][0].as_i64().unwrap();
    wait_run(&c, base, id, 300, "the tiny run", |v| v["status"] == "finished").await;
    for which in ["..%2F..%2Fflawmap.db", "%2Fetc%2Fpasswd", "..", "flawmap.db"] {
        let r = c.get(format!("{base}/api/runs/{id}/checkpoints/{which}")).send().await.unwrap();
        assert!(matches!(r.status(), StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND), "{which}: {}", r.status());
    }
    let r = c.get(format!("{base}/api/runs/{id}/checkpoints/latest")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().await.unwrap().len() > 1000, "the real checkpoint downloads");
    // An oversized body is refused from its Content-Length, before it is read (a raw
    // request, so that no client is left writing into a closed connection).
    {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tcp = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
        let head =
            format!("POST /api/runs HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", flawmap::web::BODY_LIMIT + 1);
        tcp.write_all(head.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; 64];
        let n = tcp.read(&mut buf).await.unwrap();
        let status_line = String::from_utf8_lossy(&buf[..n]).to_string();
        assert!(status_line.starts_with("HTTP/1.1 413"), "{status_line}");
    }
    // Cross-site forgery: a POST from another origin.
    let r = c.post(format!("{base}/api/runs")).header("origin", "http://evil.example").json(&json!({ "preset": "gct" })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.post(format!("{base}/runs/preset")).header("sec-fetch-site", "cross-site").form(&[("preset", "gct")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The form re-renders with field messages and keeps what was typed.
    let r = c.post(format!("{base}/runs")).form(&[("train.lr", "fast"), ("data.label_ratio", "0.3")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("train.lr") && html.contains("value=\"fast\"") && html.contains("value=\"0.3\""), "{html}");

    assert_eq!(c.get(format!("{base}/")).send().await.unwrap().status(), StatusCode::OK, "server alive");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_non_loopback_bind_needs_a_token_on_every_request() {
    assert!(start("token_missing", vec![], None, "0.0.0.0:0").await.is_err(), "no token: refuse to start");
    let s = start("token", vec![], Some("s3cret"), "0.0.0.0:0").await.unwrap();
    let c = reqwest::Client::new();
    assert_eq!(c.get(format!("{}/api/runs", s.base)).send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(c.get(format!("{}/", s.base)).bearer_auth("wrong").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(c.get(format!("{}/api/runs", s.base)).bearer_auth("s3cret").send().await.unwrap().status(), StatusCode::OK);
    let r = c.get(format!("{}/?token=s3cret", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["set-cookie"].to_str().unwrap().contains("HttpOnly"));
}

async fn upload(c: &reqwest::Client, base: &str, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(format!("{name}.zip"));
    c.post(format!("{base}/api/datasets")).multipart(reqwest::multipart::Form::new().part("file", part)).send().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zipped_dataset_uploads_and_trains_and_a_malicious_one_is_refused() {
    let s = start("api_upload", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let fx = common::fixtures().join("realdata/nuclei");
    let mut entries = Vec::new();
    for t in ["tile_0_0", "tile_0_1", "tile_1_0", "tile_1_1", "tile_2_2"] {
        entries.push((format!("nuclei/images/{t}.png"), std::fs::read(fx.join(format!("images/{t}.png"))).unwrap()));
        entries.push((format!("nuclei/masks/{t}.png"), std::fs::read(fx.join(format!("masks/{t}.png"))).unwrap()));
    }
    let refs: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, d)| (n.as_str(), d.clone())).collect();
    let r = upload(&c, &s.base, "nuclei", zip_of(&refs)).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let up: Value = r.json().await.unwrap();
    assert_eq!(up["layout"], "folder");
    assert_eq!(up["files"], 10);

    let mut cfg = tiny(Algorithm::Gct, 3);
    cfg.data.source = flawmap::config::DataSource::Folder { path: up["path"].as_str().unwrap().into(), val_fraction: 0.25 };
    cfg.data.num_classes = 2;
    let r = c.post(format!("{}/api/runs", s.base)).json(&json!({ "config": cfg })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["ids"][0].as_i64().unwrap();
    let run = wait_run(&c, &s.base, id, 120, "the uploaded dataset's run to end", |r| matches!(r["status"].as_str(), Some("finished" | "failed"))).await;
    assert_eq!(run["status"], "finished", "{run}");

    // Zip-slip: an entry that climbs out of the folder fails the whole upload.
    let r = upload(&c, &s.base, "evil", zip_of(&[("ok/images/a.png", vec![1, 2, 3]), ("../../evil.txt", b"x".to_vec())])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(!s.data_dir.join("evil.txt").exists() && !s.data_dir.parent().unwrap().join("evil.txt").exists());
    let r = upload(&c, &s.base, "junk", b"not a zip at all".to_vec()).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    let r = upload(&c, &s.base, "empty", zip_of(&[("readme.txt", b"no images".to_vec())])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_new_run_form_puts_essentials_first_with_help_and_starts_a_paired_lowlight_run() {
    let fixtures = common::fixtures();
    let s = start("form_lowlight", vec![fixtures.clone()], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let html = c.get(format!("{}/runs/new", s.base)).send().await.unwrap().text().await.unwrap();
    // Essentials, then the rest folded away; every field with its help, the paper's value
    // where the form's differs.
    let essentials = html.find("<legend>Essentials</legend>").expect("an essentials part");
    let advanced = html.find("<details class=\"advanced\">").expect("a closed advanced part");
    assert!(essentials < advanced);
    for key in ["task", "algorithm", "data.label_ratio", "t1.arch", "t2.arch", "train.iterations", "data.source.kind", "data.source.path"] {
        let at = html.find(&format!("name=\"{key}\"")).unwrap_or_else(|| panic!("no {key}"));
        assert!(at < advanced, "{key} is not among the essentials");
    }
    assert!(html.find("name=\"gct.lambda_dc\"").unwrap() > advanced);
    assert_eq!(html.matches("class=\"help\"").count(), html.matches("<label class=\"field").count(), "a field without help");
    assert!(html.contains("Weight of dynamic consistency") && html.contains("Paper: 100."), "lambda_dc's help and the paper's value");
    assert!(html.contains("<option>lowlight</option>") && html.contains("<option>pairs</option>"));
    assert!(html.contains("data-task=\"lowlight\"") && html.contains("data-source=\"pairs\""));

    // An error on an advanced field opens that part, with the message beside the field.
    let r = c.post(format!("{}/runs", s.base)).form(&[("train.fd_lr", "-1")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("<details class=\"advanced\" open>") && html.contains("must be in (0, 10)"), "{html}");

    // A low-light run on LOL-style pairs, through the form.
    let pairs = fixtures.join("lowlight-pairs").display().to_string();
    let fields = [
        ("name", "form-lowlight"),
        ("task", "lowlight"),
        ("data.source.kind", "pairs"),
        ("data.source.path", pairs.as_str()),
        ("data.source.input_dir", "low"),
        ("data.source.target_dir", "high"),
        ("data.source.val_path", ""),
        ("data.source.val_fraction", "0.25"),
        ("data.crop_size", "32"),
        ("data.base_size", "48"),
        ("t1.width", "8"),
        ("t2.width", "8"),
        ("flaw_detector.ndf", "8"),
        ("train.lr", "0.001"),
        ("train.iterations", "3"),
        ("train.eval_every", "3"),
        ("train.vis_every", "3"),
        ("device", "cpu"),
        // Segmentation's F settings, hidden for low-light but posted as a page would post them.
        ("flaw_detector.confidence_residual", "true"),
        ("gct.fd_class_swaps", "0.5"),
    ];
    let r = c.post(format!("{}/runs", s.base)).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let id: i64 = r.url().path().rsplit('/').next().unwrap().parse().expect("redirected to the run page");
    let run = wait_run(&c, &s.base, id, 300, "the low-light run", |v| v["status"] != "queued" && v["status"] != "running").await;
    assert_eq!(run["status"], "finished", "{run}");
    assert_eq!(run["config"]["task"], "lowlight");
    assert_eq!(run["config"]["data"]["source"]["kind"], "pairs");
    // Fields the form did not post took low-light's values, and another task's were ignored.
    assert_eq!((run["config"]["gct"]["lambda_fc"].as_f64(), run["config"]["gct"]["lambda_dc"].as_f64()), (Some(0.01), Some(1.0)));
    assert_eq!((&run["config"]["flaw_detector"]["confidence_residual"], run["config"]["gct"]["fd_class_swaps"].as_f64()), (&json!(false), Some(0.0)));
    let m = get_json(&c, &format!("{}/api/runs/{id}/metrics", s.base)).await;
    let last = m["evals"].as_array().unwrap().last().unwrap().clone();
    assert!(last["models"][0]["psnr"].as_f64().is_some() && last["input_scores"]["psnr"].as_f64().is_some(), "{last}");
    // A bad fraction is refused on its field.
    let mut bad = fields.to_vec();
    bad[7] = ("data.source.val_fraction", "most");
    let r = c.post(format!("{}/runs", s.base)).form(&bad).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = r.text().await.unwrap();
    assert!(html.contains("data.source.val_fraction") && html.contains("must be a number, got"), "{html}");
}
