//! Evaluation on the validation split (spec section 7): both task models separately,
//! plus the flaw detector's quality against C(.) and as a detector of wrong pixels.
//! Models run in eval mode (BatchNorm running statistics) on the plain device.

use super::events::{EvalReport, FlawEval, InputScores, ModelEval};
use super::nets::Nets;
use crate::config::{RunConfig, TaskKind};
use crate::data::Item;
use crate::data::augment::{View, eval_view};
use crate::data::batches::assemble;
use crate::gct::targets::{FlawParams, flaw_target, target_from_error};
use crate::host::{f32_tensor, i32_tensor, to_f32};
use crate::metrics::arbitration::ArbitrationAcc;
use crate::metrics::calibration::CalibrationAcc;
use crate::metrics::mistakes::{argmax_classes, disagreement, scored_pixels, uncertainty, worst_quarter, wrong_classes};
use crate::metrics::ranking::RankingAcc;
use crate::metrics::restoration::{psnr, ssim};
use crate::metrics::saliency::SodAcc;
use crate::metrics::segmentation::Confusion;
use crate::models::TaskNet;
use crate::models::blocks::resize_bilinear;
use crate::models::flaw_detector::{FlawDetector, map_size};
use crate::rng::stream;
use crate::task::{Labels, Task};
use burn::module::Module;
use burn::tensor::module::adaptive_avg_pool2d;
use burn::tensor::{Device, Tensor};

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

/// A map [N, 1, H, W] as F's strided stack can paint it: averaged onto F's map size before
/// upsampling (for `stages` stride-2 stages) and upsampled back the way F's map is. The
/// ceiling of F's strided stack (`flaw_detector.fine_branch` adds pixel detail on top).
pub fn at_map_resolution(map: Tensor<4>, stages: usize) -> Tensor<4> {
    let [_, _, h, w] = map.dims();
    let (mh, mw) = (map_size(h, stages).max(1), map_size(w, stages).max(1));
    resize_bilinear(adaptive_avg_pool2d(map, [mh, mw]), h, w, true)
}

pub struct Evaluator<'a> {
    pub config: &'a RunConfig,
    pub task: Task,
    pub flaw: FlawParams,
    pub device: Device,
    /// The degraded inputs' own scores: the same at every evaluation of a run (each image is
    /// degraded from a fixed stream), so measured at the first and kept.
    pub input_scores: std::cell::OnceCell<InputScores>,
}

