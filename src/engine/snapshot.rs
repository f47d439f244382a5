//! Visual snapshots of the probe images: everything the inspector shows, as plain arrays.
//! Probes are fixed once per run (some labelled, some unlabelled), taken as centred S x S
//! views, and run through the networks in eval mode so snapshots do not disturb training.

use super::events::{Layer, LayerData, ProbeInfo, ProbeSnapshot, Snapshot};
use super::nets::Nets;
use crate::config::{RunConfig, TaskKind};
use crate::data::Dataset;
use crate::data::augment::centre_view;
use crate::data::batches::{HostBatch, Split, assemble, input_to_rgb};
use crate::gct::targets::{FlawParams, dc_targets_for, error_map, flaw_target, handle_flaw};
use crate::host::{f32_tensor, i32_tensor, to_f32};
use crate::metrics::mistakes::{argmax_classes, disagreement, scored_pixels, uncertainty, worst_quarter, wrong_classes};
use crate::metrics::ranking::auroc;
use crate::rng::{permutation, stream};
use crate::task::{Labels, Task};
use burn::module::Module;
use burn::tensor::{Device, Tensor};

pub struct Probes {
    pub info: Vec<ProbeInfo>,
    batch: HostBatch,
}

impl Probes {
    /// Choose `probe_labeled` labelled and `probe_unlabeled` unlabelled training images.
    pub fn choose(config: &RunConfig, data: &Dataset, split: &Split) -> Self {
        let mut rng = stream(config.seed, &[b"probes"]);
        let pick = |idx: &[usize], n: usize, rng: &mut rand_chacha::ChaCha8Rng| -> Vec<usize> {
            let perm = permutation(idx.len(), rng);
            perm.into_iter().take(n).map(|i| idx[i]).collect()
        };
        let labeled = pick(&split.labeled, config.train.probe_labeled, &mut rng);
        let unlabeled = pick(&split.unlabeled, config.train.probe_unlabeled, &mut rng);
        let n_labeled = labeled.len();
        let items: Vec<usize> = labeled.into_iter().chain(unlabeled).collect();
        let views: Vec<_> = items.iter().map(|&i| centre_view(&data.train[i], config.data.base_size, config.data.crop_size)).collect();
        let info = items.iter().enumerate().map(|(j, &i)| ProbeInfo { name: data.train[i].name.clone(), labeled: j < n_labeled }).collect();
        let mut batch = assemble(&views, n_labeled, config, stream(config.seed, &[b"probe-noise"]), items);
        // Ground truth of unlabelled probes is shown too (greyed in the UI); it never trains.
        if let Some(l) = batch.labels.as_mut() {
            for v in &views[n_labeled..] {
                l.extend(v.mask.as_ref().map(|m| m.iter().map(|&c| c as i32).collect::<Vec<_>>()).unwrap_or_default());
            }
        }
        Self { info, batch }
    }

    pub fn is_empty(&self) -> bool {
        self.info.is_empty()
    }
}

fn map(name: &str, values: Vec<f32>) -> Layer {
    Layer { name: name.into(), data: LayerData::Map { values }, auroc: None }
}

/// One probe's mistakes for one model: the scored pixels and which of them are wrong.
struct Mistakes {
    scored: Vec<usize>,
    wrong: Vec<bool>,
}

impl Mistakes {
    /// AUROC of a per-pixel score of this image as a ranking of the wrong pixels.
    fn auroc(&self, score: &[f32]) -> Option<f64> {
        let picked: Vec<f32> = self.scored.iter().map(|&i| score[i]).collect();
        auroc(&picked, &self.wrong)
    }
}

/// Split a [N, C, H, W] host buffer into per-sample chunks.
fn per_sample(v: Vec<f32>, n: usize) -> Vec<Vec<f32>> {
    let len = v.len() / n.max(1);
    v.chunks(len.max(1)).map(<[f32]>::to_vec).collect()
}

fn prediction_layer(task: &Task, name: &str, p: &[f32], hw: usize) -> Layer {
    match task.kind {
        TaskKind::Segmentation => {
            let k = task.out_channels;
            Layer { name: name.into(), data: LayerData::Classes { values: argmax_classes(p, k, hw) }, auroc: None }
        }
        TaskKind::Denoising | TaskKind::Lowlight => {
            Layer { name: name.into(), data: LayerData::Rgb { values: input_to_rgb(p, (hw as f64).sqrt() as usize, task.kind) }, auroc: None }
        }
    }
}

