//! Building blocks shared by the networks.

use burn::module::Module;
use burn::nn::conv::{Conv2d, Conv2dConfig};
use burn::nn::{BatchNorm, BatchNormConfig, PaddingConfig2d, Relu};
use burn::tensor::{Device, Tensor, TensorData};

/// 3x3 convolution (no bias: BN follows) + BatchNorm + ReLU.
#[derive(Module, Debug)]
pub struct ConvBnRelu {
    pub conv: Conv2d,
    pub bn: BatchNorm,
    pub act: Relu,
}

impl ConvBnRelu {
    pub fn new(cin: usize, cout: usize, stride: usize, dilation: usize, device: &Device) -> Self {
        Self {
            conv: Conv2dConfig::new([cin, cout], [3, 3])
                .with_stride([stride, stride])
                .with_dilation([dilation, dilation])
                .with_padding(PaddingConfig2d::Explicit(dilation, dilation, dilation, dilation))
                .with_bias(false)
                .init(device),
            bn: BatchNormConfig::new(cout).init(device),
            act: Relu::new(),
        }
    }

    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        self.act.forward(self.bn.forward(super::conv::forward(&self.conv, x)))
    }
}

/// 1-D linear-resize matrix [n_out, n_in] (PyTorch semantics, border clamp).
fn linear_resize_matrix(n_in: usize, n_out: usize, align_corners: bool) -> Vec<f32> {
    let mut m = vec![0f32; n_out * n_in];
    for o in 0..n_out {
        let src = if align_corners {
            if n_out == 1 { 0.0 } else { o as f64 * (n_in - 1) as f64 / (n_out - 1) as f64 }
        } else {
            ((o as f64 + 0.5) * n_in as f64 / n_out as f64 - 0.5).max(0.0)
        };
        let i0 = (src.floor() as usize).min(n_in - 1);
        let i1 = (i0 + 1).min(n_in - 1);
        let w1 = (src - i0 as f64) as f32;
        m[o * n_in + i0] += 1.0 - w1;
        m[o * n_in + i1] += w1;
    }
    m
}

/// Bilinear resize as two matrix products. burn's `interpolate` has no backward on wgpu,
/// and the flaw correction loss needs gradients through F's upsampling, so this is used
/// for every differentiable resize.
pub fn resize_bilinear(x: Tensor<4>, out_h: usize, out_w: usize, align_corners: bool) -> Tensor<4> {
    let [_, _, h, w] = x.dims();
    if h == out_h && w == out_w {
        return x;
    }
    let device = x.device();
    let rows = Tensor::<2>::from_data(TensorData::new(linear_resize_matrix(h, out_h, align_corners), [out_h, h]), &device);
    let cols = Tensor::<2>::from_data(TensorData::new(linear_resize_matrix(w, out_w, align_corners), [out_w, w]), &device).transpose();
    let y = x.matmul(cols.unsqueeze::<4>());
    rows.unsqueeze::<4>().matmul(y)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_matrix_rows_sum_to_one_and_hit_corners() {
        let m = linear_resize_matrix(4, 9, true);
        for o in 0..9 {
            let s: f32 = m[o * 4..o * 4 + 4].iter().sum();
            assert!((s - 1.0).abs() < 1e-6);
        }
        assert_eq!(m[0], 1.0);
        assert_eq!(m[8 * 4 + 3], 1.0);
    }
}
