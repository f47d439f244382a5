//! Upper bounds on a run config, and the memory a training step needs.
//!
//! A config that passes validation must not be able to take the server down: every count has
//! a ceiling, and the sizes that multiply into memory (crop, batch, widths, depths, F's width)
//! are checked together through [`estimate_train_bytes`] against [`memory_budget`], so one
//! POST cannot allocate until the process aborts (an abort is not a panic: `catch_unwind`
//! would not save the other runs).

use super::{Arch, DataSource, NetConfig, RunConfig};

/// Longest run, in iterations (an epoch-based length is checked once the data is loaded).
pub const MAX_ITERATIONS: usize = 1_000_000;
pub const MAX_EPOCHS: usize = 100_000;
/// Probe images per kind (labelled / unlabelled) in each snapshot.
pub const MAX_PROBES: usize = 32;
/// Short side an image is rescaled to, before the scale factor.
pub const MAX_BASE_SIZE: usize = 2048;
/// `base_size x scale_max`: the largest short side an augmented image can reach.
pub const MAX_RESCALED_SIDE: f64 = 4096.0;
/// Built-in set: images generated into memory.
pub const MAX_SHAPES_TRAIN: usize = 100_000;
pub const MAX_SHAPES_VAL: usize = 10_000;
/// Bytes the built-in set may take in memory (RGB + mask per pixel).
pub const MAX_SHAPES_BYTES: u64 = 2 << 30;
pub const MAX_HEAD_LR_MULT: f64 = 1000.0;
/// L2 weight decay above this shrinks every weight to zero within a few steps.
pub const MAX_WEIGHT_DECAY: f64 = 1.0;

/// Bytes a run may need for one training step: 75 % of this machine's memory (8 GiB where
/// it cannot be read). A GPU run keeps its tensors in GPU memory, but the same ceiling
/// keeps a config from asking for more than a single accelerator usually holds either.
pub fn memory_budget() -> u64 {
    static BUDGET: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        let total_kib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|m| m.lines().find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok()));
        total_kib.map_or(8 << 30, |k| k * 1024 / 4 * 3)
    })
}

/// Floats kept per input pixel by one forward pass (activations autodiff holds for the
/// backward pass), and the parameter count, of a task model. Counts three tensors per
/// conv + BN + ReLU block (conv output, normalised, activated) at the block's resolution.
fn task_net_cost(net: &NetConfig, in_ch: usize, out_ch: usize) -> (f64, f64) {
    let w = net.width as f64;
    let (cin, k) = (in_ch as f64, out_ch as f64);
    let mut acts = 0.0;
    let mut params = 0.0;
    match net.arch {
        Arch::Unet => {
            for l in 0..net.depth {
                let c = w * (1u64 << l) as f64;
                let area = 0.25f64.powi(l as i32);
                let prev = if l == 0 { cin } else { c / 2.0 };
                // encoder: two blocks; decoder (all but the deepest): upsampled + concat + two blocks
                acts += area * 6.0 * c;
                params += 9.0 * (prev * c + c * c);
                if l + 1 < net.depth {
                    acts += area * (c + 2.0 * c + 6.0 * c);
                    params += 4.0 * 2.0 * c * c + 9.0 * (2.0 * c * c + c * c);
                }
            }
            acts += 2.0 * k;
            params += w * k;
        }
        Arch::Deeplab => {
            let ch = |i: usize| w * (1u64 << i.min(3)) as f64;
            for i in 0..net.depth {
                let area = 0.25f64.powi(i as i32 + 1);
                let prev = if i == 0 { cin } else { ch(i - 1) };
                acts += area * 6.0 * ch(i);
                params += 9.0 * (prev * ch(i) + ch(i) * ch(i));
            }
            let top = ch(net.depth - 1);
            let area = 0.25f64.powi(net.depth as i32);
            acts += area * (6.0 * top + 4.0 * k);
            params += 2.0 * 9.0 * top * top + 4.0 * 9.0 * top * k;
            acts += 2.0 * k;
        }
    }
    (acts, params)
}

/// The same for the flaw detector: eight 4x4 convolutions, IBNorm and LeakyReLU (about five
/// tensors per layer: conv, the two halves, their concatenation, the activation).
fn flaw_detector_cost(ndf: usize, stages: usize, in_ch: usize) -> (f64, f64) {
    let n = ndf as f64;
    let widths = [n, 2.0 * n, 2.0 * n, 4.0 * n, 4.0 * n, 8.0 * n, 8.0 * n, 1.0];
    let stride2 = [0usize, 1, 3, 5, 7];
    let (mut acts, mut params, mut area, mut cin) = (in_ch as f64, 0.0, 1.0, in_ch as f64);
    for (i, &c) in widths.iter().enumerate() {
        if stride2.iter().take(stages).any(|&s| s == i) {
            area *= 0.25;
        }
        acts += area * 5.0 * c;
        params += 16.0 * cin * c;
        cin = c;
    }
    (acts + 1.0, params)
}

