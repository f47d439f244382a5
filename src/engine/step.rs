//! One training iteration of each algorithm (spec section 5), on tensors already on the
//! device. Kept free of data loading and reporting so it can be tested directly.
//!
//! Named deviation: in train mode, the "no gradient" forward of step 1 and the forward of
//! step 2 compute the same values (same parameters, same batch statistics), so T1, T2 and
//! the frozen F are run once per iteration and step 1 reads the detached outputs. The
//! only difference from the reference is that BatchNorm running statistics (used at
//! evaluation) are updated once per iteration instead of twice (with
//! `train.split_batchnorm`, once per slice of the batch).

use super::nets::{Nets, Optimisers, step_task_net};
use crate::data::batches::HostBatch;
use crate::gct::class_swaps::{DeviceSwaps, HostSwaps};
use crate::gct::losses::{dc_loss, fc_loss, flaw_detector_loss};
use crate::gct::targets::{DcTargets, FlawParams, dc_effect, dc_targets_for, flaw_target, handle_flaw};
use crate::host::{f32_tensor, i32_tensor};
use crate::models::flaw_detector::FlawDetector;
use crate::task::{Labels, Task};
use burn::module::Module;
use burn::optim::GradientsParams;
use burn::tensor::{Device, Int, Tensor};

/// The batch on the training (autodiff) device; the first `n_labeled` samples are labelled.
pub struct DeviceBatch {
    pub input: Tensor<4>,
    /// The labelled slice's labels: what F's target C(.) is computed from.
    pub labels: Labels,
    /// What the task models' supervised loss reads, where it differs from `labels`
    /// (`gct.fd_holdout`: the held-out images' labels set to ignore).
    pub task_labels: Option<Labels>,
    pub n_labeled: usize,
    /// `gct.fd_class_swaps`: the swapped regions F sees in T1's and T2's labelled predictions.
    pub class_swaps: Option<[DeviceSwaps; 2]>,
}

impl DeviceBatch {
    /// Copy a host batch to `device`.
    pub fn upload(hb: &HostBatch, device: &Device) -> Self {
        let (h, w) = (hb.height, hb.width);
        let input = f32_tensor(hb.input.clone(), hb.input_dims(), device);
        let labels = match (&hb.labels, &hb.clean) {
            (Some(l), _) => Labels::Classes(i32_tensor(l.clone(), [hb.n_labeled, h, w], device)),
            (_, Some(c)) => Labels::Clean(f32_tensor(c.clone(), [hb.n_labeled, 3, h, w], device)),
            _ => unreachable!("a training batch has labels"),
        };
        let class_swaps = hb.class_swaps.as_ref().filter(|s| s.iter().any(HostSwaps::any)).map(|[a, b]| [a.upload(device), b.upload(device)]);
        Self { input, labels, task_labels: None, n_labeled: hb.n_labeled, class_swaps }
    }

    /// Hides the labels of the `held` items (sorted train indices) from the task models'
    /// supervised loss; F still learns from them. Segmentation labels only.
    pub fn hide_from_task_models(&mut self, hb: &HostBatch, held: &[usize], device: &Device) {
        let Some(labels) = &hb.labels else { return };
        let per = hb.height * hb.width;
        let mut task = labels.clone();
        for (i, item) in hb.items[..hb.n_labeled].iter().enumerate() {
            if held.binary_search(item).is_ok() {
                task[i * per..(i + 1) * per].fill(IGNORE_LABEL);
            }
        }
        self.task_labels = Some(Labels::Classes(i32_tensor(task, [hb.n_labeled, hb.height, hb.width], device)));
    }

    /// The labels the task models learn from.
    pub fn task_labels(&self) -> &Labels {
        self.task_labels.as_ref().unwrap_or(&self.labels)
    }
}

/// The ignore label of segmentation masks.
const IGNORE_LABEL: i32 = 255;

