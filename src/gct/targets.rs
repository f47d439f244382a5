//! Spec sections 2 and 3: the flaw detector's target C(p, y), the flaw-map handler H(f),
//! the dynamic-consistency (dc) targets and masks, and the flaw-correction (fc) mask.
//! Everything here runs without gradient on detached tensors.

use super::kernels::KernelSizes;
use super::ops::{blur, dilate, min_max_normalise, per_sample_min_max};
use burn::tensor::{Int, Tensor};

/// The constants of C(.) and H(.) for one run.
#[derive(Debug, Clone, Copy)]
pub struct FlawParams {
    pub kernels: KernelSizes,
    /// mu: 0.5 for segmentation (then e = 1 - p_true), 1/O for restoration.
    pub mu: f32,
    /// nu: rounds of dilation + blur.
    pub nu: usize,
    /// xi: the flaw threshold of the dc targets and the fc mask.
    pub xi: f32,
    /// How much worse (in saturated handled flaw) a model's own map must be than the
    /// other's before dc makes it copy. 0 is the spec's rule (strictly worse).
    pub dc_margin: f32,
    /// Min-max normalise C(.) per sample (the spec's step 5). Off: C keeps the error's own
    /// scale, so an image the model gets almost right has a target near 0 everywhere.
    pub normalise: bool,
    /// Segmentation: a model copies the other only where, besides F's rule, it is also the
    /// less confident of the two (`gct.dc_confidence_gate`; the spec: F's rule alone).
    pub confidence_gate: bool,
}

/// Labels in prediction format: one-hot over K classes; an ignore pixel (255, or any
/// value >= K) becomes the all-zero vector (it is not masked out, spec section 2).
pub fn one_hot(labels: Tensor<3, Int>, num_classes: usize) -> Tensor<4> {
    let planes: Vec<Tensor<3>> = (0..num_classes).map(|k| labels.clone().equal_elem(k as i64).float()).collect();
    Tensor::stack(planes, 1)
}

/// e = mu * sum over channels of |y - p|: the unblurred "true error" map, [N, 1, H, W].
pub fn error_map(pred: Tensor<4>, label_as_pred: Tensor<4>, mu: f32) -> Tensor<4> {
    (label_as_pred - pred).abs().sum_dim(1).mul_scalar(mu)
}

/// C(p, y): blur, nu x (dilate, blur), per-sample min-max (unless `fp.normalise` is off).
/// Targets in [0, 1].
pub fn flaw_target(pred: Tensor<4>, label_as_pred: Tensor<4>, fp: &FlawParams) -> Tensor<4> {
    target_from_error(error_map(pred, label_as_pred, fp.mu), fp)
}

/// Steps 3-5 of C(.) on any per-pixel error map [N, 1, H, W]: blur, dilate and blur, and
/// normalise per sample. The evaluation also puts the models' confidence through it.
pub fn target_from_error(e: Tensor<4>, fp: &FlawParams) -> Tensor<4> {
    let mut e = blur(e, fp.kernels.s8);
    for _ in 0..fp.nu {
        e = blur(dilate(e), fp.kernels.s4);
    }
    if fp.normalise { min_max_normalise(e) } else { e }
}

/// H(f): clip at 0, blur, and min-max normalise; a map whose maximum is <= 0.1 is zeroed
/// first and then normalised with the pre-zeroing min and max, so it becomes a constant
/// <= 0 (every pixel counts as good), exactly as the reference does.
pub fn handle_flaw(raw: Tensor<4>, fp: &FlawParams) -> Tensor<4> {
    let h = blur(raw.clamp_min(0.0), fp.kernels.s16);
    let (mn, mx) = per_sample_min_max(&h);
    let keep = mx.clone().greater_elem(0.1).float();
    (h * keep - mn.clone()) / (mx - mn).add_scalar(1e-9)
}

/// What the dc/fc step of one iteration produces.
#[derive(Debug, Clone)]
pub struct DcTargets {
    /// Target for T1: its own prediction where it is not worse than T2, T2's elsewhere.
    pub t1: Tensor<4>,
    pub t2: Tensor<4>,
    /// 1 where T1 learns from T2 (the dc mask of T1 shown in the inspector), [N, 1, H, W].
    pub dc_mask1: Tensor<4>,
    pub dc_mask2: Tensor<4>,
    /// 1 where both handled flaw maps exceed xi: both models are bad there.
    pub fc_mask: Tensor<4>,
}

