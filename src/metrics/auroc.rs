//! Area under the ROC curve of a score as a detector of positives (here: F's flaw map as
//! a detector of wrongly predicted pixels), by the rank statistic with ties averaged.

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

#[cfg(test)]
mod tests {
    use super::auroc;

    #[test]
    fn perfect_random_and_inverted() {
        assert_eq!(auroc(&[0.1, 0.2, 0.8, 0.9], &[false, false, true, true]), Some(1.0));
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), Some(0.0));
        assert_eq!(auroc(&[0.5; 4], &[false, true, false, true]), Some(0.5));
        // one positive ranked between the negatives: 1 of 2 pairs correct
        assert_eq!(auroc(&[0.1, 0.5, 0.9], &[false, true, false]), Some(0.5));
        assert_eq!(auroc(&[0.1, 0.2], &[true, true]), None);
    }
}
