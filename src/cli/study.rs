//! `flawmap study`: run a study headless through the same queue, recorder and database as
//! the dashboard, with a progress bar, and print its table. Run again with the same
//! config to resume (finished runs are kept); add ratios, algorithms or seeds to the file
//! to extend it. Point `--data-dir` at the server's data directory to see the study in
//! the dashboard (but don't run both on the same directory at once: each would treat the
//! other's running runs as its own).

use super::with_device;
use flawmap::runs::status::RunStatus;
use flawmap::runs::{manager::RunManager, studies};
use flawmap::store as db;
use flawmap::study::{ModelChoice, StudyConfig};
use indicatif::{ProgressBar, ProgressStyle};
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(clap::Args)]
pub struct StudyArgs {
    /// The study, a TOML file (see examples/study-*.toml).
    #[arg(long)]
    pub config: PathBuf,
    /// Change one field of the study: `--set iterations=100`, `--set seeds=[0]`,
    /// `--set run.train.lr=0.02` (repeatable; the value is TOML).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub sets: Vec<String>,
    /// Where the database, checkpoints and snapshots live (the dashboard's --data-dir).
    #[arg(long, default_value = "flawmap-data")]
    pub data_dir: PathBuf,
    /// auto, wgpu or cpu; overrides the config.
    #[arg(long)]
    pub device: Option<String>,
    /// Runs trained at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Delete an existing study of this name (its runs, checkpoints and snapshots), changed
    /// or not, and start it again: for a study whose run template or budget has changed.
    /// No dashboard may be training this study meanwhile.
    #[arg(long)]
    pub restart: bool,
}

fn load(args: &StudyArgs) -> Result<StudyConfig, String> {
    let text = std::fs::read_to_string(&args.config).map_err(|e| format!("{}: {e}", args.config.display()))?;
    let text = flawmap::config::overrides::apply(&text, &args.sets).map_err(|e| format!("--set: {e}"))?;
    let mut config = StudyConfig::from_toml(&text).map_err(|e| format!("{}: {e}", args.config.display()))?;
    config.run = with_device(config.run, args.device.as_deref())?;
    // The recorded runs must not depend on this process's working directory.
    for path in config.run.data.source.folders_mut() {
        let abs = Path::new(path.as_str()).canonicalize().map_err(|e| format!("run.data.source: {path}: {e}"))?;
        *path = abs.display().to_string();
    }
    Ok(config)
}

pub fn run(args: StudyArgs) -> Result<(), String> {
    let config = load(&args)?;
    let rt = tokio::runtime::Runtime::new().map_err(|e| e.to_string())?;
    rt.block_on(drive(config, args)).map_err(|e| e.to_string())
}

