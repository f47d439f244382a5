//! The fixed Gaussian kernels G(k) of spec section 2.
//!
//! The reference builds G(k) by blurring a delta image with scipy's `gaussian_filter`
//! (truncate 4, mode 'reflect'), so the Gaussian's tails that fall outside the k-window are
//! folded back into it. At the small kernels of CPU-sized crops a plain truncated Gaussian
//! is off by up to 2e-2, so the folding is reproduced exactly here.

/// odd(k) = k if k is odd, else k + 1.
pub fn odd(k: usize) -> usize {
    if k % 2 == 1 { k } else { k + 1 }
}

/// The OpenCV rule the reference uses: sigma = 0.3 ((k - 1) / 2 - 1) + 0.8.
pub fn sigma_for(k: usize) -> f64 {
    0.3 * ((k as f64 - 1.0) / 2.0 - 1.0) + 0.8
}

/// Half-sample symmetric reflection of index `p` into 0..k (scipy's 'reflect').
fn fold(p: i64, k: i64) -> i64 {
    let q = p.rem_euclid(2 * k);
    if q < k { q } else { 2 * k - 1 - q }
}

/// The 1-D factor g of G(k) (the 2-D kernel is outer(g, g)); sums to 1.
pub fn gaussian_1d(k: usize) -> Vec<f64> {
    assert!(k >= 1 && k % 2 == 1, "Gaussian kernel size must be odd, got {k}");
    let sigma = sigma_for(k);
    let r = (4.0 * sigma + 0.5).floor() as i64;
    let mut w: Vec<f64> = (-r..=r).map(|j| (-((j * j) as f64) / (2.0 * sigma * sigma)).exp()).collect();
    let total: f64 = w.iter().sum();
    w.iter_mut().for_each(|v| *v /= total);
    let (k, c) = (k as i64, k as i64 / 2);
    (0..k).map(|o| (-r..=r).filter(|j| fold(o + j, k) == c).map(|j| w[(j + r) as usize]).sum()).collect()
}

/// Kernel sizes of the C(.) target and the flaw handler for crop size S.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSizes {
    /// odd(floor(S/16)): smooths F's raw map in the handler H(.).
    pub s16: usize,
    /// odd(floor(S/8)): first blur of the error map in C(.).
    pub s8: usize,
    /// odd(floor(S/4)): blur after each dilation in C(.).
    pub s4: usize,
}

impl KernelSizes {
    pub fn for_crop(s: usize) -> Self {
        Self { s16: odd(s / 16), s8: odd(s / 8), s4: odd(s / 4) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_kernel_sizes() {
        assert_eq!(KernelSizes::for_crop(321), KernelSizes { s16: 21, s8: 41, s4: 81 });
        assert_eq!(KernelSizes::for_crop(64), KernelSizes { s16: 5, s8: 9, s4: 17 });
    }

    #[test]
    fn kernels_sum_to_one_and_are_symmetric() {
        for k in [1, 3, 5, 9, 17, 41] {
            let g = gaussian_1d(k);
            assert!((g.iter().sum::<f64>() - 1.0).abs() < 1e-12);
            for i in 0..k {
                assert!((g[i] - g[k - 1 - i]).abs() < 1e-12);
            }
        }
    }
}