/// Bytes one GCT / SupOnly / dual training step needs at this config, roughly: activations
/// of every forward pass that gradients flow through (kept for the backward pass, whose
/// gradients take about as much again), plus weights, gradients and two optimiser moments.
/// An estimate for refusing configs that cannot fit, not a prediction of peak memory.
pub fn estimate_train_bytes(c: &RunConfig) -> f64 {
    let pixels = (c.data.crop_size * c.data.crop_size) as f64;
    let (bl, bu) = (c.labeled_per_batch() as f64, c.unlabeled_per_batch() as f64);
    let out = c.out_channels();
    let (a1, p1) = task_net_cost(&c.t1, 3, out);
    let (a2, p2) = task_net_cost(&c.t2, 3, out);
    let f_inputs = 3 + out + usize::from(c.flaw_detector.confidence_input);
    let (af, pf) = flaw_detector_cost(c.flaw_detector.ndf, c.fd_stages().clamp(1, 5), f_inputs);
    let (acts, params) = match c.algorithm {
        super::Algorithm::Suponly => ((bl + bu) * a1, p1),
        super::Algorithm::Dual => ((bl + bu) * (a1 + a2), p1 + p2),
        // F runs on both models' predictions of the whole batch in the task step, and on
        // the labelled ones again in its own step.
        super::Algorithm::Gct => ((bl + bu) * (a1 + a2 + 2.0 * af) + 2.0 * bl * af, p1 + p2 + pf),
    };
    4.0 * (2.0 * acts * pixels + 4.0 * params)
}

/// Bytes the built-in set takes in memory (0 for datasets on disk).
pub fn dataset_bytes(source: &DataSource) -> u64 {
    match source {
        DataSource::Shapes { train_images, val_images, image_size } => {
            let per_image = (*image_size as u64).saturating_pow(2).saturating_mul(4);
            (*train_images as u64).saturating_add(*val_images as u64).saturating_mul(per_image)
        }
        _ => 0,
    }
}

/// "1.5 GiB" for messages.
pub fn human_bytes(b: f64) -> String {
    if b >= (1u64 << 30) as f64 { format!("{:.1} GiB", b / (1u64 << 30) as f64) } else { format!("{:.0} MiB", b / (1u64 << 20) as f64) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Algorithm;

    #[test]
    fn the_estimate_grows_with_every_size_that_multiplies_into_memory() {
        let base = RunConfig::shapes_demo(Algorithm::Gct);
        let e0 = estimate_train_bytes(&base);
        let bigger: [fn(&mut RunConfig); 5] =
            [|c| c.data.crop_size *= 2, |c| c.train.batch_unlabeled *= 2, |c| c.t1.width *= 2, |c| c.t2.depth += 1, |c| c.flaw_detector.ndf *= 2];
        for (i, grow) in bigger.iter().enumerate() {
            let mut c = base.clone();
            grow(&mut c);
            assert!(estimate_train_bytes(&c) > e0, "change {i} did not raise the estimate");
        }
        // Twice the crop side is four times the pixels: activations dominate at this size
        // (a little less than 4: F gains a stride-2 stage at the larger crop).
        let mut c = base.clone();
        c.data.crop_size *= 2;
        let ratio = estimate_train_bytes(&c) / e0;
        assert!((2.5..4.01).contains(&ratio), "{ratio}");
        // SupOnly holds one model, GCT two and the flaw detector's passes.
        let sup = RunConfig::shapes_demo(Algorithm::Suponly);
        assert!(estimate_train_bytes(&sup) < e0 / 2.0);
    }

    #[test]
    fn usual_configs_fit_and_absurd_ones_do_not() {
        // The demo is tens of MiB; the paper's crop (321) with batch 8 + 8, UNet width 32 and
        // F's ndf 64 is tens of GiB, an accelerator's size (accepted where 75 % of the memory
        // holds it).
        let demo = RunConfig::shapes_demo(Algorithm::Gct);
        assert!(estimate_train_bytes(&demo) < 200.0 * (1u64 << 20) as f64, "{}", human_bytes(estimate_train_bytes(&demo)));
        let mut paper = demo.clone();
        paper.data.crop_size = 320;
        paper.data.base_size = 320;
        paper.train.batch_labeled = 8;
        paper.train.batch_unlabeled = 8;
        paper.t1.width = 32;
        paper.t2.width = 32;
        paper.flaw_detector.ndf = 64;
        let need = estimate_train_bytes(&paper);
        assert!((4.0 * (1u64 << 30) as f64..64.0 * (1u64 << 30) as f64).contains(&need), "{}", human_bytes(need));
        let mut absurd = paper.clone();
        absurd.data.crop_size = 1024;
        absurd.train.batch_labeled = 128;
        absurd.train.batch_unlabeled = 128;
        absurd.t1.width = 256;
        assert!(estimate_train_bytes(&absurd) > 1e12);
        assert!(human_bytes(3.0 * (1u64 << 30) as f64) == "3.0 GiB" && human_bytes(5.0 * (1u64 << 20) as f64) == "5 MiB");
        assert!(memory_budget() >= 1 << 30);
    }

    #[test]
    fn the_built_in_set_is_counted_in_bytes() {
        let s = DataSource::Shapes { train_images: 100, val_images: 10, image_size: 64 };
        assert_eq!(dataset_bytes(&s), 110 * 64 * 64 * 4);
        let huge = DataSource::Shapes { train_images: usize::MAX, val_images: usize::MAX, image_size: 512 };
        assert_eq!(dataset_bytes(&huge), u64::MAX, "saturates instead of overflowing");
    }
}
