//! Which code computes a convolution: burn's own kernels, or on the CPU flawmap's faster
//! forms of the same function (same modules, parameters and checkpoints).
//!
//! - [`ConvPath::Kernel`] (the default on burn-flex): every `Conv2d` through
//!   [`super::cpu_conv`] (im2col + gemm, with its own backward pass), the UNet's 2x2
//!   transposed convolutions as one matmul ([`super::matmul_conv`]).
//! - [`ConvPath::Matmul`]: session 4's path, the matmul forms for 1x1 and transposed
//!   convolutions only, burn's for the rest.
//! - [`ConvPath::Burn`] (the default on wgpu): burn's kernels throughout; no GPU has
//!   measured the alternatives yet.
//!
//! `FLAWMAP_CONV=burn|matmul|kernel` forces one (for before/after measurements in one build;
//! `kernel` applies on flex only, where the extension is routed).

use super::{cpu_conv, matmul_conv};
use burn::nn::conv::{Conv2d, ConvTranspose2d};
use burn::tensor::{Device, Tensor};
use std::sync::OnceLock;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConvPath {
    Burn,
    Matmul,
    Kernel,
}

/// The path convolutions take on this device.
pub fn path_on(device: &Device) -> ConvPath {
    static FORCED: OnceLock<Option<ConvPath>> = OnceLock::new();
    let forced = *FORCED.get_or_init(|| match std::env::var("FLAWMAP_CONV").as_deref() {
        Ok("burn") => Some(ConvPath::Burn),
        Ok("matmul") => Some(ConvPath::Matmul),
        Ok("kernel") => Some(ConvPath::Kernel),
        _ => None,
    });
    let flex = device.clone().inner() == Device::flex();
    match forced {
        Some(ConvPath::Kernel) if !flex => ConvPath::Burn,
        Some(path) => path,
        None if flex => ConvPath::Kernel,
        None => ConvPath::Burn,
    }
}

/// `conv.forward(x)`, through the path this device takes.
pub fn forward(conv: &Conv2d, x: Tensor<4>) -> Tensor<4> {
    match path_on(&x.device()) {
        ConvPath::Kernel if cpu_conv::supports(conv) => cpu_conv::conv2d(conv, x),
        ConvPath::Matmul if matmul_conv::faster_as_matmul(conv) => matmul_conv::conv2d(conv, x),
        _ => conv.forward(x),
    }
}

/// `conv.forward(x)` for a transposed convolution, through the path this device takes.
pub fn forward_transpose(conv: &ConvTranspose2d, x: Tensor<4>) -> Tensor<4> {
    match path_on(&x.device()) {
        ConvPath::Kernel | ConvPath::Matmul if matmul_conv::supports_transpose(conv) => matmul_conv::conv_transpose2d(conv, x),
        _ => conv.forward(x),
    }
}
