//! Class swaps: predictions with a known mistake, for F to learn from (`gct.fd_class_swaps`,
//! segmentation; a named deviation, off by default).
//!
//! Why: F learns from the task models' predictions on the labelled images, which the models
//! fit within a few epochs, so the mistakes F sees there are mostly boundary pixels. The
//! mistakes that matter at 1/8 labels are whole regions of the wrong class (a model that
//! never learns a class labels all of it as another), and where T1 and T2 disagree on one,
//! F has to say which of them is wrong (docs/measurements.md: F picks the right model about
//! half the time, so dynamic consistency copies a miss as readily as a cure). A swap gives
//! F that mistake on a labelled crop: in the region of one class c present in the crop, the
//! prediction's channels c and c' (another class) trade places, so the model's confidence
//! there now backs c'. F regresses C(.) of the swapped prediction like any other, so its
//! target is still the spec's, computed from the labels.

use burn::tensor::{Device, Tensor};
use rand::RngExt;

/// The swaps of one labelled slice, on the host: which pixels of each sample are swapped
/// and the channel permutation applied there (the identity where a sample is not swapped).
#[derive(Debug, Clone, PartialEq)]
pub struct HostSwaps {
    pub n: usize,
    pub classes: usize,
    pub height: usize,
    pub width: usize,
    /// [n, 1, H, W]: 1 where the sample's prediction is swapped.
    pub mask: Vec<f32>,
    /// [n, K, K]: row k holds a 1 at the channel that output channel k is read from.
    pub permutation: Vec<f32>,
    /// Per sample, the (true class, class it is swapped with), or None.
    pub swapped: Vec<Option<(usize, usize)>>,
}

impl HostSwaps {
    /// Draws, for each of the `n` labelled samples (labels [n, H, W], values >= `classes`
    /// ignored), with probability `share`, one class present in its labels and another
    /// class to trade places with.
    pub fn draw(labels: &[i32], n: usize, height: usize, width: usize, classes: usize, share: f64, rng: &mut impl rand::Rng) -> Self {
        let hw = height * width;
        assert_eq!(labels.len(), n * hw, "labels of {n} samples of {height}x{width}");
        let mut mask = vec![0f32; n * hw];
        let mut perm = vec![0f32; n * classes * classes];
        let mut swapped = Vec::with_capacity(n);
        for i in 0..n {
            let sample = &labels[i * hw..(i + 1) * hw];
            let present: Vec<usize> = (0..classes).filter(|&k| sample.contains(&(k as i32))).collect();
            let pick = (classes >= 2 && !present.is_empty() && rng.random_bool(share.clamp(0.0, 1.0))).then(|| {
                let from = present[rng.random_range(0..present.len())];
                // Any other class, uniformly: present in the crop or not.
                let others: Vec<usize> = (0..classes).filter(|&k| k != from).collect();
                (from, others[rng.random_range(0..others.len())])
            });
            let mut channel_of: Vec<usize> = (0..classes).collect();
            if let Some((from, to)) = pick {
                channel_of.swap(from, to);
                for (m, &v) in mask[i * hw..(i + 1) * hw].iter_mut().zip(sample) {
                    *m = if v == from as i32 { 1.0 } else { 0.0 };
                }
            }
            for (k, &src) in channel_of.iter().enumerate() {
                perm[(i * classes + k) * classes + src] = 1.0;
            }
            swapped.push(pick);
        }
        Self { n, classes, height, width, mask, permutation: perm, swapped }
    }

    /// Whether any sample is swapped.
    pub fn any(&self) -> bool {
        self.swapped.iter().any(Option::is_some)
    }

    pub fn upload(&self, device: &Device) -> DeviceSwaps {
        let mask = crate::host::f32_tensor(self.mask.clone(), [self.n, 1, self.height, self.width], device);
        let permutation = crate::host::f32_tensor(self.permutation.clone(), [self.n, self.classes, self.classes], device);
        DeviceSwaps { mask, permutation }
    }
}

/// [`HostSwaps`] on the device.
#[derive(Debug, Clone)]
pub struct DeviceSwaps {
    pub mask: Tensor<4>,
    pub permutation: Tensor<3>,
}

impl DeviceSwaps {
    /// The prediction `p` ([n, K, H, W], the labelled slice) with each sample's channels
    /// permuted inside its mask, unchanged elsewhere.
    pub fn apply(&self, p: Tensor<4>) -> Tensor<4> {
        let [n, k, h, w] = p.dims();
        let permuted = self.permutation.clone().matmul(p.clone().reshape([n, k, h * w])).reshape([n, k, h, w]);
        p.clone() + (permuted - p) * self.mask.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn a_swap_moves_one_present_class_region_to_another_class() {
        // Two 2x3 samples: the first has classes 0 and 2, the second only 1.
        let labels = vec![0, 0, 2, 2, 255, 0, 1, 1, 1, 1, 1, 1];
        let s = HostSwaps::draw(&labels, 2, 2, 3, 3, 1.0, &mut stream(7, &[b"t"]));
        for (i, pick) in s.swapped.iter().enumerate() {
            let (from, to) = pick.expect("share 1 swaps every sample");
            assert_ne!(from, to);
            let sample = &labels[i * 6..(i + 1) * 6];
            assert!(sample.contains(&(from as i32)), "swapped class {from} is in sample {i}");
            for (m, &v) in s.mask[i * 6..(i + 1) * 6].iter().zip(sample) {
                assert_eq!(*m, if v == from as i32 { 1.0 } else { 0.0 });
            }
        }
        let none = HostSwaps::draw(&labels, 2, 2, 3, 3, 0.0, &mut stream(7, &[b"t"]));
        assert!(!none.any() && none.mask.iter().all(|&m| m == 0.0));
    }
}