/// Per-iteration hyper-parameters after the schedules.
#[derive(Debug, Clone, Copy)]
pub struct StepParams {
    pub lr: f64,
    pub fd_lr: f64,
    pub head_lr_mult: f64,
    /// lambda_dc * r(t).
    pub dc_weight: f32,
    pub lambda_fc: f32,
    pub fd_scale: f32,
    /// F updates per iteration on the same slice (`train.fd_steps`; the spec's is 1).
    pub fd_steps: usize,
    pub flaw: FlawParams,
    /// Compute what dc did on the labelled pixels (`StepLosses::dc_effect`): only on the
    /// steps whose figures are read back.
    pub measure_dc: bool,
    /// Run the task models on the labelled and the unlabelled slice separately, so each
    /// has BatchNorm statistics of its own (`train.split_batchnorm`; the spec: one batch).
    pub split_batchnorm: bool,
}

/// A task model's raw output on the whole batch: one forward (the spec), or with
/// `split` one per slice, concatenated, so BatchNorm normalises the labelled crops among
/// themselves (its running statistics then move twice per iteration).
pub fn task_forward(net: &crate::models::TaskNet, x: Tensor<4>, n_labeled: usize, split: bool) -> Tensor<4> {
    let n = x.dims()[0];
    if !split || n_labeled == 0 || n_labeled >= n {
        return net.forward(x);
    }
    Tensor::cat(vec![net.forward(x.clone().narrow(0, 0, n_labeled)), net.forward(x.narrow(0, n_labeled, n - n_labeled))], 0)
}

/// What F's step learns from: the detached activated predictions of the whole batch, and
/// C(.) of each on the labelled slice. Computed once per iteration: every F update
/// regresses the same targets, and the dc diagnostics compare F's masks with C's.
pub struct FlawInputs {
    pub p1: Tensor<4>,
    pub p2: Tensor<4>,
    pub c1: Tensor<4>,
    pub c2: Tensor<4>,
    /// With class swaps: the predictions F learns from in place of p1, p2 (swapped in the
    /// labelled slice) and their C(.); p1..c2 stay the models' own for the dc diagnostics.
    pub swapped: Option<[Tensor<4>; 4]>,
}

impl FlawInputs {
    pub fn new(batch: &DeviceBatch, task: &Task, flaw: &FlawParams, p1: Tensor<4>, p2: Tensor<4>) -> Self {
        let n_l = batch.n_labeled;
        let y = task.label_as_pred(&batch.labels);
        let c1 = flaw_target(p1.clone().narrow(0, 0, n_l), y.clone(), flaw);
        let c2 = flaw_target(p2.clone().narrow(0, 0, n_l), y.clone(), flaw);
        let swapped = batch.class_swaps.as_ref().map(|[s1, s2]| {
            let n = p1.dims()[0];
            let swap = |s: &DeviceSwaps, p: &Tensor<4>| {
                let labelled = s.apply(p.clone().narrow(0, 0, n_l));
                let c = flaw_target(labelled.clone(), y.clone(), flaw);
                let whole = if n > n_l { Tensor::cat(vec![labelled, p.clone().narrow(0, n_l, n - n_l)], 0) } else { labelled };
                (whole, c)
            };
            let ((ps1, cs1), (ps2, cs2)) = (swap(s1, &p1), swap(s2, &p2));
            [ps1, ps2, cs1, cs2]
        });
        Self { p1, p2, c1, c2, swapped }
    }

    /// The predictions F's step learns from and their targets: the swapped ones where the
    /// batch has class swaps, else the models' own.
    pub fn for_flaw_detector(&self) -> [&Tensor<4>; 4] {
        match &self.swapped {
            Some([p1, p2, c1, c2]) => [p1, p2, c1, c2],
            None => [&self.p1, &self.p2, &self.c1, &self.c2],
        }
    }
}

/// Loss terms still on the device; read back only when reported.
pub struct StepLosses {
    /// sup, dc, fc for T1, then for T2 (zeros where a term does not exist).
    pub terms: Vec<Tensor<1>>,
    pub fd: Option<Tensor<1>>,
    /// Mean of the dc masks of T1 and T2 and of the fc mask.
    pub shares: Option<[Tensor<1>; 3]>,
    /// Segmentation GCT: what the dc masks did on the labelled pixels, as shares of them:
    /// [T1 fixes, T1 breaks, T2 fixes, T2 breaks] (`targets::dc_effect`), then the fixes
    /// and breaks of both models had the masks come from C(.) instead of F: the ceiling
    /// (under `gct.dc_confidence_gate`, C's masks are gated too, like F's).
    pub dc_effect: Option<[Tensor<1>; 6]>,
}