/// Spec section 3 from the handled flaw maps h1, h2 and the activated predictions p1, p2.
/// `margin` > 0 is a deviation (`gct.dc_margin`): a model copies only where its saturated
/// flaw exceeds the other's by more than the margin, so near-ties of two blurred maps,
/// which carry little information about which model is right, keep each model's own.
pub fn dc_targets(p1: Tensor<4>, p2: Tensor<4>, h1: Tensor<4>, h2: Tensor<4>, xi: f32, margin: f32) -> DcTargets {
    dc_targets_gated(p1, p2, h1, h2, xi, margin, false)
}

/// The dc targets under the run's rule ([`FlawParams`]): the spec's, with the margin, and
/// with `confidence_gate` (`gct.dc_confidence_gate`) a copy also needs the copying model's
/// top class probability to be below the other's. Where F and the models' confidence pick
/// the same model the pick is right more often than F's alone (docs/measurements.md,
/// session 12), at the cost of copying on fewer pixels. The fc mask is F's alone either
/// way. Strictly below: where both top probabilities saturate at 1.0, neither copies.
pub fn dc_targets_for(p1: Tensor<4>, p2: Tensor<4>, h1: Tensor<4>, h2: Tensor<4>, fp: &FlawParams) -> DcTargets {
    dc_targets_gated(p1, p2, h1, h2, fp.xi, fp.dc_margin, fp.confidence_gate)
}

fn dc_targets_gated(p1: Tensor<4>, p2: Tensor<4>, h1: Tensor<4>, h2: Tensor<4>, xi: f32, margin: f32, gate: bool) -> DcTargets {
    let saturate = |h: Tensor<4>| h.clone().mask_fill(h.greater_elem(xi), 1.0);
    let (s1, s2) = (saturate(h1.clone()), saturate(h2.clone()));
    let mut keep1 = s2.clone().add_scalar(margin).greater_equal(s1.clone()).float();
    let mut keep2 = s1.add_scalar(margin).greater_equal(s2).float();
    if gate {
        // Keep one's own also wherever the other model is not the surer one.
        let (top1, top2) = (p1.clone().max_dim(1), p2.clone().max_dim(1));
        keep1 = keep1.max_pair(top2.clone().lower_equal(top1.clone()).float());
        keep2 = keep2.max_pair(top1.lower_equal(top2).float());
    }
    let t1 = p1.clone() * keep1.clone() + p2.clone() * keep1.clone().neg().add_scalar(1.0);
    let t2 = p2 * keep2.clone() + p1 * keep2.clone().neg().add_scalar(1.0);
    let fc_mask = h1.greater_elem(xi).bool_and(h2.greater_elem(xi)).float();
    DcTargets { t1, t2, dc_mask1: keep1.neg().add_scalar(1.0), dc_mask2: keep2.neg().add_scalar(1.0), fc_mask }
}

