//! Spec section 4: the supervised, dynamic-consistency, flaw-correction and
//! flaw-detector losses.

use burn::tensor::activation::log_softmax;
use burn::tensor::{Int, Tensor};

/// Per-pixel cross-entropy with ignore index: labels outside 0..K (255) contribute 0 but,
/// as in the reference, still count in the per-image denominator H x W.
pub fn cross_entropy_ignore(logits: Tensor<4>, labels: Tensor<3, Int>) -> Tensor<1> {
    let [n, k, h, w] = logits.dims();
    let valid = labels.clone().lower_elem(k as i64);
    let safe = labels.mask_fill(valid.clone().bool_not(), 0);
    let picked = log_softmax(logits, 1).gather(1, safe.reshape([n, 1, h, w])).reshape([n, h, w]);
    (picked * valid.float()).sum().neg().div_scalar((n * h * w) as f32)
}

pub fn mse(pred: Tensor<4>, target: Tensor<4>) -> Tensor<1> {
    (pred - target).square().mean()
}

/// L_dc = weight * mean over N x C x H x W of (p - t)^2, with weight = lambda_dc * r(t).
pub fn dc_loss(pred: Tensor<4>, target: Tensor<4>, weight: f32) -> Tensor<1> {
    mse(pred, target.detach()).mul_scalar(weight)
}

/// L_fc = lambda_fc * mean(M_fc * f^2); f comes from the frozen F, so the gradient flows
/// through F into the prediction.
pub fn fc_loss(flaw: Tensor<4>, fc_mask: Tensor<4>, lambda_fc: f32) -> Tensor<1> {
    (flaw.square() * fc_mask.detach()).mean().mul_scalar(lambda_fc)
}

/// L_F = fd_scale * 0.5 * [mse(f1, C1) + mse(f2, C2)] on the labelled slice.
pub fn flaw_detector_loss(f1: Tensor<4>, c1: Tensor<4>, f2: Tensor<4>, c2: Tensor<4>, fd_scale: f32) -> Tensor<1> {
    (mse(f1, c1) + mse(f2, c2)).mul_scalar(0.5 * fd_scale)
}
