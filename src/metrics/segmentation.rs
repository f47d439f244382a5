//! Confusion-matrix metrics over a whole split (spec section 7): pixel accuracy, mean class
//! accuracy, mIoU (nan-mean of per-class IoU) and frequency-weighted IoU.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct Confusion {
    k: usize,
    /// counts[truth * k + predicted]
    counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegScores {
    pub pixel_acc: f64,
    pub mean_class_acc: f64,
    pub miou: f64,
    pub fw_iou: f64,
    /// Per-class IoU; None where the class appears neither in truth nor prediction.
    pub class_iou: Vec<Option<f64>>,
    /// Per class, whether it has pixels in the truth (a class only predicted has IoU 0 but
    /// nothing to learn). Empty in evaluations stored before it existed.
    #[serde(default)]
    pub class_in_truth: Vec<bool>,
}

impl Confusion {
    pub fn new(k: usize) -> Self {
        Self { k, counts: vec![0; k * k] }
    }

    /// Add pixels; truth values >= K (255) are ignored.
    pub fn add(&mut self, truth: &[u8], pred: &[u8]) {
        for (&t, &p) in truth.iter().zip(pred) {
            let (t, p) = (t as usize, p as usize);
            if t < self.k && p < self.k {
                self.counts[t * self.k + p] += 1;
            }
        }
    }

    pub fn scores(&self) -> SegScores {
        let k = self.k;
        let total: u64 = self.counts.iter().sum();
        let diag = |i: usize| self.counts[i * k + i] as f64;
        let row = |i: usize| (0..k).map(|j| self.counts[i * k + j]).sum::<u64>() as f64;
        let col = |j: usize| (0..k).map(|i| self.counts[i * k + j]).sum::<u64>() as f64;
        let class_iou: Vec<Option<f64>> = (0..k)
            .map(|i| {
                let union = row(i) + col(i) - diag(i);
                (union > 0.0).then(|| diag(i) / union)
            })
            .collect();
        let present: Vec<f64> = class_iou.iter().flatten().copied().collect();
        let accs: Vec<f64> = (0..k).filter(|&i| row(i) > 0.0).map(|i| diag(i) / row(i)).collect();
        let t = total.max(1) as f64;
        SegScores {
            pixel_acc: (0..k).map(diag).sum::<f64>() / t,
            mean_class_acc: nan_mean(&accs),
            miou: nan_mean(&present),
            fw_iou: (0..k).map(|i| row(i) / t * class_iou[i].unwrap_or(0.0)).sum(),
            class_iou,
            class_in_truth: (0..k).map(|i| row(i) > 0.0).collect(),
        }
    }
}

fn nan_mean(v: &[f64]) -> f64 {
    if v.is_empty() { f64::NAN } else { v.iter().sum::<f64>() / v.len() as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hand_computed_scores() {
        let mut c = Confusion::new(3);
        // truth: 0 0 1 1 2 255 ; pred: 0 1 1 1 0 2
        c.add(&[0, 0, 1, 1, 2, 255], &[0, 1, 1, 1, 0, 2]);
        let s = c.scores();
        assert!((s.pixel_acc - 3.0 / 5.0).abs() < 1e-12);
        // IoU0 = 1/(2+2-1) = 1/3, IoU1 = 2/(2+3-2) = 2/3, IoU2 = 0/(1+0-0) = 0
        assert!((s.miou - (1.0 / 3.0 + 2.0 / 3.0 + 0.0) / 3.0).abs() < 1e-12);
        assert!((s.mean_class_acc - (0.5 + 1.0 + 0.0) / 3.0).abs() < 1e-12);
    }
}
