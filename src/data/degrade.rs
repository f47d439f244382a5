//! Synthetic degradations for the restoration tasks, applied to a clean image (planar RGB
//! in [0, 1]) when a dataset has no degraded counterpart of its own: Gaussian noise for
//! denoising, darkening for low-light enhancement. Each draws from the stream it is given,
//! so a batch, a probe or a validation image is degraded the same way every time.

use crate::config::DarkenConfig;
use crate::rng::standard_normal;
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Poisson};

/// `clean + N(0, sigma^2)` per value (sigma in [0, 1] units); not clipped, as the
/// denoising reference adds noise to float images.
pub fn gaussian_noise<R: Rng>(clean: &[f32], sigma: f32, rng: &mut R) -> Vec<f32> {
    clean.iter().map(|&v| v + sigma * standard_normal(rng) as f32).collect()
}

/// One image of the synthetic low-light model (`DarkenConfig`): exposure `a` and gamma `g`
/// drawn once for the image, then per value `x = a * y^g`, Poisson shot noise with
/// `photons` per unit brightness (the signal-dependent part of the Poisson-Gaussian camera
/// model), Gaussian read noise, clipping to [0, 1] and 8-bit quantisation, as a camera's
/// dark JPEG would have it.
pub fn darken<R: Rng>(clean: &[f32], p: &DarkenConfig, rng: &mut R) -> Vec<f32> {
    let draw = |rng: &mut R, lo: f64, hi: f64| if lo < hi { rng.random_range(lo..=hi) } else { lo };
    let exposure = draw(rng, p.exposure_min, p.exposure_max);
    let gamma = draw(rng, p.gamma_min, p.gamma_max);
    let read = p.read_noise / 255.0;
    clean
        .iter()
        .map(|&y| {
            let x = exposure * (y.clamp(0.0, 1.0) as f64).powf(gamma);
            let lambda = x * p.photons;
            let shot = if lambda > 0.0 { Poisson::new(lambda).map(|d| d.sample(rng) / p.photons).unwrap_or(x) } else { 0.0 };
            let v = (shot + read * standard_normal(rng)).clamp(0.0, 1.0);
            ((v * 255.0).round() / 255.0) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    fn mean(v: &[f32]) -> f64 {
        v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64
    }

    #[test]
    fn darkening_scales_brightness_by_the_exposure_and_gamma_drawn() {
        // A mid-grey image and a fixed exposure and gamma: the mean follows a * y^g.
        let clean = vec![0.5f32; 3 * 64 * 64];
        let p = DarkenConfig { exposure_min: 0.2, exposure_max: 0.2, gamma_min: 2.0, gamma_max: 2.0, photons: 1e6, read_noise: 0.0 };
        let dark = darken(&clean, &p, &mut stream(1, &[b"t"]));
        assert!((mean(&dark) - 0.2 * 0.25).abs() < 1.0 / 255.0, "mean {}", mean(&dark));
        // 8-bit values only.
        assert!(dark.iter().all(|&v| ((v * 255.0).round() - v * 255.0).abs() < 1e-4 && (0.0..=1.0).contains(&v)));
    }

    #[test]
    fn shot_noise_grows_with_brightness_and_falls_with_photons() {
        let var = |y: f32, photons: f64| {
            let p = DarkenConfig { exposure_min: 1.0, exposure_max: 1.0, gamma_min: 1.0, gamma_max: 1.0, photons, read_noise: 0.0 };
            let d = darken(&vec![y; 20_000], &p, &mut stream(2, &[b"t"]));
            let m = mean(&d);
            d.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>() / d.len() as f64
        };
        // Poisson: variance x / photons (quantisation adds about 1/12 of a level squared).
        let expected = 0.4 / 200.0;
        assert!((var(0.4, 200.0) / expected - 1.0).abs() < 0.1, "variance {} against {expected}", var(0.4, 200.0));
        assert!(var(0.8, 200.0) > 1.5 * var(0.4, 200.0));
        assert!(var(0.4, 2000.0) < 0.2 * var(0.4, 200.0));
    }

    #[test]
    fn the_same_stream_darkens_the_same_way_and_another_differently() {
        let clean: Vec<f32> = (0..300).map(|i| i as f32 / 300.0).collect();
        let p = DarkenConfig::default();
        let a = darken(&clean, &p, &mut stream(3, &[b"val", &[0]]));
        assert_eq!(a, darken(&clean, &p, &mut stream(3, &[b"val", &[0]])));
        assert_ne!(a, darken(&clean, &p, &mut stream(3, &[b"val", &[1]])));
        // Darker than the clean image everywhere but in the noise of black.
        assert!(mean(&a) < 0.4 * mean(&clean));
    }

    #[test]
    fn gaussian_noise_has_the_sigma_asked_for() {
        let clean = vec![0.5f32; 40_000];
        let noisy = gaussian_noise(&clean, 0.1, &mut stream(4, &[b"t"]));
        let sd = (noisy.iter().map(|&x| (x as f64 - 0.5).powi(2)).sum::<f64>() / noisy.len() as f64).sqrt();
        assert!((sd - 0.1).abs() < 0.003, "sd {sd}");
    }
}
