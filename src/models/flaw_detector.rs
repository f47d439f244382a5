//! The flaw detector F (spec section 1): 8 convolutions of 4x4 with bias, IBNorm and
//! LeakyReLU(0.2) after all but the classifier, bilinear upsampling (align_corners) to the
//! input size, and no sigmoid: the raw map is regressed onto targets in [0, 1].
//!
//! Named deviation: the reference has 5 stride-2 convolutions (conv1, conv2, conv3, conv4
//! and the classifier), which at a 64-pixel crop collapse the map to 1 x 1. Here the first
//! `stages` of those five are stride 2 and the others stride 1 with 'same' padding
//! (1 before, 2 after); [`default_stages`] picks the largest count that keeps the map
//! before upsampling at least 8 x 8. The reference's stride-1 convs (2_1, 3_1, 4_1) keep
//! padding 1 as in the reference. The parameter count does not depend on the strides.
//!
//! Optional named deviation (`flaw_detector.fine_branch`): a full-resolution branch, two 3x3
//! convolutions on the same input (image and prediction), added to the upsampled map. The
//! strided stack sees context but paints at most a 9 x 9 map at the demo's crop; the branch
//! lets F place its map on the pixels themselves (docs/measurements.md, "Flaw maps").
//!
//! Optional named deviation (`flaw_detector.confidence_input`, segmentation): one more
//! input channel, the prediction's uncertainty 1 - max_k p_k, computed here from the
//! prediction F is given, so every caller (the step, class swaps, evaluation) feeds the
//! same thing. It is the baseline F is scored against: F starts from what the model
//! already knows and has to learn what it does not. `flaw_detector.confidence_residual`
//! adds that uncertainty to F's map at full resolution: F = u + F's own map, so the layers
//! learn only where the model is wrong beyond (or less than) its own uncertainty.

use super::blocks::resize_bilinear;
use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d};
use burn::tensor::activation::leaky_relu;
use burn::tensor::{Device, Tensor};

/// IBNorm(C): the first round(C/2) channels through BatchNorm (affine, eps 1e-5, momentum
/// 0.1), the rest through InstanceNorm (no affine, per-instance statistics always).
#[derive(Module, Debug)]
pub struct IbNorm {
    pub bn: BatchNorm,
    pub bn_channels: usize,
}

impl IbNorm {
    pub fn new(channels: usize, device: &Device) -> Self {
        let bn_channels = (channels as f64 / 2.0).round() as usize;
        Self { bn: BatchNormConfig::new(bn_channels).with_epsilon(1e-5).with_momentum(0.1).init(device), bn_channels }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let batch_part = self.bn.forward(x.clone().narrow(1, 0, self.bn_channels));
        if self.bn_channels == c {
            return batch_part;
        }
        let inst = x.narrow(1, self.bn_channels, c - self.bn_channels);
        let flat = inst.reshape([n, c - self.bn_channels, h * w]);
        let (var, mean) = flat.clone().var_mean_bias(2);
        let normed = (flat - mean) / var.add_scalar(1e-5).sqrt();
        Tensor::cat(vec![batch_part, normed.reshape([n, c - self.bn_channels, h, w])], 1)
    }
}

/// The eight convolutions in order, by their reference names.
pub const LAYER_NAMES: [&str; 8] = ["conv1", "conv2", "conv2_1", "conv3", "conv3_1", "conv4", "conv4_1", "classifier"];
/// Which of the eight may be stride 2 (in this order), and which are stride 1 in the reference.
const STRIDE2_CANDIDATES: [usize; 5] = [0, 1, 3, 5, 7];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Geometry {
    Stride2,
    /// Stride 1, padding 1: the map shrinks by one (reference conv2_1, 3_1, 4_1).
    Shrink,
    /// Stride 1, padding (1, 2): the map keeps its size (a stride-2 conv turned off).
    Same,
}

fn geometry(stages: usize) -> [Geometry; 8] {
    let mut g = [Geometry::Shrink; 8];
    for (i, &layer) in STRIDE2_CANDIDATES.iter().enumerate() {
        g[layer] = if i < stages { Geometry::Stride2 } else { Geometry::Same };
    }
    g
}

/// Side of F's map before upsampling for an input side `s`; 0 when the stack collapses
/// (a convolution would get an input smaller than its kernel).
pub fn map_size(s: usize, stages: usize) -> usize {
    geometry(stages).iter().fold(s, |n, g| match g {
        // 4x4 kernel, padding 1: needs n + 2 >= 4.
        _ if n < 2 => 0,
        Geometry::Stride2 => (n - 2) / 2 + 1,
        Geometry::Shrink => n - 1,
        Geometry::Same => n,
    })
}

/// The most stride-2 stages (reference: 5) that keep F's map at least 8 x 8.
pub fn default_stages(crop: usize) -> usize {
    (1..=5).rev().find(|&s| map_size(crop, s) >= 8).unwrap_or(1)
}

