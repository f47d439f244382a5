//! Dynamic consistency's real question: where T1 and T2 disagree and exactly one of them is
//! right, does the flaw map point at the wrong one? A model copies the other where its flaw
//! map is higher (spec section 3), so this share is how often such a copy would fix a
//! mistake rather than make one. The baseline is the same choice made by the models' own
//! confidence (copy the less uncertain one): F adds something to dc only if it beats it.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arbitration {
    /// Pixels where exactly one of the two models is right.
    pub pixels: u64,
    /// Share of them where F's map is lower on the right model's prediction (ties: half).
    pub flaw: f64,
    /// The same with the models' uncertainty (1 - max softmax) in place of F's map.
    pub confidence: f64,
    /// The same split by which model is the wrong one (the one dc should make copy): a map
    /// that favours one model's predictions whatever they are shows as a gap between them.
    #[serde(default)]
    pub t1_wrong: Option<Side>,
    #[serde(default)]
    pub t2_wrong: Option<Side>,
    /// Segmentation: the same split by the pixel's true class (index = class; None where no
    /// pixel of it has exactly one model right). A class one model has not learnt shows
    /// here: dc can pass it on only if F picks the model that has it.
    #[serde(default)]
    pub by_class: Vec<Option<Side>>,
    /// The pixels where F and the confidence pick the same model (neither tied), and the
    /// share of them where that model is the right one: two weak judges that agree may
    /// be right more often than either alone.
    #[serde(default)]
    pub agreeing: Option<Agreeing>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Agreeing {
    pub pixels: u64,
    pub right: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Side {
    pub pixels: u64,
    pub flaw: f64,
    pub confidence: f64,
}

#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    pixels: u64,
    flaw: f64,
    confidence: f64,
}

impl Counts {
    fn count(&mut self, flaw: f64, confidence: f64) {
        self.pixels += 1;
        self.flaw += flaw;
        self.confidence += confidence;
    }

    fn side(&self) -> Option<Side> {
        let n = self.pixels as f64;
        (self.pixels > 0).then(|| Side { pixels: self.pixels, flaw: self.flaw / n, confidence: self.confidence / n })
    }
}

/// Counts per wrong model: [T1 wrong, T2 wrong], and per true class.
#[derive(Debug, Default)]
pub struct ArbitrationAcc {
    by_wrong: [Counts; 2],
    by_class: Vec<Counts>,
    /// Pixels where F and the confidence pick the same model, and how many of them right.
    agreeing: (u64, u64),
}

/// 1 when `score` is lower for the right model, 0 when higher, 1/2 on a tie.
fn picks_right(wrong_a: bool, a: f32, b: f32) -> f64 {
    let (right, wrong) = if wrong_a { (b, a) } else { (a, b) };
    if right < wrong {
        1.0
    } else if right > wrong {
        0.0
    } else {
        0.5
    }
}

impl Arbitration {
    /// The true classes on which F's choice is most and least often right, each with at
    /// least `min_pixels` one-right pixels: (class, its side), when two classes qualify.
    /// Far apart, they show a map that judges a prediction by its class, not by the image.
    pub fn class_extremes(&self, min_pixels: u64) -> Option<((usize, Side), (usize, Side))> {
        let sides = || self.by_class.iter().enumerate().filter_map(|(c, s)| s.filter(|s| s.pixels >= min_pixels).map(|s| (c, s)));
        let best = sides().max_by(|a, b| a.1.flaw.total_cmp(&b.1.flaw))?;
        let worst = sides().min_by(|a, b| a.1.flaw.total_cmp(&b.1.flaw))?;
        (best.0 != worst.0).then_some((best, worst))
    }
}

