//! One line of help for every config field, with the paper's value where flawmap's default
//! or the built-in demo's differs: the new-run form shows it beside each input, and a test
//! checks that no field of `RunConfig` lacks it, so the form cannot fall behind the config.

/// Help for one dotted config key.
pub struct FieldHelp {
    pub key: &'static str,
    pub text: &'static str,
    /// The paper's value (gct-spec.md), where flawmap's default or the demo's differs.
    pub paper: Option<&'static str>,
}

const fn h(key: &'static str, text: &'static str, paper: Option<&'static str>) -> FieldHelp {
    FieldHelp { key, text, paper }
}

/// The fields a run needs decided first; the form shows them above the rest ("advanced").
pub const ESSENTIALS: &[&str] =
    &["task", "algorithm", "data.label_ratio", "data.num_classes", "t1.arch", "t2.arch", "train.iterations", "train.epochs", "seed", "device", "name"];

pub const FIELDS: &[FieldHelp] = &[
    h("name", "A label for the run list and the study tables.", None),
    h("task", "segmentation: a class per pixel; denoising and lowlight: restore a degraded photo.", None),
    h("algorithm", "gct: T1, T2 and the flaw detector; suponly: T1 on labels only (the baseline); dual: T1 and T2 without F.", None),
    h("seed", "Initialisation, batch order and augmentation; the same seed repeats a run exactly.", None),
    h("device", "auto: a GPU through wgpu if one is present, else the CPU (flex).", None),
    h("data.num_classes", "Classes of a segmentation set (2 for foreground/background masks); the built-in set has 4.", None),
    h("data.label_ratio", "Share of training images that keep their labels; the rest train GCT unlabelled.", Some("1/8 (also 1/16, 1/4, 1/2)")),
    h("data.split_seed", "Which images keep their labels at that ratio.", None),
    h("data.crop_size", "Side of the square training crops; C(.)'s blur kernels scale with it.", Some("VOC 321")),
    h("data.base_size", "Images are rescaled to this short side times a random scale before cropping.", None),
    h("data.scale_min", "Smallest random rescale factor.", Some("0.5")),
    h("data.scale_max", "Largest random rescale factor.", Some("2.0")),
    h("data.flip", "Random horizontal flips.", None),
    h("data.noise_sigma", "Denoising: Gaussian noise sigma added to clean photos, 0-255 units.", None),
    h("data.mask_encoding", "auto | indices (255 = ignore) | binary (0/1, 0/255 or greys at 128, for 2 classes).", None),
    h("data.darken.exposure_min", "Low-light: smallest exposure scale drawn per image (the input is about this much darker).", None),
    h("data.darken.exposure_max", "Low-light: largest exposure scale drawn per image.", None),
    h("data.darken.gamma_min", "Low-light: smallest gamma (> 1 crushes mid-tones more than highlights).", None),
    h("data.darken.gamma_max", "Low-light: largest gamma.", None),
    h("data.darken.photons", "Low-light: photons per unit brightness; shot noise variance is x / photons (fewer = noisier).", None),
    h("data.darken.read_noise", "Low-light: Gaussian read-noise sigma, 0-255 units.", None),
    h("t1.arch", "Task model 1: unet (from scratch) or deeplab (a small DeepLab-style net).", Some("DeepLabv2 (ResNet-101, ImageNet-pretrained)")),
    h("t1.width", "Channels of T1's first level; cost grows with its square.", None),
    h("t1.depth", "Resolution levels of T1 (crops must be a multiple of 2^(depth-1)).", None),
    h("t2.arch", "Task model 2; may differ from T1 (it always differs in initialisation).", Some("DeepLabv2, as T1")),
    h("t2.width", "Channels of T2's first level.", None),
    h("t2.depth", "Resolution levels of T2.", None),
    h("flaw_detector.ndf", "The flaw detector's base width.", Some("64")),
    h("flaw_detector.stride2_stages", "Stride-2 convolutions in F; empty: as many as keep its map at least 8 x 8 for the crop.", Some("5")),
    h("flaw_detector.confidence_input", "F also reads the prediction's uncertainty, 1 - max class probability (segmentation; named deviation).", None),
    h(
        "flaw_detector.confidence_residual",
        "F's map is that uncertainty plus F's own map, which starts at zero: F starts from the baseline and learns where the model is wrong beyond it (segmentation; on in the demo, a named deviation).",
        Some("off"),
    ),
    h("flaw_detector.fine_branch", "Add a full-resolution branch (two 3x3 convolutions) to F's map, to mark single pixels (an experiment).", None),
    h("train.batch_labeled", "Labelled crops per iteration.", Some("8")),
    h("train.batch_unlabeled", "Unlabelled crops per iteration (GCT, dual).", Some("8")),
    h("train.epochs", "Length in passes over the longer of the labelled and unlabelled streams.", Some("20 at 1/8 labels")),
    h("train.iterations", "The budget in iterations; when set it replaces epochs.", None),
    h("train.optimizer", "Task models' optimiser: auto is SGD for segmentation, Adam for restoration.", Some("SGD")),
    h("train.suponly_batch", "SupOnly's batch: total (GCT's whole batch, all labelled) or labeled (GCT's labelled crops).", Some("total")),
    h("train.lr", "Task models' learning rate (poly decay).", Some("1e-3 (2.5e-4 x 4 GPUs)")),
    h("train.head_lr_mult", "The task models' 1x1 head learns this many times faster.", None),
    h("train.momentum", "SGD momentum.", None),
    h("train.weight_decay", "L2 weight decay of the task models.", None),
    h("train.fd_lr", "Flaw detector's Adam learning rate.", Some("4e-4 (1e-4 x 4 GPUs)")),
    h("train.fd_beta1", "Flaw detector's Adam beta 1.", None),
    h("train.fd_beta2", "Flaw detector's Adam beta 2.", None),
    h("train.fd_eps", "Flaw detector's Adam epsilon.", None),
    h("train.fd_weight_decay", "Flaw detector's L2 weight decay (an experiment; the paper has none).", None),
    h("train.fd_steps", "Flaw detector updates per iteration, on the same labelled slice (an experiment; the paper has 1).", None),
    h("train.fd_fresh_steps", "Extra flaw detector updates per iteration, each on a new batch of crops (0 = the paper's one update).", None),
    h(
        "train.lr_warmup_fraction",
        "Share of the run (at most 0.5) over which the task models' learning rate rises linearly from 0 (0 = none, the paper's).",
        None,
    ),
    h(
        "train.split_batchnorm",
        "GCT: run the task models on the labelled and unlabelled crops separately, each with its own BatchNorm statistics (off = the paper's one batch).",
        None,
    ),
    h("train.poly_power", "Power of the poly learning-rate decay of all three models.", None),
    h("train.eval_every", "Evaluate on the validation images every this many iterations (0: once per epoch).", None),
    h("train.vis_every", "Save the probe images' flaw maps, outputs and masks every this many iterations (0: never).", None),
    h("train.checkpoint_every", "Write a checkpoint every this many iterations (0: once per epoch; always at the end).", None),
    h("train.log_every", "Record losses every this many iterations (each read is a sync point on a GPU).", None),
    h("train.probe_labeled", "Labelled training images shown in the inspector.", None),
    h("train.probe_unlabeled", "Unlabelled training images shown in the inspector.", None),
    h("gct.lambda_dc", "Weight of dynamic consistency: each model learns from the other where F trusts the other more.", Some("100")),
    h(
        "gct.lambda_fc",
        "Weight of flaw correction: both models lower F's map where both are bad (the demo: 0.1 for segmentation, 0.01 for restoration; a per-dataset choice: 20 with F started from the confidence was best on the nuclei set, where the shapes lose a class at 1).",
        Some("1"),
    ),
    h("gct.dc_threshold", "xi: flaw values above it count as bad, for the dc targets and the fc mask.", None),
    h("gct.dc_margin", "A model copies the other only where its flaw is higher by more than this (an experiment; the paper: 0).", Some("0")),
    h("gct.fd_scale", "Scale of the flaw detector's loss.", None),
    h("gct.mu", "mu of C(.)'s error map; empty: 0.5 for segmentation, 1/3 for restoration.", None),
    h("gct.nu", "Dilate + blur rounds in C(.).", None),
    h("gct.target_normalise", "Min-max normalise C(.) per image, as the paper.", None),
    h("gct.dc_rampup_fraction", "Share of the run over which lambda_dc ramps up (used when dc_rampup_epochs is empty).", Some("3 of 20 epochs (0.15)")),
    h("gct.dc_rampup_epochs", "The ramp-up in epochs, as the paper counts it; replaces the fraction when set.", Some("3")),
    h("gct.fc_rampup", "Ramp lambda_fc up with lambda_dc (an experiment; the paper does not).", None),
    h(
        "gct.fd_class_swaps",
        "Share of the labelled predictions F learns from with one class's region given to another class, so F sees whole-region mistakes (segmentation; 0.5 in the demo, a named deviation).",
        Some("0"),
    ),
    h(
        "gct.dc_confidence_gate",
        "Dynamic consistency copies only where F and the models' own confidence both rate the other model better (segmentation; an experiment).",
        None,
    ),
    h("gct.fd_holdout", "Share of the labelled images only F learns from, unlabelled for the task models (an experiment).", None),
];

