//! `flawmap eval`: evaluate a checkpoint on its config's validation split, or on the
//! labelled training images (F's own training data: the gap between the two says how much
//! of F's weakness on new images is overfitting).

use super::{table, with_device};
use flawmap::data;
use flawmap::data::batches::Split;
use flawmap::device;
use flawmap::engine::checkpoint;
use flawmap::engine::evaluate::Evaluator;
use std::path::Path;

/// The images `flawmap eval` scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum EvalSplit {
    Validation,
    Labeled,
}

pub fn run(path: &Path, device_flag: Option<&str>, split: EvalSplit) -> Result<(), String> {
    let meta = checkpoint::read_meta(path)?;
    let config = with_device(meta.config, device_flag)?;
    let acquired = device::acquire(config.device)?;
    let loaded = checkpoint::load(path, &acquired.device.clone().autodiff())?;
    let data = data::load(&config, Path::new(".")).map_err(|e| e.to_string())?;
    let evaluator =
        Evaluator { config: &config, task: config.task_spec(), flaw: config.flaw_params(), device: acquired.device.clone(), input_scores: Default::default() };
    let (images, what) = match split {
        EvalSplit::Validation => (data.val, "validation images"),
        EvalSplit::Labeled => {
            let drawn = Split::new(data.train.len(), config.data.label_ratio, config.data.split_seed);
            (drawn.labeled_items(&data.train), "labelled training images")
        }
    };
    println!("{} at step {} on {} ({} {what})", config.name, loaded.meta.step, acquired.name, images.len());
    let report = evaluator.run(&loaded.nets, &images, loaded.meta.step, 0.0);
    table::print_eval(&report, &config.class_names());
    Ok(())
}
