//! The final metrics table of `train` and `eval`.

use flawmap::engine::events::{EvalReport, FlawEval};
use flawmap::metrics::ranking::Ranking;

pub fn print_eval(report: &EvalReport, names: &[String]) {
    println!("\n{:<6} {:>10} {:>10} {:>10} {:>10}", "model", "mIoU/PSNR", "pixel acc", "class acc", "SSIM");
    for m in &report.models {
        let (acc, cacc) = m.seg.as_ref().map(|s| (s.pixel_acc, s.mean_class_acc)).unwrap_or((f64::NAN, f64::NAN));
        let fmt = |v: f64| {
            if v.is_nan() { "-".to_string() } else { format!("{v:.4}") }
        };
        println!("{:<6} {:>10} {:>10} {:>10} {:>10}", m.model, fmt(m.score), fmt(acc), fmt(cacc), fmt(m.ssim.unwrap_or(f64::NAN)));
    }
    print_class_ious(report, names);
    if let Some(v) = &report.class_verdict {
        println!("{v}");
    }
    if let Some(i) = report.input_scores {
        println!("{:<6} {:>10.4} {:>10} {:>10} {:>10.4}   (the degraded input itself: the floor)", "input", i.psnr, "-", "-", i.ssim);
    }
    if let Some(best) = report.models.iter().max_by(|a, b| a.score.total_cmp(&b.score))
        && report.models.len() > 1
    {
        println!("better model: {}", best.model);
    }
    let sod: Vec<String> = report.models.iter().filter_map(|m| m.sod.map(|s| format!("{} MAE {:.4}, max F {:.4}", m.model, s.mae, s.max_f))).collect();
    if !sod.is_empty() {
        println!("salient-object scores (beta^2 0.3): {}", sod.join("; "));
    }
    print_rankings(report, names);
    if let Some(a) = report.agreement {
        println!("T1/T2 agreement: {a:.4}");
    }
}

/// How well each score ranks each model's wrong pixels: F, the model's own confidence (the
/// baseline F must beat), C(.) (F's target, computed from the labels: its ceiling) and C(.)
/// at the size of F's map before upsampling (the ceiling F's geometry leaves), and the
/// confidence at that size (the baseline as F's map could paint it) and put through C(.)'s
/// blur (the baseline as F's regression target would have it).
fn print_rankings(report: &EvalReport, names: &[String]) {
    let rows: Vec<(String, &Ranking)> = report
        .models
        .iter()
        .enumerate()
        .flat_map(|(i, m)| {
            // One ranking of F's report, this model's.
            let of = |pick: fn(&FlawEval) -> [&Option<Ranking>; 2]| report.flaw.as_ref().and_then(|f| pick(f)[i.min(1)].as_ref());
            let f = of(|f| [&f.ranking_t1, &f.ranking_t2]);
            let t = of(|f| [&f.target_t1, &f.target_t2]);
            let coarse = of(|f| [&f.target_coarse_t1, &f.target_coarse_t2]);
            let conf_coarse = of(|f| [&f.confidence_coarse_t1, &f.confidence_coarse_t2]);
            let conf_target = of(|f| [&f.confidence_target_t1, &f.confidence_target_t2]);
            [
                (format!("F on {}", m.model), f),
                (format!("{} confidence", m.model), m.confidence.as_ref()),
                (format!("C(.) on {}", m.model), t),
                (format!("C at F's map {}", m.model), coarse),
                (format!("conf at F's map {}", m.model), conf_coarse),
                (format!("conf as C(.) {}", m.model), conf_target),
            ]
        })
        .filter_map(|(name, r)| Some((name, r?)))
        .collect();
    if rows.is_empty() {
        return;
    }
    let fmt = |v: Option<f64>| v.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
    println!("\n{:<18} {:>8} {:>12} {:>11}", "wrong pixels by", "AUROC", "image AUROC", "top decile");
    for (name, r) in rows {
        println!("{:<18} {:>8} {:>12} {:>11}", name, fmt(r.auroc), fmt(r.image_auroc), fmt(r.top_decile));
    }
    if let Some(f) = &report.flaw {
        println!("flaw detector loss vs C(.): T1 {:.4} T2 {:.4}", f.loss_t1, f.loss_t2);
        if let Some(a) = &f.arbitration {
            println!(
                "where exactly one model is right ({} pixels), the lower map is on the right one: F {:.3}, confidence {:.3} (0.5 = chance; dc copies from the model F rates better)",
                a.pixels, a.flaw, a.confidence
            );
            for (name, side) in [("T1", a.t1_wrong), ("T2", a.t2_wrong)] {
                if let Some(s) = side {
                    println!("  where only {name} is wrong ({} pixels): F {:.3}, confidence {:.3}", s.pixels, s.flaw, s.confidence);
                }
            }
            if let Some(j) = a.agreeing {
                println!(
                    "  where F and the confidence pick the same model ({} pixels, {:.0} %): right {:.3}",
                    j.pixels,
                    100.0 * j.pixels as f64 / a.pixels as f64,
                    j.right
                );
            }
            for (c, side) in a.by_class.iter().enumerate() {
                if let Some(s) = side {
                    let name = names.get(c).cloned().unwrap_or_else(|| format!("class {c}"));
                    println!("  where the truth is {name} ({} pixels): F {:.3}, confidence {:.3}", s.pixels, s.flaw, s.confidence);
                }
            }
        }
    }
    if let Some(v) = report.verdict() {
        println!("{v}");
    }
}

/// Segmentation: IoU per class and model, so a class a model has not learnt shows (it
/// counts as 0 in the mIoU above).
fn print_class_ious(report: &EvalReport, names: &[String]) {
    let ious = report.class_ious();
    if ious.is_empty() {
        return;
    }
    let models: Vec<&str> = report.models.iter().filter(|m| m.seg.is_some()).map(|m| m.model.as_str()).collect();
    println!("\n{:<16} {}", "IoU per class", models.iter().map(|m| format!("{m:>8}")).collect::<String>());
    for (c, row) in ious.iter().enumerate() {
        let name = names.get(c).cloned().unwrap_or_else(|| format!("class {c}"));
        let cells: String = row.iter().map(|v| v.map(|v| format!("{v:>8.4}")).unwrap_or_else(|| format!("{:>8}", "-"))).collect();
        println!("{name:<16} {cells}");
    }
}
