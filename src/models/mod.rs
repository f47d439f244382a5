//! The networks: two task-model architectures (UNet, DeepLab-style) and the flaw detector.

pub mod blocks;
pub mod conv;
pub mod cpu_conv;
pub mod deeplab;
pub mod flaw_detector;
pub mod init;
pub mod matmul_conv;
pub mod unet;

use crate::config::{Arch, NetConfig};
use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// A task model T1 or T2: either architecture behind one type, so the trainer needs
/// no generics and T1 and T2 may differ.
#[derive(Module, Debug)]
#[allow(clippy::large_enum_variant)] // two per run, never moved in a hot loop
pub enum TaskNet {
    Unet(unet::Unet),
    Deeplab(deeplab::DeepLab),
}

/// What a task model must know to be built.
#[derive(Debug, Clone, Copy)]
pub struct TaskNetSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    /// Add the input to the output (restoration: the net predicts the residual).
    pub residual: bool,
    /// Training crop size: the DeepLab head scales its atrous rates to it.
    pub crop_size: usize,
}

/// He std multiplier of a residual model's head (see [`TaskNet::new`]).
pub const RESIDUAL_HEAD_SCALE: f64 = 0.01;

impl TaskNet {
    /// Build and initialise deterministically from `seed`; parameter ids derive from
    /// `role` and the parameter path, so optimiser state reloads onto a fresh build.
    pub fn new(net: &NetConfig, spec: TaskNetSpec, role: &str, seed: u64, device: &Device) -> Self {
        let model = match net.arch {
            Arch::Unet => Self::Unet(unet::Unet::new(net.width, net.depth, spec, device)),
            Arch::Deeplab => Self::Deeplab(deeplab::DeepLab::new(net.width, net.depth, spec, device)),
        };
        // A residual (restoration) model starts near the identity: its head is drawn at 1 %
        // of the He std. With the full He std the untrained model adds unit-variance noise to
        // its input (MSE ~1.2 against sigma-25 noise's 0.01) and its first steps go to undoing
        // that; from near the identity it starts at the noisy input's PSNR and learns from
        // there (with Adam, `RunConfig::task_optimizer`). Small, not zero: T1 and T2 differ
        // from step 0.
        let scaled = spec.residual.then(|| (model.head_prefix(), RESIDUAL_HEAD_SCALE));
        init::initialise_scaled(model, role, seed, scaled.as_slice())
    }

    /// Logits (segmentation) or the restored image (restoration), at input resolution.
    pub fn forward(&self, x: Tensor<4>) -> Tensor<4> {
        match self {
            Self::Unet(m) => m.forward(x),
            Self::Deeplab(m) => m.forward(x),
        }
    }

    /// Module path of the head (the layer whose output is the prediction: the UNet's 1x1
    /// conv, all of DeepLab's summed ASPP branches); a residual model draws it small.
    pub fn head_prefix(&self) -> &'static str {
        match self {
            Self::Unet(_) => "Unet.head",
            Self::Deeplab(_) => "Deeplab.aspp",
        }
    }
}
