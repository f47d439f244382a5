//! The labelled/unlabelled split and the two-stream batches of spec section 6.
//!
//! Batch contents are a pure function of (seed, iteration): stream positions map to
//! reshuffled passes over each stream, and augmentation and noise draw from streams named
//! by the iteration. A resumed run therefore sees exactly the batches an uninterrupted run
//! would have seen, without any generator state in the checkpoint.

use super::augment::{View, random_view};
use super::degrade;
use super::{Dataset, Item};
use crate::config::{Algorithm, RunConfig, TaskKind};
use crate::gct::class_swaps::HostSwaps;
use crate::rng::{permutation, stream};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// ImageNet statistics: segmentation inputs are normalised with them.
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Which training images keep their labels. Recorded with the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub labeled: Vec<usize>,
    pub unlabeled: Vec<usize>,
}

impl Split {
    /// round(n * ratio) labelled images (at least 1), chosen by `split_seed`.
    pub fn new(n: usize, ratio: f64, split_seed: u64) -> Self {
        let n_l = ((n as f64 * ratio).round() as usize).clamp(1, n);
        let perm = permutation(n, &mut stream(split_seed, &[b"split"]));
        let mut labeled = perm[..n_l].to_vec();
        let mut unlabeled = perm[n_l..].to_vec();
        labeled.sort_unstable();
        unlabeled.sort_unstable();
        Self { labeled, unlabeled }
    }

    /// The labelled images themselves, in index order (`flawmap eval --split labeled`,
    /// `flawmap refit-flaw`).
    pub fn labeled_items(&self, train: &[Item]) -> Vec<Item> {
        self.labeled.iter().map(|&i| train[i].clone()).collect()
    }

    /// The labelled images whose labels only F learns from (`gct.fd_holdout`): round(share *
    /// labelled), drawn by `split_seed`, always leaving the task models at least one.
    pub fn fd_holdout(&self, share: f64, split_seed: u64) -> Vec<usize> {
        let n_l = self.labeled.len();
        let n = ((n_l as f64 * share).round() as usize).min(n_l.saturating_sub(1));
        let perm = permutation(n_l, &mut stream(split_seed, &[b"fd-holdout"]));
        let mut held: Vec<usize> = perm[..n].iter().map(|&i| self.labeled[i]).collect();
        held.sort_unstable();
        held
    }
}

/// One stream of item indices, reshuffled on every pass.
struct Stream {
    name: &'static str,
    items: Vec<usize>,
    passes: HashMap<usize, Vec<usize>>,
}

impl Stream {
    fn at(&mut self, seed: u64, pos: usize) -> usize {
        let n = self.items.len();
        let pass = pos / n;
        let name = self.name;
        let perm = self.passes.entry(pass).or_insert_with(|| permutation(n, &mut stream(seed, &[b"order", name.as_bytes(), &(pass as u64).to_le_bytes()])));
        self.items[perm[pos % n]]
    }
}

/// A batch on the host, NCHW, labelled samples first.
#[derive(Debug, Clone)]
pub struct HostBatch {
    pub n: usize,
    pub n_labeled: usize,
    pub width: usize,
    pub height: usize,
    /// Network input [n, 3, H, W]: normalised (segmentation) or degraded in [0, 1] (restoration).
    pub input: Vec<f32>,
    /// Segmentation labels of the labelled slice, [n_labeled, S, S], 255 = ignore.
    pub labels: Option<Vec<i32>>,
    /// Restoration targets of the labelled slice, [n_labeled, 3, S, S].
    pub clean: Option<Vec<f32>>,
    /// Item indices of the samples (train split).
    pub items: Vec<usize>,
    /// `gct.fd_class_swaps`: the swaps F sees in T1's and T2's predictions of the labelled slice.
    pub class_swaps: Option<[HostSwaps; 2]>,
}

pub struct Batcher {
    seed: u64,
    labeled: Stream,
    unlabeled: Stream,
    /// The labelled and unlabelled images again, in orders of their own: F's extra batches.
    flaw_only: Stream,
    flaw_only_unlabeled: Stream,
    n_l: usize,
    n_u: usize,
    /// F's extra batches per iteration (`train.fd_fresh_steps`).
    flaw_only_per_iteration: usize,
}

impl Batcher {
    pub fn new(config: &RunConfig, split: &Split) -> Self {
        Self {
            seed: config.seed,
            labeled: Stream { name: "labeled", items: split.labeled.clone(), passes: HashMap::new() },
            unlabeled: Stream { name: "unlabeled", items: split.unlabeled.clone(), passes: HashMap::new() },
            flaw_only: Stream { name: "flaw-only", items: split.labeled.clone(), passes: HashMap::new() },
            flaw_only_unlabeled: Stream { name: "flaw-only-unlabeled", items: split.unlabeled.clone(), passes: HashMap::new() },
            n_l: config.labeled_per_batch(),
            n_u: config.unlabeled_per_batch(),
            flaw_only_per_iteration: config.train.fd_fresh_steps,
        }
    }