/// Marks the end of each phase of an iteration, for `flawmap bench --profile`. The engine
/// passes `()`, which does nothing. On an eager backend (flex) the time between two marks is
/// that phase's work; on wgpu it is only what was queued, unless the marker syncs.
pub trait Phases {
    fn mark(&mut self, phase: &'static str);
}

impl Phases for () {
    fn mark(&mut self, _: &'static str) {}
}

fn zero(like: &Tensor<1>) -> Tensor<1> {
    like.zeros_like().detach()
}

/// Step 1 + step 2 of GCT: the task models learn from labels, from each other where F
/// says the other is better, and from F where both are bad. F's parameters do not move.
/// Returns what the F step learns from.
pub fn gct_task_step(nets: &mut Nets, opts: &mut Optimisers, batch: &DeviceBatch, task: &Task, hp: &StepParams) -> (StepLosses, FlawInputs) {
    gct_task_step_timed(nets, opts, batch, task, hp, &mut ())
}

/// [`gct_task_step`] with its phases marked.
pub fn gct_task_step_timed(
    nets: &mut Nets,
    opts: &mut Optimisers,
    batch: &DeviceBatch,
    task: &Task,
    hp: &StepParams,
    ph: &mut impl Phases,
) -> (StepLosses, FlawInputs) {
    let f = nets.f.as_ref().expect("gct has a flaw detector");
    // Frozen F: its parameters get no gradient; BatchNorm stays in train mode as in the
    // reference, and its running statistics (shared with F) may update.
    let frozen = f.clone().no_grad();
    let x = batch.input.clone();
    let t2 = nets.t2.as_ref().expect("gct has T2");
    let (n_l, split) = (batch.n_labeled, hp.split_batchnorm);
    let (out1, out2) = (task_forward(&nets.t1, x.clone(), n_l, split), task_forward(t2, x.clone(), n_l, split));
    let (p1, p2) = (task.activate(out1.clone()), task.activate(out2.clone()));
    ph.mark("task forward: T1, T2");
    let (f1, f2) = (frozen.forward(x.clone(), p1.clone()), frozen.forward(x, p2.clone()));
    ph.mark("F forward (frozen) on T1, T2");

    let (h1, h2) = (handle_flaw(f1.clone().detach(), &hp.flaw), handle_flaw(f2.clone().detach(), &hp.flaw));
    let inputs = FlawInputs::new(batch, task, &hp.flaw, p1.clone().detach(), p2.clone().detach());
    ph.mark("C(.) targets: blur, dilate, normalise");
    let dc = dc_targets_for(inputs.p1.clone(), inputs.p2.clone(), h1, h2, &hp.flaw);
    ph.mark("flaw handler H + dc targets");

    let sup1 = task.supervised_loss(out1.narrow(0, 0, n_l), batch.task_labels());
    let sup2 = task.supervised_loss(out2.narrow(0, 0, n_l), batch.task_labels());
    let dc_effect = match &batch.labels {
        Labels::Classes(y) if hp.measure_dc => Some(labelled_dc_effect(&inputs, &dc, y.clone(), hp)),
        _ => None,
    };
    let dc1 = dc_loss(p1, dc.t1, hp.dc_weight);
    let dc2 = dc_loss(p2, dc.t2, hp.dc_weight);
    let fc1 = fc_loss(f1, dc.fc_mask.clone(), hp.lambda_fc);
    let fc2 = fc_loss(f2, dc.fc_mask.clone(), hp.lambda_fc);
    let total = sup1.clone() + dc1.clone() + fc1.clone() + sup2.clone() + dc2.clone() + fc2.clone();
    ph.mark("task losses: sup, dc, fc");

    // The two models' losses are independent, so one backward gives each its own gradients.
    let mut grads = total.backward();
    ph.mark("task backward (through frozen F)");
    let t1 = nets.t1.clone();
    nets.t1 = step_task_net(t1, &mut opts.t1, hp.lr, hp.head_lr_mult, &mut grads);
    let t2 = nets.t2.take().expect("gct has T2");
    nets.t2 = Some(step_task_net(t2, opts.t2.as_mut().expect("T2 optimiser"), hp.lr, hp.head_lr_mult, &mut grads));
    ph.mark("task optimiser steps");

    let shares = [dc.dc_mask1.mean(), dc.dc_mask2.mean(), dc.fc_mask.mean()];
    let terms = [sup1, dc1, fc1, sup2, dc2, fc2].into_iter().map(Tensor::detach).collect();
    let losses = StepLosses { terms, fd: None, shares: Some(shares), dc_effect };
    (losses, inputs)
}

/// What dc did on the labelled slice (labels `y`), and what it would have done with masks
/// made from C(.), F's target, in place of F's maps: the same handler, threshold and rule,
/// so the gap between the two is F's part alone.
fn labelled_dc_effect(inputs: &FlawInputs, dc: &DcTargets, y: Tensor<3, Int>, hp: &StepParams) -> [Tensor<1>; 6] {
    let n_l = y.dims()[0];
    let (p1, p2) = (inputs.p1.clone().narrow(0, 0, n_l), inputs.p2.clone().narrow(0, 0, n_l));
    let [fix1, break1, fix2, break2] = dc_effect(p1.clone(), p2.clone(), &dc.dc_mask1, &dc.dc_mask2, y.clone());
    let (h1, h2) = (handle_flaw(inputs.c1.clone(), &hp.flaw), handle_flaw(inputs.c2.clone(), &hp.flaw));
    let with_c = dc_targets_for(p1.clone(), p2.clone(), h1, h2, &hp.flaw);
    let [cf1, cb1, cf2, cb2] = dc_effect(p1, p2, &with_c.dc_mask1, &with_c.dc_mask2, y);
    [fix1, break1, fix2, break2, cf1 + cf2, cb1 + cb2]
}

/// Step 3 of GCT: F learns to regress C(p, y) on the labelled slice, from the detached
/// predictions of step 1. No gradient reaches the task models.
pub fn gct_flaw_step(nets: &mut Nets, opts: &mut Optimisers, batch: &DeviceBatch, hp: &StepParams, inputs: &FlawInputs) -> Tensor<1> {
    gct_flaw_step_timed(nets, opts, batch, hp, inputs, &mut ())
}

/// [`gct_flaw_step`] with its phases marked.
pub fn gct_flaw_step_timed(
    nets: &mut Nets,
    opts: &mut Optimisers,
    batch: &DeviceBatch,
    hp: &StepParams,
    inputs: &FlawInputs,
    ph: &mut impl Phases,
) -> Tensor<1> {
    let n_l = batch.n_labeled;
    let f: FlawDetector = nets.f.take().expect("gct has a flaw detector");
    // F runs on the full batch and is sliced, so its batch statistics match the reference.
    let [p1, p2, c1, c2] = inputs.for_flaw_detector();
    let f1 = f.forward(batch.input.clone(), p1.clone()).narrow(0, 0, n_l);
    let f2 = f.forward(batch.input.clone(), p2.clone()).narrow(0, 0, n_l);
    ph.mark("F forward (F step) on T1, T2");
    let loss = flaw_detector_loss(f1, c1.clone(), f2, c2.clone(), hp.fd_scale);
    let grads = GradientsParams::from_grads(loss.backward(), &f);
    ph.mark("F loss + backward");
    nets.f = Some(opts.f.as_mut().expect("F optimiser").step(hp.fd_lr, f, grads));
    ph.mark("F optimiser step");
    loss.detach()
}

/// An extra F update on a batch of its own (`train.fd_fresh_steps`): the task
/// models predict it as they are after this iteration's step, in train mode as in the task
/// step (their BatchNorm running statistics see these crops too), without a gradient, and F
/// regresses C(.) of those predictions. Named deviation from the spec, whose F sees each
/// iteration's labelled slice once.
pub fn gct_flaw_only_step(nets: &mut Nets, opts: &mut Optimisers, batch: &DeviceBatch, task: &Task, hp: &StepParams) -> Tensor<1> {
    // Without gradient: a forward of parameters that require one records a graph that only
    // a backward frees, and none runs through the task models here.
    let t1 = nets.t1.clone().no_grad();
    let t2 = nets.t2.clone().expect("gct has T2").no_grad();
    let (n_l, split) = (batch.n_labeled, hp.split_batchnorm);
    let p1 = task.activate(task_forward(&t1, batch.input.clone(), n_l, split)).detach();
    let p2 = task.activate(task_forward(&t2, batch.input.clone(), n_l, split)).detach();
    let inputs = FlawInputs::new(batch, task, &hp.flaw, p1, p2);
    gct_flaw_step(nets, opts, batch, hp, &inputs)
}

/// A whole GCT iteration: task step, then F step.
pub fn gct_step(nets: &mut Nets, opts: &mut Optimisers, batch: &DeviceBatch, task: &Task, hp: &StepParams) -> StepLosses {
    gct_step_timed(nets, opts, batch, task, hp, &mut ())
}

/// [`gct_step`] with its phases marked. F takes `hp.fd_steps` updates; the reported F loss
/// is the first's, comparable with one update per iteration.
pub fn gct_step_timed(nets: &mut Nets, opts: &mut Optimisers, batch: &DeviceBatch, task: &Task, hp: &StepParams, ph: &mut impl Phases) -> StepLosses {
    let (mut losses, inputs) = gct_task_step_timed(nets, opts, batch, task, hp, ph);
    for _ in 0..hp.fd_steps.max(1) {
        let fd = gct_flaw_step_timed(nets, opts, batch, hp, &inputs, ph);
        losses.fd.get_or_insert(fd);
    }
    losses
}

/// The "dual without F" ablation: each model learns from the other's prediction on every pixel.
pub fn dual_step(nets: &mut Nets, opts: &mut Optimisers, batch: &DeviceBatch, task: &Task, hp: &StepParams) -> StepLosses {
    let x = batch.input.clone();
    let t2 = nets.t2.as_ref().expect("dual has T2");
    let (out1, out2) = (nets.t1.forward(x.clone()), t2.forward(x));
    let (p1, p2) = (task.activate(out1.clone()), task.activate(out2.clone()));
    let n_l = batch.n_labeled;
    let sup1 = task.supervised_loss(out1.narrow(0, 0, n_l), &batch.labels);
    let sup2 = task.supervised_loss(out2.narrow(0, 0, n_l), &batch.labels);
    let dc1 = dc_loss(p1.clone(), p2.clone().detach(), hp.dc_weight);
    let dc2 = dc_loss(p2, p1.detach(), hp.dc_weight);
    let total = sup1.clone() + dc1.clone() + sup2.clone() + dc2.clone();
    let mut grads = total.backward();
    let t1 = nets.t1.clone();
    nets.t1 = step_task_net(t1, &mut opts.t1, hp.lr, hp.head_lr_mult, &mut grads);
    let t2 = nets.t2.take().expect("dual has T2");
    nets.t2 = Some(step_task_net(t2, opts.t2.as_mut().expect("T2 optimiser"), hp.lr, hp.head_lr_mult, &mut grads));
    let z = zero(&sup1);
    StepLosses { terms: vec![sup1.detach(), dc1.detach(), z.clone(), sup2.detach(), dc2.detach(), z], fd: None, shares: None, dc_effect: None }
}

/// SupOnly: T1 alone with L_sup on an all-labelled batch.
pub fn suponly_step(nets: &mut Nets, opts: &mut Optimisers, batch: &DeviceBatch, task: &Task, hp: &StepParams) -> StepLosses {
    suponly_step_timed(nets, opts, batch, task, hp, &mut ())
}

/// [`suponly_step`] with its phases marked.
pub fn suponly_step_timed(nets: &mut Nets, opts: &mut Optimisers, batch: &DeviceBatch, task: &Task, hp: &StepParams, ph: &mut impl Phases) -> StepLosses {
    let out = nets.t1.forward(batch.input.clone());
    ph.mark("task forward: T1");
    let sup = task.supervised_loss(out.narrow(0, 0, batch.n_labeled), &batch.labels);
    ph.mark("task losses: sup");
    let mut grads = sup.backward();
    ph.mark("task backward");
    let t1 = nets.t1.clone();
    nets.t1 = step_task_net(t1, &mut opts.t1, hp.lr, hp.head_lr_mult, &mut grads);
    ph.mark("task optimiser steps");
    let z = zero(&sup);
    StepLosses { terms: vec![sup.detach(), z.clone(), z], fd: None, shares: None, dc_effect: None }
}
