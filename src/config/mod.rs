//! The run configuration: everything a run needs, validated once, serialisable to TOML
//! and JSON. Every GCT constant of `gct-spec.md` is a field with the spec's default.
//!
//! Unknown keys are rejected (`deny_unknown_fields`) so that a typo in a config file is an
//! error that names the key, not a silently ignored setting.

pub mod help;
pub mod limits;
pub mod overrides;

use crate::device::DeviceChoice;
use limits::*;
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// K-class semantic segmentation, ignore index 255 (binary foreground is K = 2).
    Segmentation,
    /// Image restoration: denoising with 3 output channels and MSE.
    Denoising,
    /// Image restoration: low-light enhancement (a dark, noisy input to its well-exposed
    /// image), 3 output channels and MSE. Pairs from a LOL-style folder, or clean photos
    /// darkened on the fly (`data.darken`).
    Lowlight,
}

impl TaskKind {
    /// Restoration tasks predict an image (3 channels, MSE, PSNR/SSIM); segmentation classes.
    pub fn is_restoration(self) -> bool {
        !matches!(self, Self::Segmentation)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Guided Collaborative Training: T1, T2 and the flaw detector F.
    Gct,
    /// The paper's baseline: T1 alone, supervised loss on labelled images only.
    Suponly,
    /// Ablation: T1 and T2 learn from each other on every pixel, no flaw detector.
    Dual,
}

/// The task models' optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskOptimizer {
    /// SGD for segmentation, Adam for restoration (see [`RunConfig::task_optimizer`]).
    #[default]
    Auto,
    /// The spec's: SGD, momentum `train.momentum`, L2 weight decay (the segmentation reference).
    Sgd,
    /// Adam (0.9, 0.999), eps 1e-8, L2 weight decay `train.weight_decay`. Restoration from
    /// scratch needs it: with SGD a denoiser stays at its input's PSNR or diverges (README).
    Adam,
}

/// One list of config names per enum: `ALL` (in the order forms and commands offer them),
/// `name()`, `Display` and `FromStr` all come from it, and a test checks it against serde's
/// names, so the form, the templates, the CLI and the config files cannot disagree.
macro_rules! named_enum {
    ($t:ident, $what:literal { $($v:ident => $n:literal),+ $(,)? }) => {
        impl $t {
            pub const ALL: &'static [$t] = &[$($t::$v),+];

            /// The name configs, forms and commands use.
            pub fn name(self) -> &'static str {
                match self {
                    $($t::$v => $n),+
                }
            }
        }

        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl std::str::FromStr for $t {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                Self::ALL.iter().copied().find(|v| v.name() == s).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
                    format!("'{s}' is not {} ({})", $what, names.join(", "))
                })
            }
        }
    };
}

named_enum!(TaskKind, "a task" { Segmentation => "segmentation", Denoising => "denoising", Lowlight => "lowlight" });
named_enum!(Algorithm, "an algorithm" { Gct => "gct", Suponly => "suponly", Dual => "dual" });
named_enum!(TaskOptimizer, "an optimiser" { Auto => "auto", Sgd => "sgd", Adam => "adam" });
named_enum!(MaskEncoding, "a mask encoding" { Auto => "auto", Indices => "indices", Binary => "binary" });
named_enum!(SuponlyBatch, "a SupOnly batch" { Total => "total", Labeled => "labeled" });
named_enum!(Arch, "an architecture" { Unet => "unet", Deeplab => "deeplab" });
named_enum!(DeviceChoice, "a device" { Auto => "auto", Wgpu => "wgpu", Cpu => "cpu" });

/// How a dataset's mask values map to classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MaskEncoding {
    /// `binary` for 2-class `folder` masks that are not plain 0/1 (0/255, greys), else `indices`.
    #[default]
    Auto,
    /// Class indices, 255 = ignore (VOC; `folder` masks of K classes).
    Indices,
    /// Background / foreground in any common encoding: 0/1, 0/255, or greys thresholded at
    /// 128; no ignore label. Needs `num_classes = 2`.
    Binary,
}

/// How many labelled crops SupOnly sees per iteration: the two baseline protocols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SuponlyBatch {
    /// The same total batch as GCT, all labelled: `batch_labeled + batch_unlabeled` labelled
    /// crops (the paper's SupOnly setting, as the PixelSSL reference and the bench anchor run
    /// it; twice GCT's labelled crops per iteration).
    #[default]
    Total,
    /// GCT's labelled batch: `batch_labeled` labelled crops, so both see the same labelled
    /// crops per iteration and differ only in what GCT adds.
    Labeled,
}

