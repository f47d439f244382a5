//! Checkpoints: one `.safetensors` file per checkpoint, readable from PyTorch
//! (`safetensors.torch.load_file`).
//!
//! Layout:
//! - float tensors `t1.<path>`, `t2.<path>`, `f.<path>`: the weights and BatchNorm running
//!   statistics, named by burn's module paths with the architecture as a path segment
//!   (e.g. `t1.Unet.down.0.a.conv.weight`, `f.convs.0.weight`); conv weights are
//!   [out, in, kh, kw] as in PyTorch;
//! - u8 tensors `optimizer.t1`, `optimizer.t2`, `optimizer.f`: burn's optimiser records
//!   (momentum / Adam moments) for resuming;
//! - metadata `flawmap.format` ("2"), `flawmap.step`, `flawmap.config` (the run config as
//!   JSON), `flawmap.best_score`. Format "1" predates `train.optimizer`: its task models
//!   always trained with SGD, so its `auto` is read as `sgd`.
//!
//! Schedules are functions of the step, and batches of (seed, step), so the step is all the
//! schedule state there is.

use super::nets::{Nets, Optimisers, flaw_optimiser, task_optimiser};
use crate::config::{RunConfig, TaskOptimizer};
use burn::module::Module;
use burn::store::{ModuleSnapshot, SafetensorsStore};
use burn::tensor::{Bytes, Device};
use safetensors::tensor::{Dtype, SafeTensors, TensorView};
use std::collections::HashMap;
use std::path::Path;

const FORMAT: &str = "2";
/// Before `train.optimizer` existed: readable, with `auto` meaning SGD.
const FORMAT_SGD_ONLY: &str = "1";
const OPTIMISER_PREFIX: &str = "optimizer.";

#[derive(Debug, Clone)]
pub struct CheckpointMeta {
    pub step: usize,
    pub config: RunConfig,
    pub best_score: Option<f64>,
}

pub struct Loaded {
    pub meta: CheckpointMeta,
    pub nets: Nets,
    pub optimisers: Optimisers,
}

/// Write atomically (`files::write_atomic`). Returns the size in bytes.
pub fn save(path: &Path, nets: &Nets, opts: &Optimisers, meta: &CheckpointMeta) -> Result<u64, String> {
    let mut store = SafetensorsStore::from_bytes(None);
    nets.valid().save_into(&mut store).map_err(|e| format!("collecting weights: {e}"))?;
    let weights = store.get_bytes().map_err(|e| format!("serialising weights: {e}"))?;
    let parsed = SafeTensors::deserialize(&weights).map_err(|e| format!("re-reading weights: {e}"))?;
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    for (name, opt) in [("t1", Some(&opts.t1)), ("t2", opts.t2.as_ref()), ("f", opts.f.as_ref())] {
        if let Some(o) = opt {
            let bytes = o.into_bytes().map_err(|e| format!("serialising the {name} optimiser: {e}"))?;
            blobs.push((format!("{OPTIMISER_PREFIX}{name}"), bytes.to_vec()));
        }
    }
    let mut views: Vec<(String, TensorView<'_>)> = parsed.tensors();
    for (name, data) in &blobs {
        views.push((name.clone(), TensorView::new(Dtype::U8, vec![data.len()], data).map_err(|e| e.to_string())?));
    }
    let mut metadata: HashMap<String, String> = HashMap::new();
    metadata.insert("flawmap.format".into(), FORMAT.into());
    metadata.insert("flawmap.step".into(), meta.step.to_string());
    metadata.insert("flawmap.config".into(), serde_json::to_string(&meta.config).map_err(|e| e.to_string())?);
    if let Some(b) = meta.best_score {
        metadata.insert("flawmap.best_score".into(), b.to_string());
    }
    let bytes = safetensors::tensor::serialize(views, Some(metadata)).map_err(|e| format!("{}: {e}", path.display()))?;
    crate::files::write_atomic(path, &bytes, true).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(std::fs::metadata(path).map(|m| m.len()).unwrap_or(0))
}

/// Read only the metadata (step, config) of a checkpoint.
pub fn read_meta(path: &Path) -> Result<CheckpointMeta, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    meta_of(&bytes, path)
}