/// What the dc masks do on labelled pixels, where the truth is known (segmentation):
/// `p1`, `p2` and `labels` are the labelled slice, `dc` the targets of that slice. Returns,
/// as shares of all labelled pixels, [T1 fixes, T1 breaks, T2 fixes, T2 breaks]: a model
/// *fixes* a pixel when its dc mask makes it take the other's different class and that class
/// is right, and *breaks* one when it gives up its own right class for the other's. Where
/// both are wrong, or they agree, copying changes nothing. Measures F's guidance directly:
/// fixes over fixes + breaks is how often dc copies in the right direction. The masks may
/// cover the whole batch; the labelled slice is their first samples.
pub fn dc_effect(p1: Tensor<4>, p2: Tensor<4>, dc_mask1: &Tensor<4>, dc_mask2: &Tensor<4>, labels: Tensor<3, Int>) -> [Tensor<1>; 4] {
    let n = labels.dims()[0];
    let (c1, c2) = (p1.argmax(1), p2.argmax(1));
    let y = labels.unsqueeze_dim::<4>(1);
    let differ = c1.clone().not_equal(c2.clone());
    let (right1, right2) = (c1.equal(y.clone()), c2.equal(y));
    let copies = |mask: &Tensor<4>| mask.clone().narrow(0, 0, n).greater_elem(0.5).bool_and(differ.clone());
    let (copy1, copy2) = (copies(dc_mask1), copies(dc_mask2));
    let share = |b: Tensor<4, burn::tensor::Bool>| b.float().mean();
    [share(copy1.clone().bool_and(right2.clone())), share(copy1.bool_and(right1.clone())), share(copy2.clone().bool_and(right1)), share(copy2.bool_and(right2))]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gct::kernels::KernelSizes;
    use crate::host::{f32_tensor, to_f32};
    use burn::tensor::Device;

    /// A 2-class prediction on 32 x 32, right everywhere but a 4 x 4 patch held at 0.3.
    fn mostly_right(device: &Device) -> (Tensor<4>, Tensor<4>) {
        let hw = 32 * 32;
        let mut p = vec![0.0f32; 2 * hw];
        let mut y = vec![0.0f32; 2 * hw];
        for i in 0..hw {
            let (r, c) = (i / 32, i % 32);
            let right = if (10..14).contains(&r) && (10..14).contains(&c) { 0.3 } else { 1.0 };
            p[i] = right;
            p[hw + i] = 1.0 - right;
            y[i] = 1.0;
        }
        (f32_tensor(p, [1, 2, 32, 32], device), f32_tensor(y, [1, 2, 32, 32], device))
    }

    #[test]
    fn the_target_is_min_max_normalised_unless_turned_off() {
        let device = Device::flex();
        let (p, y) = mostly_right(&device);
        let mut fp = FlawParams { kernels: KernelSizes::for_crop(32), mu: 0.5, nu: 1, xi: 0.6, dc_margin: 0.0, normalise: true, confidence_gate: false };
        let normed = to_f32(flaw_target(p.clone(), y.clone(), &fp));
        fp.normalise = false;
        let raw = to_f32(flaw_target(p, y, &fp));
        let (lo, hi) = raw.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
        // The patch's error is 0.7 before blurring: unnormalised, the peak stays below it.
        assert!(hi > 0.05 && hi < 0.7 && lo >= 0.0, "raw range {lo}..{hi}");
        let peak = normed.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        assert!((peak - 1.0).abs() < 1e-5, "normalised peak {peak}");
        for (n, r) in normed.iter().zip(&raw) {
            assert!((n - (r - lo) / (hi - lo + 1e-9)).abs() < 1e-5);
        }
    }

    #[test]
    fn a_dc_margin_keeps_near_ties_and_still_copies_clear_preferences() {
        let device = Device::flex();
        // 1 x 4 pixels; T1 predicts class 0 everywhere, T2 class 1. Handled flaw maps: T1 is
        // worse by 0.05 (near tie), by 0.4 (clear), better by 0.3, and both above xi (fc).
        let p1 = f32_tensor(vec![1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0], [1, 2, 1, 4], &device);
        let p2 = f32_tensor(vec![0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0], [1, 2, 1, 4], &device);
        let h1 = f32_tensor(vec![0.30, 0.50, 0.10, 0.9], [1, 1, 1, 4], &device);
        let h2 = f32_tensor(vec![0.25, 0.10, 0.40, 0.8], [1, 1, 1, 4], &device);
        let spec = dc_targets(p1.clone(), p2.clone(), h1.clone(), h2.clone(), 0.6, 0.0);
        assert_eq!(to_f32(spec.dc_mask1), vec![1.0, 1.0, 0.0, 0.0]);
        assert_eq!(to_f32(spec.dc_mask2), vec![0.0, 0.0, 1.0, 0.0]);
        let m = dc_targets(p1, p2, h1, h2, 0.6, 0.2);
        assert_eq!(to_f32(m.dc_mask1), vec![0.0, 1.0, 0.0, 0.0], "the near tie keeps T1's own");
        assert_eq!(to_f32(m.dc_mask2), vec![0.0, 0.0, 1.0, 0.0]);
        // T1's target is its own class where it keeps, T2's where it copies.
        assert_eq!(to_f32(m.t1), vec![1.0, 0.0, 1.0, 1.0, 0.0, 1.0, 0.0, 0.0]);
        assert_eq!(to_f32(m.fc_mask), to_f32(spec.fc_mask), "the fc mask does not depend on the margin");
    }

    #[test]
    fn the_confidence_gate_copies_only_where_the_other_model_is_also_surer() {
        let device = Device::flex();
        // 1 x 4 pixels. T1's top probability 0.9, 0.6, 0.9, 0.6; T2's 0.7 everywhere (class 1).
        let p1 = f32_tensor(vec![0.9, 0.6, 0.9, 0.6, 0.1, 0.4, 0.1, 0.4], [1, 2, 1, 4], &device);
        let p2 = f32_tensor(vec![0.3, 0.3, 0.3, 0.3, 0.7, 0.7, 0.7, 0.7], [1, 2, 1, 4], &device);
        // F rates T2 better on pixels 0 and 1, T1 better on 2 and 3.
        let h1 = f32_tensor(vec![0.5, 0.5, 0.1, 0.1], [1, 1, 1, 4], &device);
        let h2 = f32_tensor(vec![0.1, 0.1, 0.5, 0.5], [1, 1, 1, 4], &device);
        let mut fp = FlawParams { kernels: KernelSizes::for_crop(32), mu: 0.5, nu: 1, xi: 0.6, dc_margin: 0.0, normalise: true, confidence_gate: false };
        let spec = dc_targets_for(p1.clone(), p2.clone(), h1.clone(), h2.clone(), &fp);
        assert_eq!((to_f32(spec.dc_mask1), to_f32(spec.dc_mask2)), (vec![1.0, 1.0, 0.0, 0.0], vec![0.0, 0.0, 1.0, 1.0]));
        fp.confidence_gate = true;
        let gated = dc_targets_for(p1, p2, h1, h2, &fp);
        // T1 copies only on pixel 1 (T2 surer there: 0.7 > 0.6); T2 only on pixel 2 (0.9 > 0.7).
        assert_eq!(to_f32(gated.dc_mask1), vec![0.0, 1.0, 0.0, 0.0]);
        assert_eq!(to_f32(gated.dc_mask2), vec![0.0, 0.0, 1.0, 0.0]);
        let t1 = to_f32(gated.t1);
        assert_eq!((t1[0], t1[1], t1[4], t1[5]), (0.9, 0.3, 0.1, 0.7), "T1 keeps pixel 0, takes T2's on pixel 1");
        assert_eq!(to_f32(gated.fc_mask), to_f32(spec.fc_mask));
    }

    #[test]
    fn dc_effect_counts_copies_that_fix_and_copies_that_break() {
        let device = Device::flex();
        // 2 classes, 1 x 4 pixels, truth 0 0 1 1.
        // T1 predicts 0 1 1 0, T2 predicts 1 0 1 1.
        let probs = |classes: [u8; 4]| {
            let mut v = vec![0.0f32; 8];
            for (i, c) in classes.iter().enumerate() {
                v[*c as usize * 4 + i] = 1.0;
            }
            f32_tensor(v, [1, 2, 1, 4], &device)
        };
        let (p1, p2) = (probs([0, 1, 1, 0]), probs([1, 0, 1, 1]));
        let labels = crate::host::i32_tensor(vec![0, 0, 1, 1], [1, 1, 4], &device);
        // T1 copies T2 at pixels 0 (breaks: T1 right), 1 (fixes) and 2 (same class: nothing);
        // T2 copies T1 at pixel 3 (breaks: T2 right) only.
        let mask = |m: [f32; 4]| f32_tensor(m.to_vec(), [1, 1, 1, 4], &device);
        let (m1, m2) = (mask([1.0, 1.0, 1.0, 0.0]), mask([0.0, 0.0, 0.0, 1.0]));
        let got: Vec<f32> = dc_effect(p1, p2, &m1, &m2, labels).into_iter().map(|t| to_f32(t)[0]).collect();
        assert_eq!(got, vec![0.25, 0.25, 0.0, 0.25]);
    }
}