/// The full-resolution branch: 3x3 conv to `width` channels, LeakyReLU(0.2), 3x3 conv to 1.
#[derive(Module, Debug)]
pub struct FineBranch {
    pub conv1: Conv2d,
    pub conv2: Conv2d,
}

impl FineBranch {
    pub fn new(in_channels: usize, width: usize, device: &Device) -> Self {
        let conv = |cin, cout| Conv2dConfig::new([cin, cout], [3, 3]).with_padding(PaddingConfig2d::Explicit(1, 1, 1, 1)).init(device);
        Self { conv1: conv(in_channels, width), conv2: conv(width, 1) }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let h = leaky_relu(super::conv::forward(&self.conv1, x), 0.2);
        super::conv::forward(&self.conv2, h)
    }
}

/// F's named deviations beyond the reference, all off there (`flaw_detector.*`).
#[derive(Debug, Clone, Copy, Default)]
pub struct FlawExtras {
    pub fine_branch: bool,
    pub confidence_input: bool,
    pub confidence_residual: bool,
}

/// 1 - max_k p_k of a prediction [N, K, H, W], as [N, 1, H, W].
fn uncertainty(pred: Tensor<4>) -> Tensor<4> {
    pred.max_dim(1).neg().add_scalar(1.0)
}

#[derive(Module, Debug)]
pub struct FlawDetector {
    pub convs: Vec<Conv2d>,
    pub norms: Vec<IbNorm>,
    /// Last, so that F's other parameters draw the same initial values with or without it.
    pub fine: Option<FineBranch>,
    /// Append 1 - max softmax probability of the prediction to F's input.
    pub confidence_input: bool,
    /// Add 1 - max softmax probability to F's map.
    pub confidence_residual: bool,
}

impl FlawDetector {
    /// `in_channels` = 3 + K (segmentation) or 3 + 3 (restoration), not counting the
    /// uncertainty channel `extras.confidence_input` adds.
    pub fn new(in_channels: usize, ndf: usize, stages: usize, extras: FlawExtras, device: &Device) -> Self {
        let in_channels = in_channels + usize::from(extras.confidence_input);
        let widths = [ndf, 2 * ndf, 2 * ndf, 4 * ndf, 4 * ndf, 8 * ndf, 8 * ndf, 1];
        let mut cin = in_channels;
        let mut convs = Vec::new();
        for (&cout, g) in widths.iter().zip(geometry(stages)) {
            let (stride, pad) = match g {
                Geometry::Stride2 => (2, PaddingConfig2d::Explicit(1, 1, 1, 1)),
                Geometry::Shrink => (1, PaddingConfig2d::Explicit(1, 1, 1, 1)),
                Geometry::Same => (1, PaddingConfig2d::Explicit(1, 1, 2, 2)),
            };
            convs.push(Conv2dConfig::new([cin, cout], [4, 4]).with_stride([stride, stride]).with_padding(pad).init(device));
            cin = cout;
        }
        let norms = widths[..7].iter().map(|&c| IbNorm::new(c, device)).collect();
        let fine = extras.fine_branch.then(|| FineBranch::new(in_channels, ndf, device));
        Self { convs, norms, fine, confidence_input: extras.confidence_input, confidence_residual: extras.confidence_residual }
    }

    /// What F reads: concat(x, p) (spec), and 1 - max_k p_k after them with
    /// `confidence_input`.
    pub fn input(&self, image: Tensor<4>, pred: Tensor<4>) -> Tensor<4> {
        if self.confidence_input {
            let uncertainty = uncertainty(pred.clone());
            Tensor::cat(vec![image, pred, uncertainty], 1)
        } else {
            Tensor::cat(vec![image, pred], 1)
        }
    }

    /// F(x, p): the raw flaw map at the input resolution, [N, 1, H, W].
    pub fn forward(&self, image: Tensor<4>, pred: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = image.dims();
        // Not detached: flaw correction's gradient reaches the models through this term
        // too (a build with it detached trained no better models; docs/measurements.md).
        let residual = self.confidence_residual.then(|| uncertainty(pred.clone()));
        let input = self.input(image, pred);
        let mut x = input.clone();
        for (conv, norm) in self.convs.iter().zip(self.norms.iter()) {
            x = leaky_relu(norm.forward(super::conv::forward(conv, x)), 0.2);
        }
        let raw = super::conv::forward(&self.convs[7], x);
        let map = resize_bilinear(raw, h, w, true);
        let map = match &self.fine {
            Some(fine) => map + fine.forward(input),
            None => map,
        };
        match residual {
            Some(u) => map + u,
            None => map,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_geometry_gives_nine_by_nine_at_321() {
        assert_eq!(map_size(321, 5), 9);
        assert_eq!(default_stages(321), 5);
    }

    #[test]
    fn small_crops_keep_at_least_eight() {
        for s in [32, 64, 96, 128, 256] {
            let st = default_stages(s);
            assert!(map_size(s, st) >= 8, "S={s} stages={st}");
        }
        assert!(map_size(64, 5) <= 1, "the reference stack collapses at S = 64");
        assert_eq!(map_size(16, 5), 0);
    }
}
