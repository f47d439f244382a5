//! Why GCT helps or not, per study cell: the flaw detector's quality over training, how
//! much of each image the dc and fc masks cover, and how far T1 and T2 agree. Summarised
//! from a run's step metrics and evaluations, with plain-language notes for the values
//! that usually explain a missing gain.

use crate::engine::events::{EvalReport, FlawEval, StepMetrics};
use crate::metrics::ranking::Ranking;
use serde::Serialize;

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diagnostics {
    /// F's AUROC (mean over T1 and T2) at the first and the last evaluation.
    pub auroc_first: Option<f64>,
    pub auroc_last: Option<f64>,
    /// The baseline F must beat at the last evaluation: the AUROC of the models' own
    /// confidence (mean over T1 and T2), and F's target C(.) as the ceiling of F's regression.
    pub confidence_auroc_last: Option<f64>,
    pub target_auroc_last: Option<f64>,
    /// C(.) averaged onto F's map before upsampling: the ceiling F's resolution leaves.
    pub target_coarse_auroc_last: Option<f64>,
    /// Where exactly one of T1 and T2 is right, the share where F's map (and the models'
    /// confidence) is lower on the right one, at the last evaluation: dc's direction.
    pub arbitration_last: Option<f64>,
    pub confidence_arbitration_last: Option<f64>,
    /// F's mean per-image AUROC at the last evaluation (its scale is set per image).
    pub image_auroc_last: Option<f64>,
    /// Share of the wrong pixels in the top decile of F's map and of the models' own
    /// uncertainty at the last evaluation (means over T1 and T2; 0.1 is chance).
    pub top_decile_last: Option<f64>,
    pub confidence_top_decile_last: Option<f64>,
    /// F's validation loss against C(.) (mean over T1 and T2), first and last evaluation.
    pub fd_loss_first: Option<f64>,
    pub fd_loss_last: Option<f64>,
    /// Shares of pixels under the dc masks (T1 from T2, T2 from T1) and the fc mask,
    /// averaged over the last quarter of the logged steps.
    pub dc_share_t1: Option<f64>,
    pub dc_share_t2: Option<f64>,
    pub fc_share: Option<f64>,
    /// Over the last quarter, on labelled pixels: of the dc copies that changed a model's
    /// class (T1 and T2 pooled), the share that took a right class over a wrong one.
    pub dc_right_share: Option<f64>,
    /// The same had the masks come from C(.) instead of F: the ceiling of F's guidance.
    pub dc_right_share_with_c: Option<f64>,
    /// lambda_dc * r at the last logged step.
    pub dc_weight_last: Option<f64>,
    /// T1's fc loss over its supervised loss, both averaged over the last quarter: above 1,
    /// F's corrections outweigh the labels.
    pub fc_to_sup: Option<f64>,
    /// Agreement of T1 and T2 at the last evaluation: share of pixels with the same class
    /// (segmentation), mean |p1 - p2| (denoising).
    pub agreement_last: Option<f64>,
    /// Pixel error rate (1 - pixel accuracy) of the worse of T1 and T2 at the last
    /// evaluation (segmentation), to read the agreement against.
    pub error_rate_last: Option<f64>,
    /// The classes a model had not learnt at the last evaluation, in words
    /// ([`EvalReport::class_verdict`]): a low mIoU's most direct cause.
    pub missed_classes_last: Option<String>,
    /// Where exactly one model is right, the true classes on which F's choice is most and
    /// least often right at the last evaluation (segmentation; classes with at least
    /// [`MIN_CLASS_PIXELS`] such pixels).
    pub arbitration_best_class_last: Option<ClassChoice>,
    pub arbitration_worst_class_last: Option<ClassChoice>,
    pub notes: Vec<String>,
}

/// F's choice on one true class (see [`Diagnostics::arbitration_best_class_last`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassChoice {
    pub class: String,
    pub flaw: f64,
    pub confidence: f64,
    pub pixels: u64,
}

/// Fewer one-right pixels than this make a class's share too noisy to name.
pub const MIN_CLASS_PIXELS: u64 = 200;

fn mean2(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(0.5 * (a + b)),
        (a, b) => a.or(b),
    }
}

