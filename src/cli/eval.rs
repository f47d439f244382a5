//! `flawmap eval`: evaluate a checkpoint on its config's validation split.

use super::{table, with_device};
use flawmap::data;
use flawmap::device;
use flawmap::engine::checkpoint;
use flawmap::engine::evaluate::Evaluator;
use std::path::Path;

pub fn run(path: &Path, device_flag: Option<&str>) -> Result<(), String> {
    let meta = checkpoint::read_meta(path)?;
    let config = with_device(meta.config, device_flag)?;
    let acquired = device::acquire(config.device)?;
    let loaded = checkpoint::load(path, &acquired.device.clone().autodiff())?;
    let data = data::load(&config, Path::new(".")).map_err(|e| e.to_string())?;
    let evaluator =
        Evaluator { config: &config, task: config.task_spec(), flaw: config.flaw_params(), device: acquired.device.clone(), input_scores: Default::default() };
    println!("{} at step {} on {} ({} validation images)", config.name, loaded.meta.step, acquired.name, data.val.len());
    let report = evaluator.run(&loaded.nets, &data.val, loaded.meta.step, 0.0);
    table::print_eval(&report);
    Ok(())
}
