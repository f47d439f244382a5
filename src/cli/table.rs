//! The final metrics table of `train` and `eval`.

use flawmap::engine::events::EvalReport;

pub fn print_eval(report: &EvalReport) {
    println!("\n{:<6} {:>10} {:>10} {:>10} {:>10}", "model", "mIoU/PSNR", "pixel acc", "class acc", "SSIM");
    for m in &report.models {
        let (acc, cacc) = m.seg.as_ref().map(|s| (s.pixel_acc, s.mean_class_acc)).unwrap_or((f64::NAN, f64::NAN));
        let fmt = |v: f64| {
            if v.is_nan() { "-".to_string() } else { format!("{v:.4}") }
        };
        println!("{:<6} {:>10} {:>10} {:>10} {:>10}", m.model, fmt(m.score), fmt(acc), fmt(cacc), fmt(m.ssim.unwrap_or(f64::NAN)));
    }
    if let Some(best) = report.models.iter().max_by(|a, b| a.score.total_cmp(&b.score))
        && report.models.len() > 1
    {
        println!("better model: {}", best.model);
    }
    if let Some(f) = &report.flaw {
        let au = |a: Option<f64>| a.map(|v| format!("{v:.3}")).unwrap_or_else(|| "-".into());
        println!("flaw detector: loss vs C(.) T1 {:.4} T2 {:.4}; AUROC of wrong pixels T1 {} T2 {}", f.loss_t1, f.loss_t2, au(f.auroc_t1), au(f.auroc_t2));
    }
    if let Some(a) = report.agreement {
        println!("T1/T2 agreement: {a:.4}");
    }
}
