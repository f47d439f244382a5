//! Evaluation on the validation split (spec section 7): both task models separately,
//! plus the flaw detector's quality against C(.) and as a detector of wrong pixels.
//! Models run in eval mode (BatchNorm running statistics) on the plain device.

use super::events::{EvalReport, FlawEval, ModelEval};
use super::nets::Nets;
use crate::config::{RunConfig, TaskKind};
use crate::data::Item;
use crate::data::augment::{View, eval_view};
use crate::data::batches::assemble;
use crate::gct::targets::{FlawParams, flaw_target};
use crate::host::{f32_tensor, i32_tensor, to_f32};
use crate::metrics::auroc::auroc;
use crate::metrics::restoration::{psnr, ssim};
use crate::metrics::segmentation::Confusion;
use crate::models::TaskNet;
use crate::models::flaw_detector::FlawDetector;
use crate::rng::stream;
use crate::task::{Labels, Task};
use burn::module::Module;
use burn::tensor::{Device, Tensor};

/// The networks are padded to a multiple of this (the deepest nets downsample 32x).
const EVAL_MULTIPLE: usize = 32;

struct ModelAcc {
    confusion: Confusion,
    psnr_sum: f64,
    ssim_sum: f64,
    images: usize,
}

/// Predictions of one validation image, read back and cropped to its valid part.
struct ImagePred {
    /// Activated prediction, C x h x w.
    probs: Vec<f32>,
    classes: Vec<u8>,
}

/// Restoration has no wrong pixels as such: F is scored as a detector of each image's
/// worst quarter of pixels by absolute error summed over the channels (ties at the cut count
/// as not worst), so its AUROC reads like segmentation's: 0.5 is chance, 1 a perfect ranking.
fn worst_quarter(pred: &[f32], clean: &[f32], hw: usize) -> Vec<bool> {
    let channels = pred.len() / hw.max(1);
    let err: Vec<f32> = (0..hw).map(|i| (0..channels).map(|c| (pred[c * hw + i] - clean[c * hw + i]).abs()).sum::<f32>()).collect();
    let mut sorted = err.clone();
    sorted.sort_by(f32::total_cmp);
    // The hw/4 largest lie above the value just below them.
    let cut = sorted.get((hw - hw / 4).saturating_sub(1)).copied().unwrap_or(f32::INFINITY);
    err.iter().map(|&e| e > cut).collect()
}

fn crop_chw(data: &[f32], c: usize, full: (usize, usize), valid: (usize, usize)) -> Vec<f32> {
    let (fw, fh) = full;
    let (vw, vh) = valid;
    let mut out = Vec::with_capacity(c * vw * vh);
    for ch in 0..c {
        for y in 0..vh {
            let start = ch * fw * fh + y * fw;
            out.extend_from_slice(&data[start..start + vw]);
        }
    }
    out
}

fn argmax_classes(probs: &[f32], k: usize, hw: usize) -> Vec<u8> {
    (0..hw)
        .map(|i| {
            let mut best = 0;
            for c in 1..k {
                if probs[c * hw + i] > probs[best * hw + i] {
                    best = c;
                }
            }
            best as u8
        })
        .collect()
}

pub struct Evaluator<'a> {
    pub config: &'a RunConfig,
    pub task: Task,
    pub flaw: FlawParams,
    pub device: Device,
}

