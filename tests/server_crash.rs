//! A server process killed mid-run (SIGKILL) and restarted on the same data directory
//! shows the run `interrupted` and resumes it without duplicate steps.

mod common;

use common::{out_dir, spawn_server as serve, tiny};
use flawmap::config::Algorithm;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn run_state(c: &reqwest::blocking::Client, base: &str, id: i64) -> Value {
    c.get(format!("{base}/api/runs/{id}")).send().unwrap().json().unwrap()
}

fn wait(c: &reqwest::blocking::Client, base: &str, id: i64, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let t0 = Instant::now();
    loop {
        let r = run_state(c, base, id);
        if pred(&r) {
            return r;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "timed out waiting for {what}: {r}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_killed_server_leaves_the_run_interrupted_and_it_resumes_without_duplicates() {
    let dir = out_dir("crash");
    let c = reqwest::blocking::Client::new();
    let (mut child, base) = serve(&dir);
    let mut cfg = tiny(Algorithm::Gct, 100_000);
    cfg.train.checkpoint_every = 3;
    let r: Value = c.post(format!("{base}/api/runs")).json(&json!({ "config": cfg })).send().unwrap().json().unwrap();
    let id = r["ids"][0].as_i64().unwrap();
    wait(&c, &base, id, "a checkpoint and more steps", |r| r["current_step"].as_i64() >= Some(7));
    child.kill().unwrap(); // SIGKILL: no shutdown code runs
    child.wait().unwrap();

    let (mut child, base) = serve(&dir);
    let r = run_state(&c, &base, id);
    assert_eq!(r["status"], "interrupted", "{r}");
    let before = r["current_step"].as_i64().unwrap();
    let res = c.post(format!("{base}/api/runs/{id}/resume")).send().unwrap();
    assert!(res.status().is_success(), "{}", res.text().unwrap());
    wait(&c, &base, id, "progress after resume", |r| r["status"] == "running" && r["current_step"].as_i64() > Some(before + 2));
    c.post(format!("{base}/api/runs/{id}/stop")).send().unwrap();
    wait(&c, &base, id, "stopped", |r| r["status"] == "stopped");
    let m: Value = c.get(format!("{base}/api/runs/{id}/metrics")).send().unwrap().json().unwrap();
    let steps: Vec<i64> = m["steps"].as_array().unwrap().iter().map(|s| s["step"].as_i64().unwrap()).collect();
    assert_eq!(steps.first(), Some(&1));
    assert!(steps.windows(2).all(|w| w[1] == w[0] + 1), "one row per step, no gaps or duplicates: {steps:?}");
    child.kill().unwrap();
    child.wait().unwrap();
}