impl SuponlyBatch {
    /// One line for pages and tables that compare against SupOnly.
    pub fn describe(self, batch_labeled: usize, batch_unlabeled: usize) -> String {
        match self {
            Self::Total => format!(
                "SupOnly sees GCT's total batch, all labelled: {} labelled crops per iteration against GCT's {batch_labeled} labelled + {batch_unlabeled} unlabelled, the paper's protocol (train.suponly_batch = \"total\")",
                batch_labeled + batch_unlabeled
            ),
            Self::Labeled => format!(
                "SupOnly sees GCT's labelled batch: {batch_labeled} labelled crops per iteration, as GCT's {batch_labeled} labelled (+ {batch_unlabeled} unlabelled), equal labelled data (train.suponly_batch = \"labeled\")"
            ),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Arch {
    Unet,
    Deeplab,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum DataSource {
    /// The built-in procedural set of shapes over textured, noisy backgrounds.
    Shapes {
        #[serde(default = "d_shapes_train")]
        train_images: usize,
        #[serde(default = "d_shapes_val")]
        val_images: usize,
        #[serde(default = "d_shapes_size")]
        image_size: usize,
    },
    /// A PASCAL VOC layout: JPEGImages/, SegmentationClass/ (palette PNGs), ImageSets/Segmentation/.
    Voc { path: String },
    /// `images/` + `masks/` with matching file stems; masks hold class indices (255 = ignore)
    /// or, with 2 classes, binary masks in any common encoding (see `data.mask_encoding`).
    Folder {
        path: String,
        /// Share of images held out for validation (sorted by name, every n-th).
        #[serde(default = "d_val_fraction")]
        val_fraction: f64,
    },
    /// A folder of clean photos for restoration: noise (denoising) or darkening (low-light)
    /// is synthesised on the fly.
    Photos {
        path: String,
        #[serde(default = "d_val_fraction")]
        val_fraction: f64,
    },
    /// Paired restoration images, LOL-style: `input_dir/NAME` (e.g. `low/`) is the degraded
    /// input of `target_dir/NAME` (e.g. `high/`), matched by file stem; nothing is synthesised.
    Pairs {
        path: String,
        #[serde(default = "d_input_dir")]
        input_dir: String,
        #[serde(default = "d_target_dir")]
        target_dir: String,
        /// Share held out for validation when `val_path` is not set.
        #[serde(default = "d_val_fraction")]
        val_fraction: f64,
        /// A second folder of the same layout used as the validation set (LOL: `eval15`).
        #[serde(default)]
        val_path: Option<String>,
    },
}

impl DataSource {
    /// The dataset folders this source reads (none for the built-in set): the one list the
    /// server confines to its dataset roots and the CLI makes absolute.
    pub fn folders(&self) -> Vec<&String> {
        match self {
            Self::Shapes { .. } => Vec::new(),
            Self::Voc { path } | Self::Folder { path, .. } | Self::Photos { path, .. } => vec![path],
            Self::Pairs { path, val_path, .. } => std::iter::once(path).chain(val_path.as_ref()).collect(),
        }
    }

    /// [`DataSource::folders`], to rewrite.
    pub fn folders_mut(&mut self) -> Vec<&mut String> {
        match self {
            Self::Shapes { .. } => Vec::new(),
            Self::Voc { path } | Self::Folder { path, .. } | Self::Photos { path, .. } => vec![path],
            Self::Pairs { path, val_path, .. } => std::iter::once(path).chain(val_path.as_mut()).collect(),
        }
    }

    /// Every `kind`, in the order forms offer them.
    pub const KINDS: [&'static str; 5] = ["shapes", "voc", "folder", "photos", "pairs"];

    /// The source's `kind` as the config names it (one of [`DataSource::KINDS`]).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Shapes { .. } => "shapes",
            Self::Voc { .. } => "voc",
            Self::Folder { .. } => "folder",
            Self::Photos { .. } => "photos",
            Self::Pairs { .. } => "pairs",
        }
    }
}

fn d_input_dir() -> String {
    "low".into()
}
fn d_target_dir() -> String {
    "high".into()
}

fn d_shapes_train() -> usize {
    320
}
fn d_shapes_val() -> usize {
    48
}
fn d_shapes_size() -> usize {
    64
}
fn d_val_fraction() -> f64 {
    0.25
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataConfig {
    pub source: DataSource,
    /// Number of classes (segmentation). The shapes set has 4 (background + 3 shapes).
    #[serde(default = "d_classes")]
    pub num_classes: usize,
    /// Share of training images that keep their labels (1/16 .. 1/2, or any fraction in (0, 1]).
    #[serde(default = "d_label_ratio")]
    pub label_ratio: f64,
    /// Seed of the labelled/unlabelled split (recorded so a run is reproducible).
    #[serde(default)]
    pub split_seed: u64,
    /// Training crop size S; the blur kernel sizes follow from it (spec section 2).
    #[serde(default = "d_crop")]
    pub crop_size: usize,
    /// Images are rescaled so their short side is `base_size * scale`, scale in [scale_min, scale_max].
    #[serde(default = "d_crop")]
    pub base_size: usize,
    #[serde(default = "d_scale_min")]
    pub scale_min: f64,
    #[serde(default = "d_scale_max")]
    pub scale_max: f64,
    #[serde(default = "d_true")]
    pub flip: bool,
    /// Gaussian noise sigma for denoising, in 0-255 units.
    #[serde(default = "d_sigma")]
    pub noise_sigma: f64,
    /// How mask values map to classes (segmentation): see [`MaskEncoding`].
    #[serde(default)]
    pub mask_encoding: MaskEncoding,
    /// Synthetic darkening of clean images for low-light enhancement (`photos` or `shapes`).
    #[serde(default)]
    pub darken: DarkenConfig,
}

/// The synthetic low-light model (`data::degrade::darken`): per image an exposure `a` and a
/// gamma `g` are drawn, each pixel becomes `a * y^g` (y the clean value in [0, 1]), then
/// Poisson shot noise at `photons` per unit of brightness, Gaussian read noise and 8-bit
/// quantisation. Validation images draw once from a fixed stream, so scores are comparable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DarkenConfig {
    /// Exposure scale range, drawn uniformly per image (1 = unchanged).
    #[serde(default = "d_exposure_min")]
    pub exposure_min: f64,
    #[serde(default = "d_exposure_max")]
    pub exposure_max: f64,
    /// Gamma range (> 1 darkens mid-tones more than highlights, as an underexposed camera).
    #[serde(default = "d_gamma_min")]
    pub gamma_min: f64,
    #[serde(default = "d_gamma_max")]
    pub gamma_max: f64,
    /// Photons per unit brightness: shot noise has variance `x / photons` (fewer = noisier).
    #[serde(default = "d_photons")]
    pub photons: f64,
    /// Read noise sigma, in 0-255 units.
    #[serde(default = "d_read_noise")]
    pub read_noise: f64,
}

fn d_exposure_min() -> f64 {
    0.1
}
fn d_exposure_max() -> f64 {
    0.3
}
fn d_gamma_min() -> f64 {
    1.2
}
fn d_gamma_max() -> f64 {
    2.0
}
fn d_photons() -> f64 {
    500.0
}
fn d_read_noise() -> f64 {
    2.0
}

impl DarkenConfig {
    /// Field errors through the validator's `check`.
    fn check(&self, check: &mut impl FnMut(bool, &str, String)) {
        let finite = [self.exposure_min, self.exposure_max, self.gamma_min, self.gamma_max, self.photons, self.read_noise].iter().all(|v| v.is_finite());
        check(finite, "data.darken", "every value must be a finite number".into());
        check(
            self.exposure_min > 0.0 && self.exposure_min <= self.exposure_max && self.exposure_max <= 1.0,
            "data.darken.exposure_min",
            format!("need 0 < exposure_min <= exposure_max <= 1, got {} and {}", self.exposure_min, self.exposure_max),
        );
        check(
            self.gamma_min >= 0.2 && self.gamma_min <= self.gamma_max && self.gamma_max <= 5.0,
            "data.darken.gamma_min",
            format!("need 0.2 <= gamma_min <= gamma_max <= 5, got {} and {}", self.gamma_min, self.gamma_max),
        );
        check(
            (1.0..=1e6).contains(&self.photons),
            "data.darken.photons",
            format!("must be between 1 and 1e6 photons per unit brightness, got {}", self.photons),
        );
        check((0.0..=255.0).contains(&self.read_noise), "data.darken.read_noise", format!("must be in [0, 255], got {}", self.read_noise));
    }
}

impl Default for DarkenConfig {
    fn default() -> Self {
        Self {
            exposure_min: d_exposure_min(),
            exposure_max: d_exposure_max(),
            gamma_min: d_gamma_min(),
            gamma_max: d_gamma_max(),
            photons: d_photons(),
            read_noise: d_read_noise(),
        }
    }
}

fn d_classes() -> usize {
    4
}
fn d_label_ratio() -> f64 {
    0.125
}
fn d_crop() -> usize {
    64
}
fn d_scale_min() -> f64 {
    0.5
}
fn d_scale_max() -> f64 {
    2.0
}
fn d_true() -> bool {
    true
}
fn d_sigma() -> f64 {
    25.0
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetConfig {
    #[serde(default = "d_arch")]
    pub arch: Arch,
    /// Channels of the first level (UNet) or of the stem (DeepLab).
    #[serde(default = "d_width")]
    pub width: usize,
    /// Resolution levels (UNet) or stride-2 stages of the backbone (DeepLab).
    #[serde(default = "d_depth")]
    pub depth: usize,
}

impl NetConfig {
    /// Input sides must be a multiple of this: a UNet halves its map `depth - 1` times
    /// (max-pool, then a 2x2 transposed conv back), a DeepLab `depth` times.
    pub fn size_multiple(&self) -> usize {
        match self.arch {
            Arch::Unet => 1 << self.depth.saturating_sub(1),
            Arch::Deeplab => 1 << self.depth,
        }
    }
}

fn d_arch() -> Arch {
    Arch::Unet
}
fn d_width() -> usize {
    16
}
fn d_depth() -> usize {
    3
}

impl Default for NetConfig {
    fn default() -> Self {
        Self { arch: d_arch(), width: d_width(), depth: d_depth() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlawDetectorConfig {
    /// Base width; the reference is 64.
    #[serde(default = "d_ndf")]
    pub ndf: usize,
    /// Number of stride-2 convolutions among conv1, conv2, conv3, conv4 and the classifier
    /// (reference: all 5). Unset: the largest number that keeps F's map before upsampling
    /// at least 8 x 8 for the crop size (spec section 1, named deviation).
    #[serde(default)]
    pub stride2_stages: Option<usize>,
    /// Add a full-resolution branch (two 3x3 convolutions on image and prediction) to the
    /// upsampled map (named deviation; not in the reference).
    #[serde(default)]
    pub fine_branch: bool,
    /// Give F the prediction's own uncertainty, 1 - max softmax probability, as one more
    /// input channel (segmentation; named deviation: the reference reads image and
    /// prediction only). F could compute it from the prediction, but a small F with a
    /// coarse map does not within a demo run, and ends below that very baseline.
    #[serde(default)]
    pub confidence_input: bool,
    /// Add that uncertainty, at full resolution, to F's map: F = (1 - max p) + F's own
    /// map, so F starts from the baseline and its layers learn where the model is wrong
    /// beyond its confidence (segmentation; named deviation).
    #[serde(default)]
    pub confidence_residual: bool,
}

fn d_ndf() -> usize {
    32
}

impl Default for FlawDetectorConfig {
    fn default() -> Self {
        Self { ndf: d_ndf(), stride2_stages: None, fine_branch: false, confidence_input: false, confidence_residual: false }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrainConfig {
    #[serde(default = "d_batch")]
    pub batch_labeled: usize,
    #[serde(default = "d_batch")]
    pub batch_unlabeled: usize,
    /// Length of the run in epochs (one epoch = one pass over the longer stream).
    #[serde(default = "d_epochs")]
    pub epochs: usize,
    /// If set, overrides `epochs`: total iterations.
    #[serde(default)]
    pub iterations: Option<usize>,
    /// Task models' optimiser: auto (sgd for segmentation, adam for restoration), sgd, adam.
    #[serde(default)]
    pub optimizer: TaskOptimizer,
    /// SupOnly's batch, the baseline protocol: see [`SuponlyBatch`].
    #[serde(default)]
    pub suponly_batch: SuponlyBatch,
    /// Task models: learning rate (spec, SGD: 2.5e-4 per GPU x 4 GPUs).
    #[serde(default = "d_lr")]
    pub lr: f64,
    /// The task models' 1x1 head learns this many times faster (spec: x10).
    #[serde(default = "d_head_mult")]
    pub head_lr_mult: f64,
    #[serde(default = "d_momentum")]
    pub momentum: f64,
    #[serde(default = "d_wd")]
    pub weight_decay: f64,
    /// Flaw detector: Adam learning rate (spec: 1e-4 per GPU x 4 GPUs).
    #[serde(default = "d_fd_lr")]
    pub fd_lr: f64,
    #[serde(default = "d_beta1")]
    pub fd_beta1: f64,
    #[serde(default = "d_beta2")]
    pub fd_beta2: f64,
    #[serde(default = "d_eps")]
    pub fd_eps: f64,
    /// Flaw detector: L2 weight decay (spec: none, 0). Tried against F overfitting its few
    /// labelled images (issue 10): 5e-4 gave no gain over 3 seeds (docs/measurements.md).
    #[serde(default)]
    pub fd_weight_decay: f64,
    /// Flaw detector: updates per iteration on the iteration's labelled slice and
    /// predictions (spec: 1). More gives F more fitting per labelled image seen, at the cost
    /// of an F forward and backward each.
    #[serde(default = "d_fd_steps")]
    pub fd_steps: usize,
    /// Flaw detector: extra updates per iteration, each on a new whole batch of crops (their
    /// own streams; F learns on its labelled slice) with predictions of the task models as they are, no gradient to
    /// them (a named deviation when above 0; the spec's F sees the iteration's labelled
    /// slice once). F chases models that move every iteration with one step per labelled
    /// crop; this gives it more crops, not more steps on the same one.
    #[serde(default)]
    pub fd_fresh_steps: usize,
    /// Poly decay power for all three schedules.
    #[serde(default = "d_poly")]
    pub poly_power: f64,
    /// Share of the run over which the task models' learning rate rises linearly to the
    /// poly schedule's value (0 = the spec: none). An experiment of issue 10: the paper
    /// fine-tunes a pretrained DeepLab at 1e-3, flawmap's small nets start from scratch at
    /// 0.05, and at 1/8 labels a model sometimes never learns a class.
    #[serde(default)]
    pub lr_warmup_fraction: f64,
    /// GCT: the task models see the labelled and the unlabelled crops in separate forward
    /// passes, each with its own BatchNorm statistics (false = the spec: one batch). An
    /// experiment of issue 10: at 1/8 labels a quarter of GCT's models never learn a class,
    /// also with both unsupervised weights at 0, and no SupOnly model does.
    #[serde(default)]
    pub split_batchnorm: bool,
    /// Evaluate every this many iterations (0 = once per epoch).
    #[serde(default)]
    pub eval_every: usize,
    /// Take a visual snapshot of the probe images every this many iterations (0 = never).
    #[serde(default = "d_vis")]
    pub vis_every: usize,
    /// Write a checkpoint every this many iterations (0 = once per epoch); one is also written at the end.
    #[serde(default)]
    pub checkpoint_every: usize,
    /// Emit step metrics every this many iterations (each emission reads the losses back
    /// from the device, a sync point on GPUs).
    #[serde(default = "d_log")]
    pub log_every: usize,
    #[serde(default = "d_probes")]
    pub probe_labeled: usize,
    #[serde(default = "d_probes")]
    pub probe_unlabeled: usize,
}

fn d_batch() -> usize {
    4
}
fn d_epochs() -> usize {
    20
}
fn d_lr() -> f64 {
    1e-3
}
fn d_head_mult() -> f64 {
    10.0
}
fn d_momentum() -> f64 {
    0.9
}
fn d_wd() -> f64 {
    5e-4
}
fn d_fd_lr() -> f64 {
    4e-4
}
fn d_beta1() -> f64 {
    0.9
}
fn d_beta2() -> f64 {
    0.99
}
fn d_eps() -> f64 {
    1e-8
}
fn d_fd_steps() -> usize {
    1
}
fn d_poly() -> f64 {
    0.9
}
fn d_vis() -> usize {
    50
}
fn d_log() -> usize {
    1
}
fn d_probes() -> usize {
    3
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GctConfig {
    #[serde(default = "d_lambda_dc")]
    pub lambda_dc: f64,
    #[serde(default = "d_one")]
    pub lambda_fc: f64,
    /// xi: flaw threshold for the dc targets and the fc mask.
    #[serde(default = "d_xi")]
    pub dc_threshold: f64,
    /// A model copies the other only where its saturated handled flaw exceeds the other's by
    /// more than this. 0 (the spec): wherever it is strictly larger. An experiment of issue 10:
    /// F's two blurred maps nearly tie where the models differ, and the spec's rule turns
    /// those ties into copies in both directions.
    #[serde(default)]
    pub dc_margin: f64,
    #[serde(default = "d_fd_scale")]
    pub fd_scale: f64,
    /// mu of the C(.) target; unset: 0.5 for segmentation, 1/3 for denoising.
    #[serde(default)]
    pub mu: Option<f64>,
    /// nu: number of dilate+blur rounds in C(.).
    #[serde(default = "d_nu")]
    pub nu: usize,
    /// Min-max normalise C(.) per sample, as the spec (step 5). `false` keeps the error's own
    /// scale (an experiment of issue 10; see docs/measurements.md, "Flaw maps").
    #[serde(default = "d_true")]
    pub target_normalise: bool,
    /// Length of the lambda_dc ramp-up as a share of the run's iterations. Named deviation:
    /// the spec counts it in epochs (3 of the paper's 20, i.e. 0.15), which on a 12-image set
    /// at 1/8 labels is a handful of iterations, before F has learnt anything.
    #[serde(default = "d_rampup_fraction")]
    pub dc_rampup_fraction: f64,
    /// The spec's ramp-up length in epochs (paper: 3); when set, it replaces the fraction.
    #[serde(default)]
    pub dc_rampup_epochs: Option<f64>,
    /// Ramp lambda_fc up with lambda_dc's r(t). The spec does not (false): an experiment of
    /// issue 10 (an untrained F's map is noise that the fc loss acts on from step 0) that
    /// cost 2.6 mIoU at 1/8 labels over 3 seeds (docs/measurements.md); kept to reproduce it.
    #[serde(default)]
    pub fc_rampup: bool,
    /// Share of the labelled images whose labels only F learns from (segmentation). The task
    /// models treat them as unlabelled, so F sees the models' mistakes on images they never
    /// fitted, as on new ones. 0 (the spec): F and the models learn from the same labels.
    #[serde(default)]
    pub fd_holdout: f64,
    /// Share of the labelled predictions F learns from with one class's region swapped to
    /// another class (segmentation; `gct::class_swaps`): mistakes of whole regions, which the
    /// models rarely make on the images they fit. 0 (the spec): F sees the predictions as made.
    #[serde(default)]
    pub fd_class_swaps: f64,
    /// Segmentation: a model copies the other (dc) only where F rates the other better *and*
    /// the other is the more confident of the two (higher top class probability). false
    /// (the spec): F's rule alone.
    #[serde(default)]
    pub dc_confidence_gate: bool,
}

fn d_lambda_dc() -> f64 {
    100.0
}
fn d_one() -> f64 {
    1.0
}
fn d_xi() -> f64 {
    0.6
}
fn d_fd_scale() -> f64 {
    10.0
}
fn d_nu() -> usize {
    1
}
fn d_rampup_fraction() -> f64 {
    0.15
}

impl Default for GctConfig {
    fn default() -> Self {
        Self {
            lambda_dc: d_lambda_dc(),
            lambda_fc: d_one(),
            dc_threshold: d_xi(),
            dc_margin: 0.0,
            fd_scale: d_fd_scale(),
            mu: None,
            nu: d_nu(),
            target_normalise: true,
            dc_rampup_fraction: d_rampup_fraction(),
            dc_rampup_epochs: None,
            fc_rampup: false,
            fd_holdout: 0.0,
            fd_class_swaps: 0.0,
            dc_confidence_gate: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunConfig {
    #[serde(default = "d_name")]
    pub name: String,
    pub task: TaskKind,
    pub algorithm: Algorithm,
    /// Seed of model initialisation, batch order and augmentation.
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub device: DeviceChoice,
    pub data: DataConfig,
    #[serde(default)]
    pub t1: NetConfig,
    #[serde(default)]
    pub t2: NetConfig,
    #[serde(default)]
    pub flaw_detector: FlawDetectorConfig,
    pub train: TrainConfig,
    #[serde(default)]
    pub gct: GctConfig,
}

fn d_name() -> String {
    "run".into()
}

/// One problem with one field, named by its dotted path (`train.batch_labeled`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Every problem found in a config, not just the first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConfigErrors(pub Vec<FieldError>);

impl fmt::Display for ConfigErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
        write!(f, "invalid config: {}", parts.join("; "))
    }
}

impl std::error::Error for ConfigErrors {}

/// A [`RunConfig`] that has passed [`RunConfig::validate`]: the only config the queue and
/// the engine accept, so a config is validated once where it enters (a form, the API, a
/// file, a row read back from the database) and never again on its way to the trainer.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct ValidConfig(RunConfig);

impl ValidConfig {
    pub fn into_inner(self) -> RunConfig {
        self.0
    }
}

impl std::ops::Deref for ValidConfig {
    type Target = RunConfig;

    fn deref(&self) -> &RunConfig {
        &self.0
    }
}

impl RunConfig {
    /// The built-in demo: the synthetic shapes set, sized for a 2-core CPU.
    pub fn shapes_demo(algorithm: Algorithm) -> Self {
        let text = format!(
            "name = \"shapes-{algorithm}\"\ntask = \"segmentation\"\nalgorithm = \"{algorithm}\"\n\
             [data]\nsource = {{ kind = \"shapes\" }}\n[train]\n"
        );
        let mut c: Self = toml::from_str(&text).expect("built-in config parses");
        c.tune_for_small_cpu();
        c
    }

    /// Settings that depart from the paper so that the built-in demo shows meaningful flaw
    /// maps, and GCT a gain, within minutes on a 2-core CPU (named in the README): 48-pixel
    /// images and crops, narrow nets (UNet width 12, F ndf 16), a higher task lr for nets
    /// trained from scratch, a narrower rescale range, fewer epochs, a shorter ramp-up, and
    /// two GCT constants measured at this size (docs/measurements.md): lambda_dc 10, because
    /// at 100 the consistency term pulls T1 and T2 onto each other's mistakes within a
    /// 280-iteration run (mIoU 0.39 against 0.49 at 10), and F's lr 1e-3, because at the
    /// paper's 4e-4 F is still near chance when the ramp-up ends (AUROC 0.60 against 0.65);
    /// then the task's settings, F's among them ([`RunConfig::set_task_defaults`]).
    pub fn tune_for_small_cpu(&mut self) {
        if let DataSource::Shapes { image_size, .. } = &mut self.data.source {
            *image_size = 48;
        }
        self.data.crop_size = 48;
        self.data.base_size = 48;
        self.data.scale_min = 0.75;
        self.data.scale_max = 1.5;
        self.t1.width = 12;
        self.t2.width = 12;
        self.flaw_detector.ndf = 16;
        self.train.fd_lr = 1e-3;
        self.train.epochs = 4;
        self.train.eval_every = 35; // half an epoch of the shapes set at 1/8 labels
        self.train.vis_every = 10;
        self.gct.dc_rampup_fraction = 0.25; // as 1 of its 4 epochs
        self.set_task_defaults(); // lr 0.05, lambda_dc 10, F's settings
    }

    /// The settings that differ between segmentation and restoration, for the demo and the
    /// new-run form (docs/algorithm.md, deviations 5-7). Restoration: Adam's lr 1e-3 against
    /// SGD's 0.05, lambda_fc 0.01 (its MSE is ~100x below a cross-entropy) and lambda_dc 1.
    /// Segmentation: the flaw detector that ranks the models' mistakes above their own
    /// confidence at this scale (session 15, docs/measurements.md "Flaw maps"): F starts
    /// from the confidence (`confidence_residual`), learns from labelled predictions with a
    /// class's region swapped (`fd_class_swaps` 0.5), and flaw correction through that
    /// stronger F is weighted 0.1 (at the paper's 1 it pulls the models: T2 -7.9 mIoU).
    fn set_task_defaults(&mut self) {
        let segmentation = !self.task.is_restoration();
        (self.train.lr, self.gct.lambda_fc, self.gct.lambda_dc) = if segmentation { (0.05, 0.1, 10.0) } else { (1e-3, 0.01, 1.0) };
        self.flaw_detector.confidence_residual = segmentation;
        self.gct.fd_class_swaps = if segmentation { 0.5 } else { 0.0 };
    }

    /// The demo set to `task`, with the settings that differ between segmentation and
    /// restoration (as the restoration examples have them). The new-run form starts from
    /// these.
    pub fn with_task_defaults(mut self, task: TaskKind) -> Self {
        self.task = task;
        self.set_task_defaults();
        self
    }

    /// The fields [`RunConfig::with_task_defaults`] sets.
    pub const TASK_DEPENDENT: [&'static str; 5] = ["train.lr", "gct.lambda_fc", "gct.lambda_dc", "flaw_detector.confidence_residual", "gct.fd_class_swaps"];

    /// The config, checked: see [`ValidConfig`].
    pub fn validated(self) -> Result<ValidConfig, ConfigErrors> {
        self.validate()?;
        Ok(ValidConfig(self))
    }

    /// Parse TOML into a typed config, not yet validated (a caller that still changes it,
    /// like the CLI's `--device`, validates once afterwards); errors name the field.
    pub fn parse_toml(text: &str) -> Result<Self, ConfigErrors> {
        toml::from_str(text).map_err(|e| {
            let field = e.message().split('`').nth(1).map(str::to_string).unwrap_or_else(|| "(file)".into());
            ConfigErrors(vec![FieldError { field, message: e.to_string().trim().replace('\n', " ") }])
        })
    }

    /// Parse TOML and validate; errors name the field.
    pub fn from_toml(text: &str) -> Result<Self, ConfigErrors> {
        let c = Self::parse_toml(text)?;
        c.validate()?;
        Ok(c)
    }

    /// The task interface (activation, supervised loss, label format) of this run.
    pub fn task_spec(&self) -> crate::task::Task {
        crate::task::Task { kind: self.task, out_channels: self.out_channels() }
    }

    /// Segmentation: the name of each class, for pages and reports (the built-in set's
    /// shape names, "class k" for folder sets). Empty for restoration.
    pub fn class_names(&self) -> Vec<String> {
        match (&self.data.source, self.task) {
            (DataSource::Shapes { .. }, TaskKind::Segmentation) => crate::data::shapes::CLASS_NAMES.iter().map(|s| s.to_string()).collect(),
            (_, TaskKind::Segmentation) => (0..self.data.num_classes).map(|k| format!("class {k}")).collect(),
            _ => Vec::new(),
        }
    }

    /// The constants of C(.) and H(.) for this run.
    pub fn flaw_params(&self) -> crate::gct::targets::FlawParams {
        crate::gct::targets::FlawParams {
            kernels: crate::gct::kernels::KernelSizes::for_crop(self.data.crop_size),
            mu: self.mu() as f32,
            nu: self.gct.nu,
            xi: self.gct.dc_threshold as f32,
            dc_margin: self.gct.dc_margin as f32,
            normalise: self.gct.target_normalise,
            confidence_gate: self.gct.dc_confidence_gate,
        }
    }

    pub fn mu(&self) -> f64 {
        self.gct.mu.unwrap_or(match self.task {
            TaskKind::Segmentation => 0.5,
            TaskKind::Denoising | TaskKind::Lowlight => 1.0 / 3.0,
        })
    }

    /// Output channels of the task models.
    pub fn out_channels(&self) -> usize {
        match self.task {
            TaskKind::Segmentation => self.data.num_classes,
            TaskKind::Denoising | TaskKind::Lowlight => 3,
        }
    }

    /// Batch of labelled images per iteration (SupOnly uses the whole batch, all labelled).
    pub fn labeled_per_batch(&self) -> usize {
        match self.algorithm {
            Algorithm::Suponly if self.train.suponly_batch == SuponlyBatch::Total => self.train.batch_labeled + self.train.batch_unlabeled,
            _ => self.train.batch_labeled,
        }
    }

    pub fn unlabeled_per_batch(&self) -> usize {
        match self.algorithm {
            Algorithm::Suponly => 0,
            _ => self.train.batch_unlabeled,
        }
    }

    /// The task models' optimiser with `auto` resolved: the spec's SGD for segmentation,
    /// Adam for restoration (a named deviation: the spec's constants are the segmentation
    /// reference's, and a denoiser trained from scratch with SGD never left its input's PSNR).
    pub fn task_optimizer(&self) -> TaskOptimizer {
        match (self.train.optimizer, self.task) {
            (TaskOptimizer::Auto, TaskKind::Segmentation) => TaskOptimizer::Sgd,
            (TaskOptimizer::Auto, TaskKind::Denoising | TaskKind::Lowlight) => TaskOptimizer::Adam,
            (chosen, _) => chosen,
        }
    }

    /// Iterations over which lambda_dc ramps up, for a run of `total` iterations at
    /// `per_epoch` iterations per epoch: `dc_rampup_epochs` epochs when set, else
    /// `dc_rampup_fraction` of the run.
    pub fn rampup_iterations(&self, per_epoch: usize, total: usize) -> usize {
        match self.gct.dc_rampup_epochs {
            Some(epochs) => (epochs * per_epoch as f64).round() as usize,
            None => (self.gct.dc_rampup_fraction * total as f64).round() as usize,
        }
    }

    /// The number of stride-2 stages of F (spec section 1 deviation: keep the map >= 8x8).
    pub fn fd_stages(&self) -> usize {
        self.flaw_detector.stride2_stages.unwrap_or_else(|| crate::models::flaw_detector::default_stages(self.data.crop_size))
    }

    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errs = Vec::new();
        let mut check = |ok: bool, field: &str, message: String| {
            if !ok {
                errs.push(FieldError { field: field.into(), message });
            }
        };
        let d = &self.data;
        check(!self.name.trim().is_empty(), "name", "must not be empty".into());
        check(d.label_ratio > 0.0 && d.label_ratio <= 1.0, "data.label_ratio", format!("must be in (0, 1], got {}", d.label_ratio));
        check(
            d.mask_encoding != MaskEncoding::Binary || d.num_classes == 2,
            "data.mask_encoding",
            format!("binary masks have 2 classes (background, foreground): set data.num_classes = 2, got {}", d.num_classes),
        );
        check((16..=1024).contains(&d.crop_size), "data.crop_size", format!("must be between 16 and 1024, got {}", d.crop_size));
        check((8..=MAX_BASE_SIZE).contains(&d.base_size), "data.base_size", format!("must be between 8 and {MAX_BASE_SIZE}, got {}", d.base_size));
        check(
            d.base_size as f64 * d.scale_max <= MAX_RESCALED_SIDE,
            "data.scale_max",
            format!("data.base_size x data.scale_max must be at most {MAX_RESCALED_SIDE}, got {}", d.base_size as f64 * d.scale_max),
        );
        check(
            d.scale_min.is_finite() && d.scale_min > 0.0 && d.scale_min <= d.scale_max,
            "data.scale_min",
            format!("must be > 0 and <= data.scale_max ({}), got {}", d.scale_max, d.scale_min),
        );
        check(d.scale_max > 0.0 && d.scale_max <= 8.0, "data.scale_max", format!("must be in (0, 8], got {}", d.scale_max));
        if self.task == TaskKind::Segmentation {
            check((2..=255).contains(&d.num_classes), "data.num_classes", format!("must be between 2 and 255, got {}", d.num_classes));
            if matches!(d.source, DataSource::Photos { .. } | DataSource::Pairs { .. }) {
                check(false, "data.source", "photos and pairs are for the restoration tasks (denoising, lowlight)".into());
            }
        } else {
            check(
                matches!(d.source, DataSource::Photos { .. } | DataSource::Pairs { .. } | DataSource::Shapes { .. }),
                "data.source",
                format!("{} needs photos, pairs or the built-in shapes images", self.task),
            );
            if self.task == TaskKind::Denoising {
                check(d.noise_sigma > 0.0 && d.noise_sigma <= 255.0, "data.noise_sigma", format!("must be in (0, 255], got {}", d.noise_sigma));
            } else {
                d.darken.check(&mut check);
            }
        }
        match &d.source {
            DataSource::Shapes { train_images, val_images, image_size } => {
                check(
                    (2..=MAX_SHAPES_TRAIN).contains(train_images),
                    "data.source.shapes.train_images",
                    format!("must be between 2 and {MAX_SHAPES_TRAIN}, got {train_images}"),
                );
                check(
                    (1..=MAX_SHAPES_VAL).contains(val_images),
                    "data.source.shapes.val_images",
                    format!("must be between 1 and {MAX_SHAPES_VAL}, got {val_images}"),
                );
                let bytes = dataset_bytes(&d.source);
                check(
                    bytes <= MAX_SHAPES_BYTES,
                    "data.source.shapes.train_images",
                    format!(
                        "the built-in set would take {} in memory (at most {}): fewer or smaller images",
                        human_bytes(bytes as f64),
                        human_bytes(MAX_SHAPES_BYTES as f64)
                    ),
                );
                check((16..=512).contains(image_size), "data.source.shapes.image_size", format!("must be between 16 and 512, got {image_size}"));
                if self.task == TaskKind::Segmentation {
                    check(
                        d.num_classes == crate::data::shapes::NUM_CLASSES,
                        "data.num_classes",
                        format!("the shapes set has {} classes", crate::data::shapes::NUM_CLASSES),
                    );
                }
            }
            DataSource::Voc { path } => check(!path.is_empty(), "data.source.voc.path", "must be set".into()),
            DataSource::Folder { path, val_fraction } | DataSource::Photos { path, val_fraction } => {
                check(!path.is_empty(), "data.source.path", "must be set".into());
                check(*val_fraction > 0.0 && *val_fraction < 1.0, "data.source.val_fraction", format!("must be in (0, 1), got {val_fraction}"));
            }
            DataSource::Pairs { path, input_dir, target_dir, val_fraction, val_path } => {
                check(!path.is_empty(), "data.source.path", "must be set".into());
                check(val_path.as_ref().is_none_or(|p| !p.is_empty()), "data.source.val_path", "must not be empty when set".into());
                check(*val_fraction > 0.0 && *val_fraction < 1.0, "data.source.val_fraction", format!("must be in (0, 1), got {val_fraction}"));
                for (field, dir) in [("data.source.input_dir", input_dir), ("data.source.target_dir", target_dir)] {
                    let plain = !dir.is_empty() && !dir.starts_with('.') && !dir.contains(['/', '\\', '\0']);
                    check(plain, field, format!("must be a folder name inside data.source.path, got '{}'", dir.escape_default()));
                }
                check(input_dir != target_dir, "data.source.target_dir", "must differ from data.source.input_dir".into());
            }
        }
        for (name, net) in [("t1", &self.t1), ("t2", &self.t2)] {
            check((4..=256).contains(&net.width), &format!("{name}.width"), format!("must be between 4 and 256, got {}", net.width));
            check((2..=5).contains(&net.depth), &format!("{name}.depth"), format!("must be between 2 and 5, got {}", net.depth));
            let factor = 1usize << net.depth.saturating_sub(1).min(5);
            check(d.crop_size.is_multiple_of(factor), "data.crop_size", format!("must be a multiple of {factor} for {name} (depth {})", net.depth));
        }
        let f = &self.flaw_detector;
        check((4..=128).contains(&f.ndf), "flaw_detector.ndf", format!("must be between 4 and 128, got {}", f.ndf));
        if let Some(s) = f.stride2_stages {
            check((1..=5).contains(&s), "flaw_detector.stride2_stages", format!("must be between 1 and 5, got {s}"));
        }
        for (on, field) in [(f.confidence_input, "flaw_detector.confidence_input"), (f.confidence_residual, "flaw_detector.confidence_residual")] {
            check(!on || !self.task.is_restoration(), field, "is for segmentation: a restored image has no class probabilities to be unsure of".into());
        }
        // F also runs on evaluation images, whose short side is base_size.
        let smallest = d.crop_size.min(d.base_size);
        let stages = self.fd_stages().clamp(1, 5);
        check(
            crate::models::flaw_detector::map_size(smallest, stages) >= 2,
            "flaw_detector.stride2_stages",
            format!("{stages} stride-2 stages leave no map at a {smallest}-pixel input; use fewer"),
        );
        let t = &self.train;
        check(t.batch_labeled >= 1, "train.batch_labeled", "must be at least 1".into());
        check(t.batch_unlabeled >= 1 || self.algorithm == Algorithm::Suponly, "train.batch_unlabeled", "must be at least 1 for gct and dual".into());
        check(
            t.batch_labeled.saturating_add(t.batch_unlabeled) <= 256,
            "train.batch_labeled",
            format!("total batch must be at most 256, got {}", t.batch_labeled.saturating_add(t.batch_unlabeled)),
        );
        // Checked even when train.iterations overrides it: an absurd value is an error anywhere.
        check(
            (t.iterations.is_some() || t.epochs >= 1) && t.epochs <= MAX_EPOCHS,
            "train.epochs",
            format!("must be between 1 and {MAX_EPOCHS}, got {}", t.epochs),
        );
        if let Some(it) = t.iterations {
            check((1..=MAX_ITERATIONS).contains(&it), "train.iterations", format!("must be between 1 and {MAX_ITERATIONS}, got {it}"));
        }
        for (field, v) in [("train.probe_labeled", t.probe_labeled), ("train.probe_unlabeled", t.probe_unlabeled)] {
            check(v <= MAX_PROBES, field, format!("must be at most {MAX_PROBES}, got {v}"));
        }
        for (field, v) in [("train.lr", t.lr), ("train.fd_lr", t.fd_lr)] {
            check(v > 0.0 && v.is_finite() && v < 10.0, field, format!("must be in (0, 10), got {v}"));
        }
        check(
            self.task_optimizer() != TaskOptimizer::Adam || t.lr <= 0.01,
            "train.lr",
            format!("must be at most 0.01 with Adam (the task models' optimiser here; 1e-3 is usual), got {}", t.lr),
        );
        check(
            t.head_lr_mult > 0.0 && t.head_lr_mult <= MAX_HEAD_LR_MULT,
            "train.head_lr_mult",
            format!("must be in (0, {MAX_HEAD_LR_MULT}], got {}", t.head_lr_mult),
        );
        check((0.0..1.0).contains(&t.momentum), "train.momentum", "must be in [0, 1)".into());
        check((0.0..=MAX_WEIGHT_DECAY).contains(&t.weight_decay), "train.weight_decay", format!("must be in [0, {MAX_WEIGHT_DECAY}], got {}", t.weight_decay));
        check(
            (0.0..=MAX_WEIGHT_DECAY).contains(&t.fd_weight_decay),
            "train.fd_weight_decay",
            format!("must be in [0, {MAX_WEIGHT_DECAY}], got {}", t.fd_weight_decay),
        );
        check((1..=8).contains(&t.fd_steps), "train.fd_steps", format!("must be between 1 and 8, got {}", t.fd_steps));
        check(t.fd_fresh_steps <= 8, "train.fd_fresh_steps", format!("must be between 0 and 8, got {}", t.fd_fresh_steps));
        check((0.0..1.0).contains(&t.fd_beta1), "train.fd_beta1", "must be in [0, 1)".into());
        check((0.0..1.0).contains(&t.fd_beta2), "train.fd_beta2", "must be in [0, 1)".into());
        check(t.fd_eps > 0.0 && t.fd_eps <= 1.0, "train.fd_eps", format!("must be in (0, 1], got {}", t.fd_eps));
        check((0.0..=10.0).contains(&t.poly_power), "train.poly_power", format!("must be in [0, 10], got {}", t.poly_power));
        check((0.0..=0.5).contains(&t.lr_warmup_fraction), "train.lr_warmup_fraction", format!("must be in [0, 0.5], got {}", t.lr_warmup_fraction));
        check(t.log_every >= 1, "train.log_every", "must be at least 1".into());
        let g = &self.gct;
        for (field, v) in [("gct.lambda_dc", g.lambda_dc), ("gct.lambda_fc", g.lambda_fc), ("gct.fd_scale", g.fd_scale)] {
            check((0.0..=1e6).contains(&v), field, format!("must be in [0, 1e6], got {v}"));
        }
        check(g.dc_threshold > 0.0 && g.dc_threshold <= 1.0, "gct.dc_threshold", format!("must be in (0, 1], got {}", g.dc_threshold));
        check((0.0..1.0).contains(&g.dc_margin), "gct.dc_margin", format!("must be in [0, 1), got {}", g.dc_margin));
        if let Some(mu) = g.mu {
            check(mu > 0.0 && mu <= 1.0, "gct.mu", format!("must be in (0, 1], got {mu}"));
        }
        check(g.nu <= 4, "gct.nu", "must be at most 4".into());
        check((0.0..=0.5).contains(&g.fd_holdout), "gct.fd_holdout", format!("must be in [0, 0.5], got {}", g.fd_holdout));
        check(
            g.fd_holdout == 0.0 || !self.task.is_restoration(),
            "gct.fd_holdout",
            format!("applies to segmentation tasks; {} learns from clean images, which cannot be hidden per pixel", self.task),
        );
        check((0.0..=1.0).contains(&g.fd_class_swaps), "gct.fd_class_swaps", format!("must be in [0, 1], got {}", g.fd_class_swaps));
        check(
            g.fd_class_swaps == 0.0 || !self.task.is_restoration(),
            "gct.fd_class_swaps",
            format!("applies to segmentation tasks; {} predicts colours, not classes", self.task),
        );
        check(
            !g.dc_confidence_gate || !self.task.is_restoration(),
            "gct.dc_confidence_gate",
            format!("applies to segmentation tasks; {} predictions have no class probabilities", self.task),
        );
        check((0.0..=1.0).contains(&g.dc_rampup_fraction), "gct.dc_rampup_fraction", format!("must be in [0, 1], got {}", g.dc_rampup_fraction));
        if let Some(e) = g.dc_rampup_epochs {
            check((0.0..=MAX_EPOCHS as f64).contains(&e), "gct.dc_rampup_epochs", format!("must be in [0, {MAX_EPOCHS}], got {e}"));
        }
        // The sizes that multiply into memory are checked together; only when each is in
        // range, so the message names the product and not a field already reported.
        if errs.is_empty() {
            let need = estimate_train_bytes(self);
            let budget = memory_budget();
            if need > budget as f64 {
                errs.push(FieldError {
                    field: "data.crop_size".into(),
                    message: format!(
                        "a training step at this crop size, batch ({} + {}), t1/t2 widths and depths and flaw_detector.ndf \
                         needs about {} (estimate), more than the {} a run may use here: lower one of them",
                        self.labeled_per_batch(),
                        self.unlabeled_per_batch(),
                        human_bytes(need),
                        human_bytes(budget as f64)
                    ),
                });
            }
        }
        if errs.is_empty() { Ok(()) } else { Err(ConfigErrors(errs)) }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn evaluation_pads_only_to_what_the_networks_need() {
        let unet = |depth| NetConfig { arch: Arch::Unet, width: 8, depth };
        assert_eq!((unet(1).size_multiple(), unet(3).size_multiple(), unet(5).size_multiple()), (1, 4, 16));
        assert_eq!(NetConfig { arch: Arch::Deeplab, width: 8, depth: 3 }.size_multiple(), 8);
    }

    #[test]
    fn the_rampup_is_a_share_of_the_run_unless_given_in_epochs() {
        // A 12-image set at 1/8 labels and batches of 2: 6 iterations per epoch. The spec's
        // 3 epochs would ramp over 18 of 150 iterations; the default fraction over 23.
        let mut c = RunConfig::shapes_demo(Algorithm::Gct);
        c.gct = GctConfig::default();
        assert_eq!(c.rampup_iterations(6, 150), 23);
        assert_eq!(c.rampup_iterations(1, 1000), 150);
        c.gct.dc_rampup_epochs = Some(3.0);
        assert_eq!(c.rampup_iterations(6, 150), 18);
        c.gct.dc_rampup_fraction = 2.0;
        assert!(c.validate().unwrap_err().0.iter().any(|e| e.field == "gct.dc_rampup_fraction"));
        // Configs written before the fraction existed keep their epochs.
        let old: GctConfig = serde_json::from_str(r#"{"lambda_dc": 100, "dc_rampup_epochs": 3.0}"#).unwrap();
        assert_eq!((old.dc_rampup_epochs, old.dc_rampup_fraction), (Some(3.0), 0.15));
    }

    use super::*;

    #[test]
    fn demo_config_is_valid_and_has_spec_constants() {
        // The spec's constants are the defaults of a config...
        let text = "task = \"segmentation\"\nalgorithm = \"gct\"\n[data]\nsource = { kind = \"shapes\" }\n[train]\n";
        let spec: RunConfig = toml::from_str(text).unwrap();
        assert_eq!(spec.gct.lambda_dc, 100.0);
        assert_eq!(spec.train.fd_lr, 4e-4);
        assert_eq!((spec.gct.lambda_fc, spec.gct.fd_class_swaps, spec.flaw_detector.confidence_residual), (1.0, 0.0, false));
        // ...and the demo departs only where the README says it does.
        let c = RunConfig::shapes_demo(Algorithm::Gct);
        c.validate().unwrap();
        assert_eq!(c.gct.lambda_dc, 10.0);
        assert_eq!(c.train.fd_lr, 1e-3);
        assert_eq!((c.gct.lambda_fc, c.gct.fd_class_swaps, c.flaw_detector.confidence_residual), (0.1, 0.5, true));
        assert_eq!(c.gct.dc_threshold, 0.6);
        assert_eq!(c.gct.fd_scale, 10.0);
        assert_eq!(c.mu(), 0.5);
        assert_eq!(c.train.fd_beta2, 0.99);
    }

    #[test]
    fn the_demo_turns_f_settings_on_for_segmentation_only() {
        for &task in TaskKind::ALL {
            let c = RunConfig::shapes_demo(Algorithm::Gct).with_task_defaults(task);
            assert_eq!(c.flaw_detector.confidence_residual, !task.is_restoration(), "{task:?}");
            assert_eq!(c.gct.fd_class_swaps > 0.0, !task.is_restoration(), "{task:?}");
            let back = c.clone().with_task_defaults(TaskKind::Segmentation);
            assert_eq!(back, RunConfig::shapes_demo(Algorithm::Gct), "{task:?} and back");
        }
        // TASK_DEPENDENT (what the form switches with the task) is exactly what differs.
        fn leaves(prefix: &str, v: &serde_json::Value, out: &mut Vec<(String, serde_json::Value)>) {
            match v {
                serde_json::Value::Object(m) => {
                    m.iter().for_each(|(k, v)| leaves(&if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") }, v, out))
                }
                other => out.push((prefix.to_string(), other.clone())),
            }
        }
        let flat = |t: TaskKind| {
            let mut out = Vec::new();
            leaves("", &serde_json::to_value(RunConfig::shapes_demo(Algorithm::Gct).with_task_defaults(t)).unwrap(), &mut out);
            out
        };
        let (seg, den) = (flat(TaskKind::Segmentation), flat(TaskKind::Denoising));
        let mut differ: Vec<&str> = seg.iter().zip(&den).filter(|(a, b)| a != b && a.0 != "task").map(|(a, _)| a.0.as_str()).collect();
        let mut listed = RunConfig::TASK_DEPENDENT.to_vec();
        listed.sort();
        differ.sort();
        assert_eq!(differ, listed);
    }

    #[test]
    fn optimizer_auto_is_sgd_for_segmentation_and_adam_for_restoration() {
        let mut c = RunConfig::shapes_demo(Algorithm::Gct);
        assert_eq!(c.train.optimizer, TaskOptimizer::Auto);
        assert_eq!(c.task_optimizer(), TaskOptimizer::Sgd);
        c.task = TaskKind::Denoising;
        assert_eq!(c.task_optimizer(), TaskOptimizer::Adam);
        (c.flaw_detector.confidence_residual, c.gct.fd_class_swaps) = (false, 0.0); // segmentation's
        // The demo's SGD rate is far too high for Adam: refused on the field, with the reason.
        let errs = c.validate().unwrap_err();
        assert!(errs.0.iter().any(|e| e.field == "train.lr" && e.message.contains("Adam")), "{errs:?}");
        c.train.lr = 1e-3;
        c.validate().unwrap();
        // An explicit choice wins over the task's default.
        c.train.optimizer = TaskOptimizer::Sgd;
        assert_eq!(c.task_optimizer(), TaskOptimizer::Sgd);
        let parsed: RunConfig =
            toml::from_str("task = \"denoising\"\nalgorithm = \"gct\"\n[data]\nsource = { kind = \"shapes\" }\n[train]\noptimizer = \"adam\"\n").unwrap();
        assert_eq!(parsed.train.optimizer, TaskOptimizer::Adam);
    }

    #[test]
    fn lowlight_takes_photos_or_pairs_and_checks_its_darkening_and_folders() {
        let text = "task = \"lowlight\"\nalgorithm = \"gct\"\n[data]\nsource = { kind = \"pairs\", path = \"lol/our485\", val_path = \"lol/eval15\" }\n[train]\nlr = 1e-3\n";
        let c = RunConfig::from_toml(text).unwrap();
        assert!(c.task.is_restoration() && c.out_channels() == 3 && c.task_optimizer() == TaskOptimizer::Adam);
        assert_eq!(c.data.source.folders(), vec!["lol/our485", "lol/eval15"]);
        let fields = |c: &RunConfig| c.validate().err().map(|e| e.0.into_iter().map(|e| e.field).collect::<Vec<_>>()).unwrap_or_default();
        // Segmentation sources are refused, as are pairs for segmentation.
        let mut bad = c.clone();
        bad.data.source = DataSource::Voc { path: "voc".into() };
        assert_eq!(fields(&bad), vec!["data.source"]);
        let mut seg = c.clone();
        seg.task = TaskKind::Segmentation;
        seg.train.lr = 0.05;
        assert!(fields(&seg).contains(&"data.source".to_string()));
        // Folder names inside the dataset, not paths; different from each other.
        let mut dirs = c.clone();
        if let DataSource::Pairs { input_dir, target_dir, .. } = &mut dirs.data.source {
            *input_dir = "../elsewhere".into();
            *target_dir = "high".into();
        }
        assert_eq!(fields(&dirs), vec!["data.source.input_dir"]);
        if let DataSource::Pairs { input_dir, .. } = &mut dirs.data.source {
            *input_dir = "high".into();
        }
        assert_eq!(fields(&dirs), vec!["data.source.target_dir"]);
        // The darkening model's ranges and finiteness.
        let mut dark = c.clone();
        dark.data.darken.exposure_min = 0.5;
        dark.data.darken.exposure_max = 0.2;
        dark.data.darken.gamma_max = 9.0;
        dark.data.darken.photons = 0.0;
        dark.data.darken.read_noise = f64::NAN;
        let f = fields(&dark);
        for field in ["data.darken.exposure_min", "data.darken.gamma_min", "data.darken.photons", "data.darken.read_noise", "data.darken"] {
            assert!(f.contains(&field.to_string()), "{field} in {f:?}");
        }
        // Denoising ignores the darkening, low-light the noise.
        let mut denoise = dark.clone();
        denoise.task = TaskKind::Denoising;
        assert!(fields(&denoise).is_empty(), "{:?}", fields(&denoise));
    }

    #[test]
    fn each_enum_has_one_list_of_names_that_serde_agrees_with() {
        fn check<T: Serialize + std::str::FromStr<Err = String> + fmt::Display + PartialEq + fmt::Debug + Copy>(all: &[T]) {
            for &v in all {
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::Value::String(v.to_string()), "{v:?}");
                assert_eq!(v.to_string().parse::<T>().unwrap(), v);
            }
        }
        check(TaskKind::ALL);
        check(Algorithm::ALL);
        check(TaskOptimizer::ALL);
        check(MaskEncoding::ALL);
        check(SuponlyBatch::ALL);
        check(Arch::ALL);
        check(DeviceChoice::ALL);
        assert!("sgdd".parse::<TaskOptimizer>().unwrap_err().contains("auto, sgd, adam"));
    }

    #[test]
    fn errors_name_every_bad_field() {
        let mut c = RunConfig::shapes_demo(Algorithm::Gct);
        c.data.label_ratio = 0.0;
        c.train.batch_labeled = 0;
        c.gct.dc_threshold = 2.0;
        c.gct.fd_holdout = 0.6;
        c.train.fd_steps = 0;
        c.train.fd_fresh_steps = 9;
        c.train.lr_warmup_fraction = 0.7;
        c.gct.dc_margin = 1.0;
        c.gct.fd_class_swaps = 1.5;
        let errs = c.validate().unwrap_err().0;
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        for f in [
            "data.label_ratio",
            "train.batch_labeled",
            "gct.dc_threshold",
            "gct.fd_holdout",
            "train.fd_steps",
            "train.fd_fresh_steps",
            "gct.dc_margin",
            "train.lr_warmup_fraction",
            "gct.fd_class_swaps",
        ] {
            assert!(fields.contains(&f), "{f} not in {fields:?}");
        }
        // Held-out labels are per pixel: a restoration task cannot hide its clean images.
        let mut c = RunConfig::shapes_demo(Algorithm::Gct).with_task_defaults(TaskKind::Lowlight);
        c.gct.fd_holdout = 0.25;
        // Class swaps and the confidence gate need class probabilities.
        c.gct.fd_class_swaps = 0.5;
        c.gct.dc_confidence_gate = true;
        c.flaw_detector.confidence_input = true;
        c.flaw_detector.confidence_residual = true;
        let errs = c.validate().unwrap_err().0;
        for f in ["gct.fd_holdout", "gct.fd_class_swaps", "gct.dc_confidence_gate", "flaw_detector.confidence_input", "flaw_detector.confidence_residual"] {
            assert!(errs.iter().any(|e| e.field == f && e.message.contains("segmentation")), "{f}: {errs:?}");
        }
    }

    #[test]
    fn extreme_values_are_errors_not_panics() {
        // Integer overflow in validation would panic in the dev build the README runs.
        let mut c = RunConfig::shapes_demo(Algorithm::Gct);
        c.t1.depth = 0;
        c.train.batch_labeled = usize::MAX;
        c.train.batch_unlabeled = usize::MAX;
        c.train.epochs = usize::MAX;
        c.gct.lambda_fc = f64::INFINITY;
        c.train.weight_decay = f64::NAN;
        let fields: Vec<String> = c.validate().unwrap_err().0.into_iter().map(|e| e.field).collect();
        for f in ["t1.depth", "train.batch_labeled", "train.epochs", "gct.lambda_fc", "train.weight_decay"] {
            assert!(fields.iter().any(|x| x == f), "{f} not in {fields:?}");
        }
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        let text = "task = \"segmentation\"\nalgorithm = \"gct\"\n[data]\nsource = { kind = \"shapes\" }\n[train]\nbatch_labled = 3\n";
        let err = RunConfig::from_toml(text).unwrap_err();
        assert!(err.to_string().contains("batch_labled"), "{err}");
    }
}
