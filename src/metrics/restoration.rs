//! PSNR and SSIM for restoration, on images in [0, 1].

/// PSNR in dB over all values (peak 1).
pub fn psnr(pred: &[f32], truth: &[f32]) -> f64 {
    let mse: f64 = pred.iter().zip(truth).map(|(&p, &t)| ((p.clamp(0.0, 1.0) - t) as f64).powi(2)).sum::<f64>() / pred.len().max(1) as f64;
    if mse <= 0.0 { 100.0 } else { 10.0 * (1.0 / mse).log10() }
}

/// SSIM as Wang et al. (2004) define it and the published figures use it: an 11 x 11
/// Gaussian window (sigma 1.5, weights normalised), K1 = 0.01, K2 = 0.03, data range 1,
/// population (co)variances, the SSIM map over every position where the window fits, its
/// mean per channel of the CHW images, then the mean over channels (scikit-image's
/// `structural_similarity(..., gaussian_weights=True, sigma=1.5,
/// use_sample_covariance=False, data_range=1)`; tested against it). Images smaller than the
/// window are scored with a window of their own size.
pub fn ssim(pred: &[f32], truth: &[f32], channels: usize, h: usize, w: usize) -> f64 {
    const RADIUS: usize = 5;
    const SIGMA: f64 = 1.5;
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let r = RADIUS.min((h.min(w).max(1) - 1) / 2);
    let g: Vec<f64> = (0..=2 * r).map(|k| (-((k as f64 - r as f64).powi(2)) / (2.0 * SIGMA * SIGMA)).exp()).collect();
    let norm: f64 = g.iter().sum();
    let g: Vec<f64> = g.iter().map(|v| v / norm).collect();
    let (oh, ow) = (h + 1 - (2 * r + 1), w + 1 - (2 * r + 1));
    // Separable 'valid' filtering of one plane: rows, then columns.
    let filter = |plane: &[f64]| -> Vec<f64> {
        let mut rows = vec![0.0; h * ow];
        for y in 0..h {
            for x in 0..ow {
                rows[y * ow + x] = g.iter().enumerate().map(|(k, gk)| gk * plane[y * w + x + k]).sum();
            }
        }
        let mut out = vec![0.0; oh * ow];
        for y in 0..oh {
            for x in 0..ow {
                out[y * ow + x] = g.iter().enumerate().map(|(k, gk)| gk * rows[(y + k) * ow + x]).sum();
            }
        }
        out
    };
    let mut total = 0.0;
    for c in 0..channels {
        let range = c * h * w..(c + 1) * h * w;
        let p: Vec<f64> = pred[range.clone()].iter().map(|&v| v.clamp(0.0, 1.0) as f64).collect();
        let t: Vec<f64> = truth[range].iter().map(|&v| v as f64).collect();
        let prod = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).collect::<Vec<f64>>();
        let (mp, mt) = (filter(&p), filter(&t));
        let (pp, tt, pt) = (filter(&prod(&p, &p)), filter(&prod(&t, &t)), filter(&prod(&p, &t)));
        let sum: f64 = (0..oh * ow)
            .map(|i| {
                let (vp, vt, cov) = (pp[i] - mp[i] * mp[i], tt[i] - mt[i] * mt[i], pt[i] - mp[i] * mt[i]);
                ((2.0 * mp[i] * mt[i] + c1) * (2.0 * cov + c2)) / ((mp[i] * mp[i] + mt[i] * mt[i] + c1) * (vp + vt + c2))
            })
            .sum();
        total += sum / (oh * ow) as f64;
    }
    if channels == 0 { f64::NAN } else { total / channels as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_images_are_perfect_and_noise_lowers_both() {
        let img: Vec<f32> = (0..3 * 16 * 16).map(|i| ((i * 37) % 100) as f32 / 100.0).collect();
        assert_eq!(psnr(&img, &img), 100.0);
        assert!((ssim(&img, &img, 3, 16, 16) - 1.0).abs() < 1e-9);
        let noisy: Vec<f32> = img.iter().enumerate().map(|(i, v)| v + if i % 2 == 0 { 0.1 } else { -0.1 }).collect();
        let p = psnr(&noisy, &img);
        assert!(p > 15.0 && p < 25.0, "{p}");
        assert!(ssim(&noisy, &img, 3, 16, 16) < 0.99);
    }
}
