//! The dashboard against a hostile client, page or file, on a real server (ephemeral port,
//! real SQLite file): every case is refused with a clear 4xx, or handled as the README's
//! Safety section says, and the server answers the next request.

mod common;

use common::{get_json, start, tiny, wait_run, zip_of};
use flawmap::config::Algorithm;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Send raw request bytes and return the response's status code and text (headers and
/// body): a browser under DNS rebinding sends a Host that no client library lets one fake.
async fn raw(base: &str, request: &str) -> (u16, String) {
    let mut tcp = tokio::net::TcpStream::connect(base.trim_start_matches("http://")).await.unwrap();
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut buf = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), tcp.read_to_end(&mut buf)).await;
    let text = String::from_utf8_lossy(&buf).to_string();
    let code = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (code, text)
}

async fn alive(c: &reqwest::Client, base: &str) {
    assert_eq!(c.get(format!("{base}/api/runs")).send().await.unwrap().status(), StatusCode::OK, "the server answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_under_another_host_name_are_refused_dns_rebinding() {
    let s = start("hostile_hosts", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let port = s.base.rsplit(':').next().unwrap().to_string();
    for host in ["attacker.example", &format!("attacker.example:{port}"), "127.0.0.1.nip.io", "localhost.attacker.example", "dashboard.test.evil"] {
        let (code, text) = raw(&s.base, &format!("GET /api/runs HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")).await;
        assert_eq!(code, 403, "GET with Host {host}: {text}");
        assert!(text.contains("--allowed-host"), "the refusal says how to allow a name: {text}");
        let body = r#"{"preset":"gct"}"#;
        let post = format!(
            "POST /api/runs HTTP/1.1\r\nHost: {host}\r\nOrigin: http://{host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(raw(&s.base, &post).await.0, 403, "POST with Host {host}");
    }
    assert!(get_json(&c, &format!("{}/api/runs", s.base)).await.as_array().unwrap().is_empty(), "no run was created");
    // IP literals, localhost and names given with --allowed-host pass.
    for host in [format!("127.0.0.1:{port}"), format!("localhost:{port}"), "LOCALHOST".into(), "[::1]".into(), "dashboard.test".into()] {
        let (code, text) = raw(&s.base, &format!("GET /api/runs HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n")).await;
        assert_eq!(code, 200, "Host {host}: {text}");
    }
    // Every response carries the policy that keeps markup from running script.
    let r = c.get(format!("{}/", s.base)).send().await.unwrap();
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert_eq!(r.headers()["referrer-policy"], "same-origin");
    alive(&c, &s.base).await;
}

/// A valid config, then one field set to a hostile value: each must come back 422 naming
/// the field (or one it multiplies with), never a panic, an abort or an accepted run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_configs_are_refused_by_field_and_the_server_stays_up() {
    let s = start("hostile_configs", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/t1/depth", json!(0), "t1.depth"),
        ("/t2/depth", json!(usize::MAX), "t2.depth"),
        ("/train/batch_labeled", json!(u64::MAX), "train.batch_labeled"),
        ("/train/batch_unlabeled", json!(u64::MAX), "train.batch_labeled"),
        ("/data/base_size", json!(1_000_000), "data.base_size"),
        ("/data/scale_max", json!(1e300), "data.scale_max"),
        ("/data/source/train_images", json!(1_000_000_000u64), "data.source.shapes.train_images"),
        ("/data/source/val_images", json!(u64::MAX), "data.source.shapes.val_images"),
        ("/train/iterations", json!(1_000_000_000_000u64), "train.iterations"),
        ("/train/epochs", json!(u64::MAX), "train.epochs"),
        ("/train/probe_labeled", json!(1_000_000), "train.probe_labeled"),
        ("/train/probe_unlabeled", json!(u64::MAX), "train.probe_unlabeled"),
        ("/train/head_lr_mult", json!(1e300), "train.head_lr_mult"),
        ("/train/weight_decay", json!(1e300), "train.weight_decay"),
        ("/train/fd_eps", json!(1e300), "train.fd_eps"),
        ("/train/poly_power", json!(1e300), "train.poly_power"),
        ("/gct/lambda_dc", json!(1e300), "gct.lambda_dc"),
        ("/gct/dc_rampup_epochs", json!(1e300), "gct.dc_rampup_epochs"),
        ("/gct/dc_rampup_fraction", json!(-0.1), "gct.dc_rampup_fraction"),
        ("/gct/nu", json!(u64::MAX), "gct.nu"),
        ("/data/num_classes", json!(u64::MAX), "data.num_classes"),
    ];
    for (pointer, value, field) in cases {
        let mut cfg = serde_json::to_value(tiny(Algorithm::Gct, 10)).unwrap();
        *cfg.pointer_mut(pointer).unwrap_or_else(|| panic!("{pointer} is a config field")) = value.clone();
        let r = c.post(format!("{}/api/runs", s.base)).json(&json!({ "config": cfg })).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{pointer} = {value}");
        let body: Value = r.json().await.unwrap();
        let fields: Vec<&str> = body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&field), "{pointer} = {value}: expected {field} among {fields:?}");
    }
    // Sizes that are each allowed but together cannot fit: refused on the product, with
    // the estimate in the message.
    let mut big = tiny(Algorithm::Gct, 10);
    big.data.crop_size = 1024;
    big.data.base_size = 1024;
    big.train.batch_labeled = 128;
    big.train.batch_unlabeled = 128;
    big.t1.width = 256;
    big.t2.width = 256;
    let r = c.post(format!("{}/api/runs", s.base)).json(&json!({ "config": big })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = r.json().await.unwrap();
    let msg = body["fields"][0]["message"].as_str().unwrap();
    assert!(body["fields"][0]["field"] == "data.crop_size" && msg.contains("GiB") && msg.contains("estimate"), "{body}");
    // The same through the form (the page a browser posts) and the study API.
    let r = c.post(format!("{}/runs", s.base)).form(&[("t1.depth", "0"), ("train.batch_labeled", "18446744073709551615")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(get_json(&c, &format!("{}/api/runs", s.base)).await.as_array().unwrap().is_empty(), "nothing was queued");
    alive(&c, &s.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_studies_are_refused_and_never_break_the_study_list() {
    let s = start("hostile_studies", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let base = &s.base;
    let template = r#"
name = "s"
label_ratios = [0.5]
algorithms = ["gct"]
seeds = [0]
iterations = 5
[run]
task = "segmentation"
[run.data]
source = { kind = "shapes", train_images = 24, val_images = 4, image_size = 32 }
crop_size = 32
base_size = 32
[run.train]
"#;
    let cases = [
        ("[run.train]", "[run.train]\nweight_decay = inf", "run.train.weight_decay"),
        ("[run.train]", "[run.train]\nlr = nan", "run.train.lr"),
        ("[run.train]", "[run.train]\nhead_lr_mult = inf", "run.train.head_lr_mult"),
        ("[run.data]", "[run.gct]\nlambda_dc = inf\n[run.data]", "run.gct.lambda_dc"),
        ("iterations = 5", "iterations = 5000000000000000000", "iterations"),
    ];
    for (from, to, field) in cases {
        let toml = template.replace(from, to);
        let r = c.post(format!("{base}/api/studies")).json(&json!({ "toml": toml })).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "{to}");
        let body: Value = r.json().await.unwrap();
        let fields: Vec<&str> = body["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
        assert!(fields.contains(&field), "{to}: expected {field} among {fields:?}");
    }
    // A study stored by an older version with a config this one cannot read (what `inf`
    // became: JSON null) does not take the list pages down with it.
    let r = c.post(format!("{base}/api/studies")).json(&json!({ "toml": template })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
    wait_study_done(&c, base, id).await;
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", s.data_dir.join("flawmap.db").display())).await.unwrap();
    let broken: String = sqlx::query_scalar("SELECT config FROM studies WHERE id = ?").bind(id).fetch_one(&db).await.unwrap();
    let broken = broken.replace("\"weight_decay\":0.0005", "\"weight_decay\":null");
    let old = sqlx::query("INSERT INTO studies (name, config, created_at) VALUES ('old', ?, 0)").bind(&broken).execute(&db).await.unwrap().last_insert_rowid();
    let list = get_json(&c, &format!("{base}/api/studies")).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "the readable study is listed: {list}");
    assert_eq!(c.get(format!("{base}/studies")).send().await.unwrap().status(), StatusCode::OK);
    // Its own page and API answer 500 naming it; deleting it by id works.
    for path in [format!("/api/studies/{old}"), format!("/studies/{old}")] {
        let r = c.get(format!("{base}{path}")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}");
        assert!(r.text().await.unwrap().contains(&format!("study {old} has an unreadable config")), "{path}");
    }
    assert_eq!(c.delete(format!("{base}/api/studies/{old}")).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    assert_eq!(c.get(format!("{base}/api/studies/{old}")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    alive(&c, base).await;
}

async fn wait_study_done(c: &reqwest::Client, base: &str, id: i64) {
    for _ in 0..600 {
        let st = get_json(c, &format!("{base}/api/studies/{id}")).await;
        if st["runs"].as_array().unwrap().iter().all(|r| matches!(r["status"].as_str(), Some("finished" | "failed"))) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    panic!("study {id} did not finish");
}

async fn upload(c: &reqwest::Client, base: &str, name: &str, bytes: Vec<u8>) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes).file_name(format!("{name}.zip"));
    c.post(format!("{base}/api/datasets")).multipart(reqwest::multipart::Form::new().part("file", part)).send().await.unwrap()
}

/// A PNG of noise (incompressible), `side` pixels square.
fn noise_png(side: u32, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let img = image::RgbImage::from_fn(side, side, |_, _| {
        let mut px = [0u8; 3];
        for v in &mut px {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *v = x as u8;
        }
        image::Rgb(px)
    });
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png).unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_are_bounded_as_documented_and_can_be_deleted() {
    let s = start("hostile_uploads", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let base = &s.base;
    // A valid 3+ MiB archive is accepted (axum's 2 MiB default no longer applies).
    let photos: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("big/p{i}.png"), noise_png(512, i + 1))).collect();
    let refs: Vec<(&str, Vec<u8>)> = photos.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let zip = zip_of(&refs);
    assert!(zip.len() > 3 << 20, "{} bytes", zip.len());
    let r = upload(&c, base, "big", zip.clone()).await;
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let first: Value = r.json().await.unwrap();
    assert_eq!((first["layout"].as_str(), first["files"].as_u64()), (Some("photos"), Some(5)));
    // The same name again at once gets its own folder.
    let (a, b) = tokio::join!(upload(&c, base, "big", zip.clone()), upload(&c, base, "big", zip.clone()));
    let (a, b): (Value, Value) = (a.json().await.unwrap(), b.json().await.unwrap());
    let names = [first["name"].as_str().unwrap(), a["name"].as_str().unwrap(), b["name"].as_str().unwrap()];
    assert!(names[0] != names[1] && names[1] != names[2] && names[0] != names[2], "{names:?}");

    // Over the limit: 413 from the Content-Length, before the body is read.
    let head = format!(
        "POST /api/datasets HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        70 << 20
    );
    let (code, text) = raw(base, &head).await;
    assert_eq!(code, 413, "{text}");
    // An archive whose entries clash (one name as a file and as a folder): 400 naming the
    // entry, nothing left behind. (A repeated name is refused the same way; the zip writer
    // used here cannot make such an archive.)
    let before = get_json(&c, &format!("{base}/api/datasets")).await.as_array().unwrap().len();
    let r = upload(&c, base, "clash", zip_of(&[("d/a", b"x".to_vec()), ("d/a/b.png", b"y".to_vec())])).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("zip entry 'd/a/b.png'"));
    assert_eq!(get_json(&c, &format!("{base}/api/datasets")).await.as_array().unwrap().len(), before, "failed uploads leave nothing");
    assert_eq!(std::fs::read_dir(s.data_dir.join("tmp")).unwrap().count(), 0, "no temporary archive is left");

    // Delete: names are plain folder names; in use by an active run: 409; then 204.
    for bad in ["..", "..%2F..%2Fruns", ".hidden", "a%2Fb"] {
        let r = c.delete(format!("{base}/api/datasets/{bad}")).send().await.unwrap();
        assert!(matches!(r.status(), StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND), "{bad}: {}", r.status());
    }
    assert_eq!(c.delete(format!("{base}/api/datasets/nothing-1")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
    let mut cfg = tiny(Algorithm::Gct, 100_000).with_task_defaults(flawmap::config::TaskKind::Denoising);
    cfg.data.source = flawmap::config::DataSource::Photos { path: first["path"].as_str().unwrap().into(), val_fraction: 0.25 };
    let r = c.post(format!("{base}/api/runs")).json(&json!({ "config": cfg })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED, "{}", r.text().await.unwrap());
    let id = r.json::<Value>().await.unwrap()["ids"][0].as_i64().unwrap();
    let name = names[0];
    let r = c.delete(format!("{base}/api/datasets/{name}")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains(&format!("run {id}")));
    c.post(format!("{base}/api/runs/{id}/stop")).send().await.unwrap();
    wait_run(&c, base, id, 120, "the run to stop", |r| matches!(r["status"].as_str(), Some("stopped" | "failed"))).await;
    assert_eq!(c.delete(format!("{base}/api/datasets/{name}")).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    let listed = get_json(&c, &format!("{base}/api/datasets")).await;
    assert!(listed.as_array().unwrap().iter().all(|u| u["name"] != name), "{listed}");
    assert!(!s.data_dir.join("uploads").join(name).exists());
    alive(&c, base).await;
}

/// A VOC split list inside an uploaded archive names files by id: ids that are paths fail
/// the run with a message, and nothing outside the dataset folder is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn voc_lists_cannot_name_files_outside_the_dataset() {
    let s = start("hostile_voc", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    // A readable pair outside the upload: what the list tries to reach.
    let secret = s.data_dir.join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    let voc = common::fixtures().join("realdata/voc-mini");
    let id0 = std::fs::read_to_string(voc.join("ImageSets/Segmentation/train.txt")).unwrap().split_whitespace().next().unwrap().to_string();
    std::fs::copy(voc.join(format!("JPEGImages/{id0}.jpg")), secret.join("x.jpg")).unwrap();
    std::fs::copy(voc.join(format!("SegmentationClass/{id0}.png")), secret.join("x.png")).unwrap();
    for (label, list) in [("relative", "../../../../secret/x"), ("absolute", &format!("{}", secret.join("x").display()) as &str)] {
        let jpg = std::fs::read(voc.join(format!("JPEGImages/{id0}.jpg"))).unwrap();
        let png = std::fs::read(voc.join(format!("SegmentationClass/{id0}.png"))).unwrap();
        let entries = vec![
            ("v/JPEGImages/a.jpg", jpg.clone()),
            ("v/SegmentationClass/a.png", png.clone()),
            ("v/JPEGImages/b.jpg", jpg),
            ("v/SegmentationClass/b.png", png),
            ("v/ImageSets/Segmentation/train.txt", format!("a\nb\n{list}\n").into_bytes()),
            ("v/ImageSets/Segmentation/val.txt", b"a\n".to_vec()),
        ];
        let r = upload(&c, &s.base, "voc", zip_of(&entries)).await;
        assert_eq!(r.status(), StatusCode::CREATED);
        let up: Value = r.json().await.unwrap();
        let mut cfg = tiny(Algorithm::Gct, 3);
        cfg.data.source = flawmap::config::DataSource::Voc { path: up["path"].as_str().unwrap().into() };
        cfg.data.num_classes = 21;
        let r = c.post(format!("{}/api/runs", s.base)).json(&json!({ "config": cfg })).send().await.unwrap();
        let id = r.json::<Value>().await.unwrap()["ids"][0].as_i64().unwrap();
        let run = wait_run(&c, &s.base, id, 120, "the run to end", |r| matches!(r["status"].as_str(), Some("finished" | "failed"))).await;
        assert_eq!(run["status"], "failed", "{label}: {run}");
        assert!(run["error"].as_str().unwrap().contains("is not an image id"), "{label}: {run}");
    }
    alive(&c, &s.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_never_gzipped_and_snapshots_revalidate() {
    let s = start("hostile_downloads", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::builder().no_gzip().build().unwrap();
    let mut cfg = tiny(Algorithm::Gct, 4);
    cfg.train.vis_every = 2;
    let r = c.post(format!("{}/api/runs", s.base)).json(&json!({ "config": cfg })).send().await.unwrap();
    let id = r.json::<Value>().await.unwrap()["ids"][0].as_i64().unwrap();
    wait_run(&c, &s.base, id, 120, "the run to finish", |r| r["status"] == "finished").await;
    let ckpts = get_json(&c, &format!("{}/api/runs/{id}/checkpoints", s.base)).await;
    let latest = ckpts.as_array().unwrap().iter().filter(|k| k["best"] == false).max_by_key(|k| k["step"].as_i64()).unwrap();
    let size = latest["bytes"].as_u64().unwrap();
    let url = format!("{}/api/runs/{id}/checkpoints/latest", s.base);
    let r = c.get(&url).header("accept-encoding", "gzip, br").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("content-encoding").is_none(), "checkpoints are sent as they are");
    assert_eq!(r.headers()["content-length"].to_str().unwrap(), size.to_string());
    let r = c.get(&url).header("accept-encoding", "gzip").header("range", "bytes=0-9").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(r.bytes().await.unwrap().len(), 10);
    // Snapshot images: an ETag of the file's version, revalidated on every use (a resume
    // rewrites the same URLs), 304 when unchanged.
    let png = format!("{}/api/runs/{id}/snapshots/2/0/flaw_t1.png", s.base);
    let r = c.get(&png).header("accept-encoding", "gzip").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers().get("content-encoding").is_none());
    assert!(r.headers()["cache-control"].to_str().unwrap().contains("no-cache"));
    let etag = r.headers()["etag"].to_str().unwrap().to_string();
    let r = c.get(&png).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_MODIFIED);
    let r = c.get(format!("{png}?cmap=inferno")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "another rendering is another entity");
}

/// The recorder cannot write a run's final state (a trigger makes SQLite refuse it, as a
/// full disk would): the run must not stay `running` with no trainer behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_final_state_cannot_be_recorded_ends_failed_and_resumes() {
    let s = start("hostile_recorder", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let db = sqlx::SqlitePool::connect(&format!("sqlite://{}", s.data_dir.join("flawmap.db").display())).await.unwrap();
    sqlx::query(
        "CREATE TRIGGER refuse_finish BEFORE UPDATE OF status ON runs WHEN NEW.status = 'finished'
         BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END",
    )
    .execute(&db)
    .await
    .unwrap();
    let r = c.post(format!("{}/api/runs", s.base)).json(&json!({ "config": tiny(Algorithm::Gct, 3) })).send().await.unwrap();
    let id = r.json::<Value>().await.unwrap()["ids"][0].as_i64().unwrap();
    let run = wait_run(&c, &s.base, id, 120, "the run to settle", |r| !matches!(r["status"].as_str(), Some("queued" | "running"))).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["error"].as_str().unwrap().contains("simulated write failure"), "{run}");
    // The UI can act on it: resume (after the disk is fixed) finishes it.
    sqlx::query("DROP TRIGGER refuse_finish").execute(&db).await.unwrap();
    assert_eq!(c.post(format!("{}/api/runs/{id}/resume", s.base)).send().await.unwrap().status(), StatusCode::OK);
    let run = wait_run(&c, &s.base, id, 120, "the resumed run to finish", |r| matches!(r["status"].as_str(), Some("finished" | "failed"))).await;
    assert_eq!(run["status"], "finished", "{run}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_streams_are_bounded_and_a_client_that_leaves_frees_its_place() {
    let s = start("hostile_live", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let max = flawmap::web::routes::live::MAX_LIVE_CLIENTS;
    // Open streams up to the limit and hold them.
    let mut open = Vec::new();
    for _ in 0..max {
        let r = c.get(format!("{}/api/live", s.base)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
        open.push(r);
    }
    // One more is refused with a message; the server still answers.
    let r = c.get(format!("{}/api/live", s.base)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.unwrap().contains("live streams are open"));
    alive(&c, &s.base).await;
    // Clients that leave free their places (the server notices at its next write: the
    // stream's keep-alive or an event).
    open.truncate(max - 4);
    let t0 = std::time::Instant::now();
    loop {
        let r = c.get(format!("{}/api/live", s.base)).send().await.unwrap();
        if r.status() == StatusCode::OK {
            break;
        }
        assert!(t0.elapsed() < std::time::Duration::from_secs(40), "a closed stream never freed its place");
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_received_at_once_are_bounded_and_a_dropped_one_frees_its_place() {
    let s = start("hostile_uploads_at_once", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let addr = s.base.trim_start_matches("http://").to_string();
    // Slow clients: each announces 10 MB, sends the start of its file and stalls.
    let mut slow = Vec::new();
    for i in 0..flawmap::web::routes::datasets::MAX_UPLOADS_AT_ONCE {
        let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let head = format!(
            "POST /api/datasets HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: 10000000\r\n\r\n\
             --XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow{i}.zip\"\r\nContent-Type: application/zip\r\n\r\nPK\x03\x04"
        );
        tcp.write_all(head.as_bytes()).await.unwrap();
        tcp.write_all(&[0u8; 4096]).await.unwrap();
        slow.push(tcp);
    }
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let zip = zip_of(&[("fast/a.png", noise_png(32, 1)), ("fast/b.png", noise_png(32, 2))]);
    let r = upload(&c, &s.base, "fast", zip.clone()).await;
    assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.text().await.unwrap().contains("uploads are being received"));
    alive(&c, &s.base).await;
    // A client that goes away frees its place; nothing of its upload is left behind.
    drop(slow.pop());
    let t0 = std::time::Instant::now();
    loop {
        let r = upload(&c, &s.base, "fast", zip.clone()).await;
        if r.status() == StatusCode::CREATED {
            break;
        }
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(t0.elapsed() < std::time::Duration::from_secs(30), "a dropped upload never freed its place");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let left: Vec<_> = std::fs::read_dir(s.data_dir.join("tmp")).unwrap().flatten().map(|e| e.file_name()).collect();
    assert_eq!(left.len(), 1, "only the stalled upload's temporary file remains: {left:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_inside_a_dataset_folder_cannot_lead_out_of_it() {
    // A dataset root holding an images/ + masks/ folder whose one image is a symbolic link to
    // a file outside every root: the run fails naming it, nothing of the file is served.
    let roots = common::out_dir("hostile_links_roots");
    let outside = common::out_dir("hostile_links_outside");
    let nuclei = common::fixtures().join("realdata/nuclei");
    let ds = roots.join("linked");
    for sub in ["images", "masks"] {
        std::fs::create_dir_all(ds.join(sub)).unwrap();
    }
    for name in ["tile_0_0", "tile_0_1", "tile_0_2", "tile_0_3"] {
        std::fs::copy(nuclei.join(format!("masks/{name}.png")), ds.join(format!("masks/{name}.png"))).unwrap();
        if name == "tile_0_3" {
            std::fs::copy(nuclei.join(format!("images/{name}.png")), outside.join("secret.png")).unwrap();
            std::os::unix::fs::symlink(outside.join("secret.png"), ds.join(format!("images/{name}.png"))).unwrap();
        } else {
            std::fs::copy(nuclei.join(format!("images/{name}.png")), ds.join(format!("images/{name}.png"))).unwrap();
        }
    }
    let s = start("hostile_links", vec![roots.clone()], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let mut cfg = tiny(Algorithm::Gct, 2);
    cfg.data.source = flawmap::config::DataSource::Folder { path: "linked".into(), val_fraction: 0.25 };
    cfg.data.num_classes = 2;
    let r = c.post(format!("{}/api/runs", s.base)).json(&json!({ "config": cfg })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let id = r.json::<Value>().await.unwrap()["ids"][0].as_i64().unwrap();
    let run = wait_run(&c, &s.base, id, 120, "the run to end", |r| matches!(r["status"].as_str(), Some("finished" | "failed"))).await;
    assert_eq!(run["status"], "failed", "{run}");
    assert!(run["error"].as_str().unwrap().contains("leads outside the dataset folder"), "{run}");
    alive(&c, &s.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_other_than_uploads_are_limited_to_2_mib() {
    let s = start("hostile_bodies", vec![], None, "127.0.0.1:0").await.unwrap();
    // No connection reuse: the server answers 413 before reading the oversized body and then
    // closes that connection, and a pooled client may send the next request down it before
    // it sees the close (hyper's IncompleteMessage, met once in CI).
    let c = reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap();
    // A valid config padded with 3 MiB of tags: refused for its size, not its content.
    let mut body = json!({ "config": tiny(Algorithm::Gct, 2), "tags": "x".repeat(3 << 20) });
    let r = c.post(format!("{}/api/runs", s.base)).json(&body).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let r = c.post(format!("{}/api/studies", s.base)).json(&json!({ "toml": "#".repeat(3 << 20) })).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    // The same request under the limit goes through.
    body["tags"] = json!("small");
    assert_eq!(c.post(format!("{}/api/runs", s.base)).json(&body).send().await.unwrap().status(), StatusCode::CREATED);
    alive(&c, &s.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_run_whose_upload_was_deleted_fails_on_resume_naming_the_folder() {
    let s = start("hostile_deleted_upload", vec![], None, "127.0.0.1:0").await.unwrap();
    let c = reqwest::Client::new();
    let nuclei = common::fixtures().join("realdata/nuclei");
    let mut entries = Vec::new();
    for name in ["tile_0_0", "tile_0_1", "tile_0_2", "tile_0_3"] {
        for sub in ["images", "masks"] {
            entries.push((format!("n/{sub}/{name}.png"), std::fs::read(nuclei.join(format!("{sub}/{name}.png"))).unwrap()));
        }
    }
    let refs: Vec<(&str, Vec<u8>)> = entries.iter().map(|(n, b)| (n.as_str(), b.clone())).collect();
    let up: Value = upload(&c, &s.base, "n", zip_of(&refs)).await.json().await.unwrap();
    let mut cfg = tiny(Algorithm::Gct, 100_000);
    cfg.data.source = flawmap::config::DataSource::Folder { path: up["path"].as_str().unwrap().into(), val_fraction: 0.25 };
    cfg.data.num_classes = 2;
    cfg.train.checkpoint_every = 2;
    let r = c.post(format!("{}/api/runs", s.base)).json(&json!({ "config": cfg })).send().await.unwrap();
    let id = r.json::<Value>().await.unwrap()["ids"][0].as_i64().unwrap();
    wait_run(&c, &s.base, id, 120, "a few steps", |r| r["current_step"].as_i64() >= Some(3)).await;
    // While it runs, its upload cannot be deleted; once stopped, it can.
    let name = up["name"].as_str().unwrap();
    assert_eq!(c.delete(format!("{}/api/datasets/{name}", s.base)).send().await.unwrap().status(), StatusCode::CONFLICT);
    c.post(format!("{}/api/runs/{id}/stop", s.base)).send().await.unwrap();
    wait_run(&c, &s.base, id, 120, "the stop", |r| r["status"] == "stopped").await;
    assert_eq!(c.delete(format!("{}/api/datasets/{name}", s.base)).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    // The resume fails with the missing folder in its error, and can be deleted.
    assert_eq!(c.post(format!("{}/api/runs/{id}/resume", s.base)).send().await.unwrap().status(), StatusCode::OK);
    let run = wait_run(&c, &s.base, id, 120, "the resume to end", |r| r["status"] == "failed").await;
    assert!(run["error"].as_str().unwrap().contains(name), "{run}");
    assert_eq!(c.delete(format!("{}/api/runs/{id}", s.base)).send().await.unwrap().status(), StatusCode::NO_CONTENT);
    alive(&c, &s.base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_times_out_but_a_slow_upload_does_not() {
    // The server's timeout shortened to 1 s; each client sends its body over about 3 s.
    let s = common::start_with("hostile_timeouts", vec![], None, "127.0.0.1:0", |o| o.request_timeout = std::time::Duration::from_secs(1)).await.unwrap();
    let addr = s.base.trim_start_matches("http://").to_string();
    let slowly = |head: String, body: Vec<u8>| {
        let addr = addr.clone();
        async move {
            let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
            tcp.write_all(head.as_bytes()).await.unwrap();
            for part in body.chunks(body.len().div_ceil(6)) {
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                if tcp.write_all(part).await.is_err() {
                    break; // the server answered and closed early
                }
            }
            let mut buf = Vec::new();
            let _ = tokio::time::timeout(std::time::Duration::from_secs(20), tcp.read_to_end(&mut buf)).await;
            String::from_utf8_lossy(&buf).split_whitespace().nth(1).and_then(|c| c.parse::<u16>().ok()).unwrap_or(0)
        }
    };
    let json = serde_json::to_vec(&json!({ "config": tiny(Algorithm::Gct, 2) })).unwrap();
    let head =
        format!("POST /api/runs HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", json.len());
    assert_eq!(slowly(head, json).await, 408, "a slow request is cut off");
    let zip = zip_of(&[("slow/a.png", noise_png(32, 1)), ("slow/b.png", noise_png(32, 2))]);
    let mut body = b"--XYZ\r\nContent-Disposition: form-data; name=\"file\"; filename=\"slow.zip\"\r\nContent-Type: application/zip\r\n\r\n".to_vec();
    body.extend_from_slice(&zip);
    body.extend_from_slice(b"\r\n--XYZ--\r\n");
    let head = format!(
        "POST /api/datasets HTTP/1.1\r\nHost: {addr}\r\nContent-Type: multipart/form-data; boundary=XYZ\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    assert_eq!(slowly(head, body).await, 201, "a slow upload is received whole");
}