impl Evaluator<'_> {
    fn view_tensor(&self, view: &View, index: usize) -> (Tensor<4>, Labels, Vec<f32>) {
        let noise = stream(0, &[b"val-noise", &(index as u64).to_le_bytes()]);
        let hb = assemble(std::slice::from_ref(view), 1, self.config, noise, vec![index]);
        let shape = [1, 3, view.height, view.width];
        let x = f32_tensor(hb.input.clone(), shape, &self.device);
        let labels = match (&hb.labels, &hb.clean) {
            (Some(l), _) => Labels::Classes(i32_tensor(l.clone(), [1, view.height, view.width], &self.device)),
            (_, Some(c)) => Labels::Clean(f32_tensor(c.clone(), shape, &self.device)),
            _ => unreachable!("a validation view has labels"),
        };
        let clean = hb.clean.unwrap_or_default();
        (x, labels, clean)
    }

    fn predict(&self, net: &TaskNet, x: Tensor<4>, view: &View) -> (Tensor<4>, ImagePred) {
        let p = self.task.activate(net.forward(x));
        let c = self.task.out_channels;
        let probs = crop_chw(&to_f32(p.clone()), c, (view.width, view.height), view.valid);
        let hw = view.valid.0 * view.valid.1;
        let classes = if self.task.kind == TaskKind::Segmentation { argmax_classes(&probs, c, hw) } else { Vec::new() };
        (p, ImagePred { probs, classes })
    }

    /// Evaluate T1 (and T2) on `val`, and F where there is one.
    pub fn run(&self, nets: &Nets, val: &[Item], step: usize, epoch: f64) -> EvalReport {
        let models: Vec<(&str, TaskNet)> = std::iter::once(("T1", nets.t1.valid())).chain(nets.t2.as_ref().map(|t| ("T2", t.valid()))).collect();
        let f: Option<FlawDetector> = nets.f.as_ref().map(|f| f.valid());
        let k = self.task.out_channels;
        let mut accs: Vec<ModelAcc> = models.iter().map(|_| ModelAcc { confusion: Confusion::new(k), psnr_sum: 0.0, ssim_sum: 0.0, images: 0 }).collect();
        let (mut fd_loss, mut fd_scores, mut fd_wrong) = (vec![0.0f64; 2], vec![Vec::new(), Vec::new()], vec![Vec::new(), Vec::new()]);
        let (mut agree, mut agree_n) = (0.0f64, 0usize);

        for (index, item) in val.iter().enumerate() {
            let view = eval_view(item, self.config.data.base_size, EVAL_MULTIPLE);
            let (x, labels, clean_full) = self.view_tensor(&view, index);
            let (vw, vh) = view.valid;
            let truth_mask: Option<Vec<u8>> =
                view.mask.as_ref().map(|m| (0..vh).flat_map(|y| m[y * view.width..y * view.width + vw].iter().copied()).collect());
            let clean = (!clean_full.is_empty()).then(|| crop_chw(&clean_full, 3, (view.width, view.height), view.valid));
            let mut preds = Vec::new();
            for (m, (_, net)) in models.iter().enumerate() {
                let (p, pred) = self.predict(net, x.clone(), &view);
                if let Some(t) = &truth_mask {
                    accs[m].confusion.add(t, &pred.classes);
                }
                if let Some(c) = &clean {
                    accs[m].psnr_sum += psnr(&pred.probs, c);
                    accs[m].ssim_sum += ssim(&pred.probs, c, 3, vh, vw);
                }
                accs[m].images += 1;
                if let Some(f) = &f {
                    let raw = f.forward(x.clone(), p.clone());
                    let target = flaw_target(p.clone(), self.task.label_as_pred(&labels), &self.flaw);
                    fd_loss[m] += to_f32((raw.clone() - target).square().mean())[0] as f64;
                    let raw = crop_chw(&to_f32(raw), 1, (view.width, view.height), view.valid);
                    if let Some(t) = &truth_mask {
                        for (i, &tc) in t.iter().enumerate() {
                            if (tc as usize) < k {
                                fd_scores[m].push(raw[i]);
                                fd_wrong[m].push(pred.classes[i] != tc);
                            }
                        }
                    } else if let Some(c) = &clean {
                        fd_scores[m].extend_from_slice(&raw);
                        fd_wrong[m].extend(worst_quarter(&pred.probs, c, vh * vw));
                    }
                }
                preds.push(pred);
            }
            if preds.len() == 2 {
                let (a, b) = (&preds[0], &preds[1]);
                if self.task.kind == TaskKind::Segmentation {
                    agree += a.classes.iter().zip(&b.classes).filter(|(x, y)| x == y).count() as f64;
                    agree_n += a.classes.len();
                } else {
                    agree += a.probs.iter().zip(&b.probs).map(|(x, y)| (x - y).abs() as f64).sum::<f64>();
                    agree_n += a.probs.len();
                }
            }
        }

        let n = val.len().max(1) as f64;
        let model_evals = models
            .iter()
            .zip(&accs)
            .map(|((name, _), acc)| {
                if self.task.kind == TaskKind::Segmentation {
                    let s = acc.confusion.scores();
                    ModelEval { model: name.to_string(), score: s.miou, seg: Some(s), psnr: None, ssim: None }
                } else {
                    let p = acc.psnr_sum / acc.images.max(1) as f64;
                    ModelEval { model: name.to_string(), score: p, seg: None, psnr: Some(p), ssim: Some(acc.ssim_sum / acc.images.max(1) as f64) }
                }
            })
            .collect();
        let flaw = f.as_ref().map(|_| FlawEval {
            loss_t1: fd_loss[0] / n,
            loss_t2: fd_loss[1] / n,
            auroc_t1: auroc(&fd_scores[0], &fd_wrong[0]),
            auroc_t2: auroc(&fd_scores[1], &fd_wrong[1]),
        });
        EvalReport { step, epoch, models: model_evals, flaw, agreement: (agree_n > 0).then(|| agree / agree_n as f64), best: false }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn worst_quarter_flags_the_largest_errors() {
        // 8 pixels, 2 channels; pixel i is off by i/10 in channel 0 and 0 in channel 1.
        let clean = vec![0.5f32; 16];
        let mut pred = clean.clone();
        for (i, p) in pred.iter_mut().take(8).enumerate() {
            *p += i as f32 / 10.0;
        }
        pred[3] -= 1.5; // a large error below the clean value counts as well
        let flags = super::worst_quarter(&pred, &clean, 8);
        assert_eq!(flags, vec![false, false, false, true, false, false, false, true]);
    }
}