    /// The batch of iteration `it`.
    pub fn batch(&mut self, it: usize, data: &Dataset, config: &RunConfig) -> HostBatch {
        let mut items = Vec::with_capacity(self.n_l + self.n_u);
        for j in 0..self.n_l {
            items.push(self.labeled.at(self.seed, it * self.n_l + j));
        }
        for j in 0..self.n_u {
            items.push(self.unlabeled.at(self.seed, it * self.n_u + j));
        }
        self.draw(items, b"", it, data, config)
    }

    /// The `k`-th of the `train.fd_fresh_steps` extra batches of iteration `it` that only F
    /// learns from: a whole batch (labelled slice first) of new crops, from streams and
    /// augmentation draws of their own, so the main batches (and a resumed run's) are the
    /// same whatever the setting. Whole, not the labelled slice alone: F learns on the
    /// labelled slice only, but its BatchNorm and the task models' see the same mix of
    /// images as in the main step (labelled-only extra batches, measured over 3 seeds,
    /// helped F less: docs/measurements.md).
    pub fn flaw_only_batch(&mut self, it: usize, k: usize, data: &Dataset, config: &RunConfig) -> HostBatch {
        debug_assert!(k < self.flaw_only_per_iteration, "extra batch {k} of {}", self.flaw_only_per_iteration);
        let key = it * self.flaw_only_per_iteration + k;
        let mut items: Vec<usize> = (0..self.n_l).map(|j| self.flaw_only.at(self.seed, key * self.n_l + j)).collect();
        items.extend((0..self.n_u).map(|j| self.flaw_only_unlabeled.at(self.seed, key * self.n_u + j)));
        self.draw(items, b"flaw-only", key, data, config)
    }

    /// Random views of `items` (labelled first), drawn from streams named by `tag` and `key`.
    /// The main batches have no tag, and their streams' names are those of earlier versions.
    fn draw(&self, items: Vec<usize>, tag: &[u8], key: usize, data: &Dataset, config: &RunConfig) -> HostBatch {
        let d = &config.data;
        let key = (key as u64).to_le_bytes();
        let named = |what: &'static [u8], rest: &[&[u8]]| {
            let mut parts: Vec<&[u8]> = vec![what];
            if !tag.is_empty() {
                parts.push(tag);
            }
            parts.extend_from_slice(rest);
            stream(self.seed, &parts)
        };
        let views: Vec<View> = items
            .iter()
            .enumerate()
            .map(|(j, &idx)| {
                let mut rng = named(b"augment", &[&key, &(j as u64).to_le_bytes()]);
                random_view(&data.train[idx], d.base_size, (d.scale_min, d.scale_max), d.crop_size, d.flip, &mut rng)
            })
            .collect();
        let noise_seed = named(b"noise", &[&key]);
        let mut batch = assemble(&views, self.n_l, config, noise_seed, items);
        let share = config.gct.fd_class_swaps;
        if let (Some(labels), true) = (&batch.labels, share > 0.0 && config.algorithm == Algorithm::Gct) {
            let mut rng = named(b"class-swaps", &[&key]);
            let (n, h, w, k) = (batch.n_labeled, batch.height, batch.width, config.data.num_classes);
            let mut draw = || HostSwaps::draw(labels, n, h, w, k, share, &mut rng);
            batch.class_swaps = Some([draw(), draw()]);
        }
        batch
    }
}

