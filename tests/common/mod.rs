//! Helpers shared by the integration tests.
#![allow(dead_code)]

use flawmap::config::{Algorithm, DataSource, RunConfig};
use flawmap::engine::{self, Event, StartOptions};
use std::path::{Path, PathBuf};

/// A small GCT config on the shapes set that trains in seconds on a CPU.
pub fn tiny(algorithm: Algorithm, iterations: usize) -> RunConfig {
    let mut c = RunConfig::shapes_demo(algorithm);
    c.name = format!("tiny-{algorithm}");
    c.device = flawmap::device::DeviceChoice::Cpu;
    c.data.source = DataSource::Shapes { train_images: 24, val_images: 4, image_size: 32 };
    c.data.crop_size = 32;
    c.data.base_size = 32;
    c.data.label_ratio = 0.5;
    c.t1.width = 8;
    c.t2.width = 8;
    c.flaw_detector.ndf = 8;
    c.train.iterations = Some(iterations);
    c.train.batch_labeled = 2;
    c.train.batch_unlabeled = 2;
    c.train.vis_every = 0;
    c.train.probe_labeled = 1;
    c.train.probe_unlabeled = 1;
    c
}

pub fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A fresh folder under the target directory for one test's output.
pub fn out_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Run to the end and collect every event.
pub fn run(config: RunConfig, out: &Path, resume: Option<PathBuf>) -> Vec<Event> {
    let options = StartOptions { data_root: fixtures(), out_dir: out.to_path_buf(), resume };
    let handle = engine::start(config.validated().expect("valid config"), options);
    let events: Vec<Event> = handle.events.iter().collect();
    handle.thread.join().unwrap();
    events
}

pub fn steps(events: &[Event]) -> Vec<&flawmap::engine::events::StepMetrics> {
    events.iter().filter_map(|e| if let Event::Step(s) = e { Some(s) } else { None }).collect()
}

pub fn assert_finished(events: &[Event]) {
    match events.last() {
        Some(Event::Finished { .. }) => {}
        other => panic!("expected Finished, got {other:?}"),
    }
}

/// Start the `flawmap serve` binary on an ephemeral port over `data_dir`; returns the child
/// process and its base URL (read from the line it prints once bound).
pub fn spawn_server(data_dir: &Path) -> (std::process::Child, String) {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_flawmap"))
        .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
        .arg(data_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the flawmap binary starts");
    let mut out = BufReader::new(child.stdout.take().expect("piped stdout"));
    let mut line = String::new();
    while !line.contains("dashboard on") {
        line.clear();
        assert!(out.read_line(&mut line).expect("read the server's output") > 0, "the server exited before printing its address");
    }
    let url = line.split_whitespace().last().expect("an address").trim_end_matches('/').to_string();
    (child, url)
}

// A real server in this process (axum on an ephemeral port over a real SQLite file).

use flawmap::web::{ServeOptions, build};
use serde_json::Value;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

pub struct Server {
    pub base: String,
    pub data_dir: PathBuf,
}

pub async fn start(name: &str, datasets: Vec<PathBuf>, token: Option<&str>, addr: &str) -> anyhow::Result<Server> {
    start_with(name, datasets, token, addr, |_| {}).await
}

/// [`start`] with options changed by `tweak` (e.g. a shorter request timeout).
pub async fn start_with(name: &str, datasets: Vec<PathBuf>, token: Option<&str>, addr: &str, tweak: impl FnOnce(&mut ServeOptions)) -> anyhow::Result<Server> {
    let data_dir = out_dir(name);
    let mut opts = ServeOptions {
        addr: addr.parse()?,
        data_dir: data_dir.clone(),
        datasets_dirs: datasets,
        token: token.map(str::to_string),
        concurrency: 1,
        static_dir: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static"),
        allowed_hosts: vec!["dashboard.test".into()],
        request_timeout: flawmap::web::REQUEST_TIMEOUT,
    };
    tweak(&mut opts);
    let (app, _) = build(&opts).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let local: SocketAddr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Ok(Server { base: format!("http://{local}"), data_dir })
}

pub async fn get_json(c: &reqwest::Client, url: &str) -> Value {
    let r = c.get(url).send().await.unwrap();
    assert!(r.status().is_success(), "GET {url}: {}", r.status());
    r.json().await.unwrap()
}

/// Poll until `pred` holds on the run (or fail after `secs`).
pub async fn wait_run(c: &reqwest::Client, base: &str, id: i64, secs: u64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let run = get_json(c, &format!("{base}/api/runs/{id}")).await;
        if pred(&run) {
            return run;
        }
        assert!(t0.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}: {run}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A zip archive of (name, bytes) entries.
pub fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A binary mask file rewritten as salient-object sets ship them: 0 background, 255 object.
pub fn mask_as_0_255(path: &Path) -> image::GrayImage {
    let m = image::open(path).unwrap().to_luma8();
    image::GrayImage::from_fn(m.width(), m.height(), |x, y| image::Luma([if m.get_pixel(x, y)[0] > 0 { 255 } else { 0 }]))
}

/// The nuclei tiles (images + masks) with 0/255 masks, into `root`.
pub fn nuclei_0_255(root: &Path) {
    let src = fixtures().join("realdata/nuclei");
    for sub in ["images", "masks"] {
        std::fs::create_dir_all(root.join(sub)).unwrap();
    }
    for entry in std::fs::read_dir(src.join("masks")).unwrap() {
        let file = entry.unwrap().file_name();
        std::fs::copy(src.join("images").join(&file), root.join("images").join(&file)).unwrap();
        mask_as_0_255(&src.join("masks").join(&file)).save(root.join("masks").join(&file)).unwrap();
    }
}
