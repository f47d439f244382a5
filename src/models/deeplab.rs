//! A DeepLab-style network: a strided backbone, a dilated stage, an ASPP head whose atrous
//! rates are scaled to the feature size (the reference's 6/12/18/24 at a 41x41 map), its
//! branches summed (DeepLabv2), and logits upsampled bilinearly to the input size.

use super::TaskNetSpec;
use super::blocks::{ConvBnRelu, resize_bilinear};
use burn::module::Module;
use burn::nn::PaddingConfig2d;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::tensor::{Device, Tensor};

/// Reference atrous rates at a 41 x 41 feature map (DeepLabv2, S = 321, output stride 8).
const REFERENCE_RATES: [usize; 4] = [6, 12, 18, 24];
const REFERENCE_FEATURE: f64 = 41.0;

#[derive(Module, Debug)]
pub struct DeepLab {
    pub stages: Vec<ConvBnRelu>,
    pub dilated: Vec<ConvBnRelu>,
    pub aspp: Vec<Conv2d>,
    pub residual: bool,
}

/// Atrous rates for a feature map of `feature` pixels: scaled, at least 1, distinct where
/// the size allows.
pub fn atrous_rates(feature: usize) -> Vec<usize> {
    let mut rates: Vec<usize> = REFERENCE_RATES.iter().map(|&r| ((r as f64 * feature as f64 / REFERENCE_FEATURE).round() as usize).max(1)).collect();
    for i in 1..rates.len() {
        if rates[i] <= rates[i - 1] {
            rates[i] = rates[i - 1] + 1;
        }
    }
    rates
}

impl DeepLab {
    /// `depth` stride-2 stages (output stride 2^depth), widths doubling up to 8x `width`.
    pub fn new(width: usize, depth: usize, spec: TaskNetSpec, device: &Device) -> Self {
        let ch = |i: usize| width << i.min(3);
        let mut stages = Vec::new();
        for i in 0..depth {
            let cin = if i == 0 { spec.in_channels } else { ch(i - 1) };
            stages.push(ConvBnRelu::new(cin, ch(i), 2, 1, device));
            stages.push(ConvBnRelu::new(ch(i), ch(i), 1, 1, device));
        }
        let top = ch(depth - 1);
        let dilated = vec![ConvBnRelu::new(top, top, 1, 2, device), ConvBnRelu::new(top, top, 1, 4, device)];
        let feature = spec.crop_size >> depth;
        let aspp = atrous_rates(feature)
            .into_iter()
            .map(|r| Conv2dConfig::new([top, spec.out_channels], [3, 3]).with_dilation([r, r]).with_padding(PaddingConfig2d::Explicit(r, r, r, r)).init(device))
            .collect();
        Self { stages, dilated, aspp, residual: spec.residual }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let input = x.clone();
        let mut f = x;
        for s in self.stages.iter().chain(self.dilated.iter()) {
            f = s.forward(f);
        }
        let logits = self.aspp.iter().map(|branch| super::conv::forward(branch, f.clone())).reduce(|a, b| a + b).expect("at least one ASPP branch");
        let out = resize_bilinear(logits, h, w, true);
        if self.residual { out + input } else { out }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn rates_scale_with_the_feature_map() {
        assert_eq!(super::atrous_rates(41), vec![6, 12, 18, 24]);
        assert_eq!(super::atrous_rates(8), vec![1, 2, 4, 5]);
        assert_eq!(super::atrous_rates(2), vec![1, 2, 3, 4]);
    }
}
