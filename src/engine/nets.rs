//! The three networks of a run and their optimisers.

use crate::config::{Algorithm, RunConfig, TaskOptimizer};
use crate::models::flaw_detector::{FlawDetector, FlawExtras};
use crate::models::{TaskNet, TaskNetSpec, init};
use burn::module::Module;
use burn::optim::decay::WeightDecayConfig;
use burn::optim::momentum::MomentumConfig;
use burn::optim::{AdamConfig, GradientsParams, ModuleOptimizer, SgdConfig};
use burn::tensor::{Device, Gradients};

/// T1, T2 (gct, dual) and F (gct). Saved as one module: parameter paths start with
/// `t1.`, `t2.` and `f.`.
/// Path of F's full-resolution branch's last convolution (see [`Nets::new`]).
pub const FINE_BRANCH_OUTPUT: &str = "fine.conv2";
/// Path of F's last convolution, the classifier of its strided stack.
pub const FLAW_CLASSIFIER: &str = "convs.7";

#[derive(Module, Debug)]
pub struct Nets {
    pub t1: TaskNet,
    pub t2: Option<TaskNet>,
    pub f: Option<FlawDetector>,
}

impl Nets {
    /// Build and initialise; T1 and T2 always get different initialisation streams.
    pub fn new(config: &RunConfig, device: &Device) -> Self {
        let spec =
            TaskNetSpec { in_channels: 3, out_channels: config.out_channels(), residual: config.task.is_restoration(), crop_size: config.data.crop_size };
        let two = config.algorithm != Algorithm::Suponly;
        let f = (config.algorithm == Algorithm::Gct).then(|| {
            let fc = &config.flaw_detector;
            let extras = FlawExtras { fine_branch: fc.fine_branch, confidence_input: fc.confidence_input, confidence_residual: fc.confidence_residual };
            let fd = FlawDetector::new(3 + config.out_channels(), fc.ndf, config.fd_stages(), extras, device);
            // The full-resolution branch starts at zero, so F starts as the reference F and
            // the branch grows from there (drawn at full He scale it added noise F could not
            // undo within a demo run: AUROC 0.57 against 0.68). With the confidence as a
            // residual, F's own map starts at zero too: F starts as the baseline exactly.
            let mut zero = vec![(FINE_BRANCH_OUTPUT, 0.0)];
            if fc.confidence_residual {
                zero.push((FLAW_CLASSIFIER, 0.0));
            }
            init::initialise_scaled(fd, "f", config.seed, &zero)
        });
        Self { t1: TaskNet::new(&config.t1, spec, "t1", config.seed, device), t2: two.then(|| TaskNet::new(&config.t2, spec, "t2", config.seed, device)), f }
    }
}

pub struct Optimisers {
    pub t1: ModuleOptimizer,
    pub t2: Option<ModuleOptimizer>,
    pub f: Option<ModuleOptimizer>,
}

/// SGD as PyTorch's: dampening 0 (burn's default is 0.1), no Nesterov, L2 weight decay.
/// Or Adam as PyTorch's defaults (0.9, 0.999, eps 1e-8; burn's eps is 1e-5), L2 weight decay.
pub fn task_optimiser(config: &RunConfig) -> ModuleOptimizer {
    let t = &config.train;
    let decay = (t.weight_decay > 0.0).then(|| WeightDecayConfig::new(t.weight_decay as f32));
    match config.task_optimizer() {
        // `Auto` is resolved by `task_optimizer`; it never reaches here as itself.
        TaskOptimizer::Sgd | TaskOptimizer::Auto => SgdConfig::new()
            .with_momentum(Some(MomentumConfig::new().with_momentum(t.momentum).with_dampening(0.0).with_nesterov(false)))
            .with_weight_decay(decay)
            .init(),
        TaskOptimizer::Adam => AdamConfig::new().with_beta_1(0.9).with_beta_2(0.999).with_epsilon(1e-8).with_weight_decay(decay).init(),
    }
}

/// Adam(0.9, 0.99), eps 1e-8 (burn's default is 1e-5), no weight decay unless
/// `train.fd_weight_decay` asks for it (the spec has none).
pub fn flaw_optimiser(config: &RunConfig) -> ModuleOptimizer {
    let t = &config.train;
    let decay = (t.fd_weight_decay > 0.0).then(|| WeightDecayConfig::new(t.fd_weight_decay as f32));
    AdamConfig::new().with_beta_1(t.fd_beta1 as f32).with_beta_2(t.fd_beta2 as f32).with_epsilon(t.fd_eps as f32).with_weight_decay(decay).init()
}

impl Optimisers {
    pub fn new(config: &RunConfig, nets: &Nets) -> Self {
        Self { t1: task_optimiser(config), t2: nets.t2.as_ref().map(|_| task_optimiser(config)), f: nets.f.as_ref().map(|_| flaw_optimiser(config)) }
    }
}

/// One optimiser step of a task model: the head at `lr * head_mult` (spec: x10), the rest at `lr`.
/// Takes this model's gradients out of `grads`, leaving the other model's in place.
pub fn step_task_net(net: TaskNet, opt: &mut ModuleOptimizer, lr: f64, head_mult: f64, grads: &mut Gradients) -> TaskNet {
    match net {
        TaskNet::Unet(mut m) => {
            let head = GradientsParams::from_module(grads, &m.head);
            m.head = opt.step(lr * head_mult, m.head, head);
            let body = GradientsParams::from_module(grads, &m);
            TaskNet::Unet(opt.step(lr, m, body))
        }
        TaskNet::Deeplab(mut m) => {
            let head = GradientsParams::from_module(grads, &m.aspp);
            m.aspp = opt.step(lr * head_mult, m.aspp, head);
            let body = GradientsParams::from_module(grads, &m);
            TaskNet::Deeplab(opt.step(lr, m, body))
        }
    }
}
