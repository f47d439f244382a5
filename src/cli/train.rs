//! `flawmap train`: run the engine headless with a progress bar.

use super::{table, with_device};
use flawmap::config::{RunConfig, ValidConfig};
use flawmap::engine::{self, Event, StartOptions};
use indicatif::{ProgressBar, ProgressStyle};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A line above the progress bar; straight to stdout when the bar is hidden (output piped
/// or redirected), where indicatif would drop it.
fn say(bar: &ProgressBar, line: String) {
    if bar.is_hidden() { println!("{line}") } else { bar.println(line) }
}

/// Read a TOML config, apply `--set key=value` overrides and `--device`, validate (once).
pub fn load_config(path: &Path, sets: &[String], device: Option<&str>) -> Result<ValidConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let text = flawmap::config::overrides::apply(&text, sets).map_err(|e| format!("--set: {e}"))?;
    let config = RunConfig::parse_toml(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    with_device(config, device)?.validated().map_err(|e| format!("{}: {e}", path.display()))
}

pub fn run(config_path: &Path, sets: &[String], device: Option<&str>, out: &Path, resume: Option<PathBuf>) -> Result<(), String> {
    let config = load_config(config_path, sets, device)?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let options = StartOptions { data_root: PathBuf::from("."), out_dir: out.to_path_buf(), resume };
    let handle = engine::start(config.clone(), options);
    let log_path = out.join("events.jsonl");
    let mut log = std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} it ({eta} left) {msg}").expect("valid template"));
    let mut last_eval = None;
    let mut outcome = Err("the training thread ended without a final event".to_string());
    for event in handle.events.iter() {
        // Snapshots are large arrays: the log keeps only their step.
        let line = match &event {
            Event::Snapshot(s) => {
                serde_json::json!({"type": "snapshot", "step": s.step, "probes": s.probes.len()})
            }
            other => serde_json::to_value(other).unwrap_or_default(),
        };
        let _ = writeln!(log, "{line}");
        match event {
            Event::Started(info) => {
                bar.set_length(info.total_iterations as u64);
                bar.set_position(info.start_step as u64);
                say(
                    &bar,
                    format!(
                        "{} on {}: {} train images ({} labelled), {} val, {} iterations ({} per epoch); F map {}x{} before upsampling",
                        config.algorithm,
                        info.device,
                        info.train_images,
                        info.split.labeled.len(),
                        info.val_images,
                        info.total_iterations,
                        info.iterations_per_epoch,
                        info.fd_map_size,
                        info.fd_map_size
                    ),
                );
                if let Some(m) = &info.masks {
                    say(&bar, format!("masks: {m}"));
                }
            }
            Event::Step(m) => {
                bar.set_position(m.step as u64);
                let t2 = m.t2.as_ref().map(|l| format!(" T2 {:.3}", l.total)).unwrap_or_default();
                let fd = m.fd_loss.map(|l| format!(" F {l:.3}")).unwrap_or_default();
                bar.set_message(format!("T1 {:.3}{t2}{fd} | {:.0} ms/it", m.t1.total, m.ms_per_iter));
            }
            Event::Eval(r) => {
                let scores: Vec<String> = r.models.iter().map(|m| format!("{} {:.4}", m.model, m.score)).collect();
                say(&bar, format!("step {:>6} (epoch {:.1}): {}{}", r.step, r.epoch, scores.join(", "), if r.best { " *best*" } else { "" }));
                last_eval = Some(r);
            }
            Event::Checkpoint(c) => say(&bar, format!("checkpoint {} ({} bytes){}", c.path, c.bytes, if c.best { " [best]" } else { "" })),
            Event::Snapshot(_) => {}
            Event::Finished { step } => outcome = Ok(format!("finished at step {step}")),
            Event::Stopped { step } => outcome = Ok(format!("stopped at step {step}")),
            Event::Failed { step, message } => outcome = Err(format!("run failed at step {step}: {message}")),
        }
    }
    bar.finish_and_clear();
    let _ = handle.thread.join();
    let done = outcome?;
    println!("{done}; events in {}", log_path.display());
    if let Some(r) = &last_eval {
        table::print_eval(r, &config.class_names());
    }
    Ok(())
}
