//! The salient-object-detection metrics, for binary (foreground / background) segmentation:
//! MAE between the foreground probability map and the mask, and the maximum F-measure over
//! 256 thresholds with beta^2 = 0.3, precision and recall averaged over images at each
//! threshold first (as the SOD benchmarks compute them).

use serde::{Deserialize, Serialize};

const BETA2: f64 = 0.3;
const LEVELS: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SodScores {
    /// Mean over images of the mean |p_fg - y|, in [0, 1] (lower is better).
    pub mae: f64,
    /// max over thresholds t of (1 + b2) P R / (b2 P + R), P and R image means at t.
    pub max_f: f64,
}

#[derive(Debug, Default)]
pub struct SodAcc {
    mae_sum: f64,
    precision: Vec<f64>,
    recall: Vec<f64>,
    images: usize,
}

impl SodAcc {
    /// One image: the foreground probability and the mask of its scored pixels.
    pub fn add_image(&mut self, fg: &[f32], truth: &[bool]) {
        if fg.is_empty() {
            return;
        }
        if self.precision.is_empty() {
            self.precision = vec![0.0; LEVELS];
            self.recall = vec![0.0; LEVELS];
        }
        let mae = fg.iter().zip(truth).map(|(&p, &t)| (p as f64 - f64::from(u8::from(t))).abs()).sum::<f64>() / fg.len() as f64;
        self.mae_sum += mae;
        // Histograms of the quantised probability, for foreground and background pixels;
        // a pixel is predicted foreground at threshold t when its level is >= t.
        let (mut pos, mut neg) = ([0u64; LEVELS], [0u64; LEVELS]);
        for (&p, &t) in fg.iter().zip(truth) {
            let level = ((p.clamp(0.0, 1.0) * 255.0).round() as usize).min(LEVELS - 1);
            if t { pos[level] += 1 } else { neg[level] += 1 }
        }
        let positives: u64 = pos.iter().sum();
        let (mut tp, mut fp) = (0u64, 0u64);
        for t in (0..LEVELS).rev() {
            tp += pos[t];
            fp += neg[t];
            self.precision[t] += tp as f64 / (tp + fp).max(1) as f64;
            self.recall[t] += tp as f64 / positives.max(1) as f64;
        }
        self.images += 1;
    }

    pub fn finish(&self) -> Option<SodScores> {
        (self.images > 0).then(|| {
            let n = self.images as f64;
            let max_f = self
                .precision
                .iter()
                .zip(&self.recall)
                .map(|(p, r)| {
                    let (p, r) = (p / n, r / n);
                    if p + r > 0.0 { (1.0 + BETA2) * p * r / (BETA2 * p + r) } else { 0.0 }
                })
                .fold(0.0, f64::max);
            SodScores { mae: self.mae_sum / n, max_f }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_perfect_map_scores_mae_0_and_max_f_1_and_a_constant_map_the_prior() {
        let truth = [true, true, false, false, false, false, false, false];
        let mut perfect = SodAcc::default();
        perfect.add_image(&[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], &truth);
        assert_eq!(perfect.finish(), Some(SodScores { mae: 0.0, max_f: 1.0 }));
        // A constant 0.5: MAE 0.5; at its level everything is foreground, P = 0.25, R = 1:
        // F = 1.3 * 0.25 / (0.3 * 0.25 + 1) = 0.3023...
        let mut flat = SodAcc::default();
        flat.add_image(&[0.5; 8], &truth);
        let s = flat.finish().unwrap();
        assert!((s.mae - 0.5).abs() < 1e-12);
        assert!((s.max_f - 1.3 * 0.25 / 1.075).abs() < 1e-9, "{s:?}");
        // Two images: precision and recall are averaged per threshold before F. By hand:
        // at levels 1..=128 the flat image calls everything foreground (P 0.25, R 1) and the
        // perfect one only the foreground (P 1, R 1): mean P 0.625, R 1, F = 1.3 * 0.625 /
        // (0.3 * 0.625 + 1) = 0.6842; above 128 the flat image calls nothing (P 0, R 0): mean
        // P = R = 0.5, F 0.5; at 0 both call everything: F 0.3023. The maximum is 0.6842.
        flat.add_image(&[1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0], &truth);
        let s = flat.finish().unwrap();
        assert!((s.mae - 0.25).abs() < 1e-12, "{s:?}");
        assert!((s.max_f - 1.3 * 0.625 / 1.1875).abs() < 1e-9, "{s:?}");
        assert_eq!(SodAcc::default().finish(), None);
    }
}