impl ArbitrationAcc {
    /// One image: per scored pixel, whether each model is wrong, F's map on each model's
    /// prediction, each model's uncertainty, and the true class (segmentation; empty for
    /// restoration).
    pub fn add_image(&mut self, wrong: [&[bool]; 2], flaw: [&[f32]; 2], uncertainty: [&[f32]; 2], truth: &[u8]) {
        for i in 0..wrong[0].len() {
            if wrong[0][i] != wrong[1][i] {
                let f = picks_right(wrong[0][i], flaw[0][i], flaw[1][i]);
                let u = picks_right(wrong[0][i], uncertainty[0][i], uncertainty[1][i]);
                self.by_wrong[usize::from(!wrong[0][i])].count(f, u);
                if f == u && f != 0.5 {
                    self.agreeing.0 += 1;
                    self.agreeing.1 += u64::from(f == 1.0);
                }
                if let Some(&class) = truth.get(i) {
                    let class = class as usize;
                    if self.by_class.len() <= class {
                        self.by_class.resize_with(class + 1, Counts::default);
                    }
                    self.by_class[class].count(f, u);
                }
            }
        }
    }

    /// None when the two models never disagree with exactly one right.
    pub fn finish(&self) -> Option<Arbitration> {
        let [a, b] = self.by_wrong;
        let all = Counts { pixels: a.pixels + b.pixels, flaw: a.flaw + b.flaw, confidence: a.confidence + b.confidence }.side()?;
        let by_class = self.by_class.iter().map(Counts::side).collect();
        let (n, right) = self.agreeing;
        let agreeing = (n > 0).then(|| Agreeing { pixels: n, right: right as f64 / n as f64 });
        Some(Arbitration { pixels: all.pixels, flaw: all.flaw, confidence: all.confidence, t1_wrong: a.side(), t2_wrong: b.side(), by_class, agreeing })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_pixels_where_exactly_one_model_is_right() {
        let mut acc = ArbitrationAcc::default();
        // Pixel 0: both right; 1: T1 wrong; 2: T2 wrong; 3: both wrong; 4: T2 wrong, F tied.
        let wrong1 = [false, true, false, true, false];
        let wrong2 = [false, false, true, true, true];
        let flaw1 = [0.9, 0.8, 0.1, 0.0, 0.5];
        let flaw2 = [0.0, 0.2, 0.3, 0.9, 0.5];
        // Confidence gets pixel 1 wrong (T1, the wrong one, is the surer) and 2 right.
        let unc1 = [0.0, 0.1, 0.1, 0.0, 0.1];
        let unc2 = [0.0, 0.3, 0.4, 0.0, 0.2];
        // True classes: pixels 1 and 2 are class 2, pixel 4 class 0 (class 1 has no pixel).
        let truth = [0, 2, 2, 1, 0];
        acc.add_image([&wrong1, &wrong2], [&flaw1, &flaw2], [&unc1, &unc2], &truth);
        let a = acc.finish().unwrap();
        assert_eq!(a.pixels, 3);
        assert!((a.flaw - 2.5 / 3.0).abs() < 1e-12, "{a:?}");
        assert!((a.confidence - 2.0 / 3.0).abs() < 1e-12, "{a:?}");
        // Split by the wrong model: pixel 1 (T1 wrong), pixels 2 and 4 (T2 wrong).
        assert_eq!(a.t1_wrong, Some(Side { pixels: 1, flaw: 1.0, confidence: 0.0 }));
        assert_eq!(a.t2_wrong, Some(Side { pixels: 2, flaw: 0.75, confidence: 1.0 }));
        // F and confidence agree (untied) on pixel 2 only, and pick right there.
        assert_eq!(a.agreeing, Some(Agreeing { pixels: 1, right: 1.0 }));
        assert_eq!(a.by_class, vec![Some(Side { pixels: 1, flaw: 0.5, confidence: 1.0 }), None, Some(Side { pixels: 2, flaw: 1.0, confidence: 0.5 })]);
        let mut restoration = ArbitrationAcc::default();
        restoration.add_image([&wrong1, &wrong2], [&flaw1, &flaw2], [&unc1, &unc2], &[]);
        assert_eq!(restoration.finish().unwrap().by_class, vec![], "no classes, no split");
        assert_eq!(ArbitrationAcc::default().finish(), None);
        // Classes 0 (F 0.5) and 2 (F 1.0) have pixels; with 2 required only class 2 does.
        let ((best, _), (worst, _)) = a.class_extremes(1).unwrap();
        assert_eq!((best, worst), (2, 0));
        assert_eq!(a.class_extremes(2), None);
    }
}