impl Evaluator<'_> {
    /// The view as a network input (degraded, for restoration, from a stream fixed per
    /// validation image), its labels, and on the host the clean target and the input.
    fn view_tensor(&self, view: &View, index: usize) -> (Tensor<4>, Labels, Vec<f32>, Vec<f32>) {
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
        (x, labels, clean, hb.input)
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
        let mut fd_loss = [0.0f64; 2];
        let mut f_rank: [RankingAcc; 2] = Default::default();
        let mut target_rank: [RankingAcc; 2] = Default::default();
        let mut coarse_rank: [RankingAcc; 2] = Default::default();
        let mut conf_coarse_rank: [RankingAcc; 2] = Default::default();
        let mut conf_target_rank: [RankingAcc; 2] = Default::default();
        let mut arbitration = ArbitrationAcc::default();
        let mut conf_rank: [RankingAcc; 2] = Default::default();
        let mut sod: [SodAcc; 2] = Default::default();
        let mut calibration: [CalibrationAcc; 2] = Default::default();
        let (mut agree, mut agree_n) = (0.0f64, 0usize);
        let mut input_sums = (0.0f64, 0.0f64);
        // Images are padded to the size both task models need, no more.
        let multiple = self.config.t1.size_multiple().max(self.config.t2.size_multiple());

        for (index, item) in val.iter().enumerate() {
            let view = eval_view(item, self.config.data.base_size, multiple);
            let (x, labels, clean_full, input_full) = self.view_tensor(&view, index);
            let (vw, vh) = view.valid;
            let hw = vw * vh;
            let truth_mask: Option<Vec<u8>> =
                view.mask.as_ref().map(|m| (0..vh).flat_map(|y| m[y * view.width..y * view.width + vw].iter().copied()).collect());
            let clean = (!clean_full.is_empty()).then(|| crop_chw(&clean_full, 3, (view.width, view.height), view.valid));
            if let Some(c) = clean.as_ref().filter(|_| self.input_scores.get().is_none()) {
                let input = crop_chw(&input_full, 3, (view.width, view.height), view.valid);
                input_sums.0 += psnr(&input, c);
                input_sums.1 += ssim(&input, c, 3, vh, vw);
            }
            // Scored pixels (segmentation: not ignored) and, per model, which of them are wrong.
            let scored: Vec<usize> = match &truth_mask {
                Some(t) => scored_pixels(t, k),
                None => (0..hw).collect(),
            };
            let pick = |map: &[f32]| -> Vec<f32> { scored.iter().map(|&i| map[i]).collect() };
            let mut preds = Vec::new();
            let mut wrongs = Vec::new();
            // Per model, on the scored pixels: F's raw map and the model's uncertainty.
            let (mut flaw_scores, mut uncertainties) = (Vec::new(), Vec::new());
            for (m, (_, net)) in models.iter().enumerate() {
                let (p, pred) = self.predict(net, x.clone(), &view);
                let wrong: Vec<bool> = match (&truth_mask, &clean) {
                    (Some(t), _) => wrong_classes(&pred.classes, t, &scored),
                    (None, Some(c)) => worst_quarter(&pred.probs, c, hw),
                    _ => Vec::new(),
                };
                if let Some(t) = &truth_mask {
                    accs[m].confusion.add(t, &pred.classes);
                    let full = uncertainty(&pred.probs, k, hw);
                    if f.is_some() {
                        let map = f32_tensor(full.clone(), [1, 1, vh, vw], &self.device);
                        let coarse = at_map_resolution(map.clone(), self.config.fd_stages());
                        conf_coarse_rank[m].add_image(&pick(&to_f32(coarse)), &wrong);
                        conf_target_rank[m].add_image(&pick(&to_f32(target_from_error(map, &self.flaw))), &wrong);
                    }
                    let u = pick(&full);
                    conf_rank[m].add_image(&u, &wrong);
                    uncertainties.push(u);
                    if k == 2 {
                        let foreground: Vec<bool> = scored.iter().map(|&i| t[i] == 1).collect();
                        sod[m].add_image(&pick(&pred.probs[hw..]), &foreground);
                    }
                }
                if let Some(c) = &clean {
                    accs[m].psnr_sum += psnr(&pred.probs, c);
                    accs[m].ssim_sum += ssim(&pred.probs, c, 3, vh, vw);
                }
                accs[m].images += 1;
                if let Some(f) = &f {
                    // F reads the image without the padding the task models need: F works at
                    // any size, and its InstanceNorm statistics over a padded map would differ
                    // from training's, where every crop pixel is image (a 48-pixel image padded
                    // to 64 cost 0.04 AUROC and 40 % more loss against C).
                    let valid = |t: Tensor<4>| t.narrow(2, 0, vh).narrow(3, 0, vw);
                    let pv = valid(p.clone());
                    let raw = f.forward(valid(x.clone()), pv.clone());
                    let target = flaw_target(pv, valid(self.task.label_as_pred(&labels)), &self.flaw);
                    fd_loss[m] += to_f32((raw.clone() - target.clone()).square().mean())[0] as f64;
                    let coarse = to_f32(at_map_resolution(target.clone(), self.config.fd_stages()));
                    let (raw, target) = (pick(&to_f32(raw)), to_f32(target));
                    f_rank[m].add_image(&raw, &wrong);
                    calibration[m].add(&raw, &wrong);
                    flaw_scores.push(raw);
                    target_rank[m].add_image(&pick(&target), &wrong);
                    coarse_rank[m].add_image(&pick(&coarse), &wrong);
                }
                preds.push(pred);
                wrongs.push(wrong);
            }
            if preds.len() == 2 {
                let (a, b) = (&preds[0], &preds[1]);
                if flaw_scores.len() == 2 && uncertainties.len() == 2 {
                    let truth: Vec<u8> = truth_mask.as_ref().map(|t| scored.iter().map(|&i| t[i]).collect()).unwrap_or_default();
                    arbitration.add_image([&wrongs[0], &wrongs[1]], [&flaw_scores[0], &flaw_scores[1]], [&uncertainties[0], &uncertainties[1]], &truth);
                }
                if self.task.kind == TaskKind::Segmentation {
                    agree += a.classes.iter().zip(&b.classes).filter(|(x, y)| x == y).count() as f64;
                    agree_n += a.classes.len();
                } else {
                    agree += a.probs.iter().zip(&b.probs).map(|(x, y)| (x - y).abs() as f64).sum::<f64>();
                    agree_n += a.probs.len();
                    // A restoration model has no confidence of its own; the pair's
                    // disagreement is the baseline for both.
                    let diff = disagreement(&a.probs, &b.probs, hw);
                    for (m, wrong) in wrongs.iter().enumerate() {
                        conf_rank[m].add_image(&diff, wrong);
                    }
                }
            }
        }

        let n = val.len().max(1) as f64;
        let model_evals = models
            .iter()
            .zip(accs.iter().zip(&conf_rank).zip(&sod))
            .map(|((name, _), ((acc, conf), sod))| {
                if self.task.kind == TaskKind::Segmentation {
                    let s = acc.confusion.scores();
                    ModelEval {
                        model: name.to_string(),
                        score: s.miou,
                        seg: Some(s),
                        psnr: None,
                        ssim: None,
                        confidence: Some(conf.finish()),
                        sod: sod.finish(),
                    }
                } else {
                    let p = acc.psnr_sum / acc.images.max(1) as f64;
                    let ssim = Some(acc.ssim_sum / acc.images.max(1) as f64);
                    let confidence = (models.len() == 2).then(|| conf.finish());
                    ModelEval { model: name.to_string(), score: p, seg: None, psnr: Some(p), ssim, confidence, sod: None }
                }
            })
            .collect();
        let flaw = f.as_ref().map(|_| {
            // The confidence exists for segmentation only (restoration's baseline is |T1 - T2|).
            let seg = self.task.kind == TaskKind::Segmentation;
            let [r1, r2] = [f_rank[0].finish(), f_rank[1].finish()];
            FlawEval {
                loss_t1: fd_loss[0] / n,
                loss_t2: fd_loss[1] / n,
                auroc_t1: r1.auroc,
                auroc_t2: r2.auroc,
                ranking_t1: Some(r1),
                ranking_t2: Some(r2),
                target_t1: Some(target_rank[0].finish()),
                target_t2: Some(target_rank[1].finish()),
                target_coarse_t1: Some(coarse_rank[0].finish()),
                target_coarse_t2: Some(coarse_rank[1].finish()),
                confidence_coarse_t1: seg.then(|| conf_coarse_rank[0].finish()),
                confidence_coarse_t2: seg.then(|| conf_coarse_rank[1].finish()),
                confidence_target_t1: seg.then(|| conf_target_rank[0].finish()),
                confidence_target_t2: seg.then(|| conf_target_rank[1].finish()),
                arbitration: arbitration.finish(),
                calibration_t1: calibration[0].finish(),
                calibration_t2: calibration[1].finish(),
            }
        });
        let input_scores =
            self.task.kind.is_restoration().then(|| *self.input_scores.get_or_init(|| InputScores { psnr: input_sums.0 / n, ssim: input_sums.1 / n }));
        let agreement = (agree_n > 0).then(|| agree / agree_n as f64);
        let mut report = EvalReport { step, epoch, models: model_evals, flaw, agreement, best: false, flaw_verdict: None, class_verdict: None, input_scores };
        report.flaw_verdict = report.verdict();
        report.class_verdict = report.class_verdict(&self.config.class_names());
        report
    }
}

