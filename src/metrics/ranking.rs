//! How well a per-pixel score ranks the positives (here: wrongly predicted pixels) above the
//! rest: the area under the ROC curve by the rank statistic with ties averaged, and the
//! share of positives that fall in the score's top decile. Ties are counted as a random
//! tie-break would count them on average, so a constant map scores 0.5 and 0.1 (chance).

use serde::{Deserialize, Serialize};

/// AUROC of `scores` for binary `positive` labels; None when one class is absent.
pub fn auroc(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    let n_neg = positive.len() - n_pos;
    if n_pos == 0 || n_neg == 0 {
        return None;
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[a].total_cmp(&scores[b]));
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && scores[order[j + 1]] == scores[order[i]] {
            j += 1;
        }
        let avg_rank = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += (i..=j).filter(|&k| positive[order[k]]).count() as f64 * avg_rank;
        i = j + 1;
    }
    Some((rank_sum - (n_pos * (n_pos + 1)) as f64 / 2.0) / (n_pos as f64 * n_neg as f64))
}

/// Share of the positives among the `ceil(n / 10)` highest-scored pixels (recall in the top
/// decile): 0.1 is chance, 1 means every positive lies in the top tenth (possible only while
/// positives are at most a tenth). Pixels tied at the cut share the remaining places pro rata.
pub fn top_decile(scores: &[f32], positive: &[bool]) -> Option<f64> {
    let n_pos = positive.iter().filter(|&&p| p).count();
    if n_pos == 0 || n_pos == positive.len() {
        return None;
    }
    let top = scores.len().div_ceil(10);
    let mut sorted: Vec<f32> = scores.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let cut = sorted[top - 1];
    let (mut above, mut above_pos, mut tied, mut tied_pos) = (0usize, 0usize, 0usize, 0usize);
    for (&s, &p) in scores.iter().zip(positive) {
        if s.total_cmp(&cut).is_gt() {
            above += 1;
            above_pos += usize::from(p);
        } else if s.total_cmp(&cut).is_eq() {
            tied += 1;
            tied_pos += usize::from(p);
        }
    }
    let expected = above_pos as f64 + tied_pos as f64 * (top - above) as f64 / tied as f64;
    Some(expected / n_pos as f64)
}

/// One score's ranking of one model's wrong pixels over a split: pooled over all pixels
/// (values compared across images) and per image (the mean of each image's AUROC, for
/// scores such as F's whose scale is set per image by C's per-sample normalisation).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ranking {
    pub auroc: Option<f64>,
    pub image_auroc: Option<f64>,
    pub top_decile: Option<f64>,
}

/// Collects (score, positive) pairs image by image.
#[derive(Debug, Default)]
pub struct RankingAcc {
    scores: Vec<f32>,
    positive: Vec<bool>,
    image_sum: f64,
    images: usize,
}

impl RankingAcc {
    pub fn add_image(&mut self, scores: &[f32], positive: &[bool]) {
        if let Some(a) = auroc(scores, positive) {
            self.image_sum += a;
            self.images += 1;
        }
        self.scores.extend_from_slice(scores);
        self.positive.extend_from_slice(positive);
    }

    pub fn finish(&self) -> Ranking {
        Ranking {
            auroc: auroc(&self.scores, &self.positive),
            image_auroc: (self.images > 0).then(|| self.image_sum / self.images as f64),
            top_decile: top_decile(&self.scores, &self.positive),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_random_and_inverted() {
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), Some(1.0));
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), Some(0.0));
        assert_eq!(auroc(&[0.5; 4], &[false, true, false, true]), Some(0.5));
        // one positive ranked between the negatives: 1 of 2 pairs correct
        assert_eq!(auroc(&[0.1, 0.5, 0.9], &[false, true, false]), Some(0.5));
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
    }

    #[test]
    fn top_decile_counts_positives_in_the_top_tenth() {
        // 20 pixels, 2 in the top decile; positives at the top two ranks and one low.
        let scores: Vec<f32> = (0..20).map(|i| i as f32).collect();
        let mut pos = vec![false; 20];
        pos[19] = true;
        pos[18] = true;
        pos[3] = true;
        assert!((top_decile(&scores, &pos).unwrap() - 2.0 / 3.0).abs() < 1e-12);
        // A constant map: chance, whatever the positives.
        assert!((top_decile(&[0.0; 20], &pos).unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(top_decile(&scores, &[false; 20]), None);
    }

    #[test]
    fn per_image_auroc_ignores_the_scale_between_images() {
        // Two images each ranked perfectly, but the second's scores are all lower than the
        // first's negatives: pooled AUROC suffers, the per-image mean does not.
        let mut acc = RankingAcc::default();
        acc.add_image(&[0.5, 0.6, 0.9], &[false, false, true]);
        acc.add_image(&[0.1, 0.2, 0.3], &[false, false, true]);
        acc.add_image(&[0.1, 0.2], &[false, false]); // no wrong pixel: pooled only
        let r = acc.finish();
        assert_eq!(r.image_auroc, Some(1.0));
        assert!(r.auroc.unwrap() < 0.9, "{r:?}");
    }
}
