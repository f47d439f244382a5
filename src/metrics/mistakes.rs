//! Which pixels count as a model's mistakes, and the baselines a flaw detector must beat at
//! ranking them: segmentation has wrong pixels; restoration has each image's worst quarter.

/// Restoration has no wrong pixels as such: F is scored as a detector of each image's
/// worst quarter of pixels by absolute error summed over the channels (ties at the cut count
/// as not worst), so its AUROC reads like segmentation's: 0.5 is chance, 1 a perfect ranking.
pub fn worst_quarter(pred: &[f32], clean: &[f32], hw: usize) -> Vec<bool> {
    let channels = pred.len() / hw.max(1);
    let err: Vec<f32> = (0..hw).map(|i| (0..channels).map(|c| (pred[c * hw + i] - clean[c * hw + i]).abs()).sum::<f32>()).collect();
    let mut sorted = err.clone();
    sorted.sort_by(f32::total_cmp);
    // The hw/4 largest lie above the value just below them.
    let cut = sorted.get((hw - hw / 4).saturating_sub(1)).copied().unwrap_or(f32::INFINITY);
    err.iter().map(|&e| e > cut).collect()
}

/// The segmentation baseline F must beat: a model's own uncertainty, 1 - max softmax
/// probability, per pixel.
pub fn uncertainty(probs: &[f32], k: usize, hw: usize) -> Vec<f32> {
    (0..hw).map(|i| 1.0 - (0..k).map(|c| probs[c * hw + i]).fold(f32::NEG_INFINITY, f32::max)).collect()
}

/// The restoration baseline: |p1 - p2| summed over the channels, per pixel.
pub fn disagreement(a: &[f32], b: &[f32], hw: usize) -> Vec<f32> {
    let channels = a.len() / hw.max(1);
    (0..hw).map(|i| (0..channels).map(|c| (a[c * hw + i] - b[c * hw + i]).abs()).sum()).collect()
}

/// Segmentation: the predicted class per pixel of K x H x W probabilities (the first of
/// equal maxima).
pub fn argmax_classes(probs: &[f32], k: usize, hw: usize) -> Vec<u8> {
    (0..hw)
        .map(|i| {
            let mut best = 0;
            for c in 1..k {
                if probs[c * hw + i] > probs[best * hw + i] {
                    best = c;
                }
            }
            best as u8
        })
        .collect()
}

/// Segmentation: the pixels whose label is a class (not the ignore label 255).
pub fn scored_pixels(truth: &[u8], classes: usize) -> Vec<usize> {
    (0..truth.len()).filter(|&i| (truth[i] as usize) < classes).collect()
}

/// Segmentation: which of the `scored` pixels (not ignored) the predicted classes get wrong.
pub fn wrong_classes(pred: &[u8], truth: &[u8], scored: &[usize]) -> Vec<bool> {
    scored.iter().map(|&i| pred[i] != truth[i]).collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn uncertainty_and_wrong_pixels() {
        // 2 classes, 3 pixels: sure of class 0, unsure, sure of class 1.
        let probs = [0.9, 0.5, 0.2, 0.1, 0.5, 0.8];
        let u = super::uncertainty(&probs, 2, 3);
        assert!((u[0] - 0.1).abs() < 1e-6 && (u[1] - 0.5).abs() < 1e-6 && (u[2] - 0.2).abs() < 1e-6);
        let truth = [0, 255, 0];
        let scored = super::scored_pixels(&truth, 2);
        assert_eq!(scored, vec![0, 2]);
        assert_eq!(super::wrong_classes(&[0, 1, 1], &truth, &scored), vec![false, true]);
    }

    #[test]
    fn worst_quarter_flags_the_largest_errors() {
        // 8 pixels, 2 channels; pixel i is off by i/10 in channel 0 and 0 in channel 1.
        let clean = vec![0.5f32; 16];
        let mut pred = clean.clone();
        for (i, p) in pred.iter_mut().take(8).enumerate() {
            *p += i as f32 / 10.0;
        }
        pred[3] -= 1.5; // a large error below the clean value counts as well
        let flags = super::worst_quarter(&pred, &clean, 8);
        assert_eq!(flags, vec![false, false, false, true, false, false, false, true]);
    }
}