/// Probe `j`'s mistakes under prediction `p` (C x H x W), where it has ground truth.
fn probe_mistakes(task: &Task, b: &HostBatch, j: usize, p: &[f32], hw: usize) -> Option<Mistakes> {
    match task.kind {
        TaskKind::Segmentation => {
            let truth: Vec<u8> = b.labels.as_ref()?.get(j * hw..(j + 1) * hw)?.iter().map(|&c| c.clamp(0, 255) as u8).collect();
            let k = task.out_channels;
            let classes = argmax_classes(p, k, hw);
            let scored = scored_pixels(&truth, k);
            let wrong = wrong_classes(&classes, &truth, &scored);
            Some(Mistakes { scored, wrong })
        }
        TaskKind::Denoising | TaskKind::Lowlight => {
            let clean = b.clean.as_ref().filter(|_| j < b.n_labeled)?.get(j * 3 * hw..(j + 1) * 3 * hw)?;
            Some(Mistakes { scored: (0..hw).collect(), wrong: worst_quarter(p, clean, hw) })
        }
    }
}

pub fn take(probes: &Probes, nets: &Nets, task: &Task, fp: &FlawParams, config: &RunConfig, device: &Device, step: usize) -> Snapshot {
    let b = &probes.batch;
    let (n, s) = (b.n, b.width); // probes are square S x S views
    let hw = s * s;
    let x = f32_tensor(b.input.clone(), [n, 3, s, s], device);
    let full_labels = match (&b.labels, &b.clean) {
        (Some(l), _) if l.len() == n * hw => Some(Labels::Classes(i32_tensor(l.clone(), [n, s, s], device))),
        (_, Some(c)) if b.n_labeled > 0 => Some(Labels::Clean(f32_tensor(c.clone(), [b.n_labeled, 3, s, s], device))),
        _ => None,
    };
    let t1 = nets.t1.valid();
    let p1 = task.activate(t1.forward(x.clone()));
    let p2 = nets.t2.as_ref().map(|t| task.activate(t.valid().forward(x.clone())));

    let mut layers: Vec<Vec<Layer>> = (0..n).map(|_| Vec::new()).collect();
    let inputs = per_sample(b.input.clone(), n);
    for (j, l) in layers.iter_mut().enumerate() {
        let rgb = input_to_rgb(&inputs[j], s, config.task);
        l.push(Layer { name: "input".into(), data: LayerData::Rgb { values: rgb }, auroc: None });
        if let Some(lab) = &b.labels {
            if let Some(mask) = lab.get(j * hw..(j + 1) * hw) {
                let values = mask.iter().map(|&c| c as u8).collect();
                l.push(Layer { name: "ground_truth".into(), data: LayerData::Classes { values }, auroc: None });
            }
        } else if let Some(c) = b.clean.as_ref().filter(|_| j < b.n_labeled) {
            l.push(Layer {
                name: "ground_truth".into(),
                data: LayerData::Rgb { values: input_to_rgb(&c[j * 3 * hw..(j + 1) * 3 * hw], s, TaskKind::Denoising) },
                auroc: None,
            });
        }
    }
    let preds: Vec<(&str, Tensor<4>)> = std::iter::once(("t1", p1.clone())).chain(p2.clone().map(|p| ("t2", p))).collect();
    let pred_values: Vec<Vec<Vec<f32>>> = preds.iter().map(|(_, p)| per_sample(to_f32(p.clone()), n)).collect();
    // [model][probe]: the probe's mistakes, where it has ground truth (segmentation: every
    // probe, unlabelled ones included, as shown; restoration: labelled probes).
    let mistakes: Vec<Vec<Option<Mistakes>>> =
        pred_values.iter().map(|per_probe| per_probe.iter().enumerate().map(|(j, p)| probe_mistakes(task, b, j, p, hw)).collect()).collect();
    // Where each model is actually wrong, beside its flaw map: segmentation, the wrong
    // pixels (ignored ones 0); restoration, |T - y| averaged over the channels.
    for (m, name) in ["wrong_t1", "wrong_t2"].iter().enumerate().take(preds.len()) {
        for (j, chunk) in pred_values[m].iter().enumerate() {
            let values = match (task.kind, &mistakes[m][j]) {
                (TaskKind::Segmentation, Some(w)) => {
                    let mut v = vec![0.0f32; hw];
                    for (&i, &wrong) in w.scored.iter().zip(&w.wrong) {
                        v[i] = f32::from(u8::from(wrong));
                    }
                    Some(v)
                }
                (TaskKind::Denoising | TaskKind::Lowlight, Some(_)) => {
                    let clean = b.clean.as_ref().and_then(|c| c.get(j * 3 * hw..(j + 1) * 3 * hw));
                    clean.map(|c| (0..hw).map(|i| (0..3).map(|ch| (chunk[ch * hw + i] - c[ch * hw + i]).abs()).sum::<f32>() / 3.0).collect())
                }
                _ => None,
            };
            if let Some(values) = values {
                layers[j].push(map(name, values));
            }
        }
    }
    for (m, (name, _)) in preds.iter().enumerate() {
        for (j, chunk) in pred_values[m].iter().enumerate() {
            let mut layer = prediction_layer(task, name, chunk, hw);
            // The model's own confidence as a ranking of its mistakes (restoration: the
            // pair's disagreement), the baseline shown beside F's score.
            let baseline = match task.kind {
                TaskKind::Segmentation => Some(uncertainty(chunk, task.out_channels, hw)),
                TaskKind::Denoising | TaskKind::Lowlight => (pred_values.len() == 2).then(|| disagreement(&pred_values[0][j], &pred_values[1][j], hw)),
            };
            layer.auroc = mistakes[m][j].as_ref().zip(baseline).and_then(|(w, score)| w.auroc(&score));
            layers[j].push(layer);
        }
    }

    if let (Some(f), Some(p2)) = (nets.f.as_ref().map(|f| f.valid()), p2) {
        let (f1, f2) = (f.forward(x.clone(), p1.clone()), f.forward(x, p2.clone()));
        let (h1, h2) = (handle_flaw(f1.clone(), fp), handle_flaw(f2.clone(), fp));
        let dc = dc_targets_for(p1.clone(), p2.clone(), h1.clone(), h2.clone(), fp);
        let mut maps: Vec<(&str, Tensor<4>)> = vec![
            ("flaw_raw_t1", f1),
            ("flaw_raw_t2", f2),
            ("flaw_t1", h1),
            ("flaw_t2", h2),
            ("dc_mask_t1", dc.dc_mask1),
            ("dc_mask_t2", dc.dc_mask2),
            ("fc_mask", dc.fc_mask),
        ];
        if let Some(labels) = full_labels.as_ref().filter(|_| b.n_labeled > 0) {
            // Only labelled probes have C(.) targets and true errors (as in training).
            let nl = b.n_labeled;
            let y = task.label_as_pred(labels).narrow(0, 0, nl);
            // C(.) and the true error exist only where a label does: pad the rest with NaN.
            let pad = |t: Tensor<4>| {
                if nl == n { t } else { Tensor::cat(vec![t.clone(), Tensor::full([n - nl, 1, s, s], f32::NAN, device)], 0) }
            };
            for (name, p) in [("t1", p1.clone()), ("t2", p2.clone())] {
                let p = p.narrow(0, 0, nl);
                maps.push((if name == "t1" { "target_t1" } else { "target_t2" }, pad(flaw_target(p.clone(), y.clone(), fp))));
                maps.push((if name == "t1" { "error_t1" } else { "error_t2" }, pad(error_map(p, y.clone(), fp.mu).clamp(0.0, 1.0))));
            }
        }
        for (name, t) in maps {
            for (j, chunk) in per_sample(to_f32(t), n).into_iter().enumerate() {
                if chunk.iter().all(|v| v.is_nan()) {
                    continue;
                }
                let mut layer = map(name, chunk);
                // F's raw map scored on the mistakes of the model it judged.
                let model = match name {
                    "flaw_raw_t1" => Some(0),
                    "flaw_raw_t2" => Some(1),
                    _ => None,
                };
                if let (Some(m), LayerData::Map { values }) = (model, &layer.data) {
                    layer.auroc = mistakes[m][j].as_ref().and_then(|w| w.auroc(values));
                }
                layers[j].push(layer);
            }
        }
    }
    let probes_out = layers
        .into_iter()
        .enumerate()
        .map(|(j, layers)| ProbeSnapshot { index: j, name: probes.info[j].name.clone(), labeled: probes.info[j].labeled, layers })
        .collect();
    Snapshot { step, size: s, probes: probes_out }
}