fn tail_mean(steps: &[StepMetrics], f: impl Fn(&StepMetrics) -> Option<f64>) -> Option<f64> {
    let tail = &steps[steps.len() - steps.len().div_ceil(4)..];
    let v: Vec<f64> = tail.iter().filter_map(f).collect();
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// fixes / (fixes + breaks), when there were any.
fn right_share(fixes: Option<f64>, breaks: Option<f64>) -> Option<f64> {
    fixes.zip(breaks).filter(|(f, b)| f + b > 0.0).map(|(f, b)| f / (f + b))
}

fn mean(v: &[f64]) -> Option<f64> {
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The mean over T1 and T2 of `figure` at the last evaluation that has one.
fn last_mean(evals: &[EvalReport], figure: impl Fn(&EvalReport) -> Vec<f64>) -> Option<f64> {
    evals.iter().rev().find_map(|e| mean(&figure(e)))
}

/// One figure of the models' own confidence ranking, per model (runs with F only: the
/// baseline is shown to be compared with F).
fn confidence_of(e: &EvalReport, field: fn(&Ranking) -> Option<f64>) -> Vec<f64> {
    if e.flaw.is_none() {
        return Vec::new();
    }
    e.models.iter().filter_map(|m| field(m.confidence.as_ref()?)).collect()
}

/// One figure of a ranking F's evaluation holds per model (F's own, or C's).
fn flaw_of(e: &EvalReport, rankings: fn(&FlawEval) -> [&Option<Ranking>; 2], field: fn(&Ranking) -> Option<f64>) -> Vec<f64> {
    e.flaw.as_ref().map(|f| rankings(f).into_iter().filter_map(|r| field(r.as_ref()?)).collect()).unwrap_or_default()
}

impl Diagnostics {
    /// `class_names`: the run's, for the missed-class note (recomputed from the stored
    /// IoUs, so runs recorded before the note existed get it too).
    pub fn from_history(steps: &[StepMetrics], evals: &[EvalReport], segmentation: bool, class_names: &[String]) -> Self {
        let auroc = |e: &EvalReport| e.flaw.as_ref().and_then(|f| mean2(f.auroc_t1, f.auroc_t2));
        let fd_loss = |e: &EvalReport| e.flaw.as_ref().map(|f| 0.5 * (f.loss_t1 + f.loss_t2));
        let mut d = Self {
            auroc_first: evals.iter().find_map(auroc),
            auroc_last: evals.iter().rev().find_map(auroc),
            confidence_auroc_last: last_mean(evals, |e| confidence_of(e, |r| r.auroc)),
            target_auroc_last: last_mean(evals, |e| flaw_of(e, |f| [&f.target_t1, &f.target_t2], |r| r.auroc)),
            target_coarse_auroc_last: last_mean(evals, |e| flaw_of(e, |f| [&f.target_coarse_t1, &f.target_coarse_t2], |r| r.auroc)),
            arbitration_last: evals.iter().rev().find_map(|e| e.flaw.as_ref()?.arbitration.as_ref().map(|a| a.flaw)),
            confidence_arbitration_last: evals.iter().rev().find_map(|e| e.flaw.as_ref()?.arbitration.as_ref().map(|a| a.confidence)),
            top_decile_last: last_mean(evals, |e| flaw_of(e, |f| [&f.ranking_t1, &f.ranking_t2], |r| r.top_decile)),
            confidence_top_decile_last: last_mean(evals, |e| confidence_of(e, |r| r.top_decile)),
            image_auroc_last: last_mean(evals, |e| flaw_of(e, |f| [&f.ranking_t1, &f.ranking_t2], |r| r.image_auroc)),
            fd_loss_first: evals.iter().find_map(fd_loss),
            fd_loss_last: evals.iter().rev().find_map(fd_loss),
            agreement_last: evals.iter().rev().find_map(|e| e.agreement),
            missed_classes_last: evals.last().and_then(|e| e.class_verdict(class_names)),
            arbitration_best_class_last: None,
            arbitration_worst_class_last: None,
            error_rate_last: evals
                .iter()
                .rev()
                .find(|e| !e.models.is_empty())
                .and_then(|e| e.models.iter().filter_map(|m| m.seg.as_ref().map(|s| 1.0 - s.pixel_acc)).reduce(f64::max)),
            ..Self::default()
        };
        if let Some((best, worst)) = evals.iter().rev().find_map(|e| e.flaw.as_ref()?.arbitration.as_ref()).and_then(|a| a.class_extremes(MIN_CLASS_PIXELS)) {
            let choice = |(c, s): (usize, crate::metrics::arbitration::Side)| ClassChoice {
                class: class_names.get(c).cloned().unwrap_or_else(|| format!("class {c}")),
                flaw: s.flaw,
                confidence: s.confidence,
                pixels: s.pixels,
            };
            (d.arbitration_best_class_last, d.arbitration_worst_class_last) = (Some(choice(best)), Some(choice(worst)));
        }
        if !steps.is_empty() {
            d.dc_share_t1 = tail_mean(steps, |s| s.dc_share_t1);
            d.dc_share_t2 = tail_mean(steps, |s| s.dc_share_t2);
            d.fc_share = tail_mean(steps, |s| s.fc_share);
            let fixes = tail_mean(steps, |s| Some(s.dc_fix_t1? + s.dc_fix_t2?));
            let breaks = tail_mean(steps, |s| Some(s.dc_break_t1? + s.dc_break_t2?));
            d.dc_right_share = right_share(fixes, breaks);
            d.dc_right_share_with_c = right_share(tail_mean(steps, |s| s.dc_fix_with_c), tail_mean(steps, |s| s.dc_break_with_c));
            d.dc_weight_last = steps.last().map(|s| s.dc_weight);
            if let (Some(fc), Some(sup)) = (tail_mean(steps, |s| Some(s.t1.fc)), tail_mean(steps, |s| Some(s.t1.sup)))
                && fc > 0.0
                && sup > 0.0
            {
                d.fc_to_sup = Some(fc / sup);
            }
        }
        d.notes = d.explain(segmentation);
        d
    }

    /// The usual reasons for a missing gain, when the numbers show them.
    fn explain(&self, segmentation: bool) -> Vec<String> {
        let mut notes = Vec::new();
        if let Some(v) = &self.missed_classes_last {
            notes.push(v.clone());
        }
        if let Some(a) = self.auroc_last
            && a < 0.65
        {
            let what = if segmentation { "wrong pixels from right ones" } else { "the worst-restored pixels from the rest" };
            notes.push(format!("F's AUROC is {a:.2}: it barely separates {what}, so the dc and fc masks are close to guesses."));
        }
        if let (Some(a), Some(c)) = (self.auroc_last, self.confidence_auroc_last)
            && a < c
        {
            let own = if segmentation { "their own confidence (1 - max softmax)" } else { "the models' disagreement |T1 - T2|" };
            notes.push(format!("F ({a:.2}) ranks the mistakes worse than {own} ({c:.2}): its masks add little the models do not already know."));
        }
        if let (Some(a), Some(t)) = (self.auroc_last, self.target_auroc_last)
            && t < 0.75
            && a < 0.75
        {
            notes.push(format!(
                "Even F's target C(.) only reaches AUROC {t:.2}: its blur is wide for this crop, so a perfect F could not separate the mistakes much better."
            ));
        }
        if let Some(r) = self.dc_right_share
            && r < 0.6
        {
            let ceiling = self.dc_right_share_with_c.map(|c| format!(" (with C(.)'s maps in place of F's: {:.0} %)", c * 100.0)).unwrap_or_default();
            notes.push(format!(
                "On labelled pixels, {:.0} % of the dc copies that changed a model's class were right over the last quarter{ceiling} (50 % is chance): dynamic consistency adds about as many mistakes as it fixes.",
                r * 100.0
            ));
        }
        if let Some(a) = self.arbitration_last
            && a < 0.6
        {
            notes.push(format!(
                "Where T1 and T2 disagree and one of them is right, F's map is lower on the right one {:.0} % of the time (50 % is chance): dynamic consistency copies in nearly random directions there.",
                a * 100.0
            ));
        }
        // A wide spread by true class, below chance and below the confidence on the worst
        // class: F rates a prediction by its class more than by the image (class swaps
        // taught F to prefer background predictions: docs/measurements.md, session 12).
        if let (Some(best), Some(worst)) = (&self.arbitration_best_class_last, &self.arbitration_worst_class_last)
            && best.flaw - worst.flaw >= 0.25
            && worst.flaw < 0.5
            && worst.flaw < worst.confidence
        {
            notes.push(format!(
                "F's choice follows the class more than the image: where one model is right, F picks it on {:.0} % of '{}' pixels but on {:.0} % of '{}' pixels (confidence: {:.0} %, {:.0} %), so on '{}' pixels dynamic consistency mostly copies the wrong model and the class is not passed on.",
                best.flaw * 100.0,
                best.class,
                worst.flaw * 100.0,
                worst.class,
                best.confidence * 100.0,
                worst.confidence * 100.0,
                worst.class
            ));
        }
        if let (Some(a), Some(t), Some(coarse)) = (self.auroc_last, self.target_auroc_last, self.target_coarse_auroc_last)
            && t - coarse > 0.05
            && a < coarse
        {
            notes.push(format!(
                "F's map is coarse for this crop: its target C(.) ranks the mistakes at {t:.2}, but only at {coarse:.2} once averaged onto F's map before upsampling; fewer stride-2 stages (flaw_detector.stride2_stages) give F a finer map."
            ));
        }
        // Large dc masks are normal (wherever F rates the other model's prediction even
        // slightly better, a model copies it, which changes nothing where they agree); empty
        // ones mean no exchange at all.
        if let (Some(a), Some(b)) = (self.dc_share_t1, self.dc_share_t2)
            && a.max(b) < 0.005
        {
            notes.push("The dc masks are nearly empty (< 0.5 % of pixels): T1 and T2 seldom learn from each other.".into());
        }
        // Segmentation runs at the demo's lambda_fc sit at 0.2-0.4 here; an MSE on [0, 1]
        // images is about 100x smaller than a cross-entropy, so restoration at the spec's
        // lambda_fc lands far above. For segmentation a heavy fc is not wrong in itself: on
        // the nuclei set lambda_fc 10-20 (the fc loss 1.6-3.5x the supervised one) is the
        // best setting found, while on the built-in shapes lambda_fc 1 made models lose a class
        // (docs/measurements.md), so the note names the symptom to look for.
        if let Some(r) = self.fc_to_sup
            && r > 1.0
        {
            let advice = if segmentation {
                "That can help (nuclei) or make a model lose a class (the built-in shapes): if a class is missed, lower gct.lambda_fc."
            } else {
                "Lower gct.lambda_fc (restoration losses are far smaller than a cross-entropy)."
            };
            notes.push(format!("The fc loss is {r:.1}x the supervised loss: F's corrections outweigh the labels. {advice}"));
        }
        if let Some(fc) = self.fc_share
            && fc > 0.2
        {
            notes.push(format!("The fc mask covers {:.0} % of pixels: F judges both models wrong on much of each image.", 100.0 * fc));
        }
        // Two models that are each wrong on e % of pixels but disagree on far fewer have
        // converged onto the same mistakes: the other model has nothing left to correct.
        if segmentation
            && let (Some(agree), Some(err)) = (self.agreement_last, self.error_rate_last)
            && err > 0.01
            && 1.0 - agree < 0.5 * err
        {
            let mut note = format!(
                "T1 and T2 mostly make the same mistakes: they disagree on {:.1} % of pixels while one of them is wrong on {:.1} %, so neither has much to correct in the other.",
                100.0 * (1.0 - agree),
                100.0 * err
            );
            if let Some(w) = self.dc_weight_last.filter(|w| *w >= 50.0) {
                note.push_str(&format!(" lambda_dc * r = {w:.0} may pull them together too hard for this size."));
            }
            notes.push(note);
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::events::{FlawEval, ModelEval, ModelLosses};
    use crate::metrics::arbitration::{Arbitration, Side};
    use crate::metrics::ranking::Ranking;
    use crate::metrics::segmentation::SegScores;

    fn step(i: usize, dc: f64, fc: f64) -> StepMetrics {
        StepMetrics {
            step: i,
            epoch: 0.0,
            lr: 0.0,
            fd_lr: 0.0,
            rampup: 1.0,
            dc_weight: 100.0, // the paper's lambda_dc, fully ramped
            t1: ModelLosses::default(),
            t2: Some(ModelLosses::default()),
            fd_loss: Some(0.1),
            dc_share_t1: Some(dc),
            dc_share_t2: Some(dc / 2.0),
            fc_share: Some(fc),
            dc_fix_t1: None,
            dc_break_t1: None,
            dc_fix_t2: None,
            dc_break_t2: None,
            dc_fix_with_c: None,
            dc_break_with_c: None,
            ms_per_iter: 1.0,
            images_per_sec: 1.0,
            time_ms: 0,
        }
    }

    fn eval(auroc: f64, agreement: f64) -> EvalReport {
        let model = |name: &str, pixel_acc: f64| ModelEval {
            model: name.into(),
            seg: Some(SegScores { pixel_acc, mean_class_acc: 0.0, miou: 0.0, fw_iou: 0.0, class_iou: vec![], class_in_truth: vec![] }),
            psnr: None,
            ssim: None,
            score: 0.0,
            confidence: None,
            sod: None,
        };
        EvalReport {
            step: 0,
            epoch: 0.0,
            models: vec![model("T1", 0.9), model("T2", 0.92)],
            flaw: Some(FlawEval {
                loss_t1: 0.2,
                loss_t2: 0.4,
                auroc_t1: Some(auroc),
                auroc_t2: Some(auroc + 0.1),
                ranking_t1: None,
                ranking_t2: None,
                target_t1: None,
                target_t2: None,
                target_coarse_t1: None,
                target_coarse_t2: None,
                confidence_coarse_t1: None,
                confidence_coarse_t2: None,
                confidence_target_t1: None,
                confidence_target_t2: None,
                arbitration: None,
                calibration_t1: None,
                calibration_t2: None,
            }),
            agreement: Some(agreement),
            best: false,
            flaw_verdict: None,
            class_verdict: None,
            input_scores: None,
        }
    }

    #[test]
    fn summarises_the_tail_and_explains() {
        // 8 steps: the last quarter is steps 7 and 8.
        let steps: Vec<_> = (1..=8).map(|i| step(i, if i > 6 { 0.002 } else { 0.5 }, 0.25)).collect();
        let d = Diagnostics::from_history(&steps, &[eval(0.5, 0.9), eval(0.55, 0.99)], true, &[]);
        assert!((d.auroc_first.unwrap() - 0.55).abs() < 1e-12);
        assert!((d.auroc_last.unwrap() - 0.60).abs() < 1e-12);
        assert!((d.fd_loss_last.unwrap() - 0.3).abs() < 1e-12);
        assert!((d.dc_share_t1.unwrap() - 0.002).abs() < 1e-12);
        assert_eq!(d.agreement_last, Some(0.99));
        assert!((d.error_rate_last.unwrap() - 0.1).abs() < 1e-12);
        assert_eq!(d.notes.len(), 4, "{:?}", d.notes);
        assert!(d.notes[0].contains("AUROC is 0.60"));
        assert!(d.notes[1].contains("nearly empty"));
        assert!(d.notes[2].contains("fc mask covers 25 %"));
        // Disagreeing on 1 % while 10 % wrong: the same mistakes.
        assert!(d.notes[3].contains("same mistakes") && d.notes[3].contains("lambda_dc * r = 100"), "{}", d.notes[3]);
        // A healthy run has nothing to explain: half the masks on is normal, and models
        // that disagree on most of their mistakes have something to teach each other.
        let ok: Vec<_> = (1..=8).map(|i| step(i, 0.45, 0.05)).collect();
        assert!(Diagnostics::from_history(&ok, &[eval(0.8, 0.94)], true, &[]).notes.is_empty());
        // An fc loss above the supervised loss is named, with the knob.
        let mut heavy: Vec<_> = (1..=8).map(|i| step(i, 0.45, 0.05)).collect();
        for s in &mut heavy {
            s.t1.sup = 0.01;
            s.t1.fc = if s.step > 6 { 0.08 } else { 0.0 };
        }
        let d = Diagnostics::from_history(&heavy, &[eval(0.8, 0.94)], true, &[]);
        assert!((d.fc_to_sup.unwrap() - 8.0).abs() < 1e-9);
        assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
        assert!(d.notes[0].contains("8.0x the supervised loss") && d.notes[0].contains("if a class is missed, lower gct.lambda_fc"), "{:?}", d.notes);
        // Restoration, where an MSE is far below a cross-entropy, is told to lower it.
        let d = Diagnostics::from_history(&heavy, &[], false, &[]);
        assert!(d.notes.iter().any(|n| n.contains("8.0x the supervised loss") && n.contains("Lower gct.lambda_fc (restoration")), "{:?}", d.notes);
        // SupOnly: nothing at all.
        assert_eq!(Diagnostics::from_history(&[], &[], true, &[]), Diagnostics::default());
    }

    #[test]
    fn names_a_flaw_detector_below_the_models_own_confidence() {
        let ranking = |a: f64| Some(Ranking { auroc: Some(a), image_auroc: None, top_decile: None });
        let ok: Vec<_> = (1..=8).map(|i| step(i, 0.45, 0.05)).collect();
        let mut e = eval(0.8, 0.94); // F: T1 0.80, T2 0.90
        e.models[0].confidence = ranking(0.9);
        e.models[1].confidence = ranking(0.92);
        e.flaw.as_mut().unwrap().target_t1 = ranking(0.7);
        e.flaw.as_mut().unwrap().target_t2 = ranking(0.72);
        let d = Diagnostics::from_history(&ok, &[e.clone()], true, &[]);
        assert!((d.confidence_auroc_last.unwrap() - 0.91).abs() < 1e-12);
        assert!((d.target_auroc_last.unwrap() - 0.71).abs() < 1e-12);
        assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
        assert!(d.notes[0].contains("worse than their own confidence") && d.notes[0].contains("(0.91)"), "{:?}", d.notes);
        // The same run with a stronger F: no note.
        e.models[0].confidence = ranking(0.7);
        e.models[1].confidence = ranking(0.75);
        assert!(Diagnostics::from_history(&ok, &[e], true, &[]).notes.is_empty());
    }

    #[test]
    fn names_a_flaw_map_too_coarse_for_its_target() {
        let ranking = |a: f64| Some(Ranking { auroc: Some(a), image_auroc: None, top_decile: None });
        let ok: Vec<_> = (1..=8).map(|i| step(i, 0.45, 0.05)).collect();
        let mut e = eval(0.7, 0.7); // F: 0.70 for both
        for m in &mut e.models {
            m.confidence = ranking(0.6);
        }
        let f = e.flaw.as_mut().unwrap();
        (f.target_t1, f.target_t2) = (ranking(0.95), ranking(0.95));
        (f.target_coarse_t1, f.target_coarse_t2) = (ranking(0.8), ranking(0.82));
        let d = Diagnostics::from_history(&ok, &[e.clone()], true, &[]);
        assert!((d.target_coarse_auroc_last.unwrap() - 0.81).abs() < 1e-12);
        assert_eq!(d.notes.len(), 1, "{:?}", d.notes);
        assert!(d.notes[0].contains("at 0.81 once averaged onto F's map") && d.notes[0].contains("stride2_stages"), "{:?}", d.notes);
        // F that cannot tell the two models apart where one is right.
        let mut weak = e.clone();
        weak.flaw.as_mut().unwrap().arbitration =
            Some(Arbitration { pixels: 100, flaw: 0.54, confidence: 0.58, t1_wrong: None, t2_wrong: None, by_class: vec![], agreeing: None });
        let notes = Diagnostics::from_history(&ok, &[weak.clone()], true, &[]).notes;
        assert!(notes.iter().any(|n| n.contains("right one 54 % of the time")), "{notes:?}");
        // The same share made of a class F favours and one it does not: named.
        let side = |pixels: u64, flaw: f64| Some(Side { pixels, flaw, confidence: 0.6 });
        let names: Vec<String> = ["background", "ellipse", "rectangle", "triangle"].map(String::from).to_vec();
        weak.flaw.as_mut().unwrap().arbitration.as_mut().unwrap().by_class = vec![side(500, 0.75), side(50, 0.1), None, side(300, 0.27)];
        let d = Diagnostics::from_history(&ok, &[weak.clone()], true, &names);
        assert_eq!(d.arbitration_worst_class_last.as_ref().map(|c| c.class.as_str()), Some("triangle"), "ellipse has too few pixels");
        assert!(d.notes.iter().any(|n| n.contains("75 % of 'background' pixels but on 27 % of 'triangle'")), "{:?}", d.notes);
        // The confidence as poor on the worst class: a hard class, not F's prior.
        let hard = Some(Side { pixels: 300, flaw: 0.27, confidence: 0.2 });
        weak.flaw.as_mut().unwrap().arbitration.as_mut().unwrap().by_class = vec![side(500, 0.75), None, None, hard];
        assert!(!Diagnostics::from_history(&ok, &[weak.clone()], true, &names).notes.iter().any(|n| n.contains("follows the class")));
        weak.flaw.as_mut().unwrap().arbitration.as_mut().unwrap().by_class = vec![side(500, 0.6), None, None, side(300, 0.5)];
        assert!(!Diagnostics::from_history(&ok, &[weak], true, &names).notes.iter().any(|n| n.contains("follows the class")));
        // A map fine enough for its target (the demo's: 0.95 against 0.93): no note.
        let f = e.flaw.as_mut().unwrap();
        (f.target_coarse_t1, f.target_coarse_t2) = (ranking(0.93), ranking(0.93));
        assert!(Diagnostics::from_history(&ok, &[e], true, &[]).notes.is_empty());
    }

    #[test]
    fn pools_what_dc_did_on_labelled_pixels_over_the_last_quarter() {
        let mut steps: Vec<_> = (1..=8).map(|i| step(i, 0.45, 0.05)).collect();
        for (i, s) in steps.iter_mut().enumerate() {
            // The first six steps copy wrongly, the last two (the last quarter) 3 to 1 right.
            let (fix, brk) = if i < 6 { (0.0, 0.1) } else { (0.03, 0.01) };
            (s.dc_fix_t1, s.dc_break_t1, s.dc_fix_t2, s.dc_break_t2) = (Some(fix), Some(brk), Some(fix), Some(brk));
        }
        let d = Diagnostics::from_history(&steps, &[], true, &[]);
        assert!((d.dc_right_share.unwrap() - 0.75).abs() < 1e-9, "{d:?}");
        assert!(d.notes.iter().all(|n| !n.contains("dc copies")), "{:?}", d.notes);
        for s in &mut steps[6..] {
            (s.dc_fix_t1, s.dc_fix_t2) = (Some(0.01), Some(0.01));
            (s.dc_fix_with_c, s.dc_break_with_c) = (Some(0.09), Some(0.01));
        }
        let d = Diagnostics::from_history(&steps, &[], true, &[]);
        assert!((d.dc_right_share_with_c.unwrap() - 0.9).abs() < 1e-9, "{d:?}");
        assert!(d.notes.iter().any(|n| n.contains("50 % of the dc copies") && n.contains("in place of F's: 90 %")), "{:?}", d.notes);
        // Runs without the figure (restoration, SupOnly): none.
        assert_eq!(Diagnostics::from_history(&[step(1, 0.4, 0.1)], &[], true, &[]).dc_right_share, None);
    }

    #[test]
    fn leads_with_the_classes_a_model_has_not_learnt_at_the_last_evaluation() {
        let ok: Vec<_> = (1..=8).map(|i| step(i, 0.45, 0.05)).collect();
        let names: Vec<String> = ["background", "shape"].map(String::from).into();
        let with_ious = |t1: f64, t2: f64| {
            let mut e = eval(0.8, 0.94);
            for (m, v) in e.models.iter_mut().zip([t1, t2]) {
                m.seg.as_mut().unwrap().class_iou = vec![Some(0.9), Some(v)];
            }
            e
        };
        // Learnt by the end: nothing to say.
        assert!(Diagnostics::from_history(&ok, &[with_ious(0.0, 0.0), with_ious(0.3, 0.2)], true, &names).notes.is_empty());
        let d = Diagnostics::from_history(&ok, &[with_ious(0.3, 0.2), with_ious(0.3, 0.0)], true, &names);
        assert_eq!(d.missed_classes_last.as_deref(), d.notes.first().map(String::as_str));
        assert!(d.notes[0].starts_with("T2 has not learnt 'shape' (IoU 0.00)") && d.notes[0].contains("T1 has it (IoU 0.30)"), "{:?}", d.notes);
    }
}