/// Where `key` comes in the form: the order of [`FIELDS`] (unknown keys last).
pub fn rank(key: &str) -> usize {
    FIELDS.iter().position(|f| f.key == key).unwrap_or(usize::MAX)
}

/// Help for `key`, if the key is a config field.
pub fn help(key: &str) -> Option<&'static FieldHelp> {
    FIELDS.iter().find(|f| f.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Algorithm, RunConfig};

    /// Every leaf of a config with every optional field set (data.source is the form's own).
    fn keys() -> Vec<String> {
        let mut c = RunConfig::shapes_demo(Algorithm::Gct);
        c.train.iterations = Some(1);
        c.flaw_detector.stride2_stages = Some(1);
        c.gct.mu = Some(0.5);
        c.gct.dc_rampup_epochs = Some(1.0);
        fn walk(prefix: &str, v: &serde_json::Value, out: &mut Vec<String>) {
            match v {
                serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| walk(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out)),
                _ => out.push(prefix.to_string()),
            }
        }
        let mut out = Vec::new();
        walk("", &serde_json::to_value(&c).unwrap(), &mut out);
        out.retain(|k| !k.starts_with("data.source"));
        out
    }

    #[test]
    fn every_config_field_has_help_and_every_help_names_a_field() {
        let keys = keys();
        let missing: Vec<&String> = keys.iter().filter(|k| help(k).is_none()).collect();
        assert!(missing.is_empty(), "config fields without help: {missing:?}");
        let stale: Vec<&str> = FIELDS.iter().map(|f| f.key).filter(|k| !keys.iter().any(|x| x == k)).collect();
        assert!(stale.is_empty(), "help for fields that do not exist: {stale:?}");
        assert!(ESSENTIALS.iter().all(|k| keys.iter().any(|x| x == k)), "an essential field that does not exist");
    }
}
