//! What the engine reports. Everything is plain data (serde), so the server can store and
//! forward it without knowing about tensors.

use crate::data::batches::Split;
use crate::metrics::arbitration::Arbitration;
use crate::metrics::calibration::Calibration;
use crate::metrics::ranking::Ranking;
use crate::metrics::saliency::SodScores;
use crate::metrics::segmentation::SegScores;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Started(RunInfo),
    Step(StepMetrics),
    /// Boxed: an evaluation (rankings, calibration, per-model scores) is several times the
    /// size of the other events.
    Eval(Box<EvalReport>),
    Snapshot(Snapshot),
    Checkpoint(CheckpointInfo),
    /// The run reached its last iteration.
    Finished {
        step: usize,
    },
    /// A stop was asked for; the iteration in flight finished and a checkpoint was written.
    Stopped {
        step: usize,
    },
    Failed {
        step: usize,
        message: String,
    },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunInfo {
    pub device: String,
    pub total_iterations: usize,
    pub iterations_per_epoch: usize,
    /// The first iteration this process runs (0, or the checkpoint's step on resume).
    pub start_step: usize,
    pub train_images: usize,
    pub val_images: usize,
    pub split: Split,
    pub fd_stages: usize,
    pub fd_map_size: usize,
    pub probes: Vec<ProbeInfo>,
    pub class_names: Vec<String>,
    /// How the dataset's masks were read (e.g. "binary, 0/255 (255 = foreground); 21.3 %
    /// foreground"), segmentation only.
    #[serde(default)]
    pub masks: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeInfo {
    pub name: String,
    pub labeled: bool,
}

/// Losses of one task model at one step (each term as it enters the total).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ModelLosses {
    pub sup: f64,
    pub dc: f64,
    pub fc: f64,
    pub total: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StepMetrics {
    /// Iterations completed (1-based: step 1 is the first iteration).
    pub step: usize,
    pub epoch: f64,
    pub lr: f64,
    pub fd_lr: f64,
    /// r(t), the ramp-up factor.
    pub rampup: f64,
    /// lambda_dc * r(t): the weight the dc loss had at this step.
    pub dc_weight: f64,
    pub t1: ModelLosses,
    pub t2: Option<ModelLosses>,
    pub fd_loss: Option<f64>,
    /// Share of pixels where T1 learned from T2 (dc mask), T2 from T1, and under the fc mask.
    pub dc_share_t1: Option<f64>,
    pub dc_share_t2: Option<f64>,
    pub fc_share: Option<f64>,
    /// Segmentation GCT, on the labelled pixels of the step: the share where T1's dc mask
    /// made it take T2's different class and that class is right (fix), or where it gave up
    /// its own right class (break); the same for T2. fix / (fix + break) is how often dc
    /// copied in the right direction: F's guidance measured where the truth is known.
    #[serde(default)]
    pub dc_fix_t1: Option<f64>,
    #[serde(default)]
    pub dc_break_t1: Option<f64>,
    #[serde(default)]
    pub dc_fix_t2: Option<f64>,
    #[serde(default)]
    pub dc_break_t2: Option<f64>,
    /// The same, T1 and T2 together, had the dc masks been made from C(.) (F's target,
    /// from the labels) instead of F's maps: the ceiling of F's guidance.
    #[serde(default)]
    pub dc_fix_with_c: Option<f64>,
    #[serde(default)]
    pub dc_break_with_c: Option<f64>,
    pub ms_per_iter: f64,
    pub images_per_sec: f64,
    /// Wall-clock time the step finished (unix milliseconds), to measure delivery delays.
    pub time_ms: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelEval {
    /// "T1" or "T2".
    pub model: String,
    pub seg: Option<SegScores>,
    pub psnr: Option<f64>,
    pub ssim: Option<f64>,
    /// The headline number: mIoU (segmentation) or PSNR (denoising).
    pub score: f64,
    /// The baseline a flaw detector must beat: how well the model's own uncertainty
    /// (1 - max softmax probability) ranks its wrong pixels; for restoration with two
    /// models, |T1 - T2| ranking each model's worst quarter. None for a lone restoration
    /// model (and in records written before it existed).
    #[serde(default)]
    pub confidence: Option<Ranking>,
    /// Binary segmentation (2 classes): the salient-object metrics, MAE and max F (beta^2 0.3).
    #[serde(default)]
    pub sod: Option<SodScores>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FlawEval {
    /// F's MSE against C(.) on the labelled validation images, per model.
    pub loss_t1: f64,
    pub loss_t2: f64,
    /// AUROC of F's map as a detector of wrongly predicted pixels (segmentation) or of each
    /// image's worst quarter of pixels by absolute error (restoration).
    pub auroc_t1: Option<f64>,
    pub auroc_t2: Option<f64>,
    /// F's map as a ranking of each model's wrong pixels (AUROC as above, per-image AUROC,
    /// top-decile share).
    #[serde(default)]
    pub ranking_t1: Option<Ranking>,
    #[serde(default)]
    pub ranking_t2: Option<Ranking>,
    /// The same for C(.), F's training target computed from the labels: what F would score
    /// if it regressed its target perfectly (the ceiling the target's blur leaves).
    #[serde(default)]
    pub target_t1: Option<Ranking>,
    #[serde(default)]
    pub target_t2: Option<Ranking>,
    /// C(.) averaged onto F's map before upsampling and upsampled as F's map is: what F
    /// could score at its own resolution if it regressed C perfectly (the ceiling F's
    /// geometry leaves; at a small crop F's map is a few pixels wide).
    #[serde(default)]
    pub target_coarse_t1: Option<Ranking>,
    #[serde(default)]
    pub target_coarse_t2: Option<Ranking>,
    /// The model's confidence (1 - max p) averaged onto F's map and upsampled the same way:
    /// the baseline painted at F's resolution (segmentation). Where it falls well below
    /// the confidence itself, the mistakes the confidence finds are too fine for F's map.
    #[serde(default)]
    pub confidence_coarse_t1: Option<Ranking>,
    #[serde(default)]
    pub confidence_coarse_t2: Option<Ranking>,
    /// The confidence put through C(.)'s blur, dilation and per-sample normalisation: what
    /// F's regression makes of a map as sharp as the confidence (segmentation). F reads
    /// image and prediction only, so its best estimate of C(.) is about this blurred.
    #[serde(default)]
    pub confidence_target_t1: Option<Ranking>,
    #[serde(default)]
    pub confidence_target_t2: Option<Ranking>,
    /// Where exactly one of T1 and T2 is right: how often F's map (and, as the baseline,
    /// the models' confidence) is lower on the right one, i.e. how often dynamic
    /// consistency copies in the right direction (segmentation with two models).
    #[serde(default)]
    pub arbitration: Option<Arbitration>,
    /// F's map read as the probability of a mistake: reliability diagram and calibration error.
    #[serde(default)]
    pub calibration_t1: Option<Calibration>,
    #[serde(default)]
    pub calibration_t2: Option<Calibration>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub step: usize,
    pub epoch: f64,
    pub models: Vec<ModelEval>,
    pub flaw: Option<FlawEval>,
    /// Agreement of T1 and T2 (share of pixels with the same class / mean |p1 - p2|).
    pub agreement: Option<f64>,
    /// This evaluation is the best so far (by the better model's score).
    pub best: bool,
    /// [`EvalReport::verdict`] at the time of the evaluation, for pages that show it.
    #[serde(default)]
    pub flaw_verdict: Option<String>,
    /// [`EvalReport::class_verdict`] at the time of the evaluation: the classes a model
    /// has not learnt, which its mIoU counts as 0 (segmentation).
    #[serde(default)]
    pub class_verdict: Option<String>,
    /// Restoration: the degraded input's own PSNR and SSIM against the target, what a model
    /// that learned nothing (the identity) scores: the floor a restorer must clear.
    #[serde(default)]
    pub input_scores: Option<InputScores>,
}

/// The validation inputs scored as if they were predictions (restoration).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct InputScores {
    pub psnr: f64,
    pub ssim: f64,
}

impl EvalReport {
    /// Per model with a flaw map: (model, F's AUROC, the confidence baseline's AUROC).
    pub fn flaw_vs_confidence(&self) -> Vec<(&str, f64, f64)> {
        let Some(f) = &self.flaw else { return Vec::new() };
        self.models.iter().zip([f.auroc_t1, f.auroc_t2]).filter_map(|(m, fa)| Some((m.model.as_str(), fa?, m.confidence.as_ref()?.auroc?))).collect()
    }

    /// One plain sentence on whether F knows more about the models' mistakes than the
    /// models' own confidence does; None without a flaw detector or a baseline.
    pub fn verdict(&self) -> Option<String> {
        let pairs = self.flaw_vs_confidence();
        if pairs.is_empty() {
            return None;
        }
        let figures = pairs.iter().map(|(m, f, c)| format!("{m} {f:.3} vs {c:.3}")).collect::<Vec<_>>().join(", ");
        let below = pairs.iter().filter(|(_, f, c)| f < c).count();
        // Restoration models have no confidence of their own: the baseline is their disagreement.
        let (baseline, short) = if self.models.iter().any(|m| m.psnr.is_some()) {
            ("the two models' disagreement |T1 - T2|", "disagreement")
        } else {
            ("the models' own confidence", "confidence")
        };
        Some(if below == pairs.len() {
            format!(
                "F finds the models' mistakes worse than {baseline} does (AUROC of F vs {short}: {figures}): the dc and fc masks add little the models do not already know."
            )
        } else if below > 0 {
            format!("F beats {baseline} for some models only (AUROC of F vs {short}: {figures}).")
        } else {
            format!("F finds the models' mistakes better than {baseline} does (AUROC of F vs {short}: {figures}).")
        })
    }
}

/// Below this IoU on the validation split a model has not learnt a class: it gets
/// almost none of its pixels right, and its mIoU counts the class as about 0.
pub const MISSED_CLASS_IOU: f64 = 0.01;

impl EvalReport {
    /// Per class, the IoU of each model (None where the class is neither in the truth nor
    /// predicted). Segmentation only; empty otherwise.
    pub fn class_ious(&self) -> Vec<Vec<Option<f64>>> {
        let per_model: Vec<&[Option<f64>]> = self.models.iter().filter_map(|m| m.seg.as_ref().map(|s| s.class_iou.as_slice())).collect();
        let k = per_model.iter().map(|c| c.len()).max().unwrap_or(0);
        (0..k).map(|c| per_model.iter().map(|m| m.get(c).copied().flatten()).collect()).collect()
    }

    /// One plain sentence per class some model has not learnt (IoU below
    /// [`MISSED_CLASS_IOU`]), naming a model that has, if any: the usual reason for one
    /// model's mIoU sitting far below the other's or the baseline's. `names` are the run's
    /// class names ("class k" where missing). None when every model has every class.
    pub fn class_verdict(&self, names: &[String]) -> Option<String> {
        let seg: Vec<&ModelEval> = self.models.iter().filter(|m| m.seg.is_some()).collect();
        let models: Vec<&str> = seg.iter().map(|m| m.model.as_str()).collect();
        let sentences: Vec<String> = self
            .class_ious()
            .iter()
            .enumerate()
            .filter_map(|(c, ious)| {
                // A class absent from the truth has nothing to learn (only predicted: IoU 0).
                let in_truth = |i: usize| seg[i].seg.as_ref().and_then(|s| s.class_in_truth.get(c).copied()).unwrap_or(true);
                let missed: Vec<usize> = (0..ious.len()).filter(|&i| in_truth(i) && ious[i].is_some_and(|v| v < MISSED_CLASS_IOU)).collect();
                if missed.is_empty() {
                    return None;
                }
                let name = names.get(c).cloned().unwrap_or_else(|| format!("class {c}"));
                let who = missed.iter().map(|&i| models[i]).collect::<Vec<_>>().join(" and ");
                let (verb, whose) = if missed.len() > 1 { ("have", "their") } else { ("has", "its") };
                let figures = missed.iter().map(|&i| format!("{:.2}", ious[i].unwrap_or(0.0))).collect::<Vec<_>>().join(", ");
                let mut s = format!("{who} {verb} not learnt '{name}' (IoU {figures}): it counts as 0 in {whose} mIoU.");
                // The other model knows the class: what dynamic consistency could pass on.
                if let Some((i, v)) = ious.iter().enumerate().filter(|(i, _)| !missed.contains(i)).find_map(|(i, v)| v.filter(|v| *v >= 0.1).map(|v| (i, v))) {
                    s.push_str(&format!(" {} has it (IoU {v:.2}).", models[i]));
                }
                Some(s)
            })
            .collect();
        (!sentences.is_empty()).then(|| sentences.join(" "))
    }
}

/// A visual snapshot of the probe images at one step.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Snapshot {
    pub step: usize,
    pub size: usize,
    pub probes: Vec<ProbeSnapshot>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ProbeSnapshot {
    pub index: usize,
    pub name: String,
    pub labeled: bool,
    pub layers: Vec<Layer>,
}

/// One picture of a probe: an RGB image, a class map, or a continuous map.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Layer {
    /// input, ground_truth, t1, t2, flaw_raw_t1/t2, flaw_t1/t2 (handled), target_t1/t2 (C),
    /// error_t1/t2 (true error), dc_mask_t1/t2, fc_mask.
    pub name: String,
    pub data: LayerData,
    /// For flaw maps (F's raw map) and predictions (the model's own confidence): the AUROC
    /// of that score as a ranking of the model's wrong pixels in this image, where the
    /// image has ground truth and both right and wrong pixels.
    #[serde(default)]
    pub auroc: Option<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LayerData {
    /// Interleaved RGB, H x W x 3.
    Rgb { values: Vec<u8> },
    /// Class index per pixel (255 = ignore).
    Classes { values: Vec<u8> },
    /// A continuous map, H x W (flaw maps, targets, masks in {0, 1}).
    Map { values: Vec<f32> },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CheckpointInfo {
    pub step: usize,
    pub path: String,
    pub bytes: u64,
    /// Written because the last evaluation was the best so far.
    pub best: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::segmentation::SegScores;

    fn report(models: &[(&str, Vec<Option<f64>>)]) -> EvalReport {
        let models = models
            .iter()
            .map(|(name, class_iou)| ModelEval {
                model: name.to_string(),
                seg: Some(SegScores { pixel_acc: 0.8, mean_class_acc: 0.6, miou: 0.4, fw_iou: 0.7, class_iou: class_iou.clone(), class_in_truth: vec![] }),
                psnr: None,
                ssim: None,
                score: 0.4,
                confidence: None,
                sod: None,
            })
            .collect();
        EvalReport { step: 280, epoch: 4.0, models, flaw: None, agreement: None, best: false, flaw_verdict: None, class_verdict: None, input_scores: None }
    }

    #[test]
    fn names_the_classes_a_model_has_not_learnt_and_who_has() {
        let names: Vec<String> = ["background", "ellipse", "rectangle", "triangle"].map(String::from).into();
        // The built-in set's failure mode: T2 never gets a triangle right, T1 does.
        let one = report(&[("T1", vec![Some(0.85), Some(0.34), Some(0.58), Some(0.49)]), ("T2", vec![Some(0.85), Some(0.33), Some(0.48), Some(0.0)])]);
        assert_eq!(one.class_ious()[3], vec![Some(0.49), Some(0.0)]);
        assert_eq!(one.class_verdict(&names).as_deref(), Some("T2 has not learnt 'triangle' (IoU 0.00): it counts as 0 in its mIoU. T1 has it (IoU 0.49)."));
        // Both miss it; a class absent from truth and prediction (None) is not a miss;
        // missing names fall back to the class index.
        let both = report(&[("T1", vec![Some(0.8), None, Some(0.004)]), ("T2", vec![Some(0.8), None, Some(0.0)])]);
        assert_eq!(both.class_verdict(&names[..2]).as_deref(), Some("T1 and T2 have not learnt 'class 2' (IoU 0.00, 0.00): it counts as 0 in their mIoU."));
        // A class with no pixels in the truth, only predicted (IoU 0), is not a miss.
        let mut absent = report(&[("T1", vec![Some(0.8), Some(0.0)])]);
        absent.models[0].seg.as_mut().unwrap().class_in_truth = vec![true, false];
        assert_eq!(absent.class_verdict(&names), None);
        absent.models[0].seg.as_mut().unwrap().class_in_truth = vec![true, true];
        assert!(absent.class_verdict(&names).unwrap().starts_with("T1 has not learnt 'ellipse'"));
        // Every class learnt, even poorly: nothing to say. Restoration reports: nothing.
        assert_eq!(report(&[("T1", vec![Some(0.9), Some(0.02)])]).class_verdict(&names), None);
        let mut restoration = report(&[("T1", vec![])]);
        restoration.models[0].seg = None;
        assert!(restoration.class_ious().is_empty() && restoration.class_verdict(&names).is_none());
    }
}
