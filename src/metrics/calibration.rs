//! Whether a flaw map's values read as probabilities of a mistake: a reliability diagram
//! (10 equal-width bins of the map clamped to [0, 1]: the mean value and the observed share of
//! wrong pixels in each) and the expected calibration error, the bins' |mean - share|
//! weighted by their pixel counts.

use serde::{Deserialize, Serialize};

const BINS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Calibration {
    /// Per bin [lo, lo + 0.1): pixels, mean value, share of them wrong (None when empty).
    pub count: Vec<u64>,
    pub mean: Vec<Option<f64>>,
    pub wrong: Vec<Option<f64>>,
    /// Expected calibration error, in [0, 1].
    pub ece: f64,
}

#[derive(Debug, Default)]
pub struct CalibrationAcc {
    count: [u64; BINS],
    sum: [f64; BINS],
    wrong: [u64; BINS],
}

impl CalibrationAcc {
    pub fn add(&mut self, scores: &[f32], positive: &[bool]) {
        for (&s, &p) in scores.iter().zip(positive) {
            let v = s.clamp(0.0, 1.0) as f64;
            let b = ((v * BINS as f64) as usize).min(BINS - 1);
            self.count[b] += 1;
            self.sum[b] += v;
            self.wrong[b] += u64::from(p);
        }
    }

    pub fn finish(&self) -> Option<Calibration> {
        let total: u64 = self.count.iter().sum();
        if total == 0 {
            return None;
        }
        let per = |f: &dyn Fn(usize) -> f64| (0..BINS).map(|b| (self.count[b] > 0).then(|| f(b))).collect::<Vec<_>>();
        let mean = per(&|b| self.sum[b] / self.count[b] as f64);
        let wrong = per(&|b| self.wrong[b] as f64 / self.count[b] as f64);
        let ece = (0..BINS).filter_map(|b| Some(self.count[b] as f64 / total as f64 * (mean[b]? - wrong[b]?).abs())).sum();
        Some(Calibration { count: self.count.to_vec(), mean, wrong, ece })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_calibrated_map_has_no_error_and_an_overconfident_one_does() {
        // 8 pixels at 0.25, a quarter of them wrong (calibrated); 4 at 0.95, all wrong.
        let mut acc = CalibrationAcc::default();
        acc.add(&[0.25; 8], &[true, true, false, false, false, false, false, false]);
        acc.add(&[0.95; 4], &[true; 4]);
        let c = acc.finish().unwrap();
        assert_eq!(c.count[2], 8);
        assert_eq!(c.wrong[2], Some(0.25));
        // Bin 9: mean 0.95, all wrong: off by 0.05 on 4 of 12 pixels.
        assert!((c.ece - 4.0 / 12.0 * 0.05).abs() < 1e-6, "{c:?}");
        assert_eq!(c.mean[0], None);
        // Values outside [0, 1] (F is regressed without a sigmoid) land in the end bins.
        let mut acc = CalibrationAcc::default();
        acc.add(&[-0.3, 1.7], &[false, true]);
        let c = acc.finish().unwrap();
        assert_eq!((c.count[0], c.count[9], c.ece), (1, 1, 0.0));
        assert_eq!(CalibrationAcc::default().finish(), None);
    }
}
