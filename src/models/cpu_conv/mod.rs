//! A faster 2-D convolution for the CPU (burn-flex), forward and backward, plugged into burn
//! through its backend-extension mechanism: the same `Conv2d` modules, parameters and
//! checkpoints; only the computation differs.
//!
//! Why: burn-flex 0.22 computes a 2-D convolution through a generic 3-D path, and burn's
//! default backward computes the input gradient as a transposed convolution (a scalar col2im
//! per tap) and the weight gradient as another convolution whose kernel is the whole
//! gradient image. Both backward passes are two plain gemms over the im2col matrix
//! ([`kernel`]), which is what PyTorch's CPU path does too. Measured in docs/measurements.md
//! ("Training speed"); `FLAWMAP_CONV=burn` turns it off for a before/after in one build.
//!
//! Layers: [`kernel`] (slices, no burn), `backends` (the extension trait on flex, and on
//! autodiff with its backward pass), this file (the `Tensor` entry point).

mod backends;
pub mod kernel;

use burn::nn::conv::Conv2d;
use burn::tensor::Tensor;

use backends::CpuConv;

/// Whether [`conv2d`] computes this layer: no groups, and a padding the layer fixes.
pub fn supports(conv: &Conv2d) -> bool {
    conv.groups == 1 && super::matmul_conv::explicit_padding(conv).is_some()
}

/// `conv.forward(x)` through the kernel, for a layer [`supports`] accepts. Only for tensors
/// on burn-flex (with or without autodiff): other backends panic in the extension's
/// dispatch, so callers go through [`super::conv::forward`].
pub fn conv2d(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    let [top, left, bottom, right] = super::matmul_conv::explicit_padding(conv).expect("cpu_conv: a padding the layer fixes");
    let options = burn::tensor::ops::ConvOptions::new_with_padding(conv.stride, [(top, bottom), (left, right)], conv.dilation, conv.groups);
    let y = Tensor::from_dispatch(<burn::backend::Dispatch as CpuConv>::cpu_conv2d(x.into_dispatch(), conv.weight.val().into_dispatch(), options));
    match &conv.bias {
        // The bias outside the kernel: autodiff sums its gradient over the broadcast dims,
        // which keeps the extension to two differentiable inputs.
        Some(bias) => {
            let cout = bias.dims()[0];
            y + bias.val().reshape([1, cout, 1, 1])
        }
        None => y,
    }
}
