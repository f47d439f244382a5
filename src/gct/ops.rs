//! Fixed (never trained) image operators used by C(.) and H(.): reflection padding,
//! Gaussian blur G(k), grey dilation D and per-sample min-max normalisation.

use super::kernels::gaussian_1d;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Int, Tensor, TensorData};

/// numpy 'reflect' index: mirror about the edge pixel without repeating it.
fn reflect_index(p: i64, n: i64) -> i64 {
    if n == 1 {
        return 0;
    }
    let period = 2 * (n - 1);
    let q = p.rem_euclid(period);
    if q < n { q } else { period - q }
}

/// Reflection-pad the last two dims by `pad` on every side. Works for any pad size
/// (numpy semantics), unlike a single mirror.
pub fn reflect_pad(x: Tensor<4>, pad: usize) -> Tensor<4> {
    if pad == 0 {
        return x;
    }
    let [_, _, h, w] = x.dims();
    let device = x.device();
    let index = |n: usize| {
        let v: Vec<i32> = (-(pad as i64)..(n + pad) as i64).map(|p| reflect_index(p, n as i64) as i32).collect();
        let len = v.len();
        Tensor::<1, Int>::from_data(TensorData::new(v, [len]), &device)
    };
    x.select(2, index(h)).select(3, index(w))
}

/// G(k): reflection-pad by k/2, then the separable Gaussian of `kernels::gaussian_1d`,
/// depthwise over channels.
pub fn blur(x: Tensor<4>, k: usize) -> Tensor<4> {
    if k <= 1 {
        return x;
    }
    let [_, c, _, _] = x.dims();
    let device = x.device();
    let g: Vec<f32> = gaussian_1d(k).into_iter().map(|v| v as f32).collect();
    let vertical = Tensor::<4>::from_data(TensorData::new(g.clone(), [1, 1, k, 1]), &device).repeat_dim(0, c);
    let horizontal = Tensor::<4>::from_data(TensorData::new(g, [1, 1, 1, k]), &device).repeat_dim(0, c);
    let padded = reflect_pad(x, k / 2);
    let depthwise = ConvOptions::new([1, 1], [0, 0], [1, 1], c);
    let y = conv2d(padded, vertical, None, depthwise.clone());
    conv2d(y, horizontal, None, depthwise)
}

/// D: 3x3 grey dilation (reflection-pad 1, max-pool 3x3 stride 1).
pub fn dilate(x: Tensor<4>) -> Tensor<4> {
    max_pool2d(reflect_pad(x, 1), MaxPoolOptions::new([3, 3]).with_stride([1, 1]))
}

/// Per-sample (over C, H, W) minimum and maximum, shaped [B, 1, 1, 1] for broadcasting.
pub fn per_sample_min_max(x: &Tensor<4>) -> (Tensor<4>, Tensor<4>) {
    let [b, c, h, w] = x.dims();
    let flat = x.clone().reshape([b, c * h * w]);
    let mn = flat.clone().min_dim(1).reshape([b, 1, 1, 1]);
    let mx = flat.max_dim(1).reshape([b, 1, 1, 1]);
    (mn, mx)
}

/// (x - min) / (max - min + 1e-9) per sample; a constant map becomes 0.
pub fn min_max_normalise(x: Tensor<4>) -> Tensor<4> {
    let (mn, mx) = per_sample_min_max(&x);
    (x - mn.clone()) / (mx - mn).add_scalar(1e-9)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::Device;

    #[test]
    fn reflect_matches_numpy() {
        // numpy.pad([0,1,2,3], 2, 'reflect') -> [2,1,0,1,2,3,2,1]
        let got: Vec<i64> = (-2..6).map(|p| reflect_index(p, 4)).collect();
        assert_eq!(got, vec![2, 1, 0, 1, 2, 3, 2, 1]);
        // pad larger than the size wraps again: numpy.pad([0,1], 3, 'reflect')
        let got: Vec<i64> = (-3..5).map(|p| reflect_index(p, 2)).collect();
        assert_eq!(got, vec![1, 0, 1, 0, 1, 0, 1, 0]);
    }

    #[test]
    fn blur_keeps_a_constant_and_dilate_spreads_a_point() {
        let d = Device::flex();
        let x = Tensor::<4>::ones([1, 1, 8, 8], &d).mul_scalar(0.25);
        let y = crate::host::to_f32(blur(x, 5));
        assert!(y.iter().all(|v| (v - 0.25).abs() < 1e-6));
        let mut p = vec![0f32; 49];
        p[24] = 1.0;
        let x = Tensor::<4>::from_data(TensorData::new(p, [1, 1, 7, 7]), &d);
        let s: f32 = dilate(x).sum().into_scalar();
        assert_eq!(s, 9.0);
    }
}