/// Turn views into a host batch. `degrade` draws the synthetic degradation of restoration
/// inputs (noise for denoising, darkening for low-light) where a view has no paired input.
pub fn assemble(views: &[View], n_labeled: usize, config: &RunConfig, mut degrade: rand_chacha::ChaCha8Rng, items: Vec<usize>) -> HostBatch {
    let (width, height) = views.first().map(|v| (v.width, v.height)).unwrap_or((0, 0));
    assert!(views.iter().all(|v| (v.width, v.height) == (width, height)), "a batch needs views of one size");
    let hw = width * height;
    let n = views.len();
    let mut input = vec![0f32; n * 3 * hw];
    let restoration = config.task.is_restoration();
    let mut clean = restoration.then(|| vec![0f32; n_labeled * 3 * hw]);
    let mut labels = (!restoration).then(|| vec![0i32; n_labeled * hw]);
    for (b, v) in views.iter().enumerate() {
        let dst = &mut input[b * 3 * hw..(b + 1) * 3 * hw];
        if restoration {
            let target = planar(&v.rgb, hw);
            let degraded = match (&v.input, config.task) {
                (Some(paired), _) => planar(paired, hw),
                (None, TaskKind::Lowlight) => degrade::darken(&target, &config.data.darken, &mut degrade),
                (None, _) => degrade::gaussian_noise(&target, (config.data.noise_sigma / 255.0) as f32, &mut degrade),
            };
            dst.copy_from_slice(&degraded);
            if let Some(cl) = clean.as_mut().filter(|_| b < n_labeled) {
                cl[b * 3 * hw..(b + 1) * 3 * hw].copy_from_slice(&target);
            }
        } else {
            for (c, plane) in dst.chunks_mut(hw).enumerate() {
                for (i, out) in plane.iter_mut().enumerate() {
                    *out = (v.rgb[i * 3 + c] as f32 / 255.0 - MEAN[c]) / STD[c];
                }
            }
        }
        if let (Some(l), Some(m)) = (labels.as_mut(), v.mask.as_ref())
            && b < n_labeled
        {
            for i in 0..hw {
                l[b * hw + i] = m[i] as i32;
            }
        }
    }
    HostBatch { n, n_labeled, width, height, input, labels, clean, items, class_swaps: None }
}

/// RGB interleaved u8 to planar [3, H, W] in [0, 1].
fn planar(rgb: &[u8], hw: usize) -> Vec<f32> {
    let mut out = vec![0f32; 3 * hw];
    for (c, plane) in out.chunks_mut(hw).enumerate() {
        for (i, v) in plane.iter_mut().enumerate() {
            *v = rgb[i * 3 + c] as f32 / 255.0;
        }
    }
    out
}

impl HostBatch {
    /// [n, 3, H, W] of the input.
    pub fn input_dims(&self) -> [usize; 4] {
        [self.n, 3, self.height, self.width]
    }
}

/// Undo the input normalisation for display: RGB u8 interleaved.
pub fn input_to_rgb(input: &[f32], size: usize, task: TaskKind) -> Vec<u8> {
    let hw = size * size;
    let mut out = vec![0u8; hw * 3];
    for c in 0..3 {
        for i in 0..hw {
            let v = input[c * hw + i];
            let v = if task.is_restoration() { v } else { v * STD[c] + MEAN[c] };
            out[i * 3 + c] = (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    out
}

/// Iterations per epoch: one pass over the longer stream (spec section 6). SupOnly uses
/// the GCT figure so that both follow the same schedule.
pub fn iterations_per_epoch(config: &RunConfig, split: &Split) -> usize {
    let b_l = config.train.batch_labeled.max(1);
    let b_u = config.train.batch_unlabeled.max(1);
    let l = split.labeled.len().div_ceil(b_l);
    let u = split.unlabeled.len().div_ceil(b_u);
    l.max(u).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_sizes_and_disjointness() {
        let s = Split::new(100, 0.125, 3);
        assert_eq!(s.labeled.len(), 13);
        assert_eq!(s.unlabeled.len(), 87);
        assert!(s.labeled.iter().all(|i| !s.unlabeled.contains(i)));
        assert_eq!(s, Split::new(100, 0.125, 3));
        assert_ne!(s, Split::new(100, 0.125, 4));
    }

    #[test]
    fn every_item_is_seen_once_per_pass() {
        let mut st = Stream { name: "labeled", items: vec![4, 8, 15, 16, 23], passes: HashMap::new() };
        let mut seen: Vec<usize> = (0..5).map(|p| st.at(7, p)).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![4, 8, 15, 16, 23]);
    }

    #[test]
    fn suponly_sees_the_total_or_the_labelled_batch_as_its_protocol_says() {
        use crate::config::{Algorithm, SuponlyBatch};
        let mut c = RunConfig::shapes_demo(Algorithm::Suponly);
        c.data.source = crate::config::DataSource::Shapes { train_images: 16, val_images: 2, image_size: 32 };
        c.data.crop_size = 32;
        c.data.base_size = 32;
        let data = crate::data::load(&c, std::path::Path::new(".")).unwrap();
        let split = Split::new(16, 0.5, 0);
        let labelled = |c: &RunConfig| {
            let b = Batcher::new(c, &split).batch(0, &data, c);
            assert!(b.items[..b.n_labeled].iter().all(|i| split.labeled.contains(i)));
            (b.n, b.n_labeled)
        };
        assert_eq!(labelled(&c), (8, 8), "total: 4 + 4, all labelled");
        c.train.suponly_batch = SuponlyBatch::Labeled;
        assert_eq!(labelled(&c), (4, 4), "labeled: GCT's 4 labelled crops");
        c.algorithm = Algorithm::Gct;
        assert_eq!(labelled(&c), (8, 4), "GCT: 4 labelled + 4 unlabelled, whatever SupOnly's protocol");
    }
}