#[cfg(test)]
mod tests {
    use super::at_map_resolution;
    use crate::host::{f32_tensor, to_f32};
    use crate::models::flaw_detector::map_size;
    use burn::tensor::Device;

    #[test]
    fn a_map_at_fs_resolution_keeps_its_mean_level_and_loses_single_pixels() {
        let device = Device::flex();
        let flat = to_f32(at_map_resolution(f32_tensor(vec![0.25; 48 * 48], [1, 1, 48, 48], &device), 2));
        assert!(flat.iter().all(|v| (v - 0.25).abs() < 1e-5));
        // One hot pixel: at 2 stride-2 stages F's map is 9 x 9 (pooling windows of 6 or 7
        // pixels a side), so the pixel's value is spread over its cell and its neighbours'.
        assert_eq!(map_size(48, 2), 9);
        let mut spike = vec![0.0; 48 * 48];
        spike[20 * 48 + 20] = 1.0;
        let coarse = to_f32(at_map_resolution(f32_tensor(spike, [1, 1, 48, 48], &device), 2));
        let peak = coarse.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        assert!(peak > 0.0 && peak <= 1.0 / 36.0 + 1e-6, "peak {peak}");
        assert!(coarse.iter().filter(|&&v| v > 0.0).count() > 36);
    }
}
