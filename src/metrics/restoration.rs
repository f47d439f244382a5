//! PSNR and SSIM for restoration, on images in [0, 1].

/// PSNR in dB over all values (peak 1).
pub fn psnr(pred: &[f32], truth: &[f32]) -> f64 {
    let mse: f64 = pred.iter().zip(truth).map(|(&p, &t)| ((p.clamp(0.0, 1.0) - t) as f64).powi(2)).sum::<f64>() / pred.len().max(1) as f64;
    if mse <= 0.0 { 100.0 } else { 10.0 * (1.0 / mse).log10() }
}

/// SSIM (Wang et al. 2004) with an 8x8 sliding window, stride 4, on each channel of CHW
/// images, averaged; C1 = (0.01)^2, C2 = (0.03)^2.
pub fn ssim(pred: &[f32], truth: &[f32], channels: usize, h: usize, w: usize) -> f64 {
    const WIN: usize = 8;
    const STRIDE: usize = 4;
    let (c1, c2) = (0.01f64.powi(2), 0.03f64.powi(2));
    let mut total = 0.0;
    let mut count = 0usize;
    for c in 0..channels {
        let base = c * h * w;
        let mut y = 0;
        while y + WIN <= h {
            let mut x = 0;
            while x + WIN <= w {
                let (mut mp, mut mt, mut vp, mut vt, mut cov) = (0.0, 0.0, 0.0, 0.0, 0.0);
                let n = (WIN * WIN) as f64;
                for dy in 0..WIN {
                    for dx in 0..WIN {
                        let i = base + (y + dy) * w + x + dx;
                        mp += pred[i].clamp(0.0, 1.0) as f64;
                        mt += truth[i] as f64;
                    }
                }
                mp /= n;
                mt /= n;
                for dy in 0..WIN {
                    for dx in 0..WIN {
                        let i = base + (y + dy) * w + x + dx;
                        let (a, b) = (pred[i].clamp(0.0, 1.0) as f64 - mp, truth[i] as f64 - mt);
                        vp += a * a;
                        vt += b * b;
                        cov += a * b;
                    }
                }
                vp /= n - 1.0;
                vt /= n - 1.0;
                cov /= n - 1.0;
                total += ((2.0 * mp * mt + c1) * (2.0 * cov + c2)) / ((mp * mp + mt * mt + c1) * (vp + vt + c2));
                count += 1;
                x += STRIDE;
            }
            y += STRIDE;
        }
    }
    if count == 0 { f64::NAN } else { total / count as f64 }
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