fn meta_of(bytes: &[u8], path: &Path) -> Result<CheckpointMeta, String> {
    let bad = |what: &str| format!("{}: not a flawmap checkpoint ({what})", path.display());
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| bad(&e.to_string()))?;
    let md = header.metadata().clone().ok_or_else(|| bad("no metadata"))?;
    let format = md.get("flawmap.format").map(String::as_str);
    if format != Some(FORMAT) && format != Some(FORMAT_SGD_ONLY) {
        return Err(bad("unknown format"));
    }
    let step = md.get("flawmap.step").and_then(|s| s.parse().ok()).ok_or_else(|| bad("no step"))?;
    let mut config: RunConfig = md.get("flawmap.config").and_then(|c| serde_json::from_str(c).ok()).ok_or_else(|| bad("no readable config"))?;
    if format == Some(FORMAT_SGD_ONLY) && config.train.optimizer == TaskOptimizer::Auto {
        // Its optimiser state is SGD's: built as Adam, burn would drop it without a word.
        config.train.optimizer = TaskOptimizer::Sgd;
    }
    let best_score = md.get("flawmap.best_score").and_then(|s| s.parse().ok());
    Ok(CheckpointMeta { step, config, best_score })
}

/// Rebuild the networks and optimisers of a checkpoint on `device` (the training device).
pub fn load(path: &Path, device: &Device) -> Result<Loaded, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let meta = meta_of(&bytes, path)?;
    let mut nets = Nets::new(&meta.config, device);
    let mut store = SafetensorsStore::from_bytes(Some(bytes.clone())).with_regex(r"^(t1|t2|f)\.");
    let applied = nets.load_from(&mut store).map_err(|e| format!("{}: loading weights: {e}", path.display()))?;
    if !applied.missing.is_empty() || !applied.errors.is_empty() {
        return Err(format!(
            "{}: weights do not fit the config: missing {:?}, errors {:?}",
            path.display(),
            applied.missing.iter().map(|m| &m.0).collect::<Vec<_>>(),
            applied.errors
        ));
    }
    let nets = crate::models::init::assign_role_ids(nets);
    let parsed = SafeTensors::deserialize(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let blob = |name: &str| -> Result<Option<Bytes>, String> {
        match parsed.tensor(&format!("{OPTIMISER_PREFIX}{name}")) {
            Ok(view) => Ok(Some(Bytes::from_bytes_vec(view.data().to_vec()))),
            Err(_) => Ok(None),
        }
    };
    let restore = |name: &str, fresh: burn::optim::ModuleOptimizer| -> Result<burn::optim::ModuleOptimizer, String> {
        match blob(name)? {
            Some(b) => fresh.from_bytes(b).map_err(|e| format!("{}: optimiser {name}: {e}", path.display())),
            None => Err(format!("{}: no optimiser state for {name}", path.display())),
        }
    };
    let c = &meta.config;
    let optimisers = Optimisers {
        t1: restore("t1", task_optimiser(c))?,
        t2: nets.t2.as_ref().map(|_| restore("t2", task_optimiser(c))).transpose()?,
        f: nets.f.as_ref().map(|_| restore("f", flaw_optimiser(c))).transpose()?,
    };
    Ok(Loaded { meta, nets, optimisers })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Algorithm, TaskKind};

    fn header_only(format: &str, config: &RunConfig) -> Vec<u8> {
        let mut md = HashMap::new();
        md.insert("flawmap.format".to_string(), format.to_string());
        md.insert("flawmap.step".to_string(), "7".to_string());
        md.insert("flawmap.config".to_string(), serde_json::to_string(config).unwrap());
        safetensors::tensor::serialize(Vec::<(String, TensorView<'_>)>::new(), Some(md)).unwrap()
    }

    #[test]
    fn format_1_checkpoints_trained_with_sgd() {
        let c = RunConfig::shapes_demo(Algorithm::Gct).with_task_defaults(TaskKind::Denoising);
        let path = Path::new("x.safetensors");
        // Written before train.optimizer existed: auto is what SGD was then.
        let old = meta_of(&header_only("1", &c), path).unwrap();
        assert_eq!(old.config.task_optimizer(), TaskOptimizer::Sgd);
        assert_eq!(old.step, 7);
        // Written now: auto resolves by task, as at training time.
        let new = meta_of(&header_only(FORMAT, &c), path).unwrap();
        assert_eq!(new.config.task_optimizer(), TaskOptimizer::Adam);
        let err = meta_of(&header_only("9", &c), path).unwrap_err();
        assert!(err.contains("unknown format"), "{err}");
    }
}