async fn drive(config: StudyConfig, args: StudyArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)?;
    let data_dir = args.data_dir.canonicalize()?;
    let pool = db::open(&data_dir.join("flawmap.db")).await?;
    let manager = RunManager::new(pool.clone(), data_dir.clone(), args.concurrency);
    let mut existing = studies::find_by_name(&pool, &config.name).await?;
    if let (Some(row), true) = (&existing, args.restart) {
        // This process owns the study: runs an earlier process left active are not running.
        studies::reclaim(&pool, row.id).await?;
        studies::delete(&pool, &manager, row.id).await?;
        println!("study {} '{}' deleted (--restart): starting it again", row.id, config.name);
        existing = None;
    }
    let id = match existing {
        Some(row) => {
            let mut old = row.config()?;
            old.run.device = config.run.device; // the device may change between sessions
            if old.run != config.run || old.iterations != config.iterations {
                anyhow::bail!(
                    "a study named '{}' (study {}) exists with a different run template or budget: rename this one, restore the file, or pass --restart to delete its runs and start again",
                    config.name,
                    row.id
                );
            }
            println!("study {} '{}' exists: resuming it (finished runs are kept)", row.id, config.name);
            studies::reclaim(&pool, row.id).await?;
            studies::set_device(&pool, row.id, config.run.device).await?;
            studies::extend(&pool, &manager, row.id, &config.label_ratios, &config.algorithms, &config.seeds).await?;
            studies::resume(&pool, &manager, row.id).await?;
            row.id
        }
        None => studies::create(&pool, &manager, &config).await?,
    };
    let config = studies::get(&pool, id).await?.config()?;
    println!(
        "study {id} '{}': {} runs ({} ratios x {} algorithms x {} seeds); data in {}",
        config.name,
        config.cell_count(),
        config.label_ratios.len(),
        config.algorithms.len(),
        config.seeds.len(),
        data_dir.display()
    );
    let bar = ProgressBar::new(0);
    bar.set_style(ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} it ({eta} left) {msg}").expect("valid template"));
    let mut interrupted = false;
    let mut ctrl_c = Box::pin(tokio::signal::ctrl_c());
    loop {
        let runs = studies::runs(&pool, id).await?;
        let p = studies::progress(&config, &runs);
        bar.set_length(p.steps_total.max(1) as u64);
        bar.set_position(p.steps_done as u64);
        let current = runs
            .iter()
            .find(|r| r.status == RunStatus::Running)
            .map(|r| format!(" | {} {}/{}", r.name, r.current_step, r.total_iterations.unwrap_or(0)))
            .unwrap_or_default();
        bar.set_message(format!("{}/{} runs finished{current}", p.finished, p.cells));
        if p.active == 0 {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(500)) => {}
            _ = &mut ctrl_c => {
                if interrupted {
                    bar.finish_and_clear();
                    anyhow::bail!("interrupted twice: exiting now; the next `flawmap study` resumes the unfinished run from its last checkpoint");
                }
                interrupted = true;
                ctrl_c = Box::pin(tokio::signal::ctrl_c());
                let msg = "stopping: the running run finishes its iteration and writes a checkpoint (Ctrl-C again to quit at once)...";
                if bar.is_hidden() { eprintln!("{msg}") } else { bar.println(msg) }
                studies::stop(&pool, &manager, id).await?;
            }
        }
    }
    bar.finish_and_clear();
    let runs = studies::runs(&pool, id).await?;
    for r in runs.iter().filter(|r| r.status == RunStatus::Failed) {
        eprintln!("run {} ({}) failed: {}", r.id, r.name, r.error.clone().unwrap_or_default());
    }
    // The headline metric (mIoU or PSNR) for T1 and T2, then the others (pixel accuracy or
    // SSIM) for T1; the dashboard and the API have every combination.
    let metrics = studies::metrics_for(&config.run);
    for (metric, model) in [(metrics[0], ModelChoice::T1), (metrics[0], ModelChoice::T2)].into_iter().chain(metrics[1..].iter().map(|m| (*m, ModelChoice::T1)))
    {
        println!("\n{}", studies::table(&pool, &config, &runs, metric, model).await?.to_markdown());
    }
    if let Some(p) = config.baseline_protocol() {
        println!("\n{p}.");
    }
    if let Some(b) = studies::budget(&config, &runs) {
        println!("Budget: {b}.");
    }
    for d in studies::diagnostics(&pool, &config, &runs).await? {
        for note in &d.diagnostics.notes {
            println!("run {} ({} {} seed {}): {note}", d.run_id, d.algorithm, flawmap::study::config::ratio_label(d.label_ratio), d.seed);
        }
    }
    let p = studies::progress(&config, &runs);
    println!("\n{}/{} runs finished; the study is {} (dashboard: /studies/{id})", p.finished, p.cells, p.status);
    if interrupted {
        anyhow::bail!("stopped by Ctrl-C: run the same command again to resume");
    }
    if p.failed > 0 {
        anyhow::bail!("{} run(s) failed", p.failed);
    }
    Ok(())
}
